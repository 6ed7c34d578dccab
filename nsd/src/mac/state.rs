//! The network's view of one device session: what the device runs now (as last confirmed),
//! what the profile wants, the requests awaiting an answer and the uplink history ADR reads.
//!
//! Everything here is plain data with serde derives, so the integrator can store a session's
//! [`MacState`] as one JSON document. Types of the `lorawan` crate that have no serde support
//! (the region, the version, a channel mask, a MAC command) are written as strings: a region
//! by its short name (`"EU868"`), a version as `"1.0.4"`, a channel mask as hexadecimal
//! (`"0x7"`), a MAC command as the hexadecimal of its downlink encoding (`"0603"`…).
//!
//! The document is written compactly, because every session's is rewritten as it changes
//! (a 100,000-device network writes hundreds of megabytes of it while its devices settle):
//! empty lists, absent options and zero values are left out, and an ADR history record is
//! an array `[fcnt, max_snr, gateway_count, data_rate, tx_power]`. Reading accepts the
//! earlier, spelled-out form as well (serde reads a struct from a map or an array, and
//! fills what is left out with its default).

use lorawan::join::MacVersion;
use lorawan::mac::{parse_commands, Direction, MacCommand};
use lorawan::region::{CfList, ChannelMask, ChannelPlan, Region, RegionParams};
use serde::{Deserialize, Serialize};

use super::adr::AdrConfig;

/// How many uplinks the ADR history keeps (the last 20, as the Semtech recommended algorithm).
pub const HISTORY_LEN: usize = 20;
/// How many abandoned requests are kept for the operator to see.
pub const ABANDONED_KEPT: usize = 16;

/// The device class the network serves the device in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum DeviceClass {
    /// Class A (every device).
    #[default]
    A,
    /// Class B (ping slots; announced by `PingSlotInfoReq`).
    B,
    /// Class C (1.1 `DeviceModeInd`, or configured).
    C,
}

/// An uplink channel beyond the region's default ones (CFList or `NewChannelReq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraChannel {
    /// Channel index (3..=15 in EU868).
    pub index: u8,
    /// Centre frequency in Hz.
    pub frequency: u32,
    /// Lowest data rate allowed on it.
    pub min_dr: u8,
    /// Highest data rate allowed on it.
    pub max_dr: u8,
}

/// An RX1 downlink frequency moved away from its uplink channel's (`DlChannelReq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DlFrequency {
    /// Uplink channel index.
    pub index: u8,
    /// RX1 frequency in Hz.
    pub frequency: u32,
}

/// Dwell times and maximum EIRP (`TxParamSetupReq`, AS923 and AU915).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxParams {
    /// Uplink dwell time limited to 400 ms.
    pub uplink_dwell_time: bool,
    /// Downlink dwell time limited to 400 ms.
    pub downlink_dwell_time: bool,
    /// `MaxEIRP` index (see [`lorawan::mac::MAX_EIRP_DBM`]).
    pub max_eirp: u8,
}

/// Periodic rejoin parameters (`RejoinParamSetupReq`, 1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejoinParams {
    /// A rejoin every 2^(`max_time_n` + 10) seconds.
    pub max_time_n: u8,
    /// A rejoin every 2^(`max_count_n` + 4) uplinks.
    pub max_count_n: u8,
}

