//! Typed payloads of the MAC commands, with their bit fields decoded.
//!
//! Decoding never fails: the length was checked by the caller and every bit pattern of a
//! fixed-size payload means something. RFU bits are ignored on decode and sent as zero on
//! encode (TS001 1.0.4 §4: "RFU bits SHALL be set to 0 by the transmitter"). Encoding fails
//! with [`MacError::FieldOutOfRange`] when a field does not fit its bit width.

use super::MacError;

/// Step (Hz per unit) of the 24-bit frequency fields below 1.2 GHz (all sub-GHz regions).
pub const FREQUENCY_STEP_HZ: u32 = 100;
/// Step (Hz per unit) of the 24-bit frequency fields in the 2.4 GHz band (RP002 ISM2400).
pub const FREQUENCY_STEP_2G4_HZ: u32 = 200;
/// Field values from this one up are 2.4 GHz frequencies in 200 Hz steps (12 000 000 × 100 Hz
/// = 1.2 GHz is above every sub-GHz band), the rule lrwn uses too.
const FIRST_2G4_UNIT: u32 = 12_000_000;

/// `MaxEIRP` index of `TxParamSetupReq` → dBm (TS001 1.0.4 Table 30).
pub const MAX_EIRP_DBM: [u8; 16] = [
    8, 10, 12, 13, 14, 16, 18, 20, 21, 24, 26, 27, 29, 30, 33, 36,
];

pub(super) fn check(
    command: &'static str,
    field: &'static str,
    value: u32,
    bits: u32,
) -> Result<u8, MacError> {
    let max = (1u32 << bits) - 1;
    if value > max {
        return Err(MacError::FieldOutOfRange {
            command,
            field,
            value,
            max,
        });
    }
    // value <= max <= 0xff for every caller (bits <= 8).
    Ok(value as u8)
}

pub(super) fn frequency_from(bytes: [u8; 3]) -> u32 {
    let units = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], 0]);
    if units >= FIRST_2G4_UNIT {
        units * FREQUENCY_STEP_2G4_HZ
    } else {
        units * FREQUENCY_STEP_HZ
    }
}

pub(super) fn frequency_to(command: &'static str, hz: u32) -> Result<[u8; 3], MacError> {
    let step = if hz >= FIRST_2G4_UNIT * FREQUENCY_STEP_2G4_HZ {
        FREQUENCY_STEP_2G4_HZ
    } else {
        FREQUENCY_STEP_HZ
    };
    let units = hz / step;
    let representable = if step == FREQUENCY_STEP_HZ {
        units < FIRST_2G4_UNIT
    } else {
        units <= 0x00ff_ffff
    };
    if !hz.is_multiple_of(step) || !representable {
        return Err(MacError::FieldOutOfRange {
            command,
            field: "frequency",
            value: hz,
            max: 0x00ff_ffff * FREQUENCY_STEP_2G4_HZ,
        });
    }
    let b = units.to_le_bytes();
    Ok([b[0], b[1], b[2]])
}

fn bit(byte: u8, n: u8) -> bool {
    byte & (1 << n) != 0
}

/// The LoRaWAN minor version carried by `ResetInd` / `ResetConf` / `RekeyInd` / `RekeyConf`
/// (`Minor` bits 3:0; 1 = LoRaWAN 1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinorVersion {
    /// LoRaWAN minor version (4 bits).
    pub minor: u8,
}

impl MinorVersion {
    pub(super) fn decode(b: [u8; 1]) -> Self {
        Self { minor: b[0] & 0x0f }
    }
    pub(super) fn encode(&self, command: &'static str) -> Result<[u8; 1], MacError> {
        Ok([check(command, "minor", self.minor.into(), 4)?])
    }
}

/// `LinkCheckAns`: link margin of the uplink and number of gateways that received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkCheckAns {
    /// Demodulation margin in dB above the demodulation floor (0..=254; 255 reserved).
    pub margin: u8,
    /// Number of gateways that received the `LinkCheckReq`.
    pub gateway_count: u8,
}

impl LinkCheckAns {
    pub(super) fn decode(b: [u8; 2]) -> Self {
        Self {
            margin: b[0],
            gateway_count: b[1],
        }
    }
    pub(super) fn encode(&self) -> [u8; 2] {
        [self.margin, self.gateway_count]
    }
}

