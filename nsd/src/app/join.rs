//! A join-request heard → `JoinReq` to the join server owning the JoinEUI → the new session
//! stored → the join-accept transmitted in the join windows (JOIN_ACCEPT_DELAY1 / 2).

use std::time::Duration;

use backend::dialect::Dialect;
use backend::http::client::{BiClient, PeerEndpoint};
use backend::http::pending::PendingAnswers;
use backend::message::Message;
use lorawan::ids::{AesKey, DevAddr, Eui64};
use lorawan::phy::{Frame, PhyPayload, RejoinType};

use super::{unix_seconds, NetworkServer};
use crate::config::JoinEuiRange;
use crate::downlink::class_a::DeviceRadio;
use crate::downlink::delivery::{DeliveryReport, DeliveryStatus};
use crate::join::{allocate_dev_addr, join_req, session_from, JoinFailure, JOIN_ACCEPT_DELAY1_S};
use crate::uplink::dedup::Deduplicated;

/// How long a join server may take to answer (async answers included). The join-accept
/// must reach the gateway before JOIN_ACCEPT_DELAY2 (6 s) after the join-request.
const JOIN_ANSWER_TIMEOUT: Duration = Duration::from_secs(4);

/// One join server (or a hub in front of many) and the JoinEUIs it serves.
#[derive(Clone)]
pub struct JoinServer {
    /// The JoinEUI ranges.
    pub ranges: Vec<JoinEuiRange>,
    /// Where and how to reach it.
    pub endpoint: PeerEndpoint,
    /// The ReceiverID to use; `None`: the JoinEUI.
    pub receiver_id: Option<String>,
    /// The KEK it wraps our session keys with: (KEKLabel, key).
    pub kek: Option<(String, AesKey)>,
    /// Its admin API, where devices are claimed with their owner token.
    pub admin: Option<super::claim::AdminClient>,
}

impl std::fmt::Debug for JoinServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinServer")
            .field("url", &self.endpoint.url())
            .field("ranges", &self.ranges)
            .finish_non_exhaustive()
    }
}

/// The join path's shared parts.
pub struct Joins {
    /// The servers, in config order.
    pub servers: Vec<JoinServer>,
    /// The Backend Interfaces client.
    pub client: BiClient,
    /// Asynchronous answers awaited.
    pub pending: PendingAnswers,
}

impl std::fmt::Debug for Joins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joins")
            .field("servers", &self.servers)
            .finish_non_exhaustive()
    }
}

/// What the device asked for.
#[derive(Debug, Clone, Copy)]
enum Asked {
    /// A join (join-request).
    Join {
        /// DevEUI.
        dev_eui: Eui64,
        /// JoinEUI.
        join_eui: Eui64,
    },
    /// A rejoin (1.1 rejoin-request).
    Rejoin {
        /// DevEUI.
        dev_eui: Eui64,
        /// Type 0, 1 or 2.
        kind: RejoinType,
        /// JoinEUI (type 1).
        join_eui: Option<Eui64>,
        /// NetID (types 0 and 2).
        net_id: Option<lorawan::ids::NetId>,
        /// RJcount0 or RJcount1.
        rj_count: u16,
    },
}

impl Asked {
    fn dev_eui(&self) -> Eui64 {
        match self {
            Asked::Join { dev_eui, .. } | Asked::Rejoin { dev_eui, .. } => *dev_eui,
        }
    }
}

/// A join the join server accepted, its session stored: the join-accept to transmit.
#[derive(Debug)]
pub(crate) struct AcceptedJoin {
    /// The device.
    pub dev_eui: Eui64,
    /// Its new address.
    pub dev_addr: DevAddr,
    /// The join-accept PHYPayload.
    pub join_accept: Vec<u8>,
    /// The device's region.
    pub region: lorawan::region::Region,
    /// Its tenant.
    pub tenant: String,
    /// The join notice for the application, once the join-accept is out.
    pub notice: super::notice::Notice,
    /// A LoRaWAN 1.1 session (announced on RekeyInd instead).
    pub v1_1: bool,
}

/// What became of a join-request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// Joined; the join-accept went out as reported.
    Joined {
        /// The device.
        dev_eui: Eui64,
        /// Its new address.
        dev_addr: DevAddr,
        /// The join-accept's delivery.
        delivery: DeliveryReport,
    },
    /// Not joined, and why.
    Refused(String),
}

