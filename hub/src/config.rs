//! The hub's config file (`hub.toml`), with `HUB_…` environment overrides.
//!
//! Every key is documented in `deploy/hub.toml`, which the tests load.

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use service::database::DatabaseConfig;
use service::sealing::{Keyring, KeysConfig, SealError};
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
    /// The master keys that seal members' outbound tokens at rest (optional: without them
    /// outbound tokens are kept in clear). `Debug` redacts them.
    #[serde(default)]
    pub keys: KeysConfig,
}

/// Why `[keys]` gives no keyring.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// Retired keys only open; something must seal.
    #[error(
        "[keys] retired_master_keys without master_key: the current key is needed to seal \
         (HUB_KEYS__MASTER_KEY=$(openssl rand -hex 16))"
    )]
    RetiredWithoutCurrent,
    /// The keyring refused the keys (a retired key equal to the current one, …).
    #[error("[keys]: {0}")]
    Keyring(SealError),
}

/// `[[operators]]`: one user of the hub's admin API, known by a bearer token (`token`, or
/// its digest `token_sha256`, as for every daemon: [`service::auth::OperatorConfig`]),
/// and what it may see: a hub administrator, or the operator of some members.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// A name for logs.
    pub name: String,
    /// Its bearer token, in clear (16+ characters); or:
    #[serde(default)]
    pub token: Option<String>,
    /// The SHA-256 digest of its bearer token, 64 hex digits (`hub hash-token`).
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// The member ids it operates: it sees and edits only what concerns them
    /// ([`crate::access`]). Absent: a hub administrator. Ids not (yet) members are allowed.
    #[serde(default)]
    pub members: Option<Vec<String>>,
}

impl OperatorConfig {
    /// Its name and token, as the shared checks and token table take them.
    pub fn credentials(&self) -> service::auth::OperatorConfig {
        service::auth::OperatorConfig {
            name: self.name.clone(),
            token: self.token.clone(),
            token_sha256: self.token_sha256.clone(),
        }
    }

    /// What it may see and change.
    pub fn access(&self) -> crate::access::Access {
        crate::access::Access::of(self.members.as_deref())
    }
}

/// Never prints the token or its digest.
impl std::fmt::Debug for OperatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorConfig")
            .field("name", &self.name)
            .field("members", &self.members)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The keyring of `[keys]`, if the hub has a master key: it seals and opens the members'
    /// outbound tokens.
    pub fn keyring(&self) -> Result<Option<Keyring>, KeysError> {
        let Some(current) = &self.keys.master_key else {
            return match self.keys.retired_master_keys.is_empty() {
                true => Ok(None),
                false => Err(KeysError::RetiredWithoutCurrent),
            };
        };
        let retired = self
            .keys
            .retired_master_keys
            .iter()
            .map(|k| k.0.clone())
            .collect();
        Keyring::new(current.0.clone(), retired)
            .map(Some)
            .map_err(KeysError::Keyring)
    }

    /// Checks `[[operators]]`: names and tokens unique (tokens compared as digests), one of
    /// token / token_sha256 each, clear tokens long enough, member ids not empty.
    pub fn check_operators(&self) -> Result<(), String> {
        let credentials: Vec<_> = self.operators.iter().map(|o| o.credentials()).collect();
        service::auth::check_operators(&credentials)?;
        for (index, operator) in self.operators.iter().enumerate() {
            let members = operator.members.as_deref().unwrap_or_default();
            if let Some(position) = members.iter().position(|id| id.trim().is_empty()) {
                return Err(format!(
                    "operators[{index}] ({}): members[{position}] is empty: a member id is needed",
                    operator.name
                ));
            }
        }
        Ok(())
    }

    /// The member ids of scoped operators that no member has (yet): worth a warning, not an
    /// error, since members may be added later (through the admin API, say).
    pub fn unknown_operator_members(
        &self,
        directory: &crate::members::Directory,
    ) -> Vec<(String, String)> {
        self.operators
            .iter()
            .flat_map(|o| {
                o.members
                    .iter()
                    .flatten()
                    .filter(|id| {
                        directory
                            .get(&crate::members::MemberId((*id).clone()))
                            .is_none()
                    })
                    .map(|id| (o.name.clone(), id.clone()))
            })
            .collect()
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

    #[test]
    fn operators_are_hub_administrators_or_scoped_to_named_members() {
        let load = |text: &str| -> Result<super::Config, String> {
            let config: super::Config = toml::from_str(text).map_err(|e| e.to_string())?;
            config.check_operators().map(|()| config)
        };
        let config = load(
            "[[operators]]\nname = \"noc\"\ntoken = \"operator-token-0123456789\"\n\
             [[operators]]\nname = \"a\"\n\
             token_sha256 = \"25ecf86fa954bbbc08cb8d73a410b370f91cc03431d26e9fb174ce54169118c8\"\n\
             members = [\"ns-a\", \"js-a\"]\n",
        )
        .expect("loads");
        assert!(config.operators[0].access().is_hub());
        assert!(config.operators[1].access().can_see(&"js-a".into()));
        assert!(!config.operators[1].access().can_see(&"ns-b".into()));
        let unknown = config.unknown_operator_members(&crate::members::Directory::default());
        assert_eq!(unknown.len(), 2, "{unknown:?}");
        let error = load(
            "[[operators]]\nname = \"a\"\ntoken = \"operator-token-0123456789\"\n\
             members = [\"ns-a\", \" \"]\n",
        )
        .expect_err("an empty id");
        assert_eq!(
            error,
            "operators[0] (a): members[1] is empty: a member id is needed"
        );
        assert!(
            load("[[operators]]\nname = \"a\"\ntoken = \"x\"\nmembers = []\ncolour = 1\n")
                .is_err_and(|e| e.contains("colour"))
        );
    }

    #[test]
    fn keys_are_optional_and_the_master_key_comes_from_the_environment_too() {
        let load = |text: &str, env: &[(&str, &str)]| -> Result<super::Config, String> {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let path = dir.path().join("hub.toml");
            std::fs::write(&path, text).map_err(|e| e.to_string())?;
            let env: std::collections::BTreeMap<String, String> = env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            service::config::load(Some(&path), "HUB", &env).map_err(|e| e.to_string())
        };
        let none = load("", &[]).expect("no keys");
        assert!(none.keyring().expect("fine").is_none());
        let key = "000102030405060708090a0b0c0d0e0f";
        let from_env = load("", &[("HUB_KEYS__MASTER_KEY", key)]).expect("env key");
        let ring = from_env.keyring().expect("keyring").expect("a keyring");
        assert_eq!(
            ring.current().id(),
            key.parse::<service::sealing::MasterKey>()
                .expect("key")
                .id()
        );
        assert!(
            !format!("{from_env:?}").contains(key),
            "Debug shows the key"
        );
        let retired_only =
            load(&format!("[keys]\nretired_master_keys = [\"{key}\"]\n"), &[]).expect("parses");
        assert_eq!(
            retired_only.keyring().err(),
            Some(super::KeysError::RetiredWithoutCurrent)
        );
        let twice = load(
            &format!("[keys]\nmaster_key = \"{key}\"\nretired_master_keys = [\"{key}\"]\n"),
            &[],
        )
        .expect("parses");
        assert!(twice
            .keyring()
            .is_err_and(|e| e.to_string().contains("share the id")));
        let bad = load("[keys]\nmaster_key = \"deadbeefcafe\"\n", &[]).expect_err("too short");
        assert!(
            !bad.contains("deadbeefcafe"),
            "the error quotes the key: {bad}"
        );
    }
}
