//! Every Backend Interfaces message as a typed struct, and [`Message`], one variant per type.
//!
//! Each struct has `header`, its typed fields (TS002 1.1 wire names in the `bi_message!`
//! lines) and `extra`: the unknown fields, kept (sorted by name) and written back after the known ones.

mod join;
mod roaming;

pub use join::{
    AppSKeyAns, AppSKeyReq, HomeNSAns, HomeNSReq, JoinAns, JoinReq, RejoinAns, RejoinReq,
};
pub use roaming::{
    ErrorNotif, HRStartAns, HRStartReq, HRStopAns, HRStopReq, PRStartAns, PRStartNotif, PRStartReq,
    PRStopAns, PRStopReq, ProfileAns, ProfileReq, XmitDataAns, XmitDataReq, XmitLocAns, XmitLocReq,
};

use serde_json::{Map, Value};

use crate::dialect::Dialect;
use crate::error::DecodeError;
use crate::header::{Header, MessageType, ProtocolVersion, HEADER_FIELDS};
use crate::result::{BiResult, ResultCode};
use crate::wire::{Fields, Out, Path, Style, Wire};

macro_rules! messages {
    (results: [$($with_result:ident),*], others: [$($other:ident),*]) => {
        /// A message of any type.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        pub enum Message {
            $(
                #[doc = concat!("`", stringify!($with_result), "`.")]
                $with_result($with_result),
            )*
            $(
                #[doc = concat!("`", stringify!($other), "`.")]
                $other($other),
            )*
        }

        $(impl From<$with_result> for Message {
            fn from(message: $with_result) -> Self {
                Message::$with_result(message)
            }
        })*
        $(impl From<$other> for Message {
            fn from(message: $other) -> Self {
                Message::$other(message)
            }
        })*

        impl Message {
            /// The header.
            pub fn header(&self) -> &Header {
                match self {
                    $(Message::$with_result(m) => &m.header,)*
                    $(Message::$other(m) => &m.header,)*
                }
            }

            /// The header, to change it (e.g. when forwarding).
            pub fn header_mut(&mut self) -> &mut Header {
                match self {
                    $(Message::$with_result(m) => &mut m.header,)*
                    $(Message::$other(m) => &mut m.header,)*
                }
            }

            /// The Result of an answer or notification.
            pub fn result(&self) -> Option<&BiResult> {
                match self {
                    $(Message::$with_result(m) => Some(&m.result),)*
                    _ => None,
                }
            }

            /// The unknown fields kept from the received message.
            pub fn extra(&self) -> &Map<String, Value> {
                match self {
                    $(Message::$with_result(m) => &m.extra,)*
                    $(Message::$other(m) => &m.extra,)*
                }
            }

            /// Reads the body of a message whose header has been read.
            pub(crate) fn read(header: Header, fields: Fields<'_>) -> Result<Self, DecodeError> {
                let message = match &header.message_type {
                    $(MessageType::$with_result => $with_result::read(header, fields).map(Message::$with_result),)*
                    $(MessageType::$other => $other::read(header, fields).map(Message::$other),)*
                    MessageType::Unknown(name) => Err(DecodeError::UnknownMessageType(name.clone())),
                }?;
                message.check()?;
                Ok(message)
            }

            fn write(&self, out: &mut Out<'_>) {
                match self {
                    $(Message::$with_result(m) => m.write(out),)*
                    $(Message::$other(m) => m.write(out),)*
                }
            }
        }
    };
}

messages! {
    results: [
        JoinAns, RejoinAns, AppSKeyAns, PRStartAns, PRStartNotif, PRStopAns, HRStartAns,
        HRStopAns, HomeNSAns, ProfileAns, XmitDataAns, XmitLocAns, ErrorNotif
    ],
    others: [
        JoinReq, RejoinReq, AppSKeyReq, PRStartReq, PRStopReq, HRStartReq, HRStopReq, HomeNSReq,
        ProfileReq, XmitDataReq, XmitLocReq
    ]
}

