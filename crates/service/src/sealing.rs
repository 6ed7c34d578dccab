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
//! **Secrets of any length.** A [`SealedSecret`] is the same idea for a secret that is not a
//! 128-bit key (a bearer token the hub presents to a member): RFC 5649 AES key wrap with
//! padding ([`lorawan::keywrap::wrap_with_padding`]) under the same master keys, with the
//! same key id and rotation. Its 32-bit integrity check (the alternative IV) and the stated
//! length and zero padding it checks make a wrong master key or an altered text an error.
//! Its stored form is text, for config-like files:
//!
//! ```text
//! sealed:v1:<hex of: 4-byte key id ‖ RFC 5649 output (8 + the secret padded to 8 bytes)>
//! ```
//!
//! `v1` names this layout; a different one would get another version.
//!
//! Limitation: RFC 3394 has no associated data, so a sealed key is not bound to its DevEUI;
//! someone who can write the database can swap sealed keys between devices. Whoever can
//! write the database can also replace owner-token hashes, so this adds no new attack.

use std::fmt;
use std::str::FromStr;

use lorawan::ids::{parse_hex_array, AesKey, HexError};
use lorawan::keywrap::{
    unwrap_key, unwrap_with_padding, wrap_key, wrap_with_padding, Kek, KeyWrapError,
    WRAPPED_KEY_LEN,
};
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

/// A master key (AES-128 key-encryption key). `Debug` shows its id only; equality compares
/// the key in constant time.
#[derive(Clone, PartialEq, Eq)]
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

/// What a sealed record tells without being opened: which master key sealed it.
pub trait Sealed {
    /// Id of the master key that sealed it.
    fn key_id(&self) -> KeyId;
}

impl Sealed for SealedKey {
    fn key_id(&self) -> KeyId {
        self.key_id
    }
}

/// Text a [`SealedSecret`] starts with: the format and its version.
pub const SEALED_SECRET_PREFIX: &str = "sealed:v1:";

/// Shortest RFC 5649 output: the IV and one 8-byte block.
const MIN_PADDED_WRAP_LEN: usize = 16;

/// A secret of any length (1 byte or more) sealed under a master key: key id and RFC 5649
/// wrap. Stored as text (`Display` / `FromStr`: `sealed:v1:<hex>`, see the module doc).
/// `Debug` shows the key id and the length only.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    key_id: KeyId,
    wrapped: Vec<u8>,
}

impl SealedSecret {
    /// Id of the master key that sealed it.
    pub const fn key_id(&self) -> KeyId {
        self.key_id
    }
}

impl Sealed for SealedSecret {
    fn key_id(&self) -> KeyId {
        self.key_id
    }
}

impl fmt::Display for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SEALED_SECRET_PREFIX)?;
        for b in self.key_id.0.iter().chain(&self.wrapped) {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Parses `sealed:v1:<hex>` (hex in any case, surrounding whitespace ignored); checks the
/// shape only: whether it opens is [`Keyring::unseal_secret`]'s answer.
impl FromStr for SealedSecret {
    type Err = SealError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let hex = text
            .trim()
            .strip_prefix(SEALED_SECRET_PREFIX)
            .ok_or(SealError::NotSealedText)?;
        let bytes = lorawan::ids::parse_hex_vec(hex)
            .map_err(|e| SealError::SealedTextHex(e.to_string()))?;
        let Some((id, wrapped)) = bytes.split_first_chunk::<4>() else {
            return Err(SealError::SealedSecretLength(bytes.len()));
        };
        if wrapped.len() < MIN_PADDED_WRAP_LEN || wrapped.len() % 8 != 0 {
            return Err(SealError::SealedSecretLength(bytes.len()));
        }
        Ok(Self {
            key_id: KeyId(*id),
            wrapped: wrapped.to_vec(),
        })
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedSecret(key id {}, <{} bytes>)",
            self.key_id,
            self.wrapped.len()
        )
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
    /// Caller: a secret to seal is empty or 2³² bytes or more (RFC 5649's range).
    #[error("a secret to seal is 1 to 2^32 - 1 bytes, not {0}")]
    SecretLength(usize),
    /// Storage or operator: the text does not start with [`SEALED_SECRET_PREFIX`].
    #[error("a sealed secret starts with {SEALED_SECRET_PREFIX:?}")]
    NotSealedText,
    /// Storage or operator: what follows the prefix is not hex.
    #[error("a sealed secret is hex after {SEALED_SECRET_PREFIX:?}: {0}")]
    SealedTextHex(String),
    /// Storage or operator: the bytes cannot be a key id and an RFC 5649 wrap (truncated?).
    #[error(
        "a sealed secret is a 4-byte key id and a wrap of 16 bytes or more in 8-byte blocks; \
         found {0} bytes"
    )]
    SealedSecretLength(usize),
    /// Storage or operator: the RFC 5649 checks failed under the key with the record's id
    /// (altered text, or a different key configured under a colliding id).
    #[error("sealed secret failed its integrity check under master key {0}")]
    SecretIntegrity(KeyId),
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

