//! A device's session: its DevAddr, its session keys and its frame counters.
//!
//! The keys arrive as [`SessionKeys`] (from an ABP provisioning or a join answer) and are
//! prepared once into [`PreparedKeys`]: the uplink MIC key's AES key schedule and CMAC
//! subkeys, so matching a frame against the sessions sharing its DevAddr never expands a key.
//! The other keys are expanded when used (see [`PreparedKeys`] for why).

use std::borrow::Cow;

use lorawan::crypto::{CipherKey, MicKey};
use lorawan::ids::{AesKey, DevAddr};
use lorawan::join::MacVersion;

use crate::mac::MacState;

/// The network's half of the session keys.
#[derive(Clone, PartialEq, Eq)]
pub enum NetworkKeys {
    /// LoRaWAN 1.0.x: one NwkSKey for MICs and FPort-0 payloads.
    V1_0 {
        /// NwkSKey.
        nwk_s_key: AesKey,
    },
    /// LoRaWAN 1.1: integrity and encryption split.
    V1_1 {
        /// FNwkSIntKey (uplink cmacF).
        f_nwk_s_int_key: AesKey,
        /// SNwkSIntKey (uplink cmacS, downlink MIC).
        s_nwk_s_int_key: AesKey,
        /// NwkSEncKey (FOpts and FPort-0 payloads).
        nwk_s_enc_key: AesKey,
    },
}

impl std::fmt::Debug for NetworkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys never reach logs.
        match self {
            NetworkKeys::V1_0 { .. } => f.write_str("NetworkKeys::V1_0(..)"),
            NetworkKeys::V1_1 { .. } => f.write_str("NetworkKeys::V1_1(..)"),
        }
    }
}

/// All of a session's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// The network keys.
    pub network: NetworkKeys,
    /// AppSKey when the join server handed it to us; `None` when the application server
    /// holds it (payloads then go to the AS encrypted).
    pub app_s_key: Option<AesKey>,
}

impl SessionKeys {
    /// Every key with a stable name, for sealing at rest.
    pub fn named(&self) -> Vec<(&'static str, &AesKey)> {
        let mut keys = match &self.network {
            NetworkKeys::V1_0 { nwk_s_key } => vec![("NwkSKey", nwk_s_key)],
            NetworkKeys::V1_1 {
                f_nwk_s_int_key,
                s_nwk_s_int_key,
                nwk_s_enc_key,
            } => vec![
                ("FNwkSIntKey", f_nwk_s_int_key),
                ("SNwkSIntKey", s_nwk_s_int_key),
                ("NwkSEncKey", nwk_s_enc_key),
            ],
        };
        if let Some(app_s_key) = &self.app_s_key {
            keys.push(("AppSKey", app_s_key));
        }
        keys
    }
}

impl SessionKeys {
    /// Whether the network keys are the 1.1 split ones.
    pub fn split(&self) -> bool {
        matches!(self.network, NetworkKeys::V1_1 { .. })
    }

    /// SNwkSIntKey (1.1 uplink `cmacS`, downlink MIC, rejoin-request MIC; the NwkSKey in
    /// 1.0), expanded now. [`PreparedKeys::s_nwk_s_int`] saves the expansion in 1.0.
    pub fn s_nwk_s_int(&self) -> MicKey {
        match &self.network {
            NetworkKeys::V1_0 { nwk_s_key } => MicKey::new(nwk_s_key),
            NetworkKeys::V1_1 {
                s_nwk_s_int_key, ..
            } => MicKey::new(s_nwk_s_int_key),
        }
    }

    /// The FPort-0 payload and 1.1 FOpts key, expanded now: NwkSKey (1.0) or NwkSEncKey (1.1).
    pub fn nwk_s_enc(&self) -> CipherKey {
        match &self.network {
            NetworkKeys::V1_0 { nwk_s_key } => CipherKey::new(nwk_s_key),
            NetworkKeys::V1_1 { nwk_s_enc_key, .. } => CipherKey::new(nwk_s_enc_key),
        }
    }

    /// AppSKey, expanded now, when we hold it.
    pub fn app_s(&self) -> Option<CipherKey> {
        self.app_s_key.as_ref().map(CipherKey::new)
    }
}

/// The session key the hot path keeps expanded: the uplink MIC key.
///
/// It is the one computed for every candidate session sharing a DevAddr, for every frame,
/// before we know which device sent it. An expanded key costs ≈ 700 bytes (the `aes` crate's
/// run-time AES-NI / software dispatch stores the 704-byte software key schedule even where
/// AES-NI runs), so with a million devices in memory the other keys (SNwkSIntKey in 1.1,
/// NwkSEncKey, AppSKey) stay as the session's 16 raw bytes ([`SessionKeys`]) and are
/// expanded when used: once per accepted 1.1 uplink, per payload to decrypt, per downlink
/// built (a key expansion is tens of nanoseconds).
#[derive(Clone)]
pub struct PreparedKeys {
    /// Uplink MIC key: NwkSKey (1.0) or FNwkSIntKey (1.1, `cmacF`), expanded.
    uplink_mic: MicKey,
}

impl std::fmt::Debug for PreparedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreparedKeys(..)")
    }
}

impl PreparedKeys {
    /// Expands the uplink MIC key of `keys`.
    pub fn new(keys: &SessionKeys) -> Self {
        let uplink_mic = match &keys.network {
            NetworkKeys::V1_0 { nwk_s_key } => MicKey::new(nwk_s_key),
            NetworkKeys::V1_1 {
                f_nwk_s_int_key, ..
            } => MicKey::new(f_nwk_s_int_key),
        };
        Self { uplink_mic }
    }

