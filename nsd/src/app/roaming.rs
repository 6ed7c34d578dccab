//! Passive roaming at work, both roles: the pure decisions of [`crate::roaming`] tied to the
//! hub (a Backend Interfaces client), our gateways and our uplink path.
//!
//! Forwarding NS (roam-in), stateless:
//! - [`NetworkServer::forward_if_foreign`]: a data frame of another network's DevAddr →
//!   `PRStartReq` to its home through the hub; a join-request of a device we do not know,
//!   whose JoinEUI a join server of the federation serves → `HomeNSReq` → `PRStartReq` to the
//!   home network → its join-accept on our gateway → `PRStartNotif` (1.1);
//! - [`NetworkServer::xmit`]: a partner's `XmitDataReq` → our gateway → `XmitDataAns` with
//!   what the gateway said.
//!
//! Serving NS (roam-out): [`NetworkServer::serve_roamed`]: a partner's `PRStartReq` → our own
//! uplink path (MIC, FCnt, MAC, AS report with Roaming=1) → `PRStartAns`; the class A answer
//! then goes back through the partner's gateway as an `XmitDataReq`
//! (`NetworkServer::send_through_partner`). Macro diversity: a partner's copy of a frame our
//! own gateways heard is the same uplink (not a replay); for a roaming device the answer
//! waits a moment for such copies and goes through whichever gateway heard best.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use backend::dialect::Dialect;
use backend::header::{Header, MessageType, ProtocolVersion};
use backend::http::client::{BiClient, PeerEndpoint};
use backend::http::pending::PendingAnswers;
use backend::message::{HomeNSReq, Message, PRStartAns, PRStartReq, XmitDataAns, XmitDataReq};
use backend::ResultCode;
use lorawan::ids::{DevAddr, Eui64, NetId};
use lorawan::phy::{Frame, PhyPayload};

use super::downlink::Sent;
use super::pipeline::asks_of;
use super::{lock, read, write};
use super::{NetworkServer, UplinkOutcome};
use crate::downlink::class_a::DeviceRadio;
use crate::downlink::delivery::{DeliveryFailedCause, DeliveryReport, TransmissionSlot};
use crate::gateway::{Transmission, TxOutcome};
use crate::join::JOIN_ACCEPT_DELAY1_S;
use crate::roaming::config::RoamingSettings;
use crate::roaming::fns::{self, AddrClass, Forwarding, GatewaySite, XmitPolicy};
use crate::roaming::peers::Peers;
use crate::roaming::sns::{self, DownlinkDetails, PrOutcome, PrRefusal, RoamingContext, ServingNs};
use crate::tunnel::RoamingInfo;
use crate::uplink::data::Unmatched;
use crate::uplink::dedup::Deduplicated;

/// How long a frame our own gateways heard is remembered, so that a partner's copy of it
/// (which arrives later: the partner waits out its own deduplication window first) is taken
/// as the same uplink heard by more gateways, not as a replay.
const RECENT_FRAME_TTL: Duration = Duration::from_secs(10);

/// How long after a frame's first reception the serving NS waits for partners' copies of it
/// (the partner waits out its own deduplication window, then the hub relays) before it
/// chooses the gateway to answer through; only for roaming devices with an RX1 delay of
/// [`PARTNER_COPY_MIN_RX1`] or more, which leaves the time.
const PARTNER_COPY_WAIT: Duration = Duration::from_millis(1000);

/// The shortest RX1 delay that leaves time to wait for partners' copies.
const PARTNER_COPY_MIN_RX1: Duration = Duration::from_secs(3);

/// At most this many frames remembered (oldest forgotten first).
const RECENT_FRAMES_MAX: usize = 100_000;

/// Where the hub is and what it told us about our partners.
pub struct Roaming {
    settings: RoamingSettings,
    hub: PeerEndpoint,
    client: BiClient,
    /// Where asynchronous answers to our requests arrive (from our `/bi`).
    pending: PendingAnswers,
    http: reqwest::Client,
    peers: RwLock<Arc<Peers>>,
    next_transaction: AtomicU32,
    recent: Mutex<RecentFrames>,
    /// Our devices whose last uplink came through a partner (their downlinks go back that
    /// way: our own gateways' state says nothing about them).
    roaming_now: Mutex<std::collections::HashSet<Eui64>>,
}

impl std::fmt::Debug for Roaming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Roaming")
            .field("hub", &self.hub.url())
            .finish_non_exhaustive()
    }
}

