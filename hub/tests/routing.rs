//! The real hub on loopback with real member servers (Backend Interfaces endpoints on
//! 127.0.0.1, sync or async) and the real jsd as a join server: routing by NetID, JoinEUI and
//! DevAddr pool, sync ↔ async bridging both ways, nested exchanges, and every refusal the
//! hub makes itself.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backend::codec::Codec;
use backend::dialect::Dialect;
use backend::header::Header;
use backend::http::client::{BiClient, ClientConfig, PeerEndpoint};
use backend::http::pending::PendingAnswers;
use backend::http::server::{BiEndpoint, BiHandler, PeerDirectory, PeerInfo, Reply};
use backend::message::Message;
use backend::result::ResultCode;
use serde_json::{json, Value};
use service::daemon::{Daemon, Running};
use service::testing::{Engine, ScratchDatabase};

/// What a test member does with a request.
#[derive(Debug, Clone)]
enum Behaviour {
    /// Answers Success at once.
    Answer,
    /// Answers after this long.
    Slow(Duration),
    /// Before answering a PRStartReq, sends an XmitDataReq to `to` through the hub and puts
    /// its ResultCode in the answer's Description.
    Nest { to: &'static str },
    /// Sends the request straight back to the hub (a misconfigured member).
    Echo,
}

struct Member {
    name: &'static str,
    behaviour: Behaviour,
    /// Requests it received, as received.
    seen: Mutex<Vec<Message>>,
    /// The answer it got to a request of its own sent in async mode, POSTed by the hub.
    hub: Mutex<Option<SocketAddr>>,
    token: String,
    client: BiClient,
    asynchronous: bool,
}

impl Member {
    async fn answer(&self, message: &Message) -> Message {
        let header = message.header();
        let description = match &self.behaviour {
            Behaviour::Answer => format!("answered by {}", self.name),
            Behaviour::Slow(wait) => {
                tokio::time::sleep(*wait).await;
                format!("answered late by {}", self.name)
            }
            Behaviour::Nest { to } => {
                let hub = self.hub.lock().expect("lock").expect("hub known");
                let nested = xmit_data_req(&header.receiver_id, to, 777);
                let (_, answer) = post(hub, Some(&self.token), &nested).await;
                format!("nested XmitDataReq: {}", answer["Result"]["ResultCode"])
            }
            Behaviour::Echo => {
                let hub = self.hub.lock().expect("lock").expect("hub known");
                let body = self.client.codec().encode(message, &Dialect::canonical());
                let value: Value = serde_json::from_slice(&body).expect("JSON");
                let (_, answer) = post(hub, Some(&self.token), &value).await;
                format!("echo: {}", answer["Result"]["Description"])
            }
        };
        Message::error_answer(header, ResultCode::Success, description).expect("an answer")
    }
}

struct MemberHandler(Arc<Member>);

impl BiHandler for MemberHandler {
    async fn handle(&self, message: Message, _peer: PeerInfo) -> Reply {
        self.0.seen.lock().expect("lock").push(message.clone());
        if !message.header().message_type.is_request() {
            return Reply::Accepted;
        }
        let member = Arc::clone(&self.0);
        if member.asynchronous {
            Reply::Later(Box::pin(async move { member.answer(&message).await }))
        } else {
            Reply::answer(member.answer(&message).await)
        }
    }
}

/// Asynchronous answers of a test member go to the hub, with the member's token.
struct ToHub(Arc<Member>);

impl PeerDirectory for ToHub {
    fn answer_endpoint(&self, _request: &Header) -> Option<(PeerEndpoint, Dialect)> {
        let hub = (*self.0.hub.lock().ok()?)?;
        Some((
            PeerEndpoint::new(&format!("http://{hub}/bi"), Some(self.0.token.clone()))
                .expect("a valid url"),
            Dialect::canonical(),
        ))
    }
}

async fn start_member(
    name: &'static str,
    asynchronous: bool,
    behaviour: Behaviour,
) -> (Arc<Member>, SocketAddr) {
    let codec = Arc::new(Codec::new().expect("schemas"));
    let client = BiClient::new(&ClientConfig::default(), Arc::clone(&codec)).expect("client");
    let member = Arc::new(Member {
        name,
        behaviour,
        seen: Mutex::default(),
        hub: Mutex::default(),
        token: format!("token-of-member-{name}"),
        client: client.clone(),
        asynchronous,
    });
    let router = BiEndpoint::new(
        codec,
        Arc::new(MemberHandler(Arc::clone(&member))),
        PendingAnswers::new(),
        Dialect::canonical(),
    )
    .with_later_delivery(client, Arc::new(ToHub(Arc::clone(&member))))
    .router("/bi");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (member, addr)
}

async fn post(addr: SocketAddr, token: Option<&str>, message: &Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/bi"))
        .header("content-type", "application/json")
        .body(message.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("body");
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).expect("JSON answer")
    };
    (status, value)
}

