//! How one peer wants its messages written. Reading never needs a dialect: every spelling of
//! every deployed peer is accepted. Writing follows exactly one.
//!
//! The canonical dialect ([`Dialect::canonical`]) is what Switchyard writes when it knows
//! nothing about the peer, and it follows the specification where it is explicit:
//!
//! - hex: lower case, no `0x` (TS002 Table 14 allows either case and the prefix; lower case is
//!   what ChirpStack writes and what `lorawan::ids` displays);
//! - result codes: the spec's own `UnkownReceiver` (TS002 1.0 Table 24 / 1.1), and
//!   `MalformedRequest` in 1.0 messages, `MalformedMessage` in 1.1 messages;
//! - absent optional fields are omitted, never `null`;
//! - RFRegion: TS002 1.0 names (`US902`, `China779`, `Australia915`, …) in 1.0 messages, RP002
//!   common names (`US915`, `CN779`, `AU915`, …) in 1.1 messages.
//!
//! Opaque tokens (SenderToken, ReceiverToken, ULToken, FNSULToken) that were received are
//! always re-emitted as the exact text received, whatever the dialect; SenderID / ReceiverID /
//! NSIDs are strings and are re-emitted as they are.

use crate::header::ProtocolVersion;

/// Letter case of hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HexCase {
    /// `0a1b`.
    Lower,
    /// `0A1B`.
    Upper,
}

/// Whether hex values carry a `0x` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HexPrefix {
    /// `0a1b`.
    None,
    /// `0x0a1b`.
    ZeroX,
}

/// How the ResultCode for an unknown ReceiverID is spelt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownReceiverSpelling {
    /// `UnkownReceiver`, as in the TS002 1.0 and 1.1 tables.
    Spec,
    /// `UnknownReceiver`, as The Things Stack writes and reads it.
    Corrected,
}

/// Which ResultCode a malformed message gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedSpelling {
    /// `MalformedRequest` in 1.0 messages, `MalformedMessage` in 1.1 messages.
    ByVersion,
    /// Always `MalformedRequest` (peers that only know 1.0's code, such as ChirpStack v4).
    AlwaysRequest,
}

/// What an absent optional field looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absent {
    /// Left out.
    Omit,
    /// Written as `null`.
    Null,
}

/// Which names RFRegion values get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionNaming {
    /// TS002 1.0 names in 1.0 messages, RP002 names in 1.1 messages.
    ByVersion,
    /// RP002 common names in every message (`EU868`, `US915`, `AS923-2`).
    Rp002,
}

/// How one peer wants its messages written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialect {
    /// Hex digit case.
    pub hex_case: HexCase,
    /// Hex prefix.
    pub hex_prefix: HexPrefix,
    /// `UnkownReceiver` or `UnknownReceiver`.
    pub unknown_receiver: UnknownReceiverSpelling,
    /// `MalformedRequest` or `MalformedMessage`.
    pub malformed: MalformedSpelling,
    /// Absent optional fields.
    pub absent: Absent,
    /// RFRegion names.
    pub rf_region: RegionNaming,
}

impl Dialect {
    /// What Switchyard writes by default; see the module documentation for each choice.
    pub const fn canonical() -> Self {
        Self {
            hex_case: HexCase::Lower,
            hex_prefix: HexPrefix::None,
            unknown_receiver: UnknownReceiverSpelling::Spec,
            malformed: MalformedSpelling::ByVersion,
            absent: Absent::Omit,
            rf_region: RegionNaming::ByVersion,
        }
    }

    /// ChirpStack v4: lower-case hex, RP002 region names, and only the 1.0 ResultCodes (its
    /// `ResultCode` enum has no `MalformedMessage`, so a 1.1 code would fail its parser).
    pub const fn chirpstack_v4() -> Self {
        Self {
            malformed: MalformedSpelling::AlwaysRequest,
            rf_region: RegionNaming::Rp002,
            ..Self::canonical()
        }
    }

    /// The Things Stack: upper-case hex, `UnknownReceiver`.
    pub const fn tts() -> Self {
        Self {
            hex_case: HexCase::Upper,
            unknown_receiver: UnknownReceiverSpelling::Corrected,
            rf_region: RegionNaming::Rp002,
            ..Self::canonical()
        }
    }

    /// Helium packet router: `0x` and upper-case hex.
    pub const fn helium() -> Self {
        Self {
            hex_case: HexCase::Upper,
            hex_prefix: HexPrefix::ZeroX,
            rf_region: RegionNaming::Rp002,
            ..Self::canonical()
        }
    }

    /// The named dialects, as configuration files write them.
    pub const NAMED: [(&'static str, Dialect); 4] = [
        ("canonical", Self::canonical()),
        ("chirpstack", Self::chirpstack_v4()),
        ("tts", Self::tts()),
        ("helium", Self::helium()),
    ];

    /// The dialect a configuration file names (`canonical`, `chirpstack`, `tts`, `helium`).
    pub fn named(name: &str) -> Option<Self> {
        Self::NAMED
            .into_iter()
            .find(|(known, _)| *known == name)
            .map(|(_, dialect)| dialect)
    }

    /// This dialect's name in configuration files, if it is one of [`Dialect::NAMED`].
    pub fn name(&self) -> Option<&'static str> {
        Self::NAMED
            .iter()
            .find(|(_, known)| known == self)
            .map(|(name, _)| *name)
    }

    /// `bytes` as hex in this dialect.
    pub fn hex(&self, bytes: &[u8]) -> String {
        const LOWER: &[u8; 16] = b"0123456789abcdef";
        const UPPER: &[u8; 16] = b"0123456789ABCDEF";
        let digits = match self.hex_case {
            HexCase::Lower => LOWER,
            HexCase::Upper => UPPER,
        };
        let mut out = String::with_capacity(2 + 2 * bytes.len());
        if self.hex_prefix == HexPrefix::ZeroX {
            out.push_str("0x");
        }
        for byte in bytes {
            out.push(char::from(digits[usize::from(byte >> 4)]));
            out.push(char::from(digits[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// Whether RFRegion values of a message of `version` get TS002 1.0 names.
    pub fn ts002_v1_0_regions(&self, version: &ProtocolVersion) -> bool {
        self.rf_region == RegionNaming::ByVersion && *version == ProtocolVersion::V1_0
    }
}

impl Default for Dialect {
    fn default() -> Self {
        Self::canonical()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_dialects_read_back_by_name() {
        for (name, dialect) in Dialect::NAMED {
            assert_eq!(Dialect::named(name), Some(dialect.clone()));
            assert_eq!(dialect.name(), Some(name));
        }
        assert_eq!(Dialect::named("lorawan-server"), None);
        let unnamed = Dialect {
            hex_prefix: HexPrefix::ZeroX,
            ..Dialect::canonical()
        };
        assert_eq!(unnamed.name(), None);
    }

    #[test]
    fn hex_follows_the_dialect() {
        let bytes = [0x0a, 0xbc];
        assert_eq!(Dialect::canonical().hex(&bytes), "0abc");
        assert_eq!(Dialect::tts().hex(&bytes), "0ABC");
        assert_eq!(Dialect::helium().hex(&bytes), "0x0ABC");
        assert_eq!(Dialect::helium().hex(&[]), "0x");
    }
}
