//! Owner tokens: the proof of ownership a manufacturer prints on the device (TR005 QR code)
//! and the buyer's network presents to claim it.
//!
//! - **Generation.** 128 bits from the operating system's random source ([`getrandom`]).
//! - **Text form.** 32 upper-case hexadecimal digits, e.g. `3F2A9C0B7D114E58A0C6B2E9F1D08A47`.
//!   Hex because every tool in the LoRaWAN chain (QR generators, spreadsheets, NS UIs) already
//!   handles hex identifiers and keys; upper case because it is what a TR005 QR code carries
//!   in its compact alphanumeric mode. Crockford base32 would be 6 characters shorter but is
//!   one more alphabet for the manufacturer's tooling to get wrong.
//! - **Parsing is tolerant** ([`OwnerToken::from_str`]): any case, and spaces, tabs, `-`, `:`
//!   or `_` anywhere (people type tokens in groups of four), nothing else.
//! - **Storage.** Only [`OwnerTokenHash`] is kept: SHA-256 over a domain-separation prefix,
//!   the DevEUI and the token. A slow password KDF (Argon2, scrypt) protects low-entropy
//!   secrets chosen by people; a uniformly random 128-bit token cannot be brute-forced from
//!   its hash whatever the hash speed, so a fast hash loses nothing and keeps a claim cheap.
//!   The DevEUI in the hash ties a hash to its device: a hash copied onto another device's
//!   row does not verify, and one guess cannot be tried against every device at once.
//!   Hashing is stronger than encrypting at rest: not even the JS can show a token again,
//!   which is why the token is returned exactly once, at import.
//! - **Verification** compares the 32-byte hashes in constant time ([`subtle`]).

use std::fmt;
use std::str::FromStr;

use lorawan::ids::Eui64;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Bytes of randomness in an owner token.
pub const TOKEN_LEN: usize = 16;

/// Domain separation: these hashes can never collide with another SHA-256 use in Switchyard.
const HASH_DOMAIN: &[u8] = b"switchyard jsd owner-token v1\0";

/// A clear owner token. It exists in memory between generation and the import answer, and
/// between parsing a claim request and hashing it; it is never stored.
///
/// `Debug` is redacted and there is no `Display`: [`OwnerToken::expose_text`] marks the one
/// place the clear token leaves the JS.
#[derive(Clone)]
pub struct OwnerToken([u8; TOKEN_LEN]);

/// The OS random source failed: the host is to blame (no entropy available).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct RandomError(String);

/// Why text is not an owner token: the caller (the claiming network or its user) is to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenParseError {
    /// Not 32 hex digits once separators are removed.
    #[error("an owner token has 32 hex digits, found {0}")]
    Length(usize),
    /// A character that is neither a hex digit nor an accepted separator.
    #[error("invalid character {0:?} in an owner token")]
    Character(char),
}

impl OwnerToken {
    /// A fresh random token.
    pub fn generate() -> Result<Self, RandomError> {
        let mut bytes = [0u8; TOKEN_LEN];
        getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
        Ok(Self(bytes))
    }

    /// From raw bytes (tests, and tools that derive tokens themselves).
    pub const fn from_bytes(bytes: [u8; TOKEN_LEN]) -> Self {
        Self(bytes)
    }

    /// The canonical text form, 32 upper-case hex digits: call sites are the places a clear
    /// token leaves the JS (the import answer, once).
    pub fn expose_text(&self) -> String {
        self.0.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// The hash stored for this token on device `dev_eui`.
    pub fn hash(&self, dev_eui: Eui64) -> OwnerTokenHash {
        OwnerTokenHash::of(dev_eui, self)
    }
}

impl FromStr for OwnerToken {
    type Err = TokenParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; TOKEN_LEN];
        let mut digits = 0usize;
        for c in text.chars() {
            if c.is_whitespace() || matches!(c, '-' | ':' | '_') {
                continue;
            }
            let value = c.to_digit(16).ok_or(TokenParseError::Character(c))?;
            if let Some(byte) = bytes.get_mut(digits / 2) {
                // `to_digit(16)` is below 16, so the cast is lossless.
                let nibble = value as u8;
                *byte = if digits.is_multiple_of(2) {
                    nibble << 4
                } else {
                    *byte | nibble
                };
            }
            digits += 1;
        }
        if digits != 2 * TOKEN_LEN {
            return Err(TokenParseError::Length(digits));
        }
        Ok(Self(bytes))
    }
}

impl fmt::Debug for OwnerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnerToken(<redacted>)")
    }
}

/// Whether a presented token matched the stored hash. An enum rather than a `bool` so a call
/// such as `claim(state, TokenCheck::Valid, home)` reads as what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenCheck {
    /// The token hashes to the stored hash.
    Valid,
    /// It does not.
    Invalid,
}

