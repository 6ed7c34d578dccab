//! Uplink load against a network server: many ABP devices, heard by simulated Semtech UDP
//! packet forwarders on loopback, sending data uplinks at a target rate for a bounded time.
//!
//! It measures what can be seen from the gateways' side: frames sent, `PUSH_ACK`s back, and,
//! for confirmed uplinks, how long after the uplink left the `PULL_RESP` carrying the ACK
//! arrived. The network server's own count of accepted uplinks is the caller's business
//! (the nsd's in-process bench subscribes to its events; `nsd-load` reads `/metrics`).
//!
//! # Devices
//!
//! Device `i` of seed `s` ([`abp_identity`]) has DevEUI `s·2³² + i` mixed, DevAddr
//! `first_dev_addr + i` and session keys derived from `(s, i)` by SplitMix64, so the
//! provisioning side and the sending side rebuild the same devices from three numbers. They
//! are US915 devices on channel 0 (902.3 MHz, DR3 = SF7/BW125): US915 has no duty-cycle
//! limit, so every confirmed uplink can be acknowledged (in EU868 a gateway may only spend
//! 1 % of its time in RX1's sub-band, which would cap the ACKs, not the network server).
//!
//! # The downlink delay
//!
//! The network server holds an uplink for its deduplication window before it serves it; the
//! gateway cannot see when that window closed. [`UplinkLoadSummary::ack_delay_p99_ms`] is
//! therefore *(PULL_RESP received − first `PUSH_DATA` of the uplink sent) − the configured
//! window*: the window-close-to-PULL_RESP time plus the (small) loopback transit of the
//! `PUSH_DATA`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::stats::Histogram;
use crate::sim::{
    DevAddr, Device, Eui64, GatewayConfig, MacVersion, RadioParams, SessionKeys, Simulation, Uplink,
};

/// The US915 uplink every device sends on: 902.3 MHz (channel 0), SF7 / BW125 (DR3).
pub const US915_CHANNEL_0_HZ: u32 = 902_300_000;

/// What one run sends; [`UplinkLoadConfig::new`] fills in the defaults.
#[derive(Debug, Clone)]
pub struct UplinkLoadConfig {
    /// The network server's Semtech UDP address (loopback).
    pub ns_addr: SocketAddr,
    /// Devices `0..devices` of [`Self::seed`].
    pub devices: u32,
    /// The seed the devices' identities and keys derive from.
    pub seed: u64,
    /// DevAddr of device 0; device `i` has `first_dev_addr + i`.
    pub first_dev_addr: u32,
    /// The devices' LoRaWAN version (1.0.x or 1.1).
    pub version: MacVersion,
    /// How many gateways (EUIs from [`Self::first_gateway`]).
    pub gateways: usize,
    /// The first gateway's EUI.
    pub first_gateway: Eui64,
    /// How many gateways hear each frame (1..=gateways): the network server deduplicates.
    pub heard_by: usize,
    /// Frames per second (each sent by `heard_by` gateways).
    pub rate_per_s: u32,
    /// How long to send.
    pub duration: Duration,
    /// Every n-th frame is a confirmed uplink (0: none).
    pub confirmed_every: u32,
    /// The network server's deduplication window, subtracted from the ACK delay.
    pub dedup_window: Duration,
    /// FRMPayload length (FPort 1).
    pub payload_len: usize,
    /// The devices' first FCntUp (above a previous run's, to reuse a provisioned server).
    pub fcnt_start: u32,
    /// How long to keep listening for `PUSH_ACK`s and `PULL_RESP`s after the last send.
    pub drain: Duration,
}

