//! The jsd's config file (`jsd.toml`), with `JSD_…` environment overrides.
//!
//! Every key is documented in `deploy/jsd.toml`, which the tests load.

use std::path::Path;

use serde::Deserialize;
use service::config::{ConfigError, EnvSource};
use service::database::DatabaseConfig;
use service::server::ServerConfig;

/// Prefix of environment overrides, e.g. `JSD_DATABASE__URL`.
pub const ENV_PREFIX: &str = "JSD";

/// The whole config.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP listener and its limits.
    #[serde(default = "default_server")]
    pub server: ServerConfig,
    /// Where devices, claims and nonces are kept (root keys encrypted).
    #[serde(default = "default_database")]
    pub database: DatabaseConfig,
}

fn default_server() -> ServerConfig {
    ServerConfig::on(([127, 0, 0, 1], 8800).into())
}

fn default_database() -> DatabaseConfig {
    DatabaseConfig {
        url: "sqlite://var/jsd.db".into(),
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
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/jsd.toml");
        let config = Config::load(Some(&path), &BTreeMap::new()).unwrap();
        assert_eq!(config.server.listen.port(), 8800);
    }

    #[test]
    fn defaults_need_no_file() {
        let config = Config::load(None, &BTreeMap::new()).unwrap();
        assert_eq!(config.database.url, "sqlite://var/jsd.db");
    }
}
