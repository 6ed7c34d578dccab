//! The LRC-AS tunnel of the real nsd over HTTP on loopback: every downlink code of API v1 and
//! v2 (those that depend on network state — unknown device, counters of AS-encrypted
//! payloads, full queue, encryption required, token bucket — come from the real network
//! server), reports in XML and untyped JSON with their tokens, the 1.1 `ResetInd` and
//! `devstatusans` notifications, and a slow or failing AS not slowing a healthy one.

mod common;

use std::time::{Duration, SystemTime};

use axum::extract::RawQuery;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use common::*;
use conformance_tests::sim::{Heard, RadioParams, Uplink};
use lorawan::ids::{AesKey, DevAddr, Eui64};
use lorawan::join::MacVersion;
use lorawan::region::Region;
use nsd::app::NetworkServer;
use nsd::device::{Device, DeviceProfile, NetworkKeys, Session, SessionKeys};
use nsd::tunnel::config::{AsProfileConfig, ContentTypeConfig, DeviceAsLink, RouteConfig};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

const AS_KEY: &str = "46ab678cd45df4a4e4b375eacd096acc";
const ZERO_KEY: &str = "00000000000000000000000000000000";

/// A report as the application server received it.
#[derive(Debug)]
struct Received {
    query: String,
    content_type: String,
    body: String,
}

/// An application server on loopback answering after `delay`; its URL and its reports.
async fn application_server(delay: Duration) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/as",
        post(
            move |RawQuery(query): RawQuery, headers: HeaderMap, body: String| {
                let tx = tx.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    let _ = tx.send(Received {
                        query: query.unwrap_or_default(),
                        content_type: headers
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned(),
                        body,
                    });
                    "ok"
                }
            },
        ),
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

fn profile(
    as_id: &str,
    routes: Vec<(String, ContentTypeConfig)>,
    timeout_ms: u64,
) -> AsProfileConfig {
    AsProfileConfig {
        as_id: as_id.into(),
        key: Some(service::config::Secret(AS_KEY.parse().expect("key"))),
        transport_key: None,
        max_time_deviation_s: 60,
        max_in_flight: 2,
        timeout_ms,
        routes: routes
            .into_iter()
            .map(|(url, content_type)| RouteConfig { url, content_type })
            .collect(),
    }
}

/// Provisions ABP device `n` of `version` linked to `as_id` (address ADDR + n); `app_s_key`
/// `None`: the AS holds it.
async fn linked_device(
    server: &NetworkServer,
    n: u64,
    version: MacVersion,
    as_id: &str,
    app_s_key: Option<[u8; 16]>,
    rate: Option<u32>,
) {
    let profile_id = format!("abp-{version:?}");
    let mut profile = DeviceProfile::defaults(&profile_id, Region::Eu868, version);
    profile.supports_join = false;
    server.put_profile(profile).await.expect("profile");
    let network = if version >= MacVersion::V1_1 {
        NetworkKeys::V1_1 {
            f_nwk_s_int_key: AesKey::new(NWK_S_KEY),
            s_nwk_s_int_key: AesKey::new(S_NWK_S_INT_KEY),
            nwk_s_enc_key: AesKey::new(NWK_S_ENC_KEY),
        }
    } else {
        NetworkKeys::V1_0 {
            nwk_s_key: AesKey::new(NWK_S_KEY),
        }
    };
    let addr = ADDR + u32::try_from(n).expect("small");
    server
        .put_device(
            Device {
                dev_eui: Eui64::from_u64(n),
                name: format!("d{n}"),
                tenant: "acme".into(),
                profile: profile_id,
                join_eui: None,
                roaming: false,
                as_link: (!as_id.is_empty()).then(|| DeviceAsLink {
                    as_id: as_id.into(),
                    lrn_infos: "UPHTTP_LAB_LORA".into(),
                    customer_id: "100".into(),
                    customer_data: None,
                    driver_cfg: None,
                    downlink_rate_per_s: rate.and_then(std::num::NonZeroU32::new),
                    downlink_burst: None,
                    confirmed_downlinks: true,
                }),
            },
            Some(Session::new(
                DevAddr::from_be_bytes(addr.to_be_bytes()),
                version,
                SessionKeys {
                    network,
                    app_s_key: app_s_key.map(AesKey::new),
                },
            )),
        )
        .await
        .expect("device");
}

