//! Sending downlinks: the class A answer to an uplink (ACK, MAC commands, the head of the
//! queue) and the join-accept, class C frames (one attempt at a time, see
//! [`Downlinks::class_c`]) and multicast batches, through whichever gateway layer the daemon
//! runs. Every transmission a gateway accepts is recorded in the duty-cycle ledger of its
//! region.
//!
//! The order is fixed by the durability rule: build the frame, store the advanced counter,
//! only then hand it to a gateway. A crash in between loses a counter value, never reuses one.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lorawan::ids::Eui64;
use lorawan::region::Region;

use crate::downlink::class_a::{
    plan_class_a, too_late, ClassAOptions, ClassARequest, DeviceRadio, Lateness,
};
use crate::downlink::class_c::{
    plan_class_c, ClassCAttempts, ClassCNext, ClassCOptions, ClassCRequest,
};
use crate::downlink::delivery::{DeliveryReport, TransmissionSlot};
use crate::downlink::duty_cycle::DutyCycleLedger;
use crate::downlink::multicast::MulticastOptions;

use super::lock;
use crate::gateway::{GatewayId, GatewayLink, RxInfo, Transmission, TxOutcome};

/// [`GatewayLink`] in a form the network server can hold without knowing the protocol.
pub trait Transmit: Send + Sync + 'static {
    /// Sends and waits for the gateway's answer.
    fn transmit_boxed(
        &self,
        transmission: Transmission,
    ) -> Pin<Box<dyn Future<Output = TxOutcome> + Send + '_>>;
}

impl<L: GatewayLink> Transmit for L {
    fn transmit_boxed(
        &self,
        transmission: Transmission,
    ) -> Pin<Box<dyn Future<Output = TxOutcome> + Send + '_>> {
        Box::pin(self.transmit(transmission))
    }
}

/// The downlink sender: the gateway link and the duty-cycle ledgers per region. Cheap to
/// clone (shared state), so a class C or multicast task can own one.
#[derive(Clone)]
pub struct Downlinks {
    link: Arc<dyn Transmit>,
    ledgers: Arc<Mutex<HashMap<Region, DutyCycleLedger>>>,
    options: ClassAOptions,
    class_c: ClassCOptions,
    multicast: MulticastOptions,
    /// Devices with a class C sender running (one per device at a time).
    class_c_senders: Arc<Mutex<HashSet<Eui64>>>,
}

impl std::fmt::Debug for Downlinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Downlinks")
    }
}