/// The MAC parameters of a device: the ones it runs (confirmed by its answers) or the ones
/// the profile wants it to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceParams {
    /// Enabled uplink channels.
    #[serde(with = "mask_hex")]
    pub enabled_channels: ChannelMask,
    /// Channels defined beyond the region's defaults (dynamic plans only), by index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_channels: Vec<ExtraChannel>,
    /// RX1 frequencies moved by `DlChannelReq`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dl_frequencies: Vec<DlFrequency>,
    /// Uplink data rate. In the wanted parameters: the value an ABP device starts with (ADR
    /// decides afterwards).
    pub data_rate: u8,
    /// `TXPower` index (0 = the maximum EIRP).
    #[serde(default, skip_serializing_if = "is_default")]
    pub tx_power: u8,
    /// Transmissions of each unconfirmed uplink.
    pub nb_trans: u8,
    /// RX1 data-rate offset.
    #[serde(default, skip_serializing_if = "is_default")]
    pub rx1_dr_offset: u8,
    /// RX2 data rate.
    pub rx2_data_rate: u8,
    /// RX2 frequency in Hz.
    pub rx2_frequency: u32,
    /// RX1 delay in seconds (1..=15).
    pub rx1_delay: u8,
    /// Aggregated duty cycle 1 / 2^`max_duty_cycle` (0 = the regional limit only).
    #[serde(default, skip_serializing_if = "is_default")]
    pub max_duty_cycle: u8,
    /// Dwell times and maximum EIRP; `None` = the region's defaults, never set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_params: Option<TxParams>,
    /// Class B ping-slot periodicity (2^n s); `None` until the device announces class B.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_slot_periodicity: Option<u8>,
    /// Class B ping-slot data rate.
    pub ping_slot_data_rate: u8,
    /// Class B ping-slot frequency in Hz (0 = the region's default, hopping where it hops).
    #[serde(default, skip_serializing_if = "is_default")]
    pub ping_slot_frequency: u32,
    /// Class B beacon frequency in Hz (0 = the region's default).
    #[serde(default, skip_serializing_if = "is_default")]
    pub beacon_frequency: u32,
    /// `ADR_ACK_LIMIT` = 2^`adr_ack_limit_exp` (1.1 `ADRParamSetupReq`; 6 = 64 by default).
    pub adr_ack_limit_exp: u8,
    /// `ADR_ACK_DELAY` = 2^`adr_ack_delay_exp` (5 = 32 by default).
    pub adr_ack_delay_exp: u8,
    /// Periodic rejoin (1.1); `None` = never configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejoin: Option<RejoinParams>,
}

impl DeviceParams {
    /// The parameters a device starts with in `region` (RP002-1.0.4 defaults): default
    /// channels, DR0, maximum power, NbTrans 1, RX1 offset 0, the default RX2, RX1 delay 1 s.
    pub fn defaults(region: Region) -> Self {
        let params = region.params();
        let rx2 = params.rx2_default();
        Self {
            enabled_channels: params.default_channel_mask(),
            extra_channels: Vec::new(),
            dl_frequencies: Vec::new(),
            data_rate: 0,
            tx_power: 0,
            nb_trans: 1,
            rx1_dr_offset: 0,
            rx2_data_rate: rx2.data_rate,
            rx2_frequency: rx2.frequency,
            rx1_delay: 1,
            max_duty_cycle: 0,
            tx_params: None,
            ping_slot_periodicity: None,
            // RP002: the default ping-slot data rate is the beacon's in every region here.
            ping_slot_data_rate: params.beacon_data_rate,
            ping_slot_frequency: 0,
            beacon_frequency: 0,
            adr_ack_limit_exp: 6,
            adr_ack_delay_exp: 5,
            rejoin: None,
        }
    }

    /// Every channel the device has: the region's defaults (all 72 in a fixed plan) and the
    /// extra ones.
    pub fn defined_channels(&self, region: &RegionParams) -> ChannelMask {
        let defaults = ChannelMask::first(region.uplink_channels.len());
        self.extra_channels
            .iter()
            .fold(defaults, |mask, c| mask.with(usize::from(c.index), true))
    }

    /// The highest data rate any enabled channel allows.
    pub fn max_channel_dr(&self, region: &RegionParams) -> u8 {
        let defaults = region
            .uplink_channels
            .iter()
            .enumerate()
            .filter(|(i, _)| self.enabled_channels.contains(*i))
            .map(|(_, c)| c.max_dr);
        let extras = self
            .extra_channels
            .iter()
            .filter(|c| self.enabled_channels.contains(usize::from(c.index)))
            .map(|c| c.max_dr);
        defaults.chain(extras).max().unwrap_or(0)
    }
}

