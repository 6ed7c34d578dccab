//! Outbound tokens (the bearer tokens the hub presents to members) sealed at rest under the
//! hub's `[keys]` master key, on the real hub over HTTP with real members: a member known
//! by `outbound_token_sealed` receives the token in clear when the hub routes to it; a
//! token sealed under another key stops the hub, naming the member; the admin API writes
//! outbound tokens sealed only; `hub seal-token` prints what the members file takes.

mod common;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use service::daemon::Running;
use service::sealing::{Keyring, MasterKey};
use service::testing::{Engine, ScratchDatabase};

/// The hub's master key in these tests.
const MASTER_KEY: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";
/// A master key the hub does not hold.
const OTHER_MASTER_KEY: &str = "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f";
/// The admin API operator's token.
const OPERATOR: &str = "operator-token-of-the-noc-0123";
/// ns13's token at the hub.
const NS13: &str = "token-of-member-ns13-at-the-hub";
/// ns14's token at the hub.
const NS14: &str = "token-of-member-ns14-at-the-hub";
/// What the hub presents to ns14; the members file holds it sealed only.
const HUB_AT_NS14: &str = "hub-presents-this-to-ns14";

fn keyring(master_key: &str) -> Keyring {
    Keyring::new(master_key.parse::<MasterKey>().expect("key"), vec![]).expect("keyring")
}

fn sealed(token: &str, master_key: &str) -> String {
    keyring(master_key)
        .seal_secret(token.as_bytes())
        .expect("sealed")
        .to_string()
}

/// A hub's files in a temporary directory: config (with `[keys]` when `master_key` is
/// given), members file (ns13 sends, ns14 receives with `outbound_token_sealed`), and an
/// agreement between ns13 and ns14 and between ns13 and ns16 (added through the API).
struct Files {
    dir: tempfile::TempDir,
    config: PathBuf,
    members: PathBuf,
    policies: PathBuf,
}

impl Files {
    fn new(master_key: Option<&str>, ns14: &str, ns14_outbound: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let members = dir.path().join("members.toml");
        std::fs::write(
            &members,
            format!(
                "[[member]]\nid = \"ns13\"\nurl = \"http://127.0.0.1:1/bi\"\nnet_id = \"000013\"\n\
                 token = \"{NS13}\"\n\n\
                 [[member]]\nid = \"ns14\"\nurl = \"http://{ns14}/bi\"\nnet_id = \"000014\"\n\
                 token = \"{NS14}\"\n{ns14_outbound}\n"
            ),
        )
        .expect("members file");
        let policies = dir.path().join("policies");
        std::fs::create_dir(&policies).expect("policies dir");
        std::fs::write(
            policies.join("agreements.toml"),
            "[[agreement]]\nid = \"ns13-ns14\"\nbetween = [\"ns13\", \"ns14\"]\n\n\
             [[agreement]]\nid = \"ns13-ns16\"\nbetween = [\"ns13\", \"ns16\"]\n",
        )
        .expect("policy file");
        let config = dir.path().join("hub.toml");
        let keys =
            master_key.map_or_else(String::new, |k| format!("[keys]\nmaster_key = \"{k}\"\n\n"));
        std::fs::write(
            &config,
            format!("{keys}[[operators]]\nname = \"noc\"\ntoken = \"{OPERATOR}\"\n"),
        )
        .expect("config");
        Self {
            dir,
            config,
            members,
            policies,
        }
    }

    fn api_file(&self) -> PathBuf {
        self.dir.path().join("members.api.toml")
    }

    async fn start(&self, database: &ScratchDatabase) -> Result<Running, String> {
        common::try_start_hub_from(
            &self.config,
            &database.config.url,
            &self.members,
            &self.policies,
        )
        .await
        .map_err(|e| e.to_string())
    }
}

fn url(running: &Running, path: &str) -> String {
    format!("http://{}{path}", running.local_addr)
}

/// Sends ns13's PRStartReq to `receiver` through the hub: its ResultCode.
async fn route_from_ns13(running: &Running, receiver: &str, tid: u32) -> String {
    let http = reqwest::Client::new();
    common::pr_start_result(&http, url(running, "/bi"), NS13, "000013", receiver, tid).await
}

fn tokens_seen(receiver: &common::Receiver) -> Vec<Option<String>> {
    receiver.bearer_tokens.lock().expect("lock").clone()
}

#[tokio::test]
async fn a_member_with_a_sealed_outbound_token_receives_it_in_clear() {
    routes_presenting_the_token(&sealed(HUB_AT_NS14, MASTER_KEY)).await;
}

/// Starts a hub whose member ns14 has `sealed_form` as its outbound token, routes one
/// message to it, and checks that ns14 received the token in clear.
async fn routes_presenting_the_token(sealed_form: &str) {
    let (ns14, ns14_addr) = common::start_receiver().await;
    let outbound = format!("outbound_token_sealed = \"{sealed_form}\"");
    let files = Files::new(Some(MASTER_KEY), &ns14_addr.to_string(), &outbound);
    let database = ScratchDatabase::create(Engine::Sqlite).await;
    let hub = files.start(&database).await.expect("hub starts");
    assert_eq!(route_from_ns13(&hub, "000014", 1).await, "Success");
    assert_eq!(tokens_seen(&ns14), vec![Some(HUB_AT_NS14.to_owned())]);
    hub.stop().await.expect("stop");
}

