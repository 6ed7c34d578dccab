//! The downlink API of the AS tunnel over real HTTP on 127.0.0.1 (seed 001 §7.1, seed 002):
//! every answer in the protocol's own form, with the seed's codes. The network server side
//! is a map (a test double of the nsd state, not of the tunnel).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::Router;
use lorawan::ids::{AesKey, Eui64};
use nsd::tunnel::{AsProfile, AsRouting, DownlinkRefusal, DownlinkSubmission, TunnelNetwork};
use service::ratelimit::Quota;

const KEY: &str = "46ab678cd45df4a4e4b375eacd096acc";

#[derive(Default)]
struct FakeNetwork {
    devices: HashMap<Eui64, AsRouting>,
    refusals: HashMap<Eui64, DownlinkRefusal>,
    submitted: Mutex<Vec<(Eui64, DownlinkSubmission)>>,
}

impl TunnelNetwork for FakeNetwork {
    async fn routing(&self, dev_eui: Eui64) -> Option<AsRouting> {
        self.devices.get(&dev_eui).cloned()
    }

    async fn submit_downlink(
        &self,
        dev_eui: Eui64,
        submission: DownlinkSubmission,
    ) -> Result<(), DownlinkRefusal> {
        if let Some(refusal) = self.refusals.get(&dev_eui) {
            return Err(refusal.clone());
        }
        self.submitted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((dev_eui, submission));
        Ok(())
    }
}

