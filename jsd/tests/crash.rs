//! kill -9 during joins: the real `jsd` binary is killed (SIGKILL) while clients send JoinReqs,
//! then restarted on the same database, three times, on both engines. Afterwards:
//!
//! - no DevNonce whose join was answered Success before a crash is accepted again (for 1.0.2
//!   devices, whose DevNonces are random, within the remembered window);
//! - every JoinNonce a device receives is greater than all it received before (none reused).
//!
//! Joins answered before the kill were persisted before they were answered (the durability
//! contract), so these hold for every answer a client saw. A join in flight at the kill may or
//! may not have been stored; its DevNonce is accepted again only if it was not, which is right.

mod common;

use std::collections::BTreeMap;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use jsd::app::{JoinServer, SystemClock};
use jsd::join::DEV_NONCE_HISTORY_LEN;
use jsd::storage::{DeviceStore, MIGRATIONS};
use serde_json::{json, Value};
use service::database::Database;
use service::testing::{free_port, spawn_daemon, wait_healthy, ScratchDatabase};

const DEVICES: u64 = 12;
const CRASHES: usize = 3;

/// What the clients saw, per device.
#[derive(Debug, Default, Clone)]
struct Seen {
    /// DevNonces answered Success.
    accepted: Vec<u16>,
    /// JoinNonces received, in order.
    join_nonces: Vec<u32>,
    /// The next DevNonce to send.
    next_dev_nonce: u16,
}

fn spawn_jsd(config: &std::path::Path, database_url: &str, port: u16) -> Child {
    spawn_daemon(env!("CARGO_BIN_EXE_jsd"), "JSD", config, database_url, port)
}

/// Sends one JoinReq; `Some(JoinNonce)` on Success, `None` on a refusal, `Err` when the
/// connection failed (the jsd is gone).
async fn join(
    client: &reqwest::Client,
    port: u16,
    device: &TestDevice,
    dev_nonce: u16,
) -> Result<Option<u32>, reqwest::Error> {
    let request = join_req("1.1", "000013", device, dev_nonce, u32::from(dev_nonce));
    let body = serde_json::to_vec(&request).expect("JSON");
    let response = client
        .post(format!("http://127.0.0.1:{port}/bi"))
        .bearer_auth(TOKEN_NS_13)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let bytes = response.bytes().await?;
    let answer: Value = serde_json::from_slice(&bytes).expect("a JSON answer");
    if answer["Result"]["ResultCode"] != "Success" {
        return Ok(None);
    }
    let accept = accept(&answer, &device.app_key);
    Ok(Some(accept.join_nonce().get()))
}

