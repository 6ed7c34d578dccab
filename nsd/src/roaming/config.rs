//! `[roaming]`: passive roaming through the hub (both roles). Off without `hub_url`.

use std::time::Duration;

use backend::header::ProtocolVersion;
use lorawan::region::Region;
use serde::Deserialize;
use service::config::Secret;

use super::ultoken::UlTokenKey;

/// The `[roaming]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoamingConfig {
    /// The hub's Backend Interfaces endpoint; absent: no roaming.
    pub hub_url: Option<String>,
    /// The bearer token we present to the hub (its members file `token`).
    pub hub_token: Option<Secret<String>>,
    /// The bearer token the hub presents when it calls our `/bi` (members file
    /// `outbound_token`).
    pub inbound_token: Option<Secret<String>>,
    /// The TS002 version we speak to the hub: "1.0" or "1.1" (a bare number too, as an
    /// environment override reads `1.1`).
    #[serde(default = "default_protocol", deserialize_with = "version_text")]
    pub protocol: String,
    /// The hub's control API; absent: `hub_url`'s origin + `/control`.
    pub control_url: Option<String>,
    /// How often the peer configuration is fetched, seconds.
    #[serde(default = "default_peers_refresh_s")]
    pub peers_refresh_s: u64,
    /// The region of our gateways (forwarding role).
    #[serde(default = "default_region")]
    pub region: String,
    /// RX1 delay (seconds, 1..=15) given to roaming-enabled devices: the round trip through
    /// the hub does not fit in 1 s.
    #[serde(default = "default_rx1_delay_s")]
    pub rx1_delay_s: u8,
    /// Whether our gateways may transmit for other networks' devices.
    #[serde(default = "default_true")]
    pub gateways_dl_allowed: bool,
    /// The HMAC key of our ULTokens (64 hex digits); absent: random at each start (tokens
    /// live seconds, so a restart only fails the answers in flight).
    pub ul_token_key: Option<Secret<String>>,
    /// How long a roamed answer (PRStartAns, XmitDataAns, HomeNSAns) may take, milliseconds.
    #[serde(default = "default_answer_timeout_ms")]
    pub answer_timeout_ms: u64,
}

impl Default for RoamingConfig {
    fn default() -> Self {
        Self {
            hub_url: None,
            hub_token: None,
            inbound_token: None,
            protocol: default_protocol(),
            control_url: None,
            peers_refresh_s: default_peers_refresh_s(),
            region: default_region(),
            rx1_delay_s: default_rx1_delay_s(),
            gateways_dl_allowed: true,
            ul_token_key: None,
            answer_timeout_ms: default_answer_timeout_ms(),
        }
    }
}

/// A version written as text or as a number.
fn version_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Text(String),
        Number(f64),
    }
    Ok(match Text::deserialize(d)? {
        Text::Text(text) => text,
        Text::Number(number) => format!("{number:.1}"),
    })
}

fn default_protocol() -> String {
    "1.1".into()
}
fn default_peers_refresh_s() -> u64 {
    30
}
fn default_region() -> String {
    "EU868".into()
}
fn default_rx1_delay_s() -> u8 {
    5
}
fn default_true() -> bool {
    true
}
fn default_answer_timeout_ms() -> u64 {
    3000
}

/// `[roaming]` checked and ready.
#[derive(Debug, Clone)]
pub struct RoamingSettings {
    /// The hub's `/bi`.
    pub hub_url: String,
    /// Our token at the hub.
    pub hub_token: Option<String>,
    /// The hub's token at our `/bi`.
    pub inbound_token: String,
    /// Our TS002 version.
    pub protocol: ProtocolVersion,
    /// `GET {control_url}/peers`.
    pub control_url: String,
    /// Peer configuration refresh.
    pub peers_refresh: Duration,
    /// Our gateways' region.
    pub region: Region,
    /// RX1 delay of roaming devices, seconds.
    pub rx1_delay_s: u8,
    /// Our gateways may transmit for roaming devices.
    pub gateways_dl_allowed: bool,
    /// The ULToken key.
    pub ul_token_key: UlTokenKey,
    /// Answer timeout.
    pub answer_timeout: Duration,
}

