//! A member's peer configuration: what the hub tells a network server about the partners it
//! may roam with and the join servers it may use. A pure function of the members, the
//! policies, the published sets and the instant ([`peer_config`]).

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use super::model::RfParamSet;
use crate::members::{Directory, Member, MemberId};
use crate::policy::model::rfc3339;
use crate::policy::{Agreement, Direction, PolicySet, RoamingKind};

/// Where a member's sets in force come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Published by the member itself (`PUT /control/rf-param-sets`): takes precedence.
    Published,
    /// Declared by the operator in the members file.
    Declared,
    /// Neither: the member has no sets.
    None,
}

/// The sets each member published, by member (a member absent here never published; one
/// present with an empty list published "no sets").
pub type Published = BTreeMap<MemberId, Vec<RfParamSet>>;

/// The sets of `member` in force: its publication if it published, else its declared sets.
pub fn sets_in_force<'a>(
    member: &'a Member,
    published: &'a Published,
) -> (Source, &'a [RfParamSet]) {
    match published.get(&member.id) {
        Some(sets) => (Source::Published, sets),
        None if member.rf_param_sets.is_empty() => (Source::None, &[]),
        None => (Source::Declared, &member.rf_param_sets),
    }
}

/// What the hub tells a member about its peers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerConfig {
    /// The member it is for.
    pub member: MemberId,
    /// A digest of everything below: equal versions, equal configurations. The ETag of
    /// `GET /control/peers`.
    pub version: String,
    /// Every network server with an agreement in force with the member, in members-file
    /// order.
    pub partners: Vec<Partner>,
    /// Every join server the activation rules let the member use, in members-file order.
    pub join_servers: Vec<JoinServerPeer>,
}

/// A roaming partner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Partner {
    /// Its member id.
    pub member: MemberId,
    /// Its NetID.
    pub net_id: String,
    /// Its NSID, when its NetID has several network servers.
    pub nsid: Option<String>,
    /// The TS002 version it speaks (`1.0`, `1.1`): a 1.0 partner's messages carry no
    /// RFParamSetID.
    pub protocol: String,
    /// Its DevAddr pools, when it shares its NetID.
    pub dev_addr_pools: Vec<String>,
    /// The agreement in force between the two.
    pub agreement: AgreementView,
    /// Where its sets come from.
    pub rf_param_sets_source: Source,
    /// Its RF parameter sets, each with `data_rates` always written out (from the region's
    /// table when the partner did not list them).
    pub rf_param_sets: Vec<RfParamSet>,
}

/// An agreement as a partner entry shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgreementView {
    /// Its id.
    pub id: String,
    /// The roaming kinds it covers.
    pub kinds: Vec<RoamingKind>,
    /// What each side consents to, by member id.
    pub directions: BTreeMap<MemberId, Vec<Direction>>,
    /// The TS002 message types it covers.
    pub message_types: Vec<&'static str>,
    /// Whether uplink traffic may pass.
    pub uplink: bool,
    /// Whether downlink traffic may pass.
    pub downlink: bool,
    /// Start of validity (RFC 3339), if any.
    pub valid_from: Option<String>,
    /// End of validity (RFC 3339, excluded), if any.
    pub valid_until: Option<String>,
}

impl From<&Agreement> for AgreementView {
    fn from(agreement: &Agreement) -> Self {
        Self {
            id: agreement.id.clone(),
            kinds: agreement.kinds.iter().copied().collect(),
            directions: agreement
                .between
                .iter()
                .map(|m| (m.clone(), agreement.consent_of(m).directions()))
                .collect(),
            message_types: agreement.covered().iter().map(|m| m.as_str()).collect(),
            uplink: agreement.uplink,
            downlink: agreement.downlink,
            valid_from: agreement.validity.from.map(rfc3339),
            valid_until: agreement.validity.until.map(rfc3339),
        }
    }
}

/// A join server the member may send JoinReq / HomeNSReq to (through the hub).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JoinServerPeer {
    /// Its member id.
    pub member: MemberId,
    /// The JoinEUIs it serves (`first-last`).
    pub join_eui_ranges: Vec<String>,
    /// The activation rule that allows it.
    pub rule: Option<String>,
}

