//! The tunnel's configuration, ready to be a `[tunnel]` section of `nsd.toml`: report
//! delivery, and the AS profiles (`[[tunnel.as_profiles]]`) devices are linked to by
//! `AS_ID`, with [`DeviceAsLink`] the per-device part (what provisioning stores).
//!
//! ```toml
//! [tunnel]
//! lrc_id = "00000065"          # Lrcid written in reports (hex)
//! blacklist_after = 5          # consecutive failures that blacklist a route
//! blacklist_for_s = 60         # how long a blacklisted route gets no reports
//! connect_timeout_ms = 3000
//! history = 1000               # report records kept for the delivery view
//!
//! [[tunnel.as_profiles]]
//! as_id = "app1.sample.com"
//! key = "46ab678cd45df4a4e4b375eacd096acc"   # Tunnel Interface Authentication Key; omit: no security
//! max_time_deviation_s = 30
//! max_in_flight = 16           # per route; more: Overload, dropped
//! timeout_ms = 5000
//! routes = [ { url = "https://as.example.com/uplink", content_type = "json" } ]  # json | json-untyped | xml
//! ```

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use lorawan::ids::{AesKey, Eui64};
use serde::Deserialize;
use service::config::Secret;
use service::ratelimit::Quota;

use super::delivery::DeliveryConfig;
use super::{AsProfile, AsRoute, AsRouting, ContentType};

/// `[tunnel]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelConfig {
    /// `Lrcid` written in the reports (1 to 8 hex digits).
    #[serde(default = "default_lrc_id")]
    pub lrc_id: String,
    /// Consecutive failures that blacklist a route.
    #[serde(default = "default_blacklist_after")]
    pub blacklist_after: u32,
    /// Seconds a blacklisted route gets no reports.
    #[serde(default = "default_blacklist_for_s")]
    pub blacklist_for_s: u64,
    /// TCP connect timeout, milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Report records kept for the delivery view.
    #[serde(default = "default_history")]
    pub history: usize,
    /// The application servers.
    #[serde(default)]
    pub as_profiles: Vec<AsProfileConfig>,
    /// Which multicast groups report to which AS (multicast summary reports).
    #[serde(default)]
    pub multicast: Vec<MulticastLinkConfig>,
}

/// `[[tunnel.multicast]]`: the AS a multicast group's summary reports go to. A group is a
/// "virtual" device (seed 000): it has a DevEUI for the reports and an AS link like a device.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MulticastLinkConfig {
    /// The multicast group's id, as provisioned through the admin API.
    pub group: String,
    /// The DevEUI the reports name the group by (16 hex digits).
    pub dev_eui: String,
    /// The AS profile's `AS_ID`.
    pub as_id: String,
    /// `LrnInfos`.
    #[serde(default)]
    pub lrn_infos: String,
    /// `CustomerID`.
    #[serde(default)]
    pub customer_id: String,
}

impl Default for TunnelConfig {
    fn default() -> Self {
        Self {
            lrc_id: default_lrc_id(),
            blacklist_after: default_blacklist_after(),
            blacklist_for_s: default_blacklist_for_s(),
            connect_timeout_ms: default_connect_timeout_ms(),
            history: default_history(),
            as_profiles: Vec::new(),
            multicast: Vec::new(),
        }
    }
}

/// `[[tunnel.as_profiles]]`: one application server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsProfileConfig {
    /// `AS_ID`.
    pub as_id: String,
    /// The Tunnel Interface Authentication Key (32 hex digits); absent: security off.
    #[serde(default)]
    pub key: Option<Secret<AesKey>>,
    /// The AS transport key (32 hex digits) the `join` notification wraps the AppSKey with;
    /// absent: join notifications carry no key.
    #[serde(default)]
    pub transport_key: Option<Secret<AesKey>>,
    /// Largest accepted `Time` deviation of a downlink, seconds.
    #[serde(default = "default_max_time_deviation_s")]
    pub max_time_deviation_s: u64,
    /// Report requests in flight per route.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Timeout of one report request, milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Where reports go.
    pub routes: Vec<RouteConfig>,
}

/// One route of an AS profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// `http://` or `https://` URL.
    pub url: String,
    /// `json` (default), `json-untyped` or `xml`.
    #[serde(default)]
    pub content_type: ContentTypeConfig,
}

