//! Operators scoped to their members (`[[operators]] members = […]`), on the real hub over
//! HTTP with SQLite: each sees only its own members, policies, usage records (JSON pages,
//! CSV, daily aggregates) and audit entries, is refused (403) when it names another
//! member, edits only its own members of the API file, and never edits policies or
//! reloads; the hub administrator still sees and does everything.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use service::daemon::Running;
use service::testing::{Engine, ScratchDatabase};

/// The hub administrator.
const NOC: &str = "token-of-the-hub-noc-0123";
/// Operator A: ns13.
const OP_A: &str = "token-of-operator-a-0123";
/// Operator B: ns14, ns16 (added later), ns18 (never a member).
const OP_B: &str = "token-of-operator-b-0123";
/// Operator C: ns15.
const OP_C: &str = "token-of-operator-c-0123";

struct Hub {
    running: Running,
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

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.call(token, "GET", path, None).await
    }

    /// `sender`'s PRStartReq to `receiver`: its ResultCode.
    async fn pr_start(&self, sender: &str, net_id: &str, receiver: &str, tid: u32) -> String {
        let token = format!("token-of-member-{sender}");
        common::pr_start_result(&self.http, self.url("/bi"), &token, net_id, receiver, tid).await
    }
}

/// ns13, ns14, ns15 (operators A, B, C); agreements ns13-ns14 and ns14-ns15; activation
/// rules naming ns13 and ns15.
async fn start_hub() -> Hub {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut members = String::new();
    for (name, net_id) in [("ns13", "000013"), ("ns14", "000014"), ("ns15", "000015")] {
        let addr = common::start_receiver().await.1;
        members.push_str(&format!(
            "[[member]]\nid = \"{name}\"\nurl = \"http://{addr}/bi\"\n\
             token = \"token-of-member-{name}\"\nnet_id = \"{net_id}\"\n\n"
        ));
    }
    let members_path = dir.path().join("members.toml");
    std::fs::write(&members_path, members).expect("members file");
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).expect("policies dir");
    std::fs::write(
        policies.join("federation.toml"),
        "[[agreement]]\nid = \"ns13-ns14\"\nbetween = [\"ns13\", \"ns14\"]\n\n\
         [[agreement]]\nid = \"ns14-ns15\"\nbetween = [\"ns14\", \"ns15\"]\n\n\
         [[activation]]\nid = \"ns13-any\"\nns = \"ns13\"\njs = \"*\"\nallow = true\n\n\
         [[activation]]\nid = \"ns15-any\"\nns = \"ns15\"\njs = \"*\"\nallow = true\n",
    )
    .expect("policy file");
    let config_path = dir.path().join("hub.toml");
    std::fs::write(
        &config_path,
        format!(
            "[[operators]]\nname = \"noc\"\ntoken = \"{NOC}\"\n\n\
             [[operators]]\nname = \"op-a\"\ntoken = \"{OP_A}\"\nmembers = [\"ns13\"]\n\n\
             [[operators]]\nname = \"op-b\"\ntoken = \"{OP_B}\"\n\
             members = [\"ns14\", \"ns16\", \"ns18\"]\n\n\
             [[operators]]\nname = \"op-c\"\ntoken = \"{OP_C}\"\nmembers = [\"ns15\"]\n"
        ),
    )
    .expect("config");
    let scratch = ScratchDatabase::create(Engine::Sqlite).await;
    let running =
        common::start_hub_from(&config_path, &scratch.config.url, &members_path, &policies).await;
    Hub {
        running,
        http: reqwest::Client::new(),
        _dir: dir,
        _scratch: scratch,
    }
}

/// 5 × ns13 → ns14, 3 × ns14 → ns15 (all Success), 1 × ns15 → ns13 (no agreement).
async fn traffic(hub: &Hub) {
    for tid in 0..5 {
        assert_eq!(
            hub.pr_start("ns13", "000013", "000014", tid).await,
            "Success"
        );
    }
    for tid in 10..13 {
        assert_eq!(
            hub.pr_start("ns14", "000014", "000015", tid).await,
            "Success"
        );
    }
    assert_eq!(
        hub.pr_start("ns15", "000015", "000013", 20).await,
        "NoRoamingAgreement"
    );
}

