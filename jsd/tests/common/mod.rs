//! A real jsd on a loopback port for the integration tests: a config file with peers and KEKs,
//! a scratch database of either engine, devices provisioned through the join server's own
//! operations (the console's), and a client speaking JSON over HTTP.

#![allow(dead_code)] // each test file uses its part

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use backend::message::Message;
use jsd::app::{Caller, JoinServer, SystemClock};
use jsd::device::{Home, OwnerToken};
use jsd::storage::DeviceStore;
use lorawan::crypto::{CipherKey, MicKey};
use lorawan::ids::{AesKey, Eui64, NetId};
use lorawan::join::build_join_request;
use lorawan::phy::{EncryptedJoinAccept, JoinAccept};
use serde_json::{json, Value};
use service::daemon::{Daemon, Running};
use service::testing::{Engine, ScratchDatabase};

/// The master key of the test jsd.
pub const MASTER_KEY: &str = "00112233445566778899aabbccddeeff";
/// KEK agreed with the network server of NetID 000013.
pub const KEK_NS_13: [u8; 16] = [0x13; 16];
/// KEK agreed with application server `as-1`.
pub const KEK_AS_1: [u8; 16] = [0xa5; 16];
/// Bearer tokens of the configured peers.
pub const TOKEN_NS_13: &str = "token-of-ns-000013-abcdef";
/// NetID 000014's network server (no KEK: keys go in clear).
pub const TOKEN_NS_14: &str = "token-of-ns-000014-abcdef";
/// Application server `as-1`.
pub const TOKEN_AS_1: &str = "token-of-as-1-abcdefghijk";
/// Application server `as-2`.
pub const TOKEN_AS_2: &str = "token-of-as-2-abcdefghijk";
/// A roaming hub allowed to send as any NetID.
pub const TOKEN_HUB: &str = "token-of-the-hub-abcdefgh";
/// The operator.
pub const TOKEN_OPS: &str = "token-of-the-operator-xyz";

/// NetID 000013.
pub fn net_13() -> NetId {
    NetId::from_u32(0x13).expect("24 bits")
}

/// NetID 000014.
pub fn net_14() -> NetId {
    NetId::from_u32(0x14).expect("24 bits")
}

/// The config file of the test jsd (without listen address and database: the environment
/// gives those).
pub fn config_toml(extra: &str) -> String {
    config_toml_with_keys(MASTER_KEY, &[], extra)
}

