//! The shield of the real hub, on loopback with real member servers: per-member and
//! per-agreement rate limits answered clearly (the receiver never sees the excess), a
//! circuit breaker that stops calling a receiver that is down and recovers after its
//! cooldown, and the audit log of every refusal, on SQLite and PostgreSQL.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backend::codec::Codec;
use backend::dialect::Dialect;
use backend::http::pending::PendingAnswers;
use backend::http::server::{BiEndpoint, BiHandler, PeerInfo, Reply};
use backend::message::Message;
use backend::result::ResultCode;
use hub::audit::{AuditEntry, AuditFilter, AuditStore, Reason};
use hub::members::MemberId;
use serde_json::{json, Value};
use service::daemon::{Daemon, Running};
use service::testing::{http_get, Engine, ScratchDatabase};

/// A member server answering every request Success, counting what it receives and the
/// connections it accepts; while `down`, it accepts connections and closes them at once.
#[derive(Default)]
struct Receiver {
    requests: AtomicUsize,
    connections: AtomicUsize,
    down: AtomicBool,
}

struct Answer(Arc<Receiver>);

impl BiHandler for Answer {
    async fn handle(&self, message: Message, _peer: PeerInfo) -> Reply {
        self.0.requests.fetch_add(1, Ordering::SeqCst);
        match Message::error_answer(message.header(), ResultCode::Success, "answered") {
            Some(answer) => Reply::answer(answer),
            None => Reply::Accepted,
        }
    }
}

/// The receiver's listener: counts every accepted connection, drops it while down.
struct Counting {
    inner: tokio::net::TcpListener,
    receiver: Arc<Receiver>,
}