fn parties(udr: &Value) -> (String, String) {
    (
        udr["sender"].as_str().unwrap_or_default().to_owned(),
        udr["receiver"].as_str().unwrap_or_default().to_owned(),
    )
}

fn assert_forbidden(answer: &(u16, Value), naming: &str) {
    let (status, body) = answer;
    assert_eq!(
        (*status, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| m.contains(naming)),
        "the reason names {naming}: {body}"
    );
}

#[tokio::test]
async fn a_scoped_operator_sees_only_the_records_of_its_members() {
    let hub = start_hub().await;
    traffic(&hub).await;

    // JSON pages of 4, cut by the query: 6 records of ns13 in pages of 4 and 2.
    let mut pages = Vec::new();
    let mut path = "/api/udrs?limit=4".to_owned();
    loop {
        let (status, page) = hub.get(OP_A, &path).await;
        assert_eq!(status, 200, "{page}");
        let udrs = page["udrs"].as_array().expect("udrs").clone();
        pages.push(udrs.len());
        for udr in &udrs {
            let (sender, receiver) = parties(udr);
            assert!(sender == "ns13" || receiver == "ns13", "{udr}");
        }
        match page["next_after"].as_i64() {
            Some(after) => path = format!("/api/udrs?limit=4&after={after}"),
            None => break,
        }
        assert!(pages.len() < 5, "paging does not end");
    }
    assert_eq!(pages, [4, 2], "pages are full of visible records");
    let (_, named) = hub.get(OP_A, "/api/udrs?member=ns13").await;
    assert_eq!(named["udrs"].as_array().map(Vec::len), Some(6));
    let (_, by_agreement) = hub.get(OP_A, "/api/udrs?agreement=ns14-ns15").await;
    assert_eq!(by_agreement["udrs"].as_array().map(Vec::len), Some(0));

    // CSV: the same 6.
    let csv = hub
        .http
        .get(hub.url("/api/udrs?format=csv"))
        .bearer_auth(OP_A)
        .send()
        .await
        .expect("answered")
        .text()
        .await
        .expect("text");
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1 + 6, "{csv}");
    assert!(lines[1..].iter().all(|l| l.contains(",ns13,")), "{csv}");

    // Daily aggregates: ns13's groups only, 6 records in all.
    let (status, daily) = hub.get(OP_A, "/api/udrs/daily").await;
    assert_eq!(status, 200, "{daily}");
    let days = daily["days"].as_array().expect("days");
    assert!(days.iter().all(|d| {
        let (sender, receiver) = parties(d);
        sender == "ns13" || receiver == "ns13"
    }));
    let total: u64 = days.iter().filter_map(|d| d["count"].as_u64()).sum();
    assert_eq!(total, 6, "{daily}");
    let csv = hub
        .http
        .get(hub.url("/api/udrs/daily?format=csv"))
        .bearer_auth(OP_A)
        .send()
        .await
        .expect("answered")
        .text()
        .await
        .expect("text");
    assert!(!csv.contains("ns14,ns15"), "{csv}");

    // Naming another operator's member: 403, naming it.
    for path in [
        "/api/udrs?member=ns14",
        "/api/udrs?member=ns14&format=csv",
        "/api/udrs/daily?member=ns14",
        "/api/audit?member=ns14",
    ] {
        assert_forbidden(&hub.get(OP_A, path).await, "ns14");
    }

    // The hub administrator sees everything; operator C its 3 + 1.
    let (_, all) = hub.get(NOC, "/api/udrs").await;
    assert_eq!(all["udrs"].as_array().map(Vec::len), Some(9));
    let (_, daily) = hub.get(NOC, "/api/udrs/daily?member=ns14").await;
    let total: u64 = daily["days"]
        .as_array()
        .expect("days")
        .iter()
        .filter_map(|d| d["count"].as_u64())
        .sum();
    assert_eq!(total, 8);
    let (_, c) = hub.get(OP_C, "/api/udrs").await;
    assert_eq!(c["udrs"].as_array().map(Vec::len), Some(4));

    // The audit log: ns15's refusal is C's, not A's (A was only its receiver).
    let mut audited = Vec::new();
    for _ in 0..100 {
        let (status, page) = hub.get(NOC, "/api/audit").await;
        assert_eq!(status, 200, "{page}");
        audited = page["entries"].as_array().cloned().unwrap_or_default();
        if !audited.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(audited.len(), 1, "{audited:?}");
    let (_, c) = hub.get(OP_C, "/api/audit").await;
    assert_eq!(c["entries"].as_array().map(Vec::len), Some(1), "{c}");
    assert_eq!(c["entries"][0]["member"], "ns15");
    let (_, a) = hub.get(OP_A, "/api/audit").await;
    assert_eq!(a["entries"].as_array().map(Vec::len), Some(0), "{a}");
    hub.running.stop().await.expect("stop");
}

