//! The data plane at work: authenticate the member, check its identity, find the receiver
//! ([`crate::routing`]), forward, and bring the answer back — or answer itself.
//!
//! - **Sync and async, bridged.** The hub asks the receiver with [`BiClient::request`], which
//!   takes the answer from the HTTP response or, when the receiver acknowledges with an empty
//!   200, waits for it to be POSTed to the hub (the answer's own TransactionID finds the
//!   waiting request). The sender gets the answer the way it asked: in its HTTP response
//!   (sync member) or POSTed to its endpoint (async member). So a sync member can talk to an
//!   async one (the chirpstack#801 failure cannot happen here).
//! - **TransactionIDs of the forwarded leg are the hub's own**: two members may pick the same
//!   id for requests to one receiver, and an asynchronous answer is matched by (receiver, id).
//!   The answer gets the sender's id back.
//! - **Loops.** Besides "never back to the sender" (routing), a request whose (SenderID,
//!   TransactionID) is one the hub is forwarding right now has already crossed the hub (a
//!   member sent it straight back); it is refused.
//! - **Bounded.** A receiver that is down, refuses, or does not answer within
//!   `answer_timeout` gets its sender an XmitFailed answer from the hub, naming the receiver
//!   and the cause. Nothing is dropped silently.
//! - **Shielded** ([`crate::shield`]): a member over its rate limit, or a message over its
//!   agreement's, is refused (`Other`, naming the limit); a receiver whose circuit is open
//!   is not called (`XmitFailed` at once). Every refusal is audited and counted.
//! - Nothing here serialises a member's traffic: every request is its own task, so a serving
//!   NS may send an XmitDataReq through the hub before it answers the PRStartReq that
//!   carried the uplink.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use backend::codec::Rejection;
use backend::dialect::Dialect;
use backend::header::{Header, ProtocolVersion};
use backend::http::client::{BiClient, ClientError, PeerEndpoint};
use backend::http::pending::PendingAnswers;
use backend::http::server::{PeerDirectory, RejectionCause};
use backend::message::Message;
use backend::result::ResultCode;

use time::OffsetDateTime;

use crate::audit::{AuditEntry, Reason};
use crate::members::{Credentials, Directory, Member, MemberId, Mode};
use crate::policy::{Decision, Explanation, Link, PolicySet};
use crate::routing::{
    self as routing, check_sender, destination, dev_addr_of, is_join_server_bound, mediation,
    Refusal,
};
use crate::shield::breaker::{self, Admission, Transition};
use crate::shield::Shield;
use crate::udr::{iso8601, Udr, UdrWriter};

/// What the hub does with an inbound message.
pub enum Outcome {
    /// Answer now, in the HTTP response, in this dialect.
    Answer {
        /// The answer.
        message: Box<Message>,
        /// The sender's dialect (`None`: the endpoint's).
        dialect: Option<Dialect>,
    },
    /// Answer now with this body (the answer, encoded in the sender's dialect).
    Encoded(Vec<u8>),
    /// Acknowledge now; the answer is POSTed to the sender when ready.
    Later(Pin<Box<dyn Future<Output = Message> + Send>>),
    /// Acknowledge; nothing to answer.
    Accepted,
}

/// The relay's shared state.
pub struct Relay {
    directory: RwLock<Arc<Directory>>,
    policies: RwLock<Arc<PolicySet>>,
    /// Counts policy replacements, for those who react to them (the RF parameter sync).
    policy_version: tokio::sync::watch::Sender<u64>,
    udrs: UdrWriter,
    client: BiClient,
    pending: PendingAnswers,
    answer_timeout: Duration,
    next_transaction_id: AtomicU32,
    in_flight: Mutex<HashSet<(String, u32)>>,
    shield: Shield,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("members", &self.directory().members().len())
            .field("answer_timeout", &self.answer_timeout)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay over `directory`, calling members with `client`; `pending` is shared with the
    /// endpoint that receives asynchronous answers.
    pub fn new(
        directory: Arc<Directory>,
        policies: PolicySet,
        udrs: UdrWriter,
        client: BiClient,
        pending: PendingAnswers,
        answer_timeout: Duration,
        shield: Shield,
    ) -> Self {
        Self {
            directory: RwLock::new(directory),
            policies: RwLock::new(Arc::new(policies)),
            policy_version: tokio::sync::watch::Sender::new(0),
            udrs,
            client,
            pending,
            answer_timeout,
            // Start somewhere unpredictable so ids do not repeat across restarts at once.
            next_transaction_id: AtomicU32::new(initial_transaction_id()),
            in_flight: Mutex::new(HashSet::new()),
            shield,
        }
    }

