//! Uplink processing: the answers the device gives to the network's requests, the requests
//! the device makes, and what the network owes it in return.

use std::time::Duration;

use lorawan::join::MacVersion;
use lorawan::mac::{
    BeaconTimingAns, Cid, DeviceClass as WireClass, DeviceTimeAns, LinkAdrAns, LinkAdrReq,
    LinkCheckAns, MacCommand, MinorVersion,
};

use super::adr::{self, KEEP};
use super::state::{
    AbandonReason, ActivationMode, DevStatus, DeviceClass, DeviceParams, DlFrequency, ExtraChannel,
    MacState, PendingRequest, PendingStatus, RejoinParams, StoredCommand, TxParams, UplinkRecord,
    HISTORY_LEN,
};

/// Seconds from the Unix epoch to the GPS epoch (1980-01-06T00:00:00Z).
pub const GPS_EPOCH_UNIX_SECS: u64 = 315_964_800;
/// GPS − UTC in seconds, in force since 2017-01-01 (no leap second announced since).
pub const GPS_LEAP_SECONDS: u64 = 18;

/// The LoRaWAN minor version the network serves in `ResetConf` / `RekeyConf`: 1 (1.1).
const SERVED_MINOR: MinorVersion = MinorVersion { minor: 1 };

/// The CIDs whose answers are "sticky": the device repeats them in every uplink until it
/// receives a downlink. TS001 1.1 §5.5: "The RXParamSetupAns command MUST be added in the
/// FOpt field of all uplinks until a class A downlink is received by the end-device"; the
/// same for RXTimingSetupAns (§5.8) and DlChannelAns (§5.7). TxParamSetupAns is treated
/// alike, as deployed devices and The Things Stack do.
pub const STICKY_CIDS: [Cid; 4] = [
    Cid::RX_PARAM_SETUP,
    Cid::RX_TIMING_SETUP,
    Cid::TX_PARAM_SETUP,
    Cid::DL_CHANNEL,
];

/// What the network knows of one (deduplicated) uplink besides its MAC commands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UplinkFacts {
    /// The full 32-bit frame counter.
    pub fcnt: u32,
    /// The data rate the uplink was received at.
    pub data_rate: u8,
    /// FCtrl.ADR.
    pub adr: bool,
    /// FCtrl.ADRACKReq.
    pub adr_ack_req: bool,
    /// A confirmed data uplink (the device waits for an ACK).
    pub confirmed: bool,
    /// Best SNR over the receiving gateways, dB.
    pub max_snr: f32,
    /// Best RSSI over the receiving gateways, dBm.
    pub max_rssi: f32,
    /// Number of receiving gateways.
    pub gateway_count: u8,
    /// Reception time, ms since the Unix epoch.
    pub received_unix_ms: u64,
    /// GPS time of the end of the uplink (since the GPS epoch) when a gateway knows it
    /// precisely; otherwise [`UplinkFacts::received_unix_ms`] converted is used.
    pub gps_time: Option<Duration>,
}

impl UplinkFacts {
    /// GPS time of the uplink in ms since the GPS epoch.
    pub fn gps_ms(&self) -> u64 {
        match self.gps_time {
            // A u64 of ms covers 584 million years.
            Some(t) => u64::try_from(t.as_millis()).unwrap_or(u64::MAX),
            None => (self.received_unix_ms + GPS_LEAP_SECONDS * 1000)
                .saturating_sub(GPS_EPOCH_UNIX_SECS * 1000),
        }
    }
}