#[tokio::test]
async fn a_scoped_operator_reads_its_policies_and_edits_none() {
    let hub = start_hub().await;
    let ids = |view: &Value, table: &str| -> BTreeSet<String> {
        view[table]
            .as_array()
            .expect(table)
            .iter()
            .filter_map(|e| e["id"].as_str().map(str::to_owned))
            .collect()
    };
    let (status, view) = hub.get(OP_A, "/api/policies").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        ids(&view, "agreement"),
        BTreeSet::from(["ns13-ns14".into()])
    );
    assert_eq!(
        ids(&view, "activation"),
        BTreeSet::from(["ns13-any".into()])
    );
    assert_eq!(view["api_file"], Value::Null);
    let (_, view) = hub.get(NOC, "/api/policies").await;
    assert_eq!(ids(&view, "agreement").len(), 2);
    assert_eq!(ids(&view, "activation").len(), 2);

    // No edit, no reload, not even of its own agreement.
    let terms = json!({"between": ["ns13", "ns15"]});
    for (method, path, body) in [
        (
            "PUT",
            "/api/policies/agreements/ns13-ns15",
            Some(terms.clone()),
        ),
        ("DELETE", "/api/policies/agreements/ns13-ns14", None),
        (
            "PUT",
            "/api/policies/activations/x",
            Some(json!({"ns": "ns13", "js": "*", "allow": true})),
        ),
        ("DELETE", "/api/policies/activations/ns13-any", None),
        ("POST", "/api/policies/reload", None),
        ("POST", "/api/members/reload", None),
    ] {
        let answer = hub.call(OP_A, method, path, body).await;
        assert_forbidden(&answer, "only hub administrators");
    }
    let (status, _) = hub
        .call(
            NOC,
            "PUT",
            "/api/policies/agreements/ns13-ns15",
            Some(terms),
        )
        .await;
    assert_eq!(status, 201, "the administrator still edits");

    // Explanations: only of messages one of its members sends or receives.
    let question = |sender: &str, receiver: &str| json!({"sender": sender, "receiver": receiver, "message_type": "PRStartReq"});
    let answer = hub
        .call(
            OP_A,
            "POST",
            "/api/policies/explain",
            Some(question("ns14", "ns15")),
        )
        .await;
    assert_forbidden(&answer, "neither ns14 nor ns15");
    let (status, explained) = hub
        .call(
            OP_A,
            "POST",
            "/api/policies/explain",
            Some(question("ns15", "ns13")),
        )
        .await;
    assert_eq!(status, 200, "{explained}");
    assert_eq!(explained["decision"]["allowed"], true, "{explained}");
    hub.running.stop().await.expect("stop");
}

