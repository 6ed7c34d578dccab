//! The nsd's config file (`nsd.toml`), with `NSD_…` environment overrides.
//!
//! Every key is documented in `deploy/nsd.toml`, which the tests load.

use std::net::SocketAddr;

use lorawan::ids::{Eui64, NetId};
use lorawan::netid::DevAddrPool;
use serde::{Deserialize, Deserializer};
use service::auth::OperatorConfig;
use service::config::Secret;
use service::database::DatabaseConfig;
use service::sealing::{Keyring, KeysProblem, SealError};
use service::server::ServerConfig;

/// The whole config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP listener and its limits.
    #[serde(default = "default_server")]
    pub server: ServerConfig,
    /// Where devices, profiles, sessions and queues are kept.
    #[serde(default = "default_database")]
    pub database: DatabaseConfig,
    /// Who this network is.
    #[serde(default)]
    pub network: NetworkConfig,
    /// The master keys sealing session keys at rest.
    #[serde(default)]
    pub keys: KeysConfig,
    /// The gateway listener.
    #[serde(default)]
    pub gateways: GatewaysConfig,
    /// Deduplication.
    #[serde(default)]
    pub uplink: UplinkConfig,
    /// Class C and multicast delivery.
    #[serde(default)]
    pub downlink: DownlinkConfig,
    /// Where joins go.
    #[serde(default)]
    pub join: JoinConfig,
    /// Who may use the admin API.
    #[serde(default)]
    pub operators: Vec<OperatorConfig>,
    /// Tenants' traffic segregation settings.
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// The LRC-AS tunnel: application servers and report delivery.
    #[serde(default)]
    pub tunnel: crate::tunnel::config::TunnelConfig,
    /// Passive roaming through the hub.
    #[serde(default)]
    pub roaming: crate::roaming::config::RoamingConfig,
}

/// `[[tenants]]`: what lets another tenant's gateways serve this tenant's devices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The tenant's name, as devices and gateways name it.
    pub name: String,
    /// Its dedicated NetID: tenants sharing one (not 000000 / 000001) share gateways.
    #[serde(default, deserialize_with = "opt_net_id")]
    pub net_id: Option<NetId>,
    /// Tenants with the same segregation id share gateways.
    #[serde(default)]
    pub segregation_id: Option<String>,
    /// Tenants it has a roaming agreement with.
    #[serde(default)]
    pub agreements: Vec<String>,
}

fn opt_net_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NetId>, D::Error> {
    net_id(d).map(Some)
}

fn default_server() -> ServerConfig {
    ServerConfig::on(([127, 0, 0, 1], 8700).into())
}

fn default_database() -> DatabaseConfig {
    DatabaseConfig::sqlite("var/nsd.db")
}

/// `[network]`: the NetID this network server serves and the addresses it hands out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// The NetID (6 hex digits).
    #[serde(deserialize_with = "net_id")]
    pub net_id: NetId,
    /// The NSID (TS002 1.1) of this server, when it shares its NetID with others.
    #[serde(default)]
    pub nsid: Option<String>,
    /// The DevAddr range joins are given addresses from (`addr/len`, inside the NetID's
    /// range); empty: the NetID's whole range.
    #[serde(default)]
    pub dev_addr_pool: Option<String>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            net_id: EXPERIMENTAL_NET_ID,
            nsid: None,
            dev_addr_pool: None,
        }
    }
}

/// NetID 000000, the experimental NetID: the default until the operator sets its own.
const EXPERIMENTAL_NET_ID: NetId = match NetId::from_u32(0) {
    Some(net_id) => net_id,
    None => panic!("0 fits in 24 bits"),
};

fn net_id<'de, D: Deserializer<'de>>(d: D) -> Result<NetId, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a NetID: {e}")))
}

pub use service::sealing::KeysConfig;

