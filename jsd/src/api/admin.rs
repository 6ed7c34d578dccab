//! `/api/…`: the admin REST API (JSON), described by the OpenAPI 3.1 document it serves at
//! `GET /api/openapi.json` (`openapi.json` beside this file).
//!
//! The pipeline of every route: authenticate the bearer token ([`Authenticated`], before the
//! body is read) → parse the path, query and body into typed values (our own extractors, so a
//! malformed request is a JSON `400 invalid_request` naming the field, never axum's plain-text
//! rejection) → call [`JoinServer`] as [`Caller::Peer`] → answer JSON. Every failure becomes
//! an [`ApiError`], turned into a response in one place ([`ApiError::into_response`]):
//! `{"error": "<code>", "message": "…"}` plus the code's own fields.
//!
//! [`ROUTES`] lists the served (method, path) pairs: the router is built from it and the
//! tests check it against the OpenAPI document both ways.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put, MethodRouter};
use axum::{Json, Router};
use lorawan::ids::{Eui64, NetId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::app::devices::{AdminError, Imported};
use crate::app::view::{DeliveryView, DeviceView};
use crate::app::{Caller, Clock, JoinServer, SystemClock};
use crate::device::{
    ClaimError, ClaimLimited, ClaimOutcome, Format, Home, ImportError, OwnerToken, UnclaimError,
};
use crate::peers::Peer;
use crate::storage::Page;
use service::rest::{bearer_token, parse_field, read_body, JsonBody, QueryParams, RestRejection};

/// `POST`: import a manufacturer file.
pub const IMPORTS: &str = "/api/imports";
/// `GET`: a page of devices.
pub const DEVICES: &str = "/api/devices";
/// `GET`: one device.
pub const DEVICE: &str = "/api/devices/{dev_eui}";
/// `POST`: claim a device with its owner token.
pub const CLAIM: &str = "/api/devices/{dev_eui}/claim";
/// `POST`: release a device.
pub const UNCLAIM: &str = "/api/devices/{dev_eui}/unclaim";
/// `PUT`: where the AppSKey of the device's next sessions goes.
pub const DELIVERY: &str = "/api/devices/{dev_eui}/app-s-key-delivery";
/// `GET`: the keyring and the re-seal backlog.
pub const KEYS: &str = "/api/keys";
/// `GET`: the OpenAPI document (no authentication).
pub const OPENAPI: &str = "/api/openapi.json";

/// Every admin route as (HTTP method, path in OpenAPI syntax). The router serves exactly
/// these; `tests/admin_api.rs` checks that the OpenAPI document describes exactly these.
pub const ROUTES: [(&str, &str); 8] = [
    ("POST", IMPORTS),
    ("GET", DEVICES),
    ("GET", DEVICE),
    ("POST", CLAIM),
    ("POST", UNCLAIM),
    ("PUT", DELIVERY),
    ("GET", KEYS),
    ("GET", OPENAPI),
];

/// The OpenAPI 3.1 document of this API.
pub const OPENAPI_DOCUMENT: &str = include_str!("openapi.json");

/// Largest JSON request body (claim, unclaim, delivery); an import body is bounded by
/// `server.max_body_bytes` and the import limits instead.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// Devices per page when `limit` is not given, and the most a page may hold.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

/// Longest import batch name.
const MAX_BATCH_NAME: usize = 200;

type Server = Arc<JoinServer>;

/// The admin routes over `server`.
pub fn router(server: Server) -> Router {
    ROUTES
        .iter()
        .fold(Router::new(), |router, &(method, path)| {
            router.route(path, endpoint(method, path))
        })
        .with_state(server)
}

/// The handler of one route of [`ROUTES`]. An entry without an arm here answers 405, which
/// the route test catches.
fn endpoint(method: &str, path: &str) -> MethodRouter<Server> {
    let json_limit = DefaultBodyLimit::max(MAX_JSON_BODY_BYTES);
    match (method, path) {
        // The server's body limit bounds an import; axum's own 2 MB default would not fit
        // a manufacturer batch.
        ("POST", IMPORTS) => post(import).layer(DefaultBodyLimit::disable()),
        ("GET", DEVICES) => get(list),
        ("GET", DEVICE) => get(show),
        ("POST", CLAIM) => post(claim).layer(json_limit),
        ("POST", UNCLAIM) => post(unclaim).layer(json_limit),
        ("PUT", DELIVERY) => put(set_delivery).layer(json_limit),
        ("GET", KEYS) => get(keys),
        ("GET", OPENAPI) => get(openapi),
        _ => MethodRouter::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------

/// `POST /api/imports?batch=NAME`: the body is the manufacturer file.
async fn import(
    server: axum::extract::State<Server>,
    Authenticated(peer): Authenticated,
    mut query: QueryParams,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let caller = Caller::Peer(&peer);
    let batch = match query.take("batch") {
        Some(name) => check_batch_name(name)?,
        None => format!(
            "import at {} by {}",
            SystemClock.unix_seconds(),
            caller.name()
        ),
    };
    query.finish()?;
    let format = format_of(&headers);
    let imported = server.import(caller, &body, format, &batch).await?;
    let answer = ImportAnswer {
        imported: imported.len(),
        devices: imported.iter().map(ImportedView::from).collect(),
        batch,
    };
    let mut response = (StatusCode::CREATED, Json(answer)).into_response();
    // The owner tokens are shown once: no cache may keep them.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /api/devices?state=&after=&limit=`.
async fn list(
    server: axum::extract::State<Server>,
    Authenticated(peer): Authenticated,
    mut query: QueryParams,
) -> Result<Json<DeviceList>, ApiError> {
    let state = query.take("state");
    let after = query.parse::<Eui64>("after", "a DevEUI (16 hex digits)")?;
    let limit = match query.take("limit") {
        None => DEFAULT_PAGE,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "limit",
                    format!("{text:?} is not a number from 1 to {MAX_PAGE}"),
                ))
            }
        },
    };
    query.finish()?;
    let page = Page {
        state: state.as_deref(),
        after,
        limit,
    };
    let devices = server.list(Caller::Peer(&peer), page).await?;
    // A short page is the last one; a full one may be followed by more.
    let next = (devices.len() >= limit as usize)
        .then(|| devices.last().map(|d| d.dev_eui.clone()))
        .flatten();
    Ok(Json(DeviceList { devices, next }))
}

