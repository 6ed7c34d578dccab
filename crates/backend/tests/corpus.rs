//! The shared corpus of real messages (shared/conformance/bi): accept/ parses, validates and
//! re-encodes to the same meaning in every dialect; reject/ gets a well-formed error answer
//! with the right code; edge/ follows the decisions in schemas/README.md; parts/ parses.
//! File counts are asserted, so a file that silently stops being read fails the test.

mod common;

use backend::header::Header;
use backend::keys::KeyEnvelope;
use backend::values::RfRegion;
use backend::{Codec, Dialect, Message, MessageType, ProtocolVersion, ResultCode};
use common::corpus;
use serde_json::{Map, Value};

fn codec() -> Codec {
    Codec::new().expect("schemas compile")
}

fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("json")
}

/// The meaning of a message, with the ways dialects may differ taken out: `null` = absent, hex
/// case and `0x`, RFRegion spelling, RecvTime offset/precision, UnkownReceiver, 5 = 5.0.
fn meaning(value: &Value, key: &str) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), meaning(v, k)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| meaning(v, key)).collect()),
        Value::Number(n) => n.as_f64().map_or(Value::Null, Value::from),
        Value::String(s) => Value::String(match key {
            "RFRegion" => RfRegion::parse(s).rp002_name(),
            "RecvTime" | "DeviceProfileTimestamp" => {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .map(|t| t.unix_timestamp_nanos().to_string())
                    .unwrap_or_else(|_| s.clone())
            }
            "ResultCode" => ResultCode::parse(s).as_str().to_owned(),
            _ => {
                let digits = s
                    .strip_prefix("0x")
                    .or_else(|| s.strip_prefix("0X"))
                    .unwrap_or(s);
                if digits.len() % 2 == 0 && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                    digits.to_ascii_lowercase()
                } else {
                    s.clone()
                }
            }
        }),
        other => other.clone(),
    }
}

#[test]
fn accept_parses_validates_and_re_encodes_to_the_same_meaning() {
    let codec = codec();
    let files = corpus("accept");
    assert_eq!(files.len(), 33, "accept/ file count changed");
    for (name, original) in files {
        let message = codec
            .decode(&bytes(&original))
            .unwrap_or_else(|r| panic!("{name}: rejected: {}", r.description));
        for dialect in [
            Dialect::canonical(),
            Dialect::chirpstack_v4(),
            Dialect::tts(),
            Dialect::helium(),
        ] {
            let encoded = codec.encode(&message, &dialect);
            let reencoded: Value = serde_json::from_slice(&encoded).expect("json");
            assert_eq!(
                meaning(&reencoded, ""),
                meaning(&original, ""),
                "{name} in {dialect:?}"
            );
            let again = codec
                .decode(&encoded)
                .unwrap_or_else(|r| panic!("{name}: own output rejected: {}", r.description));
            assert_eq!(again, message, "{name}");
        }
        let header = message.header();
        if header.message_type.is_request() {
            let answer = Message::error_answer(header, ResultCode::Other, "test").expect("answer");
            let answer_bytes = codec.encode(&answer, &Dialect::canonical());
            codec
                .decode(&answer_bytes)
                .unwrap_or_else(|r| panic!("{name}: our answer is not valid: {}", r.description));
        }
    }
}

struct RejectCase {
    file: &'static str,
    code: &'static str,
    header_read: bool,
    field: &'static str,
}

#[test]
fn reject_gets_a_well_formed_error_answer() {
    let cases = [
        RejectCase {
            file: "helium-XmitDataReq-invalid-1.json",
            code: "MalformedMessage",
            header_read: true,
            // Two fields are bad; fields are checked in key order, so DLMetaData comes first.
            field: "DLMetaData.GWInfo[0].ULToken",
        },
        RejectCase {
            file: "tts-JoinReq-invalid-1.json",
            code: "InvalidProtocolVersion",
            header_read: false,
            field: "ProtocolVersion",
        },
        RejectCase {
            file: "tts-JoinReq-invalid-2.json",
            code: "MalformedRequest",
            header_read: false,
            field: "ReceiverID",
        },
        RejectCase {
            file: "tts-invalid-MessageType-1.json",
            code: "MalformedMessage",
            header_read: false,
            field: "MessageType",
        },
    ];
    let codec = codec();
    let files = corpus("reject");
    assert_eq!(files.len(), cases.len(), "reject/ file count changed");
    for (name, original) in files {
        let case = cases
            .iter()
            .find(|c| c.file == name)
            .unwrap_or_else(|| panic!("{name}: no expectation"));
        let rejection = match codec.decode(&bytes(&original)) {
            Ok(_) => panic!("{name}: accepted"),
            Err(rejection) => rejection,
        };
        assert_eq!(rejection.header.is_some(), case.header_read, "{name}");
        assert!(
            rejection.description.starts_with(case.field),
            "{name}: {}",
            rejection.description
        );
        for dialect in [Dialect::canonical(), Dialect::tts()] {
            let answer = rejection.answer_json(&dialect);
            assert_eq!(answer["Result"]["ResultCode"], case.code, "{name}");
            assert_eq!(
                answer["Result"]["Description"],
                rejection.description.as_str()
            );
            // The answer is a real answer to the request (swapped IDs, echoed TID and token).
            let request_type = original["MessageType"].as_str().unwrap_or_default();
            if let Some(base) = request_type.strip_suffix("Req") {
                assert_eq!(answer["MessageType"], format!("{base}Ans"), "{name}");
            }
            for (ours, theirs) in [
                ("SenderID", "ReceiverID"),
                ("ReceiverID", "SenderID"),
                ("ReceiverToken", "SenderToken"),
            ] {
                assert_eq!(answer.get(ours), original.get(theirs), "{name}: {ours}");
            }
            assert_eq!(
                answer.get("TransactionID"),
                original.get("TransactionID"),
                "{name}"
            );
        }
        if let Some(answer) = rejection.answer() {
            codec
                .decode(&codec.encode(&answer, &Dialect::canonical()))
                .unwrap_or_else(|r| panic!("{name}: our answer is not valid: {}", r.description));
        }
    }
}

