//! `jsd`: the Switchyard join server. Without a subcommand it serves; `jsd import | claim |
//! unclaim | show` run one device operation at the console ([`cli`]).

use std::process::ExitCode;

use service::cli::clap::{ArgMatches, Command};
use service::daemon::{Daemon, Running, StartError};
use service::database::DatabaseConfig;
use service::server::ServerConfig;

mod cli;

/// [`jsd::Jsd`] with the console subcommands.
struct JsdCommand;

impl Daemon for JsdCommand {
    const NAME: &'static str = jsd::Jsd::NAME;
    const ENV_PREFIX: &'static str = jsd::Jsd::ENV_PREFIX;
    const ABOUT: &'static str = jsd::Jsd::ABOUT;
    type Config = jsd::Config;

    fn common(config: &jsd::Config) -> (&ServerConfig, &DatabaseConfig) {
        jsd::Jsd::common(config)
    }

    fn start(
        config: &jsd::Config,
    ) -> impl std::future::Future<Output = Result<Running, StartError>> + Send {
        jsd::Jsd::start(config)
    }

    fn subcommands() -> Vec<Command> {
        cli::subcommands()
    }

    async fn run_subcommand(name: &str, args: &ArgMatches, config: &jsd::Config) -> ExitCode {
        cli::run(name, args, config).await
    }
}

fn main() -> ExitCode {
    service::cli::main::<JsdCommand>()
}
