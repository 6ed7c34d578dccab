//! The whole uplink pipeline under load, in one process: a real nsd (Semtech UDP front end,
//! deduplication, device match and MIC, counter stored, application event, class A answer)
//! on a scratch database, driven over loopback UDP by simulated gateways
//! ([`conformance_tests::load::uplinks`]).
//!
//! ```text
//! cargo run --release -p nsd --example uplink_load -- [--engine sqlite|postgres]
//!     [--sqlite-sync normal|full] [--devices 100000] [--rate 10000] [--duration-s 20]
//!     [--gateways 8] [--heard-by 2] [--confirmed-every 100] [--version 1.0.4|1.1]
//!     [--window-ms 250] [--provision-concurrency 64] [--warm-up-passes 0]
//!     [--warm-up-rate RATE]
//! ```
//!
//! `--warm-up-passes N` first has every device send N frames (at the same rate, not
//! counted), so the measured run sees the steady state of a running network — sessions whose
//! MAC state settled at their first uplinks — instead of every device's first contact.
//! `--warm-up-rate` sends the warm-up slower than the measured run: a server that falls
//! behind during the warm-up answers its MAC requests too late for the receive windows, so
//! they stay pending and the "steady state" is not one.
//!
//! Devices are provisioned through [`NetworkServer::put_device`] (what the admin API calls:
//! stored, then put in the registry), `--provision-concurrency` at a time. The accepted
//! uplinks are counted from the pipeline's `served` channel (every frame's outcome) and
//! timed from the application events (`received_at`, the first reception, to the event).
//! Prints a human summary on stderr and one JSON line on stdout.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use conformance_tests::load::stats::Histogram;
use conformance_tests::load::uplinks::{abp_identity, run_uplinks, UplinkLoadConfig};
use conformance_tests::sim::{MacVersion as SimVersion, SessionKeys as SimKeys, FIRST_GATEWAY_EUI};
use lorawan::ids::{AesKey, DevAddr, Eui64};
use lorawan::join::MacVersion;
use lorawan::region::Region;
use nsd::app::pipeline::Served;
use nsd::app::{NetworkServer, UplinkOutcome};
use nsd::device::{Device, DeviceProfile, NetworkKeys, Session, SessionKeys};
use nsd::gateway::registry::Gateway;
use service::testing::{Engine, ScratchDatabase};

const FIRST_DEV_ADDR: u32 = 0x2600_0000;
const SEED: u64 = 1;

#[derive(Debug)]
struct Args {
    engine: Engine,
    sqlite_sync: String,
    devices: u32,
    rate: u32,
    duration_s: u64,
    gateways: usize,
    heard_by: usize,
    confirmed_every: u32,
    version: SimVersion,
    window_ms: u64,
    provision_concurrency: usize,
    warm_up_passes: u32,
    warm_up_rate: Option<u32>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        engine: Engine::Sqlite,
        sqlite_sync: "normal".into(),
        devices: 100_000,
        rate: 10_000,
        duration_s: 20,
        gateways: 8,
        heard_by: 2,
        confirmed_every: 100,
        version: SimVersion::V1_0_4,
        window_ms: 250,
        provision_concurrency: 64,
        warm_up_passes: 0,
        warm_up_rate: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--engine" => {
                args.engine = match value.as_str() {
                    "sqlite" => Engine::Sqlite,
                    "postgres" => Engine::Postgres,
                    _ => return Err(bad(&"sqlite or postgres")),
                }
            }
            "--sqlite-sync" => args.sqlite_sync = value,
            "--devices" => args.devices = value.parse().map_err(|e| bad(&e))?,
            "--rate" => args.rate = value.parse().map_err(|e| bad(&e))?,
            "--duration-s" => args.duration_s = value.parse().map_err(|e| bad(&e))?,
            "--gateways" => args.gateways = value.parse().map_err(|e| bad(&e))?,
            "--heard-by" => args.heard_by = value.parse().map_err(|e| bad(&e))?,
            "--confirmed-every" => args.confirmed_every = value.parse().map_err(|e| bad(&e))?,
            "--window-ms" => args.window_ms = value.parse().map_err(|e| bad(&e))?,
            "--warm-up-rate" => args.warm_up_rate = Some(value.parse().map_err(|e| bad(&e))?),
            "--warm-up-passes" => args.warm_up_passes = value.parse().map_err(|e| bad(&e))?,
            "--provision-concurrency" => {
                args.provision_concurrency = value.parse().map_err(|e| bad(&e))?
            }
            "--version" => {
                args.version = match value.as_str() {
                    "1.0.4" => SimVersion::V1_0_4,
                    "1.1" => SimVersion::V1_1,
                    _ => return Err(bad(&"1.0.4 or 1.1")),
                }
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(args)
}

