//! `bi-sink`: a member that answers every Backend Interfaces request at once, in the HTTP
//! response (synchronous mode), with `Success`.
//!
//! The answer is built from the request's header alone (TS002 1.1 §12, Table 12): SenderID and
//! ReceiverID swapped, the same ProtocolVersion and TransactionID, MessageType `…Req` →
//! `…Ans`, SenderNSID / ReceiverNSID swapped, the request's SenderToken echoed as
//! ReceiverToken (and its ReceiverToken as SenderToken), and
//! `"Result":{"ResultCode":"Success"}`. Only those header fields are read (serde skips the
//! rest without building it), and nothing else goes into the answer: a `Success` that the
//! specification requires to carry more (a JoinAns without PHYPayload, a HomeNSAns without
//! HNetID) is still sent bare, which is what a load sink needs and a real member would not do.
//!
//! A message that is not a request (`…Ans`, `…Notif`) is acknowledged with an empty 200, as a
//! synchronous member acknowledges a notification. A body without a readable header gets 400
//! with a `Result` of MalformedRequest (1.0) / MalformedMessage (otherwise) naming the problem.

use std::borrow::Cow;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::{Deserialize, Serialize};

/// The header fields the answer is made of (unknown and body fields are skipped).
#[derive(Debug, Deserialize)]
struct RequestHeader<'a> {
    #[serde(rename = "ProtocolVersion", borrow)]
    protocol_version: Option<Cow<'a, str>>,
    #[serde(rename = "SenderID", borrow)]
    sender_id: Option<Cow<'a, str>>,
    #[serde(rename = "ReceiverID", borrow)]
    receiver_id: Option<Cow<'a, str>>,
    #[serde(rename = "TransactionID")]
    transaction_id: Option<u64>,
    #[serde(rename = "MessageType", borrow)]
    message_type: Option<Cow<'a, str>>,
    #[serde(rename = "SenderToken", borrow)]
    sender_token: Option<Cow<'a, str>>,
    #[serde(rename = "ReceiverToken", borrow)]
    receiver_token: Option<Cow<'a, str>>,
    #[serde(rename = "SenderNSID", borrow)]
    sender_nsid: Option<Cow<'a, str>>,
    #[serde(rename = "ReceiverNSID", borrow)]
    receiver_nsid: Option<Cow<'a, str>>,
}

/// The answer, in the order TS002's examples write it; absent fields are omitted.
#[derive(Debug, Serialize)]
struct AnswerMessage<'a> {
    #[serde(rename = "ProtocolVersion")]
    protocol_version: &'a str,
    #[serde(rename = "SenderID")]
    sender_id: &'a str,
    #[serde(rename = "ReceiverID")]
    receiver_id: &'a str,
    #[serde(rename = "TransactionID", skip_serializing_if = "Option::is_none")]
    transaction_id: Option<u64>,
    #[serde(rename = "MessageType")]
    message_type: &'a str,
    #[serde(rename = "SenderToken", skip_serializing_if = "Option::is_none")]
    sender_token: Option<&'a str>,
    #[serde(rename = "ReceiverToken", skip_serializing_if = "Option::is_none")]
    receiver_token: Option<&'a str>,
    #[serde(rename = "SenderNSID", skip_serializing_if = "Option::is_none")]
    sender_nsid: Option<&'a str>,
    #[serde(rename = "ReceiverNSID", skip_serializing_if = "Option::is_none")]
    receiver_nsid: Option<&'a str>,
    #[serde(rename = "Result")]
    result: ResultField<'a>,
}

#[derive(Debug, Serialize)]
struct ResultField<'a> {
    #[serde(rename = "ResultCode")]
    result_code: &'a str,
    #[serde(rename = "Description", skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
}

/// What the sink makes of a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkReply {
    /// A request: its `Success` answer, as JSON.
    Answer(Vec<u8>),
    /// Not a request (an answer or a notification): acknowledged with an empty 200.
    Acknowledge,
    /// No readable header: a bare `Result` explaining why, as JSON.
    Malformed(Vec<u8>),
}

