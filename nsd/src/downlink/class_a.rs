//! Class A: the two receive windows that follow an uplink.
//!
//! TS001 1.0.4 §3.3: RX1 opens `RECEIVE_DELAY1` after the end of the uplink, on a frequency
//! and at a data rate derived from the uplink's; RX2 opens `RECEIVE_DELAY2` after it, on a
//! fixed, configurable frequency and data rate. RP002-1.0.4 §2.1: "RECEIVE_DELAY2 MUST be
//! RECEIVE_DELAY1 + 1 s".
//!
//! The delay is always the device session's ([`DeviceRadio::rx1_delay`]): `RXTimingSetupReq`
//! changes it, a join-accept uses `JOIN_ACCEPT_DELAY1`, and a roaming device gets the longer
//! delay its roaming agreement sets (5 s by default).
//!
//! [`plan_class_a`] picks the gateway and works out both windows; each comes back either as
//! a [`SlotPlan`] ready to become a [`Transmission`], or skipped with the
//! [`DeliveryFailedCause`] the AS is told.

use std::time::{Duration, SystemTime};

use lorawan::mac::Direction;
use lorawan::region::{DwellTime, MaxPayload, Region, RegionParams, Repeater};

use super::airtime::{downlink_modulation, region_modulation, time_on_air};
use super::delivery::{DeliveryFailedCause, DeliveryReport, DeliveryStatus, TransmissionSlot};
use super::duty_cycle::DutyCycleLedger;
use crate::gateway::{GatewayId, RadioModulation, RxInfo, Transmission, TxOutcome, TxTiming};

/// The downlink radio settings of one device session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRadio {
    /// RX1 delay (`RECEIVE_DELAY1`, `RXTimingSetupReq`, `JOIN_ACCEPT_DELAY1` for a
    /// join-accept, or the roaming agreement's delay). RX2 opens one second later.
    pub rx1_delay: Duration,
    /// `RX1DROffset`.
    pub rx1_dr_offset: u8,
    /// RX2 data rate.
    pub rx2_data_rate: u8,
    /// RX2 frequency in Hz.
    pub rx2_frequency_hz: u32,
    /// Downlink dwell-time limit (`TxParamSetupReq`).
    pub downlink_dwell: DwellTime,
    /// Whether payloads must leave room for a repeater.
    pub repeater: Repeater,
}

impl DeviceRadio {
    /// A freshly joined device's settings in `region`: 1 s RX1 delay, offset 0, default RX2.
    pub fn defaults(region: &RegionParams) -> Self {
        let rx2 = region.rx2_default();
        Self {
            rx1_delay: region.delays().receive_delay1,
            rx1_dr_offset: 0,
            rx2_data_rate: rx2.data_rate,
            rx2_frequency_hz: rx2.frequency,
            downlink_dwell: DwellTime::NoLimit,
            repeater: Repeater::NotCompatible,
        }
    }

    /// The RX1 delay of an `RXTimingSetupReq` `Del` value (TS001 1.0.4 §5.7: 0 and 1 both
    /// mean 1 s, 15 means 15 s).
    pub fn rx1_delay_from_setting(del: u8) -> Duration {
        Duration::from_secs(u64::from((del & 0x0f).max(1)))
    }

    /// RX2's delay: RX1's plus one second.
    pub fn rx2_delay(&self) -> Duration {
        self.rx1_delay + Duration::from_secs(1)
    }
}

/// Which windows the network server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RxWindowPolicy {
    /// RX1, and RX2 when RX1 cannot be used.
    #[default]
    Rx1ThenRx2,
    /// RX2 only (RX1 reported as C0, "LRC selected RX2").
    Rx2Only,
    /// RX2 when RX1's data rate would be below this one (a slow RX1 costs more air time
    /// than RX2 at a faster rate).
    Rx2WhenRx1DrBelow(u8),
}

/// Tunables of the class A planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassAOptions {
    /// Which windows to offer.
    pub windows: RxWindowPolicy,
    /// Time the gateway needs to have a downlink in hand before its window opens: a frame
    /// ready later than `delay − margin` after the uplink is too late for that window.
    pub scheduling_margin: Duration,
    /// Transmit power in dBm, instead of [`default_downlink_power_dbm`].
    pub power_dbm: Option<i8>,
}