/// The nsd's view of device `index` (the same keys the simulator derives).
fn session_of(index: u32, version: SimVersion) -> Session {
    let id = abp_identity(SEED, index, FIRST_DEV_ADDR, version);
    let (network, app, mac_version) = match id.keys {
        SimKeys::V1_0 {
            nwk_s_key,
            app_s_key,
        } => (
            NetworkKeys::V1_0 {
                nwk_s_key: AesKey::new(nwk_s_key),
            },
            app_s_key,
            MacVersion::V1_0_4,
        ),
        SimKeys::V1_1 {
            f_nwk_s_int_key,
            s_nwk_s_int_key,
            nwk_s_enc_key,
            app_s_key,
        } => (
            NetworkKeys::V1_1 {
                f_nwk_s_int_key: AesKey::new(f_nwk_s_int_key),
                s_nwk_s_int_key: AesKey::new(s_nwk_s_int_key),
                nwk_s_enc_key: AesKey::new(nwk_s_enc_key),
            },
            app_s_key,
            MacVersion::V1_1,
        ),
    };
    Session::new(
        DevAddr::from_be_bytes(id.dev_addr.to_be_bytes()),
        mac_version,
        SessionKeys {
            network,
            app_s_key: Some(AesKey::new(app)),
        },
    )
}

async fn provision(server: &Arc<NetworkServer>, args: &Args) -> Result<(), String> {
    let version = match args.version {
        SimVersion::V1_1 => MacVersion::V1_1,
        _ => MacVersion::V1_0_4,
    };
    let mut profile = DeviceProfile::defaults("load", Region::Us915, version);
    profile.supports_join = false;
    server
        .put_profile(profile)
        .await
        .map_err(|e| e.to_string())?;
    for i in 0..args.gateways as u64 {
        server
            .put_gateway(Gateway {
                id: Eui64::from_u64(FIRST_GATEWAY_EUI.0 + i),
                name: format!("gw{i}"),
                location: None,
                tags: vec![],
                tenant: None,
            })
            .await
            .map_err(|e| e.to_string())?;
    }
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.provision_concurrency.max(1) {
        let (server, next, count, version) =
            (server.clone(), next.clone(), args.devices, args.version);
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Ok(i) = u32::try_from(i) else { break };
                if i >= count {
                    break;
                }
                let id = abp_identity(SEED, i, FIRST_DEV_ADDR, version);
                let device = Device {
                    dev_eui: Eui64::from_u64(id.dev_eui.0),
                    name: format!("d{i}"),
                    tenant: "load".into(),
                    profile: "load".into(),
                    join_eui: None,
                    roaming: false,
                    as_link: None,
                };
                server
                    .put_device(device, Some(session_of(i, version)))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        });
    }
    while let Some(done) = workers.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// CPU seconds per thread-name group (tokio workers, sqlx's SQLite worker, …).
fn cpu_by_thread() -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let Some(open) = stat.find('(') else {
            continue;
        };
        let name: String = stat[open + 1..]
            .split(')')
            .next()
            .unwrap_or("")
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
            .to_owned();
        *out.entry(name).or_default() += service::process::stat_cpu_seconds(&stat);
    }
    out
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[derive(Default)]
struct Outcomes {
    accepted: u64,
    retransmissions: u64,
    refused: BTreeMap<String, u64>,
    answered: u64,
    first_refusal: Option<String>,
    first_accepted: Option<Instant>,
    last_accepted: Option<Instant>,
}

