//! End-to-end load of the AS tunnel's downlink API (seed 001 §7, API v2, token checked): the
//! real nsd started in this process on loopback (SQLite in a scratch directory), `DEVICES`
//! ABP devices linked to one AS with a Tunnel Interface Authentication Key, and `WORKERS`
//! keep-alive HTTP clients sending signed v2 downlinks round-robin over the devices (so the
//! five-frame queue of a device is not what refuses them) for `SECONDS`.
//!
//! ```text
//! cargo run --release -p nsd --example downlink_load -- [DEVICES] [WORKERS] [SECONDS]
//! ```
//!
//! Prints accepted requests per second (HTTP 202), refusals by code, and the latency
//! percentiles of accepted requests. Client and server share the machine's cores: the
//! client's signing (SHA-256 per request) and HTTP work count against the server's figure.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lorawan::ids::{AesKey, DevAddr, Eui64};
use lorawan::join::MacVersion;
use lorawan::region::Region;
use nsd::device::{Device, DeviceProfile, NetworkKeys, Session, SessionKeys};
use nsd::tunnel::config::{AsProfileConfig, ContentTypeConfig, DeviceAsLink, RouteConfig};

const AS_KEY: &str = "46ab678cd45df4a4e4b375eacd096acc";

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut arg = |default: usize| args.next().and_then(|a| a.parse().ok()).unwrap_or(default);
    let devices = arg(10_000);
    let workers = arg(32);
    let seconds = arg(10) as u64;

    let dir = std::env::temp_dir().join(format!("downlink_load_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let vars: BTreeMap<String, String> = [
        ("NSD_SERVER__LISTEN", "127.0.0.1:0".to_owned()),
        ("NSD_GATEWAYS__UDP_LISTEN", "127.0.0.1:0".to_owned()),
        (
            "NSD_KEYS__MASTER_KEY",
            "000102030405060708090a0b0c0d0e0f".to_owned(),
        ),
        ("NSD_NETWORK__NET_ID", "000013".to_owned()),
        (
            "NSD_DATABASE__URL",
            format!("sqlite://{}/load.db?mode=rwc", dir.display()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut config: nsd::Config = service::config::load(None, "NSD", &vars).expect("config");
    config.tunnel.as_profiles.push(AsProfileConfig {
        as_id: "load-as".into(),
        key: Some(service::config::Secret(AS_KEY.parse().expect("key"))),
        transport_key: None,
        max_time_deviation_s: 60,
        max_in_flight: 16,
        timeout_ms: 2000,
        routes: vec![RouteConfig {
            url: "http://127.0.0.1:9/unused".into(),
            content_type: ContentTypeConfig::Json,
        }],
    });
    let (running, handles) = nsd::start_with(&config, None).await.expect("nsd starts");
    let server = handles.server;

    let provisioning = Instant::now();
    let mut profile = DeviceProfile::defaults("abp", Region::Eu868, MacVersion::V1_0_4);
    profile.supports_join = false;
    server.put_profile(profile).await.expect("profile");
    for i in 0..devices {
        let n = u32::try_from(i).expect("device count fits u32");
        server
            .put_device(
                Device {
                    dev_eui: Eui64::from_u64(0x70B3_D500_0000_0000 + u64::from(n)),
                    name: format!("d{i}"),
                    tenant: "load".into(),
                    profile: "abp".into(),
                    join_eui: None,
                    roaming: false,
                    as_link: Some(DeviceAsLink {
                        as_id: "load-as".into(),
                        lrn_infos: String::new(),
                        customer_id: "1".into(),
                        customer_data: None,
                        driver_cfg: None,
                        downlink_rate_per_s: None,
                        downlink_burst: None,
                        confirmed_downlinks: true,
                    }),
                },
                Some(Session::new(
                    DevAddr::from_be_bytes((0x2600_0000 + n).to_be_bytes()),
                    MacVersion::V1_0_4,
                    SessionKeys {
                        network: NetworkKeys::V1_0 {
                            nwk_s_key: AesKey::new([0x11; 16]),
                        },
                        app_s_key: Some(AesKey::new([0x22; 16])),
                    },
                )),
            )
            .await
            .expect("device");
    }
    eprintln!(
        "{devices} devices provisioned in {:.1} s; {workers} workers for {seconds} s",
        provisioning.elapsed().as_secs_f64()
    );

    let base = format!(
        "http://{}/thingpark/lrc/rest/v2/downlink",
        running.local_addr
    );
    let key: AesKey = AS_KEY.parse().expect("key");
    let next = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(workers)
        .build()
        .expect("client");
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, base, next) = (client.clone(), base.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies_us = Vec::new();
            let mut refusals: BTreeMap<String, u64> = BTreeMap::new();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed) % devices;
                let dev_eui = format!("{:016X}", 0x70B3_D500_0000_0000_u64 + i as u64);
                let time = nsd::tunnel::time::format(SystemTime::now());
                let signed =
                    format!("DevEUI={dev_eui}&FPort=2&Payload=0102&AS_ID=load-as&Time={time}");
                let token = nsd::tunnel::token::downlink_token(signed.as_bytes(), &key);
                let url = format!(
                    "{base}?DevEUI={dev_eui}&FPort=2&Payload=0102&AS_ID=load-as&Time={}&Token={}",
                    nsd::tunnel::time::url_encode(&time),
                    nsd::tunnel::token::to_hex(&token)
                );
                let sent = Instant::now();
                match client.post(url).send().await {
                    Ok(r) if r.status().as_u16() == 202 => {
                        let _ = r.bytes().await;
                        latencies_us
                            .push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                    }
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body = r.text().await.unwrap_or_default();
                        let code = serde_json::from_str::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| v.get("code").cloned())
                            .map_or(format!("HTTP {status}"), |c| format!("code {c}"));
                        *refusals.entry(code).or_default() += 1;
                    }
                    Err(e) => {
                        *refusals.entry(format!("error {e}")).or_default() += 1;
                    }
                }
            }
            (latencies_us, refusals)
        }));
    }
    let mut latencies = Vec::new();
    let mut refusals: BTreeMap<String, u64> = BTreeMap::new();
    for task in tasks {
        let (l, r) = task.await.expect("worker");
        latencies.extend(l);
        for (k, v) in r {
            *refusals.entry(k).or_default() += v;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| {
        let idx = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(idx).copied().unwrap_or(0) as f64 / 1000.0
    };
    println!(
        "accepted {} in {elapsed:.2} s = {:.0}/s; refused {refusals:?}",
        latencies.len(),
        latencies.len() as f64 / elapsed
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    running.stop().await.expect("stops");
    let _ = std::fs::remove_dir_all(&dir);
}
