//! The admin REST API of the real jsd over HTTP on a loopback port, on both database engines:
//! import, claim, unclaim, show, list, AppSKey delivery, keys, authentication, every error
//! status and code, and the OpenAPI document against the served routes.

use std::collections::{BTreeMap, BTreeSet};

use jsd::api::admin::{OPENAPI_DOCUMENT, ROUTES};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};
use service::daemon::{Daemon, Running};
use service::testing::{Engine, ScratchDatabase};

const OPS: &str = "operator-token-0000001";
const NS13: &str = "network-13-token-00001";
const NS14: &str = "network-14-token-00001";
const MASTER_KEY: &str = "000102030405060708090a0b0c0d0e0f";
const APP_KEY: &str = "2B7E151628AED2A6ABF7158809CF4F3C";
const NWK_KEY: &str = "000102030405060708090A0B0C0D0E0F";
/// A well-formed owner token no device has.
const WRONG_TOKEN: &str = "00112233445566778899AABBCCDDEEFF";

const PEERS: &str = r#"
[[peers]]
name = "ops"
token = "operator-token-0000001"
operator = true

[[peers]]
name = "ns-13"
token = "network-13-token-00001"
net_ids = ["000013"]

[[peers]]
name = "ns-14"
token = "network-14-token-00001"
net_ids = ["000014"]
"#;

/// Generous limits, for tests that claim the same device a few times.
const EASY_CLAIMS: &str = "[claims]\nper_device_burst = 50\n";

/// The jsd under test, with a client.
struct Jsd {
    daemon: Running,
    base: String,
    http: reqwest::Client,
    scratch: ScratchDatabase,
    _dir: tempfile::TempDir,
}

/// One HTTP answer.
struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
    json: Value,
}

impl Jsd {
    /// Starts the jsd on `engine` with the three peers and `extra` config (e.g. `[claims]`),
    /// loaded the way an operator's would be: a TOML file plus `JSD_…` overrides.
    async fn start(engine: Engine, extra: &str) -> Self {
        let scratch = ScratchDatabase::create(engine).await;
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("jsd.toml");
        std::fs::write(&path, format!("{extra}\n{PEERS}")).expect("write config");
        let env: BTreeMap<String, String> = [
            ("JSD_SERVER__LISTEN", "127.0.0.1:0"),
            ("JSD_DATABASE__URL", scratch.config.url.as_str()),
            ("JSD_KEYS__MASTER_KEY", MASTER_KEY),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let config: jsd::Config =
            service::config::load(Some(&path), "JSD", &env).expect("config loads");
        let daemon = jsd::Jsd::start(&config).await.expect("jsd starts");
        Self {
            base: format!("http://{}", daemon.local_addr),
            daemon,
            http: reqwest::Client::new(),
            scratch,
            _dir: dir,
        }
    }

    async fn stop(self) {
        self.daemon.stop().await.expect("clean stop");
        self.scratch.drop_now().await;
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, String)>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, body)) = body {
            if !content_type.is_empty() {
                request = request.header(CONTENT_TYPE, content_type);
            }
            request = request.body(body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        let body = Some(("application/json", body.to_string()));
        self.call(Method::POST, path, Some(token), body).await
    }

    async fn put(&self, path: &str, token: &str, body: Value) -> Answer {
        let body = Some(("application/json", body.to_string()));
        self.call(Method::PUT, path, Some(token), body).await
    }

    async fn import(&self, content_type: &str, file: String, batch: Option<&str>) -> Answer {
        let path = match batch {
            Some(batch) => format!("/api/imports?batch={batch}"),
            None => "/api/imports".to_owned(),
        };
        self.call(Method::POST, &path, Some(OPS), Some((content_type, file)))
            .await
    }

    /// Imports `dev_euis` as CSV and returns their owner tokens, in order.
    async fn import_devices(&self, dev_euis: &[u64]) -> Vec<String> {
        let answer = self.import("text/csv", csv(dev_euis), None).await;
        let body = answer.ok(201);
        body["devices"]
            .as_array()
            .expect("devices")
            .iter()
            .map(|d| d["owner_token"].as_str().expect("token").to_owned())
            .collect()
    }

    async fn claim(&self, token: &str, dev_eui: u64, owner_token: &str, net_id: &str) -> Answer {
        self.post(
            &format!("/api/devices/{}/claim", eui(dev_eui)),
            token,
            json!({"owner_token": owner_token, "home_net_id": net_id}),
        )
        .await
    }
}

