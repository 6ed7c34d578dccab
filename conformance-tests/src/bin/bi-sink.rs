//! `bi-sink`: a loopback member that answers every Backend Interfaces request `Success` at
//! once; see `conformance_tests::bench::sink`.

use std::net::SocketAddr;

use clap::Parser;
use conformance_tests::bench::{self, sink};

/// A member that answers every request Success, in the HTTP response (loopback only).
#[derive(Debug, Parser)]
#[command(name = "bi-sink", version)]
struct Cli {
    /// Address to listen on (a loopback address; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8714")]
    listen: SocketAddr,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = bench::server_runtime(cli.threads)?;
    runtime.block_on(async {
        let listener = sink::bind_loopback(cli.listen).await?;
        eprintln!("bi-sink: listening on {}", listener.local_addr()?);
        sink::serve(listener, bench::shutdown_signal()).await?;
        Ok(())
    })
}
