//! The JSON Schemas of `schemas/bi/<version>/<MessageType>.json`, embedded at compile time (so
//! no binary depends on its working directory), compiled once, and their errors turned into a
//! Description that names the field: `ULMetaData.GWInfo[1].RSSI: expected integer, got string`.

use std::collections::HashMap;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Resource, ValidationError, Validator};
use serde_json::Value;

use crate::error::{DecodeError, SchemaError};
use crate::header::{MessageType, ProtocolVersion};

/// Base URI of the schemas' `$id`s.
pub const BASE_URI: &str = "https://switchyard.invalid/schemas/bi";

macro_rules! embedded {
    ($($version:literal: [$($name:literal),* $(,)?]),* $(,)?) => {
        /// Every embedded schema file: (version, file stem, contents).
        pub const FILES: &[(&str, &str, &str)] = &[
            $($(($version, $name, include_str!(concat!("../../../schemas/bi/", $version, "/", $name, ".json"))),)*)*
        ];
    };
}

embedded! {
    "1.0": [
        "common", "JoinReq", "JoinAns", "RejoinReq", "RejoinAns", "AppSKeyReq", "AppSKeyAns",
        "PRStartReq", "PRStartAns", "PRStopReq", "PRStopAns", "HRStartReq", "HRStartAns",
        "HRStopReq", "HRStopAns", "HomeNSReq", "HomeNSAns", "ProfileReq", "ProfileAns",
        "XmitDataReq", "XmitDataAns",
    ],
    "1.1": [
        "common", "JoinReq", "JoinAns", "RejoinReq", "RejoinAns", "AppSKeyReq", "AppSKeyAns",
        "PRStartReq", "PRStartAns", "PRStartNotif", "PRStopReq", "PRStopAns", "HRStartReq",
        "HRStartAns", "HRStopReq", "HRStopAns", "HomeNSReq", "HomeNSAns", "ProfileReq",
        "ProfileAns", "XmitDataReq", "XmitDataAns", "XmitLocReq", "XmitLocAns", "ErrorNotif",
    ],
}

/// The compiled schemas of both versions.
pub struct Schemas {
    v1_0: HashMap<&'static str, Validator>,
    v1_1: HashMap<&'static str, Validator>,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas")
            .field("v1_0", &self.v1_0.len())
            .field("v1_1", &self.v1_1.len())
            .finish()
    }
}

impl Schemas {
    /// Compiles every embedded schema.
    pub fn compile() -> Result<Self, SchemaError> {
        let mut v1_0 = HashMap::new();
        let mut v1_1 = HashMap::new();
        for version in ["1.0", "1.1"] {
            let common = FILES
                .iter()
                .find(|(v, name, _)| *v == version && *name == "common")
                .map(|(_, _, text)| *text)
                .ok_or_else(|| SchemaError {
                    file: format!("{version}/common.json"),
                    reason: "not embedded".into(),
                })?;
            for (v, name, text) in FILES
                .iter()
                .filter(|(v, name, _)| *v == version && *name != "common")
            {
                let validator = compile(v, name, text, common)?;
                if *v == "1.0" {
                    v1_0.insert(*name, validator);
                } else {
                    v1_1.insert(*name, validator);
                }
            }
        }
        Ok(Self { v1_0, v1_1 })
    }

    /// The validator of one message type and version.
    pub fn validator(
        &self,
        version: &ProtocolVersion,
        message_type: &MessageType,
    ) -> Option<&Validator> {
        let map = match version {
            ProtocolVersion::V1_0 => &self.v1_0,
            ProtocolVersion::V1_1 => &self.v1_1,
            ProtocolVersion::Other(_) => return None,
        };
        map.get(message_type.as_str())
    }

    /// Validates `instance`; the first error names its field.
    pub fn validate(
        &self,
        version: &ProtocolVersion,
        message_type: &MessageType,
        instance: &Value,
    ) -> Result<(), DecodeError> {
        let Some(validator) = self.validator(version, message_type) else {
            return Err(
                if message_type.exists_in(version)
                    || matches!(message_type, MessageType::Unknown(_))
                {
                    DecodeError::UnknownMessageType(message_type.as_str().to_owned())
                } else {
                    DecodeError::NotInVersion {
                        message_type: message_type.as_str().to_owned(),
                        version: version.as_str().to_owned(),
                    }
                },
            );
        };
        if validator.is_valid(instance) {
            return Ok(());
        }
        let mut errors = validator.iter_errors(instance);
        let Some(first) = errors.next() else {
            return Ok(());
        };
        let more = errors.count();
        let mut error = describe(&first);
        if more > 0 {
            if let DecodeError::Invalid { reason, .. } = &mut error {
                reason.push_str(&format!(" (and {more} more)"));
            }
        }
        Err(error)
    }
}

