//! The common header of every message (TS002 1.0 §22.1, 1.1 adds SenderNSID / ReceiverNSID):
//! read first, before the schema and the body, so every later failure can still be answered
//! with the right TransactionID, swapped IDs and echoed token (STYLE #2).

use lorawan::ids::{Eui64, NetId};
use serde_json::{Map, Value};

use crate::error::DecodeError;
use crate::values::Token;
use crate::wire::{optional, required, Out, Path, Wire};

/// The Backend Interfaces version a message claims.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProtocolVersion {
    /// TS002 1.0.
    V1_0,
    /// TS002 1.1.
    V1_1,
    /// Anything else, kept verbatim (answered with InvalidProtocolVersion).
    Other(String),
}

impl ProtocolVersion {
    /// Reads the version text.
    pub fn parse(text: &str) -> Self {
        match text {
            "1.0" => Self::V1_0,
            "1.1" => Self::V1_1,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The version text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::V1_0 => "1.0",
            Self::V1_1 => "1.1",
            Self::Other(text) => text,
        }
    }

    /// Whether this model reads and writes this version.
    pub fn is_supported(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

macro_rules! message_types {
    ($($name:ident: $kind:ident $(=> $answer:ident)?),* $(,)?) => {
        /// A MessageType. Open: an unknown type is kept as [`MessageType::Unknown`].
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum MessageType {
            $(
                #[doc = concat!("`", stringify!($name), "`.")]
                $name,
            )*
            /// A type this model does not know, kept verbatim.
            Unknown(String),
        }

        impl MessageType {
            /// Every type this model knows.
            pub const KNOWN: &'static [MessageType] = &[$(MessageType::$name),*];

            /// Reads the type text (exact spelling).
            pub fn parse(text: &str) -> Self {
                match text {
                    $(stringify!($name) => Self::$name,)*
                    other => Self::Unknown(other.to_owned()),
                }
            }

            /// The type text.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$name => stringify!($name),)*
                    Self::Unknown(text) => text,
                }
            }

            /// Whether this is a request (`…Req`).
            pub fn is_request(&self) -> bool {
                match self {
                    $(Self::$name => Kind::$kind == Kind::Request,)*
                    Self::Unknown(text) => text.ends_with("Req"),
                }
            }

            /// Whether this is an answer (`…Ans`).
            pub fn is_answer(&self) -> bool {
                match self {
                    $(Self::$name => Kind::$kind == Kind::Answer,)*
                    Self::Unknown(text) => text.ends_with("Ans"),
                }
            }

            /// Whether this is a notification (1.1 PRStartNotif, ErrorNotif).
            pub fn is_notification(&self) -> bool {
                match self {
                    $(Self::$name => Kind::$kind == Kind::Notification,)*
                    Self::Unknown(text) => text.ends_with("Notif"),
                }
            }

            /// The answer type of a request.
            pub fn answer_type(&self) -> Option<MessageType> {
                match self {
                    $($(Self::$name => Some(Self::$answer),)?)*
                    _ => None,
                }
            }

            /// The request type of an answer.
            pub fn request_type(&self) -> Option<MessageType> {
                Self::KNOWN
                    .iter()
                    .find(|request| request.answer_type().as_ref() == Some(self))
                    .cloned()
            }

            /// Whether the type exists in `version` (PRStartNotif, XmitLoc*, ErrorNotif are 1.1).
            pub fn exists_in(&self, version: &ProtocolVersion) -> bool {
                match self {
                    Self::PRStartNotif | Self::XmitLocReq | Self::XmitLocAns | Self::ErrorNotif => {
                        *version == ProtocolVersion::V1_1
                    }
                    Self::Unknown(_) => false,
                    _ => version.is_supported(),
                }
            }
        }
    };
}

#[derive(PartialEq, Eq)]
enum Kind {
    Request,
    Answer,
    Notification,
}

message_types! {
    JoinReq: Request => JoinAns,
    JoinAns: Answer,
    RejoinReq: Request => RejoinAns,
    RejoinAns: Answer,
    AppSKeyReq: Request => AppSKeyAns,
    AppSKeyAns: Answer,
    PRStartReq: Request => PRStartAns,
    PRStartAns: Answer,
    PRStartNotif: Notification,
    PRStopReq: Request => PRStopAns,
    PRStopAns: Answer,
    HRStartReq: Request => HRStartAns,
    HRStartAns: Answer,
    HRStopReq: Request => HRStopAns,
    HRStopAns: Answer,
    HomeNSReq: Request => HomeNSAns,
    HomeNSAns: Answer,
    ProfileReq: Request => ProfileAns,
    ProfileAns: Answer,
    XmitDataReq: Request => XmitDataAns,
    XmitDataAns: Answer,
    XmitLocReq: Request => XmitLocAns,
    XmitLocAns: Answer,
    ErrorNotif: Notification,
}

