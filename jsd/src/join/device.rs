//! What a join decision needs to know about a device, as plain data the storage layer loads and
//! saves: identity, root keys, the claimed home network, where the AppSKey goes, and the nonce
//! state that makes every join-accept unique.

use std::fmt;

use lorawan::ids::{AesKey, DevAddr, Eui64};
use lorawan::join::{DevNonceError, DevNoncePolicy, JoinNonce, JoinNonceError, MacVersion};
use sha2::{Digest, Sha256};

/// How many recent DevNonces the JS keeps for a LoRaWAN ≤ 1.0.3 device (random DevNonces).
///
/// LoRaWAN 1.0.3 §6.2.4: the server "keeps track of a certain number of DevNonce values used by
/// the end-device in the past". 64 values cost 128 bytes per device and reject an honest random
/// DevNonce with probability 64 / 65536 ≈ 0.1 % per join (the device simply retries with another).
pub const DEV_NONCE_HISTORY_LEN: usize = 64;

/// A device as the join logic sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinDevice {
    /// DevEUI.
    pub dev_eui: Eui64,
    /// The JoinEUI the device was provisioned with (AppEUI in LoRaWAN 1.0.x).
    pub join_eui: Eui64,
    /// The LoRaWAN version the device was provisioned with. This, not the MACVersion a network
    /// server claims in a JoinReq, decides the DevNonce rule and the join-request MIC key.
    pub mac_version: MacVersion,
    /// AppKey: the only root key of a 1.0.x device; the AppSKey root of a 1.1 device.
    pub app_key: AesKey,
    /// NwkKey: LoRaWAN 1.1 devices only (join-request MIC, network session keys, JSIntKey /
    /// JSEncKey). `None` for 1.0.x devices.
    pub nwk_key: Option<AesKey>,
    /// The claimed home network; `None` for a device nobody has claimed (it may not activate).
    pub home: Option<Home>,
    /// Where the AppSKey of a new session goes.
    pub app_s_key_delivery: AppSKeyDelivery,
    /// DevNonce / JoinNonce / RJcount1 state, as last persisted.
    pub nonces: NonceState,
}

impl JoinDevice {
    /// The key of the join-request MIC: AppKey for a 1.0.x device, NwkKey for a 1.1 device
    /// (TS001-1.1 §6.2.2: "cmac = aes128_cmac(NwkKey, MHDR | JoinEUI | DevEUI | DevNonce)").
    /// `None` when a 1.1 device has no NwkKey on record.
    pub fn join_request_mic_key(&self) -> Option<&AesKey> {
        match self.mac_version {
            MacVersion::V1_1 => self.nwk_key.as_ref(),
            _ => Some(&self.app_key),
        }
    }
}

/// The network that claimed a device: the only one that may activate it (one type for the
/// claim and the join, see [`crate::device::Home`]).
pub use crate::device::Home;

/// Where the JS delivers the AppSKey of a new session (a per-device setting).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AppSKeyDelivery {
    /// In the JoinAns, wrapped with the KEK agreed with the network server (which passes it on
    /// to its application server).
    ToNetworkServer,
    /// Withheld from the network server: the JoinAns carries only the SessionKeyID, and the
    /// named application server fetches the key with an AppSKeyReq.
    ToApplicationServer {
        /// The AS-ID (the AppSKeyReq SenderID) of the application server allowed to fetch it.
        as_id: String,
    },
}

/// The per-device nonce state. A decision returns the next state; the caller persists it
/// **before** sending the answer (see [`crate::join::join_req::decide_join`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NonceState {
    /// The last accepted DevNonce (any version).
    pub dev_nonce_last: Option<u16>,
    /// The recently accepted DevNonces of a LoRaWAN ≤ 1.0.3 device, oldest first, at most
    /// [`DEV_NONCE_HISTORY_LEN`]. Empty for 1.0.4 / 1.1 devices (their DevNonce is a counter).
    pub dev_nonce_history: Vec<u16>,
    /// The last JoinNonce sent in a join-accept (join or rejoin); `None` before the first.
    pub join_nonce_last: Option<JoinNonce>,
    /// The last accepted RJcount1 (LoRaWAN 1.1 rejoin-request type 1).
    pub rj_count1_last: Option<u16>,
}

impl NonceState {
    /// Judges a join-request's DevNonce with the rule of `version` (the device's provisioned
    /// version): reuse of a recent value for ≤ 1.0.3, not greater than the last for 1.0.4 / 1.1.
    pub fn check_dev_nonce(
        &self,
        version: MacVersion,
        dev_nonce: u16,
    ) -> Result<(), DevNonceError> {
        let policy = DevNoncePolicy::for_version(version);
        let last: Vec<u16> = self.dev_nonce_last.into_iter().collect();
        if policy == DevNoncePolicy::RandomNoReuse {
            // The last one is normally in the history too; it is checked on its own as well
            // for a device whose version was changed from a counter one (empty history).
            policy.check(&self.dev_nonce_history, dev_nonce)?;
        }
        policy.check(&last, dev_nonce)
    }

    /// The state after accepting `dev_nonce` from a device of `version`.
    pub fn with_dev_nonce(mut self, version: MacVersion, dev_nonce: u16) -> Self {
        self.dev_nonce_last = Some(dev_nonce);
        match DevNoncePolicy::for_version(version) {
            DevNoncePolicy::RandomNoReuse => {
                self.dev_nonce_history.push(dev_nonce);
                let excess = self
                    .dev_nonce_history
                    .len()
                    .saturating_sub(DEV_NONCE_HISTORY_LEN);
                self.dev_nonce_history.drain(..excess);
            }
            DevNoncePolicy::Counter => self.dev_nonce_history.clear(),
        }
        self
    }

