//! The uplink pipeline's runtime: receptions from the gateway layer are collected per frame
//! for the deduplication window, then each frame is served on its own task, so a slow join
//! server or a device waiting for its downlink never holds up other devices' frames.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use super::answer::UplinkAsks;
use super::join::JoinOutcome;
use super::lock;
use super::{NetworkServer, UplinkOutcome};
use crate::gateway::Reception;
use crate::uplink::dedup::{Collector, Deduplicated, Offered};

/// What the pipeline did with one frame, for tests and metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum Served {
    /// A data frame, with its answer's delivery if one was due.
    Uplink(
        UplinkOutcome,
        Option<crate::downlink::delivery::DeliveryReport>,
    ),
    /// A join-request.
    Join(JoinOutcome),
    /// Another network's frame, forwarded to its home (passive roaming, forwarding role).
    Forwarded(super::roaming::Forwarded),
}

impl NetworkServer {
    /// Serves one deduplicated frame that arrived at `first_seen`.
    pub async fn serve(&self, frame: Deduplicated, first_seen: Instant) -> Served {
        let received_at = SystemTime::now() - first_seen.elapsed();
        let elapsed = || first_seen.elapsed();
        if let Some(forwarded) = self.forward_if_foreign(&frame).await {
            return Served::Forwarded(forwarded);
        }
        let outcome = self.handle_uplink(&frame, received_at, None).await;
        match &outcome {
            UplinkOutcome::JoinRequest => return Served::Join(self.join(&frame, elapsed).await),
            UplinkOutcome::Accepted(event) => self.remember_home_frame(&frame.phy, event.dev_eui),
            UplinkOutcome::Refused(reason) => tracing::debug!(%reason, "uplink refused"),
            UplinkOutcome::Retransmission { .. } => {}
        }
        let delivery = match asks_of(&outcome) {
            // Macro diversity: a roaming device's answer goes through a partner's gateway
            // when the partner heard the frame better.
            Some((dev_eui, asks)) => match self
                .better_partner_copy(dev_eui, &frame.phy, &frame.receptions, first_seen)
                .await
            {
                Some(copy) => {
                    self.answer_class_a(
                        dev_eui,
                        asks,
                        &copy.receptions,
                        elapsed,
                        Some(&copy.context),
                    )
                    .await
                }
                None => {
                    self.answer_class_a(dev_eui, asks, &frame.receptions, elapsed, None)
                        .await
                }
            },
            None => None,
        };
        Served::Uplink(outcome, delivery)
    }
}

/// What an uplink asks of the network's class A answer, and of which device; `None` when no
/// answer can be due (refused, join-request, unconfirmed repetition).
pub(crate) fn asks_of(outcome: &UplinkOutcome) -> Option<(lorawan::ids::Eui64, UplinkAsks)> {
    match outcome {
        UplinkOutcome::Accepted(event) => Some((
            event.dev_eui,
            UplinkAsks {
                f_cnt: event.f_cnt,
                confirmed: event.confirmed,
                adr_ack_req: event.adr_ack_req,
                ack: event.ack,
                mac: event.needs_downlink,
            },
        )),
        // A confirmed frame repeated: our ACK was lost; acknowledge again.
        UplinkOutcome::Retransmission {
            dev_eui,
            f_cnt,
            confirmed: true,
        } => Some((
            *dev_eui,
            UplinkAsks {
                f_cnt: *f_cnt,
                confirmed: true,
                adr_ack_req: false,
                ack: false,
                mac: false,
            },
        )),
        _ => None,
    }
}

/// Runs the pipeline until `receptions` closes: each frame is served `window` after its
/// first reception, with at most `max_receptions` kept. `served` (if given) receives what
/// became of every frame.
pub async fn run(
    server: Arc<NetworkServer>,
    mut receptions: mpsc::Receiver<Reception>,
    window: Duration,
    max_receptions: usize,
    served: Option<mpsc::UnboundedSender<Served>>,
) {
    let collector = Arc::new(Mutex::new(Collector::new(max_receptions)));
    while let Some(reception) = receptions.recv().await {
        let phy = reception.phy.clone();
        let offered = lock(&collector).offer(reception);
        if offered != Offered::Opened {
            continue;
        }
        let first_seen = Instant::now();
        let (collector, server, served) = (collector.clone(), server.clone(), served.clone());
        tokio::spawn(async move {
            tokio::time::sleep(window).await;
            let frame = lock(&collector).close(&phy);
            if let Some(frame) = frame {
                let outcome = server.serve(frame, first_seen).await;
                if let Some(served) = served {
                    let _ = served.send(outcome);
                }
            }
        });
    }
}