impl RoamingConfig {
    /// The settings, `None` when roaming is off; the error names the key at fault.
    pub fn settings(&self) -> Result<Option<RoamingSettings>, String> {
        let Some(hub_url) = &self.hub_url else {
            return Ok(None);
        };
        let origin = http_origin(hub_url)
            .ok_or_else(|| format!("roaming.hub_url {hub_url:?} is not an http(s) URL"))?;
        let inbound_token = self
            .inbound_token
            .as_ref()
            .map(|t| t.0.clone())
            .filter(|t| t.len() >= 16)
            .ok_or("roaming.inbound_token is required with hub_url (16+ characters)")?;
        let protocol = match self.protocol.as_str() {
            "1.0" => ProtocolVersion::V1_0,
            "1.1" => ProtocolVersion::V1_1,
            other => return Err(format!("roaming.protocol {other:?}: \"1.0\" or \"1.1\"")),
        };
        let region = Region::from_name(&self.region)
            .map_err(|_| format!("roaming.region {:?} is not a region", self.region))?;
        if !(1..=15).contains(&self.rx1_delay_s) {
            return Err(format!(
                "roaming.rx1_delay_s {} is not within 1..=15",
                self.rx1_delay_s
            ));
        }
        let ul_token_key = match &self.ul_token_key {
            Some(hex) => UlTokenKey::from_hex(&hex.0)
                .ok_or("roaming.ul_token_key: 64 hex digits (value withheld: a secret)")?,
            None => UlTokenKey::random().ok_or("roaming.ul_token_key: no random generator")?,
        };
        let control_url = match &self.control_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("{origin}/control"),
        };
        Ok(Some(RoamingSettings {
            hub_url: hub_url.clone(),
            hub_token: self.hub_token.as_ref().map(|t| t.0.clone()),
            inbound_token,
            protocol,
            control_url,
            peers_refresh: Duration::from_secs(self.peers_refresh_s.max(1)),
            region,
            rx1_delay_s: self.rx1_delay_s,
            gateways_dl_allowed: self.gateways_dl_allowed,
            ul_token_key,
            answer_timeout: Duration::from_millis(self.answer_timeout_ms.max(100)),
        }))
    }
}

/// `scheme://host[:port]` of an http(s) URL.
fn http_origin(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let host_len = rest.find('/').unwrap_or(rest.len());
    if host_len == 0 {
        return None;
    }
    Some(&url[..url.len() - rest.len() + host_len])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_like: serde_json::Value) -> RoamingConfig {
        serde_json::from_value(toml_like).expect("parses")
    }

    #[test]
    fn roaming_is_off_without_a_hub_and_defaults_are_the_documented_ones() {
        assert!(RoamingConfig::default().settings().unwrap().is_none());
        let settings = config(serde_json::json!({
            "hub_url": "http://127.0.0.1:8600/bi",
            "inbound_token": "0123456789abcdef",
        }))
        .settings()
        .unwrap()
        .unwrap();
        assert_eq!(settings.control_url, "http://127.0.0.1:8600/control");
        assert_eq!(settings.protocol, ProtocolVersion::V1_1);
        assert_eq!(settings.rx1_delay_s, 5);
        assert_eq!(settings.region, Region::Eu868);
    }

    #[test]
    fn each_bad_key_is_named() {
        let base = serde_json::json!({
            "hub_url": "http://127.0.0.1:8600/bi", "inbound_token": "0123456789abcdef",
        });
        let with = |key: &str, value: serde_json::Value| {
            let mut v = base.clone();
            v[key] = value;
            config(v).settings().unwrap_err()
        };
        assert!(with("hub_url", "ftp://x".into()).contains("roaming.hub_url"));
        assert!(with("inbound_token", "short".into()).contains("roaming.inbound_token"));
        assert!(with("protocol", "2.0".into()).contains("roaming.protocol"));
        assert!(with("region", "XX1".into()).contains("roaming.region"));
        assert!(with("rx1_delay_s", 16.into()).contains("roaming.rx1_delay_s"));
        let err = with("ul_token_key", "not-hex-secret".into());
        assert!(err.contains("roaming.ul_token_key") && !err.contains("not-hex-secret"));
    }
}
