//! Axum glue for a Backend Interfaces endpoint: receive → decode (header first) → validate →
//! hand asynchronous answers to their waiting request → dispatch the rest to the daemon's
//! handler → answer in the HTTP response, or acknowledge and answer later.
//!
//! HTTP status policy: a message whose header could be read gets HTTP 200 and, when it is a
//! request, its Backend Interfaces answer (an error answer carries the ResultCode; peers read
//! the body, not the status). A body whose header cannot be read at all gets HTTP 400 with
//! the best well-formed answer we can build. Nothing here panics on input or answers with the
//! framework's plain-text rejections.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tracing::Instrument;

pub use service::tls::ClientCertificate;

use crate::codec::{Codec, Rejection};
use crate::dialect::Dialect;
use crate::message::Message;

use super::client::{BiClient, PeerEndpoint};
use super::pending::{AnswerKey, PendingAnswers};

/// Where the endpoint of a message's sender is, for answers delivered later.
pub trait PeerDirectory: Send + Sync + 'static {
    /// The endpoint and dialect to answer the sender of `request` at, if known.
    fn answer_endpoint(&self, request: &crate::header::Header) -> Option<(PeerEndpoint, Dialect)>;
}

/// Who sent an inbound message, as far as the transport knows. Authentication (is this
/// token a member's? may it use this SenderID?) is the daemon's decision. `Debug` never
/// shows the token.
#[derive(Clone, Default)]
pub struct PeerInfo {
    /// The TCP peer.
    pub remote_addr: Option<SocketAddr>,
    /// The `Authorization: Bearer` token, if any.
    pub bearer_token: Option<String>,
    /// Size of the message as received, in bytes (usage records bill by it).
    pub body_bytes: usize,
    /// The client certificate the peer presented over TLS, only when the listener verified
    /// it against its `[server.tls] client_ca` ([`service::tls`]).
    pub client_certificate: Option<ClientCertificate>,
}

impl std::fmt::Debug for PeerInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerInfo")
            .field("remote_addr", &self.remote_addr)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field("body_bytes", &self.body_bytes)
            .field("client_certificate", &self.client_certificate)
            .finish()
    }
}

/// What a handler does with a message.
pub enum Reply {
    /// Answer now, in the HTTP response, in `dialect` (the endpoint's default when `None`).
    Answer {
        /// The answer.
        message: Box<Message>,
        /// The peer's dialect.
        dialect: Option<Dialect>,
    },
    /// Answer now with this body: an answer the handler already encoded in the peer's
    /// dialect (it needed the bytes anyway, e.g. to bill them).
    Encoded(Vec<u8>),
    /// Acknowledge with an empty 200 now; when the future completes, deliver its answer to
    /// the sender's endpoint (found through the endpoint's [`PeerDirectory`]), with retries.
    Later(Pin<Box<dyn Future<Output = Message> + Send>>),
    /// Acknowledge with an empty 200; the handler itself takes care of any answer.
    Deferred,
    /// Acknowledge with an empty 200; nothing will follow (answers, notifications).
    Accepted,
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Answer { message, .. } => f.debug_tuple("Answer").field(message).finish(),
            Self::Encoded(body) => write!(f, "Encoded({} bytes)", body.len()),
            Self::Later(_) => f.write_str("Later"),
            Self::Deferred => f.write_str("Deferred"),
            Self::Accepted => f.write_str("Accepted"),
        }
    }
}

impl Reply {
    /// Answer now in the endpoint's default dialect.
    pub fn answer(message: Message) -> Self {
        Self::Answer {
            message: Box::new(message),
            dialect: None,
        }
    }
}

/// A daemon's handling of inbound Backend Interfaces messages.
pub trait BiHandler: Send + Sync + 'static {
    /// Handles one valid message. Invalid ones never get here: the endpoint answers them.
    fn handle(&self, message: Message, peer: PeerInfo) -> impl Future<Output = Reply> + Send;

    /// The dialect to write the endpoint's own answers to `peer` in (rejections of malformed
    /// or oversized messages), when the daemon knows the peer's; `None`: the endpoint's.
    fn dialect_for(&self, _peer: &PeerInfo) -> Option<Dialect> {
        None
    }

    /// Told of every message the endpoint refused itself (`cause`), after its answer is
    /// decided and before it is sent: for the daemon's logs and audit. Must not block.
    fn rejected(&self, _peer: &PeerInfo, _rejection: &Rejection, _cause: RejectionCause) {}
}

/// Why the endpoint refused a message itself, before any handler saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionCause {
    /// The body is larger than the endpoint accepts (HTTP 413).
    TooLarge,
    /// The body is not a valid Backend Interfaces message: not JSON, no readable header, a
    /// field of the wrong type or a schema violation.
    Invalid,
}

/// The shared state of one endpoint.
pub struct BiEndpoint<H> {
    codec: Arc<Codec>,
    handler: Arc<H>,
    pending: PendingAnswers,
    dialect: Dialect,
    max_body_bytes: usize,
    later: Option<LaterDelivery>,
}

/// How answers of [`Reply::Later`] reach their sender.
#[derive(Clone)]
struct LaterDelivery {
    client: BiClient,
    directory: Arc<dyn PeerDirectory>,
}

impl<H: BiHandler> BiEndpoint<H> {
    /// An endpoint answering in `dialect` where the handler names none.
    pub fn new(
        codec: Arc<Codec>,
        handler: Arc<H>,
        pending: PendingAnswers,
        dialect: Dialect,
    ) -> Self {
        Self {
            codec,
            handler,
            pending,
            dialect,
            max_body_bytes: 1 << 20,
            later: None,
        }
    }

