//! The workers: C tasks share one HTTP client and one queue of devices.
//!
//! A device is in the queue or in exactly one worker's hands, never both: a worker takes the
//! device at the front, sends its next DevNonce, waits for the answer and puts the device
//! back at the end. So requests go round-robin over the devices, and no device ever has two
//! requests in flight — as on the air, where a device sends its next join-request only after
//! the previous one was answered or timed out. With C ≤ N devices the queue is never empty
//! when a worker looks (the other C − 1 workers hold at most C − 1 devices).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::devices::Device;
use super::frame::{self, AcceptKeys};
use super::message::{classify, dl_settings, Answer, JoinReq, JoinReqFields};
use super::state::{DeviceState, StateFile};
use super::stats::{RunKind, Stats};
use super::{Mode, RunConfig};

/// One device's place in the run.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    /// Index into the device list.
    device: usize,
    /// DevNonces still to send, as inclusive ranges in sending order (`u32` so that "after
    /// 65535" can be said).
    todo: VecDeque<(u32, u32)>,
    /// The highest DevNonce sent, this run or before it.
    last_sent: Option<u16>,
    /// The JoinNonce new accepts are compared with (see [`record_join_nonce`]).
    last_join_nonce: Option<u32>,
    /// DevNonces answered Success (with a verified accept), this run or before it.
    accepted: Vec<(u16, u16)>,
}

impl Slot {
    fn is_done(&self) -> bool {
        self.todo.is_empty()
    }

    /// Takes the next DevNonce to send.
    fn take_next(&mut self) -> Option<u16> {
        let range = self.todo.front_mut()?;
        let dev_nonce = range.0;
        range.0 += 1;
        if range.0 > range.1 {
            self.todo.pop_front();
        }
        let dev_nonce = u16::try_from(dev_nonce).ok()?;
        self.last_sent = Some(self.last_sent.map_or(dev_nonce, |n| n.max(dev_nonce)));
        Some(dev_nonce)
    }

    /// DevNonces left to send.
    fn pending(&self) -> u64 {
        self.todo
            .iter()
            .map(|&(a, b)| u64::from(b.saturating_sub(a)) + 1)
            .sum()
    }

    /// Notes a DevNonce answered Success, extending the last range when it follows it.
    fn record_accepted(&mut self, dev_nonce: u16) {
        match self.accepted.last_mut() {
            Some(last) if u32::from(last.1) + 1 == u32::from(dev_nonce) => last.1 = dev_nonce,
            Some(last) if (last.0..=last.1).contains(&dev_nonce) => {}
            _ => self.accepted.push((dev_nonce, dev_nonce)),
        }
    }
}

/// What the workers hand back.
pub(super) struct Outcome {
    /// Counters and latencies.
    pub stats: Stats,
    /// Every device's final state, in device order.
    pub state: StateFile,
    /// Devices with nothing left to send.
    pub devices_done: u64,
    /// DevNonces still to send (meaningful for a replay).
    pub pending: u64,
    /// First request to last answer.
    pub elapsed: Duration,
}

/// The slots of a run: fresh DevNonces (load) or the accepted ones again (replay).
pub(super) fn plan(config: &RunConfig) -> anyhow::Result<Vec<Slot>> {
    let start = u32::from(config.dev_nonce_start);
    let known = match &config.mode {
        Mode::Load { resume: None } => Default::default(),
        Mode::Load {
            resume: Some(state),
        }
        | Mode::Replay(state) => {
            state.check().map_err(anyhow::Error::msg)?;
            let known = state.by_dev_eui();
            let devices: std::collections::HashSet<_> =
                config.devices.iter().map(|d| d.dev_eui).collect();
            if let Some(stranger) = known.keys().find(|eui| !devices.contains(eui)) {
                anyhow::bail!(
                    "the state file names DevEUI {stranger}, which is not among the devices"
                );
            }
            known
        }
    };
    let mut slots = Vec::with_capacity(config.devices.len());
    for (index, device) in config.devices.iter().enumerate() {
        let before = known.get(&device.dev_eui);
        let last_sent = before.and_then(|s| s.last_dev_nonce);
        let accepted: Vec<(u16, u16)> = before
            .map(|s| s.accepted_dev_nonces.iter().map(|r| (r[0], r[1])).collect())
            .unwrap_or_default();
        let todo = match config.mode {
            Mode::Load { .. } => {
                let next = start.max(last_sent.map_or(0, |n| u32::from(n) + 1));
                let last = u32::from(u16::MAX);
                (next <= last).then_some((next, last)).into_iter().collect()
            }
            Mode::Replay(_) => accepted
                .iter()
                .map(|&(a, b)| (u32::from(a), u32::from(b)))
                .collect(),
        };
        slots.push(Slot {
            device: index,
            todo,
            last_sent,
            last_join_nonce: before.and_then(|s| s.last_join_nonce),
            accepted,
        });
    }
    Ok(slots)
}

