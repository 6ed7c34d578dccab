//! The LRC-AS tunnel of the real nsd, end to end: a device's uplink heard over real UDP is
//! reported to a real HTTP application server on loopback, signed; the AS's downlink request
//! (API v2, signed) is queued, reaches the device in its next RX1, and the AS hears of it in a
//! `DevEUI_downlink_Sent` report. A multicast group linked to the AS (`[[tunnel.multicast]]`)
//! gets a `DevEUI_multicast_summary` for each frame sent.

mod common;

use std::time::{Duration, SystemTime};

use axum::extract::RawQuery;
use axum::routing::post;
use axum::Router;
use common::*;
use conformance_tests::sim::{Heard, RadioParams, Uplink};
use lorawan::ids::{AesKey, Eui64};
use lorawan::join::MacVersion;
use nsd::device::Device;
use nsd::tunnel::config::{AsProfileConfig, ContentTypeConfig, DeviceAsLink, RouteConfig};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

const AS_KEY: &str = "46ab678cd45df4a4e4b375eacd096acc";

/// A report as the application server received it.
struct Received {
    query: String,
    body: Value,
}

async fn application_server() -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/as",
        post(move |RawQuery(query): RawQuery, body: String| {
            let tx = tx.clone();
            async move {
                let body = serde_json::from_str(&body).unwrap_or(Value::Null);
                let _ = tx.send(Received {
                    query: query.unwrap_or_default(),
                    body,
                });
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/as"), rx)
}

fn decode(text: &str) -> String {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf8")
}

/// §6.5.2 as the application server checks it: SHA-256 of the body elements, the query
/// line without its Token, and the key.
fn signed(received: &Received, elements: &str) -> bool {
    let mut token = None;
    let mut rest = Vec::new();
    for pair in received.query.split('&') {
        match pair.strip_prefix("Token=") {
            Some(t) => token = Some(t.to_owned()),
            None => rest.push(decode(pair)),
        }
    }
    let digest: String = Sha256::digest(format!("{elements}{}{AS_KEY}", rest.join("&")))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    token.as_deref() == Some(digest.as_str())
}

async fn next_report(reports: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(WAIT, reports.recv())
        .await
        .expect("a report in time")
        .expect("AS running")
}

#[tokio::test]
async fn uplinks_are_reported_signed_and_the_as_downlink_reaches_the_device() {
    let (as_url, mut reports) = application_server().await;
    let running = start_with(1, |config| {
        config.tunnel.as_profiles.push(AsProfileConfig {
            as_id: "as-1".into(),
            key: Some(service::config::Secret(AS_KEY.parse().expect("key"))),
            transport_key: None,
            max_time_deviation_s: 60,
            max_in_flight: 4,
            timeout_ms: 2000,
            routes: vec![RouteConfig {
                url: as_url.clone(),
                content_type: ContentTypeConfig::Json,
            }],
        });
    })
    .await;
    abp_device(&running.server, MacVersion::V1_0_4, 7).await;
    // The same device, now linked to its application server.
    running
        .server
        .put_device(
            Device {
                dev_eui: Eui64::from_u64(7),
                name: "meter".into(),
                tenant: "acme".into(),
                profile: "abp".into(),
                join_eui: None,
                roaming: false,
                as_link: Some(DeviceAsLink {
                    as_id: "as-1".into(),
                    lrn_infos: String::new(),
                    customer_id: "100".into(),
                    customer_data: None,
                    driver_cfg: None,
                    downlink_rate_per_s: None,
                    downlink_burst: None,
                    confirmed_downlinks: true,
                }),
            },
            Some(test_session(MacVersion::V1_0_4)),
        )
        .await
        .expect("linked");
    let mut device = sim_device(MacVersion::V1_0_4);
    let radio = RadioParams::eu868(5, 0).expect("channel");
    let heard = [Heard::new(0, -80, 7.5)];

    // The uplink, reported and signed.
    let up = device
        .uplink(&Uplink::unconfirmed(2, b"hi"))
        .expect("uplink");
    running.sim.uplink(&up, &radio, &heard).await.expect("sent");
    let report = next_report(&mut reports).await;
    let uplink = &report.body["DevEUI_uplink"];
    assert_eq!(uplink["DevEUI"], "0000000000000007", "{}", report.body);
    assert_eq!(uplink["FPort"], 2);
    assert_eq!(uplink["FCntUp"], 0);
    assert_eq!(uplink["payload_hex"], "6869");
    assert!(
        signed(&report, "1000000000000000007206869"),
        "{}",
        report.query
    );
    // The new session's first answer (the MAC layer's DevStatusReq) is not the AS's.
    if let Some(down) = running.sim.next_downlink(WAIT).await {
        device.accept_downlink(&down.phy).expect("valid");
    }
    while tokio::time::timeout(Duration::from_millis(300), reports.recv())
        .await
        .is_ok()
    {}

    // The AS sends a downlink through API v2, signed (§7.3).
    let time = nsd::tunnel::time::format(SystemTime::now());
    let query = format!("DevEUI=0000000000000007&FPort=3&Payload=aabb&AS_ID=as-1&Time={time}");
    let key: AesKey = AS_KEY.parse().expect("key");
    let token = nsd::tunnel::token::downlink_token(query.as_bytes(), &key);
    let url = format!(
        "{}/thingpark/lrc/rest/v2/downlink?DevEUI=0000000000000007&FPort=3&Payload=aabb&AS_ID=as-1&Time={}&Token={}",
        running.http,
        nsd::tunnel::time::url_encode(&time),
        nsd::tunnel::token::to_hex(&token)
    );
    let answer = reqwest::Client::new().post(url).send().await.expect("HTTP");
    assert_eq!(answer.status(), 202, "{:?}", answer.text().await);

    // It goes down after the next uplink.
    let up = device
        .uplink(&Uplink::unconfirmed(2, b"ok"))
        .expect("uplink");
    running.sim.uplink(&up, &radio, &heard).await.expect("sent");
    let down = running
        .sim
        .next_downlink(WAIT)
        .await
        .expect("the AS's frame");
    let frame = device.accept_downlink(&down.phy).expect("valid downlink");
    assert_eq!(
        (frame.fport, frame.payload.as_slice()),
        (Some(3), &[0xaa, 0xbb][..])
    );

    // The AS hears of the uplink and of its frame's delivery, in either order.
    let mut sent = None;
    for _ in 0..2 {
        let report = next_report(&mut reports).await;
        if report.body.get("DevEUI_downlink_Sent").is_some() {
            sent = Some(report);
        }
    }
    let sent = sent.expect("a DevEUI_downlink_Sent report");
    let body = &sent.body["DevEUI_downlink_Sent"];
    assert_eq!(body["DeliveryStatus"], 1, "{}", sent.body);
    assert_eq!(body["FPort"], 3);
    assert!(
        signed(
            &sent,
            &format!("1000000000000000007{}{}", 3, body["FCntDn"])
        ),
        "{}",
        sent.query
    );

    // A token made with another key is refused with the seed's code.
    let url = format!(
        "{}/thingpark/lrc/rest/v2/downlink?DevEUI=0000000000000007&FPort=3&Payload=aabb&AS_ID=as-1&Time={}&Token={}",
        running.http,
        nsd::tunnel::time::url_encode(&time),
        "00".repeat(32)
    );
    let answer = reqwest::Client::new().post(url).send().await.expect("HTTP");
    assert_eq!(answer.status(), 409);
    let refusal: Value = serde_json::from_str(&answer.text().await.expect("body")).expect("JSON");
    assert!(refusal["code"].is_number(), "{refusal}");
    running.daemon.stop().await.expect("stops");
}

#[tokio::test]
async fn a_multicast_frame_is_summarised_to_the_groups_as() {
    let (as_url, mut reports) = application_server().await;
    let gateways = [SimGatewaySpec {
        tags: vec!["city".into()],
        location: Some((48.8566, 2.3522)),
    }];
    let running = start_specs_with(&gateways, |config| {
        config.tunnel.as_profiles.push(AsProfileConfig {
            as_id: "as-1".into(),
            key: Some(service::config::Secret(AS_KEY.parse().expect("key"))),
            transport_key: None,
            max_time_deviation_s: 60,
            max_in_flight: 4,
            timeout_ms: 2000,
            routes: vec![RouteConfig {
                url: as_url.clone(),
                content_type: ContentTypeConfig::Json,
            }],
        });
        config
            .tunnel
            .multicast
            .push(nsd::tunnel::config::MulticastLinkConfig {
                group: "lights".into(),
                dev_eui: "70B3D5FFFE000001".into(),
                as_id: "as-1".into(),
                lrn_infos: String::new(),
                customer_id: "100".into(),
            });
    })
    .await;
    let http = reqwest::Client::new();
    let group = serde_json::json!({
        "dev_addr": "01020304",
        "mc_nwk_s_key": "11111111111111111111111111111111",
        "mc_app_s_key": "22222222222222222222222222222222",
        "f_cnt": 5,
        "region": "EU868",
        "gateway_tags": ["city"],
    });
    let put = http
        .put(format!("{}/api/multicast-groups/lights", running.http))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(group.to_string())
        .send()
        .await
        .expect("HTTP");
    assert_eq!(put.status(), 200);
    let sent = http
        .post(format!(
            "{}/api/multicast-groups/lights/queue",
            running.http
        ))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"f_port": 200, "payload_hex": "0102"}"#)
        .send()
        .await
        .expect("HTTP");
    assert_eq!(sent.status(), 200);
    let report = next_report(&mut reports).await;
    let summary = &report.body["DevEUI_multicast_summary"];
    assert_eq!(summary["DevEUI"], "70B3D5FFFE000001", "{}", report.body);
    assert_eq!(summary["DevAddr"], "01020304");
    assert_eq!(summary["FPort"], 200);
    assert_eq!(summary["FCntDn"], 5);
    assert_eq!(summary["TransmissionStatus"], "SENT");
    assert_eq!(
        (summary["LrrCnt"].clone(), summary["LrrSuccessCnt"].clone()),
        (1.into(), 1.into())
    );
    assert!(signed(&report, "10070B3D5FFFE000001"), "{}", report.query);
    running.daemon.stop().await.expect("stops");
}

#[tokio::test]
async fn an_abp_counter_reset_is_notified_as_automatic_reset() {
    let (as_url, mut reports) = application_server().await;
    let running = start_with(1, |config| {
        config.tunnel.as_profiles.push(AsProfileConfig {
            as_id: "as-1".into(),
            key: Some(service::config::Secret(AS_KEY.parse().expect("key"))),
            transport_key: None,
            max_time_deviation_s: 60,
            max_in_flight: 4,
            timeout_ms: 2000,
            routes: vec![RouteConfig {
                url: as_url.clone(),
                content_type: ContentTypeConfig::Json,
            }],
        });
    })
    .await;
    // A LoRaWAN 1.0.3 device whose profile allows counter resets (seed 001 §6.4.1: "1.0
    // when ABP automatic reset is allowed").
    let mut profile = nsd::device::DeviceProfile::defaults(
        "abp103",
        lorawan::region::Region::Eu868,
        MacVersion::V1_0_3,
    );
    profile.supports_join = false;
    profile.abp_counter_reset = true;
    running.server.put_profile(profile).await.expect("profile");
    running
        .server
        .put_device(
            Device {
                dev_eui: Eui64::from_u64(9),
                name: "old meter".into(),
                tenant: "acme".into(),
                profile: "abp103".into(),
                join_eui: None,
                roaming: false,
                as_link: Some(DeviceAsLink {
                    as_id: "as-1".into(),
                    lrn_infos: String::new(),
                    customer_id: "100".into(),
                    customer_data: None,
                    driver_cfg: None,
                    downlink_rate_per_s: None,
                    downlink_burst: None,
                    confirmed_downlinks: true,
                }),
            },
            Some(test_session(MacVersion::V1_0_3)),
        )
        .await
        .expect("device");
    let radio = RadioParams::eu868(5, 0).expect("channel");
    let heard = [Heard::new(0, -80, 7.5)];
    let mut device = sim_device(MacVersion::V1_0_3);
    for payload in [b"a", b"b"] {
        let up = device
            .uplink(&Uplink::unconfirmed(2, payload))
            .expect("uplink");
        running.sim.uplink(&up, &radio, &heard).await.expect("sent");
        let report = next_report(&mut reports).await;
        assert!(
            report.body.get("DevEUI_uplink").is_some(),
            "{}",
            report.body
        );
    }
    // The device reboots: its counter starts again at 0.
    let mut rebooted = sim_device(MacVersion::V1_0_3);
    let up = rebooted
        .uplink(&Uplink::unconfirmed(2, b"c"))
        .expect("uplink");
    running.sim.uplink(&up, &radio, &heard).await.expect("sent");
    let mut notification = None;
    for _ in 0..2 {
        let report = next_report(&mut reports).await;
        if report.body.get("DevEUI_notification").is_some() {
            notification = Some(report);
        }
    }
    let report = notification.expect("a reset notification");
    let n = &report.body["DevEUI_notification"];
    assert_eq!(
        (n["Type"].clone(), n["Var1"].clone()),
        ("reset".into(), "automatic_reset".into()),
        "{}",
        report.body
    );
    assert!(n["FCntDn"].is_number(), "1.0: FCntDn: {}", report.body);
    assert!(signed(&report, "1000000000000000009"), "{}", report.query);
    running.daemon.stop().await.expect("stops");
}
