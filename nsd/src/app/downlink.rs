//! Sending downlinks: the class A answer to an uplink (ACK, MAC commands, the head of the
//! queue) and the join-accept, through whichever gateway layer the daemon runs.
//!
//! The order is fixed by the durability rule: build the frame, store the advanced counter,
//! only then hand it to a gateway. A crash in between loses a counter value, never reuses one.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use lorawan::region::Region;

use crate::downlink::class_a::{plan_class_a, ClassAOptions, ClassARequest, DeviceRadio};
use crate::downlink::delivery::{DeliveryReport, TransmissionSlot};
use crate::downlink::duty_cycle::DutyCycleLedger;
use crate::gateway::{GatewayLink, RxInfo, Transmission, TxOutcome};

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

/// The downlink sender: the gateway link and the duty-cycle ledgers per region.
pub struct Downlinks {
    link: Box<dyn Transmit>,
    ledgers: Mutex<HashMap<Region, DutyCycleLedger>>,
    options: ClassAOptions,
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
            link: Box::new(link),
            ledgers: Mutex::new(HashMap::new()),
            options: ClassAOptions::default(),
        }
    }

    /// Sends `phy` in the class A windows of the uplink heard by `receptions`, `elapsed`
    /// after it arrived: RX1, then RX2 if RX1 was skipped or refused.
    pub async fn class_a(
        &self,
        region: Region,
        radio: &DeviceRadio,
        receptions: &[RxInfo],
        phy: &[u8],
        elapsed: Duration,
        may_transmit: impl Fn(crate::gateway::GatewayId) -> bool,
    ) -> DeliveryReport {
        let now = SystemTime::now();
        let plan = {
            let mut ledgers = self.ledgers.lock().unwrap_or_else(|e| e.into_inner());
            let ledger = ledgers
                .entry(region)
                .or_insert_with(|| DutyCycleLedger::new(region));
            ledger.prune(now);
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
                return report;
            }
        };
        let mut outcomes = Vec::new();
        for slot in plan.candidates() {
            let outcome = self
                .link
                .transmit_boxed(slot.transmission(phy.to_vec()))
                .await;
            outcomes.push((slot.slot, outcome));
            if outcome == TxOutcome::Sent {
                let mut ledgers = self.ledgers.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(ledger) = ledgers.get_mut(&region) {
                    ledger.record(slot.gateway, slot.frequency_hz, slot.time_on_air, now);
                }
                break;
            }
        }
        plan.report(&outcomes)
    }
}