/// Something the integrator or the application server should know about.
#[derive(Debug, Clone, PartialEq)]
pub enum MacEvent {
    /// A `DevStatusAns` arrived.
    DevStatus(DevStatus),
    /// A 1.1 ABP device reset (`ResetInd`); the MAC state went back to the provisioned values.
    DeviceReset {
        /// The device's LoRaWAN minor version.
        minor: u8,
    },
    /// A 1.1 OTAA device confirmed its new session keys (`RekeyInd`): the integrator drops
    /// the previous security context.
    Rekeyed {
        /// The device's LoRaWAN minor version.
        minor: u8,
    },
    /// The device switched class (`DeviceModeInd`, 1.1).
    ClassChanged(DeviceClass),
    /// The device announced its class B ping-slot periodicity (`PingSlotInfoReq`).
    PingSlotInfo {
        /// One ping slot every 2^`periodicity` seconds.
        periodicity: u8,
    },
    /// The device accepted a request and the state now holds its values.
    Confirmed {
        /// The request's name.
        request: &'static str,
    },
    /// The device refused (part of) a request: nothing of it was applied.
    Refused {
        /// The request's name.
        request: &'static str,
        /// The refused parts, as the answer's status bits name them.
        parts: Vec<&'static str>,
    },
    /// A request was sent `attempts` times without an answer; the network stopped.
    GaveUp {
        /// The request's name.
        request: &'static str,
        /// How many times it was sent.
        attempts: u8,
    },
    /// A `LinkADRReq` block was answered by another number of `LinkADRAns` than the
    /// session's version has devices send (one per command in 1.0.2 to 1.0.4, one per block
    /// in 1.1); the answers were used all the same.
    LinkAdrAnswerCount {
        /// Answers expected.
        expected: usize,
        /// Answers received.
        answered: usize,
    },
}

/// Why an uplink MAC command was not acted upon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// An answer to no request of ours.
    Unsolicited,
    /// A sticky answer repeated because the device has not received a downlink since; the
    /// network answers it with a downlink.
    StickyRepeat,
    /// Not a command of the session's LoRaWAN version.
    NotInVersion,
    /// A CID unknown to the codec (proprietary, relay…).
    Unknown,
    /// A downlink command found in an uplink.
    WrongDirection,
    /// The uplink repeats the previous one (same FCnt): its commands were processed then.
    Retransmission,
    /// A value the specification leaves RFU.
    RfuValue,
    /// A command for the other activation (`ResetInd` from an OTAA device, `RekeyInd` from
    /// an ABP one), which the network ignores (TS001 1.1 §5.1, §5.10).
    WrongActivation,
}

/// An uplink MAC command that was not acted upon, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Ignored {
    /// The command.
    pub command: MacCommand,
    /// Why.
    pub reason: IgnoreReason,
}

/// What an uplink changed and what the network owes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UplinkOutcome {
    /// The network must send a Class A downlink (RX1 / RX2 of this uplink): a confirmed
    /// uplink to acknowledge, an `ADRACKReq` (TS001 1.0.4 §4.3.1.1: any downlink answers it,
    /// even with nothing to change), answers owed, sticky answers to stop, or requests to
    /// send.
    pub needs_downlink: bool,
    /// Events for the integrator and the application server.
    pub events: Vec<MacEvent>,
    /// Commands not acted upon, with the reason.
    pub ignored: Vec<Ignored>,
}

impl UplinkOutcome {
    fn ignore(&mut self, command: &MacCommand, reason: IgnoreReason) {
        self.ignored.push(Ignored {
            command: command.clone(),
            reason,
        });
    }
}

/// Processes the MAC commands of one uplink (FOpts, or FRMPayload on FPort 0), decoded with
/// [`lorawan::mac::parse_commands`] in [`lorawan::mac::Direction::Uplink`].
///
/// Call it once per deduplicated uplink, after the MIC and FCnt checks. A second call with
/// the same FCnt (a retransmission) changes nothing. Never panics, whatever the commands.
pub fn on_uplink(
    state: &mut MacState,
    uplink: &UplinkFacts,
    commands: &[MacCommand],
) -> UplinkOutcome {
    let mut out = UplinkOutcome::default();
    if state.last_fcnt == Some(uplink.fcnt) {
        for command in commands {
            out.ignore(command, IgnoreReason::Retransmission);
        }
        out.needs_downlink = uplink.confirmed || !state.owed.is_empty();
        return out;
    }
    // The answers owed to the previous uplink went out with its downlink or never will.
    state.owed.clear();
    state.last_fcnt = Some(uplink.fcnt);
    state.last_uplink_unix_ms = Some(uplink.received_unix_ms);

    let reset_ind = commands.iter().find_map(|c| match c {
        MacCommand::ResetInd(minor) => Some(*minor),
        _ => None,
    });
    if let (Some(minor), ActivationMode::Abp { provisioned }, true) =
        (reset_ind, &state.activation, state.is_1_1())
    {
        let provisioned = provisioned.clone();
        reset(state, provisioned, minor, &mut out);
    }
    answers(state, uplink, commands, &mut out);
    record(state, uplink);
    for command in commands {
        device_request(state, uplink, command, &mut out);
    }
    super::plan::plan(state, uplink);

    let sticky = !state.sticky_answers.is_empty();
    let requests = state
        .pending
        .iter()
        .any(|p| p.status == PendingStatus::Queued);
    out.needs_downlink =
        uplink.confirmed || uplink.adr_ack_req || sticky || requests || !state.owed.is_empty();
    out
}

