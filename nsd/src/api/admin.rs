//! `/api/…`: the nsd's admin REST API (JSON), described by the OpenAPI 3.1 document it serves
//! at `GET /api/openapi.json` (`openapi.json` beside this file).
//!
//! Multicast groups' handlers are in [`super::multicast`].
//!
//! Every route: authenticate the operator's bearer token → parse path and body into typed
//! values (our own extractors: a malformed request is a JSON `400 invalid_request` naming the
//! field) → call [`NetworkServer`] → answer JSON. Errors become responses in one place,
//! [`ApiError::into_response`]. Session keys go in (ABP provisioning) and never come out.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::{Json, Router};
use lorawan::ids::{AesKey, DevAddr, Eui64};
use lorawan::join::MacVersion;
use lorawan::region::Region;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use service::auth::{OperatorConfig, TokenTable};
use service::config::Secret;
use service::rest::{bearer_token, parse_field, JsonBody, NoQuery, QueryParams, RestRejection};

use super::multicast;
use crate::app::claim::Release;
use crate::app::devices::{DeviceView, EnqueueError, ProvisionError};
use crate::app::multicast::MulticastGroupError;
use crate::app::NetworkServer;
use crate::device::{Class, Device, DeviceProfile, NetworkKeys, Session, SessionKeys};
use crate::downlink::multicast::MulticastError;
use crate::downlink::queue::{Confirmation, NewDownlink, Payload, QueueItem};
use crate::gateway::registry::{Gateway, GatewayView, Location};
use crate::join::claim::{self, ClaimError};
use crate::storage::StorageError;
use crate::tunnel::delivery::ReportDelivery;

/// `GET`: every device profile.
pub const PROFILES: &str = "/api/device-profiles";
/// `PUT`, `DELETE`: one device profile.
pub const PROFILE: &str = "/api/device-profiles/{id}";
/// `GET`: a page of devices.
pub const DEVICES: &str = "/api/devices";
/// `GET`, `PUT`, `DELETE`: one device.
pub const DEVICE: &str = "/api/devices/{dev_eui}";
/// `GET`, `POST`, `DELETE`: a device's downlink queue.
pub const QUEUE: &str = "/api/devices/{dev_eui}/queue";
/// `GET`: every gateway.
pub const GATEWAYS: &str = "/api/gateways";
/// `PUT`, `DELETE`: one gateway.
pub const GATEWAY: &str = "/api/gateways/{gateway_id}";
/// `GET`: every multicast group.
pub const MULTICAST_GROUPS: &str = "/api/multicast-groups";
/// `GET`, `PUT`, `DELETE`: one multicast group.
pub const MULTICAST_GROUP: &str = "/api/multicast-groups/{id}";
/// `POST`: send a frame to a multicast group now.
pub const MULTICAST_QUEUE: &str = "/api/multicast-groups/{id}/queue";
/// `GET`: the state and counters of every AS route of the tunnel.
pub const TUNNEL_DESTINATIONS: &str = "/api/tunnel/destinations";
/// `GET`: the latest tunnel reports with each destination's outcome.
pub const TUNNEL_REPORTS: &str = "/api/tunnel/reports";
/// `GET`: the latest tunnel reports of one device.
pub const TUNNEL_DEVICE_REPORTS: &str = "/api/tunnel/reports/{dev_eui}";
/// `GET`: the OpenAPI document (no authentication).
pub const OPENAPI: &str = "/api/openapi.json";