/// `LinkADRReq`: data rate, TX power, channel mask and redundancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkAdrReq {
    /// Data rate index (4 bits; 15 = keep the current one, 1.0.4 / 1.1).
    pub data_rate: u8,
    /// TX power index (4 bits; 15 = keep the current one, 1.0.4 / 1.1).
    pub tx_power: u8,
    /// Channel mask: bit *i* enables channel *i* of the block chosen by `ch_mask_cntl`.
    pub ch_mask: u16,
    /// How to interpret `ch_mask` (3 bits, region specific, see [`crate::region`]).
    pub ch_mask_cntl: u8,
    /// Number of transmissions of each unconfirmed uplink (4 bits; 0 = keep the current one).
    pub nb_trans: u8,
}

impl LinkAdrReq {
    const NAME: &'static str = "LinkADRReq";
    pub(super) fn decode(b: [u8; 4]) -> Self {
        Self {
            data_rate: b[0] >> 4,
            tx_power: b[0] & 0x0f,
            ch_mask: u16::from_le_bytes([b[1], b[2]]),
            ch_mask_cntl: (b[3] >> 4) & 0x07,
            nb_trans: b[3] & 0x0f,
        }
    }
    pub(super) fn encode(&self) -> Result<[u8; 4], MacError> {
        let dr = check(Self::NAME, "data_rate", self.data_rate.into(), 4)?;
        let power = check(Self::NAME, "tx_power", self.tx_power.into(), 4)?;
        let cntl = check(Self::NAME, "ch_mask_cntl", self.ch_mask_cntl.into(), 3)?;
        let nb_trans = check(Self::NAME, "nb_trans", self.nb_trans.into(), 4)?;
        let mask = self.ch_mask.to_le_bytes();
        Ok([(dr << 4) | power, mask[0], mask[1], (cntl << 4) | nb_trans])
    }
}

/// `LinkADRAns`: which parts of the `LinkADRReq` the end-device accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkAdrAns {
    /// Power ACK (bit 2).
    pub power_ack: bool,
    /// Data rate ACK (bit 1).
    pub data_rate_ack: bool,
    /// Channel mask ACK (bit 0).
    pub channel_mask_ack: bool,
}

impl LinkAdrAns {
    pub(super) fn decode(b: [u8; 1]) -> Self {
        Self {
            power_ack: bit(b[0], 2),
            data_rate_ack: bit(b[0], 1),
            channel_mask_ack: bit(b[0], 0),
        }
    }
    pub(super) fn encode(&self) -> [u8; 1] {
        [u8::from(self.power_ack) << 2
            | u8::from(self.data_rate_ack) << 1
            | u8::from(self.channel_mask_ack)]
    }
}

/// `DutyCycleReq`: aggregated duty cycle limit 1 / 2^`max_duty_cycle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DutyCycleReq {
    /// `MaxDutyCycle` (4 bits; 0 = no limit beyond the regional one).
    pub max_duty_cycle: u8,
}

impl DutyCycleReq {
    pub(super) fn decode(b: [u8; 1]) -> Self {
        Self {
            max_duty_cycle: b[0] & 0x0f,
        }
    }
    pub(super) fn encode(&self) -> Result<[u8; 1], MacError> {
        let value = self.max_duty_cycle.into();
        Ok([check("DutyCycleReq", "max_duty_cycle", value, 4)?])
    }
}

/// `RXParamSetupReq`: RX1 data-rate offset, RX2 data rate and RX2 frequency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxParamSetupReq {
    /// RX1 data-rate offset (3 bits).
    pub rx1_dr_offset: u8,
    /// RX2 data rate (4 bits).
    pub rx2_data_rate: u8,
    /// RX2 frequency in Hz (multiple of 100 Hz below 1.2 GHz, of 200 Hz in the 2.4 GHz band).
    pub frequency: u32,
}

impl RxParamSetupReq {
    const NAME: &'static str = "RXParamSetupReq";
    pub(super) fn decode(b: [u8; 4]) -> Self {
        Self {
            rx1_dr_offset: (b[0] >> 4) & 0x07,
            rx2_data_rate: b[0] & 0x0f,
            frequency: frequency_from([b[1], b[2], b[3]]),
        }
    }
    pub(super) fn encode(&self) -> Result<[u8; 4], MacError> {
        let offset = check(Self::NAME, "rx1_dr_offset", self.rx1_dr_offset.into(), 3)?;
        let dr = check(Self::NAME, "rx2_data_rate", self.rx2_data_rate.into(), 4)?;
        let f = frequency_to(Self::NAME, self.frequency)?;
        Ok([(offset << 4) | dr, f[0], f[1], f[2]])
    }
}

