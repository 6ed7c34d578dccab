//! Regulatory duty-cycle accounting per gateway and sub-band.
//!
//! In Europe a transmitter may occupy each sub-band only a fraction of the time (CEPT ERC
//! Recommendation 70-03, annex 1, as seed 003 "Figure 3" lists it): g1 868.0–868.6 MHz 1 %,
//! g2 868.7–869.2 MHz 0.1 %, g3 869.4–869.65 MHz 10 % (the EU868 RX2 channel, 869.525 MHz),
//! g4 869.7–870 MHz 1 %, g 865–868 MHz 1 %, and 0.1 % elsewhere in 863–870 MHz. A gateway
//! is a transmitter like any other: the [`DutyCycleLedger`] records the time on air of every
//! downlink a gateway accepted, per (gateway, sub-band), over a sliding window (one hour by
//! default), and refuses a downlink that would exceed the band's share of that window. A
//! refusal is reported as `DA` ("Duty cycle constraint detected by LRC", seed 001 §6.2.3).
//!
//! Regions without a duty-cycle rule here (everything but EU868 and EU433) are not limited.
//! RU864's limits are not tabulated yet.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use lorawan::region::Region;

use crate::gateway::GatewayId;

/// A regulatory sub-band: a frequency range and the share of time one may transmit in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubBand {
    /// Name, as the AS reports write it (`G1`, …).
    pub name: &'static str,
    /// Lowest centre frequency in the band, Hz (inclusive).
    pub low_hz: u32,
    /// Highest centre frequency in the band, Hz (inclusive).
    pub high_hz: u32,
    /// Allowed duty cycle in parts per thousand (10 = 1 %, 1 = 0.1 %, 100 = 10 %).
    pub permille: u32,
}

impl SubBand {
    /// Whether `frequency_hz` lies in the band.
    pub const fn contains(&self, frequency_hz: u32) -> bool {
        self.low_hz <= frequency_hz && frequency_hz <= self.high_hz
    }

    /// How much time on air the band allows within `window`.
    pub fn budget(&self, window: Duration) -> Duration {
        window * self.permille / 1000
    }
}

const fn band(name: &'static str, low_hz: u32, high_hz: u32, permille: u32) -> SubBand {
    SubBand {
        name,
        low_hz,
        high_hz,
        permille,
    }
}

/// EU 863–870 MHz sub-bands (ERC 70-03 annex 1). The first matching band applies, so the
/// 0.1 % catch-all comes last.
pub const EU868_SUB_BANDS: &[SubBand] = &[
    band("G", 865_000_000, 867_999_999, 10),
    band("G1", 868_000_000, 868_600_000, 10),
    band("G2", 868_700_000, 869_200_000, 1),
    band("G3", 869_400_000, 869_650_000, 100),
    band("G4", 869_700_000, 870_000_000, 10),
    band("863-870", 863_000_000, 870_000_000, 1),
];

/// EU 433 MHz: 433.05–434.79 MHz at 10 % (ERC 70-03 annex 1, band f1).
pub const EU433_SUB_BANDS: &[SubBand] = &[band("F1", 433_050_000, 434_790_000, 100)];

/// The duty-cycle sub-bands of `region`; empty where no duty-cycle limit is applied.
pub fn sub_bands(region: Region) -> &'static [SubBand] {
    match region {
        Region::Eu868 => EU868_SUB_BANDS,
        Region::Eu433 => EU433_SUB_BANDS,
        _ => &[],
    }
}

/// The sub-band of `frequency_hz` in `region`, if duty-cycle limited.
pub fn sub_band(region: Region, frequency_hz: u32) -> Option<&'static SubBand> {
    sub_bands(region).iter().find(|b| b.contains(frequency_hz))
}

/// A downlink refused because its sub-band's budget on that gateway is spent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "duty cycle of sub-band {band} exceeded: {used:?} used of {budget:?}, {requested:?} requested"
)]
pub struct DutyCycleExceeded {
    /// The sub-band.
    pub band: &'static str,
    /// Time on air already used in the window.
    pub used: Duration,
    /// The band's allowance in the window.
    pub budget: Duration,
    /// The time on air asked for.
    pub requested: Duration,
}

/// One hour: the usual observation window for duty-cycle limits.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);

/// Time on air used per (gateway, sub-band) over a sliding window.
#[derive(Debug, Clone)]
pub struct DutyCycleLedger {
    region: Region,
    window: Duration,
    used: HashMap<(GatewayId, &'static str), VecDeque<(SystemTime, Duration)>>,
}

impl DutyCycleLedger {
    /// An empty ledger for `region`, over a one-hour window.
    pub fn new(region: Region) -> Self {
        Self::with_window(region, DEFAULT_WINDOW)
    }

