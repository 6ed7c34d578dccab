//! The hub's config file (`hub.toml`), with `HUB_…` environment overrides.
//!
//! Every key is documented in `deploy/hub.toml`, which the tests load.

use std::path::PathBuf;
use std::time::Duration;

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
    /// Where members, agreements and UDRs are kept.
    #[serde(default = "default_database")]
    pub database: DatabaseConfig,
    /// Where the members are described.
    #[serde(default)]
    pub members: MembersConfig,
    /// How messages are forwarded.
    #[serde(default)]
    pub routing: RoutingConfig,
    /// Where the agreements and activation rules are.
    #[serde(default)]
    pub policies: PoliciesConfig,
    /// Who may use the admin API.
    #[serde(default)]
    pub operators: Vec<OperatorConfig>,
}

/// `[[operators]]`: one user of the admin API (`/api/…`), known by a bearer token.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// A name for logs.
    pub name: String,
    /// Its bearer token (at least 16 characters).
    pub token: String,
}

/// Never prints the token.
impl std::fmt::Debug for OperatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorConfig")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Shortest operator token.
const MIN_TOKEN_LEN: usize = 16;

impl Config {
    /// Checks `[[operators]]`: names and tokens unique, tokens long enough.
    pub fn check_operators(&self) -> Result<(), String> {
        for (index, operator) in self.operators.iter().enumerate() {
            let problem =
                |reason: &str| format!("operators[{index}] ({}): {reason}", operator.name);
            if operator.token.len() < MIN_TOKEN_LEN {
                return Err(problem("token must be at least 16 characters"));
            }
            let earlier = &self.operators[..index];
            if earlier.iter().any(|o| o.name == operator.name) {
                return Err(problem("name used twice"));
            }
            if earlier.iter().any(|o| o.token == operator.token) {
                return Err(problem("token used by another operator"));
            }
        }
        Ok(())
    }
}

/// `[policies]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PoliciesConfig {
    /// The directory of policy files (`*.toml` directly in it; format: `policies/README.md`).
    /// Reloaded on SIGHUP. Without one there is no agreement and no activation rule: every
    /// roaming message is refused (NoRoamingAgreement), every join (ActivationDisallowed).
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

fn default_server() -> ServerConfig {
    ServerConfig::on(([127, 0, 0, 1], 8600).into())
}

fn default_database() -> DatabaseConfig {
    DatabaseConfig::sqlite("var/hub.db")
}

/// `[members]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MembersConfig {
    /// The members file (format: `deploy/members.example.toml`). Without one the hub has no
    /// members and refuses every message (UnknownSender).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// `[routing]`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// How long the hub waits for a receiver's answer (in the HTTP response or POSTed
    /// later) before it answers the sender XmitFailed itself, in milliseconds.
    #[serde(default = "default_answer_timeout_ms")]
    pub answer_timeout_ms: u64,
    /// How long the hub waits to connect to a member, in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            answer_timeout_ms: default_answer_timeout_ms(),
            connect_timeout_ms: default_connect_timeout_ms(),
        }
    }
}

fn default_answer_timeout_ms() -> u64 {
    3_000
}

fn default_connect_timeout_ms() -> u64 {
    1_000
}

impl RoutingConfig {
    /// [`RoutingConfig::answer_timeout_ms`] as a duration.
    pub fn answer_timeout(&self) -> Duration {
        Duration::from_millis(self.answer_timeout_ms.max(1))
    }

    /// [`RoutingConfig::connect_timeout_ms`] as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms.max(1))
    }
}
