//! Regional parameters (RP002-1.0.4) as static tables: what a network server needs to pick
//! data rates, receive windows, payload limits and channels for a band.
//!
//! Supported bands: EU868, US915, AU915, AS923-1 … AS923-4, KR920, RU864 and EU433.
//! Not (yet) here: IN865 (RP002-1.0.4's RX1 table and The Things Stack disagree on offsets 6
//! and 7), CN470 (four channel plans), CN779 (deprecated), ISM2400.
//!
//! ```
//! use lorawan::region::{DwellTime, Region};
//!
//! let eu = Region::from_name("EU_863_870").unwrap().params();
//! assert_eq!(eu.rx1_data_rate(5, 2, DwellTime::NoLimit), Some(3));
//! assert_eq!(eu.rx2_default().frequency, 869_525_000);
//! ```

mod channels;
mod tables;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use channels::{CfList, ChannelMask};

use crate::mac::Direction;

/// Why a regional operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    /// The region name is not one we know.
    #[error("unknown region {0:?}")]
    UnknownRegion(String),
    /// A `ChMaskCntl` value that is RFU in this region.
    #[error("ChMaskCntl {0} is not defined in this region")]
    UnsupportedChMaskCntl(u8),
    /// A channel mask enables a channel that is not defined.
    #[error("channel {0} is not defined")]
    UndefinedChannel(usize),
    /// The resulting channel mask disables every channel.
    #[error("the channel mask disables every channel")]
    NoChannelEnabled,
    /// More channels than the region or the CFList can carry.
    #[error("too many channels: {0}")]
    TooManyChannels(usize),
    /// A frequency that a CFList cannot carry (not a multiple of 100 Hz, or ≥ 2^24 × 100 Hz).
    #[error("frequency {0} Hz cannot be encoded")]
    Frequency(u32),
    /// The operation does not apply to this region's CFList type.
    #[error("the region uses CFList type {0:?}")]
    WrongCfListType(CfListType),
}

/// A band of RP002-1.0.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    /// EU 863-870 MHz.
    Eu868,
    /// US 902-928 MHz.
    Us915,
    /// Australia 915-928 MHz.
    Au915,
    /// AS923 group 1 (923.2 / 923.4 MHz).
    As923_1,
    /// AS923 group 2 (−1.8 MHz: 921.4 / 921.6 MHz).
    As923_2,
    /// AS923 group 3 (−6.6 MHz: 916.6 / 916.8 MHz).
    As923_3,
    /// AS923 group 4 (−5.9 MHz: 917.3 / 917.5 MHz).
    As923_4,
    /// South Korea 920-923 MHz.
    Kr920,
    /// Russia 864-870 MHz.
    Ru864,
    /// EU 433 MHz.
    Eu433,
}

impl Region {
    /// Every supported region.
    pub const ALL: [Region; 10] = [
        Region::Eu868,
        Region::Us915,
        Region::Au915,
        Region::As923_1,
        Region::As923_2,
        Region::As923_3,
        Region::As923_4,
        Region::Kr920,
        Region::Ru864,
        Region::Eu433,
    ];

    /// The region for a common spelling: `EU868`, `EU_863_870`, `US915`, `US902`,
    /// `US_902_928`, `AU915`, `AU_915_928`, `Australia915`, `AS923`, `AS923-1`, `AS923_2`,
    /// `AS_923_3`, `KR920`, `KR_920_923`, `RU864`, `RU_864_870`, `EU433`, … (any case; `-`,
    /// `_`, `.` and spaces ignored).
    pub fn from_name(name: &str) -> Result<Region, RegionError> {
        let key: String = name
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' ' | '.'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        Ok(match key.as_str() {
            "EU868" | "EU863870" | "EU863" => Region::Eu868,
            "US915" | "US902" | "US902928" => Region::Us915,
            "AU915" | "AU915928" | "AUSTRALIA915" | "AUSTRALIA915928" => Region::Au915,
            "AS923" | "AS9231" | "AS923GROUP1" | "AS920923" => Region::As923_1,
            "AS9232" | "AS923GROUP2" => Region::As923_2,
            "AS9233" | "AS923GROUP3" => Region::As923_3,
            "AS9234" | "AS923GROUP4" => Region::As923_4,
            "KR920" | "KR920923" => Region::Kr920,
            "RU864" | "RU864870" => Region::Ru864,
            "EU433" | "EU433434" => Region::Eu433,
            _ => return Err(RegionError::UnknownRegion(name.to_owned())),
        })
    }

