//! The checks of `fuzz/fuzz_targets/semtech_udp.rs`, replayed on stable: over the fuzz
//! seeds (`fuzz/seeds/semtech_udp/`), arbitrary bytes, byte mutations of the seeds and
//! field-level JSON mutations of them. Keep `check` and the fuzz target in step.

use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

fn check(data: &[u8]) {
    let Ok(packet) = parse(data) else { return };
    assert_eq!(parse(&packet.encode()), Ok(packet));
    match packet.body {
        Body::PushData { gateway, json } => {
            if let Ok(push) = parse_push_data(gateway, json) {
                for uplink in &push.uplinks {
                    assert_eq!(uplink.reception.rx.gateway, gateway);
                    assert!(uplink.reception.rx.frequency_hz > 0);
                }
                let indices: Vec<usize> = push.skipped.iter().map(|s| s.index).collect();
                assert!(indices.windows(2).all(|w| w[0] < w[1]), "{indices:?}");
            }
        }
        Body::PullResp { json } => {
            let gateway = GatewayId::from_u64(1);
            let Ok(first) = parse_txpk(json, gateway) else {
                return;
            };
            let Ok(bytes) = pull_resp(ProtocolVersion::V2, packet.token, &first) else {
                return;
            };
            let again = parse(&bytes).expect("our PULL_RESP reads");
            let Body::PullResp { json } = again.body else {
                panic!("not a PULL_RESP: {again:?}")
            };
            let second = parse_txpk(json, gateway).expect("our txpk reads");
            assert_eq!(
                (
                    second.timing,
                    second.frequency_hz,
                    &second.phy,
                    second.power_dbm
                ),
                (
                    first.timing,
                    first.frequency_hz,
                    &first.phy,
                    first.power_dbm
                )
            );
            let bytes = pull_resp(ProtocolVersion::V2, packet.token, &second)
                .expect("what we encoded encodes");
            let Body::PullResp { json } = parse(&bytes).expect("reads").body else {
                panic!("not a PULL_RESP")
            };
            assert_eq!(parse_txpk(json, gateway), Ok(second));
        }
        Body::TxAck { gateway, json } => {
            if let Ok(status) = parse_tx_ack(json) {
                let bytes = tx_ack(packet.version, packet.token, gateway, &status);
                let again = parse(&bytes).expect("our TX_ACK reads");
                let Body::TxAck { json, .. } = again.body else {
                    panic!("not a TX_ACK")
                };
                assert_eq!(parse_tx_ack(json), Ok(status));
            }
        }
        Body::PushAck | Body::PullData { .. } | Body::PullAck => {}
    }
}

fn seeds() -> &'static Vec<(String, Vec<u8>)> {
    static SEEDS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/semtech_udp");
        let mut seeds: Vec<_> = std::fs::read_dir(&dir)
            .expect("fuzz seeds")
            .map(|entry| {
                let path = entry.expect("seed").path();
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
                (
                    name.unwrap_or_default(),
                    std::fs::read(&path).expect("seed file"),
                )
            })
            .collect();
        seeds.sort();
        seeds
    })
}

#[test]
fn the_seeds_read_as_real_forwarder_datagrams() {
    assert!(seeds().len() >= 10);
    for (name, data) in seeds() {
        let packet = parse(data).unwrap_or_else(|e| panic!("{name}: {e}"));
        match packet.body {
            Body::PushData { gateway, json } => {
                let push = parse_push_data(gateway, json).expect("readable");
                assert!(!push.uplinks.is_empty() || push.stat.is_some(), "{name}");
            }
            Body::PullResp { json } => {
                parse_txpk(json, GatewayId::from_u64(1)).expect("readable");
            }
            Body::TxAck { json, .. } => {
                parse_tx_ack(json).expect("readable");
            }
            _ => {}
        }
        check(data);
    }
}

/// Values of every JSON type, and the strings and numbers the fields expect.
fn odd_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        (-1000.0..3000.0f64).prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "SF7BW125",
            "SF12BW500",
            "SF5BW812",
            "SF13BW125",
            "SFBW",
            "M0CW137",
            "M0CW",
            "4/5",
            "4/5LI",
            "OFF",
            "1/0",
            "2013-03-31T16:21:17.528002Z",
            "2014-01-12 08:59:28 GMT",
            "LORA",
            "FSK",
            "LR-FHSS",
            "QAQD",
            "====",
            "",
        ])
        .prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
        Just(json!([{}])),
    ]
}

const KEYS: &[&str] = &[
    "time", "tmms", "tmst", "freq", "chan", "rfch", "stat", "modu", "datr", "codr", "rssi", "lsnr",
    "rssis", "size", "data", "rsig", "ftime", "foff", "imme", "powe", "ipol", "txpk", "rxpk",
    "txpk_ack", "error", "warn", "lati", "long", "alti", "rxnb", "ackr", "temp", "ant", "rssic",
];

/// Sets `key` to `value` in every object of the JSON tree whose index (depth first) is
/// `target`, counting objects as they come.
fn mutate(value: &mut Value, target: &mut usize, key: &str, new: &Value) {
    match value {
        Value::Object(map) => {
            if *target == 0 {
                map.insert(key.to_string(), new.clone());
            }
            *target = target.wrapping_sub(1);
            for child in map.values_mut() {
                mutate(child, target, key, new);
            }
        }
        Value::Array(items) => {
            for child in items {
                mutate(child, target, key, new);
            }
        }
        _ => {}
    }
}

/// The header of a seed and its JSON body, if it has one.
fn split(data: &[u8]) -> Option<(&[u8], Value)> {
    let header_len = match data.get(3)? {
        &PUSH_DATA | &TX_ACK => 12,
        &PULL_RESP => 4,
        _ => return None,
    };
    let body = serde_json::from_slice(trim_json(data.get(header_len..)?)).ok()?;
    Some((&data[..header_len], body))
}

proptest! {
    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..80)) {
        check(&data);
    }

    #[test]
    fn seeds_with_bytes_changed(
        seed in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut data = seed.get(seeds()).1.clone();
        for (at, byte) in edits {
            let i = at.index(data.len());
            data[i] = byte;
        }
        check(&data);
    }

    #[test]
    fn seeds_with_fields_changed(
        seed in any::<prop::sample::Index>(),
        edits in prop::collection::vec(
            (0usize..6, prop::sample::select(KEYS), odd_value()),
            1..5,
        ),
    ) {
        let Some((header, mut body)) = split(&seed.get(seeds()).1) else {
            return Ok(());
        };
        for (object, key, value) in &edits {
            let mut target = *object;
            mutate(&mut body, &mut target, key, value);
        }
        let mut data = header.to_vec();
        data.extend_from_slice(body.to_string().as_bytes());
        check(&data);
    }
}
