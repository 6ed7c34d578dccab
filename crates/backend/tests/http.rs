//! The HTTP transport over real loopback sockets: synchronous and asynchronous answers
//! (correlated by peer and TransactionID), protocol-shaped rejections, bearer tokens,
//! retries and bounded waits.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use backend::http::client::{
    BiClient, ClientConfig, ClientError, Delivery, PeerEndpoint, RetryPolicy,
};
use backend::http::pending::{PendingAnswers, WaitError};
use backend::http::server::{BiEndpoint, BiHandler, PeerDirectory, PeerInfo, Reply};
use backend::{Codec, Dialect, Header, Message, MessageType, ResultCode};
use serde_json::{json, Value};

const NS: &str = "42FFFF";
const JS: &str = "70B3D57ED0000000";

/// One codec for the whole test binary: compiling the schemas is start-up work (slow in
/// debug builds), done once per daemon in production too.
fn codec() -> Arc<Codec> {
    static CODEC: std::sync::OnceLock<Arc<Codec>> = std::sync::OnceLock::new();
    CODEC
        .get_or_init(|| Arc::new(Codec::new().expect("schemas compile")))
        .clone()
}

fn join_req(transaction_id: u32) -> Message {
    Message::from_json(json!({
        "ProtocolVersion": "1.1", "TransactionID": transaction_id, "MessageType": "JoinReq",
        "SenderID": NS, "ReceiverID": JS, "MACVersion": "1.0.3",
        "PHYPayload": "00000000D07ED5B370080706050403020100003851F0B6",
        "DevEUI": "0102030405060708", "DevAddr": "01020304", "DLSettings": "00", "RxDelay": 5
    }))
    .expect("valid JoinReq")
}

fn answer_to(request: &Header, code: ResultCode) -> Message {
    Message::error_answer(request, code, "from the test handler").expect("requests have answers")
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}/bi")
}

fn client() -> BiClient {
    let config = ClientConfig {
        retry: RetryPolicy {
            attempts: 3,
            first_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
        },
        ..ClientConfig::default()
    };
    BiClient::new(&config, codec()).unwrap()
}

/// Answers every request in the HTTP response with UnknownDevEUI and remembers the bearer
/// token it saw; unsolicited answers are counted.
#[derive(Default)]
struct SyncJs {
    tokens: Mutex<Vec<Option<String>>>,
    unsolicited: AtomicU32,
}

impl BiHandler for SyncJs {
    async fn handle(&self, message: Message, peer: PeerInfo) -> Reply {
        self.tokens.lock().unwrap().push(peer.bearer_token);
        if message.message_type().is_answer() {
            self.unsolicited.fetch_add(1, Ordering::Relaxed);
            return Reply::Accepted;
        }
        Reply::answer(answer_to(message.header(), ResultCode::UnknownDevEUI))
    }
}

/// Acknowledges every request and answers it later, after a short delay.
struct AsyncJs;

impl BiHandler for AsyncJs {
    async fn handle(&self, message: Message, _peer: PeerInfo) -> Reply {
        let answer = answer_to(message.header(), ResultCode::Success);
        Reply::Later(Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            answer
        }))
    }
}

/// Knows one requester endpoint.
struct OneRequester(String);

impl PeerDirectory for OneRequester {
    fn answer_endpoint(&self, _request: &Header) -> Option<(PeerEndpoint, Dialect)> {
        Some((
            PeerEndpoint::new(&self.0.clone(), None).expect("a valid url"),
            Dialect::tts(),
        ))
    }
}

/// Acknowledges and never answers.
struct SilentJs;

impl BiHandler for SilentJs {
    async fn handle(&self, _message: Message, _peer: PeerInfo) -> Reply {
        Reply::Deferred
    }
}

fn endpoint<H: BiHandler>(handler: Arc<H>, pending: PendingAnswers) -> BiEndpoint<H> {
    BiEndpoint::new(codec(), handler, pending, Dialect::canonical())
}

