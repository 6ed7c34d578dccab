//! The ULToken this nsd puts in each GWInfo when it forwards an uplink (fNS role).
//!
//! TS002 1.1 Table 22 (GWInfo): "ULToken: Opaque value of the gateway's NS"; DLMetaData
//! carries "Copy of the ULToken received for each GW. If provided in ULMetadata, it SHALL be
//! present in DLMetadata". The serving NS and the hub pass it back byte for byte; only we
//! read it. It names the gateway that heard the uplink and the concentrator counter
//! (`tmst`) a class A answer is scheduled against, so a later XmitDataReq can be sent
//! without any state kept here (stateless passive roaming).
//!
//! Because a token makes one of our gateways transmit, it is authenticated: an
//! HMAC-SHA256 (RFC 2104) under a key only this fNS holds, truncated to 16 bytes
//! (RFC 2104 §5 allows truncation to no less than half the hash length). A forged or
//! altered token fails [`UlToken::open`] with [`UlTokenError::Forged`].
//!
//! Layout (big-endian), 38 or 44 bytes:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version (1) |
//! | 1 | flags: bit 0 = uplink context present; other bits 0 |
//! | 8 | gateway EUI |
//! | 4 | concentrator counter at reception, µs |
//! | 8 | issue time, milliseconds since the Unix epoch |
//! | 6 | (flag 0) uplink frequency Hz (4), data rate (1), region code (1) |
//! | 16 | HMAC-SHA256 of everything before, truncated |
//!
//! Region codes are positions in [`Region::ALL`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lorawan::region::Region;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::gateway::GatewayId;

/// The token format version this code writes and reads.
pub const VERSION: u8 = 1;

/// Length of the truncated HMAC tag.
pub const TAG_LEN: usize = 16;

const FLAG_CONTEXT: u8 = 0x01;
const BODY_LEN: usize = 1 + 1 + 8 + 4 + 8;
const CONTEXT_LEN: usize = 4 + 1 + 1;

/// The fNS's secret key for ULTokens (32 bytes; never sent anywhere).
#[derive(Clone)]
pub struct UlTokenKey([u8; 32]);

impl UlTokenKey {
    /// A key from its 32 bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key from 64 hex digits; `None` for anything else.
    pub fn from_hex(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(bytes))
    }

    /// A fresh random key from the operating system's generator; `None` if it fails.
    pub fn random() -> Option<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).ok()?;
        Some(Self(bytes))
    }
}

impl std::fmt::Debug for UlTokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UlTokenKey(..)")
    }
}

/// The radio context of the uplink a token was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UplinkContext {
    /// Uplink centre frequency, Hz.
    pub frequency_hz: u32,
    /// Uplink data rate index in `region`.
    pub data_rate: u8,
    /// The region of the gateway.
    pub region: Region,
}

/// What a ULToken says: which gateway heard the uplink, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UlToken {
    /// The gateway that heard the uplink (and will send the answer).
    pub gateway: GatewayId,
    /// Its concentrator counter (`tmst`) at reception, µs.
    pub counter_us: u32,
    /// When the token was issued (millisecond precision).
    pub issued_at: SystemTime,
    /// The uplink's radio context, when known.
    pub context: Option<UplinkContext>,
}

/// Why a token could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UlTokenError {
    /// Shorter than the smallest token.
    #[error("ULToken of {len} bytes is too short for a token of this fNS")]
    TooShort {
        /// Length received.
        len: usize,
    },
    /// A version this code does not read (not one of our tokens, or a newer one).
    #[error("ULToken version {0} is not one this fNS issues")]
    UnsupportedVersion(u8),
    /// Flag bits this version does not define.
    #[error("ULToken flags {0:#04x} are not defined")]
    UnknownFlags(u8),
    /// The length does not match the flags.
    #[error("ULToken of {len} bytes, {expected} expected")]
    Length {
        /// Length received.
        len: usize,
        /// Length the flags call for.
        expected: usize,
    },
    /// The authentication tag does not match: not issued by this fNS, or altered.
    #[error("ULToken authentication failed (not issued by this fNS, or altered)")]
    Forged,
    /// An unknown region code (only possible with a valid tag: a key shared with newer code).
    #[error("ULToken region code {0} is unknown")]
    UnknownRegion(u8),
}

impl UlToken {
    /// The token bytes, authenticated under `key`.
    pub fn seal(&self, key: &UlTokenKey) -> Vec<u8> {
        let mut out = Vec::with_capacity(BODY_LEN + CONTEXT_LEN + TAG_LEN);
        out.push(VERSION);
        out.push(if self.context.is_some() {
            FLAG_CONTEXT
        } else {
            0
        });
        out.extend_from_slice(&self.gateway.to_be_bytes());
        out.extend_from_slice(&self.counter_us.to_be_bytes());
        out.extend_from_slice(&unix_ms(self.issued_at).to_be_bytes());
        if let Some(context) = self.context {
            out.extend_from_slice(&context.frequency_hz.to_be_bytes());
            out.push(context.data_rate);
            out.push(region_code(context.region));
        }
        let tag = hmac_sha256(&key.0, &out);
        out.extend_from_slice(&tag[..TAG_LEN]);
        out
    }