/// The encoding names of the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContentTypeConfig {
    /// Typed JSON.
    #[default]
    Json,
    /// Untyped JSON.
    JsonUntyped,
    /// XML.
    Xml,
}

impl From<ContentTypeConfig> for ContentType {
    fn from(value: ContentTypeConfig) -> Self {
        match value {
            ContentTypeConfig::Json => Self::Json,
            ContentTypeConfig::JsonUntyped => Self::JsonUntyped,
            ContentTypeConfig::Xml => Self::Xml,
        }
    }
}

/// A configuration the tunnel cannot run with; names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TunnelConfigError {
    /// `lrc_id` is not 1 to 8 hex digits.
    #[error("tunnel.lrc_id must be 1 to 8 hex digits, got {0:?}")]
    LrcId(String),
    /// An empty or repeated `as_id`.
    #[error("tunnel.as_profiles: as_id {0:?} is empty or appears twice")]
    AsId(String),
    /// A route URL that is not http(s).
    #[error("tunnel.as_profiles[{as_id}].routes: {url:?} is not an http:// or https:// URL")]
    Url {
        /// The profile.
        as_id: String,
        /// The URL.
        url: String,
    },
    /// A multicast link naming an AS that is not configured.
    #[error("tunnel.multicast: group {group:?} names as_id {as_id:?}, which is not in tunnel.as_profiles")]
    MulticastAs {
        /// The group.
        group: String,
        /// The missing AS.
        as_id: String,
    },
    /// A multicast link whose DevEUI is not 16 hex digits.
    #[error("tunnel.multicast: group {0:?}: dev_eui must be 16 hex digits")]
    MulticastDevEui(String),
    /// A zero limit or timeout.
    #[error("tunnel.as_profiles[{0}]: max_in_flight and timeout_ms must be above 0")]
    Limits(String),
}

impl TunnelConfig {
    /// The delivery engine's settings.
    pub fn delivery(&self) -> DeliveryConfig {
        DeliveryConfig {
            lrc_id: self.lrc_id.clone(),
            blacklist_after: self.blacklist_after.max(1),
            blacklist_for: Duration::from_secs(self.blacklist_for_s),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            idle_timeout: DeliveryConfig::default().idle_timeout,
            history: self.history.max(1),
        }
    }

    /// The AS profiles by `AS_ID`, validated.
    pub fn profiles(&self) -> Result<HashMap<String, Arc<AsProfile>>, TunnelConfigError> {
        let lrc_ok = (1..=8).contains(&self.lrc_id.len())
            && self.lrc_id.bytes().all(|b| b.is_ascii_hexdigit());
        if !lrc_ok {
            return Err(TunnelConfigError::LrcId(self.lrc_id.clone()));
        }
        let mut profiles = HashMap::new();
        for p in &self.as_profiles {
            if p.as_id.is_empty() || profiles.contains_key(&p.as_id) {
                return Err(TunnelConfigError::AsId(p.as_id.clone()));
            }
            if p.max_in_flight == 0 || p.timeout_ms == 0 {
                return Err(TunnelConfigError::Limits(p.as_id.clone()));
            }
            let mut routes = Vec::with_capacity(p.routes.len());
            for route in &p.routes {
                let scheme_ok = reqwest::Url::parse(&route.url)
                    .is_ok_and(|url| matches!(url.scheme(), "http" | "https"));
                if !scheme_ok {
                    return Err(TunnelConfigError::Url {
                        as_id: p.as_id.clone(),
                        url: route.url.clone(),
                    });
                }
                routes.push(AsRoute {
                    url: route.url.clone(),
                    content_type: route.content_type.into(),
                });
            }
            let profile = AsProfile {
                as_id: p.as_id.clone(),
                key: p.key.as_ref().map(|secret| secret.0),
                transport_key: p.transport_key.as_ref().map(|secret| secret.0),
                max_time_deviation: Duration::from_secs(p.max_time_deviation_s),
                routes,
                max_in_flight: p.max_in_flight,
                timeout: Duration::from_millis(p.timeout_ms),
            };
            profiles.insert(p.as_id.clone(), Arc::new(profile));
        }
        Ok(profiles)
    }
}

