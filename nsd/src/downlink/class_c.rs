//! Class C: a device that listens on its RX2 parameters whenever it is not transmitting, so
//! a downlink goes out immediately, through the gateway that heard the device best last.
//!
//! TS001 1.0.4 §6.2: a class C device keeps the RX2 window open continuously, on the RX2
//! frequency and data rate. A gateway that refuses (busy with another frame, a beacon…) is
//! asked again later, until 60 s after the first attempt; after that the frame is reported
//! not sent with E0, "Max delay for Class C (60 seconds)" (seed 001 §6.2.3).

use std::time::{Duration, SystemTime};

use lorawan::mac::Direction;
use lorawan::region::{DwellTime, RegionParams};

use super::airtime::{downlink_modulation, time_on_air};
use super::class_a::{default_downlink_power_dbm, DeviceRadio, SlotPlan};
use super::delivery::{DeliveryFailedCause, DeliveryReport, TransmissionSlot};
use super::duty_cycle::DutyCycleLedger;
use crate::gateway::{GatewayId, TxOutcome, TxRefusal, TxTiming};

/// Tunables of class C delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassCOptions {
    /// How long after the first attempt a frame may still be sent (the seed's 60 s).
    pub max_delay: Duration,
    /// Wait between a refusal and the next attempt.
    pub retry_interval: Duration,
    /// Transmit power in dBm, instead of the region's default.
    pub power_dbm: Option<i8>,
    /// CLASS_C_RESP_TIMEOUT: how long the device has to acknowledge a confirmed frame
    /// (RP002 default 8 s). TS001 1.0.4 §6.2: "After sending a Class C confirmed downlink, a
    /// network server SHALL NOT send any other confirmed downlink to the end-device until
    /// this timeout expires or an uplink frame is received from that end-device."
    pub ack_timeout: Duration,
}

impl Default for ClassCOptions {
    fn default() -> Self {
        Self {
            max_delay: Duration::from_secs(60),
            retry_interval: Duration::from_secs(1),
            power_dbm: None,
            ack_timeout: Duration::from_secs(8),
        }
    }
}

/// What the class C planner needs.
#[derive(Debug, Clone, Copy)]
pub struct ClassCRequest<'a> {
    /// The gateway that heard the device's last uplink best.
    pub gateway: GatewayId,
    /// The device's downlink settings (RX2 frequency and data rate).
    pub device: &'a DeviceRadio,
    /// The region of the device.
    pub region: &'a RegionParams,
    /// Length of the PHYPayload to send.
    pub phy_len: usize,
    /// The current time.
    pub now: SystemTime,
}

/// Why a class C frame cannot go out now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassCBlocked {
    /// Not before `until` (the gateway's duty cycle in the band is spent).
    Until {
        /// The earliest time the gateway's budget allows it.
        until: SystemTime,
        /// What to report if that is too late.
        cause: DeliveryFailedCause,
    },
    /// Never, as planned (larger than the data rate carries, or breaks the dwell time).
    Never(DeliveryFailedCause),
}

/// Plan an immediate transmission on the device's RX2 frequency and data rate.
pub fn plan_class_c(
    request: &ClassCRequest<'_>,
    options: &ClassCOptions,
    ledger: &DutyCycleLedger,
) -> Result<SlotPlan, ClassCBlocked> {
    let device = request.device;
    let dr = device.rx2_data_rate;
    let frequency_hz = device.rx2_frequency_hz;
    let never = ClassCBlocked::Never(DeliveryFailedCause::MaxDwellTime);
    let modulation = downlink_modulation(request.region, dr).ok_or(never)?;
    let max_payload = request
        .region
        .max_payload(dr, device.downlink_dwell, device.repeater)
        .ok_or(never)?;
    // MHDR (1) + MACPayload + MIC (4).
    if request.phy_len.saturating_sub(5) > usize::from(max_payload.m) {
        return Err(never);
    }
    let airtime = time_on_air(&modulation, request.phy_len, Direction::Downlink).ok_or(never)?;
    if device.downlink_dwell == DwellTime::Limit400ms && airtime > Duration::from_millis(400) {
        return Err(never);
    }
    if ledger
        .check(request.gateway, frequency_hz, airtime, request.now)
        .is_err()
    {
        let cause = DeliveryFailedCause::DutyCycleNetworkServer;
        return Err(
            match ledger.available_at(request.gateway, frequency_hz, airtime, request.now) {
                Some(until) => ClassCBlocked::Until { until, cause },
                None => ClassCBlocked::Never(cause),
            },
        );
    }
    Ok(SlotPlan {
        slot: TransmissionSlot::Rx2,
        gateway: request.gateway,
        timing: TxTiming::Immediately,
        frequency_hz,
        data_rate: dr,
        modulation,
        power_dbm: options
            .power_dbm
            .unwrap_or_else(|| default_downlink_power_dbm(request.region.region, frequency_hz)),
        max_payload,
        time_on_air: airtime,
    })
}

