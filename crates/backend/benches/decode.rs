//! Parse + schema-validate + type a PRStartReq with 3 GWInfo entries (target ≤ 25 µs), and the
//! encode back; the same for the hub's load-test XmitDataReq, and the decode of its answer.

use backend::{Codec, Dialect, Message};
use criterion::{black_box, criterion_main, Criterion};
use serde_json::json;

fn pr_start_req() -> Vec<u8> {
    let gw = |i: u32| {
        json!({"ID": format!("0102030{i}"), "RFRegion": "EU868", "RSSI": -40 - i as i32, "SNR": 7.5,
            "Lat": 52.1, "Lon": 4.3, "ULToken": "0a10303330323033303430353036303730381a0c08f0edc8b10610c0de9cf8027a120a0972665f726567696f6e12054555383638",
            "DLAllowed": true})
    };
    serde_json::to_vec(&json!({
        "ProtocolVersion": "1.1", "SenderID": "000202", "ReceiverID": "000505", "TransactionID": 1234,
        "MessageType": "PRStartReq", "SenderNSID": "f03d290000000101", "ReceiverNSID": "6081fffe12345678",
        "PHYPayload": "400000000a000800b41451a9",
        "ULMetaData": {"DevAddr": "0a000800", "DataRate": 5, "ULFreq": 868.1,
            "RecvTime": "2024-05-01T12:34:56.789Z", "RFRegion": "EU868", "GWCnt": 3,
            "FNSULToken": "7b2274696d657374616d70223a317d",
            "GWInfo": [gw(1), gw(2), gw(3)]}
    }))
    .expect("json")
}

/// Decode of `body` as a whole and by part (JSON parse, schema validation), then encode.
fn decode_and_encode(c: &mut Criterion, codec: &Codec, name: &str, body: &[u8]) -> Message {
    let message = codec.decode(body).expect("valid");
    c.bench_function(&format!("decode {name}"), |b| {
        b.iter(|| codec.decode(black_box(body)).expect("valid"))
    });
    // The parts, to see where the time goes.
    c.bench_function(&format!("  part: {name} JSON parse only"), |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body)).expect("json"))
    });
    let value: serde_json::Value = serde_json::from_slice(body).expect("json");
    let header = message.header();
    c.bench_function(&format!("  part: {name} schema validation only"), |b| {
        b.iter(|| {
            codec
                .schemas()
                .validate(
                    &header.protocol_version,
                    &header.message_type,
                    black_box(&value),
                )
                .expect("valid")
        })
    });
    c.bench_function(&format!("encode {name}"), |b| {
        b.iter(|| codec.encode(black_box(&message), &Dialect::canonical()))
    });
    message
}

fn decode(c: &mut Criterion) {
    let codec = Codec::new().expect("schemas");
    decode_and_encode(c, &codec, "PRStartReq 3 GWInfo", &pr_start_req());
    // The hub's load-test message, and the answer its sink gives.
    let xmit = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../conformance-tests/bench/xmit-data-req.json"
    ))
    .expect("bench message");
    let message = decode_and_encode(c, &codec, "XmitDataReq", &xmit);
    c.bench_function("  part: XmitDataReq to_json only", |b| {
        b.iter(|| black_box(&message).to_json(&Dialect::canonical()))
    });
    let answer = br#"{"ProtocolVersion":"1.1","SenderID":"000014","ReceiverID":"000013","TransactionID":1,"MessageType":"XmitDataAns","Result":{"ResultCode":"Success"}}"#;
    c.bench_function("decode_answer XmitDataAns", |b| {
        b.iter(|| {
            codec
                .decode_answer(message.header(), black_box(answer))
                .expect("valid")
        })
    });
}

mod group {
    #![allow(missing_docs)] // criterion_group! makes an undocumented pub fn.
    use super::decode;
    criterion::criterion_group!(benches, decode);
}

criterion_main!(group::benches);
