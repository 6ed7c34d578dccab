//! `POST /bi`: the nsd's Backend Interfaces endpoint, where the hub brings partners'
//! passive-roaming messages (and asynchronous answers to our own requests). The shared
//! endpoint of `crates/backend` decodes, validates and answers malformed messages, and hands
//! answers to the requests waiting for them; this adapter authenticates the hub and hands
//! each request to [`NetworkServer`]:
//!
//! - `PRStartReq` → [`NetworkServer::serve_roamed`] (we are the serving NS);
//! - `XmitDataReq` → [`NetworkServer::xmit`] (we are the forwarding NS);
//! - `PRStartNotif`, `ErrorNotif` → logged;
//! - any other request → its answer with `Other` (not a role this NS plays).
//!
//! Only the hub calls here, with the token `[roaming] inbound_token`; anyone else gets
//! `UnknownSender`.

use std::sync::Arc;

use axum::Router;
use backend::codec::Codec;
use backend::dialect::Dialect;
use backend::http::pending::PendingAnswers;
use backend::http::server::{BiEndpoint, BiHandler, PeerInfo, Reply};
use backend::message::Message;
use backend::ResultCode;

use crate::app::NetworkServer;

/// Largest Backend Interfaces message accepted (a PRStartReq with ten GWInfo is ~4 KiB).
pub const MAX_BI_BODY_BYTES: usize = 256 * 1024;

struct Handler {
    server: Arc<NetworkServer>,
}

impl BiHandler for Handler {
    async fn handle(&self, message: Message, peer: PeerInfo) -> Reply {
        let header = message.header().clone();
        let refuse = |code: ResultCode, description: String| match Message::error_answer(
            &header,
            code,
            description,
        ) {
            Some(answer) => Reply::answer(answer),
            None => Reply::Accepted,
        };
        let Some(roaming) = self.server.roaming() else {
            return refuse(
                ResultCode::Other,
                "roaming is not enabled on this network server".into(),
            );
        };
        if !roaming.is_hub(peer.bearer_token.as_deref()) {
            tracing::warn!(remote = ?peer.remote_addr, "Backend Interfaces message without the hub's token refused");
            return refuse(
                ResultCode::UnknownSender,
                "only the roaming hub may call this endpoint (bearer token)".into(),
            );
        }
        match message {
            Message::PRStartReq(req) => {
                Reply::answer(Message::PRStartAns(self.server.serve_roamed(req).await))
            }
            Message::XmitDataReq(req) => {
                Reply::answer(Message::XmitDataAns(self.server.xmit(&req).await))
            }
            Message::PRStartNotif(notif) => {
                tracing::info!(
                    sender = %notif.header.sender_id,
                    result = %notif.result.result_code.as_str(),
                    description = notif.result.description.as_deref().unwrap_or(""),
                    "join-accept fate reported by the forwarding network"
                );
                Reply::Accepted
            }
            Message::ErrorNotif(notif) => {
                tracing::warn!(
                    sender = %notif.header.sender_id,
                    result = %notif.result.result_code.as_str(),
                    description = notif.result.description.as_deref().unwrap_or(""),
                    "ErrorNotif received"
                );
                Reply::Accepted
            }
            other => refuse(
                ResultCode::Other,
                format!(
                    "{} is not served by this network server",
                    other.message_type().as_str()
                ),
            ),
        }
    }
}

/// The `/bi` route; `pending` is where our own requests wait for asynchronous answers.
pub fn router(server: Arc<NetworkServer>, codec: Arc<Codec>, pending: PendingAnswers) -> Router {
    BiEndpoint::new(
        codec,
        Arc::new(Handler { server }),
        pending,
        Dialect::canonical(),
    )
    .with_max_body_bytes(MAX_BI_BODY_BYTES)
    .router("/bi")
}
