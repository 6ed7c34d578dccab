//! The real jsd over HTTP: every Backend Interfaces message it serves (JoinReq, RejoinReq,
//! HomeNSReq, AppSKeyReq), TS002 1.0 and 1.1, LoRaWAN 1.0.x and 1.1 devices, and every
//! refusal as a well-formed answer with its ResultCode.

mod common;

use backend::keys::KeyEnvelope;
use backend::message::Message;
use common::*;
use jsd::app::view::DeliveryView;
use jsd::app::Caller;
use jsd::device::{DeviceState, Home};
use lorawan::crypto::MicKey;
use lorawan::ids::{AesKey, Eui64};
use lorawan::join::{build_rejoin_request, JoinNonce, RejoinIdent};
use lorawan::keys::{derive_1_0, derive_1_1, js_enc_key, js_int_key};
use serde_json::{json, Value};

fn unwrap(envelope: Option<&KeyEnvelope>, kek: Option<[u8; 16]>) -> AesKey {
    let envelope = envelope.expect("a key envelope");
    let kek = kek.map(AesKey::new);
    envelope.unwrap(kek.as_ref()).expect("unwraps")
}

fn assert_answers(request: &Value, answer: &Value, answer_type: &str) {
    assert_eq!(answer["MessageType"], answer_type, "{answer}");
    assert_eq!(
        answer["TransactionID"], request["TransactionID"],
        "{answer}"
    );
    assert_eq!(answer["SenderID"], request["ReceiverID"], "{answer}");
    assert_eq!(answer["ReceiverID"], request["SenderID"], "{answer}");
}

#[tokio::test]
async fn joins_1_0_devices_and_wraps_keys_for_the_home_network_server() {
    for (engine, scratch) in engines().await {
        let jsd = TestJsd::start(&scratch, "").await;
        let counter = TestDevice::new(1, "1.0.4");
        let random = TestDevice::new(2, "1.0.2");
        jsd.provision(&[counter.clone(), random.clone()], Some(home(net_13())))
            .await;

        // A 1.0.4 device: DevNonce is a counter, JoinNonce counts up from 1.
        for (dev_nonce, join_nonce) in [(1u16, 1u32), (2, 2), (10, 3)] {
            let request = join_req("1.1", "000013", &counter, dev_nonce, dev_nonce.into());
            let (status, answer) = jsd.bi(Some(TOKEN_NS_13), &request).await;
            assert_eq!(
                (status, code(&answer)),
                (200, "Success"),
                "{engine:?} {answer}"
            );
            assert_answers(&request, &answer, "JoinAns");
            let accepted = accept(&answer, &counter.app_key);
            assert_eq!(accepted.join_nonce().get(), join_nonce);
            assert_eq!(accepted.home_net_id(), net_13());
            let Message::JoinAns(ans) = decode(&answer) else {
                panic!("not a JoinAns")
            };
            let expected = derive_1_0(
                &counter.app_key,
                JoinNonce::new(join_nonce).expect("24 bits"),
                net_13(),
                dev_nonce,
            );
            let nwk_s_key = ans.nwk_s_key.as_ref();
            assert_eq!(nwk_s_key.and_then(|k| k.label()), Some("ns-13-kek"));
            assert_eq!(unwrap(nwk_s_key, Some(KEK_NS_13)), expected.nwk_s_key);
            assert_eq!(
                unwrap(ans.app_s_key.as_ref(), Some(KEK_NS_13)),
                expected.app_s_key
            );
            assert!(ans.session_key_id.is_some());
        }
        for replayed in [10u16, 2, 1] {
            let (_, answer) = jsd
                .bi(
                    Some(TOKEN_NS_13),
                    &join_req("1.1", "000013", &counter, replayed, 99),
                )
                .await;
            assert_eq!(code(&answer), "JoinReqFailed", "{answer}");
            assert!(answer["Result"]["Description"]
                .as_str()
                .is_some_and(|d| d.contains("DevNonce")));
        }
        let shown = jsd
            .console
            .show(Caller::Console, counter.dev_eui)
            .await
            .expect("show");
        assert_eq!(
            (shown.dev_nonce_last, shown.join_nonce_last),
            (Some(10), Some(3))
        );
        assert!(matches!(shown.state, DeviceState::Activated { .. }));

        // A 1.0.2 device: random DevNonces, any order, never twice. TS002 1.0 this time.
        for dev_nonce in [500u16, 7, 65535] {
            let request = join_req("1.0", "000013", &random, dev_nonce, 5);
            let (_, answer) = jsd.bi(Some(TOKEN_NS_13), &request).await;
            assert_eq!(code(&answer), "Success", "{answer}");
            assert_eq!(answer["ProtocolVersion"], "1.0");
        }
        let (_, answer) = jsd
            .bi(Some(TOKEN_NS_13), &join_req("1.0", "000013", &random, 7, 6))
            .await;
        assert_eq!(code(&answer), "JoinReqFailed", "{answer}");
        jsd.stop().await;
        scratch.drop_now().await;
    }
}