    /// The canonical short name (`EU868`, `AS923-2`, …), also used by [`fmt::Display`].
    pub const fn name(self) -> &'static str {
        match self {
            Region::Eu868 => "EU868",
            Region::Us915 => "US915",
            Region::Au915 => "AU915",
            Region::As923_1 => "AS923-1",
            Region::As923_2 => "AS923-2",
            Region::As923_3 => "AS923-3",
            Region::As923_4 => "AS923-4",
            Region::Kr920 => "KR920",
            Region::Ru864 => "RU864",
            Region::Eu433 => "EU433",
        }
    }

    /// The band ID of the LoRa Alliance / The Things Stack (`EU_863_870`, `AS_923_2`, …).
    pub const fn band_id(self) -> &'static str {
        match self {
            Region::Eu868 => "EU_863_870",
            Region::Us915 => "US_902_928",
            Region::Au915 => "AU_915_928",
            Region::As923_1 => "AS_923",
            Region::As923_2 => "AS_923_2",
            Region::As923_3 => "AS_923_3",
            Region::As923_4 => "AS_923_4",
            Region::Kr920 => "KR_920_923",
            Region::Ru864 => "RU_864_870",
            Region::Eu433 => "EU_433",
        }
    }

    /// The parameter tables of the region.
    pub const fn params(self) -> &'static RegionParams {
        match self {
            Region::Eu868 => &tables::EU868,
            Region::Us915 => &tables::US915,
            Region::Au915 => &tables::AU915,
            Region::As923_1 => &tables::AS923_1,
            Region::As923_2 => &tables::AS923_2,
            Region::As923_3 => &tables::AS923_3,
            Region::As923_4 => &tables::AS923_4,
            Region::Kr920 => &tables::KR920,
            Region::Ru864 => &tables::RU864,
            Region::Eu433 => &tables::EU433,
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Region {
    type Err = RegionError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Region::from_name(text)
    }
}

/// Coding rate of an LR-FHSS data rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LrFhssCodingRate {
    /// 1/3.
    OneThird,
    /// 2/3.
    TwoThirds,
}

/// The modulation of a data rate. LoRa data rates all use coding rate 4/5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modulation {
    /// LoRa.
    Lora {
        /// Spreading factor (7..=12).
        spreading_factor: u8,
        /// Bandwidth in Hz.
        bandwidth_hz: u32,
    },
    /// (G)FSK.
    Fsk {
        /// Bit rate in bit/s.
        bitrate: u32,
    },
    /// LR-FHSS (uplink only).
    LrFhss {
        /// Occupied channel width in Hz.
        occupied_channel_width_hz: u32,
        /// Coding rate.
        coding_rate: LrFhssCodingRate,
    },
}

/// Which direction a data rate may be used in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrUse {
    /// Uplink only.
    Uplink,
    /// Downlink only.
    Downlink,
    /// Both directions.
    Both,
}

impl DrUse {
    /// Whether a data rate with this use may carry a frame in `direction`.
    pub const fn allows(self, direction: Direction) -> bool {
        matches!(
            (self, direction),
            (DrUse::Both, _)
                | (DrUse::Uplink, Direction::Uplink)
                | (DrUse::Downlink, Direction::Downlink)
        )
    }
}

/// One entry of a region's data-rate table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataRate {
    /// The modulation.
    pub modulation: Modulation,
    /// Where it may be used.
    pub usage: DrUse,
    m: u8,
    m_dwell: u8,
}

/// Whether the 400 ms dwell-time limit applies (AS923, AU915 uplink; `TxParamSetupReq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DwellTime {
    /// No dwell-time limit.
    #[default]
    NoLimit,
    /// 400 ms dwell-time limit.
    Limit400ms,
}

/// Whether payloads must leave room for a repeater (RP002 "repeater compatible" tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Repeater {
    /// No repeater between device and gateway (the usual case).
    #[default]
    NotCompatible,
    /// Repeater compatible: MACPayload capped at 230 bytes.
    Compatible,
}

/// Maximum payload sizes for one data rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaxPayload {
    /// Maximum MACPayload size M (bytes).
    pub m: u8,
    /// Maximum FRMPayload size N without FOpts (M − 8 bytes: FHDR 7 + FPort 1).
    pub n: u8,
}