/// The peer configuration of `member` at `at`: every network-server partner with an
/// agreement in force with it (with that partner's sets in force), and every join server the
/// activation rules allow it. `None` when `member` is not in the directory.
pub fn peer_config(
    directory: &Directory,
    policies: &PolicySet,
    published: &Published,
    member: &MemberId,
    at: OffsetDateTime,
) -> Option<PeerConfig> {
    let me = directory.get(member)?;
    let mut partners = Vec::new();
    let mut join_servers = Vec::new();
    for other in directory.members().iter().filter(|m| m.id != me.id) {
        if let Some(net_id) = other.net_id {
            let in_force = policies
                .agreements_between(&me.id, &other.id)
                .find(|a| a.validity.contains(at));
            if let (Some(agreement), Some(_)) = (in_force, me.net_id) {
                let (source, sets) = sets_in_force(other, published);
                partners.push(Partner {
                    member: other.id.clone(),
                    net_id: net_id.to_string(),
                    nsid: other.nsid.map(|n| n.to_string()),
                    protocol: other.protocol.as_str().to_owned(),
                    dev_addr_pools: other
                        .dev_addr_pools
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                    agreement: AgreementView::from(agreement),
                    rf_param_sets_source: source,
                    rf_param_sets: sets
                        .iter()
                        .map(|set| RfParamSet {
                            data_rates: Some(set.effective_data_rates()),
                            ..set.clone()
                        })
                        .collect(),
                });
            }
        }
        if !other.join_eui_ranges.is_empty() && me.net_id.is_some() {
            let decision = policies.decide_activation(&me.id, &other.id, at);
            if decision.allowed {
                join_servers.push(JoinServerPeer {
                    member: other.id.clone(),
                    join_eui_ranges: other
                        .join_eui_ranges
                        .iter()
                        .map(|r| format!("{}-{}", r.first, r.last))
                        .collect(),
                    rule: decision.rule,
                });
            }
        }
    }
    let mut config = PeerConfig {
        member: me.id.clone(),
        version: String::new(),
        partners,
        join_servers,
    };
    config.version = digest(&config);
    Some(config)
}