/// The common header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// ProtocolVersion.
    pub protocol_version: ProtocolVersion,
    /// SenderID: a NetID or JoinEUI in hex, or an AS-ID string; kept as received.
    pub sender_id: String,
    /// ReceiverID, like SenderID.
    pub receiver_id: String,
    /// TransactionID; absent in some deployed requests (see schemas/README.md).
    pub transaction_id: Option<u32>,
    /// MessageType.
    pub message_type: MessageType,
    /// SenderToken, opaque, re-emitted as received.
    pub sender_token: Option<Token>,
    /// ReceiverToken, opaque, re-emitted as received.
    pub receiver_token: Option<Token>,
    /// SenderNSID (1.1): an EUI-64 by the spec, any string on read (see schemas/README.md).
    pub sender_nsid: Option<String>,
    /// ReceiverNSID (1.1), like SenderNSID.
    pub receiver_nsid: Option<String>,
    /// VSExtension: vendor-specific, kept and passed on.
    pub vs_extension: Option<Value>,
}

/// The header fields, in the order they are written.
pub(crate) const HEADER_FIELDS: [&str; 10] = [
    "ProtocolVersion",
    "SenderID",
    "ReceiverID",
    "TransactionID",
    "MessageType",
    "SenderToken",
    "ReceiverToken",
    "SenderNSID",
    "ReceiverNSID",
    "VSExtension",
];

impl Header {
    /// A header with the mandatory fields and nothing else.
    pub fn new(
        protocol_version: ProtocolVersion,
        message_type: MessageType,
        sender_id: impl Into<String>,
        receiver_id: impl Into<String>,
        transaction_id: Option<u32>,
    ) -> Self {
        Self {
            protocol_version,
            sender_id: sender_id.into(),
            receiver_id: receiver_id.into(),
            transaction_id,
            message_type,
            sender_token: None,
            receiver_token: None,
            sender_nsid: None,
            receiver_nsid: None,
            vs_extension: None,
        }
    }

    /// The header of the answer to this request: IDs and NSIDs swapped, ReceiverToken = this
    /// SenderToken ("SHALL copy the value of the received SenderToken to the transmitted
    /// ReceiverToken", TS002 §22.1), same TransactionID and version, MessageType = the answer
    /// type (or this type, unchanged, when it has none). No SenderToken and no VSExtension.
    pub fn answer_header(&self) -> Header {
        Header {
            protocol_version: self.protocol_version.clone(),
            sender_id: self.receiver_id.clone(),
            receiver_id: self.sender_id.clone(),
            transaction_id: self.transaction_id,
            message_type: self
                .message_type
                .answer_type()
                .unwrap_or_else(|| self.message_type.clone()),
            sender_token: None,
            receiver_token: self.sender_token.clone(),
            // An empty NSID names no server (the schema refuses it): echoed, it would make
            // the answer itself malformed.
            sender_nsid: self.receiver_nsid.clone().filter(|n| !n.is_empty()),
            receiver_nsid: self.sender_nsid.clone().filter(|n| !n.is_empty()),
            vs_extension: None,
        }
    }

    /// SenderID as a NetID, when it is one.
    pub fn sender_net_id(&self) -> Option<NetId> {
        self.sender_id.parse().ok()
    }

    /// ReceiverID as a NetID, when it is one.
    pub fn receiver_net_id(&self) -> Option<NetId> {
        self.receiver_id.parse().ok()
    }

    /// SenderID as a JoinEUI, when it is one.
    pub fn sender_join_eui(&self) -> Option<Eui64> {
        self.sender_id.parse().ok()
    }

    /// ReceiverID as a JoinEUI, when it is one.
    pub fn receiver_join_eui(&self) -> Option<Eui64> {
        self.receiver_id.parse().ok()
    }

    /// SenderNSID as an EUI-64 (TS002 1.1), when it is one.
    pub fn sender_nsid_eui(&self) -> Option<Eui64> {
        self.sender_nsid.as_deref()?.parse().ok()
    }