/// When the network asks for a `DevStatusReq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevStatusPolicy {
    /// Every this many uplinks (by FCnt); `None` = not by count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_uplinks: Option<u32>,
    /// Every this many seconds; `None` = not by time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_secs: Option<u64>,
}

/// The device-profile settings the MAC layer follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MacProfile {
    /// The parameters the network wants the device to run.
    pub wanted: DeviceParams,
    /// The ADR algorithm's settings.
    pub adr: AdrConfig,
    /// When to ask for the device status.
    pub dev_status: DevStatusPolicy,
    /// How many times a request is sent before the network gives up on it (≥ 1).
    pub max_attempts: u8,
}

impl MacProfile {
    /// The region's defaults everywhere, ADR on with a 10 dB margin, a `DevStatusReq` a day,
    /// three attempts per request.
    pub fn new(region: Region) -> Self {
        Self {
            wanted: DeviceParams::defaults(region),
            adr: AdrConfig::for_region(region.params()),
            dev_status: DevStatusPolicy {
                every_uplinks: None,
                every_secs: Some(86_400),
            },
            max_attempts: 3,
        }
    }

    /// Adds (or replaces) a wanted extra channel and enables it.
    pub fn with_channel(mut self, channel: ExtraChannel) -> Self {
        let wanted = &mut self.wanted;
        wanted.extra_channels.retain(|c| c.index != channel.index);
        wanted.extra_channels.push(channel);
        wanted.extra_channels.sort_by_key(|c| c.index);
        wanted.enabled_channels = wanted
            .enabled_channels
            .with(usize::from(channel.index), true);
        self
    }
}

/// What a join-accept told the device (its `DLSettings`, `RxDelay` and CFList).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinAcceptSettings {
    /// `DLSettings.RX1DRoffset`.
    pub rx1_dr_offset: u8,
    /// `DLSettings.RX2DataRate`.
    pub rx2_data_rate: u8,
    /// `RxDelay` in seconds (0 means 1).
    pub rx1_delay: u8,
    /// The CFList, if any.
    pub cf_list: Option<CfList>,
}

impl JoinAcceptSettings {
    /// The settings a join-accept should carry for `profile`: its RX parameters and a CFList
    /// with the wanted extra channels 3..=7 (dynamic plans) or the wanted channel mask
    /// (fixed plans).
    pub fn from_profile(region: Region, profile: &MacProfile) -> Self {
        let params = region.params();
        let wanted = &profile.wanted;
        let cf_list = match params.plan {
            ChannelPlan::Dynamic => {
                let first = params.uplink_channels.len();
                let extra: Vec<u32> = (first..first + 5)
                    .map_while(|i| {
                        wanted
                            .extra_channels
                            .iter()
                            .find(|c| usize::from(c.index) == i)
                            .map(|c| c.frequency)
                    })
                    .collect();
                (!extra.is_empty())
                    .then(|| params.cflist_frequencies(&extra).ok())
                    .flatten()
            }
            ChannelPlan::Fixed72 => params.cflist_channel_mask(wanted.enabled_channels).ok(),
        };
        Self {
            rx1_dr_offset: wanted.rx1_dr_offset,
            rx2_data_rate: wanted.rx2_data_rate,
            rx1_delay: wanted.rx1_delay,
            cf_list,
        }
    }
}

/// How the session started, as the state remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ActivationMode {
    /// Over the air (1.1: `RekeyInd` applies, `ResetInd` does not).
    Otaa,
    /// By personalisation, with the parameters the device was provisioned with, which it
    /// goes back to on a 1.1 `ResetInd`.
    Abp {
        /// The parameters programmed into the device.
        provisioned: DeviceParams,
    },
}

