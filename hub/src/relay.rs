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
//! - Nothing here serialises a member's traffic: every request is its own task, so a serving
//!   NS may send an XmitDataReq through the hub before it answers the PRStartReq that
//!   carried the uplink.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use backend::dialect::Dialect;
use backend::header::{Header, ProtocolVersion};
use backend::http::client::{BiClient, PeerEndpoint};
use backend::http::pending::PendingAnswers;
use backend::http::server::PeerDirectory;
use backend::message::Message;
use backend::result::ResultCode;

use time::OffsetDateTime;

use crate::members::{Directory, Member, MemberId, Mode};
use crate::policy::{Decision, Link, PolicySet, RoamingQuery};
use crate::routing::{
    check_sender, destination, dev_addr_of, is_join_server_bound, mediation, Refusal,
};
use crate::udr::{Udr, UdrWriter};

/// What the hub does with an inbound message.
pub enum Outcome {
    /// Answer now, in the HTTP response, in this dialect.
    Answer {
        /// The answer.
        message: Box<Message>,
        /// The sender's dialect (`None`: the endpoint's).
        dialect: Option<Dialect>,
    },
    /// Acknowledge now; the answer is POSTed to the sender when ready.
    Later(Pin<Box<dyn Future<Output = Message> + Send>>),
    /// Acknowledge; nothing to answer.
    Accepted,
}