    /// ReceiverNSID as an EUI-64 (TS002 1.1), when it is one.
    pub fn receiver_nsid_eui(&self) -> Option<Eui64> {
        self.receiver_nsid.as_deref()?.parse().ok()
    }

    /// Reads the header from a message object without consuming it.
    ///
    /// Reads ProtocolVersion first: an unsupported version stops here (we do not know its
    /// schema); then MessageType: an unknown type stops here too. Returns the first problem
    /// with the field it concerns.
    pub(crate) fn read(map: &Map<String, Value>) -> Result<Header, DecodeError> {
        // Read in place: the values are cloned, the message object is left whole.
        let text = |key: &'static str| required::<String>(map.get(key).cloned(), &Path::Root, key);
        let protocol_version = ProtocolVersion::parse(&text("ProtocolVersion")?);
        if let ProtocolVersion::Other(other) = &protocol_version {
            return Err(DecodeError::UnsupportedVersion(other.clone()));
        }
        let message_type = MessageType::parse(&text("MessageType")?);
        if let MessageType::Unknown(name) = &message_type {
            return Err(DecodeError::UnknownMessageType(name.clone()));
        }
        let sender_id = text("SenderID")?;
        let receiver_id = text("ReceiverID")?;
        fn present<T: Wire>(
            map: &Map<String, Value>,
            key: &'static str,
        ) -> Result<Option<T>, DecodeError> {
            optional(map.get(key).cloned(), &Path::Root, key)
        }
        Ok(Header {
            protocol_version,
            sender_id,
            receiver_id,
            transaction_id: present(map, "TransactionID")?,
            message_type,
            sender_token: present(map, "SenderToken")?,
            receiver_token: present(map, "ReceiverToken")?,
            sender_nsid: present(map, "SenderNSID")?,
            receiver_nsid: present(map, "ReceiverNSID")?,
            vs_extension: present::<Value>(map, "VSExtension")?,
        })
    }

    /// Writes the header fields, in spec order.
    pub(crate) fn write(&self, out: &mut Out<'_>) {
        out.req(
            "ProtocolVersion",
            &self.protocol_version.as_str().to_owned(),
        );
        out.req("SenderID", &self.sender_id);
        out.req("ReceiverID", &self.receiver_id);
        out.opt("TransactionID", &self.transaction_id);
        out.req("MessageType", &self.message_type.as_str().to_owned());
        out.opt("SenderToken", &self.sender_token);
        out.opt("ReceiverToken", &self.receiver_token);
        out.opt("SenderNSID", &self.sender_nsid);
        out.opt("ReceiverNSID", &self.receiver_nsid);
        out.opt("VSExtension", &self.vs_extension);
    }
}

impl Wire for Value {
    fn from_wire(value: Value, _: &Path<'_>) -> Result<Self, DecodeError> {
        Ok(value)
    }
    fn to_wire(&self, _: &crate::wire::Style<'_>) -> Value {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_answer_pairs_are_consistent() {
        for t in MessageType::KNOWN {
            let kinds = [t.is_request(), t.is_answer(), t.is_notification()];
            assert_eq!(kinds.iter().filter(|k| **k).count(), 1, "{t:?}");
            if let Some(answer) = t.answer_type() {
                assert!(answer.is_answer());
                assert_eq!(answer.request_type().as_ref(), Some(t));
            }
            assert_eq!(&MessageType::parse(t.as_str()), t);
        }
        assert_eq!(
            MessageType::parse("Invalid"),
            MessageType::Unknown("Invalid".into())
        );
    }

    #[test]
    fn answer_header_swaps_and_echoes() {
        let mut request = Header::new(
            ProtocolVersion::V1_1,
            MessageType::JoinReq,
            "000001",
            "70b3d57ed0000000",
            Some(7),
        );
        request.sender_token = Some(Token::from(vec![1]));
        request.sender_nsid = Some("0000000000000001".into());
        let answer = request.answer_header();
        assert_eq!(answer.message_type, MessageType::JoinAns);
        assert_eq!(
            (answer.sender_id.as_str(), answer.receiver_id.as_str()),
            ("70b3d57ed0000000", "000001")
        );
        assert_eq!(answer.receiver_token, request.sender_token);
        assert_eq!(answer.receiver_nsid, request.sender_nsid);
        assert_eq!(answer.transaction_id, Some(7));
        assert_eq!(request.sender_net_id(), "000001".parse().ok());
        assert_eq!(request.receiver_join_eui(), "70b3d57ed0000000".parse().ok());
    }
}
