//! Every message type of both versions: encode → decode → equal, in every dialect; opaque
//! tokens and unknown fields survive byte for byte.

mod common;

use backend::header::Header;
use backend::keys::KeyEnvelope;
use backend::message::{ErrorNotif, JoinAns, PRStartReq};
use backend::metadata::{GwInfo, UlMetaData};
use backend::values::{HexBytes, RfRegion, Token};
use backend::{BiResult, Codec, Dialect, Message, MessageType, ProtocolVersion, ResultCode};
use common::{full_example, types_of};
use lorawan::ids::{AesKey, DevAddr, Eui64};
use serde_json::{json, Map};
use time::macros::datetime;

const VERSIONS: [ProtocolVersion; 2] = [ProtocolVersion::V1_0, ProtocolVersion::V1_1];

fn dialects() -> [Dialect; 4] {
    [
        Dialect::canonical(),
        Dialect::chirpstack_v4(),
        Dialect::tts(),
        Dialect::helium(),
    ]
}

fn round_trip(codec: &Codec, message: &Message) {
    for dialect in dialects() {
        let bytes = codec.encode(message, &dialect);
        let back = codec.decode(&bytes).unwrap_or_else(|r| {
            panic!(
                "{:?} in {dialect:?}: {}\n{}",
                message.message_type(),
                r.description,
                String::from_utf8_lossy(&bytes)
            )
        });
        assert_eq!(&back, message, "{dialect:?}");
    }
}

#[test]
fn every_type_and_version_round_trips_in_every_dialect() {
    let codec = Codec::new().expect("schemas");
    let mut count = 0;
    for version in VERSIONS {
        for message_type in types_of(&version) {
            let example = full_example(&version, &message_type);
            let message = codec
                .decode(&serde_json::to_vec(&example).expect("json"))
                .unwrap_or_else(|r| panic!("{version:?} {message_type:?}: {}", r.description));
            assert_eq!(message.message_type(), message_type);
            assert!(
                message.extra().contains_key("SomeVendorField"),
                "{message_type:?} lost an unknown field"
            );
            assert!(message.header().vs_extension.is_some());
            round_trip(&codec, &message);
            count += 1;
        }
    }
    assert_eq!(count, 20 + 24, "1.0 has 20 message types, 1.1 has 24");
}

fn constructed_pr_start_req(version: ProtocolVersion) -> Message {
    let mut header = Header::new(
        version,
        MessageType::PRStartReq,
        "000001",
        "C00053",
        Some(42),
    );
    header.sender_token = Some(Token::from(vec![1, 2, 3]));
    let mut ul = UlMetaData::new(datetime!(2024-05-01 12:34:56.123456789 UTC));
    ul.dev_addr = Some(DevAddr::from_u32(0x4800_0037));
    ul.ul_freq = Some(868.1);
    ul.rf_region = Some(RfRegion::Us915);
    ul.gw_info = Some(vec![GwInfo {
        id: Some(HexBytes(vec![1, 2, 3, 4, 5, 6, 7, 8])),
        rssi: Some(-120),
        snr: Some(-7.25),
        ul_token: Some(Token::from(vec![0xde, 0xad])),
        dl_allowed: Some(true),
        ..GwInfo::default()
    }]);
    let mut extra = Map::new();
    extra.insert("X-Vendor".into(), json!([1, {"a": null}]));
    Message::PRStartReq(PRStartReq {
        header,
        phy_payload: HexBytes(vec![0x40, 1, 2, 3, 4]),
        ul_meta_data: ul,
        extra,
    })
}

fn constructed_join_ans(version: ProtocolVersion) -> Message {
    Message::JoinAns(JoinAns {
        header: Header::new(
            version,
            MessageType::JoinAns,
            "70b3d57ed0000000",
            "000001",
            Some(0),
        ),
        result: BiResult::with_description(ResultCode::UnknownReceiver, "who?"),
        phy_payload: None,
        lifetime: Some(0),
        s_nwk_s_int_key: None,
        f_nwk_s_int_key: None,
        nwk_s_enc_key: None,
        nwk_s_key: Some(KeyEnvelope::clear(&AesKey::new([9; 16]))),
        app_s_key: Some(KeyEnvelope::wrapped("as:1", vec![7; 24])),
        session_key_id: Some(HexBytes(vec![])),
        extra: Map::new(),
    })
}