    /// An empty ledger over a chosen window.
    pub fn with_window(region: Region, window: Duration) -> Self {
        Self {
            region,
            window,
            used: HashMap::new(),
        }
    }

    /// The region whose sub-bands the ledger applies.
    pub fn region(&self) -> Region {
        self.region
    }

    /// Whether `gateway` may transmit `airtime` on `frequency_hz` at `now`.
    pub fn check(
        &self,
        gateway: GatewayId,
        frequency_hz: u32,
        airtime: Duration,
        now: SystemTime,
    ) -> Result<(), DutyCycleExceeded> {
        let Some(band) = sub_band(self.region, frequency_hz) else {
            return Ok(());
        };
        let used = self.used_in(gateway, band, now);
        let budget = band.budget(self.window);
        if used + airtime <= budget {
            Ok(())
        } else {
            Err(DutyCycleExceeded {
                band: band.name,
                used,
                budget,
                requested: airtime,
            })
        }
    }

    /// Record a transmission the gateway accepted (call it on [`TxOutcome::Sent`]).
    ///
    /// [`TxOutcome::Sent`]: crate::gateway::TxOutcome::Sent
    pub fn record(
        &mut self,
        gateway: GatewayId,
        frequency_hz: u32,
        airtime: Duration,
        now: SystemTime,
    ) {
        let Some(band) = sub_band(self.region, frequency_hz) else {
            return;
        };
        let window = self.window;
        let entries = self.used.entry((gateway, band.name)).or_default();
        entries.retain(|(at, _)| in_window(*at, now, window));
        entries.push_back((now, airtime));
    }

    /// The earliest time from `now` at which `gateway` may transmit `airtime` on
    /// `frequency_hz`; `None` if even an empty window could not hold it.
    pub fn available_at(
        &self,
        gateway: GatewayId,
        frequency_hz: u32,
        airtime: Duration,
        now: SystemTime,
    ) -> Option<SystemTime> {
        let Some(band) = sub_band(self.region, frequency_hz) else {
            return Some(now);
        };
        let budget = band.budget(self.window);
        if airtime > budget {
            return None;
        }
        let mut used = self.used_in(gateway, band, now);
        if used + airtime <= budget {
            return Some(now);
        }
        let entries = self.used.get(&(gateway, band.name))?;
        let mut live: Vec<&(SystemTime, Duration)> = entries
            .iter()
            .filter(|(at, _)| in_window(*at, now, self.window))
            .collect();
        live.sort_by_key(|(at, _)| *at);
        for (at, spent) in live {
            used = used.saturating_sub(*spent);
            if used + airtime <= budget {
                return Some(*at + self.window);
            }
        }
        Some(now)
    }

    /// Time on air `gateway` used in the sub-band of `frequency_hz` over the window ending
    /// at `now` (zero where no limit applies).
    pub fn used(&self, gateway: GatewayId, frequency_hz: u32, now: SystemTime) -> Duration {
        sub_band(self.region, frequency_hz)
            .map_or(Duration::ZERO, |band| self.used_in(gateway, band, now))
    }

    /// Forget every entry older than the window (bounded memory for a long-running server).
    pub fn prune(&mut self, now: SystemTime) {
        let window = self.window;
        self.used.retain(|_, entries| {
            entries.retain(|(at, _)| in_window(*at, now, window));
            !entries.is_empty()
        });
    }