/// [`config_toml`] with another master key and retired keys (rotation tests).
pub fn config_toml_with_keys(master_key: &str, retired: &[&str], extra: &str) -> String {
    let retired: Vec<String> = retired.iter().map(|k| format!("\"{k}\"")).collect();
    format!(
        r#"
[keys]
master_key = "{master_key}"
retired_master_keys = [{}]

[[peers]]
name = "ns-13"
token = "{TOKEN_NS_13}"
net_ids = ["000013"]

[[peers]]
name = "ns-14"
token = "{TOKEN_NS_14}"
net_ids = ["000014"]

[[peers]]
name = "as-1"
token = "{TOKEN_AS_1}"
as_ids = ["as-1"]

[[peers]]
name = "as-2"
token = "{TOKEN_AS_2}"
as_ids = ["as-2"]

[[peers]]
name = "hub"
token = "{TOKEN_HUB}"
net_ids = ["*"]

[[peers]]
name = "ops"
token = "{TOKEN_OPS}"
operator = true

[[keks]]
net_id = "000013"
label = "ns-13-kek"
key = "{}"

[[keks]]
as_id = "as-1"
label = "as-1-kek"
key = "{}"
{extra}
"#,
        retired.join(", "),
        hex(&KEK_NS_13),
        hex(&KEK_AS_1)
    )
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A running jsd with a console handle on its database.
pub struct TestJsd {
    /// The daemon.
    pub running: Running,
    /// The join server's operations over the same database (the console's view).
    pub console: JoinServer,
    /// Its config.
    pub config: jsd::Config,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl TestJsd {
    /// Starts a jsd over `scratch` with the test config plus `extra` TOML.
    pub async fn start(scratch: &ScratchDatabase, extra: &str) -> Self {
        Self::start_with_config(scratch, &config_toml(extra)).await
    }

    /// Starts a jsd over `scratch` with the config file `toml`.
    pub async fn start_with_config(scratch: &ScratchDatabase, toml: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jsd.toml");
        std::fs::write(&path, toml).expect("write config");
        let env: BTreeMap<String, String> = [
            ("JSD_SERVER__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("JSD_DATABASE__URL".to_owned(), scratch.config.url.clone()),
        ]
        .into();
        let config: jsd::Config =
            service::config::load(Some(&path), "JSD", &env).expect("test config loads");
        let running = jsd::Jsd::start(&config).await.expect("jsd starts");
        let console = JoinServer::new(
            &config,
            DeviceStore::new(running.database.pool().clone()),
            Arc::new(SystemClock),
        )
        .expect("console");
        Self {
            running,
            console,
            config,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.running.local_addr
    }

    /// POSTs `message` to `/bi` with `token`; returns the HTTP status and the JSON answer.
    pub async fn bi(&self, token: Option<&str>, message: &Value) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("http://{}/bi", self.addr()))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(message).expect("JSON"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("jsd answers");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("body");
        let json = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {body:?}"))
        };
        (status, json)
    }

    /// Imports `devices` and claims each for `home` (unless `None`).
    pub async fn provision(&self, devices: &[TestDevice], home: Option<Home>) {
        let file = serde_json::json!({ "devices": devices.iter().map(TestDevice::import_row).collect::<Vec<_>>() });
        let imported = self
            .console
            .import(Caller::Console, file.to_string().as_bytes(), None, "test")
            .await
            .expect("import");
        if let Some(home) = home {
            for device in imported {
                self.console
                    .claim(Caller::Console, device.dev_eui, &device.owner_token, home)
                    .await
                    .expect("claim");
            }
        }
    }

    /// Stops the daemon.
    pub async fn stop(self) {
        self.running.stop().await.expect("clean stop");
    }
}

/// A device the tests provision and impersonate.
#[derive(Debug, Clone)]
pub struct TestDevice {
    /// DevEUI.
    pub dev_eui: Eui64,
    /// JoinEUI.
    pub join_eui: Eui64,
    /// "1.0.2", "1.0.4", "1.1".
    pub version: &'static str,
    /// AppKey.
    pub app_key: AesKey,
    /// NwkKey (1.1).
    pub nwk_key: Option<AesKey>,
}

impl TestDevice {
    /// Device number `n` of `version`.
    pub fn new(n: u64, version: &'static str) -> Self {
        let byte = (n & 0xff) as u8;
        Self {
            dev_eui: Eui64::from_u64(0x0004_a30b_0000_0000 | n),
            join_eui: Eui64::from_u64(0x70b3_d57e_d000_0001),
            version,
            app_key: AesKey::new([byte ^ 0x2b; 16]),
            nwk_key: (version == "1.1").then(|| AesKey::new([byte ^ 0x3c; 16])),
        }
    }

    fn import_row(&self) -> Value {
        let mut row = serde_json::json!({
            "DevEUI": self.dev_eui.to_string(),
            "JoinEUI": self.join_eui.to_string(),
            "AppKey": self.app_key.expose_hex(),
            "LoRaWANVersion": self.version,
        });
        if let Some(nwk_key) = &self.nwk_key {
            row["NwkKey"] = Value::String(nwk_key.expose_hex());
        }
        row
    }
}

/// A home without NSID.
pub fn home(net_id: NetId) -> Home {
    Home { net_id, nsid: None }
}

/// A fresh owner token (for tests of wrong tokens).
pub fn some_token() -> OwnerToken {
    OwnerToken::from_bytes([7; 16])
}

/// Every engine, each with a scratch database.
pub async fn engines() -> Vec<(Engine, ScratchDatabase)> {
    let mut all = Vec::new();
    for engine in Engine::ALL {
        all.push((engine, ScratchDatabase::create(engine).await));
    }
    all
}

// Backend Interfaces messages as JSON, built and read the way a peer would.

/// A message header.
pub fn header(protocol: &str, message_type: &str, sender: &str, receiver: &str, tid: u32) -> Value {
    json!({
        "ProtocolVersion": protocol,
        "SenderID": sender,
        "ReceiverID": receiver,
        "TransactionID": tid,
        "MessageType": message_type,
    })
}

/// `base` with `fields` added or replaced.
pub fn merge(mut base: Value, fields: Value) -> Value {
    if let (Some(base), Value::Object(fields)) = (base.as_object_mut(), fields) {
        base.extend(fields);
    }
    base
}

/// A signed join-request of `device`.
pub fn join_request_phy(device: &TestDevice, dev_nonce: u16) -> Vec<u8> {
    let key = device.nwk_key.as_ref().unwrap_or(&device.app_key);
    build_join_request(
        &MicKey::new(key),
        device.join_eui,
        device.dev_eui,
        dev_nonce,
    )
    .to_vec()
}

/// A JoinReq from `sender` for `device`.
pub fn join_req(
    protocol: &str,
    sender: &str,
    device: &TestDevice,
    dev_nonce: u16,
    tid: u32,
) -> Value {
    let (mac_version, dl_settings) = if device.version == "1.1" {
        ("1.1", "83")
    } else {
        (device.version, "03")
    };
    merge(
        header(
            protocol,
            "JoinReq",
            sender,
            &device.join_eui.to_string(),
            tid,
        ),
        json!({
            "MACVersion": mac_version,
            "PHYPayload": hex(&join_request_phy(device, dev_nonce)),
            "DevEUI": device.dev_eui.to_string(),
            "DevAddr": "26011bda",
            "DLSettings": dl_settings,
            "RxDelay": 1,
        }),
    )
}

/// The ResultCode of an answer.
pub fn code(answer: &Value) -> &str {
    answer["Result"]["ResultCode"].as_str().unwrap_or("<none>")
}

/// The answer as a typed message.
pub fn decode(answer: &Value) -> Message {
    Message::from_json(answer.clone()).expect("a well-formed answer")
}

/// The join-accept of an answer, decrypted with `key`.
pub fn accept(answer: &Value, key: &AesKey) -> JoinAccept {
    let phy = lorawan::ids::parse_hex_vec(answer["PHYPayload"].as_str().expect("PHYPayload"))
        .expect("hex");
    EncryptedJoinAccept::parse(&phy)
        .expect("a join-accept")
        .decrypt(&CipherKey::new(key))
}
