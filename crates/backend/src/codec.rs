//! Decode → validate → type, and encode: the one entry point for bytes.
//!
//! Decoding reads the header first (STYLE #2), so every later failure is answered with the
//! right TransactionID, swapped IDs and echoed token; then the message's schema; then the
//! typed model. A failure at any step is a [`Rejection`] that always yields a well-formed
//! answer body.

// `Result<Message, Rejection>`: a Message is itself hundreds of bytes, so boxing the error would
// not shrink the Result, and callers read the Rejection's fields directly (the API contract).
#![allow(clippy::result_large_err)]

use serde_json::{Map, Value};

use crate::dialect::Dialect;
use crate::error::{DecodeError, SchemaError};
use crate::header::{Header, MessageType, ProtocolVersion};
use crate::message::Message;
use crate::result::{BiResult, ResultCode};
use crate::schema::Schemas;

/// The compiled schemas of 1.0 and 1.1 and the typed model: build once, share (it is
/// `Send + Sync`).
#[derive(Debug)]
pub struct Codec {
    schemas: Schemas,
}

impl Codec {
    /// Compiles the embedded schemas.
    pub fn new() -> Result<Codec, SchemaError> {
        Ok(Self {
            schemas: Schemas::compile()?,
        })
    }

    /// The compiled schemas.
    pub fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    /// Reads one message: header first, then the schema of its version and type, then the
    /// typed model. Never panics; every failure is a [`Rejection`].
    pub fn decode(&self, body: &[u8]) -> Result<Message, Rejection> {
        let map = parse_object(body)?;
        self.decode_map(map)
    }

    /// Reads an answer that came back in the HTTP response to `request`, completing missing
    /// header fields from `request` (some peers answer with only a `Result`, see
    /// schemas/README.md "Answers without a header"). Fields that are present are kept as sent.
    pub fn decode_answer(&self, request: &Header, body: &[u8]) -> Result<Message, Rejection> {
        let mut map = parse_object(body)?;
        let expected = request.answer_header();
        let mut fill = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                if map.get(key).is_none_or(Value::is_null) {
                    map.insert(key.to_owned(), value);
                }
            }
        };
        fill(
            "ProtocolVersion",
            Some(Value::from(expected.protocol_version.as_str())),
        );
        fill("SenderID", Some(Value::from(expected.sender_id.as_str())));
        fill(
            "ReceiverID",
            Some(Value::from(expected.receiver_id.as_str())),
        );
        fill("TransactionID", expected.transaction_id.map(Value::from));
        fill(
            "MessageType",
            Some(Value::from(expected.message_type.as_str())),
        );
        fill(
            "ReceiverToken",
            expected.receiver_token.as_ref().map(|t| {
                Value::from(
                    t.received_text()
                        .map_or_else(|| Dialect::canonical().hex(t.as_bytes()), str::to_owned),
                )
            }),
        );
        fill("SenderNSID", expected.sender_nsid.clone().map(Value::from));
        fill(
            "ReceiverNSID",
            expected.receiver_nsid.clone().map(Value::from),
        );
        self.decode_map(map)
    }

    /// Writes `message` exactly in `dialect`.
    pub fn encode(&self, message: &Message, dialect: &Dialect) -> Vec<u8> {
        serde_json::to_vec(&message.to_json(dialect)).unwrap_or_default()
    }

    /// A rejection for a body that could not even be read (too large, broken transfer).
    pub fn reject_unreadable(&self, description: &str) -> Rejection {
        Rejection::new(
            None,
            DecodeError::NotJson(description.to_owned()),
            Map::new(),
        )
    }

    fn decode_map(&self, map: Map<String, Value>) -> Result<Message, Rejection> {
        let header = match Header::read(&map) {
            Ok(header) => header,
            Err(error) => return Err(Rejection::new(None, error, echo(&map))),
        };
        let value = Value::Object(map);
        let validated =
            self.schemas
                .validate(&header.protocol_version, &header.message_type, &value);
        let Value::Object(map) = value else {
            // Built from a map two lines up; kept total instead of panicking.
            return Err(Rejection::new(
                Some(header),
                DecodeError::NotJson("not an object".into()),
                Map::new(),
            ));
        };
        if let Err(error) = validated {
            let kept = echo(&map);
            return Err(Rejection::new(Some(header), error, kept));
        }
        // The happy path copies nothing for the echo: a typed failure echoes the read header.
        Message::from_map(header.clone(), map).map_err(|error| {
            let kept = echo_header(&header);
            Rejection::new(Some(header), error, kept)
        })
    }
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Rejection::new(
            None,
            DecodeError::NotJson(format!(
                "expected an object, got {}",
                crate::wire::kind(&other)
            )),
            Map::new(),
        )),
        Err(e) => Err(Rejection::new(
            None,
            DecodeError::NotJson(e.to_string()),
            Map::new(),
        )),
    }
}