#[tokio::test]
async fn joins_and_rejoins_1_1_devices() {
    for (engine, scratch) in engines().await {
        let jsd = TestJsd::start(&scratch, "").await;
        let device = TestDevice::new(3, "1.1");
        let nwk_key = device.nwk_key.expect("1.1");
        jsd.provision(std::slice::from_ref(&device), Some(home(net_13())))
            .await;

        let request = join_req("1.1", "000013", &device, 1, 1);
        let (_, answer) = jsd.bi(Some(TOKEN_NS_13), &request).await;
        assert_eq!(code(&answer), "Success", "{engine:?} {answer}");
        let accepted = accept(&answer, &nwk_key);
        assert!(accepted.dl_settings().opt_neg());
        let join_nonce = accepted.join_nonce();
        let Message::JoinAns(ans) = decode(&answer) else {
            panic!("not a JoinAns")
        };
        let keys = derive_1_1(&nwk_key, &device.app_key, join_nonce, device.join_eui, 1);
        assert_eq!(
            unwrap(ans.f_nwk_s_int_key.as_ref(), Some(KEK_NS_13)),
            keys.f_nwk_s_int_key
        );
        assert_eq!(
            unwrap(ans.s_nwk_s_int_key.as_ref(), Some(KEK_NS_13)),
            keys.s_nwk_s_int_key
        );
        assert_eq!(
            unwrap(ans.nwk_s_enc_key.as_ref(), Some(KEK_NS_13)),
            keys.nwk_s_enc_key
        );
        assert_eq!(
            unwrap(ans.app_s_key.as_ref(), Some(KEK_NS_13)),
            keys.app_s_key
        );

        // Rejoin-request type 1 (MIC with JSIntKey); RJcount1 must increase.
        let rejoin = |rj_count: u16, tid: u32| {
            let phy = build_rejoin_request(
                &MicKey::new(&js_int_key(&nwk_key, device.dev_eui)),
                RejoinIdent::JoinEui(device.join_eui),
                device.dev_eui,
                rj_count,
            );
            merge(
                header(
                    "1.1",
                    "RejoinReq",
                    "000013",
                    &device.join_eui.to_string(),
                    tid,
                ),
                json!({
                    "MACVersion": "1.1",
                    "PHYPayload": hex(&phy),
                    "DevEUI": device.dev_eui.to_string(),
                    "DevAddr": "26011bdb",
                    "DLSettings": "83",
                    "RxDelay": 1,
                }),
            )
        };
        let request = rejoin(1, 2);
        let (_, answer) = jsd.bi(Some(TOKEN_NS_13), &request).await;
        assert_eq!(code(&answer), "Success", "{answer}");
        assert_answers(&request, &answer, "RejoinAns");
        let accepted = accept(&answer, &js_enc_key(&nwk_key, device.dev_eui));
        assert_eq!(accepted.join_nonce().get(), join_nonce.get() + 1);
        let (_, answer) = jsd.bi(Some(TOKEN_NS_13), &rejoin(1, 3)).await;
        assert_eq!(code(&answer), "JoinReqFailed", "{answer}");
        let (_, answer) = jsd
            .bi(Some(TOKEN_NS_14), &{
                let mut r = rejoin(2, 4);
                r["SenderID"] = json!("000014");
                r
            })
            .await;
        assert_eq!(code(&answer), "ActivationDisallowed", "{answer}");
        jsd.stop().await;
        scratch.drop_now().await;
    }
}

