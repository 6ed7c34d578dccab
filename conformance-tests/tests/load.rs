//! The load driver's frames and checks against the shared, independently re-checked vectors
//! (`shared/vectors/`, see its README): join-request MIC, join-accept decryption and MIC
//! (1.0 and 1.1), JSIntKey, NetID → DevAddr; then the device file and the answer reading.
//! No server is involved: the driver meets the real jsd in a later, wired-up test.

use conformance_tests::corpus::shared_dir;
use conformance_tests::load::frame::{
    self, decrypt_join_accept, encrypt_join_accept, js_int_key, parse_key, verify_join_accept,
    AcceptError, AcceptKeys, Eui64, NetId,
};
use conformance_tests::load::message::{classify, dl_settings, Answer, JoinReq, JoinReqFields};
use conformance_tests::load::stats::Histogram;
use conformance_tests::load::{
    generate_device, generate_devices, loopback_url, DeviceFile, LoRaWanVersion, ProtocolVersion,
    StateFile,
};
use serde_json::{json, Value};

fn vectors(name: &str) -> Vec<Value> {
    let path = shared_dir().join("vectors").join(name);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: Value = serde_json::from_slice(&text).expect("vector file is JSON");
    file["vectors"].as_array().expect("a vectors array").clone()
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

fn key(v: &Value, field: &str) -> [u8; 16] {
    parse_key(text(v, field)).expect("key")
}

fn bytes(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(text(v, field)).expect("hex")
}

fn eui(v: &Value, field: &str) -> Eui64 {
    text(v, field).parse().expect("EUI")
}

fn number(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

/// Every join-request vector whose inputs name the EUIs and DevNonce is rebuilt byte for
/// byte; every vector carrying a whole PHYPayload has its MIC reproduced from the payload's
/// own fields.
#[test]
fn join_request_mic_vectors() {
    let mut checked = 0;
    for v in vectors("join_request_mic.json") {
        let (inputs, expected) = (&v["inputs"], &v["expected"]);
        let air = ["phy", "msg_without_mic"]
            .iter()
            .find_map(|f| inputs.get(*f))
            .and_then(Value::as_str)
            .expect("each vector has its air bytes");
        if !air.starts_with("00") {
            continue; // rejoin-requests (MHDR c0): not sent by the driver
        }
        let k = key(inputs, "key");
        let mic = bytes(expected, "mic");
        // The EUIs and DevNonce are inputs in some vectors and decoded outputs in others.
        let fields = if inputs.get("dev_eui").is_some() {
            inputs
        } else {
            expected
        };
        let phy = frame::join_request(
            &k,
            eui(fields, "join_eui"),
            eui(fields, "dev_eui"),
            number(fields, "dev_nonce") as u16,
        );
        assert_eq!(phy[19..], mic[..], "{}: MIC", v["id"]);
        if inputs.get("phy").is_some() {
            assert_eq!(phy[..], bytes(inputs, "phy")[..], "{}: PHYPayload", v["id"]);
        }
        if inputs.get("msg_without_mic").is_some() {
            assert_eq!(
                phy[..19],
                bytes(inputs, "msg_without_mic")[..],
                "{}: bytes",
                v["id"]
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 3, "the three join-request vectors");
}

/// 1.0 join-accepts: decryption (AES-ECB *encrypt* of everything after the MHDR) and the
/// MIC, on the vectors' full encrypted PHYPayloads and on the separate MIC and encryption
/// vectors.
#[test]
fn join_accept_1_0_vectors() {
    let all = vectors("join_accept.json");
    let by_id = |id: &str| {
        all.iter()
            .find(|v| v["id"] == id)
            .unwrap_or_else(|| panic!("vector {id}"))
    };

    // Encryption alone: plaintext → ciphertext, and back.
    let v = by_id("tts-join-accept-encryption");
    let k = key(&v["inputs"], "key");
    let mut clear = vec![frame::JOIN_ACCEPT_MHDR];
    clear.extend(bytes(&v["inputs"], "plaintext_payload_and_mic"));
    let phy = encrypt_join_accept(&k, &clear).expect("17 bytes");
    assert_eq!(phy[1..], bytes(&v["expected"], "ciphertext")[..]);
    assert_eq!(decrypt_join_accept(&k, &phy).expect("decrypts"), clear);
    // The same key and plaintext are the legacy MIC vector's: the whole accept verifies.
    let accept = verify_join_accept(&AcceptKeys::V1_0 { app_key: k }, &phy).expect("verifies");
    let legacy = by_id("tts-legacy-join-accept-mic");
    assert_eq!(
        u64::from(accept.join_nonce),
        number(&legacy["inputs"], "join_nonce")
    );
    assert_eq!(
        format!("{:06x}", accept.net_id),
        text(&legacy["inputs"], "net_id")
    );
    assert_eq!(
        format!("{:08x}", accept.dev_addr),
        text(&legacy["inputs"], "dev_addr")
    );
    assert_eq!(
        frame::mic(&k, &[&bytes(&legacy["inputs"], "mhdr_and_payload")]),
        bytes(&legacy["expected"], "mic")[..]
    );

    // Whole encrypted PHYPayloads.
    let v = by_id("brocaar-join-accept-1.0");
    let app_key = key(&v["inputs"], "app_key");
    let phy = bytes(&v["inputs"], "phy_encrypted");
    let accept = verify_join_accept(&AcceptKeys::V1_0 { app_key }, &phy).expect("verifies");
    let e = &v["expected"];
    assert_eq!(u64::from(accept.join_nonce), number(e, "join_nonce"));
    assert_eq!(format!("{:06x}", accept.net_id), text(e, "net_id"));
    assert_eq!(format!("{:08x}", accept.dev_addr), text(e, "dev_addr"));
    assert_eq!(
        format!("{:02x}", accept.dl_settings),
        text(e, "dl_settings")
    );
    assert_eq!(u64::from(accept.rx_delay), number(e, "rx_delay"));
    assert!(!accept.has_cf_list);

    let v = by_id("lrwn-brocaar-join-accept-1.0");
    let k = key(&v["inputs"], "key");
    let phy = bytes(&v["expected"], "phy_encrypted");
    let accept = verify_join_accept(&AcceptKeys::V1_0 { app_key: k }, &phy).expect("verifies");
    assert_eq!(
        u64::from(accept.join_nonce),
        number(&v["inputs"], "join_nonce")
    );
    assert_eq!(
        format!("{:06x}", accept.net_id),
        text(&v["inputs"], "home_net_id")
    );
    let clear = decrypt_join_accept(&k, &phy).expect("decrypts");
    assert_eq!(
        clear[..13],
        bytes(&v["inputs"], "plaintext_mhdr_and_payload")[..]
    );
    assert_eq!(clear[13..], bytes(&v["expected"], "mic")[..]);
}

/// 1.1 join-accepts answering a join-request (JoinReqType ff), OptNeg set: decrypted with
/// the NwkKey, MIC with the JSIntKey over JoinReqType | JoinEUI | DevNonce | accept.
#[test]
fn join_accept_1_1_vectors() {
    let mut checked = 0;
    for v in vectors("join_accept.json") {
        let (inputs, expected) = (&v["inputs"], &v["expected"]);
        if inputs["join_req_type"] != "0xff" || expected.get("phy_encrypted").is_none() {
            continue; // rejoin answers (other JoinReqTypes) are not the driver's business
        }
        let (nwk_key, js_int) = if inputs.get("key").is_some() {
            (key(inputs, "key"), key(inputs, "key")) // one key for both in this vector
        } else {
            (key(inputs, "encryption_key"), key(inputs, "js_int_key"))
        };
        let dev_nonce = inputs
            .get("dev_nonce")
            .or(inputs.get("dev_nonce_or_rjcount"))
            .and_then(Value::as_u64)
            .expect("DevNonce") as u16;
        let keys = AcceptKeys::V1_1 {
            nwk_key,
            js_int_key: js_int,
            join_eui: eui(inputs, "join_eui"),
            dev_nonce,
        };
        let phy = bytes(expected, "phy_encrypted");
        let accept = verify_join_accept(&keys, &phy).unwrap_or_else(|e| panic!("{}: {e}", v["id"]));
        assert_eq!(
            u64::from(accept.join_nonce),
            number(inputs, "join_nonce"),
            "{}",
            v["id"]
        );
        assert_eq!(accept.dl_settings & 0x80, 0x80, "{}: OptNeg", v["id"]);
        assert_eq!(accept.has_cf_list, phy.len() == 33);

        // Another DevNonce, or the accept read as a 1.0 one, must not verify.
        let wrong_nonce = AcceptKeys::V1_1 {
            nwk_key,
            js_int_key: js_int,
            join_eui: eui(inputs, "join_eui"),
            dev_nonce: dev_nonce.wrapping_add(1),
        };
        assert_eq!(
            verify_join_accept(&wrong_nonce, &phy),
            Err(AcceptError::Mic)
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} 1.1 join-accept vectors");
}

#[test]
fn js_int_key_vector() {
    let v = vectors("session_keys.json")
        .into_iter()
        .find(|v| v["id"] == "tts-key-derivation")
        .expect("tts-key-derivation");
    let root = key(&v["inputs"], "root_key");
    assert_eq!(
        js_int_key(&root, eui(&v["inputs"], "dev_eui")),
        key(&v["expected"], "js_int_key")
    );
}

#[test]
fn dev_addr_prefixes_of_netid_types_0_to_7() {
    let mut checked = 0;
    for v in vectors("netid_devaddr.json") {
        let (inputs, expected) = (&v["inputs"], &v["expected"]);
        let Some(prefix) = expected.get("dev_addr_prefix").and_then(Value::as_str) else {
            continue;
        };
        let net_id: NetId = text(inputs, "net_id").parse().expect("NetID");
        let prefix_len = number(expected, "dev_addr_prefix_len") as u32;
        assert_eq!(32 - prefix_len, net_id.nwk_addr_bits(), "{}", v["id"]);
        assert_eq!(format!("{:08x}", net_id.dev_addr(0)), prefix, "{}", v["id"]);
        // Any NwkAddr keeps the prefix; too large a one is cut to its bits.
        let top = net_id.dev_addr(u32::MAX);
        assert_eq!(
            top >> (32 - prefix_len),
            net_id.dev_addr(0) >> (32 - prefix_len)
        );
        checked += 1;
    }
    assert_eq!(checked, 8, "one prefix vector per NetID type");
    let ours: NetId = "000013".parse().expect("NetID");
    assert_eq!(ours.dev_addr(0x11bda), 0x2601_1bda);
}

#[test]
fn accepts_that_must_be_refused() {
    let k = [7_u8; 16];
    let keys = AcceptKeys::V1_0 { app_key: k };
    let mut clear = vec![0x20, 1, 0, 0, 0x13, 0, 0, 1, 2, 3, 0x26, 0, 1, 0, 0, 0, 0];
    let mic = frame::mic(&k, &[&clear[..13]]);
    clear[13..].copy_from_slice(&mic);
    let phy = encrypt_join_accept(&k, &clear).expect("17 bytes");
    assert_eq!(verify_join_accept(&keys, &phy).map(|a| a.join_nonce), Ok(1));

    let mut flipped = phy.clone();
    flipped[5] ^= 1;
    assert_eq!(verify_join_accept(&keys, &flipped), Err(AcceptError::Mic));
    let other_key = AcceptKeys::V1_0 { app_key: [8; 16] };
    assert_eq!(verify_join_accept(&other_key, &phy), Err(AcceptError::Mic));
    assert_eq!(
        verify_join_accept(&keys, &phy[..16]),
        Err(AcceptError::Length(16))
    );
    let mut wrong_mhdr = phy;
    wrong_mhdr[0] = 0x40;
    assert_eq!(
        verify_join_accept(&keys, &wrong_mhdr),
        Err(AcceptError::Mhdr(0x40))
    );
}

#[test]
fn devices_are_deterministic_distinct_and_round_trip_through_the_file() {
    let join_eui: Eui64 = "70b3d57ed0000001".parse().expect("EUI");
    let devices = generate_devices(42, 100, join_eui, LoRaWanVersion::V1_1);
    assert_eq!(
        devices[37],
        generate_device(42, 37, join_eui, LoRaWanVersion::V1_1)
    );
    let mut euis: Vec<_> = devices.iter().map(|d| d.dev_eui).collect();
    euis.dedup();
    assert_eq!(euis.len(), 100, "DevEUIs are increasing and distinct");
    assert!(devices.iter().all(|d| d.dev_eui.0 != 0));
    let mut keys: Vec<_> = devices
        .iter()
        .flat_map(|d| [d.app_key, d.nwk_key.expect("1.1 has a NwkKey")])
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 200, "every key differs");
    assert_ne!(
        generate_device(43, 0, join_eui, LoRaWanVersion::V1_1),
        devices[0]
    );

    // 1.0.x devices have no NwkKey and the file says nothing of one.
    let legacy = generate_devices(42, 2, join_eui, LoRaWanVersion::V1_0_4);
    assert_eq!(legacy[1].app_key, devices[1].app_key);
    let file = serde_json::to_value(DeviceFile::new(&legacy)).expect("JSON");
    assert!(file["devices"][0].get("NwkKey").is_none());
    assert_eq!(file["devices"][0]["LoRaWANVersion"], "1.0.4");
    assert_eq!(file["devices"][0]["JoinEUI"], "70b3d57ed0000001");

    let dir = std::env::temp_dir().join(format!("bi-load-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("devices.json");
    DeviceFile::new(&devices).write(&path).expect("written");
    assert_eq!(DeviceFile::read(&path).expect("read back"), devices);
    std::fs::remove_dir_all(&dir).ok();

    // A 1.0.x device with a NwkKey is refused, as the Join Server's import refuses it.
    let mut bad = DeviceFile::new(&legacy);
    bad.devices[0].nwk_key = Some(hex::encode([1_u8; 16]));
    assert!(bad.devices().is_err());
}

#[test]
fn the_join_req_is_the_wire_format() {
    let device = generate_device(
        1,
        5,
        "70b3d57ed0000001".parse().expect("EUI"),
        LoRaWanVersion::V1_0_4,
    );
    let phy = frame::join_request(&device.app_key, device.join_eui, device.dev_eui, 1);
    let sender: NetId = "000013".parse().expect("NetID");
    let request = JoinReq::new(&JoinReqFields {
        protocol: ProtocolVersion::V1_1,
        sender_id: sender,
        receiver_id: device.join_eui,
        transaction_id: 77,
        mac_version: "1.0.4",
        phy_payload: &phy,
        dev_eui: device.dev_eui,
        dev_addr: sender.dev_addr(5),
        dl_settings: dl_settings(LoRaWanVersion::V1_0_4),
    });
    let wire = serde_json::to_value(&request).expect("JSON");
    assert_eq!(
        wire,
        json!({"ProtocolVersion": "1.1", "SenderID": "000013", "ReceiverID": "70b3d57ed0000001",
               "TransactionID": 77, "MessageType": "JoinReq", "MACVersion": "1.0.4",
               "PHYPayload": hex::encode(phy), "DevEUI": device.dev_eui.to_string(),
               "DevAddr": "26000005", "DLSettings": "00", "RxDelay": 1})
    );
    assert_eq!(dl_settings(LoRaWanVersion::V1_1), 0x80, "OptNeg for 1.1");
    // On the air: MHDR, JoinEUI and DevEUI little-endian, DevNonce 1 little-endian.
    assert_eq!(
        hex::encode(&phy[..19]),
        format!(
            "00010000d07ed5b370{}0100",
            hex::encode(device.dev_eui.0.to_le_bytes())
        )
    );
}

/// The answer reader, on answers built from the 1.0 vector accept (no server involved).
#[test]
fn answers_are_classified() {
    let v = vectors("join_accept.json")
        .into_iter()
        .find(|v| v["id"] == "brocaar-join-accept-1.0")
        .expect("vector");
    let keys = AcceptKeys::V1_0 {
        app_key: key(&v["inputs"], "app_key"),
    };
    let request = json!({"ProtocolVersion": "1.1", "SenderID": "000013",
                         "ReceiverID": "70b3d57ed0000001", "TransactionID": 9,
                         "MessageType": "JoinReq"});
    let answer = |result: &str, phy: Option<&str>| {
        let mut a = json!({"ProtocolVersion": "1.1", "SenderID": "70B3D57ED0000001",
                           "ReceiverID": "000013", "TransactionID": 9,
                           "MessageType": "JoinAns", "Result": {"ResultCode": result}});
        if let Some(phy) = phy {
            a["PHYPayload"] = json!(phy);
        }
        serde_json::to_vec(&a).expect("JSON")
    };
    let phy = text(&v["inputs"], "phy_encrypted");
    let Answer::Accepted(accept) = classify(&request, &answer("Success", Some(phy)), &keys) else {
        panic!("the vector accept is accepted")
    };
    assert_eq!(
        u64::from(accept.join_nonce),
        number(&v["expected"], "join_nonce")
    );
    assert_eq!(
        classify(&request, &answer("JoinReqFailed", None), &keys),
        Answer::Refused {
            code: "JoinReqFailed".into(),
            description: None
        }
    );
    assert!(matches!(
        classify(&request, &answer("Success", None), &keys),
        Answer::AcceptInvalid(_)
    ));
    let corrupted = format!("{}00", &phy[..phy.len() - 2]);
    assert!(matches!(
        classify(&request, &answer("Success", Some(&corrupted)), &keys),
        Answer::AcceptInvalid(_)
    ));
    assert!(matches!(
        classify(&request, b"<html>", &keys),
        Answer::Malformed(_)
    ));
    let other_transaction = json!({"TransactionID": 10, "MessageType": "JoinReq"});
    assert!(matches!(
        classify(&other_transaction, &answer("Success", Some(phy)), &keys),
        Answer::Malformed(_)
    ));
}

#[test]
fn only_loopback_peers() {
    for ok in [
        "http://127.0.0.1:8800/bi",
        "http://[::1]:8800/bi",
        "http://localhost:8800/bi",
        "https://LOCALHOST/bi",
    ] {
        assert!(loopback_url(ok).is_ok(), "{ok}");
    }
    for refused in [
        "http://10.0.0.1/bi",
        "http://127.0.0.2/bi",
        "http://example.com/bi",
        "http://localhost.example.com/bi",
        "ftp://127.0.0.1/bi",
        "127.0.0.1:8800",
    ] {
        assert!(loopback_url(refused).is_err(), "{refused}");
    }
}

#[test]
fn histogram_quantiles_are_within_one_percent() {
    use std::time::Duration;
    let mut h = Histogram::default();
    assert_eq!(h.quantile_us(0.5), None);
    for us in 1..=100_000_u64 {
        h.record(Duration::from_micros(us));
    }
    assert_eq!(h.len(), 100_000);
    for (q, exact) in [(0.5, 50_000.0), (0.95, 95_000.0), (0.99, 99_000.0)] {
        let got = h.quantile_us(q).expect("samples") as f64;
        assert!((got - exact).abs() / exact < 0.01, "q{q}: {got} vs {exact}");
    }
    assert_eq!(h.quantile_us(1.0), Some(100_000));
    assert_eq!(h.max_us(), Some(100_000));
    h.record(Duration::from_secs(1 << 40));
    assert!(h.max_us().is_some());
}

#[test]
fn state_files_round_trip() {
    let text = r#"{"devices":[{"DevEUI":"FA9798B100000000","LastDevNonce":7,"LastJoinNonce":null,
            "AcceptedDevNonces":[[1,3],[5,6]]}]}"#;
    let state: StateFile = serde_json::from_str(text).expect("state");
    assert_eq!(state.devices[0].dev_eui.0, 0xfa97_98b1_0000_0000);
    assert_eq!(state.devices[0].last_dev_nonce, Some(7));
    assert_eq!(state.devices[0].accepted_dev_nonces, [[1, 3], [5, 6]]);
    assert_eq!(state.check(), Ok(()));
    let again: StateFile =
        serde_json::from_str(&serde_json::to_string(&state).expect("JSON")).expect("state");
    assert_eq!(again, state);
    assert!(serde_json::from_str::<StateFile>(r#"{"devices":[],"x":1}"#).is_err());
}
