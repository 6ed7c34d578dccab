//! Bearer tokens kept as SHA-256 digests (`token_sha256`), on the real hub over HTTP: a
//! member known by its digest authenticates on `/bi`, a member put through the admin API
//! with a token in clear is written with the digest only, an operator known by its digest
//! uses the admin API, and `hub hash-token` prints the digest to write.

mod common;

use std::path::PathBuf;

use serde_json::{json, Value};
use service::auth::TokenDigest;
use service::daemon::Running;
use service::testing::{Engine, ScratchDatabase};

/// The operator's token; the config holds only its digest.
const OPERATOR: &str = "operator-token-kept-as-digest";
/// ns13's token; the members file holds only its digest.
const NS13: &str = "token-of-member-ns13-hashed";
/// ns14's token, in clear in the members file (still accepted).
const NS14: &str = "token-of-member-ns14-in-clear";

struct Hub {
    running: Running,
    api_file: PathBuf,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    _scratch: ScratchDatabase,
}

impl Hub {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.local_addr)
    }

    async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        common::call_json(&self.http, self.url(path), token, method, body).await
    }

    /// The ResultCode of `sender`'s PRStartReq to `receiver`, sent with `token`.
    async fn pr_start(&self, token: &str, sender: &str, receiver: &str, tid: u32) -> String {
        common::pr_start_result(&self.http, self.url("/bi"), token, sender, receiver, tid).await
    }
}

/// ns13 (000013, by its token's digest) and ns14 (000014, token in clear), with an
/// agreement; one operator known by its token's digest.
async fn start_hub() -> Hub {
    let dir = tempfile::tempdir().expect("tempdir");
    let ns13 = common::start_receiver().await.1;
    let ns14 = common::start_receiver().await.1;
    let members = format!(
        "[[member]]\nid = \"ns13\"\nurl = \"http://{ns13}/bi\"\nnet_id = \"000013\"\n\
         token_sha256 = \"{}\"\n\n\
         [[member]]\nid = \"ns14\"\nurl = \"http://{ns14}/bi\"\nnet_id = \"000014\"\n\
         token = \"{NS14}\"\n",
        TokenDigest::of(NS13).to_hex().to_ascii_uppercase()
    );
    let members_path = dir.path().join("members.toml");
    std::fs::write(&members_path, members).expect("members file");
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).expect("policies dir");
    std::fs::write(
        policies.join("operators.toml"),
        "[[agreement]]\nid = \"ns13-ns14\"\nbetween = [\"ns13\", \"ns14\"]\n",
    )
    .expect("policy file");
    let config_path = dir.path().join("hub.toml");
    std::fs::write(
        &config_path,
        format!(
            "[[operators]]\nname = \"noc\"\ntoken_sha256 = \"{}\"\n",
            TokenDigest::of(OPERATOR).to_hex()
        ),
    )
    .expect("config");
    let scratch = ScratchDatabase::create(Engine::Sqlite).await;
    let running =
        common::start_hub_from(&config_path, &scratch.config.url, &members_path, &policies).await;
    Hub {
        running,
        api_file: dir.path().join("members.api.toml"),
        http: reqwest::Client::new(),
        _dir: dir,
        _scratch: scratch,
    }
}

#[tokio::test]
async fn a_member_known_by_its_token_digest_is_authenticated_on_bi() {
    let hub = start_hub().await;
    assert_eq!(hub.pr_start(NS13, "000013", "000014", 1).await, "Success");
    assert_eq!(hub.pr_start(NS14, "000014", "000013", 2).await, "Success");
    // The digest itself is not a token.
    let digest = TokenDigest::of(NS13).to_hex();
    assert_eq!(
        hub.pr_start(&digest, "000013", "000014", 3).await,
        "UnknownSender"
    );
    // Nor is ns13's token a way to speak as ns14.
    assert_eq!(
        hub.pr_start(NS13, "000014", "000013", 4).await,
        "UnknownSender"
    );
    hub.running.stop().await.expect("stop");
}

#[tokio::test]
async fn an_operator_known_by_its_token_digest_uses_the_admin_api() {
    let hub = start_hub().await;
    let (status, body) = hub.call(OPERATOR, "GET", "/api/members", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["members"].as_array().map(Vec::len), Some(2));
    let digest = TokenDigest::of(OPERATOR).to_hex();
    let (status, _) = hub.call(&digest, "GET", "/api/members", None).await;
    assert_eq!(status, 401, "the digest is not the token");
    hub.running.stop().await.expect("stop");
}

#[tokio::test]
async fn a_member_put_with_a_token_in_clear_is_written_with_its_digest_only() {
    let hub = start_hub().await;
    let addr = common::start_receiver().await.1;
    let token = "token-of-member-ns16-put-in-clear";
    let ns16 = json!({"url": format!("http://{addr}/bi"), "token": token, "net_id": "000016"});
    let (status, body) = hub
        .call(OPERATOR, "PUT", "/api/members/ns16", Some(ns16))
        .await;
    assert_eq!(status, 201, "{body}");

    let written = std::fs::read_to_string(&hub.api_file).expect("API members file");
    let digest = TokenDigest::of(token).to_hex();
    assert!(!written.contains(token), "the token is at rest: {written}");
    assert!(
        written.contains(&format!("token_sha256 = \"{digest}\"")),
        "{written}"
    );
    // Authenticated by the digest, now and after a reload from the file.
    assert_eq!(
        hub.pr_start(token, "000016", "000013", 1).await,
        "NoRoamingAgreement"
    );
    let (status, _) = hub
        .call(OPERATOR, "POST", "/api/members/reload", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        hub.pr_start(token, "000016", "000013", 2).await,
        "NoRoamingAgreement"
    );
    // Shown with neither the token nor its digest.
    for path in ["/api/members/ns16", "/api/members/ns13", "/api/members"] {
        let (status, shown) = hub.call(OPERATOR, "GET", path, None).await;
        assert_eq!(status, 200, "{shown}");
        let text = shown.to_string().to_ascii_lowercase();
        for secret in [
            token.to_owned(),
            digest.clone(),
            TokenDigest::of(NS13).to_hex(),
        ] {
            assert!(!text.contains(&secret), "{path} shows {secret}: {text}");
        }
    }
    // A digest given by the API caller: kept as given (lower case), the same token twice
    // caught whichever form each member uses.
    let twin = json!({"url": "http://127.0.0.1:1/bi", "token_sha256": digest.to_ascii_uppercase(),
        "net_id": "000017"});
    let (status, body) = hub
        .call(OPERATOR, "PUT", "/api/members/ns17", Some(twin))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_members")),
        "{body}"
    );
    assert!(
        body["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("ns16 and ns17 share a token")),
        "{body}"
    );
    let bad = json!({"url": "http://127.0.0.1:1/bi", "token_sha256": "abc", "net_id": "000017"});
    let (status, body) = hub
        .call(OPERATOR, "PUT", "/api/members/ns17", Some(bad))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("(ns17): token_sha256 must be 64 hex digits")),
        "{body}"
    );
    hub.running.stop().await.expect("stop");
}

#[test]
fn hub_hash_token_prints_the_digest_of_one_line_of_stdin() {
    let hash = |input: &str| common::run_hub_cli(&["hash-token"], input, &[]);
    let (ok, stdout, stderr) = hash(&format!("{NS13}\n"));
    assert!(ok, "{stderr}");
    assert_eq!(stdout, format!("{}\n", TokenDigest::of(NS13).to_hex()));
    let (ok, stdout, stderr) = hash("short\n");
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("at least 16"), "{stderr}");
}