#[tokio::test]
async fn a_sealed_outbound_token_the_hub_cannot_open_stops_it_naming_the_member() {
    let outbound = format!(
        "outbound_token_sealed = \"{}\"",
        sealed(HUB_AT_NS14, OTHER_MASTER_KEY)
    );
    let database = ScratchDatabase::create(Engine::Sqlite).await;

    let files = Files::new(Some(MASTER_KEY), "127.0.0.1:1", &outbound);
    let Err(error) = files.start(&database).await else {
        panic!("the hub started with a token sealed under another master key");
    };
    let (sealed_with, current) = (
        keyring(OTHER_MASTER_KEY).current().id(),
        keyring(MASTER_KEY).current().id(),
    );
    assert!(
        error.contains(&format!(
            "member[1] (ns14): outbound_token_sealed was sealed under master key \
             {sealed_with}, which is not in [keys] (master_key has id {current})"
        )),
        "{error}"
    );
    assert!(
        error.contains(&files.members.display().to_string()),
        "{error}"
    );
    assert!(!error.contains(HUB_AT_NS14), "{error}");

    let keyless = Files::new(None, "127.0.0.1:1", &outbound);
    let Err(error) = keyless.start(&database).await else {
        panic!("the hub started with a sealed token and no master key");
    };
    assert!(
        error.contains(
            "member[1] (ns14): outbound_token_sealed needs the hub's master key ([keys] \
             master_key in the hub config, or HUB_KEYS__MASTER_KEY), and none is configured"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn the_admin_api_writes_outbound_tokens_sealed_and_the_hub_presents_them() {
    let files = Files::new(Some(MASTER_KEY), "127.0.0.1:1", "");
    let database = ScratchDatabase::create(Engine::Sqlite).await;
    let hub = files.start(&database).await.expect("hub starts");
    let (ns16, ns16_addr) = common::start_receiver().await;
    let hub_at_ns16 = "hub-presents-this-to-ns16-after-put";
    let put = json!({"url": format!("http://{ns16_addr}/bi"),
        "token": "token-of-member-ns16-at-the-hub", "outbound_token": hub_at_ns16,
        "net_id": "000016"});
    let http = reqwest::Client::new();
    let call = |method: &'static str, path: &'static str, body: Option<Value>| {
        common::call_json(&http, url(&hub, path), OPERATOR, method, body)
    };
    let (status, body) = call("PUT", "/api/members/ns16", Some(put)).await;
    assert_eq!(status, 201, "{body}");

    let written = std::fs::read(files.api_file()).expect("API members file");
    assert!(
        !written
            .windows(hub_at_ns16.len())
            .any(|w| w == hub_at_ns16.as_bytes()),
        "the outbound token is at rest in clear: {}",
        String::from_utf8_lossy(&written)
    );
    let written = String::from_utf8(written).expect("text");
    assert!(!written.contains("outbound_token ="), "{written}");
    assert!(
        written.contains(&format!(
            "outbound_token_sealed = \"sealed:v1:{}",
            keyring(MASTER_KEY).current().id()
        )),
        "{written}"
    );

    // Presented in clear when routed to, now and after the file is loaded again.
    assert_eq!(route_from_ns13(&hub, "000016", 1).await, "Success");
    let (status, body) = call("POST", "/api/members/reload", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(route_from_ns13(&hub, "000016", 2).await, "Success");
    assert_eq!(
        tokens_seen(&ns16),
        vec![Some(hub_at_ns16.to_owned()), Some(hub_at_ns16.to_owned())]
    );

    // Shown in neither form.
    let sealed_form = written
        .lines()
        .find_map(|l| l.strip_prefix("outbound_token_sealed = "))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("the sealed form");
    for path in ["/api/members/ns16", "/api/members"] {
        let (status, shown) = call("GET", path, None).await;
        assert_eq!(status, 200, "{shown}");
        let text = shown.to_string();
        assert!(!text.contains(hub_at_ns16), "{path}: {text}");
        assert!(!text.contains(&sealed_form), "{path}: {text}");
        assert!(!text.contains("sealed:v1:"), "{path}: {text}");
    }
    hub.stop().await.expect("stop");
}

/// Runs `hub [args] seal-token` with `input` on stdin and `env`: success, stdout, stderr.
fn seal_token(input: &str, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let args: Vec<&str> = args.iter().copied().chain(["seal-token"]).collect();
    common::run_hub_cli(&args, input, env)
}

#[tokio::test]
async fn hub_seal_token_prints_what_the_members_file_takes() {
    let (ok, stdout, stderr) = seal_token(
        &format!("{HUB_AT_NS14}\n"),
        &[],
        &[("HUB_KEYS__MASTER_KEY", MASTER_KEY)],
    );
    assert!(ok, "{stderr}");
    let value = stdout.trim_end();
    assert!(value.starts_with("sealed:v1:"), "{stdout}");
    assert!(!stdout.contains(HUB_AT_NS14) && !stderr.contains(MASTER_KEY));

    routes_presenting_the_token(value).await;

    // The key may come from the config file as well; without one there is nothing to seal
    // with, and an empty token is refused.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!("[keys]\nmaster_key = \"{MASTER_KEY}\"\n"),
    );
    let (ok, stdout, stderr) = seal_token(
        "from-the-config-key\n",
        &["--config", &config.display().to_string()],
        &[],
    );
    assert!(ok, "{stderr}");
    let sealed: service::sealing::SealedSecret = stdout.trim_end().parse().expect("sealed");
    assert_eq!(
        keyring(MASTER_KEY).unseal_secret(&sealed),
        Ok(b"from-the-config-key".to_vec())
    );
    let (ok, stdout, stderr) = seal_token("a-token\n", &[], &[]);
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("no master key"), "{stderr}");
    let (ok, _, stderr) = seal_token("\n", &[], &[("HUB_KEYS__MASTER_KEY", MASTER_KEY)]);
    assert!(!ok && stderr.contains("empty"), "{stderr}");
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("seal-token.toml");
    std::fs::write(&path, text).expect("config");
    path
}