#[tokio::test]
async fn home_ns_req_tells_a_claimed_devices_home() {
    let scratch = service::testing::ScratchDatabase::create(service::testing::Engine::Sqlite).await;
    let jsd = TestJsd::start(&scratch, "").await;
    let claimed = TestDevice::new(4, "1.1");
    let generic = TestDevice::new(5, "1.0.4");
    let nsid: Eui64 = "70b3d57ed0000013".parse().expect("EUI");
    jsd.provision(
        std::slice::from_ref(&claimed),
        Some(Home {
            net_id: net_13(),
            nsid: Some(nsid),
        }),
    )
    .await;
    jsd.provision(std::slice::from_ref(&generic), None).await;

    let ask = |protocol: &str, device: &TestDevice| {
        merge(
            header(
                protocol,
                "HomeNSReq",
                "000014",
                &device.join_eui.to_string(),
                77,
            ),
            json!({ "DevEUI": device.dev_eui.to_string() }),
        )
    };
    // Any network may ask (here a foreign one, 000014).
    let request = ask("1.1", &claimed);
    let (_, answer) = jsd.bi(Some(TOKEN_NS_14), &request).await;
    assert_eq!(code(&answer), "Success", "{answer}");
    assert_answers(&request, &answer, "HomeNSAns");
    assert_eq!(answer["HNetID"], "000013");
    assert_eq!(answer["HNSID"], "70b3d57ed0000013");
    let (_, answer) = jsd.bi(Some(TOKEN_NS_14), &ask("1.0", &claimed)).await;
    assert_eq!(code(&answer), "Success", "{answer}");
    assert!(answer.get("HNSID").is_none(), "1.0 has no HNSID: {answer}");
    let (_, answer) = jsd.bi(Some(TOKEN_NS_14), &ask("1.1", &generic)).await;
    assert_eq!(code(&answer), "UnknownDevEUI", "{answer}");
    let (_, answer) = jsd
        .bi(Some(TOKEN_NS_14), &ask("1.1", &TestDevice::new(99, "1.1")))
        .await;
    assert_eq!(code(&answer), "UnknownDevEUI", "{answer}");
    jsd.stop().await;
    scratch.drop_now().await;
}

#[tokio::test]
async fn the_app_s_key_is_withheld_for_the_application_server() {
    for (engine, scratch) in engines().await {
        let jsd = TestJsd::start(&scratch, "").await;
        let device = TestDevice::new(6, "1.0.4");
        jsd.provision(std::slice::from_ref(&device), Some(home(net_13())))
            .await;
        jsd.console
            .set_app_s_key_delivery(
                Caller::Console,
                device.dev_eui,
                DeliveryView::ApplicationServer {
                    as_id: "as-1".into(),
                },
            )
            .await
            .expect("delivery set");

        let (_, answer) = jsd
            .bi(Some(TOKEN_NS_13), &join_req("1.1", "000013", &device, 1, 1))
            .await;
        assert_eq!(code(&answer), "Success", "{engine:?} {answer}");
        assert!(answer.get("AppSKey").is_none(), "withheld: {answer}");
        let session_key_id = answer["SessionKeyID"]
            .as_str()
            .expect("SessionKeyID")
            .to_owned();
        let join_nonce = accept(&answer, &device.app_key).join_nonce();
        let expected = derive_1_0(&device.app_key, join_nonce, net_13(), 1).app_s_key;

        let ask = |sender: &str, session: &str| {
            merge(
                header(
                    "1.1",
                    "AppSKeyReq",
                    sender,
                    &device.join_eui.to_string(),
                    31,
                ),
                json!({ "DevEUI": device.dev_eui.to_string(), "SessionKeyID": session }),
            )
        };
        let request = ask("as-1", &session_key_id);
        let (_, answer) = jsd.bi(Some(TOKEN_AS_1), &request).await;
        assert_eq!(code(&answer), "Success", "{answer}");
        assert_answers(&request, &answer, "AppSKeyAns");
        let Message::AppSKeyAns(ans) = decode(&answer) else {
            panic!("not an AppSKeyAns")
        };
        assert_eq!(
            ans.app_s_key.as_ref().and_then(|k| k.label()),
            Some("as-1-kek")
        );
        assert_eq!(unwrap(ans.app_s_key.as_ref(), Some(KEK_AS_1)), expected);

        // Another application server, and a session that does not exist.
        let (_, answer) = jsd
            .bi(Some(TOKEN_AS_2), &ask("as-2", &session_key_id))
            .await;
        assert_eq!(code(&answer), "UnknownSender", "{answer}");
        let (_, answer) = jsd
            .bi(
                Some(TOKEN_AS_1),
                &ask("as-1", "00112233445566778899aabbccddeeff"),
            )
            .await;
        assert_eq!(code(&answer), "UnknownDevEUI", "{answer}");
        // as-1's token cannot pose as as-2.
        let (_, answer) = jsd
            .bi(Some(TOKEN_AS_1), &ask("as-2", &session_key_id))
            .await;
        assert_eq!(code(&answer), "UnknownSender", "{answer}");
        jsd.stop().await;
        scratch.drop_now().await;
    }
}