impl axum::serve::Listener for Counting {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.inner.accept().await else {
                continue;
            };
            self.receiver.connections.fetch_add(1, Ordering::SeqCst);
            if !self.receiver.down.load(Ordering::SeqCst) {
                return (stream, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

async fn start_receiver() -> (Arc<Receiver>, SocketAddr) {
    let receiver = Arc::new(Receiver::default());
    let router = BiEndpoint::new(
        Arc::new(Codec::new().expect("schemas")),
        Arc::new(Answer(Arc::clone(&receiver))),
        PendingAnswers::new(),
        Dialect::canonical(),
    )
    .router("/bi");
    let inner = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = inner.local_addr().expect("addr");
    let listener = Counting {
        inner,
        receiver: Arc::clone(&receiver),
    };
    tokio::spawn(async move { axum::serve(listener, router).await });
    (receiver, addr)
}

struct Federation {
    hub: Running,
    receivers: BTreeMap<&'static str, Arc<Receiver>>,
    _dir: tempfile::TempDir,
}

fn token(name: &str) -> String {
    format!("token-of-member-{name}")
}

/// ns13 (limited to 1 message/s, burst 3) and ns15 (unlimited) send; ns14, ns16 and
/// flaky receive. Agreements: ns13/ns14, ns15/ns16 (limited to 2 messages/s), ns15/flaky;
/// none between ns15 and ns14. Breakers open after 2 failures for 300 ms.
async fn federation(scratch: &ScratchDatabase) -> Federation {
    let mut file = String::new();
    let mut receivers = BTreeMap::new();
    for (name, net_id, extra) in [
        ("ns13", "000013", "rate_limit = 1\nburst = 3"),
        ("ns14", "000014", ""),
        ("ns15", "000015", ""),
        ("ns16", "000016", ""),
        ("flaky", "000017", ""),
    ] {
        let (receiver, addr) = start_receiver().await;
        file.push_str(&format!(
            "[[member]]\nid = \"{name}\"\nurl = \"http://{addr}/bi\"\ntoken = \"{}\"\n\
             net_id = \"{net_id}\"\n{extra}\n\n",
            token(name)
        ));
        receivers.insert(name, receiver);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let members = dir.path().join("members.toml");
    std::fs::write(&members, file).expect("members file");
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).expect("policies dir");
    std::fs::write(
        policies.join("test.toml"),
        "[[agreement]]\nid = \"ns13/ns14\"\nbetween = [\"ns13\", \"ns14\"]\n\n\
         [[agreement]]\nid = \"ns15/ns16\"\nbetween = [\"ns15\", \"ns16\"]\nrate_limit = 2\n\n\
         [[agreement]]\nid = \"ns15/flaky\"\nbetween = [\"ns15\", \"flaky\"]\n",
    )
    .expect("policy file");
    let env: BTreeMap<String, String> = [
        ("HUB_SERVER__LISTEN", "127.0.0.1:0".to_owned()),
        ("HUB_DATABASE__URL", scratch.config.url.clone()),
        ("HUB_MEMBERS__FILE", members.display().to_string()),
        ("HUB_POLICIES__DIR", policies.display().to_string()),
        ("HUB_ROUTING__ANSWER_TIMEOUT_MS", "2000".to_owned()),
        ("HUB_SHIELD__BREAKER_FAILURES", "2".to_owned()),
        ("HUB_SHIELD__BREAKER_COOLDOWN_MS", "300".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config: hub::Config = service::config::load(None, "HUB", &env).expect("hub config");
    let hub = hub::Hub::start(&config).await.expect("hub starts");
    Federation {
        hub,
        receivers,
        _dir: dir,
    }
}

async fn post_body(addr: SocketAddr, token: Option<&str>, body: String) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/bi"))
        .header("content-type", "application/json")
        .timeout(Duration::from_secs(10))
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&body).unwrap_or_else(|_| {
            panic!(
                "a JSON answer, got HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            )
        }),
    )
}

async fn post(addr: SocketAddr, token: &str, message: &Value) -> Value {
    let (status, answer) = post_body(addr, Some(token), message.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

fn pr_start_req(sender: &str, receiver: &str, tid: u32) -> Value {
    json!({"ProtocolVersion":"1.1","SenderID":sender,"ReceiverID":receiver,"TransactionID":tid,
        "MessageType":"PRStartReq","PHYPayload":"400000000a000800b41451a9",
        "ULMetaData":{"DataRate":0,"ULFreq":868.1,"RecvTime":"2026-11-22T12:34:56.789Z",
            "RFRegion":"EU868","GWCnt":1,"GWInfo":[{"ID":"05060708","RFRegion":"EU868",
            "RSSI":-40,"SNR":7.5,"ULToken":"0a10","DLAllowed":true}]}})
}

fn code(answer: &Value) -> &str {
    answer["Result"]["ResultCode"].as_str().unwrap_or("<none>")
}

fn description(answer: &Value) -> &str {
    answer["Result"]["Description"].as_str().unwrap_or_default()
}

/// Sends `count` requests from `sender` to `receiver` as fast as answers come; the
/// Descriptions of the refused ones, and how long it took.
async fn burst(
    hub: SocketAddr,
    sender: (&str, &str),
    receiver: &str,
    first_tid: u32,
    count: u32,
) -> (u32, Vec<String>, Duration) {
    let started = Instant::now();
    let (mut passed, mut refused) = (0, Vec::new());
    for tid in first_tid..first_tid + count {
        let answer = post(
            hub,
            &token(sender.0),
            &pr_start_req(sender.1, receiver, tid),
        )
        .await;
        assert_eq!(answer["TransactionID"], tid, "{answer}");
        match code(&answer) {
            "Success" => passed += 1,
            "Other" => refused.push(description(&answer).to_owned()),
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    (passed, refused, started.elapsed())
}

/// The audit entries `filter` selects once there are at least `count` (the log is written
/// in the background), waiting 10 s at most.
async fn audited(store: &AuditStore, filter: &AuditFilter, count: usize) -> Vec<AuditEntry> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let entries = store.query(filter).await.expect("audit query");
        if entries.len() >= count || Instant::now() > deadline {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn by_reason(reason: Reason) -> impl Fn(&AuditEntry) -> bool {
    move |entry| entry.reason == reason
}

#[tokio::test]
async fn limits_refuse_clearly_the_receiver_never_sees_the_excess_and_refusals_are_audited() {
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        let fed = federation(&scratch).await;
        let hub = fed.hub.local_addr;

        // ns13: 1 message/s, burst 3. Eight at once: the burst passes, the rest is refused.
        let (passed, refused, took) = burst(hub, ("ns13", "000013"), "000014", 100, 8).await;
        assert_eq!(passed + refused.len() as u32, 8);
        // The token-bucket bound holds however slow the machine is.
        assert!(
            u64::from(passed) <= 3 + took.as_secs() + 1,
            "{passed} in {took:?}"
        );
        if took < Duration::from_secs(4) {
            assert!(!refused.is_empty(), "8 messages in {took:?} exceed 3 + 1/s");
        }
        for text in &refused {
            assert!(text.contains("rate limited: member ns13"), "{text}");
            assert!(text.contains("1 messages/s (burst 3)"), "{text}");
            assert!(text.contains("slow down"), "{text}");
        }
        assert_eq!(
            fed.receivers["ns14"].requests.load(Ordering::SeqCst),
            passed as usize,
            "the receiver saw exactly the messages that passed"
        );

        // ns15 → ns16: the agreement allows 2 messages/s; ns15 itself is unlimited.
        let (passed16, refused16, took) = burst(hub, ("ns15", "000015"), "000016", 200, 6).await;
        assert!(u64::from(passed16) <= 2 + 2 * took.as_secs() + 2);
        if took < Duration::from_secs(1) {
            assert!(!refused16.is_empty(), "6 messages in {took:?} exceed 2/s");
        }
        for text in &refused16 {
            assert!(
                text.contains("roaming agreement ns15/ns16 is over its limit of 2 messages/s"),
                "{text}"
            );
            assert!(text.contains("slow down"), "{text}");
        }
        assert_eq!(
            fed.receivers["ns16"].requests.load(Ordering::SeqCst),
            passed16 as usize
        );

        // Other refusals: unknown token, spoofed SenderID, no agreement, schema failure,
        // a body over [shield] max_body_bytes.
        let tid = 300;
        let (_, answer) = post_body(
            hub,
            Some("no-such-token-anywhere"),
            pr_start_req("000013", "000014", tid).to_string(),
        )
        .await;
        assert_eq!(code(&answer), "UnknownSender");
        let answer = post(hub, &token("ns13"), &pr_start_req("000015", "000014", 301)).await;
        assert_eq!(code(&answer), "UnknownSender", "{answer}");
        let answer = post(hub, &token("ns15"), &pr_start_req("000015", "000014", 302)).await;
        assert_eq!(code(&answer), "NoRoamingAgreement", "{answer}");
        let mut bad = pr_start_req("000015", "000016", 303);
        bad["ULMetaData"]["DataRate"] = json!("fast");
        let (status, answer) = post_body(hub, Some(&token("ns15")), bad.to_string()).await;
        assert_eq!(
            (status, code(&answer)),
            (200, "MalformedMessage"),
            "{answer}"
        );
        let mut huge = pr_start_req("000015", "000016", 304);
        huge["Padding"] = json!("x".repeat(100_000));
        let (status, answer) = post_body(hub, Some(&token("ns15")), huge.to_string()).await;
        assert_eq!(status, 413, "{answer}");
        assert!(
            answer["Result"]["ResultCode"].is_string(),
            "protocol-shaped: {answer}"
        );

        // The audit log has every refusal with what it claimed to be.
        let store = AuditStore::new(fed.hub.database.pool().clone());
        let everything = AuditFilter {
            limit: 1_000,
            ..AuditFilter::default()
        };
        let expected = refused.len() + refused16.len() + 5;
        let entries = audited(&store, &everything, expected).await;
        assert_eq!(entries.len(), expected, "{entries:#?}");
        let limited: Vec<_> = entries
            .iter()
            .filter(|e| by_reason(Reason::MemberRateLimit)(e))
            .collect();
        assert_eq!(limited.len(), refused.len());
        for entry in &limited {
            assert_eq!(entry.member, Some(MemberId::from("ns13")));
            assert_eq!(entry.result_code, "Other");
            assert_eq!(entry.message_type.as_deref(), Some("PRStartReq"));
            assert_eq!(entry.sender_id.as_deref(), Some("000013"));
            assert_eq!(entry.receiver_id.as_deref(), Some("000014"));
            assert!(entry
                .transaction_id
                .is_some_and(|t| (100..108).contains(&t)));
            assert!(entry.remote_addr.is_some_and(|a| a.ip().is_loopback()));
            assert!(entry.description.contains("slow down"));
        }
        let one = |reason: Reason| -> &AuditEntry {
            let found: Vec<_> = entries.iter().filter(|e| e.reason == reason).collect();
            assert_eq!(found.len(), 1, "{reason}: {entries:#?}");
            found[0]
        };
        let unknown = one(Reason::UnknownSender);
        assert_eq!(
            (unknown.member.as_ref(), unknown.result_code.as_str()),
            (None, "UnknownSender")
        );
        assert_eq!(unknown.transaction_id, Some(tid));
        assert!(unknown.remote_addr.is_some_and(|a| a.ip().is_loopback()));
        let spoofed = one(Reason::SpoofedSender);
        assert_eq!(spoofed.member, Some(MemberId::from("ns13")));
        assert_eq!(spoofed.sender_id.as_deref(), Some("000015"));
        assert_eq!(spoofed.result_code, "UnknownSender");
        assert!(spoofed
            .description
            .contains("not an identity of member ns13"));
        let policy = one(Reason::Policy);
        assert_eq!(
            (policy.result_code.as_str(), policy.transaction_id),
            ("NoRoamingAgreement", Some(302))
        );
        let malformed = one(Reason::Malformed);
        assert_eq!(malformed.member, Some(MemberId::from("ns15")));
        assert_eq!(malformed.transaction_id, Some(303));
        assert!(malformed.description.contains("DataRate"), "{malformed:?}");
        let large = one(Reason::TooLarge);
        assert_eq!(large.member, Some(MemberId::from("ns15")));
        assert_eq!(
            entries
                .iter()
                .filter(|e| by_reason(Reason::AgreementRateLimit)(e))
                .count(),
            refused16.len()
        );

        // Queries filter by member, code and period, newest first, bounded by the limit.
        let of_ns13 = store
            .query(&AuditFilter {
                member: Some(MemberId::from("ns13")),
                result_code: Some("Other".into()),
                limit: 2,
                ..AuditFilter::default()
            })
            .await
            .expect("query");
        assert_eq!(of_ns13.len(), refused.len().min(2));
        assert!(
            of_ns13.windows(2).all(|w| w[0].id > w[1].id),
            "newest first"
        );
        let none = store
            .query(&AuditFilter {
                until: Some(time::OffsetDateTime::UNIX_EPOCH),
                ..everything.clone()
            })
            .await
            .expect("query");
        assert!(none.is_empty());

        // Every refusal has its usage record too, and is counted. Records are in `udrs`, in
        // the committing writers' inbox, or (SQLite) in the journal for up to
        // `DRAIN_EVERY`: this reads the database as another process would, so it looks again.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let udr_refusals: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM (SELECT sender, result_code FROM udrs \
                 UNION ALL SELECT sender, result_code FROM udr_inbox) AS committed \
                 WHERE sender = $1 AND result_code = $2",
            )
            .bind("ns13")
            .bind("Other")
            .fetch_one(fed.hub.database.pool())
            .await
            .expect("count");
            if udr_refusals == refused.len() as i64 || std::time::Instant::now() > deadline {
                assert_eq!(udr_refusals, refused.len() as i64);
                break;
            }
            tokio::time::sleep(hub::udr::DRAIN_EVERY).await;
        }
        let (_, metrics) = http_get(hub, "/metrics").await;
        if !refused.is_empty() {
            assert!(
                metrics.contains(&format!(
                    r#"switchyard_hub_refusals_total{{code="Other",reason="member_rate_limit"}} {}"#,
                    refused.len()
                )),
                "{metrics}"
            );
        }
        assert!(
            metrics.contains(
                r#"switchyard_hub_refusals_total{code="UnknownSender",reason="unknown_sender"} 1"#
            ),
            "{metrics}"
        );
        fed.hub.stop().await.expect("stop");
        scratch.drop_now().await;
    }
}

async fn to_flaky(hub: SocketAddr, tid: u32) -> Value {
    post(hub, &token("ns15"), &pr_start_req("000015", "000017", tid)).await
}

#[tokio::test]
async fn a_receiver_that_is_down_opens_its_circuit_and_recovers_after_the_cooldown() {
    let scratch = ScratchDatabase::create(Engine::Sqlite).await;
    let fed = federation(&scratch).await;
    let hub = fed.hub.local_addr;
    let flaky = Arc::clone(&fed.receivers["flaky"]);
    flaky.down.store(true, Ordering::SeqCst);

    // Two failures (connection closed at once) open the circuit.
    for tid in [1, 2] {
        let answer = to_flaky(hub, tid).await;
        assert_eq!(code(&answer), "XmitFailed", "{answer}");
        assert!(
            description(&answer).contains("receiver flaky did not answer"),
            "{answer}"
        );
    }
    let connections = flaky.connections.load(Ordering::SeqCst);
    assert!(connections >= 2);

    // Open: answered at once, without connecting, saying so and when the hub retries.
    let answer = to_flaky(hub, 3).await;
    assert_eq!(code(&answer), "XmitFailed", "{answer}");
    let text = description(&answer);
    assert!(
        text.contains("circuit open: receiver flaky failed 2 times in a row"),
        "{text}"
    );
    assert!(text.contains("retries in"), "{text}");
    assert_eq!(flaky.connections.load(Ordering::SeqCst), connections);

    // After the cooldown one probe goes through; still down, so the circuit opens again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut tid = 10;
    let probe = loop {
        assert!(Instant::now() < deadline, "no probe within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
        tid += 1;
        let answer = to_flaky(hub, tid).await;
        if !description(&answer).contains("circuit open") {
            break answer;
        }
        assert_eq!(flaky.connections.load(Ordering::SeqCst), connections);
    };
    assert_eq!(code(&probe), "XmitFailed", "{probe}");
    assert!(flaky.connections.load(Ordering::SeqCst) > connections);
    let answer = to_flaky(hub, tid + 1).await;
    assert!(
        description(&answer).contains("circuit open"),
        "reopened: {answer}"
    );

    // The receiver comes back: the next probe succeeds and closes the circuit.
    flaky.down.store(false, Ordering::SeqCst);
    let mut tid = 100;
    loop {
        assert!(Instant::now() < deadline, "not closed within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
        tid += 1;
        let answer = to_flaky(hub, tid).await;
        if code(&answer) == "Success" {
            break;
        }
        assert!(description(&answer).contains("circuit open"), "{answer}");
    }
    for tid in 200..203 {
        assert_eq!(code(&to_flaky(hub, tid).await), "Success");
    }
    assert_eq!(flaky.requests.load(Ordering::SeqCst), 4);

    // Logged as transitions, audited as refusals.
    let (_, metrics) = http_get(hub, "/metrics").await;
    for state in ["open", "half_open", "closed"] {
        assert!(
            metrics.contains(&format!(
                r#"switchyard_hub_breaker_transitions_total{{member="flaky",state="{state}"}}"#
            )),
            "{state}: {metrics}"
        );
    }
    let store = AuditStore::new(fed.hub.database.pool().clone());
    let filter = AuditFilter {
        result_code: Some("XmitFailed".into()),
        ..AuditFilter::default()
    };
    let entries = audited(&store, &filter, 2).await;
    assert!(entries.len() >= 2, "{entries:#?}");
    assert!(entries.iter().all(|e| e.reason == Reason::CircuitOpen
        && e.member == Some(MemberId::from("ns15"))
        && e.receiver_id.as_deref() == Some("000017")));
    fed.hub.stop().await.expect("stop");
    scratch.drop_now().await;
}
