//! The AS tunnel's reports over real HTTP on 127.0.0.1: a test application server receives
//! the reports the delivery engine sends (the downlink API is in `tunnel_downlink.rs`). The
//! network server side is a map (a test double of the nsd state, not of the tunnel).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use lorawan::ids::{AesKey, DevAddr, Eui64};
use lorawan::join::MacVersion;
use nsd::app::uplink::AppPayload;
use nsd::app::UplinkEvent;
use nsd::gateway::{RadioModulation, RxInfo};
use nsd::tunnel::delivery::{
    DeliveryConfig, DestinationState, DestinationStatus, Outcome, ReportDelivery,
};
use nsd::tunnel::{
    AsProfile, AsRoute, AsRouting, ContentType, DownlinkRefusal, DownlinkSubmission, TunnelNetwork,
    UplinkDetails,
};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};

const KEY: &str = "46ab678cd45df4a4e4b375eacd096acc";
/// Bound on every wait: the tests never take longer, whatever the machine.
const BOUND: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- the network server double

#[derive(Default)]
struct FakeNetwork {
    devices: HashMap<Eui64, AsRouting>,
}

impl TunnelNetwork for FakeNetwork {
    async fn routing(&self, dev_eui: Eui64) -> Option<AsRouting> {
        self.devices.get(&dev_eui).cloned()
    }

    async fn uplink_details(&self, _event: &UplinkEvent) -> UplinkDetails {
        UplinkDetails {
            f_cnt_dn: Some(11),
            mic: Some([0x38, 0xe7, 0xa3, 0xb9]),
            ..UplinkDetails::default()
        }
    }

    async fn submit_downlink(
        &self,
        _dev_eui: Eui64,
        _submission: DownlinkSubmission,
    ) -> Result<(), DownlinkRefusal> {
        Ok(())
    }
}

fn key() -> AesKey {
    KEY.parse().expect("key")
}

fn routing(as_id: &str, routes: Vec<AsRoute>, max_in_flight: usize) -> AsRouting {
    AsRouting {
        profile: Arc::new(AsProfile {
            routes,
            max_in_flight,
            ..AsProfile::new(as_id, Some(key()), "unused")
        }),
        lrn_infos: "UPHTTP_LAB_LORA".to_owned(),
        customer_id: "100000507".to_owned(),
        customer_data: Some(serde_json::json!({"alr": {"pro": "STL", "ver": "1"}})),
        driver_cfg: None,
        downlink_quota: None,
    }
}

fn event(dev_eui: Eui64, f_cnt: u32) -> UplinkEvent {
    UplinkEvent {
        roaming: None,
        dev_eui,
        dev_addr: DevAddr::from_u32(0x0405_f519),
        mac_version: MacVersion::V1_0_4,
        f_cnt,
        f_port: Some(2),
        payload: Some(AppPayload::Clear(vec![0x00, 0x27, 0xbd, 0x00])),
        mac_commands: Vec::new(),
        confirmed: false,
        adr: true,
        adr_ack_req: false,
        ack: false,
        lost: 0,
        data_rate: Some(5),
        receptions: vec![RxInfo {
            gateway: Eui64::from_u64(0x0804_0059),
            frequency_hz: 868_100_000,
            modulation: RadioModulation::Lora {
                spreading_factor: 7,
                bandwidth_hz: 125_000,
                code_rate: None,
            },
            rssi_dbm: -60,
            snr_db: 9.75,
            channel: 0,
            rf_chain: 0,
            counter_us: 0,
            time: None,
            gps_time_ms: None,
            fine_timestamp_ns: None,
        }],
        received_at: SystemTime::now(),
        mac_events: Vec::new(),
        needs_downlink: false,
    }
}

// ------------------------------------------------------------------ the application server

#[derive(Debug)]
struct Received {
    path: &'static str,
    query: String,
    content_type: String,
    body: String,
}

#[derive(Clone)]
struct AsState {
    received: mpsc::UnboundedSender<Received>,
    /// The slow route answers after 1 s, and not before the test opens this gate.
    gate: watch::Receiver<bool>,
}

fn record(
    state: &AsState,
    path: &'static str,
    query: Option<String>,
    headers: &HeaderMap,
    body: String,
) {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let _ = state.received.send(Received {
        path,
        query: query.unwrap_or_default(),
        content_type,
        body,
    });
}