/// The raw header-ish fields worth echoing in an answer to a message we cannot read.
fn echo(map: &Map<String, Value>) -> Map<String, Value> {
    [
        "ProtocolVersion",
        "SenderID",
        "ReceiverID",
        "TransactionID",
        "MessageType",
        "SenderToken",
        "SenderNSID",
        "ReceiverNSID",
    ]
    .into_iter()
    .filter_map(|key| {
        let value = map.get(key)?;
        let fits = match key {
            "TransactionID" => value.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
            _ => value.as_str().is_some_and(|s| s.len() <= 256),
        };
        fits.then(|| (key.to_owned(), value.clone()))
    })
    .collect()
}

/// The echo of a header that was read.
fn echo_header(header: &Header) -> Map<String, Value> {
    let dialect = Dialect::canonical();
    let mut out = crate::wire::Out::new(crate::wire::Style {
        dialect: &dialect,
        version: &header.protocol_version,
    });
    header.write(&mut out);
    echo(&out.into_map())
}

/// Why a message was not accepted, with everything needed to answer it.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// The header, when it could be read (ProtocolVersion, SenderID, ReceiverID, MessageType
    /// present and well-typed).
    pub header: Option<Header>,
    /// The ResultCode to answer with.
    pub result_code: ResultCode,
    /// Names the offending field, e.g. `ULMetaData.GWInfo[1].RSSI: expected integer, got string`.
    pub description: String,
    /// The typed reason.
    pub error: DecodeError,
    echo: Map<String, Value>,
}

impl Rejection {
    fn new(header: Option<Header>, error: DecodeError, echo: Map<String, Value>) -> Self {
        let version = header
            .as_ref()
            .map(|h| h.protocol_version.clone())
            .or_else(|| {
                echo.get("ProtocolVersion")
                    .and_then(Value::as_str)
                    .map(ProtocolVersion::parse)
            });
        Self {
            result_code: error.result_code(version.as_ref()),
            description: error.to_string(),
            header,
            error,
            echo,
        }
    }

    /// The well-formed error answer to send back, as a message:
    ///
    /// - a rejected request → its answer type with `Result { code, description }`;
    /// - a rejected 1.1 answer or notification → ErrorNotif (TS002 1.1: "error notification of
    ///   invalid answer messages");
    /// - a rejected 1.0 answer or notification, an unknown MessageType, or no readable header →
    ///   `None`: use [`Rejection::answer_json`], which always has a body.
    pub fn answer(&self) -> Option<Message> {
        let header = self.header.as_ref()?;
        let result = BiResult::with_description(self.result_code.clone(), self.description.clone());
        if header.message_type.is_request() {
            return Message::error_answer(header, result.result_code, self.description.clone());
        }
        let known = !matches!(header.message_type, MessageType::Unknown(_));
        if known && header.protocol_version == ProtocolVersion::V1_1 {
            let mut notif = header.answer_header();
            notif.message_type = MessageType::ErrorNotif;
            return Message::with_result(notif, result);
        }
        None
    }

    /// A header field as the message claimed it, when it was a string (ids, MessageType,
    /// tokens) of at most 256 bytes, even when the header as a whole could not be read: for
    /// logging and auditing what a refused message said it was.
    pub fn claimed(&self, field: &str) -> Option<&str> {
        self.echo.get(field).and_then(Value::as_str)
    }

    /// The TransactionID the message claimed, when it was one.
    pub fn claimed_transaction_id(&self) -> Option<u32> {
        self.echo
            .get("TransactionID")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    }