/// A channel: centre frequency and the data rates allowed on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Channel {
    /// Centre frequency in Hz.
    pub frequency: u32,
    /// Lowest data rate.
    pub min_dr: u8,
    /// Highest data rate.
    pub max_dr: u8,
}

/// How the uplink channels of a region are organised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelPlan {
    /// A few default channels plus up to 16 defined by `NewChannelReq` / CFList
    /// (`ChMaskCntl` 0 = channels 0..15, 6 = all defined channels on).
    Dynamic,
    /// 64 × 125 kHz + 8 × 500 kHz fixed channels; RX1 on downlink channel (uplink mod 8);
    /// `ChMaskCntl` 0..3 = 16-channel blocks, 4 = channels 64..71, 5 = sub-bands,
    /// 6 / 7 = all 125 kHz channels on / off plus a mask of 64..71.
    Fixed72,
}

/// What a join-accept CFList carries in a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CfListType {
    /// Type 0: up to five extra channel frequencies.
    Frequencies,
    /// Type 1: channel masks.
    ChannelMask,
}

/// The default RX2 parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rx2 {
    /// Frequency in Hz.
    pub frequency: u32,
    /// Data rate.
    pub data_rate: u8,
}

/// Receive-window and join-accept delays (RP002-1.0.4: the same in every region).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delays {
    /// `RECEIVE_DELAY1`.
    pub receive_delay1: Duration,
    /// `RECEIVE_DELAY2` (MUST be `RECEIVE_DELAY1` + 1 s).
    pub receive_delay2: Duration,
    /// `JOIN_ACCEPT_DELAY1`.
    pub join_accept_delay1: Duration,
    /// `JOIN_ACCEPT_DELAY2`.
    pub join_accept_delay2: Duration,
}

/// The default delays of RP002-1.0.4.
pub const DEFAULT_DELAYS: Delays = Delays {
    receive_delay1: Duration::from_secs(1),
    receive_delay2: Duration::from_secs(2),
    join_accept_delay1: Duration::from_secs(5),
    join_accept_delay2: Duration::from_secs(6),
};

/// `ADR_ACK_LIMIT` default.
pub const ADR_ACK_LIMIT: u32 = 64;
/// `ADR_ACK_DELAY` default.
pub const ADR_ACK_DELAY: u32 = 32;

/// The parameter tables of one region (see [`Region::params`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionParams {
    /// The region.
    pub region: Region,
    /// Data rates by index; `None` marks an RFU index.
    pub data_rates: &'static [Option<DataRate>],
    rx1_table: &'static [&'static [u8]],
    rx1_table_dwell: &'static [&'static [u8]],
    rx2: Rx2,
    /// Default (mandatory) uplink channels; every channel of a fixed plan.
    pub uplink_channels: &'static [Channel],
    /// Downlink channels (RX1) for a fixed plan; the uplink channels for a dynamic one.
    pub downlink_channels: &'static [Channel],
    /// The channel organisation.
    pub plan: ChannelPlan,
    /// Maximum number of uplink channels (16 or 72).
    pub max_uplink_channels: usize,
    /// TX power offsets (dB from the maximum EIRP) by `TXPower` index.
    pub tx_power_offsets_db: &'static [i8],
    /// Default maximum EIRP in dBm.
    pub default_max_eirp_dbm: f32,
    /// Whether end-devices implement `TxParamSetupReq` in this region.
    pub tx_param_setup: bool,
    /// Class B beacon data rate.
    pub beacon_data_rate: u8,
    /// Class B beacon frequencies (several: hopping).
    pub beacon_frequencies: &'static [u32],
    /// Class B default ping-slot frequencies (several: hopping).
    pub ping_slot_frequencies: &'static [u32],
}

impl RegionParams {
    /// The data rate `dr`; `None` if RFU or out of the table.
    pub fn data_rate(&self, dr: u8) -> Option<DataRate> {
        self.data_rates.get(usize::from(dr)).copied().flatten()
    }

    /// The data-rate index of `modulation` usable in `direction` (US915 SF8/500 kHz is DR4
    /// uplink and DR12 downlink).
    pub fn dr_for(&self, modulation: Modulation, direction: Direction) -> Option<u8> {
        self.data_rates.iter().enumerate().find_map(|(i, dr)| {
            let dr = dr.as_ref()?;
            (dr.modulation == modulation && dr.usage.allows(direction))
                .then(|| u8::try_from(i).ok())
                .flatten()
        })
    }

