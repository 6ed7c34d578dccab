//! The hub's peer configuration (`GET /control/peers`) as the roaming roles use it: which
//! networks we have an agreement with (so a foreign DevAddr can be forwarded), the RF
//! parameters of their gateways, and the join servers we may ask where a device's home is.

use backend::header::ProtocolVersion;
use lorawan::ids::{DevAddr, Eui64, NetId};
use lorawan::netid::DevAddrPool;
use lorawan::region::Region;
use serde::Deserialize;

use crate::config::JoinEuiRange;

/// A roaming partner.
#[derive(Debug, Clone, PartialEq)]
pub struct Partner {
    /// Its member id at the hub.
    pub member: String,
    /// Its NetID.
    pub net_id: NetId,
    /// Its NSID, when its NetID has several network servers.
    pub nsid: Option<String>,
    /// The TS002 version it speaks.
    pub protocol: ProtocolVersion,
    /// Its DevAddr pools, when it shares its NetID.
    pub pools: Vec<DevAddrPool>,
    /// The agreement lets uplinks pass.
    pub uplink: bool,
    /// The agreement lets downlinks pass.
    pub downlink: bool,
    /// Its gateways' RF parameters, first set first.
    pub rf: Vec<RfParams>,
}

/// What we use of a partner's RF parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RfParams {
    /// The region.
    pub region: Region,
    /// RX2 frequency (Hz) and data rate.
    pub rx2: (u32, u8),
    /// RX1DROffset in use.
    pub rx1_dr_offset: Option<u8>,
}

/// The peer configuration in force.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Peers {
    /// Its version (the hub's ETag).
    pub version: String,
    /// The partners, in the hub's order.
    pub partners: Vec<Partner>,
    /// The JoinEUIs of the join servers we may use.
    pub join_euis: Vec<JoinEuiRange>,
}

impl Peers {
    /// The partner whose device `dev_addr` is: its NetID, and its pool when it shares the
    /// NetID with other partners.
    pub fn home_of(&self, dev_addr: DevAddr) -> Option<&Partner> {
        let mut of_net_id = self
            .partners
            .iter()
            .filter(|p| dev_addr.is_net_id(p.net_id));
        let first = of_net_id.next()?;
        let mut all = std::iter::once(first).chain(of_net_id);
        if first.pools.is_empty() {
            return Some(first);
        }
        all.find(|p| p.pools.iter().any(|pool| pool.contains(dev_addr)))
    }

    /// The partner on `net_id` (and `nsid`, when given and the partner has one).
    pub fn partner(&self, net_id: NetId, nsid: Option<&str>) -> Option<&Partner> {
        self.partners.iter().find(|p| {
            p.net_id == net_id
                && match (nsid, p.nsid.as_deref()) {
                    (Some(asked), Some(theirs)) => asked.eq_ignore_ascii_case(theirs),
                    _ => true,
                }
        })
    }

    /// Whether a join server we may use serves `join_eui`.
    pub fn serves_join_eui(&self, join_eui: Eui64) -> bool {
        self.join_euis.iter().any(|r| r.contains(join_eui))
    }

    /// Reads the hub's JSON; unusable partners (unknown NetID or version text) are left out
    /// and named in the second value, so one bad entry never stops roaming with the others.
    pub fn from_json(body: &[u8]) -> Result<(Self, Vec<String>), serde_json::Error> {
        let wire: WirePeers = serde_json::from_slice(body)?;
        let mut problems = Vec::new();
        let mut partners = Vec::new();
        for p in wire.partners {
            let Ok(net_id) = p.net_id.parse::<NetId>() else {
                problems.push(format!("partner {}: NetID {:?}", p.member, p.net_id));
                continue;
            };
            let protocol = match p.protocol.as_str() {
                "1.0" => ProtocolVersion::V1_0,
                "1.1" => ProtocolVersion::V1_1,
                other => {
                    problems.push(format!("partner {}: protocol {other:?}", p.member));
                    continue;
                }
            };
            let pools = p
                .dev_addr_pools
                .iter()
                .filter_map(|text| match DevAddrPool::parse(net_id, text) {
                    Ok(pool) => Some(pool),
                    Err(e) => {
                        problems.push(format!("partner {}: pool {text:?}: {e}", p.member));
                        None
                    }
                })
                .collect();
            let rf = p
                .rf_param_sets
                .iter()
                .filter_map(|set| {
                    Some(RfParams {
                        region: Region::from_name(&set.region).ok()?,
                        rx2: (set.rx2.frequency_hz, set.rx2.dr),
                        rx1_dr_offset: set.rx1_dr_offset,
                    })
                })
                .collect();
            partners.push(Partner {
                member: p.member,
                net_id,
                nsid: p.nsid,
                protocol,
                pools,
                uplink: p.agreement.uplink,
                downlink: p.agreement.downlink,
                rf,
            });
        }
        let mut join_euis = Vec::new();
        for js in wire.join_servers {
            for range in js.join_eui_ranges {
                let parsed = range.split_once('-').and_then(|(first, last)| {
                    Some(JoinEuiRange {
                        first: first.trim().parse().ok()?,
                        last: last.trim().parse().ok()?,
                    })
                });
                match parsed {
                    Some(range) => join_euis.push(range),
                    None => problems.push(format!("join server {}: range {range:?}", js.member)),
                }
            }
        }
        Ok((
            Self {
                version: wire.version,
                partners,
                join_euis,
            },
            problems,
        ))
    }
}