/// `GET /api/devices/{dev_eui}`.
async fn show(
    server: axum::extract::State<Server>,
    Authenticated(peer): Authenticated,
    DevEuiPath(dev_eui): DevEuiPath,
    query: QueryParams,
) -> Result<Json<DeviceView>, ApiError> {
    query.finish()?;
    Ok(Json(server.show(Caller::Peer(&peer), dev_eui).await?))
}

/// `POST /api/devices/{dev_eui}/claim`.
async fn claim(
    server: axum::extract::State<Server>,
    Authenticated(peer): Authenticated,
    DevEuiPath(dev_eui): DevEuiPath,
    query: QueryParams,
    JsonBody(body): JsonBody<ClaimBody>,
) -> Result<Json<ClaimAnswer>, ApiError> {
    query.finish()?;
    let token: OwnerToken = body.owner_token.parse().map_err(|e| {
        ApiError::bad_request(
            "owner_token",
            format!("not an owner token (32 hex digits): {e}"),
        )
    })?;
    let home = home_of(Some(body.home_net_id), body.home_nsid)?.ok_or_else(|| {
        ApiError::bad_request("home_net_id", "the claiming network's NetID is required")
    })?;
    let (outcome, device) = server
        .claim(Caller::Peer(&peer), dev_eui, &token, home)
        .await?;
    let outcome = match outcome {
        ClaimOutcome::Claimed => "claimed",
        ClaimOutcome::AlreadyYours => "already_yours",
    };
    Ok(Json(ClaimAnswer { outcome, device }))
}

/// `POST /api/devices/{dev_eui}/unclaim`.
async fn unclaim(
    server: axum::extract::State<Server>,
    Authenticated(peer): Authenticated,
    DevEuiPath(dev_eui): DevEuiPath,
    query: QueryParams,
    JsonBody(body): JsonBody<UnclaimBody>,
) -> Result<Json<DeviceView>, ApiError> {
    query.finish()?;
    let home = home_of(body.home_net_id, body.home_nsid)?;
    Ok(Json(
        server.unclaim(Caller::Peer(&peer), dev_eui, home).await?,
    ))
}

