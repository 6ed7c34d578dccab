//! `federation`: the scenario of the local federation (`deploy/local.sh`, `deploy/local/`).
//!
//! ```text
//! federation [--provision deploy/local/provision.json --jsd-devices deploy/local/jsd-devices.json
//!             --timeout-s 60 …every address and token, defaults matching deploy/local/]
//! ```
//!
//! Against a running hub, two network servers (operator A, the devices' home; operator B, the
//! visited network), a join server and an AS receiver (`as-receiver`), it:
//!
//! 1. waits for every `/health`, imports the join server's devices (`--jsd-devices`, the
//!    manufacturer file) and provisions both network servers from `--provision` (device
//!    profiles, gateways, devices: each entry PUT as written; A's devices get the owner
//!    tokens of the import, which claims them for A);
//! 2. starts simulated gateways: A's at nsd-a's Semtech UDP port, B's at nsd-b's;
//! 3. joins A's home-only device through A's gateway, sends it an uplink (checked at A's AS)
//!    and a downlink queued by the AS (`/thingpark/lrc/rest/v2/downlink`, checked at the
//!    device); then the same device heard only by B's gateways: B forwards it, A refuses
//!    (roam-out is off for it: DevRoamingDisallowed at the hub), A's AS hears nothing;
//! 4. joins A's roaming device heard only by B's gateways (HomeNSReq, PRStartReq, JoinReq
//!    through the hub), sends uplinks heard only by B (checked at A's AS: `Roaming=1`,
//!    `ForwardingNetID`), and a downlink queued at A's AS that must reach the device through
//!    B's gateway (XmitDataReq, RX1 after 5 s);
//! 5. sends a frame of NetID 000009 (no member) through B: B drops it, the hub never sees it;
//! 6. with `--outage-pid`, stops nsd-b, queues another AS downlink for the roaming device and
//!    brings it home: the downlink reaches it through A's gateway;
//! 7. lists the hub's usage data records of the run.
//!
//! One line per step, `✓` or `✗` with the reason; the exit status is 1 when a step failed,
//! and the whole scenario is bounded by `--timeout-s`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use conformance_tests::sim::{
    Device, Downlink, Eui64, GatewayConfig, Heard, JoinAccepted, MacVersion, OtaaKeys, RadioParams,
    SimDownlink, Simulation, Uplink,
};
use serde_json::{json, Value};
use tokio::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "The local federation's scenario: joins, roaming uplinks and downlinks, UDRs")]
struct Args {
    /// The hub's HTTP origin.
    #[arg(long, default_value = "http://127.0.0.1:8600")]
    hub: String,
    /// An operator token of the hub's admin API.
    #[arg(long, default_value = "local-hub-operator-token")]
    hub_token: String,
    /// Operator A's network server (home network): HTTP origin.
    #[arg(long, default_value = "http://127.0.0.1:8700")]
    nsd_a: String,
    /// Its admin API token.
    #[arg(long, default_value = "local-nsd-a-operator-token")]
    nsd_a_token: String,
    /// Its Semtech UDP address (A's gateways).
    #[arg(long, default_value = "127.0.0.1:1700")]
    nsd_a_udp: SocketAddr,
    /// Operator B's network server (visited network): HTTP origin.
    #[arg(long, default_value = "http://127.0.0.1:8710")]
    nsd_b: String,
    /// Its admin API token.
    #[arg(long, default_value = "local-nsd-b-operator-token")]
    nsd_b_token: String,
    /// Its Semtech UDP address (B's gateways).
    #[arg(long, default_value = "127.0.0.1:1710")]
    nsd_b_udp: SocketAddr,
    /// The join server's HTTP origin.
    #[arg(long, default_value = "http://127.0.0.1:8800")]
    jsd: String,
    /// An operator token of the join server's admin API (imports).
    #[arg(long, default_value = "local-jsd-operator-token")]
    jsd_token: String,
    /// The AS receiver's HTTP origin (`as-receiver`).
    #[arg(long, default_value = "http://127.0.0.1:8900")]
    as_receiver: String,
    /// What the network servers are given: `{"nsd-a": {device_profiles, gateways,
    /// devices}, "nsd-b": {…}}`, each entry an admin API body with its id.
    #[arg(long, default_value = "deploy/local/provision.json")]
    provision: PathBuf,
    /// The join server's import file (JSON): the devices' root keys.
    #[arg(long, default_value = "deploy/local/jsd-devices.json")]
    jsd_devices: PathBuf,
    /// How long the daemons may take to answer `/health`, seconds.
    #[arg(long, default_value_t = 15)]
    health_wait_s: u64,
    /// The whole scenario's bound, seconds.
    #[arg(long, default_value_t = 60)]
    timeout_s: u64,
    /// nsd-b's process id: at the end, stop it (SIGTERM) and check that A still serves its
    /// roaming device, come home, with nothing lost (`deploy/local.sh --once` passes it).
    #[arg(long)]
    outage_pid: Option<u32>,
}

/// Which way an AS downlink is expected to reach its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// A's own gateway.
    Home,
    /// B's gateway (XmitDataReq nsd-a → hub → nsd-b).
    Partner,
    /// A's own gateway, after B went down while the device was roaming.
    HomeAfterOutage,
}

