//! A keyed token-bucket rate limiter with an injected clock, shared by the daemons: the jsd's
//! claim guard (per DevEUI and per caller) and the hub's shield (per member and per roaming
//! agreement) use this one implementation.
//!
//! Time is an argument (`now: Instant`), never read inside, so tests step a fake clock
//! instead of sleeping (STYLE #10). Buckets refill one token every `refill_every`, a
//! [`Duration`] rather than a float rate: a duration cannot be NaN or negative, and both slow
//! limits (a few claims per minute) and fast ones ([`Quota::per_second`]) are exact.
//!
//! A limiter has a default quota ([`RateLimiter::try_acquire`]); a caller whose keys have
//! quotas of their own (one per member, one per agreement) passes it with each attempt
//! ([`RateLimiter::try_acquire_with`]). A key whose quota shrinks keeps at most the new
//! burst.
//!
//! Memory is bounded by `max_keys`: when a new key arrives and the table is full, the key
//! touched longest ago is forgotten (its bucket has had the longest time to refill, so it is
//! the cheapest to lose). Forgetting a drained bucket gives that key a full one, so
//! `max_keys` must be large compared with the keys one caller may touch in a refill period.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::{Duration, Instant};

/// A bucket's size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Attempts allowed in a burst (the bucket's size).
    pub burst: NonZeroU32,
    /// One attempt comes back every this long.
    pub refill_every: Duration,
}

impl Quota {
    /// A quota; `None` when `refill_every` is zero.
    pub fn new(burst: NonZeroU32, refill_every: Duration) -> Option<Self> {
        (!refill_every.is_zero()).then_some(Self {
            burst,
            refill_every,
        })
    }

    /// `rate` attempts per second on average, `burst` at once.
    pub fn per_second(rate: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            burst,
            // At least 1 ns: a rate above 10⁹/s is "unlimited" in practice anyway.
            refill_every: (Duration::from_secs(1) / rate.get()).max(Duration::from_nanos(1)),
        }
    }
}

/// An attempt over the limit. The caller is to blame; answer "retry after".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited; retry in {} s", retry_after.as_secs().max(1))]
pub struct RateLimited {
    /// When the next attempt will be allowed.
    pub retry_after: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u32,
    /// When `tokens` was last brought up to date.
    refilled_at: Instant,
    /// Position in the eviction order.
    touched: (Instant, u64),
}

/// Token buckets, one per key, at most `max_keys` of them.
#[derive(Debug)]
pub struct RateLimiter<K> {
    quota: Quota,
    max_keys: NonZeroUsize,
    buckets: HashMap<K, Bucket>,
    /// Keys by last use, oldest first; the `u64` makes equal instants distinct.
    order: BTreeMap<(Instant, u64), K>,
    sequence: u64,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// An empty limiter whose keys get `quota` unless an attempt names another.
    pub fn new(quota: Quota, max_keys: NonZeroUsize) -> Self {
        Self {
            quota,
            max_keys,
            buckets: HashMap::new(),
            order: BTreeMap::new(),
            sequence: 0,
        }
    }

    /// Takes one token from `key`'s bucket, or says how long to wait.
    /// A refused attempt still counts as use of the key for eviction: a key under attack
    /// stays tracked.
    pub fn try_acquire(&mut self, key: &K, now: Instant) -> Result<(), RateLimited> {
        self.try_acquire_with(key, self.quota, now)
    }

    /// [`Self::try_acquire`] with `key`'s own quota.
    pub fn try_acquire_with(
        &mut self,
        key: &K,
        quota: Quota,
        now: Instant,
    ) -> Result<(), RateLimited> {
        let bucket = self.touch(key, quota, now);
        if bucket.tokens == 0 {
            let waited = now.saturating_duration_since(bucket.refilled_at);
            return Err(RateLimited {
                retry_after: quota.refill_every.saturating_sub(waited),
            });
        }
        bucket.tokens -= 1;
        Ok(())
    }