/// Clients join every device in a loop until the jsd disappears or `limit` passes.
async fn join_until_gone(
    port: u16,
    devices: &[TestDevice],
    seen: &Arc<Mutex<BTreeMap<u64, Seen>>>,
    limit: Duration,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let deadline = Instant::now() + limit;
    let mut tasks = Vec::new();
    for device in devices.iter().cloned() {
        let client = client.clone();
        let seen = Arc::clone(seen);
        tasks.push(tokio::spawn(async move {
            let key = device.dev_eui.to_u64();
            while Instant::now() < deadline {
                let dev_nonce = {
                    let mut all = seen.lock().expect("lock");
                    let entry = all.entry(key).or_default();
                    entry.next_dev_nonce += 1;
                    entry.next_dev_nonce
                };
                match join(&client, port, &device, dev_nonce).await {
                    Ok(Some(join_nonce)) => {
                        let mut all = seen.lock().expect("lock");
                        let entry = all.entry(key).or_default();
                        entry.accepted.push(dev_nonce);
                        entry.join_nonces.push(join_nonce);
                    }
                    Ok(None) => {}
                    Err(_) => return,
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
}

#[tokio::test]
async fn kill_9_during_joins_never_reuses_a_join_nonce_nor_accepts_a_dev_nonce_twice() {
    for (engine, scratch) in engines().await {
        run(engine, &scratch).await;
        scratch.drop_now().await;
    }
}

async fn run(engine: service::testing::Engine, scratch: &ScratchDatabase) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("jsd.toml");
    std::fs::write(&config_path, config_toml("")).expect("config");
    let url = scratch.config.url.clone();

    // Provision through the join server's own operations, before the daemon runs.
    let devices: Vec<TestDevice> = (0..DEVICES)
        .map(|n| TestDevice::new(100 + n, if n % 2 == 0 { "1.0.4" } else { "1.0.2" }))
        .collect();
    {
        let env: BTreeMap<String, String> = [("JSD_DATABASE__URL".to_owned(), url.clone())].into();
        let config: jsd::Config =
            service::config::load(Some(&config_path), "JSD", &env).expect("config");
        let database = Database::connect(&config.database, MIGRATIONS)
            .await
            .expect("database");
        let console = JoinServer::new(
            &config,
            DeviceStore::new(database.pool().clone()),
            Arc::new(SystemClock),
        )
        .expect("console");
        let file = json!({"devices": devices.iter().map(|d| json!({
            "DevEUI": d.dev_eui.to_string(), "JoinEUI": d.join_eui.to_string(),
            "AppKey": d.app_key.expose_hex(), "LoRaWANVersion": d.version,
        })).collect::<Vec<_>>()});
        for imported in console
            .import(
                jsd::app::Caller::Console,
                file.to_string().as_bytes(),
                None,
                "crash",
            )
            .await
            .expect("import")
        {
            console
                .claim(
                    jsd::app::Caller::Console,
                    imported.dev_eui,
                    &imported.owner_token,
                    home(net_13()),
                )
                .await
                .expect("claim");
        }
        database.close().await;
    }

    let seen: Arc<Mutex<BTreeMap<u64, Seen>>> = Arc::default();
    let mut before_crash: BTreeMap<u64, Seen> = BTreeMap::new();
    let mut violations = Vec::new();
    for crash in 0..CRASHES {
        let port = free_port();
        let mut child = spawn_jsd(&config_path, &url, port);
        wait_healthy(port).await;

        // After a restart: DevNonces answered Success before any crash are refused. A 1.0.2
        // device's random DevNonces are remembered in a window of DEV_NONCE_HISTORY_LEN (the
        // spec's "certain number"); replay well inside it (joins in flight at a kill may have
        // been accepted unseen, one per device per crash, and take window slots too).
        let client = reqwest::Client::new();
        for device in &devices {
            let key = device.dev_eui.to_u64();
            let mut accepted = before_crash
                .get(&key)
                .map(|s| s.accepted.clone())
                .unwrap_or_default();
            if device.version == "1.0.2" {
                let window = DEV_NONCE_HISTORY_LEN - 2 * CRASHES;
                accepted.drain(..accepted.len().saturating_sub(window));
            }
            for dev_nonce in accepted {
                if let Ok(Some(join_nonce)) = join(&client, port, device, dev_nonce).await {
                    violations.push(format!(
                        "{engine:?} crash {crash}: DevEUI {} DevNonce {dev_nonce} accepted twice (JoinNonce {join_nonce})",
                        device.dev_eui
                    ));
                }
            }
        }

        // Traffic, then SIGKILL in the middle of it.
        let traffic = {
            let devices = devices.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                join_until_gone(port, &devices, &seen, Duration::from_secs(10)).await;
            })
        };
        tokio::time::sleep(Duration::from_millis(400 + 150 * crash as u64)).await;
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        traffic.await.expect("traffic");
        before_crash = seen.lock().expect("lock").clone();
    }

    // A last restart: joins go on, and every device's JoinNonces only ever increased.
    let port = free_port();
    let mut child = spawn_jsd(&config_path, &url, port);
    wait_healthy(port).await;
    join_until_gone(port, &devices, &seen, Duration::from_millis(300)).await;
    child.kill().expect("stop");
    let _ = child.wait();

    let seen = seen.lock().expect("lock").clone();
    let mut answered = 0;
    for (dev_eui, device) in &seen {
        answered += device.join_nonces.len();
        if device.join_nonces.windows(2).any(|w| w[1] <= w[0]) {
            violations.push(format!(
                "{engine:?}: DevEUI {dev_eui:016x} JoinNonces not increasing: {:?}",
                device.join_nonces
            ));
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(
        answered > 100,
        "{engine:?}: only {answered} joins answered; the test did not exercise the crash path"
    );
}