/// EU868 DR5 (SF7) on 868.1 MHz: every uplink of the scenario.
const DR: u8 = 5;
const CHANNEL: u8 = 0;
/// A 1.1 device repeats RekeyInd (LoRaWAN 1.1 minor 1) until the network's RekeyConf.
const REKEY_IND: [u8; 2] = [0x0b, 0x01];
/// Waits: a join-accept in RX1 (5 s after the join-request, sent ahead by the network
/// server), an AS report, a class A downlink (RX1 after 1 s at home, 5 s when roaming).
const JOIN_WAIT: Duration = Duration::from_secs(8);
const REPORT_WAIT: Duration = Duration::from_secs(4);
const HOME_DOWNLINK_WAIT: Duration = Duration::from_secs(4);
const ROAMING_DOWNLINK_WAIT: Duration = Duration::from_secs(8);

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let bound = Duration::from_secs(args.timeout_s);
    let mut scenario = Scenario::new(args);
    println!("Switchyard local federation: the scenario");
    match tokio::time::timeout(bound, scenario.run()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => scenario.fail("scenario", &format!("stopped: {e:#}")),
        Err(_) => scenario.fail(
            "scenario",
            &format!("stopped after {} s (--timeout-s)", bound.as_secs()),
        ),
    }
    let (passed, failed) = (scenario.passed, scenario.failed);
    println!(
        "{} {passed} steps passed, {failed} failed",
        if failed == 0 { "✓" } else { "✗" }
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A device of the scenario: its simulator and what it is called.
struct SimDevice {
    name: String,
    device: Device,
    /// A 1.1 device that has not seen RekeyConf yet.
    rekey_pending: bool,
}

impl SimDevice {
    fn dev_eui(&self) -> String {
        self.device
            .otaa_keys()
            .map(|k| k.dev_eui.to_string().to_ascii_uppercase())
            .unwrap_or_default()
    }

    fn dev_addr(&self) -> Option<u32> {
        self.device.session().map(|s| s.dev_addr().0)
    }

    /// The next data uplink of `payload` on FPort 2 (with RekeyInd while pending), and its
    /// FCntUp.
    fn uplink(&mut self, payload: &[u8]) -> anyhow::Result<(Vec<u8>, u32)> {
        let fcnt = self
            .device
            .session()
            .and_then(|s| s.next_fcnt_up())
            .ok_or_else(|| anyhow!("{} has no session", self.name))?;
        let fopts: &[u8] = if self.rekey_pending { &REKEY_IND } else { &[] };
        let up = Uplink {
            fopts,
            tx_dr: DR,
            tx_ch: CHANNEL,
            ..Uplink::unconfirmed(2, payload)
        };
        Ok((self.device.uplink(&up)?, fcnt))
    }
}

struct Scenario {
    args: Args,
    http: reqwest::Client,
    started: SystemTime,
    passed: u32,
    failed: u32,
}

impl Scenario {
    fn new(args: Args) -> Self {
        Self {
            args,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            started: SystemTime::now(),
            passed: 0,
            failed: 0,
        }
    }

    fn ok(&mut self, step: &str, detail: &str) {
        self.passed += 1;
        println!("✓ {step}: {detail}");
    }

    fn fail(&mut self, step: &str, reason: &str) {
        self.failed += 1;
        println!("✗ {step}: {reason}");
    }

    async fn run(&mut self) -> anyhow::Result<()> {
        if let Err(e) = self.health().await {
            self.fail("health", &format!("{e:#}"));
            bail!("the federation is not running");
        }
        let (mut home, mut roamer) = match self.provision().await {
            Ok(devices) => devices,
            Err(e) => {
                self.fail("provisioning", &format!("{e:#}"));
                bail!("nothing to simulate");
            }
        };
        let (sim_a, sim_b) = match self.gateways().await {
            Ok(sims) => sims,
            Err(e) => {
                self.fail("gateways", &format!("{e:#}"));
                bail!("no gateways");
            }
        };

        // At home: the baseline.
        let home_joined = self.join(&sim_a, &mut home, "home join", false).await;
        if home_joined {
            if self
                .report_uplink(&sim_a, &mut home, "home uplink", false)
                .await
            {
                self.downlink(&sim_a, &mut home, "home downlink", Via::Home)
                    .await;
            } else {
                self.fail("home downlink", "skipped: the uplink did not reach the AS");
            }
        } else {
            self.fail("home uplink", "skipped: the device has not joined");
            self.fail("home downlink", "skipped: the device has not joined");
        }

        // The home-only device heard by B's gateway: B forwards it, A refuses (roam-out off).
        if home_joined {
            self.refused_roam_out(&sim_b, &mut home).await;
        } else {
            self.fail("refused roam-out", "skipped: the device has not joined");
        }

        // A device of a network nobody has an agreement with, heard by B: dropped by B.
        self.no_agreement(&sim_b).await;

        // Roaming: A's device heard by B's gateways only.
        if self.join(&sim_b, &mut roamer, "roaming join", true).await {
            let first = self
                .report_uplink(&sim_b, &mut roamer, "roaming uplink 1", true)
                .await;
            let second = self
                .report_uplink(&sim_b, &mut roamer, "roaming uplink 2", true)
                .await;
            if first || second {
                self.downlink(&sim_b, &mut roamer, "roaming downlink", Via::Partner)
                    .await;
            } else {
                self.fail("roaming downlink", "skipped: no roaming uplink reached A");
            }
            if let Some(pid) = self.args.outage_pid {
                self.outage(pid, &sim_a, &mut roamer).await;
            }
        } else {
            for step in ["roaming uplink 1", "roaming uplink 2", "roaming downlink"] {
                self.fail(step, "skipped: the device has not joined");
            }
        }

        self.udrs().await;
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // HTTP
    // -----------------------------------------------------------------------------------

    /// One request: the status and the body (JSON when it is, else a string).
    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.http.request(method.clone(), url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, bytes)) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok((status, value))
    }

    async fn put_json(&self, url: &str, token: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        self.call(
            reqwest::Method::PUT,
            url,
            Some(token),
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    // -----------------------------------------------------------------------------------
    // Steps
    // -----------------------------------------------------------------------------------

    async fn health(&mut self) -> anyhow::Result<()> {
        let daemons = [
            ("hub", self.args.hub.clone()),
            ("nsd-a", self.args.nsd_a.clone()),
            ("nsd-b", self.args.nsd_b.clone()),
            ("jsd", self.args.jsd.clone()),
            ("as-receiver", self.args.as_receiver.clone()),
        ];
        let deadline = Instant::now() + Duration::from_secs(self.args.health_wait_s);
        for (name, origin) in &daemons {
            let url = format!("{origin}/health");
            loop {
                let last = match self.call(reqwest::Method::GET, &url, None, None).await {
                    Ok((200, _)) => break,
                    Ok((status, body)) => format!("{url} answers {status}: {}", short(&body)),
                    Err(e) => format!("{e:#}"),
                };
                if Instant::now() >= deadline {
                    bail!("{name} is not healthy: {last}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        self.ok(
            "health",
            "hub :8600, nsd-a :8700, nsd-b :8710, jsd :8800, as-receiver :8900 answer /health",
        );
        Ok(())
    }

    /// Imports the jsd's devices, provisions both network servers; A's home-only device and
    /// its roaming one.
    async fn provision(&mut self) -> anyhow::Result<(SimDevice, SimDevice)> {
        let plan: Value = read_json(&self.args.provision)?;
        let import_bytes = std::fs::read(&self.args.jsd_devices)
            .with_context(|| format!("reading {}", self.args.jsd_devices.display()))?;
        let import: Value = serde_json::from_slice(&import_bytes)
            .with_context(|| format!("{} is not JSON", self.args.jsd_devices.display()))?;

        // The manufacturer's file into the jsd: the owner tokens come back once.
        let url = format!("{}/api/imports?batch=local-federation", self.args.jsd);
        let (status, answer) = self
            .call(
                reqwest::Method::POST,
                &url,
                Some(&self.args.jsd_token),
                Some(("application/json", import_bytes)),
            )
            .await?;
        let mut owner_tokens: HashMap<String, String> = HashMap::new();
        let jsd_note = if status == 201 {
            for d in answer["devices"].as_array().into_iter().flatten() {
                if let (Some(eui), Some(token)) = (d["dev_eui"].as_str(), d["owner_token"].as_str())
                {
                    owner_tokens.insert(eui.to_ascii_uppercase(), token.to_owned());
                }
            }
            format!("jsd imported {} devices", owner_tokens.len())
        } else if self.all_imported(&import).await {
            // A kept database (local.sh --keep): imported and claimed by an earlier run.
            "jsd had the devices already".to_owned()
        } else {
            bail!("jsd import answered {status}: {}", short(&answer));
        };

        let mut notes = vec![jsd_note];
        for (member, origin, token) in [
            (
                "nsd-a",
                self.args.nsd_a.clone(),
                self.args.nsd_a_token.clone(),
            ),
            (
                "nsd-b",
                self.args.nsd_b.clone(),
                self.args.nsd_b_token.clone(),
            ),
        ] {
            let section = &plan[member];
            let mut counts = BTreeMap::new();
            for (kind, id_key, path) in [
                ("device_profiles", "id", "/api/device-profiles/"),
                ("gateways", "gateway_id", "/api/gateways/"),
            ] {
                for entry in section[kind].as_array().into_iter().flatten() {
                    let (id, body) = split_id(entry, id_key)?;
                    let (status, answer) = self
                        .put_json(&format!("{origin}{path}{id}"), &token, &body)
                        .await?;
                    if status != 200 {
                        bail!(
                            "{member}: PUT {path}{id} answered {status}: {}",
                            short(&answer)
                        );
                    }
                    *counts.entry(kind).or_insert(0) += 1;
                }
            }
            let mut claimed = 0;
            for entry in section["devices"].as_array().into_iter().flatten() {
                let (id, mut body) = split_id(entry, "dev_eui")?;
                if let Some(token) = owner_tokens.get(&id.to_ascii_uppercase()) {
                    body["owner_token"] = json!(token);
                    claimed += 1;
                }
                let url = format!("{origin}/api/devices/{id}");
                let (status, answer) = self.put_json(&url, &token, &body).await?;
                if status != 200 {
                    bail!(
                        "{member}: PUT /api/devices/{id} answered {status}: {}",
                        short(&answer)
                    );
                }
                *counts.entry("devices").or_insert(0) += 1;
            }
            let mut note = format!(
                "{member}: device profiles {}, gateways {}, devices {}",
                counts.get("device_profiles").unwrap_or(&0),
                counts.get("gateways").unwrap_or(&0),
                counts.get("devices").unwrap_or(&0),
            );
            if claimed > 0 {
                note.push_str(&format!(" ({claimed} claimed on the jsd)"));
            }
            notes.push(note);
        }
        self.ok("provisioning", &notes.join("; "));

        // The scenario's two devices: A's first roaming device and first home-only one.
        let devices = plan["nsd-a"]["devices"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let pick = |roaming: bool| -> anyhow::Result<SimDevice> {
            let entry = devices
                .iter()
                .find(|d| d["roaming"].as_bool().unwrap_or(false) == roaming)
                .ok_or_else(|| {
                    anyhow!("provision: nsd-a has no device with roaming = {roaming}")
                })?;
            let eui = entry["dev_eui"].as_str().unwrap_or_default();
            let name = entry["name"].as_str().unwrap_or(eui).to_owned();
            sim_device(&import, eui, name)
        };
        Ok((pick(false)?, pick(true)?))
    }

    /// Whether every device of the import file is on the jsd already.
    async fn all_imported(&self, import: &Value) -> bool {
        for d in import_rows(import) {
            let eui = d["DevEUI"].as_str().unwrap_or_default();
            let url = format!("{}/api/devices/{eui}", self.args.jsd);
            match self
                .call(reqwest::Method::GET, &url, Some(&self.args.jsd_token), None)
                .await
            {
                Ok((200, _)) => {}
                _ => return false,
            }
        }
        true
    }

    async fn gateways(&mut self) -> anyhow::Result<(Simulation, Simulation)> {
        let plan: Value = read_json(&self.args.provision)?;
        let euis = |member: &str| -> anyhow::Result<Vec<Eui64>> {
            plan[member]["gateways"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|g| {
                    let text = g["gateway_id"].as_str().unwrap_or_default();
                    text.parse::<Eui64>()
                        .map_err(|e| anyhow!("gateway_id {text:?}: {e}"))
                })
                .collect()
        };
        let (a, b) = (euis("nsd-a")?, euis("nsd-b")?);
        if a.is_empty() || b.is_empty() {
            bail!("provision: A and B need a gateway each");
        }
        let start = |euis: &[Eui64], ns: SocketAddr| {
            let configs = euis.iter().map(|&e| GatewayConfig::new(e, ns)).collect();
            Simulation::start_with(configs, 256)
        };
        let sim_a = start(&a, self.args.nsd_a_udp).await?;
        let sim_b = start(&b, self.args.nsd_b_udp).await?;
        let wait = Duration::from_secs(3);
        if !sim_a.connect(wait).await {
            bail!(
                "A's gateway got no PULL_ACK from nsd-a at {}",
                self.args.nsd_a_udp
            );
        }
        if !sim_b.connect(wait).await {
            bail!(
                "B's gateways got no PULL_ACK from nsd-b at {}",
                self.args.nsd_b_udp
            );
        }
        let list = |euis: &[Eui64]| {
            euis.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        self.ok(
            "gateways",
            &format!(
                "A's {} at nsd-a udp {}, B's {} at nsd-b udp {} (PULL_ACK from each)",
                list(&a),
                self.args.nsd_a_udp,
                list(&b),
                self.args.nsd_b_udp
            ),
        );
        Ok((sim_a, sim_b))
    }

    /// Every gateway of `sim` hears the frame, the first the best.
    fn heard(sim: &Simulation) -> Vec<Heard> {
        (0..sim.gateways().len())
            .map(|i| Heard::new(i, -70 - 12 * i as i16, 8.0 - 3.0 * i as f32))
            .collect()
    }

    async fn join(
        &mut self,
        sim: &Simulation,
        device: &mut SimDevice,
        step: &str,
        roaming: bool,
    ) -> bool {
        // DevNonce is a counter the join server remembers: start from the clock, so that a
        // run on kept databases (local.sh --keep) never repeats one.
        let now = unix_seconds(SystemTime::now());
        device
            .device
            .set_next_dev_nonce(((now / 4) % 60_000) as u16 + 1);
        let result = async {
            let request = device.device.join_request()?;
            let radio = radio()?;
            let report = sim.uplink(&request, &radio, &Self::heard(sim)).await?;
            if !report.all_acked() {
                bail!("a gateway got no PUSH_ACK");
            }
            let tmst = report.tmst(0).unwrap_or_default();
            let deadline = Instant::now() + JOIN_WAIT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let Some(down) = sim.next_downlink(left).await else {
                    bail!("no join-accept within {} s", JOIN_WAIT.as_secs());
                };
                if down.phy.first().map(|m| m >> 5) != Some(1) {
                    continue;
                }
                match device.device.accept_join_accept(&down.phy) {
                    Ok(accepted) => return Ok((accepted, down, tmst)),
                    Err(e) => bail!("a join-accept the device refused: {e}"),
                }
            }
        }
        .await;
        match result {
            Ok((accepted, down, tmst)) => {
                device.rekey_pending = accepted.opt_neg;
                self.ok(step, &joined(device, &accepted, &down, tmst, roaming));
                true
            }
            Err(e) => {
                let mut why = self.hub_trace(&device.dev_eui(), None).await;
                if roaming && why.contains("no record") {
                    why.push_str(" (nsd-b sent no HomeNSReq: is its [roaming] on?)");
                }
                self.fail(
                    step,
                    &format!("{} ({}): {e:#}{why}", device.name, device.dev_eui()),
                );
                false
            }
        }
    }

    /// An uplink of a device of NetID 000009 (no member of the federation) heard by B's
    /// gateways: B forwards nothing (its `no_agreement` frame count grows, the hub records
    /// nothing of it).
    async fn no_agreement(&mut self, sim_b: &Simulation) {
        let step = "partner without agreement";
        // NetID 000009, type 0: DevAddr prefix 0x12 (7 bits of type 0 and NwkID 9).
        let dev_addr = 0x1200_0042;
        let result = async {
            let before = self.nsd_b_frames("no_agreement").await?;
            let mut stranger = Device::abp(
                MacVersion::V1_0_4,
                conformance_tests::sim::crypto::DevAddr(dev_addr),
                conformance_tests::sim::SessionKeys::V1_0 {
                    nwk_s_key: [0x42; 16],
                    app_s_key: [0x43; 16],
                },
            )?;
            let phy = stranger.uplink(&Uplink::unconfirmed(2, b"?"))?;
            sim_b.uplink(&phy, &radio()?, &Self::heard(sim_b)).await?;
            let deadline = tokio::time::Instant::now() + REPORT_WAIT;
            let mut after = before;
            while after <= before && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                after = self.nsd_b_frames("no_agreement").await?;
            }
            if after <= before {
                bail!("nsd-b's no_agreement count stayed at {before}");
            }
            let text = format!("{dev_addr:08X}");
            if self.hub_udrs().await?.iter().any(|u| {
                u["dev_addr"]
                    .as_str()
                    .map(str::to_ascii_uppercase)
                    .as_deref()
                    == Some(&text)
            }) {
                bail!("the hub has a record of DevAddr {text}");
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => self.ok(
                step,
                &format!(
                    "DevAddr {dev_addr:08X} (NetID 000009, no member) heard by B's gateways: \
                     not forwarded (nsd-b frames{{outcome=\"no_agreement\"}} + 1), nothing at the hub"
                ),
            ),
            Err(e) => self.fail(step, &format!("{e:#}")),
        }
    }

    /// nsd-b's `switchyard_nsd_frames_total{outcome="…"}`.
    async fn nsd_b_frames(&self, outcome: &str) -> anyhow::Result<u64> {
        let url = format!("{}/metrics", self.args.nsd_b);
        let (status, body) = self.call(reqwest::Method::GET, &url, None, None).await?;
        if status != 200 {
            bail!("GET {url} answered {status}");
        }
        let text = body.as_str().unwrap_or_default();
        let wanted = format!("outcome=\"{outcome}\"}}");
        Ok(text
            .lines()
            .find(|l| l.starts_with("switchyard_nsd_frames_total") && l.contains(&wanted))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64))
    }

    /// An uplink of a device that may not roam, heard only by B's gateways: B forwards it,
    /// A answers DevRoamingDisallowed (the hub records it), and A's AS hears nothing of it.
    async fn refused_roam_out(&mut self, sim_b: &Simulation, device: &mut SimDevice) {
        let step = "refused roam-out";
        let result = async {
            let (phy, fcnt) = device.uplink(b"not here")?;
            sim_b.uplink(&phy, &radio()?, &Self::heard(sim_b)).await?;
            let dev_addr = device
                .dev_addr()
                .map(|a| format!("{a:08X}"))
                .ok_or_else(|| anyhow::anyhow!("no session"))?;
            let deadline = tokio::time::Instant::now() + REPORT_WAIT;
            loop {
                let refused = self.hub_udrs().await?.into_iter().find(|u| {
                    u["message_type"] == "PRStartReq"
                        && u["dev_addr"]
                            .as_str()
                            .map(str::to_ascii_uppercase)
                            .as_deref()
                            == Some(dev_addr.as_str())
                        && u["result_code"] == "DevRoamingDisallowed"
                });
                if refused.is_some() {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    bail!("no PRStartReq refused DevRoamingDisallowed at the hub");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let reported = self
                .await_report(&device.dev_eui(), "DevEUI_uplink", |r| {
                    r["FCntUp"].as_u64() == Some(u64::from(fcnt))
                })
                .await?;
            if reported.is_some() {
                bail!("A's AS got FCntUp {fcnt} anyway");
            }
            Ok(fcnt)
        }
        .await;
        match result {
            Ok(fcnt) => self.ok(
                step,
                &format!(
                    "{} FCntUp {fcnt} heard only by B's gateways: PRStartReq nsd-b → nsd-a \
                     answered DevRoamingDisallowed, nothing reported to A's AS",
                    device.name
                ),
            ),
            Err(e) => {
                let why = self.hub_trace(&device.dev_eui(), device.dev_addr()).await;
                self.fail(step, &format!("{e:#}{why}"));
            }
        }
    }

    /// An uplink heard by every gateway of `sim`, which must reach A's AS (`roaming`: with
    /// Roaming=1 and B's NetID as ForwardingNetID).
    async fn report_uplink(
        &mut self,
        sim: &Simulation,
        device: &mut SimDevice,
        step: &str,
        roaming: bool,
    ) -> bool {
        let next = device
            .device
            .session()
            .and_then(|s| s.next_fcnt_up())
            .unwrap_or_default();
        let payload = format!("{}-{next}", if roaming { "roam" } else { "home" });
        let result = async {
            let (phy, fcnt) = device.uplink(payload.as_bytes())?;
            let report = sim.uplink(&phy, &radio()?, &Self::heard(sim)).await?;
            if !report.all_acked() {
                bail!("a gateway got no PUSH_ACK");
            }
            let found = self
                .await_report(&device.dev_eui(), "DevEUI_uplink", |r| {
                    r["FCntUp"].as_u64() == Some(u64::from(fcnt))
                })
                .await?;
            Ok((fcnt, found))
        }
        .await;
        let (fcnt, found) = match result {
            Ok(found) => found,
            Err(e) => {
                let why = self.hub_trace(&device.dev_eui(), device.dev_addr()).await;
                self.fail(step, &format!("{e:#}{why}"));
                return false;
            }
        };
        let Some(report) = found else {
            let why = self.hub_trace(&device.dev_eui(), device.dev_addr()).await;
            self.fail(
                step,
                &format!(
                    "FCntUp {fcnt} did not reach A's AS within {} s{why}",
                    REPORT_WAIT.as_secs()
                ),
            );
            return false;
        };
        let field = |name: &str| match &report[name] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        let gateways = if roaming {
            "B's gateways"
        } else {
            "A's gateway"
        };
        let mut detail = format!(
            "{} FCntUp {fcnt} heard by {gateways} reached A's AS: payload {}, LrrCnt {}",
            device.name,
            field("payload_hex").unwrap_or_default(),
            field("DevLrrCnt").unwrap_or_else(|| "?".into())
        );
        let roaming_flag = field("Roaming");
        let forwarding = field("ForwardingNetID");
        if let Some(nsid) = field("ForwardingNSID") {
            detail.push_str(&format!(", ForwardingNSID {nsid}"));
        }
        if !roaming {
            if roaming_flag.is_some() {
                self.fail(
                    step,
                    &format!("{detail}, but with Roaming={roaming_flag:?}"),
                );
                return false;
            }
            self.ok(step, &format!("{detail}, no Roaming field"));
            return true;
        }
        let forwarded_by_b = forwarding
            .as_deref()
            .and_then(|f| u32::from_str_radix(f, 16).ok())
            == Some(3);
        if roaming_flag.as_deref() == Some("1") && forwarded_by_b {
            self.ok(
                step,
                &format!(
                    "{detail}, Roaming=1, ForwardingNetID={}",
                    forwarding.unwrap_or_default()
                ),
            );
            true
        } else {
            self.fail(
                step,
                &format!(
                    "{detail}, but Roaming={} ForwardingNetID={} (want 1 and 000003)",
                    roaming_flag.unwrap_or_else(|| "absent".into()),
                    forwarding.unwrap_or_else(|| "absent".into())
                ),
            );
            false
        }
    }

    /// B stops while A's roaming device is still on A's books as heard through B: A's AS
    /// queues a downlink (accepted), the device comes home, and the downlink reaches it
    /// through A's own gateway.
    async fn outage(&mut self, pid: u32, sim_a: &Simulation, device: &mut SimDevice) {
        let step = "fNS outage";
        let stopped = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        let health = format!("{}/health", self.args.nsd_b);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut down = false;
        while stopped && !down && Instant::now() < deadline {
            down = self.http.get(&health).send().await.is_err();
            if !down {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        if !down {
            self.fail(step, &format!("nsd-b (pid {pid}) did not stop"));
            return;
        }
        println!("  (nsd-b stopped: B's network is down)");
        self.downlink(sim_a, device, step, Via::HomeAfterOutage)
            .await;
    }

    /// A downlink queued at A's AS tunnel API, then an uplink: the downlink must reach the
    /// device through a gateway of `sim`.
    async fn downlink(&mut self, sim: &Simulation, device: &mut SimDevice, step: &str, via: Via) {
        let roaming = via == Via::Partner;
        let payload: &[u8] = match via {
            Via::Home => b"\xca\xfe\x00\x01",
            Via::Partner => b"\xca\xfe\x00\x02",
            Via::HomeAfterOutage => b"\xca\xfe\x00\x03",
        };
        // A device that roamed keeps its 5 s RX1 delay at home too.
        let wait = if via == Via::Home {
            HOME_DOWNLINK_WAIT
        } else {
            ROAMING_DOWNLINK_WAIT
        };
        // Downlinks still queued at the simulator (MAC answers to earlier uplinks) first.
        self.settle(sim, device).await;
        let result = async {
            let url = format!(
                "{}/thingpark/lrc/rest/v2/downlink?DevEUI={}&FPort=2&Payload={}",
                self.args.nsd_a,
                device.dev_eui(),
                hex::encode(payload)
            );
            let (status, answer) = self.call(reqwest::Method::POST, &url, None, None).await?;
            if status != 202 {
                bail!("the AS downlink was refused: {status} {}", short(&answer));
            }
            // Class A: the frame goes down in a receive window of the device's next uplink.
            let (phy, fcnt) = device.uplink(b"poll")?;
            let report = sim.uplink(&phy, &radio()?, &Self::heard(sim)).await?;
            let deadline = Instant::now() + wait;
            let mut seen = Vec::new();
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let Some(down) = sim.next_downlink(left).await else {
                    let seen = if seen.is_empty() {
                        "nothing".to_owned()
                    } else {
                        seen.join(", ")
                    };
                    bail!(
                        "the AS downlink did not reach the device within {} s of FCntUp {fcnt} \
                         (the gateways received: {seen})",
                        wait.as_secs()
                    );
                };
                match accept(device, &down) {
                    Some(Ok(frame)) if frame.fport == Some(2) && frame.payload == payload => {
                        return Ok((down, frame, report.tmst(0)));
                    }
                    Some(Ok(frame)) => seen.push(format!(
                        "FCntDn {} FPort {:?} ({} bytes of MAC commands)",
                        frame.fcnt,
                        frame.fport,
                        frame.mac_commands().len()
                    )),
                    Some(Err(e)) => seen.push(format!("a frame the device refused: {e}")),
                    None => seen.push("a frame for another device".into()),
                }
            }
        }
        .await;
        match result {
            Ok((down, frame, tmst)) => {
                let delay = tmst
                    .and_then(|t| down.delay_after(t))
                    .map(|d| format!(" {:.1} s after the uplink", d.as_secs_f64()))
                    .unwrap_or_default();
                let path = if roaming {
                    " (XmitDataReq nsd-a → hub → nsd-b)"
                } else {
                    ""
                };
                self.ok(
                    step,
                    &format!(
                        "AS downlink {} queued at nsd-a (202) reached {} through gateway {}{delay}, \
                         FCntDn {}{path}",
                        hex::encode(payload),
                        device.name,
                        down.gateway,
                        frame.fcnt
                    ),
                );
            }
            Err(e) => {
                let why = self.hub_trace(&device.dev_eui(), device.dev_addr()).await;
                self.fail(step, &format!("{e:#}{why}"));
            }
        }
    }

    /// Feeds the device the downlinks that came for it so far (keeps its counters and
    /// RekeyConf in step with the network).
    async fn settle(&self, sim: &Simulation, device: &mut SimDevice) {
        for down in sim.drain_downlinks(Duration::from_millis(300)).await {
            let _ = accept(device, &down);
        }
    }

    /// Polls the AS receiver for a report of `kind` about `dev_eui` that `matches`.
    async fn await_report(
        &self,
        dev_eui: &str,
        kind: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Option<Value>> {
        let url = format!("{}/reports?DevEUI={dev_eui}", self.args.as_receiver);
        let deadline = Instant::now() + REPORT_WAIT;
        loop {
            let (status, answer) = self.call(reqwest::Method::GET, &url, None, None).await?;
            if status != 200 {
                bail!("the AS receiver answered {status}");
            }
            let found = answer["reports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["kind"] == kind)
                .map(|r| &r["report"])
                .find(|r| matches(r));
            if let Some(found) = found {
                return Ok(Some(found.clone()));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// The hub's UDRs of the scenario so far.
    async fn hub_udrs(&self) -> anyhow::Result<Vec<Value>> {
        let from = rfc3339(self.started - Duration::from_secs(5));
        let url = format!("{}/api/udrs?from={from}&limit=1000", self.args.hub);
        let (status, answer) = self
            .call(reqwest::Method::GET, &url, Some(&self.args.hub_token), None)
            .await?;
        if status != 200 {
            bail!("GET /api/udrs answered {status}: {}", short(&answer));
        }
        Ok(answer["udrs"].as_array().cloned().unwrap_or_default())
    }

    /// What the hub saw of a device, to explain a failed step: `; hub: …`.
    async fn hub_trace(&self, dev_eui: &str, dev_addr: Option<u32>) -> String {
        let Ok(udrs) = self.hub_udrs().await else {
            return String::new();
        };
        let addr = dev_addr.map(|a| format!("{a:08X}"));
        let seen: Vec<String> = udrs
            .iter()
            .filter(|u| {
                u["dev_eui"]
                    .as_str()
                    .map(str::to_ascii_uppercase)
                    .as_deref()
                    == Some(dev_eui)
                    || (addr.is_some()
                        && u["dev_addr"].as_str().map(str::to_ascii_uppercase) == addr)
            })
            .map(|u| {
                format!(
                    "{} {}→{} {}",
                    u["message_type"].as_str().unwrap_or("?"),
                    u["sender"].as_str().unwrap_or("?"),
                    u["receiver"].as_str().unwrap_or("hub"),
                    u["result_code"].as_str().unwrap_or("?")
                )
            })
            .collect();
        if seen.is_empty() {
            "; the hub has no record of this device".to_owned()
        } else {
            format!("; hub saw: {}", seen.join(", "))
        }
    }

    async fn udrs(&mut self) {
        let udrs = match self.hub_udrs().await {
            Ok(udrs) => udrs,
            Err(e) => {
                self.fail("hub UDRs", &format!("{e:#}"));
                return;
            }
        };
        if udrs.is_empty() {
            self.fail(
                "hub UDRs",
                "no usage data record since the scenario started",
            );
            return;
        }
        let mut by_type: BTreeMap<String, u32> = BTreeMap::new();
        for u in &udrs {
            *by_type
                .entry(u["message_type"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
        }
        let summary: Vec<String> = by_type.iter().map(|(t, n)| format!("{t} {n}")).collect();
        self.ok(
            "hub UDRs",
            &format!(
                "{} records of the run ({}), GET {}/api/udrs:",
                udrs.len(),
                summary.join(", "),
                self.args.hub
            ),
        );
        println!(
            "{}",
            udr_row([
                "id",
                "at (UTC)",
                "message",
                "sender",
                "receiver",
                "result",
                "DevEUI",
                "DevAddr",
                "gw",
                "ms",
                "agreement",
            ])
        );
        for u in &udrs {
            let at = u["received_at"].as_str().unwrap_or_default();
            let id = u["id"].to_string();
            let gateways = u["gateway_count"]
                .as_u64()
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into());
            let elapsed = elapsed_ms(u).unwrap_or_else(|| "-".into());
            println!(
                "{}",
                udr_row([
                    &id,
                    at.get(11..23).unwrap_or(at),
                    u["message_type"].as_str().unwrap_or("?"),
                    u["sender"].as_str().unwrap_or("?"),
                    u["receiver"].as_str().unwrap_or("(hub)"),
                    u["result_code"].as_str().unwrap_or("?"),
                    u["dev_eui"].as_str().unwrap_or("-"),
                    u["dev_addr"].as_str().unwrap_or("-"),
                    &gateways,
                    &elapsed,
                    u["agreement"].as_str().unwrap_or("-"),
                ])
            );
        }
    }
}

/// One line of the UDR table.
fn udr_row(c: [&str; 11]) -> String {
    format!(
        "    {:>4}  {:<12}  {:<12} {:<8} {:<8} {:<22} {:<16} {:<8} {:>3} {:>6}  {}",
        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]
    )
}

/// The line of a successful join.
fn joined(
    device: &SimDevice,
    accepted: &JoinAccepted,
    down: &SimDownlink,
    tmst: u32,
    roaming: bool,
) -> String {
    let path = if roaming {
        "HomeNSReq nsd-b → jsd, PRStartReq nsd-b → nsd-a, JoinReq nsd-a → jsd"
    } else {
        "JoinReq nsd-a → hub → jsd"
    };
    let delay = down
        .delay_after(tmst)
        .map(|d| format!(", accept {:.1} s after the request", d.as_secs_f64()))
        .unwrap_or_default();
    format!(
        "{} ({}, LoRaWAN {}) joined through gateway {}: DevAddr {}, NetID {:06X}, RX1 delay {} s{delay} ({path})",
        device.name,
        device.dev_eui(),
        version_name(device.device.version()),
        down.gateway,
        accepted.dev_addr,
        accepted.net_id,
        accepted.rx.rx1_delay_s,
    )
}

/// A data downlink for `device` (its DevAddr), decoded: `None` for another device's frame
/// or a frame that is not a data downlink.
fn accept(device: &mut SimDevice, down: &SimDownlink) -> Option<Result<Downlink, String>> {
    let mtype = down.phy.first()? >> 5;
    if mtype != 3 && mtype != 5 {
        return None;
    }
    let addr = down
        .phy
        .get(1..5)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))?;
    if Some(addr) != device.dev_addr() {
        return None;
    }
    let result = device
        .device
        .accept_downlink(&down.phy)
        .map_err(|e| e.to_string());
    if let Ok(frame) = &result {
        // RekeyConf (0x0B) answers the RekeyInd of a 1.1 device.
        if frame.mac_commands().first() == Some(&0x0b) {
            device.rekey_pending = false;
        }
    }
    Some(result)
}

/// The sim device of DevEUI `eui` from the jsd import file (its root keys).
fn sim_device(import: &Value, eui: &str, name: String) -> anyhow::Result<SimDevice> {
    let row = import_rows(import)
        .into_iter()
        .find(|d| {
            d["DevEUI"]
                .as_str()
                .is_some_and(|e| e.eq_ignore_ascii_case(eui))
        })
        .ok_or_else(|| anyhow!("{eui} is provisioned but not in the jsd import file"))?;
    let text = |key: &str| row[key].as_str().unwrap_or_default().to_owned();
    let key = |key: &str| -> anyhow::Result<Option<[u8; 16]>> {
        let value = text(key);
        if value.is_empty() {
            return Ok(None);
        }
        let bytes = hex::decode(&value).with_context(|| format!("{eui}: {key}"))?;
        let key: [u8; 16] = bytes
            .try_into()
            .map_err(|_| anyhow!("{eui}: {key} is not 16 bytes"))?;
        Ok(Some(key))
    };
    let version = match text("LoRaWANVersion").as_str() {
        "1.0.2" => MacVersion::V1_0_2,
        "1.0.3" => MacVersion::V1_0_3,
        "1.0.4" => MacVersion::V1_0_4,
        "1.1" => MacVersion::V1_1,
        other => bail!("{eui}: LoRaWANVersion {other:?} (the scenario takes 1.0.2 … 1.1)"),
    };
    let keys = OtaaKeys {
        dev_eui: eui.parse().map_err(|e| anyhow!("{eui}: {e}"))?,
        join_eui: text("JoinEUI")
            .parse()
            .map_err(|e| anyhow!("{eui}: JoinEUI: {e}"))?,
        app_key: key("AppKey")?.ok_or_else(|| anyhow!("{eui}: no AppKey"))?,
        nwk_key: key("NwkKey")?,
    };
    Ok(SimDevice {
        name,
        device: Device::otaa(version, keys)?,
        rekey_pending: false,
    })
}

fn import_rows(import: &Value) -> Vec<Value> {
    import
        .get("devices")
        .unwrap_or(import)
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// An entry of the provisioning file without its id field: (id, admin API body).
fn split_id(entry: &Value, id_key: &str) -> anyhow::Result<(String, Value)> {
    let id = entry[id_key]
        .as_str()
        .ok_or_else(|| anyhow!("provision: an entry without {id_key}: {entry}"))?
        .to_owned();
    let mut body = entry.clone();
    if let Some(fields) = body.as_object_mut() {
        fields.remove(id_key);
    }
    Ok((id, body))
}

fn read_json(path: &PathBuf) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn version_name(version: MacVersion) -> &'static str {
    match version {
        MacVersion::V1_0_2 => "1.0.2",
        MacVersion::V1_0_3 => "1.0.3",
        MacVersion::V1_0_4 => "1.0.4",
        MacVersion::V1_1 => "1.1",
    }
}

fn radio() -> anyhow::Result<RadioParams> {
    RadioParams::eu868(DR, CHANNEL).ok_or_else(|| anyhow!("no EU868 DR{DR} channel {CHANNEL}"))
}

/// The first 200 characters of an answer.
fn short(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.chars().take(200).collect()
}

/// Milliseconds the hub spent on a UDR's transaction (received → answered).
fn elapsed_ms(udr: &Value) -> Option<String> {
    let received = parse_rfc3339(udr["received_at"].as_str()?)?;
    let answered = parse_rfc3339(udr["answered_at"].as_str()?)?;
    Some(format!("{:.1}", (answered - received) * 1000.0))
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `t` as RFC 3339 UTC, to the second.
fn rfc3339(t: SystemTime) -> String {
    let secs = unix_seconds(t);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Seconds of the day (with fraction) of an RFC 3339 UTC time, enough to subtract two
/// times of one transaction.
fn parse_rfc3339(text: &str) -> Option<f64> {
    let time = text.get(11..)?.trim_end_matches('Z');
    let time = time.split(['+', '-']).next()?;
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}
