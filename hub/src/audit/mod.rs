//! The audit log of refused messages: every message the hub refused itself — at the endpoint
//! (too large, malformed, schema failure) or in the relay (unknown token, spoofed SenderID,
//! no route, no agreement, activation disallowed, rate limited, circuit open, loop) — with
//! who sent it from where, what it claimed to be, and the answer the hub gave.
//!
//! - [`AuditEntry`], [`Reason`], [`AuditFilter`]: the record and what is asked of the stored
//!   ones. Pure.
//! - [`AuditLog`]: records without ever making the data plane wait: a bounded queue drained
//!   by a batching writer task; when the queue is full the entry is dropped, logged and
//!   counted (`switchyard_hub_audit_dropped_total`). The audit log is for investigation, not
//!   billing: UDRs are the durable record.
//! - [`AuditStore`]: inserts and filtered queries (by member, period, ResultCode), newest
//!   first, for the admin API.
//!
//! The table is `audit` (migration `0004_audit.sql`), times in microseconds since the Unix
//! epoch.

mod store;
mod writer;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::access::Access;
use crate::members::MemberId;

pub use store::AuditStore;
pub use writer::{AuditLog, MAX_BATCH};

/// Longest text kept in an id column (SenderID, ReceiverID, MessageType, member).
pub const MAX_ID_CHARS: usize = 256;
/// Longest Description kept.
pub const MAX_DESCRIPTION_CHARS: usize = 2_048;

/// Why the hub refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The body was larger than the endpoint accepts.
    TooLarge,
    /// Not a valid Backend Interfaces message (JSON, header, field types, schema).
    Malformed,
    /// No member holds the bearer token.
    UnknownSender,
    /// SenderID or SenderNSID is not the member's own.
    SpoofedSender,
    /// No member (or no single member) is the receiver.
    NoRoute,
    /// The message already crossed the hub.
    Loop,
    /// No agreement or activation rule allows it.
    Policy,
    /// Over the sending member's rate limit.
    MemberRateLimit,
    /// Over the rate limit of the agreement that allowed it.
    AgreementRateLimit,
    /// The receiver's circuit is open.
    CircuitOpen,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Self; 10] = [
        Self::TooLarge,
        Self::Malformed,
        Self::UnknownSender,
        Self::SpoofedSender,
        Self::NoRoute,
        Self::Loop,
        Self::Policy,
        Self::MemberRateLimit,
        Self::AgreementRateLimit,
        Self::CircuitOpen,
    ];

    /// The stored (and metric label) name, `snake_case`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::UnknownSender => "unknown_sender",
            Self::SpoofedSender => "spoofed_sender",
            Self::NoRoute => "no_route",
            Self::Loop => "loop",
            Self::Policy => "policy",
            Self::MemberRateLimit => "member_rate_limit",
            Self::AgreementRateLimit => "agreement_rate_limit",
            Self::CircuitOpen => "circuit_open",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reason {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| format!("{text:?} is not an audit reason"))
    }
}

/// One refused message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its id in the store (`None` before it is stored).
    pub id: Option<i64>,
    /// When the hub refused it.
    pub at: OffsetDateTime,
    /// The TCP peer it came from, when known.
    pub remote_addr: Option<SocketAddr>,
    /// The authenticated member, when the bearer token was a member's.
    pub member: Option<MemberId>,
    /// MessageType, as claimed.
    pub message_type: Option<String>,
    /// TransactionID, as claimed.
    pub transaction_id: Option<u32>,
    /// SenderID, as claimed.
    pub sender_id: Option<String>,
    /// ReceiverID, as claimed.
    pub receiver_id: Option<String>,
    /// The ResultCode the hub answered with.
    pub result_code: String,
    /// Why, as a category.
    pub reason: Reason,
    /// The Description the hub answered with.
    pub description: String,
}

impl AuditEntry {
    /// An entry at `at` for a refusal with `result_code`, `reason` and `description`; the
    /// claimed fields are filled in by the caller.
    pub fn new(
        at: OffsetDateTime,
        reason: Reason,
        result_code: &str,
        description: impl Into<String>,
    ) -> Self {
        Self {
            id: None,
            at,
            remote_addr: None,
            member: None,
            message_type: None,
            transaction_id: None,
            sender_id: None,
            receiver_id: None,
            result_code: result_code.to_owned(),
            reason,
            description: description.into(),
        }
    }

    /// The entry with every text made storable: NUL characters (refused by PostgreSQL)
    /// removed and lengths bounded, whatever a sender put in its message.
    pub fn sanitized(mut self) -> Self {
        let clean = |text: &str, max: usize| -> String {
            text.chars().filter(|c| *c != '\0').take(max).collect()
        };
        let clean_opt =
            |text: &mut Option<String>| *text = text.as_deref().map(|t| clean(t, MAX_ID_CHARS));
        clean_opt(&mut self.message_type);
        clean_opt(&mut self.sender_id);
        clean_opt(&mut self.receiver_id);
        self.member = self.member.map(|m| MemberId(clean(&m.0, MAX_ID_CHARS)));
        self.result_code = clean(&self.result_code, MAX_ID_CHARS);
        self.description = clean(&self.description, MAX_DESCRIPTION_CHARS);
        self
    }
}

/// Which entries a query returns: newest first, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries of this authenticated member.
    pub member: Option<MemberId>,
    /// Only entries at or after this time.
    pub from: Option<OffsetDateTime>,
    /// Only entries before this time.
    pub until: Option<OffsetDateTime>,
    /// Only entries answered with this ResultCode (`UnknownSender`, `Other`, …).
    pub result_code: Option<String>,
    /// Only entries with an id below this one (the next page after a page ending there).
    pub before_id: Option<i64>,
    /// At most this many entries.
    pub limit: u32,
    /// Only entries of members the operator asking may see (none without a member);
    /// applied by the query itself.
    pub access: Access,
}

impl Default for AuditFilter {
    fn default() -> Self {
        Self {
            member: None,
            from: None,
            until: None,
            result_code: None,
            before_id: None,
            limit: 100,
            access: Access::Hub,
        }
    }
}

/// Why audit entries could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored entry cannot be read back: the database was edited by hand or is damaged.
    #[error("stored audit entry {id} is unreadable: {reason}")]
    Corrupt {
        /// The entry's id.
        id: i64,
        /// What is wrong.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_their_names() {
        for reason in Reason::ALL {
            assert_eq!(reason.as_str().parse::<Reason>(), Ok(reason));
        }
        assert!("nonsense".parse::<Reason>().is_err());
    }

    #[test]
    fn sanitizing_removes_nul_and_bounds_lengths() {
        let mut entry = AuditEntry::new(
            OffsetDateTime::UNIX_EPOCH,
            Reason::Malformed,
            "MalformedRequest",
            "x".repeat(10_000),
        );
        entry.sender_id = Some("00\u{0}0013".into());
        entry.receiver_id = Some("r".repeat(1_000));
        let entry = entry.sanitized();
        assert_eq!(entry.sender_id.as_deref(), Some("000013"));
        assert_eq!(entry.receiver_id.map(|r| r.len()), Some(MAX_ID_CHARS));
        assert_eq!(entry.description.len(), MAX_DESCRIPTION_CHARS);
    }
}
