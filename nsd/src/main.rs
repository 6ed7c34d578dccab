//! `nsd`: the Switchyard network server.

use std::path::PathBuf;

use clap::Parser;

/// The Switchyard network server: serves gateways and devices, and roams through the hub
/// as forwarding or serving network server.
#[derive(Debug, Parser)]
#[command(name = "nsd", version, about, long_about = None)]
struct Args {
    /// Config file (TOML). Without one, built-in defaults apply. Any key can be overridden by
    /// an environment variable NSD_<SECTION>__<KEY>, e.g. NSD_DATABASE__URL.
    #[arg(short, long, value_name = "FILE", env = "NSD_CONFIG")]
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
    let config = nsd::Config::load(args.config.as_deref(), &service::config::ProcessEnv)?;
    if args.check_config {
        println!("{config:#?}");
        return Ok(());
    }
    service::runtime::init_tracing(&args.log);
    let running = nsd::start(&config).await?;
    running.run_until_signal().await?;
    Ok(())
}
