//! The command line all three daemons share: `--config FILE`, `--check-config`, `--log`, and
//! the subcommands a daemon adds ([`Daemon::subcommands`], e.g. `jsd import FILE`). Without a
//! subcommand the daemon serves.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

/// The `clap` the shared command line is built with, for daemons' subcommands.
pub use clap;

use crate::config::{self, ProcessEnv};
use crate::daemon::Daemon;
use crate::runtime;

fn command<D: Daemon>() -> Command {
    // clap wants 'static strings; these are built once per process.
    let config_env: &'static str = Box::leak(
        format!(
            "{}_{}",
            D::ENV_PREFIX,
            crate::config::CONFIG_FILE_VAR_SUFFIX
        )
        .into_boxed_str(),
    );
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
                .global(true)
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
                .global(true)
                .help("Log filter (tracing EnvFilter syntax) used when RUST_LOG is not set"),
        )
        .subcommands(D::subcommands())
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
    if let Some((name, args)) = matches.subcommand() {
        return run_subcommand::<D>(name, args, &config);
    }
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

/// Runs a daemon's subcommand on a fresh runtime. Its stdout is its output (JSON, for
/// scripts), so logs go to stderr, at `warn` unless `--log` was given.
fn run_subcommand<D: Daemon>(name: &str, args: &ArgMatches, config: &D::Config) -> ExitCode {
    let filter = match args.value_source("log") {
        Some(ValueSource::DefaultValue) | None => "warn",
        Some(_) => args.get_one::<String>("log").map_or("warn", String::as_str),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(D::run_subcommand(name, args, config)),
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", D::NAME);
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

    #[test]
    fn subcommands_share_the_config_and_log_options() {
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
            fn subcommands() -> Vec<clap::Command> {
                vec![clap::Command::new("show").arg(clap::Arg::new("what").required(true))]
            }
        }
        let command = super::command::<Probe>();
        command.clone().debug_assert();
        for argv in [
            &["probe", "--config", "x.toml", "show", "it"][..],
            &["probe", "show", "it", "--config", "x.toml"][..],
        ] {
            let matches = command.clone().try_get_matches_from(argv).expect("parses");
            let config = matches.get_one::<std::path::PathBuf>("config");
            assert_eq!(
                config,
                Some(&std::path::PathBuf::from("x.toml")),
                "{argv:?}"
            );
            let (name, args) = matches.subcommand().expect("a subcommand");
            assert_eq!(name, "show");
            assert_eq!(
                args.get_one::<String>("what").map(String::as_str),
                Some("it")
            );
        }
        // Without a subcommand the daemon serves, as before.
        let matches = command.try_get_matches_from(["probe"]).expect("parses");
        assert!(matches.subcommand().is_none());
    }
}
