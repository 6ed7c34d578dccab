//! The RF parameter sync of the real hub on loopback, on SQLite and PostgreSQL: members
//! publish their sets over `/control`, partners under an agreement get them pushed to their
//! `control_url` (a real HTTP server here) and can pull them with an ETag; members without an
//! agreement see nothing; bad publications change nothing; publications survive a restart;
//! a policy reload (SIGHUP) pushes new configurations.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use service::daemon::{Daemon, Running};
use service::testing::{Engine, ScratchDatabase};

/// Every wait for a push is bounded by this.
const PUSH_WAIT: Duration = Duration::from_secs(15);

/// A member's control endpoint: records every push (bearer token, body).
#[derive(Default)]
struct Receiver {
    pushes: Mutex<Vec<(Option<String>, Value)>>,
}

impl Receiver {
    fn bodies(&self) -> Vec<Value> {
        self.pushes
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, body)| body.clone())
            .collect()
    }

    /// The first push that satisfies `wanted`, waiting at most [`PUSH_WAIT`].
    async fn wait_for(&self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let found = tokio::time::timeout(PUSH_WAIT, async {
            loop {
                if let Some(body) = self.bodies().into_iter().find(|b| wanted(b)) {
                    return body;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        found
            .unwrap_or_else(|_| panic!("no push {what} within {PUSH_WAIT:?}: {:#?}", self.bodies()))
    }
}

async fn record(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").to_owned());
    receiver.pushes.lock().expect("lock").push((token, body));
    StatusCode::NO_CONTENT
}

async fn start_receiver() -> (Arc<Receiver>, SocketAddr) {
    let receiver = Arc::new(Receiver::default());
    let router = Router::new()
        .route("/control", post(record))
        .with_state(Arc::clone(&receiver));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (receiver, addr)
}

const TOKEN_A: &str = "token-of-member-a-rf";
const TOKEN_B: &str = "token-of-member-b-rf";
const TOKEN_C: &str = "token-of-member-c-rf";
const TOKEN_JS: &str = "token-of-member-js-rf";
const B_OUTBOUND: &str = "token-the-hub-shows-b";

/// a (1.1, with a declared EU868 set), b (1.1), c (1.0), d (its control_url is down) and a
/// join server; agreement a/b only; every NS may use the join server.
fn members_file(a: SocketAddr, b: SocketAddr, c: SocketAddr, d_down: SocketAddr) -> String {
    format!(
        r#"
[[member]]
id = "a"
url = "http://127.0.0.1:9/bi"
token = "{TOKEN_A}"
net_id = "000013"
control_url = "http://{a}/control"
[[member.rf_param_sets]]
region = "EU868"
channels = [{{ frequency_hz = 868100000, min_dr = 0, max_dr = 5 }}]
rx2 = {{ frequency_hz = 869525000, dr = 0 }}

[[member]]
id = "b"
url = "http://127.0.0.1:9/bi"
token = "{TOKEN_B}"
outbound_token = "{B_OUTBOUND}"
net_id = "000014"
control_url = "http://{b}/control"

[[member]]
id = "c"
url = "http://127.0.0.1:9/bi"
token = "{TOKEN_C}"
protocol = "1.0"
net_id = "000015"
control_url = "http://{c}/control"

[[member]]
id = "d"
url = "http://127.0.0.1:9/bi"
token = "token-of-member-d-rf"
net_id = "000016"
control_url = "http://{d_down}/control"

[[member]]
id = "js"
url = "http://127.0.0.1:9/bi"
token = "{TOKEN_JS}"
join_eui_ranges = ["70b3d57ed0000000/56"]
"#
    )
}

const POLICIES: &str = r#"
[[agreement]]
id = "a/b"
between = ["a", "b"]
[[activation]]
id = "everyone"
ns = "*"
js = "*"
allow = true
"#;

async fn start_hub(scratch: &ScratchDatabase, members: &Path, policies: &Path) -> Running {
    let env: BTreeMap<String, String> = [
        ("HUB_SERVER__LISTEN", "127.0.0.1:0".to_owned()),
        ("HUB_DATABASE__URL", scratch.config.url.clone()),
        ("HUB_MEMBERS__FILE", members.display().to_string()),
        ("HUB_POLICIES__DIR", policies.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config: hub::Config = service::config::load(None, "HUB", &env).expect("hub config");
    hub::Hub::start(&config).await.expect("hub starts")
}

/// A control request: `(status, ETag, body)`.
async fn call(
    hub: SocketAddr,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
    if_none_match: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("http://{hub}{path}"))
        .timeout(Duration::from_secs(10));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON")
    };
    (status, etag, body)
}

async fn get(hub: SocketAddr, path: &str, token: &str) -> (u16, Option<String>, Value) {
    call(hub, reqwest::Method::GET, path, Some(token), None, None).await
}

async fn put_sets(hub: SocketAddr, token: &str, body: String) -> (u16, Value) {
    let (status, _, body) = call(
        hub,
        reqwest::Method::PUT,
        "/control/rf-param-sets",
        Some(token),
        Some(body),
        None,
    )
    .await;
    (status, body)
}

fn published_sets() -> Value {
    json!([
        {"region": "EU868", "rf_param_set_id": "eu-8ch",
         "channels": [{"frequency_hz": 868100000, "min_dr": 0, "max_dr": 5},
                      {"frequency_hz": 867100000, "min_dr": 0, "max_dr": 5}],
         "rx2": {"frequency_hz": 869525000, "dr": 0}, "rx1_dr_offset": 0},
        {"region": "us_902_928", "rf_param_set_id": "us-sb2",
         "channels": [{"frequency_hz": 903900000, "min_dr": 0, "max_dr": 3}],
         "rx2": {"frequency_hz": 923300000, "dr": 8}}
    ])
}

fn partner<'a>(config: &'a Value, id: &str) -> Option<&'a Value> {
    config["partners"]
        .as_array()?
        .iter()
        .find(|p| p["member"] == id)
}

fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

struct Fixture {
    _dir: tempfile::TempDir,
    members: PathBuf,
    policies: PathBuf,
    a: Arc<Receiver>,
    b: Arc<Receiver>,
    c: Arc<Receiver>,
}

async fn fixture() -> Fixture {
    let (a, a_addr) = start_receiver().await;
    let (b, b_addr) = start_receiver().await;
    let (c, c_addr) = start_receiver().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let members = dir.path().join("members.toml");
    std::fs::write(
        &members,
        members_file(a_addr, b_addr, c_addr, closed_port()),
    )
    .expect("members file");
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).expect("policies dir");
    std::fs::write(policies.join("test.toml"), POLICIES).expect("policies");
    Fixture {
        _dir: dir,
        members,
        policies,
        a,
        b,
        c,
    }
}