/// Every admin route as (HTTP method, path in OpenAPI syntax); the tests check the OpenAPI
/// document describes exactly these.
pub const ROUTES: [(&str, &str); 22] = [
    ("GET", PROFILES),
    ("PUT", PROFILE),
    ("DELETE", PROFILE),
    ("GET", DEVICES),
    ("GET", DEVICE),
    ("PUT", DEVICE),
    ("DELETE", DEVICE),
    ("GET", QUEUE),
    ("POST", QUEUE),
    ("DELETE", QUEUE),
    ("GET", GATEWAYS),
    ("PUT", GATEWAY),
    ("DELETE", GATEWAY),
    ("GET", MULTICAST_GROUPS),
    ("GET", MULTICAST_GROUP),
    ("PUT", MULTICAST_GROUP),
    ("DELETE", MULTICAST_GROUP),
    ("POST", MULTICAST_QUEUE),
    ("GET", TUNNEL_DESTINATIONS),
    ("GET", TUNNEL_REPORTS),
    ("GET", TUNNEL_DEVICE_REPORTS),
    ("GET", OPENAPI),
];

/// The OpenAPI 3.1 document of this API.
pub const OPENAPI_DOCUMENT: &str = include_str!("openapi.json");

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// What the handlers share.
#[derive(Clone)]
pub struct AdminState {
    server: Arc<NetworkServer>,
    operators: Arc<TokenTable<String>>,
    delivery: Option<Arc<ReportDelivery>>,
}

impl AdminState {
    pub(super) fn server(&self) -> &NetworkServer {
        &self.server
    }
}

/// The admin routes over `server`, for the operators of `[[operators]]`; `delivery` is the
/// tunnel's report sender, whose records the API shows.
pub fn router(
    server: Arc<NetworkServer>,
    operators: &[OperatorConfig],
    delivery: Option<Arc<ReportDelivery>>,
) -> Router {
    let operators = service::auth::operator_table(operators, |o| o.name.clone());
    let state = AdminState {
        server,
        operators: Arc::new(operators),
        delivery,
    };
    ROUTES
        .iter()
        .fold(Router::new(), |router, &(method, path)| {
            router.route(path, endpoint(method, path))
        })
        .with_state(state)
}

