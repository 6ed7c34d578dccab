//! The runner end to end: `bi-conformance` against a reference peer on loopback built from
//! Switchyard's own transport (the suite itself imports none of it; this test only needs some
//! peer). Every corpus request must come back well-formed, every invalid message as a
//! protocol error; and against a peer that answers wrongly the runner must fail.

use std::process::Command;
use std::sync::Arc;

use axum::Router;
use backend::http::pending::PendingAnswers;
use backend::http::server::{BiEndpoint, BiHandler, PeerInfo, Reply};
use backend::{Codec, Dialect, Message, ResultCode};

/// Answers every request with UnknownDevEUI, as a peer that knows no devices would.
struct KnowsNoDevice;

impl BiHandler for KnowsNoDevice {
    async fn handle(&self, message: Message, _peer: PeerInfo) -> Reply {
        match Message::error_answer(
            message.header(),
            ResultCode::UnknownDevEUI,
            "no such device",
        ) {
            Some(answer) => Reply::answer(answer),
            None => Reply::Accepted,
        }
    }
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/bi", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

/// Runs the runner binary in a blocking thread (it is a separate process).
async fn run_suite(url: String) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_bi-conformance"))
            .args(["--peer", &url, "--timeout-ms", "5000"])
            .output()
            .expect("run bi-conformance")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conforming_peer_passes_every_case() {
    let codec = Arc::new(Codec::new().unwrap());
    let endpoint = BiEndpoint::new(
        codec,
        Arc::new(KnowsNoDevice),
        PendingAnswers::new(),
        Dialect::canonical(),
    );
    let output = run_suite(serve(endpoint.router("/bi")).await).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let summary = stdout.lines().last().unwrap_or_default();
    let passed: usize = summary
        .split_whitespace()
        .next()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    assert!(summary.ends_with(" passed, 0 failed"), "{stdout}");
    assert!(passed >= 15, "too few cases ran: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_answers_plain_text_fails() {
    use axum::routing::post;
    let router = Router::new().route("/bi", post(|| async { "ok" }));
    let output = run_suite(serve(router).await).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("FAIL"), "{stdout}");
}
