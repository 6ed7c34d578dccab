//! Downlink planning: which requests the network wants to send, and which commands (answers
//! owed first, then requests) go into the next downlink within its size budget.

use lorawan::join::MacVersion;
use lorawan::mac::{
    AdrParamSetupReq, BeaconFreqReq, Cid, DlChannelReq, DutyCycleReq, MacCommand, MacError,
    NewChannelReq, PingSlotChannelReq, RejoinParamSetupReq, RxParamSetupReq, RxTimingSetupReq,
    TxParamSetupReq,
};
use lorawan::region::{ChannelMask, ChannelPlan};

use super::adr::{self, AdrSettings};
use super::state::{
    AbandonReason, MacState, Origin, PendingRequest, PendingStatus, RequestMark, StoredCommand,
};
use super::uplink::{UplinkFacts, STICKY_CIDS};

/// The most MAC-command bytes FOpts can carry (FCtrl.FOptsLen is 4 bits).
pub const FOPTS_MAX_LEN: usize = 15;

/// Where the MAC commands of a downlink travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacCarrier {
    /// In FOpts: at most [`FOPTS_MAX_LEN`] bytes, beside an application payload.
    FOpts,
    /// As the FRMPayload on FPort 0 (no application payload): at most `max_len` bytes, the
    /// region's N for the downlink data rate.
    Port0 {
        /// The largest FRMPayload the downlink may carry.
        max_len: usize,
    },
}

/// The MAC commands chosen for one downlink.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownlinkMac {
    /// The commands, answers first, in the order they are encoded.
    pub commands: Vec<MacCommand>,
    /// Their encoding (`CID ‖ payload` each), for FOpts or FRMPayload.
    pub bytes: Vec<u8>,
    /// Commands that did not fit: requests stay queued, answers are dropped.
    pub left_out: usize,
}

