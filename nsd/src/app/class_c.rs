//! Class C unicast: a frame queued for a class C device goes out at once, through the gateway
//! that heard the device best last, on its RX2 frequency and data rate (TS001 1.0.4 §6.2:
//! a class C device "listens with RX2 windows parameters as often as possible").
//!
//! One sender task per device at a time drains the queue head by head:
//!
//! 1. under the device's lock: drop expired frames; take the head (none while a confirmed
//!    frame awaits its acknowledgement: the next uplink settles it, or, if frames wait,
//!    the sender does when CLASS_C_RESP_TIMEOUT has passed — `[downlink]
//!    class_c_ack_timeout_ms`);
//!    build the frame and store the advanced counter *before* sending (the order of
//!    [`super::answer`]), then make one attempt ([`Downlinks::class_c`]);
//! 2. sent: the frame leaves the queue ([`DeviceQueue::sent`]), the queue is stored, the next
//!    head follows; refused, busy, no answer, duty cycle spent: the lock is released, and the
//!    sender sleeps until the retry time [`ClassCAttempts`] gives, then tries again through
//!    the then-best gateway, with the same bytes while no other downlink used a counter
//!    meanwhile (else rebuilt with a fresh counter);
//! 3. 60 s after the first attempt (configurable: `[downlink] class_c_max_delay_ms`) the
//!    frame is given up with E0 and leaves the queue.
//!
//! A frame the class A path sends meanwhile (an uplink arrived between two attempts) is
//! simply no longer the head when the sender wakes up: it is never sent twice.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lorawan::ids::Eui64;

use super::downlink::Downlinks;
use super::{unix_seconds, NetworkServer};
use crate::device::registry::{DeviceEntry, SharedEntry};
use crate::device::{Class, DeviceProfile};
use crate::downlink::class_a::DeviceRadio;
use crate::downlink::class_c::{ClassCAttempts, ClassCNext};
use crate::downlink::frame::{build_downlink, FrameBits};
use crate::downlink::queue::{AckResult, DeviceQueue};
use crate::gateway::registry::Registry as GatewayRegistry;
use crate::storage::DeviceStore;

impl NetworkServer {
    /// After a frame was queued for the device of `entry` (locked by the caller, `shared` is
    /// its registry handle): if the device is class C, starts its sender unless one runs.
    pub(crate) fn start_class_c(&self, shared: &SharedEntry, entry: &DeviceEntry) {
        if entry.profile.class != Class::C || entry.session.is_none() {
            return;
        }
        let dev_eui = entry.device.dev_eui;
        // Checked and claimed under the device's lock, which the sender also holds when it
        // finds the queue empty and stops: a frame queued is never left without a sender.
        if !self.downlinks.claim_class_c_sender(dev_eui) {
            return;
        }
        let sender = Sender {
            dev_eui,
            entry: Arc::clone(shared),
            store: self.devices_store.clone(),
            downlinks: self.downlinks.clone(),
            gateways: Arc::clone(&self.gateways),
            sent: self.sent.clone(),
        };
        tokio::spawn(sender.run());
    }
}

/// The sender of one class C device's queue.
struct Sender {
    dev_eui: Eui64,
    entry: SharedEntry,
    store: DeviceStore,
    downlinks: Downlinks,
    gateways: Arc<GatewayRegistry>,
    sent: tokio::sync::broadcast::Sender<Arc<crate::tunnel::report::DownlinkSent>>,
}

/// A frame built and tried at least once.
struct InFlight {
    item_id: u64,
    phy: Vec<u8>,
    f_cnt: u32,
    /// The session's (NFCntDown, AFCntDown) right after building it: if they moved, another
    /// downlink used a later counter and these bytes would be discarded as old.
    counters_after: (u32, u32),
    attempts: ClassCAttempts,
}

/// The device's sender claim, released when the sender stops (explicitly, while it holds the
/// device's lock, or on drop if the task ends otherwise).
struct Claim {
    downlinks: Downlinks,
    dev_eui: Eui64,
    held: bool,
}

