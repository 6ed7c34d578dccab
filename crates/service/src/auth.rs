//! Bearer-token authentication for every daemon: who holds which token.
//!
//! Tokens are compared as SHA-256 digests in constant time against every entry (no early
//! exit), so neither the comparison nor the position of a match leaks timing. Only digests
//! are kept in memory after construction, and a config may hold only the digest
//! ([`TokenDigest`], `token_sha256`), so a leaked file opens nothing.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The SHA-256 digest of a bearer token: what is kept instead of the token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// The digest of `token` (its UTF-8 bytes, nothing added or trimmed).
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// A digest written as 64 hex digits (any case), as `sha256sum` and `hub hash-token`
    /// print it; the error says what is wrong with the text.
    pub fn from_hex(text: &str) -> Result<Self, String> {
        if text.len() != 64 {
            return Err(format!(
                "must be 64 hex digits (a SHA-256 digest), not {} characters",
                text.len()
            ));
        }
        if let Some((at, bad)) = text.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(format!(
                "{bad:?} at position {at} is not a hex digit (a SHA-256 digest is 64 of them)"
            ));
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks(2)) {
            *byte = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
        }
        Ok(Self(bytes))
    }

    /// Lower-case hex, as written to files.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Never prints the digest: it is as good as the token for an offline guess.
impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenDigest(…)")
    }
}

/// The value of an ASCII hex digit (checked by the caller).
fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => 0,
    }
}

/// Callers of type `T`, each known by a bearer token.
#[derive(Debug, Clone)]
pub struct TokenTable<T> {
    entries: Vec<(TokenDigest, T)>,
}

impl<T> Default for TokenTable<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<T> TokenTable<T> {
    /// A table of `(token, caller)` pairs.
    pub fn new<'a>(entries: impl IntoIterator<Item = (&'a str, T)>) -> Self {
        Self::from_digests(
            entries
                .into_iter()
                .map(|(token, caller)| (TokenDigest::of(token), caller)),
        )
    }

    /// A table of `(digest of the token, caller)` pairs: for configs that keep digests only.
    pub fn from_digests(entries: impl IntoIterator<Item = (TokenDigest, T)>) -> Self {
        Self {
            entries: entries.into_iter().collect(),
        }
    }

    /// The caller holding `token`, if any.
    pub fn authenticate(&self, token: Option<&str>) -> Option<&T> {
        let presented = TokenDigest::of(token?);
        let mut found = None;
        for (digest, caller) in &self.entries {
            if bool::from(digest.0.ct_eq(&presented.0)) {
                found = Some(caller);
            }
        }
        found
    }

    /// Whether no caller is known (nobody can authenticate).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every known caller.
    pub fn callers(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|(_, caller)| caller)
    }
}

/// The token a config entry gives, as its digest: `token` (in clear, at least `min_len`
/// characters) or `token_sha256` (its digest, 64 hex digits), not both; `None` for neither.
/// The error names the key at fault.
pub fn configured_token(
    token: Option<&str>,
    token_sha256: Option<&str>,
    min_len: usize,
) -> Result<Option<TokenDigest>, String> {
    match (token, token_sha256) {
        (Some(_), Some(_)) => Err("both token and token_sha256: give one \
                                   (token_sha256 keeps the token out of the file)"
            .into()),
        (Some(token), None) if token.len() < min_len => {
            Err(format!("token must be at least {min_len} characters"))
        }
        (Some(token), None) => Ok(Some(TokenDigest::of(token))),
        (None, Some(hex)) => TokenDigest::from_hex(hex)
            .map(Some)
            .map_err(|reason| format!("token_sha256 {reason}")),
        (None, None) => Ok(None),
    }
}

/// Shortest bearer token accepted for an operator.
pub const MIN_OPERATOR_TOKEN_LEN: usize = 16;

/// `[[operators]]`: one user of a daemon's admin API (`/api/…`), known by a bearer token
/// given in clear (`token`) or, better, as its SHA-256 digest (`token_sha256`).
#[derive(Clone, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// A name for logs.
    pub name: String,
    /// Its bearer token (at least [`MIN_OPERATOR_TOKEN_LEN`] characters); or:
    #[serde(default)]
    pub token: Option<String>,
    /// The SHA-256 digest of its bearer token, 64 hex digits (`hub hash-token`, or
    /// `printf %s "$TOKEN" | sha256sum`).
    #[serde(default)]
    pub token_sha256: Option<String>,
}

impl OperatorConfig {
    /// An operator known by a token in clear (tests, generated configs).
    pub fn with_token(name: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            token: Some(token.into()),
            token_sha256: None,
        }
    }

    /// The digest of its token, or why it has none that can be used.
    pub fn digest(&self) -> Result<TokenDigest, String> {
        configured_token(
            self.token.as_deref(),
            self.token_sha256.as_deref(),
            MIN_OPERATOR_TOKEN_LEN,
        )?
        .ok_or_else(|| "neither token nor token_sha256: it could not authenticate".into())
    }
}

/// Never prints the token or its digest.
impl std::fmt::Debug for OperatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorConfig")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Checks a `[[operators]]` list: names unique, each with exactly one of token /
/// token_sha256, clear tokens long enough, no token used twice (compared as digests, so a
/// token in clear and its digest elsewhere are caught); the error names the entry
/// (`operators[1] (alice): …`).
pub fn check_operators(operators: &[OperatorConfig]) -> Result<(), String> {
    let mut digests = Vec::with_capacity(operators.len());
    for (index, operator) in operators.iter().enumerate() {
        let problem = |reason: &str| format!("operators[{index}] ({}): {reason}", operator.name);
        let digest = operator.digest().map_err(|reason| problem(&reason))?;
        if operators[..index].iter().any(|o| o.name == operator.name) {
            return Err(problem("name used twice"));
        }
        if digests.contains(&digest) {
            return Err(problem("token used by another operator"));
        }
        digests.push(digest);
    }
    Ok(())
}