/// What to do next with a class C frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassCNext {
    /// It went out: report it sent.
    Delivered(DeliveryReport),
    /// Plan it again at this time (through the then-best gateway).
    RetryAt(SystemTime),
    /// Give up: report it not sent.
    GiveUp(DeliveryReport),
}

/// The attempts at one class C frame, from the first one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassCAttempts {
    first_attempt: SystemTime,
    attempts: u32,
    last_cause: Option<DeliveryFailedCause>,
}

impl ClassCAttempts {
    /// The first attempt is being made at `now`.
    pub fn start(now: SystemTime) -> Self {
        Self {
            first_attempt: now,
            attempts: 0,
            last_cause: None,
        }
    }

    /// Attempts answered so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The last reason an attempt failed.
    pub fn last_cause(&self) -> Option<DeliveryFailedCause> {
        self.last_cause
    }

    /// The latest time a frame may still be sent.
    pub fn deadline(&self, options: &ClassCOptions) -> SystemTime {
        self.first_attempt + options.max_delay
    }

    /// The gateway answered an attempt at `now`.
    pub fn outcome(
        &mut self,
        outcome: TxOutcome,
        now: SystemTime,
        options: &ClassCOptions,
    ) -> ClassCNext {
        self.attempts += 1;
        let Some(cause) = DeliveryFailedCause::from_outcome(outcome, TransmissionSlot::Rx2) else {
            let mut report = DeliveryReport::default();
            report.sent(TransmissionSlot::Rx2);
            return ClassCNext::Delivered(report);
        };
        self.last_cause = Some(cause);
        match outcome {
            // The radio cannot do this frequency or power: asking again will not help.
            TxOutcome::Refused(TxRefusal::Frequency | TxRefusal::Power) => self.give_up(cause),
            _ => self.retry_at(now + options.retry_interval, options),
        }
    }

    /// The planner could not send at `now` (see [`plan_class_c`]).
    pub fn blocked(&mut self, blocked: ClassCBlocked, options: &ClassCOptions) -> ClassCNext {
        match blocked {
            ClassCBlocked::Until { until, cause } => {
                self.last_cause = Some(cause);
                self.retry_at(until, options)
            }
            ClassCBlocked::Never(cause) => {
                self.last_cause = Some(cause);
                self.give_up(cause)
            }
        }
    }

    fn retry_at(&self, at: SystemTime, options: &ClassCOptions) -> ClassCNext {
        if at <= self.deadline(options) {
            ClassCNext::RetryAt(at)
        } else {
            // Seed 001 §6.2.3: "Class C device: Frame expired before transmission:
            // E0: Max delay for Class C (60 seconds)".
            self.give_up(DeliveryFailedCause::ClassCMaxDelay)
        }
    }

    fn give_up(&self, cause: DeliveryFailedCause) -> ClassCNext {
        let mut report = DeliveryReport::default();
        report.failed(TransmissionSlot::Rx2, cause);
        ClassCNext::GiveUp(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::downlink::delivery::DeliveryStatus;
    use crate::gateway::RadioModulation;
    use lorawan::region::Region;

    fn t(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
    }

    fn request<'a>(device: &'a DeviceRadio, phy_len: usize, now: SystemTime) -> ClassCRequest<'a> {
        ClassCRequest {
            gateway: GatewayId::from_u64(7),
            device,
            region: Region::Eu868.params(),
            phy_len,
            now,
        }
    }

