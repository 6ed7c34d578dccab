//! kill -9 while routing: the real `hub` binary is killed (SIGKILL) while a member sends it
//! PRStartReqs for another, then restarted on the same database, three times, on both
//! engines. Once restarted, every transaction a sender saw answered Success has its usage
//! record, with that result: the hub makes the record durable (journaled on SQLite,
//! committed on PostgreSQL) before it answers, so no answer a member saw can be missing from
//! billing. A transaction in flight at the kill
//! may or may not have a record; its sender saw no answer.

mod common;

use common::start_receiver;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use service::database::Database;
use service::testing::{free_port, spawn_daemon, wait_healthy, Engine, ScratchDatabase};

const CRASHES: usize = 3;
const CLIENTS: usize = 8;
const SENDER_TOKEN: &str = "token-of-member-ns13";

fn spawn_hub(config: &std::path::Path, database_url: &str, port: u16) -> Child {
    spawn_daemon(env!("CARGO_BIN_EXE_hub"), "HUB", config, database_url, port)
}

/// Clients send PRStartReqs with fresh TransactionIDs until the hub disappears or `limit`
/// passes; the TransactionIDs answered Success go into `answered`.
async fn route_until_gone(
    port: u16,
    next_tid: &Arc<AtomicU32>,
    answered: &Arc<Mutex<BTreeSet<u32>>>,
    limit: Duration,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let deadline = Instant::now() + limit;
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (client, next_tid, answered) =
            (client.clone(), Arc::clone(next_tid), Arc::clone(answered));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let tid = next_tid.fetch_add(1, Ordering::Relaxed);
                let request = json!({"ProtocolVersion":"1.1","SenderID":"000013",
                    "ReceiverID":"000014","TransactionID":tid,"MessageType":"PRStartReq",
                    "PHYPayload":"400000000a000800b41451a9",
                    "ULMetaData":{"DataRate":0,"ULFreq":868.1,"RecvTime":"2026-11-22T12:34:56.789Z",
                        "RFRegion":"EU868","GWCnt":1,"GWInfo":[{"ID":"05060708","RSSI":-40,
                        "SNR":7.5,"ULToken":"0a10","DLAllowed":true}]}});
                let sent = client
                    .post(format!("http://127.0.0.1:{port}/bi"))
                    .bearer_auth(SENDER_TOKEN)
                    .header("content-type", "application/json")
                    .body(request.to_string())
                    .send()
                    .await;
                let Ok(response) = sent else { return };
                let Ok(bytes) = response.bytes().await else {
                    return;
                };
                let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                if answer["Result"]["ResultCode"] == "Success" {
                    answered.lock().expect("lock").insert(tid);
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
}

#[tokio::test]
async fn kill_9_while_routing_loses_no_usage_record_of_an_answered_transaction() {
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        run(engine, &scratch).await;
        scratch.drop_now().await;
    }
}

async fn run(engine: Engine, scratch: &ScratchDatabase) {
    // The receiver runs in this process; the sender is this test's clients.
    let (_receiver, receiver_addr) = start_receiver().await;

    let dir = tempfile::tempdir().expect("tempdir");
    let members = dir.path().join("members.toml");
    std::fs::write(
        &members,
        format!(
            "[[member]]\nid = \"ns13\"\nurl = \"http://127.0.0.1:9/bi\"\ntoken = \"{SENDER_TOKEN}\"\n\
             net_id = \"000013\"\n\n[[member]]\nid = \"ns14\"\nurl = \"http://{receiver_addr}/bi\"\n\
             token = \"token-of-member-ns14\"\nnet_id = \"000014\"\n"
        ),
    )
    .expect("members file");
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).expect("policies dir");
    std::fs::write(
        policies.join("agreements.toml"),
        "[[agreement]]\nid = \"ns13/ns14\"\nbetween = [\"ns13\", \"ns14\"]\n",
    )
    .expect("policy file");
    let config = dir.path().join("hub.toml");
    std::fs::write(
        &config,
        format!(
            "[members]\nfile = {:?}\n\n[policies]\ndir = {:?}\n",
            members.display().to_string(),
            policies.display().to_string()
        ),
    )
    .expect("config");

    let url = scratch.config.url.clone();
    let next_tid = Arc::new(AtomicU32::new(1));
    let answered: Arc<Mutex<BTreeSet<u32>>> = Arc::default();
    for crash in 0..CRASHES {
        let port = free_port();
        let mut child = spawn_hub(&config, &url, port);
        wait_healthy(port).await;
        let traffic = {
            let (next_tid, answered) = (Arc::clone(&next_tid), Arc::clone(&answered));
            tokio::spawn(async move {
                route_until_gone(port, &next_tid, &answered, Duration::from_secs(10)).await;
            })
        };
        tokio::time::sleep(Duration::from_millis(400 + 150 * crash as u64)).await;
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        traffic.await.expect("traffic");
    }

    // Killed and restarted: the restarted hub stores what the killed one journaled before
    // it serves (on SQLite the answer waited for the journal, not for the database).
    let port = free_port();
    let mut child = spawn_hub(&config, &url, port);
    wait_healthy(port).await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    // Every transaction answered Success has its record, with that result.
    let database = Database::connect(&scratch.config, hub::storage::MIGRATIONS)
        .await
        .expect("database");
    let store = hub::udr::UdrStore::new(database.pool().clone());
    let now = time::OffsetDateTime::now_utc();
    let mut filter = hub::udr::UdrFilter::period(
        now - time::Duration::hours(1),
        now + time::Duration::hours(1),
        10_000,
    );
    let mut recorded: BTreeMap<u32, String> = BTreeMap::new();
    loop {
        let page = store.query(&filter).await.expect("query");
        for udr in &page {
            if let Some(tid) = udr.transaction_id {
                recorded.insert(tid, udr.result_code.clone());
            }
        }
        match page.last().and_then(|u| u.id) {
            Some(last) if page.len() == 10_000 => filter = filter.after(last),
            _ => break,
        }
    }
    database.close().await;

    let answered = answered.lock().expect("lock").clone();
    let missing: Vec<_> = answered
        .iter()
        .filter(|tid| recorded.get(tid).map(String::as_str) != Some("Success"))
        .collect();
    assert!(
        missing.is_empty(),
        "{engine:?}: {} of {} transactions answered Success have no Success record: {:?}",
        missing.len(),
        answered.len(),
        &missing[..missing.len().min(20)]
    );
    assert!(
        answered.len() > 100,
        "{engine:?}: only {} transactions answered; the test did not exercise the crash path",
        answered.len()
    );
}
