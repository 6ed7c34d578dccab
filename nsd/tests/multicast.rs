//! Multicast groups over the admin API and real UDP: a group provisioned over HTTP, a frame
//! sent to it through the gateways of its tag — the two gateways 1 km apart never together,
//! so two batches one after the other — decrypted by a member with the group's keys; a
//! gateway that keeps refusing is tried three times; GPS-synchronised gateways send at one GPS
//! time, before the others. And the OpenAPI document describes
//! exactly the routes served.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use common::{gateway_eui, start_specs, SimGatewaySpec, TOKEN, WAIT};
use conformance_tests::sim::crypto::DevAddr as SimDevAddr;
use conformance_tests::sim::device::SessionKeys as SimKeys;
use conformance_tests::sim::{
    DataRate, Device as SimDevice, DownlinkTiming, GatewayStat, MacVersion as SimVersion,
    TxAckError, TxAckMode,
};
use nsd::api::admin::{OPENAPI_DOCUMENT, ROUTES};
use reqwest::StatusCode;
use serde_json::{json, Value};

const MC_ADDR: u32 = 0x01ab_cdef;
const MC_NWK_S_KEY: [u8; 16] = [0x5a; 16];
const MC_APP_S_KEY: [u8; 16] = [0xa5; 16];

fn spec(tag: &str, lat: f64, lon: f64) -> SimGatewaySpec {
    SimGatewaySpec {
        tags: vec![tag.to_owned()],
        location: Some((lat, lon)),
    }
}

