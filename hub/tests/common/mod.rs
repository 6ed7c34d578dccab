//! What several hub integration tests share: a receiving member on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use backend::codec::Codec;
use backend::dialect::Dialect;
use backend::http::pending::PendingAnswers;
use backend::http::server::{BiEndpoint, BiHandler, PeerInfo, Reply};
use backend::message::Message;
use backend::result::ResultCode;

/// A member that answers every request Success at once and remembers what it received.
#[derive(Debug, Default)]
pub struct Receiver {
    /// Every message it received, in order.
    pub seen: Mutex<Vec<Message>>,
}

impl BiHandler for Receiver {
    async fn handle(&self, message: Message, _peer: PeerInfo) -> Reply {
        self.seen.lock().expect("lock").push(message.clone());
        match Message::error_answer(message.header(), ResultCode::Success, "answered by rx") {
            Some(answer) => Reply::answer(answer),
            None => Reply::Accepted,
        }
    }
}

/// Starts a [`Receiver`] serving `POST /bi` on a free loopback port.
pub async fn start_receiver() -> (Arc<Receiver>, SocketAddr) {
    let receiver = Arc::new(Receiver::default());
    let router = BiEndpoint::new(
        Arc::new(Codec::new().expect("schemas")),
        Arc::clone(&receiver),
        PendingAnswers::new(),
        Dialect::canonical(),
    )
    .router("/bi");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (receiver, addr)
}