fn endpoint(method: &str, path: &str) -> MethodRouter<AdminState> {
    match (method, path) {
        ("GET", PROFILES) => get(list_profiles),
        ("PUT", PROFILE) => put(put_profile),
        ("DELETE", PROFILE) => delete(delete_profile),
        ("GET", DEVICES) => get(list_devices),
        ("GET", DEVICE) => get(show_device),
        ("PUT", DEVICE) => put(put_device),
        ("DELETE", DEVICE) => delete(delete_device),
        ("GET", QUEUE) => get(show_queue),
        ("POST", QUEUE) => post(enqueue),
        ("DELETE", QUEUE) => delete(flush_queue),
        ("GET", GATEWAYS) => get(list_gateways),
        ("PUT", GATEWAY) => put(put_gateway),
        ("DELETE", GATEWAY) => delete(delete_gateway),
        ("GET", MULTICAST_GROUPS) => get(multicast::list_groups),
        ("GET", MULTICAST_GROUP) => get(multicast::show_group),
        ("PUT", MULTICAST_GROUP) => put(multicast::put_group),
        ("DELETE", MULTICAST_GROUP) => delete(multicast::delete_group),
        ("POST", MULTICAST_QUEUE) => post(multicast::send),
        ("GET", TUNNEL_DESTINATIONS) => get(tunnel_destinations),
        ("GET", TUNNEL_REPORTS) => get(tunnel_reports),
        ("GET", TUNNEL_DEVICE_REPORTS) => get(tunnel_device_reports),
        ("GET", OPENAPI) => get(openapi),
        _ => MethodRouter::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Profiles
// ---------------------------------------------------------------------------------------

/// A device profile as the API writes and reads it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileBody {
    region: String,
    mac_version: String,
    #[serde(default = "class_a")]
    class: String,
    #[serde(default = "yes")]
    supports_join: bool,
    #[serde(default)]
    rx1_delay_s: Option<u8>,
    #[serde(default)]
    rx1_dr_offset: Option<u8>,
    #[serde(default)]
    rx2_data_rate: Option<u8>,
    #[serde(default)]
    rx2_frequency_hz: Option<u32>,
    #[serde(default = "yes")]
    adr: bool,
    #[serde(default)]
    abp_counter_reset: bool,
}

fn class_a() -> String {
    "A".into()
}

fn yes() -> bool {
    true
}

/// A LoRaWAN version as the API documents it (and reads it): `1.0.4`, `1.1`.
fn version_name(version: MacVersion) -> String {
    match version {
        MacVersion::V1_1 => "1.1".to_owned(),
        other => other.to_string(),
    }
}

fn profile_json(p: &DeviceProfile) -> Value {
    json!({
        "id": p.id, "region": p.region.name(), "mac_version": version_name(p.mac_version),
        "class": p.class.letter(), "supports_join": p.supports_join,
        "rx1_delay_s": p.rx1_delay_s, "rx1_dr_offset": p.rx1_dr_offset,
        "rx2_data_rate": p.rx2_data_rate, "rx2_frequency_hz": p.rx2_frequency_hz,
        "adr": p.adr, "abp_counter_reset": p.abp_counter_reset,
    })
}

async fn list_profiles(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    let all: Vec<Value> = state
        .server
        .profiles()
        .iter()
        .map(|p| profile_json(p))
        .collect();
    Ok(Json(json!({ "device_profiles": all })))
}

async fn put_profile(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ProfileBody>,
) -> Result<Json<Value>, ApiError> {
    if id.is_empty() || id.len() > 100 {
        return Err(bad("id", "1 to 100 characters"));
    }
    let region: Region = parse_field("region", &body.region, "a region (EU868, US915, …)")?;
    let mac_version: MacVersion = parse_field(
        "mac_version",
        &body.mac_version,
        "a LoRaWAN version (1.0.2 … 1.1)",
    )?;
    let class = Class::from_letter(&body.class).ok_or_else(|| bad("class", "A, B or C"))?;
    let mut profile = DeviceProfile::defaults(&id, region, mac_version);
    profile.class = class;
    profile.supports_join = body.supports_join;
    profile.adr = body.adr;
    profile.abp_counter_reset = body.abp_counter_reset;
    profile.rx1_delay_s = body.rx1_delay_s.unwrap_or(profile.rx1_delay_s);
    profile.rx1_dr_offset = body.rx1_dr_offset.unwrap_or(profile.rx1_dr_offset);
    profile.rx2_data_rate = body.rx2_data_rate.unwrap_or(profile.rx2_data_rate);
    profile.rx2_frequency_hz = body.rx2_frequency_hz.unwrap_or(profile.rx2_frequency_hz);
    let shown = profile_json(&profile);
    state.server.put_profile(profile).await?;
    Ok(Json(shown))
}

async fn delete_profile(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.server.delete_profile(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------
// Devices
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceBody {
    #[serde(default)]
    name: String,
    tenant: String,
    profile: String,
    #[serde(default)]
    join_eui: Option<String>,
    /// ABP devices: the session to serve.
    #[serde(default)]
    session: Option<SessionBody>,
    /// The application server its frames are reported to.
    #[serde(default)]
    as_link: Option<crate::tunnel::config::DeviceAsLink>,
    /// Roam-out allowed (passive roaming through partners' gateways).
    #[serde(default)]
    roaming: bool,
    /// OTAA devices: claim the device on its join server with this owner token first.
    #[serde(default)]
    owner_token: Option<Secret<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionBody {
    dev_addr: String,
    #[serde(default)]
    nwk_s_key: Option<String>,
    #[serde(default)]
    f_nwk_s_int_key: Option<String>,
    #[serde(default)]
    s_nwk_s_int_key: Option<String>,
    #[serde(default)]
    nwk_s_enc_key: Option<String>,
    #[serde(default)]
    app_s_key: Option<String>,
    #[serde(default)]
    f_cnt_up_next: u32,
    #[serde(default)]
    n_f_cnt_down: u32,
    #[serde(default)]
    a_f_cnt_down: u32,
}

// Keys never reach logs, even in a debug print of a request.
impl std::fmt::Debug for SessionBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionBody")
            .field("dev_addr", &self.dev_addr)
            .finish_non_exhaustive()
    }
}

fn key(field: &str, text: &Option<String>) -> Result<Option<AesKey>, ApiError> {
    text.as_deref()
        .map(|t| {
            t.parse::<AesKey>()
                .map_err(|_| bad(field, "a 128-bit key (32 hex digits)"))
        })
        .transpose()
}

impl SessionBody {
    fn session(&self, version: MacVersion) -> Result<Session, ApiError> {
        let dev_addr: DevAddr = parse_field(
            "session.dev_addr",
            &self.dev_addr,
            "a DevAddr (8 hex digits)",
        )?;
        let nwk_s_key = key("session.nwk_s_key", &self.nwk_s_key)?;
        let f = key("session.f_nwk_s_int_key", &self.f_nwk_s_int_key)?;
        let s = key("session.s_nwk_s_int_key", &self.s_nwk_s_int_key)?;
        let e = key("session.nwk_s_enc_key", &self.nwk_s_enc_key)?;
        let network = match (version >= MacVersion::V1_1, nwk_s_key, f, s, e) {
            (false, Some(k), None, None, None) => NetworkKeys::V1_0 { nwk_s_key: k },
            (true, None, Some(f), Some(s), Some(e)) => NetworkKeys::V1_1 {
                f_nwk_s_int_key: f,
                s_nwk_s_int_key: s,
                nwk_s_enc_key: e,
            },
            (false, ..) => {
                return Err(bad(
                    "session.nwk_s_key",
                    "LoRaWAN 1.0.x takes nwk_s_key only",
                ))
            }
            (true, ..) => {
                return Err(bad(
                    "session.f_nwk_s_int_key",
                    "LoRaWAN 1.1 takes f_nwk_s_int_key, s_nwk_s_int_key and nwk_s_enc_key",
                ))
            }
        };
        let mut session = Session::new(
            dev_addr,
            version,
            SessionKeys {
                network,
                app_s_key: key("session.app_s_key", &self.app_s_key)?,
            },
        );
        session.f_cnt_up_next = self.f_cnt_up_next;
        session.n_f_cnt_down = self.n_f_cnt_down;
        session.a_f_cnt_down = self.a_f_cnt_down;
        Ok(session)
    }
}

fn device_json(view: &DeviceView) -> Value {
    let session = view.session.as_ref().map(|s| {
        json!({
            "dev_addr": s.dev_addr.to_string(), "mac_version": version_name(s.mac_version),
            "f_cnt_up_next": s.f_cnt_up_next, "n_f_cnt_down": s.n_f_cnt_down,
            "a_f_cnt_down": s.a_f_cnt_down, "app_s_key_held": s.app_s_key_held,
        })
    });
    json!({
        "dev_eui": view.device.dev_eui.to_string(), "name": view.device.name,
        "tenant": view.device.tenant, "profile": view.device.profile,
        "join_eui": view.device.join_eui.map(|e| e.to_string()), "session": session,
        "as_link": view.device.as_link, "roaming": view.device.roaming,
    })
}

async fn list_devices(
    State(state): State<AdminState>,
    _: Operator,
    mut query: QueryParams,
) -> Result<Json<Value>, ApiError> {
    let after: Option<Eui64> = query.parse("after", "a DevEUI (16 hex digits)")?;
    let limit: Option<usize> = query.parse("limit", "a number")?;
    query.finish()?;
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad("limit", format!("1..={MAX_PAGE}")));
    }
    let views = state.server.devices(after, limit).await;
    let devices: Vec<Value> = views.iter().map(device_json).collect();
    Ok(Json(json!({ "devices": devices })))
}

