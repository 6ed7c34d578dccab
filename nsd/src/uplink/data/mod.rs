//! Which device sent a data uplink, and with which full frame counter: the pure decision at
//! the heart of the uplink path.
//!
//! Several devices may share a DevAddr; for each candidate session the 16-bit FCnt on the air
//! is extended to 32 bits against the session's next expected counter and the MIC is
//! checked with that counter. The first candidate whose MIC matches sent the frame. A frame
//! whose MIC matches only with a counter *below* the expected one is a replay, and says so.

use lorawan::crypto::UplinkMicParams;
use lorawan::fcnt::{self, FCntStep, GapPolicy};
use lorawan::join::MacVersion;
use lorawan::phy::DataFrame;

use crate::device::{PreparedKeys, Session};

/// One device that may have sent the frame.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Its session.
    pub session: &'a Session,
    /// Its session keys, expanded.
    pub keys: &'a PreparedKeys,
    /// Whether its profile accepts an ABP frame-counter reset (LoRaWAN ≤ 1.0.3 only).
    pub counter_reset_allowed: bool,
}

/// Where the frame was received, for the 1.1 MIC (TxDr, TxCh enter the B1 block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Radio {
    /// The uplink data rate.
    pub data_rate: u8,
    /// The uplink channel index.
    pub channel: u8,
}

/// How the frame's counter relates to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// A new frame; `lost` frames were skipped since the last one.
    New {
        /// Counters skipped.
        lost: u32,
    },
    /// The same counter as the last accepted frame: a retransmission (NbTrans, or a
    /// confirmed uplink the device did not see acknowledged).
    Retransmission,
    /// An ABP device of LoRaWAN ≤ 1.0.3 restarted its counters (its profile allows it).
    Reset,
}

/// The candidate that sent the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    /// Index of the candidate in the slice given.
    pub index: usize,
    /// The full 32-bit FCntUp.
    pub f_cnt: u32,
    /// How the counter relates to the session.
    pub counter: Counter,
}

/// Why no candidate accepted the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unmatched {
    /// No session uses the DevAddr.
    #[error("no session uses this DevAddr")]
    NoSession,
    /// No candidate's MIC matches.
    #[error("MIC matches none of the {candidates} session(s) using this DevAddr")]
    MicMismatch {
        /// How many sessions were tried.
        candidates: usize,
    },
    /// The MIC matches with a counter already used: a replayed frame.
    #[error("frame counter {f_cnt} replayed (next expected {next_expected})")]
    Replayed {
        /// Index of the candidate whose keys match.
        index: usize,
        /// The counter the frame carries.
        f_cnt: u32,
        /// The session's next expected counter.
        next_expected: u32,
    },
    /// LoRaWAN ≤ 1.0.3: the counter jumped further than MAX_FCNT_GAP.
    #[error("frame counter {f_cnt} jumps more than MAX_FCNT_GAP past {next_expected}")]
    GapTooLarge {
        /// Index of the candidate.
        index: usize,
        /// The counter the frame carries.
        f_cnt: u32,
        /// The session's next expected counter.
        next_expected: u32,
    },
    /// The 32-bit counter would wrap: the device must join again.
    #[error("frame counter wrapped past 2^32: the session must be renewed")]
    CounterWrapped {
        /// Index of the candidate.
        index: usize,
    },
}

/// Finds the candidate that sent `frame`.
pub fn match_uplink(
    frame: &DataFrame<'_>,
    candidates: &[Candidate<'_>],
    radio: Radio,
) -> Result<Matched, Unmatched> {
    if candidates.is_empty() {
        return Err(Unmatched::NoSession);
    }
    let on_air = frame.fcnt16();
    // A replay or a reset is only reported when no candidate accepts the frame as new.
    let mut fallback = None;
    for (index, candidate) in candidates.iter().enumerate() {
        let next = candidate.session.f_cnt_up_next;
        let full = fcnt::full_fcnt(next, on_air);
        if mic_matches(frame, candidate, full, radio) {
            return classify(index, candidate, full);
        }
        if fallback.is_some() {
            continue;
        }
        // LoRaWAN <= 1.0.3 ABP devices restart their counters at reboot: where the profile
        // allows it, a frame whose MIC matches with the raw 16-bit counter restarts the
        // session's counter (this also accepts a replay below 2^16: the weakness the option
        // trades for devices that cannot keep counters).
        let raw = u32::from(on_air);
        if candidate.counter_reset_allowed
            && raw < next
            && mic_matches(frame, candidate, raw, radio)
        {
            fallback = Some(Ok(Matched {
                index,
                f_cnt: raw,
                counter: Counter::Reset,
            }));
            continue;
        }
        // The counter just below the expected window: an old frame replayed.
        let distance = (next as u16).wrapping_sub(on_air); // truncation intended: 16 LSB
        let behind = next.wrapping_sub(u32::from(distance));
        if behind < next && mic_matches(frame, candidate, behind, radio) {
            fallback = Some(Err(Unmatched::Replayed {
                index,
                f_cnt: behind,
                next_expected: next,
            }));
        }
    }
    fallback.unwrap_or(Err(Unmatched::MicMismatch {
        candidates: candidates.len(),
    }))
}

fn classify(index: usize, candidate: &Candidate<'_>, full: u32) -> Result<Matched, Unmatched> {
    let next = candidate.session.f_cnt_up_next;
    match fcnt::classify(next, full) {
        FCntStep::Retransmission => Ok(Matched {
            index,
            f_cnt: full,
            counter: Counter::Retransmission,
        }),
        FCntStep::Advance { lost } => {
            if gap_policy(candidate.session.mac_version).accepts(lost) {
                Ok(Matched {
                    index,
                    f_cnt: full,
                    counter: Counter::New { lost },
                })
            } else {
                Err(Unmatched::GapTooLarge {
                    index,
                    f_cnt: full,
                    next_expected: next,
                })
            }
        }
        FCntStep::Wrapped => Err(Unmatched::CounterWrapped { index }),
    }
}

/// The forward-gap rule of a MAC version.
pub fn gap_policy(version: MacVersion) -> GapPolicy {
    if version >= MacVersion::V1_0_4 {
        GapPolicy::Unlimited
    } else {
        GapPolicy::MaxFCntGap
    }
}

fn mic_matches(frame: &DataFrame<'_>, candidate: &Candidate<'_>, f_cnt: u32, radio: Radio) -> bool {
    let keys = candidate.keys;
    if candidate.session.is_1_1() {
        // cmacF first, with the key kept expanded: it rules out the other candidates. Only
        // for the candidate whose cmacF matches is SNwkSIntKey expanded for cmacS; both
        // halves must match, as in the full check.
        if frame
            .verify_uplink_micf_1_1(keys.f_nwk_s_int(), f_cnt)
            .is_err()
        {
            return false;
        }
        let params = UplinkMicParams {
            conf_fcnt: candidate.session.last_confirmed_down.unwrap_or(0),
            tx_dr: radio.data_rate,
            tx_ch: radio.channel,
        };
        frame
            .verify_uplink_mics_1_1(&keys.s_nwk_s_int(&candidate.session.keys), f_cnt, params)
            .is_ok()
    } else {
        frame.verify_mic_1_0(keys.f_nwk_s_int(), f_cnt).is_ok()
    }
}

#[cfg(test)]
mod tests;
