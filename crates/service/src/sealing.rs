//! At-rest encryption of keys (the jsd's AppKey / NwkKey, the nsd's session keys) under a
//! master key.
//!
//! A key is wrapped with RFC 3394 AES key wrap ([`lorawan::keywrap`]) under a 128-bit
//! [`MasterKey`] from the config or the environment. The 64-bit integrity check of RFC 3394
//! makes a wrong master key or a corrupted record an error, never a wrong key handed to the
//! join procedure.
//!
//! **Rotation without downtime.** Every [`SealedKey`] carries the 4-byte id of the master key
//! that sealed it (the first 4 bytes of a domain-separated SHA-256 of the key: not secret, a
//! 128-bit key cannot be recovered from 32 bits of its hash). A [`Keyring`] holds the
//! current master key and the retired ones:
//!
//! 1. the operator adds the new key as current and moves the old one to the retired list,
//!    then restarts or reloads: every record still unseals, new records are sealed with the
//!    new key;
//! 2. a background job walks the records and re-seals those for which
//!    [`Keyring::needs_reseal`] is true ([`Keyring::reseal`] does both steps);
//! 3. when no record names the old key id any more, the operator removes the retired key.
//!
//! Limitation: RFC 3394 has no associated data, so a sealed key is not bound to its DevEUI;
//! someone who can write the database can swap sealed keys between devices. Whoever can
//! write the database can also replace owner-token hashes, so this adds no new attack.

use std::fmt;
use std::str::FromStr;

use lorawan::ids::{parse_hex_array, AesKey, HexError};
use lorawan::keywrap::{unwrap_key, wrap_key, KeyWrapError, WRAPPED_KEY_LEN};
use sha2::{Digest, Sha256};

/// Length of a [`SealedKey`] in storage: key id and wrapped key.
pub const SEALED_KEY_LEN: usize = 4 + WRAPPED_KEY_LEN;

// The domain string names the jsd because the jsd sealed first; records carry ids derived
// with it, so it stays as it is for every daemon.
const KEY_ID_DOMAIN: &[u8] = b"switchyard jsd master-key id v1\0";

/// The 4-byte id of a master key, stored beside everything it seals.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 4]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A master key (AES-128 key-encryption key). `Debug` shows its id only.
#[derive(Clone)]
pub struct MasterKey {
    key: AesKey,
    id: KeyId,
}

impl MasterKey {
    /// From the 16 key bytes.
    pub fn new(key: AesKey) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(KEY_ID_DOMAIN);
        hasher.update(key.bytes());
        let digest = hasher.finalize();
        let id = KeyId([digest[0], digest[1], digest[2], digest[3]]);
        Self { key, id }
    }

    /// Its id, as stored in every [`SealedKey`] it seals.
    pub const fn id(&self) -> KeyId {
        self.id
    }
}

/// Parses 32 hex digits (any case, optional `0x`, surrounding whitespace), as the config and
/// `JSD_…` / `NSD_…` environment variables give it. The error never contains the text.
impl FromStr for MasterKey {
    type Err = HexError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_hex_array::<16>(text).map(|bytes| Self::new(AesKey::new(bytes)))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id {}, <redacted>)", self.id)
    }
}

/// A root key sealed under a master key: what the database stores.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SealedKey {
    /// Id of the master key that sealed it.
    pub key_id: KeyId,
    /// RFC 3394 wrap of the root key.
    pub wrapped: [u8; WRAPPED_KEY_LEN],
}

impl SealedKey {
    /// The 28 stored bytes: key id, then the wrapped key.
    pub fn to_bytes(&self) -> [u8; SEALED_KEY_LEN] {
        let mut out = [0u8; SEALED_KEY_LEN];
        out[..4].copy_from_slice(&self.key_id.0);
        out[4..].copy_from_slice(&self.wrapped);
        out
    }

    /// From stored bytes; [`SealError::Length`] unless exactly 28.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let bytes: &[u8; SEALED_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| SealError::Length(bytes.len()))?;
        let (id, wrapped) = bytes.split_at(4);
        Ok(Self {
            key_id: KeyId(id.try_into().map_err(|_| SealError::Length(bytes.len()))?),
            wrapped: wrapped
                .try_into()
                .map_err(|_| SealError::Length(bytes.len()))?,
        })
    }
}

impl fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedKey(key id {}, <24 bytes>)", self.key_id)
    }
}