/// `[gateways]`: the Semtech UDP listener.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GatewaysConfig {
    /// UDP address packet forwarders send to.
    #[serde(default = "default_udp_listen")]
    pub udp_listen: SocketAddr,
    /// A gateway silent (no PULL_DATA) for longer is not sent downlinks.
    #[serde(default = "default_keepalive_timeout_s")]
    pub keepalive_timeout_s: u64,
    /// How long to wait for a TX_ACK.
    #[serde(default = "default_tx_ack_timeout_ms")]
    pub tx_ack_timeout_ms: u64,
}

fn default_udp_listen() -> SocketAddr {
    ([127, 0, 0, 1], 1700).into()
}

fn default_keepalive_timeout_s() -> u64 {
    30
}

fn default_tx_ack_timeout_ms() -> u64 {
    1000
}

impl Default for GatewaysConfig {
    fn default() -> Self {
        Self {
            udp_listen: default_udp_listen(),
            keepalive_timeout_s: default_keepalive_timeout_s(),
            tx_ack_timeout_ms: default_tx_ack_timeout_ms(),
        }
    }
}

/// `[uplink]`: deduplication.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UplinkConfig {
    /// How long receptions of one frame are collected, milliseconds.
    #[serde(default = "default_dedup_window_ms")]
    pub dedup_window_ms: u64,
    /// Receptions kept per frame (the best by SNR).
    #[serde(default = "default_max_receptions")]
    pub max_receptions: usize,
}

fn default_dedup_window_ms() -> u64 {
    250
}

fn default_max_receptions() -> usize {
    10
}

impl Default for UplinkConfig {
    fn default() -> Self {
        Self {
            dedup_window_ms: default_dedup_window_ms(),
            max_receptions: default_max_receptions(),
        }
    }
}

/// `[downlink]`: class C and multicast delivery.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DownlinkConfig {
    /// How long after its first attempt a class C frame may still be sent, milliseconds
    /// (the seed's 60 s; then it is reported not sent with E0).
    #[serde(default = "default_class_c_max_delay_ms")]
    pub class_c_max_delay_ms: u64,
    /// Wait between a refused class C attempt and the next, milliseconds.
    #[serde(default = "default_class_c_retry_interval_ms")]
    pub class_c_retry_interval_ms: u64,
    /// CLASS_C_RESP_TIMEOUT: how long a class C device has to acknowledge a confirmed frame
    /// before the next frame is sent, milliseconds.
    #[serde(default = "default_class_c_ack_timeout_ms")]
    pub class_c_ack_timeout_ms: u64,
    /// Gateways closer than this never send a multicast frame at the same time, metres
    /// (the seed's "Class C Collision Avoidance Distance", 7 km).
    #[serde(default = "default_multicast_distance_m")]
    pub multicast_collision_avoidance_distance_m: f64,
    /// Attempts per gateway for a multicast frame, the first included.
    #[serde(default = "default_multicast_attempts")]
    pub multicast_max_attempts: u8,
}

fn default_class_c_max_delay_ms() -> u64 {
    60_000
}

fn default_class_c_retry_interval_ms() -> u64 {
    1_000
}

fn default_class_c_ack_timeout_ms() -> u64 {
    8_000
}

fn default_multicast_distance_m() -> f64 {
    7_000.0
}

fn default_multicast_attempts() -> u8 {
    3
}

impl Default for DownlinkConfig {
    fn default() -> Self {
        Self {
            class_c_max_delay_ms: default_class_c_max_delay_ms(),
            class_c_retry_interval_ms: default_class_c_retry_interval_ms(),
            class_c_ack_timeout_ms: default_class_c_ack_timeout_ms(),
            multicast_collision_avoidance_distance_m: default_multicast_distance_m(),
            multicast_max_attempts: default_multicast_attempts(),
        }
    }
}

/// `[join]`: the join servers, by JoinEUI range.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinConfig {
    /// Join servers, tried in order: the first whose range holds the JoinEUI serves it.
    #[serde(default)]
    pub servers: Vec<JoinServerConfig>,
}