/// What became of a frame we forwarded (forwarding role).
#[derive(Debug, Clone, PartialEq)]
pub enum Forwarded {
    /// The home network took the data frame.
    Accepted {
        /// Its NetID.
        home: NetId,
    },
    /// The home network's join-accept went to our gateway, with the gateway's answer.
    Joined {
        /// Its NetID.
        home: NetId,
        /// What the gateway said.
        outcome: TxOutcome,
    },
    /// The home network (or the hub, or the join server) refused it.
    Refused {
        /// The ResultCode.
        code: String,
        /// The Description.
        description: String,
    },
    /// No partner has an agreement covering it: dropped.
    NoAgreement,
    /// The hub could not be reached, or answered nonsense.
    Failed(String),
}

impl Roaming {
    /// Roaming with `settings`, talking to the hub with `client`; asynchronous answers come
    /// through `pending`.
    pub fn new(
        settings: RoamingSettings,
        client: BiClient,
        pending: PendingAnswers,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("roaming control client: {e}"))?;
        let mut seed = [0u8; 4];
        let _ = getrandom::fill(&mut seed);
        Ok(Self {
            hub: PeerEndpoint::new(&settings.hub_url, settings.hub_token.clone())
                .map_err(|e| format!("[roaming] hub_url: {e}"))?,
            settings,
            client,
            pending,
            http,
            peers: RwLock::new(Arc::new(Peers::default())),
            next_transaction: AtomicU32::new(u32::from_le_bytes(seed)),
            recent: Mutex::new(RecentFrames::default()),
            roaming_now: Mutex::new(std::collections::HashSet::new()),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &RoamingSettings {
        &self.settings
    }

    /// The peer configuration in force.
    pub fn peers(&self) -> Arc<Peers> {
        read(&self.peers).clone()
    }

    /// Replaces the peer configuration.
    pub fn set_peers(&self, peers: Peers) {
        *write(&self.peers) = Arc::new(peers);
    }

    /// Whether `token` is the one the hub presents (constant time).
    pub fn is_hub(&self, token: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        token
            .is_some_and(|t| bool::from(t.as_bytes().ct_eq(self.settings.inbound_token.as_bytes())))
    }

    fn transaction_id(&self) -> u32 {
        self.next_transaction.fetch_add(1, Ordering::Relaxed)
    }

    fn header(
        &self,
        kind: MessageType,
        our_net_id: NetId,
        receiver: String,
        nsid: Option<&str>,
    ) -> Header {
        let mut header = Header::new(
            self.settings.protocol.clone(),
            kind,
            our_net_id.to_string(),
            receiver,
            Some(self.transaction_id()),
        );
        if self.settings.protocol == ProtocolVersion::V1_1 {
            header.sender_nsid = nsid.map(str::to_owned);
        }
        header
    }

    /// Sends `message` to the hub and waits for its answer.
    async fn request(&self, message: &Message) -> Result<Message, String> {
        self.client
            .request(
                &self.hub,
                message,
                &Dialect::canonical(),
                &self.pending,
                self.settings.answer_timeout,
            )
            .await
            .map_err(|e| format!("hub: {e}"))
    }

    /// Sends a notification to the hub, retrying in the background.
    fn notify(&self, message: &Message) {
        let body = self.client.codec().encode(message, &Dialect::canonical());
        let (client, hub) = (self.client.clone(), self.hub.clone());
        tokio::spawn(async move {
            if let Err(e) = client.deliver(&hub, body).await {
                tracing::warn!(error = %e, "notification to the hub not delivered");
            }
        });
    }

    /// Fetches the peer configuration from the hub; `Ok(true)` when it changed.
    pub async fn refresh_peers(&self) -> Result<bool, String> {
        let url = format!("{}/peers", self.settings.control_url);
        let mut request = self.http.get(&url);
        if let Some(token) = &self.settings.hub_token {
            request = request.bearer_auth(token);
        }
        let current = self.peers();
        if !current.version.is_empty() {
            request = request.header("If-None-Match", format!("\"{}\"", current.version));
        }
        let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
        if response.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(false);
        }
        if !response.status().is_success() {
            return Err(format!("{url}: HTTP {}", response.status()));
        }
        let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        let (peers, problems) =
            Peers::from_json(&body).map_err(|e| format!("{url}: not a peer configuration: {e}"))?;
        for problem in problems {
            tracing::warn!(%problem, "hub peer configuration entry left out");
        }
        let changed = peers != *current;
        if changed {
            tracing::info!(
                partners = peers.partners.len(),
                join_eui_ranges = peers.join_euis.len(),
                version = %peers.version,
                "roaming peers updated"
            );
            self.set_peers(peers);
        }
        Ok(changed)
    }

    /// Notes where `dev_eui` was last heard: through a partner or at home.
    fn heard_through_partner(&self, dev_eui: Eui64, through_partner: bool) {
        let mut now = lock(&self.roaming_now);
        if through_partner {
            now.insert(dev_eui);
        } else {
            now.remove(&dev_eui);
        }
    }

    fn remember(&self, phy: &[u8], dev_eui: Eui64) {
        lock(&self.recent).insert(phy, dev_eui, Instant::now());
    }

    fn add_partner_copy(&self, phy: &[u8], copy: PartnerCopy) -> Option<Eui64> {
        lock(&self.recent).add_partner_copy(phy, copy, Instant::now())
    }

    /// The best partner copy of a frame our gateways heard, if one came.
    pub(crate) fn take_partner_copy(&self, phy: &[u8]) -> Option<PartnerCopy> {
        lock(&self.recent).take_partner_copy(phy)
    }
}

/// Keeps the peer configuration fresh: fetched at once, then every `peers_refresh` (sooner
/// while the hub cannot be reached). Runs until dropped.
pub async fn keep_peers_fresh(roaming: Arc<Roaming>) {
    let every = roaming.settings.peers_refresh;
    loop {
        let wait = match roaming.refresh_peers().await {
            Ok(_) => every,
            Err(e) => {
                tracing::warn!(error = %e, "roaming peers not refreshed");
                every.min(Duration::from_secs(2))
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// Frames our gateways heard lately, by PHYPayload.
#[derive(Default)]
struct RecentFrames {
    by_phy: HashMap<Vec<u8>, Recent>,
    order: VecDeque<(Instant, Vec<u8>)>,
}

/// A frame heard lately, and the best copy a partner forwarded of it.
struct Recent {
    dev_eui: Eui64,
    at: Instant,
    partner_copy: Option<PartnerCopy>,
}

/// A partner's copy of a frame our gateways heard too: where the answer could go instead.
#[derive(Debug, Clone)]
pub(crate) struct PartnerCopy {
    /// How to answer through the partner.
    pub context: RoamingContext,
    /// The partner's receptions, best first.
    pub receptions: Vec<crate::gateway::RxInfo>,
}

impl PartnerCopy {
    /// The copy a partner's PRStartReq carried.
    fn of(roamed: &sns::RoamedUplink) -> Self {
        Self {
            context: roamed.context.clone(),
            receptions: roamed.frame.receptions.clone(),
        }
    }

    /// The best SNR among its receptions.
    pub fn best_snr(&self) -> f32 {
        best_snr(&self.receptions)
    }
}

/// The best SNR among `receptions` (−∞ for none).
pub(crate) fn best_snr(receptions: &[crate::gateway::RxInfo]) -> f32 {
    receptions
        .iter()
        .map(|rx| rx.snr_db)
        .fold(f32::NEG_INFINITY, f32::max)
}

impl RecentFrames {
    fn insert(&mut self, phy: &[u8], dev_eui: Eui64, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            let expired = now.duration_since(*at) >= RECENT_FRAME_TTL;
            if !expired && self.order.len() < RECENT_FRAMES_MAX {
                break;
            }
            let Some((at, old)) = self.order.pop_front() else {
                break;
            };
            // Unless the same frame was remembered again since.
            if self.by_phy.get(&old).is_some_and(|r| r.at == at) {
                self.by_phy.remove(&old);
            }
        }
        self.by_phy.insert(
            phy.to_vec(),
            Recent {
                dev_eui,
                at: now,
                partner_copy: None,
            },
        );
        self.order.push_back((now, phy.to_vec()));
    }

    /// Keeps `copy` of a frame heard lately if it is the best partner copy so far; the
    /// frame's device, or `None` when the frame is not one we heard.
    fn add_partner_copy(&mut self, phy: &[u8], copy: PartnerCopy, now: Instant) -> Option<Eui64> {
        let recent = self
            .by_phy
            .get_mut(phy)
            .filter(|r| now.duration_since(r.at) < RECENT_FRAME_TTL)?;
        if recent
            .partner_copy
            .as_ref()
            .is_none_or(|kept| copy.best_snr() > kept.best_snr())
        {
            recent.partner_copy = Some(copy);
        }
        Some(recent.dev_eui)
    }

    fn take_partner_copy(&mut self, phy: &[u8]) -> Option<PartnerCopy> {
        self.by_phy.get_mut(phy)?.partner_copy.take()
    }
}

impl NetworkServer {
    /// Roaming, when configured.
    pub fn roaming(&self) -> Option<&Arc<Roaming>> {
        self.roaming.as_ref()
    }

    /// Our NSID as an EUI (TS002 1.1 headers), when configured and well-formed.
    fn nsid_eui(&self) -> Option<Eui64> {
        self.nsid.as_deref().and_then(|n| n.parse().ok())
    }

    /// Notes a frame our own gateways heard and we accepted, for the serving role's merge of
    /// partners' copies.
    pub(crate) fn remember_home_frame(&self, phy: &[u8], dev_eui: Eui64) {
        if let Some(roaming) = &self.roaming {
            roaming.remember(phy, dev_eui);
            roaming.heard_through_partner(dev_eui, false);
        }
    }

    /// Macro diversity, serving role: for an uplink of roaming device `dev_eui` our gateways
    /// heard (`home`), waits until [`PARTNER_COPY_WAIT`] after its first reception and
    /// returns a partner's copy of it when the partner's gateway heard it better (by SNR): the
    /// answer then goes through the partner. `None` at once for devices that do not roam
    /// or whose RX1 delay leaves no time to wait.
    pub(crate) async fn better_partner_copy(
        &self,
        dev_eui: Eui64,
        phy: &[u8],
        home: &[crate::gateway::RxInfo],
        first_seen: Instant,
    ) -> Option<PartnerCopy> {
        let roaming = self.roaming.as_ref()?;
        let rx1_delay = {
            let entry = self.registry.get(dev_eui)?;
            let entry = entry.lock().await;
            if !entry.device.roaming {
                return None;
            }
            let mac = entry.session.as_ref()?.mac.as_ref()?;
            DeviceRadio::rx1_delay_from_setting(mac.confirmed.rx1_delay)
        };
        if rx1_delay < PARTNER_COPY_MIN_RX1 {
            return None;
        }
        tokio::time::sleep_until((first_seen + PARTNER_COPY_WAIT).into()).await;
        let copy = roaming.take_partner_copy(phy)?;
        (copy.best_snr() > best_snr(home)).then_some(copy)
    }

    /// Whether `dev_eui`'s last uplink came through a roaming partner.
    pub fn last_heard_through_partner(&self, dev_eui: Eui64) -> bool {
        self.roaming
            .as_ref()
            .is_some_and(|r| lock(&r.roaming_now).contains(&dev_eui))
    }

    /// Forwarding role: forwards `frame` to its home network when it belongs to another
    /// network; `None` when it is ours to serve (or roaming is off).
    pub async fn forward_if_foreign(&self, frame: &Deduplicated) -> Option<Forwarded> {
        let roaming = self.roaming.as_ref()?;
        let parsed = PhyPayload::parse(&frame.phy).ok()?;
        match parsed.frame() {
            Frame::Data(data) if data.direction() == lorawan::mac::Direction::Uplink => {
                let dev_addr = data.dev_addr();
                let class = fns::classify(dev_addr, self.net_id, &[self.dev_addr_pool]);
                // Ours by address, or by a device provisioned with an address outside our
                // pool (checked only then: the common case costs no registry lookup).
                if class == AddrClass::Ours || !self.registry.by_dev_addr(dev_addr).is_empty() {
                    return None;
                }
                match class {
                    AddrClass::Foreign { .. } => {
                        Some(self.forward_data(roaming, frame, dev_addr).await)
                    }
                    _ => Some(Forwarded::NoAgreement),
                }
            }
            Frame::JoinRequest(join) => {
                let (dev_eui, join_eui) = (join.dev_eui(), join.join_eui());
                if self.registry.get(dev_eui).is_some()
                    || !roaming.peers().serves_join_eui(join_eui)
                {
                    return None;
                }
                Some(self.forward_join(roaming, frame, dev_eui, join_eui).await)
            }
            _ => None,
        }
    }

    fn pr_start_req(
        &self,
        roaming: &Roaming,
        frame: &Deduplicated,
        home: NetId,
        home_nsid: Option<&str>,
    ) -> Result<PRStartReq, String> {
        let settings = &roaming.settings;
        let forwarding = Forwarding {
            protocol_version: settings.protocol.clone(),
            sender_net_id: self.net_id,
            sender_nsid: self.nsid_eui(),
            receiver_net_id: home,
            transaction_id: roaming.transaction_id(),
            region: settings.region,
        };
        let site = |gateway| GatewaySite {
            location: self
                .gateways
                .gateway(gateway)
                .and_then(|g| g.location)
                .map(|l| (l.lat, l.lon)),
            dl_allowed: settings.gateways_dl_allowed && self.may_transmit(gateway),
        };
        let mut req = fns::pr_start_req(
            frame,
            &forwarding,
            site,
            &settings.ul_token_key,
            SystemTime::now(),
        )
        .map_err(|e| e.to_string())?;
        if settings.protocol == ProtocolVersion::V1_1 {
            req.header.receiver_nsid = home_nsid.map(str::to_owned);
        }
        Ok(req)
    }

    async fn forward_data(
        &self,
        roaming: &Roaming,
        frame: &Deduplicated,
        dev_addr: DevAddr,
    ) -> Forwarded {
        let peers = roaming.peers();
        let Some(home) = peers.home_of(dev_addr).filter(|p| p.uplink) else {
            return Forwarded::NoAgreement;
        };
        let req = match self.pr_start_req(roaming, frame, home.net_id, home.nsid.as_deref()) {
            Ok(req) => req,
            Err(e) => return Forwarded::Failed(e),
        };
        match roaming.request(&Message::PRStartReq(req)).await {
            Ok(Message::PRStartAns(ans)) if ans.result.result_code.is_success() => {
                Forwarded::Accepted { home: home.net_id }
            }
            Ok(answer) => refused(&answer),
            Err(e) => Forwarded::Failed(e),
        }
    }

    async fn forward_join(
        &self,
        roaming: &Roaming,
        frame: &Deduplicated,
        dev_eui: Eui64,
        join_eui: Eui64,
    ) -> Forwarded {
        // Where is the device's home? Its join server knows (through the hub).
        let home_ns_req = HomeNSReq {
            header: roaming.header(
                MessageType::HomeNSReq,
                self.net_id,
                join_eui.to_string(),
                self.nsid.as_deref(),
            ),
            dev_eui,
            extra: serde_json::Map::new(),
        };
        let (home, home_nsid) = match roaming.request(&Message::HomeNSReq(home_ns_req)).await {
            Ok(Message::HomeNSAns(ans)) if ans.result.result_code.is_success() => {
                match ans.h_net_id {
                    Some(home) => (home, ans.h_nsid),
                    None => return Forwarded::Failed("HomeNSAns without HNetID".into()),
                }
            }
            Ok(answer) => return refused(&answer),
            Err(e) => return Forwarded::Failed(e),
        };
        if home == self.net_id {
            return Forwarded::Refused {
                code: ResultCode::UnknownDevEUI.as_str().to_owned(),
                description: format!(
                    "the join server names us as the home of {dev_eui}, but we do not know it"
                ),
            };
        }
        let peers = roaming.peers();
        if !peers
            .partner(home, home_nsid.as_deref())
            .is_some_and(|p| p.uplink)
        {
            return Forwarded::NoAgreement;
        }
        let req = match self.pr_start_req(roaming, frame, home, home_nsid.as_deref()) {
            Ok(req) => req,
            Err(e) => return Forwarded::Failed(e),
        };
        let ans = match roaming.request(&Message::PRStartReq(req)).await {
            Ok(Message::PRStartAns(ans)) if ans.result.result_code.is_success() => ans,
            Ok(answer) => return refused(&answer),
            Err(e) => return Forwarded::Failed(e),
        };
        let policy = XmitPolicy::new(roaming.settings.region);
        let plan = fns::join_accept_transmission(
            &ans,
            &roaming.settings.ul_token_key,
            &policy,
            SystemTime::now(),
        );
        let outcome = match &plan {
            Ok(plan) => {
                let attempts: Vec<Transmission> =
                    plan.attempts.iter().map(|(_, t)| t.clone()).collect();
                self.downlinks
                    .send_first(roaming.settings.region, &attempts)
                    .await
                    .outcome()
            }
            Err(refusal) => {
                tracing::warn!(%dev_eui, code = %refusal.code.as_str(), description = %refusal.description, "roaming join-accept not transmittable");
                TxOutcome::NoAnswer
            }
        };
        if let Some(notif) = fns::pr_start_notif(&ans, plan.as_ref().map(|_| outcome)) {
            roaming.notify(&Message::PRStartNotif(notif));
        }
        Forwarded::Joined { home, outcome }
    }

    /// Forwarding role: a partner's `XmitDataReq` → our gateway → the `XmitDataAns`.
    pub async fn xmit(&self, req: &XmitDataReq) -> XmitDataAns {
        let Some(roaming) = &self.roaming else {
            return fns::xmit_data_refusal(
                &req.header,
                &fns::XmitRefusal {
                    code: ResultCode::Other,
                    description: "roaming is not enabled on this network server".into(),
                },
            );
        };
        let settings = &roaming.settings;
        let policy = XmitPolicy::new(settings.region);
        let plan =
            match fns::transmission_for(req, &settings.ul_token_key, &policy, SystemTime::now()) {
                Ok(plan) => plan,
                Err(refusal) => return fns::xmit_data_refusal(&req.header, &refusal),
            };
        if !settings.gateways_dl_allowed || !self.may_transmit(plan.gateway) {
            return fns::xmit_data_refusal(
                &req.header,
                &fns::XmitRefusal {
                    code: ResultCode::XmitFailed,
                    description: format!(
                        "gateway {} may not transmit for roaming devices",
                        plan.gateway
                    ),
                },
            );
        }
        let attempts: Vec<Transmission> = plan.attempts.into_iter().map(|(_, t)| t).collect();
        match self.downlinks.send_first(settings.region, &attempts).await {
            Sent::DutyCycle => fns::xmit_data_refusal(
                &req.header,
                &fns::XmitRefusal {
                    code: ResultCode::XmitFailed,
                    description: format!(
                        "gateway {}: no duty-cycle budget left in the sub-band for this downlink",
                        plan.gateway
                    ),
                },
            ),
            sent => fns::xmit_data_ans(&req.header, sent.outcome()),
        }
    }

    /// Serving role: a partner's `PRStartReq` → our uplink path → the `PRStartAns`. The class
    /// A answer, if one is due, goes back through the partner afterwards (on its own task).
    pub async fn serve_roamed(self: &Arc<Self>, req: PRStartReq) -> PRStartAns {
        let refuse =
            |refusal: PrRefusal| sns::pr_start_ans(&req.header, PrOutcome::Refused(refusal));
        let Some(roaming) = self.roaming.clone() else {
            return refuse(PrRefusal::new(
                ResultCode::Other,
                "roaming is not enabled on this network server",
            ));
        };
        let peers = roaming.peers();
        let partner = req
            .header
            .sender_net_id()
            .and_then(|net_id| peers.partner(net_id, req.header.sender_nsid.as_deref()));
        let fallback_region = partner
            .and_then(|p| p.rf.first())
            .map_or(roaming.settings.region, |rf| rf.region);
        let roamed = match sns::deduplicated_from(&req, fallback_region) {
            Ok(roamed) => roamed,
            Err(refusal) => return refuse(refusal),
        };
        if !crate::roaming::fns::may_roam_out(self.net_id) {
            return refuse(PrRefusal::new(
                ResultCode::DevRoamingDisallowed,
                format!(
                    "NetID {} is private: its devices do not roam out",
                    self.net_id
                ),
            ));
        }
        let outcome = match roamed.kind {
            sns::RoamedFrame::Data { dev_addr } => {
                self.serve_roamed_data(&roaming, &roamed, dev_addr).await
            }
            sns::RoamedFrame::Join { dev_eui, .. } => {
                self.serve_roamed_join(&roamed, dev_eui).await
            }
        };
        sns::pr_start_ans(&req.header, outcome)
    }

    async fn serve_roamed_data(
        self: &Arc<Self>,
        roaming: &Roaming,
        roamed: &sns::RoamedUplink,
        dev_addr: DevAddr,
    ) -> PrOutcome {
        let entries = self.registry.by_dev_addr(dev_addr);
        if entries.is_empty() {
            return PrOutcome::Refused(PrRefusal::unknown_dev_addr(dev_addr));
        }
        let mut any_roaming = false;
        for entry in &entries {
            any_roaming |= entry.lock().await.device.roaming;
        }
        if !any_roaming {
            return PrOutcome::Refused(PrRefusal::roaming_disallowed(&roamed.kind));
        }
        // Our gateways heard it too and it was served: the same uplink, more gateways (kept,
        // so that the answer may go through the partner's gateway if it heard best).
        if let Some(dev_eui) = roaming.add_partner_copy(&roamed.frame.phy, PartnerCopy::of(roamed))
        {
            return PrOutcome::Accepted { dev_eui };
        }
        let context = &roamed.context;
        let info = RoamingInfo {
            forwarding_net_id: context.forwarding_net_id,
            forwarding_ns_id: context
                .forwarding_nsid
                .as_deref()
                .and_then(|n| n.parse().ok()),
        };
        let outcome = self
            .handle_uplink(&roamed.frame, context.recv_time, Some(info))
            .await;
        let accepted = match &outcome {
            UplinkOutcome::Accepted(event) => {
                roaming.remember(&roamed.frame.phy, event.dev_eui);
                roaming.heard_through_partner(event.dev_eui, true);
                PrOutcome::Accepted {
                    dev_eui: event.dev_eui,
                }
            }
            UplinkOutcome::Retransmission { dev_eui, .. } => {
                // Our gateways' copy was served while this one waited for the device: it
                // is the same uplink, and may still be the better way to answer.
                roaming.add_partner_copy(&roamed.frame.phy, PartnerCopy::of(roamed));
                PrOutcome::Accepted { dev_eui: *dev_eui }
            }
            UplinkOutcome::Refused(super::uplink::Refusal::Unmatched { reason, .. }) => {
                return PrOutcome::Refused(match reason {
                    Unmatched::Replayed { f_cnt, .. } => {
                        PrRefusal::frame_replayed(&context.protocol_version, *f_cnt)
                    }
                    Unmatched::NoSession => PrRefusal::unknown_dev_addr(dev_addr),
                    _ => PrRefusal::mic_failed(),
                })
            }
            UplinkOutcome::Refused(other) => {
                return PrOutcome::Refused(PrRefusal::new(ResultCode::Other, other.to_string()))
            }
            UplinkOutcome::JoinRequest => {
                return PrOutcome::Refused(PrRefusal::new(ResultCode::Other, "not a data frame"))
            }
        };
        if let Some((dev_eui, asks)) = asks_of(&outcome) {
            let server = Arc::clone(self);
            let (receptions, context) = (roamed.frame.receptions.clone(), context.clone());
            tokio::spawn(async move {
                server
                    .answer_class_a(
                        dev_eui,
                        asks,
                        &receptions,
                        || Duration::ZERO,
                        Some(&context),
                    )
                    .await;
            });
        }
        accepted
    }

    async fn serve_roamed_join(&self, roamed: &sns::RoamedUplink, dev_eui: Eui64) -> PrOutcome {
        let Some(entry) = self.registry.get(dev_eui) else {
            return PrOutcome::Refused(PrRefusal::unknown_dev_eui(dev_eui));
        };
        if !entry.lock().await.device.roaming {
            return PrOutcome::Refused(PrRefusal::roaming_disallowed(&roamed.kind));
        }
        let accepted = match self.accept_join(&roamed.frame, true).await {
            Ok(accepted) => accepted,
            Err(reason) => {
                return PrOutcome::Refused(PrRefusal::new(ResultCode::JoinReqFailed, reason))
            }
        };
        let context = &roamed.context;
        let Some(gateway) = context.downlink_gateway(&roamed.frame.receptions) else {
            return PrOutcome::Refused(PrRefusal::new(
                ResultCode::XmitFailed,
                "no gateway of the forwarding network may transmit the join-accept",
            ));
        };
        // TS001: the join-accept windows, JOIN_ACCEPT_DELAY1 (5 s) and the region's RX2.
        let params = context.region.params();
        let radio = DeviceRadio {
            rx1_delay: Duration::from_secs(u64::from(JOIN_ACCEPT_DELAY1_S)),
            ..DeviceRadio::defaults(params)
        };
        let windows = sns::class_a_windows(context, &radio);
        let details = DownlinkDetails {
            dev_eui: Some(dev_eui),
            ..DownlinkDetails::default()
        };
        let dl_meta_data = match sns::dl_meta_data(context, gateway, &windows, &details) {
            Ok(dl) => dl,
            Err(e) => {
                return PrOutcome::Refused(PrRefusal::new(ResultCode::XmitFailed, e.to_string()))
            }
        };
        // The forwarding network transmits it; 1.0 devices are announced now (1.1 ones on
        // their RekeyInd, as at home).
        if !accepted.v1_1 {
            self.notify(accepted.notice);
        }
        PrOutcome::Joined {
            dev_eui,
            join_accept: accepted.join_accept,
            dl_meta_data,
        }
    }

    /// Serving role: sends `phy` (the class A answer to a roamed uplink) through the
    /// partner's `gateway` (see [`RoamingContext::downlink_gateway`]), and reads the
    /// XmitDataAns into a delivery report.
    pub(crate) async fn send_through_partner(
        &self,
        context: &RoamingContext,
        gateway: crate::gateway::GatewayId,
        radio: &DeviceRadio,
        phy: &[u8],
        details: DownlinkDetails,
    ) -> DeliveryReport {
        let mut report = DeliveryReport::default();
        let fail = |mut report: DeliveryReport, cause| {
            report.failed(TransmissionSlot::Rx1, cause);
            report.failed(TransmissionSlot::Rx2, cause);
            report
        };
        let Some(roaming) = &self.roaming else {
            return fail(report, DeliveryFailedCause::WrongNetId);
        };
        let windows = sns::class_a_windows(context, radio);
        let serving = ServingNs {
            net_id: self.net_id,
            nsid: self.nsid_eui(),
        };
        let req = match sns::xmit_data_req(
            phy.to_vec(),
            context,
            gateway,
            &windows,
            &details,
            &serving,
            roaming.transaction_id(),
        ) {
            Ok(req) => req,
            Err(_) => return fail(report, DeliveryFailedCause::NoGatewayConnected),
        };
        let rx1_offered = matches!(windows, sns::DownlinkWindows::ClassA { rx1: Some(_), .. });
        match roaming.request(&Message::XmitDataReq(req)).await {
            Ok(Message::XmitDataAns(ans)) if ans.result.result_code.is_success() => {
                report.sent(if rx1_offered {
                    TransmissionSlot::Rx1
                } else {
                    TransmissionSlot::Rx2
                });
                report
            }
            Ok(answer) => {
                let description = answer
                    .result()
                    .and_then(|r| r.description.clone())
                    .unwrap_or_default();
                tracing::info!(%description, "roaming downlink not transmitted by the partner");
                fail(report, cause_of(&description))
            }
            Err(e) => {
                tracing::warn!(error = %e, "roaming downlink: no answer from the partner");
                fail(report, DeliveryFailedCause::DutyCycleRefusedByPeer)
            }
        }
    }
}

/// The delivery cause a partner's XmitFailed description points to (its gateway's TX_ACK).
fn cause_of(description: &str) -> DeliveryFailedCause {
    if description.contains("TOO_LATE") || description.contains("too late") {
        DeliveryFailedCause::TooLate
    } else if description.contains("COLLISION") || description.contains("BUSY") {
        DeliveryFailedCause::RadioBusy
    } else if description.contains("not connected") {
        DeliveryFailedCause::NoGatewayConnected
    } else {
        DeliveryFailedCause::DutyCycleRefusedByPeer
    }
}

fn refused(answer: &Message) -> Forwarded {
    match answer.result() {
        Some(result) => Forwarded::Refused {
            code: result.result_code.as_str().to_owned(),
            description: result.description.clone().unwrap_or_default(),
        },
        None => Forwarded::Failed(format!(
            "the hub answered {}",
            answer.message_type().as_str()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> RoamingContext {
        RoamingContext {
            protocol_version: ProtocolVersion::V1_1,
            forwarding_net_id: NetId::from_u32(0x14).expect("NetID"),
            forwarding_nsid: None,
            region: lorawan::region::Region::Eu868,
            uplink_frequency_hz: 868_100_000,
            uplink_data_rate: 5,
            recv_time: SystemTime::now(),
            gateways: Vec::new(),
            fns_ul_token: None,
        }
    }

    fn reception(snr_db: f32) -> crate::gateway::RxInfo {
        crate::gateway::RxInfo {
            gateway: crate::gateway::GatewayId::from_u64(1),
            frequency_hz: 868_100_000,
            modulation: crate::gateway::RadioModulation::Fsk { bitrate: 50_000 },
            rssi_dbm: -80,
            snr_db,
            channel: 0,
            rf_chain: 0,
            counter_us: 0,
            time: None,
            gps_time_ms: None,
            fine_timestamp_ns: None,
        }
    }

    #[test]
    fn recent_frames_keep_the_best_partner_copy_and_are_forgotten_after_their_time() {
        let mut recent = RecentFrames::default();
        let start = Instant::now();
        let dev_eui = Eui64::from_u64(7);
        recent.insert(b"frame-1", dev_eui, start);
        let copy = |snr: f32| PartnerCopy {
            context: context(),
            receptions: vec![reception(snr)],
        };
        assert_eq!(
            recent.add_partner_copy(b"frame-1", copy(1.0), start + Duration::from_secs(1)),
            Some(dev_eui)
        );
        // The better copy is kept, a worse one does not replace it.
        recent.add_partner_copy(b"frame-1", copy(5.0), start);
        recent.add_partner_copy(b"frame-1", copy(-3.0), start);
        let kept = recent.take_partner_copy(b"frame-1").expect("a copy");
        assert_eq!(kept.best_snr(), 5.0);
        assert!(recent.take_partner_copy(b"frame-1").is_none(), "taken once");
        assert_eq!(recent.add_partner_copy(b"frame-2", copy(1.0), start), None);
        let later = start + RECENT_FRAME_TTL + Duration::from_millis(1);
        assert_eq!(recent.add_partner_copy(b"frame-1", copy(1.0), later), None);
        recent.insert(b"frame-2", dev_eui, later);
        assert_eq!(
            recent.by_phy.len(),
            1,
            "the expired frame left on the next insert"
        );
    }
}
