//! The downlink refusals of the LRC-AS tunnel that depend on the device and its gateways,
//! from the real nsd (seed 001 §7.1.5): confirmed downlinks not allowed for the device (103),
//! no connected gateway among those that heard it (115), a payload larger than its RX2 data
//! rate carries (116).

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use conformance_tests::sim::{Heard, RadioParams, Uplink};
use lorawan::ids::AesKey;
use lorawan::join::MacVersion;
use nsd::tunnel::config::{AsProfileConfig, DeviceAsLink};
use serde_json::Value;

const AS_KEY: &str = "46ab678cd45df4a4e4b375eacd096acc";
const DEV: &str = "0000000000000009";

/// POSTs a signed v2 downlink with `params`; the status and the JSON body (if any).
async fn v2(base: &str, params: &str) -> (u16, Value) {
    let time = nsd::tunnel::time::format(SystemTime::now());
    let raw = format!("{params}&AS_ID=as-1&Time={time}");
    let key: AesKey = AS_KEY.parse().expect("key");
    let token = nsd::tunnel::token::downlink_token(raw.as_bytes(), &key);
    let url = format!(
        "{base}/thingpark/lrc/rest/v2/downlink?{params}&AS_ID=as-1&Time={}&Token={}",
        nsd::tunnel::time::url_encode(&time),
        nsd::tunnel::token::to_hex(&token)
    );
    let answer = reqwest::Client::new().post(url).send().await.expect("HTTP");
    let status = answer.status().as_u16();
    let body = answer.text().await.expect("body");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn confirmed_not_allowed_payload_too_big_and_no_base_station() {
    let running = start_with(1, |config| {
        config.gateways.keepalive_timeout_s = 1;
        config.tunnel.as_profiles.push(AsProfileConfig {
            as_id: "as-1".into(),
            key: Some(service::config::Secret(AS_KEY.parse().expect("key"))),
            transport_key: None,
            max_time_deviation_s: 60,
            max_in_flight: 2,
            timeout_ms: 500,
            routes: vec![],
        });
    })
    .await;
    abp_device_linked(
        &running.server,
        MacVersion::V1_0_4,
        9,
        DeviceAsLink {
            as_id: "as-1".into(),
            lrn_infos: String::new(),
            customer_id: "100".into(),
            customer_data: None,
            driver_cfg: None,
            downlink_rate_per_s: None,
            downlink_burst: None,
            confirmed_downlinks: false,
        },
    )
    .await;
    let base = running.http.clone();
    // 103: this device's plan has no confirmed downlinks.
    let (status, body) = v2(
        &base,
        &format!("DevEUI={DEV}&FPort=1&Payload=00&Confirmed=1"),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (409, Some(103)), "{body}");
    // 116: EU868 RX2 at DR0 carries at most 51 bytes.
    let big = "00".repeat(52);
    let (status, body) = v2(&base, &format!("DevEUI={DEV}&FPort=1&Payload={big}")).await;
    assert_eq!((status, body["code"].as_i64()), (409, Some(116)), "{body}");
    let fits = "00".repeat(51);
    let (status, _) = v2(&base, &format!("DevEUI={DEV}&FPort=1&Payload={fits}")).await;
    assert_eq!(status, 202);

    // 115: the only gateway that heard the device goes silent (no PULL_DATA for longer than
    // the 1 s keep-alive timeout: the simulator's next one is 10 s away).
    let mut device = sim_device(MacVersion::V1_0_4);
    let radio = RadioParams::eu868(5, 0).expect("channel");
    let up = device
        .uplink(&Uplink::unconfirmed(1, b"x"))
        .expect("uplink");
    running
        .sim
        .uplink(&up, &radio, &[Heard::new(0, -80, 5.0)])
        .await
        .expect("sent");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (status, body) = v2(&base, &format!("DevEUI={DEV}&FPort=1&Payload=00")).await;
    assert_eq!((status, body["code"].as_i64()), (409, Some(115)), "{body}");
    running.daemon.stop().await.expect("stops");
}