fn pr_start_req(sender: &str, receiver: &str, tid: u32, phy: &str) -> Value {
    json!({"ProtocolVersion":"1.1","SenderID":sender,"ReceiverID":receiver,"TransactionID":tid,
        "MessageType":"PRStartReq","PHYPayload":phy,
        "ULMetaData":{"DataRate":0,"ULFreq":868.1,"RecvTime":"2026-11-22T12:34:56.789Z",
            "RFRegion":"EU868","GWCnt":1,"GWInfo":[{"ID":"05060708","RFRegion":"EU868",
            "RSSI":-40,"SNR":7.5,"ULToken":"0a10","DLAllowed":true}]}})
}

fn xmit_data_req(sender: &str, receiver: &str, tid: u32) -> Value {
    json!({"ProtocolVersion":"1.1","SenderID":sender,"ReceiverID":receiver,"TransactionID":tid,
        "MessageType":"XmitDataReq","PHYPayload":"600000000a8005000a54972baa8b983cd1",
        "DLMetaData":{"DevEUI":"0202030405060708","DLFreq1":868.1,"RXDelay1":1,"ClassMode":"A",
            "DataRate1":0,"GWInfo":[{"ULToken":"0a10"}]}})
}

/// An uplink data frame of `dev_addr` (MIC not checked by the hub).
fn uplink(dev_addr: u32) -> String {
    let mut phy = vec![0x40];
    phy.extend_from_slice(&dev_addr.to_le_bytes());
    phy.extend_from_slice(&[0x00, 0x01, 0x00, 1, 2, 3, 4]);
    phy.iter().map(|b| format!("{b:02x}")).collect()
}

const DATA_13: &str = "400000000a000800b41451a9";

fn code(answer: &Value) -> &str {
    answer["Result"]["ResultCode"].as_str().unwrap_or("<none>")
}

fn description(answer: &Value) -> &str {
    answer["Result"]["Description"].as_str().unwrap_or_default()
}

struct Federation {
    hub: Running,
    policies: std::path::PathBuf,
    members: BTreeMap<&'static str, Arc<Member>>,
    jsd: Running,
    _dir: tempfile::TempDir,
    _scratch: (ScratchDatabase, ScratchDatabase),
    /// Holds the down member's port.
    _down: tokio::net::TcpSocket,
}

impl Federation {
    fn token(&self, name: &str) -> String {
        self.members[name].token.clone()
    }
}

const JSD_TOKEN: &str = "token-the-hub-gives-the-jsd";
const HUB_AT_JSD: &str = "token-the-jsd-knows-the-hub-by";