impl Message {
    /// The MessageType (from the header).
    pub fn message_type(&self) -> MessageType {
        self.header().message_type.clone()
    }

    /// The answer to `request` carrying `code` and `description`, with the header of
    /// [`Header::answer_header`]; `None` when `request` is not a request type this model knows.
    /// Every answer type has only Result as a mandatory field, so this is well-formed.
    pub fn error_answer(
        request: &Header,
        code: ResultCode,
        description: impl Into<String>,
    ) -> Option<Message> {
        request.message_type.answer_type()?;
        let mut header = request.answer_header();
        if !header.protocol_version.is_supported() {
            // We cannot answer in a version we do not speak; 1.1 is the one we speak best.
            header.protocol_version = ProtocolVersion::V1_1;
        }
        Self::with_result(header, BiResult::with_description(code, description))
    }

    /// A message of `header`'s type with only a Result (an answer or notification).
    pub(crate) fn with_result(header: Header, result: BiResult) -> Option<Message> {
        let dialect = Dialect::canonical();
        let style = Style {
            dialect: &dialect,
            version: &header.protocol_version,
        };
        let mut map = Map::new();
        map.insert("Result".to_owned(), result.to_wire(&style));
        Message::read(header, Fields::from_map(map, &Path::Root)).ok()
    }

    /// Reads a message from JSON without schema validation (the codec validates first).
    pub fn from_json(value: Value) -> Result<Message, DecodeError> {
        let Value::Object(map) = value else {
            return Err(DecodeError::NotJson("expected a JSON object".into()));
        };
        let header = Header::read(&map)?;
        Self::from_map(header, map)
    }

    /// Reads the body of `map` given its already-read header.
    pub(crate) fn from_map(
        header: Header,
        map: Map<String, Value>,
    ) -> Result<Message, DecodeError> {
        let root = Path::Root;
        let mut fields = Fields::from_map(map, &root);
        for key in HEADER_FIELDS {
            fields.discard(key);
        }
        Message::read(header, fields)
    }

    /// The message as JSON in `dialect`: header, typed fields in spec order, kept fields.
    pub fn to_json(&self, dialect: &Dialect) -> Value {
        let header = self.header();
        let mut out = Out::new(Style {
            dialect,
            version: &header.protocol_version,
        });
        self.write(&mut out);
        Value::Object(out.into_map())
    }

    /// Cross-field rules the per-field schema cannot say.
    fn check(&self) -> Result<(), DecodeError> {
        if let Message::XmitDataReq(m) = self {
            // "PHYPayload or FRMPayload", "ULMetaData or DLMetaData" (TS002 Table 13, MX).
            if m.phy_payload.is_none() && m.frm_payload.is_none() {
                return Err(Path::Key(&Path::Root, "PHYPayload")
                    .invalid("XmitDataReq needs PHYPayload or FRMPayload"));
            }
            if m.ul_meta_data.is_none() && m.dl_meta_data.is_none() {
                return Err(Path::Key(&Path::Root, "DLMetaData")
                    .invalid("XmitDataReq needs ULMetaData or DLMetaData"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_exist_for_every_request() {
        for t in MessageType::KNOWN.iter().filter(|t| t.is_request()) {
            let request = Header::new(
                ProtocolVersion::V1_1,
                t.clone(),
                "000001",
                "000002",
                Some(9),
            );
            let answer =
                Message::error_answer(&request, ResultCode::MalformedMessage, "x").expect("answer");
            assert_eq!(Some(answer.message_type()), t.answer_type());
            assert_eq!(
                answer.result().map(|r| &r.result_code),
                Some(&ResultCode::MalformedMessage)
            );
        }
        let notif = Header::new(
            ProtocolVersion::V1_1,
            MessageType::ErrorNotif,
            "a",
            "b",
            None,
        );
        assert!(Message::error_answer(&notif, ResultCode::Other, "x").is_none());
    }
}
