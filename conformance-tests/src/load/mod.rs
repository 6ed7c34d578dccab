//! `bi-load`: a load driver for Backend Interfaces JoinReq, and a DevNonce / JoinNonce
//! safety check under load and after a crash.
//!
//! It plays many network servers' worth of join-requests against one Join Server (or a hub
//! in front of one) and checks every answer the way a device would: the join-accept must
//! decrypt and verify with the device's key, and its JoinNonce must never go back.
//!
//! # Commands
//!
//! ```text
//! bi-load devices --count N --seed S --join-eui HEX16 --version 1.0.4|1.0.2|1.0.3|1.1 --out FILE
//! ```
//!
//! Writes a Join Server import file, `{"devices": [{"DevEUI", "JoinEUI", "AppKey",
//! "NwkKey" (1.1 only), "LoRaWANVersion"}, …]}`. Identities and keys are deterministic in
//! `(seed, index)` ([`devices`] documents the mixing), so `run` can rebuild them from the
//! seed instead of reading the file.
//!
//! ```text
//! bi-load run --peer URL [--token TOKEN] --sender-id NETID --receiver-id JOINEUI
//!             (--devices FILE | --seed S --count N [--version V])
//!             [--duration-s 10] [--max-requests 1000000] [--concurrency 16]
//!             [--dev-nonce-start 1] [--protocol 1.1] [--mac-version V] [--timeout-ms 5000]
//!             [--resume STATE] [--state STATE] [--replay-state STATE]
//! ```
//!
//! Sends JoinReqs (TS002 1.1 §6.2.2.1) by HTTP POST with `Authorization: Bearer TOKEN` and
//! reads the JoinAns from the response body. The JoinReq carries MACVersion (the device's,
//! or `--mac-version`), a DevAddr of the SenderID's NetID, DLSettings `00` (`80`, OptNeg, for
//! MACVersion 1.1), RxDelay 1 and no CFList. `--peer` must be a loopback URL (127.0.0.1,
//! ::1 or localhost): load tests never leave the machine. Each device sends DevNonce
//! `--dev-nonce-start`, then one more per request; requests go round-robin over the devices
//! and a device's next request waits for its previous answer (the workers share one
//! queue of devices). The run stops at `--duration-s` or `--max-requests`, whichever comes
//! first (then waits for the requests in flight, each bounded by `--timeout-ms`), or at
//! Ctrl-C. A worker whose request got no HTTP answer pauses 100 ms, so that a Join Server
//! that is down does not make the devices burn DevNonces at the speed of refused connections.
//!
//! - `--state FILE` writes each device's last DevNonce sent, the DevNonces answered
//!   `Success` and the last JoinNonce ([`state`]); `--resume FILE` continues from such a file
//!   (DevNonces above the recorded ones, JoinNonces checked against the recorded one,
//!   accepted DevNonces carried over). The same file may be given to both.
//! - `--replay-state FILE` re-sends, for each device of the file, every DevNonce it records
//!   as accepted (`--dev-nonce-start` plays no part). Each must be refused: a `Success`
//!   counts as `dev_nonce_accepted_twice`. Run it after crashing the Join Server mid-load to
//!   prove that no DevNonce is accepted twice across the crash. Only accepted DevNonces are
//!   replayed: one that got no answer (the server was down) may never have reached the Join
//!   Server, which may then rightly accept it later.
//!
//! A crash test, then:
//!
//! ```text
//! bi-load run … --duration-s 60 --state s.json &   # kill -9 the Join Server meanwhile, restart it
//! bi-load run … --replay-state s.json              # exit 0: nothing accepted twice
//! bi-load run … --resume s.json --state s.json     # JoinNonces still only increase
//! ```
//!
//! # Output
//!
//! A human summary on stderr and one JSON line on stdout ([`Summary`]):
//!
//! ```json
//! {"mode":"load","requests":1200,"ok":1198,"errors":{"JoinReqFailed":2},
//!  "transport_errors":0,"malformed_answers":0,"accept_invalid":0,"join_nonce_reuse":0,
//!  "dev_nonce_accepted_twice":0,"devices_done":0,"elapsed_s":10.0,"rate_per_s":120.0,
//!  "p50_ms":3.1,"p95_ms":6.0,"p99_ms":9.2,"max_ms":14.7}
//! ```
//!
//! (`replay_pending` is added in a replay.) The exit status is 0; 2 when there was a
//! safety violation: a JoinNonce reused, a join-accept that does not verify, or a DevNonce
//! accepted twice; 3 when a replay was inconclusive (DevNonces not re-sent in time, or
//! without a well-formed answer). ResultCodes other than Success and transport errors are reported, not
//! failures: an overloaded peer may refuse, it may not accept wrongly.
//!
//! A 1.1 device's accept is verified with the JSIntKey (derived from its NwkKey) over
//! JoinReqType | JoinEUI | DevNonce when the accept has OptNeg set (1.1 §6.2.3), else in the
//! 1.0 form with the NwkKey.
//!
//! # Uplinks at a network server
//!
//! [`uplinks`] is a different load: data uplinks from many ABP devices through simulated
//! Semtech UDP gateways at a network server (the `nsd-load` binary, and the nsd's
//! in-process `uplink_load` bench).

