//! Identifier newtypes with an explicit byte order.
//!
//! Every identifier is stored in *display* (big-endian) order, the order network-server UIs,
//! Backend Interfaces JSON and our configs use. On the air LoRaWAN sends them little-endian:
//! use `from_le_bytes` / `to_le_bytes` at the codec edge and nowhere else.
//!
//! Text parsing is lenient (any hex case, optional `0x` prefix, surrounding whitespace), display
//! is canonical lowercase hex; [`fmt::UpperHex`] is there for peers that want upper case.

use std::fmt;
use std::str::FromStr;

use subtle::ConstantTimeEq;

/// Why a hexadecimal identifier or key could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The text (after an optional `0x`) does not have the expected number of hex digits.
    #[error("expected {expected} hex digits, got {found}")]
    Length {
        /// Hex digits required.
        expected: usize,
        /// Hex digits found.
        found: usize,
    },
    /// A character that is not a hex digit.
    #[error("invalid hex digit {0:?}")]
    Digit(char),
}

/// Parses `text` (any case, optional `0x`/`0X`, surrounding whitespace) into exactly `N` bytes.
pub fn parse_hex_array<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let digits = strip_hex_prefix(text.trim());
    if digits.len() != 2 * N {
        return Err(HexError::Length {
            expected: 2 * N,
            found: digits.chars().count(),
        });
    }
    let mut out = [0u8; N];
    for (i, pair) in digits.as_bytes().chunks_exact(2).enumerate() {
        out[i] = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
    }
    Ok(out)
}

/// Parses hex text of any even length (any case, optional `0x`) into bytes.
pub fn parse_hex_vec(text: &str) -> Result<Vec<u8>, HexError> {
    let digits = strip_hex_prefix(text.trim());
    if !digits.len().is_multiple_of(2) {
        return Err(HexError::Length {
            expected: digits.len() + 1,
            found: digits.len(),
        });
    }
    digits
        .as_bytes()
        .chunks_exact(2)
        .map(|pair| Ok((hex_value(pair[0])? << 4) | hex_value(pair[1])?))
        .collect()
}

fn strip_hex_prefix(text: &str) -> &str {
    text.strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text)
}

fn hex_value(digit: u8) -> Result<u8, HexError> {
    match digit {
        b'0'..=b'9' => Ok(digit - b'0'),
        b'a'..=b'f' => Ok(digit - b'a' + 10),
        b'A'..=b'F' => Ok(digit - b'A' + 10),
        other => Err(HexError::Digit(char::from(other))),
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8], upper: bool) -> fmt::Result {
    for byte in bytes {
        if upper {
            write!(f, "{byte:02X}")?;
        } else {
            write!(f, "{byte:02x}")?;
        }
    }
    Ok(())
}

macro_rules! byte_identifier {
    ($(#[$doc:meta])* $name:ident, $len:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// From display (big-endian) bytes.
            pub const fn from_be_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// Display (big-endian) bytes.
            pub const fn to_be_bytes(self) -> [u8; $len] {
                self.0
            }

            /// From air (little-endian) bytes.
            pub fn from_le_bytes(mut bytes: [u8; $len]) -> Self {
                bytes.reverse();
                Self(bytes)
            }

            /// Air (little-endian) bytes.
            pub fn to_le_bytes(self) -> [u8; $len] {
                let mut bytes = self.0;
                bytes.reverse();
                bytes
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                parse_hex_array(text).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0, false)
            }
        }

        impl fmt::UpperHex for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0, true)
            }
        }

        impl fmt::LowerHex for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0, false)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

byte_identifier!(
    /// An IEEE EUI-64: DevEUI, JoinEUI (AppEUI in 1.0), gateway EUI, or a 1.1 NSID.
    Eui64,
    8
);

byte_identifier!(
    /// A 32-bit device address; its most significant bits carry the NetID type prefix.
    DevAddr,
    4
);

byte_identifier!(
    /// A 24-bit LoRa Alliance NetID (type in the 3 most significant bits, see [`crate::netid`]).
    NetId,
    3
);

impl Eui64 {
    /// As a `u64` (display order).
    pub const fn to_u64(self) -> u64 {
        u64::from_be_bytes(self.0)
    }

    /// From a `u64` (display order).
    pub const fn from_u64(value: u64) -> Self {
        Self(value.to_be_bytes())
    }
}

impl DevAddr {
    /// As a `u32` (display order).
    pub const fn to_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }

    /// From a `u32` (display order).
    pub const fn from_u32(value: u32) -> Self {
        Self(value.to_be_bytes())
    }
}

impl NetId {
    /// As a `u32` (display order, 24 significant bits).
    pub const fn to_u32(self) -> u32 {
        u32::from_be_bytes([0, self.0[0], self.0[1], self.0[2]])
    }

    /// From a `u32`; `None` when it does not fit in 24 bits.
    pub const fn from_u32(value: u32) -> Option<Self> {
        if value > 0x00ff_ffff {
            return None;
        }
        let b = value.to_be_bytes();
        Some(Self([b[1], b[2], b[3]]))
    }
}

/// A 128-bit AES key (root key, session key, KEK).
///
/// `Debug` never shows the key and equality is constant-time, so a key that ends up in a log
/// line or a comparison leaks nothing. Display deliberately does not exist; use
/// [`AesKey::expose_hex`] where the clear key must be written (a wrapped envelope, a test).
#[derive(Clone, Copy)]
pub struct AesKey([u8; 16]);

impl AesKey {
    /// From the 16 key bytes.
    pub const fn new(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The key bytes.
    pub const fn bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The key as lowercase hex; call sites are the places a clear key leaves memory.
    pub fn expose_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl FromStr for AesKey {
    type Err = HexError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_hex_array(text).map(Self)
    }
}

impl PartialEq for AesKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for AesKey {}

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AesKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_case_and_prefix() {
        let a: Eui64 = "0x70B3D57ED0000001".parse().unwrap();
        let b: Eui64 = "70b3d57ed0000001".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "70b3d57ed0000001");
        assert_eq!(format!("{a:X}"), "70B3D57ED0000001");
    }

    #[test]
    fn byte_order_is_explicit() {
        let addr: DevAddr = "01020304".parse().unwrap();
        assert_eq!(addr.to_le_bytes(), [4, 3, 2, 1]);
        assert_eq!(DevAddr::from_le_bytes([4, 3, 2, 1]), addr);
        assert_eq!(addr.to_u32(), 0x0102_0304);
    }

    #[test]
    fn rejects_bad_hex() {
        assert_eq!(
            "0102030".parse::<DevAddr>(),
            Err(HexError::Length {
                expected: 8,
                found: 7
            })
        );
        assert_eq!("0102030g".parse::<DevAddr>(), Err(HexError::Digit('g')));
        assert!(NetId::from_u32(0x0100_0000).is_none());
    }

    #[test]
    fn key_debug_is_redacted() {
        let key: AesKey = "000102030405060708090a0b0c0d0e0f".parse().unwrap();
        assert_eq!(format!("{key:?}"), "AesKey(<redacted>)");
        assert_eq!(key.expose_hex(), "000102030405060708090a0b0c0d0e0f");
    }
}
