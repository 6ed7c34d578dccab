//! `bi-bench` against `bi-sink` and `bi-relay`, all started in this process on 127.0.0.1
//! port 0: every request must come back Success, in both loops, directly and through the
//! relay; failures must be counted, not hidden; and the tool must refuse non-loopback
//! targets. Runs are short and bounded in count: these check the tools, not the machine.

use std::process::Command;
use std::time::Duration;

use conformance_tests::bench::{self, relay, sink, BenchConfig, BenchSummary, Pace, PaceKind};
use serde_json::Value;

/// The sample XmitDataReq the hub benchmark sends.
fn xmit_data_req() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/xmit-data-req.json");
    let text = std::fs::read(path).expect("bench/xmit-data-req.json");
    serde_json::from_slice(&text).expect("JSON")
}

async fn start_sink() -> String {
    let listener = sink::bind_loopback("127.0.0.1:0".parse().expect("address"))
        .await
        .expect("bind");
    let url = format!("http://{}/bi", listener.local_addr().expect("address"));
    tokio::spawn(sink::serve(listener, std::future::pending()));
    url
}

async fn start_relay(upstream: &str) -> String {
    let upstream = relay::Upstream::new(upstream).expect("upstream");
    let listener = sink::bind_loopback("127.0.0.1:0".parse().expect("address"))
        .await
        .expect("bind");
    let url = format!("http://{}/bi", listener.local_addr().expect("address"));
    tokio::spawn(relay::serve(listener, upstream, std::future::pending()));
    url
}

fn config(url: &str, pace: Pace, max_requests: u64) -> BenchConfig {
    let mut config = BenchConfig::new(url, xmit_data_req(), pace);
    config.token = Some("ns13-token-for-the-bench".into());
    config.connections = 8;
    config.duration = Duration::from_secs(1);
    config.max_requests = max_requests;
    config.timeout = Duration::from_secs(5);
    config
}

fn assert_all_ok(summary: &BenchSummary) {
    assert!(summary.requests > 0, "{}", summary.human());
    assert_eq!(summary.ok, summary.requests, "{}", summary.human());
    assert_eq!(summary.failed, 0);
    assert!(summary.errors.is_empty());
    assert!(summary.p99_ms.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_through_the_bare_relay_every_request_succeeds() {
    let relay = start_relay(&start_sink().await).await;
    let summary = bench::run(config(&relay, Pace::Closed, 3_000))
        .await
        .expect("run");
    assert_all_ok(&summary);
    assert_eq!(summary.mode, PaceKind::Closed);
    assert!(summary.requests <= 3_000);
    assert_eq!(summary.misses, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_at_a_fixed_rate_sends_on_schedule() {
    let sink = start_sink().await;
    let relay = start_relay(&sink).await;
    for url in [&sink, &relay] {
        let mut config = config(url, Pace::Open { rate: 400.0 }, 10_000);
        config.warmup = Duration::from_millis(200);
        let summary = bench::run(config).await.expect("run");
        assert_all_ok(&summary);
        assert_eq!(summary.misses, 0, "{}", summary.human());
        // 0.8 s counted at 400/s: 320 due times, give or take the edges.
        assert!(
            (300..=330).contains(&summary.requests),
            "{}",
            summary.human()
        );
        assert!(summary.lag_p99_ms.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_counted_by_status() {
    // A relay whose upstream is a closed port answers 502 to everything.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}/bi", closed.local_addr().expect("address"));
    drop(closed);
    let relay = start_relay(&dead).await;
    let summary = bench::run(config(&relay, Pace::Closed, 200))
        .await
        .expect("run");
    assert!(summary.requests > 0);
    assert_eq!(summary.ok, 0);
    assert_eq!(summary.failed, summary.requests);
    assert_eq!(summary.errors.get("HTTP 502"), Some(&summary.requests));
}

#[tokio::test]
async fn only_plain_http_on_loopback_is_loaded() {
    for url in [
        "http://192.0.2.1:8600/bi",
        "http://example.com/bi",
        "https://127.0.0.1:8600/bi",
        "ftp://127.0.0.1/bi",
    ] {
        let refused = bench::run(config(url, Pace::Closed, 1)).await;
        assert!(refused.is_err(), "{url}");
    }
    assert!(relay::Upstream::new("http://192.0.2.1/bi").is_err());
    assert!(sink::bind_loopback("0.0.0.0:0".parse().expect("address"))
        .await
        .is_err());
}

/// The binary end to end: its options, its JSON line and `--strict`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_one_json_summary_line() {
    let sink = start_sink().await;
    let message = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/xmit-data-req.json");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_bi-bench"))
            .args([
                "open",
                "--rate",
                "200",
                "--url",
                &sink,
                "--message",
                message,
            ])
            .args(["--connections", "4", "--duration-s", "0.5", "--strict"])
            .output()
            .expect("run bi-bench")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let summary: BenchSummary = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(summary.mode, PaceKind::Open);
    assert_eq!(summary.target_rate, Some(200.0));
    assert_all_ok(&summary);
}
