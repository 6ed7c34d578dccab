//! Deduplication: one frame heard by several gateways becomes one uplink.
//!
//! The first reception of a PHYPayload opens a window (250 ms by default); every reception
//! of the same bytes inside it joins the frame. When the window closes the frame goes on
//! with its best receptions (by SNR, then RSSI; at most ten, one per gateway).
//!
//! [`Collector`] is the pure bookkeeping; the pipeline owns the timer that closes windows.

use std::collections::HashMap;

use crate::gateway::{Reception, RxInfo};

/// The default deduplication window.
pub const DEFAULT_WINDOW: std::time::Duration = std::time::Duration::from_millis(250);

/// The default number of receptions kept per frame.
pub const DEFAULT_MAX_RECEPTIONS: usize = 10;

/// A frame with every gateway that heard it, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Deduplicated {
    /// The PHYPayload.
    pub phy: Vec<u8>,
    /// The best receptions, best first, one per gateway.
    pub receptions: Vec<RxInfo>,
    /// How many receptions arrived in all (including duplicates from one gateway and those
    /// beyond the kept maximum).
    pub heard: usize,
}

/// What [`Collector::offer`] did with a reception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// The first reception of this frame: the caller closes the window after its length.
    Opened,
    /// Joined a frame whose window is open.
    Joined,
}

/// The frames whose windows are open.
#[derive(Debug)]
pub struct Collector {
    open: HashMap<Vec<u8>, Open>,
    max_receptions: usize,
}

#[derive(Debug)]
struct Open {
    receptions: Vec<RxInfo>,
    heard: usize,
}

impl Collector {
    /// A collector keeping at most `max_receptions` per frame.
    pub fn new(max_receptions: usize) -> Self {
        Self {
            open: HashMap::new(),
            max_receptions: max_receptions.max(1),
        }
    }

    /// Adds a reception.
    pub fn offer(&mut self, reception: Reception) -> Offered {
        let Reception { phy, rx } = reception;
        match self.open.get_mut(&phy) {
            Some(open) => {
                open.heard += 1;
                keep_best(&mut open.receptions, rx, self.max_receptions);
                Offered::Joined
            }
            None => {
                self.open.insert(
                    phy,
                    Open {
                        receptions: vec![rx],
                        heard: 1,
                    },
                );
                Offered::Opened
            }
        }
    }

    /// Closes the window of `phy`, if open.
    pub fn close(&mut self, phy: &[u8]) -> Option<Deduplicated> {
        let (phy, open) = self.open.remove_entry(phy)?;
        Some(Deduplicated {
            phy,
            receptions: open.receptions,
            heard: open.heard,
        })
    }

    /// Frames whose windows are open.
    pub fn open_frames(&self) -> usize {
        self.open.len()
    }
}

/// Better reception first: higher SNR, then higher RSSI.
fn better(a: &RxInfo, b: &RxInfo) -> bool {
    a.snr_db > b.snr_db || (a.snr_db == b.snr_db && a.rssi_dbm > b.rssi_dbm)
}

/// Inserts `rx` in the best-first list: one entry per gateway (its best), at most `max`.
fn keep_best(list: &mut Vec<RxInfo>, rx: RxInfo, max: usize) {
    if let Some(at) = list.iter().position(|r| r.gateway == rx.gateway) {
        if !better(&rx, &list[at]) {
            return;
        }
        list.remove(at);
    }
    let at = list
        .iter()
        .position(|r| better(&rx, r))
        .unwrap_or(list.len());
    if at < max {
        list.insert(at, rx);
        list.truncate(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::RadioModulation;
    use lorawan::ids::Eui64;

    fn rx(gateway: u8, snr: f32, rssi: i16) -> RxInfo {
        RxInfo {
            gateway: Eui64::from_be_bytes([0, 0, 0, 0, 0, 0, 0, gateway]),
            frequency_hz: 868_100_000,
            modulation: RadioModulation::Lora {
                spreading_factor: 7,
                bandwidth_hz: 125_000,
                code_rate: None,
            },
            rssi_dbm: rssi,
            snr_db: snr,
            channel: 0,
            rf_chain: 0,
            counter_us: 1000,
            time: None,
            gps_time_ms: None,
            fine_timestamp_ns: None,
        }
    }

    fn heard(phy: &[u8], rx: RxInfo) -> Reception {
        Reception {
            phy: phy.to_vec(),
            rx,
        }
    }

    #[test]
    fn receptions_of_one_frame_merge_best_first_one_per_gateway() {
        let mut c = Collector::new(10);
        assert_eq!(c.offer(heard(b"frame", rx(1, 2.0, -100))), Offered::Opened);
        assert_eq!(c.offer(heard(b"frame", rx(2, 9.5, -90))), Offered::Joined);
        assert_eq!(c.offer(heard(b"frame", rx(3, 2.0, -80))), Offered::Joined);
        // Gateway 1 again, better (a second antenna): replaces its first reception.
        assert_eq!(c.offer(heard(b"frame", rx(1, 5.0, -99))), Offered::Joined);
        assert_eq!(c.offer(heard(b"other", rx(1, 1.0, -99))), Offered::Opened);
        let frame = c.close(b"frame").unwrap();
        let order: Vec<u8> = frame
            .receptions
            .iter()
            .map(|r| r.gateway.to_be_bytes()[7])
            .collect();
        assert_eq!(order, [2, 1, 3]);
        assert_eq!(frame.heard, 4);
        assert_eq!(c.close(b"frame"), None);
        assert_eq!(c.open_frames(), 1);
    }

    #[test]
    fn only_the_best_receptions_are_kept() {
        let mut c = Collector::new(3);
        for gw in 0..20u8 {
            c.offer(heard(b"f", rx(gw, f32::from(gw), -100)));
        }
        let frame = c.close(b"f").unwrap();
        let snrs: Vec<f32> = frame.receptions.iter().map(|r| r.snr_db).collect();
        assert_eq!(snrs, [19.0, 18.0, 17.0]);
        assert_eq!(frame.heard, 20);
    }
}
