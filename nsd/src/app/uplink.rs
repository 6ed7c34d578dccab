//! A deduplicated frame → its device and counter → payload and MAC commands → the
//! application event. The session's new counter is stored before anything is reported, so
//! a frame reported once is never accepted again, even across a crash.

use std::sync::Arc;
use std::time::SystemTime;

use lorawan::crypto::Direction;
use lorawan::ids::{DevAddr, Eui64};
use lorawan::join::MacVersion;
use lorawan::phy::{DataFrame, Frame, PhyPayload, MAX_FOPTS_LEN};

use super::{unix_seconds, NetworkServer};
use crate::device::registry::DeviceEntry;
use crate::gateway::RxInfo;
use crate::uplink::data::{self, Candidate, Counter, Radio, Unmatched};
use crate::uplink::dedup::Deduplicated;

/// How often (in frames) the MAC state is stored for its ADR history alone.
const MAC_HISTORY_EVERY: u32 = 16;

/// An FRMPayload as the application receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppPayload {
    /// Decrypted with the AppSKey the nsd holds.
    Clear(Vec<u8>),
    /// Still encrypted: the application server holds the AppSKey.
    Encrypted(Vec<u8>),
}

/// An accepted data uplink, for the application side.
#[derive(Debug, Clone, PartialEq)]
pub struct UplinkEvent {
    /// The device.
    pub dev_eui: Eui64,
    /// Its session's address.
    pub dev_addr: DevAddr,
    /// The session's L2 version.
    pub mac_version: MacVersion,
    /// Full 32-bit FCntUp.
    pub f_cnt: u32,
    /// FPort, when the frame has a payload.
    pub f_port: Option<u8>,
    /// The FRMPayload of an FPort > 0 frame.
    pub payload: Option<AppPayload>,
    /// MAC commands (FOpts or FPort-0 payload), decrypted.
    pub mac_commands: Vec<u8>,
    /// Confirmed data up.
    pub confirmed: bool,
    /// The device asks for ADR.
    pub adr: bool,
    /// The device asks for a downlink to prove the link (ADRACKReq).
    pub adr_ack_req: bool,
    /// The device acknowledges the last confirmed downlink.
    pub ack: bool,
    /// Frames lost since the previous one.
    pub lost: u32,
    /// The data rate of the uplink in the device's region.
    pub data_rate: Option<u8>,
    /// The best receptions, best first.
    pub receptions: Vec<RxInfo>,
    /// When the first reception arrived at the nsd.
    pub received_at: SystemTime,
    /// What the MAC layer has to report (device status, resets, refused requests, …).
    pub mac_events: Vec<crate::mac::MacEvent>,
    /// The MAC layer wants a downlink in this uplink's windows (answers, requests).
    pub needs_downlink: bool,
    /// Heard through a roaming partner's gateways (we are the serving NS).
    pub roaming: Option<crate::tunnel::RoamingInfo>,
}

/// What became of a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum UplinkOutcome {
    /// A new data frame, reported to the application.
    Accepted(Arc<UplinkEvent>),
    /// The device repeated its last frame (NbTrans, or it missed our ACK): not reported again.
    Retransmission {
        /// The device.
        dev_eui: Eui64,
        /// The repeated counter.
        f_cnt: u32,
        /// Confirmed data up: the ACK is due again.
        confirmed: bool,
    },
    /// A join-request (served by the join path).
    JoinRequest,
    /// Refused, with the reason (logged and counted by the caller).
    Refused(Refusal),
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a frame we can parse.
    #[error("malformed PHYPayload: {0}")]
    Malformed(String),
    /// A downlink or join-accept heard by a gateway (another network's, or our own echo).
    #[error("not an uplink message")]
    NotUplink,
    /// No session matched.
    #[error("DevAddr {dev_addr}: {reason}")]
    Unmatched {
        /// The address.
        dev_addr: DevAddr,
        /// Why.
        reason: Unmatched,
    },
    /// Only gateways of other tenants heard it, and none may serve this device's tenant.
    #[error("device {dev_eui} of tenant {tenant} heard only by gateways that may not serve it")]
    Segregated {
        /// The device.
        dev_eui: Eui64,
        /// Its tenant.
        tenant: String,
    },
    /// The counter could not be stored: the frame is not reported (it will be accepted when
    /// the device sends its next one).
    #[error("storage: {0}")]
    Storage(String),
}

impl NetworkServer {
    /// Serves one deduplicated frame; `roamed` when a partner's gateways heard it (only
    /// roaming-enabled devices are then candidates, and the event says where it came from).
    pub async fn handle_uplink(
        &self,
        frame: &Deduplicated,
        received_at: SystemTime,
        roamed: Option<crate::tunnel::RoamingInfo>,
    ) -> UplinkOutcome {
        let parsed = match PhyPayload::parse(&frame.phy) {
            Ok(parsed) => parsed,
            Err(e) => return UplinkOutcome::Refused(Refusal::Malformed(e.to_string())),
        };
        match parsed.frame() {
            Frame::Data(data) if data.direction() == Direction::Uplink => {
                self.handle_data(&data, frame, received_at, roamed).await
            }
            Frame::JoinRequest(_) | Frame::RejoinRequest(_) => UplinkOutcome::JoinRequest,
            _ => UplinkOutcome::Refused(Refusal::NotUplink),
        }
    }

