//! What the AS is told about a downlink: the `DeliveryStatus`, `DeliveryFailedCause1/2/3`
//! and `TransmissionSlot` fields of the `DevEUI_downlink_Sent` report (seed 001 §6.2.3,
//! seed 002), and how gateway answers and planning decisions map onto them.
//!
//! The seed's causes, per slot (`DeliveryFailedCause1` = RX1, `2` = RX2 or class C,
//! `3` = class B ping slot; `00` when nothing failed in that slot):
//!
//! | code | text | when |
//! |---|---|---|
//! | A0 | Radio stopped | gateway radio not running (a `TX_ACK` error we cannot name) |
//! | A1 | Downlink radio stopped | the gateway never answered the transmit request |
//! | A2 | Ping slot not available | class B: the gateway cannot use that ping slot |
//! | A3 | Radio busy | `COLLISION_PACKET`, `COLLISION_BEACON`, `TOO_EARLY` |
//! | A4 | Listen before talk | the channel was busy (LBT gateways) |
//! | A5 | Radio board error | `TX_FREQ`, `TX_POWER`: the radio cannot do what we asked |
//! | B0 | Too late for RX1 / RX2 / ping slot | `TOO_LATE`, or we were late ourselves |
//! | C0 | LRC selected RX2 | we chose RX2 (policy, or the frame does not fit RX1's DR) |
//! | D0 | Duty cycle constraint detected by LRR | the gateway refused for duty cycle |
//! | DA | Duty cycle constraint detected by LRC | our [`DutyCycleLedger`] refused |
//! | DB | Max dwell time constraint detected by the LRC | the 400 ms dwell limit |
//! | DC | No GPS-synchronized LRR detected by the LRC | `GPS_UNLOCKED`, or no GPS gateway |
//! | DD | No LRR connected detected by the LRC | no connected gateway heard the device |
//! | DE | DC not allowed by the peering operator | the fNS refused (roaming) |
//! | DF | Wrong NetID | a roaming partner rejected the NetID |
//! | E0 | Max delay for Class C | class C frame not sent within 60 s |
//!
//! Choices where the seed is silent: `TOO_EARLY` is "Radio busy" (the gateway cannot program
//! the slot; for a ping slot it is A2); `GPS_UNLOCKED` is DC in every slot, since only
//! GPS-timed transmissions are refused for it; a gateway that is not connected is DD in every
//! slot (the seed lists DD for ping slots only, but its meaning is exactly this); no answer
//! from the gateway is A1.
//!
//! [`DutyCycleLedger`]: super::duty_cycle::DutyCycleLedger

use serde::{Deserialize, Serialize};

use crate::gateway::{TxOutcome, TxRefusal};

/// The slot a downlink went out in (`TransmissionSlot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum TransmissionSlot {
    /// 0: unknown (nothing sent).
    #[default]
    Unknown,
    /// 1: class A first receive window.
    Rx1,
    /// 2: class A second receive window, or class C.
    Rx2,
    /// 3: class B ping slot.
    PingSlot,
}

impl TransmissionSlot {
    /// The report's number for the slot.
    pub const fn value(self) -> u8 {
        match self {
            Self::Unknown => 0,
            Self::Rx1 => 1,
            Self::Rx2 => 2,
            Self::PingSlot => 3,
        }
    }
}

/// Whether the frame went over the air (`DeliveryStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum DeliveryStatus {
    /// 0: not sent in any slot; the AS has to submit it again.
    #[default]
    NotSent,
    /// 1: sent over the air (which does not mean the device received it).
    Sent,
}

impl DeliveryStatus {
    /// The report's number.
    pub const fn value(self) -> u8 {
        match self {
            Self::NotSent => 0,
            Self::Sent => 1,
        }
    }
}

/// Why a slot was not used (`DeliveryFailedCause1/2/3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeliveryFailedCause {
    /// A0.
    RadioStopped,
    /// A1.
    DownlinkRadioStopped,
    /// A2.
    PingSlotNotAvailable,
    /// A3.
    RadioBusy,
    /// A4.
    ListenBeforeTalk,
    /// A5.
    RadioBoardError,
    /// B0.
    TooLate,
    /// C0.
    Rx2Selected,
    /// D0.
    DutyCycleGateway,
    /// DA.
    DutyCycleNetworkServer,
    /// DB.
    MaxDwellTime,
    /// DC.
    NoGpsSynchronisedGateway,
    /// DD.
    NoGatewayConnected,
    /// DE.
    DutyCycleRefusedByPeer,
    /// DF.
    WrongNetId,
    /// E0.
    ClassCMaxDelay,
}