#[tokio::test]
async fn synchronous_answer_comes_in_the_response_with_the_bearer_token_seen() {
    let js = Arc::new(SyncJs::default());
    let url = serve(endpoint(js.clone(), PendingAnswers::new()).router("/bi")).await;
    let peer = PeerEndpoint::new(&url, Some("s3cret".into())).expect("a valid url");
    let answer = client()
        .request(
            &peer,
            &join_req(41),
            &Dialect::canonical(),
            &PendingAnswers::new(),
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(answer.message_type(), MessageType::JoinAns);
    assert_eq!(answer.header().transaction_id, Some(41));
    assert_eq!(answer.header().sender_id, JS);
    assert_eq!(
        answer.result().unwrap().result_code,
        ResultCode::UnknownDevEUI
    );
    assert_eq!(*js.tokens.lock().unwrap(), vec![Some("s3cret".to_owned())]);
}

#[tokio::test]
async fn asynchronous_answer_is_delivered_to_the_requester_and_correlated() {
    // The requester's own endpoint: answers arriving there resolve its pending requests.
    let pending = PendingAnswers::new();
    let requester = Arc::new(SyncJs::default());
    let requester_url = serve(endpoint(requester.clone(), pending.clone()).router("/bi")).await;

    let js = endpoint(Arc::new(AsyncJs), PendingAnswers::new())
        .with_later_delivery(client(), Arc::new(OneRequester(requester_url)));
    let js_url = serve(js.router("/bi")).await;

    let peer = PeerEndpoint::new(&js_url, None).expect("a valid url");
    let answers = futures_join((0..8u32).map(|tid| {
        let (peer, pending) = (peer.clone(), pending.clone());
        async move {
            client()
                .request(
                    &peer,
                    &join_req(1000 + tid),
                    &Dialect::canonical(),
                    &pending,
                    Duration::from_secs(5),
                )
                .await
        }
    }))
    .await;
    for (tid, answer) in (1000u32..).zip(answers) {
        let answer = answer.unwrap();
        assert_eq!(
            answer.header().transaction_id,
            Some(tid),
            "each request gets its own answer"
        );
        assert_eq!(answer.result().unwrap().result_code, ResultCode::Success);
    }
    assert!(pending.is_empty(), "every wait was resolved and removed");
    assert_eq!(
        requester.unsolicited.load(Ordering::Relaxed),
        0,
        "no answer went astray"
    );
}

/// Runs futures concurrently on the current task set (no extra dependency).
async fn futures_join<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn an_answer_nobody_waits_for_reaches_the_handler() {
    let js = Arc::new(SyncJs::default());
    let url = serve(endpoint(js.clone(), PendingAnswers::new()).router("/bi")).await;
    let stray = answer_to(join_req(5).header(), ResultCode::Success);
    let body = codec().encode(&stray, &Dialect::canonical());
    let delivery = client()
        .post(&PeerEndpoint::new(&url, None).expect("a valid url"), body)
        .await
        .unwrap();
    assert!(matches!(delivery, Delivery::Accepted));
    assert_eq!(js.unsolicited.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_silent_peer_times_out_within_the_bound() {
    let url = serve(endpoint(Arc::new(SilentJs), PendingAnswers::new()).router("/bi")).await;
    let pending = PendingAnswers::new();
    let err = client()
        .request(
            &PeerEndpoint::new(&url, None).expect("a valid url"),
            &join_req(9),
            &Dialect::canonical(),
            &pending,
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::NoAnswer(WaitError::TimedOut(_))),
        "{err}"
    );
    assert!(pending.is_empty(), "a timed-out wait is unregistered");
}

async fn post_raw(url: &str, body: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}

#[tokio::test]
async fn bad_input_gets_a_protocol_answer_never_a_plain_error() {
    let url =
        serve(endpoint(Arc::new(SyncJs::default()), PendingAnswers::new()).router("/bi")).await;

    // Not JSON at all: HTTP 400, but still a Backend Interfaces body with a Result.
    let (status, body) = post_raw(&url, "\u{1}not json").await;
    assert_eq!(status, 400);
    assert!(
        body["Result"]["ResultCode"]
            .as_str()
            .unwrap()
            .starts_with("Malformed"),
        "{body}"
    );

    // A readable header with a bad field: HTTP 200 and the request's own answer type, naming
    // the field, with IDs swapped and the TransactionID kept.
    let mut request = codec().encode(&join_req(77), &Dialect::canonical());
    let mut json: Value = serde_json::from_slice(&request).unwrap();
    json["DevEUI"] = json!("not-an-eui");
    request = serde_json::to_vec(&json).unwrap();
    let (status, body) = post_raw(&url, std::str::from_utf8(&request).unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["MessageType"], "JoinAns");
    assert_eq!(body["TransactionID"], 77);
    assert_eq!(body["SenderID"].as_str().unwrap().to_uppercase(), JS);
    assert_eq!(body["Result"]["ResultCode"], "MalformedMessage");
    assert!(
        body["Result"]["Description"]
            .as_str()
            .unwrap()
            .contains("DevEUI"),
        "{body}"
    );

    // A body over the limit: refused before it is buffered, still with a JSON body.
    let small =
        endpoint(Arc::new(SyncJs::default()), PendingAnswers::new()).with_max_body_bytes(64);
    let small_url = serve(small.router("/bi")).await;
    let (status, body) = post_raw(&small_url, &"x".repeat(1000)).await;
    assert_eq!(status, 413);
    assert!(body["Result"]["ResultCode"].is_string(), "{body}");
}

/// Fails with 503 a set number of times, then answers.
struct FlakyPeer {
    failures_left: AtomicU32,
    calls: AtomicU32,
}

#[tokio::test]
async fn deliveries_retry_server_errors_with_backoff_but_not_client_errors() {
    use axum::http::StatusCode;
    use axum::routing::post;

    let flaky = Arc::new(FlakyPeer {
        failures_left: AtomicU32::new(2),
        calls: AtomicU32::new(0),
    });
    let state = flaky.clone();
    let router = Router::new().route(
        "/bi",
        post(move || {
            let state = state.clone();
            async move {
                state.calls.fetch_add(1, Ordering::Relaxed);
                let left = state.failures_left.load(Ordering::Relaxed);
                if left > 0 {
                    state.failures_left.store(left - 1, Ordering::Relaxed);
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let url = serve(router).await;
    let peer = PeerEndpoint::new(&url, None).expect("a valid url");
    let body = codec().encode(&join_req(3), &Dialect::canonical());
    let delivery = client().deliver(&peer, body.clone()).await.unwrap();
    assert!(matches!(delivery, Delivery::Accepted));
    assert_eq!(
        flaky.calls.load(Ordering::Relaxed),
        3,
        "two 503s, then success"
    );

    // A 4xx is the sender's fault: retrying cannot help.
    let router = Router::new().route("/bi", post(|| async { StatusCode::UNAUTHORIZED }));
    let peer = PeerEndpoint::new(&serve(router).await, None).expect("a valid url");
    let err = client().deliver(&peer, body.clone()).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Status { status: 401, .. }),
        "{err}"
    );

    // Nobody listening: unreachable after the configured attempts.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/bi", closed.local_addr().unwrap());
    drop(closed);
    let err = client()
        .deliver(&PeerEndpoint::new(&url, None).expect("a valid url"), body)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

#[test]
fn a_bad_client_certificate_is_a_configuration_error() {
    let config = ClientConfig {
        identity_pem: Some(b"not a pem".to_vec()),
        ..ClientConfig::default()
    };
    let err = BiClient::new(&config, codec()).unwrap_err();
    assert!(matches!(err, ClientError::Config(_)), "{err}");
}

/// A peer answering with more than [`MAX_ANSWER_BYTES`] is not read whole: its answer is
/// refused as invalid, and the client keeps working.
#[tokio::test]
async fn an_oversized_answer_is_refused_not_buffered() {
    use axum::routing::post;
    use backend::http::client::MAX_ANSWER_BYTES;

    let router = Router::new().route("/bi", post(|| async { vec![b' '; MAX_ANSWER_BYTES + 1] }));
    let peer = PeerEndpoint::new(&serve(router).await, None).expect("a valid url");
    let body = codec().encode(&join_req(4), &Dialect::canonical());
    let err = client().post(&peer, body).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::InvalidAnswer(reason) if reason.contains("larger than")),
        "{err}"
    );
    assert!(!err.is_retryable(), "{err}");
}

/// A peer that sends its headers and then nothing: the whole exchange is bounded by the
/// client's request timeout, not only the connect.
#[tokio::test]
async fn a_peer_that_stalls_mid_answer_is_bounded_by_the_request_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/bi", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0_u8; 64 * 1024];
        let _ = socket.read(&mut request).await;
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{";
        socket.write_all(head.as_bytes()).await.unwrap();
        // Holds the connection open with the body unfinished until the test ends.
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let config = ClientConfig {
        request_timeout: Some(Duration::from_millis(200)),
        ..ClientConfig::default()
    };
    let client = BiClient::new(&config, codec()).unwrap();
    let peer = PeerEndpoint::new(&url, None).expect("a valid url");
    let started = std::time::Instant::now();
    let body = codec().encode(&join_req(5), &Dialect::canonical());
    let err = client.post(&peer, body).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Unreachable(reason) if reason.contains("within 200 ms")),
        "{err}"
    );
    // Bounded, not timed: far below the 30 s the peer would hold the connection.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_bearer_token_that_cannot_be_a_header_is_refused_when_configured() {
    let err = PeerEndpoint::new("http://127.0.0.1:1/bi", Some("line\nbreak".into()))
        .expect_err("a newline cannot be sent in a header");
    assert!(matches!(err, ClientError::Config(_)), "{err}");
    assert!(
        !err.to_string().contains("line"),
        "the token is not echoed: {err}"
    );
}
