//! kill -9 in the middle of a stream of uplinks: the real `nsd` binary, provisioned through
//! its admin API, acknowledges the simulator's confirmed uplinks until it is killed
//! (SIGKILL), then restarts on the same database and the same UDP port; three times, on
//! SQLite and on PostgreSQL. After each restart:
//!
//! - no uplink sent before the kill is accepted again. The exception: the last frame the nsd
//!   stored, sent again, is a retransmission, and a confirmed one is acknowledged again, with
//!   a new downlink counter (TS001 1.0.4 §4.3.1.2: "If the Network receives such a confirmed
//!   frame it SHOULD send an acknowledgment"). A frame in flight at the kill may not have
//!   been stored; then it is accepted as new, which is right.
//! - new uplinks are accepted;
//! - every downlink FCnt a device receives, across all runs, is above all it received
//!   before: the nsd stores a downlink counter before the frame leaves, so none is reused.
//!
//! The checks read what the nsd shows over HTTP (`GET /api/devices/{dev_eui}`: the counters
//! as stored) and what the devices receive over UDP; nothing reaches into the process.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conformance_tests::sim::device::SessionKeys as SimKeys;
use conformance_tests::sim::{
    DevAddr as SimDevAddr, Device as SimDevice, DeviceError, Heard, MacVersion as SimVersion,
    RadioParams, Simulation, Uplink, FIRST_GATEWAY_EUI,
};
use serde_json::{json, Value};
use service::testing::{free_port, wait_healthy, Engine, ScratchDatabase};

const TOKEN: &str = "crash-test-operator-token-01";
const MASTER_KEY: &str = "000102030405060708090a0b0c0d0e0f";
const DEVICES: usize = 4;
/// DevAddrs inside NetID 000013's range (type 0, NwkID 0x13).
const FIRST_ADDR: u32 = 0x2600_0b00;
const FIRST_DEV_EUI: u64 = 0x0004_a30b_0000_0100;
/// How many times the nsd is killed.
const CRASHES: usize = 3;
/// How long the stream runs before the first kill (a little longer before each next one).
const KILL_AFTER: Duration = Duration::from_millis(1200);
/// Bounds of the stream: it never runs longer nor sends more than this.
const STREAM_LIMIT: Duration = Duration::from_secs(20);
const MAX_UPLINKS: usize = 200;
/// How long an uplink waits for its ACK.
const ACK_WAIT: Duration = Duration::from_secs(3);
/// Silence long enough to say no answer is coming.
const QUIET: Duration = Duration::from_millis(1200);
/// New uplinks per device after the restart.
const AFTER_RESTART: usize = 5;

/// One simulated device: the sans-IO device, what it sent and what it received.
struct Dev {
    dev_eui: u64,
    addr: u32,
    state: Mutex<DevState>,
}

#[derive(Default)]
struct DevState {
    device: Option<SimDevice>,
    /// Uplinks sent, in order.
    sent: Vec<Sent>,
    /// Downlinks received, in order.
    downs: Vec<Down>,
}

/// An uplink sent.
#[derive(Debug, Clone)]
struct Sent {
    fcnt: u32,
    phy: Vec<u8>,
    /// Its ACK came.
    acked: bool,
}

#[derive(Debug, Clone, Copy)]
struct Down {
    /// Which nsd process sent it (0 until the first kill, 1 after it, …).
    run: usize,
    /// Its full FCnt.
    fcnt: u32,
    /// The device refused it: its counter is not above the last one received.
    reused: bool,
    /// FCtrl.ACK.
    ack: bool,
}

