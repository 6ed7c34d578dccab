//! Small value types of the message model: hex byte strings, opaque tokens, RFRegion, ClassMode.

use std::fmt;

use serde_json::Value;

use crate::error::DecodeError;
use crate::wire::{hex, Path, Style, Wire};

/// Bytes written as hex (PHYPayload, FRMPayload, DLSettings, CFList, SessionKeyID, …).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct HexBytes(pub Vec<u8>);

impl HexBytes {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl From<Vec<u8>> for HexBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<&[u8]> for HexBytes {
    fn from(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
}

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HexBytes({})",
            crate::dialect::Dialect::canonical().hex(&self.0)
        )
    }
}

impl Wire for HexBytes {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        hex(value, at).map(|(bytes, _)| Self(bytes))
    }
    fn to_wire(&self, style: &Style<'_>) -> Value {
        Value::String(style.dialect.hex(&self.0))
    }
}

/// An opaque token (SenderToken, ReceiverToken, ULToken, FNSULToken).
///
/// A received token keeps the exact text it arrived as and is written back as that text,
/// whatever the dialect: the peer that made it compares it, so it must come back unchanged.
/// A token built here from bytes is written in the dialect's hex. Equality is on the bytes.
#[derive(Clone, Default)]
pub struct Token {
    bytes: Vec<u8>,
    text: Option<String>,
}

impl Token {
    /// The token bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The text it was received as, if it was received.
    pub fn received_text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// Parses received text (any case, optional `0x`), keeping the text.
    pub fn parse(text: &str) -> Result<Self, lorawan::ids::HexError> {
        Ok(Self {
            bytes: lorawan::ids::parse_hex_vec(text)?,
            text: Some(text.to_owned()),
        })
    }
}

impl From<Vec<u8>> for Token {
    fn from(bytes: Vec<u8>) -> Self {
        Self { bytes, text: None }
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for Token {}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text {
            Some(text) => write!(f, "Token({text})"),
            None => write!(
                f,
                "Token({})",
                crate::dialect::Dialect::canonical().hex(&self.bytes)
            ),
        }
    }
}

impl Wire for Token {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        hex(value, at).map(|(bytes, text)| Self {
            bytes,
            text: Some(text),
        })
    }
    fn to_wire(&self, style: &Style<'_>) -> Value {
        Value::String(match &self.text {
            Some(text) => text.clone(),
            None => style.dialect.hex(&self.bytes),
        })
    }
}

/// An RF region (RFRegion). Open: unknown names are kept verbatim.
///
/// Read: every deployed spelling, any case, `-`, `_` or nothing before an AS923 group
/// (`EU868`, `US902`, `US915`, `China779`, `CN779`, `Australia915`, `AU915`, `AS923`, `AS923-2`,
/// `AS923_1`, `KR922`, `KR920`, `RU868`, `RU864`, …). Written per [`crate::dialect::RegionNaming`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RfRegion {
    /// EU 863–870 MHz.
    Eu868,
    /// US 902–928 MHz (`US902` in TS002 1.0, `US915` in RP002).
    Us915,
    /// China 779–787 MHz.
    Cn779,
    /// EU 433 MHz.
    Eu433,
    /// Australia 915–928 MHz.
    Au915,
    /// China 470–510 MHz.
    Cn470,
    /// AS923 group 1–4 (`AS923` is group 1).
    As923(u8),
    /// South Korea 920–923 MHz.
    Kr920,
    /// India 865–867 MHz.
    In865,
    /// Russia 864–870 MHz.
    Ru864,
    /// 2.4 GHz ISM.
    Ism2400,
    /// A name this model does not know, kept verbatim.
    Other(String),
}