    #[test]
    fn class_c_goes_out_immediately_on_rx2_parameters() {
        let device = DeviceRadio::defaults(Region::Eu868.params());
        let ledger = DutyCycleLedger::new(Region::Eu868);
        let plan = plan_class_c(
            &request(&device, 20, t(0)),
            &ClassCOptions::default(),
            &ledger,
        )
        .expect("planned");
        assert_eq!(plan.timing, TxTiming::Immediately);
        assert_eq!((plan.frequency_hz, plan.data_rate), (869_525_000, 0));
        assert_eq!(plan.power_dbm, 27);
        assert_eq!(plan.slot, TransmissionSlot::Rx2);
        assert!(matches!(
            plan.modulation,
            RadioModulation::Lora {
                spreading_factor: 12,
                bandwidth_hz: 125_000,
                ..
            }
        ));
    }

    #[test]
    fn refusals_are_retried_until_60_s_then_e0() {
        let options = ClassCOptions::default();
        let mut attempts = ClassCAttempts::start(t(0));
        let busy = TxOutcome::Refused(TxRefusal::CollisionPacket);
        assert_eq!(
            attempts.outcome(busy, t(100), &options),
            ClassCNext::RetryAt(t(1_100))
        );
        assert_eq!(attempts.last_cause(), Some(DeliveryFailedCause::RadioBusy));
        assert_eq!(
            attempts.outcome(TxOutcome::NoAnswer, t(58_000), &options),
            ClassCNext::RetryAt(t(59_000))
        );
        let ClassCNext::GiveUp(report) = attempts.outcome(busy, t(59_500), &options) else {
            panic!("should give up after 60 s");
        };
        assert_eq!(report.status, DeliveryStatus::NotSent);
        assert_eq!(report.cause2_code(), "E0");
        assert_eq!(attempts.attempts(), 3);
    }

    #[test]
    fn success_and_permanent_refusals_end_at_once() {
        let options = ClassCOptions::default();
        let mut attempts = ClassCAttempts::start(t(0));
        let ClassCNext::Delivered(report) = attempts.outcome(TxOutcome::Sent, t(10), &options)
        else {
            panic!("sent");
        };
        assert_eq!(report.status, DeliveryStatus::Sent);
        assert_eq!(report.slot, TransmissionSlot::Rx2);
        let mut attempts = ClassCAttempts::start(t(0));
        let refused = TxOutcome::Refused(TxRefusal::Frequency);
        let ClassCNext::GiveUp(report) = attempts.outcome(refused, t(10), &options) else {
            panic!("a frequency the radio cannot do is final");
        };
        assert_eq!(report.cause2_code(), "A5");
    }

    #[test]
    fn a_spent_duty_cycle_waits_or_gives_up_with_e0() {
        let device = DeviceRadio::defaults(Region::Eu868.params());
        let options = ClassCOptions::default();
        let mut ledger = DutyCycleLedger::new(Region::Eu868);
        // 10 % of an hour in g3 = 360 s, spent in two halves, 30 s apart.
        let gateway = GatewayId::from_u64(7);
        ledger.record(gateway, 869_525_000, Duration::from_secs(180), t(0));
        ledger.record(gateway, 869_525_000, Duration::from_secs(180), t(30_000));
        let now = t(3_599_990);
        let blocked =
            plan_class_c(&request(&device, 20, now), &options, &ledger).expect_err("budget spent");
        assert_eq!(
            blocked,
            ClassCBlocked::Until {
                until: t(3_600_000),
                cause: DeliveryFailedCause::DutyCycleNetworkServer
            }
        );
        let mut attempts = ClassCAttempts::start(now);
        assert_eq!(
            attempts.blocked(blocked, &options),
            ClassCNext::RetryAt(t(3_600_000))
        );
        // Starting 61 s earlier, the wait would pass the deadline.
        let mut early = ClassCAttempts::start(t(3_538_000));
        let ClassCNext::GiveUp(report) = early.blocked(blocked, &options) else {
            panic!("past 60 s");
        };
        assert_eq!(report.cause2_code(), "E0");
    }

    #[test]
    fn a_frame_rx2_cannot_carry_is_never_sent() {
        let device = DeviceRadio::defaults(Region::Eu868.params());
        let ledger = DutyCycleLedger::new(Region::Eu868);
        let blocked = plan_class_c(
            &request(&device, 70, t(0)),
            &ClassCOptions::default(),
            &ledger,
        );
        assert_eq!(
            blocked,
            Err(ClassCBlocked::Never(DeliveryFailedCause::MaxDwellTime))
        );
    }
}
