//! The class A answer to an uplink: when something must go down (the ACK of a confirmed
//! uplink, the answer to ADRACKReq, a queued frame), one frame in RX1 or RX2.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lorawan::ids::Eui64;

use super::{unix_seconds, NetworkServer};
use crate::device::DeviceProfile;
use crate::downlink::class_a::DeviceRadio;
use crate::downlink::delivery::{
    DeliveryFailedCause, DeliveryReport, DeliveryStatus, TransmissionSlot,
};
use crate::downlink::frame::{build_downlink, FrameBits, FrameError};
use crate::downlink::queue::{AckBit, AckResult};
use crate::gateway::RxInfo;
use crate::mac::{commands_for_downlink, downlink_adr, on_downlink_lost, MacCarrier, MacState};

/// The largest FPort-0 payload of MAC commands: the smallest N of the regions' RX windows
/// (EU868 DR0: 51 bytes), so the frame fits whichever window it goes in.
const PORT0_MAX_LEN: usize = 51;

/// The device's downlink windows as it was last told them (join-accept, RXParamSetupReq,
/// RXTimingSetupReq), not merely as the profile wants them.
fn radio_of(mac: &MacState, profile: &DeviceProfile) -> DeviceRadio {
    let confirmed = &mac.confirmed;
    DeviceRadio {
        rx1_delay: DeviceRadio::rx1_delay_from_setting(confirmed.rx1_delay),
        rx1_dr_offset: confirmed.rx1_dr_offset,
        rx2_data_rate: confirmed.rx2_data_rate,
        rx2_frequency_hz: confirmed.rx2_frequency,
        ..DeviceRadio::defaults(profile.region.params())
    }
}

/// What the uplink asked of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UplinkAsks {
    /// Its full FCnt (the 1.1 downlink MIC covers the acknowledged uplink's counter).
    pub f_cnt: u32,
    /// Confirmed: it must be acknowledged.
    pub confirmed: bool,
    /// ADRACKReq: it wants any downlink.
    pub adr_ack_req: bool,
    /// Its ACK bit (acknowledging our last confirmed downlink).
    pub ack: bool,
    /// The MAC layer has answers or requests for the device.
    pub mac: bool,
}

