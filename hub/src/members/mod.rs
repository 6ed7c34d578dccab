//! Members of the hub: the network servers and join servers that connect to it, who they
//! are on the wire (NetID, NSID, DevAddr pools, JoinEUI ranges), how to reach them, and how
//! they prove who they are.
//!
//! - [`Member`]: one member, as the routing logic sees it.
//! - [`file`](mod@file): the members file (`members.toml`), parsed and checked whole.
//! - [`edit`]: the operator's file and the admin API's, loaded together; API edits.
//! - [`Directory`]: every member, indexed for routing and authentication.

mod directory;
pub mod edit;
pub mod file;

use std::fmt;
use std::str::FromStr;

use backend::dialect::Dialect;
use backend::header::ProtocolVersion;
use backend::http::client::PeerEndpoint;
use lorawan::ids::{Eui64, NetId};
use lorawan::netid::DevAddrPool;

pub use directory::{AuthError, Credentials, Directory, DirectoryError, Receiver};

/// A member's id: its name in the hub's configuration (`operator-a-ns`). Stable: UDRs,
/// agreements and logs refer to members by it.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct MemberId(pub String);

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for MemberId {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

/// How a member answers the requests the hub forwards to it, and wants its own answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// In the HTTP response.
    Sync,
    /// With an empty HTTP 200, the answer POSTed later to the other side's endpoint.
    Async,
}

/// An inclusive range of JoinEUIs a join server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinEuiRange {
    /// First JoinEUI.
    pub first: Eui64,
    /// Last JoinEUI.
    pub last: Eui64,
}

impl JoinEuiRange {
    /// Whether `join_eui` is in the range.
    pub fn contains(&self, join_eui: Eui64) -> bool {
        (self.first.to_u64()..=self.last.to_u64()).contains(&join_eui.to_u64())
    }

    /// Whether two ranges share a JoinEUI.
    pub fn overlaps(&self, other: &JoinEuiRange) -> bool {
        self.first.to_u64() <= other.last.to_u64() && other.first.to_u64() <= self.last.to_u64()
    }
}

/// `70b3d57ed0000000-70b3d57ed00000ff` (first-last) or `70b3d57ed0000000/56` (a prefix of
/// that many bits) or a single JoinEUI.
impl FromStr for JoinEuiRange {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let eui = |t: &str| -> Result<Eui64, String> {
            t.trim()
                .parse()
                .map_err(|e| format!("{t:?} is not an EUI-64: {e}"))
        };
        if let Some((first, last)) = text.split_once('-') {
            let (first, last) = (eui(first)?, eui(last)?);
            if first.to_u64() > last.to_u64() {
                return Err(format!("{text:?}: the first JoinEUI is after the last"));
            }
            return Ok(Self { first, last });
        }
        if let Some((base, bits)) = text.split_once('/') {
            let base = eui(base)?.to_u64();
            let bits: u32 = bits
                .trim()
                .parse()
                .ok()
                .filter(|b| *b <= 64)
                .ok_or_else(|| format!("{text:?}: the prefix length is 0..=64"))?;
            let host = 64 - bits;
            let mask = if host == 64 { 0 } else { u64::MAX << host };
            if base & !mask != 0 {
                return Err(format!("{text:?}: bits after the prefix must be zero"));
            }
            return Ok(Self {
                first: Eui64::from_u64(base),
                last: Eui64::from_u64(base | !mask),
            });
        }
        let one = eui(text)?;
        Ok(Self {
            first: one,
            last: one,
        })
    }
}