/// `ResetInd` (1.1 ABP): the device went back to its provisioned parameters.
fn reset(
    state: &mut MacState,
    provisioned: DeviceParams,
    minor: MinorVersion,
    out: &mut UplinkOutcome,
) {
    // TS001 1.1 §5.1: "an ABP end-device indicates to the network that it has been
    // re-initialized and that it has switched back to its default MAC & radio parameters
    // (i.e the parameters originally programmed into the device at fabrication except for
    // the three frame counters). The ResetInd command MUST be added to the FOpt field of all
    // uplinks until a ResetConf is received." So this may run several times; each time the
    // requests in flight are void.
    state.confirmed = provisioned;
    state.pending.clear();
    state.sticky_answers.clear();
    state.history.clear();
    state.adr_limits = Default::default();
    // "The server's version carried by the ResetConf must be the same than the device's
    // version": 1 (LoRaWAN 1.1), the only minor both sides know.
    state
        .owed
        .push(StoredCommand(MacCommand::ResetConf(SERVED_MINOR)));
    out.events
        .push(MacEvent::DeviceReset { minor: minor.minor });
}

fn is_answer(command: &MacCommand) -> bool {
    use MacCommand as M;
    matches!(
        command,
        M::LinkAdrAns(_)
            | M::DutyCycleAns
            | M::RxParamSetupAns(_)
            | M::DevStatusAns(_)
            | M::NewChannelAns(_)
            | M::RxTimingSetupAns
            | M::TxParamSetupAns
            | M::DlChannelAns(_)
            | M::AdrParamSetupAns
            | M::RejoinParamSetupAns(_)
            | M::PingSlotChannelAns(_)
            | M::BeaconFreqAns(_)
    )
}

/// Matches the answers of the uplink with the sent requests, in order, per CID.
fn answers(
    state: &mut MacState,
    up: &UplinkFacts,
    commands: &[MacCommand],
    out: &mut UplinkOutcome,
) {
    let mut unused: Vec<Option<&MacCommand>> =
        commands.iter().map(|c| is_answer(c).then_some(c)).collect();
    let mut take = |cid: Cid, count: usize| -> Vec<MacCommand> {
        let mut taken = Vec::new();
        for slot in unused.iter_mut() {
            if taken.len() == count {
                break;
            }
            if slot.is_some_and(|c| c.cid() == cid) {
                taken.extend(slot.take().cloned());
            }
        }
        taken
    };
    let max_attempts = state.profile.max_attempts.max(1);
    let mut keep = Vec::new();
    for mut entry in std::mem::take(&mut state.pending) {
        let (PendingStatus::Sent { .. }, Some(cid)) = (entry.status, entry.cid()) else {
            keep.push(entry);
            continue;
        };
        let count = if Cid(cid) == Cid::LINK_ADR {
            entry.commands.len()
        } else {
            1
        };
        let got = take(Cid(cid), count);
        if got.is_empty() {
            // Unanswered: the downlink or the answer was lost. Send again, up to the limit.
            if entry.attempts >= max_attempts {
                out.events.push(MacEvent::GaveUp {
                    request: entry.commands.first().map_or("Unknown", |c| c.0.name()),
                    attempts: entry.attempts,
                });
                state.abandon(entry.commands, AbandonReason::Unanswered);
            } else {
                entry.status = PendingStatus::Queued;
                keep.push(entry);
            }
            continue;
        }
        apply(state, up, &entry, &got, out);
    }
    // Requests planned while processing (none today) go after the kept ones.
    keep.append(&mut state.pending);
    state.pending = keep;

    for command in unused.into_iter().flatten() {
        let cid = command.cid();
        let reason = if STICKY_CIDS.contains(&cid) && state.sticky_answers.contains(&cid.0) {
            IgnoreReason::StickyRepeat
        } else {
            IgnoreReason::Unsolicited
        };
        out.ignore(command, reason);
    }
    let mut sticky: Vec<u8> = commands
        .iter()
        .filter(|c| is_answer(c) && STICKY_CIDS.contains(&c.cid()))
        .map(|c| c.cid().0)
        .collect();
    sticky.sort_unstable();
    sticky.dedup();
    state.sticky_answers = sticky;
}