impl NetworkServer {
    /// Sends the class A answer to an uplink of `dev_eui` heard by `receptions`, if one is
    /// due; `elapsed` says how long ago the uplink arrived. `roamed`: a partner's gateways
    /// heard it, and the answer goes back through the partner. `None`: nothing was due.
    pub async fn answer_class_a(
        &self,
        dev_eui: Eui64,
        asks: UplinkAsks,
        receptions: &[RxInfo],
        elapsed: impl Fn() -> Duration,
        roamed: Option<&crate::roaming::sns::RoamingContext>,
    ) -> Option<DeliveryReport> {
        let entry = self.registry.get(dev_eui)?;
        let mut entry = entry.lock().await;
        let now = SystemTime::now();
        let ack = if asks.ack { AckBit::Set } else { AckBit::Clear };
        let mut queue_changed = false;
        match entry.queue.on_uplink(ack, now) {
            Some(AckResult::Acknowledged(frame)) => {
                tracing::debug!(%dev_eui, f_cnt = frame.fcnt, "confirmed downlink acknowledged");
                queue_changed = true;
            }
            Some(AckResult::NotAcknowledged(frame)) => {
                tracing::info!(%dev_eui, f_cnt = frame.fcnt, "confirmed downlink not acknowledged");
                queue_changed = true;
            }
            None => {}
        }
        entry.last_receptions = receptions.to_vec();
        let next = entry.queue.next_for_transmission(now);
        for expired in &next.expired {
            tracing::info!(%dev_eui, id = expired.id, "queued downlink expired before a window opened");
            queue_changed = true;
        }
        if !(asks.confirmed || asks.adr_ack_req || asks.mac || next.item.is_some()) {
            if queue_changed {
                self.save_queue(dev_eui, &entry.queue).await;
            }
            return None;
        }
        let profile = entry.profile.clone();
        let tenant = entry.device.tenant.clone();
        let (Some(session), Some(keys)) = (entry.session.clone(), entry.keys.clone()) else {
            return None;
        };
        let mut session = session;
        let mut item = next.item;
        let version = session.mac_version;
        let mut mac = session
            .mac
            .take()
            .unwrap_or_else(|| profile.fresh_mac_state(version));
        let radio = radio_of(&mac, &profile);
        // Both windows already closed (the pipeline is behind): nothing is built, stored or
        // sent. The MAC commands and the queued frame wait for the next uplink, and no
        // counter is spent: under overload this sheds the answers' cost instead of adding
        // to it.
        let windows_closed =
            roamed.is_none() && self.downlinks.class_a_windows_closed(&radio, elapsed());
        // Likewise when none of the partner's gateways that heard a roamed frame may send.
        let partner_gateway = roamed.and_then(|context| context.downlink_gateway(receptions));
        let no_partner_gateway = roamed.is_some() && partner_gateway.is_none();
        if windows_closed || no_partner_gateway {
            if queue_changed {
                self.save_queue(dev_eui, &entry.queue).await;
            }
            let cause = if windows_closed {
                DeliveryFailedCause::TooLate
            } else {
                DeliveryFailedCause::NoGatewayConnected
            };
            let mut report = DeliveryReport::default();
            report.failed(TransmissionSlot::Rx1, cause);
            report.failed(TransmissionSlot::Rx2, cause);
            return Some(report);
        }
        // MAC commands ride in FOpts beside an application payload, or alone on FPort 0
        // (room for a fixed-plan LinkADRReq block longer than FOpts allows).
        let carrier = if item.is_some() {
            MacCarrier::FOpts
        } else {
            MacCarrier::Port0 {
                max_len: PORT0_MAX_LEN,
            }
        };
        let planned = commands_for_downlink(&mut mac, carrier);
        let adr = downlink_adr(&mac);
        let built = loop {
            let bits = FrameBits {
                ack: asks.confirmed,
                adr,
                f_pending: next.f_pending,
                fopts: &planned.bytes,
                acked_uplink_f_cnt: asks.f_cnt,
            };
            match build_downlink(&mut session, &keys, bits, item.as_ref()) {
                Ok(built) => break built,
                // The frame cannot go (stale AS counter, no AppSKey for a clear payload): it
                // leaves the queue; the ACK or the MAC commands still go.
                Err(e @ (FrameError::StaleCounter { .. } | FrameError::NoAppSKey)) => {
                    if let Some(dropped) = item.take() {
                        tracing::warn!(%dev_eui, id = dropped.id, error = %e, "queued downlink dropped");
                        entry.queue.remove(dropped.id);
                        queue_changed = true;
                    }
                    if !(asks.confirmed || asks.adr_ack_req || !planned.bytes.is_empty()) {
                        self.save_queue(dev_eui, &entry.queue).await;
                        return None;
                    }
                }
                Err(e) => {
                    tracing::error!(%dev_eui, error = %e, "downlink cannot be built");
                    return None;
                }
            }
        };
        session.mac = Some(mac);
        // The counter is stored before the frame leaves: never reused, even after a crash.
        if let Err(e) = self
            .devices_store
            .save_counters(dev_eui, &session, unix_seconds())
            .await
        {
            tracing::error!(%dev_eui, error = %e, "downlink counter not stored; nothing sent");
            return None;
        }
        entry.session = Some(session);
        let (report, transmission) = match roamed.zip(partner_gateway) {
            None => {
                self.downlinks
                    .class_a(
                        profile.region,
                        &radio,
                        receptions,
                        &built.phy,
                        elapsed(),
                        |g| self.may_transmit(g) && self.serves_tenant(g, &tenant),
                    )
                    .await
            }
            Some((context, gateway)) => {
                let details = crate::roaming::sns::DownlinkDetails {
                    dev_eui: Some(dev_eui),
                    f_port: item.as_ref().map(|i| i.f_port),
                    f_cnt_down: Some(built.f_cnt),
                    confirmed: item
                        .as_ref()
                        .map(|i| i.confirmation == crate::downlink::queue::Confirmation::Confirmed),
                };
                let report = self
                    .send_through_partner(context, gateway, &radio, &built.phy, details)
                    .await;
                (report, None)
            }
        };
        if let (Some(item), Some(session)) = (&item, &entry.session) {
            // The application hears of its frame either way (DevEUI_downlink_Sent).
            let event = super::downlink::sent_event(
                dev_eui,
                session,
                item,
                built.f_cnt,
                next.f_pending,
                &planned.bytes,
                report,
                transmission.as_ref(),
            );
            let _ = self.sent.send(Arc::new(event));
        }
        if report.status == DeliveryStatus::Sent {
            if let Some(item) = &item {
                entry.queue.sent(item.id, built.f_cnt, SystemTime::now());
                queue_changed = true;
            }
        } else if !planned.commands.is_empty() {
            // The requests did not go out: they stay queued for the next window.
            if let Some(session) = entry.session.as_mut() {
                if let Some(mac) = session.mac.as_mut() {
                    on_downlink_lost(mac, &planned);
                }
                if let Err(e) = self
                    .devices_store
                    .save_counters(dev_eui, session, unix_seconds())
                    .await
                {
                    tracing::error!(%dev_eui, error = %e, "MAC state not stored");
                }
            }
        }
        if queue_changed {
            self.save_queue(dev_eui, &entry.queue).await;
        }
        Some(report)
    }

    async fn save_queue(&self, dev_eui: Eui64, queue: &crate::downlink::queue::DeviceQueue) {
        if let Err(e) = self
            .devices_store
            .save_queue(dev_eui, queue, unix_seconds())
            .await
        {
            tracing::error!(%dev_eui, error = %e, "downlink queue not stored");
        }
    }
}
