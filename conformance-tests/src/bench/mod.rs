//! `bi-bench`, `bi-sink` and `bi-relay`: what a relay of Backend Interfaces messages costs,
//! measured against the bare HTTP relay of the same stack on the same machine.
//!
//! The hub issue's target is relative: the hub's throughput at least half the bare relay's,
//! and at most 3 ms more p99 latency at 5,000 transactions/s. Both relays are loaded by the
//! same tool, in the same run, in front of the same member, so the machine (and whatever else
//! runs on it) divides out:
//!
//! ```text
//! bi-bench ──► bi-relay ──► bi-sink        the physical limit: axum in, reqwest out, nothing else
//! bi-bench ──► hub      ──► bi-sink        the hub's whole path (authenticate … record)
//! ```
//!
//! `bench/hub-relay.sh` runs the whole comparison (and a memory soak).
//!
//! # bi-sink
//!
//! ```text
//! bi-sink [--listen 127.0.0.1:8714] [--threads N]
//! ```
//!
//! A synchronous member that answers every request `Success` at once ([`sink`]).
//!
//! # bi-relay
//!
//! ```text
//! bi-relay --upstream http://127.0.0.1:8714/bi [--listen 127.0.0.1:8715] [--threads N]
//! ```
//!
//! `POST /bi` forwarded to the upstream, its status and body returned ([`relay`]).
//!
//! Both serve until Ctrl-C or SIGTERM and listen on loopback addresses only.
//!
//! # bi-bench
//!
//! ```text
//! bi-bench closed --url URL --message FILE [--token TOKEN] [--connections 32]
//!                 [--duration-s 10] [--warmup-s 0] [--max-requests 10000000]
//!                 [--timeout-ms 5000] [--threads 1] [--strict]
//! bi-bench open --rate 5000 --url URL --message FILE [same options]
//! ```
//!
//! POSTs the JSON message in FILE over `--connections` keep-alive HTTP/1.1 connections
//! (opened before the clock starts), each request with its own TransactionID (counting up
//! from the clock), and `Authorization: Bearer TOKEN` if given (also from `BI_BENCH_TOKEN`).
//!
//! - `closed`: each connection sends its next request when the previous one is answered: the
//!   throughput figure.
//! - `open`: requests fall due at `--rate` per second whatever the answers (wrk2-style, so a
//!   slow answer cannot slow the load down and hide itself). A request due while all
//!   connections are busy is not sent and counts as a miss; `lag` says how late requests
//!   left after their due time (the tool's own slack). The latency figure.
//!
//! A request succeeds when it is answered 200 with the request's answer type (`…Req` →
//! `…Ans`), its TransactionID and ResultCode `Success`; a message that is not a request
//! succeeds on any 200. Latency runs from writing the request to reading the whole answer.
//! The run stops at `--duration-s` or `--max-requests`, whichever comes first, or at Ctrl-C;
//! requests in the first `--warmup-s` are sent but not counted. `--url` must be a plain
//! `http://` URL on 127.0.0.1, ::1 or localhost. `--threads 1` (the default) loads like
//! `wrk -t1`, leaving the other cores to the subject.
//!
//! A human summary goes to stderr and one JSON line ([`BenchSummary`]) to stdout
//! (the figures only show the shape):
//!
//! ```json
//! {"mode":"closed","url":"http://127.0.0.1:8715/bi","connections":32,"requests":412000,
//!  "ok":412000,"failed":0,"errors":{},"transport_errors":0,"malformed_answers":0,"misses":0,
//!  "elapsed_s":10.0,"rate_per_s":41200.0,"ok_per_s":41200.0,"p50_ms":0.7,"p90_ms":1.1,
//!  "p99_ms":2.0,"p999_ms":3.1,"max_ms":9.8}
//! ```
//!
//! (an open-loop line adds `target_rate`, `lag_p99_ms` and `lag_max_ms`). The exit status is
//! 0, or with `--strict` 4 when any request failed or was missed.

pub mod http1;
pub mod relay;
mod replay;
pub mod sink;

pub use replay::{
    classify, run, BenchConfig, BenchSummary, Outcome, Pace, PaceKind, Template, MAX_CONNECTIONS,
    MAX_DURATION, MAX_RATE,
};

/// Completes at Ctrl-C or (on Unix) SIGTERM: when a bench server should stop.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The multi-threaded runtime a bench server runs on: `threads` workers, or one per core.
pub fn server_runtime(threads: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = threads {
        builder.worker_threads(threads.max(1));
    }
    builder.enable_all().build()
}