impl NetworkServer {
    /// Serves a join-request or a (LoRaWAN 1.1) rejoin-request heard by the gateways of
    /// `frame`.
    pub async fn join(&self, frame: &Deduplicated, elapsed: impl Fn() -> Duration) -> JoinOutcome {
        let accepted = match self.accept_join(frame, false).await {
            Ok(accepted) => accepted,
            Err(reason) => return JoinOutcome::Refused(reason),
        };
        let AcceptedJoin {
            dev_eui,
            dev_addr,
            join_accept,
            region,
            tenant,
            notice,
            v1_1,
        } = accepted;
        // TS001: the join-accept goes out JOIN_ACCEPT_DELAY1 after the request (RX1, offset
        // 0) or one second later on the default RX2.
        let radio = DeviceRadio {
            rx1_delay: Duration::from_secs(u64::from(JOIN_ACCEPT_DELAY1_S)),
            ..DeviceRadio::defaults(region.params())
        };
        let (delivery, _) = self
            .downlinks
            .class_a(
                region,
                &radio,
                &frame.receptions,
                &join_accept,
                elapsed(),
                |g| self.may_transmit(g) && self.serves_tenant(g, &tenant),
            )
            .await;
        if delivery.status != DeliveryStatus::Sent {
            tracing::warn!(%dev_eui, ?delivery, "join-accept not transmitted");
        }
        // 1.1 devices are announced on their RekeyInd instead (see `uplink`).
        if delivery.status == DeliveryStatus::Sent && !v1_1 {
            self.notify(notice);
        }
        JoinOutcome::Joined {
            dev_eui,
            dev_addr,
            delivery,
        }
    }

    /// Checks a join- or rejoin-request, asks the join server, and stores the new session:
    /// the join-accept is then ready to go. `roamed`: a roaming partner's gateways heard it
    /// (our tenants' gateway rules do not apply).
    pub(crate) async fn accept_join(
        &self,
        frame: &Deduplicated,
        roamed: bool,
    ) -> Result<AcceptedJoin, String> {
        let asked = match PhyPayload::parse(&frame.phy).map(|p| p.frame()) {
            Ok(Frame::JoinRequest(r)) => Asked::Join {
                dev_eui: r.dev_eui(),
                join_eui: r.join_eui(),
            },
            Ok(Frame::RejoinRequest(r)) => Asked::Rejoin {
                dev_eui: r.dev_eui(),
                kind: r.rejoin_type(),
                join_eui: r.join_eui(),
                net_id: r.net_id(),
                rj_count: r.rj_count(),
            },
            Ok(_) => return Err("not a join- or rejoin-request".into()),
            Err(e) => return Err(format!("malformed join-request: {e}")),
        };
        let dev_eui = asked.dev_eui();
        let Some(entry) = self.registry.get(dev_eui) else {
            return Err(format!("unknown device {dev_eui}"));
        };
        let (profile, expected_join_eui, tenant) = {
            let entry = entry.lock().await;
            (
                entry.profile.clone(),
                entry.device.join_eui,
                entry.device.tenant.clone(),
            )
        };
        if !roamed
            && !frame
                .receptions
                .iter()
                .any(|rx| self.serves_tenant(rx.gateway, &tenant))
        {
            return Err(format!(
                "device {dev_eui} of tenant {tenant} heard only by gateways that may not serve it"
            ));
        }
        let join_eui = match &asked {
            Asked::Join { join_eui, .. } => *join_eui,
            Asked::Rejoin { .. } => match self.check_rejoin(&entry, &asked, &frame.phy).await {
                Ok(join_eui) => join_eui,
                Err(reason) => return Err(reason),
            },
        };
        if !profile.supports_join || expected_join_eui != Some(join_eui) {
            return Err(format!(
                "device {dev_eui} is not provisioned to join with JoinEUI {join_eui}"
            ));
        }
        let Some(server) = self
            .joins
            .servers
            .iter()
            .find(|s| s.ranges.iter().any(|r| r.contains(join_eui)))
        else {
            return Err(format!("no join server configured for {join_eui}"));
        };
        let registry = &self.registry;
        let Some(dev_addr) =
            allocate_dev_addr(self.dev_addr_pool, |a| !registry.by_dev_addr(a).is_empty())
        else {
            return Err("DevAddr pool exhausted".into());
        };
        let receiver_id = server
            .receiver_id
            .clone()
            .unwrap_or_else(|| join_eui.to_string());
        let mut tid = [0u8; 4];
        let _ = getrandom::fill(&mut tid);
        let req = join_req(
            &frame.phy,
            dev_eui,
            dev_addr,
            &profile,
            self.net_id,
            self.nsid.as_deref(),
            &receiver_id,
            u32::from_le_bytes(tid),
        );
        let request = match asked {
            Asked::Join { .. } => Message::JoinReq(req),
            Asked::Rejoin { .. } => Message::RejoinReq(crate::join::as_rejoin_req(req)),
        };
        let answer = self
            .joins
            .client
            .request(
                &server.endpoint,
                &request,
                &Dialect::canonical(),
                &self.joins.pending,
                JOIN_ANSWER_TIMEOUT,
            )
            .await;
        let answer = match answer {
            Ok(Message::JoinAns(answer)) => answer,
            Ok(Message::RejoinAns(answer)) => crate::join::from_rejoin_ans(answer),
            Ok(other) => {
                return Err(format!(
                    "join server answered {}",
                    other.header().message_type.as_str()
                ))
            }
            Err(e) => return Err(format!("join server: {e}")),
        };
        let kek = |label: &str| {
            server
                .kek
                .as_ref()
                .filter(|(l, _)| l == label)
                .map(|(_, key)| *key)
        };
        let joined = match session_from(&answer, dev_addr, &profile, kek) {
            Ok(joined) => joined,
            Err(JoinFailure::Refused { code, description }) => {
                return Err(format!("join server refused: {code} {description}"))
            }
            Err(e) => return Err(e.to_string()),
        };
        if let Err(e) = self
            .devices_store
            .put_session(dev_eui, &joined.session, unix_seconds())
            .await
        {
            return Err(format!("storing the session: {e}"));
        }
        // Announced once the join-accept is out (seed 001 §6.4.1: "After sending the
        // Join-accept message, the new AppSKey is reported to the Application Server").
        let notice = super::notice::Notice::Joined {
            dev_eui,
            dev_addr,
            mac_version: joined.session.mac_version,
            app_s_key: joined.session.keys.app_s_key,
            time: frame
                .receptions
                .first()
                .and_then(|rx| rx.time)
                .unwrap_or_else(std::time::SystemTime::now),
        };
        {
            let mut entry = entry.lock().await;
            entry.set_session(joined.session);
            entry.last_receptions = frame.receptions.clone();
        }
        self.registry.index_addr(dev_eui, Some(dev_addr));
        let v1_1 = matches!(&notice, super::notice::Notice::Joined { mac_version, .. } if *mac_version == lorawan::join::MacVersion::V1_1);
        Ok(AcceptedJoin {
            dev_eui,
            dev_addr,
            join_accept: joined.join_accept,
            region: profile.region,
            tenant,
            notice,
            v1_1,
        })
    }
}

