//! RFC 3394 AES key wrap, as Backend Interfaces (TS002 §6.3 KeyEnvelope) uses it to carry
//! session keys between JS, NS and AS under a shared KEK.
//!
//! The LoRaWAN case is a 128-bit key under a 128-bit KEK ([`wrap_key`] / [`unwrap_key`]). The
//! general [`wrap`] / [`unwrap`] accept what RFC 3394 §2 allows: KEKs of 128, 192 or 256 bits
//! and key data of two or more 64-bit blocks; every size is tested with the RFC §4 vectors.

use aes::cipher::generic_array::GenericArray;
use aes_kw::{KekAes128, KekAes192, KekAes256};

use crate::ids::AesKey;

/// The length a wrapped 128-bit key has: the key plus the 64-bit integrity check value.
pub const WRAPPED_KEY_LEN: usize = 24;

/// Why a wrap or unwrap failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyWrapError {
    /// The KEK is not 16, 24 or 32 bytes (the caller's configuration is to blame).
    #[error("KEK of {0} bytes; expected 16, 24 or 32")]
    KekLength(usize),
    /// Key data to wrap is not a multiple of 8 bytes of at least 16 (RFC 3394 §2: n ≥ 2).
    #[error("key data of {0} bytes; expected a multiple of 8, at least 16")]
    PlaintextLength(usize),
    /// Wrapped data is not a multiple of 8 bytes of at least 24, or not the expected length.
    #[error("wrapped data of {0} bytes has the wrong length")]
    WrappedLength(usize),
    /// RFC 3394 §2.2.3: the unwrapped IV is not A6A6A6A6A6A6A6A6 — wrong KEK or tampered
    /// data (the sender, or whoever configured the KEK, is to blame).
    #[error("key unwrap integrity check failed")]
    IntegrityCheckFailed,
}

/// A key-encryption key of any size RFC 3394 allows.
#[derive(Clone)]
pub enum Kek {
    /// AES-128 KEK.
    Aes128(KekAes128),
    /// AES-192 KEK.
    Aes192(KekAes192),
    /// AES-256 KEK.
    Aes256(KekAes256),
}

impl Kek {
    /// From raw KEK bytes (16, 24 or 32).
    pub fn from_slice(kek: &[u8]) -> Result<Self, KeyWrapError> {
        match kek.len() {
            16 => Ok(Self::Aes128(KekAes128::new(GenericArray::from_slice(kek)))),
            24 => Ok(Self::Aes192(KekAes192::new(GenericArray::from_slice(kek)))),
            32 => Ok(Self::Aes256(KekAes256::new(GenericArray::from_slice(kek)))),
            other => Err(KeyWrapError::KekLength(other)),
        }
    }
}

impl From<&AesKey> for Kek {
    fn from(kek: &AesKey) -> Self {
        Self::Aes128(KekAes128::new(GenericArray::from_slice(kek.bytes())))
    }
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

fn map_err(err: aes_kw::Error, len: usize, wrapping: bool) -> KeyWrapError {
    match err {
        aes_kw::Error::IntegrityCheckFailed => KeyWrapError::IntegrityCheckFailed,
        aes_kw::Error::InvalidKekSize { size } => KeyWrapError::KekLength(size),
        _ if wrapping => KeyWrapError::PlaintextLength(len),
        _ => KeyWrapError::WrappedLength(len),
    }
}

/// Wraps `key_data` (a multiple of 8 bytes, at least 16) under `kek`.
pub fn wrap(kek: &Kek, key_data: &[u8]) -> Result<Vec<u8>, KeyWrapError> {
    // RFC 3394 §2: "The key data ... is assumed to be at least two 64-bit blocks": n >= 2.
    if key_data.len() < 16 || key_data.len() % 8 != 0 {
        return Err(KeyWrapError::PlaintextLength(key_data.len()));
    }
    let result = match kek {
        Kek::Aes128(k) => k.wrap_vec(key_data),
        Kek::Aes192(k) => k.wrap_vec(key_data),
        Kek::Aes256(k) => k.wrap_vec(key_data),
    };
    result.map_err(|e| map_err(e, key_data.len(), true))
}

/// Unwraps `wrapped` (a multiple of 8 bytes, at least 24) under `kek`, checking the IV.
pub fn unwrap(kek: &Kek, wrapped: &[u8]) -> Result<Vec<u8>, KeyWrapError> {
    if wrapped.len() < 24 || wrapped.len() % 8 != 0 {
        return Err(KeyWrapError::WrappedLength(wrapped.len()));
    }
    let result = match kek {
        Kek::Aes128(k) => k.unwrap_vec(wrapped),
        Kek::Aes192(k) => k.unwrap_vec(wrapped),
        Kek::Aes256(k) => k.unwrap_vec(wrapped),
    };
    result.map_err(|e| map_err(e, wrapped.len(), false))
}

/// Wraps a 128-bit key under a 128-bit KEK (no allocation).
pub fn wrap_key(kek: &AesKey, key: &AesKey) -> [u8; WRAPPED_KEY_LEN] {
    let mut out = [0u8; WRAPPED_KEY_LEN];
    let kek = KekAes128::new(GenericArray::from_slice(kek.bytes()));
    // Not input-derived: 16 bytes in and 24 out are the sizes RFC 3394 takes for a 128-bit key,
    // the only thing aes-kw checks, so this cannot fail.
    kek.wrap(key.bytes(), &mut out)
        .expect("a 16-byte key wraps into 24 bytes");
    out
}

/// Unwraps a 128-bit key wrapped under a 128-bit KEK; `wrapped` must be 24 bytes.
pub fn unwrap_key(kek: &AesKey, wrapped: &[u8]) -> Result<AesKey, KeyWrapError> {
    if wrapped.len() != WRAPPED_KEY_LEN {
        return Err(KeyWrapError::WrappedLength(wrapped.len()));
    }
    let mut out = [0u8; 16];
    KekAes128::new(GenericArray::from_slice(kek.bytes()))
        .unwrap(wrapped, &mut out)
        .map_err(|e| map_err(e, wrapped.len(), false))?;
    Ok(AesKey::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3394_4_1_with_aes_keys() {
        let kek: AesKey = "000102030405060708090a0b0c0d0e0f".parse().unwrap();
        let key: AesKey = "00112233445566778899aabbccddeeff".parse().unwrap();
        let wrapped = wrap_key(&kek, &key);
        assert_eq!(
            crate::ids::parse_hex_vec("1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5").unwrap(),
            wrapped
        );
        assert_eq!(unwrap_key(&kek, &wrapped), Ok(key));
        let other = AesKey::new([0x10; 16]);
        assert_eq!(
            unwrap_key(&other, &wrapped),
            Err(KeyWrapError::IntegrityCheckFailed)
        );
        assert_eq!(
            unwrap_key(&kek, &wrapped[..16]),
            Err(KeyWrapError::WrappedLength(16))
        );
    }

    #[test]
    fn lengths_are_checked() {
        let kek = Kek::from_slice(&[0; 16]).unwrap();
        assert_eq!(wrap(&kek, &[0; 8]), Err(KeyWrapError::PlaintextLength(8)));
        assert_eq!(wrap(&kek, &[0; 17]), Err(KeyWrapError::PlaintextLength(17)));
        assert_eq!(unwrap(&kek, &[0; 7]), Err(KeyWrapError::WrappedLength(7)));
        assert!(matches!(
            Kek::from_slice(&[0; 8]),
            Err(KeyWrapError::KekLength(8))
        ));
        assert_eq!(format!("{kek:?}"), "Kek(<redacted>)");
    }
}
