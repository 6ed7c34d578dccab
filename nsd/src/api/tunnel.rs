//! The AS → nsd side of the tunnel over HTTP (seed 001 §7.1): `POST
//! /thingpark/lrc/rest/downlink` (API v1) and `POST /thingpark/lrc/rest/v2/downlink` (API
//! v2), with the parameters in the query line or seed 002's JSON body, and a read-only view
//! of report deliveries.
//!
//! Every answer is the protocol's own: v1 200 "Request queued by LRC" or 350 + the seed's
//! text (404 "No Base Station Available"); v2 202 with an empty body or 409 +
//! `{"code","message",…}`. The body is read here, not by an axum extractor, so an unreadable
//! or oversized body is answered in that form too.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::tunnel::delivery::{Outcome, ReportDelivery};
use crate::tunnel::downlink::{
    authenticate, validate, DownlinkGovernor, RawDownlink, Rejection, MAX_PAYLOAD_CHARS,
};
use crate::tunnel::TunnelNetwork;

/// The v1 path.
pub const V1_PATH: &str = "/thingpark/lrc/rest/downlink";
/// The v2 path.
pub const V2_PATH: &str = "/thingpark/lrc/rest/v2/downlink";

/// The largest request body read (a 5000-character payload in JSON, with room to spare).
const BODY_LIMIT: usize = 64 * 1024;

/// The downlink API's state.
pub struct TunnelApi<N> {
    network: Arc<N>,
    governor: DownlinkGovernor,
    clock: fn() -> SystemTime,
}

impl<N> std::fmt::Debug for TunnelApi<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelApi").finish_non_exhaustive()
    }
}

impl<N: TunnelNetwork> TunnelApi<N> {
    /// The API over `network`, reading the system clock.
    pub fn new(network: Arc<N>) -> Self {
        Self::with_clock(network, SystemTime::now)
    }

    /// The API with another clock (tests of the time deviation).
    pub fn with_clock(network: Arc<N>, clock: fn() -> SystemTime) -> Self {
        Self {
            network,
            // Enough for every device of a large network; the least recent is forgotten.
            governor: DownlinkGovernor::new(
                NonZeroUsize::new(1 << 20).unwrap_or(NonZeroUsize::MIN),
            ),
            clock,
        }
    }

    /// One downlink request: the checks in the seed's order, then the network server.
    pub async fn downlink(&self, query: &str, body: &[u8]) -> Result<(), Rejection> {
        let trimmed = body.trim_ascii_start();
        let raw = if trimmed.first() == Some(&b'{') {
            RawDownlink::from_json(body, query)?
        } else if query.is_empty() && !trimmed.is_empty() {
            // A form-encoded body instead of the query line (curl -d).
            RawDownlink::from_query(
                std::str::from_utf8(body).map_err(|_| Rejection::InvalidDevEui)?,
            )
        } else {
            RawDownlink::from_query(query)
        };
        let dev_eui = raw.dev_eui()?;
        // "The provided DevEUI does not match an existing Device or Multicast Group."
        let routing = self
            .network
            .routing(dev_eui)
            .await
            .ok_or(Rejection::InvalidDevEui)?;
        let now = (self.clock)();
        authenticate(&raw, &routing.profile, now)?;
        let submission = validate(&raw, now)?;
        if let (Some(quota), Some(_)) = (routing.downlink_quota, &submission.frame) {
            self.governor.admit(dev_eui, quota, Instant::now())?;
        }
        self.network.submit_downlink(dev_eui, submission).await?;
        Ok(())
    }
}

/// The downlink routes over `network`.
pub fn routes<N: TunnelNetwork>(network: Arc<N>) -> Router {
    router(Arc::new(TunnelApi::new(network)))
}

/// The downlink routes over a prepared [`TunnelApi`].
pub fn router<N: TunnelNetwork>(api: Arc<TunnelApi<N>>) -> Router {
    Router::new()
        .route(V1_PATH, post(v1::<N>))
        .route(V2_PATH, post(v2::<N>))
        .with_state(api)
}

/// The delivery view: `GET /tunnel/destinations` (state and counters of every AS route) and
/// `GET /tunnel/reports` / `GET /tunnel/reports/{dev_eui}` (the latest report records, with
/// each destination's outcome), as JSON.
pub fn delivery_routes(delivery: Arc<ReportDelivery>) -> Router {
    Router::new()
        .route("/tunnel/destinations", get(destinations))
        .route("/tunnel/reports", get(all_reports))
        .route("/tunnel/reports/{dev_eui}", get(device_reports))
        .with_state(delivery)
}

