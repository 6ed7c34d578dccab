//! The nsd as serving NS under load: PRStartReq for data uplinks of roaming ABP devices
//! POSTed to a real nsd's `/bi` on loopback (as the hub would), each answered PRStartAns
//! after the frame went through the uplink path (MIC, counter stored, MAC, event).
//!
//! ```text
//! cargo run --release -p nsd --example roaming_load -- [--devices 2000] [--frames 20]
//!     [--concurrency 64] [--rate 1000] [--paced-s 10]
//! ```
//!
//! Phase 1 sends every frame as fast as `--concurrency` connections allow (each connection
//! owns its devices, so one device's frames arrive in order) and prints the throughput;
//! phase 2 sends `--rate` per second for `--paced-s` seconds and prints the latency
//! quantiles. Every answer must be Success, else the run says how many were not.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conformance_tests::load::stats::Histogram;
use conformance_tests::sim::Uplink;
use lorawan::join::MacVersion;
use lorawan::region::Region;
use nsd::device::DeviceProfile;
use service::testing::{Engine, ScratchDatabase};

const FIRST_DEV_ADDR: u32 = 0x2600_0000;
const HUB_TOKEN: &str = "hub-token-at-the-nsd-000";

struct Args {
    devices: u32,
    frames: u32,
    concurrency: usize,
    rate: u32,
    paced_s: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        devices: 2000,
        frames: 20,
        concurrency: 64,
        rate: 1000,
        paced_s: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let parsed = value
            .parse::<u64>()
            .map_err(|e| format!("{flag} {value}: {e}"))?;
        match flag.as_str() {
            "--devices" => args.devices = u32::try_from(parsed).map_err(|e| e.to_string())?,
            "--frames" => args.frames = u32::try_from(parsed).map_err(|e| e.to_string())?,
            "--concurrency" => args.concurrency = parsed.max(1) as usize,
            "--rate" => args.rate = u32::try_from(parsed.max(1)).map_err(|e| e.to_string())?,
            "--paced-s" => args.paced_s = parsed,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(args)
}

/// A PRStartReq body for `phy` as a 1.1 fNS of NetID 000014 would send it.
fn pr_start_req(phy: &[u8], dev_addr: u32, transaction_id: u64) -> Vec<u8> {
    serde_json::json!({
        "ProtocolVersion": "1.1", "SenderID": "000014", "ReceiverID": "000013",
        "TransactionID": transaction_id % u64::from(u32::MAX), "MessageType": "PRStartReq",
        "PHYPayload": hex::encode(phy),
        "ULMetaData": {
            "DevAddr": format!("{dev_addr:08X}"), "DataRate": 5, "ULFreq": 868.1,
            "RecvTime": "2026-12-03T12:00:00Z", "RFRegion": "EU868", "GWCnt": 1,
            "GWInfo": [{ "ID": "0102030405060708", "RFRegion": "EU868", "RSSI": -80,
                         "SNR": 7.5, "DLAllowed": false }],
        },
    })
    .to_string()
    .into_bytes()
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = parse_args()?;
    let scratch = ScratchDatabase::create(Engine::Sqlite).await;
    let env: BTreeMap<String, String> = [
        ("NSD_SERVER__LISTEN", "127.0.0.1:0"),
        ("NSD_GATEWAYS__UDP_LISTEN", "127.0.0.1:0"),
        ("NSD_KEYS__MASTER_KEY", "000102030405060708090a0b0c0d0e0f"),
        ("NSD_NETWORK__NET_ID", "000013"),
        ("NSD_DATABASE__URL", scratch.config.url.as_str()),
        // No hub is running: the peer configuration stays empty (the sNS answers anyway).
        ("NSD_ROAMING__HUB_URL", "http://127.0.0.1:9/bi"),
        ("NSD_ROAMING__INBOUND_TOKEN", HUB_TOKEN),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config: nsd::Config =
        service::config::load(None, "NSD", &env).map_err(|e| e.to_string())?;
    let (daemon, handles) = nsd::start_with(&config, None)
        .await
        .map_err(|e| e.to_string())?;
    let server = handles.server;
    let mut profile = DeviceProfile::defaults("abp", Region::Eu868, MacVersion::V1_0_4);
    profile.supports_join = false;
    server
        .put_profile(profile)
        .await
        .map_err(|e| e.to_string())?;
    // Every device's frames, built up front with the device's real keys.
    let mut frames: Vec<Vec<(u32, Vec<u8>)>> = Vec::with_capacity(args.devices as usize);
    for i in 0..args.devices {
        let mut device = common::roaming_load_device(&server, 1, i, FIRST_DEV_ADDR, "abp").await;
        let dev_addr = FIRST_DEV_ADDR + i;
        let mut own = Vec::with_capacity(args.frames as usize);
        for _ in 0..args.frames {
            let phy = device
                .uplink(&Uplink::unconfirmed(1, b"roaming load"))
                .map_err(|e| e.to_string())?;
            own.push((dev_addr, phy));
        }
        frames.push(own);
    }
    let url = format!("http://{}/bi", daemon.local_addr);
    let http = reqwest::Client::new();
    let post = {
        let (http, url) = (http.clone(), url.clone());
        move |body: Vec<u8>| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let answer = http
                    .post(&url)
                    .bearer_auth(HUB_TOKEN)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .bytes()
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<bool, String>(
                    std::str::from_utf8(&answer).is_ok_and(|a| a.contains("\"Success\"")),
                )
            }
        }
    };
    // Phase 1: throughput. The first half of each device's frames.
    let half = (args.frames / 2) as usize;
    let per_worker: Vec<Vec<Vec<u8>>> = {
        let mut workers = vec![Vec::new(); args.concurrency];
        for (d, own) in frames.iter().enumerate() {
            for (n, (addr, phy)) in own[..half].iter().enumerate() {
                let tid = (d * args.frames as usize + n) as u64;
                workers[d % args.concurrency].push(pr_start_req(phy, *addr, tid));
            }
        }
        workers
    };
    let total: usize = per_worker.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for bodies in per_worker {
        let post = post.clone();
        tasks.spawn(async move {
            let mut ok = 0usize;
            for body in bodies {
                ok += usize::from(post(body).await.unwrap_or(false));
            }
            ok
        });
    }
    let mut ok = 0;
    while let Some(done) = tasks.join_next().await {
        ok += done.map_err(|e| e.to_string())?;
    }
    let elapsed = started.elapsed();
    eprintln!(
        "throughput: {total} PRStartReq in {:.2} s = {:.0}/s ({ok} Success)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    // Phase 2: paced, latency. The second half, round-robin over devices (one device's
    // frames are seconds apart, so they stay in order).
    let bodies: Vec<Vec<u8>> = (half..args.frames as usize)
        .flat_map(|n| frames.iter().enumerate().map(move |(d, own)| (d, n, own)))
        .map(|(d, n, own)| pr_start_req(&own[n].1, own[n].0, (1 << 40) + (d * 1000 + n) as u64))
        .take(args.rate as usize * args.paced_s as usize)
        .collect();
    let histogram = Arc::new(std::sync::Mutex::new(Histogram::default()));
    let interval = Duration::from_secs(1) / args.rate;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let sent = bodies.len();
    for (k, body) in bodies.into_iter().enumerate() {
        tokio::time::sleep_until((started + interval * k as u32).into()).await;
        let (post, histogram) = (post.clone(), histogram.clone());
        tasks.spawn(async move {
            let at = Instant::now();
            let ok = post(body).await.unwrap_or(false);
            histogram
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .record(at.elapsed());
            ok
        });
    }
    let mut ok = 0;
    while let Some(done) = tasks.join_next().await {
        ok += usize::from(done.map_err(|e| e.to_string())?);
    }
    let histogram = histogram.lock().unwrap_or_else(|e| e.into_inner());
    let ms = |q| {
        histogram
            .quantile_us(q)
            .map_or(0.0, |us| us as f64 / 1000.0)
    };
    eprintln!(
        "paced {} /s: {sent} PRStartReq ({ok} Success), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        args.rate,
        ms(0.5),
        ms(0.99),
        histogram.max_us().unwrap_or(0) as f64 / 1000.0
    );
    println!(
        "{}",
        serde_json::json!({
            "throughput_per_s": total as f64 / elapsed.as_secs_f64(),
            "paced_rate": args.rate, "p50_ms": ms(0.5), "p99_ms": ms(0.99),
        })
    );
    Ok(())
}
