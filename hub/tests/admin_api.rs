//! The hub's admin API over HTTP, on the real hub with real member servers on 127.0.0.1:
//! operator authentication, members, policy edits that take effect at once and survive a
//! reload, explanations, UDR pages, CSV export and daily aggregates (on SQLite and
//! PostgreSQL), and the OpenAPI document against the routes both ways.

mod common;

use common::start_receiver;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use serde_json::{json, Value};
use service::daemon::Running;
use service::testing::{Engine, ScratchDatabase};

const OPERATOR: &str = "operator-token-0123456789";

async fn start_member() -> SocketAddr {
    start_receiver().await.1
}

struct Hub {
    running: Running,
    policies: std::path::PathBuf,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    _scratch: ScratchDatabase,
}

impl Hub {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.local_addr)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        common::call_json(&self.http, self.url(path), OPERATOR, method, body).await
    }

    async fn bi(&self, token: &str, message: &Value) -> Value {
        common::post_bi(&self.http, self.url("/bi"), token, message).await
    }
}

/// ns13 (NetID 000013) and ns14 (000014); one file agreement, ns13/ns14-file, which the
/// tests must not be able to edit through the API.
async fn start_hub(engine: Engine) -> Hub {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut members = String::new();
    for (name, net_id) in [("ns13", "000013"), ("ns14", "000014"), ("ns15", "000015")] {
        let addr = start_member().await;
        members.push_str(&format!(
            "[[member]]\nid = \"{name}\"\nurl = \"http://{addr}/bi\"\n\
             token = \"token-of-member-{name}\"\noutbound_token = \"secret-outbound-{name}\"\n\
             net_id = \"{net_id}\"\n\n"
        ));
    }
    let members_path = dir.path().join("members.toml");
    std::fs::write(&members_path, members).expect("members file");
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).expect("policies dir");
    std::fs::write(
        policies.join("operators.toml"),
        "[[agreement]]\nid = \"ns13/ns14-file\"\nbetween = [\"ns13\", \"ns14\"]\n",
    )
    .expect("policy file");
    let config_path = dir.path().join("hub.toml");
    std::fs::write(
        &config_path,
        format!("[[operators]]\nname = \"noc\"\ntoken = \"{OPERATOR}\"\n"),
    )
    .expect("config");
    let scratch = ScratchDatabase::create(engine).await;
    let running =
        common::start_hub_from(&config_path, &scratch.config.url, &members_path, &policies).await;
    Hub {
        running,
        policies,
        http: reqwest::Client::new(),
        _dir: dir,
        _scratch: scratch,
    }
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