async fn v1<N: TunnelNetwork>(
    State(api): State<Arc<TunnelApi<N>>>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let result = match read_body(request).await {
        Ok(body) => api.downlink(query.as_deref().unwrap_or(""), &body).await,
        Err(rejection) => Err(rejection),
    };
    match result {
        Ok(()) => (StatusCode::OK, "Request queued by LRC").into_response(),
        Err(rejection) => {
            let (status, text) = rejection.v1();
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CONFLICT);
            (
                status,
                [(header::CONTENT_TYPE, "text/plain")],
                text.into_owned(),
            )
                .into_response()
        }
    }
}

async fn v2<N: TunnelNetwork>(
    State(api): State<Arc<TunnelApi<N>>>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let result = match read_body(request).await {
        Ok(body) => api.downlink(query.as_deref().unwrap_or(""), &body).await,
        Err(rejection) => Err(rejection),
    };
    match result {
        // "HTTP Response status code: 202 HTTP Response body: empty."
        Ok(()) => (StatusCode::ACCEPTED, Body::empty()).into_response(),
        Err(rejection) => (StatusCode::CONFLICT, Json(rejection.v2_json())).into_response(),
    }
}

async fn read_body(request: Request) -> Result<axum::body::Bytes, Rejection> {
    axum::body::to_bytes(request.into_body(), BODY_LIMIT)
        .await
        // Too long (or cut off): the payload cannot be within the seed's 5000 characters.
        .map_err(|_| Rejection::PayloadTooBig)
        .inspect_err(|_| tracing::debug!(limit = MAX_PAYLOAD_CHARS, "downlink body refused"))
}

async fn destinations(State(delivery): State<Arc<ReportDelivery>>) -> Json<serde_json::Value> {
    Json(destinations_json(&delivery))
}

/// Every AS route's state and counters, as the delivery view shows them.
pub(crate) fn destinations_json(delivery: &ReportDelivery) -> serde_json::Value {
    let list: Vec<serde_json::Value> = delivery
        .destinations()
        .into_iter()
        .map(|d| {
            serde_json::json!({
                "url": d.url,
                "state": d.state.name(),
                "inFlight": d.in_flight,
                "delivered": d.delivered,
                "failed": d.failed,
                "dropped": d.dropped,
                "lastError": d.last_error,
            })
        })
        .collect();
    serde_json::json!({ "destinations": list, "lagged": delivery.lagged() })
}

async fn all_reports(State(delivery): State<Arc<ReportDelivery>>) -> Json<serde_json::Value> {
    Json(records_json(&delivery, None))
}

async fn device_reports(
    State(delivery): State<Arc<ReportDelivery>>,
    Path(dev_eui): Path<String>,
) -> Response {
    match dev_eui.parse() {
        Ok(dev_eui) => Json(records_json(&delivery, Some(dev_eui))).into_response(),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": "DevEUI must be 16 hex digits" })),
        )
            .into_response(),
    }
}

pub(crate) fn records_json(
    delivery: &ReportDelivery,
    dev_eui: Option<lorawan::ids::Eui64>,
) -> serde_json::Value {
    let records: Vec<serde_json::Value> = delivery
        .records(dev_eui, 100)
        .into_iter()
        .map(|r| {
            let destinations: Vec<serde_json::Value> = r
                .destinations
                .iter()
                .map(|(url, outcome)| {
                    let (status, error) = match outcome {
                        Outcome::Pending => ("pending", None),
                        Outcome::Delivered { .. } => ("delivered", None),
                        Outcome::Failed { error } => ("failed", Some(error.clone())),
                        Outcome::DroppedOverload => ("dropped", Some("Overload".to_owned())),
                        Outcome::DroppedBlacklist => ("dropped", Some("Blacklist".to_owned())),
                    };
                    serde_json::json!({ "url": url, "status": status, "error": error })
                })
                .collect();
            serde_json::json!({
                "id": r.id,
                "report": r.kind.root(),
                "DevEUI": format!("{:X}", r.dev_eui),
                "time": crate::tunnel::time::format(r.at),
                "delivered": r.delivered(),
                "destinations": destinations,
            })
        })
        .collect();
    serde_json::json!({ "reports": records })
}