/// How the session started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Over the air: the device runs the region's defaults plus what the join-accept said.
    Otaa(JoinAcceptSettings),
    /// By personalisation: the device was provisioned with the profile's wanted values.
    Abp,
}

/// A MAC command stored in the state, serialized as the hexadecimal of its downlink
/// encoding (`CID ‖ payload`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCommand(pub MacCommand);

/// Whether a pending request went out yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PendingStatus {
    /// Waiting for the next downlink.
    Queued,
    /// Sent in a downlink that followed the uplink with this FCnt (`None`: before any).
    Sent {
        /// FCnt of the last uplink before the downlink.
        after_fcnt: Option<u32>,
    },
}

/// Who asked for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// The MAC layer itself (ADR, wanted parameters, periodic status).
    Network,
    /// An operator, through [`super::enqueue`].
    Operator,
}

/// A request (or a contiguous `LinkADRReq` block) awaiting its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    /// The command, or the commands of one `LinkADRReq` block, in order.
    pub commands: Vec<StoredCommand>,
    /// Queued or sent.
    pub status: PendingStatus,
    /// How many times it was sent.
    pub attempts: u8,
    /// Who asked.
    pub origin: Origin,
}

impl PendingRequest {
    pub(super) fn queued(commands: Vec<MacCommand>, origin: Origin) -> Self {
        Self {
            commands: commands.into_iter().map(StoredCommand).collect(),
            status: PendingStatus::Queued,
            attempts: 0,
            origin,
        }
    }

    /// The CID of the request.
    pub fn cid(&self) -> Option<u8> {
        self.commands.first().map(|c| c.0.cid().0)
    }
}

/// Why the network stopped asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AbandonReason {
    /// Sent `max_attempts` times without an answer.
    Unanswered,
    /// The device answered with a refusal.
    Refused,
}

/// A request the network stopped sending; an identical one is not planned again (a change
/// of the wanted parameters makes a different request, which is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Abandoned {
    /// The request.
    pub commands: Vec<StoredCommand>,
    /// Why.
    pub reason: AbandonReason,
    /// FCnt of the uplink that decided it.
    pub at_fcnt: u32,
}

/// The last `DevStatusAns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevStatus {
    /// 0 = external power, 1..=254 battery level, 255 = unknown.
    pub battery: u8,
    /// Demodulation margin of the `DevStatusReq` in dB (−32..=31).
    pub margin: i8,
    /// FCnt of the uplink that carried it.
    pub fcnt: u32,
}

/// One uplink as ADR remembers it. Stored as an array in field order (see the module
/// documentation); read from an array or a map.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct UplinkRecord {
    /// Frame counter (32 bits).
    pub fcnt: u32,
    /// Best SNR over the receiving gateways, dB.
    pub max_snr: f32,
    /// Number of receiving gateways.
    pub gateway_count: u8,
    /// Data rate of the uplink.
    pub data_rate: u8,
    /// TX power index the device was believed to use.
    pub tx_power: u8,
}

impl Serialize for UplinkRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The order of the fields, which the derived `Deserialize` reads an array in.
        (
            self.fcnt,
            self.max_snr,
            self.gateway_count,
            self.data_rate,
            self.tx_power,
        )
            .serialize(serializer)
    }
}

/// What the device refused to ADR, so ADR stays below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AdrLimits {
    /// Highest data rate the device accepted to go to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_data_rate: Option<u8>,
    /// Highest `TXPower` index (lowest power) the device accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tx_power: Option<u8>,
}

/// When the network last asked for the device status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestMark {
    /// FCnt of the uplink after which it was planned.
    pub fcnt: u32,
    /// Reception time of that uplink, ms since the Unix epoch.
    pub unix_ms: u64,
}

