//! The SHA-256 tokens that authenticate the tunnel, with the Tunnel Interface Authentication
//! Key written as lower-case hex (seed 001: "46ab678cd45df4a4e4b375eacd096acc is the 128 bits
//! pre-shared Tunnel Interface Authentication Key (lower case hexadecimal string
//! representation)").
//!
//! - Reports, §6.5.2: "The Application Server re-computes the `<token>` as:
//!   SHA-256 (`<body-elements><query-parameters><LrcAsKey>`)", where `<query-parameters>` is
//!   the query line WITHOUT the Token, with `Time` raw (not URL-encoded, §5.1.2).
//! - Downlinks, §7.3.2: "The `<token>` is computed as SHA-256(`<query-parameters><LrcAskey>`)",
//!   and "is encoded as a hexadecimal string AND added at the end of the query parameters".
//!
//! Verification compares the 32 digest bytes in constant time (DESIGN: secrets "compared in
//! constant time").

use lorawan::ids::AesKey;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A token: a SHA-256 digest.
pub type Token = [u8; 32];

/// The token of a report: SHA-256(`body_elements` ‖ `query` ‖ key hex).
pub fn report_token(body_elements: &str, query: &str, key: &AesKey) -> Token {
    let mut hash = Sha256::new();
    hash.update(body_elements.as_bytes());
    hash.update(query.as_bytes());
    hash_key(&mut hash, key);
    hash.finalize().into()
}

/// The token of a downlink request: SHA-256(`query` ‖ key hex), `query` being the decoded
/// query line without its `Token` parameter.
pub fn downlink_token(query: &[u8], key: &AesKey) -> Token {
    let mut hash = Sha256::new();
    hash.update(query);
    hash_key(&mut hash, key);
    hash.finalize().into()
}

/// Whether `presented` (already decoded from hex) equals `expected`, in constant time.
pub fn matches(presented: &Token, expected: &Token) -> bool {
    presented.ct_eq(expected).into()
}

/// The token as the seed writes it: 64 lower-case hex digits.
pub fn to_hex(token: &Token) -> String {
    let mut out = String::with_capacity(64);
    for byte in token {
        out.push(HEX[usize::from(byte >> 4)]);
        out.push(HEX[usize::from(byte & 0x0f)]);
    }
    out
}

/// A token from its hex form (any case); `None` unless exactly 64 hex digits.
pub fn from_hex(text: &str) -> Option<Token> {
    lorawan::ids::parse_hex_array::<32>(text)
        .ok()
        .filter(|_| text.len() == 64)
}

const HEX: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
];

fn hash_key(hash: &mut Sha256, key: &AesKey) {
    let mut hex = [0u8; 32];
    for (i, byte) in key.bytes().iter().enumerate() {
        hex[2 * i] = HEX[usize::from(byte >> 4)] as u8;
        hex[2 * i + 1] = HEX[usize::from(byte & 0x0f)] as u8;
    }
    hash.update(hex);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AesKey {
        "46ab678cd45df4a4e4b375eacd096acc"
            .parse()
            .expect("seed key")
    }

    /// Seed 001 §7.3.2, the one example the README vouches for.
    #[test]
    fn the_downlink_worked_example_verifies() {
        let query = "DevEUI=000000000F1D8693&FPort=1&Payload=00&AS_ID=app1.sample.com&Time=2016-01-11T14:28:00.333+02:00";
        let token = downlink_token(query.as_bytes(), &key());
        assert_eq!(
            to_hex(&token),
            "63a4ec6532937c9bcba109a75f731d6dc192c9df662dee56757634a8a6dc3f4c"
        );
        let presented =
            from_hex("63A4EC6532937C9BCBA109A75F731D6DC192C9DF662DEE56757634A8A6DC3F4C")
                .expect("hex, any case");
        assert!(matches(&presented, &token));
        let mut wrong = presented;
        wrong[31] ^= 1;
        assert!(!matches(&wrong, &token));
        // One character of the query changed: another token.
        let other = downlink_token(query.replace("FPort=1", "FPort=2").as_bytes(), &key());
        assert!(!matches(&other, &token));
    }

    /// §6.5.2's location and notification examples survived extraction intact (their
    /// DevEUIs have 16 digits); both reproduce the seed's tokens, which fixes the layout
    /// `<body-elements><query-parameters><key>`.
    #[test]
    fn the_report_examples_that_survived_verify() {
        let location = report_token(
            "100000507000000000f1d8693",
            "LrnDevEui=000000000f1d8693&LrnInfos=UPHTTP_LAB_LORA&AS_ID=app1.sample.com&Time=2016-01-11T14:22:22.333+02:00",
            &key(),
        );
        assert_eq!(
            to_hex(&location),
            "76905fbe56c6221361a65ffd979f615309c9272679d3150c07c0739969b6395e"
        );
        let notification = report_token(
            "100000507000000000F1D8693",
            "LrnDevEui=000000000F1D8693&LrnInfos=UPHTTP_LAB_LORA&AS_ID=app1.sample.com&Time=2019-01-15T11:31:19.588+02:00",
            &key(),
        );
        assert_eq!(
            to_hex(&notification),
            "1f3b419c491e4f302814b98d007b1b97873aec1c42ff03a32a02a1f1a9b7e792"
        );
    }

    #[test]
    fn only_64_hex_digits_are_a_token() {
        assert!(from_hex(&"a".repeat(64)).is_some());
        assert!(from_hex(&"a".repeat(63)).is_none());
        assert!(from_hex(&"a".repeat(66)).is_none());
        assert!(from_hex(&format!("0x{}", "a".repeat(64))).is_none());
        assert!(from_hex(&"g".repeat(64)).is_none());
    }
}
