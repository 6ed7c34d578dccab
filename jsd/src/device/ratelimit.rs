//! The claim guard: every claim (and unclaim) attempt passes two rate limits, per DevEUI and
//! per caller, both token buckets of the shared [`service::ratelimit`].
//!
//! Owner tokens are 128 random bits, so guessing is hopeless anyway; the limits are there so
//! that trying is also loud and cheap for the JS: a DevEUI under attack stops answering
//! claims for a while (the legitimate owner retries later), and a caller spraying DevEUIs is
//! cut off whatever device it targets. The per-caller limit also bounds how many DevEUI keys
//! one caller can make the per-device limiter track in a refill period.

use std::hash::Hash;
use std::time::Instant;

pub use service::ratelimit::{Quota, RateLimited, RateLimiter};

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
    use std::num::{NonZeroU32, NonZeroUsize};
    use std::time::Duration;

    fn limiter(burst: u32, secs: u64, max_keys: usize) -> RateLimiter<u32> {
        RateLimiter::new(
            Quota::new(
                NonZeroU32::new(burst).expect("non-zero"),
                Duration::from_secs(secs),
            )
            .expect("non-zero duration"),
            NonZeroUsize::new(max_keys).expect("non-zero"),
        )
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
}
