//! The AS tunnel's hot paths: an API v2 downlink request read, token-checked and validated
//! (sans-IO), the same through the axum router without a socket, and an uplink report built,
//! encoded and signed. Target of the tunnel issue: ≥ 5,000 accepted v2 downlinks/s with the
//! token checked, i.e. ≤ 200 µs of CPU per request.
//!
//! Run: `cargo bench -p nsd --bench tunnel -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::Request;
use criterion::{criterion_group, criterion_main, Criterion};
use lorawan::ids::{AesKey, DevAddr, Eui64};
use lorawan::join::MacVersion;
use nsd::api::tunnel::{router, TunnelApi};
use nsd::app::uplink::AppPayload;
use nsd::app::UplinkEvent;
use nsd::gateway::{RadioModulation, RxInfo};
use nsd::tunnel::downlink::{authenticate, validate, RawDownlink};
use nsd::tunnel::{
    encode, report, AsProfile, AsRouting, ContentType, DownlinkRefusal, DownlinkSubmission,
    TunnelNetwork, UplinkDetails,
};
use tower::ServiceExt;

/// Seed 001 §7.3.2's request, with its token.
const QUERY: &str = "DevEUI=000000000F1D8693&FPort=1&Payload=00&AS_ID=app1.sample.com&Time=2016-01-11T14%3A28%3A00.333%2B02%3A00&Token=63a4ec6532937c9bcba109a75f731d6dc192c9df662dee56757634a8a6dc3f4c";

/// The example's Time, so the deviation check passes.
fn clock() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_452_515_280_333)
}

fn routing() -> AsRouting {
    let key: AesKey = "46ab678cd45df4a4e4b375eacd096acc".parse().expect("key");
    AsRouting {
        profile: Arc::new(AsProfile::new(
            "app1.sample.com",
            Some(key),
            "http://127.0.0.1:1/as",
        )),
        lrn_infos: "UPHTTP_LAB_LORA".to_owned(),
        customer_id: "100000507".to_owned(),
        customer_data: Some(serde_json::json!({"alr": {"pro": "STL", "ver": "1"}})),
        driver_cfg: None,
        downlink_quota: None,
    }
}

struct Network(AsRouting);

impl TunnelNetwork for Network {
    async fn routing(&self, _dev_eui: Eui64) -> Option<AsRouting> {
        Some(self.0.clone())
    }

    async fn submit_downlink(
        &self,
        _dev_eui: Eui64,
        submission: DownlinkSubmission,
    ) -> Result<(), DownlinkRefusal> {
        black_box(submission);
        Ok(())
    }
}

fn event() -> UplinkEvent {
    let rx = |gateway: u64, snr: f32| RxInfo {
        gateway: Eui64::from_u64(gateway),
        frequency_hz: 868_300_000,
        modulation: RadioModulation::Lora {
            spreading_factor: 7,
            bandwidth_hz: 125_000,
            code_rate: None,
        },
        rssi_dbm: -60,
        snr_db: snr,
        channel: 1,
        rf_chain: 0,
        counter_us: 0,
        time: Some(clock()),
        gps_time_ms: None,
        fine_timestamp_ns: None,
    };
    UplinkEvent {
        roaming: None,
        dev_eui: Eui64::from_u64(0x0f1d_8693),
        dev_addr: DevAddr::from_u32(0x0405_f519),
        mac_version: MacVersion::V1_0_4,
        f_cnt: 7011,
        f_port: Some(2),
        payload: Some(AppPayload::Clear(vec![0x42; 20])),
        mac_commands: Vec::new(),
        confirmed: false,
        adr: true,
        adr_ack_req: false,
        ack: false,
        lost: 0,
        data_rate: Some(5),
        receptions: vec![rx(1, 9.75), rx(2, 5.0), rx(3, -2.0)],
        received_at: clock(),
        mac_events: Vec::new(),
        needs_downlink: false,
    }
}

fn downlink(c: &mut Criterion) {
    let profile = routing().profile;
    c.bench_function("v2 downlink: parse + token check + validate", |b| {
        b.iter(|| {
            let raw = RawDownlink::from_query(black_box(QUERY));
            let dev_eui = raw.dev_eui().expect("DevEUI");
            authenticate(&raw, &profile, clock()).expect("token verifies");
            black_box((dev_eui, validate(&raw, clock()).expect("valid")))
        })
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let api = Arc::new(TunnelApi::with_clock(Arc::new(Network(routing())), clock));
    let app = router(api);
    let uri = format!("/thingpark/lrc/rest/v2/downlink?{QUERY}");
    c.bench_function("v2 downlink: through the router (202, no socket)", |b| {
        b.iter(|| {
            let request = Request::post(&uri)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::empty())
                .expect("request");
            let response = runtime
                .block_on(app.clone().oneshot(request))
                .expect("infallible");
            assert_eq!(response.status(), 202);
            black_box(response)
        })
    });
}

fn uplink_report(c: &mut Criterion) {
    let routing = routing();
    let event = event();
    let details = UplinkDetails::default();
    c.bench_function("uplink report: build + JSON + sign", |b| {
        b.iter(|| {
            let report = report::uplink(black_box(&event), &routing, &details, "00000065");
            let query = encode::query(&report, &routing, clock());
            black_box((encode::document(&report, ContentType::Json), query))
        })
    });
}

criterion_group!(benches, downlink, uplink_report);
criterion_main!(benches);
