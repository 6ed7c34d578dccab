//! The nsd's admin REST API over HTTP on a loopback port, the nsd started in this process on
//! both database engines: profiles, devices, downlink queues and gateways, authentication,
//! every error status and code, and the OpenAPI document against the served routes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use conformance_tests::sim::{Simulation, FIRST_GATEWAY_EUI};
use nsd::api::admin::{OPENAPI_DOCUMENT, ROUTES};
use reqwest::header::{HeaderMap, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::Method;
use serde_json::{json, Value};
use service::auth::OperatorConfig;
use service::daemon::Running;
use service::testing::{Engine, ScratchDatabase};

const OPS: &str = "admin-api-operator-token-01";
const MASTER_KEY: &str = "000102030405060708090a0b0c0d0e0f";
const NWK_S_KEY: &str = "8f1c2b4d6a7e9f0011223344556677aa";
const APP_S_KEY: &str = "c0ffee00deadbeef0123456789abcdef";
const F_NWK_S_INT_KEY: &str = "a1a2a3a4a5a6a7a8a9aaabacadaeafb0";
const S_NWK_S_INT_KEY: &str = "b1b2b3b4b5b6b7b8b9babbbcbdbebfc0";
const NWK_S_ENC_KEY: &str = "d1d2d3d4d5d6d7d8d9dadbdcdddedfe0";
const D1: &str = "0004a30b00000001";
const D2: &str = "0004a30b00000002";
const D3: &str = "0004a30b00000003";
const D4: &str = "0004a30b00000004";
const JOIN_EUI: &str = "70b3d57ed0000001";

/// The nsd under test, with a client.
struct Nsd {
    daemon: Running,
    base: String,
    udp_addr: std::net::SocketAddr,
    http: reqwest::Client,
    scratch: ScratchDatabase,
}

/// One HTTP answer.
struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
    json: Value,
}

impl Nsd {
    /// Starts the nsd on `engine` with one operator, on loopback ports.
    async fn start(engine: Engine) -> Self {
        let scratch = ScratchDatabase::create(engine).await;
        let env: BTreeMap<String, String> = [
            ("NSD_SERVER__LISTEN", "127.0.0.1:0"),
            ("NSD_GATEWAYS__UDP_LISTEN", "127.0.0.1:0"),
            ("NSD_KEYS__MASTER_KEY", MASTER_KEY),
            ("NSD_NETWORK__NET_ID", "000013"),
            ("NSD_DATABASE__URL", scratch.config.url.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let mut config: nsd::Config = service::config::load(None, "NSD", &env).expect("config");
        config
            .operators
            .push(OperatorConfig::with_token("ops", OPS));
        let (daemon, handles) = nsd::start_with(&config, None).await.expect("nsd starts");
        Self {
            base: format!("http://{}", daemon.local_addr),
            udp_addr: handles.udp_addr,
            daemon,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
            scratch,
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
        body: Option<String>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
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

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, Some(OPS), None).await
    }

    async fn put(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PUT, path, Some(OPS), Some(body.to_string()))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(OPS), Some(body.to_string()))
            .await
    }

    async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, Some(OPS), None).await
    }

    async fn put_profile(&self, id: &str, body: Value) -> Answer {
        self.put(&format!("/api/device-profiles/{id}"), body).await
    }

    async fn put_device(&self, dev_eui: &str, body: Value) -> Answer {
        self.put(&format!("/api/devices/{dev_eui}"), body).await
    }
}

impl Answer {
    /// The body of a successful answer with `status`.
    fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{}", self.text);
        &self.json
    }

    /// The body of an error answer: `status`, JSON `{error, message}` with `code`, a code the
    /// OpenAPI document lists.
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
            documented_errors().contains(&format!("{code} ")),
            "{code} undocumented"
        );
        &self.json
    }

    /// A `400 invalid_request` naming `field`.
    fn invalid(&self, field: &str) {
        let body = self.error(400, "invalid_request");
        assert_eq!(body["field"], field, "{body}");
    }
}

fn openapi() -> Value {
    serde_json::from_str(OPENAPI_DOCUMENT).expect("the OpenAPI document is JSON")
}

/// The error codes the document lists, as its description writes them.
fn documented_errors() -> String {
    openapi()["components"]["responses"]["Error"]["description"]
        .as_str()
        .expect("the Error response is described")
        .replace(['/', ','], " ")
        .replace(':', " ")
}