async fn ok(
    State(s): State<AsState>,
    RawQuery(q): RawQuery,
    h: HeaderMap,
    body: String,
) -> &'static str {
    record(&s, "/ok", q, &h, body);
    "ok"
}

async fn slow(
    State(s): State<AsState>,
    RawQuery(q): RawQuery,
    h: HeaderMap,
    body: String,
) -> &'static str {
    let mut gate = s.gate.clone();
    let opened = async move {
        let _ = gate.wait_for(|open| *open).await;
    };
    tokio::join!(tokio::time::sleep(Duration::from_secs(1)), opened);
    record(&s, "/slow", q, &h, body);
    "ok"
}

async fn fail(
    State(s): State<AsState>,
    RawQuery(q): RawQuery,
    h: HeaderMap,
    body: String,
) -> (axum::http::StatusCode, &'static str) {
    record(&s, "/fail", q, &h, body);
    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down")
}

struct TestAs {
    base: String,
    received: mpsc::UnboundedReceiver<Received>,
    gate: watch::Sender<bool>,
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

async fn application_server() -> TestAs {
    let (tx, rx) = mpsc::unbounded_channel();
    let (gate_tx, gate_rx) = watch::channel(false);
    let app = Router::new()
        .route("/ok", post(ok))
        .route("/slow", post(slow))
        .route("/fail", post(fail))
        .with_state(AsState {
            received: tx,
            gate: gate_rx,
        });
    TestAs {
        base: serve(app).await,
        received: rx,
        gate: gate_tx,
    }
}

impl TestAs {
    fn route(&self, path: &str, content_type: ContentType) -> AsRoute {
        AsRoute {
            url: format!("{}{path}", self.base),
            content_type,
        }
    }