/// Applies the answers `got` to the sent request `entry`.
fn apply(
    state: &mut MacState,
    up: &UplinkFacts,
    entry: &PendingRequest,
    got: &[MacCommand],
    out: &mut UplinkOutcome,
) {
    use MacCommand as M;
    let (Some(StoredCommand(request_command)), Some(answer)) =
        (entry.commands.first(), got.first())
    else {
        return;
    };
    let request = request_command.name();
    let refused = |state: &mut MacState, out: &mut UplinkOutcome, parts: Vec<&'static str>| {
        out.events.push(MacEvent::Refused { request, parts });
        state.abandon(entry.commands.clone(), AbandonReason::Refused);
    };
    let c = &mut state.confirmed;
    let confirmed = match (request_command, answer) {
        (M::LinkAdrReq(_), _) => return link_adr(state, up, entry, got, out),
        (M::RxParamSetupReq(r), M::RxParamSetupAns(a)) => {
            // TS001 1.1 §5.5: "If either of the 3 bits is equal to 0, the command did not
            // succeed and the previous parameters MUST be kept."
            if a.rx1_dr_offset_ack && a.rx2_data_rate_ack && a.channel_ack {
                c.rx1_dr_offset = r.rx1_dr_offset;
                c.rx2_data_rate = r.rx2_data_rate;
                c.rx2_frequency = r.frequency;
                true
            } else {
                let parts = [
                    (!a.rx1_dr_offset_ack, "RX1DROffset"),
                    (!a.rx2_data_rate_ack, "RX2DataRate"),
                    (!a.channel_ack, "Channel"),
                ];
                refused(
                    state,
                    out,
                    parts.iter().filter(|p| p.0).map(|p| p.1).collect(),
                );
                false
            }
        }
        (M::DutyCycleReq(r), M::DutyCycleAns) => {
            c.max_duty_cycle = r.max_duty_cycle;
            true
        }
        (M::DevStatusReq, M::DevStatusAns(a)) => {
            let status = DevStatus {
                battery: a.battery,
                margin: a.margin,
                fcnt: up.fcnt,
            };
            state.dev_status = Some(status);
            out.events.push(MacEvent::DevStatus(status));
            false
        }
        (M::NewChannelReq(r), M::NewChannelAns(a)) => {
            if a.data_rate_range_ok && a.channel_frequency_ok {
                let index = r.ch_index;
                c.extra_channels.retain(|x| x.index != index);
                // TS001 1.1 §5.7: "The newly defined or modified channel is enabled and can
                // immediately be used for communication. The RX1 downlink frequency is set
                // equal to the uplink frequency." A frequency of 0 disables the channel.
                c.dl_frequencies.retain(|x| x.index != index);
                let enabled = r.frequency != 0;
                if enabled {
                    c.extra_channels.push(ExtraChannel {
                        index,
                        frequency: r.frequency,
                        min_dr: r.min_dr,
                        max_dr: r.max_dr,
                    });
                    c.extra_channels.sort_by_key(|x| x.index);
                }
                c.enabled_channels = c.enabled_channels.with(usize::from(index), enabled);
                true
            } else {
                let parts = [
                    (!a.data_rate_range_ok, "DataRateRange"),
                    (!a.channel_frequency_ok, "ChannelFrequency"),
                ];
                refused(
                    state,
                    out,
                    parts.iter().filter(|p| p.0).map(|p| p.1).collect(),
                );
                false
            }
        }
        (M::RxTimingSetupReq(r), M::RxTimingSetupAns) => {
            c.rx1_delay = r.seconds();
            true
        }
        (M::TxParamSetupReq(r), M::TxParamSetupAns) => {
            c.tx_params = Some(TxParams {
                uplink_dwell_time: r.uplink_dwell_time,
                downlink_dwell_time: r.downlink_dwell_time,
                max_eirp: r.max_eirp,
            });
            true
        }
        (M::DlChannelReq(r), M::DlChannelAns(a)) => {
            if a.uplink_frequency_exists && a.channel_frequency_ok {
                c.dl_frequencies.retain(|x| x.index != r.ch_index);
                c.dl_frequencies.push(DlFrequency {
                    index: r.ch_index,
                    frequency: r.frequency,
                });
                c.dl_frequencies.sort_by_key(|x| x.index);
                true
            } else {
                let parts = [
                    (!a.uplink_frequency_exists, "UplinkFrequencyExists"),
                    (!a.channel_frequency_ok, "ChannelFrequency"),
                ];
                refused(
                    state,
                    out,
                    parts.iter().filter(|p| p.0).map(|p| p.1).collect(),
                );
                false
            }
        }
        (M::AdrParamSetupReq(r), M::AdrParamSetupAns) => {
            c.adr_ack_limit_exp = r.limit_exp;
            c.adr_ack_delay_exp = r.delay_exp;
            true
        }
        (M::RejoinParamSetupReq(r), M::RejoinParamSetupAns(a)) => {
            // TS001 1.1 §5.14: "If Bit 0 = 1, the device has accepted Time and Count
            // limitations, otherwise it only accepts the count limitation."
            let time = if a.time_ok {
                r.max_time_n
            } else {
                c.rejoin.map_or(r.max_time_n, |p| p.max_time_n)
            };
            c.rejoin = Some(RejoinParams {
                max_time_n: time,
                max_count_n: r.max_count_n,
            });
            if !a.time_ok {
                refused(state, out, vec!["TimeOK"]);
            }
            a.time_ok
        }
        (M::PingSlotChannelReq(r), M::PingSlotChannelAns(a)) => {
            if a.data_rate_ok && a.channel_frequency_ok {
                c.ping_slot_frequency = r.frequency;
                c.ping_slot_data_rate = r.data_rate;
                true
            } else {
                let parts = [
                    (!a.data_rate_ok, "DataRateOK"),
                    (!a.channel_frequency_ok, "ChannelFrequencyOK"),
                ];
                refused(
                    state,
                    out,
                    parts.iter().filter(|p| p.0).map(|p| p.1).collect(),
                );
                false
            }
        }
        (M::BeaconFreqReq(r), M::BeaconFreqAns(a)) => {
            if a.beacon_frequency_ok {
                c.beacon_frequency = r.frequency;
                true
            } else {
                refused(state, out, vec!["BeaconFrequencyOK"]);
                false
            }
        }
        // Same CID, so the pairs above are exhaustive for the requests we send; anything
        // else would be a stored request of another kind: drop it quietly.
        _ => false,
    };
    if confirmed {
        out.events.push(MacEvent::Confirmed { request });
    }
}