    /// The JoinNonce of the next join-accept: the last one plus one, the first being 1
    /// (TS001-1.0.4 §6.2.3 "the Join Server SHALL increment the JoinNonce value by 1 for every
    /// Join-accept"); it never wraps ([`JoinNonceError::Exhausted`] after `2^24 - 1`).
    pub fn next_join_nonce(&self) -> Result<JoinNonce, JoinNonceError> {
        self.join_nonce_last.unwrap_or_default().next()
    }

    /// The state after sending `join_nonce`.
    pub fn with_join_nonce(mut self, join_nonce: JoinNonce) -> Self {
        self.join_nonce_last = Some(join_nonce);
        self
    }
}

/// A session the JS created: what it keeps to answer an AppSKeyReq later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The SessionKeyID given to the NS (and by it to the AS).
    pub session_key_id: SessionKeyId,
    /// The AppSKey of the session (seal it at rest).
    pub app_s_key: AesKey,
    /// The JoinNonce of the join-accept that opened the session.
    pub join_nonce: JoinNonce,
    /// The DevAddr the NS assigned.
    pub dev_addr: DevAddr,
}

/// A SessionKeyID (TS002 §6.3: chosen by the JS, unique per device session, quoted by the AS in
/// AppSKeyReq). 16 bytes: the first half of
/// `SHA-256("switchyard-jsd SessionKeyID" | DevEUI | JoinEUI | JoinNonce)` (LE air bytes). As
/// JoinNonce never repeats for a device, neither does the id; the hash keeps the JoinNonce
/// (sent encrypted on the air) out of the NS's and AS's sight. Deterministic, so the pure
/// decision needs no random source.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionKeyId([u8; 16]);

impl SessionKeyId {
    /// The id of the session opened by `join_nonce`.
    pub fn derive(dev_eui: Eui64, join_eui: Eui64, join_nonce: JoinNonce) -> Self {
        let digest = Sha256::new()
            .chain_update(b"switchyard-jsd SessionKeyID")
            .chain_update(dev_eui.to_le_bytes())
            .chain_update(join_eui.to_le_bytes())
            .chain_update(join_nonce.to_le_bytes())
            .finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        Self(id)
    }

    /// From stored bytes; `None` unless exactly 16.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(bytes).ok().map(Self)
    }

    /// The bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for SessionKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for SessionKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionKeyId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_dev_nonces_must_increase_without_wrap() {
        // devnonce_joinnonce_rules.json "js-1.0.4-devnonce-counter".
        let mut state = NonceState::default();
        let v = MacVersion::V1_0_4;
        for (dev_nonce, accepted) in [
            (0, true),
            (0, false),
            (1, true),
            (5, true),
            (3, false),
            (65535, true),
            (0, false),
        ] {
            assert_eq!(
                state.check_dev_nonce(v, dev_nonce).is_ok(),
                accepted,
                "{dev_nonce}"
            );
            if accepted {
                state = state.with_dev_nonce(v, dev_nonce);
            }
        }
        assert!(state.dev_nonce_history.is_empty());
    }

    #[test]
    fn random_dev_nonces_keep_a_bounded_history() {
        // devnonce_joinnonce_rules.json "js-1.0.3-random-devnonce".
        let v = MacVersion::V1_0_2;
        let state = NonceState::default().with_dev_nonce(v, 4660);
        assert_eq!(
            state.check_dev_nonce(v, 4660),
            Err(DevNonceError::Reused(4660))
        );
        assert!(state.check_dev_nonce(v, 1).is_ok());
        let mut state = state;
        for n in 0..200u16 {
            state = state.with_dev_nonce(v, 1000 + n);
        }
        assert_eq!(state.dev_nonce_history.len(), DEV_NONCE_HISTORY_LEN);
        assert_eq!(state.dev_nonce_history.first(), Some(&(1000 + 200 - 64)));
        assert!(state.check_dev_nonce(v, 1199).is_err());
        assert!(state.check_dev_nonce(v, 4660).is_ok(), "forgotten long ago");
    }

    #[test]
    fn join_nonces_start_at_one_and_never_wrap() {
        let state = NonceState::default();
        assert_eq!(state.next_join_nonce().map(JoinNonce::get), Ok(1));
        let state = state.with_join_nonce(JoinNonce::MAX);
        assert_eq!(state.next_join_nonce(), Err(JoinNonceError::Exhausted));
    }

    #[test]
    fn session_key_ids_differ_per_join_nonce() {
        let a = Eui64::from_u64(1);
        let b = Eui64::from_u64(2);
        let n1 = JoinNonce::new(1).unwrap();
        let n2 = JoinNonce::new(2).unwrap();
        assert_ne!(
            SessionKeyId::derive(a, b, n1),
            SessionKeyId::derive(a, b, n2)
        );
        let id = SessionKeyId::derive(a, b, n1);
        assert_eq!(SessionKeyId::from_slice(id.as_bytes()), Some(id));
        assert_eq!(id.to_string().len(), 32);
        assert!(SessionKeyId::from_slice(&[0; 15]).is_none());
    }
}
