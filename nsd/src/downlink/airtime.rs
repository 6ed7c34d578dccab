//! Time on air, and the bridge between the gateway layer's [`RadioModulation`] and the
//! region tables' [`Modulation`].
//!
//! LoRa follows the formula of Semtech's SX1272/76 datasheets (§4.1.1.7, "Time on air"),
//! written here in integers so that the results are exact for the LoRaWAN bandwidths:
//!
//! ```text
//! Tsym     = 2^SF / BW
//! Tpreamble = (n_preamble + 4.25) · Tsym
//! n_payload = 8 + max(ceil((8·PL − 4·SF + 28 + 16·CRC − 20·IH) / (4·(SF − 2·DE))) · (CR + 4), 0)
//! ToA      = Tpreamble + n_payload · Tsym
//! ```
//!
//! with LoRaWAN's 8-symbol preamble, an explicit header (IH = 0), the payload CRC on uplinks
//! only (TS001 1.0.4 §4: a downlink PHY frame has no CRC) and the low data-rate optimisation
//! (DE = 1) whenever a symbol lasts 16 ms or more (SF11 and SF12 at 125 kHz, SF12 at 250 kHz).
//!
//! (G)FSK: 5 preamble bytes, a 3-byte sync word, a length byte, the payload and a 2-byte CRC,
//! at the bit rate (RP002-1.0.4 §3: the FSK frame of the LoRaWAN data rates).

use std::time::Duration;

use lorawan::mac::Direction;
use lorawan::region::{Modulation, RegionParams};

use crate::gateway::{CodeRate, RadioModulation};

/// The LoRa preamble length LoRaWAN uses, in symbols.
pub const LORA_PREAMBLE_SYMBOLS: u32 = 8;

/// The coding rate of every LoRaWAN LoRa data rate.
pub const LORAWAN_CODE_RATE: CodeRate = CodeRate {
    numerator: 4,
    denominator: 5,
};

/// Bytes an FSK frame adds to its payload: preamble (5), sync word (3), length (1), CRC (2).
const FSK_OVERHEAD_BYTES: u64 = 5 + 3 + 1 + 2;

/// How long a PHY frame of `phy_len` bytes stays on air, or `None` for a modulation we cannot
/// time (LR-FHSS, or nonsensical parameters such as a zero bandwidth).
///
/// `direction` decides the LoRa payload CRC: present on uplinks, absent on downlinks.
pub fn time_on_air(
    modulation: &RadioModulation,
    phy_len: usize,
    direction: Direction,
) -> Option<Duration> {
    match *modulation {
        RadioModulation::Lora {
            spreading_factor,
            bandwidth_hz,
            code_rate,
        } => lora_time_on_air(
            spreading_factor,
            bandwidth_hz,
            code_rate.unwrap_or(LORAWAN_CODE_RATE),
            phy_len,
            direction,
        ),
        RadioModulation::Fsk { bitrate } => {
            if bitrate == 0 {
                return None;
            }
            let bits = (FSK_OVERHEAD_BYTES + u64::try_from(phy_len).ok()?) * 8;
            // bits / bitrate seconds, in nanoseconds.
            let nanos = u128::from(bits) * 1_000_000_000 / u128::from(bitrate);
            Some(Duration::from_nanos(u64::try_from(nanos).ok()?))
        }
        RadioModulation::LrFhss { .. } => None,
    }
}

fn lora_time_on_air(
    sf: u8,
    bandwidth_hz: u32,
    code_rate: CodeRate,
    phy_len: usize,
    direction: Direction,
) -> Option<Duration> {
    if !(5..=12).contains(&sf) || bandwidth_hz == 0 {
        return None;
    }
    // CR in the formula: 1 for 4/5 … 4 for 4/8.
    let cr = i64::from(code_rate.denominator.checked_sub(4)?);
    if !(1..=4).contains(&cr) {
        return None;
    }
    let sf_i = i64::from(sf);
    let pl = i64::try_from(phy_len).ok()?;
    let crc = match direction {
        Direction::Uplink => 1,
        Direction::Downlink => 0,
    };
    // Symbol duration in ns = 2^SF · 1e9 / BW; DE when it reaches 16 ms.
    let symbol_ns_x_bw = (1u128 << sf) * 1_000_000_000;
    let low_dr_optimise = symbol_ns_x_bw >= 16_000_000 * u128::from(bandwidth_hz);
    let de = i64::from(low_dr_optimise);
    let numerator = 8 * pl - 4 * sf_i + 28 + 16 * crc; // explicit header: IH = 0
    let denominator = 4 * (sf_i - 2 * de);
    let blocks = if numerator > 0 {
        (numerator + denominator - 1) / denominator
    } else {
        0
    };
    let payload_symbols = 8 + blocks * (cr + 4);
    // Total in quarter symbols: 4 · (n_preamble + 4.25 + n_payload).
    let quarter_symbols = 4 * i64::from(LORA_PREAMBLE_SYMBOLS) + 17 + 4 * payload_symbols;
    let nanos =
        u128::try_from(quarter_symbols).ok()? * symbol_ns_x_bw / (4 * u128::from(bandwidth_hz));
    Some(Duration::from_nanos(u64::try_from(nanos).ok()?))
}