impl Downlinks {
    /// Downlinks through `link`.
    pub fn new(link: impl GatewayLink) -> Self {
        Self {
            link: Arc::new(link),
            ledgers: Arc::new(Mutex::new(HashMap::new())),
            options: ClassAOptions::default(),
            class_c: ClassCOptions::default(),
            multicast: MulticastOptions::default(),
            class_c_senders: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// The same, with class C and multicast tunables.
    pub fn with_options(mut self, class_c: ClassCOptions, multicast: MulticastOptions) -> Self {
        self.class_c = class_c;
        self.multicast = multicast;
        self
    }

    /// Whether both class A windows of an uplink that arrived `elapsed` ago have closed
    /// for a device on `radio` (no frame could reach the gateway in time for either).
    pub fn class_a_windows_closed(&self, radio: &DeviceRadio, elapsed: Duration) -> bool {
        too_late(elapsed, radio.rx1_delay, self.options.scheduling_margin)
            == Lateness::TooLateForBoth
    }

    /// The class C tunables.
    pub fn class_c_options(&self) -> &ClassCOptions {
        &self.class_c
    }

    /// The multicast tunables.
    pub fn multicast_options(&self) -> &MulticastOptions {
        &self.multicast
    }

    /// Marks `dev_eui` as having a class C sender; `false` if one runs already.
    pub(crate) fn claim_class_c_sender(&self, dev_eui: Eui64) -> bool {
        lock(&self.class_c_senders).insert(dev_eui)
    }

    /// The class C sender of `dev_eui` stopped.
    pub(crate) fn release_class_c_sender(&self, dev_eui: Eui64) {
        lock(&self.class_c_senders).remove(&dev_eui);
    }

    /// One class C attempt: plans an immediate transmission of `phy` on the device's RX2
    /// parameters through `gateway` (the one that heard it best last), sends it if the
    /// duty cycle allows, and says what next (delivered, retry at a time, give up) through
    /// `attempts`.
    pub async fn class_c(
        &self,
        region: Region,
        radio: &DeviceRadio,
        gateway: GatewayId,
        phy: &[u8],
        attempts: &mut ClassCAttempts,
    ) -> ClassCNext {
        let now = SystemTime::now();
        let plan = {
            let mut ledgers = lock(&self.ledgers);
            let ledger = pruned_ledger(&mut ledgers, region, now);
            let request = ClassCRequest {
                gateway,
                device: radio,
                region: region.params(),
                phy_len: phy.len(),
                now,
            };
            plan_class_c(&request, &self.class_c, ledger)
        };
        let slot = match plan {
            Ok(slot) => slot,
            Err(blocked) => return attempts.blocked(blocked, &self.class_c),
        };
        let outcome = self
            .link
            .transmit_boxed(slot.transmission(phy.to_vec()))
            .await;
        if outcome == TxOutcome::Sent {
            self.record(
                region,
                slot.gateway,
                slot.frequency_hz,
                slot.time_on_air,
                now,
            );
        }
        attempts.outcome(outcome, SystemTime::now(), &self.class_c)
    }

    /// Hands `transmissions` (one batch of a multicast plan, in `region`) to their gateways
    /// at once and collects the answers.
    pub async fn multicast_batch(
        &self,
        region: Region,
        transmissions: Vec<Transmission>,
        time_on_air: Duration,
    ) -> Vec<(GatewayId, TxOutcome)> {
        let mut tasks = tokio::task::JoinSet::new();
        for transmission in transmissions {
            let link = Arc::clone(&self.link);
            tasks.spawn(async move {
                let gateway = transmission.gateway;
                let frequency_hz = transmission.frequency_hz;
                let outcome = link.transmit_boxed(transmission).await;
                (gateway, frequency_hz, outcome)
            });
        }
        let mut answers = Vec::new();
        let now = SystemTime::now();
        while let Some(joined) = tasks.join_next().await {
            // A transmit task only panics if the gateway layer has a bug: that gateway
            // then counts as not answering (it is absent from the answers, so not retried).
            let Ok((gateway, frequency_hz, outcome)) = joined else {
                continue;
            };
            if outcome == TxOutcome::Sent {
                self.record(region, gateway, frequency_hz, time_on_air, now);
            }
            answers.push((gateway, outcome));
        }
        answers
    }

    fn record(
        &self,
        region: Region,
        gateway: GatewayId,
        frequency_hz: u32,
        time_on_air: Duration,
        now: SystemTime,
    ) {
        ledger(&mut lock(&self.ledgers), region).record(gateway, frequency_hz, time_on_air, now);
    }

    /// Sends `phy` in the class A windows of the uplink heard by `receptions`, `elapsed`
    /// after it arrived: RX1, then RX2 if RX1 was skipped or refused. Returns the delivery
    /// and the transmission that went out, if one did.
    pub async fn class_a(
        &self,
        region: Region,
        radio: &DeviceRadio,
        receptions: &[RxInfo],
        phy: &[u8],
        elapsed: Duration,
        may_transmit: impl Fn(crate::gateway::GatewayId) -> bool,
    ) -> (DeliveryReport, Option<Transmission>) {
        let now = SystemTime::now();
        let plan = {
            let mut ledgers = lock(&self.ledgers);
            let ledger = pruned_ledger(&mut ledgers, region, now);
            let request = ClassARequest {
                receptions,
                device: radio,
                region: region.params(),
                phy_len: phy.len(),
                elapsed,
                now,
            };
            plan_class_a(&request, &self.options, ledger, may_transmit)
        };
        let plan = match plan {
            Ok(plan) => plan,
            Err(none) => {
                let mut report = DeliveryReport::default();
                report.failed(TransmissionSlot::Rx1, none.cause());
                report.failed(TransmissionSlot::Rx2, none.cause());
                return (report, None);
            }
        };
        let mut outcomes = Vec::new();
        let mut sent = None;
        for slot in plan.candidates() {
            let transmission = slot.transmission(phy.to_vec());
            let outcome = self.link.transmit_boxed(transmission.clone()).await;
            outcomes.push((slot.slot, outcome));
            if outcome == TxOutcome::Sent {
                sent = Some(transmission);
                self.record(
                    region,
                    slot.gateway,
                    slot.frequency_hz,
                    slot.time_on_air,
                    now,
                );
                break;
            }
        }
        (plan.report(&outcomes), sent)
    }
}

/// What became of a roaming partner's transmission request ([`Downlinks::send_first`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Attempt `index` went out.
    Sent(usize),
    /// The gateway refused every attempt; its last answer.
    Refused(TxOutcome),
    /// No attempt fitted in the gateway's duty-cycle budget: none was sent.
    DutyCycle,
}

impl Sent {
    /// The gateway's answer, as the partner hears it (a duty-cycle refusal reads as a
    /// gateway that did not take the frame).
    pub fn outcome(self) -> TxOutcome {
        match self {
            Self::Sent(_) => TxOutcome::Sent,
            Self::Refused(outcome) => outcome,
            Self::DutyCycle => TxOutcome::NoAnswer,
        }
    }
}

impl Downlinks {
    /// Sends the first of `attempts` that fits the gateway's duty-cycle budget and that the
    /// gateway accepts (a roaming partner's XmitDataReq: RX1, then RX2), recording it in the
    /// ledger of `region`.
    pub async fn send_first(&self, region: Region, attempts: &[Transmission]) -> Sent {
        let mut last = None;
        for (index, transmission) in attempts.iter().enumerate() {
            let now = SystemTime::now();
            let Some(time_on_air) = crate::downlink::airtime::time_on_air(
                &transmission.modulation,
                transmission.phy.len(),
                lorawan::mac::Direction::Downlink,
            ) else {
                continue;
            };
            let fits = pruned_ledger(&mut lock(&self.ledgers), region, now).available_at(
                transmission.gateway,
                transmission.frequency_hz,
                time_on_air,
                now,
            ) == Some(now);
            if !fits {
                continue;
            }
            let outcome = self.link.transmit_boxed(transmission.clone()).await;
            if outcome == TxOutcome::Sent {
                self.record(
                    region,
                    transmission.gateway,
                    transmission.frequency_hz,
                    time_on_air,
                    now,
                );
                return Sent::Sent(index);
            }
            last = Some(outcome);
        }
        last.map_or(Sent::DutyCycle, Sent::Refused)
    }
}

/// The duty-cycle ledger of `region` (a new one for a region not yet seen).
fn ledger(ledgers: &mut HashMap<Region, DutyCycleLedger>, region: Region) -> &mut DutyCycleLedger {
    ledgers
        .entry(region)
        .or_insert_with(|| DutyCycleLedger::new(region))
}

/// [`ledger`], without the entries older than its window at `now`.
fn pruned_ledger(
    ledgers: &mut HashMap<Region, DutyCycleLedger>,
    region: Region,
    now: SystemTime,
) -> &mut DutyCycleLedger {
    let ledger = ledger(ledgers, region);
    ledger.prune(now);
    ledger
}

/// What the application learns about one of its frames once a window has decided its fate.
#[allow(clippy::too_many_arguments)] // each is one field of the report
pub fn sent_event(
    dev_eui: lorawan::ids::Eui64,
    session: &crate::device::Session,
    item: &crate::downlink::queue::QueueItem,
    f_cnt: u32,
    f_pending: bool,
    mac_commands: &[u8],
    delivery: DeliveryReport,
    transmission: Option<&Transmission>,
) -> crate::tunnel::report::DownlinkSent {
    let (f_cnt_dn, af_cnt_dn) = if session.is_1_1() {
        (None, Some(f_cnt))
    } else {
        (Some(f_cnt), None)
    };
    let spreading_factor = transmission.and_then(|t| match t.modulation {
        crate::gateway::RadioModulation::Lora {
            spreading_factor, ..
        } => Some(spreading_factor),
        _ => None,
    });
    crate::tunnel::report::DownlinkSent {
        dev_eui,
        dev_addr: session.dev_addr,
        time: SystemTime::now(),
        f_port: item.f_port,
        f_cnt_dn,
        af_cnt_dn,
        f_cnt_up: session.f_cnt_up_next.checked_sub(1),
        confirmed: item.confirmation == crate::downlink::queue::Confirmation::Confirmed,
        f_pending,
        mac_commands: mac_commands.to_vec(),
        delivery,
        gateway: transmission.map(|t| t.gateway),
        frequency_hz: transmission.map(|t| t.frequency_hz),
        spreading_factor,
        channel: None,
        sub_band: None,
        correlation_id: item.correlation_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use super::*;
    use crate::downlink::class_c::ClassCNext;
    use crate::gateway::{TxRefusal, TxTiming};

    /// A gateway layer answering from a script and remembering what it was asked.
    struct Scripted {
        answers: StdMutex<Vec<TxOutcome>>,
        asked: Arc<StdMutex<Vec<Transmission>>>,
    }

    impl GatewayLink for Scripted {
        async fn transmit(&self, transmission: Transmission) -> TxOutcome {
            lock(&self.asked).push(transmission);
            lock(&self.answers).pop().unwrap_or(TxOutcome::Sent)
        }
    }

    fn downlinks(answers: Vec<TxOutcome>) -> (Downlinks, Arc<StdMutex<Vec<Transmission>>>) {
        let asked = Arc::new(StdMutex::new(Vec::new()));
        let link = Scripted {
            answers: StdMutex::new(answers),
            asked: Arc::clone(&asked),
        };
        (Downlinks::new(link), asked)
    }

    #[tokio::test]
    async fn a_partners_transmission_never_exceeds_the_gateways_duty_cycle() {
        let (downlinks, asked) = downlinks(vec![TxOutcome::Refused(TxRefusal::TooLate)]);
        let gateway = GatewayId::from_u64(7);
        let transmission = |frequency_hz| Transmission {
            gateway,
            timing: TxTiming::Immediately,
            frequency_hz,
            modulation: crate::downlink::airtime::downlink_modulation(Region::Eu868.params(), 0)
                .expect("DR0"),
            power_dbm: 14,
            rf_chain: 0,
            invert_polarity: true,
            phy: vec![0x60; 30],
        };
        // RX1 refused by the gateway, RX2 sent.
        let attempts = [transmission(868_100_000), transmission(869_525_000)];
        assert_eq!(
            downlinks.send_first(Region::Eu868, &attempts).await,
            Sent::Sent(1)
        );
        // The 868.1 MHz sub-band (1 %: 36 s an hour) used up: nothing is asked of the gateway.
        {
            let mut ledgers = lock(&downlinks.ledgers);
            let ledger = ledgers.get_mut(&Region::Eu868).expect("ledger");
            ledger.record(
                gateway,
                868_100_000,
                Duration::from_secs(36),
                SystemTime::now(),
            );
        }
        let asked_before = lock(&asked).len();
        assert_eq!(
            downlinks
                .send_first(Region::Eu868, &[transmission(868_100_000)])
                .await,
            Sent::DutyCycle
        );
        assert_eq!(lock(&asked).len(), asked_before);
    }

    #[tokio::test]
    async fn a_class_c_attempt_goes_out_immediately_and_is_counted_in_the_duty_cycle() {
        let (downlinks, asked) = downlinks(vec![TxOutcome::Refused(TxRefusal::CollisionPacket)]);
        let radio = DeviceRadio::defaults(Region::Eu868.params());
        let gateway = GatewayId::from_u64(9);
        let mut attempts = ClassCAttempts::start(SystemTime::now());
        let phy = [0x60; 20];
        let next = downlinks
            .class_c(Region::Eu868, &radio, gateway, &phy, &mut attempts)
            .await;
        assert!(matches!(next, ClassCNext::RetryAt(_)), "{next:?}");
        let next = downlinks
            .class_c(Region::Eu868, &radio, gateway, &phy, &mut attempts)
            .await;
        assert!(matches!(next, ClassCNext::Delivered(_)), "{next:?}");
        let asked = lock(&asked).clone();
        assert_eq!(asked.len(), 2);
        assert!(asked
            .iter()
            .all(|t| t.timing == TxTiming::Immediately && t.frequency_hz == 869_525_000));
        // Only the accepted attempt spent air time: the ledger has room for it once more,
        // not for the 360 s of the g3 sub-band.
        let ledgers = lock(&downlinks.ledgers);
        let ledger = ledgers.get(&Region::Eu868).expect("ledger");
        let now = SystemTime::now();
        assert!(ledger
            .check(gateway, 869_525_000, Duration::from_secs(358), now)
            .is_ok());
        assert!(ledger
            .check(gateway, 869_525_000, Duration::from_secs(359), now)
            .is_err());
    }

    #[tokio::test]
    async fn a_spent_duty_cycle_is_not_asked_of_the_gateway() {
        let (downlinks, asked) = downlinks(vec![]);
        let gateway = GatewayId::from_u64(9);
        downlinks.record(
            Region::Eu868,
            gateway,
            869_525_000,
            Duration::from_secs(360),
            SystemTime::now(),
        );
        let radio = DeviceRadio::defaults(Region::Eu868.params());
        let mut attempts = ClassCAttempts::start(SystemTime::now());
        let next = downlinks
            .class_c(Region::Eu868, &radio, gateway, &[0x60; 20], &mut attempts)
            .await;
        // The budget comes back in an hour: past the 60 s, so E0 at once.
        let ClassCNext::GiveUp(report) = next else {
            panic!("{next:?}");
        };
        assert_eq!(report.cause2_code(), "E0");
        assert!(lock(&asked).is_empty());
    }
}