#[tokio::test]
async fn a_scoped_operator_edits_only_its_own_members_of_the_api_file() {
    let hub = start_hub().await;
    let ids = |body: &Value| -> Vec<String> {
        body["members"]
            .as_array()
            .expect("members")
            .iter()
            .filter_map(|m| m["id"].as_str().map(str::to_owned))
            .collect()
    };
    let (_, listed) = hub.get(OP_A, "/api/members").await;
    assert_eq!(ids(&listed), ["ns13"]);
    let (status, missing) = hub.get(OP_A, "/api/members/ns14").await;
    assert_eq!(
        (status, missing["error"].as_str()),
        (404, Some("unknown_member"))
    );
    let (status, _) = hub.get(OP_A, "/api/members/ns13").await;
    assert_eq!(status, 200);

    // Only the administrator creates members, even one a scoped operator will operate.
    let ns16 = |url: &str| json!({"url": url, "token": "token-of-member-ns16", "net_id": "000016"});
    let answer = hub
        .call(
            OP_B,
            "PUT",
            "/api/members/ns18",
            Some(json!({"url": "http://127.0.0.1:1/bi",
            "token": "token-of-member-ns18", "net_id": "000018"})),
        )
        .await;
    assert_forbidden(&answer, "only hub administrators create members");
    let answer = hub
        .call(
            OP_B,
            "PUT",
            "/api/members/ns17",
            Some(ns16("http://127.0.0.1:1/bi")),
        )
        .await;
    assert_forbidden(&answer, "not ns17");
    let (status, body) = hub
        .call(
            NOC,
            "PUT",
            "/api/members/ns16",
            Some(ns16("http://127.0.0.1:1/bi")),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // Its own member of the API file: B replaces and removes it; A may not touch it.
    let (status, body) = hub
        .call(
            OP_B,
            "PUT",
            "/api/members/ns16",
            Some(ns16("http://127.0.0.1:2/bi")),
        )
        .await;
    assert_eq!(
        (status, body["applied"].as_str()),
        (200, Some("replaced")),
        "{body}"
    );
    let (_, shown) = hub.get(OP_B, "/api/members/ns16").await;
    assert_eq!(shown["url"], "http://127.0.0.1:2/bi");
    // Its endpoint and credentials, yes; what it claims (its NetID here), no.
    let (status, body) = hub
        .call(
            OP_B,
            "PUT",
            "/api/members/ns16",
            Some(json!({"url": "http://127.0.0.1:2/bi",
            "token": "token-of-member-ns16", "net_id": "000019"})),
        )
        .await;
    assert_forbidden(
        &(status, body),
        "may not change what member \"ns16\" claims (net_id)",
    );
    let (_, shown) = hub.get(OP_B, "/api/members/ns16").await;
    assert_eq!(shown["net_id"], "000016", "{shown}");
    let (_, listed) = hub.get(OP_B, "/api/members").await;
    assert_eq!(ids(&listed), ["ns14", "ns16"]);
    assert_forbidden(
        &hub.call(
            OP_A,
            "PUT",
            "/api/members/ns16",
            Some(ns16("http://127.0.0.1:3/bi")),
        )
        .await,
        "not ns16",
    );
    assert_forbidden(
        &hub.call(OP_A, "DELETE", "/api/members/ns16", None).await,
        "not ns16",
    );
    // Its member of the operator's file stays the operator's.
    let (status, body) = hub
        .call(
            OP_B,
            "PUT",
            "/api/members/ns14",
            Some(json!({"url": "http://127.0.0.1:1/bi",
            "token": "token-of-member-ns14-new", "net_id": "000014"})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("defined_in_file")),
        "{body}"
    );
    let (status, body) = hub.call(OP_B, "DELETE", "/api/members/ns16", None).await;
    assert_eq!(
        (status, body["applied"].as_str()),
        (200, Some("removed")),
        "{body}"
    );
    let (_, listed) = hub.get(NOC, "/api/members").await;
    assert_eq!(ids(&listed), ["ns13", "ns14", "ns15"]);
    hub.running.stop().await.expect("stop");
}
