//! KeyEnvelope (TS002 1.0 Table 16, §21): a session key, in clear or RFC 3394-wrapped under
//! the key-encryption key named by KEKLabel.
//!
//! "If [KEKLabel] is not present, it means the AESKey is transmitted in clear." An empty
//! KEKLabel (ChirpStack writes `""`) means the same. A wrapped AES-128 key is 24 bytes; RFC 3394
//! output is always (n + 1) × 8 bytes with n ≥ 2, so any other length under a KEKLabel is
//! rejected when read (schemas/README.md, edge decision "16-byte wrapped key").

use lorawan::ids::AesKey;
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
        <[u8; 16]>::try_from(self.aes_key.as_bytes()).ok().map(AesKey::new)
    }

    /// Reads a KeyEnvelope JSON object (any hex case, `0x`, `null` KEKLabel).
    pub fn from_json(value: Value) -> Result<Self, DecodeError> {
        Self::from_wire(value, &Path::Root)
    }
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
            Some(label) if len < 24 || len % 8 != 0 => Err(at.invalid(format!(
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
        let clear = KeyEnvelope::from_json(json!({"KEKLabel": "", "AESKey": "000102030405060708090A0B0C0D0E0F"})).unwrap();
        assert!(!clear.is_wrapped());
        assert!(clear.clear_key().is_some());
        let wrapped = KeyEnvelope::from_json(json!({"KEKLabel": "k", "AESKey": "0x".to_owned() + &"ab".repeat(24)})).unwrap();
        assert!(wrapped.is_wrapped());
        assert!(wrapped.clear_key().is_none());
        let bad = KeyEnvelope::from_json(json!({"KEKLabel": "test", "AESKey": "000102030405060708090A0B0C0D0E0F"}));
        assert!(matches!(bad, Err(DecodeError::Invalid { path, .. }) if path == "AESKey"));
    }

    #[test]
    fn debug_hides_the_key() {
        let key = KeyEnvelope::clear(&AesKey::new([7; 16]));
        assert!(!format!("{key:?}").contains("07"));
    }
}