    /// The uplink MIC key, already expanded: NwkSKey (1.0) or FNwkSIntKey (1.1 `cmacF`).
    pub fn f_nwk_s_int(&self) -> &MicKey {
        &self.uplink_mic
    }

    /// SNwkSIntKey of `keys`, the session these keys were prepared from: in 1.0 the NwkSKey,
    /// already expanded here; in 1.1 expanded now.
    pub fn s_nwk_s_int<'a>(&'a self, keys: &SessionKeys) -> Cow<'a, MicKey> {
        if keys.split() {
            Cow::Owned(keys.s_nwk_s_int())
        } else {
            Cow::Borrowed(&self.uplink_mic)
        }
    }
}

/// A device's session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The address the device uses in this session.
    pub dev_addr: DevAddr,
    /// The L2 version the session runs (a 1.1 device joined through a 1.0 join server runs 1.0).
    pub mac_version: MacVersion,
    /// Its keys.
    pub keys: SessionKeys,
    /// The next uplink frame counter we accept: last accepted FCntUp + 1 (0 when fresh).
    pub f_cnt_up_next: u32,
    /// The next network downlink counter to use (NFCntDown in 1.1; the only FCntDown in 1.0).
    pub n_f_cnt_down: u32,
    /// The next application downlink counter to use (AFCntDown, 1.1 only).
    pub a_f_cnt_down: u32,
    /// FCnt of the last confirmed downlink sent, for the 1.1 uplink MIC when the device
    /// acknowledges it (ConfFCnt).
    pub last_confirmed_down: Option<u32>,
    /// The MAC layer's view of the session; `None` until its first uplink builds it from
    /// the device profile.
    pub mac: Option<MacState>,
    /// RJcount0 of the last rejoin-request of type 0 or 2 accepted in this session (1.1):
    /// a rejoin-request must carry a higher one, so a replayed one cannot reset the session.
    pub rj_count0_last: Option<u16>,
}

impl Session {
    /// A fresh session (after a join, or a new ABP provisioning).
    pub fn new(dev_addr: DevAddr, mac_version: MacVersion, keys: SessionKeys) -> Self {
        Self {
            dev_addr,
            mac_version,
            keys,
            f_cnt_up_next: 0,
            n_f_cnt_down: 0,
            a_f_cnt_down: 0,
            last_confirmed_down: None,
            mac: None,
            rj_count0_last: None,
        }
    }

    /// Whether the session uses the 1.1 frame rules (split keys, split downlink counters).
    pub fn is_1_1(&self) -> bool {
        matches!(self.keys.network, NetworkKeys::V1_1 { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(b: u8) -> AesKey {
        AesKey::new([b; 16])
    }

    fn same_mic(a: &MicKey, b: &MicKey) -> bool {
        a.cmac(&[b"probe"]) == b.cmac(&[b"probe"])
    }

    fn same_cipher(a: &CipherKey, b: &CipherKey) -> bool {
        a.encrypt_block([7; 16]) == b.encrypt_block([7; 16])
    }

    #[test]
    fn prepared_keys_give_each_role_its_key() {
        let v1_1 = SessionKeys {
            network: NetworkKeys::V1_1 {
                f_nwk_s_int_key: k(1),
                s_nwk_s_int_key: k(2),
                nwk_s_enc_key: k(3),
            },
            app_s_key: Some(k(4)),
        };
        let prepared = PreparedKeys::new(&v1_1);
        assert!(v1_1.split());
        assert!(same_mic(prepared.f_nwk_s_int(), &MicKey::new(&k(1))));
        assert!(same_mic(&prepared.s_nwk_s_int(&v1_1), &MicKey::new(&k(2))));
        assert!(same_mic(&v1_1.s_nwk_s_int(), &MicKey::new(&k(2))));
        assert!(same_cipher(&v1_1.nwk_s_enc(), &CipherKey::new(&k(3))));
        assert!(same_cipher(&v1_1.app_s().unwrap(), &CipherKey::new(&k(4))));

        let v1_0 = SessionKeys {
            network: NetworkKeys::V1_0 { nwk_s_key: k(5) },
            app_s_key: None,
        };
        let prepared = PreparedKeys::new(&v1_0);
        assert!(!v1_0.split());
        assert!(same_mic(prepared.f_nwk_s_int(), &MicKey::new(&k(5))));
        // 1.0: the downlink MIC key is the uplink one, not expanded again.
        assert!(matches!(prepared.s_nwk_s_int(&v1_0), Cow::Borrowed(_)));
        assert!(same_mic(&prepared.s_nwk_s_int(&v1_0), &MicKey::new(&k(5))));
        assert!(same_mic(&v1_0.s_nwk_s_int(), &MicKey::new(&k(5))));
        assert!(same_cipher(&v1_0.nwk_s_enc(), &CipherKey::new(&k(5))));
        assert!(v1_0.app_s().is_none());
    }

    #[test]
    fn prepared_keys_never_show_a_key() {
        let keys = PreparedKeys::new(&SessionKeys {
            network: NetworkKeys::V1_0 {
                nwk_s_key: AesKey::new([0xab; 16]),
            },
            app_s_key: Some(AesKey::new([0xcd; 16])),
        });
        let shown = format!("{keys:?}");
        assert_eq!(shown, "PreparedKeys(..)");
    }
}
