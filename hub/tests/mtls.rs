//! The real hub over HTTPS on loopback (`[server.tls]` with `client_ca`), members
//! authenticating by client certificate, by bearer token, or both: a member bound to a
//! certificate needs no token, a certificate of the federation CA bound to no member is
//! UnknownSender, a token and a certificate of different members disagree, and plain HTTP
//! to the TLS port fails without taking the hub down.

mod common;

use common::{start_receiver, Receiver};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use serde_json::{json, Value};
use service::daemon::{Daemon, Running};
use service::testing::{Engine, ScratchDatabase};
use service::tls::ClientCertificate;

const TOKEN_B: &str = "token-of-member-b-0123";
const TOKEN_RX: &str = "token-of-member-rx-0123";

/// The federation CA (PEM), and two client identities (certificate + key PEM) it issued
/// with their fingerprints; the hub's certificate and key are written to `dir`.
struct Pki {
    ca_pem: String,
    clients: [(String, String); 2],
}

fn pki(dir: &Path) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
    let mut hub_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    hub_params.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))];
    let hub_key = KeyPair::generate().expect("key");
    let hub = hub_params
        .signed_by(&hub_key, &ca)
        .expect("hub certificate");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write");
    std::fs::write(dir.join("hub.pem"), hub.pem()).expect("write");
    std::fs::write(dir.join("hub.key"), hub_key.serialize_pem()).expect("write");
    let client = |name: &str| {
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(vec![format!("{name}.example")])
            .expect("params")
            .signed_by(&key, &ca)
            .expect("client certificate");
        (
            format!("{}{}", cert.pem(), key.serialize_pem()),
            ClientCertificate::of(cert.der()).sha256,
        )
    };
    Pki {
        ca_pem: ca.pem(),
        clients: [client("member-a"), client("unbound")],
    }
}

struct Federation {
    hub: Running,
    pki: Pki,
    receiver: Arc<Receiver>,
    _dir: tempfile::TempDir,
    _scratch: ScratchDatabase,
}

/// a (NetID 000013) bound to client certificate 1, no token; b (000015) a token; rx
/// (000014) receives. Agreements a/rx and b/rx.
async fn federation() -> Federation {
    let dir = tempfile::tempdir().expect("dir");
    let pki = pki(dir.path());
    let (receiver, rx) = start_receiver().await;
    let members = format!(
        "[[member]]\nid = \"a\"\nurl = \"http://127.0.0.1:9/bi\"\nnet_id = \"000013\"\n\
         client_cert_sha256 = [\"{}\"]\n\n\
         [[member]]\nid = \"b\"\nurl = \"http://127.0.0.1:9/bi\"\nnet_id = \"000015\"\n\
         token = \"{TOKEN_B}\"\n\n\
         [[member]]\nid = \"rx\"\nurl = \"http://{rx}/bi\"\nnet_id = \"000014\"\n\
         token = \"{TOKEN_RX}\"\n",
        pki.clients[0].1
    );
    let members_path = dir.path().join("members.toml");
    std::fs::write(&members_path, members).expect("members file");
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).expect("policies dir");
    std::fs::write(
        policies.join("test.toml"),
        "[[agreement]]\nid = \"a/rx\"\nbetween = [\"a\", \"rx\"]\n\n\
         [[agreement]]\nid = \"b/rx\"\nbetween = [\"b\", \"rx\"]\n",
    )
    .expect("policy file");
    let scratch = ScratchDatabase::create(Engine::Sqlite).await;
    let path = |file: &str| dir.path().join(file).display().to_string();
    let env: BTreeMap<String, String> = [
        ("HUB_SERVER__LISTEN", "127.0.0.1:0".to_owned()),
        ("HUB_SERVER__TLS__CERT", path("hub.pem")),
        ("HUB_SERVER__TLS__KEY", path("hub.key")),
        ("HUB_SERVER__TLS__CLIENT_CA", path("ca.pem")),
        ("HUB_DATABASE__URL", scratch.config.url.clone()),
        ("HUB_MEMBERS__FILE", members_path.display().to_string()),
        ("HUB_POLICIES__DIR", policies.display().to_string()),
        ("HUB_ROUTING__ANSWER_TIMEOUT_MS", "2000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config: hub::Config = service::config::load(None, "HUB", &env).expect("hub config");
    let hub = hub::Hub::start(&config).await.expect("hub starts");
    Federation {
        hub,
        pki,
        receiver,
        _dir: dir,
        _scratch: scratch,
    }
}

impl Federation {
    /// An HTTPS client trusting the federation CA, presenting client certificate `client`
    /// (0 or 1) if given.
    fn client(&self, client: Option<usize>) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(10))
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.pki.ca_pem.as_bytes()).expect("CA"),
            );
        if let Some(index) = client {
            let identity = &self.pki.clients[index].0;
            builder =
                builder.identity(reqwest::Identity::from_pem(identity.as_bytes()).expect("id"));
        }
        builder.build().expect("client")
    }

    /// POSTs `message` to the hub's `/bi` over HTTPS: the answer.
    async fn post(&self, client: Option<usize>, token: Option<&str>, message: &Value) -> Value {
        let mut request = self
            .client(client)
            .post(format!("https://{}/bi", self.hub.local_addr))
            .header("content-type", "application/json")
            .body(message.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("answered over HTTPS");
        assert_eq!(response.status().as_u16(), 200);
        let body = response.bytes().await.expect("body");
        serde_json::from_slice(&body).expect("JSON answer")
    }
}

