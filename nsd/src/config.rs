//! The nsd's config file (`nsd.toml`), with `NSD_…` environment overrides.
//!
//! Every key is documented in `deploy/nsd.toml`, which the tests load.

use serde::Deserialize;
use service::database::DatabaseConfig;
use service::server::ServerConfig;

/// The whole config.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP listener and its limits.
    #[serde(default = "default_server")]
    pub server: ServerConfig,
    /// Where devices, profiles, sessions and queues are kept.
    #[serde(default = "default_database")]
    pub database: DatabaseConfig,
}

fn default_server() -> ServerConfig {
    ServerConfig::on(([127, 0, 0, 1], 8700).into())
}

fn default_database() -> DatabaseConfig {
    DatabaseConfig::sqlite("var/nsd.db")
}