/// Lets a backlog finish (an overloaded run): until no frame is served for a second, at
/// most a minute.
async fn wait_for_backlog(outcomes: &Mutex<Outcomes>) {
    let served_so_far =
        |o: &Outcomes| o.accepted + o.retransmissions + o.refused.values().sum::<u64>();
    let mut last = u64::MAX;
    for _ in 0..60 {
        let now = served_so_far(&outcomes.lock().unwrap_or_else(|e| e.into_inner()));
        if now == last {
            break;
        }
        last = now;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let scratch = ScratchDatabase::create(args.engine).await;
    let env: BTreeMap<String, String> = [
        ("NSD_SERVER__LISTEN", "127.0.0.1:0".to_owned()),
        ("NSD_GATEWAYS__UDP_LISTEN", "127.0.0.1:0".to_owned()),
        (
            "NSD_KEYS__MASTER_KEY",
            "000102030405060708090a0b0c0d0e0f".to_owned(),
        ),
        ("NSD_NETWORK__NET_ID", "000013".to_owned()),
        ("NSD_DATABASE__URL", scratch.config.url.clone()),
        ("NSD_DATABASE__SQLITE_SYNC", args.sqlite_sync.clone()),
        ("NSD_UPLINK__DEDUP_WINDOW_MS", args.window_ms.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config: nsd::Config = service::config::load(None, "NSD", &env)?;
    let (tx, mut served) = tokio::sync::mpsc::unbounded_channel();
    let (daemon, handles) = nsd::start_with(&config, Some(tx)).await?;
    let server = handles.server;
    let rss_empty = vm_rss_kib();

    let started = Instant::now();
    provision(&server, &args).await?;
    let provision_s = started.elapsed().as_secs_f64();
    eprintln!(
        "provisioned {} devices in {provision_s:.1} s ({:.0}/s); RSS {} MiB (empty: {} MiB)",
        args.devices,
        f64::from(args.devices) / provision_s,
        vm_rss_kib() / 1024,
        rss_empty / 1024
    );

    // Every frame's outcome, and the pipeline latency of the accepted ones.
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let counting = {
        let outcomes = outcomes.clone();
        tokio::spawn(async move {
            while let Some(s) = served.recv().await {
                let mut o = outcomes.lock().unwrap_or_else(|e| e.into_inner());
                match s {
                    Served::Uplink(UplinkOutcome::Accepted(_), delivery) => {
                        o.accepted += 1;
                        o.answered += u64::from(delivery.is_some());
                        let now = Instant::now();
                        o.first_accepted.get_or_insert(now);
                        o.last_accepted = Some(now);
                    }
                    Served::Uplink(UplinkOutcome::Retransmission { .. }, _) => {
                        o.retransmissions += 1
                    }
                    Served::Uplink(UplinkOutcome::Refused(reason), _) => {
                        if o.first_refusal.is_none() {
                            o.first_refusal = Some(reason.to_string());
                        }
                        let key = format!("{reason:?}");
                        let key = key.split(['(', ' ', '{']).next().unwrap_or("").to_owned();
                        *o.refused.entry(key).or_default() += 1;
                    }
                    other => *o.refused.entry(format!("{other:?}")).or_default() += 1,
                }
            }
        })
    };
    let latency = Arc::new(Mutex::new(Histogram::default()));
    let mut events = server.subscribe();
    let lagged = Arc::new(AtomicU64::new(0));
    let timing = {
        let (latency, lagged) = (latency.clone(), lagged.clone());
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        let took = SystemTime::now()
                            .duration_since(event.received_at)
                            .unwrap_or_default();
                        latency
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .record(took);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        lagged.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    };

    let mut load = UplinkLoadConfig::new(handles.udp_addr);
    load.devices = args.devices;
    load.seed = SEED;
    load.first_dev_addr = FIRST_DEV_ADDR;
    load.version = args.version;
    load.gateways = args.gateways;
    load.heard_by = args.heard_by;
    load.rate_per_s = args.rate;
    load.duration = Duration::from_secs(args.duration_s);
    load.confirmed_every = args.confirmed_every;
    load.dedup_window = Duration::from_millis(args.window_ms);
    if args.warm_up_passes > 0 {
        let frames = u64::from(args.devices) * u64::from(args.warm_up_passes);
        let mut warm_up = load.clone();
        warm_up.rate_per_s = args.warm_up_rate.unwrap_or(args.rate).max(1);
        warm_up.duration = Duration::from_secs_f64(frames as f64 / f64::from(warm_up.rate_per_s));
        let summary = run_uplinks(&warm_up, None).await?;
        wait_for_backlog(&outcomes).await;
        let warmed = std::mem::take(&mut *outcomes.lock().unwrap_or_else(|e| e.into_inner()));
        *latency.lock().unwrap_or_else(|e| e.into_inner()) = Histogram::default();
        eprintln!(
            "warm-up: {} frames sent in {:.1} s, {} accepted, refused {:?}",
            summary.frames, summary.send_s, warmed.accepted, warmed.refused
        );
        // Each device sent at most this many frames: the measured run counts on from there.
        load.fcnt_start = u32::try_from(frames.div_ceil(u64::from(args.devices.max(1))) + 1)?;
    }
    let cpu_before = service::process::cpu_seconds();
    let threads_before = cpu_by_thread();
    let load_started = Instant::now();
    let summary = run_uplinks(&load, None).await?;
    let cpu = service::process::cpu_seconds() - cpu_before;
    let mut threads = cpu_by_thread();
    for (name, before) in threads_before {
        if let Some(after) = threads.get_mut(&name) {
            *after -= before;
        }
    }
    let wall = load_started.elapsed().as_secs_f64();
    let rss_loaded = vm_rss_kib();

    wait_for_backlog(&outcomes).await;
    timing.abort();
    // The pipeline holds a sender: stop the daemon, then read the counts.
    daemon.stop().await?;
    drop(server);
    let _ = tokio::time::timeout(Duration::from_secs(2), counting).await;
    let o = std::mem::take(&mut *outcomes.lock().unwrap_or_else(|e| e.into_inner()));
    let latency = latency.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // Accepted per second: from the first send to the last event, less the one window every
    // frame waits.
    let span = o
        .last_accepted
        .map(|last| (last - load_started).as_secs_f64() - args.window_ms as f64 / 1000.0)
        .unwrap_or(f64::NAN);
    let accepted_per_s = o.accepted as f64 / span.max(summary.send_s);
    let ms = |q: f64| latency.quantile_us(q).map(|us| us as f64 / 1000.0);
    eprintln!("{}", summary.human());
    eprintln!(
        "nsd: {} accepted ({accepted_per_s:.0}/s), {} retransmissions, refused {:?}, {} answered; \
         UDP in → event (incl. the {} ms window): p50 {:?} p99 {:?} ms ({} events lagged)",
        o.accepted,
        o.retransmissions,
        o.refused,
        o.answered,
        args.window_ms,
        ms(0.5),
        ms(0.99),
        lagged.load(Ordering::Relaxed),
    );
    eprintln!(
        "process CPU during the run: {cpu:.1} s over {wall:.1} s wall ({:.0} µs per frame sent, nsd + simulator); RSS {} MiB",
        cpu * 1e6 / summary.frames.max(1) as f64,
        rss_loaded / 1024
    );
    if let Some(reason) = &o.first_refusal {
        eprintln!("first refusal: {reason}");
    }
    eprintln!("CPU seconds by thread during the run: {threads:.1?}");
    let json = serde_json::json!({
        "engine": format!("{:?}", args.engine),
        "sqlite_sync": args.sqlite_sync,
        "devices": args.devices,
        "provision_s": provision_s,
        "target_rate": args.rate,
        "gateways": args.gateways,
        "heard_by": args.heard_by,
        "version": format!("{:?}", args.version),
        "accepted": o.accepted,
        "accepted_per_s": accepted_per_s,
        "retransmissions": o.retransmissions,
        "refused": o.refused,
        "answered": o.answered,
        "event_latency_p50_ms": ms(0.5),
        "event_latency_p99_ms": ms(0.99),
        "cpu_s": cpu,
        "cpu_by_thread": threads,
        "rss_kib": rss_loaded,
        "load": summary,
    });
    println!("{json}");
    scratch.drop_now().await;
    Ok(())
}
