//! The jsd's config file (`jsd.toml`), with `JSD_…` environment overrides.
//!
//! Every key is documented in `deploy/jsd.toml`, which the tests load. Secrets (the master
//! key, peer tokens, KEKs) may sit in the file, but operators should prefer the environment
//! (`JSD_KEYS__MASTER_KEY=…`); their `Debug` output is redacted either way, so
//! `jsd --check-config` never prints them.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use lorawan::ids::{AesKey, NetId};
use serde::{Deserialize, Deserializer};
use service::database::{DatabaseConfig, DatabaseSection, SqliteSync};
use service::server::{ServerConfig, ServerSection};

use crate::device::{Keyring, Quota, SealError};
use crate::join::{ClearKeys, JoinPolicy, KekTable, NamedKek};
use service::sealing::KeysProblem;

/// The whole config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP listener and its limits (keys left out keep the jsd's defaults).
    #[serde(default = "default_server", deserialize_with = "server_section")]
    pub server: ServerConfig,
    /// Where devices, claims and nonces are kept (root keys encrypted). Keys left out keep
    /// the jsd's defaults, among them `sqlite_sync = "full"`: a JoinNonce is on disk before
    /// its join-accept leaves, even across a power loss (group commit keeps that fast).
    #[serde(default = "default_database", deserialize_with = "database_section")]
    pub database: DatabaseConfig,
    /// The master keys that seal root keys at rest.
    #[serde(default)]
    pub keys: KeysConfig,
    /// How joins are answered.
    #[serde(default)]
    pub join: JoinConfig,
    /// Limits on claim attempts.
    #[serde(default)]
    pub claims: ClaimsConfig,
    /// Who may talk to the jsd, and as whom.
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
    /// Key-encryption keys agreed with network and application servers.
    #[serde(default)]
    pub keks: Vec<KekConfig>,
}

fn default_server() -> ServerConfig {
    ServerConfig {
        // Manufacturer imports are large; the /bi endpoint keeps its own small limit.
        max_body_bytes: 32 << 20,
        ..ServerConfig::on(([127, 0, 0, 1], 8800).into())
    }
}

fn server_section<'de, D: Deserializer<'de>>(d: D) -> Result<ServerConfig, D::Error> {
    ServerSection::deserialize(d).map(|section| section.over(default_server()))
}

fn default_database() -> DatabaseConfig {
    DatabaseConfig {
        sqlite_sync: SqliteSync::Full,
        ..DatabaseConfig::sqlite("var/jsd.db")
    }
}

fn database_section<'de, D: Deserializer<'de>>(d: D) -> Result<DatabaseConfig, D::Error> {
    DatabaseSection::deserialize(d).map(|section| section.over(default_database()))
}

pub use service::sealing::KeysConfig;

/// `[join]`: the operator's activation settings.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JoinConfig {
    /// `allowed`: session keys go in clear to a peer with no KEK (TS002 allows it);
    /// `refused`: such a request is refused.
    #[serde(default = "default_clear_keys", with = "clear_keys_text")]
    pub clear_keys: ClearKeys,
    /// The `Lifetime` of a session in JoinAns, seconds; 0 leaves it out.
    #[serde(default)]
    pub session_lifetime_s: u32,
    /// Sessions kept per device to answer AppSKeyReq (the newest ones).
    #[serde(default = "default_sessions_kept")]
    pub sessions_kept: u32,
}

impl Default for JoinConfig {
    fn default() -> Self {
        Self {
            clear_keys: default_clear_keys(),
            session_lifetime_s: 0,
            sessions_kept: default_sessions_kept(),
        }
    }
}

fn default_clear_keys() -> ClearKeys {
    ClearKeys::Allowed
}

fn default_sessions_kept() -> u32 {
    4
}

impl JoinConfig {
    /// The policy the join logic applies.
    pub fn policy(&self) -> JoinPolicy {
        JoinPolicy {
            clear_keys: self.clear_keys,
            session_lifetime: (self.session_lifetime_s > 0).then_some(self.session_lifetime_s),
        }
    }
}

mod clear_keys_text {
    use super::ClearKeys;
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ClearKeys, D::Error> {
        match String::deserialize(d)?.as_str() {
            "allowed" => Ok(ClearKeys::Allowed),
            "refused" => Ok(ClearKeys::Refused),
            other => Err(serde::de::Error::custom(format!(
                "clear_keys must be \"allowed\" or \"refused\", not {other:?}"
            ))),
        }
    }
}