    async fn next(&mut self) -> Received {
        tokio::time::timeout(BOUND, self.received.recv())
            .await
            .expect("a report within the bound")
            .expect("server running")
    }
}

// ------------------------------------------------------- what an application server does

fn percent_decode(text: &str) -> String {
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

/// §6.5.2 as an application server does it: the query line without Token (decoded), the
/// body elements, the key; compare with the Token.
fn token_verifies(query: &str, body_elements: &str) -> bool {
    let mut token = None;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("Token=") {
            Some(t) => token = Some(t.to_owned()),
            None => rest.push(percent_decode(pair)),
        }
    }
    let input = format!("{body_elements}{}{KEY}", rest.join("&"));
    let digest: String = Sha256::digest(input.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    token.as_deref() == Some(digest.as_str())
}

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

fn status_of(delivery: &ReportDelivery, url: &str) -> DestinationStatus {
    delivery
        .destinations()
        .into_iter()
        .find(|d| d.url == url)
        .expect("destination known")
}

async fn settled(delivery: &ReportDelivery, id: u64) -> Vec<(String, Outcome)> {
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let record = delivery.record(id).expect("record kept");
        if record
            .destinations
            .iter()
            .all(|(_, o)| *o != Outcome::Pending)
        {
            return record.destinations;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "report {id} never settled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ------------------------------------------------------------------------------- reports

#[tokio::test]
async fn uplink_reports_arrive_signed_in_json_and_xml() {
    let mut server = application_server().await;
    let dev: Eui64 = "000000000F1D8693".parse().expect("eui");
    let mut network = FakeNetwork::default();
    network.devices.insert(
        dev,
        routing(
            "app1.sample.com",
            vec![
                server.route("/ok", ContentType::Json),
                server.route("/ok", ContentType::Xml),
            ],
            4,
        ),
    );
    let network = Arc::new(network);
    let delivery = ReportDelivery::new(DeliveryConfig {
        lrc_id: "00000065".to_owned(),
        ..DeliveryConfig::default()
    })
    .expect("client");
    // Through the broadcast channel, as the daemon wires it.
    let (events, receiver) = tokio::sync::broadcast::channel(16);
    let forwarder = tokio::spawn(delivery.clone().forward_uplinks(network.clone(), receiver));
    events.send(Arc::new(event(dev, 7011))).expect("subscriber");

    let mut json = None;
    let mut xml = None;
    for _ in 0..2 {
        let got = server.next().await;
        match got.content_type.as_str() {
            "application/json" => json = Some(got),
            "application/xml" => xml = Some(got),
            other => panic!("content type {other}"),
        }
    }
    let json = json.expect("JSON report");
    let xml = xml.expect("XML report");
    assert_eq!(param(&json.query, "LrnDevEui"), Some("000000000f1d8693"));
    assert_eq!(param(&json.query, "LrnFPort"), Some("2"));
    assert_eq!(param(&json.query, "LrnInfos"), Some("UPHTTP_LAB_LORA"));
    assert_eq!(param(&json.query, "AS_ID"), Some("app1.sample.com"));
    let time = param(&json.query, "Time").expect("Time");
    assert!(
        time.contains("%3A") && time.ends_with("%2B00%3A00"),
        "{time}"
    );

    let doc: serde_json::Value = serde_json::from_str(&json.body).expect("JSON body");
    let up = &doc["DevEUI_uplink"];
    assert_eq!(up["DevEUI"], "000000000F1D8693");
    assert_eq!(up["FPort"], 2);
    assert_eq!(up["FCntUp"], 7011);
    assert_eq!(up["FCntDn"], 11);
    assert_eq!(up["payload_hex"], "0027bd00");
    assert_eq!(up["mic_hex"], "38e7a3b9");
    assert_eq!(up["Lrcid"], "00000065");
    assert_eq!(up["ADRbit"], 1);
    assert_eq!(up["Frequency"], 868.1);
    assert_eq!(up["Lrrs"]["Lrr"][0]["Lrrid"], "0000000008040059");
    // The AS rebuilds the body elements from the document it received.
    let elements = format!(
        "{}{}{}{}{}",
        up["CustomerID"].as_str().expect("CustomerID"),
        up["DevEUI"].as_str().expect("DevEUI"),
        up["FPort"],
        up["FCntUp"],
        up["payload_hex"].as_str().expect("payload"),
    );
    assert_eq!(elements, "100000507000000000F1D8693270110027bd00");
    assert!(token_verifies(&json.query, &elements), "JSON report token");
    assert!(token_verifies(&xml.query, &elements), "XML report token");
    assert!(!token_verifies(
        &json.query,
        "100000507000000000F1D8693270120027bd00"
    ));
    assert!(xml.body.contains("<FCntUp>7011</FCntUp>"));
    assert!(xml.body.contains("<payload_hex>0027bd00</payload_hex>"));

    drop(events);
    tokio::time::timeout(BOUND, forwarder)
        .await
        .expect("the forwarder stops when the channel closes")
        .expect("no panic");
    let records = delivery.records(Some(dev), 10);
    assert_eq!(records.len(), 1);
    let outcomes = settled(&delivery, records[0].id).await;
    assert!(outcomes.iter().all(|(_, o)| o.delivered()), "{outcomes:?}");
}

#[tokio::test]
async fn downlink_sent_and_notification_reports_arrive_signed() {
    use nsd::downlink::delivery::{DeliveryFailedCause, DeliveryReport, TransmissionSlot};
    use nsd::tunnel::report::{self, DownlinkSent, Notification};
    let mut server = application_server().await;
    let dev: Eui64 = "0018B20000000D48".parse().expect("eui");
    let mut network = FakeNetwork::default();
    network.devices.insert(
        dev,
        routing(
            "app1.sample.com",
            vec![server.route("/ok", ContentType::Xml)],
            4,
        ),
    );
    let delivery = ReportDelivery::new(DeliveryConfig::default()).expect("client");
    let mut outcome = DeliveryReport::default();
    outcome.failed(TransmissionSlot::Rx1, DeliveryFailedCause::RadioBusy);
    outcome.sent(TransmissionSlot::Rx2);
    let sent = DownlinkSent {
        dev_eui: dev,
        dev_addr: DevAddr::from_u32(0x0405_f519),
        time: SystemTime::now(),
        f_port: 1,
        f_cnt_dn: Some(47),
        af_cnt_dn: None,
        f_cnt_up: Some(39),
        confirmed: false,
        f_pending: false,
        mac_commands: Vec::new(),
        delivery: outcome,
        gateway: Some(Eui64::from_u64(0xff01_06de)),
        frequency_hz: Some(869_525_000),
        spreading_factor: Some(12),
        channel: None,
        sub_band: None,
        correlation_id: Some("4434704901C7450B".to_owned()),
    };
    delivery
        .report_with(&network, dev, SystemTime::now(), |routing, lrc| {
            report::downlink_sent(&sent, routing, lrc)
        })
        .await
        .expect("the device has an AS");
    let got = server.next().await;
    assert_eq!(got.content_type, "application/xml");
    assert_eq!(param(&got.query, "LrnFPort"), Some("1"));
    for element in [
        "<DevEUI_downlink_Sent xmlns=\"http://uri.actility.com/lora\">",
        "<FCntDn>47</FCntDn>",
        "<DeliveryStatus>1</DeliveryStatus>",
        "<DeliveryFailedCause1>A3</DeliveryFailedCause1>",
        "<DeliveryFailedCause2>00</DeliveryFailedCause2>",
        "<TransmissionSlot>2</TransmissionSlot>",
        "<Frequency>869.525</Frequency>",
        "<CorrelationID>4434704901C7450B</CorrelationID>",
    ] {
        assert!(got.body.contains(element), "{element} in {}", got.body);
    }
    // §6.5.2: CustomerID, DevEUI, FPort, FCntDn.
    assert!(token_verifies(&got.query, "1000005070018B20000000D48147"));

    delivery
        .report_with(&network, dev, SystemTime::now(), |routing, lrc| {
            let reset = Notification::AdminReset;
            report::notification(
                dev,
                sent.dev_addr,
                &reset,
                SystemTime::now(),
                Some(0),
                None,
                routing,
                lrc,
            )
        })
        .await
        .expect("the device has an AS");
    let got = server.next().await;
    assert_eq!(
        param(&got.query, "LrnFPort"),
        None,
        "no port in a notification"
    );
    assert!(
        got.body
            .contains("<Type>reset</Type><Var1>admin_reset</Var1>"),
        "{}",
        got.body
    );
    assert!(token_verifies(&got.query, "1000005070018B20000000D48"));
    assert_eq!(
        delivery
            .report_with(
                &network,
                Eui64::from_u64(9),
                SystemTime::now(),
                |routing, lrc| { report::downlink_sent(&sent, routing, lrc) }
            )
            .await,
        None,
        "no AS, no report"
    );
}

#[tokio::test]
async fn a_dev_status_answer_without_payload_is_a_notification() {
    let mut server = application_server().await;
    let dev = Eui64::from_u64(0x0f1d_8693);
    let mut network = FakeNetwork::default();
    network.devices.insert(
        dev,
        routing(
            "app1.sample.com",
            vec![server.route("/ok", ContentType::Json)],
            4,
        ),
    );
    let delivery = ReportDelivery::new(DeliveryConfig::default()).expect("client");
    let mut uplink = event(dev, 12);
    uplink.f_port = None;
    uplink.payload = None;
    // DevStatusAns: battery 254, margin -3 (6-bit 0x3d).
    uplink.mac_commands = vec![0x06, 0xfe, 0x3d];
    // No port, no ACK: no uplink report (§6.1.1), only the notification (§6.4.1).
    let ids = delivery
        .report_uplink(&network, &uplink, SystemTime::now())
        .await;
    assert_eq!(ids.len(), 1);
    let got = server.next().await;
    let doc: serde_json::Value = serde_json::from_str(&got.body).expect("JSON");
    let n = &doc["DevEUI_notification"];
    assert_eq!(n["Type"], "devstatusans");
    assert_eq!(n["Var1"], "254");
    assert_eq!(n["Var2"], "-3");
    assert_eq!(n["FCntDn"], 11);
    assert!(n.get("AFCntDn").is_none(), "a 1.0 device");
    assert_eq!(param(&got.query, "LrnFPort"), None);
    assert!(token_verifies(&got.query, "100000507000000000F1D8693"));
}

#[tokio::test]
async fn a_slow_as_goes_to_overload_without_slowing_a_healthy_one() {
    let mut server = application_server().await;
    let slow_dev = Eui64::from_u64(1);
    let fast_dev = Eui64::from_u64(2);
    let mut network = FakeNetwork::default();
    network.devices.insert(
        slow_dev,
        routing("slow.as", vec![server.route("/slow", ContentType::Json)], 2),
    );
    network.devices.insert(
        fast_dev,
        routing("fast.as", vec![server.route("/ok", ContentType::Json)], 2),
    );
    let delivery = ReportDelivery::new(DeliveryConfig::default()).expect("client");
    let now = SystemTime::now();
    let mut slow_ids = Vec::new();
    let mut fast_ids = Vec::new();
    for f_cnt in 0..10 {
        slow_ids.extend(
            delivery
                .report_uplink(&network, &event(slow_dev, f_cnt), now)
                .await,
        );
    }
    for f_cnt in 0..10 {
        let ids = delivery
            .report_uplink(&network, &event(fast_dev, f_cnt), now)
            .await;
        // Sequentially, so the healthy AS's two handlers are never both busy.
        for id in &ids {
            settled(&delivery, *id).await;
        }
        fast_ids.extend(ids);
    }
    // Every healthy report went through while the slow AS still holds its two handlers.
    for _ in 0..10 {
        assert_eq!(server.next().await.path, "/ok");
    }
    let slow_url = format!("{}/slow", server.base);
    let slow = status_of(&delivery, &slow_url);
    assert_eq!(slow.state, DestinationState::Overload);
    assert_eq!((slow.in_flight, slow.dropped), (2, 8));
    let dropped = slow_ids
        .iter()
        .filter(|id| {
            delivery
                .record(**id)
                .is_some_and(|r| r.destinations[0].1 == Outcome::DroppedOverload)
        })
        .count();
    assert_eq!(dropped, 8);
    let fast = status_of(&delivery, &format!("{}/ok", server.base));
    assert_eq!(
        (fast.state, fast.delivered, fast.dropped),
        (DestinationState::Healthy, 10, 0)
    );

    // Once the slow AS answers, its handlers come back.
    server.gate.send(true).expect("gate");
    for id in slow_ids.iter().take(2) {
        let outcome = settled(&delivery, *id).await;
        assert!(outcome[0].1.delivered(), "{outcome:?}");
    }
    let slow = status_of(&delivery, &slow_url);
    assert_eq!(
        (slow.state, slow.in_flight, slow.delivered),
        (DestinationState::Healthy, 0, 2)
    );
}

#[tokio::test]
async fn a_failing_as_is_blacklisted() {
    let server = application_server().await;
    let dev = Eui64::from_u64(3);
    let mut network = FakeNetwork::default();
    network.devices.insert(
        dev,
        routing(
            "failing.as",
            vec![server.route("/fail", ContentType::Xml)],
            4,
        ),
    );
    let delivery = ReportDelivery::new(DeliveryConfig {
        blacklist_after: 3,
        blacklist_for: Duration::from_secs(600),
        ..DeliveryConfig::default()
    })
    .expect("client");
    for f_cnt in 0..3 {
        let ids = delivery
            .report_uplink(&network, &event(dev, f_cnt), SystemTime::now())
            .await;
        let outcome = settled(&delivery, ids[0]).await;
        assert_eq!(
            outcome[0].1,
            Outcome::Failed {
                error: "500 HTTP Error".to_owned()
            }
        );
    }
    let url = format!("{}/fail", server.base);
    let status = status_of(&delivery, &url);
    assert_eq!(status.state, DestinationState::Blacklist);
    assert_eq!(status.last_error.as_deref(), Some("500 HTTP Error"));
    let ids = delivery
        .report_uplink(&network, &event(dev, 3), SystemTime::now())
        .await;
    let record = delivery.record(ids[0]).expect("record");
    assert_eq!(record.destinations[0].1, Outcome::DroppedBlacklist);
    assert!(!record.delivered());
    assert_eq!(
        (
            status_of(&delivery, &url).failed,
            status_of(&delivery, &url).dropped
        ),
        (3, 1)
    );

    // The delivery view of the API shows the state and each report's outcome.
    let view = serve(nsd::api::tunnel::delivery_routes(delivery.clone())).await;
    let client = reqwest::Client::new();
    let get = |path: String| {
        let request = client.get(format!("{view}{path}")).send();
        async move {
            let text = request.await.expect("GET").text().await.expect("body");
            serde_json::from_str::<serde_json::Value>(&text).expect("JSON")
        }
    };
    let destinations = get("/tunnel/destinations".to_owned()).await;
    assert_eq!(destinations["destinations"][0]["state"], "Blacklist");
    assert_eq!(
        destinations["destinations"][0]["lastError"],
        "500 HTTP Error"
    );
    assert_eq!(destinations["destinations"][0]["failed"], 3);
    let reports = get(format!("/tunnel/reports/{dev}")).await;
    let reports = reports["reports"].as_array().expect("list");
    assert_eq!(reports.len(), 4);
    assert_eq!(reports[0]["report"], "DevEUI_uplink");
    assert_eq!(reports[0]["delivered"], false);
    assert_eq!(reports[0]["destinations"][0]["status"], "dropped");
    assert_eq!(reports[0]["destinations"][0]["error"], "Blacklist");
    assert_eq!(reports[3]["destinations"][0]["error"], "500 HTTP Error");
}