impl NetworkServer {
    /// A rejoin-request's checks before it goes to the join server (TS001 1.1 §6.2.4):
    /// types 0 and 2 name our NetID, carry a MIC with the session's SNwkSIntKey and an
    /// RJcount0 higher than any accepted in the session (stored at once, so a replay fails
    /// even if the join server then refuses); type 1 names the device's JoinEUI and is the
    /// join server's to check. Returns the JoinEUI to route by.
    async fn check_rejoin(
        &self,
        entry: &crate::device::registry::SharedEntry,
        asked: &Asked,
        phy: &[u8],
    ) -> Result<Eui64, String> {
        let Asked::Rejoin {
            dev_eui,
            kind,
            join_eui,
            net_id,
            rj_count,
        } = *asked
        else {
            return Err("not a rejoin-request".into());
        };
        let mut entry = entry.lock().await;
        let provisioned = entry
            .device
            .join_eui
            .ok_or_else(|| format!("device {dev_eui} has no JoinEUI"))?;
        if kind == RejoinType::Type1 {
            return match join_eui {
                Some(eui) if eui == provisioned => Ok(eui),
                _ => Err(format!("rejoin type 1 of {dev_eui} names another JoinEUI")),
            };
        }
        if net_id != Some(self.net_id) {
            return Err(format!("rejoin of {dev_eui} names another NetID"));
        }
        let keys = entry.keys.clone();
        let Some(session) = entry.session.as_mut().filter(|s| s.is_1_1()) else {
            return Err(format!("rejoin of {dev_eui}: no LoRaWAN 1.1 session"));
        };
        let Some(keys) = keys else {
            return Err(format!("rejoin of {dev_eui}: no session keys"));
        };
        let request = lorawan::phy::RejoinRequest::parse(phy).map_err(|e| e.to_string())?;
        if request
            .verify_mic(&keys.s_nwk_s_int(&session.keys))
            .is_err()
        {
            return Err(format!("rejoin of {dev_eui}: MIC mismatch"));
        }
        if session.rj_count0_last.is_some_and(|last| rj_count <= last) {
            return Err(format!("rejoin of {dev_eui}: RJcount0 {rj_count} replayed"));
        }
        session.rj_count0_last = Some(rj_count);
        self.devices_store
            .save_counters(dev_eui, session, unix_seconds())
            .await
            .map_err(|e| format!("storing RJcount0: {e}"))?;
        Ok(provisioned)
    }
}