/// `[claims]`: token buckets per DevEUI and per caller.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClaimsConfig {
    /// Claim attempts on one DevEUI in a burst.
    #[serde(default = "default_per_device_burst")]
    pub per_device_burst: NonZeroU32,
    /// One attempt on a DevEUI comes back every this many seconds.
    #[serde(default = "default_per_device_refill_s")]
    pub per_device_refill_s: NonZeroU32,
    /// Claim attempts by one caller in a burst.
    #[serde(default = "default_per_caller_burst")]
    pub per_caller_burst: NonZeroU32,
    /// One attempt by a caller comes back every this many milliseconds.
    #[serde(default = "default_per_caller_refill_ms")]
    pub per_caller_refill_ms: NonZeroU32,
    /// DevEUIs and callers remembered by the limiter at most (bounded memory).
    #[serde(default = "default_tracked")]
    pub tracked: NonZeroUsize,
}

impl Default for ClaimsConfig {
    fn default() -> Self {
        Self {
            per_device_burst: default_per_device_burst(),
            per_device_refill_s: default_per_device_refill_s(),
            per_caller_burst: default_per_caller_burst(),
            per_caller_refill_ms: default_per_caller_refill_ms(),
            tracked: default_tracked(),
        }
    }
}

fn default_per_device_burst() -> NonZeroU32 {
    NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN)
}
fn default_per_device_refill_s() -> NonZeroU32 {
    NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN)
}
fn default_per_caller_burst() -> NonZeroU32 {
    NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN)
}
fn default_per_caller_refill_ms() -> NonZeroU32 {
    NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN)
}
fn default_tracked() -> NonZeroUsize {
    NonZeroUsize::new(100_000).unwrap_or(NonZeroUsize::MIN)
}

impl ClaimsConfig {
    /// The per-DevEUI quota.
    pub fn per_device(&self) -> Quota {
        quota(
            self.per_device_burst,
            Duration::from_secs(self.per_device_refill_s.get().into()),
        )
    }

    /// The per-caller quota.
    pub fn per_caller(&self) -> Quota {
        quota(
            self.per_caller_burst,
            Duration::from_millis(self.per_caller_refill_ms.get().into()),
        )
    }
}

fn quota(burst: NonZeroU32, refill_every: Duration) -> Quota {
    // refill_every comes from a NonZero value, so it is never zero.
    Quota::new(burst, refill_every).unwrap_or(Quota {
        burst,
        refill_every: Duration::from_secs(1),
    })
}

/// `[[peers]]`: one caller of the jsd, known by its bearer token, and the identities it may
/// use. A network server (or the roaming hub in front of several) sends JoinReq, RejoinReq and
/// HomeNSReq with one of `net_ids` as SenderID and may claim and unclaim devices for those
/// NetIDs; an application server sends AppSKeyReq as one of `as_ids`; an operator may use the
/// whole admin API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// A name for logs, metrics and the rate limiter.
    pub name: String,
    /// Its bearer token (at least 16 characters).
    pub token: Secret<String>,
    /// NetIDs (6 hex digits) it may send as, or `"*"` for any (a roaming hub).
    #[serde(default)]
    pub net_ids: Vec<NetIdPattern>,
    /// AS-IDs it may send AppSKeyReq as.
    #[serde(default)]
    pub as_ids: Vec<String>,
    /// Whether it may use the whole admin API (import, any claim, keys).
    #[serde(default)]
    pub operator: bool,
    /// The Backend Interfaces dialect its answers are written in: `canonical` (TS002 as
    /// written), `chirpstack` (ChirpStack v4), `tts` (The Things Stack) or `helium`.
    #[serde(default)]
    pub dialect: DialectName,
}

/// A peer's Backend Interfaces dialect, by name.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DialectName {
    /// TS002 as written.
    #[default]
    Canonical,
    /// ChirpStack v4.
    Chirpstack,
    /// The Things Stack.
    Tts,
    /// Helium.
    Helium,
}

/// A NetID a peer may use, or any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetIdPattern {
    /// Exactly this NetID.
    Exact(NetId),
    /// Any NetID (`"*"`).
    Any,
}

impl NetIdPattern {
    /// Whether `net_id` is allowed.
    pub fn matches(self, net_id: NetId) -> bool {
        match self {
            Self::Exact(allowed) => allowed == net_id,
            Self::Any => true,
        }
    }
}