impl UplinkLoadConfig {
    /// A run at `ns_addr` with 1,000 LoRaWAN 1.0.4 devices, 4 gateways each frame heard by
    /// 2, 1,000 frames/s for 10 s, one frame in 100 confirmed, a 250 ms window.
    pub fn new(ns_addr: SocketAddr) -> Self {
        Self {
            ns_addr,
            devices: 1000,
            seed: 1,
            first_dev_addr: 0x2600_0000,
            version: MacVersion::V1_0_4,
            gateways: 4,
            first_gateway: crate::sim::FIRST_GATEWAY_EUI,
            heard_by: 2,
            rate_per_s: 1000,
            duration: Duration::from_secs(10),
            confirmed_every: 100,
            dedup_window: Duration::from_millis(250),
            payload_len: 12,
            fcnt_start: 0,
            drain: Duration::from_secs(3),
        }
    }
}

/// One device's ABP identity, as the provisioning side needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbpIdentity {
    /// DevEUI.
    pub dev_eui: Eui64,
    /// DevAddr (big-endian value, as written `26000001`).
    pub dev_addr: u32,
    /// Session keys: [`SessionKeys::V1_0`] for 1.0.x, [`SessionKeys::V1_1`] for 1.1.
    pub keys: SessionKeys,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn key(seed: u64, index: u32, which: u64) -> [u8; 16] {
    let base = seed.rotate_left(32) ^ u64::from(index) ^ (which << 56);
    let mut out = [0; 16];
    out[..8].copy_from_slice(&splitmix(base).to_be_bytes());
    out[8..].copy_from_slice(&splitmix(base ^ 0x5555_5555_5555_5555).to_be_bytes());
    out
}

/// Device `index` of `seed`: deterministic DevEUI, DevAddr (`first_dev_addr + index`) and
/// session keys.
pub fn abp_identity(
    seed: u64,
    index: u32,
    first_dev_addr: u32,
    version: MacVersion,
) -> AbpIdentity {
    let keys = if version == MacVersion::V1_1 {
        SessionKeys::V1_1 {
            f_nwk_s_int_key: key(seed, index, 1),
            s_nwk_s_int_key: key(seed, index, 2),
            nwk_s_enc_key: key(seed, index, 3),
            app_s_key: key(seed, index, 4),
        }
    } else {
        SessionKeys::V1_0 {
            nwk_s_key: key(seed, index, 1),
            app_s_key: key(seed, index, 4),
        }
    };
    AbpIdentity {
        dev_eui: Eui64(
            0x00f0_0000_0000_0000 | (seed << 32 & 0x000f_ffff_0000_0000) | u64::from(index),
        ),
        dev_addr: first_dev_addr.wrapping_add(index),
        keys,
    }
}

/// What a run saw from the gateways' side.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UplinkLoadSummary {
    /// Frames built and sent (each by `heard_by` gateways).
    pub frames: u64,
    /// Confirmed frames among them.
    pub confirmed: u64,
    /// `PUSH_DATA` packets sent.
    pub push_sent: u64,
    /// `PUSH_ACK`s received.
    pub push_acked: u64,
    /// `PULL_RESP`s received.
    pub pull_resp: u64,
    /// `PULL_RESP`s matched to a confirmed frame in flight.
    pub acks_matched: u64,
    /// Socket errors on the gateways' side.
    pub socket_errors: u64,
    /// Seconds spent sending.
    pub send_s: f64,
    /// Frames per second achieved by the sender.
    pub frames_per_s: f64,
    /// `PUSH_ACK`s per second over the send time.
    pub push_acks_per_s: f64,
    /// Times the sender fell more than 50 ms behind its schedule.
    pub behind: u64,
    /// ACK delay after the window closed, median, ms (see the [module doc](self)).
    pub ack_delay_p50_ms: Option<f64>,
    /// 95th percentile, ms.
    pub ack_delay_p95_ms: Option<f64>,
    /// 99th percentile, ms.
    pub ack_delay_p99_ms: Option<f64>,
    /// Largest, ms.
    pub ack_delay_max_ms: Option<f64>,
}

