//! A device as the join server keeps it, tying the other modules together: an
//! [`ImportRow`] becomes a [`DeviceRecord`] (root keys sealed, owner token hashed, lifecycle
//! started) plus the clear [`OwnerToken`] returned once; claims verify the token against the
//! record before the lifecycle decides.

use lorawan::ids::{AesKey, Eui64};
use lorawan::join::MacVersion;

use super::import::ImportRow;
use super::lifecycle::{ClaimError, ClaimOutcome, Home, Lifecycle};
use super::sealing::{Keyring, SealError, SealedKey};
use super::token::{OwnerToken, OwnerTokenHash, RandomError};

/// What storage keeps per device: nothing in it is a clear secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// DevEUI.
    pub dev_eui: Eui64,
    /// JoinEUI.
    pub join_eui: Eui64,
    /// LoRaWAN L2 version.
    pub mac_version: MacVersion,
    /// Device profile, as imported.
    pub profile_id: Option<String>,
    /// AppKey, sealed.
    pub app_key: SealedKey,
    /// NwkKey (1.1), sealed.
    pub nwk_key: Option<SealedKey>,
    /// Hash of the owner token.
    pub owner_token: OwnerTokenHash,
    /// State and history.
    pub lifecycle: Lifecycle,
}

/// A device's root keys in clear, for the join procedure only. `Debug` is redacted by
/// [`AesKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootKeys {
    /// AppKey.
    pub app_key: AesKey,
    /// NwkKey (1.1 devices).
    pub nwk_key: Option<AesKey>,
}

/// Pre-commissions one imported device at `at` (unix seconds); `batch` names the import in
/// the history. Returns the record to store and the token to hand to the manufacturer.
pub fn commission(
    row: &ImportRow,
    keyring: &Keyring,
    at: u64,
    batch: &str,
) -> Result<(DeviceRecord, OwnerToken), RandomError> {
    let token = OwnerToken::generate()?;
    let record = DeviceRecord {
        dev_eui: row.dev_eui,
        join_eui: row.join_eui,
        mac_version: row.mac_version,
        profile_id: row.profile_id.clone(),
        app_key: keyring.seal(&row.app_key),
        nwk_key: row.nwk_key.map(|k| keyring.seal(&k)),
        owner_token: token.hash(row.dev_eui),
        lifecycle: Lifecycle::imported(at, format!("imported in batch {batch}, line {}", row.line)),
    };
    Ok((record, token))
}

/// A claim on the device storage found for the DevEUI (`None`: no such device, reported as
/// [`ClaimError::NotPreCommissioned`]). The token is verified in constant time against the
/// stored hash, then the lifecycle decides; on error the record is unchanged.
pub fn claim(
    record: Option<&mut DeviceRecord>,
    token: &OwnerToken,
    home: Home,
    at: u64,
) -> Result<ClaimOutcome, ClaimError> {
    let record = record.ok_or(ClaimError::NotPreCommissioned)?;
    let check = record.owner_token.verify(record.dev_eui, token);
    record.lifecycle.claim(check, home, at)
}

impl DeviceRecord {
    /// The clear root keys, unsealed with whichever keyring key sealed them.
    pub fn root_keys(&self, keyring: &Keyring) -> Result<RootKeys, SealError> {
        Ok(RootKeys {
            app_key: keyring.unseal(&self.app_key)?,
            nwk_key: self.nwk_key.map(|k| keyring.unseal(&k)).transpose()?,
        })
    }

    /// Whether the rotation job has work here.
    pub fn needs_reseal(&self, keyring: &Keyring) -> bool {
        keyring.needs_reseal(&self.app_key)
            || self.nwk_key.is_some_and(|k| keyring.needs_reseal(&k))
    }

    /// Re-seals the root keys under the keyring's current key; `true` when anything changed
    /// (the caller then writes the record back).
    pub fn reseal(&mut self, keyring: &Keyring) -> Result<bool, SealError> {
        let app_key = keyring.reseal(&self.app_key)?;
        let nwk_key = match &self.nwk_key {
            Some(k) => keyring.reseal(k)?,
            None => None,
        };
        let changed = app_key.is_some() || nwk_key.is_some();
        if let Some(k) = app_key {
            self.app_key = k;
        }
        if let Some(k) = nwk_key {
            self.nwk_key = Some(k);
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::lifecycle::DeviceState;
    use crate::device::sealing::MasterKey;
    use lorawan::ids::NetId;

    fn keyring(byte: u8, retired: &[u8]) -> Keyring {
        let key = |b: u8| MasterKey::new(AesKey::new([b; 16]));
        Keyring::new(key(byte), retired.iter().map(|&b| key(b)).collect()).expect("keyring")
    }

    fn row() -> ImportRow {
        ImportRow {
            line: 2,
            dev_eui: Eui64::from_u64(1),
            join_eui: Eui64::from_u64(2),
            mac_version: MacVersion::V1_1,
            app_key: AesKey::new([3; 16]),
            nwk_key: Some(AesKey::new([4; 16])),
            profile_id: None,
        }
    }

    fn home() -> Home {
        Home {
            net_id: NetId::from_u32(0x13).expect("24 bits"),
            nsid: None,
        }
    }

    #[test]
    fn commission_seals_keys_hashes_the_token_and_starts_generic() {
        let ring = keyring(1, &[]);
        let (record, token) = commission(&row(), &ring, 10, "batch-1").expect("random");
        assert_eq!(record.lifecycle.state, DeviceState::Generic);
        assert_eq!(
            record.lifecycle.history.events()[0].detail,
            "imported in batch batch-1, line 2"
        );
        assert_eq!(
            record.root_keys(&ring),
            Ok(RootKeys {
                app_key: AesKey::new([3; 16]),
                nwk_key: Some(AesKey::new([4; 16])),
            })
        );
        assert_eq!(record.owner_token, token.hash(record.dev_eui));
    }

    #[test]
    fn claims_check_the_token_and_missing_devices() {
        let ring = keyring(1, &[]);
        let (mut record, token) = commission(&row(), &ring, 10, "b").expect("random");
        let wrong = OwnerToken::from_bytes([0; 16]);
        assert_eq!(
            claim(None, &token, home(), 11),
            Err(ClaimError::NotPreCommissioned)
        );
        assert_eq!(
            claim(Some(&mut record), &wrong, home(), 11),
            Err(ClaimError::InvalidToken)
        );
        assert_eq!(
            claim(Some(&mut record), &token, home(), 12),
            Ok(ClaimOutcome::Claimed)
        );
        assert_eq!(record.lifecycle.state.home(), Some(home()));
    }

    #[test]
    fn reseal_moves_every_key_to_the_current_master_key() {
        let (mut record, _) = commission(&row(), &keyring(1, &[]), 10, "b").expect("random");
        let rotated = keyring(2, &[1]);
        assert!(record.needs_reseal(&rotated));
        assert_eq!(record.reseal(&rotated), Ok(true));
        assert!(!record.needs_reseal(&rotated));
        assert_eq!(record.reseal(&rotated), Ok(false));
        let keys = record.root_keys(&keyring(2, &[])).expect("unseal");
        assert_eq!(keys.nwk_key, Some(AesKey::new([4; 16])));
    }
}
