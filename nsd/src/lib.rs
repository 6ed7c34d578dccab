//! Switchyard nsd: a LoRaWAN network server (gateways, MAC, AS tunnel, passive roaming).
//!
//! `start` opens the database, builds the routes and serves; `main.rs` only parses arguments.

pub mod api;
pub mod config;
pub mod storage;

use service::daemon::{DaemonSpec, Running, StartError};

pub use config::Config;

/// What the shared start-up needs to know about the nsd.
pub const SPEC: DaemonSpec = DaemonSpec { name: "nsd", migrations: storage::MIGRATIONS };

/// Starts the nsd with `config`; it serves until [`Running::stop`].
pub async fn start(config: &Config) -> Result<Running, StartError> {
    service::daemon::start(SPEC, &config.server, &config.database, |_resources| Ok(api::routes()))
        .await
}
