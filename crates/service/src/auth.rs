//! Bearer-token authentication for every daemon: who holds which token.
//!
//! Tokens are compared as SHA-256 digests in constant time against every entry (no early
//! exit), so neither the comparison nor the position of a match leaks timing. Only digests
//! are kept in memory after construction.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Callers of type `T`, each known by a bearer token.
#[derive(Debug, Clone)]
pub struct TokenTable<T> {
    entries: Vec<([u8; 32], T)>,
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
        Self {
            entries: entries
                .into_iter()
                .map(|(token, caller)| (digest(token), caller))
                .collect(),
        }
    }

    /// The caller holding `token`, if any.
    pub fn authenticate(&self, token: Option<&str>) -> Option<&T> {
        let presented = digest(token?);
        let mut found = None;
        for (hash, caller) in &self.entries {
            if bool::from(hash.ct_eq(&presented)) {
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

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::TokenTable;

    #[test]
    fn finds_the_holder_of_a_token_and_nobody_else() {
        let table = TokenTable::new([("token-a-xxxxxxxxxx", 'a'), ("token-b-xxxxxxxxxx", 'b')]);
        assert_eq!(table.authenticate(Some("token-b-xxxxxxxxxx")), Some(&'b'));
        assert_eq!(table.authenticate(Some("token-b-xxxxxxxxxy")), None);
        assert_eq!(table.authenticate(None), None);
        assert!(!table.is_empty());
        assert!(TokenTable::<char>::default().is_empty());
    }
}

/// Shortest bearer token accepted for an operator.
pub const MIN_OPERATOR_TOKEN_LEN: usize = 16;

/// `[[operators]]`: one user of a daemon's admin API (`/api/…`), known by a bearer token.
#[derive(Clone, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// A name for logs.
    pub name: String,
    /// Its bearer token (at least [`MIN_OPERATOR_TOKEN_LEN`] characters).
    pub token: String,
}

/// Never prints the token.
impl std::fmt::Debug for OperatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorConfig")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Checks a `[[operators]]` list: names and tokens unique, tokens long enough; the error
/// names the entry (`operators[1] (alice): …`).
pub fn check_operators(operators: &[OperatorConfig]) -> Result<(), String> {
    for (index, operator) in operators.iter().enumerate() {
        let problem = |reason: &str| format!("operators[{index}] ({}): {reason}", operator.name);
        if operator.token.len() < MIN_OPERATOR_TOKEN_LEN {
            return Err(problem("token must be at least 16 characters"));
        }
        let earlier = &operators[..index];
        if earlier.iter().any(|o| o.name == operator.name) {
            return Err(problem("name used twice"));
        }
        if earlier.iter().any(|o| o.token == operator.token) {
            return Err(problem("token used by another operator"));
        }
    }
    Ok(())
}