/// Why a sealed key could not be opened, or a keyring built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Operator: no master key in the keyring has this id (a retired key removed while
    /// records still use it, or the wrong config).
    #[error("no master key with id {0} in the keyring")]
    UnknownKeyId(KeyId),
    /// Operator: two keys of a keyring share an id (the same key listed twice, or a 1 in 2³²
    /// collision: generate another key).
    #[error("two master keys share the id {0}")]
    DuplicateKeyId(KeyId),
    /// Storage: the stored record is not 28 bytes.
    #[error("a sealed key is {SEALED_KEY_LEN} bytes, found {0}")]
    Length(usize),
    /// Storage or operator: the RFC 3394 integrity check failed under the key with the
    /// record's id (corrupted record, or a different key configured under a colliding id).
    #[error("sealed key failed its integrity check under master key {0}")]
    Integrity(KeyId),
}

/// Seals `key` under `master` (always the keyring's current key: [`Keyring::seal`]).
pub fn seal(master: &MasterKey, key: &AesKey) -> SealedKey {
    SealedKey {
        key_id: master.id,
        wrapped: wrap_key(&master.key, key),
    }
}

/// Opens `sealed` with whichever key of `keyring` sealed it.
pub fn unseal(keyring: &Keyring, sealed: &SealedKey) -> Result<AesKey, SealError> {
    let master = keyring
        .find(sealed.key_id)
        .ok_or(SealError::UnknownKeyId(sealed.key_id))?;
    unwrap_key(&master.key, &sealed.wrapped).map_err(|e| match e {
        KeyWrapError::WrappedLength(n) => SealError::Length(n + 4),
        _ => SealError::Integrity(sealed.key_id),
    })
}

/// The current master key and the retired ones still accepted for unsealing.
#[derive(Clone, Debug)]
pub struct Keyring {
    current: MasterKey,
    retired: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring; [`SealError::DuplicateKeyId`] when two keys share an id.
    pub fn new(current: MasterKey, retired: Vec<MasterKey>) -> Result<Self, SealError> {
        let mut seen = vec![current.id];
        for key in &retired {
            if seen.contains(&key.id) {
                return Err(SealError::DuplicateKeyId(key.id));
            }
            seen.push(key.id);
        }
        Ok(Self { current, retired })
    }

    /// The key new records are sealed with.
    pub const fn current(&self) -> &MasterKey {
        &self.current
    }

