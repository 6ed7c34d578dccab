use backend::header::{Header, MessageType, ProtocolVersion};
use backend::keys::KeyEnvelope;
use backend::message::JoinAns;
use backend::result::{BiResult, ResultCode};
use backend::values::HexBytes;
use lorawan::ids::{AesKey, DevAddr, Eui64, NetId};
use lorawan::join::MacVersion;
use lorawan::netid::DevAddrPool;
use lorawan::region::Region;
use serde_json::Map;

use super::*;
use crate::device::{DeviceProfile, NetworkKeys};

fn answer(result: &str) -> JoinAns {
    JoinAns {
        header: Header::new(
            ProtocolVersion::parse("1.1"),
            MessageType::parse("JoinAns"),
            "70b3d57ed0000001",
            "000013",
            Some(7),
        ),
        result: BiResult {
            result_code: ResultCode::parse(result),
            description: Some("why".into()),
            extra: Map::new(),
        },
        phy_payload: Some(HexBytes(vec![0x20; 17])),
        lifetime: None,
        s_nwk_s_int_key: None,
        f_nwk_s_int_key: None,
        nwk_s_enc_key: None,
        nwk_s_key: None,
        app_s_key: None,
        session_key_id: None,
        extra: Map::new(),
    }
}

const ADDR: DevAddr = DevAddr::from_be_bytes([0x26, 0, 0, 1]);

#[test]
fn the_request_carries_the_profile_rx_settings_and_opt_neg_for_1_1() {
    let mut profile = DeviceProfile::defaults("p", Region::Eu868, MacVersion::V1_1);
    profile.rx1_dr_offset = 2;
    profile.rx2_data_rate = 3;
    profile.rx1_delay_s = 5;
    let net_id = NetId::from_u32(0x13).unwrap();
    let req = join_req(
        &[0u8; 23],
        Eui64::from_u64(1),
        ADDR,
        &profile,
        net_id,
        None,
        "70b3d57ed0000001",
        9,
    );
    assert_eq!(req.dl_settings.0, vec![0x80 | 0x20 | 0x03]);
    assert_eq!(req.rx_delay, 5);
    assert_eq!(req.mac_version, "1.1.0");
    assert_eq!(req.header.sender_id, "000013");
    assert_eq!(req.header.transaction_id, Some(9));
    profile.mac_version = MacVersion::V1_0_4;
    let req = join_req(
        &[0; 23],
        Eui64::from_u64(1),
        ADDR,
        &profile,
        net_id,
        None,
        "x",
        1,
    );
    assert_eq!(req.dl_settings.0, vec![0x23]);
}

#[test]
fn a_refusal_keeps_the_join_servers_code_and_words() {
    let profile = DeviceProfile::defaults("p", Region::Eu868, MacVersion::V1_0_4);
    let failure = session_from(&answer("MICFailed"), ADDR, &profile, |_| None).unwrap_err();
    assert_eq!(
        failure,
        JoinFailure::Refused {
            code: "MICFailed".into(),
            description: "why".into()
        }
    );
}

#[test]
fn wrapped_keys_open_with_the_configured_kek_only() {
    let profile = DeviceProfile::defaults("p", Region::Eu868, MacVersion::V1_0_4);
    let kek = AesKey::new([9; 16]);
    let nwk = AesKey::new([1; 16]);
    let mut ans = answer("Success");
    ans.nwk_s_key = Some(KeyEnvelope::wrap("ns-13", &kek, &nwk));
    ans.app_s_key = Some(KeyEnvelope::clear(&AesKey::new([2; 16])));
    let joined = session_from(&ans, ADDR, &profile, |label| {
        (label == "ns-13").then_some(kek)
    })
    .expect("joined");
    assert_eq!(
        joined.session.keys.network,
        NetworkKeys::V1_0 { nwk_s_key: nwk }
    );
    assert_eq!(joined.session.keys.app_s_key, Some(AesKey::new([2; 16])));
    assert_eq!(joined.session.f_cnt_up_next, 0);
    assert_eq!(joined.join_accept, vec![0x20; 17]);
    let unknown = session_from(&ans, ADDR, &profile, |_| None).unwrap_err();
    assert!(
        matches!(unknown, JoinFailure::BadAnswer(ref m) if m.contains("ns-13")),
        "{unknown}"
    );
}

#[test]
fn a_1_1_device_gets_split_keys_or_falls_back_to_1_0_rules() {
    let profile = DeviceProfile::defaults("p", Region::Eu868, MacVersion::V1_1);
    let mut ans = answer("Success");
    ans.f_nwk_s_int_key = Some(KeyEnvelope::clear(&AesKey::new([1; 16])));
    ans.s_nwk_s_int_key = Some(KeyEnvelope::clear(&AesKey::new([2; 16])));
    ans.nwk_s_enc_key = Some(KeyEnvelope::clear(&AesKey::new([3; 16])));
    let joined = session_from(&ans, ADDR, &profile, |_| None).unwrap();
    assert!(joined.session.is_1_1());
    assert_eq!(joined.session.mac_version, MacVersion::V1_1);
    let mut old = answer("Success");
    old.nwk_s_key = Some(KeyEnvelope::clear(&AesKey::new([1; 16])));
    let joined = session_from(&old, ADDR, &profile, |_| None).unwrap();
    assert_eq!(joined.session.mac_version, MacVersion::V1_0_4);
    let none = answer("Success");
    assert!(matches!(
        session_from(&none, ADDR, &profile, |_| None),
        Err(JoinFailure::BadAnswer(_))
    ));
}

#[test]
fn addresses_come_from_the_pool_and_skip_those_in_use() {
    let net_id = NetId::from_u32(0x13).unwrap();
    let pool = DevAddrPool::whole(net_id);
    let addr = allocate_dev_addr(pool, |_| false).unwrap();
    assert!(pool.contains(addr));
    assert_eq!(allocate_dev_addr(pool, |_| true), None);
}