impl DeliveryFailedCause {
    /// The two-character code of the report (`"A3"`).
    pub const fn code(self) -> &'static str {
        match self {
            Self::RadioStopped => "A0",
            Self::DownlinkRadioStopped => "A1",
            Self::PingSlotNotAvailable => "A2",
            Self::RadioBusy => "A3",
            Self::ListenBeforeTalk => "A4",
            Self::RadioBoardError => "A5",
            Self::TooLate => "B0",
            Self::Rx2Selected => "C0",
            Self::DutyCycleGateway => "D0",
            Self::DutyCycleNetworkServer => "DA",
            Self::MaxDwellTime => "DB",
            Self::NoGpsSynchronisedGateway => "DC",
            Self::NoGatewayConnected => "DD",
            Self::DutyCycleRefusedByPeer => "DE",
            Self::WrongNetId => "DF",
            Self::ClassCMaxDelay => "E0",
        }
    }

    /// The seed's text for the cause in `slot` (only B0's text names the slot).
    pub const fn text(self, slot: TransmissionSlot) -> &'static str {
        match self {
            Self::RadioStopped => "Radio stopped",
            Self::DownlinkRadioStopped => "Downlink radio stopped",
            Self::PingSlotNotAvailable => "Ping slot not available",
            Self::RadioBusy => "Radio busy",
            Self::ListenBeforeTalk => "Listen before talk",
            Self::RadioBoardError => "Radio board error",
            Self::TooLate => match slot {
                TransmissionSlot::Rx1 => "Too late for RX1",
                TransmissionSlot::Rx2 => "Too late for RX2",
                TransmissionSlot::PingSlot => "Too late for ping slot",
                TransmissionSlot::Unknown => "Too late",
            },
            Self::Rx2Selected => "LRC selected RX2",
            Self::DutyCycleGateway => "Duty cycle constraint detected by LRR",
            Self::DutyCycleNetworkServer => "Duty cycle constraint detected by LRC",
            Self::MaxDwellTime => "Max dwell time constraint detected by the LRC",
            Self::NoGpsSynchronisedGateway => "No GPS-synchronized LRR detected by the LRC",
            Self::NoGatewayConnected => "No LRR connected detected by the LRC",
            Self::DutyCycleRefusedByPeer => "DC not allowed by the peering operator",
            Self::WrongNetId => "Wrong NetID",
            Self::ClassCMaxDelay => "Max delay for Class C",
        }
    }

    /// The cause to report for a gateway's answer to a transmission in `slot`; `None` when
    /// it was sent.
    pub const fn from_outcome(outcome: TxOutcome, slot: TransmissionSlot) -> Option<Self> {
        let ping = matches!(slot, TransmissionSlot::PingSlot);
        Some(match outcome {
            TxOutcome::Sent => return None,
            TxOutcome::NotConnected => Self::NoGatewayConnected,
            TxOutcome::NoAnswer => Self::DownlinkRadioStopped,
            TxOutcome::Refused(refusal) => match refusal {
                TxRefusal::TooLate => Self::TooLate,
                TxRefusal::TooEarly | TxRefusal::CollisionBeacon if ping => {
                    Self::PingSlotNotAvailable
                }
                TxRefusal::TooEarly | TxRefusal::CollisionPacket | TxRefusal::CollisionBeacon => {
                    Self::RadioBusy
                }
                TxRefusal::Frequency | TxRefusal::Power => Self::RadioBoardError,
                TxRefusal::GpsUnlocked => Self::NoGpsSynchronisedGateway,
                TxRefusal::Other => Self::RadioStopped,
            },
        })
    }
}

/// The delivery fields of one `DevEUI_downlink_Sent` report, filled in as the slots are
/// tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeliveryReport {
    /// Whether it went over the air.
    pub status: DeliveryStatus,
    /// The slot it went out in.
    pub slot: TransmissionSlot,
    /// Why RX1 was not used.
    pub cause1: Option<DeliveryFailedCause>,
    /// Why RX2 (or class C) was not used.
    pub cause2: Option<DeliveryFailedCause>,
    /// Why the ping slot was not used.
    pub cause3: Option<DeliveryFailedCause>,
}

impl DeliveryReport {
    /// Note that `slot` was not used, and why.
    pub fn failed(&mut self, slot: TransmissionSlot, cause: DeliveryFailedCause) {
        match slot {
            TransmissionSlot::Rx1 => self.cause1 = Some(cause),
            TransmissionSlot::Rx2 => self.cause2 = Some(cause),
            TransmissionSlot::PingSlot => self.cause3 = Some(cause),
            TransmissionSlot::Unknown => {}
        }
    }

