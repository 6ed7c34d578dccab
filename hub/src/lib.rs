//! Switchyard hub: the roaming hub every network server and join server connects to.
//!
//! [`Daemon::start`] opens the database, builds the routes and serves; `main.rs` hands the
//! command line to the shared [`service::cli`].

pub mod api;
pub mod config;
pub mod storage;

use service::daemon::{Daemon, DaemonSpec, Running, StartError};
use service::database::DatabaseConfig;
use service::server::ServerConfig;

pub use config::Config;

/// What the shared start-up needs to know about the hub.
pub const SPEC: DaemonSpec = DaemonSpec {
    name: "hub",
    migrations: storage::MIGRATIONS,
};

/// The `hub` daemon, for the shared command line and tests.
#[derive(Debug, Clone, Copy)]
pub struct Hub;

impl Daemon for Hub {
    const NAME: &'static str = "hub";
    const ENV_PREFIX: &'static str = "HUB";
    const ABOUT: &'static str = "The Switchyard roaming hub: routes LoRaWAN Backend Interfaces messages between member network servers and join servers";
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
        service::testing::check_example_config::<super::Hub>(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.."
        )));
    }
}
