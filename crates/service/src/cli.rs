//! The command line all three daemons share: `--config FILE`, `--check-config`, `--log`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};

use crate::config::{self, ProcessEnv};
use crate::daemon::Daemon;
use crate::runtime;

fn command<D: Daemon>() -> Command {
    // clap wants 'static strings; these are built once per process.
    let config_env: &'static str = Box::leak(format!("{}_CONFIG", D::ENV_PREFIX).into_boxed_str());
    let config_help: &'static str = Box::leak(
        format!(
            "Config file (TOML). Without one, built-in defaults apply. Any key can be \
             overridden by an environment variable {p}_<SECTION>__<KEY>, e.g. {p}_DATABASE__URL",
            p = D::ENV_PREFIX
        )
        .into_boxed_str(),
    );
    Command::new(D::NAME)
        .version(env!("CARGO_PKG_VERSION"))
        .about(D::ABOUT)
        .arg(
            Arg::new("config")
                .short('c')
                .long("config")
                .value_name("FILE")
                .env(config_env)
                .value_parser(clap::value_parser!(PathBuf))
                .help(config_help),
        )
        .arg(
            Arg::new("check-config")
                .long("check-config")
                .action(ArgAction::SetTrue)
                .help("Load and validate the config, print it, and exit"),
        )
        .arg(
            Arg::new("log")
                .long("log")
                .value_name("FILTER")
                .default_value("info")
                .help("Log filter (tracing EnvFilter syntax) used when RUST_LOG is not set"),
        )
}

/// Parses the command line, loads the config and runs the daemon until Ctrl-C / SIGTERM.
pub fn main<D: Daemon>() -> ExitCode {
    let matches = command::<D>().get_matches();
    let path = matches.get_one::<PathBuf>("config").cloned();
    let config = match config::load::<D::Config>(path.as_deref(), D::ENV_PREFIX, &ProcessEnv) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{}: {e}", D::NAME);
            return ExitCode::FAILURE;
        }
    };
    if matches.get_flag("check-config") {
        println!("{config:#?}");
        return ExitCode::SUCCESS;
    }
    let filter = matches
        .get_one::<String>("log")
        .map_or("info", String::as_str);
    runtime::init_tracing(filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", D::NAME);
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let running = D::start(&config).await.map_err(|e| e.to_string())?;
        running.run_until_signal().await.map_err(|e| e.to_string())
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: {e}", D::NAME);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        struct Probe;
        impl crate::daemon::Daemon for Probe {
            const NAME: &'static str = "probe";
            const ENV_PREFIX: &'static str = "PROBE";
            const ABOUT: &'static str = "probe";
            type Config = ();
            fn common(
                _: &(),
            ) -> (
                &crate::server::ServerConfig,
                &crate::database::DatabaseConfig,
            ) {
                unreachable!("not called by this test")
            }
            async fn start(_: &()) -> Result<crate::daemon::Running, crate::daemon::StartError> {
                Err(crate::daemon::StartError::Setup("probe".into()))
            }
        }
        super::command::<Probe>().debug_assert();
    }
}
