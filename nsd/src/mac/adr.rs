//! The ADR algorithm: from the SNR history to a data rate, a TX power and a NbTrans.
//!
//! The network looks at the best SNR (over the receiving gateways) of the last
//! [`HISTORY_LEN`](super::state::HISTORY_LEN) uplinks, or fewer at the start of a session,
//! takes the maximum, and compares it with the SNR the current data rate needs to be
//! demodulated plus an installation margin. The headroom left is spent in steps:
//!
//! 1. raise the data rate while the headroom covers the next data rate's higher required
//!    SNR (2.5 dB per LoRa spreading factor), up to the highest data rate allowed by the
//!    profile, the enabled channels, what the device refused before, and the region
//!    (LoRa data rates of the same bandwidth only: US915 DR3 → DR4 changes channels);
//! 2. then lower the TX power (one `TXPower` index more per step, 2 dB in most regions);
//! 3. with a negative headroom, raise the TX power back towards the maximum. The data rate
//!    is never lowered here: the device's own ADR back-off does that when downlinks stop.
//!
//! SNRs of uplinks sent at another TX power are corrected by the power difference, so a
//! power change does not make the history look better or worse than it is.
//!
//! NbTrans follows the packet loss over the history (FCnt gaps): below 5 % one transmission
//! fewer, 5–10 % unchanged, 10–30 % one more, above 30 % the maximum.

use lorawan::mac::{Direction, LinkAdrReq};
use lorawan::region::{ChannelMask, Modulation, RegionError, RegionParams};
use serde::{Deserialize, Serialize};

use super::state::{AdrLimits, DeviceParams, UplinkRecord};

/// `LinkADRReq` DataRate / TXPower value meaning "keep the current one" (1.0.4, 1.1).
pub const KEEP: u8 = 0x0f;

/// The ADR settings of a device profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdrConfig {
    /// Whether the network runs ADR for devices that set the ADR bit.
    pub enabled: bool,
    /// Installation margin in dB kept above the required SNR (10 dB by default).
    pub margin_db: f32,
    /// Highest data rate ADR may choose (also capped by the region and the channels).
    pub max_dr: u8,
    /// Highest `TXPower` index (lowest power) ADR may choose.
    pub max_tx_power: u8,
    /// Highest NbTrans ADR may choose (1..=15).
    pub max_nb_trans: u8,
}

impl AdrConfig {
    /// ADR on, 10 dB margin, every data rate and TX power of the region, NbTrans up to 3.
    pub fn for_region(params: &RegionParams) -> Self {
        let powers = params.tx_power_offsets_db.len();
        Self {
            enabled: true,
            margin_db: 10.0,
            max_dr: 15,
            max_tx_power: u8::try_from(powers.saturating_sub(1)).unwrap_or(0),
            max_nb_trans: 3,
        }
    }
}

/// Data rate, TX power index and NbTrans: the device's current ones or ADR's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdrSettings {
    /// Data rate.
    pub data_rate: u8,
    /// `TXPower` index.
    pub tx_power: u8,
    /// NbTrans.
    pub nb_trans: u8,
}

/// The SNR (dB) a LoRa data rate needs to be demodulated: −7.5 dB at SF7 down to −20 dB at
/// SF12 (2.5 dB per spreading factor); `None` for FSK, LR-FHSS or an RFU data rate.
pub fn required_snr_db(params: &RegionParams, dr: u8) -> Option<f32> {
    match params.data_rate(dr)?.modulation {
        Modulation::Lora {
            spreading_factor, ..
        } => Some(-20.0 + 2.5 * (12.0 - f32::from(spreading_factor))),
        Modulation::Fsk { .. } | Modulation::LrFhss { .. } => None,
    }
}

/// The share of uplinks lost over `history` (FCnt gaps), 0.0..=1.0; 0 with fewer than two.
pub fn packet_loss(history: &[UplinkRecord]) -> f32 {
    let (Some(first), Some(last)) = (history.first(), history.last()) else {
        return 0.0;
    };
    let expected = u64::from(last.fcnt.wrapping_sub(first.fcnt)) + 1;
    // Precision is irrelevant at these sizes (≤ 2^32).
    let received = history.len() as f64;
    let expected = expected as f64;
    if received >= expected {
        return 0.0;
    }
    ((expected - received) / expected) as f32
}