    /// Note that the frame went out in `slot`.
    pub fn sent(&mut self, slot: TransmissionSlot) {
        self.status = DeliveryStatus::Sent;
        self.slot = slot;
    }

    /// Apply a gateway's answer to a transmission in `slot`.
    pub fn outcome(&mut self, slot: TransmissionSlot, outcome: TxOutcome) {
        match DeliveryFailedCause::from_outcome(outcome, slot) {
            None => self.sent(slot),
            Some(cause) => self.failed(slot, cause),
        }
    }

    /// The `DeliveryFailedCause1` string (`"00"` when RX1 did not fail).
    pub fn cause1_code(&self) -> &'static str {
        self.cause1.map_or("00", DeliveryFailedCause::code)
    }

    /// The `DeliveryFailedCause2` string (`"00"` when RX2 did not fail).
    pub fn cause2_code(&self) -> &'static str {
        self.cause2.map_or("00", DeliveryFailedCause::code)
    }

    /// The `DeliveryFailedCause3` string (`"00"` when the ping slot did not fail).
    pub fn cause3_code(&self) -> &'static str {
        self.cause3.map_or("00", DeliveryFailedCause::code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use DeliveryFailedCause as C;
    use TransmissionSlot as S;

    #[test]
    fn codes_and_texts_are_the_seeds() {
        assert_eq!(C::RadioBusy.code(), "A3");
        assert_eq!(C::TooLate.code(), "B0");
        assert_eq!(C::TooLate.text(S::Rx1), "Too late for RX1");
        assert_eq!(C::TooLate.text(S::Rx2), "Too late for RX2");
        assert_eq!(C::TooLate.text(S::PingSlot), "Too late for ping slot");
        assert_eq!(C::Rx2Selected.code(), "C0");
        assert_eq!(C::Rx2Selected.text(S::Rx1), "LRC selected RX2");
        assert_eq!(C::DutyCycleNetworkServer.code(), "DA");
        assert_eq!(C::MaxDwellTime.code(), "DB");
        assert_eq!(C::ClassCMaxDelay.code(), "E0");
        assert_eq!(C::ClassCMaxDelay.text(S::Rx2), "Max delay for Class C");
        assert_eq!(S::PingSlot.value(), 3);
        assert_eq!(DeliveryStatus::Sent.value(), 1);
    }

    #[test]
    fn tx_ack_errors_map_to_causes() {
        let refused = |r| C::from_outcome(TxOutcome::Refused(r), S::Rx1);
        assert_eq!(C::from_outcome(TxOutcome::Sent, S::Rx1), None);
        assert_eq!(refused(TxRefusal::TooLate), Some(C::TooLate));
        assert_eq!(refused(TxRefusal::CollisionPacket), Some(C::RadioBusy));
        assert_eq!(refused(TxRefusal::CollisionBeacon), Some(C::RadioBusy));
        assert_eq!(refused(TxRefusal::TooEarly), Some(C::RadioBusy));
        assert_eq!(refused(TxRefusal::Frequency), Some(C::RadioBoardError));
        assert_eq!(refused(TxRefusal::Power), Some(C::RadioBoardError));
        assert_eq!(refused(TxRefusal::Other), Some(C::RadioStopped));
        assert_eq!(
            C::from_outcome(TxOutcome::Refused(TxRefusal::GpsUnlocked), S::PingSlot),
            Some(C::NoGpsSynchronisedGateway)
        );
        assert_eq!(
            C::from_outcome(TxOutcome::Refused(TxRefusal::CollisionBeacon), S::PingSlot),
            Some(C::PingSlotNotAvailable)
        );
        assert_eq!(
            C::from_outcome(TxOutcome::NotConnected, S::Rx2),
            Some(C::NoGatewayConnected)
        );
        assert_eq!(
            C::from_outcome(TxOutcome::NoAnswer, S::Rx2),
            Some(C::DownlinkRadioStopped)
        );
    }

    #[test]
    fn a_report_fills_the_slot_fields() {
        let mut report = DeliveryReport::default();
        report.outcome(S::Rx1, TxOutcome::Refused(TxRefusal::CollisionPacket));
        assert_eq!(report.status, DeliveryStatus::NotSent);
        report.outcome(S::Rx2, TxOutcome::Sent);
        assert_eq!(report.status, DeliveryStatus::Sent);
        assert_eq!(report.slot, S::Rx2);
        assert_eq!(
            (
                report.cause1_code(),
                report.cause2_code(),
                report.cause3_code()
            ),
            ("A3", "00", "00")
        );
    }
}