impl Dev {
    fn new(index: usize) -> Self {
        let addr = FIRST_ADDR + index as u32;
        let device = SimDevice::abp(
            SimVersion::V1_0_4,
            SimDevAddr(addr),
            SimKeys::V1_0 {
                nwk_s_key: nwk_s_key(index),
                app_s_key: app_s_key(index),
            },
        )
        .expect("ABP device");
        Self {
            dev_eui: FIRST_DEV_EUI + index as u64,
            addr,
            state: Mutex::new(DevState {
                device: Some(device),
                ..DevState::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DevState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Builds the next confirmed uplink and records it.
    fn next_uplink(&self) -> (u32, Vec<u8>) {
        let mut state = self.lock();
        let device = state.device.as_mut().expect("device");
        let fcnt = device
            .session()
            .and_then(|s| s.next_fcnt_up())
            .expect("an ABP session with counters left");
        let phy = device
            .uplink(&Uplink::confirmed(2, b"crash"))
            .expect("uplink");
        state.sent.push(Sent {
            fcnt,
            phy: phy.clone(),
            acked: false,
        });
        (fcnt, phy)
    }

    /// Records that the uplink `fcnt` was acknowledged.
    fn acked(&self, fcnt: u32) {
        let mut state = self.lock();
        if let Some(sent) = state.sent.iter_mut().find(|s| s.fcnt == fcnt) {
            sent.acked = true;
        }
    }

    fn acked_count(&self) -> usize {
        self.lock().sent.iter().filter(|s| s.acked).count()
    }

    fn downs(&self) -> usize {
        self.lock().downs.len()
    }

    /// Waits up to `wait` for more than `before` downlinks.
    async fn wait_downs(&self, before: usize, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if self.downs() > before {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.downs() > before
    }
}

fn nwk_s_key(index: usize) -> [u8; 16] {
    [0x10 + index as u8; 16]
}

fn app_s_key(index: usize) -> [u8; 16] {
    [0x60 + index as u8; 16]
}

/// The nsd binary as a child process, logging to a file.
struct Nsd {
    child: Child,
    port: u16,
}

fn spawn_nsd(dir: &std::path::Path, database_url: &str, udp_port: u16, run: usize) -> Nsd {
    let config = dir.join("nsd.toml");
    let port = free_port();
    let log = dir.join(format!("nsd-{run}.log"));
    let stderr = std::fs::File::create(&log).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_nsd"))
        .arg("--config")
        .arg(&config)
        .arg("--log")
        .arg("warn")
        .env("NSD_DATABASE__URL", database_url)
        .env("NSD_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("NSD_GATEWAYS__UDP_LISTEN", format!("127.0.0.1:{udp_port}"))
        .env("NSD_KEYS__MASTER_KEY", MASTER_KEY)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start nsd");
    Nsd { child, port }
}

fn config_toml() -> String {
    format!(
        "[network]\nnet_id = \"000013\"\n\n[uplink]\ndedup_window_ms = 50\n\n\
         [[operators]]\nname = \"ops\"\ntoken = \"{TOKEN}\"\n"
    )
}

/// A loopback UDP port free right now.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port")
}

async fn api(
    http: &reqwest::Client,
    port: u16,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http
        .request(method, format!("http://127.0.0.1:{port}{path}"))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("admin API answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn provision(http: &reqwest::Client, port: u16, devs: &[Arc<Dev>]) {
    let put = reqwest::Method::PUT;
    let gateway = format!("/api/gateways/{:016x}", FIRST_GATEWAY_EUI.0);
    let (status, body) = api(
        http,
        port,
        put.clone(),
        &gateway,
        Some(json!({"name": "gw0"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let profile = json!({"region": "EU868", "mac_version": "1.0.4", "supports_join": false});
    let (status, body) = api(
        http,
        port,
        put.clone(),
        "/api/device-profiles/abp",
        Some(profile),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for (index, dev) in devs.iter().enumerate() {
        let device = json!({
            "name": format!("meter-{index}"), "tenant": "acme", "profile": "abp",
            "session": {
                "dev_addr": format!("{:08x}", dev.addr),
                "nwk_s_key": hex::encode(nwk_s_key(index)),
                "app_s_key": hex::encode(app_s_key(index)),
            },
        });
        let path = format!("/api/devices/{:016x}", dev.dev_eui);
        let (status, body) = api(http, port, put.clone(), &path, Some(device)).await;
        assert_eq!(status, 200, "{body}");
    }
}

/// The session counters as the nsd stored them: (f_cnt_up_next, n_f_cnt_down).
async fn counters(http: &reqwest::Client, port: u16, dev: &Dev) -> (u32, u32) {
    let path = format!("/api/devices/{:016x}", dev.dev_eui);
    let (status, body) = api(http, port, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{body}");
    let session = &body["session"];
    let read = |name: &str| {
        session[name]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or_else(|| panic!("{name} in {body}"))
    };
    (read("f_cnt_up_next"), read("n_f_cnt_down"))
}

/// Routes every downlink any gateway receives to its device, which checks it; runs until
/// `stop` is set.
fn dispatch(
    sim: Arc<Simulation>,
    devs: Vec<Arc<Dev>>,
    run: Arc<Mutex<usize>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    strays: Arc<Mutex<Vec<String>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let Some(down) = sim.next_downlink(Duration::from_millis(100)).await else {
                continue;
            };
            let run = *run.lock().unwrap_or_else(|e| e.into_inner());
            let addr = down
                .phy
                .get(1..5)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            let Some(dev) = devs.iter().find(|d| Some(d.addr) == addr) else {
                strays
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!(
                        "run {run}: a downlink for no device: {:02x?}",
                        down.phy
                    ));
                continue;
            };
            let mut state = dev.lock();
            let device = state.device.as_mut().expect("device");
            let seen = match device.accept_downlink(&down.phy) {
                Ok(frame) => Down {
                    run,
                    fcnt: frame.fcnt,
                    reused: false,
                    ack: frame.ack,
                },
                Err(DeviceError::FCntReplay { fcnt, .. }) => Down {
                    run,
                    fcnt,
                    reused: true,
                    ack: false,
                },
                Err(e) => {
                    strays
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(format!(
                            "run {run}: device {:08x} refused a downlink: {e}",
                            dev.addr
                        ));
                    continue;
                }
            };
            state.downs.push(seen);
        }
    })
}

/// One device's stream: a confirmed uplink, its ACK, the next… until the nsd stops
/// answering (killed), or the bounds are reached.
async fn stream(sim: Arc<Simulation>, dev: Arc<Dev>, radio: RadioParams) {
    let deadline = Instant::now() + STREAM_LIMIT;
    for _ in 0..MAX_UPLINKS {
        if Instant::now() >= deadline {
            return;
        }
        let before = dev.downs();
        let (fcnt, phy) = dev.next_uplink();
        let pushed = sim
            .uplink(&phy, &radio, &[Heard::new(0, -80, 5.0)])
            .await
            .is_ok_and(|r| r.all_acked());
        if !pushed || !dev.wait_downs(before, ACK_WAIT).await {
            return;
        }
        dev.acked(fcnt);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_on_sqlite_reuses_no_downlink_counter_and_accepts_no_replayed_uplink() {
    let scratch = ScratchDatabase::create(Engine::Sqlite).await;
    run(Engine::Sqlite, &scratch).await;
    scratch.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_on_postgres_reuses_no_downlink_counter_and_accepts_no_replayed_uplink() {
    let scratch = ScratchDatabase::create(Engine::Postgres).await;
    run(Engine::Postgres, &scratch).await;
    scratch.drop_now().await;
}

/// What the test shares between its phases.
struct Harness {
    engine: Engine,
    http: reqwest::Client,
    sim: Arc<Simulation>,
    devs: Vec<Arc<Dev>>,
    radio: RadioParams,
    violations: Vec<String>,
}

impl Harness {
    fn violation(&mut self, dev: &Dev, what: String) {
        self.violations
            .push(format!("{:?} {:08x}: {what}", self.engine, dev.addr));
    }

    async fn send(&self, phy: &[u8]) -> bool {
        self.sim
            .uplink(phy, &self.radio, &[Heard::new(0, -80, 5.0)])
            .await
            .is_ok_and(|r| r.all_acked())
    }
}

async fn run(engine: Engine, scratch: &ScratchDatabase) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("nsd.toml"), config_toml()).expect("config");
    let url = scratch.config.url.clone();
    let udp_port = free_udp_port();
    let udp_addr = std::net::SocketAddr::from(([127, 0, 0, 1], udp_port));

    // First start: provision over HTTP, then the gateway connects.
    let mut nsd = spawn_nsd(dir.path(), &url, udp_port, 0);
    wait_healthy(nsd.port).await;
    let mut h = Harness {
        engine,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client"),
        sim: Arc::new(Simulation::start(udp_addr, 1).await.expect("simulator")),
        devs: (0..DEVICES).map(|i| Arc::new(Dev::new(i))).collect(),
        radio: RadioParams::eu868(5, 0).expect("channel"),
        violations: Vec::new(),
    };
    provision(&h.http, nsd.port, &h.devs).await;
    let run = Arc::new(Mutex::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let strays = Arc::new(Mutex::new(Vec::new()));
    let dispatcher = dispatch(
        Arc::clone(&h.sim),
        h.devs.clone(),
        Arc::clone(&run),
        Arc::clone(&stop),
        Arc::clone(&strays),
    );

    for crash in 0..=CRASHES {
        if crash > 0 {
            // Restart on the same database and UDP port.
            nsd = spawn_nsd(dir.path(), &url, udp_port, crash);
            wait_healthy(nsd.port).await;
            *run.lock().unwrap_or_else(|e| e.into_inner()) = crash;
        }
        assert!(
            h.sim.connect(ACK_WAIT).await,
            "{engine:?}: the gateway gets its PULL_ACK (start {crash})"
        );
        if crash > 0 {
            after_restart(&mut h, nsd.port).await;
        }
        if crash == CRASHES {
            break;
        }

        // The stream, killed in the middle: each kill at another point of it.
        let acked: Vec<usize> = h.devs.iter().map(|d| d.acked_count()).collect();
        let streams: Vec<_> = h
            .devs
            .iter()
            .map(|dev| tokio::spawn(stream(Arc::clone(&h.sim), Arc::clone(dev), h.radio)))
            .collect();
        tokio::time::sleep(KILL_AFTER + Duration::from_millis(137) * crash as u32).await;
        nsd.child.kill().expect("SIGKILL");
        let _ = nsd.child.wait();
        for stream in streams {
            stream.await.expect("stream");
        }
        // Late downlinks of this run have arrived or never will.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for (dev, before) in h.devs.iter().zip(acked) {
            let now = dev.acked_count();
            assert!(
                now >= before + 2,
                "{engine:?}: device {:08x} had only {} uplinks acknowledged before kill {crash}",
                dev.addr,
                now - before
            );
            assert!(
                dev.lock().sent.len() < MAX_UPLINKS * (crash + 1),
                "{engine:?}: the stream ended before kill {crash}"
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    dispatcher.await.expect("dispatcher");
    nsd.child.kill().expect("stop");
    let _ = nsd.child.wait();

    // (c) Every downlink counter a device received, across every run, above all before it;
    // every downlink an ACK.
    let mut received: BTreeMap<u32, Vec<(usize, u32)>> = BTreeMap::new();
    for dev in h.devs.clone() {
        let (fcnts, reused, not_ack) = {
            let state = dev.lock();
            let fcnts: Vec<(usize, u32)> = state.downs.iter().map(|d| (d.run, d.fcnt)).collect();
            let reused = state.downs.iter().any(|d| d.reused);
            (fcnts, reused, state.downs.iter().find(|d| !d.ack).copied())
        };
        if reused || fcnts.windows(2).any(|w| w[1].1 <= w[0].1) {
            h.violation(&dev, format!("downlink counters reused: {fcnts:?}"));
        }
        if let Some(down) = not_ack {
            h.violation(&dev, format!("a downlink without ACK: {down:?}"));
        }
        received.insert(dev.addr, fcnts);
    }
    h.violations
        .extend(strays.lock().unwrap_or_else(|e| e.into_inner()).drain(..));
    if !h.violations.is_empty() {
        let logs: String = (0..=CRASHES)
            .map(|run| {
                std::fs::read_to_string(dir.path().join(format!("nsd-{run}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n--- restart ---\n");
        panic!(
            "{:#?}\ndownlink counters: {received:?}\nnsd logs:\n{logs}",
            h.violations
        );
    }
}

/// After a restart: (a) every uplink sent before is refused, but for the last one stored
/// (a retransmission, acknowledged again) and the one in flight at the kill if it was not
/// stored (new, accepted); (b) new uplinks are accepted.
async fn after_restart(h: &mut Harness, port: u16) {
    let engine = h.engine;
    let devs = h.devs.clone();
    // The counters as stored: the last uplink stored is the last acknowledged one or the one
    // in flight (each stream waits for an ACK before its next uplink, so at most its last
    // uplink was in flight); the next downlink counter is above every one received.
    let mut stored = Vec::new();
    for dev in &devs {
        let (last_acked, in_flight, max_down, unacked) = {
            let state = dev.lock();
            let last_acked = state.sent.iter().filter(|s| s.acked).map(|s| s.fcnt).max();
            let in_flight = state.sent.last().filter(|s| !s.acked).map(|s| s.fcnt);
            let unacked = state.sent.iter().filter(|s| !s.acked).count();
            let max_down = state.downs.iter().map(|d| d.fcnt).max();
            (last_acked, in_flight, max_down, unacked)
        };
        assert!(unacked <= 1, "{engine:?}: {unacked} uplinks without ACK");
        let last_acked = last_acked.expect("uplinks acknowledged before the kill");
        let (f_cnt_up_next, n_f_cnt_down) = counters(&h.http, port, dev).await;
        let last_stored = f_cnt_up_next.wrapping_sub(1);
        if last_stored != last_acked && Some(last_stored) != in_flight {
            h.violation(
                dev,
                format!(
                    "f_cnt_up_next {f_cnt_up_next} after the restart; last acknowledged \
                     {last_acked}, in flight {in_flight:?}"
                ),
            );
        }
        if max_down.is_some_and(|max| n_f_cnt_down <= max) {
            h.violation(
                dev,
                format!("next downlink counter {n_f_cnt_down}, but {max_down:?} was received"),
            );
        }
        stored.push((f_cnt_up_next, n_f_cnt_down));
    }

    // Every uplink older than the last one stored, sent again: refused as replays, nothing
    // goes down and no counter moves.
    let downs: Vec<usize> = devs.iter().map(|d| d.downs()).collect();
    let mut recents = Vec::new();
    for (dev, &(f_cnt_up_next, _)) in devs.iter().zip(&stored) {
        let (old, recent): (Vec<Sent>, Vec<Sent>) = dev
            .lock()
            .sent
            .iter()
            .cloned()
            .partition(|s| s.fcnt.wrapping_add(1) < f_cnt_up_next);
        for sent in &old {
            assert!(h.send(&sent.phy).await, "{engine:?}: PUSH_ACK");
        }
        recents.push(recent);
    }
    tokio::time::sleep(QUIET).await;
    for ((dev, &before), &counters_then) in devs.iter().zip(&downs).zip(&stored) {
        if dev.downs() != before {
            h.violation(
                dev,
                format!(
                    "{} downlinks answered replayed uplinks",
                    dev.downs() - before
                ),
            );
        }
        let now = counters(&h.http, port, dev).await;
        if now != counters_then {
            h.violation(
                dev,
                format!("replays moved the counters from {counters_then:?} to {now:?}"),
            );
        }
    }

    // The last frame stored, again: a confirmed retransmission, acknowledged again with a
    // new counter. Then the frame in flight, if it was not stored: new, acknowledged.
    let downs: Vec<usize> = devs.iter().map(|d| d.downs()).collect();
    for (dev, recent) in devs.iter().zip(&recents) {
        for sent in recent {
            let before = dev.downs();
            assert!(h.send(&sent.phy).await, "{engine:?}: PUSH_ACK");
            if dev.wait_downs(before, ACK_WAIT).await {
                dev.acked(sent.fcnt);
            } else {
                h.violation(
                    dev,
                    format!("FCnt {} sent again was not acknowledged", sent.fcnt),
                );
            }
        }
    }

    // New uplinks are accepted and acknowledged, every device at once.
    let news: Vec<_> = devs
        .iter()
        .map(|dev| {
            let (sim, dev, radio) = (Arc::clone(&h.sim), Arc::clone(dev), h.radio);
            tokio::spawn(async move {
                let mut missing = Vec::new();
                for _ in 0..AFTER_RESTART {
                    let before = dev.downs();
                    let (fcnt, phy) = dev.next_uplink();
                    let _ = sim.uplink(&phy, &radio, &[Heard::new(0, -80, 5.0)]).await;
                    if dev.wait_downs(before, ACK_WAIT).await {
                        dev.acked(fcnt);
                    } else {
                        missing.push(fcnt);
                    }
                }
                missing
            })
        })
        .collect();
    let mut missing = Vec::new();
    for news in news {
        missing.push(news.await.expect("new uplinks"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (((dev, missing), recent), before) in devs.iter().zip(missing).zip(&recents).zip(downs) {
        if !missing.is_empty() {
            h.violation(dev, format!("new uplinks {missing:?} not acknowledged"));
        }
        let answered = dev.downs() - before;
        if answered != recent.len() + AFTER_RESTART {
            h.violation(
                dev,
                format!(
                    "{answered} downlinks for {} uplinks sent again and {AFTER_RESTART} new",
                    recent.len()
                ),
            );
        }
        let last = dev.lock().sent.last().map(|s| s.fcnt).expect("sent");
        let (f_cnt_up_next, _) = counters(&h.http, port, dev).await;
        if f_cnt_up_next != last + 1 {
            h.violation(
                dev,
                format!("f_cnt_up_next {f_cnt_up_next} after uplink {last}"),
            );
        }
    }
}