fn pr_start_req(sender: &str, tid: u32) -> Value {
    json!({"ProtocolVersion":"1.1","SenderID":sender,"ReceiverID":"000014","TransactionID":tid,
        "MessageType":"PRStartReq","PHYPayload":"400000000a000800b41451a9",
        "ULMetaData":{"DataRate":0,"ULFreq":868.1,"RecvTime":"2026-11-22T12:34:56.789Z",
            "RFRegion":"EU868","GWCnt":1,"GWInfo":[{"ID":"05060708","RFRegion":"EU868",
            "RSSI":-40,"SNR":7.5,"ULToken":"0a10","DLAllowed":true}]}})
}

fn result(answer: &Value) -> (&str, &str) {
    (
        answer["Result"]["ResultCode"].as_str().unwrap_or("<none>"),
        answer["Result"]["Description"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn members_authenticate_by_client_certificate_or_token_and_never_by_a_mix() {
    let fed = federation().await;

    // a presents client certificate 1, bound to it: no token needed.
    let answer = fed.post(Some(0), None, &pr_start_req("000013", 1)).await;
    assert_eq!(result(&answer), ("Success", "answered by rx"), "{answer}");
    assert_eq!(answer["TransactionID"], 1);

    // b presents its token and no certificate.
    let answer = fed
        .post(None, Some(TOKEN_B), &pr_start_req("000015", 2))
        .await;
    assert_eq!(result(&answer), ("Success", "answered by rx"), "{answer}");
    assert_eq!(fed.receiver.seen.lock().expect("lock").len(), 2);

    // Certificate 2: issued by the federation CA, bound to no member.
    let answer = fed.post(Some(1), None, &pr_start_req("000013", 3)).await;
    let (code, description) = result(&answer);
    assert_eq!(code, "UnknownSender", "{answer}");
    assert!(
        description.contains(&fed.pki.clients[1].1) && description.contains("no member"),
        "{description}"
    );

    // a's certificate with b's token: they disagree.
    let answer = fed
        .post(Some(0), Some(TOKEN_B), &pr_start_req("000013", 4))
        .await;
    let (code, description) = result(&answer);
    assert_eq!(code, "UnknownSender", "{answer}");
    assert!(description.contains("disagree"), "{description}");

    // Neither.
    let answer = fed.post(None, None, &pr_start_req("000013", 5)).await;
    assert_eq!(result(&answer).0, "UnknownSender", "{answer}");
    // Authenticated, but not as the SenderID it claims: unchanged by how it authenticated.
    let answer = fed.post(Some(0), None, &pr_start_req("000015", 6)).await;
    assert_ne!(result(&answer).0, "Success", "{answer}");
    assert_eq!(
        fed.receiver.seen.lock().expect("lock").len(),
        2,
        "no refused message reached the receiver"
    );

    // Plain HTTP to the TLS port fails cleanly; the hub keeps serving.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    assert!(plain
        .post(format!("http://{}/bi", fed.hub.local_addr))
        .body(pr_start_req("000015", 7).to_string())
        .bearer_auth(TOKEN_B)
        .send()
        .await
        .is_err());
    let answer = fed.post(Some(0), None, &pr_start_req("000013", 8)).await;
    assert_eq!(result(&answer).0, "Success", "{answer}");

    // A malformed message of the certificate-only member: the endpoint's own refusal is
    // audited under that member (found by its certificate; it has no token).
    let mut malformed = pr_start_req("000013", 9);
    malformed["PHYPayload"] = json!("not hex");
    let answer = fed.post(Some(0), None, &malformed).await;
    assert!(result(&answer).0.starts_with("Malformed"), "{answer}");
    let audit = hub::audit::AuditStore::new(fed.hub.database.pool().clone());
    let filter = hub::audit::AuditFilter {
        member: Some("a".into()),
        ..hub::audit::AuditFilter::default()
    };
    let mut found = Vec::new();
    for _ in 0..100 {
        found = audit.query(&filter).await.expect("audit query");
        if found.iter().any(|e| e.transaction_id == Some(9)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        found.iter().any(|e| e.transaction_id == Some(9)),
        "the refusal is audited under member a: {found:?}"
    );

    fed.hub.stop().await.expect("stop");
}