impl Claim {
    fn release(&mut self) {
        if std::mem::take(&mut self.held) {
            self.downlinks.release_class_c_sender(self.dev_eui);
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.release();
    }
}

impl Sender {
    async fn run(self) {
        let dev_eui = self.dev_eui;
        let mut in_flight: Option<InFlight> = None;
        let mut claim = Claim {
            downlinks: self.downlinks.clone(),
            dev_eui,
            held: true,
        };
        loop {
            let mut entry = self.entry.lock().await;
            let now = SystemTime::now();
            let next = entry.queue.next_for_transmission(now);
            let mut changed = false;
            for expired in &next.expired {
                tracing::info!(%dev_eui, id = expired.id, "class C downlink expired before it could be sent");
                changed = true;
            }
            if next.item.is_none() && !entry.queue.is_empty() {
                if let Some(pending) = entry.queue.pending_ack() {
                    // Frames wait behind a confirmed one: settle it after the timeout.
                    let timeout = self.downlinks.class_c_options().ack_timeout;
                    let until = pending.sent_at + timeout;
                    if let Ok(wait) = until.duration_since(now) {
                        drop(entry);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    if let Some(AckResult::NotAcknowledged(frame)) =
                        entry.queue.ack_timeout(now, timeout)
                    {
                        tracing::info!(%dev_eui, f_cnt = frame.fcnt, "class C confirmed downlink not acknowledged in time");
                        self.save_queue(&entry.queue).await;
                    }
                    continue;
                }
            }
            let Some(item) = next.item else {
                if changed {
                    self.save_queue(&entry.queue).await;
                }
                // Released while the device is locked (see `start_class_c`).
                claim.release();
                return;
            };
            let profile = entry.profile.clone();
            let (Some(mut session), Some(keys)) = (entry.session.clone(), entry.keys.clone())
            else {
                claim.release();
                return;
            };
            let Some(gateway) = entry
                .last_receptions
                .iter()
                .map(|rx| rx.gateway)
                .find(|&g| self.gateways.contains(g))
            else {
                // Never heard yet (or only by gateways since removed): the frame waits for
                // the device's next uplink and goes in its class A window.
                tracing::debug!(%dev_eui, "class C frame waits: no gateway has heard the device");
                if changed {
                    self.save_queue(&entry.queue).await;
                }
                claim.release();
                return;
            };
            let counters = (session.n_f_cnt_down, session.a_f_cnt_down);
            let mut flight = match in_flight.take() {
                Some(f) if f.item_id == item.id && f.counters_after == counters => f,
                previous => {
                    // The deadline runs from the first attempt at this frame.
                    let attempts = previous
                        .filter(|f| f.item_id == item.id)
                        .map_or_else(|| ClassCAttempts::start(now), |f| f.attempts);
                    let bits = FrameBits {
                        ack: false,
                        adr: profile.adr,
                        f_pending: next.f_pending,
                        fopts: &[],
                        acked_uplink_f_cnt: 0,
                    };
                    let built = match build_downlink(&mut session, &keys, bits, Some(&item)) {
                        Ok(built) => built,
                        Err(error) => {
                            // It can never be built (stale AS counter, no AppSKey, too long).
                            tracing::warn!(%dev_eui, id = item.id, %error, "class C downlink dropped");
                            entry.queue.remove(item.id);
                            self.save_queue(&entry.queue).await;
                            continue;
                        }
                    };
                    // The counter is stored before the frame leaves: never reused.
                    if let Err(error) = self
                        .store
                        .save_counters(dev_eui, &session, unix_seconds())
                        .await
                    {
                        tracing::error!(%dev_eui, %error, "downlink counter not stored; class C frame not sent");
                        claim.release();
                        return;
                    }
                    let flight = InFlight {
                        item_id: item.id,
                        phy: built.phy,
                        f_cnt: built.f_cnt,
                        counters_after: (session.n_f_cnt_down, session.a_f_cnt_down),
                        attempts,
                    };
                    entry.session = Some(session);
                    flight
                }
            };
            let radio = device_radio(&profile);
            let next = self
                .downlinks
                .class_c(
                    profile.region,
                    &radio,
                    gateway,
                    &flight.phy,
                    &mut flight.attempts,
                )
                .await;
            let retry_at = match next {
                ClassCNext::Delivered(report) => {
                    tracing::debug!(%dev_eui, id = item.id, f_cnt = flight.f_cnt, %gateway, "class C downlink sent");
                    self.tell(&entry, &item, &flight, report);
                    entry.queue.sent(item.id, flight.f_cnt, SystemTime::now());
                    self.save_queue(&entry.queue).await;
                    None
                }
                ClassCNext::GiveUp(report) => {
                    tracing::info!(
                        %dev_eui, id = item.id, attempts = flight.attempts.attempts(),
                        cause = report.cause2_code(), "class C downlink not sent"
                    );
                    self.tell(&entry, &item, &flight, report);
                    entry.queue.remove(item.id);
                    self.save_queue(&entry.queue).await;
                    None
                }
                ClassCNext::RetryAt(at) => {
                    in_flight = Some(flight);
                    Some(at)
                }
            };
            drop(entry);
            if let Some(at) = retry_at {
                let wait = at
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO);
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Tells the application what became of its frame.
    fn tell(
        &self,
        entry: &DeviceEntry,
        item: &crate::downlink::queue::QueueItem,
        flight: &InFlight,
        report: crate::downlink::delivery::DeliveryReport,
    ) {
        if let Some(session) = &entry.session {
            let event = super::downlink::sent_event(
                self.dev_eui,
                session,
                item,
                flight.f_cnt,
                false,
                &[],
                report,
                None,
            );
            let _ = self.sent.send(Arc::new(event));
        }
    }

    async fn save_queue(&self, queue: &DeviceQueue) {
        if let Err(error) = self
            .store
            .save_queue(self.dev_eui, queue, unix_seconds())
            .await
        {
            tracing::error!(dev_eui = %self.dev_eui, %error, "downlink queue not stored");
        }
    }
}

/// The downlink settings of a device of `profile`.
pub(crate) fn device_radio(profile: &DeviceProfile) -> DeviceRadio {
    DeviceRadio {
        rx1_delay: Duration::from_secs(u64::from(profile.rx1_delay_s)),
        rx1_dr_offset: profile.rx1_dr_offset,
        rx2_data_rate: profile.rx2_data_rate,
        rx2_frequency_hz: profile.rx2_frequency_hz,
        ..DeviceRadio::defaults(profile.region.params())
    }
}
