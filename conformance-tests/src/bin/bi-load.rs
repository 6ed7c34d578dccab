//! `bi-load`: JoinReq load against a Join Server on loopback; see
//! `conformance_tests::load` for the commands, the checks and the output.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use conformance_tests::load::{
    self, generate_devices, DeviceFile, Eui64, LoRaWanVersion, Mode, NetId, ProtocolVersion,
    RunConfig, StateFile, Summary,
};

/// Backend Interfaces JoinReq load driver (loopback peers only).
#[derive(Debug, Parser)]
#[command(name = "bi-load", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a Join Server import file of deterministic devices.
    Devices(DevicesArgs),
    /// Send JoinReqs and check the answers.
    Run(Box<RunArgs>),
}

/// `run` without a device file: the devices rebuilt from their seed.
#[derive(Debug, Args)]
struct Generation {
    /// Devices `0..count` of the seed.
    #[arg(long)]
    count: Option<u32>,
    /// The seed the devices are derived from.
    #[arg(long)]
    seed: Option<u64>,
    /// Their LoRaWAN version: 1.0.2, 1.0.3, 1.0.4 or 1.1.
    #[arg(long, default_value = "1.0.4")]
    version: LoRaWanVersion,
}

#[derive(Debug, Args)]
struct DevicesArgs {
    /// How many devices (numbered from 0).
    #[arg(long)]
    count: u32,
    /// The seed the devices are derived from.
    #[arg(long)]
    seed: u64,
    /// Their LoRaWAN version: 1.0.2, 1.0.3, 1.0.4 or 1.1.
    #[arg(long, default_value = "1.0.4")]
    version: LoRaWanVersion,
    /// JoinEUI of every device, 16 hex digits.
    #[arg(long, value_name = "HEX16")]
    join_eui: Eui64,
    /// Where to write the import file.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The peer's Backend Interfaces URL; 127.0.0.1, ::1 or localhost only.
    #[arg(long, value_name = "URL")]
    peer: String,
    /// Sent as `Authorization: Bearer TOKEN`.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "BI_LOAD_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// SenderID: the NetID of the network server played, 6 hex digits.
    #[arg(long, value_name = "NETID")]
    sender_id: NetId,
    /// ReceiverID: the Join Server's JoinEUI, 16 hex digits (also the JoinEUI of devices
    /// rebuilt from --seed).
    #[arg(long, value_name = "JOINEUI")]
    receiver_id: Eui64,
    /// The device file written by `bi-load devices` (else give --seed and --count).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["count", "seed"])]
    devices: Option<PathBuf>,
    #[command(flatten)]
    generation: Generation,
    /// Stop sending after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    duration_s: f64,
    /// Stop sending after this many requests.
    #[arg(long, default_value_t = 1_000_000)]
    max_requests: u64,
    /// Requests in flight at once (at most one per device).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Each device's first DevNonce (pick one above a previous run's, or use --resume).
    #[arg(long, default_value_t = 1)]
    dev_nonce_start: u16,
    /// Backend Interfaces ProtocolVersion of the messages: 1.0 or 1.1.
    #[arg(long, default_value = "1.1")]
    protocol: ProtocolVersion,
    /// MACVersion to send instead of each device's own version.
    #[arg(long)]
    mac_version: Option<LoRaWanVersion>,
    /// Per-request HTTP timeout in milliseconds.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Continue from this state file (DevNonces above the recorded ones).
    #[arg(long, value_name = "FILE", conflicts_with = "replay_state")]
    resume: Option<PathBuf>,
    /// Write each device's last DevNonce, accepted DevNonces and last JoinNonce here at the end.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Re-send every DevNonce this state file records as accepted; any Success is a violation.
    #[arg(long, value_name = "FILE")]
    replay_state: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Devices(args) => devices(args),
        Command::Run(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let summary = runtime.block_on(run(*args))?;
            if summary.violations() > 0 {
                std::process::exit(2);
            }
            if !summary.replay_is_conclusive() {
                std::process::exit(3);
            }
            Ok(())
        }
    }
}

fn devices(args: DevicesArgs) -> anyhow::Result<()> {
    let devices = generate_devices(args.seed, args.count, args.join_eui, args.version);
    DeviceFile::new(&devices).write(&args.out)?;
    eprintln!(
        "bi-load: {} LoRaWAN {} devices of seed {} written to {}",
        args.count,
        args.version,
        args.seed,
        args.out.display()
    );
    Ok(())
}

/// Runs the load and prints its summary.
async fn run(args: RunArgs) -> anyhow::Result<Summary> {
    let devices = match (&args.devices, args.generation.count, args.generation.seed) {
        (Some(path), _, _) => DeviceFile::read(path)?,
        (None, Some(count), Some(seed)) => {
            generate_devices(seed, count, args.receiver_id, args.generation.version)
        }
        _ => anyhow::bail!("give --devices FILE, or --seed and --count"),
    };
    if !(args.duration_s.is_finite() && args.duration_s > 0.0) {
        anyhow::bail!("--duration-s must be a positive number of seconds");
    }
    let mode = match (&args.replay_state, &args.resume) {
        (Some(path), _) => Mode::Replay(StateFile::read(path)?),
        (None, Some(path)) => Mode::Load {
            resume: Some(StateFile::read(path)?),
        },
        (None, None) => Mode::Load { resume: None },
    };
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = Arc::clone(&stop);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("bi-load: stopping (waiting for the requests in flight)");
            on_signal.store(true, Ordering::Relaxed);
        }
    });
    let mut config = RunConfig::new(&args.peer, args.sender_id, args.receiver_id, devices);
    config.token = args.token;
    config.duration = Duration::try_from_secs_f64(args.duration_s).context("--duration-s")?;
    config.max_requests = args.max_requests;
    config.concurrency = args.concurrency;
    config.dev_nonce_start = args.dev_nonce_start;
    config.protocol = args.protocol;
    config.mac_version = args.mac_version;
    config.timeout = Duration::from_millis(args.timeout_ms);
    config.mode = mode;
    config.state_out = args.state;
    config.stop = Some(stop);
    let summary = load::run(config).await?;
    eprint!("{}", summary.human());
    println!(
        "{}",
        serde_json::to_string(&summary).context("writing the summary")?
    );
    Ok(summary)
}
