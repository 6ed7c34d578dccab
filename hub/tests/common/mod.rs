//! What several hub integration tests share: a receiving member on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use backend::codec::Codec;
use backend::dialect::Dialect;
use backend::http::pending::PendingAnswers;
use backend::http::server::{BiEndpoint, BiHandler, PeerInfo, Reply};
use backend::message::Message;
use backend::result::ResultCode;

/// A member that answers every request Success at once and remembers what it received.
#[derive(Debug, Default)]
pub struct Receiver {
    /// Every message it received, in order.
    pub seen: Mutex<Vec<Message>>,
    /// The bearer token each of them came with, in the same order.
    pub bearer_tokens: Mutex<Vec<Option<String>>>,
}

impl BiHandler for Receiver {
    async fn handle(&self, message: Message, peer: PeerInfo) -> Reply {
        self.seen.lock().expect("lock").push(message.clone());
        self.bearer_tokens
            .lock()
            .expect("lock")
            .push(peer.bearer_token);
        match Message::error_answer(message.header(), ResultCode::Success, "answered by rx") {
            Some(answer) => Reply::answer(answer),
            None => Reply::Accepted,
        }
    }
}

/// Starts a [`Receiver`] serving `POST /bi` on a free loopback port.
pub async fn start_receiver() -> (Arc<Receiver>, SocketAddr) {
    let receiver = Arc::new(Receiver::default());
    let router = BiEndpoint::new(
        Arc::new(Codec::new().expect("schemas")),
        Arc::clone(&receiver),
        PendingAnswers::new(),
        Dialect::canonical(),
    )
    .router("/bi");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (receiver, addr)
}

/// An admin API call on `url` with an operator's `token`: the status and the JSON answer (a
/// body that is not JSON comes back as a JSON string).
#[allow(dead_code)] // each test binary uses its share of this module
pub async fn call_json(
    http: &reqwest::Client,
    url: String,
    token: &str,
    method: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, value)
}

/// Starts the real hub on 127.0.0.1 (any port) from the config file at `config_path`, with
/// its database, members file and policy directory given as the environment would.
#[allow(dead_code)] // each test binary uses its share of this module
pub async fn start_hub_from(
    config_path: &std::path::Path,
    database_url: &str,
    members_file: &std::path::Path,
    policies_dir: &std::path::Path,
) -> service::daemon::Running {
    try_start_hub_from(config_path, database_url, members_file, policies_dir)
        .await
        .expect("hub starts")
}

/// [`start_hub_from`], with the hub's refusal to start as its answer.
#[allow(dead_code)] // each test binary uses its share of this module
pub async fn try_start_hub_from(
    config_path: &std::path::Path,
    database_url: &str,
    members_file: &std::path::Path,
    policies_dir: &std::path::Path,
) -> Result<service::daemon::Running, service::daemon::StartError> {
    let env: std::collections::BTreeMap<String, String> = [
        ("HUB_SERVER__LISTEN", "127.0.0.1:0".to_owned()),
        ("HUB_DATABASE__URL", database_url.to_owned()),
        ("HUB_MEMBERS__FILE", members_file.display().to_string()),
        ("HUB_POLICIES__DIR", policies_dir.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config: hub::Config =
        service::config::load(Some(config_path), "HUB", &env).expect("hub config");
    use service::daemon::Daemon as _;
    hub::Hub::start(&config).await
}

/// The ResultCode the hub at `bi_url` answers to a PRStartReq from `sender` (its NetID) to
/// `receiver`, sent with `token`.
#[allow(dead_code)] // each test binary uses its share of this module
pub async fn pr_start_result(
    http: &reqwest::Client,
    bi_url: String,
    token: &str,
    sender: &str,
    receiver: &str,
    tid: u32,
) -> String {
    let message = serde_json::json!({"ProtocolVersion":"1.1","SenderID":sender,
        "ReceiverID":receiver,"TransactionID":tid,"MessageType":"PRStartReq",
        "PHYPayload":"400000000a000800b41451a9",
        "ULMetaData":{"DataRate":0,"ULFreq":868.1,"RecvTime":"2026-11-22T12:34:56.789Z",
            "RFRegion":"EU868","GWCnt":1,"GWInfo":[{"ID":"05060708","RFRegion":"EU868",
            "RSSI":-40,"SNR":7.5,"ULToken":"0a10","DLAllowed":true}]}});
    let answer = post_bi(http, bi_url, token, &message).await;
    answer["Result"]["ResultCode"]
        .as_str()
        .unwrap_or("<none>")
        .to_owned()
}

/// POSTs `message` to the Backend Interfaces endpoint at `bi_url` with `token`; the JSON
/// answer.
#[allow(dead_code)] // each test binary uses its share of this module
pub async fn post_bi(
    http: &reqwest::Client,
    bi_url: String,
    token: &str,
    message: &serde_json::Value,
) -> serde_json::Value {
    let body = http
        .post(bi_url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(message.to_string())
        .send()
        .await
        .expect("answered")
        .bytes()
        .await
        .expect("body");
    serde_json::from_slice(&body).expect("JSON answer")
}

/// Runs the hub binary with `args`, `input` on stdin and `env` (none of the caller's
/// `HUB_CONFIG` / `HUB_KEYS__MASTER_KEY`): success, stdout, stderr.
#[allow(dead_code)] // each test binary uses its share of this module
pub fn run_hub_cli(args: &[&str], input: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    use std::io::Write as _;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hub"));
    command
        .args(args)
        .env_remove("HUB_CONFIG")
        .env_remove("HUB_KEYS__MASTER_KEY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("hub runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("written");
    let output = child.wait_with_output().expect("hub ends");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
