//! Switchyard jsd: a LoRaWAN join server (manufacturer import, owner-token claim, joins).
//!
//! [`Daemon::start`] opens the database, builds the routes and serves; `main.rs` hands the
//! command line to the shared [`service::cli`].

pub mod api;
pub mod app;
pub mod config;
pub mod device;
pub mod join;
pub mod peers;
pub mod storage;

use std::sync::Arc;
use std::time::Duration;

use backend::codec::Codec;
use service::daemon::{Daemon, DaemonSpec, Running, StartError};
use service::database::DatabaseConfig;
use service::server::ServerConfig;

pub use config::Config;

/// What the shared start-up needs to know about the jsd.
pub const SPEC: DaemonSpec = DaemonSpec {
    name: "jsd",
    migrations: storage::MIGRATIONS,
};

/// Pause between re-seal batches, so joins keep the database.
const RESEAL_PAUSE: Duration = Duration::from_millis(50);

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
        // Refuse a config that cannot run before touching the database.
        let keyring_ok = config
            .keyring()
            .and_then(|_| config.kek_table())
            .and_then(|_| config.check_peers());
        keyring_ok.map_err(|e| StartError::Setup(e.to_string()))?;
        let codec = Codec::new().map_err(|e| StartError::Setup(format!("schemas: {e}")))?;
        service::daemon::start(SPEC, &config.server, &config.database, async |resources| {
            let store = storage::DeviceStore::with_group_commit(resources.database.pool().clone());
            let server = app::JoinServer::new(config, store, Arc::new(app::SystemClock))
                .map_err(|e| StartError::Setup(e.to_string()))?;
            let server = Arc::new(server);
            let background = Arc::clone(&server);
            tokio::spawn(async move { background.reseal_all(RESEAL_PAUSE).await });
            if server.peers().is_empty() {
                tracing::warn!("no [[peers]] configured: every request will be refused");
            }
            Ok(api::routes(
                server,
                Arc::new(codec),
                resources.metrics.registry_mut(),
            ))
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
