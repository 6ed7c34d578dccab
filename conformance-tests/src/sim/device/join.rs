//! The join side of the simulated device: join-requests, LoRaWAN 1.1 rejoin-requests and
//! join-accepts (TS001 1.0.4 §6.2, LoRaWAN 1.1 §6.2).

use super::{Device, DeviceError, MacVersion, PendingJoin, RxSettings, Session, SessionKeys};
use crate::sim::crypto::{
    self, derive_1_0, derive_1_1, js_enc_key, js_int_key, CipherKey, DevAddr, MicKey,
};

/// What a device learned from a verified join-accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinAccepted {
    /// JoinNonce.
    pub join_nonce: u32,
    /// Home NetID.
    pub net_id: u32,
    /// The device's new DevAddr.
    pub dev_addr: DevAddr,
    /// Whether OptNeg was set (a 1.1 network answering a 1.1 device).
    pub opt_neg: bool,
    /// Receive windows.
    pub rx: RxSettings,
    /// The CFList, when present (16 bytes, CFListType last).
    pub cf_list: Option<[u8; 16]>,
}

/// A LoRaWAN 1.1 rejoin-request type (1.1 §6.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejoinType {
    /// Type 0: NetID + DevEUI, RJcount0, MIC with SNwkSIntKey.
    Type0,
    /// Type 1: JoinEUI + DevEUI, RJcount1, MIC with JSIntKey.
    Type1,
    /// Type 2: as type 0 (rekey only).
    Type2,
}

impl Device {
    /// Builds a join-request with the next DevNonce: the counter for 1.0.4 / 1.1, a random
    /// value never sent before for 1.0.2 / 1.0.3 (1.0.3 §6.2.4: "DevNonce is a random value").
    ///
    /// 1.0.4 §6.2.5: "DevNonce is a counter starting at 0 when the end-device is initially
    /// powered up and incremented with every Join-Request. A DevNonce value SHALL never be
    /// reused for a given JoinEUI value."
    pub fn join_request(&mut self) -> Result<[u8; 23], DeviceError> {
        if self.otaa.is_none() {
            return Err(DeviceError::NotOtaa);
        }
        let dev_nonce = if self.version.dev_nonce_is_counter() {
            let n =
                u16::try_from(self.next_dev_nonce).map_err(|_| DeviceError::DevNonceExhausted)?;
            self.next_dev_nonce += 1;
            n
        } else {
            self.random_dev_nonce()?
        };
        self.join_request_with_dev_nonce(dev_nonce)
    }

    /// Builds a join-request with the DevNonce given (a replay, a chosen value); the counter
    /// of a 1.0.4 / 1.1 device moves past it.
    pub fn join_request_with_dev_nonce(&mut self, dev_nonce: u16) -> Result<[u8; 23], DeviceError> {
        let keys = self.otaa.as_ref().ok_or(DeviceError::NotOtaa)?;
        // 1.0.4 §6.2.5 / 1.1 §6.2.2: the MIC key is the AppKey (1.0) or the NwkKey (1.1).
        let key = match (self.version, keys.nwk_key) {
            (MacVersion::V1_1, Some(nwk_key)) => nwk_key,
            (MacVersion::V1_1, None) => return Err(DeviceError::MissingNwkKey),
            _ => keys.app_key,
        };
        let phy = crate::load::frame::join_request(&key, keys.join_eui, keys.dev_eui, dev_nonce);
        if self.version.dev_nonce_is_counter() {
            self.next_dev_nonce = self.next_dev_nonce.max(u32::from(dev_nonce) + 1);
        } else if !self.used_dev_nonces.contains(&dev_nonce) {
            self.used_dev_nonces.push(dev_nonce);
        }
        self.pending = Some(PendingJoin {
            req_type: 0xff,
            nonce: dev_nonce,
        });
        Ok(phy)
    }

    fn random_dev_nonce(&mut self) -> Result<u16, DeviceError> {
        if self.used_dev_nonces.len() > 0xffff {
            return Err(DeviceError::DevNonceExhausted);
        }
        loop {
            // splitmix64
            self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            let candidate = (z ^ (z >> 31)) as u16;
            if !self.used_dev_nonces.contains(&candidate) {
                return Ok(candidate);
            }
        }
    }

