//! `POST /bi`: the Backend Interfaces endpoint. The shared endpoint of `crates/backend` decodes
//! (header first), validates and answers malformed messages; this adapter hands each decoded
//! message and the caller's bearer token to [`JoinServer::answer_bi`] and answers in the HTTP
//! response (the JS answers every request synchronously).

use std::sync::Arc;

use axum::Router;
use backend::codec::Codec;
use backend::dialect::Dialect;
use backend::http::pending::PendingAnswers;
use backend::http::server::{BiEndpoint, BiHandler, PeerInfo, Reply};
use backend::message::Message;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::app::JoinServer;
use crate::config::DialectName;

/// Largest Backend Interfaces message accepted (a JoinReq is well under 2 KiB).
pub const MAX_BI_BODY_BYTES: usize = 64 * 1024;

/// Labels of `switchyard_jsd_bi_answers_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    /// JoinAns, RejoinAns, HomeNSAns, AppSKeyAns, …
    message_type: String,
    /// Success, MICFailed, …
    result_code: String,
}

struct Handler {
    server: Arc<JoinServer>,
    answers: Family<AnswerLabels, Counter>,
}

impl BiHandler for Handler {
    async fn handle(&self, message: Message, peer: PeerInfo) -> Reply {
        let dialect = self.dialect_for(&peer);
        match self
            .server
            .answer_bi(message, peer.bearer_token.as_deref())
            .await
        {
            Some(answer) => {
                let labels = AnswerLabels {
                    message_type: answer.message_type().as_str().to_owned(),
                    result_code: answer
                        .result()
                        .map_or("none", |r| r.result_code.as_str())
                        .to_owned(),
                };
                self.answers.get_or_create(&labels).inc();
                Reply::Answer {
                    message: Box::new(answer),
                    dialect,
                }
            }
            None => Reply::Accepted,
        }
    }

    fn dialect_for(&self, peer: &PeerInfo) -> Option<Dialect> {
        self.server
            .peers()
            .authenticate(peer.bearer_token.as_deref())
            .map(|peer| dialect(peer.dialect()))
    }
}

fn dialect(name: DialectName) -> Dialect {
    match name {
        DialectName::Canonical => Dialect::canonical(),
        DialectName::Chirpstack => Dialect::chirpstack_v4(),
        DialectName::Tts => Dialect::tts(),
        DialectName::Helium => Dialect::helium(),
    }
}

/// The `/bi` route, its metrics registered in `registry`. Malformed messages answered by the
/// shared endpoint itself show in the HTTP metrics, not here.
pub fn router(server: Arc<JoinServer>, codec: Arc<Codec>, registry: &mut Registry) -> Router {
    let answers = Family::<AnswerLabels, Counter>::default();
    registry.register(
        "bi_answers",
        "Backend Interfaces answers the join server decided, by type and ResultCode",
        answers.clone(),
    );
    BiEndpoint::new(
        codec,
        Arc::new(Handler { server, answers }),
        PendingAnswers::new(),
        Dialect::canonical(),
    )
    .with_max_body_bytes(MAX_BI_BODY_BYTES)
    .router("/bi")
}