impl UplinkLoadSummary {
    /// A human summary, several lines.
    pub fn human(&self) -> String {
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} ms"));
        format!(
            "frames sent: {} in {:.2} s ({:.0}/s; {} times > 50 ms behind schedule), {} confirmed\n\
             PUSH_DATA: {} sent, {} acked ({:.0}/s), socket errors {}\n\
             PULL_RESP: {} received, {} matched to a confirmed frame\n\
             ACK delay after the window: p50 {} p95 {} p99 {} max {}",
            self.frames,
            self.send_s,
            self.frames_per_s,
            self.behind,
            self.confirmed,
            self.push_sent,
            self.push_acked,
            self.push_acks_per_s,
            self.socket_errors,
            self.pull_resp,
            self.acks_matched,
            ms(self.ack_delay_p50_ms),
            ms(self.ack_delay_p95_ms),
            ms(self.ack_delay_p99_ms),
            ms(self.ack_delay_max_ms),
        )
    }
}

/// Confirmed frames awaiting their ACK: DevAddr → when the frame's first copy left.
type InFlight = Arc<Mutex<HashMap<u32, Instant>>>;

/// Starts the gateways, connects them (`PULL_DATA`), sends the load, waits `drain`, and
/// reports. Stops early when `stop` is set. The devices must be provisioned already.
pub async fn run_uplinks(
    config: &UplinkLoadConfig,
    stop: Option<Arc<AtomicBool>>,
) -> anyhow::Result<UplinkLoadSummary> {
    if !config.ns_addr.ip().is_loopback() {
        anyhow::bail!("{}: load tests only hit loopback", config.ns_addr);
    }
    if config.devices == 0 || config.rate_per_s == 0 {
        anyhow::bail!("devices and rate must be at least 1");
    }
    if config.heard_by == 0 || config.heard_by > config.gateways {
        anyhow::bail!("heard_by must be within 1..=gateways");
    }
    let gateway_configs = (0..config.gateways as u64)
        .map(|i| GatewayConfig::new(Eui64(config.first_gateway.0 + i), config.ns_addr))
        .collect();
    let sim = Simulation::start_with(gateway_configs, 65_536).await?;
    if !sim.connect(Duration::from_secs(3)).await {
        anyhow::bail!("not every gateway got its PULL_ACK from {}", config.ns_addr);
    }
    let mut devices = Vec::with_capacity(config.devices as usize);
    for i in 0..config.devices {
        let id = abp_identity(config.seed, i, config.first_dev_addr, config.version);
        let mut device = Device::abp(config.version, DevAddr(id.dev_addr), id.keys)?;
        if config.fcnt_start > 0 {
            device.set_fcnt_up(config.fcnt_start)?;
        }
        devices.push(device);
    }

    let in_flight: InFlight = Arc::default();
    let histogram = Arc::new(Mutex::new(Histogram::default()));
    let done = Arc::new(AtomicBool::new(false));
    let listener = tokio::spawn(listen_for_acks(
        Arc::clone(sim.downlinks()),
        Arc::clone(&in_flight),
        Arc::clone(&histogram),
        config.dedup_window,
        Arc::clone(&done),
    ));

    let payload = vec![0x42; config.payload_len];
    let mut radio = RadioParams::lora(US915_CHANNEL_0_HZ, 7, 125);
    let mut phy = Vec::with_capacity(64);
    let mut summary = UplinkLoadSummary::default();
    let interval = Duration::from_secs(1) / config.rate_per_s;
    let start = Instant::now();
    let end = start + config.duration;
    let mut next_device = 0usize;
    let mut next_gateway = 0usize;
    let mut due = start;
    while Instant::now() < end && !stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
        let now = Instant::now();
        if due > now {
            tokio::time::sleep_until(due).await;
        } else if now - due > Duration::from_millis(50) {
            summary.behind += 1;
            due = now;
        }
        // Send everything due by now (one timer wake-up sends a batch at high rates).
        let now = Instant::now();
        while due <= now {
            let confirmed = config.confirmed_every > 0
                && summary.frames % u64::from(config.confirmed_every) == 0;
            let count = devices.len();
            let device = &mut devices[next_device];
            next_device = (next_device + 1) % count;
            let up = Uplink {
                // The 1.1 MIC covers TxDr and TxCh: US915 DR3 on channel 0.
                tx_dr: 3,
                tx_ch: 0,
                ..if confirmed {
                    Uplink::confirmed(1, &payload)
                } else {
                    Uplink::unconfirmed(1, &payload)
                }
            };
            device.uplink_into(&up, &mut phy)?;
            if confirmed {
                let addr = u32::from_le_bytes([phy[1], phy[2], phy[3], phy[4]]);
                in_flight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(addr, Instant::now());
                summary.confirmed += 1;
            }
            for h in 0..config.heard_by {
                let gateway = &sim.gateways()[(next_gateway + h) % config.gateways];
                radio.rssi_dbm = -60 - 10 * h as i16;
                gateway.send_uplink(&phy, &radio).await?;
            }
            next_gateway = (next_gateway + 1) % config.gateways;
            summary.frames += 1;
            due += interval;
        }
    }
    summary.send_s = start.elapsed().as_secs_f64();
    tokio::time::sleep(config.drain).await;
    done.store(true, Ordering::Relaxed);
    let _ = listener.await;

    for gateway in sim.gateways() {
        let stats = gateway.stats();
        // The PULL_DATA / keep-alive packets are not uplinks.
        summary.push_sent += stats.push_sent;
        summary.push_acked += stats.push_acked;
        summary.pull_resp += stats.pull_resp;
        summary.socket_errors += stats.socket_errors;
    }
    summary.frames_per_s = summary.frames as f64 / summary.send_s;
    summary.push_acks_per_s = summary.push_acked as f64 / summary.send_s;
    let histogram = histogram.lock().unwrap_or_else(PoisonError::into_inner);
    summary.acks_matched = histogram.len();
    let ms = |us: Option<u64>| us.map(|us| us as f64 / 1000.0);
    summary.ack_delay_p50_ms = ms(histogram.quantile_us(0.5));
    summary.ack_delay_p95_ms = ms(histogram.quantile_us(0.95));
    summary.ack_delay_p99_ms = ms(histogram.quantile_us(0.99));
    summary.ack_delay_max_ms = ms(histogram.max_us());
    Ok(summary)
}

