//! Who is calling the admin API: [`Operator`] (any configured operator, with its
//! [`Access`]) and [`HubAdmin`] (an operator without `members`), as extractors that run
//! before the body is read; and the 403s a scoped operator gets, each naming the reason.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use service::rest::bearer_token;

use super::{ApiError, Shared};
use crate::access::Access;
use crate::members::MemberId;

/// An operator presenting a known bearer token: its name and what it may see; anything
/// else is 401.
#[derive(Debug, Clone)]
pub struct Operator {
    /// Its name (`[[operators]] name`), for logs and messages.
    pub name: String,
    /// What it may see and change.
    pub access: Access,
}

impl Operator {
    /// `member`, if this operator may see it; else 403 naming both.
    pub(super) fn visible(&self, member: MemberId) -> Result<MemberId, ApiError> {
        if self.access.can_see(&member) {
            Ok(member)
        } else {
            Err(ApiError::Forbidden(format!(
                "operator {} may see only its members ({}), not {member}",
                self.name,
                self.access.describe()
            )))
        }
    }

    /// Whether it may PUT or DELETE member `id`: one of its own (a hub administrator: any).
    pub(super) fn may_edit_member(&self, id: &str) -> Result<(), ApiError> {
        if self.access.can_see(&MemberId(id.to_owned())) {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!(
            "operator {} may edit only its members ({}), not {id}",
            self.name,
            self.access.describe()
        )))
    }

    /// The 403 of a question about two members neither of which is this operator's.
    pub(super) fn forbidden_to_see(&self, sender: &MemberId, receiver: &MemberId) -> ApiError {
        ApiError::Forbidden(format!(
            "operator {} may ask only about its members ({}): neither {sender} nor {receiver} is one",
            self.name,
            self.access.describe()
        ))
    }
}

impl FromRequestParts<Shared> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, admin: &Shared) -> Result<Self, ApiError> {
        admin
            .operators
            .authenticate(bearer_token(&parts.headers))
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}

/// A hub administrator (an operator without `members`), by name: a scoped operator is 403,
/// 401 as for [`Operator`] otherwise.
pub struct HubAdmin(pub String);

impl FromRequestParts<Shared> for HubAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, admin: &Shared) -> Result<Self, ApiError> {
        let operator = Operator::from_request_parts(parts, admin).await?;
        match operator.access {
            Access::Hub => Ok(Self(operator.name)),
            Access::Members(_) => Err(ApiError::Forbidden(format!(
                "operator {} operates members ({}): only hub administrators may {} {}",
                operator.name,
                operator.access.describe(),
                parts.method,
                parts.uri.path()
            ))),
        }
    }
}