fn compile(version: &str, name: &str, text: &str, common: &str) -> Result<Validator, SchemaError> {
    let err = |reason: String| SchemaError {
        file: format!("{version}/{name}.json"),
        reason,
    };
    let schema: Value = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
    let common: Value =
        serde_json::from_str(common).map_err(|e| err(format!("common.json: {e}")))?;
    let common = Resource::from_contents(common).map_err(|e| err(format!("common.json: {e}")))?;
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .with_resource(format!("{BASE_URI}/{version}/common.json"), common)
        .build(&schema)
        .map_err(|e| err(e.to_string()))
}

/// `/ULMetaData/GWInfo/1/RSSI` → `ULMetaData.GWInfo[1].RSSI`.
pub fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&segment);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

fn describe(error: &ValidationError<'_>) -> DecodeError {
    let path = field_path(error.instance_path.as_str());
    let join = |field: &str| {
        if path.is_empty() {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    let (path, reason) = match &error.kind {
        ValidationErrorKind::Required { property } => (
            join(property.as_str().unwrap_or_default()),
            "required field missing".to_owned(),
        ),
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                jsonschema::error::TypeKind::Single(t) => t.to_string(),
                jsonschema::error::TypeKind::Multiple(ts) => ts
                    .iter()
                    .map(|t| t.to_string())
                    .filter(|t| t != "null")
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            (
                path,
                format!(
                    "expected {expected}, got {}",
                    crate::wire::kind(&error.instance)
                ),
            )
        }
        ValidationErrorKind::Pattern { pattern } => (
            path,
            format!("{}, got {}", describe_pattern(pattern), error.instance),
        ),
        ValidationErrorKind::Constant { expected_value } => (
            path,
            format!("expected {expected_value}, got {}", error.instance),
        ),
        ValidationErrorKind::Minimum { limit } => (
            path,
            format!("must be at least {limit}, got {}", error.instance),
        ),
        ValidationErrorKind::Maximum { limit } => (
            path,
            format!("must be at most {limit}, got {}", error.instance),
        ),
        ValidationErrorKind::MinLength { .. } => (path, "must not be empty".to_owned()),
        _ => (path, error.to_string()),
    };
    DecodeError::Invalid { path, reason }
}

/// A readable name for each pattern the schemas use.
pub fn describe_pattern(pattern: &str) -> String {
    let known: &[(&str, &str)] = &[
        (r"^(0[xX])?([0-9a-fA-F]{2})*$", "expected hex"),
        (r"^(0[xX])?([0-9a-fA-F]{2})+$", "expected non-empty hex"),
        (
            r"^(0[xX])?[0-9a-fA-F]{6}$",
            "expected a NetID (3 bytes of hex)",
        ),
        (
            r"^(0[xX])?[0-9a-fA-F]{16}$",
            "expected an EUI-64 (8 bytes of hex)",
        ),
        (
            r"^(0[xX])?[0-9a-fA-F]{8}$",
            "expected a DevAddr (4 bytes of hex)",
        ),
        (
            r"^(0[xX])?([0-9a-fA-F]{8}|[0-9a-fA-F]{16})$",
            "expected a gateway ID (4 or 8 bytes of hex)",
        ),
        (
            r"^(0[xX])?([0-9a-fA-F]{32})?$",
            "expected a CFList (empty or 16 bytes of hex)",
        ),
        (r"^(0[xX])?[0-9a-fA-F]{2}$", "expected 1 byte of hex"),
        (
            r"^(0[xX])?[0-9a-fA-F]{32}$",
            "expected a clear AES key (16 bytes of hex) without KEKLabel",
        ),
        (
            r"^(0[xX])?([0-9a-fA-F]{16}){3,}$",
            "expected an RFC 3394 wrapped key (24, 32, … bytes of hex) under a KEKLabel",
        ),
    ];
    known.iter().find(|(p, _)| *p == pattern).map_or_else(
        || {
            if pattern.starts_with("^[0-9]{4}-") {
                "expected an ISO 8601 date-time".to_owned()
            } else {
                format!("does not match {pattern}")
            }
        },
        |(_, text)| (*text).to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(
            field_path("/ULMetaData/GWInfo/1/RSSI"),
            "ULMetaData.GWInfo[1].RSSI"
        );
        assert_eq!(field_path(""), "");
        assert_eq!(field_path("/AS-ID"), "AS-ID");
    }
}