/// One test for both engines, run one after the other: the SIGHUP step signals the whole
/// process, so no other hub of this binary may be reloading at the same time.
#[tokio::test]
async fn sets_are_published_pushed_pulled_refused_and_kept_across_restarts() {
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        let fx = fixture().await;
        let hub = start_hub(&scratch, &fx.members, &fx.policies).await;
        let at = hub.local_addr;

        // At start b is told about a and a's declared set; c (no agreement) of nobody.
        let first =
            fx.b.wait_for("to b at start", |body| partner(body, "a").is_some())
                .await;
        let a_in_b = partner(&first, "a").expect("a");
        assert_eq!(a_in_b["rf_param_sets_source"], "declared", "{engine:?}");
        assert_eq!(a_in_b["net_id"], "000013");
        assert_eq!(a_in_b["agreement"]["id"], "a/b");
        assert_eq!(
            a_in_b["rf_param_sets"][0]["data_rates"]
                .as_array()
                .map(Vec::len),
            Some(6),
            "DR0..5 written out from the region"
        );
        assert_eq!(first["join_servers"][0]["member"], "js");
        let pushed_with = fx.b.pushes.lock().expect("lock")[0].0.clone();
        assert_eq!(pushed_with.as_deref(), Some(B_OUTBOUND));
        let c_first = fx.c.wait_for("to c at start", |_| true).await;
        assert_eq!(c_first["partners"], json!([]), "{c_first}");

        // a publishes: in force at once, pushed to b, pullable by b with an ETag.
        let (status, own) = put_sets(at, TOKEN_A, published_sets().to_string()).await;
        assert_eq!(status, 200, "{own}");
        assert_eq!(own["source"], "published");
        assert_eq!(own["rf_param_sets"][1]["region"], "US915", "made canonical");
        let pushed =
            fx.b.wait_for("of a's publication to b", |body| {
                partner(body, "a").is_some_and(|a| a["rf_param_sets_source"] == "published")
            })
            .await;
        let sets = &partner(&pushed, "a").expect("a")["rf_param_sets"];
        assert_eq!(sets[0]["rf_param_set_id"], "eu-8ch");
        assert_eq!(sets[1]["rx2"]["dr"], 8);
        let (status, etag, pulled) = get(at, "/control/peers", TOKEN_B).await;
        assert_eq!(status, 200);
        assert_eq!(pulled, pushed, "pull and push say the same");
        let etag = etag.expect("an ETag");
        assert_eq!(
            etag,
            format!("\"{}\"", pulled["version"].as_str().expect("v"))
        );
        let (status, _, body) = call(
            at,
            reqwest::Method::GET,
            "/control/peers",
            Some(TOKEN_B),
            None,
            Some(&etag),
        )
        .await;
        assert_eq!((status, body), (304, Value::Null));
        let (_, _, status_b) = get(at, "/control/status", TOKEN_B).await;
        assert_eq!(status_b["version"], pulled["version"]);

        // c has no agreement with a: nothing of a, pulled or pushed.
        let (_, _, c_peers) = get(at, "/control/peers", TOKEN_C).await;
        assert_eq!(c_peers["partners"], json!([]));
        assert_eq!(c_peers["join_servers"][0]["member"], "js");
        assert!(fx
            .c
            .bodies()
            .iter()
            .all(|body| !body.to_string().contains("eu-8ch")));

        // Refusals change nothing: bad sets (422, every field named), a body that is not
        // sets (400), no token (401), a join server (403).
        let mut bad = published_sets();
        bad[0]["channels"][1]["frequency_hz"] = json!(915_000_000);
        bad[1]["rf_param_set_id"] = json!("eu-8ch");
        let (status, error) = put_sets(at, TOKEN_A, bad.to_string()).await;
        assert_eq!(status, 422, "{error}");
        let fields: Vec<&str> = error["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .filter_map(|p| p["field"].as_str())
            .collect();
        assert_eq!(
            fields,
            ["[0].channels[1].frequency_hz", "[1].rf_param_set_id"]
        );
        let (status, error) = put_sets(at, TOKEN_A, r#"[{"region":"EU868"}]"#.into()).await;
        assert_eq!(status, 400);
        assert_eq!(error["problems"][0]["field"], "[0]");
        assert!(error["problems"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("missing field `channels`")));
        let (status, _) = put_sets(at, TOKEN_A, "{not json".into()).await;
        assert_eq!(status, 400);
        let (status, _, _) =
            call(at, reqwest::Method::GET, "/control/peers", None, None, None).await;
        assert_eq!(status, 401);
        let (status, error) = put_sets(at, TOKEN_JS, "[]".into()).await;
        assert_eq!(
            (status, error["error"].as_str()),
            (403, Some("not-a-network-server"))
        );
        let (_, _, still) = get(at, "/control/rf-param-sets", TOKEN_A).await;
        assert_eq!(still["rf_param_sets"], own["rf_param_sets"]);
        let (status, _, _) = call(
            at,
            reqwest::Method::GET,
            "/control/peers",
            Some(TOKEN_B),
            None,
            Some(&etag),
        )
        .await;
        assert_eq!(status, 304, "b's configuration did not change");

        // A member whose control_url is down: the push is retried, then reported.
        let (_, _, status_d) = {
            let waited = tokio::time::timeout(PUSH_WAIT, async {
                loop {
                    let answer = get(at, "/control/status", "token-of-member-d-rf").await;
                    if answer.2["push"]["ok"] == false {
                        return answer;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
            .await;
            waited.expect("d's failed push is reported")
        };
        assert!(
            status_d["push"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("cannot connect")),
            "{status_d}"
        );
        assert_eq!(status_d["push"]["attempts"], 4);

        // A restart keeps the publication; b's configuration is the same version.
        hub.stop().await.expect("stops");
        let hub = start_hub(&scratch, &fx.members, &fx.policies).await;
        let at = hub.local_addr;
        let (_, _, after) = get(at, "/control/rf-param-sets", TOKEN_A).await;
        assert_eq!(after["source"], "published");
        assert_eq!(after["rf_param_sets"], own["rf_param_sets"]);
        assert!(after["published_at"].is_string());
        let (status, _, _) = call(
            at,
            reqwest::Method::GET,
            "/control/peers",
            Some(TOKEN_B),
            None,
            Some(&etag),
        )
        .await;
        assert_eq!(status, 304, "same configuration after a restart");

        // A policy reload: an agreement b/c appears on SIGHUP; both are told.
        std::fs::write(
            fx.policies.join("more.toml"),
            "[[agreement]]\nid = \"b/c\"\nbetween = [\"b\", \"c\"]\n",
        )
        .expect("policy file");
        let signalled = std::process::Command::new("kill")
            .arg("-HUP")
            .arg(std::process::id().to_string())
            .status()
            .expect("kill -HUP");
        assert!(signalled.success());
        let to_c =
            fx.c.wait_for("of b to c after the reload", |body| {
                partner(body, "b").is_some()
            })
            .await;
        assert_eq!(partner(&to_c, "b").expect("b")["agreement"]["id"], "b/c");
        fx.b.wait_for("of c to b after the reload", |body| {
            partner(body, "c").is_some()
        })
        .await;
        assert!(fx.a.bodies().iter().all(|b| partner(b, "c").is_none()));

        hub.stop().await.expect("stops");
        scratch.drop_now().await;
    }
}
