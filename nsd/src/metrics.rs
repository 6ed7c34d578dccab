//! The nsd's own metrics, registered in the daemon's registry and served at `/metrics`:
//!
//! - `switchyard_nsd_frames_total{outcome}`: every deduplicated frame the pipeline served,
//!   by outcome: `accepted` (a new data uplink, reported to the application),
//!   `retransmission`, `refused`, `join`, `forwarded` (another network's frame sent to its
//!   home through the hub: passive roaming, forwarding role), `no_agreement` (another
//!   network's frame no roaming agreement lets us forward: dropped);
//! - `switchyard_nsd_class_a_answers_total`: uplinks that got a class A answer (an ACK, an
//!   ADRACKReq answer, a queued frame) handed to a gateway or refused by the planner.
//!
//! A load driver outside the process reads the accepted count here.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;

use crate::app::pipeline::Served;
use crate::app::UplinkOutcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FrameLabels {
    outcome: String,
}

/// The counters of served frames.
#[derive(Debug, Clone)]
pub struct FrameMetrics {
    accepted: Counter,
    retransmission: Counter,
    refused: Counter,
    join: Counter,
    forwarded: Counter,
    no_agreement: Counter,
    answers: Counter,
}

impl FrameMetrics {
    /// Registers the counters in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let frames = Family::<FrameLabels, Counter>::default();
        registry.register(
            "frames",
            "Deduplicated frames served, by outcome",
            frames.clone(),
        );
        let answers = Counter::default();
        registry.register(
            "class_a_answers",
            "Uplinks that got a class A answer (sent or refused by the planner)",
            answers.clone(),
        );
        // Created once: counting a frame is then one atomic increment.
        let outcome = |name: &str| {
            frames
                .get_or_create(&FrameLabels {
                    outcome: name.to_owned(),
                })
                .clone()
        };
        Self {
            accepted: outcome("accepted"),
            retransmission: outcome("retransmission"),
            refused: outcome("refused"),
            join: outcome("join"),
            forwarded: outcome("forwarded"),
            no_agreement: outcome("no_agreement"),
            answers,
        }
    }

    /// Counts one served frame.
    pub fn observe(&self, served: &Served) {
        match served {
            Served::Uplink(outcome, delivery) => {
                match outcome {
                    UplinkOutcome::Accepted(_) => self.accepted.inc(),
                    UplinkOutcome::Retransmission { .. } => self.retransmission.inc(),
                    UplinkOutcome::Refused(_) => self.refused.inc(),
                    UplinkOutcome::JoinRequest => self.join.inc(),
                };
                if delivery.is_some() {
                    self.answers.inc();
                }
            }
            Served::Join(_) => {
                self.join.inc();
            }
            Served::Forwarded(crate::app::roaming::Forwarded::NoAgreement) => {
                self.no_agreement.inc();
            }
            Served::Forwarded(_) => {
                self.forwarded.inc();
            }
        }
    }
}

/// A `served` sender for the pipeline that counts every frame in `metrics`, then passes it
/// on to `then` (if given). The counting task ends when the pipeline drops the sender.
pub fn counting(
    metrics: FrameMetrics,
    then: Option<mpsc::UnboundedSender<Served>>,
) -> mpsc::UnboundedSender<Served> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Served>();
    tokio::spawn(async move {
        while let Some(served) = rx.recv().await {
            metrics.observe(&served);
            if let Some(then) = &then {
                // A caller that stopped listening does not stop the counting.
                let _ = then.send(served);
            }
        }
    });
    tx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_counted_by_outcome_and_exposed() {
        let mut registry = Registry::with_prefix("switchyard_nsd");
        let metrics = FrameMetrics::register(&mut registry);
        metrics.observe(&Served::Uplink(
            UplinkOutcome::Retransmission {
                dev_eui: lorawan::ids::Eui64::from_u64(1),
                f_cnt: 3,
                confirmed: false,
            },
            None,
        ));
        metrics.observe(&Served::Uplink(UplinkOutcome::JoinRequest, None));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        assert!(
            text.contains("switchyard_nsd_frames_total{outcome=\"retransmission\"} 1"),
            "{text}"
        );
        assert!(text.contains("switchyard_nsd_frames_total{outcome=\"accepted\"} 0"));
        assert!(text.contains("switchyard_nsd_class_a_answers_total 0"));
    }
}