    /// Ids of the retired keys, for the operator's "may I remove it yet" query.
    pub fn retired_ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.retired.iter().map(|k| k.id)
    }

    /// Seals `key` under the current master key.
    pub fn seal(&self, key: &AesKey) -> SealedKey {
        seal(&self.current, key)
    }

    /// Opens `sealed` (same as [`unseal`]).
    pub fn unseal(&self, sealed: &SealedKey) -> Result<AesKey, SealError> {
        unseal(self, sealed)
    }

    /// Whether the background job should re-seal this record: it was sealed by a key other
    /// than the current one.
    pub fn needs_reseal(&self, sealed: &SealedKey) -> bool {
        sealed.key_id != self.current.id
    }

    /// The record re-sealed under the current key, or `None` when it already is.
    pub fn reseal(&self, sealed: &SealedKey) -> Result<Option<SealedKey>, SealError> {
        if !self.needs_reseal(sealed) {
            return Ok(None);
        }
        let key = self.unseal(sealed)?;
        Ok(Some(self.seal(&key)))
    }

    fn find(&self, id: KeyId) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.retired)
            .find(|k| k.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn master(byte: u8) -> MasterKey {
        MasterKey::new(AesKey::new([byte; 16]))
    }

    const APP_KEY: AesKey = AesKey::new([0x2b; 16]);

    #[test]
    fn seal_then_unseal_gives_the_key_back() {
        let ring = Keyring::new(master(1), vec![]).expect("keyring");
        let sealed = ring.seal(&APP_KEY);
        assert_eq!(sealed.key_id, master(1).id());
        assert_eq!(ring.unseal(&sealed), Ok(APP_KEY));
        let stored = sealed.to_bytes();
        assert_eq!(SealedKey::from_bytes(&stored), Ok(sealed));
    }

    #[test]
    fn the_key_id_is_the_start_of_a_domain_separated_sha256() {
        let mut input = KEY_ID_DOMAIN.to_vec();
        input.extend_from_slice(&[1; 16]);
        let digest = Sha256::digest(&input);
        assert_eq!(
            master(1).id().0,
            [digest[0], digest[1], digest[2], digest[3]]
        );
    }

    #[test]
    fn master_keys_parse_from_hex_and_never_print() {
        let key: MasterKey = "0x0101010101010101010101010101010A".parse().expect("hex");
        let debug = format!("{key:?}");
        assert!(!debug.contains("0101"), "{debug}");
        assert!(debug.contains(&key.id().to_string()));
        assert!("0101".parse::<MasterKey>().is_err());
        assert!(format!("{:?}", seal(&key, &APP_KEY)).contains("<24 bytes>"));
    }

    #[test]
    fn rotation_unseals_old_records_and_reseals_them_under_the_current_key() {
        let old_ring = Keyring::new(master(1), vec![]).expect("keyring");
        let old = old_ring.seal(&APP_KEY);

        let ring = Keyring::new(master(2), vec![master(1)]).expect("keyring");
        assert_eq!(ring.unseal(&old), Ok(APP_KEY));
        assert!(ring.needs_reseal(&old));
        let new = ring.reseal(&old).expect("reseal").expect("needed");
        assert_eq!(new.key_id, master(2).id());
        assert!(!ring.needs_reseal(&new));
        assert_eq!(ring.reseal(&new), Ok(None));

        let after_retirement = Keyring::new(master(2), vec![]).expect("keyring");
        assert_eq!(after_retirement.unseal(&new), Ok(APP_KEY));
        assert_eq!(
            after_retirement.unseal(&old),
            Err(SealError::UnknownKeyId(master(1).id()))
        );
        assert_eq!(ring.retired_ids().collect::<Vec<_>>(), vec![master(1).id()]);
    }

    #[test]
    fn tampering_and_bad_lengths_are_errors() {
        let ring = Keyring::new(master(1), vec![]).expect("keyring");
        let mut sealed = ring.seal(&APP_KEY);
        sealed.wrapped[5] ^= 1;
        assert_eq!(
            ring.unseal(&sealed),
            Err(SealError::Integrity(sealed.key_id))
        );
        assert_eq!(SealedKey::from_bytes(&[0; 27]), Err(SealError::Length(27)));
        assert_eq!(SealedKey::from_bytes(&[]), Err(SealError::Length(0)));
    }

    #[test]
    fn duplicate_key_ids_are_refused() {
        assert_eq!(
            Keyring::new(master(1), vec![master(2), master(1)]).err(),
            Some(SealError::DuplicateKeyId(master(1).id()))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_stored_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let ring = Keyring::new(master(1), vec![master(2)]).expect("keyring");
            if let Ok(sealed) = SealedKey::from_bytes(&bytes) {
                let _ = ring.unseal(&sealed);
            }
        }

        #[test]
        fn any_key_round_trips(key in any::<[u8; 16]>(), kek in any::<[u8; 16]>()) {
            let ring = Keyring::new(MasterKey::new(AesKey::new(kek)), vec![]).expect("keyring");
            let sealed = ring.seal(&AesKey::new(key));
            let stored = SealedKey::from_bytes(&sealed.to_bytes()).expect("28 bytes");
            prop_assert_eq!(ring.unseal(&stored), Ok(AesKey::new(key)));
        }
    }
}

/// `[keys]` of a daemon that seals keys at rest: the master key and the keys it replaced.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// 32 hex digits. Required to start; no default, since a default key protects nothing.
    #[serde(default)]
    pub master_key: Option<crate::config::Secret<MasterKey>>,
    /// Master keys retired by a rotation: still used to unseal until every record has been
    /// re-sealed with `master_key`.
    #[serde(default)]
    pub retired_master_keys: Vec<crate::config::Secret<MasterKey>>,
}

/// Why `[keys]` gives no keyring.
#[derive(Debug, thiserror::Error)]
pub enum KeysProblem {
    /// No master key.
    #[error("keys.master_key is required")]
    NoMasterKey,
    /// The keyring refused the keys (a retired key equal to the current one, …).
    #[error("keys: {0}")]
    Keyring(SealError),
}

impl KeysConfig {
    /// The keyring: the current master key and the retired ones.
    pub fn keyring(&self) -> Result<Keyring, KeysProblem> {
        let current = self.master_key.clone().ok_or(KeysProblem::NoMasterKey)?;
        let retired = self
            .retired_master_keys
            .iter()
            .map(|k| k.0.clone())
            .collect();
        Keyring::new(current.0, retired).map_err(KeysProblem::Keyring)
    }
}
