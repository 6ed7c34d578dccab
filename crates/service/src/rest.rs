//! What every daemon's admin REST API shares: the bearer token of a request, a query string
//! that refuses parameters nobody asked for, a JSON body read with serde's field names in
//! its errors — and one error shape for all of them.
//!
//! A rejection here is a [`RestRejection`], answered as JSON (`{"error": "invalid_request",
//! "message": "limit: …", "field": "limit"}`, or `413 body_too_large`), never as axum's
//! plain-text rejection. Each daemon's own API error converts from it, so handlers use `?`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;

/// The token of an `Authorization: Bearer …` header (scheme in any case), if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A request the API cannot read: its path, query or body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestRejection {
    /// A parameter or body field is missing, unknown or malformed.
    #[error("{field}: {reason}")]
    BadRequest {
        /// The parameter or body field at fault (`body` when none is named).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The body exceeds the route's limit.
    #[error("request body too large")]
    BodyTooLarge,
}

impl RestRejection {
    /// `field` is wrong for `reason`.
    pub fn bad_request(field: &str, reason: impl Into<String>) -> Self {
        Self::BadRequest {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

impl IntoResponse for RestRejection {
    fn into_response(self) -> Response {
        let message = self.to_string();
        match self {
            Self::BadRequest { field, .. } => (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({
                    "error": "invalid_request", "message": message, "field": field,
                })),
            ),
            Self::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(serde_json::json!({"error": "body_too_large", "message": message})),
            ),
        }
        .into_response()
    }
}

/// `text`, the value of `field` (a path segment, parameter or body field), parsed; else a
/// rejection naming the field, the text and what it should have been.
pub fn parse_field<T>(field: &str, text: &str, what: &str) -> Result<T, RestRejection>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| RestRejection::bad_request(field, format!("{text:?} is not {what}: {e}")))
}

/// The query string; each handler takes the parameters it knows and [`QueryParams::finish`]
/// refuses the rest, so a misspelt `?limt=5` is an error rather than silently ignored.
#[derive(Debug, Default)]
pub struct QueryParams(HashMap<String, String>);

impl QueryParams {
    /// Takes parameter `name`.
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    /// Takes parameter `name` and parses it, naming it in the error.
    pub fn parse<T>(&mut self, name: &str, what: &str) -> Result<Option<T>, RestRejection>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        self.take(name)
            .map(|text| parse_field(name, &text, what))
            .transpose()
    }

    /// Refuses any parameter no handler took.
    pub fn finish(self) -> Result<(), RestRejection> {
        let mut unknown: Vec<_> = self.0.into_keys().collect();
        unknown.sort();
        match unknown.first() {
            None => Ok(()),
            Some(first) => Err(RestRejection::bad_request(first, "unknown query parameter")),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = RestRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, RestRejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|e| RestRejection::bad_request("query", e.body_text()))?;
        let mut params = HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            if params.contains_key(&name) {
                return Err(RestRejection::bad_request(&name, "given more than once"));
            }
            params.insert(name, value);
        }
        Ok(Self(params))
    }
}

/// A JSON body of type `T` (give it `deny_unknown_fields`); an empty body reads as `{}`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = RestRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, RestRejection> {
        let bytes = read_body(request, state).await?;
        let text: &[u8] = if bytes.trim_ascii().is_empty() {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text).map(Self).map_err(|e| {
            let message = e.to_string();
            RestRejection::bad_request(&field_named_in(&message), message)
        })
    }
}

/// The whole body, within the route's body limit.
pub async fn read_body<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<Bytes, RestRejection> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| match rejection {
            BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
                RestRejection::BodyTooLarge
            }
            other => RestRejection::bad_request("body", other.body_text()),
        })
}

/// The field serde names in "missing field `x`" / "unknown field `x`", else `body`.
pub fn field_named_in(message: &str) -> String {
    ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| {
            let rest = message.split_once(prefix)?.1;
            Some(rest.split_once('`')?.0.to_owned())
        })
        .unwrap_or_else(|| "body".to_owned())
}

/// A route that takes no query parameter: any parameter is refused before the body is read,
/// so the answer names the parameter whatever the body holds.
#[derive(Debug, Clone, Copy)]
pub struct NoQuery;

impl<S: Send + Sync> FromRequestParts<S> for NoQuery {
    type Rejection = RestRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, RestRejection> {
        QueryParams::from_request_parts(parts, state)
            .await?
            .finish()?;
        Ok(Self)
    }
}

/// A JSON document served as is (an API's OpenAPI document).
pub fn json_document(body: &'static str) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn serde_messages_name_their_field() {
        assert_eq!(
            field_named_in("missing field `owner_token` at line 1 column 2"),
            "owner_token"
        );
        assert_eq!(
            field_named_in("unknown field `home`, expected one of ..."),
            "home"
        );
        assert_eq!(field_named_in("expected value at line 1 column 1"), "body");
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
    }

    #[test]
    fn unknown_and_malformed_parameters_are_named() {
        let mut query = QueryParams(HashMap::from([
            ("limit".to_owned(), "ten".to_owned()),
            ("limt".to_owned(), "5".to_owned()),
        ]));
        let error = query.parse::<u32>("limit", "a count").unwrap_err();
        assert_eq!(
            error.to_string(),
            "limit: \"ten\" is not a count: invalid digit found in string"
        );
        assert_eq!(
            query.finish(),
            Err(RestRejection::bad_request(
                "limt",
                "unknown query parameter"
            ))
        );
    }
}
