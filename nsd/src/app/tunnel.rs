//! The network server as the LRC-AS tunnel sees it ([`TunnelNetwork`]): each device's AS
//! routing, what an uplink report says beyond the event, and the AS's downlinks queued.

use std::sync::Arc;

use lorawan::ids::Eui64;

use super::devices::EnqueueError;
use super::{NetworkServer, UplinkEvent};
use crate::downlink::queue::Payload;
use crate::tunnel::{
    AsCounter, AsRouting, DownlinkRefusal, DownlinkSubmission, TunnelNetwork, UplinkDetails,
};

/// How far ahead of the session an AS-encrypted frame's counter may be: a device accepts any
/// forward jump, but a counter far ahead is more likely a bug of the AS than a plan.
const MAX_AS_COUNTER_AHEAD: u32 = 16_384;

impl TunnelNetwork for NetworkServer {
    async fn routing(&self, dev_eui: Eui64) -> Option<AsRouting> {
        let entry = self.registry.get(dev_eui)?;
        let link = entry.lock().await.device.as_link.clone()?;
        let profile = self.as_profiles.get(&link.as_id)?;
        Some(link.routing(Arc::clone(profile)))
    }

    async fn uplink_details(&self, event: &UplinkEvent) -> UplinkDetails {
        let Some(entry) = self.registry.get(event.dev_eui) else {
            return UplinkDetails::default();
        };
        let entry = entry.lock().await;
        let mut details = UplinkDetails {
            class: Some(entry.profile.class),
            roaming: event.roaming,
            ..UplinkDetails::default()
        };
        let params = entry.profile.region.params();
        if let Some(rx) = event.receptions.first() {
            details.channel = params
                .uplink_channel_index(rx.frequency_hz)
                .and_then(|c| u8::try_from(c).ok());
            details.best_gateway_location = self
                .gateways
                .gateway(rx.gateway)
                .and_then(|g| g.location)
                .map(|l| (l.lat, l.lon));
        }
        if let Some(session) = &entry.session {
            let queued = entry.queue.max_as_fcnt().map(|f| f.wrapping_add(1));
            if session.is_1_1() {
                details.af_cnt_dn = Some(queued.unwrap_or(0).max(session.a_f_cnt_down));
                if event.ack {
                    details.conf_af_cnt_dn = entry
                        .queue
                        .pending_ack()
                        .filter(|p| p.item.f_port > 0)
                        .map(|p| p.fcnt);
                }
            } else {
                details.f_cnt_dn = Some(queued.unwrap_or(0).max(session.n_f_cnt_down));
            }
            if let Some(mac) = &session.mac {
                details.nb_trans = Some(mac.confirmed.nb_trans);
            }
        }
        details
    }

    async fn submit_downlink(
        &self,
        dev_eui: Eui64,
        submission: DownlinkSubmission,
    ) -> Result<(), DownlinkRefusal> {
        if submission.flush {
            self.flush_queue(dev_eui).await.map_err(refusal)?;
        }
        let Some(frame) = submission.frame else {
            return Ok(());
        };
        if let (Payload::Encrypted(_), Some(counter)) = (&frame.payload, submission.counter) {
            let expected = self.next_as_counter(dev_eui).await?;
            let wanted = counter.value();
            if wanted < expected {
                return Err(DownlinkRefusal::CounterAlreadyUsed { expected });
            }
            if wanted - expected > MAX_AS_COUNTER_AHEAD {
                return Err(DownlinkRefusal::CounterIncrementTooLarge { expected });
            }
            let _: AsCounter = counter;
        }
        self.deliverable(dev_eui, &frame).await?;
        self.enqueue(dev_eui, frame)
            .await
            .map(|_| ())
            .map_err(refusal)
    }
}

impl NetworkServer {
    /// The seed's refusals that depend on the device and its gateways (seed 001 §7.1.5):
    /// confirmed downlinks not allowed for it (103), a payload larger than its RX2 data rate
    /// carries (116: RX2 is the window every class A and C frame can fall back to), and no
    /// connected gateway among those that heard it last (115).
    async fn deliverable(
        &self,
        dev_eui: Eui64,
        frame: &crate::downlink::queue::NewDownlink,
    ) -> Result<(), DownlinkRefusal> {
        let entry = self
            .registry
            .get(dev_eui)
            .ok_or(DownlinkRefusal::UnknownDevice)?;
        let entry = entry.lock().await;
        let confirmed = frame.confirmation == crate::downlink::queue::Confirmation::Confirmed;
        if confirmed
            && entry
                .device
                .as_link
                .as_ref()
                .is_some_and(|link| !link.confirmed_downlinks)
        {
            return Err(DownlinkRefusal::ConfirmedNotAllowed);
        }
        let rx2_data_rate = entry
            .session
            .as_ref()
            .and_then(|s| s.mac.as_ref())
            .map_or(entry.profile.rx2_data_rate, |mac| {
                mac.confirmed.rx2_data_rate
            });
        let max = entry.profile.region.params().max_payload(
            rx2_data_rate,
            lorawan::region::DwellTime::NoLimit,
            lorawan::region::Repeater::NotCompatible,
        );
        if let Some(max) = max {
            if frame.payload.bytes().len() > usize::from(max.n) {
                return Err(DownlinkRefusal::PayloadTooBigForDataRate {
                    slot: crate::tunnel::SizeLimitSlot::Rx2,
                    data_rate: rx2_data_rate,
                    max_size: usize::from(max.n),
                });
            }
        }
        let now = std::time::SystemTime::now();
        let heard_by_connected = entry.last_receptions.iter().any(|rx| {
            self.gateways
                .status(rx.gateway)
                .is_some_and(|s| s.is_connected(now, self.keepalive_timeout))
        });
        // A device last heard through a roaming partner is answered through the partner.
        if !entry.last_receptions.is_empty()
            && !heard_by_connected
            && !self.last_heard_through_partner(dev_eui)
        {
            return Err(DownlinkRefusal::NoBaseStation);
        }
        Ok(())
    }

    /// The counter the AS must encrypt its next frame for: FCntDown (1.0) or AFCntDown
    /// (1.1), past every AS-encrypted frame already queued.
    pub(crate) async fn next_as_counter(&self, dev_eui: Eui64) -> Result<u32, DownlinkRefusal> {
        let entry = self
            .registry
            .get(dev_eui)
            .ok_or(DownlinkRefusal::UnknownDevice)?;
        let entry = entry.lock().await;
        let session = entry
            .session
            .as_ref()
            .ok_or(DownlinkRefusal::UnknownDevice)?;
        let next = if session.is_1_1() {
            session.a_f_cnt_down
        } else {
            session.n_f_cnt_down
        };
        let queued = entry.queue.max_as_fcnt().map_or(0, |f| f.wrapping_add(1));
        Ok(next.max(queued))
    }
}

fn refusal(error: EnqueueError) -> DownlinkRefusal {
    match error {
        EnqueueError::NotFound(_) | EnqueueError::NoSession(_) => DownlinkRefusal::UnknownDevice,
        EnqueueError::NoAppSKey => DownlinkRefusal::EncryptionRequired,
        EnqueueError::Queue(queue) => queue.into(),
        EnqueueError::Storage(e) => {
            // The seed has no code for our own failure; the AS may retry later.
            tracing::error!(error = %e, "downlink not queued: storage");
            DownlinkRefusal::TransmissionDisabled
        }
    }
}
