//! The roaming round trip under load, on loopback: the real hub between two real nsd (the
//! test federation of `tests/common/federation.rs`). Roaming ABP devices of the home network
//! send confirmed uplinks heard only by the visited network's gateway; each is forwarded
//! (PRStartReq → hub → home), served at home (MIC, counter, event), and its ACK comes back
//! (XmitDataReq → hub → visited) as a PULL_RESP on the visited gateway.
//!
//! ```text
//! cargo run --release -p nsd --example roaming_round_trip -- [--devices 4000] [--rate 1000]
//!     [--duration-s 10] [--gateways 32]
//! ```
//!
//! The time measured is from the uplink's PUSH_DATA to its ACK's PULL_RESP, minus the
//! visited network's deduplication window: the software's share of the roaming round trip.
//! The devices are spread over `--gateways` visited gateways: one gateway alone would run
//! out of duty-cycle budget (1 % in RX1's sub-band, 10 % in RX2's) long before the rate.
//! Each device has one uplink in flight at a time (`--devices` ≥ rate × a few seconds).
//! The uplinks are paced by a task of their own, so the generator keeps the rate even when
//! the federation is slow to acknowledge.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use conformance_tests::load::stats::Histogram;
use conformance_tests::sim::{Device as SimDevice, Heard, RadioParams, Uplink};
use lorawan::join::MacVersion;
use lorawan::region::Region;
use nsd::device::DeviceProfile;

/// Inside NetID 000013's DevAddr space (2600_0000/7), away from the tests' ADDR.
const FIRST_DEV_ADDR: u32 = 0x2700_0000;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let devices = arg("--devices", 4000) as u32;
    let rate = arg("--rate", 1000).max(1) as u32;
    let duration_s = arg("--duration-s", 10);
    let gateways = arg("--gateways", 32).max(1) as usize;
    let fed = common::federation::federation_with(gateways).await;
    let mut profile = DeviceProfile::defaults("abp", Region::Eu868, MacVersion::V1_0_4);
    profile.supports_join = false;
    // Roaming devices are told 5 s (the roaming RX1 delay) already.
    profile.rx1_delay_s = 5;
    fed.home.server.put_profile(profile).await.expect("profile");
    let mut sims = Vec::with_capacity(devices as usize);
    for i in 0..devices {
        sims.push(common::roaming_load_device(&fed.home.server, 2, i, FIRST_DEV_ADDR, "abp").await);
    }
    let radio = RadioParams::eu868(5, 0).expect("channel");
    let window = Duration::from_millis(250);
    let total = rate as u64 * duration_s;
    let interval = Duration::from_secs(1) / rate;
    // Every frame built up front, round-robin over the devices: a device sends again only
    // after `devices / rate` seconds, long after its previous ACK.
    let frames: Vec<(u32, Vec<u8>)> = (0..total as usize)
        .map(|k| {
            let device = &mut sims[k % devices as usize];
            let addr = device_addr(device);
            let up = device
                .uplink(&Uplink::confirmed(1, b"round trip"))
                .expect("uplink");
            (addr, up)
        })
        .collect();
    let sim = Arc::new(fed.visited.sim);
    let sent_at: Arc<Mutex<HashMap<u32, Instant>>> = Arc::default();
    let started = Instant::now();
    // The sender paces the uplinks; each goes out on its own task (its PUSH_ACK awaited
    // there), so a slow acknowledgement never delays the next uplink.
    let sender = {
        let (sim, sent_at) = (Arc::clone(&sim), Arc::clone(&sent_at));
        tokio::spawn(async move {
            for (k, (addr, up)) in frames.into_iter().enumerate() {
                tokio::time::sleep_until((started + interval * k as u32).into()).await;
                lock(&sent_at).insert(addr, Instant::now());
                let sim = Arc::clone(&sim);
                tokio::spawn(async move {
                    // Devices spread over the gateways (each has its own duty-cycle budget).
                    let heard = [Heard::new(addr as usize % gateways, -80, 7.5)];
                    let _ = sim.uplink(&up, &radio, &heard).await;
                });
            }
            started.elapsed()
        })
    };
    let mut histogram = Histogram::default();
    let deadline = started + interval * total as u32 + Duration::from_secs(3);
    while let Some(down) = sim
        .next_downlink(deadline.saturating_duration_since(Instant::now()))
        .await
    {
        record(&down.phy, &mut lock(&sent_at), &mut histogram, window);
        if histogram.len() == total {
            break;
        }
    }
    let elapsed = sender.await.expect("sender");
    let sent = total;
    let sent_at = lock(&sent_at);
    let ms = |q| {
        histogram
            .quantile_us(q)
            .map_or(0.0, |us| us as f64 / 1000.0)
    };
    eprintln!(
        "{sent} confirmed roaming uplinks in {:.1} s ({:.0}/s), {} ACKs back, {} missing; \
         round trip after the {} ms window: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64(),
        histogram.len(),
        sent_at.len(),
        window.as_millis(),
        ms(0.5),
        ms(0.99),
        histogram.max_us().unwrap_or(0) as f64 / 1000.0,
    );
    println!(
        "{}",
        serde_json::json!({
            "sent": sent, "acks": histogram.len(), "missing": sent_at.len(),
            "rate_per_s": sent as f64 / elapsed.as_secs_f64(),
            "p50_ms": ms(0.5), "p99_ms": ms(0.99),
        })
    );
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The DevAddr a simulated device sends with.
fn device_addr(device: &SimDevice) -> u32 {
    device.session().map_or(0, |s| s.dev_addr().0)
}

/// A downlink's DevAddr (bytes 1..5, little-endian) closes its device's round trip.
fn record(
    phy: &[u8],
    sent_at: &mut HashMap<u32, Instant>,
    histogram: &mut Histogram,
    window: Duration,
) {
    let Some(addr) = phy
        .get(1..5)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    else {
        return;
    };
    if let Some(at) = sent_at.remove(&addr) {
        histogram.record(at.elapsed().saturating_sub(window));
    }
}
