//! The hub's config file (`hub.toml`), with `HUB_…` environment overrides.
//!
//! Every key is documented in `deploy/hub.toml`, which the tests load.

use std::num::{NonZeroU32, NonZeroUsize};
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
    /// Body limit, circuit breakers and audit log ([`crate::shield`]).
    #[serde(default)]
    pub shield: ShieldConfig,
    /// Who may use the admin API.
    #[serde(default)]
    pub operators: Vec<OperatorConfig>,
}

pub use service::auth::OperatorConfig;

impl Config {
    /// Checks `[[operators]]`: names and tokens unique, tokens long enough.
    pub fn check_operators(&self) -> Result<(), String> {
        service::auth::check_operators(&self.operators)
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
    /// The members file the admin API writes (default: `members.api.toml` beside `file`).
    #[serde(default)]
    pub api_file: Option<PathBuf>,
}

impl MembersConfig {
    /// Both files.
    pub fn files(&self) -> crate::members::edit::MemberFiles {
        crate::members::edit::MemberFiles::new(self.file.clone(), self.api_file.clone())
    }
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

/// `[shield]`: the data plane's protections besides routing and policy ([`crate::shield`]).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ShieldConfig {
    /// Largest Backend Interfaces message accepted at `/bi`, in bytes; a larger one is
    /// answered MalformedRequest (HTTP 413) and audited. Must be below
    /// `[server] max_body_bytes`, whose refusal is the shared layer's plain one.
    #[serde(default = "default_shield_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Consecutive forward failures (unreachable, HTTP 5xx / 429, no answer in time) that
    /// open a receiving member's circuit.
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: NonZeroU32,
    /// How long an open circuit answers XmitFailed at once before one probe request goes
    /// through, in milliseconds.
    #[serde(default = "default_breaker_cooldown_ms")]
    pub breaker_cooldown_ms: u64,
    /// Refused messages waiting to be written to the audit log at most; beyond, entries are
    /// dropped and counted (`switchyard_hub_audit_dropped_total`).
    #[serde(default = "default_audit_queue")]
    pub audit_queue: NonZeroUsize,
}

impl Default for ShieldConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: default_shield_max_body_bytes(),
            breaker_failures: default_breaker_failures(),
            breaker_cooldown_ms: default_breaker_cooldown_ms(),
            audit_queue: default_audit_queue(),
        }
    }
}

fn default_shield_max_body_bytes() -> usize {
    64 * 1024
}

fn default_breaker_failures() -> NonZeroU32 {
    NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN)
}

fn default_breaker_cooldown_ms() -> u64 {
    30_000
}

fn default_audit_queue() -> NonZeroUsize {
    NonZeroUsize::new(4_096).unwrap_or(NonZeroUsize::MIN)
}

impl ShieldConfig {
    /// The circuit breakers' settings.
    pub fn breaker(&self) -> crate::shield::BreakerConfig {
        crate::shield::BreakerConfig {
            failures: self.breaker_failures,
            cooldown: Duration::from_millis(self.breaker_cooldown_ms.max(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_config_is_the_defaults_in_every_section() {
        let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/hub.toml"));
        let empty = std::collections::BTreeMap::<String, String>::new();
        let example: super::Config =
            service::config::load(Some(path), "HUB", &empty).expect("deploy/hub.toml loads");
        let defaults: super::Config =
            service::config::load(None, "HUB", &empty).expect("defaults load");
        assert_eq!(example, defaults);
    }
}
