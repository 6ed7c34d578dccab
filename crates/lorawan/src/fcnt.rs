//! 32-bit frame-counter reconstruction from the 16 least significant bits sent on the air.
//!
//! A data frame carries only `FCnt` mod 2^16; the MIC and the payload encryption use the full
//! 32-bit counter. The network server keeps the *next expected* full counter (last accepted
//! `FCntUp` + 1) and extends the 16 received bits to the nearest value at or after it
//! (ChirpStack's `get_full_f_cnt_up`, re-checked in `vectors/fcnt32.json`), with one exception:
//! the value just *before* it is read as a retransmission of the last accepted frame.
//!
//! # `MAX_FCNT_GAP`
//!
//! LoRaWAN 1.0.0 – 1.0.3 (and RP002 up to 1.0.3 for the value) define `MAX_FCNT_GAP` = 16384:
//! a frame whose counter jumps further ahead than that from the last one *must* be dropped
//! (1.0.2 §4.3.1.5: "If this difference is greater than the value of MAX_FCNT_GAP then too
//! many data frames have been lost then subsequent will be discarded"). LoRaWAN 1.0.4 and 1.1
//! removed the rule: any forward gap below 2^16 is valid, the MIC decides. [`GapPolicy`] lets
//! the caller pick the rule of the device's MAC version; the reconstruction itself is the same.
//!
//! Everything here is a pure function of its arguments; replay protection (refusing a value
//! below the next expected one) is the caller's decision, helped by [`classify`].

/// `MAX_FCNT_GAP` of LoRaWAN 1.0.0 – 1.0.3 (removed in 1.0.4 and 1.1).
pub const MAX_FCNT_GAP: u32 = 16_384;

/// Extends the 16-bit `FCnt` received on the air to 32 bits.
///
/// `next_expected` is the last accepted full counter + 1 (0 for a fresh session). The result
/// is `next_expected - 1` when `on_air` repeats the last accepted counter (a retransmission;
/// never for a fresh session, `next_expected == 0`), otherwise the first value `>= next_expected` (mod 2^32) whose 16 LSB equal `on_air`.
pub fn full_fcnt(next_expected: u32, on_air: u16) -> u32 {
    // The 16 LSB of the expected value; truncation is the point.
    let expected_lsb = next_expected as u16;
    // A fresh session (next_expected = 0) has no previous frame to retransmit.
    if next_expected != 0 && on_air == expected_lsb.wrapping_sub(1) {
        return next_expected.wrapping_sub(1);
    }
    let gap = on_air.wrapping_sub(expected_lsb);
    next_expected.wrapping_add(u32::from(gap))
}

/// How a reconstructed full counter relates to the session state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FCntStep {
    /// The counter repeats the last accepted one (`next_expected - 1`): a retransmission
    /// (unconfirmed uplinks repeated by `NbTrans`, or a confirmed uplink without its ACK).
    Retransmission,
    /// The counter is at or after the next expected one; `lost` frames were skipped.
    Advance {
        /// Number of counters skipped (`full - next_expected`).
        lost: u32,
    },
    /// The counter wrapped past 2^32 (only possible for a counter near `u32::MAX`); a 1.0.x /
    /// 1.1 session must be re-joined before this happens, so the caller should refuse it.
    Wrapped,
}

/// Classifies the full counter returned by [`full_fcnt`] against `next_expected`.
pub fn classify(next_expected: u32, full: u32) -> FCntStep {
    if full == next_expected.wrapping_sub(1) && next_expected != 0 {
        FCntStep::Retransmission
    } else if full >= next_expected {
        FCntStep::Advance {
            lost: full - next_expected,
        }
    } else {
        FCntStep::Wrapped
    }
}

/// Which forward-gap rule applies to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapPolicy {
    /// LoRaWAN 1.0.0 – 1.0.3: a gap larger than [`MAX_FCNT_GAP`] is refused.
    MaxFCntGap,
    /// LoRaWAN 1.0.4 and 1.1: no gap limit beyond what 16 bits can express.
    Unlimited,
}

impl GapPolicy {
    /// Whether a frame that skipped `lost` counters is acceptable under this policy.
    pub fn accepts(self, lost: u32) -> bool {
        match self {
            // 1.0.2 §4.3.1.5: frames beyond MAX_FCNT_GAP "will be discarded".
            GapPolicy::MaxFCntGap => lost < MAX_FCNT_GAP,
            GapPolicy::Unlimited => lost <= u32::from(u16::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retransmission_and_gap() {
        assert_eq!(full_fcnt(10, 9), 9);
        assert_eq!(classify(10, 9), FCntStep::Retransmission);
        assert_eq!(full_fcnt(10, 12), 12);
        assert_eq!(classify(10, 12), FCntStep::Advance { lost: 2 });
        assert_eq!(full_fcnt(0x1_fff0, 0x0005), 0x2_0005);
    }

    #[test]
    fn fresh_session_accepts_zero() {
        assert_eq!(full_fcnt(0, 0), 0);
        assert_eq!(classify(0, 0), FCntStep::Advance { lost: 0 });
        assert_eq!(full_fcnt(0, 0xffff), 0xffff);
    }

    #[test]
    fn wrap_is_reported() {
        let full = full_fcnt(u32::MAX, 0);
        assert_eq!(full, 0);
        assert_eq!(classify(u32::MAX, full), FCntStep::Wrapped);
    }

    #[test]
    fn gap_policies() {
        assert!(GapPolicy::MaxFCntGap.accepts(MAX_FCNT_GAP - 1));
        assert!(!GapPolicy::MaxFCntGap.accepts(MAX_FCNT_GAP));
        assert!(GapPolicy::Unlimited.accepts(60_000));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn full_counter_keeps_the_air_bits(next in any::<u32>(), on_air in any::<u16>()) {
            let full = full_fcnt(next, on_air);
            // Truncation to the 16 LSB is the point.
            prop_assert_eq!(full as u16, on_air);
            let distance = full.wrapping_sub(next);
            prop_assert!(distance <= 0xffff || distance == u32::MAX);
        }
    }
}