/// The region tables' modulation of what a gateway reported, to look its data rate up with
/// [`RegionParams::dr_for`]; `None` for LR-FHSS without a coding rate we know.
pub fn region_modulation(modulation: &RadioModulation) -> Option<Modulation> {
    match *modulation {
        RadioModulation::Lora {
            spreading_factor,
            bandwidth_hz,
            ..
        } => Some(Modulation::Lora {
            spreading_factor,
            bandwidth_hz,
        }),
        RadioModulation::Fsk { bitrate } => Some(Modulation::Fsk { bitrate }),
        RadioModulation::LrFhss {
            occupied_channel_width_hz,
            code_rate,
        } => {
            let coding_rate = match code_rate? {
                CodeRate {
                    numerator: 1,
                    denominator: 3,
                } => lorawan::region::LrFhssCodingRate::OneThird,
                CodeRate {
                    numerator: 2,
                    denominator: 3,
                } => lorawan::region::LrFhssCodingRate::TwoThirds,
                _ => return None,
            };
            Some(Modulation::LrFhss {
                occupied_channel_width_hz,
                coding_rate,
            })
        }
    }
}

/// The gateway-layer modulation of data rate `dr` of `region`, for a downlink: LoRa at coding
/// rate 4/5, or FSK. `None` if the data rate is RFU or LR-FHSS (uplink only).
pub fn downlink_modulation(region: &RegionParams, dr: u8) -> Option<RadioModulation> {
    match region.data_rate(dr)?.modulation {
        Modulation::Lora {
            spreading_factor,
            bandwidth_hz,
        } => Some(RadioModulation::Lora {
            spreading_factor,
            bandwidth_hz,
            code_rate: Some(LORAWAN_CODE_RATE),
        }),
        Modulation::Fsk { bitrate } => Some(RadioModulation::Fsk { bitrate }),
        Modulation::LrFhss { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lorawan::region::Region;

    fn lora(sf: u8, bw: u32) -> RadioModulation {
        RadioModulation::Lora {
            spreading_factor: sf,
            bandwidth_hz: bw,
            code_rate: Some(LORAWAN_CODE_RATE),
        }
    }

    fn micros(modulation: RadioModulation, len: usize, direction: Direction) -> u128 {
        time_on_air(&modulation, len, direction)
            .expect("timeable")
            .as_micros()
    }

    // Reference values of Semtech's LoRa calculator (8-symbol preamble, explicit header,
    // CR 4/5, CRC on): SF7/125 kHz 13 bytes = 46.336 ms; SF12/125 kHz 51 bytes = 2465.792 ms.
    #[test]
    fn lora_uplink_matches_the_semtech_calculator() {
        assert_eq!(micros(lora(7, 125_000), 13, Direction::Uplink), 46_336);
        assert_eq!(micros(lora(12, 125_000), 51, Direction::Uplink), 2_465_792);
        // SF9/125 kHz, 20 bytes: 8 + ceil((160 − 36 + 44) / 36) · 5 = 33 symbols of 4.096 ms.
        assert_eq!(micros(lora(9, 125_000), 20, Direction::Uplink), 185_344);
        // SF10/500 kHz (US915 DR10), 12 bytes: 8 + ceil(100 / 40) · 5 = 23 symbols of 2.048 ms.
        assert_eq!(micros(lora(10, 500_000), 12, Direction::Uplink), 72_192);
    }

    #[test]
    fn low_data_rate_optimisation_applies_from_16_ms_symbols() {
        // SF11/125 kHz (16.384 ms symbols), 10 bytes, DE = 1:
        // 8 + ceil((80 − 44 + 44) / 36) · 5 = 23 symbols → (12.25 + 23) · 16.384 ms.
        assert_eq!(micros(lora(11, 125_000), 10, Direction::Uplink), 577_536);
        // SF10/125 kHz (8.192 ms), 10 bytes, DE = 0: 8 + ceil(84 / 40) · 5 = 23 symbols.
        assert_eq!(micros(lora(10, 125_000), 10, Direction::Uplink), 288_768);
    }

    #[test]
    fn downlinks_carry_no_payload_crc() {
        // SF7/125 kHz 13 bytes without CRC: 8 + ceil(104 / 28) · 5 = 28 symbols.
        assert_eq!(micros(lora(7, 125_000), 13, Direction::Downlink), 41_216);
        // SF12, 51 bytes: 8 + ceil(388 / 40) · 5 = 58 symbols (DE on).
        assert_eq!(
            micros(lora(12, 125_000), 51, Direction::Downlink),
            2_301_952
        );
    }

    #[test]
    fn fsk_counts_every_byte_at_the_bit_rate() {
        // (11 + 50) bytes · 8 bits at 50 kbit/s = 9.76 ms.
        let fsk = RadioModulation::Fsk { bitrate: 50_000 };
        assert_eq!(micros(fsk, 50, Direction::Downlink), 9_760);
    }

    #[test]
    fn untimeable_modulations_are_none() {
        let fhss = RadioModulation::LrFhss {
            occupied_channel_width_hz: 137_000,
            code_rate: None,
        };
        assert_eq!(time_on_air(&fhss, 10, Direction::Uplink), None);
        assert_eq!(time_on_air(&lora(13, 125_000), 10, Direction::Uplink), None);
        assert_eq!(time_on_air(&lora(7, 0), 10, Direction::Uplink), None);
        let fsk = RadioModulation::Fsk { bitrate: 0 };
        assert_eq!(time_on_air(&fsk, 10, Direction::Uplink), None);
    }

    #[test]
    fn modulations_convert_both_ways() {
        let us = Region::Us915.params();
        assert_eq!(downlink_modulation(us, 10), Some(lora(10, 500_000)));
        assert_eq!(downlink_modulation(us, 7), None); // RFU
        let eu = Region::Eu868.params();
        assert_eq!(
            downlink_modulation(eu, 7),
            Some(RadioModulation::Fsk { bitrate: 50_000 })
        );
        let sf12 = region_modulation(&lora(12, 125_000)).expect("LoRa");
        assert_eq!(eu.dr_for(sf12, Direction::Uplink), Some(0));
    }
}