impl Default for ClassAOptions {
    fn default() -> Self {
        Self {
            windows: RxWindowPolicy::Rx1ThenRx2,
            scheduling_margin: Duration::from_millis(50),
            power_dbm: None,
        }
    }
}

/// What the class A planner needs to know about the uplink and the frame.
#[derive(Debug, Clone, Copy)]
pub struct ClassARequest<'a> {
    /// Every gateway's reception of the uplink.
    pub receptions: &'a [RxInfo],
    /// The device's downlink settings.
    pub device: &'a DeviceRadio,
    /// The region of the device.
    pub region: &'a RegionParams,
    /// Length of the PHYPayload to send (MHDR + MACPayload + MIC).
    pub phy_len: usize,
    /// Time already spent since the uplink was received.
    pub elapsed: Duration,
    /// The current time (for duty-cycle accounting).
    pub now: SystemTime,
}

/// One window worked out: where, when and how to send.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotPlan {
    /// Which window.
    pub slot: TransmissionSlot,
    /// The gateway that sends.
    pub gateway: GatewayId,
    /// When.
    pub timing: TxTiming,
    /// Centre frequency in Hz.
    pub frequency_hz: u32,
    /// The data rate index.
    pub data_rate: u8,
    /// The modulation of that data rate.
    pub modulation: RadioModulation,
    /// Transmit power in dBm.
    pub power_dbm: i8,
    /// Largest payloads the data rate carries.
    pub max_payload: MaxPayload,
    /// Time on air of the frame.
    pub time_on_air: Duration,
}

impl SlotPlan {
    /// The transmission for `phy` (which must be no longer than the length planned for).
    pub fn transmission(&self, phy: Vec<u8>) -> Transmission {
        Transmission {
            gateway: self.gateway,
            timing: self.timing,
            frequency_hz: self.frequency_hz,
            modulation: self.modulation,
            power_dbm: self.power_dbm,
            // RF chain 0 is the transmit-capable chain of the reference gateway designs.
            rf_chain: 0,
            invert_polarity: true,
            phy,
        }
    }
}

/// Both windows of a class A downlink: RX1 first, RX2 as the fallback.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassAPlan {
    /// The gateway chosen to send.
    pub gateway: GatewayId,
    /// RX1, or why it is skipped.
    pub rx1: Result<SlotPlan, DeliveryFailedCause>,
    /// RX2, or why it is skipped.
    pub rx2: Result<SlotPlan, DeliveryFailedCause>,
}

impl ClassAPlan {
    /// The windows to try, in order.
    pub fn candidates(&self) -> impl Iterator<Item = &SlotPlan> {
        self.rx1.iter().chain(self.rx2.iter())
    }

    /// The transmissions of `phy`, in the order to try them (RX1, then RX2).
    pub fn transmissions(&self, phy: &[u8]) -> Vec<(TransmissionSlot, Transmission)> {
        self.candidates()
            .map(|slot| (slot.slot, slot.transmission(phy.to_vec())))
            .collect()
    }

    /// The delivery report once the gateway answered the windows tried: `outcomes` holds
    /// the answer to each transmission made, in order. A window skipped at planning time
    /// reports its cause only if it was needed, that is if no earlier window went out; a
    /// window neither skipped nor answered (never tried) reports nothing.
    pub fn report(&self, outcomes: &[(TransmissionSlot, TxOutcome)]) -> DeliveryReport {
        let mut report = DeliveryReport::default();
        for (slot, planned) in [
            (TransmissionSlot::Rx1, &self.rx1),
            (TransmissionSlot::Rx2, &self.rx2),
        ] {
            if report.status == DeliveryStatus::Sent {
                break;
            }
            match planned {
                Err(cause) => report.failed(slot, *cause),
                Ok(_) => {
                    if let Some((_, outcome)) = outcomes.iter().find(|(s, _)| *s == slot) {
                        report.outcome(slot, *outcome);
                    }
                }
            }
        }
        report
    }
}

/// No gateway that heard the uplink may transmit (reported as DD, "No LRR connected").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no gateway that received the uplink can transmit")]
pub struct NoEligibleGateway;

impl NoEligibleGateway {
    /// The cause to report in both windows.
    pub const fn cause(self) -> DeliveryFailedCause {
        DeliveryFailedCause::NoGatewayConnected
    }
}