#[derive(Deserialize)]
struct WirePeers {
    version: String,
    #[serde(default)]
    partners: Vec<WirePartner>,
    #[serde(default)]
    join_servers: Vec<WireJoinServer>,
}

#[derive(Deserialize)]
struct WirePartner {
    member: String,
    net_id: String,
    nsid: Option<String>,
    protocol: String,
    #[serde(default)]
    dev_addr_pools: Vec<String>,
    agreement: WireAgreement,
    #[serde(default)]
    rf_param_sets: Vec<WireRfSet>,
}

#[derive(Deserialize)]
struct WireAgreement {
    uplink: bool,
    downlink: bool,
}

#[derive(Deserialize)]
struct WireRfSet {
    region: String,
    rx2: WireRx2,
    rx1_dr_offset: Option<u8>,
}

#[derive(Deserialize)]
struct WireRx2 {
    frequency_hz: u32,
    dr: u8,
}

#[derive(Deserialize)]
struct WireJoinServer {
    member: String,
    join_eui_ranges: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const HUB_ANSWER: &str = r#"{
      "member": "operator-b-ns", "version": "9f2c",
      "partners": [
        {"member": "operator-a-ns", "net_id": "000002", "nsid": "70b3d57ed0000002",
         "protocol": "1.1", "dev_addr_pools": [],
         "agreement": {"id": "a-b", "kinds": ["passive"], "directions": {}, "message_types": [],
                       "uplink": true, "downlink": true, "valid_from": null, "valid_until": null},
         "rf_param_sets_source": "declared",
         "rf_param_sets": [{"region": "EU868", "channels": [], "rx2": {"frequency_hz": 869525000, "dr": 0}}]},
        {"member": "shared-1", "net_id": "000013", "nsid": null, "protocol": "1.0",
         "dev_addr_pools": ["26000000/8"],
         "agreement": {"uplink": true, "downlink": false}, "rf_param_sets": []},
        {"member": "shared-2", "net_id": "000013", "nsid": null, "protocol": "1.0",
         "dev_addr_pools": ["27000000/8"],
         "agreement": {"uplink": true, "downlink": true}, "rf_param_sets": []},
        {"member": "broken", "net_id": "nope", "protocol": "1.0",
         "agreement": {"uplink": true, "downlink": true}}
      ],
      "join_servers": [{"member": "jsd", "join_eui_ranges": ["70b3d57ed0000000-70b3d57ed0ffffff"], "rule": null}]
    }"#;

    #[test]
    fn the_hubs_peer_configuration_reads_into_partners_and_join_euis() {
        let (peers, problems) = Peers::from_json(HUB_ANSWER.as_bytes()).unwrap();
        assert_eq!(peers.version, "9f2c");
        assert_eq!(peers.partners.len(), 3);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("broken"));
        let a = &peers.partners[0];
        assert_eq!(a.protocol, ProtocolVersion::V1_1);
        assert_eq!(a.rf[0].region, Region::Eu868);
        assert_eq!(a.rf[0].rx2, (869_525_000, 0));
        assert!(peers.serves_join_eui("70b3d57ed0000001".parse().unwrap()));
        assert!(!peers.serves_join_eui("70b3d57ed1000001".parse().unwrap()));
    }

    #[test]
    fn a_dev_addr_finds_its_home_by_net_id_then_by_pool() {
        let (peers, _) = Peers::from_json(HUB_ANSWER.as_bytes()).unwrap();
        let a_addr = "000002".parse::<NetId>().unwrap().dev_addr(0x1234).unwrap();
        assert_eq!(peers.home_of(a_addr).unwrap().member, "operator-a-ns");
        let shared: DevAddr = "27000001".parse().unwrap();
        assert_eq!(peers.home_of(shared).unwrap().member, "shared-2");
        let nobody: DevAddr = "28000001".parse().unwrap();
        assert_eq!(peers.home_of(nobody), None, "NetID 000013 but in no pool");
        let unknown = "000099".parse::<NetId>().unwrap().dev_addr(1).unwrap();
        assert_eq!(peers.home_of(unknown), None);
    }
}