/// The highest data rate ADR may move to from `current_dr`.
pub fn max_data_rate(
    params: &RegionParams,
    config: &AdrConfig,
    limits: &AdrLimits,
    device: &DeviceParams,
    current_dr: u8,
) -> u8 {
    let bandwidth = |dr: u8| match params.data_rate(dr) {
        Some(rate) if rate.usage.allows(Direction::Uplink) => match rate.modulation {
            Modulation::Lora { bandwidth_hz, .. } => Some(bandwidth_hz),
            _ => None,
        },
        _ => None,
    };
    let Some(current_bandwidth) = bandwidth(current_dr) else {
        return current_dr;
    };
    let cap = config
        .max_dr
        .min(limits.max_data_rate.unwrap_or(u8::MAX))
        .min(device.max_channel_dr(params));
    let mut max = current_dr;
    while max < cap && bandwidth(max + 1) == Some(current_bandwidth) {
        max += 1;
    }
    max
}

/// ADR's choice for a device at `current`, from its `history` (oldest first). Returns
/// `current` when nothing should change (no history, a non-LoRa data rate, …).
pub fn decide(
    params: &RegionParams,
    config: &AdrConfig,
    limits: &AdrLimits,
    device: &DeviceParams,
    current: AdrSettings,
    history: &[UplinkRecord],
) -> AdrSettings {
    let offsets = params.tx_power_offsets_db;
    let offset = |power: u8| f32::from(offsets.get(usize::from(power)).copied().unwrap_or(0));
    let Some(required) = required_snr_db(params, current.data_rate) else {
        return current;
    };
    // The best SNR, each corrected to the current TX power.
    let best = history
        .iter()
        .map(|r| r.max_snr + offset(current.tx_power) - offset(r.tx_power))
        .reduce(f32::max);
    let Some(best) = best else {
        return current;
    };
    let mut headroom = best - required - config.margin_db;
    let mut target = current;

    let max_dr = max_data_rate(params, config, limits, device, current.data_rate);
    while target.data_rate < max_dr {
        let next = target.data_rate + 1;
        let Some(next_required) = required_snr_db(params, next) else {
            break;
        };
        let cost = next_required - required_snr_db(params, target.data_rate).unwrap_or(required);
        if headroom < cost {
            break;
        }
        headroom -= cost;
        target.data_rate = next;
    }

    let max_power = config
        .max_tx_power
        .min(limits.max_tx_power.unwrap_or(u8::MAX))
        .min(u8::try_from(offsets.len().saturating_sub(1)).unwrap_or(0));
    while target.tx_power < max_power {
        let cost = offset(target.tx_power) - offset(target.tx_power + 1);
        if headroom < cost {
            break;
        }
        headroom -= cost;
        target.tx_power += 1;
    }
    while headroom < 0.0 && target.tx_power > 0 {
        headroom += offset(target.tx_power - 1) - offset(target.tx_power);
        target.tx_power -= 1;
    }

    target.nb_trans = nb_trans(config, current.nb_trans, history);
    target
}

/// NbTrans from the packet loss (see the module documentation); unchanged below ten uplinks
/// of history, too few to measure a loss.
fn nb_trans(config: &AdrConfig, current: u8, history: &[UplinkRecord]) -> u8 {
    let max = config.max_nb_trans.clamp(1, 15);
    let current = current.clamp(1, max);
    if history.len() < 10 {
        return current;
    }
    let loss = packet_loss(history);
    if loss < 0.05 {
        current.saturating_sub(1).max(1)
    } else if loss < 0.10 {
        current
    } else if loss < 0.30 {
        (current + 1).min(max)
    } else {
        max
    }
}

