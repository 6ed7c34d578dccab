//! `/control`: the RF parameter sync for members ([`crate::rfparams`]). Every route takes the
//! member's own bearer token (the one it uses on `/bi`).
//!
//! - `PUT /control/rf-param-sets`: the caller's whole list of sets (a JSON array), replacing
//!   its previous publication. Network servers only (403 otherwise). 400 for a body that is
//!   not a list of sets (naming the set and the field), 422 for sets that break the rules
//!   (every problem, each naming its field); either way nothing changes. 200 with the sets in
//!   force.
//! - `GET /control/rf-param-sets`: the caller's sets in force and where they come from.
//! - `GET /control/peers`: the caller's peer configuration, with `ETag: "<version>"`;
//!   `If-None-Match` with the current version is answered 304 without a body.
//! - `GET /control/status`: the caller's current version, its `control_url` (or null),
//!   and the outcome of the last push to it.
//!
//! Errors are JSON: `{"error": "<code>", "message": "…", "problems": [{"field", "reason"}]}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::members::Member;
use crate::rfparams::{PublishError, RfParamSet, RfParamsError, RfSync, SetProblem};

/// The `/control` routes over `sync`.
pub fn router(sync: Arc<RfSync>) -> Router {
    Router::new()
        .route("/control/rf-param-sets", get(own_sets).put(publish))
        .route("/control/peers", get(peers))
        .route("/control/status", get(status))
        .with_state(sync)
}

/// An error answer.
struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
    problems: Vec<SetProblem>,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            problems: Vec::new(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = Json(json!({
            "error": self.code,
            "message": self.message,
            "problems": self.problems,
        }));
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<RfParamsError> for Failure {
    fn from(error: RfParamsError) -> Self {
        tracing::error!(%error, "control API");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage-unavailable",
            "the hub cannot read or write RF parameter sets right now; try again",
        )
    }
}

fn caller(sync: &RfSync, headers: &HeaderMap) -> Result<Member, Failure> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    sync.authenticate(token).ok_or_else(|| {
        Failure::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a member's bearer token is required",
        )
    })
}

async fn own_sets(
    State(sync): State<Arc<RfSync>>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let member = caller(&sync, &headers)?;
    Ok(Json(sync.own_sets(&member).await?).into_response())
}

async fn publish(
    State(sync): State<Arc<RfSync>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let member = caller(&sync, &headers)?;
    let sets = parse_sets(&body)?;
    match sync.publish(&member, sets).await {
        Ok(own) => Ok(Json(own).into_response()),
        Err(PublishError::NotNetworkServer) => Err(Failure::new(
            StatusCode::FORBIDDEN,
            "not-a-network-server",
            PublishError::NotNetworkServer.to_string(),
        )),
        Err(PublishError::Invalid(problems)) => Err(Failure {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid-rf-param-sets",
            message: format!("{} problem(s); nothing was changed", problems.len()),
            problems,
        }),
        Err(PublishError::Store(error)) => Err(error.into()),
    }
}

/// The body as a list of sets, each read on its own so a problem names its set.
fn parse_sets(body: &[u8]) -> Result<Vec<RfParamSet>, Failure> {
    let bad = |field: String, reason: String| Failure {
        status: StatusCode::BAD_REQUEST,
        code: "malformed-body",
        message: "the body must be a JSON array of RF parameter sets; nothing was changed".into(),
        problems: vec![SetProblem { field, reason }],
    };
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad(String::new(), format!("not JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(bad(String::new(), "not a JSON array".into()));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value::<RfParamSet>(item)
                .map_err(|e| bad(format!("[{i}]"), e.to_string()))
        })
        .collect()
}

async fn peers(State(sync): State<Arc<RfSync>>, headers: HeaderMap) -> Result<Response, Failure> {
    let member = caller(&sync, &headers)?;
    let Some(config) = sync.peer_config(&member.id).await? else {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            "unknown-member",
            "no such member",
        ));
    };
    let etag = format!("\"{}\"", config.version);
    let etag_value = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    if matches(&headers, &config.version) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response());
    }
    Ok((
        [
            (header::ETAG, etag_value),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Json(config),
    )
        .into_response())
}

/// Whether `If-None-Match` names `version` (a list, weak tags and `*` as RFC 9110 says).
fn matches(headers: &HeaderMap, version: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|tag| tag == "*" || tag == version)
}

async fn status(State(sync): State<Arc<RfSync>>, headers: HeaderMap) -> Result<Response, Failure> {
    let member = caller(&sync, &headers)?;
    let version = sync.peer_config(&member.id).await?.map(|c| c.version);
    Ok(Json(json!({
        "member": member.id,
        "version": version,
        "control_url": member.control_url,
        "push": sync.push_status(&member.id),
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(tags: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for tag in tags {
            headers.append(
                header::IF_NONE_MATCH,
                HeaderValue::from_str(tag).expect("header"),
            );
        }
        headers
    }

    #[test]
    fn if_none_match_takes_lists_weak_tags_and_a_star() {
        assert!(matches(&with(&["\"v1\""]), "v1"));
        assert!(matches(&with(&["\"v0\", W/\"v1\""]), "v1"));
        assert!(matches(&with(&["\"v0\"", "\"v1\""]), "v1"));
        assert!(matches(&with(&["*"]), "v1"));
        assert!(!matches(&with(&["\"v0\""]), "v1"));
        assert!(!matches(&HeaderMap::new(), "v1"));
    }

    #[test]
    fn a_body_that_is_not_sets_names_the_set() {
        let failure = parse_sets(br#"[{"region":"EU868"}]"#).err();
        let problem = failure.as_ref().and_then(|f| f.problems.first());
        assert_eq!(problem.map(|p| p.field.as_str()), Some("[0]"));
        assert!(parse_sets(b"{}").is_err() && parse_sets(b"nope").is_err());
        assert!(parse_sets(b"[]").is_ok_and(|sets| sets.is_empty()));
    }
}