/// The network's view of one device session's MAC layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MacState {
    /// The band.
    #[serde(with = "region_name")]
    pub region: Region,
    /// The LoRaWAN version of the session.
    #[serde(with = "version_text")]
    pub version: MacVersion,
    /// OTAA or ABP.
    pub activation: ActivationMode,
    /// The class the device is served in.
    pub class: DeviceClass,
    /// The parameters the device runs, as last confirmed.
    pub confirmed: DeviceParams,
    /// The profile: wanted parameters and policies.
    pub profile: MacProfile,
    /// Requests queued or awaiting an answer, in sending order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingRequest>,
    /// Answers owed to the last uplink, for the next downlink.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owed: Vec<StoredCommand>,
    /// CIDs of the "sticky" answers (RXParamSetupAns, RXTimingSetupAns, TxParamSetupAns,
    /// DlChannelAns) carried by the last uplink.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sticky_answers: Vec<u8>,
    /// The last device status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_status: Option<DevStatus>,
    /// When the last `DevStatusReq` was planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_status_requested: Option<RequestMark>,
    /// The last [`HISTORY_LEN`] uplinks, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<UplinkRecord>,
    /// What the device refused to ADR.
    #[serde(default, skip_serializing_if = "is_default")]
    pub adr_limits: AdrLimits,
    /// The last abandoned requests, oldest first (at most [`ABANDONED_KEPT`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub abandoned: Vec<Abandoned>,
    /// FCnt of the last uplink processed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fcnt: Option<u32>,
    /// Reception time of the last uplink, ms since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_uplink_unix_ms: Option<u64>,
}

impl MacState {
    /// Whether `self` and `other` differ only in what every uplink changes (the ADR history
    /// and the last uplink's counter and time). Storage writes those at intervals rather than
    /// with every frame: losing a few of them in a crash costs ADR a few samples, nothing else.
    pub fn same_but_uplink_history(&self, other: &Self) -> bool {
        // Destructured in full, so that a new field has to be placed on one side or the other.
        let Self {
            region,
            version,
            activation,
            class,
            confirmed,
            profile,
            pending,
            owed,
            sticky_answers,
            dev_status,
            dev_status_requested,
            history: _,
            adr_limits,
            abandoned,
            last_fcnt: _,
            last_uplink_unix_ms: _,
        } = self;
        *region == other.region
            && *version == other.version
            && *activation == other.activation
            && *class == other.class
            && *confirmed == other.confirmed
            && *profile == other.profile
            && *pending == other.pending
            && *owed == other.owed
            && *sticky_answers == other.sticky_answers
            && *dev_status == other.dev_status
            && *dev_status_requested == other.dev_status_requested
            && *adr_limits == other.adr_limits
            && *abandoned == other.abandoned
    }

    /// A fresh session: after a join, the region's defaults with the join-accept's settings;
    /// for ABP, the profile's wanted values (what the device was provisioned with).
    pub fn new(
        region: Region,
        version: MacVersion,
        profile: MacProfile,
        activation: Activation,
    ) -> Self {
        let (confirmed, activation) = match activation {
            Activation::Abp => (
                profile.wanted.clone(),
                ActivationMode::Abp {
                    provisioned: profile.wanted.clone(),
                },
            ),
            Activation::Otaa(join) => (after_join(region, &join), ActivationMode::Otaa),
        };
        Self {
            region,
            version,
            activation,
            class: DeviceClass::A,
            confirmed,
            profile,
            pending: Vec::new(),
            owed: Vec::new(),
            sticky_answers: Vec::new(),
            dev_status: None,
            dev_status_requested: None,
            history: Vec::new(),
            adr_limits: AdrLimits::default(),
            abandoned: Vec::new(),
            last_fcnt: None,
            last_uplink_unix_ms: None,
        }
    }

