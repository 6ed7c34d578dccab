//! RFC 3394 AES key wrap, as Backend Interfaces (TS002 §6.3 KeyEnvelope) uses it to carry
//! session keys between JS, NS and AS under a shared KEK.
//!
//! The LoRaWAN case is a 128-bit key under a 128-bit KEK ([`wrap_key`] / [`unwrap_key`]). The
//! general [`wrap`] / [`unwrap`] accept what RFC 3394 §2 allows: KEKs of 128, 192 or 256 bits
//! and key data of two or more 64-bit blocks; every size is tested with the RFC §4 vectors.
//!
//! [`wrap_with_padding`] / [`unwrap_with_padding`] are RFC 5649 (key wrap with padding): data
//! of any length from 1 octet, for secrets that are not keys (a bearer token sealed at rest).

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
    /// Data to wrap with padding is empty or 2³² bytes or more (RFC 5649 §3: the length
    /// is a 32-bit count of at least 1).
    #[error("data of {0} bytes; RFC 5649 wraps 1 to 2^32 - 1 bytes")]
    PaddedPlaintextLength(usize),
    /// Wrapped data is not a multiple of 8 bytes of at least 24 (16 with padding), or not
    /// the expected length.
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
    if key_data.len() < 16 || !key_data.len().is_multiple_of(8) {
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
    if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
        return Err(KeyWrapError::WrappedLength(wrapped.len()));
    }
    let result = match kek {
        Kek::Aes128(k) => k.unwrap_vec(wrapped),
        Kek::Aes192(k) => k.unwrap_vec(wrapped),
        Kek::Aes256(k) => k.unwrap_vec(wrapped),
    };
    result.map_err(|e| map_err(e, wrapped.len(), false))
}

/// RFC 5649: wraps `data` (1 to 2³² - 1 bytes) under `kek`, padded to 64-bit blocks; the
/// result is 8 bytes longer than the padded data.
pub fn wrap_with_padding(kek: &Kek, data: &[u8]) -> Result<Vec<u8>, KeyWrapError> {
    // aes-kw would wrap empty data into the bare alternative IV, which RFC 5649 does not
    // define and whose unwrap underflows a count: refused here.
    if data.is_empty() || u32::try_from(data.len()).is_err() {
        return Err(KeyWrapError::PaddedPlaintextLength(data.len()));
    }
    let result = match kek {
        Kek::Aes128(k) => k.wrap_with_padding_vec(data),
        Kek::Aes192(k) => k.wrap_with_padding_vec(data),
        Kek::Aes256(k) => k.wrap_with_padding_vec(data),
    };
    result.map_err(|_| KeyWrapError::PaddedPlaintextLength(data.len()))
}

/// RFC 5649: unwraps `wrapped` (a multiple of 8 bytes, at least 16) under `kek`, checking the
/// alternative IV, the length it states and the padding.
pub fn unwrap_with_padding(kek: &Kek, wrapped: &[u8]) -> Result<Vec<u8>, KeyWrapError> {
    // Shorter input reaches an unchecked subtraction in aes-kw 0.2.
    if wrapped.len() < 16 || !wrapped.len().is_multiple_of(8) {
        return Err(KeyWrapError::WrappedLength(wrapped.len()));
    }
    let result = match kek {
        Kek::Aes128(k) => k.unwrap_with_padding_vec(wrapped),
        Kek::Aes192(k) => k.unwrap_with_padding_vec(wrapped),
        Kek::Aes256(k) => k.unwrap_with_padding_vec(wrapped),
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

    /// RFC 5649 §6, both examples (192-bit KEK); the same answers come from Python
    /// `cryptography`'s `aes_key_wrap_with_padding`.
    #[test]
    fn rfc5649_6_wrap_with_padding() {
        let kek = Kek::from_slice(
            &crate::ids::parse_hex_vec("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8").unwrap(),
        )
        .unwrap();
        for (data, wrapped) in [
            (
                "c37b7e6492584340bed12207808941155068f738",
                "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
            ),
            ("466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"),
        ] {
            let data = crate::ids::parse_hex_vec(data).unwrap();
            let wrapped = crate::ids::parse_hex_vec(wrapped).unwrap();
            assert_eq!(wrap_with_padding(&kek, &data), Ok(wrapped.clone()));
            assert_eq!(unwrap_with_padding(&kek, &wrapped), Ok(data));
        }
    }

    #[test]
    fn wrap_with_padding_checks_lengths_and_integrity() {
        let kek = Kek::from_slice(&[7; 16]).unwrap();
        assert_eq!(
            wrap_with_padding(&kek, &[]),
            Err(KeyWrapError::PaddedPlaintextLength(0))
        );
        for short in [0, 8, 15, 17] {
            assert_eq!(
                unwrap_with_padding(&kek, &vec![0; short]),
                Err(KeyWrapError::WrappedLength(short))
            );
        }
        let mut wrapped = wrap_with_padding(&kek, b"a bearer token").unwrap();
        assert_eq!(wrapped.len(), 24);
        let other = Kek::from_slice(&[8; 16]).unwrap();
        assert_eq!(
            unwrap_with_padding(&other, &wrapped),
            Err(KeyWrapError::IntegrityCheckFailed)
        );
        wrapped[20] ^= 0x80;
        assert_eq!(
            unwrap_with_padding(&kek, &wrapped),
            Err(KeyWrapError::IntegrityCheckFailed)
        );
        // RFC 3394 output is not RFC 5649 output: the IVs differ.
        let plain_wrap = wrap(&kek, &[1; 16]).unwrap();
        assert_eq!(
            unwrap_with_padding(&kek, &plain_wrap),
            Err(KeyWrapError::IntegrityCheckFailed)
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
