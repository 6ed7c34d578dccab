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