/// `[[join.servers]]`: one join server (or the roaming hub in front of many).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinServerConfig {
    /// Its Backend Interfaces URL.
    pub url: String,
    /// The JoinEUI ranges it serves (`first..=last`, 16 hex digits each, or `*`).
    pub join_euis: Vec<String>,
    /// The bearer token we send it.
    #[serde(default)]
    pub token: Option<Secret<String>>,
    /// Its identity (ReceiverID) when it is not the JoinEUI (a hub: its own id).
    #[serde(default)]
    pub receiver_id: Option<String>,
    /// The key-encryption key it wraps our session keys with.
    #[serde(default)]
    pub kek: Option<KekConfig>,
    /// Its admin API (`http://…`, without `/api`), where devices provisioned with an owner
    /// token are claimed (and released when deleted); absent: no claims through this server.
    #[serde(default)]
    pub admin_url: Option<String>,
    /// The bearer token of its admin API; absent: `token`.
    #[serde(default)]
    pub admin_token: Option<Secret<String>>,
}

/// A key-encryption key agreed with a peer: its KEKLabel and the key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KekConfig {
    /// The KEKLabel both sides know it by.
    pub label: String,
    /// The key, 32 hex digits.
    pub key: Secret<lorawan::ids::AesKey>,
}

/// A config that parses but cannot run; names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigProblem {
    /// No master key.
    #[error(
        "keys.master_key is required (32 hex digits; prefer the environment: \
         NSD_KEYS__MASTER_KEY=$(openssl rand -hex 16))"
    )]
    NoMasterKey,
    /// The keyring refused the keys.
    #[error("keys: {0}")]
    Keyring(SealError),
    /// The DevAddr pool is not inside the NetID.
    #[error("network.dev_addr_pool: {0}")]
    Pool(String),
    /// A join server entry is unusable.
    #[error("join.servers[{index}]: {reason}")]
    JoinServer {
        /// Position in the file.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// `[[operators]]`.
    #[error("{0}")]
    Operators(String),
    /// `[tunnel]` is unusable.
    #[error("tunnel: {0}")]
    Tunnel(String),
    /// `[roaming]` is unusable (the text names the key).
    #[error("{0}")]
    Roaming(String),
    /// A `[[tenants]]` entry is unusable.
    #[error("tenants[{index}]: {reason}")]
    Tenant {
        /// Position in the file.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

/// A JoinEUI range, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinEuiRange {
    /// First JoinEUI.
    pub first: Eui64,
    /// Last JoinEUI.
    pub last: Eui64,
}

impl JoinEuiRange {
    /// Whether `eui` is in the range.
    pub fn contains(&self, eui: Eui64) -> bool {
        (self.first.to_u64()..=self.last.to_u64()).contains(&eui.to_u64())
    }

    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "*" {
            return Ok(Self {
                first: Eui64::from_u64(0),
                last: Eui64::from_u64(u64::MAX),
            });
        }
        let (first, last) = text.split_once("..=").unwrap_or((text, text));
        let parse = |t: &str| {
            t.trim()
                .parse::<Eui64>()
                .map_err(|_| format!("{t:?} is not an EUI-64"))
        };
        let range = Self {
            first: parse(first)?,
            last: parse(last)?,
        };
        if range.first.to_u64() > range.last.to_u64() {
            return Err(format!("{text:?}: first is after last"));
        }
        Ok(range)
    }
}

impl Config {
    /// The keyring of `[keys]`.
    pub fn keyring(&self) -> Result<Keyring, ConfigProblem> {
        self.keys.keyring().map_err(|problem| match problem {
            KeysProblem::NoMasterKey => ConfigProblem::NoMasterKey,
            KeysProblem::Keyring(e) => ConfigProblem::Keyring(e),
        })
    }

