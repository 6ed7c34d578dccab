//! Backend Interfaces requests to the join server: authenticate the sender, load the device,
//! decide, persist, answer.
//!
//! Authentication binds identities: the bearer token names a configured peer, and the peer
//! may send only as its own NetIDs (JoinReq, RejoinReq, HomeNSReq) or AS-IDs (AppSKeyReq).
//! Anything else is refused with UnknownSender before the device is even loaded.
//!
//! Activations (JoinReq, RejoinReq) keep the durability contract of
//! [`crate::join::decide_join`]: the new nonces are stored with compare-and-set on the
//! revision the decision was made on, and only a stored decision is answered. A lost race
//! reloads and decides again, on the nonces the winner stored.

use backend::header::Header;
use backend::message::Message;
use backend::result::ResultCode;
use lorawan::ids::Eui64;

use super::{JoinServer, CAS_ATTEMPTS};
use crate::join::{
    decide_app_s_key, decide_home_ns, decide_join, decide_rejoin, Activation, AppSKeyDelivery,
    Blame, JoinDevice, JoinError, SessionRecord,
};
use crate::peers::Peer;
use crate::storage::{ActivationWrite, StorageError, StoredDevice, StoredSession};

/// Why a request got no decision: the join server itself failed (storage, sealed keys,
/// contention). Answered with ResultCode Other; the peer may retry.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// The database failed.
    #[error("join server storage unavailable: {0}")]
    Storage(#[from] StorageError),
    /// A sealed key could not be opened (a master key missing from the keyring?).
    #[error("the keys of DevEUI {0} cannot be unsealed with the configured master keys")]
    Sealed(Eui64),
    /// Concurrent activations of one device kept winning the race.
    #[error("DevEUI {0} is being activated concurrently; retry")]
    Contention(Eui64),
}