/// `LinkADRAns` for a `LinkADRReq` block.
fn link_adr(
    state: &mut MacState,
    up: &UplinkFacts,
    entry: &PendingRequest,
    got: &[MacCommand],
    out: &mut UplinkOutcome,
) {
    let reqs: Vec<LinkAdrReq> = entry
        .commands
        .iter()
        .filter_map(|c| match c.0 {
            MacCommand::LinkAdrReq(r) => Some(r),
            _ => None,
        })
        .collect();
    let answers: Vec<LinkAdrAns> = got
        .iter()
        .filter_map(|c| match c {
            MacCommand::LinkAdrAns(a) => Some(*a),
            _ => None,
        })
        .collect();
    let Some(last) = reqs.last().copied() else {
        return;
    };
    // A contiguous block is applied atomically. LoRaWAN 1.0.2 to 1.0.4 devices answer each
    // LinkADRReq of the block with a LinkADRAns of the same status; TS001 1.1 §5.3: "The
    // end-device MUST send a single LinkADRAns command to accept or reject an entire ADR
    // atomic command block."
    let expected = if (MacVersion::V1_0_2..MacVersion::V1_1).contains(&state.version) {
        reqs.len()
    } else {
        1
    };
    if answers.len() != expected {
        out.events.push(MacEvent::LinkAdrAnswerCount {
            expected,
            answered: answers.len(),
        });
    }
    let power_ack = answers.iter().all(|a| a.power_ack);
    let dr_ack = answers.iter().all(|a| a.data_rate_ack);
    let mask_ack = answers.iter().all(|a| a.channel_mask_ack);
    let params = state.params();
    let masks: Vec<(u8, u16)> = reqs.iter().map(|r| (r.ch_mask_cntl, r.ch_mask)).collect();
    let keeps_nb_trans = state.keeps_0xf();
    let c = &mut state.confirmed;
    let defined = c.defined_channels(params);
    let apply_mask = |c: &mut DeviceParams| {
        if let Ok(mask) = params.apply_link_adr_block(&masks, c.enabled_channels, defined) {
            c.enabled_channels = mask;
        }
        // TS001 1.1 §5.3: "If NbTrans==0 is received the end-device SHALL keep the current
        // NbTrans value unchanged" (1.0.4 alike); earlier versions took 0 as the default, 1.
        if last.nb_trans != 0 {
            c.nb_trans = last.nb_trans;
        } else if !keeps_nb_trans {
            c.nb_trans = 1;
        }
    };
    if power_ack && dr_ack && mask_ack {
        apply_mask(c);
        if last.data_rate != KEEP {
            c.data_rate = last.data_rate;
        }
        if last.tx_power != KEEP {
            c.tx_power = last.tx_power;
        }
        out.events.push(MacEvent::Confirmed {
            request: "LinkADRReq",
        });
        return;
    }
    if mask_ack && !up.adr {
        // A device running without ADR applies the channel mask (and NbTrans) and refuses
        // the data rate and TX power it does not let the network control.
        apply_mask(c);
    } else if !dr_ack && last.data_rate != KEEP && last.data_rate > 0 {
        // "If any of those three bits equals 0, the command did not succeed and the node has
        // kept the previous state" (TS001 1.1 §5.3): nothing applied. Stay below what was
        // refused so ADR does not ask again.
        let cap = last.data_rate - 1;
        let limits = &mut state.adr_limits;
        limits.max_data_rate = Some(limits.max_data_rate.map_or(cap, |m| m.min(cap)));
    }
    if !power_ack && last.tx_power != KEEP && last.tx_power > 0 && up.adr {
        let cap = last.tx_power - 1;
        let limits = &mut state.adr_limits;
        limits.max_tx_power = Some(limits.max_tx_power.map_or(cap, |m| m.min(cap)));
    }
    let parts = [
        (!power_ack, "PowerACK"),
        (!dr_ack, "DataRateACK"),
        (!mask_ack, "ChannelMaskACK"),
    ];
    out.events.push(MacEvent::Refused {
        request: "LinkADRReq",
        parts: parts.iter().filter(|p| p.0).map(|p| p.1).collect(),
    });
    if !mask_ack {
        state.abandon(entry.commands.clone(), AbandonReason::Refused);
    }
}