/// `PUT /api/devices/{dev_eui}/app-s-key-delivery`.
async fn set_delivery(
    server: axum::extract::State<Server>,
    Authenticated(peer): Authenticated,
    DevEuiPath(dev_eui): DevEuiPath,
    query: QueryParams,
    JsonBody(delivery): JsonBody<DeliveryView>,
) -> Result<Json<DeviceView>, ApiError> {
    query.finish()?;
    Ok(Json(
        server
            .set_app_s_key_delivery(Caller::Peer(&peer), dev_eui, delivery)
            .await?,
    ))
}

/// `GET /api/keys`: operators only.
async fn keys(
    server: axum::extract::State<Server>,
    Authenticated(peer): Authenticated,
    query: QueryParams,
) -> Result<Response, ApiError> {
    query.finish()?;
    if !Caller::Peer(&peer).is_operator() {
        return Err(AdminError::Forbidden(format!("{} is not an operator", peer.name)).into());
    }
    let status = server
        .key_status()
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    Ok(Json(status).into_response())
}

/// `GET /api/openapi.json`: public, so clients can be generated without a token.
async fn openapi() -> Response {
    service::rest::json_document(OPENAPI_DOCUMENT)
}

// ---------------------------------------------------------------------------------------
// Request and answer bodies
// ---------------------------------------------------------------------------------------

/// The claim body. Fields stay text here and are parsed below, so each error names its field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimBody {
    owner_token: String,
    home_net_id: String,
    home_nsid: Option<String>,
}

/// The unclaim body: `{}` (the operator) or the home the network unclaims as.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnclaimBody {
    home_net_id: Option<String>,
    home_nsid: Option<String>,
}

#[derive(Debug, Serialize)]
struct ImportAnswer {
    batch: String,
    imported: usize,
    devices: Vec<ImportedView>,
}

/// One imported device with its owner token, in clear: this answer is the only place.
#[derive(Debug, Serialize)]
struct ImportedView {
    dev_eui: String,
    owner_token: String,
}

impl From<&Imported> for ImportedView {
    fn from(imported: &Imported) -> Self {
        Self {
            dev_eui: imported.dev_eui.to_string(),
            owner_token: imported.owner_token.expose_text(),
        }
    }
}

#[derive(Debug, Serialize)]
struct DeviceList {
    devices: Vec<DeviceView>,
    next: Option<String>,
}

#[derive(Debug, Serialize)]
struct ClaimAnswer {
    outcome: &'static str,
    device: DeviceView,
}

fn home_of(net_id: Option<String>, nsid: Option<String>) -> Result<Option<Home>, ApiError> {
    let nsid = nsid
        .map(|text| parse_field::<Eui64>("home_nsid", &text, "an NSID (16 hex digits)"))
        .transpose()?;
    match net_id {
        Some(text) => Ok(Some(Home {
            net_id: parse_field::<NetId>("home_net_id", &text, "a NetID (6 hex digits)")?,
            nsid,
        })),
        None if nsid.is_some() => Err(ApiError::bad_request(
            "home_nsid",
            "given without home_net_id",
        )),
        None => Ok(None),
    }
}

fn check_batch_name(name: String) -> Result<String, ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::bad_request("batch", "must not be empty"));
    }
    if name.chars().count() > MAX_BATCH_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "batch",
            format!("at most {MAX_BATCH_NAME} characters, no control characters"),
        ));
    }
    Ok(name)
}

/// The import format named by `Content-Type`, or `None` to detect it from the body.
fn format_of(headers: &HeaderMap) -> Option<Format> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next()?.trim().to_ascii_lowercase();
    match media.as_str() {
        "text/csv" => Some(Format::Csv),
        "application/json" => Some(Format::Json),
        other if other.ends_with("+json") => Some(Format::Json),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Extractors: every rejection is an ApiError
// ---------------------------------------------------------------------------------------

/// The peer presenting a known bearer token; anything else is 401.
pub struct Authenticated(pub Peer);

impl FromRequestParts<Server> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, server: &Server) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers);
        server
            .peers()
            .authenticate(token)
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
            .map_err(|e| ApiError::bad_request("dev_eui", e.body_text()))?;
        Ok(Self(parse_field(
            "dev_eui",
            &text,
            "a DevEUI (16 hex digits)",
        )?))
    }
}