/// Seals `secret` (1 byte or more) under `master` (always the keyring's current key:
/// [`Keyring::seal_secret`]).
pub fn seal_secret(master: &MasterKey, secret: &[u8]) -> Result<SealedSecret, SealError> {
    let wrapped = wrap_with_padding(&Kek::from(&master.key), secret)
        .map_err(|_| SealError::SecretLength(secret.len()))?;
    Ok(SealedSecret {
        key_id: master.id,
        wrapped,
    })
}

/// Opens `sealed` with whichever key of `keyring` sealed it.
pub fn unseal_secret(keyring: &Keyring, sealed: &SealedSecret) -> Result<Vec<u8>, SealError> {
    let master = keyring
        .find(sealed.key_id)
        .ok_or(SealError::UnknownKeyId(sealed.key_id))?;
    unwrap_with_padding(&Kek::from(&master.key), &sealed.wrapped).map_err(|e| match e {
        KeyWrapError::WrappedLength(n) => SealError::SealedSecretLength(n + 4),
        _ => SealError::SecretIntegrity(sealed.key_id),
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

    /// Seals `secret` (1 byte or more) under the current master key.
    pub fn seal_secret(&self, secret: &[u8]) -> Result<SealedSecret, SealError> {
        seal_secret(&self.current, secret)
    }

    /// Opens `sealed` (same as [`unseal_secret`]).
    pub fn unseal_secret(&self, sealed: &SealedSecret) -> Result<Vec<u8>, SealError> {
        unseal_secret(self, sealed)
    }

    /// Whether the background job should re-seal this record (a [`SealedKey`] or a
    /// [`SealedSecret`]): it was sealed by a key other than the current one.
    pub fn needs_reseal(&self, sealed: &impl Sealed) -> bool {
        sealed.key_id() != self.current.id
    }

    /// The record re-sealed under the current key, or `None` when it already is.
    pub fn reseal(&self, sealed: &SealedKey) -> Result<Option<SealedKey>, SealError> {
        if !self.needs_reseal(sealed) {
            return Ok(None);
        }
        let key = self.unseal(sealed)?;
        Ok(Some(self.seal(&key)))
    }

    /// The secret re-sealed under the current key, or `None` when it already is.
    pub fn reseal_secret(&self, sealed: &SealedSecret) -> Result<Option<SealedSecret>, SealError> {
        if !self.needs_reseal(sealed) {
            return Ok(None);
        }
        let secret = self.unseal_secret(sealed)?;
        self.seal_secret(&secret).map(Some)
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

    const TOKEN: &[u8] = b"outbound-token-of-member-b";

    #[test]
    fn a_sealed_secret_is_its_key_id_and_the_rfc5649_wrap_as_hex() {
        // KEK 000102…0f; the wrap computed independently with Python `cryptography`:
        // aes_key_wrap_with_padding(bytes(range(16)), b"outbound-token-of-member-b").hex()
        let kek = MasterKey::new(AesKey::new(std::array::from_fn(|i| i as u8)));
        let ring = Keyring::new(kek.clone(), vec![]).expect("keyring");
        let sealed = ring.seal_secret(TOKEN).expect("sealed");
        let expected = format!(
            "sealed:v1:{}4dea496b7672670ff127c842046a7d29562234f38d1dada02f6798ea2871aa782602472ff940dae2",
            kek.id()
        );
        assert_eq!(sealed.to_string(), expected);
        assert_eq!(
            expected
                .to_ascii_uppercase()
                .replace("SEALED:V1:", "sealed:v1:")
                .parse(),
            Ok(sealed.clone())
        );
        assert_eq!(ring.unseal_secret(&sealed), Ok(TOKEN.to_vec()));
        let debug = format!("{sealed:?}");
        assert_eq!(
            debug,
            format!("SealedSecret(key id {}, <40 bytes>)", kek.id())
        );
    }

    #[test]
    fn a_wrong_master_key_or_altered_text_is_an_error_never_a_wrong_secret() {
        let ring = Keyring::new(master(1), vec![]).expect("keyring");
        let text = ring.seal_secret(TOKEN).expect("sealed").to_string();
        // Another key under the same id (as a colliding id would be): the RFC 5649 check.
        let impostor = Keyring {
            current: MasterKey {
                key: AesKey::new([9; 16]),
                id: master(1).id(),
            },
            retired: vec![],
        };
        let sealed: SealedSecret = text.parse().expect("text");
        assert_eq!(
            impostor.unseal_secret(&sealed),
            Err(SealError::SecretIntegrity(master(1).id()))
        );
        let other = Keyring::new(master(2), vec![]).expect("keyring");
        assert_eq!(
            other.unseal_secret(&sealed),
            Err(SealError::UnknownKeyId(master(1).id()))
        );
        // Every hex digit after the key id, flipped: refused.
        let body = SEALED_SECRET_PREFIX.len() + 8;
        for position in body..text.len() {
            let mut altered = text.clone().into_bytes();
            altered[position] = if altered[position] == b'0' {
                b'1'
            } else {
                b'0'
            };
            let altered = String::from_utf8(altered).expect("ascii");
            let sealed: SealedSecret = altered.parse().expect("still well-formed");
            assert_eq!(
                ring.unseal_secret(&sealed),
                Err(SealError::SecretIntegrity(master(1).id())),
                "{altered}"
            );
        }
        assert_eq!(ring.seal_secret(b""), Err(SealError::SecretLength(0)));
    }

    #[test]
    fn malformed_sealed_text_is_named() {
        assert_eq!(
            "0011".parse::<SealedSecret>(),
            Err(SealError::NotSealedText)
        );
        assert!(matches!(
            "sealed:v1:zz".parse::<SealedSecret>(),
            Err(SealError::SealedTextHex(_))
        ));
        // Key id and 8 bytes: shorter than any RFC 5649 output.
        assert_eq!(
            format!("sealed:v1:{}", "00".repeat(12)).parse::<SealedSecret>(),
            Err(SealError::SealedSecretLength(12))
        );
        assert_eq!(
            format!("sealed:v1:{}", "00".repeat(4 + 17)).parse::<SealedSecret>(),
            Err(SealError::SealedSecretLength(21))
        );
        assert_eq!(
            "sealed:v1:".parse::<SealedSecret>(),
            Err(SealError::SealedSecretLength(0))
        );
    }

    #[test]
    fn rotation_reseals_secrets_under_the_current_key() {
        let old = Keyring::new(master(1), vec![])
            .expect("keyring")
            .seal_secret(TOKEN)
            .expect("sealed");
        let ring = Keyring::new(master(2), vec![master(1)]).expect("keyring");
        assert!(ring.needs_reseal(&old));
        assert_eq!(ring.unseal_secret(&old), Ok(TOKEN.to_vec()));
        let new = ring.reseal_secret(&old).expect("reseal").expect("needed");
        assert_eq!(new.key_id(), master(2).id());
        assert!(!ring.needs_reseal(&new));
        assert_eq!(ring.reseal_secret(&new), Ok(None));
        let after_retirement = Keyring::new(master(2), vec![]).expect("keyring");
        assert_eq!(after_retirement.unseal_secret(&new), Ok(TOKEN.to_vec()));
        assert_eq!(
            after_retirement.reseal_secret(&old),
            Err(SealError::UnknownKeyId(master(1).id()))
        );
    }

    proptest! {
        #[test]
        fn any_secret_round_trips_through_its_text(
            secret in proptest::collection::vec(any::<u8>(), 1..300),
            kek in any::<[u8; 16]>(),
        ) {
            let ring = Keyring::new(MasterKey::new(AesKey::new(kek)), vec![]).expect("keyring");
            let text = ring.seal_secret(&secret).expect("sealed").to_string();
            prop_assert!(text.starts_with(SEALED_SECRET_PREFIX));
            let stored: SealedSecret = text.parse().expect("well-formed");
            prop_assert_eq!(ring.unseal_secret(&stored), Ok(secret));
        }

        #[test]
        fn arbitrary_sealed_text_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let ring = Keyring::new(master(1), vec![master(2)]).expect("keyring");
            let mut text = String::from(SEALED_SECRET_PREFIX);
            text.push_str(&master(1).id().to_string());
            for b in &bytes {
                text.push_str(&format!("{b:02x}"));
            }
            if let Ok(sealed) = text.parse::<SealedSecret>() {
                prop_assert!(ring.unseal_secret(&sealed).is_err());
            }
        }

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
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
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