/// What is stored instead of an owner token: `SHA-256(domain ‖ DevEUI ‖ token)`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OwnerTokenHash([u8; 32]);

impl OwnerTokenHash {
    /// The hash of `token` for device `dev_eui` (DevEUI in display byte order).
    pub fn of(dev_eui: Eui64, token: &OwnerToken) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(HASH_DOMAIN);
        hasher.update(dev_eui.to_be_bytes());
        hasher.update(token.0);
        Self(hasher.finalize().into())
    }

    /// From the stored bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// From stored bytes of unchecked length; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The bytes to store.
    pub const fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// Whether `token` is the one this hash was made from for `dev_eui`, compared in constant
    /// time.
    pub fn verify(&self, dev_eui: Eui64, token: &OwnerToken) -> TokenCheck {
        let candidate = Self::of(dev_eui, token);
        if bool::from(self.0.ct_eq(&candidate.0)) {
            TokenCheck::Valid
        } else {
            TokenCheck::Invalid
        }
    }
}

impl fmt::Debug for OwnerTokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not secret (the token is 128 random bits), but a prefix is all a reader needs.
        write!(
            f,
            "OwnerTokenHash({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DEV: Eui64 = Eui64::from_u64(0x70b3_d57e_d000_0001);

    #[test]
    fn generated_tokens_differ_and_print_as_32_upper_hex_digits() {
        let a = OwnerToken::generate().expect("random source");
        let b = OwnerToken::generate().expect("random source");
        assert_ne!(a.expose_text(), b.expose_text());
        let text = a.expose_text();
        assert_eq!(text.len(), 32);
        assert!(text
            .chars()
            .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
    }

    #[test]
    fn parsing_accepts_case_and_separators() {
        let token = OwnerToken::from_bytes([0xab; 16]);
        let canonical = token.expose_text();
        for text in [
            canonical.clone(),
            canonical.to_lowercase(),
            "abab-ABAB-abab-ABAB abab:abab_abab\tabab".to_owned(),
            format!("  {canonical}\n"),
        ] {
            let parsed: OwnerToken = text.parse().expect(&text);
            assert_eq!(parsed.expose_text(), canonical);
        }
    }

    #[test]
    fn parsing_rejects_wrong_lengths_and_characters() {
        assert_eq!(
            "ABAB".parse::<OwnerToken>().err(),
            Some(TokenParseError::Length(4))
        );
        assert_eq!(
            "AB".repeat(17).parse::<OwnerToken>().err(),
            Some(TokenParseError::Length(34))
        );
        assert_eq!(
            format!("{}G", "A".repeat(31)).parse::<OwnerToken>().err(),
            Some(TokenParseError::Character('G'))
        );
        assert_eq!(
            "".parse::<OwnerToken>().err(),
            Some(TokenParseError::Length(0))
        );
    }

    #[test]
    fn a_hash_verifies_its_token_on_its_device_only() {
        let token = OwnerToken::from_bytes([7; 16]);
        let hash = token.hash(DEV);
        assert_eq!(hash.verify(DEV, &token), TokenCheck::Valid);
        let other_token = OwnerToken::from_bytes([8; 16]);
        assert_eq!(hash.verify(DEV, &other_token), TokenCheck::Invalid);
        let other_device = Eui64::from_u64(0x70b3_d57e_d000_0002);
        assert_eq!(hash.verify(other_device, &token), TokenCheck::Invalid);
    }

    #[test]
    fn the_hash_is_sha256_of_domain_deveui_and_token() {
        let token = OwnerToken::from_bytes([0; 16]);
        let mut input = HASH_DOMAIN.to_vec();
        input.extend_from_slice(&DEV.to_be_bytes());
        input.extend_from_slice(&[0; 16]);
        let expected: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(token.hash(DEV).to_bytes(), expected);
        assert_eq!(OwnerTokenHash::from_slice(&expected), Some(token.hash(DEV)));
        assert_eq!(OwnerTokenHash::from_slice(&expected[..31]), None);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = OwnerToken::from_bytes([0x5a; 16]);
        let debug = format!("{token:?}");
        assert!(!debug.to_lowercase().contains("5a5a"), "{debug}");
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in ".{0,80}") {
            let _ = text.parse::<OwnerToken>();
        }

        #[test]
        fn text_round_trips(bytes in any::<[u8; 16]>()) {
            let token = OwnerToken::from_bytes(bytes);
            let parsed: OwnerToken = token.expose_text().parse().expect("canonical text");
            prop_assert_eq!(parsed.hash(DEV), token.hash(DEV));
        }
    }
}