    /// Whether [`Self::try_acquire`] would succeed now, changing nothing.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), RateLimited> {
        let Some(bucket) = self.buckets.get(key) else {
            return Ok(());
        };
        let (tokens, refilled_at) = refilled(bucket, self.quota, now);
        if tokens > 0 {
            return Ok(());
        }
        let waited = now.saturating_duration_since(refilled_at);
        Err(RateLimited {
            retry_after: self.quota.refill_every.saturating_sub(waited),
        })
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The bucket for `key`, created (full) or refilled under `quota`, marked as used at
    /// `now`.
    fn touch(&mut self, key: &K, quota: Quota, now: Instant) -> &mut Bucket {
        self.sequence = self.sequence.wrapping_add(1);
        let touched = (now, self.sequence);
        let fresh = match self.buckets.get(key) {
            Some(bucket) => {
                let (tokens, refilled_at) = refilled(bucket, quota, now);
                self.order.remove(&bucket.touched);
                Bucket {
                    tokens,
                    refilled_at,
                    touched,
                }
            }
            None => {
                while self.buckets.len() >= self.max_keys.get() {
                    let Some((_, oldest)) = self.order.pop_first() else {
                        break;
                    };
                    self.buckets.remove(&oldest);
                }
                Bucket {
                    tokens: quota.burst.get(),
                    refilled_at: now,
                    touched,
                }
            }
        };
        self.order.insert(touched, key.clone());
        let slot = self.buckets.entry(key.clone()).or_insert(fresh);
        *slot = fresh;
        slot
    }
}