/// The sink's reply to `body`.
pub fn reply(body: &[u8]) -> SinkReply {
    let request: RequestHeader<'_> = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => return malformed(None, &format!("not a Backend Interfaces message: {e}")),
    };
    let version = request.protocol_version.as_deref();
    let (Some(message_type), Some(sender_id), Some(receiver_id), Some(protocol_version)) = (
        request.message_type.as_deref(),
        request.sender_id.as_deref(),
        request.receiver_id.as_deref(),
        version,
    ) else {
        return malformed(
            version,
            "ProtocolVersion, SenderID, ReceiverID and MessageType are mandatory",
        );
    };
    let Some(kind) = message_type.strip_suffix("Req") else {
        return SinkReply::Acknowledge;
    };
    let answer_type = format!("{kind}Ans");
    let answer = AnswerMessage {
        protocol_version,
        sender_id: receiver_id,
        receiver_id: sender_id,
        transaction_id: request.transaction_id,
        message_type: &answer_type,
        sender_token: request.receiver_token.as_deref(),
        receiver_token: request.sender_token.as_deref(),
        sender_nsid: request.receiver_nsid.as_deref(),
        receiver_nsid: request.sender_nsid.as_deref(),
        result: ResultField {
            result_code: "Success",
            description: None,
        },
    };
    match serde_json::to_vec(&answer) {
        Ok(json) => SinkReply::Answer(json),
        // Serialising strings and numbers cannot fail; answer rather than panic if it does.
        Err(e) => malformed(version, &format!("answer not serialisable: {e}")),
    }
}

fn malformed(version: Option<&str>, description: &str) -> SinkReply {
    #[derive(Serialize)]
    struct Bare<'a> {
        #[serde(rename = "Result")]
        result: ResultField<'a>,
    }
    let result_code = if version == Some("1.0") {
        "MalformedRequest"
    } else {
        "MalformedMessage"
    };
    let bare = Bare {
        result: ResultField {
            result_code,
            description: Some(description),
        },
    };
    SinkReply::Malformed(serde_json::to_vec(&bare).unwrap_or_default())
}

/// The sink's routes: `POST` on any path; any other method is 405.
pub fn router() -> Router {
    Router::new().fallback(handle)
}

async fn handle(method: Method, body: Bytes) -> Response {
    if method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let json = [(header::CONTENT_TYPE, "application/json")];
    match reply(&body) {
        SinkReply::Answer(answer) => (json, answer).into_response(),
        SinkReply::Acknowledge => StatusCode::OK.into_response(),
        SinkReply::Malformed(result) => (StatusCode::BAD_REQUEST, json, result).into_response(),
    }
}

/// Serves [`router`] on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr`, which must be a loopback address (bench servers never face a network).
pub async fn bind_loopback(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    if !addr.ip().is_loopback() {
        anyhow::bail!("--listen {addr}: loopback addresses only (127.0.0.0/8, ::1)");
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn answer(request: &Value) -> Value {
        match reply(request.to_string().as_bytes()) {
            SinkReply::Answer(json) => serde_json::from_slice(&json).expect("JSON"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_request_is_answered_success_with_the_header_mirrored() {
        let request = json!({
            "ProtocolVersion": "1.1", "SenderID": "000013", "ReceiverID": "000014",
            "TransactionID": 4294967295u64, "MessageType": "XmitDataReq",
            "SenderNSID": "70b3d57ed0000013", "SenderToken": "0a0b",
            "PHYPayload": "60", "DLMetaData": {"DevEUI": "0102030405060708", "GWInfo": [{}]}
        });
        assert_eq!(
            answer(&request),
            json!({
                "ProtocolVersion": "1.1", "SenderID": "000014", "ReceiverID": "000013",
                "TransactionID": 4294967295u64, "MessageType": "XmitDataAns",
                "ReceiverNSID": "70b3d57ed0000013", "ReceiverToken": "0a0b",
                "Result": {"ResultCode": "Success"}
            })
        );
        let pr_start = json!({
            "ProtocolVersion": "1.0", "SenderID": "00001\\u0033", "ReceiverID": "000014",
            "TransactionID": 7, "MessageType": "PRStartReq"
        });
        let ans = answer(&pr_start);
        assert_eq!(ans["MessageType"], "PRStartAns");
        assert_eq!(
            ans["ReceiverID"], "00001\\u0033",
            "escaped strings are copied"
        );
        assert!(ans.get("SenderToken").is_none());
    }

    #[test]
    fn non_requests_are_acknowledged_and_garbage_is_answered_malformed() {
        let notif = json!({"ProtocolVersion": "1.1", "SenderID": "a", "ReceiverID": "b",
                           "MessageType": "PRStartNotif"});
        assert_eq!(reply(notif.to_string().as_bytes()), SinkReply::Acknowledge);
        for (body, code) in [
            (&b"{"[..], "MalformedMessage"),
            (b"[1]", "MalformedMessage"),
            (
                br#"{"ProtocolVersion":"1.0","MessageType":"JoinReq"}"#,
                "MalformedRequest",
            ),
            (
                br#"{"ProtocolVersion":"1.1","SenderID":3}"#,
                "MalformedMessage",
            ),
        ] {
            let SinkReply::Malformed(json) = reply(body) else {
                panic!("{body:?}");
            };
            let result: Value = serde_json::from_slice(&json).expect("JSON");
            assert_eq!(result["Result"]["ResultCode"], code, "{body:?}");
        }
    }
}