    fn used_in(&self, gateway: GatewayId, band: &SubBand, now: SystemTime) -> Duration {
        self.used
            .get(&(gateway, band.name))
            .map_or(Duration::ZERO, |entries| {
                entries
                    .iter()
                    .filter(|(at, _)| in_window(*at, now, self.window))
                    .map(|(_, spent)| *spent)
                    .sum()
            })
    }
}

/// Whether a transmission started at `at` still counts at `now`: within `(now − window, now]`.
fn in_window(at: SystemTime, now: SystemTime, window: Duration) -> bool {
    match now.duration_since(at) {
        Ok(age) => age < window,
        // Recorded "in the future" (a clock step back): keep counting it.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gw(n: u64) -> GatewayId {
        GatewayId::from_u64(n)
    }

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn eu868_frequencies_fall_in_their_erc_sub_bands() {
        let name = |f| sub_band(Region::Eu868, f).map(|b| (b.name, b.permille));
        assert_eq!(name(868_100_000), Some(("G1", 10)));
        assert_eq!(name(868_500_000), Some(("G1", 10)));
        assert_eq!(name(867_100_000), Some(("G", 10)));
        assert_eq!(name(868_850_000), Some(("G2", 1)));
        assert_eq!(name(869_525_000), Some(("G3", 100)));
        assert_eq!(name(869_850_000), Some(("G4", 10)));
        assert_eq!(name(864_000_000), Some(("863-870", 1)));
        assert_eq!(name(868_650_000), Some(("863-870", 1)));
        assert_eq!(name(902_300_000), None);
        assert_eq!(sub_band(Region::Us915, 923_300_000), None);
    }

    #[test]
    fn a_one_percent_band_allows_36_seconds_an_hour() {
        let mut ledger = DutyCycleLedger::new(Region::Eu868);
        let second = Duration::from_secs(1);
        for i in 0..36 {
            assert!(ledger.check(gw(1), 868_100_000, second, t(i)).is_ok());
            ledger.record(gw(1), 868_100_000, second, t(i));
        }
        let refused = ledger.check(gw(1), 868_300_000, second, t(40));
        assert_eq!(
            refused,
            Err(DutyCycleExceeded {
                band: "G1",
                used: Duration::from_secs(36),
                budget: Duration::from_secs(36),
                requested: second,
            })
        );
        // Another gateway, and another band of the same gateway, are not affected.
        assert!(ledger.check(gw(2), 868_100_000, second, t(40)).is_ok());
        assert!(ledger.check(gw(1), 869_525_000, second, t(40)).is_ok());
        // The first second leaves the window one hour after it started.
        assert_eq!(
            ledger.available_at(gw(1), 868_100_000, second, t(40)),
            Some(t(3600))
        );
        assert!(ledger.check(gw(1), 868_100_000, second, t(3600)).is_ok());
        assert_eq!(
            ledger.used(gw(1), 868_100_000, t(3600)),
            Duration::from_secs(35)
        );
    }

    #[test]
    fn the_rx2_band_allows_ten_percent_and_g2_a_tenth_of_a_percent() {
        let mut ledger = DutyCycleLedger::new(Region::Eu868);
        ledger.record(gw(1), 869_525_000, Duration::from_secs(359), t(0));
        assert!(ledger
            .check(gw(1), 869_525_000, Duration::from_secs(1), t(1))
            .is_ok());
        assert!(ledger
            .check(gw(1), 869_525_000, Duration::from_millis(1001), t(1))
            .is_err());
        // 0.1 %: 3.6 s an hour; a single longer frame never fits.
        assert_eq!(
            ledger.available_at(gw(1), 868_850_000, Duration::from_secs(4), t(0)),
            None
        );
    }

    /// The Things Stack's EU868 band file (`vectors/regions`, RP002-1.0.4) lists the same
    /// sub-bands and duty cycles.
    #[test]
    fn eu868_sub_bands_agree_with_the_tts_golden_band_file() {
        let shared = std::env::var_os("SWITCHYARD_SHARED")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared"))
            });
        let path = shared.join("vectors/regions/EU_863_870_RP002_V1_0_4.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (check out shared/ beside the repository or set SWITCHYARD_SHARED)",
                path.display()
            )
        });
        let band: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let sub_bands = band["SubBands"].as_array().expect("SubBands");
        assert_eq!(sub_bands.len(), 6);
        for entry in sub_bands {
            let low = entry["MinFrequency"].as_u64().expect("MinFrequency");
            let high = entry["MaxFrequency"].as_u64().expect("MaxFrequency");
            let duty = entry["DutyCycle"].as_f64().expect("DutyCycle");
            for f in [low + 1, (low + high) / 2, high - 1] {
                let f = u32::try_from(f).expect("a frequency");
                let ours = sub_band(Region::Eu868, f).expect("a sub-band");
                assert_eq!(f64::from(ours.permille) / 1000.0, duty, "{f} Hz");
            }
        }
    }

    #[test]
    fn unlimited_regions_never_refuse_and_prune_forgets() {
        let mut ledger = DutyCycleLedger::new(Region::Us915);
        ledger.record(gw(1), 923_300_000, Duration::from_secs(3600), t(0));
        assert!(ledger
            .check(gw(1), 923_300_000, Duration::from_secs(10), t(1))
            .is_ok());
        let mut eu = DutyCycleLedger::new(Region::Eu868);
        eu.record(gw(1), 868_100_000, Duration::from_secs(10), t(0));
        eu.prune(t(3600));
        assert_eq!(eu.used(gw(1), 868_100_000, t(1)), Duration::ZERO);
    }
}