/// fNS 000013 (sync), sNS 000014 (sync), sNS 000015 (async), an async fNS 000016, two
/// members sharing NetID 000020 by DevAddr pool, a slow one, a down one, a nesting one, an
/// echoing one, and the real jsd serving JoinEUIs 70b3d57ed0000000/56.
async fn federation(answer_timeout_ms: u64) -> Federation {
    let specs: [(&'static str, &str, bool, Behaviour, &str); 9] = [
        ("ns13", "000013", false, Behaviour::Answer, ""),
        (
            "ns14",
            "000014",
            false,
            Behaviour::Answer,
            "protocol = \"1.0\"\nnotifications = false",
        ),
        ("ns15", "000015", true, Behaviour::Answer, ""),
        ("ns16", "000016", true, Behaviour::Answer, ""),
        (
            "shared-a",
            "000020",
            false,
            Behaviour::Answer,
            r#"dev_addr_pools = ["40000000/8"]"#,
        ),
        (
            "shared-b",
            "000020",
            false,
            Behaviour::Answer,
            r#"dev_addr_pools = ["41000000/8"]"#,
        ),
        (
            "slow",
            "000030",
            false,
            Behaviour::Slow(Duration::from_secs(3)),
            "",
        ),
        (
            "nest",
            "000031",
            false,
            Behaviour::Nest { to: "000013" },
            "",
        ),
        ("echo", "000032", false, Behaviour::Echo, ""),
    ];
    let mut file = String::new();
    let mut members = BTreeMap::new();
    for (name, net_id, asynchronous, behaviour, extra) in specs {
        let (member, addr) = start_member(name, asynchronous, behaviour).await;
        let mode = if asynchronous { "async" } else { "sync" };
        file.push_str(&format!(
            "[[member]]\nid = \"{name}\"\nurl = \"http://{addr}/bi\"\ntoken = \"{}\"\n\
             mode = \"{mode}\"\nnet_id = \"{net_id}\"\n{extra}\n\n",
            member.token
        ));
        members.insert(name, member);
    }
    // A member whose server is down: a port bound but never listened on, held for the
    // whole test so no other test's server can take it (connections are refused).
    let down = tokio::net::TcpSocket::new_v4().expect("socket");
    down.bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let down_addr = down.local_addr().expect("addr");
    file.push_str(&format!(
        "[[member]]\nid = \"down\"\nurl = \"http://{down_addr}/bi\"\n\
         token = \"token-of-member-down\"\nnet_id = \"000033\"\n\n"
    ));

    // The real jsd, serving JoinEUIs 70b3d57ed0000000/56, trusting the hub for any NetID.
    let jsd_scratch = ScratchDatabase::create(Engine::Sqlite).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let jsd_config = dir.path().join("jsd.toml");
    std::fs::write(
        &jsd_config,
        format!(
            "[keys]\nmaster_key = \"00112233445566778899aabbccddeeff\"\n\n\
             [[peers]]\nname = \"hub\"\ntoken = \"{HUB_AT_JSD}\"\nnet_ids = [\"*\"]\n"
        ),
    )
    .expect("jsd config");
    let env: BTreeMap<String, String> = [
        ("JSD_SERVER__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "JSD_DATABASE__URL".to_owned(),
            jsd_scratch.config.url.clone(),
        ),
    ]
    .into();
    let config: jsd::Config =
        service::config::load(Some(&jsd_config), "JSD", &env).expect("jsd config loads");
    let jsd = jsd::Jsd::start(&config).await.expect("jsd starts");
    file.push_str(&format!(
        "[[member]]\nid = \"jsd\"\nurl = \"http://{}/bi\"\ntoken = \"{JSD_TOKEN}\"\n\
         outbound_token = \"{HUB_AT_JSD}\"\njoin_eui_ranges = [\"70b3d57ed0000000/56\"]\n",
        jsd.local_addr
    ));

    let members_path = dir.path().join("members.toml");
    std::fs::write(&members_path, file).expect("members file");
    // Agreements for every pair the tests use (passive roaming, both directions), and every
    // network server may use every join server. ns14 and ns15 have none: the refusal test.
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).expect("policies dir");
    let mut agreements =
        String::from("[[activation]]\nid = \"everyone\"\nns = \"*\"\njs = \"*\"\nallow = true\n\n");
    for (a, b) in [
        ("ns13", "ns14"),
        ("ns13", "ns15"),
        ("ns16", "ns13"),
        ("ns16", "ns14"),
        ("ns13", "shared-a"),
        ("ns13", "shared-b"),
        ("ns13", "slow"),
        ("ns13", "nest"),
        ("ns13", "down"),
        ("ns13", "echo"),
    ] {
        agreements.push_str(&format!(
            "[[agreement]]\nid = \"{a}/{b}\"\nbetween = [\"{a}\", \"{b}\"]\n\n"
        ));
    }
    std::fs::write(policies.join("test.toml"), agreements).expect("policy file");
    let hub_scratch = ScratchDatabase::create(Engine::Sqlite).await;
    let env: BTreeMap<String, String> = [
        ("HUB_SERVER__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "HUB_DATABASE__URL".to_owned(),
            hub_scratch.config.url.clone(),
        ),
        (
            "HUB_MEMBERS__FILE".to_owned(),
            members_path.display().to_string(),
        ),
        (
            "HUB_ROUTING__ANSWER_TIMEOUT_MS".to_owned(),
            answer_timeout_ms.to_string(),
        ),
        (
            "HUB_POLICIES__DIR".to_owned(),
            policies.display().to_string(),
        ),
    ]
    .into();
    let config: hub::Config = service::config::load(None, "HUB", &env).expect("hub config");
    let hub = hub::Hub::start(&config).await.expect("hub starts");
    for member in members.values() {
        *member.hub.lock().expect("lock") = Some(hub.local_addr);
    }
    Federation {
        hub,
        policies,
        members,
        jsd,
        _dir: dir,
        _scratch: (hub_scratch, jsd_scratch),
        _down: down,
    }
}

