//! [`ApiError`]: why an admin request failed, mapped to an HTTP answer here, once.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use service::rest::RestRejection;

use super::MAX_CSV_RECORDS;
use crate::audit::AuditError;
use crate::members::edit::MemberEditError;
use crate::policy::edit::EditError;
use crate::policy::PolicyError;
use crate::udr::UdrError;

/// Why an admin request failed, whoever is to blame.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No bearer token, or one no operator holds.
    #[error("an operator's bearer token is required (Authorization: Bearer …)")]
    Unauthorized,
    /// The operator may not see or do this (scoped to other members): the reason.
    #[error("{0}")]
    Forbidden(String),
    /// The request is malformed: path, query or body.
    #[error(transparent)]
    Request(#[from] RestRejection),
    /// No member has this id.
    #[error("no member {0:?}")]
    UnknownMember(String),
    /// The hub has no policy directory to keep edits in.
    #[error("the hub has no [policies] dir: policies cannot be edited or reloaded")]
    NoPolicyDir,
    /// A policy edit was refused.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// A member edit or reload was refused.
    #[error(transparent)]
    Members(#[from] MemberEditError),
    /// The policy directory does not load.
    #[error("the policies do not load; the ones in force stay: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidPolicies(Vec<PolicyError>),
    /// A CSV export would be too large.
    #[error("more than {MAX_CSV_RECORDS} records: narrow the period (from, until)")]
    ExportTooLarge,
    /// The database or a task failed.
    #[error("{0}")]
    Unavailable(String),
}

impl From<AuditError> for ApiError {
    fn from(error: AuditError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<UdrError> for ApiError {
    fn from(error: UdrError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl IntoResponse for ApiError {
    /// The one mapping of errors to HTTP: status, `error` code, `message`, and the code's own
    /// fields (`problems`). Every status and code here is in the OpenAPI document.
    fn into_response(self) -> Response {
        let message = self.to_string();
        let mut problems: Option<Vec<String>> = None;
        let (status, code) = match &self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::Request(rejection) => return rejection.clone().into_response(),
            Self::UnknownMember(_) => (StatusCode::NOT_FOUND, "unknown_member"),
            Self::NoPolicyDir => (StatusCode::CONFLICT, "no_policy_dir"),
            Self::Edit(EditError::DefinedInFile { .. }) => {
                (StatusCode::CONFLICT, "defined_in_file")
            }
            Self::Edit(EditError::NotFound { .. }) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Edit(EditError::Invalid(errors)) | Self::InvalidPolicies(errors) => {
                problems = Some(errors.iter().map(ToString::to_string).collect());
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_policies")
            }
            Self::Members(MemberEditError::DefinedInFile(_)) => {
                (StatusCode::CONFLICT, "defined_in_file")
            }
            Self::Members(MemberEditError::NotFound(_)) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Members(MemberEditError::NoFile) => (StatusCode::CONFLICT, "no_members_file"),
            Self::Members(MemberEditError::Invalid(reasons)) => {
                problems = Some(reasons.clone());
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_members")
            }
            Self::ExportTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "export_too_large"),
            Self::Edit(EditError::Io { .. })
            | Self::Members(MemberEditError::Io { .. })
            | Self::Unavailable(_) => {
                tracing::warn!(error = %message, "admin request failed");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
        };
        let mut body = serde_json::Map::new();
        body.insert("error".into(), code.into());
        body.insert("message".into(), message.into());
        if let Some(problems) = problems {
            body.insert("problems".into(), problems.into());
        }
        let mut response = (status, Json(Value::Object(body))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