    /// Reads and authenticates token bytes. The structure is checked first (so a token of
    /// another NS gets a precise error), then the tag, in constant time, before any field is
    /// trusted.
    pub fn open(bytes: &[u8], key: &UlTokenKey) -> Result<UlToken, UlTokenError> {
        let (&version, rest) = bytes
            .split_first()
            .ok_or(UlTokenError::TooShort { len: 0 })?;
        if version != VERSION {
            return Err(UlTokenError::UnsupportedVersion(version));
        }
        let flags = *rest
            .first()
            .ok_or(UlTokenError::TooShort { len: bytes.len() })?;
        if flags & !FLAG_CONTEXT != 0 {
            return Err(UlTokenError::UnknownFlags(flags));
        }
        let expected = BODY_LEN
            + if flags & FLAG_CONTEXT != 0 {
                CONTEXT_LEN
            } else {
                0
            }
            + TAG_LEN;
        if bytes.len() < BODY_LEN + TAG_LEN {
            return Err(UlTokenError::TooShort { len: bytes.len() });
        }
        if bytes.len() != expected {
            return Err(UlTokenError::Length {
                len: bytes.len(),
                expected,
            });
        }
        let (signed, tag) = bytes.split_at(expected - TAG_LEN);
        let computed = hmac_sha256(&key.0, signed);
        if !bool::from(computed[..TAG_LEN].ct_eq(tag)) {
            return Err(UlTokenError::Forged);
        }
        let mut reader = Reader(&signed[2..]);
        let gateway = GatewayId::from_be_bytes(reader.array());
        let counter_us = u32::from_be_bytes(reader.array());
        let issued_at = UNIX_EPOCH + Duration::from_millis(u64::from_be_bytes(reader.array()));
        let context = if flags & FLAG_CONTEXT != 0 {
            let frequency_hz = u32::from_be_bytes(reader.array());
            let [data_rate, code] = reader.array();
            let region = *Region::ALL
                .get(usize::from(code))
                .ok_or(UlTokenError::UnknownRegion(code))?;
            Some(UplinkContext {
                frequency_hz,
                data_rate,
                region,
            })
        } else {
            None
        };
        Ok(UlToken {
            gateway,
            counter_us,
            issued_at,
            context,
        })
    }

    /// How old the token is at `now` (zero if issued in the future).
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.issued_at).unwrap_or_default()
    }
}

/// Reads fixed-size arrays from a slice whose length was checked beforehand.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
}

fn unix_ms(time: SystemTime) -> u64 {
    let ms = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

fn region_code(region: Region) -> u8 {
    Region::ALL
        .iter()
        .position(|r| *r == region)
        .and_then(|at| u8::try_from(at).ok())
        .unwrap_or(u8::MAX)
}

/// HMAC-SHA256 (RFC 2104, block size 64 bytes).
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> UlTokenKey {
        UlTokenKey::new([byte; 32])
    }

    fn token(context: Option<UplinkContext>) -> UlToken {
        UlToken {
            gateway: GatewayId::from_u64(0x0016_c001_ff10_a235),
            counter_us: 4_000_000_123,
            issued_at: UNIX_EPOCH + Duration::from_millis(1_780_000_000_456),
            context,
        }
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let tag = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn round_trips_with_and_without_context() {
        let context = UplinkContext {
            frequency_hz: 923_400_000,
            data_rate: 5,
            region: Region::As923_2,
        };
        for t in [token(None), token(Some(context))] {
            let bytes = t.seal(&key(7));
            let expected = if t.context.is_some() { 44 } else { 38 };
            assert_eq!(bytes.len(), expected);
            assert_eq!(UlToken::open(&bytes, &key(7)), Ok(t));
        }
    }

    #[test]
    fn any_altered_byte_or_other_key_is_forged() {
        let bytes = token(None).seal(&key(7));
        assert_eq!(UlToken::open(&bytes, &key(8)), Err(UlTokenError::Forged));
        // Every byte after version and flags (which fail structurally) is covered by the tag.
        for at in 2..bytes.len() {
            let mut altered = bytes.clone();
            altered[at] ^= 0x01;
            assert_eq!(
                UlToken::open(&altered, &key(7)),
                Err(UlTokenError::Forged),
                "byte {at}"
            );
        }
    }

    #[test]
    fn structural_errors_are_precise() {
        let bytes = token(None).seal(&key(1));
        assert_eq!(
            UlToken::open(&[], &key(1)),
            Err(UlTokenError::TooShort { len: 0 })
        );
        assert_eq!(
            UlToken::open(&bytes[..20], &key(1)),
            Err(UlTokenError::TooShort { len: 20 })
        );
        let mut other = bytes.clone();
        other[0] = 0x0a;
        assert_eq!(
            UlToken::open(&other, &key(1)),
            Err(UlTokenError::UnsupportedVersion(0x0a))
        );
        let mut flags = bytes.clone();
        flags[1] = 0x80;
        assert_eq!(
            UlToken::open(&flags, &key(1)),
            Err(UlTokenError::UnknownFlags(0x80))
        );
        // Claims a context but has none.
        let mut claims = bytes.clone();
        claims[1] = FLAG_CONTEXT;
        assert_eq!(
            UlToken::open(&claims, &key(1)),
            Err(UlTokenError::Length {
                len: 38,
                expected: 44
            })
        );
    }

    #[test]
    fn chirpstack_tokens_are_not_ours() {
        // The ULToken of shared/conformance/bi/accept/chirpstack-gen-PRStartReq-data-….json:
        // a protobuf, starting 0x0a.
        let chirpstack = lorawan::ids::parse_hex_vec(
            "0a10303330323033303430353036303730381a0c08f0edc8b10610c0de9cf8027a120a0972665f726567696f6e12054555383638",
        )
        .unwrap();
        assert_eq!(
            UlToken::open(&chirpstack, &key(1)),
            Err(UlTokenError::UnsupportedVersion(0x0a))
        );
    }

    #[test]
    fn age_is_measured_from_issue() {
        let t = token(None);
        assert_eq!(
            t.age(t.issued_at + Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        assert_eq!(t.age(t.issued_at - Duration::from_secs(3)), Duration::ZERO);
    }
}
