//! A device's session: its DevAddr, its session keys and its frame counters.
//!
//! The keys arrive as [`SessionKeys`] (from an ABP provisioning or a join answer) and are
//! prepared once into [`PreparedKeys`] (AES key schedules, CMAC subkeys), so the uplink hot
//! path never expands a key.

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

/// Session keys with their key schedules computed, for the hot path.
#[derive(Clone)]
pub struct PreparedKeys {
    /// Uplink MIC key: NwkSKey (1.0) or FNwkSIntKey (1.1).
    pub f_nwk_s_int: MicKey,
    /// 1.1 SNwkSIntKey: uplink cmacS and downlink MIC (the NwkSKey again in 1.0).
    pub s_nwk_s_int: MicKey,
    /// FPort-0 payload and 1.1 FOpts key: NwkSKey (1.0) or NwkSEncKey (1.1).
    pub nwk_s_enc: CipherKey,
    /// AppSKey, when we hold it.
    pub app_s: Option<CipherKey>,
    /// Whether the network keys are the 1.1 split ones.
    pub split: bool,
}

impl std::fmt::Debug for PreparedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreparedKeys(..)")
    }
}

impl PreparedKeys {
    /// Expands every key once.
    pub fn new(keys: &SessionKeys) -> Self {
        let (f, s, e, split) = match &keys.network {
            NetworkKeys::V1_0 { nwk_s_key } => (nwk_s_key, nwk_s_key, nwk_s_key, false),
            NetworkKeys::V1_1 {
                f_nwk_s_int_key,
                s_nwk_s_int_key,
                nwk_s_enc_key,
            } => (f_nwk_s_int_key, s_nwk_s_int_key, nwk_s_enc_key, true),
        };
        Self {
            f_nwk_s_int: MicKey::new(f),
            s_nwk_s_int: MicKey::new(s),
            nwk_s_enc: CipherKey::new(e),
            app_s: keys.app_s_key.as_ref().map(CipherKey::new),
            split,
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