/// The relay's shared state.
pub struct Relay {
    directory: Arc<Directory>,
    policies: RwLock<Arc<PolicySet>>,
    /// Counts policy replacements, for those who react to them (the RF parameter sync).
    policy_version: tokio::sync::watch::Sender<u64>,
    udrs: UdrWriter,
    client: BiClient,
    pending: PendingAnswers,
    answer_timeout: Duration,
    next_transaction_id: AtomicU32,
    in_flight: Mutex<HashSet<(String, u32)>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("members", &self.directory.members().len())
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
    ) -> Self {
        Self {
            directory,
            policies: RwLock::new(Arc::new(policies)),
            policy_version: tokio::sync::watch::Sender::new(0),
            udrs,
            client,
            pending,
            answer_timeout,
            // Start somewhere unpredictable so ids do not repeat across restarts at once.
            next_transaction_id: AtomicU32::new(initial_transaction_id()),
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    /// The members.
    pub fn directory(&self) -> &Arc<Directory> {
        &self.directory
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

    /// Wakes whenever [`Relay::replace_policies`] puts new policies in force.
    pub fn policy_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.policy_version.subscribe()
    }

    /// The dialect of the member holding `token`, for the endpoint's own rejections.
    pub fn dialect_of(&self, token: Option<&str>) -> Option<Dialect> {
        self.directory
            .authenticate(token)
            .map(|member| member.dialect.clone())
    }

    /// What to do with `message` (`request_bytes` long) from the holder of `token`. Every
    /// message of an authenticated member leaves a usage record, written before the answer.
    pub async fn handle(
        self: &Arc<Self>,
        message: Message,
        token: Option<&str>,
        request_bytes: usize,
    ) -> Outcome {
        let received_at = OffsetDateTime::now_utc();
        let header = message.header().clone();
        let Some(sender) = self.directory.authenticate(token) else {
            return refuse(
                &header,
                None,
                Refusal {
                    code: ResultCode::UnknownSender,
                    description: "missing or unknown bearer token".into(),
                },
            );
        };
        let dialect = Some(sender.dialect.clone());
        if header.message_type.is_answer() {
            // Answers awaited by a forwarded request never get here (the endpoint hands them
            // over); this one answers nothing the hub is waiting for.
            tracing::warn!(member = %sender.id, "unexpected answer: no request of the hub is waiting for it");
            return Outcome::Accepted;
        }
        let mut usage = usage_of(&message, &sender.id, request_bytes, received_at);
        if let Err(refusal) = check_sender(sender, &header) {
            return self.refuse_recorded(&header, dialect, refusal, usage).await;
        }
        if let Some(tid) = header.transaction_id {
            if self.is_in_flight(&header.sender_id, tid) {
                let refusal = Refusal {
                    code: ResultCode::Other,
                    description: format!(
                        "loop: this message (SenderID {}, TransactionID {tid}) already crossed the hub",
                        header.sender_id
                    ),
                };
                return self.refuse_recorded(&header, dialect, refusal, usage).await;
            }
        }
        let receiver = match destination(&self.directory, sender, &message) {
            Ok(receiver) => receiver.clone(),
            Err(refusal) => return self.refuse_recorded(&header, dialect, refusal, usage).await,
        };
        usage.receiver = Some(receiver.id.clone());
        let decision = self.decide(&message, &sender.id, &receiver.id, received_at);
        usage.agreement = decision.rule.clone();
        if !decision.allowed {
            let refusal = Refusal {
                code: decision.code().unwrap_or(ResultCode::NoRoamingAgreement),
                description: decision.reason,
            };
            return self.refuse_recorded(&header, dialect, refusal, usage).await;
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
        let relay = Arc::clone(self);
        let requester_version = sender.protocol.clone();
        let forward = async move {
            let answer = relay
                .forward(&receiver, message, &header, requester_version, &mut usage)
                .await;
            relay.recorded(answer, &header, usage).await
        };
        match sender.mode {
            Mode::Sync => Outcome::Answer {
                message: Box::new(forward.await),
                dialect,
            },
            Mode::Async => Outcome::Later(Box::pin(forward)),
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
        let policies = self.policies();
        let message_type = message.header().message_type.as_str();
        if is_join_server_bound(&message.header().message_type) {
            return policies.decide_activation(sender, receiver, at);
        }
        let mut query = RoamingQuery::new(message_type, sender, receiver, at);
        if let Message::XmitDataReq(xmit) = message {
            if xmit.ul_meta_data.is_some() {
                query = query.with_link(Link::Uplink);
            } else if xmit.dl_meta_data.is_some() {
                query = query.with_link(Link::Downlink);
            }
        }
        policies.decide_roaming(&query)
    }

    /// Records `usage` for `answer`, then returns the answer. A transaction whose record
    /// cannot be written is not answered Success: billing would miss it.
    async fn recorded(&self, answer: Message, request: &Header, mut usage: Udr) -> Message {
        usage.answered_at = OffsetDateTime::now_utc();
        usage.result_code = answer
            .result()
            .map_or_else(|| "none".to_owned(), |r| r.result_code.as_str().to_owned());
        usage.answer_bytes = u32::try_from(
            self.client
                .codec()
                .encode(&answer, &Dialect::canonical())
                .len(),
        )
        .unwrap_or(u32::MAX);
        match self.udrs.record(usage).await {
            Ok(()) => answer,
            Err(e) => {
                tracing::error!(error = %e, "usage record not written; answering Other");
                Message::error_answer(
                    request,
                    ResultCode::Other,
                    format!("the hub could not record the transaction: {e}"),
                )
                .unwrap_or(answer)
            }
        }
    }

    /// The hub's own answer, recorded.
    async fn refuse_recorded(
        &self,
        header: &Header,
        dialect: Option<Dialect>,
        refusal: Refusal,
        mut usage: Udr,
    ) -> Outcome {
        usage.result_code = refusal.code.as_str().to_owned();
        usage.answered_at = OffsetDateTime::now_utc();
        if let Err(e) = self.udrs.record(usage).await {
            tracing::error!(error = %e, "usage record of a refusal not written");
        }
        refuse(header, dialect, refusal)
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
        let endpoint = endpoint(receiver);
        usage.forwarded_at = Some(OffsetDateTime::now_utc());
        let asked = self.client.request(
            &endpoint,
            &message,
            &receiver.dialect,
            &self.pending,
            self.answer_timeout,
        );
        let outcome = tokio::time::timeout(self.answer_timeout, asked).await;
        self.set_in_flight(&key, false);
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
        match self.client.deliver(&endpoint(receiver), body).await {
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

fn endpoint(member: &Member) -> PeerEndpoint {
    PeerEndpoint {
        url: member.url.clone(),
        bearer_token: member.outbound_token.clone(),
    }
}

fn refuse(header: &Header, dialect: Option<Dialect>, refusal: Refusal) -> Outcome {
    tracing::info!(code = refusal.code.as_str(), description = %refusal.description, "refused");
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
pub struct MemberEndpoints(pub Arc<Directory>);

impl PeerDirectory for MemberEndpoints {
    fn answer_endpoint(&self, request: &Header) -> Option<(PeerEndpoint, Dialect)> {
        self.0
            .members()
            .iter()
            .find(|m| m.owns_sender_id(&request.sender_id))
            .map(|m| (endpoint(m), m.dialect.clone()))
    }
}