/// `RXParamSetupAns`: which parts of the `RXParamSetupReq` were accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxParamSetupAns {
    /// RX1DROffset ACK (bit 2).
    pub rx1_dr_offset_ack: bool,
    /// RX2 data rate ACK (bit 1).
    pub rx2_data_rate_ack: bool,
    /// Channel (frequency) ACK (bit 0).
    pub channel_ack: bool,
}

impl RxParamSetupAns {
    pub(super) fn decode(b: [u8; 1]) -> Self {
        Self {
            rx1_dr_offset_ack: bit(b[0], 2),
            rx2_data_rate_ack: bit(b[0], 1),
            channel_ack: bit(b[0], 0),
        }
    }
    pub(super) fn encode(&self) -> [u8; 1] {
        [u8::from(self.rx1_dr_offset_ack) << 2
            | u8::from(self.rx2_data_rate_ack) << 1
            | u8::from(self.channel_ack)]
    }
}

/// `DevStatusAns`: battery level and demodulation margin of the last `DevStatusReq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevStatusAns {
    /// 0 = external power, 1..=254 = battery level (1 minimum, 254 maximum),
    /// 255 = unable to measure.
    pub battery: u8,
    /// SNR margin in dB, a 6-bit signed value (-32..=31).
    pub margin: i8,
}

impl DevStatusAns {
    /// `battery` value for an end-device on external power.
    pub const EXTERNAL_POWER: u8 = 0;
    /// `battery` value for an end-device that cannot measure its battery level.
    pub const BATTERY_UNKNOWN: u8 = 255;

    pub(super) fn decode(b: [u8; 2]) -> Self {
        // Sign-extend the 6-bit two's complement value: shift it to the top, then back.
        // `as i8` reinterprets the bits, which is the intent.
        let margin = ((b[1] << 2) as i8) >> 2;
        Self {
            battery: b[0],
            margin,
        }
    }
    pub(super) fn encode(&self) -> Result<[u8; 2], MacError> {
        if !(-32..=31).contains(&self.margin) {
            return Err(MacError::FieldOutOfRange {
                command: "DevStatusAns",
                field: "margin",
                value: u32::from(self.margin.unsigned_abs()),
                max: 32,
            });
        }
        // The low 6 bits of the two's complement value; `as u8` reinterprets the bits.
        Ok([self.battery, (self.margin as u8) & 0x3f])
    }
}

/// `NewChannelReq`: create or modify (frequency 0: disable) an uplink channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewChannelReq {
    /// Channel index.
    pub ch_index: u8,
    /// Frequency in Hz (multiple of 100 Hz below 1.2 GHz, of 200 Hz in the 2.4 GHz band; 0 disables the channel).
    pub frequency: u32,
    /// Highest data rate allowed on the channel (4 bits).
    pub max_dr: u8,
    /// Lowest data rate allowed on the channel (4 bits).
    pub min_dr: u8,
}

impl NewChannelReq {
    const NAME: &'static str = "NewChannelReq";
    pub(super) fn decode(b: [u8; 5]) -> Self {
        Self {
            ch_index: b[0],
            frequency: frequency_from([b[1], b[2], b[3]]),
            max_dr: b[4] >> 4,
            min_dr: b[4] & 0x0f,
        }
    }
    pub(super) fn encode(&self) -> Result<[u8; 5], MacError> {
        let f = frequency_to(Self::NAME, self.frequency)?;
        let max = check(Self::NAME, "max_dr", self.max_dr.into(), 4)?;
        let min = check(Self::NAME, "min_dr", self.min_dr.into(), 4)?;
        Ok([self.ch_index, f[0], f[1], f[2], (max << 4) | min])
    }
}

/// `NewChannelAns` (and the answer bits of `PingSlotChannelAns` have the same shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewChannelAns {
    /// Data rate range OK (bit 1).
    pub data_rate_range_ok: bool,
    /// Channel frequency OK (bit 0).
    pub channel_frequency_ok: bool,
}