    /// Enables [`Reply::Later`]: answers are POSTed with `client` to the endpoint
    /// `directory` names for the sender.
    pub fn with_later_delivery(
        mut self,
        client: BiClient,
        directory: Arc<dyn PeerDirectory>,
    ) -> Self {
        self.later = Some(LaterDelivery { client, directory });
        self
    }

    /// Largest accepted body (default 1 MiB).
    pub fn with_max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Routes `POST {path}` to this endpoint.
    pub fn router(self, path: &str) -> Router {
        // Shared behind one Arc: axum clones the state for every request, and a clone of
        // the endpoint itself is a dozen reference counts (codec, handler, client pool…).
        Router::new()
            .route(path, post(receive::<H>))
            .with_state(Arc::new(self))
    }
}

async fn receive<H: BiHandler>(
    State(endpoint): State<Arc<BiEndpoint<H>>>,
    request: Request,
) -> Response {
    let mut peer = PeerInfo {
        remote_addr: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0),
        bearer_token: bearer_token(request.headers()),
        body_bytes: 0,
        client_certificate: request.extensions().get::<ClientCertificate>().cloned(),
    };
    // Only a rejection needs the peer's dialect before the handler runs; asked then, so a
    // well-formed message costs one authentication (the handler's), not two.
    let rejection_dialect = |peer: &PeerInfo| {
        endpoint
            .handler
            .dialect_for(peer)
            .unwrap_or_else(|| endpoint.dialect.clone())
    };
    let body = match axum::body::to_bytes(request.into_body(), endpoint.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => {
            let rejection = endpoint.codec.reject_unreadable(&format!("body: {e}"));
            endpoint
                .handler
                .rejected(&peer, &rejection, RejectionCause::TooLarge);
            return json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                serde_json::to_vec(&rejection.answer_json(&rejection_dialect(&peer)))
                    .unwrap_or_default(),
            );
        }
    };
    peer.body_bytes = body.len();
    let message = match endpoint.codec.decode(&body) {
        Ok(message) => message,
        Err(rejection) => {
            tracing::info!(
                remote = ?peer.remote_addr,
                code = %rejection.result_code.as_str(),
                description = %rejection.description,
                "rejected Backend Interfaces message"
            );
            endpoint
                .handler
                .rejected(&peer, &rejection, RejectionCause::Invalid);
            let status = if rejection.header.is_some() {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            };
            let dialect = rejection_dialect(&peer);
            let body = match rejection.answer() {
                Some(answer) => endpoint.codec.encode(&answer, &dialect),
                None => serde_json::to_vec(&rejection.answer_json(&dialect)).unwrap_or_default(),
            };
            return json_response(status, body);
        }
    };
    let header = message.header();
    let span = tracing::info_span!(
        "bi",
        message_type = %header.message_type.as_str(),
        sender = %header.sender_id,
        receiver = %header.receiver_id,
        transaction = ?header.transaction_id,
    );
    let entered = span.enter();
    // An answer someone is waiting for goes to them and nowhere else.
    let message = if header.message_type.is_answer() {
        match header.transaction_id {
            Some(tid) => {
                match endpoint
                    .pending
                    .resolve(&AnswerKey::new(&header.sender_id, tid), message)
                {
                    Ok(()) => return StatusCode::OK.into_response(),
                    Err(unclaimed) => *unclaimed,
                }
            }
            None => message,
        }
    } else {
        message
    };
    drop(entered);
    let request_header = message.header().clone();
    // The handler's own log lines carry the message's span (type, sender, transaction).
    match endpoint
        .handler
        .handle(message, peer)
        .instrument(span)
        .await
    {
        Reply::Answer { message, dialect } => {
            let dialect = dialect.as_ref().unwrap_or(&endpoint.dialect);
            json_response(StatusCode::OK, endpoint.codec.encode(&message, dialect))
        }
        Reply::Encoded(body) => json_response(StatusCode::OK, body),
        Reply::Later(answer) => {
            match &endpoint.later {
                Some(later) => deliver_later(
                    later.clone(),
                    endpoint.codec.clone(),
                    request_header,
                    answer,
                ),
                None => tracing::error!(
                    "handler answered Later but the endpoint has no later delivery configured"
                ),
            }
            StatusCode::OK.into_response()
        }
        Reply::Deferred | Reply::Accepted => StatusCode::OK.into_response(),
    }
}

/// Awaits a later answer and POSTs it to the requester, retrying; every failure is logged
/// with the transaction it belongs to (nothing is dropped silently).
fn deliver_later(
    later: LaterDelivery,
    codec: Arc<Codec>,
    request: crate::header::Header,
    answer: Pin<Box<dyn Future<Output = Message> + Send>>,
) {
    tokio::spawn(async move {
        let answer = answer.await;
        let Some((peer, dialect)) = later.directory.answer_endpoint(&request) else {
            tracing::warn!(
                sender = %request.sender_id,
                transaction = ?request.transaction_id,
                "no endpoint known for the sender; asynchronous answer not delivered"
            );
            return;
        };
        let body = codec.encode(&answer, &dialect);
        if let Err(e) = later.client.deliver(&peer, body).await {
            tracing::warn!(
                url = %peer.url(),
                transaction = ?request.transaction_id,
                error = %e,
                "asynchronous answer not delivered"
            );
        }
    });
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