    /// Builds a LoRaWAN 1.1 rejoin-request (1.1 §6.2.4): type 0 / 2 `NetID | DevEUI |
    /// RJcount0` signed with SNwkSIntKey, type 1 `JoinEUI | DevEUI | RJcount1` signed with
    /// JSIntKey. Needs an OTAA 1.1 device with a 1.1 session (and, for 0 / 2, a NetID).
    pub fn rejoin_request(&mut self, kind: RejoinType) -> Result<Vec<u8>, DeviceError> {
        if self.version != MacVersion::V1_1 {
            return Err(DeviceError::Version("rejoin-requests are LoRaWAN 1.1"));
        }
        let keys = self.otaa.ok_or(DeviceError::NotOtaa)?;
        let nwk_key = keys.nwk_key.ok_or(DeviceError::MissingNwkKey)?;
        let session = self.session.as_mut().ok_or(DeviceError::NotActivated)?;
        if !session.crypto.v1_1 {
            return Err(DeviceError::Version("rejoin on a 1.0-mode session"));
        }
        let mut phy = Vec::with_capacity(24);
        phy.push(0xc0);
        let (req_type, nonce) = match kind {
            RejoinType::Type0 | RejoinType::Type2 => {
                let net_id = session
                    .net_id
                    .ok_or(DeviceError::Version("no NetID known"))?;
                let t = if kind == RejoinType::Type0 { 0 } else { 2 };
                phy.push(t);
                phy.extend_from_slice(&net_id.to_le_bytes()[..3]);
                phy.extend_from_slice(&keys.dev_eui.air_bytes());
                let n = session.rj_count0;
                phy.extend_from_slice(&n.to_le_bytes());
                let mic = session.crypto.s_nwk_s_int.mic(&[&phy]);
                phy.extend_from_slice(&mic);
                session.rj_count0 = n.wrapping_add(1);
                (t, n)
            }
            RejoinType::Type1 => {
                phy.push(1);
                phy.extend_from_slice(&keys.join_eui.air_bytes());
                phy.extend_from_slice(&keys.dev_eui.air_bytes());
                let n = self.rj_count1;
                phy.extend_from_slice(&n.to_le_bytes());
                let mic = MicKey::new(&js_int_key(&nwk_key, keys.dev_eui)).mic(&[&phy]);
                phy.extend_from_slice(&mic);
                self.rj_count1 = n.wrapping_add(1);
                (1, n)
            }
        };
        self.pending = Some(PendingJoin { req_type, nonce });
        Ok(phy)
    }

