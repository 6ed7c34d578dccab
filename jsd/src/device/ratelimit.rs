//! A keyed token-bucket rate limiter with an injected clock, and the claim guard that uses it
//! twice: per DevEUI and per caller.
//!
//! Owner tokens are 128 random bits, so guessing is hopeless anyway; the limits are there so
//! that trying is also loud and cheap for the JS: a DevEUI under attack stops answering
//! claims for a while (the legitimate owner retries later), and a caller spraying DevEUIs is
//! cut off whatever device it targets.
//!
//! Time is an argument (`now: Instant`), never read inside, so tests step a fake clock
//! instead of sleeping (STYLE #10). Buckets refill one token every `refill_every`, a
//! [`Duration`] rather than a float rate: claim limits are slow (a few per minute) and a
//! duration cannot be NaN or negative.
//!
//! Memory is bounded by `max_keys`: when a new key arrives and the table is full, the key
//! touched longest ago is forgotten (its bucket has had the longest time to refill, so it is
//! the cheapest to lose). Forgetting a drained bucket gives that key a full one, so
//! `max_keys` must be large compared with what one caller may touch in a refill period;
//! the per-caller limit bounds that.

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
    /// An empty limiter.
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
        let refill_every = self.quota.refill_every;
        let bucket = self.touch(key, now);
        if bucket.tokens == 0 {
            let waited = now.saturating_duration_since(bucket.refilled_at);
            return Err(RateLimited {
                retry_after: refill_every.saturating_sub(waited),
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
        let (tokens, refilled_at) = self.refilled(bucket, now);
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

    /// The bucket's tokens and refill instant brought up to `now`. A `now` earlier than the
    /// last one (a clock that went back) refills nothing.
    fn refilled(&self, bucket: &Bucket, now: Instant) -> (u32, Instant) {
        let burst = self.quota.burst.get();
        let elapsed = now.saturating_duration_since(bucket.refilled_at);
        let periods = elapsed.as_nanos() / self.quota.refill_every.as_nanos().max(1);
        let missing = u128::from(burst.saturating_sub(bucket.tokens));
        if periods >= missing {
            // Full: the refill clock restarts now.
            return (burst, now);
        }
        // `periods < missing <= u32::MAX`, so both conversions are exact.
        let added = u32::try_from(periods).unwrap_or(u32::MAX);
        let advanced = self
            .quota
            .refill_every
            .checked_mul(added)
            .and_then(|d| bucket.refilled_at.checked_add(d))
            .unwrap_or(now);
        (bucket.tokens.saturating_add(added), advanced)
    }

    /// The bucket for `key`, created (full) or refilled, marked as used at `now`.
    fn touch(&mut self, key: &K, now: Instant) -> &mut Bucket {
        self.sequence = self.sequence.wrapping_add(1);
        let touched = (now, self.sequence);
        let fresh = match self.buckets.get(key) {
            Some(bucket) => {
                let (tokens, refilled_at) = self.refilled(bucket, now);
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
                    tokens: self.quota.burst.get(),
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

/// Which limit stopped a claim attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimLimited {
    /// Too many attempts on this DevEUI, from anyone.
    #[error("too many claim attempts on this DevEUI; {0}")]
    Device(RateLimited),
    /// Too many attempts from this caller, on any device.
    #[error("too many claim attempts from this caller; {0}")]
    Caller(RateLimited),
}

/// The two limits every claim (and unclaim) attempt passes: per DevEUI `D` and per caller `C`
/// (the authenticated network, or the client address when there is none).
#[derive(Debug)]
pub struct ClaimGuard<D, C> {
    per_device: RateLimiter<D>,
    per_caller: RateLimiter<C>,
}

impl<D: Hash + Eq + Clone, C: Hash + Eq + Clone> ClaimGuard<D, C> {
    /// A guard from its two limiters.
    pub fn new(per_device: RateLimiter<D>, per_caller: RateLimiter<C>) -> Self {
        Self {
            per_device,
            per_caller,
        }
    }

    /// Counts one attempt by `caller` on `device`, or refuses it. Every attempt counts,
    /// successful or not: the JS cannot tell a guess from a claim before checking the token,
    /// and checking is what the limit protects. A refused attempt consumes nothing, so a
    /// caller over its own limit cannot drain a device's bucket.
    pub fn admit(&mut self, device: &D, caller: &C, now: Instant) -> Result<(), ClaimLimited> {
        self.per_caller
            .check(caller, now)
            .map_err(ClaimLimited::Caller)?;
        self.per_device
            .check(device, now)
            .map_err(ClaimLimited::Device)?;
        self.per_caller
            .try_acquire(caller, now)
            .map_err(ClaimLimited::Caller)?;
        self.per_device
            .try_acquire(device, now)
            .map_err(ClaimLimited::Device)
    }
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
        assert_eq!(
            Quota::new(NonZeroU32::new(1).expect("1"), Duration::ZERO),
            None
        );
    }

    #[test]
    fn the_claim_guard_applies_both_limits_and_names_the_one_hit() {
        let t0 = Instant::now();
        let mut guard = ClaimGuard::new(limiter(2, 60, 100), limiter(3, 60, 100));
        // One caller, one device: the device limit (2) is hit first.
        guard.admit(&10, &1, t0).expect("1");
        guard.admit(&10, &1, t0).expect("2");
        assert!(matches!(
            guard.admit(&10, &1, t0),
            Err(ClaimLimited::Device(_))
        ));
        // The refused attempt consumed nothing from the caller: one left.
        guard.admit(&11, &1, t0).expect("3");
        assert!(matches!(
            guard.admit(&12, &1, t0),
            Err(ClaimLimited::Caller(_))
        ));
        // Another caller is still blocked on device 10 but free elsewhere.
        assert!(matches!(
            guard.admit(&10, &2, t0),
            Err(ClaimLimited::Device(_))
        ));
        guard.admit(&12, &2, t0).expect("other caller");
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