/// How late we are for the windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lateness {
    /// Both windows can still be reached.
    InTime,
    /// RX1 is missed; RX2 can still be reached.
    TooLateForRx1,
    /// Both windows are missed.
    TooLateForBoth,
}

/// Whether a frame ready `elapsed` after the uplink can still reach RX1 / RX2, leaving the
/// gateway `margin` to schedule it.
pub fn too_late(elapsed: Duration, rx1_delay: Duration, margin: Duration) -> Lateness {
    let rx1_deadline = rx1_delay.saturating_sub(margin);
    let rx2_deadline = (rx1_delay + Duration::from_secs(1)).saturating_sub(margin);
    if elapsed >= rx2_deadline {
        Lateness::TooLateForBoth
    } else if elapsed >= rx1_deadline {
        Lateness::TooLateForRx1
    } else {
        Lateness::InTime
    }
}

/// The reception to answer through: best SNR, then best RSSI, among gateways that may
/// transmit.
pub fn best_reception(
    receptions: &[RxInfo],
    may_transmit: impl Fn(GatewayId) -> bool,
) -> Option<&RxInfo> {
    receptions
        .iter()
        .filter(|rx| may_transmit(rx.gateway))
        .max_by(|a, b| {
            a.snr_db
                .total_cmp(&b.snr_db)
                .then(a.rssi_dbm.cmp(&b.rssi_dbm))
        })
}

/// A gateway's transmit power in dBm at `frequency_hz` unless configured otherwise: within
/// each region's regulatory limit and the power tables of common gateways.
///
/// EU868: 27 dBm in sub-band g3 (869.4–869.65 MHz, 500 mW ERP), 14 dBm elsewhere (25 mW
/// ERP); EU433 10 dBm; RU864 14 dBm; AS923 14 dBm; KR920 23 dBm; US915 and AU915 20 dBm
/// (their limit is 30 dBm EIRP, but 20 dBm is in every gateway's power table).
pub fn default_downlink_power_dbm(region: Region, frequency_hz: u32) -> i8 {
    match region {
        Region::Eu868 if (869_400_000..=869_650_000).contains(&frequency_hz) => 27,
        Region::Eu868 | Region::Ru864 => 14,
        Region::Eu433 => 10,
        Region::As923_1 | Region::As923_2 | Region::As923_3 | Region::As923_4 => 14,
        Region::Kr920 => 23,
        Region::Us915 | Region::Au915 => 20,
    }
}

/// Plan both class A windows for a frame of `request.phy_len` bytes.
///
/// The gateway is the best reception among those `may_transmit` accepts. RX1: the uplink's
/// counter + the RX1 delay, the region's RX1 frequency, `rx1_data_rate(uplink DR, offset,
/// dwell)`. RX2: one second later, the device's RX2 frequency and data rate. A window is
/// skipped when we are too late for it (B0), when the frame does not fit its data rate or the
/// policy prefers RX2 (RX1: C0; RX2: DB), when it breaks the 400 ms dwell time (DB), or when
/// the gateway's duty cycle in the band is spent (DA). The ledger is only read here: record
/// the transmission in it when the gateway accepts it.
pub fn plan_class_a(
    request: &ClassARequest<'_>,
    options: &ClassAOptions,
    ledger: &DutyCycleLedger,
    may_transmit: impl Fn(GatewayId) -> bool,
) -> Result<ClassAPlan, NoEligibleGateway> {
    let rx = best_reception(request.receptions, may_transmit).ok_or(NoEligibleGateway)?;
    let lateness = too_late(
        request.elapsed,
        request.device.rx1_delay,
        options.scheduling_margin,
    );
    let planner = Planner {
        request,
        options,
        ledger,
        rx,
    };
    let rx1 = match lateness {
        Lateness::InTime => planner.rx1(),
        Lateness::TooLateForRx1 | Lateness::TooLateForBoth => Err(DeliveryFailedCause::TooLate),
    };
    let rx2 = match lateness {
        Lateness::TooLateForBoth => Err(DeliveryFailedCause::TooLate),
        Lateness::InTime | Lateness::TooLateForRx1 => planner.rx2(),
    };
    Ok(ClassAPlan {
        gateway: rx.gateway,
        rx1,
        rx2,
    })
}

struct Planner<'a> {
    request: &'a ClassARequest<'a>,
    options: &'a ClassAOptions,
    ledger: &'a DutyCycleLedger,
    rx: &'a RxInfo,
}

