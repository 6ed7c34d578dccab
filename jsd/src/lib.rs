//! Switchyard jsd: a LoRaWAN join server (manufacturer import, owner-token claim, joins).
//!
//! [`Daemon::start`] opens the database, builds the routes and serves; `main.rs` hands the
//! command line to the shared [`service::cli`].

pub mod api;
pub mod config;
pub mod device;
pub mod join;
pub mod storage;

use service::daemon::{Daemon, DaemonSpec, Running, StartError};
use service::database::DatabaseConfig;
use service::server::ServerConfig;

pub use config::Config;

/// What the shared start-up needs to know about the jsd.
pub const SPEC: DaemonSpec = DaemonSpec {
    name: "jsd",
    migrations: storage::MIGRATIONS,
};

/// The `jsd` daemon, for the shared command line and tests.
#[derive(Debug, Clone, Copy)]
pub struct Jsd;

impl Daemon for Jsd {
    const NAME: &'static str = "jsd";
    const ENV_PREFIX: &'static str = "JSD";
    const ABOUT: &'static str = "The Switchyard join server: activates claimed devices wherever they join, over the Backend Interfaces";
    type Config = Config;

    fn common(config: &Config) -> (&ServerConfig, &DatabaseConfig) {
        (&config.server, &config.database)
    }

    async fn start(config: &Config) -> Result<Running, StartError> {
        service::daemon::start(SPEC, &config.server, &config.database, |_resources| {
            Ok(api::routes())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_config_matches_the_defaults() {
        service::testing::check_example_config::<super::Jsd>(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.."
        )));
    }
}