    /// The region's parameter tables.
    pub fn params(&self) -> &'static RegionParams {
        self.region.params()
    }

    /// Whether the session is LoRaWAN 1.0.4 or later (1.1 included), where `LinkADRReq`
    /// DataRate / TXPower 0xF mean "keep the current value".
    pub fn keeps_0xf(&self) -> bool {
        self.version >= MacVersion::V1_0_4
    }

    /// Whether the session is LoRaWAN 1.1.
    pub fn is_1_1(&self) -> bool {
        self.version >= MacVersion::V1_1
    }

    pub(super) fn abandon(&mut self, commands: Vec<StoredCommand>, reason: AbandonReason) {
        let at_fcnt = self.last_fcnt.unwrap_or(0);
        self.abandoned.push(Abandoned {
            commands,
            reason,
            at_fcnt,
        });
        if self.abandoned.len() > ABANDONED_KEPT {
            self.abandoned.remove(0);
        }
    }

    pub(super) fn is_abandoned(&self, command: &MacCommand) -> bool {
        self.abandoned
            .iter()
            .any(|a| a.commands.len() == 1 && a.commands[0].0 == *command)
    }
}

/// The parameters after a join-accept: defaults, its DLSettings and RxDelay, its CFList.
fn after_join(region: Region, join: &JoinAcceptSettings) -> DeviceParams {
    let params = region.params();
    let mut device = DeviceParams::defaults(region);
    device.rx1_dr_offset = join.rx1_dr_offset;
    device.rx2_data_rate = join.rx2_data_rate;
    device.rx1_delay = join.rx1_delay.max(1);
    match join.cf_list {
        Some(CfList::Frequencies(frequencies)) if params.plan == ChannelPlan::Dynamic => {
            // RP002 (EU868 and alike): the CFList channels are channels 3..7, DR0..DR5 like
            // the default ones.
            let (min_dr, max_dr) = params
                .uplink_channels
                .first()
                .map_or((0, 5), |c| (c.min_dr, c.max_dr));
            let first = params.uplink_channels.len();
            for (i, &frequency) in frequencies.iter().enumerate() {
                let Ok(index) = u8::try_from(first + i) else {
                    continue;
                };
                if frequency == 0 {
                    continue;
                }
                device.extra_channels.push(ExtraChannel {
                    index,
                    frequency,
                    min_dr,
                    max_dr,
                });
                device.enabled_channels = device.enabled_channels.with(usize::from(index), true);
            }
        }
        Some(CfList::ChannelMask(mask))
            if params.plan == ChannelPlan::Fixed72 && !mask.is_empty() =>
        {
            device.enabled_channels = mask;
        }
        _ => {}
    }
    device
}

impl Serialize for StoredCommand {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::new();
        self.0
            .encode(&mut bytes)
            .map_err(serde::ser::Error::custom)?;
        let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for StoredCommand {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let text = String::deserialize(deserializer)?;
        if text.len() % 2 != 0 || !text.is_ascii() {
            return Err(D::Error::custom(
                "a MAC command is an even number of hex digits",
            ));
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(D::Error::custom)?;
        let mut commands = parse_commands(&bytes, Direction::Downlink).map_err(D::Error::custom)?;
        match (commands.pop(), commands.is_empty()) {
            (Some(command), true) => Ok(StoredCommand(command)),
            _ => Err(D::Error::custom("expected exactly one MAC command")),
        }
    }
}

/// Whether a field holds its default (zero, nothing refused), which the stored document
/// leaves out and `#[serde(default)]` restores.
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

mod mask_hex {
    use lorawan::region::ChannelMask;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(mask: &ChannelMask, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:#x}", mask.bits()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ChannelMask, D::Error> {
        let text = String::deserialize(d)?;
        let digits = text.strip_prefix("0x").unwrap_or(&text);
        u128::from_str_radix(digits, 16)
            .map(ChannelMask::from_bits)
            .map_err(serde::de::Error::custom)
    }
}

mod region_name {
    use lorawan::region::Region;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(region: &Region, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(region.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Region, D::Error> {
        let text = String::deserialize(d)?;
        Region::from_name(&text).map_err(serde::de::Error::custom)
    }
}

mod version_text {
    use lorawan::join::MacVersion;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(version: &MacVersion, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(version)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MacVersion, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