/// Takes the gateways' downlinks as they come and times the ones that answer a confirmed
/// frame in flight.
async fn listen_for_acks(
    downlinks: Arc<crate::sim::DownlinkQueue>,
    in_flight: InFlight,
    histogram: Arc<Mutex<Histogram>>,
    window: Duration,
    done: Arc<AtomicBool>,
) {
    while !done.load(Ordering::Relaxed) {
        let Some(down) = downlinks.next(Duration::from_millis(100)).await else {
            continue;
        };
        let arrived = Instant::now();
        // MHDR, then DevAddr little-endian (TS001 §4.3.1).
        let Some(addr) = down.phy.get(1..5) else {
            continue;
        };
        let addr = u32::from_le_bytes([addr[0], addr[1], addr[2], addr[3]]);
        let sent = in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&addr);
        if let Some(sent) = sent {
            let delay = arrived
                .saturating_duration_since(sent)
                .saturating_sub(window);
            histogram
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .record(delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_deterministic_and_distinct() {
        let a = abp_identity(7, 0, 0x2600_0000, MacVersion::V1_0_4);
        let b = abp_identity(7, 1, 0x2600_0000, MacVersion::V1_0_4);
        assert_eq!(a, abp_identity(7, 0, 0x2600_0000, MacVersion::V1_0_4));
        assert_ne!(a.keys, b.keys);
        assert_ne!(a.dev_eui, b.dev_eui);
        assert_eq!(b.dev_addr, 0x2600_0001);
        assert!(matches!(
            abp_identity(7, 0, 0, MacVersion::V1_1).keys,
            SessionKeys::V1_1 { .. }
        ));
    }

    #[tokio::test]
    async fn a_remote_address_is_refused() {
        let config = UplinkLoadConfig::new("192.0.2.1:1700".parse().expect("addr"));
        assert!(run_uplinks(&config, None).await.is_err());
    }
}