#[tokio::test]
async fn routes_by_net_id_and_bridges_sync_and_async_both_ways() {
    let fed = federation(1_000).await;
    let hub = fed.hub.local_addr;

    // sync → sync: the answer comes back with the sender's TransactionID; the receiver saw
    // the sender's SenderID under a hub TransactionID.
    let (status, answer) = post(
        hub,
        Some(&fed.token("ns13")),
        &pr_start_req("000013", "000014", 41, DATA_13),
    )
    .await;
    assert_eq!((status, code(&answer)), (200, "Success"), "{answer}");
    assert_eq!(answer["TransactionID"], 41);
    assert_eq!(description(&answer), "answered by ns14");
    let seen = fed.members["ns14"].seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header().sender_id, "000013");
    assert_ne!(
        seen[0].header().transaction_id,
        Some(41),
        "the forwarded leg has the hub's id"
    );
    // ns14 speaks TS002 1.0: the request reached it in 1.0, the answer came back in 1.1.
    assert_eq!(seen[0].header().protocol_version.as_str(), "1.0");
    assert_eq!(answer["ProtocolVersion"], "1.1");

    // Notifications: delivered to members that take them, not to those that refuse them.
    let notif = |receiver: &str| {
        json!({"ProtocolVersion":"1.1","SenderID":"000016","ReceiverID":receiver,
            "TransactionID":44,"MessageType":"PRStartNotif",
            "Result":{"ResultCode":"Success"}})
    };
    for receiver in ["000013", "000014"] {
        let (status, _) = post(hub, Some(&fed.token("ns16")), &notif(receiver)).await;
        assert_eq!(status, 200);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = |name: &str| {
        fed.members[name]
            .seen
            .lock()
            .expect("lock")
            .iter()
            .any(|m| m.header().message_type.as_str() == "PRStartNotif")
    };
    assert!(got("ns13"), "ns13 takes notifications");
    assert!(!got("ns14"), "ns14 refuses them");

    // sync → async: the hub waits for the answer POSTed by ns15 and answers in the response.
    let (_, answer) = post(
        hub,
        Some(&fed.token("ns13")),
        &pr_start_req("000013", "000015", 42, DATA_13),
    )
    .await;
    assert_eq!(code(&answer), "Success", "{answer}");
    assert_eq!(description(&answer), "answered by ns15");
    assert_eq!(answer["TransactionID"], 42);

    // async → sync: ns16 gets an empty 200, then the answer at its own endpoint.
    let (status, answer) = post(
        hub,
        Some(&fed.token("ns16")),
        &pr_start_req("000016", "000013", 43, DATA_13),
    )
    .await;
    assert_eq!((status, answer), (200, Value::Null));
    let mut delivered = None;
    for _ in 0..100 {
        delivered = fed.members["ns16"]
            .seen
            .lock()
            .expect("lock")
            .iter()
            .find(|m| m.header().transaction_id == Some(43))
            .cloned();
        if delivered.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = delivered.expect("the answer was POSTed to ns16");
    assert_eq!(delivered.header().message_type.as_str(), "PRStartAns");
    assert_eq!(
        delivered
            .result()
            .map(|r| r.result_code.as_str().to_owned()),
        Some("Success".to_owned())
    );

    // A NetID shared by two members: the frame's DevAddr picks the pool.
    for (dev_addr, expected) in [(0x4000_0005u32, "shared-a"), (0x4100_0005, "shared-b")] {
        let request = pr_start_req("000013", "000020", 50, &uplink(dev_addr));
        let (_, answer) = post(hub, Some(&fed.token("ns13")), &request).await;
        assert_eq!(
            description(&answer),
            format!("answered by {expected}"),
            "{answer}"
        );
    }
    fed.hub.stop().await.expect("stop");
    fed.jsd.stop().await.expect("stop");
}

#[tokio::test]
async fn joins_reach_the_real_join_server_by_join_eui() {
    let fed = federation(1_000).await;
    // The device is not provisioned at the jsd: its own refusal must come back, unchanged.
    let home_ns = json!({"ProtocolVersion":"1.1","SenderID":"000013","ReceiverID":"70b3d57ed0000001",
        "TransactionID":8,"MessageType":"HomeNSReq","DevEUI":"0004a30b00000001"});
    let (_, answer) = post(fed.hub.local_addr, Some(&fed.token("ns13")), &home_ns).await;
    assert_eq!(
        code(&answer),
        "UnknownDevEUI",
        "the jsd answered through the hub: {answer}"
    );
    assert_eq!(answer["TransactionID"], 8);
    assert_eq!(answer["MessageType"], "HomeNSAns");
    fed.hub.stop().await.expect("stop");
    fed.jsd.stop().await.expect("stop");
}

#[tokio::test]
async fn nested_exchanges_do_not_block() {
    let fed = federation(2_000).await;
    // ns13 → nest (PRStartReq); nest sends XmitDataReq → ns13 through the hub before it
    // answers: both complete.
    let (_, answer) = post(
        fed.hub.local_addr,
        Some(&fed.token("ns13")),
        &pr_start_req("000013", "000031", 60, DATA_13),
    )
    .await;
    assert_eq!(code(&answer), "Success", "{answer}");
    assert_eq!(description(&answer), "nested XmitDataReq: \"Success\"");
    fed.hub.stop().await.expect("stop");
    fed.jsd.stop().await.expect("stop");
}

#[tokio::test]
async fn every_refusal_of_the_hub_is_a_well_formed_answer() {
    let fed = federation(500).await;
    let hub = fed.hub.local_addr;
    let ns13 = fed.token("ns13");
    let cases: Vec<(&str, Option<&str>, Value, &str, &str)> = vec![
        (
            "no token",
            None,
            pr_start_req("000013", "000014", 1, DATA_13),
            "UnknownSender",
            "bearer token",
        ),
        (
            "a spoofed SenderID",
            Some(&ns13),
            pr_start_req("000014", "000013", 2, DATA_13),
            "UnknownSender",
            "not an identity of member ns13",
        ),
        (
            "an unknown NetID",
            Some(&ns13),
            pr_start_req("000013", "000099", 3, DATA_13),
            "UnkownReceiver",
            "NetID 000099",
        ),
        (
            "back to the sender",
            Some(&ns13),
            pr_start_req("000013", "000013", 4, DATA_13),
            "UnkownReceiver",
            "the sender itself",
        ),
        (
            "an unknown JoinEUI",
            Some(&ns13),
            json!({"ProtocolVersion":"1.1","SenderID":"000013","ReceiverID":"0102030405060708","TransactionID":5,"MessageType":"HomeNSReq","DevEUI":"0004a30b00000001"}),
            "UnkownReceiver",
            "JoinEUI 0102030405060708",
        ),
        (
            "a shared NetID without DevAddr",
            Some(&ns13),
            json!({"ProtocolVersion":"1.1","SenderID":"000013","ReceiverID":"000020","TransactionID":6,"MessageType":"PRStopReq","DevEUI":"0004a30b00000001"}),
            "UnkownReceiver",
            "shared by several members",
        ),
        (
            "a member that is down",
            Some(&ns13),
            pr_start_req("000013", "000033", 7, DATA_13),
            "XmitFailed",
            "receiver down did not answer",
        ),
        (
            "a member too slow",
            Some(&ns13),
            pr_start_req("000013", "000030", 8, DATA_13),
            "XmitFailed",
            "receiver slow did not answer",
        ),
    ];
    for (what, token, request, expected, says) in cases {
        let started = std::time::Instant::now();
        let (status, answer) = post(hub, token, &request).await;
        assert_eq!((status, code(&answer)), (200, expected), "{what}: {answer}");
        assert!(description(&answer).contains(says), "{what}: {answer}");
        assert_eq!(answer["TransactionID"], request["TransactionID"], "{what}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{what}: answered within the bound"
        );
    }

    // A member sending a request straight back to the hub: the hub sees it crossed already.
    let (_, answer) = post(
        hub,
        Some(&ns13),
        &pr_start_req("000013", "000032", 9, DATA_13),
    )
    .await;
    assert_eq!(code(&answer), "Success", "{answer}");
    assert!(
        description(&answer).contains("already crossed the hub")
            || description(&answer).contains("not an identity"),
        "the echoed copy was refused: {answer}"
    );
    fed.hub.stop().await.expect("stop");
    fed.jsd.stop().await.expect("stop");
}

#[tokio::test]
async fn policies_refuse_explain_and_reload_and_every_transaction_has_a_usage_record() {
    let fed = federation(1_000).await;
    let hub = fed.hub.local_addr;
    let ns14 = fed.token("ns14");

    // No agreement between ns14 and ns15: the hub refuses and says which.
    let request = pr_start_req("000014", "000015", 90, DATA_13);
    let (_, answer) = post(hub, Some(&ns14), &request).await;
    assert_eq!(code(&answer), "NoRoamingAgreement", "{answer}");
    assert!(description(&answer).contains("ns14"), "{answer}");

    // An agreement appears; SIGHUP reloads the policies without a restart.
    std::fs::write(
        fed.policies.join("more.toml"),
        "[[agreement]]\nid = \"ns14/ns15\"\nbetween = [\"ns14\", \"ns15\"]\n",
    )
    .expect("policy file");
    let status = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(std::process::id().to_string())
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    let mut reloaded = false;
    for attempt in 0..50u32 {
        let request = pr_start_req("000014", "000015", 91 + attempt, DATA_13);
        let (_, answer) = post(hub, Some(&ns14), &request).await;
        if code(&answer) == "Success" {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reloaded, "the new agreement is in force after SIGHUP");

    // Every transaction above has its usage record, with its hops. The hub journals them
    // and stores them in the database within `DRAIN_EVERY`; this reads the database as
    // another process would, so it looks again until they are there.
    let pool = fed.hub.database.pool().clone();
    let udrs = hub::udr::UdrStore::new(pool);
    let now = time::OffsetDateTime::now_utc();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let (all, refused) = loop {
        let all = udrs
            .query(&hub::udr::UdrFilter::period(
                now - time::Duration::hours(1),
                now + time::Duration::hours(1),
                1000,
            ))
            .await
            .expect("query");
        let refused = all.iter().find(|u| u.transaction_id == Some(90)).cloned();
        let routed = all
            .iter()
            .any(|u| u.result_code == "Success" && u.sender.0 == "ns14");
        match refused {
            Some(refused) if routed => break (all, refused),
            _ if std::time::Instant::now() < deadline => {
                tokio::time::sleep(hub::udr::DRAIN_EVERY).await;
            }
            _ => panic!("the refusal and the routed transaction are recorded: {all:?}"),
        }
    };
    assert_eq!(refused.result_code, "NoRoamingAgreement");
    assert_eq!(
        refused.receiver.as_ref().map(|r| r.0.as_str()),
        Some("ns15")
    );
    assert!(refused.forwarded_at.is_none());
    let routed = all
        .iter()
        .find(|u| u.result_code == "Success" && u.sender.0 == "ns14")
        .expect("the routed transaction is recorded");
    assert_eq!(routed.agreement.as_deref(), Some("ns14/ns15"));
    assert_eq!(routed.gateway_count, Some(1));
    assert!(
        routed.request_bytes > 100 && routed.answer_bytes > 50,
        "{routed:?}"
    );
    assert!(routed
        .forwarded_at
        .is_some_and(|f| f >= routed.received_at && f <= routed.answered_at));
    fed.hub.stop().await.expect("stop");
    fed.jsd.stop().await.expect("stop");
}