/// The bucket's tokens and refill instant brought up to `now` under `quota` (never more
/// than its burst). A `now` earlier than the last one (a clock that went back) refills
/// nothing.
fn refilled(bucket: &Bucket, quota: Quota, now: Instant) -> (u32, Instant) {
    let burst = quota.burst.get();
    let tokens = bucket.tokens.min(burst);
    let elapsed = now.saturating_duration_since(bucket.refilled_at);
    let periods = elapsed.as_nanos() / quota.refill_every.as_nanos().max(1);
    let missing = u128::from(burst - tokens);
    if periods >= missing {
        // Full: the refill clock restarts now.
        return (burst, now);
    }
    // `periods < missing <= u32::MAX`, so both conversions are exact.
    let added = u32::try_from(periods).unwrap_or(u32::MAX);
    let advanced = quota
        .refill_every
        .checked_mul(added)
        .and_then(|d| bucket.refilled_at.checked_add(d))
        .unwrap_or(now);
    (tokens.saturating_add(added), advanced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn quota(burst: u32, secs: u64) -> Quota {
        Quota::new(
            NonZeroU32::new(burst).expect("non-zero"),
            Duration::from_secs(secs),
        )
        .expect("non-zero duration")
    }

    fn limiter(burst: u32, secs: u64, max_keys: usize) -> RateLimiter<u32> {
        RateLimiter::new(
            quota(burst, secs),
            NonZeroUsize::new(max_keys).expect("non-zero"),
        )
    }

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("non-zero")
    }

    #[test]
    fn a_burst_then_one_per_period() {
        let t0 = Instant::now();
        let mut rl = limiter(3, 10, 100);
        for _ in 0..3 {
            assert_eq!(rl.try_acquire(&1, t0), Ok(()));
        }
        assert_eq!(
            rl.try_acquire(&1, t0),
            Err(RateLimited {
                retry_after: Duration::from_secs(10)
            })
        );
        let t4 = t0 + Duration::from_secs(4);
        assert_eq!(
            rl.try_acquire(&1, t4),
            Err(RateLimited {
                retry_after: Duration::from_secs(6)
            })
        );
        let t10 = t0 + Duration::from_secs(10);
        assert_eq!(rl.try_acquire(&1, t10), Ok(()));
        assert!(rl.try_acquire(&1, t10).is_err());
        // Other keys are independent.
        assert_eq!(rl.try_acquire(&2, t10), Ok(()));
    }

    #[test]
    fn partial_periods_are_not_lost() {
        let t0 = Instant::now();
        let mut rl = limiter(2, 10, 100);
        rl.try_acquire(&1, t0).expect("1");
        rl.try_acquire(&1, t0).expect("2");
        // 15 s: one token back, 5 s towards the next.
        let t15 = t0 + Duration::from_secs(15);
        rl.try_acquire(&1, t15).expect("refilled");
        assert_eq!(
            rl.check(&1, t15),
            Err(RateLimited {
                retry_after: Duration::from_secs(5)
            })
        );
        assert_eq!(rl.try_acquire(&1, t0 + Duration::from_secs(20)), Ok(()));
    }

    #[test]
    fn the_bucket_never_exceeds_its_burst() {
        let t0 = Instant::now();
        let mut rl = limiter(2, 1, 100);
        rl.try_acquire(&1, t0).expect("first");
        let later = t0 + Duration::from_secs(3600);
        rl.try_acquire(&1, later).expect("1");
        rl.try_acquire(&1, later).expect("2");
        assert!(rl.try_acquire(&1, later).is_err());
    }

    #[test]
    fn a_clock_going_back_refills_nothing_and_does_not_panic() {
        let t0 = Instant::now() + Duration::from_secs(100);
        let mut rl = limiter(1, 10, 100);
        rl.try_acquire(&1, t0).expect("first");
        let earlier = t0 - Duration::from_secs(50);
        assert!(rl.try_acquire(&1, earlier).is_err());
    }

    #[test]
    fn the_oldest_key_is_evicted_when_full() {
        let t0 = Instant::now();
        let mut rl = limiter(1, 60, 2);
        rl.try_acquire(&1, t0).expect("1");
        rl.try_acquire(&2, t0 + Duration::from_secs(1)).expect("2");
        // Key 1 used again: key 2 is now the oldest.
        assert!(rl.try_acquire(&1, t0 + Duration::from_secs(2)).is_err());
        rl.try_acquire(&3, t0 + Duration::from_secs(3)).expect("3");
        assert_eq!(rl.len(), 2);
        // 2 was forgotten (a fresh bucket), 1 was kept (still drained).
        assert_eq!(rl.try_acquire(&2, t0 + Duration::from_secs(4)), Ok(()));
        assert_eq!(rl.len(), 2);
        assert!(!rl.is_empty());
    }

    #[test]
    fn a_zero_refill_period_is_refused() {
        assert_eq!(Quota::new(nz(1), Duration::ZERO), None);
    }

    #[test]
    fn per_key_quotas_per_second() {
        let t0 = Instant::now();
        let mut rl = limiter(1, 60, 10);
        let fast = Quota::per_second(nz(10), nz(2));
        assert_eq!(fast.refill_every, Duration::from_millis(100));
        rl.try_acquire_with(&1, fast, t0).expect("1");
        rl.try_acquire_with(&1, fast, t0).expect("2");
        assert_eq!(
            rl.try_acquire_with(&1, fast, t0),
            Err(RateLimited {
                retry_after: Duration::from_millis(100)
            })
        );
        rl.try_acquire_with(&1, fast, t0 + Duration::from_millis(100))
            .expect("refilled after 1/10 s");
        // A quota that shrinks caps the tokens at its burst.
        let t1 = t0 + Duration::from_secs(10);
        let slow = Quota::per_second(nz(1), nz(1));
        rl.try_acquire_with(&1, slow, t1).expect("one");
        assert!(rl.try_acquire_with(&1, slow, t1).is_err());
        // The default quota still applies to other keys.
        rl.try_acquire(&2, t1).expect("default");
        assert!(rl.try_acquire(&2, t1).is_err());
    }

    proptest! {
        #[test]
        fn memory_stays_bounded_by_max_keys(
            steps in proptest::collection::vec((0u64..5_000, 0u32..50), 1..300),
        ) {
            let mut rl = limiter(3, 2, 8);
            let mut now = Instant::now();
            for (ms, key) in steps {
                now += Duration::from_millis(ms);
                let _ = rl.try_acquire(&key, now);
                prop_assert!(rl.len() <= 8);
                prop_assert_eq!(rl.order.len(), rl.len());
            }
        }

        #[test]
        fn a_single_key_obeys_the_token_bucket_bound(
            gaps in proptest::collection::vec(0u64..3_000, 1..300),
        ) {
            let t0 = Instant::now();
            let mut rl = limiter(3, 2, 10);
            let mut now = t0;
            let mut granted = 0u64;
            for ms in gaps {
                now += Duration::from_millis(ms);
                if rl.try_acquire(&7, now).is_ok() {
                    granted += 1;
                }
            }
            let elapsed = now.duration_since(t0).as_secs();
            prop_assert!(granted <= 3 + elapsed / 2);
        }
    }
}