    /// Checks a join-accept against the pending join- or rejoin-request and, when it
    /// verifies, starts the new session: decryption with AppKey (1.0.x), NwkKey (1.1 join) or
    /// JSEncKey (1.1 rejoin); MIC in the 1.1 form with JSIntKey when OptNeg is set, else in the
    /// 1.0 form; JoinNonce rule; session keys for 1.0 or 1.1. A frame that fails leaves the
    /// request pending (a device listens in both receive windows).
    pub fn accept_join_accept(&mut self, phy: &[u8]) -> Result<JoinAccepted, DeviceError> {
        let keys = self.otaa.ok_or(DeviceError::NotOtaa)?;
        let pending = self.pending.ok_or(DeviceError::NoPendingJoin)?;
        if phy.len() != 17 && phy.len() != 33 {
            return Err(DeviceError::Length(phy.len()));
        }
        if phy[0] != 0x20 {
            return Err(DeviceError::Mhdr(phy[0]));
        }
        let is_1_1 = self.version == MacVersion::V1_1;
        let nwk_key = keys.nwk_key.unwrap_or(keys.app_key);
        // 1.1 §6.2.3: encrypted with NwkKey answering a join-request, JSEncKey a rejoin.
        let decrypt_key = match (is_1_1, pending.req_type) {
            (false, _) => keys.app_key,
            (true, 0xff) => nwk_key,
            (true, _) => js_enc_key(&nwk_key, keys.dev_eui),
        };
        let mut clear = [0_u8; 33];
        let clear = &mut clear[..phy.len()];
        clear.copy_from_slice(phy);
        CipherKey::new(&decrypt_key).encrypt_blocks(&mut clear[1..]);
        let (msg, mic) = clear.split_at(clear.len() - 4);
        let dl_settings = msg[11];
        let opt_neg = is_1_1 && dl_settings & 0x80 != 0;
        let expected = if opt_neg {
            let js_int = MicKey::new(&js_int_key(&nwk_key, keys.dev_eui));
            crypto::join_accept_mic(
                &js_int,
                Some((pending.req_type, keys.join_eui, pending.nonce)),
                msg,
            )
        } else {
            if is_1_1 && pending.req_type != 0xff {
                // A rejoin is answered by a 1.1 network only.
                return Err(DeviceError::Mic);
            }
            crypto::join_accept_mic(&MicKey::new(&decrypt_key), None, msg)
        };
        if !crypto::mic_eq(&expected, mic) {
            return Err(DeviceError::Mic);
        }
        let le24 = |b: &[u8]| u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
        let join_nonce = le24(&msg[1..4]);
        let net_id = le24(&msg[4..7]);
        if let Some(last) = self.last_join_nonce {
            // 1.1 §6.2.3 (paraphrased): the device accepts a join-accept only if its JoinNonce
            // is greater than the last one it stored. A 1.0.x device (LoRaMac-node's default)
            // only refuses the same JoinNonce again.
            let refused = if is_1_1 {
                join_nonce <= last
            } else {
                join_nonce == last
            };
            if refused {
                return Err(DeviceError::JoinNonce { join_nonce, last });
            }
        }
        let dev_addr = DevAddr(u32::from_le_bytes([msg[7], msg[8], msg[9], msg[10]]));
        let rx = RxSettings {
            rx1_dr_offset: (dl_settings >> 4) & 0x07,
            rx2_dr: dl_settings & 0x0f,
            rx1_delay_s: (msg[12] & 0x0f).max(1),
        };
        let cf_list = msg.get(13..29).and_then(|c| <[u8; 16]>::try_from(c).ok());
        let session_keys = if opt_neg {
            let [f_nwk_s_int_key, s_nwk_s_int_key, nwk_s_enc_key, app_s_key] = derive_1_1(
                &nwk_key,
                &keys.app_key,
                join_nonce,
                keys.join_eui,
                pending.nonce,
            );
            SessionKeys::V1_1 {
                f_nwk_s_int_key,
                s_nwk_s_int_key,
                nwk_s_enc_key,
                app_s_key,
            }
        } else {
            // A 1.1 device on a 1.0 network derives the 1.0 keys from its NwkKey.
            let (nwk_s_key, app_s_key) =
                derive_1_0(&decrypt_key, join_nonce, net_id, pending.nonce);
            SessionKeys::V1_0 {
                nwk_s_key,
                app_s_key,
            }
        };
        let mut session = Session::new(dev_addr, session_keys);
        session.net_id = Some(net_id);
        session.rx = Some(rx);
        session.cf_list = cf_list;
        self.session = Some(session);
        self.pending = None;
        self.last_join_nonce = Some(join_nonce);
        Ok(JoinAccepted {
            join_nonce,
            net_id,
            dev_addr,
            opt_neg,
            rx,
            cf_list,
        })
    }
}

/// The five extra channel frequencies in Hz of a CFListType-0 CFList (RP002 §2: 24-bit
/// frequencies in units of 100 Hz, 0 for an unused slot); `None` for another CFListType.
pub fn cf_list_frequencies(cf_list: &[u8; 16]) -> Option<[u32; 5]> {
    if cf_list[15] != 0 {
        return None;
    }
    let mut out = [0_u32; 5];
    for (i, f) in out.iter_mut().enumerate() {
        let b = &cf_list[i * 3..i * 3 + 3];
        *f = (u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16) * 100;
    }
    Some(out)
}