    /// The DevAddr pool joins draw from.
    pub fn dev_addr_pool(&self) -> Result<DevAddrPool, ConfigProblem> {
        match &self.network.dev_addr_pool {
            None => Ok(DevAddrPool::whole(self.network.net_id)),
            Some(text) => DevAddrPool::parse(self.network.net_id, text)
                .map_err(|e| ConfigProblem::Pool(format!("{text:?}: {e}"))),
        }
    }

    /// The JoinEUI ranges of each `[[join.servers]]` entry, in order.
    pub fn join_ranges(&self) -> Result<Vec<Vec<JoinEuiRange>>, ConfigProblem> {
        self.join
            .servers
            .iter()
            .enumerate()
            .map(|(index, server)| {
                if let Some(url) = &server.admin_url {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(ConfigProblem::JoinServer {
                            index,
                            reason: format!("admin_url {url:?} is not an http(s) URL"),
                        });
                    }
                }
                if server.join_euis.is_empty() {
                    return Err(ConfigProblem::JoinServer {
                        index,
                        reason: "join_euis is empty".into(),
                    });
                }
                server
                    .join_euis
                    .iter()
                    .map(|r| JoinEuiRange::parse(r))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|reason| ConfigProblem::JoinServer { index, reason })
            })
            .collect()
    }

    /// The tenants' segregation table.
    pub fn tenancy(&self) -> Result<crate::device::tenancy::Tenancy, ConfigProblem> {
        let mut seen = std::collections::HashSet::new();
        for (index, tenant) in self.tenants.iter().enumerate() {
            if tenant.name.is_empty() || !seen.insert(tenant.name.as_str()) {
                return Err(ConfigProblem::Tenant {
                    index,
                    reason: "name empty or used twice".into(),
                });
            }
        }
        Ok(crate::device::tenancy::Tenancy::new(
            self.tenants.iter().map(|t| {
                (
                    t.name.clone(),
                    crate::device::tenancy::Tenant {
                        net_id: t.net_id,
                        segregation_id: t.segregation_id.clone(),
                        agreements: t.agreements.clone(),
                    },
                )
            }),
        ))
    }

    /// Every check that needs more than parsing.
    pub fn check(&self) -> Result<(), ConfigProblem> {
        self.keyring()?;
        self.dev_addr_pool()?;
        self.join_ranges()?;
        self.tenancy()?;
        self.tunnel
            .profiles()
            .map_err(|e| ConfigProblem::Tunnel(e.to_string()))?;
        self.roaming.settings().map_err(ConfigProblem::Roaming)?;
        service::auth::check_operators(&self.operators).map_err(ConfigProblem::Operators)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_join_server(server: serde_json::Value) -> Config {
        serde_json::from_value(serde_json::json!({
            "keys": { "master_key": "000102030405060708090a0b0c0d0e0f" },
            "join": { "servers": [server] },
        }))
        .expect("parses")
    }

    #[test]
    fn a_join_servers_admin_api_is_optional_and_must_be_http() {
        let config = with_join_server(serde_json::json!({
            "url": "http://127.0.0.1:8800/bi", "join_euis": ["*"], "token": "t",
            "admin_url": "http://127.0.0.1:8800", "admin_token": "admin",
        }));
        config.check().expect("valid");
        let server = &config.join.servers[0];
        assert_eq!(server.admin_url.as_deref(), Some("http://127.0.0.1:8800"));
        assert_eq!(
            server.admin_token.as_ref().map(|t| t.0.as_str()),
            Some("admin")
        );

        let config = with_join_server(serde_json::json!({
            "url": "http://127.0.0.1:8800/bi", "join_euis": ["*"],
        }));
        config
            .check()
            .expect("no admin API: no claims, still valid");
        assert!(config.join.servers[0].admin_url.is_none());

        let config = with_join_server(serde_json::json!({
            "url": "http://127.0.0.1:8800/bi", "join_euis": ["*"], "admin_url": "127.0.0.1:8800",
        }));
        let problem = config.check().expect_err("not a URL").to_string();
        assert!(
            problem.starts_with("join.servers[0]: admin_url"),
            "{problem}"
        );
    }
}