fn routing() -> AsRouting {
    AsRouting {
        profile: Arc::new(AsProfile::new(
            "app1.sample.com",
            Some(KEY.parse().expect("key")),
            "http://127.0.0.1:1/unused",
        )),
        lrn_infos: "UPHTTP_LAB_LORA".to_owned(),
        customer_id: "100000507".to_owned(),
        customer_data: None,
        driver_cfg: None,
        downlink_quota: None,
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn downlink_query(dev: &str, extra: &str, as_id: &str, key_hex: &str) -> String {
    let time = nsd::tunnel::time::format(SystemTime::now());
    let signed = format!("DevEUI={dev}&FPort=1&Payload=00{extra}&AS_ID={as_id}&Time={time}");
    let key: AesKey = key_hex.parse().expect("key");
    let token = nsd::tunnel::token::downlink_token(signed.as_bytes(), &key);
    format!(
        "DevEUI={dev}&FPort=1&Payload=00{extra}&AS_ID={as_id}&Time={}&Token={}",
        nsd::tunnel::time::url_encode(&time),
        nsd::tunnel::token::to_hex(&token)
    )
}

#[tokio::test]
async fn downlinks_over_http_get_the_seeds_codes() {
    let known: Eui64 = "000000000F1D8693".parse().expect("eui");
    let busy: Eui64 = "0000000000000B0B".parse().expect("eui");
    let far: Eui64 = "0000000000000FAB".parse().expect("eui");
    let limited: Eui64 = "0000000000000111".parse().expect("eui");
    let mut network = FakeNetwork::default();
    for dev in [known, busy, far, limited] {
        network.devices.insert(dev, routing());
    }
    network
        .refusals
        .insert(busy, DownlinkRefusal::CounterAlreadyUsed { expected: 1238 });
    network.refusals.insert(far, DownlinkRefusal::NoBaseStation);
    if let Some(r) = network.devices.get_mut(&limited) {
        r.downlink_quota = Some(Quota::per_second(NonZeroU32::MIN, NonZeroU32::MIN));
    }
    let network = Arc::new(network);
    let base = serve(nsd::api::tunnel::routes(network.clone())).await;
    let client = reqwest::Client::new();
    let post = |version: &str, query: String| {
        let path = if version == "v1" {
            "/thingpark/lrc/rest/downlink"
        } else {
            "/thingpark/lrc/rest/v2/downlink"
        };
        client
            .post(format!("{base}{path}?{query}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .send()
    };
    let answer = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    };

    let ok = downlink_query(
        "000000000F1D8693",
        "&CorrelationID=4434704901C7450B",
        "app1.sample.com",
        KEY,
    );
    assert_eq!(
        answer(post("v1", ok.clone()).await.expect("v1")).await,
        (200, "Request queued by LRC".to_owned())
    );
    assert_eq!(
        answer(post("v2", ok).await.expect("v2")).await,
        (202, String::new())
    );
    {
        let submitted = network.submitted.lock().expect("lock");
        assert_eq!(submitted.len(), 2);
        let frame = submitted[0].1.frame.as_ref().expect("frame");
        assert_eq!(frame.correlation_id.as_deref(), Some("4434704901C7450B"));
    }

    let v1_cases = [
        (
            downlink_query("000000000F1D8694", "", "app1.sample.com", KEY),
            350,
            "Invalid DevEUI",
        ),
        (
            downlink_query(
                "000000000F1D8693",
                "",
                "app1.sample.com",
                "00000000000000000000000000000000",
            ),
            350,
            "Security Check. bad token",
        ),
        (
            downlink_query("000000000F1D8693", "", "app2.sample.com", KEY),
            350,
            "Security Check. bad AS_ID",
        ),
        (
            downlink_query(
                "000000000F1D8693",
                "&ValidityTime=0",
                "app1.sample.com",
                KEY,
            ),
            350,
            "ValidityTime expired or invalid",
        ),
        (
            downlink_query("0000000000000FAB", "", "app1.sample.com", KEY),
            404,
            "No Base Station Available",
        ),
        (
            downlink_query("0000000000000B0B", "", "app1.sample.com", KEY),
            350,
            "Downlink counter value already used. Expected=1238",
        ),
        (
            "DevEUI=000000000F1D8693&FPort=1&Payload=00&AS_ID=app1.sample.com".to_owned(),
            350,
            "Security Check. missing timestamp/token",
        ),
    ];
    for (query, status, text) in v1_cases {
        let got = answer(post("v1", query.clone()).await.expect("v1")).await;
        assert_eq!(got, (status, text.to_owned()), "{query}");
    }

    let v2_cases = [
        (downlink_query("000000000F1D8694", "", "app1.sample.com", KEY), serde_json::json!({"code":100,"message":"Invalid DevEUI"})),
        (
            downlink_query("0000000000000B0B", "", "app1.sample.com", KEY),
            serde_json::json!({"code":101,"message":"Downlink counter value already used","expected":1238}),
        ),
        (
            downlink_query("000000000F1D8693", "", "app1.sample.com", "00000000000000000000000000000000"),
            serde_json::json!({"code":111,"message":"Security Check: Bad token"}),
        ),
        (
            downlink_query("000000000F1D8693", "&CorrelationID=12", "app1.sample.com", KEY),
            serde_json::json!({"code":117,"message":"Invalid Correlation ID. Must be a 64 bits hexadecimal value encoded as string"}),
        ),
        (
            "DevEUI=000000000F1D8693&FPort=1&Payload=00&Time=2016-01-11T14%3A28%3A00.333%2B02%3A00".to_owned(),
            serde_json::json!({"code":105,"message":"Security Check: AS_ID is mandatory"}),
        ),
        (
            "DevEUI=000000000F1D8693&FPort=1&Payload=00&AS_ID=app1.sample.com&Time=2016-01-11T14%3A28%3A00.333%2B02%3A00&Token=63a4ec6532937c9bcba109a75f731d6dc192c9df662dee56757634a8a6dc3f4c".to_owned(),
            serde_json::json!({"code":110,"message":"Security Check: Invalid downlink frame timestamp"}),
        ),
    ];
    for (query, expected) in v2_cases {
        let (status, body) = answer(post("v2", query.clone()).await.expect("v2")).await;
        assert_eq!(status, 409, "{query}");
        let body: serde_json::Value = serde_json::from_str(&body).expect("JSON 409 body");
        assert_eq!(body, expected, "{query}");
    }

    // The token bucket (one downlink per second, DROP strategy): the second is refused.
    let first = downlink_query("0000000000000111", "", "app1.sample.com", KEY);
    assert_eq!(answer(post("v2", first).await.expect("v2")).await.0, 202);
    let second = downlink_query("0000000000000111", "&Confirmed=0", "app1.sample.com", KEY);
    let (status, body) = answer(post("v2", second).await.expect("v2")).await;
    assert_eq!(status, 409);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("JSON"),
        serde_json::json!({"code":121,"message":"Token bucket limit reached"})
    );

    // Seed 002's JSON body, authenticated with AS_KEY.
    let body = serde_json::json!({"DevEUI_downlink": {
        "Time": nsd::tunnel::time::format(SystemTime::now()),
        "DevEUI": "000000000F1D8693",
        "FPort": 1,
        "payload_hex": "9e1c4852512000220020e3831071",
        "AS_ID": "app1.sample.com",
        "AS_KEY": KEY,
        "Confirmed": "1",
    }});
    let response = client
        .post(format!("{base}/thingpark/lrc/rest/v2/downlink"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("v2 JSON");
    assert_eq!(answer(response).await, (202, String::new()));
    let response = client
        .post(format!("{base}/thingpark/lrc/rest/v2/downlink"))
        .header("content-type", "application/json")
        .body("{\"DevEUI_downlink\": ")
        .send()
        .await
        .expect("v2 bad JSON");
    let (status, body) = answer(response).await;
    assert_eq!(status, 409);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("protocol form, not axum's"),
        serde_json::json!({"code":100,"message":"Invalid DevEUI"})
    );
}