/// A request's refusal: the logic's, or the join server's own failure.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error(transparent)]
    Join(#[from] JoinError),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

impl JoinServer {
    /// The answer to `message` from the holder of `bearer`; `None` when the message is not a
    /// request (an answer or notification sent to the JS: acknowledged, nothing to do).
    pub async fn answer_bi(&self, message: Message, bearer: Option<&str>) -> Option<Message> {
        let header = message.header().clone();
        if !header.message_type.is_request() {
            return None;
        }
        let Some(peer) = self.peers.authenticate(bearer) else {
            return refuse(
                &header,
                ResultCode::UnknownSender,
                "missing or unknown bearer token",
            );
        };
        if let Err(why) = authorize(peer, &message) {
            return refuse(&header, ResultCode::UnknownSender, why);
        }
        let outcome: Result<Message, Result<Message, Unavailable>> = match message {
            Message::JoinReq(request) => self
                .activate(request.dev_eui, |device| {
                    decide_join(device, &request, &self.keks, &self.policy)
                })
                .await
                .map(Message::JoinAns)
                .map_err(|refusal| {
                    answer_refusal(refusal, |e| Message::JoinAns(e.join_ans(&header)))
                }),
            Message::RejoinReq(request) => self
                .activate(request.dev_eui, |device| {
                    decide_rejoin(device, &request, &self.keks, &self.policy)
                })
                .await
                .map(Message::RejoinAns)
                .map_err(|refusal| {
                    answer_refusal(refusal, |e| Message::RejoinAns(e.rejoin_ans(&header)))
                }),
            Message::HomeNSReq(request) => {
                let result = match self.load(request.dev_eui).await {
                    Ok(device) => decide_home_ns(device.map(|(d, _)| d).as_ref(), &request)
                        .map_err(Refusal::from),
                    Err(e) => Err(e.into()),
                };
                result.map(Message::HomeNSAns).map_err(|refusal| {
                    answer_refusal(refusal, |e| Message::HomeNSAns(e.home_ns_ans(&header)))
                })
            }
            Message::AppSKeyReq(request) => {
                let result = self.app_s_key(&request).await;
                result.map(Message::AppSKeyAns).map_err(|refusal| {
                    answer_refusal(refusal, |e| Message::AppSKeyAns(e.app_s_key_ans(&header)))
                })
            }
            other => {
                let kind = other.message_type();
                return refuse(
                    &header,
                    ResultCode::Other,
                    format!("a join server does not serve {}", kind.as_str()),
                );
            }
        };
        Some(match outcome {
            Ok(answer) => answer,
            Err(Ok(answer)) => answer,
            Err(Err(unavailable)) => {
                tracing::error!(error = %unavailable, "request not decided");
                return refuse(&header, ResultCode::Other, unavailable.to_string());
            }
        })
    }

    /// The device with `dev_eui` as the join logic sees it, with its stored form.
    async fn load(
        &self,
        dev_eui: Eui64,
    ) -> Result<Option<(JoinDevice, StoredDevice)>, Unavailable> {
        let Some(stored) = self.store.load(dev_eui).await? else {
            return Ok(None);
        };
        let keys = stored
            .record
            .root_keys(&self.keyring)
            .map_err(|_| Unavailable::Sealed(dev_eui))?;
        let device = JoinDevice {
            dev_eui,
            join_eui: stored.record.join_eui,
            mac_version: stored.record.mac_version,
            app_key: keys.app_key,
            nwk_key: keys.nwk_key,
            home: stored.record.lifecycle.state.home(),
            app_s_key_delivery: stored.delivery.clone(),
            nonces: stored.nonces.clone(),
        };
        Ok(Some((device, stored)))
    }

    /// Load → decide → store (compare-and-set) → the answer, for JoinReq and RejoinReq.
    async fn activate<A>(
        &self,
        dev_eui: Eui64,
        decide: impl Fn(Option<&JoinDevice>) -> Result<Activation<A>, JoinError>,
    ) -> Result<A, Refusal> {
        let _turn = self.activation_turn(dev_eui).await;
        for _ in 0..CAS_ATTEMPTS {
            let loaded = self.load(dev_eui).await?;
            let decision = decide(loaded.as_ref().map(|(device, _)| device))?;
            let Some((_, stored)) = loaded else {
                // A decision without a device cannot be a Success; decide refused already.
                return Err(JoinError::UnknownDevEui(dev_eui).into());
            };
            let at = self.now();
            let mut lifecycle = stored.record.lifecycle.clone();
            lifecycle
                .activate(at)
                .map_err(|_| JoinError::NotClaimed(dev_eui))?;
            let changed = lifecycle != stored.record.lifecycle;
            let session = match stored.delivery {
                AppSKeyDelivery::ToApplicationServer { .. } => {
                    Some(self.seal_session(&decision.session))
                }
                AppSKeyDelivery::ToNetworkServer => None,
            };
            let write = ActivationWrite {
                dev_eui,
                revision: stored.revision,
                nonces: decision.new_nonces,
                lifecycle: changed.then_some(lifecycle),
                at,
                session,
                sessions_kept: self.sessions_kept,
            };
            if self
                .store
                .record_activation(write)
                .await
                .map_err(Unavailable::from)?
            {
                return Ok(decision.answer);
            }
            tracing::debug!(%dev_eui, "lost a compare-and-set race; deciding again");
        }
        Err(Unavailable::Contention(dev_eui).into())
    }

    fn seal_session(&self, session: &SessionRecord) -> StoredSession {
        StoredSession {
            session_key_id: session.session_key_id,
            app_s_key: self.keyring.seal(&session.app_s_key),
            join_nonce: session.join_nonce,
            dev_addr: session.dev_addr,
        }
    }

    async fn app_s_key(
        &self,
        request: &backend::message::AppSKeyReq,
    ) -> Result<backend::message::AppSKeyAns, Refusal> {
        let loaded = self.load(request.dev_eui).await?;
        let sessions = match &loaded {
            Some((device, _)) => self
                .store
                .sessions(device.dev_eui)
                .await
                .map_err(Unavailable::from)?
                .iter()
                .map(|s| {
                    Ok(SessionRecord {
                        session_key_id: s.session_key_id,
                        app_s_key: self
                            .keyring
                            .unseal(&s.app_s_key)
                            .map_err(|_| Unavailable::Sealed(device.dev_eui))?,
                        join_nonce: s.join_nonce,
                        dev_addr: s.dev_addr,
                    })
                })
                .collect::<Result<Vec<_>, Unavailable>>()?,
            None => Vec::new(),
        };
        let device = loaded.as_ref().map(|(d, _)| d);
        Ok(decide_app_s_key(
            device,
            &sessions,
            request,
            &self.keks,
            &self.policy,
        )?)
    }
}

/// Whether `peer` may send `message` with its SenderID.
fn authorize(peer: &Peer, message: &Message) -> Result<(), String> {
    let header = message.header();
    match message {
        Message::AppSKeyReq(_) => {
            if peer.may_act_as_application_server(&header.sender_id) {
                Ok(())
            } else {
                Err(format!(
                    "peer {} may not send as application server {:?}",
                    peer.name, header.sender_id
                ))
            }
        }
        _ => match header.sender_net_id() {
            Some(net_id) if peer.may_act_as_network(net_id) => Ok(()),
            Some(net_id) => Err(format!("peer {} may not send as NetID {net_id}", peer.name)),
            None => Err(format!("SenderID {:?} is not a NetID", header.sender_id)),
        },
    }
}

/// A refusal from the logic becomes its answer (logged by blame); the JS's own failure is
/// passed on.
fn answer_refusal(
    refusal: Refusal,
    answer: impl FnOnce(&JoinError) -> Message,
) -> Result<Message, Unavailable> {
    match refusal {
        Refusal::Join(error) => {
            match error.blame() {
                Blame::JoinServer => tracing::error!(%error, "refused: join server records"),
                blame => tracing::info!(%error, ?blame, "refused"),
            }
            Ok(answer(&error))
        }
        Refusal::Unavailable(e) => Err(e),
    }
}

fn refuse(header: &Header, code: ResultCode, description: impl Into<String>) -> Option<Message> {
    let description = description.into();
    tracing::info!(code = code.as_str(), %description, "refused");
    Message::error_answer(header, code, description)
}