struct Shared {
    config: RunConfig,
    url: reqwest::Url,
    client: reqwest::Client,
    queue: Mutex<VecDeque<Slot>>,
    finished: Mutex<Vec<Slot>>,
    stats: Mutex<Stats>,
    issued: AtomicU64,
    next_transaction_id: AtomicU32,
    deadline: Instant,
    stop: Arc<AtomicBool>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A worker that panicked holding a lock left consistent data (every critical section
    // is a single push, pop or counter update), so the data is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs the workers until the duration, the request bound or the devices run out.
pub(super) async fn execute(
    config: RunConfig,
    url: reqwest::Url,
    slots: Vec<Slot>,
) -> anyhow::Result<Outcome> {
    let workers = config.concurrency.min(slots.len());
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .pool_max_idle_per_host(workers.max(1))
        .tcp_nodelay(true)
        .build()
        .context("building the HTTP client")?;
    // TransactionIDs count up from the clock, so that two runs in a row do not reuse them.
    let first_tid = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u32);
    let started = Instant::now();
    let shared = Arc::new(Shared {
        stop: config.stop.clone().unwrap_or_default(),
        deadline: started + config.duration,
        config,
        url,
        client,
        queue: Mutex::new(slots.into()),
        finished: Mutex::new(Vec::new()),
        stats: Mutex::new(Stats::default()),
        issued: AtomicU64::new(0),
        next_transaction_id: AtomicU32::new(first_tid),
    });
    let handles: Vec<_> = (0..workers)
        .map(|_| tokio::spawn(worker(Arc::clone(&shared))))
        .collect();
    for handle in handles {
        handle.await.context("a load worker failed")?;
    }
    let elapsed = started.elapsed();

    let mut slots: Vec<Slot> = lock(&shared.queue).drain(..).collect();
    slots.append(&mut lock(&shared.finished));
    slots.sort_by_key(|s| s.device);
    let devices_done = slots.iter().filter(|s| s.is_done()).count() as u64;
    let pending = slots.iter().map(Slot::pending).sum();
    let state = StateFile {
        devices: slots
            .iter()
            .map(|s| DeviceState {
                dev_eui: shared.config.devices[s.device].dev_eui,
                last_dev_nonce: s.last_sent,
                last_join_nonce: s.last_join_nonce,
                accepted_dev_nonces: s.accepted.iter().map(|&(a, b)| [a, b]).collect(),
            })
            .collect(),
    };
    let stats = std::mem::take(&mut *lock(&shared.stats));
    Ok(Outcome {
        stats,
        state,
        devices_done,
        pending,
        elapsed,
    })
}

/// How long a worker waits after a request got no HTTP answer.
const TRANSPORT_ERROR_PAUSE: Duration = Duration::from_millis(100);

async fn worker(shared: Arc<Shared>) {
    loop {
        if shared.stop.load(Ordering::Relaxed) || Instant::now() >= shared.deadline {
            return;
        }
        let Some(mut slot) = lock(&shared.queue).pop_front() else {
            return;
        };
        if slot.is_done() {
            lock(&shared.finished).push(slot);
            continue;
        }
        if shared.issued.fetch_add(1, Ordering::Relaxed) >= shared.config.max_requests {
            lock(&shared.queue).push_front(slot);
            return;
        }
        let Some(dev_nonce) = slot.take_next() else {
            lock(&shared.finished).push(slot);
            continue;
        };
        let answered = exchange(&shared, &mut slot, dev_nonce).await;
        lock(&shared.queue).push_back(slot);
        if !answered {
            // The peer is unreachable (down, restarting): do not burn DevNonces at the speed
            // of refused connections. A real device waits far longer between join-requests.
            tokio::time::sleep(TRANSPORT_ERROR_PAUSE).await;
        }
    }
}

/// Sends one JoinReq and records its outcome; false if it got no HTTP answer.
async fn exchange(shared: &Shared, slot: &mut Slot, dev_nonce: u16) -> bool {
    let config = &shared.config;
    let device: &Device = &config.devices[slot.device];
    let root_key = device.root_key();
    let phy = frame::join_request(&root_key, device.join_eui, device.dev_eui, dev_nonce);
    let mac_version = config.mac_version.unwrap_or(device.version);
    let request = JoinReq::new(&JoinReqFields {
        protocol: config.protocol,
        sender_id: config.sender_id,
        receiver_id: config.receiver_id,
        transaction_id: shared.next_transaction_id.fetch_add(1, Ordering::Relaxed),
        mac_version: mac_version.as_str(),
        phy_payload: &phy,
        dev_eui: device.dev_eui,
        dev_addr: config.sender_id.dev_addr(slot.device as u32),
        dl_settings: dl_settings(mac_version),
    });
    let keys = match device.nwk_key {
        None => AcceptKeys::V1_0 {
            app_key: device.app_key,
        },
        Some(nwk_key) => AcceptKeys::V1_1 {
            nwk_key,
            js_int_key: frame::js_int_key(&nwk_key, device.dev_eui),
            join_eui: device.join_eui,
            dev_nonce,
        },
    };
    let body = match serde_json::to_vec(&request) {
        Ok(body) => body,
        Err(e) => {
            // Serialising plain strings and numbers cannot fail; say so if it ever does.
            lock(&shared.stats).sample(|| format!("JoinReq not serialisable: {e}"));
            return true;
        }
    };
    let mut http = shared
        .client
        .post(shared.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(token) = &config.token {
        http = http.bearer_auth(token);
    }
    let sent = Instant::now();
    let answer = match http.send().await {
        Err(e) => Err(e),
        Ok(response) => response.bytes().await,
    };
    let latency = sent.elapsed();
    let answer = match answer {
        Err(e) => Answer::Transport(error_chain(&e)),
        Ok(body) => classify(&request.header(), &body, &keys),
    };

    let replay = matches!(config.mode, Mode::Replay(_));
    let answered = !matches!(answer, Answer::Transport(_));
    let mut stats = lock(&shared.stats);
    stats.requests += 1;
    if !matches!(answer, Answer::Transport(_)) {
        stats.latency.record(latency);
    }
    let who = || format!("DevEUI {} DevNonce {dev_nonce}", device.dev_eui);
    match answer {
        Answer::Transport(e) => {
            stats.transport_errors += 1;
            stats.sample(|| format!("{}: no answer: {e}", who()));
        }
        Answer::Malformed(e) => {
            stats.malformed_answers += 1;
            stats.sample(|| format!("{}: malformed answer: {e}", who()));
        }
        Answer::Refused { code, description } => {
            stats.sample(|| {
                format!(
                    "{}: {code}: {}",
                    who(),
                    description.as_deref().unwrap_or("(no Description)")
                )
            });
            *stats.errors.entry(code).or_default() += 1;
        }
        Answer::AcceptInvalid(e) => {
            stats.accept_invalid += 1;
            stats.sample(|| format!("{}: {e}", who()));
        }
        Answer::Accepted(accept) => {
            stats.ok += 1;
            if replay {
                stats.dev_nonce_accepted_twice += 1;
                stats.sample(|| format!("{}: accepted again", who()));
            } else {
                slot.record_accepted(dev_nonce);
            }
            let previous = slot.last_join_nonce;
            if !record_join_nonce(slot, device, accept.join_nonce) {
                stats.join_nonce_reuse += 1;
                stats.sample(|| {
                    format!(
                        "{}: JoinNonce {} after {}",
                        who(),
                        accept.join_nonce,
                        previous.unwrap_or_default()
                    )
                });
            }
        }
    }
    answered
}

/// An error and its causes (reqwest's own text rarely says what went wrong).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Notes a verified JoinNonce; false if it breaks the device version's rule.
///
/// 1.0.4 §6.2.5 / 1.1 §6.2.3: the JoinNonce "SHALL be incremented with every Join-accept
/// message" and never reused, so it must be greater than the last one. Before 1.0.4 it was a
/// random AppNonce: only a repeat of the last one is caught.
fn record_join_nonce(slot: &mut Slot, device: &Device, join_nonce: u32) -> bool {
    let Some(previous) = slot.last_join_nonce else {
        slot.last_join_nonce = Some(join_nonce);
        return true;
    };
    if device.version.join_nonce_is_counter() {
        slot.last_join_nonce = Some(previous.max(join_nonce));
        join_nonce > previous
    } else {
        slot.last_join_nonce = Some(join_nonce);
        join_nonce != previous
    }
}

/// The kind of run `mode` is.
pub(super) fn kind(mode: &Mode) -> RunKind {
    match mode {
        Mode::Load { .. } => RunKind::Load,
        Mode::Replay(_) => RunKind::Replay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::devices::{generate_devices, LoRaWanVersion};
    use crate::load::frame::{Eui64, NetId};

    fn config(count: u32, version: LoRaWanVersion, mode: Mode) -> RunConfig {
        let join_eui = Eui64(0x70b3_d57e_d000_0001);
        let mut config = RunConfig::new(
            "http://127.0.0.1:1/bi",
            NetId::new(0x13).expect("NetID"),
            join_eui,
            generate_devices(3, count, join_eui, version),
        );
        config.mode = mode;
        config
    }

    /// Device index, LastDevNonce, AcceptedDevNonces.
    type Recorded = (usize, Option<u16>, Vec<[u16; 2]>);

    fn state(config: &RunConfig, last: &[Recorded]) -> StateFile {
        StateFile {
            devices: last
                .iter()
                .map(|(i, dev_nonce, accepted)| DeviceState {
                    dev_eui: config.devices[*i].dev_eui,
                    last_dev_nonce: *dev_nonce,
                    last_join_nonce: dev_nonce.map(u32::from),
                    accepted_dev_nonces: accepted.clone(),
                })
                .collect(),
        }
    }

    fn todo(slots: &[Slot]) -> Vec<Vec<(u32, u32)>> {
        slots
            .iter()
            .map(|s| s.todo.iter().copied().collect())
            .collect()
    }

    #[test]
    fn a_resumed_load_starts_above_the_recorded_dev_nonces() {
        let mut c = config(3, LoRaWanVersion::V1_0_4, Mode::Load { resume: None });
        c.dev_nonce_start = 10;
        let resume = state(&c, &[(0, Some(41), vec![[1, 41]]), (1, Some(3), vec![])]);
        c.mode = Mode::Load {
            resume: Some(resume),
        };
        let slots = plan(&c).expect("plan");
        assert_eq!(
            todo(&slots),
            [vec![(42, 65535)], vec![(10, 65535)], vec![(10, 65535)]]
        );
        assert_eq!(slots[0].last_join_nonce, Some(41));
        assert_eq!(slots[0].accepted, [(1, 41)]);

        let done = state(&c, &[(2, Some(u16::MAX), vec![])]);
        c.mode = Mode::Load { resume: Some(done) };
        assert!(plan(&c).expect("plan")[2].is_done());
    }

    #[test]
    fn a_replay_resends_exactly_the_accepted_dev_nonces() {
        let c = config(3, LoRaWanVersion::V1_0_4, Mode::Load { resume: None });
        let recorded = state(&c, &[(0, Some(9), vec![[1, 3], [5, 6]]), (2, None, vec![])]);
        let c = RunConfig {
            mode: Mode::Replay(recorded),
            ..c
        };
        let mut slots = plan(&c).expect("plan");
        assert_eq!(slots[0].pending(), 5);
        assert!(slots[1].is_done() && slots[2].is_done());
        let sent: Vec<_> = std::iter::from_fn(|| slots[0].take_next()).collect();
        assert_eq!(sent, [1, 2, 3, 5, 6]);
        assert_eq!(slots[0].last_sent, Some(9), "a replay keeps LastDevNonce");
    }

    #[test]
    fn bad_state_files_are_refused() {
        let mut c = config(2, LoRaWanVersion::V1_0_4, Mode::Load { resume: None });
        let mut foreign = state(&c, &[(0, Some(1), vec![])]);
        foreign.devices[0].dev_eui = Eui64(1);
        c.mode = Mode::Replay(foreign);
        assert!(plan(&c).is_err());
        for accepted in [vec![[3, 2]], vec![[1, 4], [4, 5]], vec![[1, 12]]] {
            c.mode = Mode::Replay(state(&c, &[(0, Some(10), accepted)]));
            assert!(plan(&c).is_err());
        }
    }

    #[test]
    fn accepted_dev_nonces_are_kept_as_ranges() {
        let c = config(1, LoRaWanVersion::V1_0_4, Mode::Load { resume: None });
        let mut slot = plan(&c).expect("plan").remove(0);
        for n in [1, 2, 3, 5, 6, 9, 9] {
            slot.record_accepted(n);
        }
        assert_eq!(slot.accepted, [(1, 3), (5, 6), (9, 9)]);
        slot.record_accepted(u16::MAX);
        assert_eq!(slot.accepted.last(), Some(&(u16::MAX, u16::MAX)));
    }

    #[test]
    fn join_nonces_must_increase_from_1_0_4_and_only_change_before() {
        let counter = config(1, LoRaWanVersion::V1_0_4, Mode::Load { resume: None });
        let device = &counter.devices[0];
        let mut slot = plan(&counter).expect("plan").remove(0);
        let verdicts: Vec<_> = [5, 6, 6, 4, 7]
            .iter()
            .map(|&n| record_join_nonce(&mut slot, device, n))
            .collect();
        assert_eq!(verdicts, [true, true, false, false, true]);
        assert_eq!(slot.last_join_nonce, Some(7));

        let random = config(1, LoRaWanVersion::V1_0_2, Mode::Load { resume: None });
        let device = &random.devices[0];
        let mut slot = plan(&random).expect("plan").remove(0);
        let verdicts: Vec<_> = [900, 17, 17, 400]
            .iter()
            .map(|&n| record_join_nonce(&mut slot, device, n))
            .collect();
        assert_eq!(verdicts, [true, true, false, true]);
    }
}