#[test]
fn constructed_messages_round_trip() {
    let codec = Codec::new().expect("schemas");
    for version in VERSIONS {
        round_trip(&codec, &constructed_pr_start_req(version.clone()));
        round_trip(&codec, &constructed_join_ans(version.clone()));
    }
    let notif = Message::ErrorNotif(ErrorNotif {
        header: Header::new(
            ProtocolVersion::V1_1,
            MessageType::ErrorNotif,
            "000001",
            "000002",
            Some(1),
        ),
        result: BiResult::new(ResultCode::Unknown("BrandNewCode".into())),
        extra: Map::new(),
    });
    round_trip(&codec, &notif);
}

#[test]
fn dialects_change_spelling_not_meaning() {
    let codec = Codec::new().expect("schemas");
    let message = constructed_pr_start_req(ProtocolVersion::V1_0);
    let tts: serde_json::Value =
        serde_json::from_slice(&codec.encode(&message, &Dialect::tts())).expect("json");
    assert_eq!(tts["PHYPayload"], "4001020304");
    assert_eq!(tts["ULMetaData"]["DevAddr"], "48000037");
    assert_eq!(tts["ULMetaData"]["RFRegion"], "US915");
    let helium: serde_json::Value =
        serde_json::from_slice(&codec.encode(&message, &Dialect::helium())).expect("json");
    assert_eq!(helium["ULMetaData"]["GWInfo"][0]["ULToken"], "0xDEAD");
    let canonical: serde_json::Value =
        serde_json::from_slice(&codec.encode(&message, &Dialect::canonical())).expect("json");
    assert_eq!(
        canonical["ULMetaData"]["RFRegion"], "US902",
        "TS002 1.0 name in a 1.0 message"
    );
    assert_eq!(
        canonical["ULMetaData"]["RecvTime"],
        "2024-05-01T12:34:56.123456789Z"
    );
    let join = constructed_join_ans(ProtocolVersion::V1_1);
    let canonical: serde_json::Value =
        serde_json::from_slice(&codec.encode(&join, &Dialect::canonical())).expect("json");
    assert_eq!(canonical["Result"]["ResultCode"], "UnkownReceiver");
    let tts: serde_json::Value =
        serde_json::from_slice(&codec.encode(&join, &Dialect::tts())).expect("json");
    assert_eq!(tts["Result"]["ResultCode"], "UnknownReceiver");
}

#[test]
fn received_tokens_come_back_as_received() {
    let codec = Codec::new().expect("schemas");
    let mut example = full_example(&ProtocolVersion::V1_1, &MessageType::PRStartReq);
    example["SenderToken"] = json!("0xAbCd");
    example["ULMetaData"]["GWInfo"][1]["ULToken"] = json!("0a0B");
    example["ULMetaData"]["FNSULToken"] = json!("7B7d");
    let message = codec
        .decode(&serde_json::to_vec(&example).expect("json"))
        .expect("valid");
    for dialect in dialects() {
        let out: serde_json::Value =
            serde_json::from_slice(&codec.encode(&message, &dialect)).expect("json");
        assert_eq!(out["SenderToken"], "0xAbCd");
        assert_eq!(out["ULMetaData"]["GWInfo"][1]["ULToken"], "0a0B");
        assert_eq!(out["ULMetaData"]["FNSULToken"], "7B7d");
    }
    let Message::PRStartReq(m) = message else {
        panic!("type")
    };
    assert_eq!(
        m.ul_meta_data.dev_eui,
        Some(Eui64::from_u64(0x0102_0304_0506_0708))
    );
}
