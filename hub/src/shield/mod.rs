//! The shield: what stands between the members and each other, besides routing and policy.
//!
//! In the order a message meets it (the endpoint's part is in `crates/backend`):
//! 1. body limit (`[shield] max_body_bytes`) and schema validation at the endpoint, answered
//!    as Backend Interfaces messages (MalformedRequest), before anything is routed;
//! 2. the sending member's rate limit ([`limits`], members file `rate_limit` / `burst`);
//! 3. after the policy allowed the message: its agreement's rate limit (policy files);
//! 4. the receiver's circuit breaker ([`breaker`], `[shield] breaker_*`): a member that
//!    stopped answering is not called until a probe after the cooldown succeeds;
//! 5. every refusal is written to the audit log ([`crate::audit`]) and counted
//!    ([`ShieldMetrics`]).
//!
//! Over a limit: ResultCode `Other` (TS002 has no code for "too many": `Other` is "an error
//! the spec has no code for") with a
//! Description naming the limit, its rate and "slow down". Circuit open: `XmitFailed`
//! naming the receiver and when the hub retries it.

pub mod breaker;
pub mod limits;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::audit::{AuditLog, Reason};
use crate::members::MemberId;

pub use breaker::{BreakerConfig, Breakers};
pub use limits::{Limited, Limits, RateLimit};

/// Labels of `switchyard_hub_refusals_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// The ResultCode of the hub's answer.
    pub code: String,
    /// Why ([`Reason::as_str`]): `member_rate_limit`, `circuit_open`, `unknown_sender`, …
    pub reason: String,
}

/// Labels of `switchyard_hub_breaker_transitions_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BreakerLabels {
    /// The receiving member.
    pub member: String,
    /// The state entered: `open`, `half_open`, `closed`.
    pub state: String,
}

/// The shield's metrics, registered on the hub's registry.
#[derive(Debug, Clone, Default)]
pub struct ShieldMetrics {
    refusals: Family<RefusalLabels, Counter>,
    breaker_transitions: Family<BreakerLabels, Counter>,
    audit_dropped: Counter,
}

impl ShieldMetrics {
    /// New metrics, registered on `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "refusals",
            "Messages the hub refused itself, by ResultCode and reason (rate limits and open circuits included)",
            metrics.refusals.clone(),
        );
        registry.register(
            "breaker_transitions",
            "Circuit breaker state changes, by receiving member and state entered",
            metrics.breaker_transitions.clone(),
        );
        registry.register(
            "audit_dropped",
            "Audit entries dropped because the audit queue was full",
            metrics.audit_dropped.clone(),
        );
        metrics
    }

    /// Counts one refusal.
    pub fn refused(&self, code: &str, reason: Reason) {
        self.refusals
            .get_or_create(&RefusalLabels {
                code: code.to_owned(),
                reason: reason.as_str().to_owned(),
            })
            .inc();
    }

    /// Counts one breaker transition of `member` into `state`.
    pub fn breaker(&self, member: &MemberId, state: &str) {
        self.breaker_transitions
            .get_or_create(&BreakerLabels {
                member: member.0.clone(),
                state: state.to_owned(),
            })
            .inc();
    }

    /// The counter of dropped audit entries, for the [`AuditLog`].
    pub fn audit_dropped(&self) -> Counter {
        self.audit_dropped.clone()
    }
}

/// Everything the relay needs of the shield.
#[derive(Debug)]
pub struct Shield {
    /// Per-member and per-agreement rate limits.
    pub limits: Limits,
    /// Per-receiver circuit breakers.
    pub breakers: Breakers,
    /// Where refusals are written.
    pub audit: AuditLog,
    /// Counters.
    pub metrics: ShieldMetrics,
}

impl Shield {
    /// A shield with full buckets and closed circuits.
    pub fn new(breaker: BreakerConfig, audit: AuditLog, metrics: ShieldMetrics) -> Self {
        Self {
            limits: Limits::new(),
            breakers: Breakers::new(breaker),
            audit,
            metrics,
        }
    }
}