#[tokio::test]
async fn only_operators_get_in_and_members_show_without_their_tokens() {
    let hub = start_hub(Engine::Sqlite).await;
    for token in [
        None,
        Some("token-of-member-ns13"),
        Some("not-a-token-at-all"),
    ] {
        let mut request = hub.http.get(hub.url("/api/members"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("answered");
        assert_eq!(response.status().as_u16(), 401, "token {token:?}");
        assert_eq!(
            response.headers()["www-authenticate"].to_str().ok(),
            Some("Bearer")
        );
        let body: Value =
            serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON");
        assert_eq!(body["error"], "unauthorized");
    }

    let (status, body) = hub.call("GET", "/api/members", None).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, ["ns13", "ns14", "ns15"]);
    let text = body.to_string();
    assert!(
        !text.contains("token-of-member") && !text.contains("secret-outbound"),
        "tokens leak: {text}"
    );
    let (status, member) = hub.call("GET", "/api/members/ns14", None).await;
    assert_eq!(status, 200);
    assert_eq!(member["net_id"], "000014");
    assert_eq!(member["protocol"], "1.1");
    assert_eq!(member["dialect"], "canonical");
    let (status, missing) = hub.call("GET", "/api/members/nobody", None).await;
    assert_eq!(
        (status, missing["error"].as_str()),
        (404, Some("unknown_member"))
    );
    let (status, bad) = hub.call("GET", "/api/members?limt=5", None).await;
    assert_eq!((status, bad["field"].as_str()), (400, Some("limt")));
    hub.running.stop().await.expect("stop");
}

#[tokio::test]
async fn policy_edits_take_effect_at_once_explain_themselves_and_survive_a_reload() {
    let hub = start_hub(Engine::Sqlite).await;
    let ns15 = "token-of-member-ns15";

    // No agreement between ns15 and ns13 yet: refused, and explain says so.
    let answer = hub.bi(ns15, &pr_start_req("000015", "000013", 1)).await;
    assert_eq!(code(&answer), "NoRoamingAgreement", "{answer}");
    let question = json!({"sender": "ns15", "receiver": "ns13", "message_type": "PRStartReq"});
    let (status, explained) = hub
        .call("POST", "/api/policies/explain", Some(question.clone()))
        .await;
    assert_eq!(status, 200, "{explained}");
    assert_eq!(explained["decision"]["allowed"], false);
    assert_eq!(explained["decision"]["result_code"], "NoRoamingAgreement");

    // The refusal is in the audit log (written in the background: wait, bounded).
    let mut audited = Value::Null;
    for _ in 0..100 {
        let (status, page) = hub
            .call(
                "GET",
                "/api/audit?member=ns15&result_code=NoRoamingAgreement",
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        if page["entries"].as_array().is_some_and(|e| !e.is_empty()) {
            audited = page["entries"][0].clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(audited["transaction_id"], 1, "{audited}");
    assert_eq!(audited["sender_id"], "000015");
    assert_eq!(audited["receiver_id"], "000013");

    // An agreement through the API: in force for the next message, named by explain.
    let terms = json!({"between": ["ns15", "ns13"], "rate_limit": 100});
    let (status, created) = hub
        .call(
            "PUT",
            "/api/policies/agreements/ns15-ns13",
            Some(terms.clone()),
        )
        .await;
    assert_eq!(
        (status, created["applied"].as_str()),
        (201, Some("created")),
        "{created}"
    );
    let answer = hub.bi(ns15, &pr_start_req("000015", "000013", 2)).await;
    assert_eq!(code(&answer), "Success", "{answer}");
    let (_, explained) = hub
        .call("POST", "/api/policies/explain", Some(question.clone()))
        .await;
    assert_eq!(explained["decision"]["allowed"], true, "{explained}");
    assert_eq!(explained["decision"]["rule"], "ns15-ns13");
    let (status, replaced) = hub
        .call("PUT", "/api/policies/agreements/ns15-ns13", Some(terms))
        .await;
    assert_eq!(
        (status, replaced["applied"].as_str()),
        (200, Some("replaced"))
    );

    // The edit is a file of the directory: a reload keeps it.
    assert!(hub.policies.join("api.toml").exists());
    let (status, reloaded) = hub.call("POST", "/api/policies/reload", None).await;
    assert_eq!(status, 200, "{reloaded}");
    let ids: BTreeSet<&str> = reloaded["agreement"]
        .as_array()
        .expect("agreements")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(ids, BTreeSet::from(["ns13/ns14-file", "ns15-ns13"]));

    // Refused edits change nothing: an operator's file entry, an overlapping agreement, a
    // body whose id contradicts the path, an unknown key, a missing entry.
    let (status, body) = hub
        .call(
            "PUT",
            "/api/policies/agreements/ns13/ns14-file",
            Some(json!({"between": ["ns13", "ns14"]})),
        )
        .await;
    assert_eq!(status, 404, "a slash is not part of an id path: {body}");
    let (status, body) = hub
        .call("DELETE", "/api/policies/agreements/ns13%2Fns14-file", None)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("defined_in_file")),
        "{body}"
    );
    let (status, body) = hub
        .call(
            "PUT",
            "/api/policies/agreements/again",
            Some(json!({"between": ["ns13", "ns15"]})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_policies")),
        "{body}"
    );
    assert!(
        body["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("same time")),
        "{body}"
    );
    let (status, body) = hub
        .call(
            "PUT",
            "/api/policies/agreements/x",
            Some(json!({"id": "y", "between": ["ns13", "ns15"]})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("id")),
        "{body}"
    );
    let (status, body) = hub
        .call(
            "PUT",
            "/api/policies/activations/r",
            Some(json!({"ns": "*", "js": "*", "allow": true, "colour": "red"})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("colour")),
        "{body}"
    );
    let (status, body) = hub
        .call("DELETE", "/api/policies/activations/none", None)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );

    // Removed: refused again.
    let (status, _) = hub
        .call("DELETE", "/api/policies/agreements/ns15-ns13", None)
        .await;
    assert_eq!(status, 200);
    let answer = hub.bi(ns15, &pr_start_req("000015", "000013", 3)).await;
    assert_eq!(code(&answer), "NoRoamingAgreement", "{answer}");

    // A broken file: reload refuses, naming it, and the policies in force stay.
    std::fs::write(hub.policies.join("broken.toml"), "[[agreement]]\nid = 3\n").expect("write");
    let (status, body) = hub.call("POST", "/api/policies/reload", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_policies")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("broken.toml")),
        "{body}"
    );
    let answer = hub
        .bi("token-of-member-ns13", &pr_start_req("000013", "000014", 4))
        .await;
    assert_eq!(code(&answer), "Success", "{answer}");
    hub.running.stop().await.expect("stop");
}

#[tokio::test]
async fn usage_records_page_export_and_aggregate_on_both_engines() {
    for engine in Engine::ALL {
        let hub = start_hub(engine).await;
        let ns13 = "token-of-member-ns13";
        for tid in 0..25 {
            let answer = hub.bi(ns13, &pr_start_req("000013", "000014", tid)).await;
            assert_eq!(code(&answer), "Success", "{answer}");
        }
        // One refusal: no agreement between ns13 and ns15.
        let answer = hub.bi(ns13, &pr_start_req("000013", "000015", 99)).await;
        assert_eq!(code(&answer), "NoRoamingAgreement");

        // JSON pages of 10: 26 records, in id order, then no next page.
        let mut seen = Vec::new();
        let mut path = "/api/udrs?member=ns13&limit=10".to_owned();
        loop {
            let (status, page) = hub.call("GET", &path, None).await;
            assert_eq!(status, 200, "{engine:?}: {page}");
            seen.extend(page["udrs"].as_array().expect("udrs").iter().cloned());
            match page["next_after"].as_i64() {
                Some(after) => path = format!("/api/udrs?member=ns13&limit=10&after={after}"),
                None => break,
            }
            assert!(seen.len() <= 30, "paging does not end");
        }
        assert_eq!(seen.len(), 26, "{engine:?}");
        let ids: Vec<i64> = seen.iter().filter_map(|u| u["id"].as_i64()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let (_, by_agreement) = hub
            .call("GET", "/api/udrs?agreement=ns13/ns14-file", None)
            .await;
        assert_eq!(by_agreement["udrs"].as_array().map(Vec::len), Some(25));

        // CSV: a header and one line per record, the refusal among them.
        let response = hub
            .http
            .get(hub.url("/api/udrs?member=ns15"))
            .bearer_auth(OPERATOR)
            .header("accept", "text/csv")
            .send()
            .await
            .expect("answered");
        assert_eq!(
            response.headers()["content-type"].to_str().ok(),
            Some("text/csv; charset=utf-8")
        );
        let csv = response.text().await.expect("text");
        let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 2, "{csv}");
        assert!(lines[0].starts_with("id,received_at,"), "{csv}");
        assert!(lines[1].contains(",NoRoamingAgreement,"), "{csv}");

        // Daily aggregates: Success 25 under the agreement, the refusal on its own.
        let (status, daily) = hub.call("GET", "/api/udrs/daily?member=ns13", None).await;
        assert_eq!(status, 200, "{daily}");
        let counts: BTreeMap<&str, u64> = daily["days"]
            .as_array()
            .expect("days")
            .iter()
            .map(|d| {
                (
                    d["result_code"].as_str().unwrap_or_default(),
                    d["count"].as_u64().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            counts,
            BTreeMap::from([("NoRoamingAgreement", 1), ("Success", 25)])
        );

        // Malformed queries are named.
        for (path, field) in [
            ("/api/udrs?from=yesterday", "from"),
            ("/api/udrs?limit=0", "limit"),
            ("/api/udrs?format=xml", "format"),
            (
                "/api/udrs?from=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
                "from",
            ),
        ] {
            let (status, body) = hub.call("GET", path, None).await;
            assert_eq!(
                (status, body["field"].as_str()),
                (400, Some(field)),
                "{path}: {body}"
            );
        }
        hub.running.stop().await.expect("stop");
    }
}

#[tokio::test]
async fn the_openapi_document_describes_exactly_the_served_routes() {
    let document: Value =
        serde_json::from_str(hub::api::admin::OPENAPI_DOCUMENT).expect("OpenAPI is JSON");
    assert_eq!(document["openapi"], "3.1.0");
    let mut described = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            described.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = hub::api::admin::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(described, served);
    // Every $ref resolves.
    let text = document.to_string();
    for reference in text.split("\"$ref\":\"#/").skip(1) {
        let pointer = format!("/{}", reference.split('"').next().unwrap_or_default());
        assert!(document.pointer(&pointer).is_some(), "dangling {pointer}");
    }
    // Served without a token, every route answers something other than 405.
    let hub = start_hub(Engine::Sqlite).await;
    let response = hub
        .http
        .get(hub.url("/api/openapi.json"))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status().as_u16(), 200);
    let served_document: Value =
        serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON");
    assert_eq!(served_document, document);
    for (method, path) in hub::api::admin::ROUTES {
        let path = path.replace("{id}", "x");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let status = hub
            .http
            .request(method.clone(), hub.url(&path))
            .send()
            .await
            .expect("answered")
            .status()
            .as_u16();
        assert_ne!(status, 405, "{method} {path}");
    }
    hub.running.stop().await.expect("stop");
}

#[tokio::test]
async fn members_are_added_changed_and_removed_through_the_api() {
    let hub = start_hub(Engine::Sqlite).await;
    let addr = start_member().await;
    let token = "token-of-member-ns16-added";
    let ns16 = json!({"url": format!("http://{addr}/bi"), "token": token, "net_id": "000016"});

    // Unknown before; added, it is in force for its next message at once.
    let answer = hub.bi(token, &pr_start_req("000016", "000013", 1)).await;
    assert_eq!(code(&answer), "UnknownSender", "{answer}");
    let (status, body) = hub
        .call("PUT", "/api/members/ns16", Some(ns16.clone()))
        .await;
    assert_eq!(
        (status, body["applied"].as_str()),
        (201, Some("created")),
        "{body}"
    );
    let (status, shown) = hub.call("GET", "/api/members/ns16", None).await;
    assert_eq!(
        (status, shown["net_id"].as_str()),
        (200, Some("000016")),
        "{shown}"
    );
    assert!(
        !shown.to_string().contains(token),
        "the token leaks: {shown}"
    );
    let answer = hub.bi(token, &pr_start_req("000016", "000013", 2)).await;
    assert_eq!(code(&answer), "NoRoamingAgreement", "{answer}");
    let (status, _) = hub
        .call(
            "PUT",
            "/api/policies/agreements/ns16-ns13",
            Some(json!({"between": ["ns16", "ns13"]})),
        )
        .await;
    assert_eq!(status, 201);
    let answer = hub.bi(token, &pr_start_req("000016", "000013", 3)).await;
    assert_eq!(code(&answer), "Success", "{answer}");
    // Routed to as well: ns13 reaches it by NetID.
    let answer = hub
        .bi("token-of-member-ns13", &pr_start_req("000013", "000016", 4))
        .await;
    assert_eq!(code(&answer), "Success", "{answer}");

    // Refused edits change nothing: the operator's member, a NetID clash, a short token.
    let (status, body) = hub
        .call("PUT", "/api/members/ns13", Some(ns16.clone()))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("defined_in_file")),
        "{body}"
    );
    let clash = json!({"url": "http://127.0.0.1:1/bi", "token": "another-long-token-here", "net_id": "000013"});
    let (status, body) = hub.call("PUT", "/api/members/clash", Some(clash)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_members")),
        "{body}"
    );
    assert!(
        body["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("000013")),
        "{body}"
    );
    let short = json!({"url": "http://127.0.0.1:1/bi", "token": "short", "net_id": "000017"});
    let (status, body) = hub.call("PUT", "/api/members/short", Some(short)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_members")),
        "{body}"
    );
    let (status, body) = hub
        .call(
            "PUT",
            "/api/members/x",
            Some(json!({"url": "http://a/bi", "colour": 1})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("colour")),
        "{body}"
    );

    // Kept in the API's file: a reload keeps ns16.
    let (status, body) = hub.call("POST", "/api/members/reload", None).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, ["ns13", "ns14", "ns15", "ns16"]);

    // Removed: unknown again.
    let (status, body) = hub.call("DELETE", "/api/members/ns16", None).await;
    assert_eq!(
        (status, body["applied"].as_str()),
        (200, Some("removed")),
        "{body}"
    );
    let answer = hub.bi(token, &pr_start_req("000016", "000013", 5)).await;
    assert_eq!(code(&answer), "UnknownSender", "{answer}");
    let (status, body) = hub.call("DELETE", "/api/members/ns16", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    hub.running.stop().await.expect("stop");
}