/// The whole body as bytes (an import file).
struct RawBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match read_body(request, state).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(RestRejection::BodyTooLarge) => Err(ApiError::ImportTooLarge),
            Err(other) => Err(other.into()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Errors: mapped to HTTP here, once
// ---------------------------------------------------------------------------------------

/// Why an admin request failed, whoever is to blame.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No bearer token, or one no peer holds.
    #[error("a known bearer token is required (Authorization: Bearer …)")]
    Unauthorized,
    /// The request is malformed (path, query or body) or its body too large.
    #[error(transparent)]
    Request(#[from] RestRejection),
    /// The import file exceeds the body limit.
    #[error("request body too large")]
    ImportTooLarge,
    /// The join server refused or failed.
    #[error(transparent)]
    Admin(#[from] AdminError),
}

impl ApiError {
    fn bad_request(field: &str, reason: impl Into<String>) -> Self {
        Self::Request(RestRejection::bad_request(field, reason))
    }
}

impl IntoResponse for ApiError {
    /// The one mapping of errors to HTTP: status, `error` code, `message`, and the code's own
    /// fields (`field`, `errors`, `dev_euis`, `retry_after_s`). Every status and code here is
    /// in the OpenAPI document.
    fn into_response(self) -> Response {
        let message = self.to_string();
        let mut extra = serde_json::Map::new();
        let mut retry_after = None;
        let (status, code) = match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Request(rejection) => return rejection.into_response(),
            Self::ImportTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "import_too_large"),
            Self::Admin(error) => match error {
                AdminError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
                AdminError::NotFound(_) | AdminError::Claim(ClaimError::NotPreCommissioned) => {
                    (StatusCode::NOT_FOUND, "not_pre_commissioned")
                }
                AdminError::Claim(ClaimError::InvalidToken) => {
                    (StatusCode::FORBIDDEN, "invalid_token")
                }
                AdminError::Claim(ClaimError::AlreadyClaimed) => {
                    (StatusCode::CONFLICT, "already_claimed")
                }
                AdminError::AlreadyImported(dev_euis) => {
                    let list = dev_euis.iter().map(|e| Value::from(e.to_string()));
                    extra.insert("dev_euis".into(), Value::Array(list.collect()));
                    (StatusCode::CONFLICT, "already_imported")
                }
                AdminError::Import(ImportError::Invalid(rows)) => {
                    let rows = rows.iter().map(
                        |row| json!({"line": row.line, "field": row.field, "reason": row.reason}),
                    );
                    extra.insert("errors".into(), Value::Array(rows.collect()));
                    (StatusCode::UNPROCESSABLE_ENTITY, "invalid_import")
                }
                AdminError::Import(ImportError::TooLarge { .. }) => {
                    (StatusCode::PAYLOAD_TOO_LARGE, "import_too_large")
                }
                AdminError::Unclaim(UnclaimError::NotClaimed) => {
                    (StatusCode::CONFLICT, "not_claimed")
                }
                AdminError::Unclaim(UnclaimError::NotHomeNetwork) => {
                    (StatusCode::FORBIDDEN, "not_home_network")
                }
                AdminError::RateLimited(limited) => {
                    let (limit, wait) = match limited {
                        ClaimLimited::Device(r) => ("device", r.retry_after),
                        ClaimLimited::Caller(r) => ("caller", r.retry_after),
                    };
                    // Whole seconds, rounded up: retrying at the announced time succeeds.
                    let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
                    extra.insert("limit".into(), limit.into());
                    extra.insert("retry_after_s".into(), seconds.into());
                    retry_after = Some(seconds);
                    (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
                }
                AdminError::Invalid { field, .. } => {
                    extra.insert("field".into(), field.into());
                    (StatusCode::BAD_REQUEST, "invalid_request")
                }
                AdminError::Unavailable(_) => {
                    tracing::warn!(error = %message, "admin request failed");
                    (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
                }
            },
        };
        let mut body = serde_json::Map::new();
        body.insert("error".into(), code.into());
        body.insert("message".into(), message.into());
        body.append(&mut extra);
        let mut response = (status, Json(Value::Object(body))).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_choose_the_import_format() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            format_of(&headers)
        };
        assert_eq!(with("text/csv; charset=utf-8"), Some(Format::Csv));
        assert_eq!(with("Application/JSON"), Some(Format::Json));
        assert_eq!(with("application/octet-stream"), None);
        assert_eq!(format_of(&HeaderMap::new()), None);
    }
}