pub mod devices;
pub mod frame;
pub mod message;
mod runner;
pub mod state;
pub mod stats;
pub mod uplinks;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

pub use devices::{generate_device, generate_devices, Device, DeviceFile, LoRaWanVersion};
pub use frame::{Eui64, NetId};
pub use message::ProtocolVersion;
pub use state::StateFile;
pub use stats::{RunKind, Summary};

/// What a run sends.
#[derive(Debug, Clone)]
pub enum Mode {
    /// New DevNonces, from `dev_nonce_start` or above a previous run's state.
    Load {
        /// A previous run's state to continue from.
        resume: Option<StateFile>,
    },
    /// Every DevNonce the state records as accepted, again: each must be refused.
    Replay(StateFile),
}

/// Everything a run needs; [`RunConfig::new`] fills in the defaults.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The peer's Backend Interfaces URL; must be loopback.
    pub peer: String,
    /// Sent as `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// SenderID: the NetID of the network server being played.
    pub sender_id: NetId,
    /// ReceiverID: the Join Server's JoinEUI.
    pub receiver_id: Eui64,
    /// The devices, in index order.
    pub devices: Vec<Device>,
    /// Stop sending after this long (default 10 s).
    pub duration: Duration,
    /// Stop sending after this many requests (default 1,000,000; at most 2³²).
    pub max_requests: u64,
    /// Requests in flight at once, at most one per device (default 16).
    pub concurrency: usize,
    /// Each device's first DevNonce in a load (default 1, as LoRaMac-node's first
    /// join-request); a resumed device starts above its recorded one if that is higher.
    pub dev_nonce_start: u16,
    /// Backend Interfaces version of the messages (default 1.1).
    pub protocol: ProtocolVersion,
    /// MACVersion to send instead of each device's own version.
    pub mac_version: Option<LoRaWanVersion>,
    /// Per-request HTTP timeout (default 5 s).
    pub timeout: Duration,
    /// Load or replay.
    pub mode: Mode,
    /// Where to write the final per-device state.
    pub state_out: Option<PathBuf>,
    /// Set to stop early (as Ctrl-C does); requests in flight are still awaited.
    pub stop: Option<Arc<AtomicBool>>,
}

impl RunConfig {
    /// A load run with the defaults.
    pub fn new(peer: &str, sender_id: NetId, receiver_id: Eui64, devices: Vec<Device>) -> Self {
        Self {
            peer: peer.to_owned(),
            token: None,
            sender_id,
            receiver_id,
            devices,
            duration: Duration::from_secs(10),
            max_requests: 1_000_000,
            concurrency: 16,
            dev_nonce_start: 1,
            protocol: ProtocolVersion::V1_1,
            mac_version: None,
            timeout: Duration::from_secs(5),
            mode: Mode::Load { resume: None },
            state_out: None,
            stop: None,
        }
    }
}

/// The peer URL, if its host is loopback (127.0.0.1, ::1 or localhost) and its scheme HTTP(S).
///
/// Project rule: load tests only ever hit the machine they run on.
pub fn loopback_url(peer: &str) -> anyhow::Result<reqwest::Url> {
    let url = reqwest::Url::parse(peer).with_context(|| format!("--peer {peer:?}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        anyhow::bail!("--peer {peer:?}: only http and https URLs");
    }
    let host = url.host_str().unwrap_or_default();
    if !matches!(host, "127.0.0.1" | "[::1]" | "localhost") {
        anyhow::bail!(
            "--peer {peer:?}: load tests only hit loopback (127.0.0.1, ::1 or localhost), not {host:?}"
        );
    }
    Ok(url)
}

/// Runs the load (or the replay) and returns what happened; writes `state_out` if set.
pub async fn run(config: RunConfig) -> anyhow::Result<Summary> {
    let url = loopback_url(&config.peer)?;
    if config.concurrency == 0 {
        anyhow::bail!("concurrency must be at least 1");
    }
    if config.max_requests > 1 << 32 {
        anyhow::bail!("at most 2^32 requests per run (TransactionIDs are 32-bit)");
    }
    if config.devices.is_empty() {
        anyhow::bail!("no devices");
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = config.devices.iter().find(|d| !seen.insert(d.dev_eui)) {
        anyhow::bail!("DevEUI {} is listed twice", twice.dev_eui);
    }
    let slots = runner::plan(&config)?;
    let kind = runner::kind(&config.mode);
    let state_out = config.state_out.clone();
    let outcome = runner::execute(config, url, slots).await?;
    if let Some(path) = state_out {
        outcome.state.write(&path)?;
    }
    let pending = (kind == RunKind::Replay).then_some(outcome.pending);
    Ok(outcome
        .stats
        .summary(kind, outcome.elapsed, outcome.devices_done, pending))
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename, so a reader
/// (or a crash) never sees half a file.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}