impl<'de> Deserialize<'de> for NetIdPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "*" {
            return Ok(Self::Any);
        }
        text.parse::<NetId>().map(Self::Exact).map_err(|e| {
            serde::de::Error::custom(format!(
                "{text:?} is not a NetID (6 hex digits) or \"*\": {e}"
            ))
        })
    }
}

/// `[[keks]]`: a key-encryption key agreed with one network server (by NetID) or application
/// server (by AS-ID), and its label (the `KEKLabel` of the key envelopes).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KekConfig {
    /// The network server's NetID (exclusive with `as_id`).
    #[serde(default, deserialize_with = "opt_net_id")]
    pub net_id: Option<NetId>,
    /// The application server's AS-ID (exclusive with `net_id`).
    #[serde(default)]
    pub as_id: Option<String>,
    /// The KEKLabel both sides know the key by.
    pub label: String,
    /// The key, 32 hex digits.
    pub key: Secret<AesKey>,
}

fn opt_net_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NetId>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a NetID: {e}")))
}

pub use service::config::Secret;

/// A config that is syntactically fine but cannot run; names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigProblem {
    /// No master key.
    #[error(
        "keys.master_key is required (32 hex digits; prefer the environment: \
         JSD_KEYS__MASTER_KEY=$(openssl rand -hex 16))"
    )]
    NoMasterKey,
    /// The keyring refused the keys (a retired key equal to the current one, …).
    #[error("keys: {0}")]
    Keyring(SealError),
    /// A peer entry is unusable.
    #[error("peers[{index}] ({name}): {reason}")]
    Peer {
        /// Position in the file.
        index: usize,
        /// Its name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A KEK entry is unusable.
    #[error("keks[{index}] ({label}): {reason}")]
    Kek {
        /// Position in the file.
        index: usize,
        /// Its label.
        label: String,
        /// What is wrong.
        reason: String,
    },
}

/// Shortest bearer token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

impl Config {
    /// The keyring of `[keys]`.
    pub fn keyring(&self) -> Result<Keyring, ConfigProblem> {
        self.keys.keyring().map_err(|problem| match problem {
            KeysProblem::NoMasterKey => ConfigProblem::NoMasterKey,
            KeysProblem::Keyring(e) => ConfigProblem::Keyring(e),
        })
    }

    /// The KEK table of `[[keks]]`.
    pub fn kek_table(&self) -> Result<KekTable, ConfigProblem> {
        let mut table = KekTable::new();
        for (index, kek) in self.keks.iter().enumerate() {
            let problem = |reason: &str| ConfigProblem::Kek {
                index,
                label: kek.label.clone(),
                reason: reason.to_owned(),
            };
            let named = NamedKek::new(kek.label.clone(), kek.key.0)
                .map_err(|_| problem("label must not be empty"))?;
            table = match (kek.net_id, &kek.as_id) {
                (Some(net_id), None) => table.with_network_server(net_id, named),
                (None, Some(as_id)) => table.with_application_server(as_id.clone(), named),
                _ => return Err(problem("set exactly one of net_id and as_id")),
            };
        }
        Ok(table)
    }

    /// Checks `[[peers]]`: names and tokens unique, tokens long enough, each peer allowed
    /// something.
    pub fn check_peers(&self) -> Result<(), ConfigProblem> {
        for (index, peer) in self.peers.iter().enumerate() {
            let problem = |reason: &str| ConfigProblem::Peer {
                index,
                name: peer.name.clone(),
                reason: reason.to_owned(),
            };
            if peer.token.0.len() < MIN_TOKEN_LEN {
                return Err(problem("token must be at least 16 characters"));
            }
            if peer.net_ids.is_empty() && peer.as_ids.is_empty() && !peer.operator {
                return Err(problem("allows nothing: give net_ids, as_ids or operator"));
            }
            let earlier = &self.peers[..index];
            if earlier.iter().any(|p| p.name == peer.name) {
                return Err(problem("name used twice"));
            }
            if earlier.iter().any(|p| p.token.0 == peer.token.0) {
                return Err(problem("token used by another peer"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    #[test]
    fn a_partial_server_section_keeps_the_jsd_defaults() {
        let env: BTreeMap<String, String> =
            [("JSD_SERVER__LISTEN".to_owned(), "127.0.0.1:9999".to_owned())].into();
        let config: super::Config = service::config::load(None, "JSD", &env).expect("loads");
        assert_eq!(config.server.listen.port(), 9999);
        assert_eq!(config.server.max_body_bytes, 32 << 20);
        assert_eq!(
            config.database.sqlite_sync,
            service::database::SqliteSync::Full
        );
    }
}
