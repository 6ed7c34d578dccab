//! Switchyard nsd: a LoRaWAN network server (gateways, MAC, AS tunnel, passive roaming).
//!
//! [`Daemon::start`] opens the database, builds the routes and serves; `main.rs` hands the
//! command line to the shared [`service::cli`].

pub mod api;
pub mod app;
pub mod config;
pub mod device;
pub mod downlink;
pub mod gateway;
pub mod join;
pub mod storage;
pub mod tunnel;
pub mod uplink;

use service::daemon::{Daemon, DaemonSpec, Running, StartError};
use service::database::DatabaseConfig;
use service::server::ServerConfig;

pub use config::Config;

/// What the shared start-up needs to know about the nsd.
pub const SPEC: DaemonSpec = DaemonSpec {
    name: "nsd",
    migrations: storage::MIGRATIONS,
};

/// The `nsd` daemon, for the shared command line and tests.
#[derive(Debug, Clone, Copy)]
pub struct Nsd;

impl Daemon for Nsd {
    const NAME: &'static str = "nsd";
    const ENV_PREFIX: &'static str = "NSD";
    const ABOUT: &'static str = "The Switchyard network server: serves gateways and devices, and roams through the hub as forwarding or serving network server";
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
        service::testing::check_example_config::<super::Nsd>(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.."
        )));
    }
}