/// A member, as routing sees it.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its id.
    pub id: MemberId,
    /// Its Backend Interfaces endpoint (URL parsed once) and the bearer token the hub
    /// presents when it calls the member.
    pub endpoint: PeerEndpoint,
    /// The TS002 version it speaks.
    pub protocol: ProtocolVersion,
    /// How it answers, and wants answers.
    pub mode: Mode,
    /// How messages to it are written.
    pub dialect: Dialect,
    /// Whether it takes notifications (PRStartNotif, ErrorNotif); ChirpStack v4 refuses them.
    pub accepts_notifications: bool,
    /// As a network server: its NetID.
    pub net_id: Option<NetId>,
    /// As a network server of a NetID with several servers (TS002 1.1): its NSID.
    pub nsid: Option<Eui64>,
    /// As a network server sharing its NetID with other members: its DevAddr pools.
    pub dev_addr_pools: Vec<DevAddrPool>,
    /// As a join server: the JoinEUIs it serves.
    pub join_eui_ranges: Vec<JoinEuiRange>,
    /// As (or for) application servers: the AS-IDs it may send AppSKeyReq as.
    pub as_ids: Vec<String>,
    /// As a network server: where the hub POSTs its peer configuration when it changes
    /// ([`crate::rfparams`]); `None`: the member pulls (`GET /control/peers`).
    pub control_url: Option<String>,
    /// As a network server: the RF parameter sets the operator declared in the members
    /// file (checked); a publication by the member itself takes precedence.
    pub rf_param_sets: Vec<crate::rfparams::RfParamSet>,
    /// How fast it may send (members file `rate_limit`, `burst`); `None`: no limit.
    pub rate_limit: Option<crate::shield::RateLimit>,
}

impl Member {
    /// The identity claims (what the member may route and send as) in which `changed`
    /// differs from `self`, by field name: a scoped operator may change its member's
    /// endpoint and credentials, not what the hub administrator vetted it to claim.
    pub fn identity_changes(&self, changed: &Member) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if self.net_id != changed.net_id {
            fields.push("net_id");
        }
        if self.nsid != changed.nsid {
            fields.push("nsid");
        }
        if self.dev_addr_pools != changed.dev_addr_pools {
            fields.push("dev_addr_pools");
        }
        if self.join_eui_ranges != changed.join_eui_ranges {
            fields.push("join_eui_ranges");
        }
        if self.as_ids != changed.as_ids {
            fields.push("as_ids");
        }
        fields
    }

    /// Whether the member may send a message with `sender_id` as SenderID: its NetID, a
    /// JoinEUI it serves (a join server answering), or one of its AS-IDs.
    pub fn owns_sender_id(&self, sender_id: &str) -> bool {
        if let (Some(own), Ok(net_id)) = (self.net_id, sender_id.parse::<NetId>()) {
            if sender_id.trim().len() <= 8 && own == net_id {
                return true;
            }
        }
        if let Ok(join_eui) = sender_id.parse::<Eui64>() {
            if self.join_eui_ranges.iter().any(|r| r.contains(join_eui)) {
                return true;
            }
        }
        self.as_ids
            .iter()
            .any(|a| a.eq_ignore_ascii_case(sender_id))
    }

    /// Whether the member may use `sender_nsid` as SenderNSID (none is always fine; one must
    /// be the member's own).
    pub fn owns_sender_nsid(&self, sender_nsid: Option<&str>) -> bool {
        match sender_nsid {
            None => true,
            Some(text) => match (self.nsid, text.parse::<Eui64>()) {
                (Some(own), Ok(nsid)) => own == nsid,
                _ => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_eui_ranges_parse_in_three_forms() {
        let range: JoinEuiRange = "70b3d57ed0000000/56".parse().expect("prefix");
        assert!(range.contains("70b3d57ed00000ff".parse().expect("eui")));
        assert!(!range.contains("70b3d57ed0000100".parse().expect("eui")));
        let span: JoinEuiRange = "0000000000000010-0000000000000020".parse().expect("span");
        assert!(span.contains(Eui64::from_u64(0x15)) && !span.contains(Eui64::from_u64(0x21)));
        assert!(span.overlaps(&"0000000000000020".parse().expect("one")));
        assert!("70b3d57ed0000001/56".parse::<JoinEuiRange>().is_err());
        assert!("0000000000000020-0000000000000010"
            .parse::<JoinEuiRange>()
            .is_err());
    }
}