/// A signed downlink query line: `params` then AS_ID, Time and Token (key `key_hex`).
fn signed_query(params: &str, as_id: &str, key_hex: &str) -> String {
    let time = nsd::tunnel::time::format(SystemTime::now());
    let raw = format!("{params}&AS_ID={as_id}&Time={time}");
    let key: AesKey = key_hex.parse().expect("key");
    let token = nsd::tunnel::token::downlink_token(raw.as_bytes(), &key);
    format!(
        "{params}&AS_ID={as_id}&Time={}&Token={}",
        nsd::tunnel::time::url_encode(&time),
        nsd::tunnel::token::to_hex(&token)
    )
}

/// POSTs `query` to API `version`; the status and the body.
async fn downlink(base: &str, version: &str, query: &str) -> (u16, String) {
    let path = if version == "v1" {
        "/thingpark/lrc/rest/downlink"
    } else {
        "/thingpark/lrc/rest/v2/downlink"
    };
    let r = reqwest::Client::new()
        .post(format!("{base}{path}?{query}"))
        .send()
        .await
        .expect("HTTP");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// The v2 refusal body, checked to be a 409.
async fn v2_refusal(base: &str, query: &str) -> Value {
    let (status, body) = downlink(base, "v2", query).await;
    assert_eq!(status, 409, "{query}: {body}");
    serde_json::from_str(&body).expect("JSON 409 body")
}

#[tokio::test]
async fn every_downlink_code_of_v1_and_v2_from_the_real_nsd() {
    let running = start_with(0, |config| {
        config.tunnel.as_profiles.push(profile(
            "as-1",
            vec![("http://127.0.0.1:9/as".into(), ContentTypeConfig::Json)],
            500,
        ));
    })
    .await;
    let server = &running.server;
    let base = running.http.clone();
    linked_device(
        server,
        0x10,
        MacVersion::V1_0_4,
        "as-1",
        Some(APP_S_KEY),
        None,
    )
    .await;
    linked_device(server, 0x11, MacVersion::V1_0_4, "as-1", None, None).await;
    linked_device(
        server,
        0x12,
        MacVersion::V1_0_4,
        "as-1",
        Some(APP_S_KEY),
        Some(1),
    )
    .await;
    linked_device(server, 0x13, MacVersion::V1_0_4, "", Some(APP_S_KEY), None).await;
    let ok = |dev: &str, extra: &str| {
        signed_query(
            &format!("DevEUI={dev}&FPort=2&Payload=0102{extra}"),
            "as-1",
            AS_KEY,
        )
    };
    const D10: &str = "0000000000000010";

    // Accepted: v1 200 with the seed's text, v2 202 empty.
    assert_eq!(
        downlink(&base, "v1", &ok(D10, "&CorrelationID=4434704901C7450B")).await,
        (200, "Request queued by LRC".to_owned())
    );
    assert_eq!(
        downlink(&base, "v2", &ok(D10, "")).await,
        (202, String::new())
    );
    assert_eq!(
        server
            .queue(Eui64::from_u64(0x10))
            .await
            .expect("queue")
            .len(),
        2
    );

    // Refusals that need no device state, with their v2 code and v1 text.
    let cases: Vec<(String, Value, (u16, &str))> = vec![
        (ok("0000000000000099", ""), json!({"code":100,"message":"Invalid DevEUI"}), (350, "Invalid DevEUI")),
        // Known to the network server but linked to no AS: not the AS's device.
        (ok("0000000000000013", ""), json!({"code":100,"message":"Invalid DevEUI"}), (350, "Invalid DevEUI")),
        (
            signed_query(&format!("DevEUI={D10}&FPort=0&Payload=01"), "as-1", AS_KEY),
            json!({"code":104,"message":"Invalid LoRa port"}),
            (350, "Invalid LoRa port"),
        ),
        (
            signed_query(&format!("DevEUI={D10}&FPort=225&Payload=01"), "as-1", AS_KEY),
            json!({"code":104,"message":"Invalid LoRa port"}),
            (350, "Invalid LoRa port"),
        ),
        (
            format!("DevEUI={D10}&FPort=2&Payload=01&Time=2016-01-11T14%3A28%3A00.333%2B02%3A00"),
            json!({"code":105,"message":"Security Check: AS_ID is mandatory"}),
            (350, "Security Check. AS_ID is mandatory"),
        ),
        (
            signed_query(&format!("DevEUI={D10}&FPort=2&Payload=01"), "as-2", AS_KEY),
            json!({"code":107,"message":"Security Check: Bad AS_ID"}),
            (350, "Security Check. bad AS_ID"),
        ),
        (
            format!("DevEUI={D10}&FPort=2&Payload=01&AS_ID=as-1&Time=2016-01-11T14%3A28%3A00.333%2B02%3A00&Token=63a4ec6532937c9bcba109a75f731d6dc192c9df662dee56757634a8a6dc3f4c"),
            json!({"code":110,"message":"Security Check: Invalid downlink frame timestamp"}),
            (350, "Security Check. Invalid downlink frame timestamp"),
        ),
        (
            signed_query(&format!("DevEUI={D10}&FPort=2&Payload=01"), "as-1", ZERO_KEY),
            json!({"code":111,"message":"Security Check: Bad token"}),
            (350, "Security Check. bad token"),
        ),
        (
            ok(D10, "&ValidityTime=0"),
            json!({"code":112,"message":"Validity time expired or invalid"}),
            (350, "ValidityTime expired or invalid"),
        ),
        (
            signed_query(&format!("DevEUI={D10}&FPort=2&Payload=012"), "as-1", AS_KEY),
            json!({"code":113,"message":"Payload too big or invalid size"}),
            (350, "Payload too big or invalid size"),
        ),
        (
            ok(D10, "&CorrelationID=12"),
            json!({"code":117,"message":"Invalid Correlation ID. Must be a 64 bits hexadecimal value encoded as string"}),
            (350, "Invalid CorrelationID. Must be a 64 bits hexadecimal value encoded as string"),
        ),
    ];
    for (query, v2, (status, text)) in &cases {
        assert_eq!(&v2_refusal(&base, query).await, v2, "v2 {query}");
        assert_eq!(
            downlink(&base, "v1", query).await,
            (*status, (*text).to_owned()),
            "v1 {query}"
        );
    }
    let missing_time = format!("DevEUI={D10}&FPort=2&Payload=01&AS_ID=as-1");
    assert_eq!(v2_refusal(&base, &missing_time).await["code"], 106);
    assert_eq!(
        downlink(&base, "v1", &missing_time).await,
        (350, "Security Check. missing timestamp/token".to_owned())
    );
    let malformed = format!(
        "DevEUI={D10}&FPort=2&Payload=01&AS_ID=as-1&Time=yesterday&Token={}",
        "0".repeat(64)
    );
    assert_eq!(v2_refusal(&base, &malformed).await["code"], 109);
    let short_token = format!(
        "DevEUI={D10}&FPort=2&Payload=01&AS_ID=as-1&Time={}&Token=abc",
        nsd::tunnel::time::url_encode(&nsd::tunnel::time::format(SystemTime::now()))
    );
    assert_eq!(v2_refusal(&base, &short_token).await["code"], 108);

    // The queue of the real network server: five frames, then refused (114 + maxQueueSize).
    for _ in 0..3 {
        assert_eq!(downlink(&base, "v2", &ok(D10, "")).await.0, 202);
    }
    let full = v2_refusal(&base, &ok(D10, "")).await;
    assert_eq!(full["code"], 114, "{full}");
    assert_eq!(full["maxQueueSize"], 5, "{full}");
    assert_eq!(
        downlink(&base, "v1", &ok(D10, "")).await,
        (350, "Downlink transmission disabled".to_owned())
    );
    // FlushDownlinkQueue empties it: the same request is now accepted.
    assert_eq!(
        downlink(&base, "v2", &ok(D10, "&FlushDownlinkQueue=1")).await,
        (202, String::new())
    );
    assert_eq!(
        server
            .queue(Eui64::from_u64(0x10))
            .await
            .expect("queue")
            .len(),
        1
    );

    // The AS holds the AppSKey of device 0x11: clear payloads are refused (119); its own
    // encrypted frames are checked against the session's FCntDown.
    const D11: &str = "0000000000000011";
    assert_eq!(
        v2_refusal(&base, &ok(D11, "")).await,
        json!({"code":119,"message":"Payload must be provided encrypted with the downlink counter value"})
    );
    let encrypted = |f_cnt: u32| {
        signed_query(
            &format!("DevEUI={D11}&FPort=2&Payload=0102&FCntDn={f_cnt}"),
            "as-1",
            AS_KEY,
        )
    };
    assert_eq!(
        downlink(&base, "v2", &encrypted(0)).await,
        (202, String::new())
    );
    assert_eq!(
        v2_refusal(&base, &encrypted(0)).await,
        json!({"code":101,"message":"Downlink counter value already used","expected":1})
    );
    assert_eq!(
        downlink(&base, "v1", &encrypted(0)).await,
        (
            350,
            "Downlink counter value already used. Expected=1".to_owned()
        )
    );
    let far = v2_refusal(&base, &encrypted(1 + 100_000)).await;
    assert_eq!(
        (far["code"].clone(), far["expected"].clone()),
        (json!(102), json!(1)),
        "{far}"
    );
    assert_eq!(
        downlink(&base, "v2", &encrypted(1)).await,
        (202, String::new())
    );

    // Device 0x12's token bucket: one downlink per second, DROP strategy.
    const D12: &str = "0000000000000012";
    assert_eq!(downlink(&base, "v2", &ok(D12, "")).await.0, 202);
    assert_eq!(
        v2_refusal(&base, &ok(D12, "")).await,
        json!({"code":121,"message":"Token bucket limit reached"})
    );

    // Seed 002's JSON body form, against the real queue.
    let body = json!({"DevEUI_downlink": {
        "Time": nsd::tunnel::time::format(SystemTime::now()),
        "DevEUI": D10, "FPort": 3, "payload_hex": "aabb",
        "AS_ID": "as-1", "AS_KEY": AS_KEY,
    }});
    let r = reqwest::Client::new()
        .post(format!("{base}/thingpark/lrc/rest/v2/downlink"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("JSON body");
    assert_eq!(r.status(), 202);
    assert_eq!(
        server
            .queue(Eui64::from_u64(0x10))
            .await
            .expect("queue")
            .len(),
        2
    );
    running.daemon.stop().await.expect("stops");
}

/// The simulated device of [`linked_device`] `n`.
fn sim(version: MacVersion, n: u64) -> conformance_tests::sim::Device {
    use conformance_tests::sim::crypto::DevAddr as SimDevAddr;
    use conformance_tests::sim::device::SessionKeys as SimKeys;
    use conformance_tests::sim::MacVersion as SimVersion;
    let addr = ADDR + u32::try_from(n).expect("small");
    let (v, keys) = if version >= MacVersion::V1_1 {
        (
            SimVersion::V1_1,
            SimKeys::V1_1 {
                f_nwk_s_int_key: NWK_S_KEY,
                s_nwk_s_int_key: S_NWK_S_INT_KEY,
                nwk_s_enc_key: NWK_S_ENC_KEY,
                app_s_key: APP_S_KEY,
            },
        )
    } else {
        (
            SimVersion::V1_0_4,
            SimKeys::V1_0 {
                nwk_s_key: NWK_S_KEY,
                app_s_key: APP_S_KEY,
            },
        )
    };
    conformance_tests::sim::Device::abp(v, SimDevAddr(addr), keys).expect("device")
}

/// `up` as sent on DR5 channel 0 (the 1.1 MIC covers TxDr and TxCh).
fn dr5(up: Uplink<'_>) -> Uplink<'_> {
    Uplink {
        tx_dr: 5,
        tx_ch: 0,
        ..up
    }
}

/// The next report whose body names `kind` (others are skipped).
async fn report_of(reports: &mut mpsc::UnboundedReceiver<Received>, kind: &str) -> Received {
    tokio::time::timeout(WAIT, async {
        loop {
            let r = reports.recv().await.expect("AS running");
            if r.body.contains(kind) {
                return r;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("a {kind} report in time"))
}

fn percent_decode(text: &str) -> String {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf8")
}

/// §6.5.2 as the AS checks it.
fn token_verifies(received: &Received, elements: &str) -> bool {
    let mut token = None;
    let mut rest = Vec::new();
    for pair in received.query.split('&') {
        match pair.strip_prefix("Token=") {
            Some(t) => token = Some(t.to_owned()),
            None => rest.push(percent_decode(pair)),
        }
    }
    let digest: String = Sha256::digest(format!("{elements}{}{AS_KEY}", rest.join("&")))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    token.as_deref() == Some(digest.as_str())
}

/// The text of the first `<name>` element of an XML report.
fn xml_field(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("{name} in {xml}")) + open.len();
    let end = xml[start..].find('<').expect("closing tag") + start;
    xml[start..end].to_owned()
}

#[tokio::test]
async fn xml_and_untyped_json_reports_and_notifications_from_the_real_nsd() {
    let (xml_url, mut xml) = application_server(Duration::ZERO).await;
    let (untyped_url, mut untyped) = application_server(Duration::ZERO).await;
    let mut running = start_with(1, |config| {
        config.tunnel.as_profiles.push(profile(
            "as-1",
            vec![
                (xml_url, ContentTypeConfig::Xml),
                (untyped_url, ContentTypeConfig::JsonUntyped),
            ],
            2000,
        ));
    })
    .await;
    linked_device(
        &running.server,
        0x30,
        MacVersion::V1_1,
        "as-1",
        Some(APP_S_KEY),
        None,
    )
    .await;
    let mut device = sim(MacVersion::V1_1, 0x30);
    let radio = RadioParams::eu868(5, 0).expect("channel");
    let heard = [Heard::new(0, -80, 7.5)];

    // An uplink: the XML report and its token; the untyped JSON one, every value a string.
    let up = device
        .uplink(&dr5(Uplink::unconfirmed(2, b"hi")))
        .expect("uplink");
    running.sim.uplink(&up, &radio, &heard).await.expect("sent");
    let report = report_of(&mut xml, "DevEUI_uplink").await;
    assert!(
        report.content_type.contains("xml"),
        "{}",
        report.content_type
    );
    assert!(
        report
            .body
            .contains("xmlns=\"http://uri.actility.com/lora\""),
        "{}",
        report.body
    );
    assert_eq!(xml_field(&report.body, "DevEUI"), "0000000000000030");
    assert_eq!(xml_field(&report.body, "payload_hex"), "6869");
    let elements = ["CustomerID", "DevEUI", "FPort", "FCntUp", "payload_hex"]
        .map(|f| xml_field(&report.body, f))
        .concat();
    assert_eq!(elements, "1000000000000000030206869");
    assert!(token_verifies(&report, &elements), "{}", report.query);
    let report = report_of(&mut untyped, "DevEUI_uplink").await;
    let body: Value = serde_json::from_str(&report.body).expect("JSON");
    let uplink = &body["DevEUI_uplink"];
    assert_eq!(uplink["FPort"], "2", "{body}");
    assert_eq!(uplink["FCntUp"], "0", "{body}");
    assert!(
        token_verifies(&report, "1000000000000000030206869"),
        "{}",
        report.query
    );
    let _ = next_served(&mut running).await;
    // The answer carries the MAC layer's DevStatusReq.
    let down = running.sim.next_downlink(WAIT).await.expect("an answer");
    device.accept_downlink(&down.phy).expect("valid");

    // DevStatusAns without application payload: the `devstatusans` notification.
    let up = device
        .uplink(&dr5(Uplink::mac_only(&[0x06, 200, 10])))
        .expect("uplink");
    running.sim.uplink(&up, &radio, &heard).await.expect("sent");
    let report = report_of(&mut untyped, "devstatusans").await;
    let body: Value = serde_json::from_str(&report.body).expect("JSON");
    let n = &body["DevEUI_notification"];
    assert_eq!(
        (n["Var1"].clone(), n["Var2"].clone()),
        (json!("200"), json!("10")),
        "{body}"
    );
    assert!(
        n.get("AFCntDn").is_some() && n.get("FCntDn").is_none(),
        "1.1: AFCntDn only: {body}"
    );
    assert!(
        token_verifies(&report, "1000000000000000030"),
        "{}",
        report.query
    );
    let report = report_of(&mut xml, "devstatusans").await;
    assert_eq!(xml_field(&report.body, "Type"), "devstatusans");
    if let Some(down) = running.sim.next_downlink(Duration::from_millis(1500)).await {
        let _ = device.accept_downlink(&down.phy);
    }

    // 1.1 ABP ResetInd (minor 1): the `reset` notification, automatic_reset, at the
    // uplink's time.
    let up = device
        .uplink(&dr5(Uplink::mac_only(&[0x01, 0x01])))
        .expect("uplink");
    running.sim.uplink(&up, &radio, &heard).await.expect("sent");
    let report = report_of(&mut xml, "automatic_reset").await;
    assert_eq!(xml_field(&report.body, "Type"), "reset");
    assert_eq!(xml_field(&report.body, "Var1"), "automatic_reset");
    assert!(
        token_verifies(&report, "1000000000000000030"),
        "{}",
        report.query
    );
    let report = report_of(&mut untyped, "automatic_reset").await;
    let body: Value = serde_json::from_str(&report.body).expect("JSON");
    assert_eq!(body["DevEUI_notification"]["Type"], "reset", "{body}");
    running.daemon.stop().await.expect("stops");
}

#[tokio::test]
async fn a_slow_as_is_bounded_and_a_failing_one_blacklisted_while_a_healthy_one_gets_everything() {
    let (slow_url, _slow) = application_server(Duration::from_secs(1)).await;
    let (healthy_url, mut healthy) = application_server(Duration::ZERO).await;
    let dead_url = "http://127.0.0.1:1/as".to_owned();
    let mut running = start_with(1, |config| {
        config.tunnel.blacklist_after = 2;
        let mut slow = profile(
            "slow",
            vec![(slow_url.clone(), ContentTypeConfig::Json)],
            3000,
        );
        slow.max_in_flight = 1;
        config.tunnel.as_profiles.push(slow);
        config.tunnel.as_profiles.push(profile(
            "healthy",
            vec![(healthy_url.clone(), ContentTypeConfig::Json)],
            3000,
        ));
        config.tunnel.as_profiles.push(profile(
            "dead",
            vec![(dead_url.clone(), ContentTypeConfig::Json)],
            3000,
        ));
    })
    .await;
    for (n, as_id) in [(0x40, "slow"), (0x41, "healthy"), (0x42, "dead")] {
        linked_device(
            &running.server,
            n,
            MacVersion::V1_0_4,
            as_id,
            Some(APP_S_KEY),
            None,
        )
        .await;
    }
    let mut devices: Vec<_> = (0x40..=0x42).map(|n| sim(MacVersion::V1_0_4, n)).collect();
    let radio = RadioParams::eu868(5, 0).expect("channel");
    let heard = [Heard::new(0, -80, 7.5)];
    const ROUNDS: usize = 5;
    for round in 0..ROUNDS {
        for device in &mut devices {
            let up = device
                .uplink(&Uplink::unconfirmed(2, &[round as u8]))
                .expect("uplink");
            running.sim.uplink(&up, &radio, &heard).await.expect("sent");
            let _ = next_served(&mut running).await;
        }
        // The healthy AS hears of this round's uplink although the slow one has not
        // answered the first yet.
        let report = report_of(&mut healthy, "DevEUI_uplink").await;
        let body: Value = serde_json::from_str(&report.body).expect("JSON");
        assert_eq!(body["DevEUI_uplink"]["FCntUp"], round, "{body}");
    }
    let text = reqwest::Client::new()
        .get(format!("{}/api/tunnel/destinations", running.http))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("HTTP")
        .text()
        .await
        .expect("body");
    let destinations: Value = serde_json::from_str(&text).expect("JSON");
    let find = |url: &str| {
        destinations["destinations"]
            .as_array()
            .expect("list")
            .iter()
            .find(|d| d["url"] == url)
            .cloned()
            .unwrap_or_else(|| panic!("{url} in {destinations}"))
    };
    let healthy = find(&healthy_url);
    assert_eq!(
        (
            healthy["state"].clone(),
            healthy["delivered"].clone(),
            healthy["dropped"].clone()
        ),
        (json!("Healthy"), json!(ROUNDS), json!(0)),
        "{destinations}"
    );
    let slow = find(&slow_url);
    assert!(
        slow["inFlight"].as_u64().expect("n") <= 1,
        "bounded: {destinations}"
    );
    assert!(
        slow["dropped"].as_u64().expect("n") >= 1,
        "Overload drops: {destinations}"
    );
    let dead = find(&dead_url);
    assert_eq!(dead["state"], "Blacklist", "{destinations}");
    assert_eq!(dead["failed"], 2, "{destinations}");
    assert_eq!(
        dead["dropped"].as_u64().expect("n"),
        ROUNDS as u64 - 2,
        "{destinations}"
    );
    running.daemon.stop().await.expect("stops");
}
