//! `hub`: the Switchyard roaming hub.

use std::path::PathBuf;

use clap::Parser;

/// The Switchyard roaming hub: routes LoRaWAN Backend Interfaces messages between member
/// network servers and join servers.
#[derive(Debug, Parser)]
#[command(name = "hub", version, about, long_about = None)]
struct Args {
    /// Config file (TOML). Without one, built-in defaults apply. Any key can be overridden by
    /// an environment variable HUB_<SECTION>__<KEY>, e.g. HUB_DATABASE__URL.
    #[arg(short, long, value_name = "FILE", env = "HUB_CONFIG")]
    config: Option<PathBuf>,
    /// Load and validate the config, print it, and exit.
    #[arg(long)]
    check_config: bool,
    /// Log filter (tracing EnvFilter syntax) used when RUST_LOG is not set.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    log: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = hub::Config::load(args.config.as_deref(), &service::config::ProcessEnv)?;
    if args.check_config {
        println!("{config:#?}");
        return Ok(());
    }
    service::runtime::init_tracing(&args.log);
    let running = hub::start(&config).await?;
    running.run_until_signal().await?;
    Ok(())
}