#[tokio::test]
async fn every_refusal_is_a_well_formed_answer_with_its_result_code() {
    let scratch = service::testing::ScratchDatabase::create(service::testing::Engine::Sqlite).await;
    let jsd = TestJsd::start(&scratch, "").await;
    let device = TestDevice::new(7, "1.0.4");
    let generic = TestDevice::new(8, "1.0.4");
    jsd.provision(std::slice::from_ref(&device), Some(home(net_13())))
        .await;
    jsd.provision(std::slice::from_ref(&generic), None).await;
    let ok = join_req("1.1", "000013", &device, 1, 1);

    let mut cases: Vec<(&str, Option<&str>, Value, &str)> = vec![
        ("no token", None, ok.clone(), "UnknownSender"),
        (
            "unknown token",
            Some("not-a-token-of-anyone"),
            ok.clone(),
            "UnknownSender",
        ),
        (
            "a token posing as another NetID",
            Some(TOKEN_NS_13),
            merge(ok.clone(), json!({"SenderID": "000014"})),
            "UnknownSender",
        ),
        (
            "an application server sending JoinReq",
            Some(TOKEN_AS_1),
            merge(ok.clone(), json!({"SenderID": "as-1"})),
            "MalformedMessage",
        ),
        (
            "not the home network",
            Some(TOKEN_NS_14),
            join_req("1.1", "000014", &device, 1, 2),
            "ActivationDisallowed",
        ),
        (
            "a device nobody claimed",
            Some(TOKEN_NS_13),
            join_req("1.1", "000013", &generic, 1, 3),
            "ActivationDisallowed",
        ),
        (
            "an unknown device",
            Some(TOKEN_NS_13),
            join_req("1.1", "000013", &TestDevice::new(98, "1.0.4"), 1, 4),
            "UnknownDevEUI",
        ),
        (
            "a bad MIC",
            Some(TOKEN_NS_13),
            {
                let mut other = device.clone();
                other.app_key = AesKey::new([0xee; 16]);
                join_req("1.1", "000013", &other, 1, 5)
            },
            "MICFailed",
        ),
        (
            "a JoinEUI the device was not provisioned with",
            Some(TOKEN_NS_13),
            {
                let mut other = device.clone();
                other.join_eui = Eui64::from_u64(0x70b3_d57e_d000_0099);
                join_req("1.1", "000013", &other, 1, 6)
            },
            "JoinReqFailed",
        ),
        (
            "a PHYPayload too short for a join-request",
            Some(TOKEN_NS_13),
            merge(ok.clone(), json!({"PHYPayload": "00010203"})),
            "FrameSizeError",
        ),
        (
            "a malformed field, TS002 1.1",
            Some(TOKEN_NS_13),
            merge(ok.clone(), json!({"DevAddr": "xyz"})),
            "MalformedMessage",
        ),
        (
            "a malformed field, TS002 1.0",
            Some(TOKEN_NS_13),
            merge(
                ok.clone(),
                json!({"ProtocolVersion": "1.0", "DLSettings": 3}),
            ),
            "MalformedRequest",
        ),
        (
            "a message a join server does not serve",
            Some(TOKEN_NS_13),
            merge(
                header("1.1", "PRStartReq", "000013", "000014", 9),
                json!({"PHYPayload": "40", "ULMetaData": {"DataRate": 5, "ULFreq": 868.1, "RecvTime": "2026-11-22T00:00:00Z", "RFRegion": "EU868", "GWCnt": 1, "GWInfo": []}}),
            ),
            "Other",
        ),
    ];
    // The roaming hub may send as any NetID: its JoinReq for the home network succeeds.
    cases.push((
        "the hub for the home network",
        Some(TOKEN_HUB),
        ok.clone(),
        "Success",
    ));

    for (what, token, request, expected) in &cases {
        let (status, answer) = jsd.bi(*token, request).await;
        assert_eq!(status, 200, "{what}: {answer}");
        assert_eq!(code(&answer), *expected, "{what}: {answer}");
        assert_eq!(answer["TransactionID"], request["TransactionID"], "{what}");
        if *expected != "Success" {
            assert!(
                answer["Result"]["Description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{what}: a refusal says why: {answer}"
            );
            assert!(answer.get("PHYPayload").is_none(), "{what}: {answer}");
        }
    }
    jsd.stop().await;
    scratch.drop_now().await;
}

#[tokio::test]
async fn concurrent_joins_of_one_device_never_repeat_a_join_nonce() {
    for (engine, scratch) in engines().await {
        let jsd = std::sync::Arc::new(TestJsd::start(&scratch, "").await);
        let device = TestDevice::new(9, "1.0.2");
        jsd.provision(std::slice::from_ref(&device), Some(home(net_13())))
            .await;
        let mut tasks = Vec::new();
        for dev_nonce in 1..=32u16 {
            let jsd = std::sync::Arc::clone(&jsd);
            let request = join_req("1.1", "000013", &device, dev_nonce, dev_nonce.into());
            tasks.push(tokio::spawn(async move {
                jsd.bi(Some(TOKEN_NS_13), &request).await.1
            }));
        }
        let mut join_nonces = Vec::new();
        for task in tasks {
            let answer = task.await.expect("task");
            match code(&answer) {
                "Success" => join_nonces.push(accept(&answer, &device.app_key).join_nonce().get()),
                other => panic!("{engine:?}: unexpected {other}: {answer}"),
            }
        }
        let accepted = join_nonces.len();
        join_nonces.sort_unstable();
        join_nonces.dedup();
        assert_eq!(
            join_nonces.len(),
            accepted,
            "{engine:?}: a JoinNonce was sent twice"
        );
        // Random DevNonces (1.0.2): every distinct one is accepted, whatever the order.
        assert_eq!(accepted, 32, "{engine:?}: only {accepted} of 32 accepted");
        let shown = jsd
            .console
            .show(Caller::Console, device.dev_eui)
            .await
            .expect("show");
        assert_eq!(shown.join_nonce_last, join_nonces.last().copied());
        match std::sync::Arc::try_unwrap(jsd) {
            Ok(jsd) => jsd.stop().await,
            Err(_) => panic!("tasks done"),
        }
        scratch.drop_now().await;
    }
}

#[tokio::test]
async fn answers_are_written_in_each_peers_dialect() {
    let scratch = service::testing::ScratchDatabase::create(service::testing::Engine::Sqlite).await;
    let extra = r#"
[[peers]]
name = "tts-15"
token = "token-of-tts-000015-abcdef"
net_ids = ["000015"]
dialect = "tts"

[[peers]]
name = "chirpstack-16"
token = "token-of-cs-000016-abcdefg"
net_ids = ["000016"]
dialect = "chirpstack"
"#;
    let jsd = TestJsd::start(&scratch, extra).await;
    let device = TestDevice::new(30, "1.0.4");
    let net_15 = lorawan::ids::NetId::from_u32(0x15).expect("24 bits");
    jsd.provision(std::slice::from_ref(&device), Some(home(net_15)))
        .await;

    // The Things Stack: upper-case hex.
    let (_, answer) = jsd
        .bi(
            Some("token-of-tts-000015-abcdef"),
            &join_req("1.1", "000015", &device, 1, 1),
        )
        .await;
    assert_eq!(code(&answer), "Success", "{answer}");
    let phy = answer["PHYPayload"].as_str().expect("PHYPayload");
    assert_eq!(phy, phy.to_ascii_uppercase(), "{answer}");

    // ChirpStack v4 knows no MalformedMessage: its refusals say MalformedRequest, even in 1.1.
    let malformed = merge(
        join_req("1.1", "000016", &device, 2, 2),
        json!({"DevAddr": "xyz"}),
    );
    let (_, answer) = jsd.bi(Some("token-of-cs-000016-abcdefg"), &malformed).await;
    assert_eq!(code(&answer), "MalformedRequest", "{answer}");
    jsd.stop().await;
    scratch.drop_now().await;
}