impl Answer {
    /// The body of a successful answer with `status`.
    fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{}", self.text);
        &self.json
    }

    /// The body of an error answer: `status`, JSON, `code`, a message, and a code the OpenAPI
    /// document lists.
    fn error(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "{}", self.text);
        let content_type = self.headers.get(CONTENT_TYPE).map(|v| v.as_bytes());
        assert_eq!(
            content_type,
            Some(&b"application/json"[..]),
            "{}",
            self.text
        );
        assert_eq!(self.json["error"], code, "{}", self.text);
        assert!(self.json["message"].is_string(), "{}", self.text);
        assert!(
            documented_error_codes().contains(code),
            "{code} undocumented"
        );
        &self.json
    }
}

fn eui(n: u64) -> String {
    format!("{n:016x}")
}

/// A CSV manufacturer file of 1.0.3 devices.
fn csv(dev_euis: &[u64]) -> String {
    let mut file = "DevEUI,JoinEUI,AppKey,LoRaWANVersion\n".to_owned();
    for dev_eui in dev_euis {
        file.push_str(&format!(
            "{:016X},70B3D57ED0000000,{APP_KEY},1.0.3\n",
            dev_eui
        ));
    }
    file
}

fn openapi() -> Value {
    serde_json::from_str(OPENAPI_DOCUMENT).expect("the OpenAPI document is JSON")
}