/// Adds the uplink to the ADR history and follows the device's data rate.
fn record(state: &mut MacState, up: &UplinkFacts) {
    let c = &mut state.confirmed;
    if up.adr && up.data_rate < c.data_rate {
        // The device's ADR back-off (TS001 1.0.4 §4.3.1.1) first sets the maximum TX power,
        // then lowers the data rate: a lower data rate than confirmed means full power.
        c.tx_power = 0;
    }
    c.data_rate = up.data_rate;
    let record = UplinkRecord {
        fcnt: up.fcnt,
        max_snr: up.max_snr,
        gateway_count: up.gateway_count,
        data_rate: up.data_rate,
        tx_power: c.tx_power,
    };
    // Room is made before the push and the history is allocated at its final size: every
    // heard device keeps one, and a vector grown by doubling would hold 32 records for 20.
    let history = &mut state.history;
    if history.len() >= HISTORY_LEN {
        history.drain(..=history.len() - HISTORY_LEN);
    }
    if history.capacity() < HISTORY_LEN {
        history.reserve_exact(HISTORY_LEN - history.len());
    } else if history.capacity() > HISTORY_LEN {
        history.shrink_to(HISTORY_LEN);
    }
    history.push(record);
}

/// A request made by the device: owe the answer.
fn device_request(
    state: &mut MacState,
    up: &UplinkFacts,
    command: &MacCommand,
    out: &mut UplinkOutcome,
) {
    use MacCommand as M;
    let owe = |state: &mut MacState, answer| state.owed.push(StoredCommand(answer));
    match command {
        M::LinkCheckReq => {
            // Margin: dB above the demodulation floor of the uplink's data rate (0..=254).
            let required = adr::required_snr_db(state.params(), up.data_rate).unwrap_or(0.0);
            let margin = (up.max_snr - required).round().clamp(0.0, 254.0);
            let answer = LinkCheckAns {
                // Rounded and clamped to 0..=254 just above.
                margin: margin as u8,
                gateway_count: up.gateway_count,
            };
            owe(state, M::LinkCheckAns(answer));
        }
        M::DeviceTimeReq => {
            let ms = up.gps_ms();
            let answer = DeviceTimeAns {
                // "GPS epoch seconds modulo 2^32": the truncation is the wire format.
                seconds: (ms / 1000) as u32,
                // (ms % 1000) * 256 / 1000 < 256.
                fractional: ((ms % 1000) * 256 / 1000) as u8,
            };
            owe(state, M::DeviceTimeAns(answer));
        }
        M::ResetInd(_) | M::RekeyInd(_) | M::DeviceModeInd(_) if !state.is_1_1() => {
            out.ignore(command, IgnoreReason::NotInVersion)
        }
        // TS001 1.1 §5.1: "The Network Server SHALL ignore the ResetInd command coming from
        // an OTA device."
        M::ResetInd(_) if state.activation == ActivationMode::Otaa => {
            out.ignore(command, IgnoreReason::WrongActivation)
        }
        M::ResetInd(_) => {}
        // TS001 1.1 §5.10: "The Network Server SHALL ignore the RekeyInd command coming from
        // an ABP device."
        M::RekeyInd(_) if state.activation != ActivationMode::Otaa => {
            out.ignore(command, IgnoreReason::WrongActivation)
        }
        M::RekeyInd(minor) => {
            // "When a RekeyInd is received by the Network Server, it responds with a
            // RekeyConf command" (§5.10); "for a LoRaWAN1.1 device the only valid value is
            // 1". The device repeats RekeyInd until it receives RekeyConf.
            owe(state, M::RekeyConf(SERVED_MINOR));
            out.events.push(MacEvent::Rekeyed { minor: minor.minor });
        }
        M::DeviceModeInd(class) => {
            let to = match class {
                WireClass::A => DeviceClass::A,
                WireClass::C => DeviceClass::C,
                WireClass::Other(_) => return out.ignore(command, IgnoreReason::RfuValue),
            };
            // TS001 1.1 class C (DeviceModeInd): the network confirms the class it will serve
            // with DeviceModeConf.
            state.class = to;
            owe(state, M::DeviceModeConf(*class));
            out.events.push(MacEvent::ClassChanged(to));
        }
        M::PingSlotInfoReq(info) => {
            state.confirmed.ping_slot_periodicity = Some(info.periodicity);
            owe(state, M::PingSlotInfoAns);
            out.events.push(MacEvent::PingSlotInfo {
                periodicity: info.periodicity,
            });
        }
        M::BeaconTimingReq if state.is_1_1() => out.ignore(command, IgnoreReason::NotInVersion),
        M::BeaconTimingReq => {
            let answer = beacon_timing(state, up);
            owe(state, M::BeaconTimingAns(answer));
        }
        M::Unknown { .. } => out.ignore(command, IgnoreReason::Unknown),
        c if is_answer(c) => {}
        _ => out.ignore(command, IgnoreReason::WrongDirection),
    }
}

/// `BeaconTimingAns` (class B of 1.0.x): the time from the end of the RX1 downlink to the
/// next beacon in 30 ms steps, and the beacon channel (hopping regions: beacon time / 128 s
/// mod the number of channels).
fn beacon_timing(state: &MacState, up: &UplinkFacts) -> BeaconTimingAns {
    const PERIOD_MS: u64 = 128_000;
    let downlink = up.gps_ms() + u64::from(state.confirmed.rx1_delay.max(1)) * 1000;
    let next = (downlink / PERIOD_MS + 1) * PERIOD_MS;
    let channels = state.params().beacon_frequencies.len().max(1) as u64;
    BeaconTimingAns {
        // At most 128 000 / 30 < 2^16.
        delay: ((next - downlink) / 30) as u16,
        // < the number of channels (≤ 8).
        channel: ((next / PERIOD_MS) % channels) as u8,
    }
}
