//! Errors, grouped by who is to blame (STYLE #5), and their one mapping to the wire.
//!
//! - [`DecodeError`]: the peer sent something we cannot accept. Mapped to a ResultCode by
//!   [`DecodeError::result_code`] and nowhere else.
//! - [`SchemaError`]: our own embedded schemas do not compile: a bug here, found at start-up.

use crate::header::ProtocolVersion;
use crate::result::ResultCode;

/// Why a received body is not an acceptable message: the sender's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body is not a JSON object.
    #[error("body is not a JSON object: {0}")]
    NotJson(String),
    /// ProtocolVersion is neither 1.0 nor 1.1.
    #[error("ProtocolVersion: {0:?} is not supported (1.0, 1.1)")]
    UnsupportedVersion(String),
    /// MessageType is not a type this model knows.
    #[error("MessageType: unknown message type {0:?}")]
    UnknownMessageType(String),
    /// MessageType does not exist in the message's ProtocolVersion (e.g. a 1.0 ErrorNotif).
    #[error("MessageType: {message_type} does not exist in Backend Interfaces {version}")]
    NotInVersion {
        /// The type.
        message_type: String,
        /// The version.
        version: String,
    },
    /// A field is missing or has the wrong type or content (schema or typed check).
    #[error("{path}: {reason}")]
    Invalid {
        /// The field, e.g. `ULMetaData.GWInfo[1].RSSI` (empty for the message itself).
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl DecodeError {
    /// The ResultCode to answer this error with in a message of `version` (the only place
    /// errors become codes). "If the ProtocolVersion of the received message is not supported
    /// […] SHALL return a message carrying Result=InvalidProtocolVersion" (TS002 §22.1);
    /// everything else is MalformedRequest (1.0) / MalformedMessage (1.1).
    pub fn result_code(&self, version: Option<&ProtocolVersion>) -> ResultCode {
        match self {
            DecodeError::UnsupportedVersion(_) => ResultCode::InvalidProtocolVersion,
            _ => ResultCode::malformed(version),
        }
    }

    /// The field the error is about, when it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            DecodeError::NotJson(_) => None,
            DecodeError::UnsupportedVersion(_) => Some("ProtocolVersion"),
            DecodeError::UnknownMessageType(_) | DecodeError::NotInVersion { .. } => {
                Some("MessageType")
            }
            DecodeError::Invalid { path, .. } => Some(path),
        }
    }
}

/// An embedded schema does not compile: a bug in this crate, reported at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema {file}: {reason}")]
pub struct SchemaError {
    /// The schema file, e.g. `1.1/PRStartReq.json`.
    pub file: String,
    /// Why it does not compile.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_mapped_in_one_place() {
        let bad_version = DecodeError::UnsupportedVersion("2.0".into());
        assert_eq!(
            bad_version.result_code(None),
            ResultCode::InvalidProtocolVersion
        );
        let bad_field = DecodeError::Invalid {
            path: "PHYPayload".into(),
            reason: "expected hex".into(),
        };
        assert_eq!(
            bad_field.result_code(Some(&ProtocolVersion::V1_0)),
            ResultCode::MalformedRequest
        );
        assert_eq!(
            bad_field.result_code(Some(&ProtocolVersion::V1_1)),
            ResultCode::MalformedMessage
        );
        assert_eq!(bad_field.to_string(), "PHYPayload: expected hex");
    }
}