    /// The RX1 data rate for an uplink at `uplink_dr` with `rx1_dr_offset`; `dwell` is the
    /// downlink dwell time (changes the result in AS923 only). `None` for an RFU uplink DR
    /// or an offset the region does not define.
    pub fn rx1_data_rate(&self, uplink_dr: u8, rx1_dr_offset: u8, dwell: DwellTime) -> Option<u8> {
        let table = match dwell {
            DwellTime::NoLimit => self.rx1_table,
            DwellTime::Limit400ms => self.rx1_table_dwell,
        };
        table
            .get(usize::from(uplink_dr))?
            .get(usize::from(rx1_dr_offset))
            .copied()
    }

    /// Number of RX1DROffset values the region defines (6, 8 for AS923, 4 for US915).
    pub fn rx1_dr_offsets(&self) -> usize {
        self.rx1_table.first().map_or(0, |row| row.len())
    }

    /// The RX1 channel index for an uplink on channel `uplink_channel`: the same channel,
    /// or `uplink_channel mod 8` in a fixed plan (US915 / AU915).
    pub fn rx1_channel(&self, uplink_channel: usize) -> usize {
        match self.plan {
            ChannelPlan::Dynamic => uplink_channel,
            ChannelPlan::Fixed72 => uplink_channel % 8,
        }
    }

    /// The RX1 frequency for an uplink at `uplink_frequency`: the same frequency, or in a
    /// fixed plan the downlink channel `uplink channel mod 8`; `None` if the frequency is
    /// not a channel of the fixed plan.
    pub fn rx1_frequency(&self, uplink_frequency: u32) -> Option<u32> {
        match self.plan {
            ChannelPlan::Dynamic => Some(uplink_frequency),
            ChannelPlan::Fixed72 => {
                let channel = self.uplink_channel_index(uplink_frequency)?;
                let downlink = self.downlink_channels.get(self.rx1_channel(channel))?;
                Some(downlink.frequency)
            }
        }
    }

    /// The index of the default (or fixed) uplink channel at `frequency`.
    pub fn uplink_channel_index(&self, frequency: u32) -> Option<usize> {
        self.uplink_channels
            .iter()
            .position(|c| c.frequency == frequency)
    }

    /// The default RX2 frequency and data rate.
    pub fn rx2_default(&self) -> Rx2 {
        self.rx2
    }

    /// Maximum MACPayload (M) and FRMPayload (N) sizes at `dr`; `None` if the data rate is
    /// RFU or not allowed under the dwell-time limit.
    pub fn max_payload(&self, dr: u8, dwell: DwellTime, repeater: Repeater) -> Option<MaxPayload> {
        let rate = self.data_rate(dr)?;
        let m = match dwell {
            DwellTime::NoLimit => rate.m,
            DwellTime::Limit400ms => rate.m_dwell,
        };
        if m == 0 {
            return None;
        }
        let m = match repeater {
            Repeater::NotCompatible => m,
            Repeater::Compatible => m.min(230),
        };
        Some(MaxPayload { m, n: m - 8 })
    }

    /// The default uplink channels (the mandatory ones; all 72 in a fixed plan).
    pub fn default_uplink_channels(&self) -> &'static [Channel] {
        self.uplink_channels
    }

    /// The CFList type this region uses in join-accepts.
    pub fn cflist_type(&self) -> CfListType {
        match self.plan {
            ChannelPlan::Dynamic => CfListType::Frequencies,
            ChannelPlan::Fixed72 => CfListType::ChannelMask,
        }
    }

    /// The channels enabled after a join without CFList: the default channels.
    pub fn default_channel_mask(&self) -> ChannelMask {
        ChannelMask::first(self.uplink_channels.len())
    }

    /// EIRP in dBm for `TXPower` index `tx_power`, from the default maximum EIRP.
    pub fn tx_power_eirp(&self, tx_power: u8) -> Option<f32> {
        let offset = self.tx_power_offsets_db.get(usize::from(tx_power))?;
        Some(self.default_max_eirp_dbm + f32::from(*offset))
    }

    /// Receive-window and join-accept delays.
    pub fn delays(&self) -> Delays {
        DEFAULT_DELAYS
    }
}

#[cfg(test)]
mod tests;