impl NewChannelAns {
    pub(super) fn decode(b: [u8; 1]) -> Self {
        Self {
            data_rate_range_ok: bit(b[0], 1),
            channel_frequency_ok: bit(b[0], 0),
        }
    }
    pub(super) fn encode(&self) -> [u8; 1] {
        [u8::from(self.data_rate_range_ok) << 1 | u8::from(self.channel_frequency_ok)]
    }
}

/// `RXTimingSetupReq`: delay of RX1 after the end of the uplink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxTimingSetupReq {
    /// `Del` (4 bits): delay in seconds, 0 meaning 1 s.
    pub delay: u8,
}

impl RxTimingSetupReq {
    /// The RX1 delay in seconds (`Del` 0 and 1 both mean 1 s).
    pub fn seconds(&self) -> u8 {
        self.delay.max(1)
    }
    pub(super) fn decode(b: [u8; 1]) -> Self {
        Self { delay: b[0] & 0x0f }
    }
    pub(super) fn encode(&self) -> Result<[u8; 1], MacError> {
        Ok([check("RXTimingSetupReq", "delay", self.delay.into(), 4)?])
    }
}

/// `TxParamSetupReq`: dwell times and maximum EIRP (regions that support it, e.g. AS923).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxParamSetupReq {
    /// Downlink dwell time limited to 400 ms (bit 5).
    pub downlink_dwell_time: bool,
    /// Uplink dwell time limited to 400 ms (bit 4).
    pub uplink_dwell_time: bool,
    /// `MaxEIRP` index (4 bits), see [`MAX_EIRP_DBM`].
    pub max_eirp: u8,
}

impl TxParamSetupReq {
    /// The maximum EIRP in dBm.
    pub fn max_eirp_dbm(&self) -> u8 {
        MAX_EIRP_DBM[usize::from(self.max_eirp & 0x0f)]
    }
    pub(super) fn decode(b: [u8; 1]) -> Self {
        Self {
            downlink_dwell_time: bit(b[0], 5),
            uplink_dwell_time: bit(b[0], 4),
            max_eirp: b[0] & 0x0f,
        }
    }
    pub(super) fn encode(&self) -> Result<[u8; 1], MacError> {
        let eirp = check("TxParamSetupReq", "max_eirp", self.max_eirp.into(), 4)?;
        Ok(
            [u8::from(self.downlink_dwell_time) << 5
                | u8::from(self.uplink_dwell_time) << 4
                | eirp],
        )
    }
}

/// `DlChannelReq`: move the RX1 frequency of an uplink channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DlChannelReq {
    /// Channel index.
    pub ch_index: u8,
    /// RX1 frequency in Hz (multiple of 100 Hz below 1.2 GHz, of 200 Hz in the 2.4 GHz band).
    pub frequency: u32,
}

impl DlChannelReq {
    pub(super) fn decode(b: [u8; 4]) -> Self {
        Self {
            ch_index: b[0],
            frequency: frequency_from([b[1], b[2], b[3]]),
        }
    }
    pub(super) fn encode(&self) -> Result<[u8; 4], MacError> {
        let f = frequency_to("DlChannelReq", self.frequency)?;
        Ok([self.ch_index, f[0], f[1], f[2]])
    }
}

/// `DlChannelAns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DlChannelAns {
    /// Uplink frequency exists (bit 1).
    pub uplink_frequency_exists: bool,
    /// Channel frequency OK (bit 0).
    pub channel_frequency_ok: bool,
}

impl DlChannelAns {
    pub(super) fn decode(b: [u8; 1]) -> Self {
        Self {
            uplink_frequency_exists: bit(b[0], 1),
            channel_frequency_ok: bit(b[0], 0),
        }
    }
    pub(super) fn encode(&self) -> [u8; 1] {
        [u8::from(self.uplink_frequency_exists) << 1 | u8::from(self.channel_frequency_ok)]
    }
}

/// `ADRParamSetupReq` (1.1): `ADR_ACK_LIMIT` = 2^`limit_exp`, `ADR_ACK_DELAY` = 2^`delay_exp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdrParamSetupReq {
    /// `Limit_exp` (4 bits).
    pub limit_exp: u8,
    /// `Delay_exp` (4 bits).
    pub delay_exp: u8,
}

impl AdrParamSetupReq {
    pub(super) fn decode(b: [u8; 1]) -> Self {
        Self {
            limit_exp: b[0] >> 4,
            delay_exp: b[0] & 0x0f,
        }
    }
    pub(super) fn encode(&self) -> Result<[u8; 1], MacError> {
        let limit = check("ADRParamSetupReq", "limit_exp", self.limit_exp.into(), 4)?;
        let delay = check("ADRParamSetupReq", "delay_exp", self.delay_exp.into(), 4)?;
        Ok([(limit << 4) | delay])
    }
}