async fn show_device(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
    DevEuiPath(dev_eui): DevEuiPath,
) -> Result<Json<Value>, ApiError> {
    let view = state
        .server
        .device(dev_eui)
        .await
        .ok_or_else(|| ProvisionError::NotFound(format!("device {dev_eui}")))?;
    Ok(Json(device_json(&view)))
}

async fn put_device(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
    DevEuiPath(dev_eui): DevEuiPath,
    JsonBody(body): JsonBody<DeviceBody>,
) -> Result<Json<Value>, ApiError> {
    let join_eui = body
        .join_eui
        .as_deref()
        .map(|t| parse_field("join_eui", t, "a JoinEUI (16 hex digits)"))
        .transpose()?;
    let version = state
        .server
        .profiles()
        .iter()
        .find(|p| p.id == body.profile)
        .map(|p| p.mac_version)
        .ok_or_else(|| ProvisionError::UnknownProfile(body.profile.clone()))?;
    let session = body
        .session
        .as_ref()
        .map(|s| s.session(version))
        .transpose()?;
    let device = Device {
        dev_eui,
        name: body.name,
        tenant: body.tenant,
        profile: body.profile,
        join_eui,
        as_link: body.as_link,
        roaming: body.roaming,
    };
    let view = match (&body.owner_token, session) {
        (Some(token), None) => state.server.put_device_claimed(device, &token.0).await?,
        (Some(_), Some(_)) => {
            return Err(bad(
                "owner_token",
                "an ABP device (with a session) is not claimed on a join server",
            ))
        }
        (None, session) => state.server.put_device(device, session).await?,
    };
    Ok(Json(device_json(&view)))
}