/// Why [`enqueue`] refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnqueueError {
    /// Only network requests can be queued (not answers, not uplink commands).
    #[error("{0} is not a request the network sends")]
    NotARequest(&'static str),
    /// A command of a later LoRaWAN version than the session's.
    #[error("{command} needs LoRaWAN {needs}, the session is {session}")]
    NotInVersion {
        /// The command.
        command: &'static str,
        /// The version it needs.
        needs: MacVersion,
        /// The session's version.
        session: MacVersion,
    },
    /// A command the region does not use (TxParamSetupReq outside AS923 / AU915, …).
    #[error("{0} is not used in this region")]
    NotInRegion(&'static str),
    /// A field does not fit its bit width.
    #[error(transparent)]
    Invalid(#[from] MacError),
}

/// The ADR bit of the network's downlinks: set when the profile runs ADR (the 1.0.4 default:
/// the network tells the device it can control its data rate and power).
pub fn downlink_adr(state: &MacState) -> bool {
    state.profile.adr.enabled
}

/// Queues a request asked for by an operator (ForceRejoinReq, DevStatusReq, a
/// NewChannelReq…); it goes out with the next downlink and is retried like the network's own.
pub fn enqueue(state: &mut MacState, command: MacCommand) -> Result<(), EnqueueError> {
    use MacCommand as M;
    let name = command.name();
    let needs = match command {
        M::AdrParamSetupReq(_) | M::ForceRejoinReq(_) | M::RejoinParamSetupReq(_) => {
            MacVersion::V1_1
        }
        M::DlChannelReq(_) => MacVersion::V1_0_2,
        M::LinkAdrReq(_)
        | M::DutyCycleReq(_)
        | M::RxParamSetupReq(_)
        | M::DevStatusReq
        | M::NewChannelReq(_)
        | M::RxTimingSetupReq(_)
        | M::TxParamSetupReq(_)
        | M::PingSlotChannelReq(_)
        | M::BeaconFreqReq(_) => MacVersion::V1_0_0,
        _ => return Err(EnqueueError::NotARequest(name)),
    };
    if state.version < needs {
        return Err(EnqueueError::NotInVersion {
            command: name,
            needs,
            session: state.version,
        });
    }
    if matches!(command, M::TxParamSetupReq(_)) && !state.params().tx_param_setup {
        return Err(EnqueueError::NotInRegion(name));
    }
    command.encode(&mut Vec::new())?;
    state
        .pending
        .push(PendingRequest::queued(vec![command], Origin::Operator));
    Ok(())
}

/// Chooses the MAC commands of the next downlink: the answers owed to the last uplink
/// first, then the queued requests in order, as many as fit in `carrier`. Requests that go
/// out are marked sent (an answer is expected in the next uplink); `ForceRejoinReq`, which
/// has no answer, is simply dropped from the queue.
///
/// Call it once per downlink actually built, after [`on_uplink`](super::on_uplink). A
/// downlink without application payload should use [`MacCarrier::Port0`]: a `LinkADRReq`
/// block of a fixed-plan region (up to five commands, 25 bytes) may not fit in FOpts, and
/// [`DownlinkMac::left_out`] counts what stayed behind. The caller still checks that FOpts
/// and its application payload fit the data rate's maximum payload.
pub fn commands_for_downlink(state: &mut MacState, carrier: MacCarrier) -> DownlinkMac {
    let budget = match carrier {
        MacCarrier::FOpts => FOPTS_MAX_LEN,
        MacCarrier::Port0 { max_len } => max_len,
    };
    let mut plan = DownlinkMac::default();
    for answer in std::mem::take(&mut state.owed) {
        if add(&mut plan, budget, std::slice::from_ref(&answer.0)) != Fit::Added {
            plan.left_out += 1;
        }
    }
    let after_fcnt = state.last_fcnt;
    let mut keep = Vec::new();
    for mut entry in std::mem::take(&mut state.pending) {
        if entry.status != PendingStatus::Queued {
            keep.push(entry);
            continue;
        }
        let commands: Vec<MacCommand> = entry.commands.iter().map(|c| c.0.clone()).collect();
        // An empty entry (a damaged stored state) is dropped.
        let Some(first) = commands.first().cloned() else {
            continue;
        };
        match add(&mut plan, budget, &commands) {
            Fit::NoRoom => {
                plan.left_out += commands.len();
                keep.push(entry);
            }
            Fit::Invalid => state.abandon(entry.commands, AbandonReason::Refused),
            Fit::Added => {
                if first == MacCommand::DevStatusReq {
                    state.dev_status_requested = Some(RequestMark {
                        fcnt: after_fcnt.unwrap_or(0),
                        unix_ms: state.last_uplink_unix_ms.unwrap_or(0),
                    });
                }
                // ForceRejoinReq has no answer: the device sends rejoin-requests.
                if first.cid() != Cid::FORCE_REJOIN {
                    entry.status = PendingStatus::Sent { after_fcnt };
                    entry.attempts = entry.attempts.saturating_add(1);
                    keep.push(entry);
                }
            }
        }
    }
    state.pending = keep;
    plan
}

/// The downlink chosen by [`commands_for_downlink`] was not transmitted (the gateway
/// refused it, no gateway was free): its requests go back to the queue without counting an
/// attempt and its answers are owed again.
pub fn on_downlink_lost(state: &mut MacState, sent: &DownlinkMac) {
    for entry in &mut state.pending {
        let in_plan = entry.commands.iter().all(|c| sent.commands.contains(&c.0));
        if in_plan
            && entry.status
                == (PendingStatus::Sent {
                    after_fcnt: state.last_fcnt,
                })
        {
            entry.status = PendingStatus::Queued;
            entry.attempts = entry.attempts.saturating_sub(1);
        }
    }
    for command in &sent.commands {
        use MacCommand as M;
        if matches!(
            command,
            M::LinkCheckAns(_)
                | M::DeviceTimeAns(_)
                | M::ResetConf(_)
                | M::RekeyConf(_)
                | M::PingSlotInfoAns
                | M::BeaconTimingAns(_)
                | M::DeviceModeConf(_)
        ) {
            state.owed.push(StoredCommand(command.clone()));
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Fit {
    Added,
    NoRoom,
    Invalid,
}

/// Adds `commands` to `plan` if they all fit in `budget`; a `LinkADRReq` block goes whole.
fn add(plan: &mut DownlinkMac, budget: usize, commands: &[MacCommand]) -> Fit {
    let mut bytes = Vec::new();
    if lorawan::mac::encode_commands(commands, &mut bytes).is_err() {
        return Fit::Invalid;
    }
    if plan.bytes.len() + bytes.len() > budget {
        return Fit::NoRoom;
    }
    plan.bytes.extend_from_slice(&bytes);
    plan.commands.extend_from_slice(commands);
    Fit::Added
}

/// Plans the network's requests after an uplink: the ADR / channel-mask `LinkADRReq`, the
/// wanted parameters that differ from the confirmed ones, the periodic `DevStatusReq`.
pub(super) fn plan(state: &mut MacState, up: &UplinkFacts) {
    // Requests planned after an earlier uplink and never sent are planned anew from the
    // latest state (ADR history, profile changes).
    state.pending.retain(|p| {
        !(p.status == PendingStatus::Queued && p.attempts == 0 && p.origin == Origin::Network)
    });
    plan_link_adr(state, up);
    plan_parameters(state);
    plan_dev_status(state, up);
}

fn plan_link_adr(state: &mut MacState, up: &UplinkFacts) {
    if state
        .pending
        .iter()
        .any(|p| p.cid() == Some(Cid::LINK_ADR.0))
    {
        return;
    }
    let params = state.params();
    let c = &state.confirmed;
    let wanted_mask = state
        .profile
        .wanted
        .enabled_channels
        .intersection(c.defined_channels(params));
    let mask_change = !wanted_mask.is_empty()
        && wanted_mask != c.enabled_channels
        && !mask_refused(state, wanted_mask);
    let current = AdrSettings {
        data_rate: c.data_rate,
        tx_power: c.tx_power,
        nb_trans: c.nb_trans,
    };
    // TS001 1.0.4 §4.3.1.1: with the ADR bit unset the network does not control the data
    // rate; ADR runs only on uplinks that set it.
    let target = if up.adr && state.profile.adr.enabled {
        adr::decide(
            params,
            &state.profile.adr,
            &state.adr_limits,
            c,
            current,
            &state.history,
        )
    } else {
        current
    };
    if target == current && !mask_change {
        return;
    }
    let mask = if mask_change {
        wanted_mask
    } else {
        c.enabled_channels
    };
    if let Ok(block) = adr::link_adr_block(params, state.keeps_0xf(), current, target, mask) {
        let commands: Vec<MacCommand> = block.into_iter().map(MacCommand::LinkAdrReq).collect();
        // The same block, given up on or refused before, is not sent again.
        let abandoned = state
            .abandoned
            .iter()
            .any(|a| a.commands.iter().map(|c| &c.0).eq(commands.iter()));
        if abandoned {
            return;
        }
        state
            .pending
            .push(PendingRequest::queued(commands, Origin::Network));
    }
}

/// Whether the device refused a `LinkADRReq` block with this channel mask before.
fn mask_refused(state: &MacState, mask: ChannelMask) -> bool {
    let params = state.params();
    let Ok(masks) = params.link_adr_masks(mask) else {
        return true;
    };
    state.abandoned.iter().any(|a| {
        a.reason == AbandonReason::Refused
            && a.commands.len() == masks.len()
            && a.commands.iter().zip(&masks).all(|(c, m)| {
                matches!(c.0, MacCommand::LinkAdrReq(r) if (r.ch_mask_cntl, r.ch_mask) == *m)
            })
    })
}

fn plan_parameters(state: &mut MacState) {
    let params = state.params();
    let c = state.confirmed.clone();
    let w = state.profile.wanted.clone();
    let mut wants = Vec::new();
    if (w.rx1_dr_offset, w.rx2_data_rate, w.rx2_frequency)
        != (c.rx1_dr_offset, c.rx2_data_rate, c.rx2_frequency)
    {
        wants.push(MacCommand::RxParamSetupReq(RxParamSetupReq {
            rx1_dr_offset: w.rx1_dr_offset,
            rx2_data_rate: w.rx2_data_rate,
            frequency: w.rx2_frequency,
        }));
    }
    if w.rx1_delay.max(1) != c.rx1_delay.max(1) {
        wants.push(MacCommand::RxTimingSetupReq(RxTimingSetupReq {
            delay: w.rx1_delay,
        }));
    }
    if w.max_duty_cycle != c.max_duty_cycle {
        wants.push(MacCommand::DutyCycleReq(DutyCycleReq {
            max_duty_cycle: w.max_duty_cycle,
        }));
    }
    if let Some(t) = w
        .tx_params
        .filter(|t| params.tx_param_setup && Some(*t) != c.tx_params)
    {
        wants.push(MacCommand::TxParamSetupReq(TxParamSetupReq {
            downlink_dwell_time: t.downlink_dwell_time,
            uplink_dwell_time: t.uplink_dwell_time,
            max_eirp: t.max_eirp,
        }));
    }
    if params.plan == ChannelPlan::Dynamic {
        for ch in &w.extra_channels {
            if !c.extra_channels.contains(ch) {
                wants.push(MacCommand::NewChannelReq(NewChannelReq {
                    ch_index: ch.index,
                    frequency: ch.frequency,
                    max_dr: ch.max_dr,
                    min_dr: ch.min_dr,
                }));
            }
        }
        for ch in &c.extra_channels {
            if !w.extra_channels.iter().any(|x| x.index == ch.index) {
                // Frequency 0 deletes the channel (TS001 1.0.4 §5.6).
                wants.push(MacCommand::NewChannelReq(NewChannelReq {
                    ch_index: ch.index,
                    frequency: 0,
                    max_dr: 0,
                    min_dr: 0,
                }));
            }
        }
        if state.version >= MacVersion::V1_0_2 {
            let defined = c.defined_channels(params);
            for dl in &w.dl_frequencies {
                if defined.contains(usize::from(dl.index)) && !c.dl_frequencies.contains(dl) {
                    wants.push(MacCommand::DlChannelReq(DlChannelReq {
                        ch_index: dl.index,
                        frequency: dl.frequency,
                    }));
                }
            }
        }
    }
    if state.is_1_1() {
        if (w.adr_ack_limit_exp, w.adr_ack_delay_exp) != (c.adr_ack_limit_exp, c.adr_ack_delay_exp)
        {
            wants.push(MacCommand::AdrParamSetupReq(AdrParamSetupReq {
                limit_exp: w.adr_ack_limit_exp,
                delay_exp: w.adr_ack_delay_exp,
            }));
        }
        if let Some(r) = w.rejoin.filter(|r| Some(*r) != c.rejoin) {
            wants.push(MacCommand::RejoinParamSetupReq(RejoinParamSetupReq {
                max_time_n: r.max_time_n,
                max_count_n: r.max_count_n,
            }));
        }
    }
    // Class B parameters only once the device said it does class B (PingSlotInfoReq).
    if c.ping_slot_periodicity.is_some() {
        if (w.ping_slot_frequency, w.ping_slot_data_rate)
            != (c.ping_slot_frequency, c.ping_slot_data_rate)
        {
            wants.push(MacCommand::PingSlotChannelReq(PingSlotChannelReq {
                frequency: w.ping_slot_frequency,
                data_rate: w.ping_slot_data_rate,
            }));
        }
        if w.beacon_frequency != c.beacon_frequency {
            wants.push(MacCommand::BeaconFreqReq(BeaconFreqReq {
                frequency: w.beacon_frequency,
            }));
        }
    }
    for command in wants {
        push_unless_pending(state, command);
    }
}

fn plan_dev_status(state: &mut MacState, up: &UplinkFacts) {
    let policy = state.profile.dev_status;
    let due = match state.dev_status_requested {
        None => policy.every_uplinks.is_some() || policy.every_secs.is_some(),
        Some(mark) => {
            policy
                .every_uplinks
                .is_some_and(|n| up.fcnt.wrapping_sub(mark.fcnt) >= n)
                || policy.every_secs.is_some_and(|s| {
                    up.received_unix_ms.saturating_sub(mark.unix_ms) >= s.saturating_mul(1000)
                })
        }
    };
    if due {
        push_unless_pending(state, MacCommand::DevStatusReq);
    }
}

/// Queues `command` unless one for the same target is pending, an identical one was
/// abandoned, or (sticky answers) the last uplink carried an answer of the same CID: a new
/// answer could not be told from the repeated one.
fn push_unless_pending(state: &mut MacState, command: MacCommand) {
    let cid = command.cid();
    if STICKY_CIDS.contains(&cid) && state.sticky_answers.contains(&cid.0) {
        return;
    }
    if state.is_abandoned(&command) {
        return;
    }
    let same_target = |other: &MacCommand| match (other, &command) {
        (MacCommand::NewChannelReq(a), MacCommand::NewChannelReq(b)) => a.ch_index == b.ch_index,
        (MacCommand::DlChannelReq(a), MacCommand::DlChannelReq(b)) => a.ch_index == b.ch_index,
        (a, b) => a.cid() == b.cid(),
    };
    if state
        .pending
        .iter()
        .any(|p| p.commands.iter().any(|c| same_target(&c.0)))
    {
        return;
    }
    state
        .pending
        .push(PendingRequest::queued(vec![command], Origin::Network));
}