    /// Always a well-formed JSON answer body with a Result, even for garbage: [`Self::answer`]
    /// in `dialect` when there is one, else the best answer the readable fields allow (IDs
    /// swapped, TransactionID and SenderToken echoed, `…Req` answered with `…Ans`, a 1.1
    /// non-request with ErrorNotif; ProtocolVersion 1.1 unless the message said 1.0).
    pub fn answer_json(&self, dialect: &Dialect) -> Value {
        if let Some(answer) = self.answer() {
            return answer.to_json(dialect);
        }
        let text = |key: &str| self.echo.get(key).and_then(Value::as_str);
        let version = match text("ProtocolVersion") {
            Some("1.0") => ProtocolVersion::V1_0,
            _ => ProtocolVersion::V1_1,
        };
        let mut out = Map::new();
        out.insert("ProtocolVersion".into(), Value::from(version.as_str()));
        if let Some(id) = text("ReceiverID") {
            out.insert("SenderID".into(), Value::from(id));
        }
        if let Some(id) = text("SenderID") {
            out.insert("ReceiverID".into(), Value::from(id));
        }
        if let Some(tid) = self.echo.get("TransactionID") {
            out.insert("TransactionID".into(), tid.clone());
        }
        let answer_type = match text("MessageType") {
            Some(t) if t.ends_with("Req") => Some(format!("{}Ans", &t[..t.len() - 3])),
            _ if version == ProtocolVersion::V1_1 => Some("ErrorNotif".to_owned()),
            _ => None,
        };
        if let Some(answer_type) = answer_type {
            out.insert("MessageType".into(), Value::from(answer_type));
        }
        if let Some(token) = text("SenderToken") {
            out.insert("ReceiverToken".into(), Value::from(token));
        }
        // Empty NSIDs name no server: not echoed (as in `Header::answer_header`).
        if let Some(nsid) = text("ReceiverNSID").filter(|n| !n.is_empty()) {
            out.insert("SenderNSID".into(), Value::from(nsid));
        }
        if let Some(nsid) = text("SenderNSID").filter(|n| !n.is_empty()) {
            out.insert("ReceiverNSID".into(), Value::from(nsid));
        }
        let mut result = Map::new();
        result.insert(
            "ResultCode".into(),
            Value::from(self.result_code.as_str_for(dialect, &version)),
        );
        result.insert("Description".into(), Value::from(self.description.clone()));
        out.insert("Result".into(), Value::Object(result));
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_still_gets_a_result() {
        let codec = Codec::new().unwrap();
        let rejection = codec.decode(b"\x00not json").unwrap_err();
        assert!(rejection.header.is_none());
        let body = rejection.answer_json(&Dialect::canonical());
        assert_eq!(body["Result"]["ResultCode"], "MalformedMessage");
    }

    /// Found by `mutated_corpus_never_panics` (tests/fuzz.rs): an empty SenderNSID was
    /// echoed as ReceiverNSID, and our answer failed our own schema.
    #[test]
    fn an_empty_nsid_is_not_echoed_into_the_answer() {
        let codec = Codec::new().unwrap();
        let body =
            br#"{"ProtocolVersion":"1.1","SenderID":"42FFFF","ReceiverID":"EC656E0000000000",
            "TransactionID":0,"MessageType":"JoinReq","SenderNSID":"","ReceiverNSID":""}"#;
        let rejection = codec.decode(body).unwrap_err();
        let answer = rejection.answer().expect("a request gets its answer");
        let bytes = codec.encode(&answer, &Dialect::canonical());
        let again = codec.decode(&bytes);
        assert!(again.is_ok(), "{}", String::from_utf8_lossy(&bytes));
        let fallback = rejection.answer_json(&Dialect::canonical());
        assert!(fallback.get("ReceiverNSID").is_none(), "{fallback}");
        assert!(fallback.get("SenderNSID").is_none(), "{fallback}");
    }

    #[test]
    fn a_request_is_answered_with_its_answer_type() {
        let codec = Codec::new().unwrap();
        let body =
            br#"{"ProtocolVersion":"1.0","SenderID":"000001","ReceiverID":"0102030405060708",
            "TransactionID":5,"MessageType":"HomeNSReq","SenderToken":"0A","DevEUI":"xyz"}"#;
        let rejection = codec.decode(body).unwrap_err();
        assert_eq!(rejection.result_code, ResultCode::MalformedRequest);
        assert!(
            rejection.description.starts_with("DevEUI: "),
            "{}",
            rejection.description
        );
        let answer = rejection.answer().unwrap();
        assert_eq!(answer.message_type(), MessageType::HomeNSAns);
        let json = answer.to_json(&Dialect::canonical());
        assert_eq!(json["TransactionID"], 5);
        assert_eq!(json["ReceiverToken"], "0A");
        assert_eq!(json["SenderID"], "0102030405060708");
    }
}
