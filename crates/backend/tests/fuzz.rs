//! No panic on any input: arbitrary bytes and arbitrary JSON mutations of the corpus go
//! through `Codec::decode`; every rejection has an answer body with a Result, and every
//! accepted message re-encodes to something that decodes to the same message.

mod common;

use std::sync::OnceLock;

use backend::{Codec, Dialect};
use proptest::prelude::*;
use serde_json::{json, Value};

fn codec() -> &'static Codec {
    static CODEC: OnceLock<Codec> = OnceLock::new();
    CODEC.get_or_init(|| Codec::new().expect("schemas"))
}

fn seeds() -> &'static Vec<Value> {
    static SEEDS: OnceLock<Vec<Value>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        ["accept", "reject", "edge"]
            .into_iter()
            .flat_map(common::corpus)
            .map(|(_, value)| value)
            .collect()
    })
}

fn check(body: &[u8]) {
    match codec().decode(body) {
        Ok(message) => {
            for dialect in [Dialect::canonical(), Dialect::helium()] {
                match codec().decode(&codec().encode(&message, &dialect)) {
                    Ok(again) => assert_eq!(again, message),
                    Err(r) => panic!("own output rejected: {}", r.description),
                }
            }
        }
        Err(rejection) => {
            for dialect in [Dialect::canonical(), Dialect::tts()] {
                let answer = rejection.answer_json(&dialect);
                let text = serde_json::to_vec(&answer).expect("serialisable");
                let back: Value = serde_json::from_slice(&text).expect("valid JSON");
                assert!(back["Result"]["ResultCode"].is_string(), "{back}");
            }
            // An answer echoes the request's IDs, so a malformed SenderID/ReceiverID stays
            // malformed in the answer (whichever of the request's errors was reported first);
            // nothing else may make our answer invalid.
            if let Some(answer) = rejection.answer() {
                let bytes = codec().encode(&answer, &Dialect::canonical());
                if let Err(ours) = codec().decode(&bytes) {
                    assert!(
                        matches!(ours.error.field(), Some("SenderID" | "ReceiverID")),
                        "our answer must be valid but for echoed IDs: {} ({})",
                        String::from_utf8_lossy(&bytes),
                        ours.description
                    );
                }
            }
        }
    }
}

/// Found by `mutated_corpus_never_panics`: a malformed ReceiverID reported after another bad
/// field (errors are named in key order) still makes an answer whose only fault is the echo.
#[test]
fn echoed_bad_id_behind_another_error() {
    let mut request = seeds()
        .iter()
        .find(|v| v["MessageType"] == "XmitDataReq" && v.to_string().contains("another-token"))
        .expect("the Helium invalid XmitDataReq seed")
        .clone();
    request["ReceiverID"] = json!("1.0");
    check(&serde_json::to_vec(&request).expect("json"));
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[0-9a-fA-Fx]{0,40}".prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
        Just(json!("1.0")),
        Just(json!("1.1")),
        Just(json!("PRStartReq")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[A-Za-z]{1,12}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Replaces (or with `None`, removes) the value at a random path of `value`.
fn mutate(node: &mut Value, steps: &[usize], replacement: Option<Value>) {
    let Some((step, rest)) = steps.split_first() else {
        if let Some(v) = replacement {
            *node = v;
        }
        return;
    };
    match node {
        Value::Object(map) if !map.is_empty() => {
            let key = map
                .keys()
                .nth(step % map.len())
                .cloned()
                .unwrap_or_default();
            if rest.is_empty() && replacement.is_none() {
                map.remove(&key);
            } else if let Some(child) = map.get_mut(&key) {
                mutate(child, rest, replacement);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = step % items.len();
            if rest.is_empty() && replacement.is_none() {
                items.remove(i);
            } else {
                mutate(&mut items[i], rest, replacement);
            }
        }
        _ => mutate(node, &[], replacement),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&body);
    }

    #[test]
    fn arbitrary_json_never_panics(value in any_json()) {
        check(&serde_json::to_vec(&value).expect("json"));
    }

    #[test]
    fn mutated_corpus_never_panics(
        seed in any::<prop::sample::Index>(),
        steps in prop::collection::vec(any::<usize>(), 1..4),
        replacement in prop::option::of(any_json()),
    ) {
        let seeds = seeds();
        let mut value = seeds[seed.index(seeds.len())].clone();
        mutate(&mut value, &steps, replacement);
        check(&serde_json::to_vec(&value).expect("json"));
    }
}

/// Found by `mutated_corpus_never_panics`: a float in an unknown field changed in its last
/// digit on the way through (3.823083748801864e+96 → …8636e+96) until serde_json parsed
/// floats exactly (`float_roundtrip`).
#[test]
fn floats_pass_through_exactly() {
    let mut value = seeds()
        .iter()
        .find(|v| v["MessageType"] == "PRStartAns" && v["ProtocolVersion"] == "1.1")
        .expect("a 1.1 PRStartAns in the corpus")
        .clone();
    value["ServiceProfile"] = serde_json::json!({"FJl": [true, 3.823083748801864e96, true]});
    let body = serde_json::to_vec(&value).expect("JSON");
    check(&body);
    let message = codec().decode(&body).expect("accepted");
    let again: serde_json::Value =
        serde_json::from_slice(&codec().encode(&message, &Dialect::canonical())).expect("JSON");
    assert_eq!(
        again["ServiceProfile"]["FJl"][1].as_f64(),
        Some(3.823083748801864e96)
    );
}
