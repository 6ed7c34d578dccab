//! A circuit breaker per receiving member, so a member that is down costs its senders no
//! wait and the hub no connections.
//!
//! ```text
//!            N consecutive failures             cooldown over: one probe passes
//!   Closed ─────────────────────────▶ Open ──────────────────────────────▶ HalfOpen
//!     ▲                                 ▲                                     │
//!     │            probe failed         └─────────────────────────────────────┤
//!     └───────────────────────────────────────────────────────────────────────┘
//!                                  probe succeeded
//! ```
//!
//! A failure is a forward that got no answer: the member unreachable, an HTTP 5xx / 429, or
//! no answer within the answer timeout. Any answer, whatever its ResultCode, is a success.
//! While open, and while the probe is out, every request is refused at once. A probe whose
//! outcome never comes back (its sender hung up) is replaced by another after a cooldown.
//!
//! Pure: the time is an argument. The relay logs and counts the [`Transition`]s returned.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::members::MemberId;

/// When a circuit opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failures: NonZeroU32,
    /// How long an open circuit refuses before it lets one probe through.
    pub cooldown: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant, failures: u32 },
    HalfOpen { probe_until: Instant, failures: u32 },
}

/// What may be sent to a member now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The circuit is closed: send.
    Pass,
    /// The cooldown is over: this request is the probe (the circuit is now half-open).
    Probe,
}

/// A refusal: the member's circuit is open (or its probe is out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitOpen {
    /// Consecutive failures that opened it.
    pub failures: u32,
    /// When the next request will be let through as a probe.
    pub retry_in: Duration,
}

/// How a forward ended, for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The member answered.
    Answered,
    /// No answer: unreachable, HTTP 5xx / 429, or too late.
    Failed,
}

/// A change of a member's circuit, to log and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Closed → open after this many consecutive failures.
    Opened(u32),
    /// Open → half-open: a probe is out.
    HalfOpened,
    /// Half-open → open: the probe failed.
    Reopened,
    /// → closed: the member answered.
    Closed,
}

impl Transition {
    /// The state entered: `open`, `half_open` or `closed` (metric label).
    pub fn state(self) -> &'static str {
        match self {
            Self::Opened(_) | Self::Reopened => "open",
            Self::HalfOpened => "half_open",
            Self::Closed => "closed",
        }
    }
}

/// The circuits of every receiving member.
#[derive(Debug)]
pub struct Breakers {
    config: BreakerConfig,
    states: Mutex<HashMap<MemberId, State>>,
}