    async fn handle_data(
        &self,
        frame: &DataFrame<'_>,
        heard: &Deduplicated,
        received_at: SystemTime,
        roamed: Option<crate::tunnel::RoamingInfo>,
    ) -> UplinkOutcome {
        let dev_addr = frame.dev_addr();
        // In DevEUI order, so two frames for overlapping candidate sets cannot deadlock.
        let entries = self.registry.by_dev_addr(dev_addr);
        let mut locked = Vec::with_capacity(entries.len());
        for entry in &entries {
            locked.push(entry.lock().await);
        }
        let best = heard.receptions.first();
        let mut candidates = Vec::with_capacity(locked.len());
        let mut owners = Vec::with_capacity(locked.len());
        for (i, entry) in locked.iter().enumerate() {
            if roamed.is_some() && !entry.device.roaming {
                continue;
            }
            if let (Some(session), Some(keys)) = (&entry.session, &entry.keys) {
                if session.dev_addr == dev_addr {
                    candidates.push(Candidate {
                        session,
                        keys,
                        counter_reset_allowed: entry.profile.abp_counter_reset,
                    });
                    owners.push(i);
                }
            }
        }
        let radio = best
            .zip(locked.first())
            .map(|(rx, entry)| radio_of(rx, entry))
            .unwrap_or(Radio {
                data_rate: 0,
                channel: 0,
            });
        let matched = match data::match_uplink(frame, &candidates, radio) {
            Ok(m) => m,
            Err(reason) => {
                return UplinkOutcome::Refused(Refusal::Unmatched { dev_addr, reason });
            }
        };
        drop(candidates);
        let entry = &mut locked[owners[matched.index]];
        let dev_eui = entry.device.dev_eui;
        // Segregation: only the receptions of gateways allowed to serve the device's tenant
        // count; none left, and the frame is not this network's to serve. A partner's
        // gateways serve a roaming device under the roaming agreement instead.
        let receptions: Vec<RxInfo> = heard
            .receptions
            .iter()
            .filter(|rx| roamed.is_some() || self.serves_tenant(rx.gateway, &entry.device.tenant))
            .cloned()
            .collect();
        if receptions.is_empty() {
            return UplinkOutcome::Refused(Refusal::Segregated {
                dev_eui,
                tenant: entry.device.tenant.clone(),
            });
        }
        let best = receptions.first();
        let data_rate = best.and_then(|rx| data_rate_of(rx, entry));
        let lost = match matched.counter {
            Counter::Retransmission => {
                return UplinkOutcome::Retransmission {
                    dev_eui,
                    f_cnt: matched.f_cnt,
                    confirmed: frame.confirmed(),
                }
            }
            Counter::New { lost } => lost,
            Counter::Reset => 0,
        };
        let profile = entry.profile.clone();
        let Some(keys) = entry.session.as_ref().map(|s| s.keys.clone()) else {
            return UplinkOutcome::Refused(Refusal::Storage("session keys vanished".into()));
        };
        let (payload, mac_commands) = open_frame(frame, &keys, matched.f_cnt);
        let Some(session) = entry.session.as_mut() else {
            return UplinkOutcome::Refused(Refusal::Storage("session vanished".into()));
        };
        let before = session.clone();
        session.f_cnt_up_next = matched.f_cnt.wrapping_add(1);
        if frame.fctrl().ack() {
            session.last_confirmed_down = None;
        }
        let version = session.mac_version;
        let mac = session
            .mac
            .get_or_insert_with(|| profile.fresh_mac_state(version));
        let facts = uplink_facts(
            frame,
            matched.f_cnt,
            data_rate,
            &heard.receptions,
            received_at,
        );
        let commands = match lorawan::mac::parse_commands(&mac_commands, Direction::Uplink) {
            Ok(commands) => commands,
            Err(e) => {
                tracing::debug!(%dev_eui, error = %e, "malformed MAC commands ignored");
                Vec::new()
            }
        };
        let mac_outcome = crate::mac::on_uplink(mac, &facts, &commands);
        // Stored before anything is reported: a frame reported once is never accepted again.
        // The MAC state goes with it when the uplink changed more than its ADR history, and
        // every MAC_HISTORY_EVERY frames anyway (a crash then costs ADR a few samples).
        let mac_changed = match (&before.mac, &session.mac) {
            (Some(old), Some(new)) => !old.same_but_uplink_history(new),
            _ => true,
        };
        let saved = if mac_changed || matched.f_cnt % MAC_HISTORY_EVERY == 0 {
            self.devices_store
                .save_counters(dev_eui, session, unix_seconds())
                .await
        } else {
            self.devices_store
                .save_counters_only(dev_eui, session, unix_seconds())
                .await
        };
        if let Err(e) = saved {
            *session = before;
            return UplinkOutcome::Refused(Refusal::Storage(e.to_string()));
        }
        let event = Arc::new(UplinkEvent {
            dev_eui,
            dev_addr,
            mac_version: version,
            f_cnt: matched.f_cnt,
            f_port: frame.fport(),
            payload,
            mac_commands,
            confirmed: frame.confirmed(),
            adr: frame.fctrl().adr(),
            adr_ack_req: frame.fctrl().adr_ack_req(),
            ack: frame.fctrl().ack(),
            lost,
            data_rate,
            receptions,
            received_at,
            mac_events: mac_outcome.events,
            needs_downlink: mac_outcome.needs_downlink,
            roaming: roamed,
        });
        let rekeyed = event
            .mac_events
            .iter()
            .any(|e| matches!(e, crate::mac::MacEvent::Rekeyed { .. }));
        if rekeyed {
            // 1.1 OTAA: the tunnel's `join` notification "is triggered by the uplink frame
            // containing the ReKeyInd MAC command" (seed 001 §6.4.1).
            self.notify(super::notice::Notice::Joined {
                dev_eui,
                dev_addr,
                mac_version: version,
                app_s_key: session.keys.app_s_key,
                time: event
                    .receptions
                    .first()
                    .and_then(|rx| rx.time)
                    .unwrap_or(received_at),
            });
        }
        if matches!(matched.counter, Counter::Reset) {
            // The tunnel's `reset` notification (seed 001 §6.4.1, ABP automatic reset).
            self.notify(super::notice::Notice::CounterReset {
                dev_eui,
                dev_addr,
                time: event
                    .receptions
                    .first()
                    .and_then(|rx| rx.time)
                    .unwrap_or(received_at),
            });
        }
        // No subscriber is not an error: the AS side may not be configured.
        let _ = self.events.send(event.clone());
        UplinkOutcome::Accepted(event)
    }
}

