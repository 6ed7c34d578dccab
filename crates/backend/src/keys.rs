//! KeyEnvelope (TS002 1.0 Table 16, §21): a session key, in clear or RFC 3394-wrapped under
//! the key-encryption key named by KEKLabel.
//!
//! "If \[KEKLabel\] is not present, it means the AESKey is transmitted in clear." An empty
//! KEKLabel (ChirpStack writes `""`) means the same. A wrapped AES-128 key is 24 bytes; RFC 3394
//! output is always (n + 1) × 8 bytes with n ≥ 2, so any other length under a KEKLabel is
//! rejected when read (schemas/README.md, edge decision "16-byte wrapped key").

use lorawan::ids::AesKey;
use lorawan::keywrap::{unwrap_key, wrap_key, KeyWrapError};
use serde_json::{Map, Value};

use crate::error::DecodeError;
use crate::values::HexBytes;
use crate::wire::{Fields, Out, Path, Style, Wire};

/// A KeyEnvelope object.
#[derive(Clone, PartialEq)]
pub struct KeyEnvelope {
    /// KEKLabel: `None` or empty when the key is in clear.
    pub kek_label: Option<String>,
    /// AESKey: the clear key (16 bytes) or the RFC 3394 wrapped key (24, 32, … bytes).
    pub aes_key: HexBytes,
    /// Unknown fields, kept and passed on.
    pub extra: Map<String, Value>,
}

impl KeyEnvelope {
    /// An envelope carrying `key` in clear (no KEKLabel).
    pub fn clear(key: &AesKey) -> Self {
        Self {
            kek_label: None,
            aes_key: HexBytes(key.bytes().to_vec()),
            extra: Map::new(),
        }
    }

    /// An envelope carrying already-wrapped key bytes under `kek_label`.
    pub fn wrapped(kek_label: impl Into<String>, wrapped_key: Vec<u8>) -> Self {
        Self {
            kek_label: Some(kek_label.into()),
            aes_key: HexBytes(wrapped_key),
            extra: Map::new(),
        }
    }

    /// Wraps `key` under `kek` (RFC 3394) and labels it. "The decision to wrap or not a key
    /// SHALL always be taken by the entity who is in charge of delivering the key" (TS002 §21).
    pub fn wrap(kek_label: impl Into<String>, kek: &AesKey, key: &AesKey) -> Self {
        Self::wrapped(kek_label, wrap_key(kek, key).to_vec())
    }

    /// The key: as is when in clear, else unwrapped with `kek`, the KEK the caller holds for
    /// [`KeyEnvelope::label`] (`None` when it holds none).
    pub fn unwrap(&self, kek: Option<&AesKey>) -> Result<AesKey, KeyError> {
        match self.label() {
            None => self
                .clear_key()
                .ok_or(KeyError::ClearLength(self.aes_key.len())),
            Some(label) => {
                let kek = kek.ok_or_else(|| KeyError::UnknownKek(label.to_owned()))?;
                unwrap_key(kek, self.aes_key.as_bytes()).map_err(KeyError::Unwrap)
            }
        }
    }

    /// The KEKLabel when the key is wrapped.
    pub fn label(&self) -> Option<&str> {
        self.kek_label.as_deref().filter(|label| !label.is_empty())
    }

    /// Whether the key is wrapped.
    pub fn is_wrapped(&self) -> bool {
        self.label().is_some()
    }

    /// The key, when it is in clear.
    pub fn clear_key(&self) -> Option<AesKey> {
        if self.is_wrapped() {
            return None;
        }
        <[u8; 16]>::try_from(self.aes_key.as_bytes())
            .ok()
            .map(AesKey::new)
    }

    /// Reads a KeyEnvelope JSON object (any hex case, `0x`, `null` KEKLabel).
    pub fn from_json(value: Value) -> Result<Self, DecodeError> {
        Self::from_wire(value, &Path::Root)
    }
}