fn documented_error_codes() -> BTreeSet<String> {
    openapi()["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
        .as_array()
        .expect("error codes")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect()
}

fn states(list: &Value) -> Vec<(String, String)> {
    list["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| {
            (
                d["dev_eui"].as_str().unwrap_or_default().to_owned(),
                d["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

const D1: u64 = 0x70b3_d57e_d000_0001;
const D2: u64 = 0x70b3_d57e_d000_0002;
const D3: u64 = 0x70b3_d57e_d000_0003;
const D4: u64 = 0x70b3_d57e_d000_0004;
const D5: u64 = 0x70b3_d57e_d000_0005;
const UNKNOWN: u64 = 0x70b3_d57e_d000_00ff;

#[tokio::test]
async fn imports_json_and_csv_files_and_answers_each_owner_token_once() {
    for engine in Engine::ALL {
        let jsd = Jsd::start(engine, "").await;

        // CSV, named by Content-Type, with a batch name.
        let answer = jsd
            .import("text/csv; charset=utf-8", csv(&[D1, D2]), Some("lot-7"))
            .await;
        let body = answer.ok(201);
        assert_eq!(body["batch"], "lot-7");
        assert_eq!(body["imported"], 2);
        assert_eq!(body["devices"][0]["dev_eui"], eui(D1));
        let token = body["devices"][0]["owner_token"].as_str().expect("token");
        assert!(
            token.len() == 32 && token.chars().all(|c| c.is_ascii_hexdigit()),
            "{token}"
        );
        assert_eq!(
            answer.headers.get("cache-control").map(|v| v.as_bytes()),
            Some(&b"no-store"[..])
        );

        // JSON (a 1.1 device), named by Content-Type; the default batch name.
        let file = json!([{"DevEUI": eui(D3), "JoinEUI": "70B3D57ED0000000", "AppKey": APP_KEY,
                           "NwkKey": NWK_KEY, "LoRaWANVersion": "1.1"}]);
        let body = jsd
            .import("application/json", file.to_string(), None)
            .await
            .ok(201)
            .clone();
        assert_eq!(body["imported"], 1);
        let batch = body["batch"].as_str().expect("batch");
        assert!(
            batch.starts_with("import at ") && batch.ends_with(" by ops"),
            "{batch}"
        );

        // No Content-Type: detected (`{` is JSON).
        let file = json!({"devices": [{"dev_eui": eui(D4), "join_eui": "70B3D57ED0000000",
                                       "app_key": APP_KEY, "mac_version": "1.0.2"}]});
        let answer = jsd.import("", file.to_string(), None).await;
        assert_eq!(answer.ok(201)["imported"], 1);

        // The devices exist, generic, with the batch in their history; no token anywhere.
        let device = jsd.get(&format!("/api/devices/{}", eui(D1)), OPS).await;
        let device = device.ok(200);
        assert_eq!(device["state"], "generic");
        assert_eq!(device["mac_version"], "1.0.3");
        assert_eq!(device["history"][0]["kind"], "imported");
        assert!(device["history"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("lot-7"));
        assert!(!device.to_string().contains(token));
        let device = jsd.get(&format!("/api/devices/{}", eui(D3)), OPS).await;
        assert_eq!(device.ok(200)["mac_version"], "1.1.0");

        // Network peers may not import.
        let answer = jsd
            .call(
                Method::POST,
                "/api/imports",
                Some(NS13),
                Some(("text/csv", csv(&[D5]))),
            )
            .await;
        answer.error(403, "forbidden");
        jsd.stop().await;
    }
}

#[tokio::test]
async fn a_bad_import_is_refused_whole_with_every_line_and_a_duplicate_with_its_dev_euis() {
    for engine in Engine::ALL {
        let jsd = Jsd::start(engine, "").await;
        // Line 1 is the header; line 3 has a short AppKey, line 4 an unknown version.
        let file = format!(
            "DevEUI,JoinEUI,AppKey,LoRaWANVersion\n\
             {:016X},70B3D57ED0000000,{APP_KEY},1.0.3\n\
             {:016X},70B3D57ED0000000,2B7E15,1.0.3\n\
             {:016X},70B3D57ED0000000,{APP_KEY},9.9\n",
            D1, D2, D3
        );
        let answer = jsd.import("text/csv", file, None).await;
        let body = answer.error(422, "invalid_import");
        let errors = body["errors"].as_array().expect("errors");
        let lines: Vec<_> = errors.iter().map(|e| e["line"].as_u64()).collect();
        assert_eq!(lines, [Some(3), Some(4)], "{body}");
        assert_eq!(errors[0]["field"], "AppKey", "{body}");
        assert!(errors[0]["reason"].is_string());
        // Nothing was imported, not even the good line 2.
        let list = jsd.get("/api/devices", OPS).await;
        assert_eq!(list.ok(200)["devices"], json!([]));
        jsd.get(&format!("/api/devices/{}", eui(D1)), OPS)
            .await
            .error(404, "not_pre_commissioned");

        // Not JSON at all, declared as JSON.
        let answer = jsd.import("application/json", "[{".to_owned(), None).await;
        let body = answer.error(422, "invalid_import");
        assert_eq!(body["errors"][0]["line"], 1);

        // A duplicate: the whole second file is refused and names the DevEUI.
        jsd.import_devices(&[D1, D2]).await;
        let answer = jsd.import("text/csv", csv(&[D3, D2]), None).await;
        let body = answer.error(409, "already_imported");
        assert_eq!(body["dev_euis"], json!([eui(D2)]));
        jsd.get(&format!("/api/devices/{}", eui(D3)), OPS)
            .await
            .error(404, "not_pre_commissioned");
        jsd.stop().await;
    }
}

#[tokio::test]
async fn claims_answer_claimed_already_yours_and_each_refusal_with_its_status() {
    for engine in Engine::ALL {
        let jsd = Jsd::start(engine, EASY_CLAIMS).await;
        let tokens = jsd.import_devices(&[D1, D2, D3]).await;

        let answer = jsd.claim(NS13, D1, &tokens[0], "000013").await;
        let body = answer.ok(200);
        assert_eq!(body["outcome"], "claimed");
        assert_eq!(body["device"]["state"], "claimed");
        assert_eq!(body["device"]["home_net_id"], "000013");
        // A retry, with the token typed in lower case and groups.
        let typed = tokens[0]
            .to_lowercase()
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-");
        let answer = jsd.claim(NS13, D1, &typed, "000013").await;
        assert_eq!(answer.ok(200)["outcome"], "already_yours");

        jsd.claim(NS13, D2, WRONG_TOKEN, "000013")
            .await
            .error(403, "invalid_token");
        jsd.claim(NS13, UNKNOWN, WRONG_TOKEN, "000013")
            .await
            .error(404, "not_pre_commissioned");
        // The right token, but D1 is home at NetID 000013.
        jsd.claim(NS14, D1, &tokens[0], "000014")
            .await
            .error(409, "already_claimed");
        // A network claiming for a NetID it does not own.
        jsd.claim(NS13, D3, &tokens[2], "000014")
            .await
            .error(403, "forbidden");
        // The operator may claim for any NetID, with an NSID.
        let answer = jsd
            .post(
                &format!("/api/devices/{}/claim", eui(D3)),
                OPS,
                json!({"owner_token": tokens[2], "home_net_id": "000014",
                       "home_nsid": "70b3d57ef0000014"}),
            )
            .await;
        let device = &answer.ok(200)["device"];
        assert_eq!(device["home_net_id"], "000014");
        assert_eq!(device["home_nsid"], "70b3d57ef0000014");
        assert_eq!(device["history"][1]["kind"], "claimed");
        jsd.stop().await;
    }
}

#[tokio::test]
async fn claim_attempts_are_rate_limited_with_retry_after() {
    let limits = "[claims]\nper_device_burst = 2\nper_device_refill_s = 600\n\
                  per_caller_burst = 4\nper_caller_refill_ms = 3600000\n";
    for engine in Engine::ALL {
        let jsd = Jsd::start(engine, limits).await;
        let tokens = jsd.import_devices(&[D1, D2, D3, D4]).await;
        jsd.claim(NS13, D1, &tokens[0], "000013").await.ok(200);
        jsd.claim(NS13, D1, WRONG_TOKEN, "000013")
            .await
            .error(403, "invalid_token");
        // The third attempt on D1, even with the right token, waits.
        let answer = jsd.claim(NS13, D1, &tokens[0], "000013").await;
        let body = answer.error(429, "rate_limited");
        assert_eq!(body["limit"], "device");
        let retry_after: u64 = answer
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in seconds");
        assert!((1..=600).contains(&retry_after), "{retry_after}");
        assert_eq!(body["retry_after_s"], retry_after);

        // Per caller: ns-13 has two attempts left in its burst of 4 (the refused one did not
        // count), then it waits on any device; ns-14 does not.
        jsd.claim(NS13, D2, &tokens[1], "000013").await.ok(200);
        let answer = jsd.claim(NS13, D2, &tokens[1], "000013").await;
        assert_eq!(answer.ok(200)["outcome"], "already_yours");
        let answer = jsd.claim(NS13, D3, &tokens[2], "000013").await;
        assert_eq!(answer.error(429, "rate_limited")["limit"], "caller");
        let retry_after = answer.headers.get("retry-after").expect("Retry-After");
        assert!(retry_after.to_str().is_ok_and(|v| v.parse::<u64>().is_ok()));
        jsd.claim(NS14, D3, &tokens[2], "000014").await.ok(200);
        jsd.stop().await;
    }
}

#[tokio::test]
async fn home_networks_and_operators_unclaim() {
    for engine in Engine::ALL {
        let jsd = Jsd::start(engine, EASY_CLAIMS).await;
        let tokens = jsd.import_devices(&[D1, D2, D3]).await;
        let unclaim = |dev_eui: u64| format!("/api/devices/{}/unclaim", eui(dev_eui));
        jsd.claim(NS13, D1, &tokens[0], "000013").await.ok(200);
        jsd.post(
            &format!("/api/devices/{}/claim", eui(D2)),
            NS13,
            json!({"owner_token": tokens[1], "home_net_id": "000013",
                   "home_nsid": "0000000000000013"}),
        )
        .await
        .ok(200);

        // The home network unclaims as its NetID.
        let body = jsd
            .post(&unclaim(D1), NS13, json!({"home_net_id": "000013"}))
            .await;
        let body = body.ok(200);
        assert_eq!(body["state"], "unclaimed");
        assert_eq!(body["history"][2]["kind"], "unclaimed");
        // Once unclaimed, it is the operator's (a network no longer sees it) ...
        jsd.post(&unclaim(D1), NS13, json!({"home_net_id": "000013"}))
            .await
            .error(404, "not_pre_commissioned");
        jsd.post(&unclaim(D1), OPS, json!({}))
            .await
            .error(409, "not_claimed");
        // ... and claimable again, by another network, with the same token.
        jsd.claim(NS14, D1, &tokens[0], "000014").await.ok(200);

        // D2's home has an NSID: another NSID of the same NetID is not its home.
        jsd.post(
            &unclaim(D2),
            NS13,
            json!({"home_net_id": "000013", "home_nsid": "00000000000000ff"}),
        )
        .await
        .error(403, "not_home_network");
        // Another network does not even see it.
        jsd.post(&unclaim(D2), NS14, json!({"home_net_id": "000014"}))
            .await
            .error(404, "not_pre_commissioned");
        // A network must say which home it unclaims as; it may not speak for another NetID.
        let body = jsd.post(&unclaim(D2), NS13, json!({})).await;
        assert_eq!(body.error(400, "invalid_request")["field"], "home_net_id");
        jsd.post(&unclaim(D2), NS13, json!({"home_net_id": "000014"}))
            .await
            .error(403, "forbidden");
        // The operator releases it with an empty body (no body at all works too).
        let answer = jsd.call(Method::POST, &unclaim(D2), Some(OPS), None).await;
        assert_eq!(answer.ok(200)["state"], "unclaimed");
        // A generic device is not claimed.
        jsd.post(&unclaim(D3), OPS, json!({}))
            .await
            .error(409, "not_claimed");
        jsd.stop().await;
    }
}

#[tokio::test]
async fn networks_see_only_their_own_devices() {
    for engine in Engine::ALL {
        let jsd = Jsd::start(engine, EASY_CLAIMS).await;
        let tokens = jsd.import_devices(&[D1, D2]).await;
        jsd.claim(NS13, D1, &tokens[0], "000013").await.ok(200);
        let path = |dev_eui: u64| format!("/api/devices/{}", eui(dev_eui));

        let device = jsd.get(&path(D1), NS13).await;
        assert_eq!(device.ok(200)["dev_eui"], eui(D1));
        // Another network's device and a generic one look absent: no DevEUI leaks.
        jsd.get(&path(D1), NS14)
            .await
            .error(404, "not_pre_commissioned");
        jsd.get(&path(D2), NS13)
            .await
            .error(404, "not_pre_commissioned");
        // The operator sees everything; only the operator lists.
        jsd.get(&path(D2), OPS).await.ok(200);
        jsd.get("/api/devices", NS13).await.error(403, "forbidden");
        // DevEUIs are read in any case.
        let upper = format!("/api/devices/{:016X}", D1);
        jsd.get(&upper, NS13).await.ok(200);
        jsd.stop().await;
    }
}

#[tokio::test]
async fn devices_are_listed_by_state_in_pages() {
    for engine in Engine::ALL {
        let jsd = Jsd::start(engine, EASY_CLAIMS).await;
        let tokens = jsd.import_devices(&[D5, D4, D3, D2, D1]).await;
        jsd.claim(NS13, D2, &tokens[3], "000013").await.ok(200);
        jsd.claim(NS14, D4, &tokens[1], "000014").await.ok(200);

        let claimed = jsd.get("/api/devices?state=claimed", OPS).await;
        let claimed = claimed.ok(200);
        assert_eq!(
            states(claimed),
            [(eui(D2), "claimed".into()), (eui(D4), "claimed".into())]
        );
        assert_eq!(claimed["next"], Value::Null);
        let generic = jsd.get("/api/devices?state=generic", OPS).await;
        let generic: Vec<_> = states(generic.ok(200)).into_iter().map(|d| d.0).collect();
        assert_eq!(generic, [eui(D1), eui(D3), eui(D5)]);

        // Pages of two, in DevEUI order, following `next`.
        let mut seen = Vec::new();
        let mut path = "/api/devices?limit=2".to_owned();
        for _ in 0..5 {
            let page = jsd.get(&path, OPS).await;
            let page = page.ok(200);
            seen.extend(states(page).into_iter().map(|d| d.0));
            match page["next"].as_str() {
                Some(next) => path = format!("/api/devices?limit=2&after={next}"),
                None => break,
            }
        }
        assert_eq!(seen, [eui(D1), eui(D2), eui(D3), eui(D4), eui(D5)]);

        let page = jsd
            .get(
                &format!("/api/devices?state=generic&after={}", eui(D1)),
                OPS,
            )
            .await;
        assert_eq!(page.ok(200)["devices"][0]["dev_eui"], eui(D3));

        for (query, field) in [
            ("state=stolen", "state"),
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("limit=ten", "limit"),
            ("after=xyz", "after"),
            ("limt=5", "limt"),
            ("limit=1&limit=2", "limit"),
        ] {
            let answer = jsd.get(&format!("/api/devices?{query}"), OPS).await;
            assert_eq!(
                answer.error(400, "invalid_request")["field"],
                field,
                "{query}"
            );
        }
        jsd.stop().await;
    }
}

#[tokio::test]
async fn the_app_s_key_delivery_is_set_per_device() {
    for engine in Engine::ALL {
        let jsd = Jsd::start(engine, EASY_CLAIMS).await;
        let tokens = jsd.import_devices(&[D1, D2]).await;
        jsd.claim(NS13, D1, &tokens[0], "000013").await.ok(200);
        let path = |dev_eui: u64| format!("/api/devices/{}/app-s-key-delivery", eui(dev_eui));

        let device = jsd.get(&format!("/api/devices/{}", eui(D1)), NS13).await;
        assert_eq!(
            device.ok(200)["app_s_key_delivery"],
            json!({"to": "network_server"})
        );
        let to_as = json!({"to": "application_server", "as_id": "as.example.com"});
        let answer = jsd.put(&path(D1), NS13, to_as.clone()).await;
        assert_eq!(answer.ok(200)["app_s_key_delivery"], to_as);
        let device = jsd.get(&format!("/api/devices/{}", eui(D1)), OPS).await;
        assert_eq!(device.ok(200)["app_s_key_delivery"], to_as);
        let answer = jsd
            .put(&path(D1), OPS, json!({"to": "network_server"}))
            .await;
        assert_eq!(
            answer.ok(200)["app_s_key_delivery"],
            json!({"to": "network_server"})
        );

        let answer = jsd
            .put(
                &path(D1),
                NS13,
                json!({"to": "application_server", "as_id": " "}),
            )
            .await;
        assert_eq!(answer.error(400, "invalid_request")["field"], "as_id");
        jsd.put(&path(D1), NS13, json!({"to": "elsewhere"}))
            .await
            .error(400, "invalid_request");
        // Not its device (generic, or another network's): absent.
        jsd.put(&path(D2), NS13, json!({"to": "network_server"}))
            .await
            .error(404, "not_pre_commissioned");
        jsd.put(&path(D1), NS14, json!({"to": "network_server"}))
            .await
            .error(404, "not_pre_commissioned");
        jsd.put(&path(UNKNOWN), OPS, json!({"to": "network_server"}))
            .await
            .error(404, "not_pre_commissioned");
        jsd.stop().await;
    }
}

#[tokio::test]
async fn malformed_requests_are_json_400s_naming_the_field() {
    for engine in Engine::ALL {
        let jsd = Jsd::start(engine, EASY_CLAIMS).await;
        let tokens = jsd.import_devices(&[D1]).await;
        let claim = format!("/api/devices/{}/claim", eui(D1));
        let raw = |body: &str| Some(("application/json", body.to_owned()));

        let cases = [
            (
                Method::POST,
                claim.clone(),
                raw("{\"owner_token\": "),
                "body",
            ),
            (Method::POST, claim.clone(), raw("[1, 2]"), "body"),
            (
                Method::POST,
                claim.clone(),
                raw(&json!({"home_net_id": "000013"}).to_string()),
                "owner_token",
            ),
            (
                Method::POST,
                claim.clone(),
                raw(
                    &json!({"owner_token": tokens[0], "home_net_id": "000013", "home": 1})
                        .to_string(),
                ),
                "home",
            ),
            (
                Method::POST,
                claim.clone(),
                raw(&json!({"owner_token": "not-hex", "home_net_id": "000013"}).to_string()),
                "owner_token",
            ),
            (
                Method::POST,
                claim.clone(),
                raw(&json!({"owner_token": tokens[0], "home_net_id": "13"}).to_string()),
                "home_net_id",
            ),
            (
                Method::POST,
                claim.clone(),
                raw(&json!({"owner_token": tokens[0], "home_net_id": "000013",
                            "home_nsid": "zz"})
                .to_string()),
                "home_nsid",
            ),
            (
                Method::POST,
                "/api/devices/70b3d57e/claim".to_owned(),
                raw(&json!({"owner_token": tokens[0], "home_net_id": "000013"}).to_string()),
                "dev_eui",
            ),
            (
                Method::GET,
                "/api/devices/not-a-eui".to_owned(),
                None,
                "dev_eui",
            ),
            (
                Method::POST,
                format!("{claim}?force=1"),
                raw(&json!({"owner_token": tokens[0], "home_net_id": "000013"}).to_string()),
                "force",
            ),
            (
                Method::POST,
                format!("/api/devices/{}/unclaim", eui(D1)),
                raw(&json!({"home_nsid": "0000000000000013"}).to_string()),
                "home_nsid",
            ),
            (
                Method::POST,
                "/api/imports?batch=".to_owned(),
                Some(("text/csv", csv(&[D2]))),
                "batch",
            ),
            (Method::GET, "/api/keys?verbose".to_owned(), None, "verbose"),
        ];
        for (method, path, body, field) in cases {
            let answer = jsd.call(method, &path, Some(OPS), body).await;
            let body = answer.error(400, "invalid_request");
            assert_eq!(body["field"], field, "{path}: {body}");
        }

        // A JSON body over 64 KiB.
        let padding = "0".repeat(70 * 1024);
        let body = json!({"owner_token": padding, "home_net_id": "000013"}).to_string();
        jsd.call(Method::POST, &claim, Some(OPS), raw(&body))
            .await
            .error(413, "body_too_large");

        // None of it claimed anything.
        let device = jsd.get(&format!("/api/devices/{}", eui(D1)), OPS).await;
        assert_eq!(device.ok(200)["state"], "generic");
        jsd.stop().await;
    }
}

#[tokio::test]
async fn every_route_but_the_document_needs_a_known_bearer_token() {
    for engine in Engine::ALL {
        let jsd = Jsd::start(engine, "").await;
        for (method, path) in ROUTES {
            let path = path.replace("{dev_eui}", &eui(D1));
            let method: Method = method.parse().expect("method");
            for token in [None, Some("unknown-token-00000000"), Some("")] {
                let answer = jsd.call(method.clone(), &path, token, None).await;
                if path == "/api/openapi.json" {
                    answer.ok(200);
                    continue;
                }
                answer.error(401, "unauthorized");
                assert_eq!(
                    answer.headers.get("www-authenticate").map(|v| v.as_bytes()),
                    Some(&b"Bearer"[..]),
                    "{method} {path}"
                );
            }
        }
        // Authentication comes before the body: a bad body without a token is still 401.
        let answer = jsd
            .call(
                Method::POST,
                &format!("/api/devices/{}/claim", eui(D1)),
                None,
                Some(("application/json", "{".to_owned())),
            )
            .await;
        answer.error(401, "unauthorized");
        jsd.stop().await;
    }
}

#[tokio::test]
async fn key_status_is_for_operators() {
    for engine in Engine::ALL {
        let jsd = Jsd::start(engine, "").await;
        jsd.import_devices(&[D1]).await;
        let answer = jsd.get("/api/keys", OPS).await;
        let status = answer.ok(200);
        let current = status["current"].as_str().expect("current key id");
        assert!(!current.is_empty());
        assert!(!status.to_string().contains(MASTER_KEY));
        assert_eq!(status["retired"], json!([]));
        assert_eq!(status["pending_devices"], 0);
        assert_eq!(status["pending_sessions"], 0);
        let device = jsd.get(&format!("/api/devices/{}", eui(D1)), OPS).await;
        assert_eq!(device.ok(200)["sealed_with"], current);
        jsd.get("/api/keys", NS13).await.error(403, "forbidden");
        jsd.stop().await;
    }
}

#[tokio::test]
async fn the_openapi_document_describes_exactly_the_served_routes() {
    let document = openapi();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let methods = ["get", "put", "post", "delete", "patch", "head", "options"];
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            methods
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, served);

    // Every operation documents its errors, and every $ref resolves.
    for (method, path) in &served {
        let operation = &document["paths"][path][method.to_lowercase()];
        let responses = operation["responses"].as_object().expect("responses");
        if path != "/api/openapi.json" {
            for status in ["400", "401", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
        }
    }
    check_refs(&document, &document);

    for engine in Engine::ALL {
        let jsd = Jsd::start(engine, "").await;
        // Served without a token, as JSON, byte for byte the document.
        let answer = jsd.call(Method::GET, "/api/openapi.json", None, None).await;
        assert_eq!(answer.ok(200), &document);
        assert_eq!(
            answer.headers.get(CONTENT_TYPE).map(|v| v.as_bytes()),
            Some(&b"application/json"[..])
        );
        // Every served route answers (401, not 404 or 405), and only with its method.
        for (method, path) in &served {
            let path = path.replace("{dev_eui}", &eui(D1));
            let method: Method = method.parse().expect("method");
            let answer = jsd.call(method.clone(), &path, None, None).await;
            assert!(
                [200, 401].contains(&answer.status),
                "{method} {path}: {}",
                answer.status
            );
            for other in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
                if other != method {
                    let answer = jsd.call(other.clone(), &path, Some(OPS), None).await;
                    assert_eq!(answer.status, 405, "{other} {path}");
                }
            }
        }
        jsd.stop().await;
    }
}

/// Every `$ref` in `value` points into `document`.
fn check_refs(document: &Value, value: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                let pointer = target.strip_prefix('#').expect("local $ref");
                assert!(
                    document.pointer(pointer).is_some(),
                    "dangling $ref {target}"
                );
            }
            map.values().for_each(|v| check_refs(document, v));
        }
        Value::Array(items) => items.iter().for_each(|v| check_refs(document, v)),
        _ => {}
    }
}