impl TunnelConfig {
    /// The multicast groups' report targets by group id: the DevEUI reports name and the
    /// routing, checked against `profiles`.
    pub fn multicast_links(
        &self,
        profiles: &HashMap<String, Arc<AsProfile>>,
    ) -> Result<HashMap<String, (Eui64, AsRouting)>, TunnelConfigError> {
        self.multicast
            .iter()
            .map(|m| {
                let dev_eui: Eui64 = m
                    .dev_eui
                    .parse()
                    .map_err(|_| TunnelConfigError::MulticastDevEui(m.group.clone()))?;
                let profile =
                    profiles
                        .get(&m.as_id)
                        .ok_or_else(|| TunnelConfigError::MulticastAs {
                            group: m.group.clone(),
                            as_id: m.as_id.clone(),
                        })?;
                let routing = AsRouting {
                    profile: Arc::clone(profile),
                    lrn_infos: m.lrn_infos.clone(),
                    customer_id: m.customer_id.clone(),
                    customer_data: None,
                    driver_cfg: None,
                    downlink_quota: None,
                };
                Ok((m.group.clone(), (dev_eui, routing)))
            })
            .collect()
    }
}

/// What provisioning keeps per device for the tunnel: which AS, and what the reports say.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceAsLink {
    /// The AS profile's `AS_ID`.
    pub as_id: String,
    /// `LrnInfos`.
    #[serde(default)]
    pub lrn_infos: String,
    /// `CustomerID`.
    #[serde(default)]
    pub customer_id: String,
    /// `CustomerData`.
    #[serde(default)]
    pub customer_data: Option<serde_json::Value>,
    /// `DriverCfg`.
    #[serde(default)]
    pub driver_cfg: Option<serde_json::Value>,
    /// The downlink token bucket: this many downlinks per second on average.
    #[serde(default)]
    pub downlink_rate_per_s: Option<NonZeroU32>,
    /// And this many at once (defaults to the rate).
    #[serde(default)]
    pub downlink_burst: Option<NonZeroU32>,
    /// Whether the AS may send confirmed downlinks to the device (seed 001 code 103 when
    /// not).
    #[serde(default = "confirmed_allowed")]
    pub confirmed_downlinks: bool,
}

const fn confirmed_allowed() -> bool {
    true
}

impl DeviceAsLink {
    /// The routing of a device with this link, given its AS profile.
    pub fn routing(&self, profile: Arc<AsProfile>) -> AsRouting {
        AsRouting {
            profile,
            lrn_infos: self.lrn_infos.clone(),
            customer_id: self.customer_id.clone(),
            customer_data: self.customer_data.clone(),
            driver_cfg: self.driver_cfg.clone(),
            downlink_quota: self
                .downlink_rate_per_s
                .map(|rate| Quota::per_second(rate, self.downlink_burst.unwrap_or(rate))),
        }
    }
}

