//! Session-key derivation for LoRaWAN 1.0.x and 1.1, and the join-server lifetime keys.
//!
//! All derivations are `aes128_encrypt(root, block)` with the block layouts of TS001 §6.2.5
//! (1.0.x) and §6.3.5 (1.1); multi-byte fields are little-endian as on the air.

use crate::crypto::CipherKey;
use crate::ids::{AesKey, Eui64, NetId};
use crate::join::JoinNonce;

/// LoRaWAN 1.0.x session keys (also a 1.1 device on a 1.0 network, OptNeg = 0, with NwkKey as
/// the root; there FNwkSIntKey = SNwkSIntKey = NwkSEncKey = NwkSKey).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionKeys10 {
    /// NwkSKey.
    pub nwk_s_key: AesKey,
    /// AppSKey.
    pub app_s_key: AesKey,
}

/// LoRaWAN 1.1 session keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionKeys11 {
    /// FNwkSIntKey (uplink cmacF).
    pub f_nwk_s_int_key: AesKey,
    /// SNwkSIntKey (uplink cmacS, downlink MIC).
    pub s_nwk_s_int_key: AesKey,
    /// NwkSEncKey (FOpts and FPort-0 payloads).
    pub nwk_s_enc_key: AesKey,
    /// AppSKey (derived from AppKey).
    pub app_s_key: AesKey,
}

fn derive(root: &CipherKey, block: [u8; 16]) -> AesKey {
    AesKey::new(root.encrypt_block(block))
}

fn block_1_0(tag: u8, join_nonce: JoinNonce, net_id: NetId, dev_nonce: u16) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = tag;
    b[1..4].copy_from_slice(&join_nonce.to_le_bytes());
    b[4..7].copy_from_slice(&net_id.to_le_bytes());
    b[7..9].copy_from_slice(&dev_nonce.to_le_bytes());
    b
}

fn block_1_1(tag: u8, join_nonce: JoinNonce, join_eui: Eui64, dev_nonce: u16) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = tag;
    b[1..4].copy_from_slice(&join_nonce.to_le_bytes());
    b[4..12].copy_from_slice(&join_eui.to_le_bytes());
    b[12..14].copy_from_slice(&dev_nonce.to_le_bytes());
    b
}

/// LoRaWAN 1.0.x (incl. 1.0.4): `aes128_encrypt(AppKey, t | JoinNonce | NetID | DevNonce | pad16)`,
/// `t = 0x01` for NwkSKey, `0x02` for AppSKey.
pub fn derive_1_0(
    app_key: &AesKey,
    join_nonce: JoinNonce,
    net_id: NetId,
    dev_nonce: u16,
) -> SessionKeys10 {
    let root = CipherKey::new(app_key);
    SessionKeys10 {
        nwk_s_key: derive(&root, block_1_0(0x01, join_nonce, net_id, dev_nonce)),
        app_s_key: derive(&root, block_1_0(0x02, join_nonce, net_id, dev_nonce)),
    }
}

/// LoRaWAN 1.1 (OptNeg = 1): `aes128_encrypt(root, t | JoinNonce | JoinEUI | DevNonce | pad16)`,
/// root NwkKey for `t` = 0x01 FNwkSIntKey, 0x03 SNwkSIntKey, 0x04 NwkSEncKey, root AppKey for
/// 0x02 AppSKey. For a rejoin answer DevNonce is RJcount0 / RJcount1.
pub fn derive_1_1(
    nwk_key: &AesKey,
    app_key: &AesKey,
    join_nonce: JoinNonce,
    join_eui: Eui64,
    dev_nonce: u16,
) -> SessionKeys11 {
    let nwk = CipherKey::new(nwk_key);
    let app = CipherKey::new(app_key);
    let block = |tag| block_1_1(tag, join_nonce, join_eui, dev_nonce);
    SessionKeys11 {
        f_nwk_s_int_key: derive(&nwk, block(0x01)),
        s_nwk_s_int_key: derive(&nwk, block(0x03)),
        nwk_s_enc_key: derive(&nwk, block(0x04)),
        app_s_key: derive(&app, block(0x02)),
    }
}

fn js_key(tag: u8, nwk_key: &AesKey, dev_eui: Eui64) -> AesKey {
    let mut b = [0u8; 16];
    b[0] = tag;
    b[1..9].copy_from_slice(&dev_eui.to_le_bytes());
    derive(&CipherKey::new(nwk_key), b)
}

/// JSIntKey = `aes128_encrypt(NwkKey, 0x06 | DevEUI | pad16)` (LoRaWAN 1.1).
pub fn js_int_key(nwk_key: &AesKey, dev_eui: Eui64) -> AesKey {
    js_key(0x06, nwk_key, dev_eui)
}

/// JSEncKey = `aes128_encrypt(NwkKey, 0x05 | DevEUI | pad16)` (LoRaWAN 1.1).
pub fn js_enc_key(nwk_key: &AesKey, dev_eui: Eui64) -> AesKey {
    js_key(0x05, nwk_key, dev_eui)
}

/// RootWorSKey (TS011 relay) = `aes128_encrypt(NwkSEncKey, 0x01 | pad16)`; pass NwkSKey for a
/// LoRaWAN 1.0.x session.
pub fn root_wor_s_key(nwk_s_enc_key: &AesKey) -> AesKey {
    let mut b = [0u8; 16];
    b[0] = 0x01;
    derive(&CipherKey::new(nwk_s_enc_key), b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> AesKey {
        text.parse().unwrap()
    }

    #[test]
    fn lrwn_1_0_vector() {
        let keys = derive_1_0(
            &key("01020304050607080102030405060708"),
            JoinNonce::new(65536).unwrap(),
            "010203".parse().unwrap(),
            258,
        );
        assert_eq!(keys.nwk_s_key, key("df53c35f3034ccced0ff354c70de04df"));
        assert_eq!(keys.app_s_key, key("927b9c911183cffe4cb2ff4b75545f6d"));
        assert_eq!(
            root_wor_s_key(&keys.nwk_s_key),
            key("60f8acd9de2cc506fb06639408fe574a")
        );
    }

    #[test]
    fn lrwn_1_1_vector() {
        let keys = derive_1_1(
            &key("01020304050607080102030405060708"),
            &AesKey::new([0; 16]),
            JoinNonce::new(65536).unwrap(),
            "0807060504030201".parse().unwrap(),
            258,
        );
        assert_eq!(keys.app_s_key, key("01621215d1ca08febf0c602cc2ad90fa"));
        assert_eq!(
            keys.f_nwk_s_int_key,
            key("537f8aae896c79e015d102d06286354e")
        );
        assert_eq!(
            keys.s_nwk_s_int_key,
            key("589498993092cfdb5fd2e02ac7510bf1")
        );
        assert_eq!(keys.nwk_s_enc_key, key("9898283c4f66eb6c6fd5165882046c40"));
    }
}
