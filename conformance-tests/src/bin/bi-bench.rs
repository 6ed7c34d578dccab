//! `bi-bench`: one Backend Interfaces message replayed against a loopback URL in a closed or
//! an open loop; see `conformance_tests::bench` for the commands and the output.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use conformance_tests::bench::{self, BenchConfig, BenchSummary, Pace, MAX_DURATION};

/// Backend Interfaces load: throughput (closed loop) and latency at a rate (open loop).
#[derive(Debug, Parser)]
#[command(name = "bi-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Each connection sends its next request as soon as the previous one is answered.
    Closed(Common),
    /// Requests fall due at a fixed rate, whatever the answers.
    Open(OpenArgs),
}

#[derive(Debug, Args)]
struct OpenArgs {
    /// Requests per second.
    #[arg(long)]
    rate: f64,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct Common {
    /// Where to POST: a plain http:// URL on 127.0.0.1, ::1 or localhost.
    #[arg(long, value_name = "URL")]
    url: String,
    /// The message to replay: a JSON file (its TransactionID is replaced in each request).
    #[arg(long, value_name = "FILE")]
    message: PathBuf,
    /// Sent as `Authorization: Bearer TOKEN`.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "BI_BENCH_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Keep-alive connections: the bound on requests in flight.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Send for this many seconds, warm-up included.
    #[arg(long, default_value_t = 10.0)]
    duration_s: f64,
    /// Do not count the requests of the first this-many seconds.
    #[arg(long, default_value_t = 0.0)]
    warmup_s: f64,
    /// Send at most this many requests (open loop: due times), warm-up included.
    #[arg(long, default_value_t = 10_000_000)]
    max_requests: u64,
    /// Per-request bound for connecting and for the answer, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Runtime worker threads of the load tool.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Exit with status 4 when any request failed or was missed.
    #[arg(long)]
    strict: bool,
}

fn main() -> anyhow::Result<()> {
    let (common, pace) = match Cli::parse().command {
        Command::Closed(common) => (common, Pace::Closed),
        Command::Open(args) => (args.common, Pace::Open { rate: args.rate }),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(common.threads.max(1))
        .enable_all()
        .build()?;
    let strict = common.strict;
    let summary = runtime.block_on(run(common, pace))?;
    if strict && (summary.failed > 0 || summary.misses > 0) {
        std::process::exit(4);
    }
    Ok(())
}

fn seconds(value: f64, option: &str) -> anyhow::Result<Duration> {
    let duration = Duration::try_from_secs_f64(value).with_context(|| format!("--{option}"))?;
    if duration > MAX_DURATION {
        anyhow::bail!("--{option}: at most {} s", MAX_DURATION.as_secs());
    }
    Ok(duration)
}

async fn run(args: Common, pace: Pace) -> anyhow::Result<BenchSummary> {
    let text = std::fs::read(&args.message)
        .with_context(|| format!("reading {}", args.message.display()))?;
    let message = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not JSON", args.message.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = Arc::clone(&stop);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("bi-bench: stopping (waiting for the requests in flight)");
            on_signal.store(true, Ordering::Relaxed);
        }
    });
    let mut config = BenchConfig::new(&args.url, message, pace);
    config.token = args.token;
    config.connections = args.connections;
    config.duration = seconds(args.duration_s, "duration-s")?;
    config.warmup = seconds(args.warmup_s, "warmup-s")?;
    config.max_requests = args.max_requests;
    config.timeout = Duration::from_millis(args.timeout_ms.max(1));
    config.stop = Some(stop);
    let summary = bench::run(config).await?;
    eprint!("{}", summary.human());
    println!(
        "{}",
        serde_json::to_string(&summary).context("writing the summary")?
    );
    Ok(summary)
}