/// The application payload and the MAC commands (FOpts or FPort-0 payload), decrypted.
fn open_frame(
    frame: &DataFrame<'_>,
    keys: &crate::device::SessionKeys,
    f_cnt: u32,
) -> (Option<AppPayload>, Vec<u8>) {
    let mut mac_commands = Vec::new();
    let mut payload = None;
    match frame.fport() {
        Some(0) => mac_commands = frame.frm_payload_decrypted(&keys.nwk_s_enc(), f_cnt),
        Some(_) => {
            payload = Some(match &keys.app_s() {
                Some(app) => AppPayload::Clear(frame.frm_payload_decrypted(app, f_cnt)),
                None => AppPayload::Encrypted(frame.frm_payload().to_vec()),
            });
        }
        None => {}
    }
    if !frame.fopts().is_empty() {
        mac_commands = if keys.split() {
            let mut out = [0u8; MAX_FOPTS_LEN];
            frame
                .decrypt_fopts_1_1_into(&keys.nwk_s_enc(), f_cnt, &mut out)
                .to_vec()
        } else {
            frame.fopts().to_vec()
        };
    }
    (payload, mac_commands)
}

/// What the MAC layer needs to know of the uplink.
fn uplink_facts(
    frame: &DataFrame<'_>,
    f_cnt: u32,
    data_rate: Option<u8>,
    receptions: &[RxInfo],
    received_at: SystemTime,
) -> crate::mac::UplinkFacts {
    let best_snr = receptions
        .iter()
        .map(|r| r.snr_db)
        .fold(f32::NEG_INFINITY, f32::max);
    let best_rssi = receptions
        .iter()
        .map(|r| f32::from(r.rssi_dbm))
        .fold(f32::NEG_INFINITY, f32::max);
    crate::mac::UplinkFacts {
        fcnt: f_cnt,
        data_rate: data_rate.unwrap_or(0),
        adr: frame.fctrl().adr(),
        adr_ack_req: frame.fctrl().adr_ack_req(),
        confirmed: frame.confirmed(),
        max_snr: if receptions.is_empty() { 0.0 } else { best_snr },
        max_rssi: if receptions.is_empty() {
            0.0
        } else {
            best_rssi
        },
        gateway_count: u8::try_from(receptions.len()).unwrap_or(u8::MAX),
        received_unix_ms: received_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        gps_time: receptions
            .iter()
            .find_map(|r| r.gps_time_ms)
            .map(std::time::Duration::from_millis),
    }
}

fn data_rate_of(rx: &RxInfo, entry: &DeviceEntry) -> Option<u8> {
    let params = entry.profile.region.params();
    params.dr_for(
        crate::downlink::airtime::region_modulation(&rx.modulation)?,
        Direction::Uplink,
    )
}

/// The data rate and channel of the uplink, for the 1.1 MIC.
fn radio_of(rx: &RxInfo, entry: &DeviceEntry) -> Radio {
    let params = entry.profile.region.params();
    Radio {
        data_rate: data_rate_of(rx, entry).unwrap_or(0),
        channel: params
            .uplink_channel_index(rx.frequency_hz)
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(0),
    }
}
