//! Counters and latencies of a run, and the summary it prints.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Sub-buckets per power of two: latencies are kept to within 1/128 (0.8 %).
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;

/// A log-linear latency histogram in microseconds: exact below 256 µs, then 128 buckets per
/// power of two. Fixed memory (under 60 KiB) however many requests are recorded.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; bucket(u64::MAX) + 1],
            total: 0,
            max_us: 0,
        }
    }
}

fn bucket(us: u64) -> usize {
    if us < 2 * SUB {
        return us as usize;
    }
    let shift = 63 - us.leading_zeros() - SUB_BITS;
    (2 * SUB + u64::from(shift - 1) * SUB + ((us >> shift) - SUB)) as usize
}

/// The largest value that falls in bucket `index`.
fn bucket_top(index: usize) -> u64 {
    let index = index as u64;
    if index < 2 * SUB {
        return index;
    }
    let shift = (index - 2 * SUB) / SUB + 1;
    let mantissa = (index - 2 * SUB) % SUB + SUB;
    (mantissa << shift).saturating_add((1 << shift) - 1)
}

impl Histogram {
    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket(us)] += 1;
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    /// How many latencies were recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether none was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The `q`-quantile (0 < q ≤ 1) in microseconds: the top of the bucket holding the
    /// `ceil(q · n)`-th smallest value, never above the largest value seen.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(bucket_top(index).min(self.max_us));
            }
        }
        Some(self.max_us)
    }

    /// The largest latency, in microseconds.
    pub fn max_us(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max_us)
    }
}

/// Which kind of run a summary describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// New DevNonces, increasing per device.
    Load,
    /// Every DevNonce up to the recorded last one, sent again: each must be refused.
    Replay,
}

/// What a run did: the JSON line `bi-load run` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Load or replay.
    pub mode: RunKind,
    /// JoinReqs sent.
    pub requests: u64,
    /// Answers `Success` with a PHYPayload whose join-accept verified (decrypted, MIC checked).
    pub ok: u64,
    /// Well-formed answers other than `Success`, by ResultCode.
    pub errors: BTreeMap<String, u64>,
    /// Requests that got no HTTP answer (connection refused or reset, timeout).
    pub transport_errors: u64,
    /// HTTP answers that are not a well-formed JoinAns to the request (not JSON, wrong
    /// MessageType or TransactionID, IDs not swapped, no or unknown ResultCode).
    pub malformed_answers: u64,
    /// `Success` answers whose PHYPayload is missing, not hex, or not a join-accept that
    /// verifies with the device's key.
    pub accept_invalid: u64,
    /// Verified join-accepts whose JoinNonce was not greater than the last one seen for the
    /// device (1.0.4 / 1.1; for 1.0.2 / 1.0.3: equal to it).
    pub join_nonce_reuse: u64,
    /// Replay only: DevNonces accepted before and answered `Success` again.
    pub dev_nonce_accepted_twice: u64,
    /// Devices with nothing left to send: DevNonce 65535 used (load), or every accepted
    /// DevNonce re-sent (replay).
    pub devices_done: u64,
    /// Replay only: accepted DevNonces not re-sent before the duration or request bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_pending: Option<u64>,
    /// Wall time from the first request to the last answer.
    pub elapsed_s: f64,
    /// `requests / elapsed_s`.
    pub rate_per_s: f64,
    /// Median latency of answered requests (null if none).
    pub p50_ms: Option<f64>,
    /// 95th percentile latency.
    pub p95_ms: Option<f64>,
    /// 99th percentile latency.
    pub p99_ms: Option<f64>,
    /// Largest latency.
    pub max_ms: Option<f64>,
    /// A few examples of failures, for the human summary (not in the JSON line).
    #[serde(skip)]
    pub failure_samples: Vec<String>,
}

/// How many failure examples a summary keeps.
const MAX_SAMPLES: usize = 8;

/// Counters as the workers fill them.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// JoinReqs sent.
    pub requests: u64,
    /// See [`Summary::ok`].
    pub ok: u64,
    /// See [`Summary::errors`].
    pub errors: BTreeMap<String, u64>,
    /// See [`Summary::transport_errors`].
    pub transport_errors: u64,
    /// See [`Summary::malformed_answers`].
    pub malformed_answers: u64,
    /// See [`Summary::accept_invalid`].
    pub accept_invalid: u64,
    /// See [`Summary::join_nonce_reuse`].
    pub join_nonce_reuse: u64,
    /// See [`Summary::dev_nonce_accepted_twice`].
    pub dev_nonce_accepted_twice: u64,
    /// Latencies of answered requests.
    pub latency: Histogram,
    /// See [`Summary::failure_samples`].
    pub failure_samples: Vec<String>,
}