fn member() -> SimDevice {
    SimDevice::abp(
        SimVersion::V1_0_4,
        SimDevAddr(MC_ADDR),
        SimKeys::V1_0 {
            nwk_s_key: MC_NWK_S_KEY,
            app_s_key: MC_APP_S_KEY,
        },
    )
    .expect("member")
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .timeout(Duration::from_secs(20));
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("answered");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn a_group_frame_goes_through_the_tagged_gateways_in_collision_free_batches() {
    // Paris; 1 km north of it; Lyon; and a gateway of another tag.
    let gateways = [
        spec("city", 48.8566, 2.3522),
        spec("city", 48.8656, 2.3522),
        spec("city", 45.7640, 4.8357),
        spec("elsewhere", 48.8570, 2.3530),
    ];
    let running = start_specs(&gateways, &[]).await;
    let api = Api {
        base: running.http.clone(),
        http: reqwest::Client::new(),
    };
    let group = json!({
        "dev_addr": format!("{MC_ADDR:08x}"),
        "mc_nwk_s_key": hex::encode(MC_NWK_S_KEY),
        "mc_app_s_key": hex::encode(MC_APP_S_KEY),
        "f_cnt": 5,
        "region": "EU868",
        "gateway_tags": ["city"],
    });
    let (status, shown) = api
        .call(
            reqwest::Method::PUT,
            "/api/multicast-groups/lights",
            Some(group.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["frequency_hz"], json!(869_525_000));
    assert_eq!(shown["data_rate"], json!(0));
    assert_eq!(shown["class"], json!("C"));
    let (status, shown) = api
        .call(reqwest::Method::GET, "/api/multicast-groups/lights", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["f_cnt"], json!(5));
    assert!(shown.get("mc_nwk_s_key").is_none() && shown.get("mc_app_s_key").is_none());
    let text = shown.to_string().to_lowercase();
    assert!(
        !text.contains(&hex::encode(MC_NWK_S_KEY)),
        "keys never come out"
    );

    let (status, report) = api
        .call(
            reqwest::Method::POST,
            "/api/multicast-groups/lights/queue",
            Some(json!({"f_port": 200, "payload_hex": hex::encode(b"dim 40%")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["f_cnt"], json!(5));
    let sent: Vec<(String, u64, bool)> = report["gateways"]
        .as_array()
        .expect("gateways")
        .iter()
        .map(|g| {
            (
                g["gateway_id"].as_str().unwrap_or_default().to_owned(),
                g["attempts"].as_u64().unwrap_or_default(),
                g["sent"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    let expected: Vec<(String, u64, bool)> = (0..3)
        .map(|i| (gateway_eui(i).to_string(), 1, true))
        .collect();
    assert_eq!(sent, expected);

    // Gateways 0 and 2 (far apart) together, then gateway 1 (1 km from gateway 0); none on
    // the gateway of the other tag.
    let mut downlinks = Vec::new();
    for _ in 0..3 {
        downlinks.push(
            running
                .sim
                .next_downlink(WAIT)
                .await
                .expect("a multicast frame"),
        );
    }
    let first: BTreeSet<u64> = downlinks[..2].iter().map(|d| d.gateway.0).collect();
    assert_eq!(
        first,
        BTreeSet::from([gateway_eui(0).to_u64(), gateway_eui(2).to_u64()])
    );
    assert_eq!(downlinks[2].gateway.0, gateway_eui(1).to_u64());
    for down in &downlinks {
        assert_eq!(down.timing, DownlinkTiming::Immediately);
        assert_eq!(down.freq_hz, 869_525_000);
        assert_eq!(
            down.data_rate,
            DataRate::Lora {
                sf: 12,
                bw_khz: 125
            }
        );
        assert_eq!(down.phy, downlinks[0].phy, "one frame for all");
    }
    assert!(running
        .sim
        .drain_downlinks(Duration::from_millis(300))
        .await
        .is_empty());
    // A member decrypts it with the group's keys; it is unconfirmed, without MAC commands.
    let frame = member()
        .accept_downlink(&downlinks[0].phy)
        .expect("valid for members");
    assert_eq!(
        (frame.fport, frame.payload.as_slice(), frame.fcnt),
        (Some(200), &b"dim 40%"[..], 5)
    );
    assert!(!frame.confirmed && !frame.ack && !frame.adr && !frame.fpending);
    assert!(frame.fopts.is_empty());

    // A gateway that keeps refusing is tried three times; the others once.
    running
        .sim
        .gateway(2)
        .expect("gateway 2")
        .set_tx_ack(TxAckMode::Error(TxAckError::CollisionPacket));
    let (status, report) = api
        .call(
            reqwest::Method::POST,
            "/api/multicast-groups/lights/queue",
            Some(json!({"f_port": 200, "payload_hex": "01"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["f_cnt"], json!(6));
    let gateways = report["gateways"].as_array().expect("gateways");
    assert_eq!(gateways[2]["attempts"], json!(3));
    assert_eq!(gateways[2]["sent"], json!(false));
    assert!(gateways[2]["cause"].is_string());
    assert_eq!(
        (
            gateways[0]["attempts"].clone(),
            gateways[1]["attempts"].clone()
        ),
        (json!(1), json!(1))
    );
    let frames = running
        .sim
        .drain_downlinks(Duration::from_millis(500))
        .await;
    assert_eq!(
        frames
            .iter()
            .filter(|d| d.gateway.0 == gateway_eui(2).to_u64())
            .count(),
        3
    );
    // The counter was stored: the next frame takes 7.
    let (_, shown) = api
        .call(reqwest::Method::GET, "/api/multicast-groups/lights", None)
        .await;
    assert_eq!(shown["f_cnt"], json!(7));
    running.daemon.stop().await.expect("stops");
}

#[tokio::test]
async fn gps_synchronised_gateways_transmit_together_at_one_gps_time() {
    // Three gateways within 1 km: the two reporting a GPS position send at one GPS time, the
    // third (no GPS) after them.
    let gateways = [
        spec("gps", 48.8566, 2.3522),
        spec("gps", 48.8600, 2.3522),
        spec("gps", 48.8630, 2.3522),
    ];
    let running = start_specs(&gateways, &[]).await;
    for index in [0, 1] {
        let stat = GatewayStat {
            time: SystemTime::now(),
            position: Some((48.8566, 2.3522, 35)),
            rxnb: 0,
            rxok: 0,
            rxfw: 0,
            ackr: 100.0,
            dwnb: 0,
            txnb: 0,
        };
        let gateway = running.sim.gateway(index).expect("gateway");
        assert!(
            gateway.send_stat(&stat, WAIT).await.expect("sent"),
            "PUSH_ACK"
        );
    }
    let api = Api {
        base: running.http.clone(),
        http: reqwest::Client::new(),
    };
    let group = json!({
        "dev_addr": format!("{MC_ADDR:08x}"),
        "mc_nwk_s_key": hex::encode(MC_NWK_S_KEY),
        "mc_app_s_key": hex::encode(MC_APP_S_KEY),
        "region": "EU868",
        "gateway_tags": ["gps"],
    });
    let (status, _) = api
        .call(reqwest::Method::PUT, "/api/multicast-groups/g", Some(group))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, report) = api
        .call(
            reqwest::Method::POST,
            "/api/multicast-groups/g/queue",
            Some(json!({"f_port": 1, "payload_hex": "0102"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let mut downlinks = Vec::new();
    for _ in 0..3 {
        downlinks.push(
            running
                .sim
                .next_downlink(WAIT)
                .await
                .expect("a multicast frame"),
        );
    }
    let synchronised: BTreeSet<u64> = downlinks[..2].iter().map(|d| d.gateway.0).collect();
    assert_eq!(
        synchronised,
        BTreeSet::from([gateway_eui(0).to_u64(), gateway_eui(1).to_u64()])
    );
    let DownlinkTiming::AtGpsTime(at) = downlinks[0].timing else {
        panic!("timed by GPS: {:?}", downlinks[0].timing);
    };
    assert_eq!(downlinks[1].timing, DownlinkTiming::AtGpsTime(at));
    assert_eq!(downlinks[2].gateway.0, gateway_eui(2).to_u64());
    assert_eq!(downlinks[2].timing, DownlinkTiming::Immediately);
    let frame = member()
        .accept_downlink(&downlinks[2].phy)
        .expect("valid for members");
    assert_eq!(
        (frame.fport, frame.payload.as_slice()),
        (Some(1), &[1u8, 2][..])
    );
    running.daemon.stop().await.expect("stops");
}

#[tokio::test]
async fn group_requests_are_checked() {
    let running = start_specs(&[spec("city", 48.0, 2.0)], &[]).await;
    let api = Api {
        base: running.http.clone(),
        http: reqwest::Client::new(),
    };
    let group = |key: &str, tags: Value| {
        json!({
            "dev_addr": "01abcdef", "mc_nwk_s_key": key, "mc_app_s_key": hex::encode([1u8; 16]),
            "region": "EU868", "gateway_tags": tags,
        })
    };
    let path = "/api/multicast-groups/g1";
    let (status, answer) = api
        .call(
            reqwest::Method::PUT,
            path,
            Some(group("00", json!(["city"]))),
        )
        .await;
    assert_eq!(
        (status, answer["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("mc_nwk_s_key"))
    );
    let key = hex::encode([2u8; 16]);
    let (status, answer) = api
        .call(reqwest::Method::PUT, path, Some(group(&key, json!([]))))
        .await;
    assert_eq!(
        (status, answer["error"].clone()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!("invalid_provisioning")
        )
    );
    let (status, _) = api
        .call(
            reqwest::Method::PUT,
            path,
            Some(group(&key, json!(["nowhere"]))),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let send = |port: u8| Some(json!({"f_port": port, "payload_hex": "00"}));
    let queue = "/api/multicast-groups/g1/queue";
    let (status, answer) = api.call(reqwest::Method::POST, queue, send(0)).await;
    assert_eq!(
        (status, answer["error"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("queue_refused"))
    );
    let (status, answer) = api.call(reqwest::Method::POST, queue, send(9)).await;
    assert_eq!(
        (status, answer["error"].clone()),
        (StatusCode::CONFLICT, json!("no_gateway"))
    );
    let (status, answer) = api
        .call(reqwest::Method::GET, "/api/multicast-groups", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer["multicast_groups"][0]["f_cnt"],
        json!(0),
        "no gateway: no counter taken"
    );
    let (status, _) = api.call(reqwest::Method::DELETE, path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, answer) = api.call(reqwest::Method::GET, path, None).await;
    assert_eq!(
        (status, answer["error"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    // Without a token: 401 on every multicast route.
    for (method, route) in ROUTES.iter().filter(|(_, p)| p.contains("multicast")) {
        let url = format!("{}{}", running.http, route.replace("{id}", "g1"));
        let answer = reqwest::Client::new()
            .request(method.parse().expect("method"), url)
            .send()
            .await
            .expect("answered");
        assert_eq!(
            answer.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {route}"
        );
    }
    running.daemon.stop().await.expect("stops");
}

#[test]
fn the_openapi_document_describes_exactly_the_routes_served() {
    let document: Value = serde_json::from_str(OPENAPI_DOCUMENT).expect("JSON");
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .into_iter()
                .flat_map(|ops| ops.keys())
                .filter(|m| ["get", "put", "post", "delete", "patch"].contains(&m.as_str()))
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, served);
    // Every $ref resolves.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&document, &mut all);
    for reference in all {
        let pointer = reference.trim_start_matches('#');
        assert!(document.pointer(pointer).is_some(), "{reference} resolves");
    }
}
