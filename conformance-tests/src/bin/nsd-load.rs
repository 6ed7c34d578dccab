//! `nsd-load`: data-uplink load at a running network server over Semtech UDP on loopback
//! ([`conformance_tests::load::uplinks`]), for a network server in another process.
//!
//! ```text
//! nsd-load --udp 127.0.0.1:1700 [--metrics http://127.0.0.1:8080/metrics]
//!          [--devices 100000] [--seed 1] [--first-dev-addr 26000000] [--version 1.0.4|1.1]
//!          [--gateways 8] [--heard-by 2] [--rate 10000] [--duration-s 20]
//!          [--confirmed-every 100] [--window-ms 250] [--fcnt-start 0]
//! ```
//!
//! The devices (US915 ABP, identities from `load::uplinks::abp_identity`) and the gateways
//! (EUIs from the simulator's first gateway EUI) must already be provisioned in the network
//! server. With `--metrics`, the nsd's `switchyard_nsd_frames_total{outcome="accepted"}` is
//! read before and after the run, and the accepted count and rate are reported. Prints a
//! human summary on stderr and one JSON line on stdout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use conformance_tests::load::loopback_url;
use conformance_tests::load::uplinks::{run_uplinks, UplinkLoadConfig};
use conformance_tests::sim::MacVersion;

/// Data-uplink load at a network server (loopback only).
#[derive(Debug, Parser)]
#[command(name = "nsd-load")]
struct Cli {
    /// The network server's Semtech UDP address.
    #[arg(long)]
    udp: SocketAddr,
    /// The network server's Prometheus endpoint, to count accepted uplinks.
    #[arg(long)]
    metrics: Option<String>,
    /// Devices `0..devices` of the seed.
    #[arg(long, default_value_t = 100_000)]
    devices: u32,
    /// The seed the devices derive from.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// DevAddr of device 0, 8 hex digits.
    #[arg(long, default_value = "26000000")]
    first_dev_addr: String,
    /// 1.0.4 or 1.1.
    #[arg(long, default_value = "1.0.4")]
    version: String,
    /// Simulated gateways.
    #[arg(long, default_value_t = 8)]
    gateways: usize,
    /// Gateways hearing each frame.
    #[arg(long, default_value_t = 2)]
    heard_by: usize,
    /// Frames per second.
    #[arg(long, default_value_t = 10_000)]
    rate: u32,
    /// Seconds of sending.
    #[arg(long, default_value_t = 20)]
    duration_s: u64,
    /// Every n-th frame confirmed (0: none).
    #[arg(long, default_value_t = 100)]
    confirmed_every: u32,
    /// The network server's deduplication window (subtracted from the ACK delay).
    #[arg(long, default_value_t = 250)]
    window_ms: u64,
    /// The devices' first FCntUp (above a previous run's).
    #[arg(long, default_value_t = 0)]
    fcnt_start: u32,
}

/// The accepted-frames counter of the nsd's `/metrics`.
async fn accepted(client: &reqwest::Client, url: &reqwest::Url) -> anyhow::Result<u64> {
    let text = client
        .get(url.clone())
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let line = text
        .lines()
        .find(|l| l.starts_with("switchyard_nsd_frames_total{outcome=\"accepted\"}"))
        .context("no switchyard_nsd_frames_total{outcome=\"accepted\"} in /metrics")?;
    let value = line.rsplit(' ').next().unwrap_or_default();
    Ok(value.parse::<f64>().context("counter value")? as u64)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let version = match cli.version.as_str() {
        "1.0.4" => MacVersion::V1_0_4,
        "1.1" => MacVersion::V1_1,
        other => anyhow::bail!("--version {other}: 1.0.4 or 1.1"),
    };
    let mut config = UplinkLoadConfig::new(cli.udp);
    config.devices = cli.devices;
    config.seed = cli.seed;
    config.first_dev_addr =
        u32::from_str_radix(&cli.first_dev_addr, 16).context("--first-dev-addr")?;
    config.version = version;
    config.gateways = cli.gateways;
    config.heard_by = cli.heard_by;
    config.rate_per_s = cli.rate;
    config.duration = Duration::from_secs(cli.duration_s);
    config.confirmed_every = cli.confirmed_every;
    config.dedup_window = Duration::from_millis(cli.window_ms);
    config.fcnt_start = cli.fcnt_start;

    let metrics = cli.metrics.as_deref().map(loopback_url).transpose()?;
    let client = reqwest::Client::new();
    let before = match &metrics {
        Some(url) => Some(accepted(&client, url).await?),
        None => None,
    };
    let started = Instant::now();
    let summary = run_uplinks(&config, None).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let accepted_count = match (&metrics, before) {
        (Some(url), Some(before)) => Some(accepted(&client, url).await?.saturating_sub(before)),
        _ => None,
    };
    eprintln!("{}", summary.human());
    if let Some(n) = accepted_count {
        eprintln!(
            "nsd /metrics: {n} accepted ({:.0}/s over the run, drain included)",
            n as f64 / elapsed
        );
    }
    let json = serde_json::json!({
        "load": summary,
        "accepted": accepted_count,
        "accepted_per_s": accepted_count.map(|n| n as f64 / elapsed),
        "elapsed_s": elapsed,
    });
    println!("{json}");
    Ok(())
}