/// `DeviceTimeAns`: GPS time at the end of the uplink that carried `DeviceTimeReq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceTimeAns {
    /// Whole seconds since the GPS epoch (1980-01-06T00:00:00Z), modulo 2^32.
    pub seconds: u32,
    /// Fractional second in 1/256 s steps.
    pub fractional: u8,
}

impl DeviceTimeAns {
    pub(super) fn decode(b: [u8; 5]) -> Self {
        Self {
            seconds: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            fractional: b[4],
        }
    }
    pub(super) fn encode(&self) -> [u8; 5] {
        let s = self.seconds.to_le_bytes();
        [s[0], s[1], s[2], s[3], self.fractional]
    }
}

/// `ForceRejoinReq` (1.1): ask the end-device to send rejoin-requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForceRejoinReq {
    /// Delay between retransmissions: 32 s × 2^`period` + rand(0..32 s) (3 bits).
    pub period: u8,
    /// Maximum number of retransmissions (3 bits; 0 = send once).
    pub max_retries: u8,
    /// Rejoin-request type to send: 0 or 2 (3 bits).
    pub rejoin_type: u8,
    /// Data rate of the rejoin-requests (4 bits).
    pub data_rate: u8,
}

impl ForceRejoinReq {
    const NAME: &'static str = "ForceRejoinReq";
    pub(super) fn decode(b: [u8; 2]) -> Self {
        let v = u16::from_le_bytes(b);
        // Masked to at most 4 bits, so the casts keep every bit.
        Self {
            period: ((v >> 11) & 0x07) as u8,
            max_retries: ((v >> 8) & 0x07) as u8,
            rejoin_type: ((v >> 4) & 0x07) as u8,
            data_rate: (v & 0x0f) as u8,
        }
    }
    pub(super) fn encode(&self) -> Result<[u8; 2], MacError> {
        let period = u16::from(check(Self::NAME, "period", self.period.into(), 3)?);
        let retries = u16::from(check(
            Self::NAME,
            "max_retries",
            self.max_retries.into(),
            3,
        )?);
        let kind = u16::from(check(
            Self::NAME,
            "rejoin_type",
            self.rejoin_type.into(),
            3,
        )?);
        let dr = u16::from(check(Self::NAME, "data_rate", self.data_rate.into(), 4)?);
        Ok(((period << 11) | (retries << 8) | (kind << 4) | dr).to_le_bytes())
    }
}

/// `RejoinParamSetupReq` (1.1): periodic type-0 rejoin every 2^(`max_count_n` + 4) uplinks or
/// 2^(`max_time_n` + 10) seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejoinParamSetupReq {
    /// `MaxTimeN` (4 bits).
    pub max_time_n: u8,
    /// `MaxCountN` (4 bits).
    pub max_count_n: u8,
}

impl RejoinParamSetupReq {
    pub(super) fn decode(b: [u8; 1]) -> Self {
        Self {
            max_time_n: b[0] >> 4,
            max_count_n: b[0] & 0x0f,
        }
    }
    pub(super) fn encode(&self) -> Result<[u8; 1], MacError> {
        let time = check(
            "RejoinParamSetupReq",
            "max_time_n",
            self.max_time_n.into(),
            4,
        )?;
        let count = check(
            "RejoinParamSetupReq",
            "max_count_n",
            self.max_count_n.into(),
            4,
        )?;
        Ok([(time << 4) | count])
    }
}

/// `RejoinParamSetupAns` (1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejoinParamSetupAns {
    /// The end-device accepted the time limit (bit 0).
    pub time_ok: bool,
}

impl RejoinParamSetupAns {
    pub(super) fn decode(b: [u8; 1]) -> Self {
        Self {
            time_ok: bit(b[0], 0),
        }
    }
    pub(super) fn encode(&self) -> [u8; 1] {
        [u8::from(self.time_ok)]
    }
}

/// `PingSlotInfoReq` (class B): ping slot periodicity 2^`periodicity` s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingSlotInfoReq {
    /// `Periodicity` (3 bits): one ping slot every 2^`periodicity` seconds.
    pub periodicity: u8,
}

