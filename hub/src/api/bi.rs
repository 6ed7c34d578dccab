//! `POST /bi`: the hub's Backend Interfaces endpoint. The shared endpoint of `crates/backend`
//! decodes (header first), validates, answers malformed messages and hands awaited answers
//! to their forwarded request; this adapter passes every other message to the [`Relay`],
//! and tells it of the messages the endpoint refused itself, for the audit log.

use std::sync::Arc;

use axum::Router;
use backend::codec::Codec;
use backend::codec::Rejection;
use backend::dialect::Dialect;
use backend::http::client::BiClient;
use backend::http::pending::PendingAnswers;
use backend::http::server::{BiEndpoint, BiHandler, PeerInfo, RejectionCause, Reply};
use backend::message::Message;

use crate::members::Credentials;
use crate::relay::{MemberEndpoints, Outcome, Relay};

struct Handler {
    relay: Arc<Relay>,
}

impl BiHandler for Handler {
    async fn handle(&self, message: Message, peer: PeerInfo) -> Reply {
        match self
            .relay
            .handle(
                message,
                credentials_of(&peer),
                peer.body_bytes,
                peer.remote_addr,
            )
            .await
        {
            Outcome::Answer { message, dialect } => Reply::Answer { message, dialect },
            Outcome::Encoded(body) => Reply::Encoded(body),
            Outcome::Later(answer) => Reply::Later(answer),
            Outcome::Accepted => Reply::Accepted,
        }
    }

    fn dialect_for(&self, peer: &PeerInfo) -> Option<Dialect> {
        self.relay.dialect_of(credentials_of(peer))
    }

    fn rejected(&self, peer: &PeerInfo, rejection: &Rejection, cause: RejectionCause) {
        self.relay
            .audit_rejection(peer.remote_addr, credentials_of(peer), rejection, cause);
    }
}

/// What the peer presented: its bearer token and the client certificate TLS verified.
fn credentials_of(peer: &PeerInfo) -> Credentials<'_> {
    Credentials {
        token: peer.bearer_token.as_deref(),
        client_cert_sha256: peer.client_certificate.as_ref().map(|c| c.sha256.as_str()),
    }
}

/// The `/bi` route: `relay` decides, `client` delivers asynchronous answers to members,
/// `pending` is the relay's table of awaited answers; bodies over `max_body_bytes` are
/// answered (MalformedRequest, HTTP 413) and audited.
pub fn router(
    relay: Arc<Relay>,
    codec: Arc<Codec>,
    client: BiClient,
    pending: PendingAnswers,
    max_body_bytes: usize,
) -> Router {
    let endpoints = Arc::new(MemberEndpoints(Arc::clone(&relay)));
    BiEndpoint::new(
        codec,
        Arc::new(Handler { relay }),
        pending,
        Dialect::canonical(),
    )
    .with_later_delivery(client, endpoints)
    .with_max_body_bytes(max_body_bytes)
    .router("/bi")
}
