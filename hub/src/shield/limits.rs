//! Rate limits of the data plane: one token bucket per member (members file: `rate_limit`
//! messages per second, `burst`) and one per roaming agreement (policy files: `rate_limit`),
//! both on the shared [`service::ratelimit`] limiter. Pure: the time is an argument.

use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use service::ratelimit::{Quota, RateLimiter};

use crate::members::MemberId;

/// Keys tracked per limiter at most. Members and agreements are a few hundred, so nothing
/// is ever evicted in practice; the bound only keeps memory finite whatever happens.
const MAX_KEYS: usize = 65_536;

/// A configured limit: `per_second` messages per second on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Messages per second, on average.
    pub per_second: NonZeroU32,
    /// Messages accepted at once after a quiet period (the bucket's size).
    pub burst: NonZeroU32,
}

impl RateLimit {
    /// `per_second` messages per second, with a burst of one second's worth.
    pub fn per_second(per_second: NonZeroU32) -> Self {
        Self {
            per_second,
            burst: per_second,
        }
    }

    fn quota(self) -> Quota {
        Quota::per_second(self.per_second, self.burst)
    }
}

/// Which limit a message is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Over {
    /// The sending member's own limit (members file).
    Member(MemberId),
    /// The limit of the roaming agreement that allowed the message (policy files).
    Agreement(String),
}

/// A message over a limit: the sender is to blame and should slow down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    /// Which limit.
    pub over: Over,
    /// The limit.
    pub limit: RateLimit,
    /// When the next message will be accepted.
    pub retry_after: Duration,
}

impl Limited {
    /// The Description of the hub's answer: which limit, its rate, and what to do.
    pub fn description(&self) -> String {
        let which = match &self.over {
            Over::Member(member) => format!("member {member}"),
            Over::Agreement(id) => format!("roaming agreement {id}"),
        };
        format!(
            "rate limited: {which} is over its limit of {} messages/s (burst {}); \
             slow down and retry in {} ms",
            self.limit.per_second,
            self.limit.burst,
            self.retry_after.as_millis().max(1)
        )
    }
}

/// The buckets of every member and agreement.
#[derive(Debug)]
pub struct Limits {
    members: Mutex<RateLimiter<MemberId>>,
    agreements: Mutex<RateLimiter<String>>,
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}

impl Limits {
    /// Full buckets for everyone.
    pub fn new() -> Self {
        // Every attempt names its own quota; this default is never used.
        let unused = Quota::per_second(NonZeroU32::MIN, NonZeroU32::MIN);
        let max_keys = NonZeroUsize::new(MAX_KEYS).unwrap_or(NonZeroUsize::MIN);
        Self {
            members: Mutex::new(RateLimiter::new(unused, max_keys)),
            agreements: Mutex::new(RateLimiter::new(unused, max_keys)),
        }
    }

    /// Counts one message from `member` against its `limit` (none: unlimited).
    pub fn admit_member(
        &self,
        member: &MemberId,
        limit: Option<RateLimit>,
        now: Instant,
    ) -> Result<(), Limited> {
        let Some(limit) = limit else { return Ok(()) };
        acquire(&self.members, member, limit, now).map_err(|retry_after| Limited {
            over: Over::Member(member.clone()),
            limit,
            retry_after,
        })
    }

    /// Counts one message through `agreement` against its `per_second` limit (none:
    /// unlimited; the burst is one second's worth).
    pub fn admit_agreement(
        &self,
        agreement: &str,
        per_second: Option<NonZeroU32>,
        now: Instant,
    ) -> Result<(), Limited> {
        let Some(per_second) = per_second else {
            return Ok(());
        };
        let limit = RateLimit::per_second(per_second);
        acquire(&self.agreements, &agreement.to_owned(), limit, now).map_err(|retry_after| {
            Limited {
                over: Over::Agreement(agreement.to_owned()),
                limit,
                retry_after,
            }
        })
    }
}

fn acquire<K: std::hash::Hash + Eq + Clone>(
    limiter: &Mutex<RateLimiter<K>>,
    key: &K,
    limit: RateLimit,
    now: Instant,
) -> Result<(), Duration> {
    // A poisoned lock only means another thread panicked mid-update of a counter: the
    // buckets are still usable.
    let mut limiter = limiter
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    limiter
        .try_acquire_with(key, limit.quota(), now)
        .map_err(|limited| limited.retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("non-zero")
    }

    #[test]
    fn a_member_gets_its_burst_then_its_rate() {
        let limits = Limits::new();
        let t0 = Instant::now();
        let member = MemberId::from("ns13");
        let limit = Some(RateLimit {
            per_second: nz(2),
            burst: nz(3),
        });
        for _ in 0..3 {
            limits.admit_member(&member, limit, t0).expect("burst");
        }
        let limited = limits
            .admit_member(&member, limit, t0)
            .expect_err("over the burst");
        assert_eq!(limited.over, Over::Member(member.clone()));
        assert_eq!(limited.retry_after, Duration::from_millis(500));
        let text = limited.description();
        assert!(text.contains("member ns13"), "{text}");
        assert!(text.contains("2 messages/s (burst 3)"), "{text}");
        assert!(text.contains("slow down"), "{text}");
        // Half a second later one message is back, not two.
        let t1 = t0 + Duration::from_millis(500);
        limits.admit_member(&member, limit, t1).expect("refilled");
        assert!(limits.admit_member(&member, limit, t1).is_err());
        // Unlimited members and other members are not affected.
        limits
            .admit_member(&member, None, t1)
            .expect("no limit configured");
        limits
            .admit_member(&MemberId::from("ns14"), limit, t1)
            .expect("own bucket");
    }

    #[test]
    fn an_agreement_allows_its_rate_per_second() {
        let limits = Limits::new();
        let t0 = Instant::now();
        for _ in 0..5 {
            limits
                .admit_agreement("a/b", Some(nz(5)), t0)
                .expect("one second's worth");
        }
        let limited = limits
            .admit_agreement("a/b", Some(nz(5)), t0)
            .expect_err("over");
        assert_eq!(limited.over, Over::Agreement("a/b".into()));
        assert!(limited
            .description()
            .contains("roaming agreement a/b is over its limit of 5 messages/s"));
        limits
            .admit_agreement("a/c", Some(nz(5)), t0)
            .expect("another agreement");
        limits
            .admit_agreement("a/b", None, t0)
            .expect("a reloaded agreement without a limit");
        limits
            .admit_agreement("a/b", Some(nz(5)), t0 + Duration::from_millis(200))
            .expect("one back after 1/5 s");
    }
}
