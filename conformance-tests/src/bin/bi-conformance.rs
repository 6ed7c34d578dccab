//! `bi-conformance --peer URL`: sends the shared corpus to a Backend Interfaces peer and
//! checks that every request gets a well-formed answer (and every invalid one a protocol
//! error, never a crash or a bare HTTP error).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use conformance_tests::answer::check_answer;
use conformance_tests::corpus::{load, shared_dir, Expectation};

/// Backend Interfaces conformance run against one peer.
#[derive(Debug, Parser)]
#[command(name = "bi-conformance", version, about)]
struct Args {
    /// The peer's Backend Interfaces endpoint, e.g. http://127.0.0.1:8600/bi.
    #[arg(long, value_name = "URL")]
    peer: String,
    /// Sent as `Authorization: Bearer TOKEN`.
    #[arg(long, value_name = "TOKEN")]
    bearer: Option<String>,
    /// The corpus folder (default: shared/conformance/bi beside the repository).
    #[arg(long, value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// Per-request timeout in milliseconds.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
}

const PROTOCOL_ERRORS: &[&str] = &[
    "MalformedRequest",
    "MalformedMessage",
    "InvalidProtocolVersion",
];

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = args
        .corpus
        .unwrap_or_else(|| shared_dir().join("conformance/bi"));
    let corpus = load(&dir)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(args.timeout_ms))
        .build()?;
    let (mut passed, mut failed) = (0_usize, 0_usize);
    for message in &corpus {
        // Only requests get answers; valid answers and notifications are not sent to a peer
        // cold. Everything invalid is sent: it must be answered with a protocol error.
        let is_request = message.message_type().is_some_and(|t| t.ends_with("Req"));
        if message.expectation != Expectation::Reject && !is_request {
            continue;
        }
        let mut request = client.post(&args.peer).body(message.bytes.clone());
        if let Some(token) = &args.bearer {
            request = request.bearer_auth(token);
        }
        let outcome = match request.send().await {
            Err(e) => Err(format!("no HTTP answer: {e}")),
            Ok(response) => {
                let status = response.status();
                let body = response.bytes().await.unwrap_or_default();
                match serde_json::from_slice::<serde_json::Value>(&body) {
                    Err(_) => Err(format!("HTTP {status} with a body that is not JSON")),
                    Ok(answer) => {
                        let request_json = message.json().unwrap_or(serde_json::Value::Null);
                        check_answer(&request_json, &answer).and_then(|code| {
                            match message.expectation {
                                Expectation::Reject
                                    if !PROTOCOL_ERRORS.contains(&code.as_str()) =>
                                {
                                    Err(format!("invalid message answered {code}"))
                                }
                                _ => Ok(code),
                            }
                        })
                    }
                }
            }
        };
        match outcome {
            Ok(code) => {
                passed += 1;
                println!("ok    {} ({code})", message.name);
            }
            Err(reason) => {
                failed += 1;
                println!("FAIL  {}: {reason}", message.name);
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
