//! Traffic segregation between tenants (seed 000, "Traffic segregation"): a tenant's devices
//! are served only by its own gateways — "except in one of the following cases":
//!
//! 1. "There is a valid roaming agreement between Subscription-A and Subscription-B";
//! 2. "Subscription-A's devices and subscription-B's Base Stations use the same dedicated
//!    NetID (NetID different from 000000 and 000001)" — "This rule does not apply if
//!    subscriptions A & B use private NetID 000000 or 000001";
//! 3. "Subscriptions A & B are explicitly configured to use the same Segregation-ID".
//!
//! A gateway provisioned without a tenant belongs to the operator and serves every tenant.

use std::collections::HashMap;

use lorawan::ids::NetId;

/// One tenant's segregation settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tenant {
    /// Its dedicated NetID, if it has one.
    pub net_id: Option<NetId>,
    /// Its segregation id, if configured.
    pub segregation_id: Option<String>,
    /// Tenants it has a roaming agreement with (either side naming the other suffices).
    pub agreements: Vec<String>,
}

/// Every configured tenant; a tenant not configured has no NetID, no segregation id and no
/// agreement: only its own (and the operator's) gateways serve it.
#[derive(Debug, Clone, Default)]
pub struct Tenancy {
    tenants: HashMap<String, Tenant>,
}

impl Tenancy {
    /// The table of `tenants` by name.
    pub fn new(tenants: impl IntoIterator<Item = (String, Tenant)>) -> Self {
        Self {
            tenants: tenants.into_iter().collect(),
        }
    }

    /// Whether a gateway of `gateway_tenant` (`None`: the operator's) may serve a device of
    /// `device_tenant`.
    pub fn may_serve(&self, device_tenant: &str, gateway_tenant: Option<&str>) -> bool {
        let Some(gateway_tenant) = gateway_tenant else {
            return true;
        };
        if gateway_tenant == device_tenant {
            return true;
        }
        let none = Tenant::default();
        let device = self.tenants.get(device_tenant).unwrap_or(&none);
        let gateway = self.tenants.get(gateway_tenant).unwrap_or(&none);
        let agreement = device.agreements.iter().any(|t| t == gateway_tenant)
            || gateway.agreements.iter().any(|t| t == device_tenant);
        let same_dedicated_net_id = match (device.net_id, gateway.net_id) {
            (Some(a), Some(b)) => a == b && !is_private(a),
            _ => false,
        };
        let same_segregation_id = matches!(
            (&device.segregation_id, &gateway.segregation_id),
            (Some(a), Some(b)) if a == b
        );
        agreement || same_dedicated_net_id || same_segregation_id
    }
}

/// NetIDs 000000 and 000001: private, shared by many networks, so never a reason to share.
fn is_private(net_id: NetId) -> bool {
    matches!(net_id.to_u32(), 0 | 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenancy() -> Tenancy {
        let net = |n: u32| NetId::from_u32(n);
        Tenancy::new([
            (
                "a".to_owned(),
                Tenant {
                    net_id: net(2),
                    segregation_id: Some("group-1".into()),
                    agreements: vec!["d".into()],
                },
            ),
            (
                "b".to_owned(),
                Tenant {
                    net_id: net(2),
                    ..Tenant::default()
                },
            ),
            (
                "c".to_owned(),
                Tenant {
                    segregation_id: Some("group-1".into()),
                    ..Tenant::default()
                },
            ),
            ("d".to_owned(), Tenant::default()),
            (
                "p1".to_owned(),
                Tenant {
                    net_id: net(1),
                    ..Tenant::default()
                },
            ),
            (
                "p2".to_owned(),
                Tenant {
                    net_id: net(1),
                    ..Tenant::default()
                },
            ),
            ("e".to_owned(), Tenant::default()),
        ])
    }

    #[test]
    fn own_and_operator_gateways_always_serve() {
        let t = tenancy();
        assert!(t.may_serve("e", Some("e")));
        assert!(t.may_serve("e", None));
        assert!(t.may_serve("unknown", None));
        assert!(!t.may_serve("e", Some("a")));
        assert!(!t.may_serve("unknown", Some("e")));
    }

    #[test]
    fn the_three_exceptions_of_the_seed() {
        let t = tenancy();
        // 1. A roaming agreement, named on either side.
        assert!(t.may_serve("a", Some("d")) && t.may_serve("d", Some("a")));
        // 2. The same dedicated NetID…
        assert!(t.may_serve("a", Some("b")) && t.may_serve("b", Some("a")));
        // …but not a private one.
        assert!(!t.may_serve("p1", Some("p2")));
        // 3. The same segregation id.
        assert!(t.may_serve("a", Some("c")) && t.may_serve("c", Some("a")));
        assert!(!t.may_serve("b", Some("c")));
    }
}
