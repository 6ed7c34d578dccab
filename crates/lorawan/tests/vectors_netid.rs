//! Known-answer tests: every vector of `vectors/netid_devaddr.json` (NetID types, DevAddr
//! prefixes, set-prefix) and of `vectors/fcnt32.json` (32-bit FCnt reconstruction).

use lorawan::fcnt::full_fcnt;
use lorawan::ids::{DevAddr, NetId};
use serde_json::Value;

mod common;

/// The `vectors` array of `vectors/<name>`.
fn load(name: &str) -> Vec<Value> {
    common::vectors(&common::load(name)).clone()
}

fn hex_u32(v: &Value) -> u32 {
    u32::from_str_radix(v.as_str().expect("hex string"), 16).expect("hex")
}

#[test]
fn netid_devaddr_vectors() {
    let vectors = load("netid_devaddr.json");
    assert_eq!(vectors.len(), 27, "netid_devaddr.json vector count");
    let mut checked_fields = 0;
    for v in &vectors {
        let id = v["id"].as_str().unwrap();
        let inputs = &v["inputs"];
        let exp = &v["expected"];
        match (inputs.get("net_id"), inputs.get("dev_addr")) {
            (Some(net_id), None) => {
                let net_id: NetId = net_id.as_str().unwrap().parse().unwrap();
                assert_eq!(u64::from(net_id.net_type()), exp["netid_type"], "{id}");
                assert_eq!(net_id.id(), hex_u32(&exp["id"]), "{id}");
                checked_fields += 2;
                if let Some(wire) = exp.get("net_id_wire") {
                    assert_eq!(
                        hex::encode(net_id.to_le_bytes()),
                        wire.as_str().unwrap(),
                        "{id}"
                    );
                    let prefix = net_id.dev_addr_prefix();
                    assert_eq!(
                        prefix.addr().to_u32(),
                        hex_u32(&exp["dev_addr_prefix"]),
                        "{id}"
                    );
                    assert_eq!(
                        u64::from(prefix.prefix_len()),
                        exp["dev_addr_prefix_len"],
                        "{id}"
                    );
                    assert_eq!(u64::from(net_id.nwk_id_bits()), exp["nwkid_bits"], "{id}");
                    checked_fields += 4;
                }
                if let Some(bits) = exp.get("id_bits") {
                    assert_eq!(u64::from(net_id.id_bits()), *bits, "{id}");
                    assert_eq!(u64::from(net_id.to_u32()), exp["numeric"], "{id}");
                    checked_fields += 2;
                }
            }
            (None, Some(dev_addr)) => {
                let dev_addr: DevAddr = dev_addr.as_str().unwrap().parse().unwrap();
                assert_eq!(
                    u64::from(dev_addr.net_type().unwrap()),
                    exp["netid_type"],
                    "{id}"
                );
                let net_id: NetId = exp["net_id"].as_str().unwrap().parse().unwrap();
                assert_eq!(dev_addr.net_id(), Some(net_id), "{id}");
                assert!(dev_addr.is_net_id(net_id), "{id}");
                checked_fields += 3;
                if let Some(nwk_addr) = exp.get("nwk_addr") {
                    assert_eq!(dev_addr.nwk_addr(), Some(hex_u32(nwk_addr)), "{id}");
                    assert_eq!(
                        u64::from(dev_addr.nwk_addr_bits().unwrap()),
                        exp["nwk_addr_bits"],
                        "{id}"
                    );
                    // Rebuilding the address from NetID + NwkAddr gives it back.
                    assert_eq!(net_id.dev_addr(hex_u32(nwk_addr)), Ok(dev_addr), "{id}");
                    checked_fields += 3;
                }
                if let Some(nwk_id) = exp.get("nwk_id") {
                    assert_eq!(dev_addr.nwk_id(), Some(hex_u32(nwk_id)), "{id}");
                    checked_fields += 1;
                }
            }
            (Some(net_id), Some(dev_addr)) => {
                let net_id: NetId = net_id.as_str().unwrap().parse().unwrap();
                let dev_addr: DevAddr = dev_addr.as_str().unwrap().parse().unwrap();
                let want: DevAddr = exp["dev_addr_with_prefix"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(dev_addr.with_net_id(net_id), want, "{id}");
                assert!(want.is_net_id(net_id), "{id}");
                checked_fields += 2;
            }
            (None, None) => panic!("{id}: vector without inputs"),
        }
    }
    assert!(checked_fields >= 27 * 2);
}

#[test]
fn fcnt32_vectors() {
    let vectors = load("fcnt32.json");
    assert_eq!(vectors.len(), 9, "fcnt32.json vector count");
    for v in &vectors {
        let id = v["id"].as_str().unwrap();
        let next = u32::try_from(v["inputs"]["next_expected_fcnt_up"].as_u64().unwrap()).unwrap();
        let on_air = u16::try_from(v["inputs"]["fcnt_16_on_air"].as_u64().unwrap()).unwrap();
        let want = v["expected"]["full_fcnt"].as_u64().unwrap();
        assert_eq!(u64::from(full_fcnt(next, on_air)), want, "{id}");
    }
}

/// lrwn 4.13 as a second opinion on the DevAddr prefix of every NetID type.
#[test]
fn netid_prefix_matches_lrwn() {
    for raw in [
        0x00_0000u32,
        0x00_0013,
        0x00_003f,
        0x20_0001,
        0x40_01ff,
        0x60_7ff1,
        0x9f_ff42,
        0xbf_0001,
        0xd0_1234,
        0xff_ffff,
    ] {
        let ours = NetId::from_u32(raw).unwrap();
        let theirs = lrwn::NetID::from_be_bytes(ours.to_be_bytes());
        assert_eq!(ours.net_type(), theirs.netid_type(), "{ours}");
        let mut addr = lrwn::DevAddr::from_be_bytes([0xff; 4]);
        addr.set_dev_addr_prefix(theirs.dev_addr_prefix());
        assert_eq!(
            DevAddr::from_u32(0xffff_ffff)
                .with_net_id(ours)
                .to_be_bytes(),
            addr.to_be_bytes(),
            "{ours}"
        );
        assert!(DevAddr::from_be_bytes(addr.to_be_bytes()).is_net_id(ours));
        assert!(addr.is_net_id(theirs));
    }
}
