//! The join decisions against the public vectors in `shared/vectors` (join_accept.json,
//! session_keys.json): a JoinReq for a device provisioned with a vector's keys and nonces must
//! come back with the vector's join-accept bytes and session keys.

use std::path::PathBuf;

use backend::header::{Header, MessageType, ProtocolVersion};
use backend::message::JoinReq;
use backend::values::HexBytes;
use jsd::join::{decide_join, AppSKeyDelivery, Home, JoinDevice, JoinPolicy, KekTable, NonceState};
use lorawan::crypto::{CipherKey, MicKey};
use lorawan::ids::{parse_hex_vec, AesKey, DevAddr, Eui64, NetId};
use lorawan::join::{build_join_request, JoinNonce, JoinReqType, MacVersion};
use lorawan::phy::{DlSettings, EncryptedJoinAccept};
use serde_json::{Map, Value};

fn shared_dir() -> PathBuf {
    std::env::var_os("SWITCHYARD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

fn vector(file: &str, id: &str) -> Value {
    let path = shared_dir().join("vectors").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    doc["vectors"]
        .as_array()
        .and_then(|all| all.iter().find(|v| v["id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("no vector {id} in {file}"))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

fn parsed<T: std::str::FromStr>(v: &Value, key: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    text(v, key).parse().expect(key)
}

fn number(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a number"))
}

fn hex(v: &Value, key: &str) -> Vec<u8> {
    parse_hex_vec(text(v, key)).expect(key)
}

/// A device whose next JoinNonce is `join_nonce`, claimed by `home`.
fn device(
    version: MacVersion,
    app_key: AesKey,
    nwk_key: Option<AesKey>,
    ids: (Eui64, Eui64),
    home: NetId,
    join_nonce: u64,
) -> JoinDevice {
    let last = u32::try_from(join_nonce - 1).ok().and_then(JoinNonce::new);
    JoinDevice {
        dev_eui: ids.1,
        join_eui: ids.0,
        mac_version: version,
        app_key,
        nwk_key,
        home: Some(Home {
            net_id: home,
            nsid: None,
        }),
        app_s_key_delivery: AppSKeyDelivery::ToNetworkServer,
        nonces: NonceState {
            join_nonce_last: last,
            ..NonceState::default()
        },
    }
}

struct Accept {
    dev_addr: DevAddr,
    dl_settings: DlSettings,
    rx_delay: u8,
    cf_list: Option<Vec<u8>>,
}

fn join_req(device: &JoinDevice, dev_nonce: u16, mac_version: &str, accept: &Accept) -> JoinReq {
    let key = device.join_request_mic_key().expect("MIC key");
    let home = device.home.as_ref().expect("claimed").net_id;
    JoinReq {
        header: Header::new(
            ProtocolVersion::V1_1,
            MessageType::JoinReq,
            home.to_string(),
            device.join_eui.to_string(),
            Some(1),
        ),
        mac_version: mac_version.into(),
        phy_payload: HexBytes(
            build_join_request(
                &MicKey::new(key),
                device.join_eui,
                device.dev_eui,
                dev_nonce,
            )
            .to_vec(),
        ),
        dev_eui: device.dev_eui,
        dev_addr: accept.dev_addr,
        dl_settings: HexBytes(vec![accept.dl_settings.byte()]),
        rx_delay: accept.rx_delay,
        cf_list: accept.cf_list.clone().map(HexBytes),
        extra: Map::new(),
    }
}

#[test]
fn lrwn_join_accept_1_0_is_reproduced_byte_for_byte() {
    let v = vector("join_accept.json", "lrwn-brocaar-join-accept-1.0");
    let (inputs, expected) = (&v["inputs"], &v["expected"]);
    let key: AesKey = parsed(inputs, "key");
    let device = device(
        MacVersion::V1_0_3,
        key,
        None,
        (
            parsed(inputs, "join_eui"),
            Eui64::from_u64(0x0102_0304_0506_0708),
        ),
        parsed(inputs, "home_net_id"),
        number(inputs, "join_nonce"),
    );
    let accept = Accept {
        dev_addr: parsed(inputs, "dev_addr"),
        dl_settings: DlSettings::new(0, 0),
        rx_delay: 0,
        cf_list: None,
    };
    let dev_nonce = number(inputs, "dev_nonce") as u16;
    let request = join_req(&device, dev_nonce, "1.0.3", &accept);
    let decision = decide_join(
        Some(&device),
        &request,
        &KekTable::new(),
        &JoinPolicy::default(),
    )
    .expect("accepted");
    let phy = decision.answer.phy_payload.expect("PHYPayload");
    assert_eq!(phy.as_bytes(), &hex(expected, "phy_encrypted")[..]);
    let clear = EncryptedJoinAccept::parse(phy.as_bytes())
        .expect("a join-accept")
        .decrypt(&CipherKey::new(&key));
    clear.verify_mic_1_0(&MicKey::new(&key)).expect("MIC");
    assert_eq!(clear.msg(), &hex(inputs, "plaintext_mhdr_and_payload")[..]);
    assert_eq!(clear.mic()[..], hex(expected, "mic")[..]);
}

#[test]
fn brocaar_join_accept_1_0_is_reproduced_byte_for_byte() {
    let v = vector("join_accept.json", "brocaar-join-accept-1.0");
    let (inputs, expected) = (&v["inputs"], &v["expected"]);
    let key: AesKey = parsed(inputs, "app_key");
    let device = device(
        MacVersion::V1_0_2,
        key,
        None,
        (Eui64::from_u64(1), Eui64::from_u64(2)),
        parsed(expected, "net_id"),
        number(expected, "join_nonce"),
    );
    let accept = Accept {
        dev_addr: parsed(expected, "dev_addr"),
        dl_settings: DlSettings::from_byte(hex(expected, "dl_settings")[0]),
        rx_delay: number(expected, "rx_delay") as u8,
        cf_list: None,
    };
    let request = join_req(&device, 0xbeef, "1.0.2", &accept);
    let decision = decide_join(
        Some(&device),
        &request,
        &KekTable::new(),
        &JoinPolicy::default(),
    )
    .expect("accepted");
    let phy = decision.answer.phy_payload.expect("PHYPayload");
    assert_eq!(phy.as_bytes(), &hex(inputs, "phy_encrypted")[..]);
}

#[test]
fn tts_key_derivation_1_1_comes_out_of_a_join() {
    let v = vector("session_keys.json", "tts-key-derivation");
    let (inputs, expected) = (&v["inputs"], &v["expected"]);
    let root: AesKey = parsed(inputs, "root_key");
    let ids = (parsed(inputs, "join_eui"), parsed(inputs, "dev_eui"));
    let home: NetId = parsed(inputs, "net_id");
    let join_nonce = number(inputs, "join_nonce");
    let dev_nonce = number(inputs, "dev_nonce") as u16;
    // The CFList of a shared 1.1 vector (EU868, 5 channels, CFListType 0).
    let cf_vector = vector("join_accept.json", "generated-join-accept-1.1-join-cflist");
    let cf_list = hex(&cf_vector["inputs"], "plaintext_phy")[13..29].to_vec();
    let accept = Accept {
        dev_addr: DevAddr::from_u32(0x0403_0201),
        dl_settings: DlSettings::new(2, 5).with_opt_neg(),
        rx_delay: 3,
        cf_list: Some(cf_list.clone()),
    };

    let d = device(MacVersion::V1_1, root, Some(root), ids, home, join_nonce);
    let request = join_req(&d, dev_nonce, "1.1", &accept);
    let decision = decide_join(Some(&d), &request, &KekTable::new(), &JoinPolicy::default())
        .expect("accepted");
    let ans = decision.answer;
    let clear_key = |e: Option<backend::keys::KeyEnvelope>| e.and_then(|e| e.clear_key());
    let key = |name: &str| Some(parsed::<AesKey>(expected, name));
    assert_eq!(clear_key(ans.f_nwk_s_int_key), key("f_nwk_s_int_key"));
    assert_eq!(clear_key(ans.s_nwk_s_int_key), key("s_nwk_s_int_key"));
    assert_eq!(clear_key(ans.nwk_s_enc_key), key("nwk_s_enc_key"));
    assert_eq!(clear_key(ans.app_s_key), key("app_s_key_1.1"));
    let phy = ans.phy_payload.expect("PHYPayload");
    let clear = EncryptedJoinAccept::parse(phy.as_bytes())
        .expect("a join-accept")
        .decrypt(&CipherKey::new(&root));
    let js_int: AesKey = parsed(expected, "js_int_key");
    clear
        .verify_mic_1_1(&MicKey::new(&js_int), JoinReqType::Join, ids.0, dev_nonce)
        .expect("1.1 MIC with the vector's JSIntKey");
    assert_eq!(u64::from(clear.join_nonce().get()), join_nonce);
    assert_eq!(clear.home_net_id(), home);
    assert_eq!(clear.dev_addr(), accept.dev_addr);
    assert_eq!(clear.dl_settings(), accept.dl_settings);
    assert_eq!(clear.rx_delay(), 3);
    assert_eq!(clear.cf_list().map(|c| c.to_vec()), Some(cf_list));

    // The same root as a 1.0.4 AppKey: the 1.0 keys, with the home NetID.
    let d = device(MacVersion::V1_0_4, root, None, ids, home, join_nonce);
    let accept = Accept {
        dl_settings: DlSettings::new(2, 5),
        ..accept
    };
    let request = join_req(&d, dev_nonce, "1.0.4", &accept);
    let decision = decide_join(Some(&d), &request, &KekTable::new(), &JoinPolicy::default())
        .expect("accepted");
    let ans = decision.answer;
    assert_eq!(clear_key(ans.nwk_s_key), key("nwk_s_key_1.0"));
    assert_eq!(clear_key(ans.app_s_key), key("app_s_key_1.0"));
    assert_eq!(
        decision.session.app_s_key,
        parsed(expected, "app_s_key_1.0")
    );
}

#[test]
fn lrwn_keys_1_0_come_out_of_a_join() {
    let v = vector("session_keys.json", "lrwn-keys-1.0");
    let (inputs, expected) = (&v["inputs"], &v["expected"]);
    let root: AesKey = parsed(inputs, "nwk_key_or_app_key");
    let d = device(
        MacVersion::V1_0_4,
        root,
        None,
        (Eui64::from_u64(3), Eui64::from_u64(4)),
        parsed(inputs, "net_id"),
        number(inputs, "join_nonce"),
    );
    let accept = Accept {
        dev_addr: DevAddr::from_u32(0x0102_0304),
        dl_settings: DlSettings::new(0, 0),
        rx_delay: 1,
        cf_list: None,
    };
    let request = join_req(&d, number(inputs, "dev_nonce") as u16, "1.0.4", &accept);
    let decision = decide_join(Some(&d), &request, &KekTable::new(), &JoinPolicy::default())
        .expect("accepted");
    let clear = |e: Option<backend::keys::KeyEnvelope>| e.and_then(|e| e.clear_key());
    assert_eq!(
        clear(decision.answer.nwk_s_key),
        Some(parsed(expected, "nwk_s_key"))
    );
    assert_eq!(
        clear(decision.answer.app_s_key),
        Some(parsed(expected, "app_s_key"))
    );
}

/// Every answer the join logic produces, Success or refusal, in TS002 1.0 and 1.1, passes the
/// embedded JSON Schemas and reads back as the same message.
#[test]
fn answers_pass_the_schemas_and_round_trip() {
    use backend::{Codec, Dialect, Message};
    use jsd::join::{decide_home_ns, NamedKek};

    let codec = Codec::new().expect("schemas compile");
    let check = |message: Message| {
        for dialect in [
            Dialect::canonical(),
            Dialect::chirpstack_v4(),
            Dialect::tts(),
        ] {
            let body = codec.encode(&message, &dialect);
            let back = codec
                .decode(&body)
                .unwrap_or_else(|r| panic!("{:?} rejected: {r:?}", message.message_type()));
            assert_eq!(back.message_type(), message.message_type());
            if dialect == Dialect::canonical() {
                // Other dialects may spell MalformedMessage as MalformedRequest.
                assert_eq!(back.result(), message.result());
            }
        }
    };
    let root = AesKey::new([0x21; 16]);
    let home = NetId::from_u32(0x13).expect("24 bits");
    let kek = NamedKek::new("ns-13", AesKey::new([0x42; 16])).expect("a label");
    let keks = KekTable::new().with_network_server(home, kek);
    let accept = Accept {
        dev_addr: DevAddr::from_u32(0x2601_0001),
        dl_settings: DlSettings::new(0, 0).with_opt_neg(),
        rx_delay: 1,
        cf_list: Some(vec![0; 16]),
    };
    let ids = (Eui64::from_u64(10), Eui64::from_u64(11));
    for version in [ProtocolVersion::V1_0, ProtocolVersion::V1_1] {
        let d = device(MacVersion::V1_1, root, Some(root), ids, home, 1);
        let mut request = join_req(&d, 1, "1.1", &accept);
        request.header.protocol_version = version.clone();
        let policy = JoinPolicy {
            session_lifetime: Some(86_400),
            ..JoinPolicy::default()
        };
        let decision = decide_join(Some(&d), &request, &keks, &policy).expect("accepted");
        check(decision.answer.into());
        let refusal = decide_join(None, &request, &keks, &policy).expect_err("unknown");
        check(refusal.join_ans(&request.header).into());
        let mut garbled = request.clone();
        garbled.dl_settings = HexBytes(Vec::new());
        let refusal = decide_join(Some(&d), &garbled, &keks, &policy).expect_err("malformed");
        check(refusal.join_ans(&garbled.header).into());

        let mut header = request.header.clone();
        header.message_type = MessageType::HomeNSReq;
        let home_ns = backend::message::HomeNSReq {
            header,
            dev_eui: d.dev_eui,
            extra: Map::new(),
        };
        check(decide_home_ns(Some(&d), &home_ns).expect("answered").into());
        let refusal = decide_home_ns(None, &home_ns).expect_err("unknown");
        check(refusal.home_ns_ans(&home_ns.header).into());
        check(refusal.rejoin_ans(&request.header).into());
        check(refusal.app_s_key_ans(&request.header).into());
    }
}
