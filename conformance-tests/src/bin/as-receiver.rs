//! `as-receiver`: a minimal application server for the LRC-AS tunnel (seeds 001 / 002), the
//! one the local federation (`deploy/local.sh`) links operator A's devices to.
//!
//! ```text
//! as-receiver [--listen 127.0.0.1:8900] [--keep 1000]
//! ```
//!
//! Every `POST` (any path: the route of an AS profile, e.g. `/operator-a`) is a report: its
//! JSON document (`{"DevEUI_uplink": {…}}`, `DevEUI_downlink_Sent`, `DevEUI_notification`, …)
//! is printed as one line — DevEUI, counters, payload, gateways, and for a roaming uplink
//! `Roaming`, `ForwardingNetID`, `ForwardingNSID` — and answered `200`. The report token in
//! the query line is shown, not checked. `GET /reports[?DevEUI=…]` gives the last `--keep`
//! reports as JSON (the scenario driver reads them); `GET /health` answers 200.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(about = "An LRC-AS tunnel application server that prints every report it receives")]
struct Args {
    /// Where to listen (loopback only).
    #[arg(long, default_value = "127.0.0.1:8900")]
    listen: SocketAddr,
    /// How many reports `GET /reports` keeps.
    #[arg(long, default_value_t = 1000)]
    keep: usize,
}

#[derive(Clone)]
struct Received {
    reports: Arc<Mutex<VecDeque<Value>>>,
    keep: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if !args.listen.ip().is_loopback() {
        eprintln!("as-receiver: --listen must be a loopback address");
        return ExitCode::FAILURE;
    }
    let state = Received {
        reports: Arc::new(Mutex::new(VecDeque::new())),
        keep: args.keep.max(1),
    };
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/reports", get(reports))
        .fallback(report)
        .with_state(state);
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("as-receiver: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    println!("as-receiver: listening on http://{}", args.listen);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("as-receiver: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `GET /reports[?DevEUI=…]`: the reports kept, oldest first.
async fn reports(
    State(state): State<Received>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Value> {
    let wanted = query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("deveui"))
        .map(|(_, v)| v.to_ascii_uppercase());
    let kept = state.reports.lock().map(|r| r.clone()).unwrap_or_default();
    let reports: Vec<Value> = kept
        .into_iter()
        .filter(|r| match &wanted {
            None => true,
            Some(eui) => r["dev_eui"].as_str().map(str::to_ascii_uppercase) == Some(eui.clone()),
        })
        .collect();
    Json(json!({ "reports": reports }))
}

/// Any other request: a `POST` is a report; the rest are not found.
async fn report(
    State(state): State<Received>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> StatusCode {
    if method != Method::POST {
        return StatusCode::NOT_FOUND;
    }
    let query = uri.query().unwrap_or_default();
    let document: Option<Value> = serde_json::from_slice(&body).ok();
    let (kind, fields) = match document.as_ref().and_then(Value::as_object) {
        Some(object) if object.len() == 1 => match object.iter().next() {
            Some((kind, fields)) => (kind.clone(), fields.clone()),
            None => (String::from("?"), Value::Null),
        },
        _ => (String::from("?"), Value::Null),
    };
    let dev_eui = text(&fields, "DevEUI")
        .or_else(|| query_value(query, "LrnDevEui"))
        .unwrap_or_default()
        .to_ascii_uppercase();
    let line = if fields.is_null() {
        let shown = String::from_utf8_lossy(&body);
        let shown: String = shown.chars().take(200).collect();
        format!("{} (not a JSON report): {shown}", uri.path())
    } else {
        describe(&kind, &fields)
    };
    println!("as-receiver: {} {line}", uri.path());
    let received_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let entry = json!({
        "received_at_unix": received_at,
        "path": uri.path(),
        "query": query,
        "kind": kind,
        "dev_eui": dev_eui,
        "report": fields,
    });
    if let Ok(mut reports) = state.reports.lock() {
        if reports.len() >= state.keep {
            reports.pop_front();
        }
        reports.push_back(entry);
    }
    StatusCode::OK
}

/// One readable line of a report's fields.
fn describe(kind: &str, fields: &Value) -> String {
    let short = kind.strip_prefix("DevEUI_").unwrap_or(kind);
    let mut line = format!(
        "{short:<14} DevEUI={}",
        text(fields, "DevEUI").unwrap_or_else(|| "?".into())
    );
    let mut add = |name: &str, shown: &str| {
        if let Some(value) = text(fields, name) {
            line.push_str(&format!(" {shown}={value}"));
        }
    };
    match kind {
        "DevEUI_uplink" => {
            add("DevAddr", "DevAddr");
            add("FCntUp", "FCntUp");
            add("FPort", "FPort");
            add("payload_hex", "payload");
            add("DevLrrCnt", "LrrCnt");
            add("Lrrid", "Lrrid");
            add("LrrRSSI", "RSSI");
            add("Roaming", "Roaming");
            add("ForwardingNetID", "ForwardingNetID");
            add("ForwardingNSID", "ForwardingNSID");
        }
        "DevEUI_downlink_Sent" => {
            add("FCntDn", "FCntDn");
            add("AFCntDn", "AFCntDn");
            add("FPort", "FPort");
            add("Lrrid", "Lrrid");
            add("DeliveryStatus", "DeliveryStatus");
            add("DeliveryFailedCause1", "Cause");
            add("TransmissionSlot", "Slot");
        }
        "DevEUI_notification" => {
            add("Type", "Type");
            add("DevAddr", "DevAddr");
            add("FCntDn", "FCntDn");
            add("AFCntDn", "AFCntDn");
        }
        _ => {
            add("FCntUp", "FCntUp");
            add("FCntDn", "FCntDn");
            add("LrrCnt", "LrrCnt");
        }
    }
    line
}

/// A field as text (strings as they are, numbers written).
fn text(fields: &Value, name: &str) -> Option<String> {
    match fields.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// One parameter of a query line, not percent-decoded (hex values need none).
fn query_value(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.to_owned())
}