    /// The UDR writer the relay records through (the admin API's queries flush it first).
    pub fn udr_writer(&self) -> &UdrWriter {
        &self.udrs
    }

    /// The members in force.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory
            .read()
            .map(|d| Arc::clone(&d))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    /// Puts `directory` in force for every message from now on (a member edit or reload);
    /// wakes [`Relay::policy_changes`] too, since peer configurations depend on both.
    pub fn replace_directory(&self, directory: Directory) {
        match self.directory.write() {
            Ok(mut current) => *current = Arc::new(directory),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(directory),
        }
        self.policy_version.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// The agreements and activation rules in force.
    pub fn policies(&self) -> Arc<PolicySet> {
        self.policies
            .read()
            .map(|p| Arc::clone(&p))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    /// Puts `policies` in force for every message decided from now on.
    pub fn replace_policies(&self, policies: PolicySet) {
        match self.policies.write() {
            Ok(mut current) => *current = Arc::new(policies),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(policies),
        }
        self.policy_version.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Wakes whenever [`Relay::replace_policies`] or [`Relay::replace_directory`] puts new
    /// policies or members in force.
    pub fn policy_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.policy_version.subscribe()
    }

    /// The dialect of the member holding `token`, for the endpoint's own rejections.
    pub fn dialect_of(&self, credentials: Credentials<'_>) -> Option<Dialect> {
        self.directory()
            .authenticate_peer(credentials)
            .ok()
            .map(|member| member.dialect.clone())
    }

    /// What to do with `message` (`request_bytes` long) from the member `credentials` name,
    /// who connected from `remote`. Every message of an authenticated member leaves a usage
    /// record, written before the answer; every refusal an audit entry.
    pub async fn handle(
        self: &Arc<Self>,
        message: Message,
        credentials: Credentials<'_>,
        request_bytes: usize,
        remote: Option<SocketAddr>,
    ) -> Outcome {
        let received_at = OffsetDateTime::now_utc();
        let header = message.header().clone();
        let directory = self.directory();
        let sender = match directory.authenticate_peer(credentials) {
            Ok(sender) => sender,
            Err(failure) => {
                let refused = Refused {
                    code: ResultCode::UnknownSender,
                    reason: Reason::UnknownSender,
                    description: failure.to_string(),
                };
                self.audit(&header, remote, None, &refused);
                return refuse(&header, None, refused);
            }
        };
        let inbound = Inbound {
            header: &header,
            sender,
            remote,
        };
        if header.message_type.is_answer() {
            // Answers awaited by a forwarded request never get here (the endpoint hands them
            // over); this one answers nothing the hub is waiting for.
            tracing::warn!(member = %sender.id, "unexpected answer: no request of the hub is waiting for it");
            return Outcome::Accepted;
        }
        let mut usage = usage_of(&message, &sender.id, request_bytes, received_at);
        if let Err(refusal) = check_sender(sender, &header) {
            let refused = Refused::from(Reason::SpoofedSender, refusal);
            return self.refuse_recorded(&inbound, refused, usage).await;
        }
        if let Err(limited) =
            self.shield
                .limits
                .admit_member(&sender.id, sender.rate_limit, monotonic_now())
        {
            let refused = Refused {
                code: ResultCode::Other,
                reason: Reason::MemberRateLimit,
                description: limited.description(),
            };
            return self.refuse_recorded(&inbound, refused, usage).await;
        }
        if let Some(tid) = header.transaction_id {
            if self.is_in_flight(&header.sender_id, tid) {
                let refused = Refused {
                    code: ResultCode::Other,
                    reason: Reason::Loop,
                    description: format!(
                        "loop: this message (SenderID {}, TransactionID {tid}) already crossed the hub",
                        header.sender_id
                    ),
                };
                return self.refuse_recorded(&inbound, refused, usage).await;
            }
        }
        let receiver = match destination(&directory, sender, &message) {
            Ok(receiver) => receiver.clone(),
            Err(refusal) => {
                let refused = Refused::from(Reason::NoRoute, refusal);
                return self.refuse_recorded(&inbound, refused, usage).await;
            }
        };
        usage.receiver = Some(receiver.id.clone());
        let decision = self.decide(&message, &sender.id, &receiver.id, received_at);
        usage.agreement = decision.rule.clone();
        if !decision.allowed {
            let refused = Refused {
                code: decision.code().unwrap_or(ResultCode::NoRoamingAgreement),
                reason: Reason::Policy,
                description: decision.reason,
            };
            return self.refuse_recorded(&inbound, refused, usage).await;
        }
        if let Some(agreement) = decision
            .rule
            .as_deref()
            .filter(|_| !is_join_server_bound(&header.message_type))
        {
            let per_second = self
                .policies()
                .agreement(agreement)
                .and_then(|a| a.rate_limit);
            if let Err(limited) =
                self.shield
                    .limits
                    .admit_agreement(agreement, per_second, monotonic_now())
            {
                let refused = Refused {
                    code: ResultCode::Other,
                    reason: Reason::AgreementRateLimit,
                    description: limited.description(),
                };
                return self.refuse_recorded(&inbound, refused, usage).await;
            }
        }
        tracing::debug!(from = %sender.id, to = %receiver.id, rule = ?decision.rule, "routing");
        if !header.message_type.is_request() {
            if !receiver.accepts_notifications {
                tracing::debug!(to = %receiver.id, "notification not forwarded: the member refuses them");
                return Outcome::Accepted;
            }
            // A notification: delivered in the background, with retries, and recorded.
            let relay = Arc::clone(self);
            tokio::spawn(async move {
                usage.forwarded_at = Some(OffsetDateTime::now_utc());
                usage.result_code = relay.notify(&receiver, message).await;
                usage.answered_at = OffsetDateTime::now_utc();
                if let Err(e) = relay.udrs.record(usage).await {
                    tracing::error!(error = %e, "usage record of a notification not written");
                }
            });
            return Outcome::Accepted;
        }
        if let Err(refused) = self.admit_to(&receiver) {
            return self.refuse_recorded(&inbound, refused, usage).await;
        }
        let relay = Arc::clone(self);
        let requester_version = sender.protocol.clone();
        let requester_dialect = sender.dialect.clone();
        let forward = async move {
            let answer = relay
                .forward(&receiver, message, &header, requester_version, &mut usage)
                .await;
            relay
                .recorded(answer, &header, usage, &requester_dialect)
                .await
        };
        match sender.mode {
            // The answer's bytes, counted for the UDR, are the HTTP response's.
            Mode::Sync => Outcome::Encoded(forward.await.1),
            Mode::Async => Outcome::Later(Box::pin(async move { forward.await.0 })),
        }
    }

    /// The policy decision for `message` from `sender` to `receiver`: activation rules for
    /// join-server-bound messages, agreements for the rest.
    fn decide(
        &self,
        message: &Message,
        sender: &MemberId,
        receiver: &MemberId,
        at: OffsetDateTime,
    ) -> Decision {
        let link = match message {
            Message::XmitDataReq(xmit) if xmit.ul_meta_data.is_some() => Some(Link::Uplink),
            Message::XmitDataReq(xmit) if xmit.dl_meta_data.is_some() => Some(Link::Downlink),
            _ => None,
        };
        routing::decide(
            &self.policies(),
            &message.header().message_type,
            sender,
            receiver,
            link,
            at,
            // The UDR keeps the rule, the audit log a refusal's reason: an allowed
            // message's sentence would be written for nobody.
            Explanation::RefusalsOnly,
        )
    }

    /// Records `usage` for `answer`, then returns the answer and its encoding in the
    /// requester's `dialect` (whose size the record bills). A transaction whose record
    /// cannot be written is not answered Success: billing would miss it.
    async fn recorded(
        &self,
        answer: Message,
        request: &Header,
        mut usage: Udr,
        dialect: &Dialect,
    ) -> (Message, Vec<u8>) {
        usage.answered_at = OffsetDateTime::now_utc();
        usage.result_code = answer
            .result()
            .map_or_else(|| "none".to_owned(), |r| r.result_code.as_str().to_owned());
        let body = self.client.codec().encode(&answer, dialect);
        usage.answer_bytes = u32::try_from(body.len()).unwrap_or(u32::MAX);
        match self.udrs.record(usage).await {
            Ok(()) => (answer, body),
            Err(e) => {
                tracing::error!(error = %e, "usage record not written; answering Other");
                let refusal = Message::error_answer(
                    request,
                    ResultCode::Other,
                    format!("the hub could not record the transaction: {e}"),
                )
                .unwrap_or(answer);
                let body = self.client.codec().encode(&refusal, dialect);
                (refusal, body)
            }
        }
    }

    /// The hub's own answer to a member, recorded in its UDR and in the audit log.
    async fn refuse_recorded(
        &self,
        inbound: &Inbound<'_>,
        refused: Refused,
        mut usage: Udr,
    ) -> Outcome {
        self.audit(
            inbound.header,
            inbound.remote,
            Some(&inbound.sender.id),
            &refused,
        );
        usage.result_code = refused.code.as_str().to_owned();
        usage.answered_at = OffsetDateTime::now_utc();
        if let Err(e) = self.udrs.record(usage).await {
            tracing::error!(error = %e, "usage record of a refusal not written");
        }
        refuse(
            inbound.header,
            Some(inbound.sender.dialect.clone()),
            refused,
        )
    }

    /// Audits and counts a refusal of a message with `header`.
    fn audit(
        &self,
        header: &Header,
        remote: Option<SocketAddr>,
        member: Option<&MemberId>,
        refused: &Refused,
    ) {
        let code = refused.code.as_str();
        self.shield.metrics.refused(code, refused.reason);
        let mut entry = AuditEntry::new(
            OffsetDateTime::now_utc(),
            refused.reason,
            code,
            refused.description.clone(),
        );
        entry.remote_addr = remote;
        entry.member = member.cloned();
        entry.message_type = Some(header.message_type.as_str().to_owned());
        entry.transaction_id = header.transaction_id;
        entry.sender_id = Some(header.sender_id.clone());
        entry.receiver_id = Some(header.receiver_id.clone());
        self.shield.audit.record(entry);
    }

    /// Audits and counts a message the endpoint refused before the relay saw it (too large,
    /// malformed, schema failure), with what it claimed to be.
    pub fn audit_rejection(
        &self,
        remote: Option<SocketAddr>,
        credentials: Credentials<'_>,
        rejection: &Rejection,
        cause: RejectionCause,
    ) {
        let reason = match cause {
            RejectionCause::TooLarge => Reason::TooLarge,
            RejectionCause::Invalid => Reason::Malformed,
        };
        let code = rejection.result_code.as_str();
        self.shield.metrics.refused(code, reason);
        let mut entry = AuditEntry::new(
            OffsetDateTime::now_utc(),
            reason,
            code,
            rejection.description.clone(),
        );
        entry.remote_addr = remote;
        entry.member = self
            .directory()
            .authenticate_peer(credentials)
            .ok()
            .map(|m| m.id.clone());
        match &rejection.header {
            Some(header) => {
                entry.message_type = Some(header.message_type.as_str().to_owned());
                entry.transaction_id = header.transaction_id;
                entry.sender_id = Some(header.sender_id.clone());
                entry.receiver_id = Some(header.receiver_id.clone());
            }
            None => {
                entry.message_type = rejection.claimed("MessageType").map(str::to_owned);
                entry.transaction_id = rejection.claimed_transaction_id();
                entry.sender_id = rejection.claimed("SenderID").map(str::to_owned);
                entry.receiver_id = rejection.claimed("ReceiverID").map(str::to_owned);
            }
        }
        self.shield.audit.record(entry);
    }

    /// Whether `receiver` may be called now: its circuit closed, or this request its probe.
    fn admit_to(&self, receiver: &Member) -> Result<(), Refused> {
        match self.shield.breakers.admit(&receiver.id, monotonic_now()) {
            Ok(Admission::Pass) => Ok(()),
            Ok(Admission::Probe) => {
                self.breaker_changed(&receiver.id, Transition::HalfOpened);
                Ok(())
            }
            Err(open) => {
                let retry_at = OffsetDateTime::now_utc() + open.retry_in;
                Err(Refused {
                    code: ResultCode::XmitFailed,
                    reason: Reason::CircuitOpen,
                    description: format!(
                        "circuit open: receiver {} failed {} times in a row; the hub does not \
                         call it until it retries in {} ms (at {})",
                        receiver.id,
                        open.failures,
                        open.retry_in.as_millis().max(1),
                        iso8601(retry_at)
                    ),
                })
            }
        }
    }

    /// Records how a forward to `receiver` ended for its circuit breaker.
    fn breaker_outcome(&self, receiver: &MemberId, outcome: breaker::Outcome) {
        if let Some(transition) = self
            .shield
            .breakers
            .record(receiver, outcome, monotonic_now())
        {
            self.breaker_changed(receiver, transition);
        }
    }

    fn breaker_changed(&self, member: &MemberId, transition: Transition) {
        let cooldown_ms = self.shield.breakers.config().cooldown.as_millis();
        match transition {
            Transition::Opened(failures) => tracing::warn!(
                %member, failures, cooldown_ms,
                "circuit opened: the member is not called until the cooldown is over"
            ),
            Transition::HalfOpened => {
                tracing::info!(%member, "circuit half-open: one probe request goes through");
            }
            Transition::Reopened => {
                tracing::warn!(%member, cooldown_ms, "circuit reopened: the probe failed");
            }
            Transition::Closed => tracing::info!(%member, "circuit closed: the member answered"),
        }
        self.shield.metrics.breaker(member, transition.state());
    }

    /// Forwards a request to `receiver` under a hub TransactionID and returns its answer
    /// with the sender's TransactionID, or the hub's XmitFailed answer.
    async fn forward(
        &self,
        receiver: &Member,
        mut message: Message,
        request: &Header,
        requester_version: ProtocolVersion,
        usage: &mut Udr,
    ) -> Message {
        if let Err(e) = mediation::for_version(&mut message, &receiver.protocol) {
            return Message::error_answer(request, ResultCode::Other, e.to_string())
                .unwrap_or(message);
        }
        let hub_tid = self.next_transaction_id.fetch_add(1, Ordering::Relaxed);
        message.header_mut().transaction_id = Some(hub_tid);
        let key = (request.sender_id.clone(), hub_tid);
        self.set_in_flight(&key, true);
        usage.forwarded_at = Some(OffsetDateTime::now_utc());
        let asked = self.client.request(
            &receiver.endpoint,
            &message,
            &receiver.dialect,
            &self.pending,
            self.answer_timeout,
        );
        let outcome = tokio::time::timeout(self.answer_timeout, asked).await;
        self.set_in_flight(&key, false);
        let answered = match &outcome {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => !counts_as_down(e),
            Err(_) => false,
        };
        self.breaker_outcome(
            &receiver.id,
            if answered {
                breaker::Outcome::Answered
            } else {
                breaker::Outcome::Failed
            },
        );
        let failure = match outcome {
            Ok(Ok(mut answer)) => {
                answer.header_mut().transaction_id = request.transaction_id;
                // Back in the requester's version; an answer type exists in both.
                let _ = mediation::for_version(&mut answer, &requester_version);
                return answer;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", self.answer_timeout.as_millis()),
        };
        tracing::warn!(receiver = %receiver.id, %failure, "forward failed");
        let description = format!("receiver {} did not answer: {failure}", receiver.id);
        Message::error_answer(request, ResultCode::XmitFailed, &description).unwrap_or(message)
    }

    /// Delivers a notification; the outcome as a ResultCode name for its usage record.
    async fn notify(&self, receiver: &Member, mut message: Message) -> String {
        if let Err(e) = mediation::for_version(&mut message, &receiver.protocol) {
            tracing::info!(to = %receiver.id, error = %e, "notification not forwarded");
            return ResultCode::Other.as_str().to_owned();
        }
        let body = self.client.codec().encode(&message, &receiver.dialect);
        match self.client.deliver(&receiver.endpoint, body).await {
            Ok(_) => ResultCode::Success.as_str().to_owned(),
            Err(e) => {
                tracing::warn!(receiver = %receiver.id, error = %e, "notification not delivered");
                ResultCode::XmitFailed.as_str().to_owned()
            }
        }
    }

    fn is_in_flight(&self, sender_id: &str, tid: u32) -> bool {
        self.in_flight
            .lock()
            .map(|set| set.contains(&(sender_id.to_owned(), tid)))
            .unwrap_or(false)
    }

    fn set_in_flight(&self, key: &(String, u32), on: bool) {
        if let Ok(mut set) = self.in_flight.lock() {
            if on {
                set.insert(key.clone());
            } else {
                set.remove(key);
            }
        }
    }
}

/// The usage record of `message`, before routing: who sent what, about which device, when.
fn usage_of(
    message: &Message,
    sender: &MemberId,
    request_bytes: usize,
    received_at: OffsetDateTime,
) -> Udr {
    let header = message.header();
    Udr {
        id: None,
        transaction_id: header.transaction_id,
        message_type: header.message_type.as_str().to_owned(),
        sender: sender.clone(),
        receiver: None,
        agreement: None,
        dev_eui: dev_eui_of(message),
        dev_addr: dev_addr_of(message),
        result_code: String::new(),
        request_bytes: u32::try_from(request_bytes).unwrap_or(u32::MAX),
        answer_bytes: 0,
        gateway_count: gateway_count_of(message),
        received_at,
        forwarded_at: None,
        answered_at: received_at,
    }
}

fn dev_eui_of(message: &Message) -> Option<lorawan::ids::Eui64> {
    match message {
        Message::JoinReq(m) => Some(m.dev_eui),
        Message::RejoinReq(m) => Some(m.dev_eui),
        Message::HomeNSReq(m) => Some(m.dev_eui),
        Message::AppSKeyReq(m) => Some(m.dev_eui),
        Message::PRStopReq(m) => Some(m.dev_eui),
        Message::HRStopReq(m) => Some(m.dev_eui),
        Message::ProfileReq(m) => Some(m.dev_eui),
        Message::XmitDataReq(m) => m.dl_meta_data.as_ref().and_then(|d| d.dev_eui),
        _ => None,
    }
}

fn gateway_count_of(message: &Message) -> Option<u32> {
    let meta = match message {
        Message::PRStartReq(m) => Some(&m.ul_meta_data),
        Message::XmitDataReq(m) => m.ul_meta_data.as_ref(),
        _ => None,
    }?;
    meta.gw_cnt.or_else(|| {
        meta.gw_info
            .as_ref()
            .and_then(|g| u32::try_from(g.len()).ok())
    })
}

/// Whether a failed forward says the receiver is down (for its circuit breaker): not
/// reached, overloaded (HTTP 5xx / 429) or silent. A 4xx or an invalid answer came from a
/// member that is up.
fn counts_as_down(error: &ClientError) -> bool {
    error.is_retryable() || matches!(error, ClientError::NoAnswer(_))
}

/// Now, on the runtime's clock (`tokio::time::pause` stops it in tests).
fn monotonic_now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A message the relay refuses, as answered, audited and counted.
struct Refused {
    code: ResultCode,
    reason: Reason,
    description: String,
}

impl Refused {
    fn from(reason: Reason, refusal: Refusal) -> Self {
        Self {
            code: refusal.code,
            reason,
            description: refusal.description,
        }
    }
}

/// The message being handled, from an authenticated member.
struct Inbound<'a> {
    header: &'a Header,
    sender: &'a Member,
    remote: Option<SocketAddr>,
}

fn refuse(header: &Header, dialect: Option<Dialect>, refusal: Refused) -> Outcome {
    tracing::info!(code = refusal.code.as_str(), reason = %refusal.reason, description = %refusal.description, "refused");
    match Message::error_answer(header, refusal.code, refusal.description) {
        Some(message) => Outcome::Answer {
            message: Box::new(message),
            dialect,
        },
        None => Outcome::Accepted,
    }
}

fn initial_transaction_id() -> u32 {
    let mut bytes = [0u8; 4];
    // Any start works; randomness only makes restarts unlikely to reuse recent ids.
    let _ = getrandom::fill(&mut bytes);
    u32::from_le_bytes(bytes)
}

/// Where asynchronous answers to a member's requests go: its own endpoint.
#[derive(Debug)]
pub struct MemberEndpoints(pub Arc<Relay>);

impl PeerDirectory for MemberEndpoints {
    fn answer_endpoint(&self, request: &Header) -> Option<(PeerEndpoint, Dialect)> {
        self.0
            .directory()
            .members()
            .iter()
            .find(|m| m.owns_sender_id(&request.sender_id))
            .map(|m| (m.endpoint.clone(), m.dialect.clone()))
    }
}