fn default_lrc_id() -> String {
    "00000001".to_owned()
}
const fn default_blacklist_after() -> u32 {
    5
}
const fn default_blacklist_for_s() -> u64 {
    60
}
const fn default_connect_timeout_ms() -> u64 {
    3000
}
const fn default_history() -> usize {
    1000
}
const fn default_max_time_deviation_s() -> u64 {
    30
}
const fn default_max_in_flight() -> usize {
    16
}
const fn default_timeout_ms() -> u64 {
    5000
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        lrc_id = "00000065"
        blacklist_after = 3
        [[as_profiles]]
        as_id = "app1.sample.com"
        key = "46ab678cd45df4a4e4b375eacd096acc"
        max_in_flight = 4
        routes = [
            { url = "https://as.example.com/uplink" },
            { url = "http://10.0.0.1:8080/lora", content_type = "xml" },
        ]
        [[as_profiles]]
        as_id = "open.as"
        routes = [{ url = "http://127.0.0.1:9000/", content_type = "json-untyped" }]
    "#;

    #[test]
    fn the_example_loads() {
        let config: TunnelConfig = toml::from_str(EXAMPLE).expect("example");
        let profiles = config.profiles().expect("valid");
        let app = &profiles["app1.sample.com"];
        assert_eq!(
            app.key,
            Some("46ab678cd45df4a4e4b375eacd096acc".parse().expect("key"))
        );
        assert_eq!(app.max_in_flight, 4);
        assert_eq!(app.timeout, Duration::from_secs(5));
        assert_eq!(app.max_time_deviation, Duration::from_secs(30));
        assert_eq!(app.routes[0].content_type, ContentType::Json);
        assert_eq!(app.routes[1].content_type, ContentType::Xml);
        assert_eq!(profiles["open.as"].key, None);
        assert_eq!(
            profiles["open.as"].routes[0].content_type,
            ContentType::JsonUntyped
        );
        let delivery = config.delivery();
        assert_eq!(
            (delivery.lrc_id.as_str(), delivery.blacklist_after),
            ("00000065", 3)
        );
        assert!(
            !format!("{config:?}").contains("46ab678c"),
            "the key is never printed"
        );
    }

    #[test]
    fn invalid_configs_name_the_key() {
        let bad = |text: &str| {
            toml::from_str::<TunnelConfig>(text)
                .map_err(|e| e.to_string())
                .and_then(|c| c.profiles().map_err(|e| e.to_string()))
                .expect_err("invalid")
        };
        assert!(bad("lrc_id = \"xyz\"").contains("lrc_id"));
        assert!(
            bad("[[as_profiles]]\nas_id = \"a\"\nroutes = [{ url = \"ftp://x/\" }]")
                .contains("ftp://x/")
        );
        assert!(bad("[[as_profiles]]\nas_id = \"a\"\nroutes = []\n[[as_profiles]]\nas_id = \"a\"\nroutes = []").contains("twice"));
        assert!(
            bad("[[as_profiles]]\nas_id = \"a\"\nmax_in_flight = 0\nroutes = []")
                .contains("max_in_flight")
        );
        // Refused; the text of a malformed secret is withheld by `Secret` (toml's own error
        // snippet still quotes the line: a matter for the shared config loader).
        let key_error = bad(
            "[[as_profiles]]\nas_id = \"a\"\nkey = \"46ab678cd45df4a4e4b375eacd096acX\"\nroutes = []",
        );
        assert!(key_error.contains("text withheld: a secret"), "{key_error}");
        assert!(bad("unknown = 1").contains("unknown"));
    }

    #[test]
    fn multicast_groups_link_to_a_configured_as() {
        let text = format!(
            "{EXAMPLE}\n[[multicast]]\ngroup = \"lights\"\ndev_eui = \"70B3D5FFFE000001\"\nas_id = \"open.as\"\ncustomer_id = \"42\""
        );
        let config: TunnelConfig = toml::from_str(&text).expect("config");
        let profiles = config.profiles().expect("profiles");
        let links = config.multicast_links(&profiles).expect("links");
        let (dev_eui, routing) = &links["lights"];
        assert_eq!(format!("{dev_eui:X}"), "70B3D5FFFE000001");
        assert_eq!(routing.profile.as_id, "open.as");
        assert_eq!(routing.customer_id, "42");
        let missing = text.replace(
            "as_id = \"open.as\"\ncustomer_id",
            "as_id = \"nope\"\ncustomer_id",
        );
        let config: TunnelConfig = toml::from_str(&missing).expect("config");
        let error = config
            .multicast_links(&config.profiles().expect("profiles"))
            .expect_err("unknown AS");
        assert!(error.to_string().contains("nope"), "{error}");
    }

    #[test]
    fn a_device_link_gives_its_routing_and_bucket() {
        let link: DeviceAsLink = serde_json::from_value(serde_json::json!({
            "as_id": "app1.sample.com",
            "lrn_infos": "UPHTTP_LAB_LORA",
            "customer_id": "100000507",
            "downlink_rate_per_s": 2,
        }))
        .expect("link");
        let profile = Arc::new(AsProfile::new(
            "app1.sample.com",
            None,
            "http://127.0.0.1:1/",
        ));
        let routing = link.routing(profile);
        let quota = routing.downlink_quota.expect("bucket");
        assert_eq!(quota.burst.get(), 2);
        assert_eq!(quota.refill_every, Duration::from_millis(500));
        assert_eq!(routing.customer_id, "100000507");
    }
}