impl PingSlotInfoReq {
    pub(super) fn decode(b: [u8; 1]) -> Self {
        Self {
            periodicity: b[0] & 0x07,
        }
    }
    pub(super) fn encode(&self) -> Result<[u8; 1], MacError> {
        let value = self.periodicity.into();
        Ok([check("PingSlotInfoReq", "periodicity", value, 3)?])
    }
}

/// `PingSlotChannelReq` (class B): ping slot frequency and data rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingSlotChannelReq {
    /// Frequency in Hz (multiple of 100 Hz below 1.2 GHz, of 200 Hz in the 2.4 GHz band; 0 = the region's default / hopping).
    pub frequency: u32,
    /// Data rate (4 bits).
    pub data_rate: u8,
}

impl PingSlotChannelReq {
    pub(super) fn decode(b: [u8; 4]) -> Self {
        Self {
            frequency: frequency_from([b[0], b[1], b[2]]),
            data_rate: b[3] & 0x0f,
        }
    }
    pub(super) fn encode(&self) -> Result<[u8; 4], MacError> {
        let f = frequency_to("PingSlotChannelReq", self.frequency)?;
        let dr = check("PingSlotChannelReq", "data_rate", self.data_rate.into(), 4)?;
        Ok([f[0], f[1], f[2], dr])
    }
}

/// `PingSlotChannelAns` (class B).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingSlotChannelAns {
    /// Data rate OK (bit 1).
    pub data_rate_ok: bool,
    /// Channel frequency OK (bit 0).
    pub channel_frequency_ok: bool,
}

impl PingSlotChannelAns {
    pub(super) fn decode(b: [u8; 1]) -> Self {
        Self {
            data_rate_ok: bit(b[0], 1),
            channel_frequency_ok: bit(b[0], 0),
        }
    }
    pub(super) fn encode(&self) -> [u8; 1] {
        [u8::from(self.data_rate_ok) << 1 | u8::from(self.channel_frequency_ok)]
    }
}

/// `BeaconTimingAns` (class B, LoRaWAN 1.0.x only; deprecated by `DeviceTimeReq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeaconTimingAns {
    /// Time to the next beacon in 30 ms steps (minus an uncertainty of 30 ms).
    pub delay: u16,
    /// Index of the beaconing channel of the next beacon.
    pub channel: u8,
}

impl BeaconTimingAns {
    pub(super) fn decode(b: [u8; 3]) -> Self {
        Self {
            delay: u16::from_le_bytes([b[0], b[1]]),
            channel: b[2],
        }
    }
    pub(super) fn encode(&self) -> [u8; 3] {
        let d = self.delay.to_le_bytes();
        [d[0], d[1], self.channel]
    }
}

/// `BeaconFreqReq` (class B): beacon frequency (0 = the region's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeaconFreqReq {
    /// Frequency in Hz (multiple of 100 Hz below 1.2 GHz, of 200 Hz in the 2.4 GHz band).
    pub frequency: u32,
}

impl BeaconFreqReq {
    pub(super) fn decode(b: [u8; 3]) -> Self {
        Self {
            frequency: frequency_from(b),
        }
    }
    pub(super) fn encode(&self) -> Result<[u8; 3], MacError> {
        frequency_to("BeaconFreqReq", self.frequency)
    }
}

/// `BeaconFreqAns` (class B).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeaconFreqAns {
    /// Beacon frequency OK (bit 0).
    pub beacon_frequency_ok: bool,
}

impl BeaconFreqAns {
    pub(super) fn decode(b: [u8; 1]) -> Self {
        Self {
            beacon_frequency_ok: bit(b[0], 0),
        }
    }
    pub(super) fn encode(&self) -> [u8; 1] {
        [u8::from(self.beacon_frequency_ok)]
    }
}

/// The device class of `DeviceModeInd` / `DeviceModeConf` (1.1): an open value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceClass {
    /// Class A (0x00).
    A,
    /// Class C (0x02).
    C,
    /// Any other value (0x01 and 0x03..=0xFF are RFU), kept as received.
    Other(u8),
}

impl DeviceClass {
    /// From the wire byte.
    pub const fn from_u8(value: u8) -> Self {
        match value {
            0x00 => Self::A,
            0x02 => Self::C,
            other => Self::Other(other),
        }
    }

    /// The wire byte.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::A => 0x00,
            Self::C => 0x02,
            Self::Other(other) => other,
        }
    }
}