/// FNV-1a (64 bits) of the configuration's JSON with an empty version, in hex: stable across
/// restarts and builds (serde writes fields in declaration order, maps sorted).
fn digest(config: &PeerConfig) -> String {
    let bytes = serde_json::to_vec(config).unwrap_or_default();
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::members::file::parse;
    use crate::rfparams::model::{ChannelDef, Rx2Def};

    const MEMBERS: &str = r#"
[[member]]
id = "a"
url = "http://127.0.0.1:1/bi"
token = "token-of-member-a-1234"
net_id = "000013"
protocol = "1.0"
[[member.rf_param_sets]]
region = "EU868"
channels = [{ frequency_hz = 868100000, min_dr = 0, max_dr = 5 }]
rx2 = { frequency_hz = 869525000, dr = 0 }

[[member]]
id = "b"
url = "http://127.0.0.1:2/bi"
token = "token-of-member-b-1234"
net_id = "000014"

[[member]]
id = "c"
url = "http://127.0.0.1:3/bi"
token = "token-of-member-c-1234"
net_id = "000015"

[[member]]
id = "js"
url = "http://127.0.0.1:4/bi"
token = "token-of-member-js-123"
join_eui_ranges = ["70b3d57ed0000000/56"]
"#;

    const POLICIES: &str = r#"
[[agreement]]
id = "a/b"
between = ["a", "b"]
directions = { a = ["roam-out"], b = ["roam-in"] }
valid_until = 2026-12-31
[[agreement]]
id = "b/c-later"
between = ["b", "c"]
valid_from = 2027-01-01
[[activation]]
id = "b-may-use-js"
ns = "b"
js = "js"
allow = true
"#;

    fn world() -> (Directory, PolicySet) {
        let directory = Directory::new(parse(MEMBERS).expect("members")).expect("directory");
        let policies = PolicySet::from_toml_str(POLICIES, None).expect("policies");
        (directory, policies)
    }

    fn us915() -> RfParamSet {
        RfParamSet {
            region: "US915".into(),
            rf_param_set_id: Some("us-sb2".into()),
            channels: vec![ChannelDef {
                frequency_hz: 903_900_000,
                min_dr: 0,
                max_dr: 3,
            }],
            data_rates: None,
            rx2: Rx2Def {
                frequency_hz: 923_300_000,
                dr: 8,
            },
            rx1_dr_offset: None,
            max_eirp_dbm: None,
        }
    }

    #[test]
    fn partners_are_those_with_an_agreement_in_force_with_their_sets() {
        let (directory, policies) = world();
        let at = datetime!(2026-06-01 0:00 UTC);
        let b = peer_config(&directory, &policies, &Published::new(), &"b".into(), at)
            .expect("b is a member");
        assert_eq!(b.partners.len(), 1, "c's agreement is not in force yet");
        let a = &b.partners[0];
        assert_eq!(a.member, "a".into());
        assert_eq!((a.net_id.as_str(), a.protocol.as_str()), ("000013", "1.0"));
        assert_eq!(a.agreement.id, "a/b");
        assert_eq!(a.agreement.directions[&"b".into()], vec![Direction::RoamIn]);
        assert_eq!(a.rf_param_sets_source, Source::Declared);
        let rates = a.rf_param_sets[0].data_rates.as_ref().expect("written out");
        assert_eq!(rates.len(), 6, "DR0..DR5 from the EU868 table");
        assert_eq!(b.join_servers.len(), 1);
        assert_eq!(b.join_servers[0].rule.as_deref(), Some("b-may-use-js"));
        assert_eq!(
            b.join_servers[0].join_eui_ranges,
            vec!["70b3d57ed0000000-70b3d57ed00000ff"]
        );

        // c sees nothing of a; later, c and b see each other and a/b has expired.
        let c = peer_config(&directory, &policies, &Published::new(), &"c".into(), at);
        assert!(c.is_some_and(|c| c.partners.is_empty() && c.join_servers.is_empty()));
        let later = datetime!(2027-02-01 0:00 UTC);
        let b_later = peer_config(&directory, &policies, &Published::new(), &"b".into(), later);
        let partners: Vec<_> = b_later
            .map(|b| b.partners.into_iter().map(|p| p.member).collect())
            .unwrap_or_default();
        assert_eq!(partners, vec![MemberId::from("c")]);
        assert!(peer_config(&directory, &policies, &Published::new(), &"x".into(), at).is_none());
    }

    #[test]
    fn a_publication_takes_precedence_and_changes_the_version() {
        let (directory, policies) = world();
        let at = datetime!(2026-06-01 0:00 UTC);
        let before =
            peer_config(&directory, &policies, &Published::new(), &"b".into(), at).expect("b");
        let again =
            peer_config(&directory, &policies, &Published::new(), &"b".into(), at).expect("b");
        assert_eq!(before.version, again.version, "deterministic");
        let published = Published::from([("a".into(), vec![us915()])]);
        let after = peer_config(&directory, &policies, &published, &"b".into(), at).expect("b");
        assert_ne!(before.version, after.version);
        let a = &after.partners[0];
        assert_eq!(a.rf_param_sets_source, Source::Published);
        assert_eq!(
            a.rf_param_sets[0].rf_param_set_id.as_deref(),
            Some("us-sb2")
        );
        // An empty publication is "no sets", not "fall back to the declared ones".
        let none = Published::from([("a".into(), Vec::new())]);
        let empty = peer_config(&directory, &policies, &none, &"b".into(), at).expect("b");
        assert!(empty.partners[0].rf_param_sets.is_empty());
        // A publication of a member without an agreement changes nothing for b.
        let of_c = Published::from([("c".into(), vec![us915()])]);
        let same = peer_config(&directory, &policies, &of_c, &"b".into(), at).expect("b");
        assert_eq!(same.version, before.version);
    }
}