impl Planner<'_> {
    fn rx1(&self) -> Result<SlotPlan, DeliveryFailedCause> {
        let region = self.request.region;
        let device = self.request.device;
        if self.options.windows == RxWindowPolicy::Rx2Only {
            return Err(DeliveryFailedCause::Rx2Selected);
        }
        let uplink_dr = region_modulation(&self.rx.modulation)
            .and_then(|m| region.dr_for(m, Direction::Uplink))
            .ok_or(DeliveryFailedCause::Rx2Selected)?;
        let frequency = region
            .rx1_frequency(self.rx.frequency_hz)
            .ok_or(DeliveryFailedCause::Rx2Selected)?;
        let dr = region
            .rx1_data_rate(uplink_dr, device.rx1_dr_offset, device.downlink_dwell)
            .ok_or(DeliveryFailedCause::Rx2Selected)?;
        if let RxWindowPolicy::Rx2WhenRx1DrBelow(min) = self.options.windows {
            if dr < min {
                return Err(DeliveryFailedCause::Rx2Selected);
            }
        }
        self.slot(TransmissionSlot::Rx1, device.rx1_delay, frequency, dr)
            .map_err(|cause| match cause {
                // A frame RX1's data rate cannot carry goes out in RX2 instead.
                SlotError::TooLarge => DeliveryFailedCause::Rx2Selected,
                SlotError::Cause(cause) => cause,
            })
    }

    fn rx2(&self) -> Result<SlotPlan, DeliveryFailedCause> {
        let device = self.request.device;
        self.slot(
            TransmissionSlot::Rx2,
            device.rx2_delay(),
            device.rx2_frequency_hz,
            device.rx2_data_rate,
        )
        .map_err(|cause| match cause {
            // The seed has no cause for "larger than the data rate carries"; RP002's payload
            // limits come from the same air-time constraints as the dwell time.
            SlotError::TooLarge => DeliveryFailedCause::MaxDwellTime,
            SlotError::Cause(cause) => cause,
        })
    }

    fn slot(
        &self,
        slot: TransmissionSlot,
        delay: Duration,
        frequency_hz: u32,
        dr: u8,
    ) -> Result<SlotPlan, SlotError> {
        let request = self.request;
        let device = request.device;
        let modulation = downlink_modulation(request.region, dr).ok_or(SlotError::TooLarge)?;
        let max_payload = request
            .region
            .max_payload(dr, device.downlink_dwell, device.repeater)
            .ok_or(match device.downlink_dwell {
                DwellTime::Limit400ms => SlotError::Cause(DeliveryFailedCause::MaxDwellTime),
                DwellTime::NoLimit => SlotError::TooLarge,
            })?;
        // MHDR (1) + MACPayload + MIC (4).
        let mac_payload_len = request.phy_len.saturating_sub(5);
        if mac_payload_len > usize::from(max_payload.m) {
            return Err(SlotError::TooLarge);
        }
        let time_on_air = time_on_air(&modulation, request.phy_len, Direction::Downlink)
            .ok_or(SlotError::TooLarge)?;
        if device.downlink_dwell == DwellTime::Limit400ms
            && time_on_air > Duration::from_millis(400)
        {
            return Err(SlotError::Cause(DeliveryFailedCause::MaxDwellTime));
        }
        if self
            .ledger
            .check(self.rx.gateway, frequency_hz, time_on_air, request.now)
            .is_err()
        {
            return Err(SlotError::Cause(
                DeliveryFailedCause::DutyCycleNetworkServer,
            ));
        }
        let delay_us = u32::try_from(delay.as_micros()).unwrap_or(u32::MAX);
        Ok(SlotPlan {
            slot,
            gateway: self.rx.gateway,
            timing: TxTiming::AtCounter(self.rx.counter_us.wrapping_add(delay_us)),
            frequency_hz,
            data_rate: dr,
            modulation,
            power_dbm: self
                .options
                .power_dbm
                .unwrap_or_else(|| default_downlink_power_dbm(request.region.region, frequency_hz)),
            max_payload,
            time_on_air,
        })
    }
}

enum SlotError {
    TooLarge,
    Cause(DeliveryFailedCause),
}

#[cfg(test)]
#[path = "class_a_tests.rs"]
mod tests;