async fn delete_device(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
    DevEuiPath(dev_eui): DevEuiPath,
) -> Result<Response, ApiError> {
    // Deleted either way; a join server that did not release the device is reported.
    match state.server.delete_device_and_release(dev_eui).await? {
        Release::Failed(error) => Ok((
            StatusCode::OK,
            Json(json!({
                "dev_eui": dev_eui.to_string(),
                "deleted": true,
                "unclaim_error": claim::error_json(&error),
            })),
        )
            .into_response()),
        Release::NotApplicable | Release::Done(_) => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

// ---------------------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnqueueBody {
    f_port: u8,
    payload_hex: String,
    #[serde(default)]
    confirmed: bool,
    /// The payload is already encrypted by the AS (then `f_cnt` is required).
    #[serde(default)]
    encrypted: bool,
    #[serde(default)]
    f_cnt: Option<u32>,
    /// Seconds from now after which the frame is dropped unsent.
    #[serde(default)]
    validity_s: Option<u64>,
    #[serde(default)]
    correlation_id: Option<String>,
}

fn item_json(item: &QueueItem) -> Value {
    json!({
        "id": item.id, "f_port": item.f_port,
        "payload_hex": hex::encode(item.payload.bytes()),
        "encrypted": matches!(item.payload, Payload::Encrypted(_)),
        "confirmed": item.confirmation == Confirmation::Confirmed,
        "f_cnt": item.fcnt, "correlation_id": item.correlation_id,
    })
}

async fn show_queue(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
    DevEuiPath(dev_eui): DevEuiPath,
) -> Result<Json<Value>, ApiError> {
    let items = state
        .server
        .queue(dev_eui)
        .await
        .ok_or(EnqueueError::NotFound(dev_eui))?;
    let items: Vec<Value> = items.iter().map(item_json).collect();
    Ok(Json(json!({ "queue": items })))
}

async fn enqueue(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
    DevEuiPath(dev_eui): DevEuiPath,
    JsonBody(body): JsonBody<EnqueueBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bytes = hex::decode(body.payload_hex.trim())
        .map_err(|e| bad("payload_hex", format!("not hex: {e}")))?;
    let payload = if body.encrypted {
        Payload::Encrypted(bytes)
    } else {
        Payload::Clear(bytes)
    };
    let downlink = NewDownlink {
        f_port: body.f_port,
        payload,
        confirmation: if body.confirmed {
            Confirmation::Confirmed
        } else {
            Confirmation::Unconfirmed
        },
        validity: body
            .validity_s
            .map(|s| SystemTime::now() + Duration::from_secs(s)),
        correlation_id: body.correlation_id,
        fcnt: body.f_cnt,
    };
    let id = state.server.enqueue(dev_eui, downlink).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

async fn flush_queue(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
    DevEuiPath(dev_eui): DevEuiPath,
) -> Result<Json<Value>, ApiError> {
    let removed = state.server.flush_queue(dev_eui).await?;
    let removed: Vec<Value> = removed.iter().map(item_json).collect();
    Ok(Json(json!({ "removed": removed })))
}

// ---------------------------------------------------------------------------------------
// Gateways
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewayBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    location: Option<LocationBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationBody {
    latitude: f64,
    longitude: f64,
    #[serde(default)]
    altitude: f64,
}

fn gateway_json(g: &Gateway) -> Value {
    json!({
        "gateway_id": g.id.to_string(), "name": g.name, "tenant": g.tenant, "tags": g.tags,
        "location": g.location.map(|l| json!({
            "latitude": l.lat, "longitude": l.lon, "altitude": l.alt_m,
        })),
    })
}

/// A gateway with what we last heard from it.
fn gateway_view_json(view: &GatewayView) -> Value {
    let mut value = gateway_json(&view.gateway);
    let status = &view.status;
    let seconds = |t: Option<SystemTime>| {
        t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
    };
    value["status"] = json!({
        "last_seen_unix": seconds(status.last_seen),
        "last_keepalive_unix": seconds(status.last_keepalive),
        "connected_from": status.downlink.map(|r| r.addr.to_string()),
        "protocol_version": status.protocol_version,
        "frames_received": status.frames_received,
        "frames_sent": status.frames_sent,
        "frames_refused": status.frames_refused,
    });
    value
}

async fn list_gateways(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    let all: Vec<Value> = state
        .server
        .gateways()
        .iter()
        .map(gateway_view_json)
        .collect();
    Ok(Json(json!({ "gateways": all })))
}

async fn put_gateway(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<GatewayBody>,
) -> Result<Json<Value>, ApiError> {
    let id: Eui64 = parse_field("gateway_id", &id, "a gateway EUI (16 hex digits)")?;
    if let Some(l) = &body.location {
        if !(-90.0..=90.0).contains(&l.latitude) {
            return Err(bad("location.latitude", "-90..=90"));
        }
        if !(-180.0..=180.0).contains(&l.longitude) {
            return Err(bad("location.longitude", "-180..=180"));
        }
    }
    let gateway = Gateway {
        id,
        name: body.name,
        tenant: body.tenant,
        tags: body.tags,
        location: body.location.map(|l| Location {
            lat: l.latitude,
            lon: l.longitude,
            alt_m: l.altitude,
        }),
    };
    let shown = gateway_json(&gateway);
    state.server.put_gateway(gateway).await?;
    Ok(Json(shown))
}

async fn delete_gateway(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: Eui64 = parse_field("gateway_id", &id, "a gateway EUI (16 hex digits)")?;
    state.server.delete_gateway(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------
// The tunnel's report delivery
// ---------------------------------------------------------------------------------------

fn delivery(state: &AdminState) -> Result<&ReportDelivery, ApiError> {
    state
        .delivery
        .as_deref()
        .ok_or_else(|| ApiError::Provision(ProvisionError::NotFound("the AS tunnel".into())))
}

async fn tunnel_destinations(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(super::tunnel::destinations_json(delivery(&state)?)))
}

async fn tunnel_reports(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(super::tunnel::records_json(delivery(&state)?, None)))
}

async fn tunnel_device_reports(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
    DevEuiPath(dev_eui): DevEuiPath,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(super::tunnel::records_json(
        delivery(&state)?,
        Some(dev_eui),
    )))
}

async fn openapi() -> Response {
    service::rest::json_document(OPENAPI_DOCUMENT)
}

// ---------------------------------------------------------------------------------------
// Extractors and errors
// ---------------------------------------------------------------------------------------

/// An authenticated operator (its name).
pub struct Operator(pub String);

impl FromRequestParts<AdminState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, ApiError> {
        state
            .operators
            .authenticate(bearer_token(&parts.headers))
            .cloned()
            .map(Self)
            .ok_or(ApiError::Unauthorized)
    }
}