impl Breakers {
    /// Every circuit closed.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            states: Mutex::new(HashMap::new()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> BreakerConfig {
        self.config
    }

    /// Whether a request may be sent to `member` at `now`.
    pub fn admit(&self, member: &MemberId, now: Instant) -> Result<Admission, CircuitOpen> {
        let cooldown = self.config.cooldown;
        let mut states = self.lock();
        let Some(state) = states.get_mut(member) else {
            return Ok(Admission::Pass);
        };
        match *state {
            State::Closed { .. } => Ok(Admission::Pass),
            State::Open { until, failures }
            | State::HalfOpen {
                probe_until: until,
                failures,
            } if now < until => Err(CircuitOpen {
                failures,
                retry_in: until - now,
            }),
            State::Open { failures, .. } => {
                *state = State::HalfOpen {
                    probe_until: now + cooldown,
                    failures,
                };
                Ok(Admission::Probe)
            }
            State::HalfOpen { failures, .. } => {
                // The previous probe never reported back: send another.
                *state = State::HalfOpen {
                    probe_until: now + cooldown,
                    failures,
                };
                Ok(Admission::Probe)
            }
        }
    }

    /// Records how a request to `member` ended; the transition it caused, if any.
    pub fn record(&self, member: &MemberId, outcome: Outcome, now: Instant) -> Option<Transition> {
        let threshold = self.config.failures.get();
        let until = now + self.config.cooldown;
        let mut states = self.lock();
        let state = states
            .entry(member.clone())
            .or_insert(State::Closed { failures: 0 });
        let (next, transition) = match (*state, outcome) {
            (State::Closed { .. }, Outcome::Answered) => (State::Closed { failures: 0 }, None),
            (_, Outcome::Answered) => (State::Closed { failures: 0 }, Some(Transition::Closed)),
            (State::Closed { failures }, Outcome::Failed) => {
                let failures = failures.saturating_add(1);
                if failures >= threshold {
                    (
                        State::Open { until, failures },
                        Some(Transition::Opened(failures)),
                    )
                } else {
                    (State::Closed { failures }, None)
                }
            }
            (State::HalfOpen { failures, .. }, Outcome::Failed) => (
                State::Open {
                    until,
                    failures: failures.saturating_add(1),
                },
                Some(Transition::Reopened),
            ),
            // A request sent before the circuit opened, failing late: already open.
            (open @ State::Open { .. }, Outcome::Failed) => (open, None),
        };
        *state = next;
        transition
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<MemberId, State>> {
        // A poisoned lock only means a panic elsewhere mid-update; the states stay usable.
        self.states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breakers(failures: u32, cooldown_ms: u64) -> Breakers {
        Breakers::new(BreakerConfig {
            failures: NonZeroU32::new(failures).expect("non-zero"),
            cooldown: Duration::from_millis(cooldown_ms),
        })
    }

    #[test]
    fn opens_after_n_consecutive_failures_and_a_success_resets_the_count() {
        let b = breakers(3, 1_000);
        let ns = MemberId::from("ns");
        let t0 = Instant::now();
        assert_eq!(b.admit(&ns, t0), Ok(Admission::Pass));
        assert_eq!(b.record(&ns, Outcome::Failed, t0), None);
        assert_eq!(b.record(&ns, Outcome::Failed, t0), None);
        // A success in between: the count starts again.
        assert_eq!(b.record(&ns, Outcome::Answered, t0), None);
        assert_eq!(b.record(&ns, Outcome::Failed, t0), None);
        assert_eq!(b.record(&ns, Outcome::Failed, t0), None);
        assert_eq!(
            b.record(&ns, Outcome::Failed, t0),
            Some(Transition::Opened(3))
        );
        let t1 = t0 + Duration::from_millis(400);
        assert_eq!(
            b.admit(&ns, t1),
            Err(CircuitOpen {
                failures: 3,
                retry_in: Duration::from_millis(600)
            })
        );
        // Other members are not affected.
        assert_eq!(b.admit(&MemberId::from("other"), t1), Ok(Admission::Pass));
    }

    #[test]
    fn after_the_cooldown_one_probe_passes_and_its_success_closes() {
        let b = breakers(1, 1_000);
        let ns = MemberId::from("ns");
        let t0 = Instant::now();
        assert_eq!(
            b.record(&ns, Outcome::Failed, t0),
            Some(Transition::Opened(1))
        );
        let t1 = t0 + Duration::from_millis(1_000);
        assert_eq!(b.admit(&ns, t1), Ok(Admission::Probe));
        // Only one probe at a time.
        assert!(b.admit(&ns, t1).is_err());
        assert_eq!(
            b.record(&ns, Outcome::Answered, t1),
            Some(Transition::Closed)
        );
        assert_eq!(b.admit(&ns, t1), Ok(Admission::Pass));
        assert_eq!(Transition::Closed.state(), "closed");
    }

    #[test]
    fn a_failed_probe_reopens_for_another_cooldown() {
        let b = breakers(2, 1_000);
        let ns = MemberId::from("ns");
        let t0 = Instant::now();
        b.record(&ns, Outcome::Failed, t0);
        b.record(&ns, Outcome::Failed, t0);
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(b.admit(&ns, t1), Ok(Admission::Probe));
        assert_eq!(
            b.record(&ns, Outcome::Failed, t1),
            Some(Transition::Reopened)
        );
        let refused = b
            .admit(&ns, t1 + Duration::from_millis(1))
            .expect_err("open again");
        assert_eq!(refused.failures, 3);
        assert_eq!(refused.retry_in, Duration::from_millis(999));
        assert_eq!(
            b.admit(&ns, t1 + Duration::from_secs(1)),
            Ok(Admission::Probe)
        );
        assert_eq!(Transition::Reopened.state(), "open");
    }

    #[test]
    fn a_lost_probe_is_replaced_after_a_cooldown_and_late_failures_change_nothing() {
        let b = breakers(1, 1_000);
        let ns = MemberId::from("ns");
        let t0 = Instant::now();
        b.record(&ns, Outcome::Failed, t0);
        // A request admitted before the circuit opened fails late: still open, same time.
        assert_eq!(b.record(&ns, Outcome::Failed, t0), None);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(b.admit(&ns, t1), Ok(Admission::Probe));
        // The probe never reports back.
        assert!(b.admit(&ns, t1 + Duration::from_millis(999)).is_err());
        assert_eq!(
            b.admit(&ns, t1 + Duration::from_secs(1)),
            Ok(Admission::Probe)
        );
        assert_eq!(Transition::HalfOpened.state(), "half_open");
    }
}
