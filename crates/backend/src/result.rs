//! The `Result` object of every answer and notification (TS002 1.0 Table 15 / 24, 1.1 Result
//! codes) and its open ResultCode enum.

use serde_json::{Map, Value};

use crate::dialect::{Dialect, MalformedSpelling, UnknownReceiverSpelling};
use crate::error::DecodeError;
use crate::header::ProtocolVersion;
use crate::wire::{Fields, Out, Path, Style, Wire};

macro_rules! result_codes {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// A ResultCode. Open: an unknown code is kept as [`ResultCode::Unknown`] and written back
        /// unchanged.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[allow(clippy::upper_case_acronyms)]
        pub enum ResultCode {
            $($(#[$doc])* $name,)*
            /// A code this model does not know, kept verbatim.
            Unknown(String),
        }

        impl ResultCode {
            /// Every code this model knows, in TS002 1.1 order (1.0's `MalformedRequest` included).
            pub const KNOWN: &'static [ResultCode] = &[$(ResultCode::$name),*];

            /// Reads a code; accepts the spec's own misspelling `UnkownReceiver`.
            pub fn parse(text: &str) -> Self {
                match text {
                    $(stringify!($name) => ResultCode::$name,)*
                    "UnkownReceiver" => ResultCode::UnknownReceiver,
                    other => ResultCode::Unknown(other.to_owned()),
                }
            }

            /// The code's name (`UnknownReceiver` spelt correctly), for logs; messages are
            /// written with [`ResultCode::as_str_for`].
            pub fn as_str(&self) -> &str {
                match self {
                    $(ResultCode::$name => stringify!($name),)*
                    ResultCode::Unknown(text) => text,
                }
            }
        }
    };
}

result_codes! {
    /// The request was granted.
    Success,
    /// Nothing to do (1.1).
    NoAction,
    /// MIC verification failed.
    MICFailed,
    /// The frame was a replay (1.1).
    FrameReplayed,
    /// The JS could not process the JoinReq.
    JoinReqFailed,
    /// No roaming agreement between the operators.
    NoRoamingAgreement,
    /// The device may not roam.
    DevRoamingDisallowed,
    /// The device may not activate while roaming.
    RoamingActDisallowed,
    /// The device may not activate.
    ActivationDisallowed,
    /// No device with this DevEUI.
    UnknownDevEUI,
    /// No device with this DevAddr.
    UnknownDevAddr,
    /// SenderID unknown.
    UnknownSender,
    /// ReceiverID unknown (spelt `UnkownReceiver` in the spec).
    UnknownReceiver,
    /// Passive roaming not allowed for a while.
    Deferred,
    /// The fNS could not transmit the downlink.
    XmitFailed,
    /// Invalid FPort for the downlink.
    InvalidFPort,
    /// ProtocolVersion not supported.
    InvalidProtocolVersion,
    /// The Device Profile is stale.
    StaleDeviceProfile,
    /// JSON parsing failed (1.0).
    MalformedRequest,
    /// JSON parsing failed (1.1).
    MalformedMessage,
    /// Wrong PHYPayload or FRMPayload size.
    FrameSizeError,
    /// An error the spec has no code for yet.
    Other,
}

impl ResultCode {
    /// The code for a malformed message of `version`: MalformedRequest in 1.0, MalformedMessage
    /// otherwise.
    pub fn malformed(version: Option<&ProtocolVersion>) -> Self {
        match version {
            Some(ProtocolVersion::V1_0) => ResultCode::MalformedRequest,
            _ => ResultCode::MalformedMessage,
        }
    }

    /// Whether this is Success.
    pub fn is_success(&self) -> bool {
        *self == ResultCode::Success
    }

    /// The spelling `dialect` wants in a message of `version`.
    pub fn as_str_for(&self, dialect: &Dialect, version: &ProtocolVersion) -> &str {
        match self {
            ResultCode::UnknownReceiver => match dialect.unknown_receiver {
                UnknownReceiverSpelling::Spec => "UnkownReceiver",
                UnknownReceiverSpelling::Corrected => "UnknownReceiver",
            },
            ResultCode::MalformedRequest | ResultCode::MalformedMessage => {
                match (dialect.malformed, version) {
                    (MalformedSpelling::AlwaysRequest, _) | (_, ProtocolVersion::V1_0) => {
                        "MalformedRequest"
                    }
                    _ => "MalformedMessage",
                }
            }
            other => other.as_str(),
        }
    }
}

impl Wire for ResultCode {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        String::from_wire(value, at).map(|text| ResultCode::parse(&text))
    }
    fn to_wire(&self, style: &Style<'_>) -> Value {
        Value::String(self.as_str_for(style.dialect, style.version).to_owned())
    }
}

/// The `Result` object: a ResultCode and an optional Description.
#[derive(Debug, Clone, PartialEq)]
pub struct BiResult {
    /// What happened.
    pub result_code: ResultCode,
    /// Details, e.g. the offending field of a malformed message.
    pub description: Option<String>,
    /// Unknown fields of the Result object, kept and passed on.
    pub extra: Map<String, Value>,
}

impl BiResult {
    /// A Result with this code and no description.
    pub fn new(result_code: ResultCode) -> Self {
        Self {
            result_code,
            description: None,
            extra: Map::new(),
        }
    }

    /// A Result with this code and description.
    pub fn with_description(result_code: ResultCode, description: impl Into<String>) -> Self {
        Self {
            description: Some(description.into()),
            ..Self::new(result_code)
        }
    }

    /// Success, no description.
    pub fn success() -> Self {
        Self::new(ResultCode::Success)
    }
}

impl Wire for BiResult {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        let mut fields = Fields::object(value, at)?;
        Ok(Self {
            result_code: fields.req("ResultCode")?,
            description: fields.opt("Description")?,
            extra: fields.rest(),
        })
    }
    fn to_wire(&self, style: &Style<'_>) -> Value {
        let mut out = Out::new(*style);
        out.req("ResultCode", &self.result_code);
        out.opt("Description", &self.description);
        out.extra(&self.extra);
        Value::Object(out.into_map())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_round_trips_and_misspelling_is_read() {
        for code in ResultCode::KNOWN {
            assert_eq!(&ResultCode::parse(code.as_str()), code);
        }
        assert_eq!(
            ResultCode::parse("UnkownReceiver"),
            ResultCode::UnknownReceiver
        );
        assert_eq!(
            ResultCode::parse("UnknownReceiver"),
            ResultCode::UnknownReceiver
        );
        let odd = ResultCode::parse("SomethingNew");
        assert_eq!(odd.as_str(), "SomethingNew");
    }

    #[test]
    fn spelling_follows_dialect_and_version() {
        let v10 = ProtocolVersion::V1_0;
        let v11 = ProtocolVersion::V1_1;
        let code = ResultCode::MalformedMessage;
        assert_eq!(
            code.as_str_for(&Dialect::canonical(), &v10),
            "MalformedRequest"
        );
        assert_eq!(
            code.as_str_for(&Dialect::canonical(), &v11),
            "MalformedMessage"
        );
        assert_eq!(
            code.as_str_for(&Dialect::chirpstack_v4(), &v11),
            "MalformedRequest"
        );
        let unknown = ResultCode::UnknownReceiver;
        assert_eq!(
            unknown.as_str_for(&Dialect::canonical(), &v11),
            "UnkownReceiver"
        );
        assert_eq!(unknown.as_str_for(&Dialect::tts(), &v11), "UnknownReceiver");
    }
}
