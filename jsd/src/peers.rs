//! Who may talk to the jsd: peers known by their bearer token, each bound to the identities it
//! may use (NetIDs for network servers or a roaming hub, AS-IDs for application servers) and
//! whether it is an operator of the admin API.
//!
//! Tokens are checked by the shared [`TokenTable`] (SHA-256 digests, constant time).

use lorawan::ids::NetId;
use service::auth::TokenTable;

use crate::config::{DialectName, NetIdPattern, PeerConfig};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its configured name.
    pub name: String,
    net_ids: Vec<NetIdPattern>,
    as_ids: Vec<String>,
    operator: bool,
    dialect: DialectName,
}

impl Peer {
    /// The dialect its answers are written in.
    pub const fn dialect(&self) -> DialectName {
        self.dialect
    }

    /// Whether it may send Backend Interfaces requests with `net_id` as SenderID, and claim
    /// devices for that home network.
    pub fn may_act_as_network(&self, net_id: NetId) -> bool {
        self.net_ids.iter().any(|p| p.matches(net_id))
    }

    /// Whether it may send AppSKeyReq as application server `as_id` (ASCII case ignored).
    pub fn may_act_as_application_server(&self, as_id: &str) -> bool {
        self.as_ids.iter().any(|a| a.eq_ignore_ascii_case(as_id))
    }

    /// Whether it may use the whole admin API.
    pub const fn is_operator(&self) -> bool {
        self.operator
    }

    /// Whether it is a network peer (may claim for some NetID).
    pub fn is_network(&self) -> bool {
        !self.net_ids.is_empty()
    }
}

/// The configured peers.
#[derive(Debug, Clone, Default)]
pub struct Peers {
    tokens: TokenTable<Peer>,
}

impl Peers {
    /// From `[[peers]]` (checked by [`crate::config::Config::check_peers`]).
    pub fn from_config(peers: &[PeerConfig]) -> Self {
        let tokens = TokenTable::new(peers.iter().map(|p| {
            (
                p.token.0.as_str(),
                Peer {
                    name: p.name.clone(),
                    net_ids: p.net_ids.clone(),
                    as_ids: p.as_ids.clone(),
                    operator: p.operator,
                    dialect: p.dialect,
                },
            )
        }));
        Self { tokens }
    }

    /// The peer holding `token`, if any.
    pub fn authenticate(&self, token: Option<&str>) -> Option<&Peer> {
        self.tokens.authenticate(token)
    }

    /// Whether no peer is configured (nobody can call).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn peer(name: &str, token: &str, net_ids: Vec<NetIdPattern>, operator: bool) -> PeerConfig {
        PeerConfig {
            name: name.into(),
            token: Secret(token.into()),
            net_ids,
            as_ids: vec!["AS-1".into()],
            operator,
            dialect: DialectName::default(),
        }
    }

    #[test]
    fn tokens_bind_callers_to_their_identities() {
        let n13 = NetId::from_u32(0x13).expect("24 bits");
        let n14 = NetId::from_u32(0x14).expect("24 bits");
        let peers = Peers::from_config(&[
            peer(
                "ns-13",
                "token-of-ns-13-xxxx",
                vec![NetIdPattern::Exact(n13)],
                false,
            ),
            peer(
                "hub",
                "token-of-the-hub-xxx",
                vec![NetIdPattern::Any],
                false,
            ),
            peer("ops", "token-of-operators-x", vec![], true),
        ]);
        assert_eq!(peers.authenticate(None), None);
        assert_eq!(peers.authenticate(Some("token-of-ns-13-xxxy")), None);
        let ns = peers
            .authenticate(Some("token-of-ns-13-xxxx"))
            .expect("known");
        assert_eq!(ns.name, "ns-13");
        assert!(ns.may_act_as_network(n13) && !ns.may_act_as_network(n14));
        assert!(ns.may_act_as_application_server("as-1"));
        assert!(!ns.is_operator());
        let hub = peers
            .authenticate(Some("token-of-the-hub-xxx"))
            .expect("known");
        assert!(hub.may_act_as_network(n14));
        let ops = peers
            .authenticate(Some("token-of-operators-x"))
            .expect("known");
        assert!(ops.is_operator() && !ops.is_network());
    }
}