enum Edge {
    /// Accepted as is.
    Accept,
    /// Rejected with this code; the Description starts with this field.
    Reject(&'static str, &'static str),
    /// No header: `decode` rejects it, `decode_answer` to a request of this type accepts it.
    Headerless(MessageType, &'static str),
}

#[test]
fn edge_cases_follow_the_documented_decisions() {
    use Edge::*;
    let cases = [
        (
            "tts-AppSKeyAns-1.json",
            Headerless(MessageType::AppSKeyReq, "UnknownDevEUI"),
        ),
        (
            "tts-AppSKeyAns-4.json",
            Reject("MalformedRequest", "AppSKey.AESKey"),
        ),
        ("tts-AppSKeyReq-3.json", Accept),
        ("tts-HomeNSAns-1.json", Accept),
        ("tts-HomeNSReq-1.json", Accept),
        (
            "tts-JoinAns-1.json",
            Headerless(MessageType::JoinReq, "MICFailed"),
        ),
        (
            "tts-JoinAns-5.json",
            Reject("MalformedRequest", "AppSKey.AESKey"),
        ),
        ("tts-JoinReq-3.json", Reject("MalformedRequest", "CFList")),
        ("tts-pr4726-HomeNSAns-1.json", Accept),
        ("tts-pr4726-HomeNSReq-1.json", Accept),
    ];
    let codec = codec();
    let files = corpus("edge");
    assert_eq!(files.len(), cases.len(), "edge/ file count changed");
    for (name, original) in files {
        let (_, expected) = cases
            .iter()
            .find(|(file, _)| *file == name)
            .unwrap_or_else(|| panic!("{name}: no decision"));
        let decoded = codec.decode(&bytes(&original));
        match expected {
            Accept => {
                let message = decoded.unwrap_or_else(|r| panic!("{name}: {}", r.description));
                let reencoded: Value =
                    serde_json::from_slice(&codec.encode(&message, &Dialect::canonical()))
                        .expect("json");
                assert_eq!(meaning(&reencoded, ""), meaning(&original, ""), "{name}");
                if message.header().message_type.is_request() {
                    // No TransactionID in the request: none is invented for the answer.
                    let answer = Message::error_answer(message.header(), ResultCode::Other, "x")
                        .expect("answer");
                    assert_eq!(
                        answer.header().transaction_id,
                        message.header().transaction_id
                    );
                }
            }
            Reject(code, field) => {
                let rejection = decoded.err().unwrap_or_else(|| panic!("{name}: accepted"));
                assert_eq!(
                    rejection.answer_json(&Dialect::canonical())["Result"]["ResultCode"],
                    *code,
                    "{name}"
                );
                assert!(
                    rejection.description.starts_with(field),
                    "{name}: {}",
                    rejection.description
                );
            }
            Headerless(request_type, code) => {
                let rejection = decoded
                    .err()
                    .unwrap_or_else(|| panic!("{name}: accepted without a header"));
                assert!(
                    rejection.description.starts_with("ProtocolVersion"),
                    "{name}: {}",
                    rejection.description
                );
                let request = Header::new(
                    ProtocolVersion::V1_0,
                    request_type.clone(),
                    "000001",
                    "70b3d57ed0000000",
                    Some(3),
                );
                let answer = codec
                    .decode_answer(&request, &bytes(&original))
                    .unwrap_or_else(|r| panic!("{name}: {}", r.description));
                assert_eq!(Some(answer.message_type()), request_type.answer_type());
                assert_eq!(answer.result().map(|r| r.result_code.as_str()), Some(*code));
                assert_eq!(answer.header().transaction_id, Some(3));
                assert_eq!(answer.header().sender_id, "70b3d57ed0000000");
            }
        }
    }
}

#[test]
fn edge_nsids_are_kept_as_strings() {
    let codec = codec();
    let edge = corpus("edge");
    let file = |name: &str| {
        edge.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| bytes(v))
            .expect("file")
    };
    let Message::HomeNSAns(answer) = codec
        .decode(&file("tts-pr4726-HomeNSAns-1.json"))
        .expect("accepted")
    else {
        panic!("type")
    };
    assert_eq!(answer.h_nsid.as_deref(), Some("localhost"));
    assert_eq!(answer.header.receiver_nsid_eui(), None);
    let request = codec
        .decode(&file("tts-pr4726-HomeNSReq-1.json"))
        .expect("accepted");
    assert_eq!(request.header().sender_nsid.as_deref(), Some("localhost"));
    assert_eq!(request.header().transaction_id, None);
}

#[test]
fn parts_key_envelope_parses() {
    let files = corpus("parts");
    assert_eq!(files.len(), 1, "parts/ file count changed");
    for (name, value) in files {
        let envelope = KeyEnvelope::from_json(value).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(envelope.label(), Some("test-kek"));
        assert_eq!(envelope.aes_key.len(), 24);
        assert!(envelope.is_wrapped());
    }
}
