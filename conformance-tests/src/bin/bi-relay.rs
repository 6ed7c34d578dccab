//! `bi-relay`: the bare HTTP relay (axum in, reqwest out, nothing else) the hub is measured
//! against; see `conformance_tests::bench::relay`.

use std::net::SocketAddr;

use clap::Parser;
use conformance_tests::bench::{self, relay, sink};

/// Forwards every POST /bi to one upstream URL and returns its answer (loopback only).
#[derive(Debug, Parser)]
#[command(name = "bi-relay", version)]
struct Cli {
    /// Where to forward: a loopback http(s) URL, e.g. http://127.0.0.1:8714/bi.
    #[arg(long, value_name = "URL")]
    upstream: String,
    /// Address to listen on (a loopback address; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8715")]
    listen: SocketAddr,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = bench::server_runtime(cli.threads)?;
    runtime.block_on(async {
        let upstream = relay::Upstream::new(&cli.upstream)?;
        let listener = sink::bind_loopback(cli.listen).await?;
        eprintln!(
            "bi-relay: listening on {}, forwarding to {}",
            listener.local_addr()?,
            cli.upstream
        );
        relay::serve(listener, upstream, bench::shutdown_signal()).await?;
        Ok(())
    })
}
