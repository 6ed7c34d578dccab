//! The nsd's config file (`nsd.toml`), with `NSD_…` environment overrides.
//!
//! Every key is documented in `deploy/nsd.toml`, which the tests load.

use std::path::Path;

use serde::Deserialize;
use service::config::{ConfigError, EnvSource};
use service::database::DatabaseConfig;
use service::server::ServerConfig;

/// Prefix of environment overrides, e.g. `NSD_DATABASE__URL`.
pub const ENV_PREFIX: &str = "NSD";

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
    DatabaseConfig {
        url: "sqlite://var/nsd.db".into(),
        max_connections: 8,
        sqlite_sync: Default::default(),
    }
}

impl Config {
    /// Loads `path` (or the defaults) with overrides from `env`.
    pub fn load(path: Option<&Path>, env: &dyn EnvSource) -> Result<Self, ConfigError> {
        service::config::load(path, ENV_PREFIX, env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_shipped_example_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nsd.toml");
        let config = Config::load(Some(&path), &BTreeMap::new()).unwrap();
        assert_eq!(config.server.listen.port(), 8700);
    }

    #[test]
    fn defaults_need_no_file() {
        let config = Config::load(None, &BTreeMap::new()).unwrap();
        assert_eq!(config.database.url, "sqlite://var/nsd.db");
    }
}