/// A path of `ROUTES` with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{id}", "abp")
        .replace("{dev_eui}", D1)
        .replace("{gateway_id}", &format!("{:016x}", FIRST_GATEWAY_EUI.0))
}

/// Whether `text` holds `key` in any case.
fn shows_key(text: &str, key: &str) -> bool {
    text.to_ascii_lowercase()
        .contains(&key.to_ascii_lowercase())
}

fn abp_1_0(dev_addr: &str) -> Value {
    json!({"tenant": "acme", "profile": "abp10", "session": {
        "dev_addr": dev_addr, "nwk_s_key": NWK_S_KEY, "app_s_key": APP_S_KEY,
    }})
}

async fn profiles_for_devices(nsd: &Nsd) {
    for (id, version, join) in [
        ("abp10", "1.0.4", false),
        ("abp11", "1.1", false),
        ("otaa", "1.0.4", true),
    ] {
        nsd.put_profile(
            id,
            json!({"region": "EU868", "mac_version": version, "supports_join": join}),
        )
        .await
        .ok(200);
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_only_those() {
    let document = openapi();
    assert_eq!(document["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
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
    assert_eq!(served.len(), ROUTES.len(), "a route listed twice");
    assert_eq!(documented, served);
    // Every operation but the document's documents 400 (every route refuses a query
    // parameter it does not take) and 401; those that write, 503 too; every $ref resolves.
    for (method, path) in &served {
        let responses = document["paths"][path][method.to_lowercase()]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} has no responses"));
        if path == "/api/openapi.json" {
            continue;
        }
        let mut statuses = vec!["400", "401"];
        if method != "GET" {
            statuses.push("503");
        }
        for status in statuses {
            assert!(responses.contains_key(status), "{method} {path}: {status}");
        }
    }
    check_refs(&document, &document);

    for engine in Engine::ALL {
        let nsd = Nsd::start(engine).await;
        // Served without a token, as JSON, the document itself.
        let answer = nsd.call(Method::GET, "/api/openapi.json", None, None).await;
        assert_eq!(answer.ok(200), &document);
        assert_eq!(
            answer.headers.get(CONTENT_TYPE).map(|v| v.as_bytes()),
            Some(&b"application/json"[..])
        );
        // Every route is served with its methods only.
        for (method, path) in &served {
            let path = concrete(path);
            for other in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
                let is_served = served
                    .iter()
                    .any(|(m, p)| concrete(p) == path && *m == other.as_str());
                if !is_served {
                    let answer = nsd.call(other.clone(), &path, Some(OPS), None).await;
                    assert_eq!(answer.status, 405, "{other} {path} (served: {method})");
                }
            }
        }
        nsd.stop().await;
    }
}

#[tokio::test]
async fn every_route_but_the_document_needs_a_known_bearer_token() {
    for engine in Engine::ALL {
        let nsd = Nsd::start(engine).await;
        for (method, path) in ROUTES {
            let path = concrete(path);
            let method: Method = method.parse().expect("method");
            for token in [None, Some("not-an-operator-token-00"), Some("")] {
                // A body that would be refused: authentication comes first.
                let answer = nsd
                    .call(method.clone(), &path, token, Some("{".into()))
                    .await;
                if path == "/api/openapi.json" {
                    answer.ok(200);
                    continue;
                }
                answer.error(401, "unauthorized");
                assert_eq!(
                    answer.headers.get(WWW_AUTHENTICATE).map(|v| v.as_bytes()),
                    Some(&b"Bearer"[..]),
                    "{method} {path}"
                );
            }
        }
        // A bearer token in another scheme is no token.
        let answer = nsd
            .http
            .get(format!("{}/api/devices", nsd.base))
            .header("authorization", format!("Basic {OPS}"))
            .send()
            .await
            .expect("sent");
        assert_eq!(answer.status().as_u16(), 401);
        // The right token opens every route.
        nsd.get("/api/devices").await.ok(200);
        nsd.stop().await;
    }
}

#[tokio::test]
async fn every_route_refuses_a_query_parameter_it_does_not_take() {
    for engine in Engine::ALL {
        let nsd = Nsd::start(engine).await;
        profiles_for_devices(&nsd).await;
        nsd.put_device(D1, abp_1_0("26000a01")).await.ok(200);
        let gateway = concrete("/api/gateways/{gateway_id}");
        nsd.put(&gateway, json!({"name": "gw"})).await.ok(200);
        let queue = json!({"f_port": 1, "payload_hex": "00"});
        let profile = json!({"region": "EU868", "mac_version": "1.0.4"});
        for (method, path) in ROUTES {
            if path == "/api/openapi.json" {
                continue;
            }
            let path = concrete(path).replace("/abp", "/abp10");
            let body = match (method, path.as_str()) {
                ("PUT", p) if p.starts_with("/api/device-profiles/") => Some(profile.clone()),
                ("PUT", p) if p.starts_with("/api/devices/") => Some(abp_1_0("26000a01")),
                ("PUT", _) => Some(json!({})),
                ("POST", _) => Some(queue.clone()),
                _ => None,
            };
            let method: Method = method.parse().expect("method");
            let answer = nsd
                .call(
                    method.clone(),
                    &format!("{path}?dry_run=1"),
                    Some(OPS),
                    body.map(|b| b.to_string()),
                )
                .await;
            answer.invalid("dry_run");
        }
        // Nothing refused was done: the device, its profile and the gateway are all there.
        nsd.get(&format!("/api/devices/{D1}")).await.ok(200);
        assert_eq!(
            nsd.get(&format!("/api/devices/{D1}/queue")).await.ok(200)["queue"],
            json!([])
        );
        let gateways = nsd.get("/api/gateways").await;
        assert_eq!(
            gateways.ok(200)["gateways"].as_array().map(Vec::len),
            Some(1)
        );
        nsd.stop().await;
    }
}

#[tokio::test]
async fn device_profiles_take_the_region_defaults_and_are_checked() {
    for engine in Engine::ALL {
        let nsd = Nsd::start(engine).await;

        // Defaults from the region: EU868 RX2 is 869.525 MHz DR0, US915's 923.3 MHz DR8.
        let eu = nsd
            .put_profile("eu", json!({"region": "EU868", "mac_version": "1.0.4"}))
            .await;
        assert_eq!(
            eu.ok(200),
            &json!({
                "id": "eu", "region": "EU868", "mac_version": "1.0.4", "class": "A",
                "supports_join": true, "rx1_delay_s": 1, "rx1_dr_offset": 0,
                "rx2_data_rate": 0, "rx2_frequency_hz": 869_525_000, "adr": true,
                "abp_counter_reset": false,
            })
        );
        let us = nsd
            .put_profile(
                "us",
                json!({"region": "US915", "mac_version": "1.0.3", "class": "C",
                       "rx1_delay_s": 5, "abp_counter_reset": true}),
            )
            .await;
        let us = us.ok(200);
        assert_eq!(
            (&us["rx2_frequency_hz"], &us["rx2_data_rate"]),
            (&json!(923_300_000), &json!(8))
        );
        assert_eq!((&us["class"], &us["rx1_delay_s"]), (&json!("C"), &json!(5)));

        // Malformed: 400 naming the field.
        for (body, field) in [
            (json!({"region": "EU869", "mac_version": "1.0.4"}), "region"),
            (
                json!({"region": "EU868", "mac_version": "1.2"}),
                "mac_version",
            ),
            (
                json!({"region": "EU868", "mac_version": "1.0.4", "class": "D"}),
                "class",
            ),
            (json!({"mac_version": "1.0.4"}), "region"),
            (
                json!({"region": "EU868", "mac_version": "1.0.4", "rx1_delay": 2}),
                "rx1_delay",
            ),
        ] {
            nsd.put_profile("bad", body).await.invalid(field);
        }
        nsd.put_profile(
            &"x".repeat(101),
            json!({"region": "EU868", "mac_version": "1.0.4"}),
        )
        .await
        .invalid("id");
        // Well-formed but inconsistent: 422.
        for body in [
            json!({"region": "EU868", "mac_version": "1.0.4", "rx1_delay_s": 0}),
            json!({"region": "EU868", "mac_version": "1.0.4", "rx1_delay_s": 16}),
            json!({"region": "EU868", "mac_version": "1.0.4", "rx1_dr_offset": 6}),
            json!({"region": "EU868", "mac_version": "1.0.4", "rx2_data_rate": 15}),
            json!({"region": "EU868", "mac_version": "1.0.4", "abp_counter_reset": true}),
        ] {
            nsd.put_profile("bad", body)
                .await
                .error(422, "invalid_provisioning");
        }
        // Nothing refused was stored; the list is in id order.
        let list = nsd.get("/api/device-profiles").await;
        let ids: Vec<&str> = list.ok(200)["device_profiles"]
            .as_array()
            .expect("profiles")
            .iter()
            .filter_map(|p| p["id"].as_str())
            .collect();
        assert_eq!(ids, ["eu", "us"]);

        // A profile in use cannot go.
        nsd.put_device(
            D1,
            json!({"tenant": "acme", "profile": "eu", "join_eui": JOIN_EUI}),
        )
        .await
        .ok(200);
        nsd.delete("/api/device-profiles/eu")
            .await
            .error(409, "in_use");
        nsd.delete(&format!("/api/devices/{D1}")).await.ok(204);
        nsd.delete("/api/device-profiles/eu").await.ok(204);
        nsd.delete("/api/device-profiles/eu")
            .await
            .error(404, "not_found");
        nsd.stop().await;
    }
}

#[tokio::test]
async fn devices_are_provisioned_listed_and_never_show_their_keys() {
    for engine in Engine::ALL {
        let nsd = Nsd::start(engine).await;
        profiles_for_devices(&nsd).await;

        // ABP 1.0.4 with its session and counters.
        let mut body = abp_1_0("26000a01");
        body["session"]["f_cnt_up_next"] = json!(10);
        body["session"]["n_f_cnt_down"] = json!(3);
        let answer = nsd.put_device(D1, body).await;
        let shown = answer.ok(200);
        assert_eq!(shown["dev_eui"], D1);
        assert_eq!(
            shown["session"],
            json!({"dev_addr": "26000a01", "mac_version": "1.0.4", "f_cnt_up_next": 10,
                   "n_f_cnt_down": 3, "a_f_cnt_down": 0, "app_s_key_held": true})
        );
        // ABP 1.1 takes the three network keys…
        let v11 = json!({"tenant": "acme", "profile": "abp11", "session": {
            "dev_addr": "26000a02", "f_nwk_s_int_key": F_NWK_S_INT_KEY,
            "s_nwk_s_int_key": S_NWK_S_INT_KEY, "nwk_s_enc_key": NWK_S_ENC_KEY,
        }});
        let answer = nsd.put_device(D2, v11.clone()).await;
        assert_eq!(answer.ok(200)["session"]["mac_version"], "1.1");
        assert_eq!(answer.json["session"]["app_s_key_held"], false);
        // …and not the 1.0 one, nor the other way round.
        let mut wrong = abp_1_0("26000a02");
        wrong["profile"] = json!("abp11");
        nsd.put_device(D2, wrong)
            .await
            .invalid("session.f_nwk_s_int_key");
        let mut wrong = v11.clone();
        wrong["profile"] = json!("abp10");
        nsd.put_device(D2, wrong).await.invalid("session.nwk_s_key");
        // OTAA: a JoinEUI, no session.
        let otaa = json!({"tenant": "acme", "profile": "otaa"});
        nsd.put_device(D3, otaa.clone())
            .await
            .error(422, "invalid_provisioning");
        let mut with_session = abp_1_0("26000a03");
        with_session["profile"] = json!("otaa");
        with_session["join_eui"] = json!(JOIN_EUI);
        nsd.put_device(D3, with_session)
            .await
            .error(422, "invalid_provisioning");
        let mut otaa = otaa;
        otaa["join_eui"] = json!(JOIN_EUI);
        let answer = nsd.put_device(D3, otaa).await;
        assert_eq!(answer.ok(200)["session"], Value::Null);
        assert_eq!(answer.json["join_eui"], JOIN_EUI);
        // ABP without a session, an unknown profile, malformed fields.
        nsd.put_device(D4, json!({"tenant": "acme", "profile": "abp10"}))
            .await
            .error(422, "invalid_provisioning");
        nsd.put_device(D4, json!({"tenant": "acme", "profile": "nope"}))
            .await
            .error(422, "unknown_profile");
        let mut bad_key = abp_1_0("26000a04");
        bad_key["session"]["app_s_key"] = json!("00112233");
        nsd.put_device(D4, bad_key)
            .await
            .invalid("session.app_s_key");
        let mut bad_addr = abp_1_0("26000a04");
        bad_addr["session"]["dev_addr"] = json!("26000a");
        nsd.put_device(D4, bad_addr)
            .await
            .invalid("session.dev_addr");
        let mut unknown = abp_1_0("26000a04");
        unknown["session"]["nwkskey"] = json!(NWK_S_KEY);
        nsd.put_device(D4, unknown).await.invalid("nwkskey");
        nsd.put_device(
            D4,
            json!({"tenant": "acme", "profile": "otaa", "join_eui": "70b3"}),
        )
        .await
        .invalid("join_eui");
        nsd.put_device("0004a30b0000", abp_1_0("26000a04"))
            .await
            .invalid("dev_eui");
        nsd.get(&format!("/api/devices/{D4}"))
            .await
            .error(404, "not_found");

        // No key in any answer.
        for path in [
            format!("/api/devices/{D1}"),
            format!("/api/devices/{D2}"),
            "/api/devices".to_owned(),
        ] {
            let answer = nsd.get(&path).await;
            answer.ok(200);
            for key in [
                NWK_S_KEY,
                APP_S_KEY,
                F_NWK_S_INT_KEY,
                S_NWK_S_INT_KEY,
                NWK_S_ENC_KEY,
            ] {
                assert!(
                    !shows_key(&answer.text, key),
                    "{path} shows a key: {}",
                    answer.text
                );
            }
        }

        // Pages in DevEUI order.
        let page = |answer: Answer| -> Vec<String> {
            answer.ok(200)["devices"]
                .as_array()
                .expect("devices")
                .iter()
                .filter_map(|d| d["dev_eui"].as_str().map(str::to_owned))
                .collect()
        };
        assert_eq!(page(nsd.get("/api/devices?limit=2").await), [D1, D2]);
        assert_eq!(
            page(nsd.get(&format!("/api/devices?after={D2}")).await),
            [D3]
        );
        assert_eq!(
            page(nsd.get(&format!("/api/devices?after={D1}&limit=1")).await),
            [D2]
        );
        assert!(page(nsd.get(&format!("/api/devices?after={D3}")).await).is_empty());
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("limit=ten", "limit"),
            ("limit=1&limit=2", "limit"),
            ("after=26000a01", "after"),
            ("offset=2", "offset"),
        ] {
            nsd.get(&format!("/api/devices?{query}"))
                .await
                .invalid(field);
        }

        // Deleted: gone from the answers.
        nsd.delete(&format!("/api/devices/{D3}")).await.ok(204);
        nsd.delete(&format!("/api/devices/{D3}"))
            .await
            .error(404, "not_found");
        assert_eq!(page(nsd.get("/api/devices").await), [D1, D2]);
        nsd.stop().await;
    }
}

#[tokio::test]
async fn downlink_queues_take_five_frames_and_flush() {
    for engine in Engine::ALL {
        let nsd = Nsd::start(engine).await;
        profiles_for_devices(&nsd).await;
        nsd.put_device(D1, abp_1_0("26000a01")).await.ok(200);
        // D2's AppSKey is with the application server.
        let mut as_keys = abp_1_0("26000a02");
        as_keys["session"]
            .as_object_mut()
            .expect("session")
            .remove("app_s_key");
        nsd.put_device(D2, as_keys).await.ok(200);
        nsd.put_device(
            D3,
            json!({"tenant": "acme", "profile": "otaa", "join_eui": JOIN_EUI}),
        )
        .await
        .ok(200);
        let queue = format!("/api/devices/{D1}/queue");

        let answer = nsd
            .post(
                &queue,
                json!({"f_port": 10, "payload_hex": "0102", "correlation_id": "c-1"}),
            )
            .await;
        let first = answer.ok(201)["id"].as_u64().expect("an id");
        let listed = nsd.get(&queue).await;
        assert_eq!(
            listed.ok(200)["queue"],
            json!([{"id": first, "f_port": 10, "payload_hex": "0102", "encrypted": false,
                    "confirmed": false, "f_cnt": null, "correlation_id": "c-1"}])
        );

        // Refused by the queue: 422 queue_refused.
        for body in [
            json!({"f_port": 10, "payload_hex": "0102", "encrypted": true}),
            json!({"f_port": 0, "payload_hex": "0102"}),
            json!({"f_port": 225, "payload_hex": "0102"}),
            json!({"f_port": 10, "payload_hex": "0102", "validity_s": 0}),
        ] {
            nsd.post(&queue, body).await.error(422, "queue_refused");
        }
        // Malformed: 400.
        nsd.post(&queue, json!({"f_port": 10, "payload_hex": "zz"}))
            .await
            .invalid("payload_hex");
        nsd.post(&queue, json!({"f_port": 10, "payload": "0102"}))
            .await
            .invalid("payload");
        nsd.post(&queue, json!({"payload_hex": "0102"}))
            .await
            .invalid("f_port");
        // The AS holds D2's AppSKey: clear payloads are refused, encrypted ones with FCnt go.
        let d2 = format!("/api/devices/{D2}/queue");
        nsd.post(&d2, json!({"f_port": 3, "payload_hex": "aa"}))
            .await
            .error(422, "queue_refused");
        nsd.post(
            &d2,
            json!({"f_port": 3, "payload_hex": "aa", "encrypted": true, "f_cnt": 0}),
        )
        .await
        .ok(201);
        // No session yet, no device.
        nsd.post(
            &format!("/api/devices/{D3}/queue"),
            json!({"f_port": 3, "payload_hex": "aa"}),
        )
        .await
        .error(409, "no_session");
        nsd.post(
            &format!("/api/devices/{D4}/queue"),
            json!({"f_port": 3, "payload_hex": "aa"}),
        )
        .await
        .error(404, "not_found");

        // At most five frames.
        for n in 0..4u8 {
            let answer = nsd
                .post(
                    &queue,
                    json!({"f_port": 10, "payload_hex": hex::encode([n]), "confirmed": true}),
                )
                .await;
            assert!(answer.ok(201)["id"].as_u64().expect("id") > first);
        }
        nsd.post(&queue, json!({"f_port": 10, "payload_hex": "ff"}))
            .await
            .error(422, "queue_refused");

        // Flushed: the five come back, the queue is empty.
        let flushed = nsd.delete(&queue).await;
        let removed = flushed.ok(200)["removed"].as_array().expect("removed");
        assert_eq!(removed.len(), 5);
        assert_eq!(removed[0]["id"], first);
        assert_eq!(nsd.get(&queue).await.ok(200)["queue"], json!([]));
        nsd.delete(&format!("/api/devices/{D4}/queue"))
            .await
            .error(404, "not_found");
        nsd.stop().await;
    }
}

#[tokio::test]
async fn gateways_are_provisioned_with_a_location_and_show_their_status() {
    for engine in Engine::ALL {
        let nsd = Nsd::start(engine).await;
        let id = format!("{:016x}", FIRST_GATEWAY_EUI.0);
        let path = format!("/api/gateways/{id}");
        let body = json!({"name": "roof", "tenant": "acme", "tags": ["paris"],
                          "location": {"latitude": 48.8566, "longitude": 2.3522, "altitude": 35.0}});
        let answer = nsd.put(&path, body).await;
        assert_eq!(
            answer.ok(200),
            &json!({"gateway_id": id, "name": "roof", "tenant": "acme", "tags": ["paris"],
                    "location": {"latitude": 48.8566, "longitude": 2.3522, "altitude": 35.0}})
        );

        // Malformed: 400 naming the field; nothing changes.
        for (body, field) in [
            (
                json!({"location": {"latitude": 90.5, "longitude": 0.0}}),
                "location.latitude",
            ),
            (
                json!({"location": {"latitude": -91, "longitude": 0.0}}),
                "location.latitude",
            ),
            (
                json!({"location": {"latitude": 0.0, "longitude": 180.5}}),
                "location.longitude",
            ),
            (json!({"location": {"longitude": 0.0}}), "latitude"),
            (json!({"name": "x", "owner": "y"}), "owner"),
        ] {
            nsd.put(&path, body).await.invalid(field);
        }
        nsd.put("/api/gateways/0016c001", json!({}))
            .await
            .invalid("gateway_id");

        // The packet forwarder connects: its status shows where from.
        let sim = Simulation::start(nsd.udp_addr, 1).await.expect("simulator");
        assert!(sim.connect(Duration::from_secs(3)).await, "PULL_ACK");
        let list = nsd.get("/api/gateways").await;
        let gateways = list.ok(200)["gateways"].as_array().expect("gateways");
        assert_eq!(gateways.len(), 1);
        let gateway = &gateways[0];
        assert_eq!(gateway["name"], "roof");
        assert_eq!(gateway["location"]["latitude"], 48.8566);
        let status = &gateway["status"];
        for field in [
            "last_seen_unix",
            "last_keepalive_unix",
            "connected_from",
            "protocol_version",
            "frames_received",
            "frames_sent",
            "frames_refused",
        ] {
            assert!(status.get(field).is_some(), "status.{field}: {status}");
        }
        let from = sim.gateways()[0].local_addr().expect("address");
        assert_eq!(status["connected_from"], from.to_string(), "{status}");
        assert!(status["last_keepalive_unix"].as_u64().is_some(), "{status}");
        assert_eq!(status["protocol_version"], 2, "{status}");

        nsd.delete(&path).await.ok(204);
        nsd.delete(&path).await.error(404, "not_found");
        assert_eq!(
            nsd.get("/api/gateways").await.ok(200)["gateways"],
            json!([])
        );
        nsd.stop().await;
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