impl Stats {
    /// Keeps `text` as an example failure while there are few.
    pub fn sample(&mut self, text: impl FnOnce() -> String) {
        if self.failure_samples.len() < MAX_SAMPLES {
            self.failure_samples.push(text());
        }
    }

    /// The summary of a run that took `elapsed`.
    pub fn summary(
        self,
        mode: RunKind,
        elapsed: Duration,
        devices_done: u64,
        replay_pending: Option<u64>,
    ) -> Summary {
        let secs = elapsed.as_secs_f64();
        let ms = |us: Option<u64>| us.map(|us| us as f64 / 1000.0);
        Summary {
            mode,
            requests: self.requests,
            ok: self.ok,
            errors: self.errors,
            transport_errors: self.transport_errors,
            malformed_answers: self.malformed_answers,
            accept_invalid: self.accept_invalid,
            join_nonce_reuse: self.join_nonce_reuse,
            dev_nonce_accepted_twice: self.dev_nonce_accepted_twice,
            devices_done,
            replay_pending,
            elapsed_s: secs,
            rate_per_s: if secs > 0.0 {
                self.requests as f64 / secs
            } else {
                0.0
            },
            p50_ms: ms(self.latency.quantile_us(0.50)),
            p95_ms: ms(self.latency.quantile_us(0.95)),
            p99_ms: ms(self.latency.quantile_us(0.99)),
            max_ms: ms(self.latency.max_us()),
            failure_samples: self.failure_samples,
        }
    }
}

impl Summary {
    /// Safety violations: what must never happen whatever the load (a reused JoinNonce, an
    /// accept that does not verify, a DevNonce accepted twice). Errors and timeouts under
    /// overload are not violations.
    pub fn violations(&self) -> u64 {
        self.join_nonce_reuse + self.accept_invalid + self.dev_nonce_accepted_twice
    }

    /// For a replay: whether every accepted DevNonce was re-sent and answered, so that
    /// `dev_nonce_accepted_twice == 0` proves something. Always true for a load run.
    pub fn replay_is_conclusive(&self) -> bool {
        self.mode == RunKind::Load
            || (self.replay_pending == Some(0)
                && self.transport_errors == 0
                && self.malformed_answers == 0)
    }

    /// A few lines for people.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        let _ = writeln!(
            out,
            "bi-load {}: {} requests in {:.2} s ({:.0}/s), {} ok",
            match self.mode {
                RunKind::Load => "run",
                RunKind::Replay => "replay",
            },
            self.requests,
            self.elapsed_s,
            self.rate_per_s,
            self.ok
        );
        let _ = writeln!(
            out,
            "  latency ms: p50 {}  p95 {}  p99 {}  max {}",
            opt(self.p50_ms),
            opt(self.p95_ms),
            opt(self.p99_ms),
            opt(self.max_ms)
        );
        for (code, count) in &self.errors {
            let _ = writeln!(out, "  ResultCode {code}: {count}");
        }
        for (name, count) in [
            ("transport errors", self.transport_errors),
            ("malformed answers", self.malformed_answers),
            ("invalid join-accepts", self.accept_invalid),
            ("JoinNonce reuse", self.join_nonce_reuse),
            ("DevNonce accepted twice", self.dev_nonce_accepted_twice),
            ("devices done", self.devices_done),
        ] {
            if count > 0 {
                let _ = writeln!(out, "  {name}: {count}");
            }
        }
        if let Some(pending) = self.replay_pending.filter(|p| *p > 0) {
            let _ = writeln!(
                out,
                "  replay incomplete: {pending} DevNonces not re-sent (raise --duration-s)"
            );
        }
        if !self.replay_is_conclusive() {
            let _ = writeln!(
                out,
                "  INCONCLUSIVE: some accepted DevNonces were not re-sent or got no answer"
            );
        }
        for sample in &self.failure_samples {
            let _ = writeln!(out, "  e.g. {sample}");
        }
        let violations = self.violations();
        if violations > 0 {
            let _ = writeln!(out, "  VIOLATIONS: {violations}");
        }
        out
    }
}