/// The operators of a checked `[[operators]]` list, each as `caller(operator)`, by the
/// digest of its token. Entries without a usable token (which [`check_operators`] refuses)
/// are left out: they could not authenticate anyway.
pub fn operator_table<T>(
    operators: &[OperatorConfig],
    caller: impl Fn(&OperatorConfig) -> T,
) -> TokenTable<T> {
    TokenTable::from_digests(
        operators
            .iter()
            .filter_map(|o| Some((o.digest().ok()?, caller(o)))),
    )
}

#[cfg(test)]
mod tests {
    use super::{check_operators, operator_table, OperatorConfig, TokenDigest, TokenTable};

    /// `printf %s token-a-xxxxxxxxxx | sha256sum`
    const DIGEST_A: &str = "25ecf86fa954bbbc08cb8d73a410b370f91cc03431d26e9fb174ce54169118c8";

    #[test]
    fn finds_the_holder_of_a_token_and_nobody_else() {
        let table = TokenTable::new([("token-a-xxxxxxxxxx", 'a'), ("token-b-xxxxxxxxxx", 'b')]);
        assert_eq!(table.authenticate(Some("token-b-xxxxxxxxxx")), Some(&'b'));
        assert_eq!(table.authenticate(Some("token-b-xxxxxxxxxy")), None);
        assert_eq!(table.authenticate(None), None);
        assert!(!table.is_empty());
        assert!(TokenTable::<char>::default().is_empty());
    }

    #[test]
    fn a_table_of_digests_authenticates_the_tokens_behind_them() {
        let digest_b = TokenDigest::of("token-b-xxxxxxxxxx");
        let written = digest_b.to_hex().to_ascii_uppercase();
        let table = TokenTable::from_digests([
            (TokenDigest::of("token-a-xxxxxxxxxx"), 'a'),
            (
                TokenDigest::from_hex(&written).expect("upper case hex"),
                'b',
            ),
        ]);
        assert_eq!(table.authenticate(Some("token-b-xxxxxxxxxx")), Some(&'b'));
        assert_eq!(
            table.authenticate(Some(&digest_b.to_hex())),
            None,
            "not the digest"
        );
        assert_eq!(format!("{digest_b:?}"), "TokenDigest(…)");
    }

    #[test]
    fn digests_are_read_as_64_hex_digits_and_say_what_is_wrong() {
        let digest = TokenDigest::of("abc");
        assert_eq!(
            digest.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(TokenDigest::from_hex(&digest.to_hex()), Ok(digest));
        let short = TokenDigest::from_hex("abcd").expect_err("short");
        assert!(short.contains("not 4 characters"), "{short}");
        assert_eq!(DIGEST_A, TokenDigest::of("token-a-xxxxxxxxxx").to_hex());
        let bad = TokenDigest::from_hex(&format!("{}x", &DIGEST_A[1..])).expect_err("x");
        assert!(bad.contains("'x' at position 63"), "{bad}");
    }

    #[test]
    fn operators_have_exactly_one_token_compared_as_digests() {
        let hashed = |name: &str, token: &str| OperatorConfig {
            name: name.into(),
            token: None,
            token_sha256: Some(TokenDigest::of(token).to_hex()),
        };
        let clear = |name: &str, token: &str| OperatorConfig::with_token(name, token);
        let fine = [
            clear("alice", "token-a-xxxxxxxxxx"),
            hashed("bob", "token-b-xxxxxxxxxx"),
        ];
        check_operators(&fine).expect("one clear, one digest");
        let table = operator_table(&fine, |o| o.name.clone());
        assert_eq!(
            table
                .authenticate(Some("token-b-xxxxxxxxxx"))
                .map(String::as_str),
            Some("bob")
        );
        let mut both = hashed("carol", "token-c-xxxxxxxxxx");
        both.token = Some("token-c-xxxxxxxxxx".into());
        let mut neither = both.clone();
        (neither.token, neither.token_sha256) = (None, None);
        let mut bad_hex = both.clone();
        bad_hex.token = None;
        bad_hex.token_sha256 = Some("abc".into());
        for (operators, problem) in [
            (
                vec![
                    clear("alice", "token-a-xxxxxxxxxx"),
                    hashed("bob", "token-a-xxxxxxxxxx"),
                ],
                "operators[1] (bob): token used by another operator",
            ),
            (
                vec![both],
                "operators[0] (carol): both token and token_sha256",
            ),
            (
                vec![neither],
                "operators[0] (carol): neither token nor token_sha256",
            ),
            (
                vec![bad_hex],
                "operators[0] (carol): token_sha256 must be 64 hex digits",
            ),
            (
                vec![clear("dave", "short")],
                "operators[0] (dave): token must be at least 16",
            ),
            (
                vec![
                    clear("eve", "token-a-xxxxxxxxxx"),
                    hashed("eve", "token-b-xxxxxxxxxx"),
                ],
                "operators[1] (eve): name used twice",
            ),
        ] {
            let error = check_operators(&operators).expect_err(problem);
            assert!(error.starts_with(problem), "{error}");
        }
        let parsed: OperatorConfig =
            toml::from_str(&format!("name = \"ops\"\ntoken_sha256 = \"{DIGEST_A}\"\n"))
                .expect("a digest in TOML");
        assert!(parsed.digest().is_ok());
    }
}