/// Why the key of an envelope could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No KEK is configured for the envelope's KEKLabel (our configuration, or the sender's
    /// choice of label, is to blame).
    #[error("no KEK for KEKLabel {0:?}")]
    UnknownKek(String),
    /// RFC 3394 unwrap failed: wrong KEK or tampered data.
    #[error("key unwrap failed: {0}")]
    Unwrap(KeyWrapError),
    /// A clear key that is not 16 bytes (only reachable for envelopes built in code).
    #[error("a clear AES key is 16 bytes, got {0}")]
    ClearLength(usize),
}

impl std::fmt::Debug for KeyEnvelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A clear key never reaches a log line.
        f.debug_struct("KeyEnvelope")
            .field("kek_label", &self.kek_label)
            .field("aes_key", &format_args!("<{} bytes>", self.aes_key.len()))
            .finish_non_exhaustive()
    }
}

impl Wire for KeyEnvelope {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        let mut fields = Fields::object(value, at)?;
        let envelope = Self {
            kek_label: fields.opt("KEKLabel")?,
            aes_key: fields.req("AESKey")?,
            extra: fields.rest(),
        };
        let len = envelope.aes_key.len();
        let at = Path::Key(at, "AESKey");
        match envelope.label() {
            Some(label) if len < 24 || !len.is_multiple_of(8) => Err(at.invalid(format!(
                "{len} bytes is not an RFC 3394 wrapped key (24, 32, … bytes) under KEKLabel {label:?}"
            ))),
            None if len != 16 => Err(at.invalid(format!("a clear AES key is 16 bytes, got {len}"))),
            _ => Ok(envelope),
        }
    }

    fn to_wire(&self, style: &Style<'_>) -> Value {
        let mut out = Out::new(*style);
        out.opt("KEKLabel", &self.kek_label);
        out.req("AESKey", &self.aes_key);
        out.extra(&self.extra);
        Value::Object(out.into_map())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clear_and_wrapped_lengths() {
        let clear = KeyEnvelope::from_json(
            json!({"KEKLabel": "", "AESKey": "000102030405060708090A0B0C0D0E0F"}),
        )
        .unwrap();
        assert!(!clear.is_wrapped());
        assert!(clear.clear_key().is_some());
        let wrapped = KeyEnvelope::from_json(
            json!({"KEKLabel": "k", "AESKey": "0x".to_owned() + &"ab".repeat(24)}),
        )
        .unwrap();
        assert!(wrapped.is_wrapped());
        assert!(wrapped.clear_key().is_none());
        let bad = KeyEnvelope::from_json(
            json!({"KEKLabel": "test", "AESKey": "000102030405060708090A0B0C0D0E0F"}),
        );
        assert!(matches!(bad, Err(DecodeError::Invalid { path, .. }) if path == "AESKey"));
    }

    #[test]
    fn wraps_and_unwraps_the_chirpstack_vector() {
        // backend/src/lib.rs test_key_envelope in ChirpStack; shared/conformance/bi/parts.
        let key = AesKey::new([1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        let kek = AesKey::new([8, 7, 6, 5, 4, 3, 2, 1, 8, 7, 6, 5, 4, 3, 2, 1]);
        let envelope = KeyEnvelope::wrap("test-kek", &kek, &key);
        assert_eq!(
            crate::dialect::Dialect::canonical().hex(envelope.aes_key.as_bytes()),
            "e3d5a47ba25cbe6e5da820846e0cb6a82b750c59d848ec7a"
        );
        assert_eq!(envelope.unwrap(Some(&kek)), Ok(key));
        assert_eq!(
            envelope.unwrap(None),
            Err(KeyError::UnknownKek("test-kek".into()))
        );
        assert!(matches!(
            envelope.unwrap(Some(&key)),
            Err(KeyError::Unwrap(_))
        ));
        assert_eq!(KeyEnvelope::clear(&key).unwrap(None), Ok(key));
    }

    #[test]
    fn debug_hides_the_key() {
        let key = KeyEnvelope::clear(&AesKey::new([7; 16]));
        assert!(!format!("{key:?}").contains("07"));
    }
}
