//! The schema files: every file compiles and is embedded; per message type and version a valid
//! example passes and invalid ones fail with a Description that names the field.

mod common;

use backend::schema::FILES;
use backend::{Codec, Dialect, MessageType, ProtocolVersion, ResultCode};
use common::{first_required_field, full_example, types_of};
use serde_json::{json, Value};

fn decode_err(codec: &Codec, value: &Value) -> backend::Rejection {
    match codec.decode(&serde_json::to_vec(value).expect("json")) {
        Ok(message) => panic!("accepted: {message:?}"),
        Err(rejection) => rejection,
    }
}

#[test]
fn every_schema_file_is_embedded_and_compiles() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/bi");
    let mut on_disk = 0;
    for version in ["1.0", "1.1"] {
        for entry in std::fs::read_dir(format!("{dir}/{version}")).expect("schemas dir") {
            let path = entry.expect("entry").path();
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("name")
                .to_owned();
            assert!(
                FILES.iter().any(|(v, n, _)| *v == version && *n == stem),
                "{version}/{stem}.json not embedded"
            );
            let schema: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
            assert_eq!(
                schema["$schema"],
                "https://json-schema.org/draft/2020-12/schema"
            );
            on_disk += 1;
        }
    }
    assert_eq!(on_disk, FILES.len());
    assert_eq!(
        FILES.len(),
        21 + 25,
        "1.0: common + 20 types, 1.1: common + 24 types"
    );
    let codec = Codec::new().expect("every schema compiles");
    for version in [ProtocolVersion::V1_0, ProtocolVersion::V1_1] {
        for t in types_of(&version) {
            assert!(
                codec.schemas().validator(&version, &t).is_some(),
                "{version:?} {t:?}"
            );
        }
    }
}

#[test]
fn valid_and_invalid_examples_per_type_and_version() {
    let codec = Codec::new().expect("schemas");
    let mut checked = 0;
    for version in [ProtocolVersion::V1_0, ProtocolVersion::V1_1] {
        let malformed = ResultCode::malformed(Some(&version));
        for t in types_of(&version) {
            let valid = full_example(&version, &t);
            codec
                .decode(&serde_json::to_vec(&valid).expect("json"))
                .unwrap_or_else(|r| panic!("{t:?}: {}", r.description));

            // A header field of the wrong type.
            let mut bad = valid.clone();
            bad["TransactionID"] = json!("7");
            let r = decode_err(&codec, &bad);
            assert_eq!(r.result_code, malformed);
            assert!(
                r.description.starts_with("TransactionID: expected integer"),
                "{t:?}: {}",
                r.description
            );

            // A mandatory body field missing.
            let field = first_required_field(&t);
            if !field.is_empty() {
                let mut bad = valid.clone();
                bad.as_object_mut().expect("object").remove(field);
                let r = decode_err(&codec, &bad);
                assert_eq!(
                    r.description,
                    format!("{field}: required field missing"),
                    "{t:?}"
                );
                let answer = r.answer_json(&Dialect::canonical());
                assert_eq!(
                    answer["Result"]["ResultCode"],
                    malformed.as_str_for(&Dialect::canonical(), &version)
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 44);
}

#[test]
fn nested_errors_name_the_nested_field() {
    let codec = Codec::new().expect("schemas");
    let version = ProtocolVersion::V1_1;
    let mut bad = full_example(&version, &MessageType::PRStartReq);
    bad["ULMetaData"]["GWInfo"][1]["RSSI"] = json!("loud");
    assert_eq!(
        decode_err(&codec, &bad).description,
        "ULMetaData.GWInfo[1].RSSI: expected integer, got string"
    );
    let mut bad = full_example(&version, &MessageType::PRStartReq);
    bad["ULMetaData"]["RecvTime"] = json!("yesterday");
    assert!(decode_err(&codec, &bad)
        .description
        .starts_with("ULMetaData.RecvTime: expected an ISO 8601 date-time"));
    let mut bad = full_example(&version, &MessageType::PRStartReq);
    bad["ULMetaData"]["RecvTime"] = json!("2024-02-30T00:00:00Z");
    assert!(
        decode_err(&codec, &bad)
            .description
            .starts_with("ULMetaData.RecvTime: expected ISO 8601"),
        "typed check after the schema"
    );
    let mut bad = full_example(&version, &MessageType::JoinAns);
    bad["AppSKey"]["AESKey"] = json!("00");
    assert!(decode_err(&codec, &bad)
        .description
        .starts_with("AppSKey.AESKey: expected an RFC 3394 wrapped key"));
    let mut bad = full_example(&version, &MessageType::XmitDataReq);
    bad.as_object_mut().expect("object").remove("PHYPayload");
    bad.as_object_mut().expect("object").remove("FRMPayload");
    assert_eq!(
        decode_err(&codec, &bad).description,
        "PHYPayload: XmitDataReq needs PHYPayload or FRMPayload"
    );
}

#[test]
fn version_rules() {
    let codec = Codec::new().expect("schemas");
    let mut notif = full_example(&ProtocolVersion::V1_1, &MessageType::ErrorNotif);
    notif["ProtocolVersion"] = json!("1.0");
    let r = decode_err(&codec, &notif);
    assert_eq!(
        r.description,
        "MessageType: ErrorNotif does not exist in Backend Interfaces 1.0"
    );
    assert_eq!(r.result_code, ResultCode::MalformedRequest);
    let mut future = full_example(&ProtocolVersion::V1_1, &MessageType::JoinReq);
    future["ProtocolVersion"] = json!("1.2");
    let r = decode_err(&codec, &future);
    assert_eq!(r.result_code, ResultCode::InvalidProtocolVersion);
    let answer = r.answer_json(&Dialect::canonical());
    assert_eq!(answer["ProtocolVersion"], "1.1");
    assert_eq!(answer["MessageType"], "JoinAns");
    assert_eq!(answer["TransactionID"], 4_000_000_000u32);
}

#[test]
fn rejected_answers_get_error_notif_in_1_1_only() {
    let codec = Codec::new().expect("schemas");
    let mut bad = full_example(&ProtocolVersion::V1_1, &MessageType::HomeNSAns);
    bad["HNetID"] = json!("zz");
    let answer = decode_err(&codec, &bad).answer().expect("ErrorNotif");
    assert_eq!(answer.message_type(), MessageType::ErrorNotif);
    assert_eq!(answer.header().receiver_id, "70b3d57ed0000000");
    let mut bad = full_example(&ProtocolVersion::V1_0, &MessageType::HomeNSAns);
    bad["HNetID"] = json!("zz");
    let r = decode_err(&codec, &bad);
    assert!(r.answer().is_none());
    assert_eq!(
        r.answer_json(&Dialect::canonical())["Result"]["ResultCode"],
        "MalformedRequest"
    );
}