/// The `{dev_eui}` path segment, parsed.
struct DevEuiPath(Eui64);

impl<S: Send + Sync> FromRequestParts<S> for DevEuiPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| bad("dev_eui", e.body_text()))?;
        Ok(Self(parse_field(
            "dev_eui",
            &text,
            "a DevEUI (16 hex digits)",
        )?))
    }
}

/// Every way an admin request fails.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No bearer token, or one no operator holds.
    #[error("a known bearer token is required (Authorization: Bearer …)")]
    Unauthorized,
    /// The request is malformed.
    #[error(transparent)]
    Request(#[from] RestRejection),
    /// Provisioning refused or failed.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// The queue refused or failed.
    #[error(transparent)]
    Enqueue(#[from] EnqueueError),
    /// A multicast request refused or failed.
    #[error(transparent)]
    Multicast(#[from] MulticastGroupError),
}

pub(super) fn bad(field: &str, reason: impl Into<String>) -> ApiError {
    ApiError::Request(RestRejection::bad_request(field, reason))
}

impl IntoResponse for ApiError {
    /// The one mapping of errors to HTTP: status, `error` code and `message`.
    fn into_response(self) -> Response {
        let message = self.to_string();
        let (status, code) = match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Request(rejection) => return rejection.into_response(),
            Self::Provision(error) => match error {
                ProvisionError::Profile(_) | ProvisionError::Activation(_) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "invalid_provisioning")
                }
                ProvisionError::UnknownProfile(_) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "unknown_profile")
                }
                ProvisionError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
                ProvisionError::Storage(StorageError::InUse { .. }) => {
                    (StatusCode::CONFLICT, "in_use")
                }
                ProvisionError::Storage(_) => unavailable(&message),
                ProvisionError::Claim(error) => return claim_response(&error),
            },
            Self::Enqueue(error) => match error {
                EnqueueError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
                EnqueueError::NoSession(_) => (StatusCode::CONFLICT, "no_session"),
                EnqueueError::NoAppSKey | EnqueueError::Queue(_) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "queue_refused")
                }
                EnqueueError::Storage(_) => unavailable(&message),
            },
            Self::Multicast(error) => match error {
                MulticastGroupError::Invalid(_) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "invalid_provisioning")
                }
                MulticastGroupError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
                MulticastGroupError::ClassBNotSupported => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "not_supported")
                }
                MulticastGroupError::Plan(
                    MulticastError::NoGateway | MulticastError::NoGpsGateway,
                ) => (StatusCode::CONFLICT, "no_gateway"),
                MulticastGroupError::FPort(_)
                | MulticastGroupError::Frame(_)
                | MulticastGroupError::Plan(_) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "queue_refused")
                }
                MulticastGroupError::Storage(_) => unavailable(&message),
            },
        };
        let mut response =
            (status, Json(json!({"error": code, "message": message}))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

fn unavailable(message: &str) -> (StatusCode, &'static str) {
    tracing::warn!(error = %message, "admin request failed");
    (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
}

/// A refused or failed claim: the join server's own code and message, so the owner sees why.
fn claim_response(error: &ClaimError) -> Response {
    let status = match error {
        ClaimError::Refused { code, .. } if code == "already_claimed" => StatusCode::CONFLICT,
        ClaimError::Refused { code, .. } if code == "rate_limited" => StatusCode::TOO_MANY_REQUESTS,
        ClaimError::Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ClaimError::Unavailable(_) => {
            tracing::warn!(%error, "claim failed");
            StatusCode::BAD_GATEWAY
        }
    };
    (status, Json(claim::error_json(error))).into_response()
}