impl RfRegion {
    /// Reads any deployed spelling.
    pub fn parse(text: &str) -> Self {
        let key: String = text
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        match key.as_str() {
            "EU868" | "EU863870" => Self::Eu868,
            "US902" | "US915" | "US902928" => Self::Us915,
            "CHINA779" | "CN779" | "CN779787" => Self::Cn779,
            "EU433" => Self::Eu433,
            "AUSTRALIA915" | "AU915" | "AU915928" => Self::Au915,
            "CHINA470" | "CN470" | "CN470510" => Self::Cn470,
            "AS923" | "AS9231" => Self::As923(1),
            "AS9232" => Self::As923(2),
            "AS9233" => Self::As923(3),
            "AS9234" => Self::As923(4),
            "KR920" | "KR922" | "KR920923" => Self::Kr920,
            "IN865" | "IN865867" => Self::In865,
            "RU864" | "RU868" | "RU864870" => Self::Ru864,
            "ISM2400" => Self::Ism2400,
            _ => Self::Other(text.to_owned()),
        }
    }

    /// The RP002 common name (`AS923` for group 1, `AS923-2` for group 2).
    pub fn rp002_name(&self) -> String {
        match self {
            Self::Eu868 => "EU868".into(),
            Self::Us915 => "US915".into(),
            Self::Cn779 => "CN779".into(),
            Self::Eu433 => "EU433".into(),
            Self::Au915 => "AU915".into(),
            Self::Cn470 => "CN470".into(),
            Self::As923(1) => "AS923".into(),
            Self::As923(group) => format!("AS923-{group}"),
            Self::Kr920 => "KR920".into(),
            Self::In865 => "IN865".into(),
            Self::Ru864 => "RU864".into(),
            Self::Ism2400 => "ISM2400".into(),
            Self::Other(text) => text.clone(),
        }
    }

    /// The TS002 1.0 name (Table 17 note 2: `US902`, `China779`, `Australia915`, `China470`).
    pub fn ts002_v1_0_name(&self) -> String {
        match self {
            Self::Us915 => "US902".into(),
            Self::Cn779 => "China779".into(),
            Self::Au915 => "Australia915".into(),
            Self::Cn470 => "China470".into(),
            Self::Kr920 => "KR922".into(),
            Self::Ru864 => "RU868".into(),
            other => other.rp002_name(),
        }
    }
}

impl Wire for RfRegion {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        String::from_wire(value, at).map(|text| Self::parse(&text))
    }
    fn to_wire(&self, style: &Style<'_>) -> Value {
        Value::String(if style.dialect.ts002_v1_0_regions(style.version) {
            self.ts002_v1_0_name()
        } else {
            self.rp002_name()
        })
    }
}

/// A downlink class (DLMetaData.ClassMode). Open.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClassMode {
    /// Class A.
    A,
    /// Class B.
    B,
    /// Class C.
    C,
    /// Anything else, kept verbatim.
    Other(String),
}

impl Wire for ClassMode {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        let text = String::from_wire(value, at)?;
        Ok(match text.as_str() {
            "A" => Self::A,
            "B" => Self::B,
            "C" => Self::C,
            _ => Self::Other(text),
        })
    }
    fn to_wire(&self, _: &Style<'_>) -> Value {
        Value::String(
            match self {
                Self::A => "A",
                Self::B => "B",
                Self::C => "C",
                Self::Other(text) => text,
            }
            .to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_read_every_spelling() {
        assert_eq!(RfRegion::parse("US902"), RfRegion::Us915);
        assert_eq!(RfRegion::parse("Australia915"), RfRegion::Au915);
        assert_eq!(RfRegion::parse("AS923_1"), RfRegion::As923(1));
        assert_eq!(RfRegion::parse("as923-2"), RfRegion::As923(2));
        assert_eq!(RfRegion::As923(2).rp002_name(), "AS923-2");
        assert_eq!(RfRegion::Us915.ts002_v1_0_name(), "US902");
        assert_eq!(RfRegion::parse("Mars1"), RfRegion::Other("Mars1".into()));
    }

    #[test]
    fn received_tokens_keep_their_text() {
        let token = Token::parse("0xAbCd").unwrap();
        assert_eq!(token.as_bytes(), &[0xab, 0xcd]);
        assert_eq!(token.received_text(), Some("0xAbCd"));
        assert_eq!(token, Token::from(vec![0xab, 0xcd]));
    }
}