/// The `LinkADRReq` block moving a device from `current` to `target` with channels `mask`.
/// With `keep` (1.0.4 / 1.1), an unchanged data rate or TX power is sent as 0xF ("keep the
/// current value"); older devices get the explicit values, which they do not treat as RFU.
pub fn link_adr_block(
    params: &RegionParams,
    keep: bool,
    current: AdrSettings,
    target: AdrSettings,
    mask: ChannelMask,
) -> Result<Vec<LinkAdrReq>, RegionError> {
    let data_rate = if keep && target.data_rate == current.data_rate {
        KEEP
    } else {
        target.data_rate
    };
    let tx_power = if keep && target.tx_power == current.tx_power {
        KEEP
    } else {
        target.tx_power
    };
    Ok(params
        .link_adr_masks(mask)?
        .into_iter()
        .map(|(ch_mask_cntl, ch_mask)| LinkAdrReq {
            data_rate,
            tx_power,
            ch_mask,
            ch_mask_cntl,
            nb_trans: target.nb_trans,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lorawan::region::Region;

    fn history(snrs: &[f32], fcnts: impl IntoIterator<Item = u32>, dr: u8) -> Vec<UplinkRecord> {
        snrs.iter()
            .zip(fcnts)
            .map(|(&max_snr, fcnt)| UplinkRecord {
                fcnt,
                max_snr,
                gateway_count: 1,
                data_rate: dr,
                tx_power: 0,
            })
            .collect()
    }

    fn eu() -> (&'static RegionParams, AdrConfig, DeviceParams) {
        let params = Region::Eu868.params();
        (
            params,
            AdrConfig::for_region(params),
            DeviceParams::defaults(Region::Eu868),
        )
    }

    const AT_DR0: AdrSettings = AdrSettings {
        data_rate: 0,
        tx_power: 0,
        nb_trans: 1,
    };

    #[test]
    fn required_snr_follows_the_spreading_factor() {
        let eu = Region::Eu868.params();
        let got: Vec<_> = (0..=5).map(|dr| required_snr_db(eu, dr)).collect();
        let want = [-20.0, -17.5, -15.0, -12.5, -10.0, -7.5].map(Some);
        assert_eq!(got, want);
        assert_eq!(required_snr_db(eu, 7), None, "FSK");
        assert_eq!(required_snr_db(eu, 8), None, "LR-FHSS");
    }

    #[test]
    fn a_good_link_raises_the_data_rate_first_then_lowers_the_power() {
        let (params, config, device) = eu();
        // SNR 5 dB at SF12: headroom 5 + 20 − 10 = 15 dB: DR0 → DR5 costs 12.5 dB, the
        // remaining 2.5 dB buys one 2 dB power step.
        let h = history(&[1.0, 5.0, 3.0], 1..4, 0);
        let target = decide(params, &config, &AdrLimits::default(), &device, AT_DR0, &h);
        assert_eq!(
            target,
            AdrSettings {
                data_rate: 5,
                tx_power: 1,
                nb_trans: 1
            }
        );
        // 13 dB more: the 0..=7 power range of EU868 caps it.
        let h = history(&[30.0], [1], 0);
        let target = decide(params, &config, &AdrLimits::default(), &device, AT_DR0, &h);
        assert_eq!((target.data_rate, target.tx_power), (5, 7));
    }

    #[test]
    fn a_bad_link_raises_the_power_and_never_lowers_the_data_rate() {
        let (params, config, device) = eu();
        let current = AdrSettings {
            data_rate: 5,
            tx_power: 5,
            nb_trans: 1,
        };
        // SF7 needs −7.5 dB; best SNR −3 dB: headroom −3 + 7.5 − 10 = −5.5 dB → 3 power
        // steps of 2 dB back up.
        let h = history(&[-3.0, -4.0], 1..3, 5);
        let corrected: Vec<UplinkRecord> = h
            .iter()
            .map(|r| UplinkRecord { tx_power: 5, ..*r })
            .collect();
        let target = decide(
            params,
            &config,
            &AdrLimits::default(),
            &device,
            current,
            &corrected,
        );
        assert_eq!((target.data_rate, target.tx_power), (5, 2));
    }

    #[test]
    fn snr_measured_at_another_power_is_corrected() {
        let (params, config, device) = eu();
        // Measured at full power (index 0), the device now at index 3 (−6 dB): 5 dB then
        // means −1 dB now; headroom at DR5: −1 + 7.5 − 10 = −3.5 → two steps up.
        let h = history(&[5.0], [1], 5);
        let current = AdrSettings {
            data_rate: 5,
            tx_power: 3,
            nb_trans: 1,
        };
        let target = decide(params, &config, &AdrLimits::default(), &device, current, &h);
        assert_eq!(target.tx_power, 1);
    }

    #[test]
    fn refusals_and_the_profile_cap_the_data_rate() {
        let (params, mut config, device) = eu();
        let h = history(&[10.0], [1], 0);
        let limits = AdrLimits {
            max_data_rate: Some(3),
            max_tx_power: Some(2),
        };
        let target = decide(params, &config, &limits, &device, AT_DR0, &h);
        assert_eq!((target.data_rate, target.tx_power), (3, 2));
        config.max_dr = 2;
        let target = decide(params, &config, &AdrLimits::default(), &device, AT_DR0, &h);
        assert_eq!(target.data_rate, 2);
    }

    #[test]
    fn us915_stays_on_the_125_khz_data_rates() {
        let params = Region::Us915.params();
        let config = AdrConfig::for_region(params);
        let device = DeviceParams::defaults(Region::Us915);
        assert_eq!(
            max_data_rate(params, &config, &AdrLimits::default(), &device, 0),
            3
        );
        assert_eq!(
            max_data_rate(params, &config, &AdrLimits::default(), &device, 4),
            4
        );
    }

    #[test]
    fn a_lossy_link_gets_more_transmissions() {
        let (params, config, device) = eu();
        // 14 of 20 uplinks arrived (30 % lost), SNR exactly at the margin.
        let fcnts = (1..=20).filter(|f| f % 3 != 0);
        let h = history(&[-10.0; 14], fcnts, 0);
        assert!((packet_loss(&h) - 0.3).abs() < 1e-6);
        let target = decide(params, &config, &AdrLimits::default(), &device, AT_DR0, &h);
        assert_eq!(target.nb_trans, 3);
        // 18 of 20 (10 %): one more.
        let fcnts = (1..=20).filter(|f| *f != 5 && *f != 15);
        let h = history(&[-10.0; 18], fcnts, 0);
        let target = decide(params, &config, &AdrLimits::default(), &device, AT_DR0, &h);
        assert_eq!(target.nb_trans, 2);
        // No loss at NbTrans 2: back to 1.
        let h = history(&[-10.0; 20], 1..=20, 0);
        let current = AdrSettings {
            nb_trans: 2,
            ..AT_DR0
        };
        let target = decide(params, &config, &AdrLimits::default(), &device, current, &h);
        assert_eq!(target, AT_DR0);
    }

    #[test]
    fn fcnt_wrap_is_not_a_loss() {
        let h = history(&[0.0; 3], [u32::MAX - 1, u32::MAX, 0], 0);
        assert_eq!(packet_loss(&h), 0.0);
    }

    #[test]
    fn the_block_uses_0xf_only_when_the_device_knows_it() {
        let params = Region::Eu868.params();
        let current = AdrSettings {
            data_rate: 5,
            tx_power: 0,
            nb_trans: 1,
        };
        let target = AdrSettings {
            tx_power: 3,
            ..current
        };
        let mask = ChannelMask::first(3);
        let keep = link_adr_block(params, true, current, target, mask).unwrap();
        let explicit = link_adr_block(params, false, current, target, mask).unwrap();
        let bytes = |reqs: Vec<LinkAdrReq>| {
            let mut out = Vec::new();
            for r in reqs {
                lorawan::mac::MacCommand::LinkAdrReq(r)
                    .encode(&mut out)
                    .unwrap();
            }
            out
        };
        // CID 03, DR 0xF | power 3, ChMask 0x0007 LE, ChMaskCntl 0 | NbTrans 1.
        assert_eq!(bytes(keep), [0x03, 0xf3, 0x07, 0x00, 0x01]);
        assert_eq!(bytes(explicit), [0x03, 0x53, 0x07, 0x00, 0x01]);
    }
}
