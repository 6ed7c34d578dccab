//! The LoRaWAN frame cryptography a simulated device needs, written from the specification
//! (TS001 L2 1.0.4 §4.3.3, §4.4, §6.2; LoRaWAN 1.1 §4.3.3, §4.4, §6.1.1.3, §6.2.3, and the 1.1
//! errata on FOpts encryption), not imported from `crates/lorawan` (STYLE 13).
//!
//! Keys are prepared once ([`MicKey`], [`CipherKey`] hold the expanded AES key schedule and
//! the CMAC sub-keys), so a device sending thousands of frames does not redo that work per
//! frame.

use std::fmt;
use std::str::FromStr;

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::Aes128;
use cmac::{Cmac, Mac};

use crate::load::frame::{Eui64, Key};

/// A 32-bit DevAddr in display (big-endian) order: `26011bda` is `DevAddr(0x2601_1bda)` and
/// goes on the air as `da 1b 01 26`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DevAddr(pub u32);

impl DevAddr {
    /// The 4 bytes as sent over the air (little-endian).
    pub fn air_bytes(self) -> [u8; 4] {
        self.0.to_le_bytes()
    }
}

impl fmt::Display for DevAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl FromStr for DevAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.len() != 8 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{s:?} is not 8 hex digits"));
        }
        u32::from_str_radix(t, 16)
            .map(Self)
            .map_err(|e| format!("{s:?}: {e}"))
    }
}

/// Which way a frame travels; the `Dir` byte of the B0 and A blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Device to network (`Dir` = 0).
    Uplink,
    /// Network to device (`Dir` = 1).
    Downlink,
}

impl Direction {
    fn byte(self) -> u8 {
        match self {
            Self::Uplink => 0,
            Self::Downlink => 1,
        }
    }
}

/// A message longer than the 255 bytes a B0 block's length byte can describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("message of {0} bytes is too long for a MIC block (at most 255)")]
pub struct MessageTooLong(pub usize);

/// An AES-128 key prepared for CMAC (the LoRaWAN MIC).
#[derive(Clone)]
pub struct MicKey(Cmac<Aes128>);

impl MicKey {
    /// Prepares `key`.
    pub fn new(key: &Key) -> Self {
        Self(<Cmac<Aes128> as KeyInit>::new(GenericArray::from_slice(
            key,
        )))
    }

    /// The full 16-byte AES-CMAC of the parts, in order.
    pub fn cmac(&self, parts: &[&[u8]]) -> [u8; 16] {
        let mut mac = self.0.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The LoRaWAN MIC: the first 4 bytes of the CMAC.
    pub fn mic(&self, parts: &[&[u8]]) -> [u8; 4] {
        let full = self.cmac(parts);
        [full[0], full[1], full[2], full[3]]
    }
}

impl fmt::Debug for MicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MicKey(<redacted>)")
    }
}

/// An AES-128 key prepared for block encryption (keystreams, key derivation).
#[derive(Clone)]
pub struct CipherKey(Aes128);

impl CipherKey {
    /// Prepares `key`.
    pub fn new(key: &Key) -> Self {
        Self(Aes128::new(GenericArray::from_slice(key)))
    }

    /// AES-128 encryption of one block.
    pub fn encrypt_block(&self, block: [u8; 16]) -> [u8; 16] {
        let mut b = GenericArray::from(block);
        self.0.encrypt_block(&mut b);
        b.into()
    }

    /// AES-ECB encryption in place of every whole 16-byte block of `data`.
    pub fn encrypt_blocks(&self, data: &mut [u8]) {
        for chunk in data.chunks_exact_mut(16) {
            self.0.encrypt_block(GenericArray::from_mut_slice(chunk));
        }
    }
}

impl fmt::Debug for CipherKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CipherKey(<redacted>)")
    }
}

/// The B0 / B1 block: `0x49 | ConfFCnt(2) | TxDr | TxCh | Dir | DevAddr | FCnt(4) | 0x00 |
/// len(msg)`, all little-endian (1.1 §4.4; in 1.0 the bytes 1..5 are zero).
fn b_block(
    conf_fcnt: u16,
    tx_dr: u8,
    tx_ch: u8,
    dir: Direction,
    dev_addr: DevAddr,
    fcnt: u32,
    msg_len: usize,
) -> Result<[u8; 16], MessageTooLong> {
    let len = u8::try_from(msg_len).map_err(|_| MessageTooLong(msg_len))?;
    let mut b = [0_u8; 16];
    b[0] = 0x49;
    b[1..3].copy_from_slice(&conf_fcnt.to_le_bytes());
    b[3] = tx_dr;
    b[4] = tx_ch;
    b[5] = dir.byte();
    b[6..10].copy_from_slice(&dev_addr.air_bytes());
    b[10..14].copy_from_slice(&fcnt.to_le_bytes());
    b[15] = len;
    Ok(b)
}

/// The LoRaWAN 1.0.x data-frame MIC, both directions: `cmac(NwkSKey, B0 | msg)[0..4]`
/// (1.0.4 §4.4). `msg` is `MHDR .. FRMPayload`, `fcnt` the full 32-bit counter.
pub fn data_mic_1_0(
    nwk_s_key: &MicKey,
    dir: Direction,
    dev_addr: DevAddr,
    fcnt: u32,
    msg: &[u8],
) -> Result<[u8; 4], MessageTooLong> {
    let b0 = b_block(0, 0, 0, dir, dev_addr, fcnt, msg.len())?;
    Ok(nwk_s_key.mic(&[&b0, msg]))
}

/// The LoRaWAN 1.1 uplink MIC (1.1 §4.4): `cmacS[0..2] | cmacF[0..2]`, with
/// `cmacS = cmac(SNwkSIntKey, B1 | msg)` (B1 carries ConfFCnt, TxDr, TxCh) and
/// `cmacF = cmac(FNwkSIntKey, B0 | msg)`. `conf_fcnt` is the 16 low bits of the acknowledged
/// downlink's counter, and must be 0 when the frame's ACK bit is clear (the caller's part).
#[allow(clippy::too_many_arguments)]
pub fn uplink_mic_1_1(
    f_nwk_s_int_key: &MicKey,
    s_nwk_s_int_key: &MicKey,
    dev_addr: DevAddr,
    fcnt: u32,
    conf_fcnt: u16,
    tx_dr: u8,
    tx_ch: u8,
    msg: &[u8],
) -> Result<[u8; 4], MessageTooLong> {
    let b0 = b_block(0, 0, 0, Direction::Uplink, dev_addr, fcnt, msg.len())?;
    let b1 = b_block(
        conf_fcnt,
        tx_dr,
        tx_ch,
        Direction::Uplink,
        dev_addr,
        fcnt,
        msg.len(),
    )?;
    let s = s_nwk_s_int_key.cmac(&[&b1, msg]);
    let f = f_nwk_s_int_key.cmac(&[&b0, msg]);
    Ok([s[0], s[1], f[0], f[1]])
}

/// The LoRaWAN 1.1 downlink MIC (1.1 §4.4): `cmac(SNwkSIntKey, B0 | msg)[0..4]`, B0 carrying
/// ConfFCnt (the 16 low bits of the acknowledged confirmed uplink's FCnt, 0 when ACK is clear).
pub fn downlink_mic_1_1(
    s_nwk_s_int_key: &MicKey,
    dev_addr: DevAddr,
    fcnt: u32,
    conf_fcnt: u16,
    msg: &[u8],
) -> Result<[u8; 4], MessageTooLong> {
    let b0 = b_block(
        conf_fcnt,
        0,
        0,
        Direction::Downlink,
        dev_addr,
        fcnt,
        msg.len(),
    )?;
    Ok(s_nwk_s_int_key.mic(&[&b0, msg]))
}

/// Which frame counter a 1.1 FOpts keystream is tied to: the `A[4]` byte of the errata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FOptsCounter {
    /// FCntUp (uplinks) or NFCntDown (downlinks without FPort or with FPort 0): `A[4]` = 1.
    NetworkOrUp,
    /// AFCntDown (downlinks with FPort > 0): `A[4]` = 2.
    AppDown,
}

fn a_block(a4: u8, dir: Direction, dev_addr: DevAddr, fcnt: u32) -> [u8; 16] {
    let mut a = [0_u8; 16];
    a[0] = 0x01;
    a[4] = a4;
    a[5] = dir.byte();
    a[6..10].copy_from_slice(&dev_addr.air_bytes());
    a[10..14].copy_from_slice(&fcnt.to_le_bytes());
    a
}

/// Encrypts or decrypts (the same XOR) an FRMPayload in place (1.0.4 §4.3.3.1, 1.1 §4.3.3):
/// keystream blocks `aes128_encrypt(key, A_i)`, `A_i = 0x01 | 0x00000000 | Dir | DevAddr |
/// FCnt | 0x00 | i`, `i` counting from 1. `key` is AppSKey for FPort > 0, NwkSKey (1.0) or
/// NwkSEncKey (1.1) for FPort 0.
pub fn crypt_frm_payload(
    key: &CipherKey,
    dir: Direction,
    dev_addr: DevAddr,
    fcnt: u32,
    data: &mut [u8],
) {
    let mut a = a_block(0, dir, dev_addr, fcnt);
    for (i, chunk) in data.chunks_mut(16).enumerate() {
        // At most 255 bytes of payload, so at most 16 blocks: `i + 1` fits a byte.
        a[15] = (i as u8).wrapping_add(1);
        let s = key.encrypt_block(a);
        for (byte, k) in chunk.iter_mut().zip(s.iter()) {
            *byte ^= k;
        }
    }
}

/// Encrypts or decrypts 1.1 FOpts in place with NwkSEncKey, in the errata's form used by every
/// deployed stack: one keystream block with `A[4]` from `counter` and `A[15]` = 1 (1.1 §4.3.1.6
/// as corrected; 1.1.0 as first published had `A[4]` = `A[15]` = 0). At most 15 bytes.
pub fn crypt_fopts(
    nwk_s_enc_key: &CipherKey,
    counter: FOptsCounter,
    dir: Direction,
    dev_addr: DevAddr,
    fcnt: u32,
    data: &mut [u8],
) {
    let a4 = match counter {
        FOptsCounter::NetworkOrUp => 0x01,
        FOptsCounter::AppDown => 0x02,
    };
    let mut a = a_block(a4, dir, dev_addr, fcnt);
    a[15] = 0x01;
    let s = nwk_s_enc_key.encrypt_block(a);
    for (byte, k) in data.iter_mut().zip(s.iter()) {
        *byte ^= k;
    }
}

/// LoRaWAN 1.0.x session keys (NwkSKey, AppSKey) of a join:
/// `aes128_encrypt(root, t | JoinNonce(3) | NetID(3) | DevNonce(2) | pad16)`, `t` = 1 for
/// NwkSKey, 2 for AppSKey (1.0.4 §6.2.6). `root` is the AppKey, or the NwkKey of a 1.1
/// device that joined a 1.0 network (OptNeg = 0).
pub fn derive_1_0(root: &Key, join_nonce: u32, net_id: u32, dev_nonce: u16) -> (Key, Key) {
    let aes = CipherKey::new(root);
    let block = |t: u8| {
        let mut b = [0_u8; 16];
        b[0] = t;
        b[1..4].copy_from_slice(&join_nonce.to_le_bytes()[..3]);
        b[4..7].copy_from_slice(&net_id.to_le_bytes()[..3]);
        b[7..9].copy_from_slice(&dev_nonce.to_le_bytes());
        aes.encrypt_block(b)
    };
    (block(0x01), block(0x02))
}

/// LoRaWAN 1.1 session keys, `[FNwkSIntKey, SNwkSIntKey, NwkSEncKey, AppSKey]` (1.1 §6.2.3):
/// `aes128_encrypt(root, t | JoinNonce(3) | JoinEUI(8) | DevNonce(2) | pad16)` with root
/// NwkKey and `t` = 1, 3, 4, and root AppKey with `t` = 2. For a join-accept answering a
/// rejoin-request `dev_nonce` is the RJcount the request carried.
pub fn derive_1_1(
    nwk_key: &Key,
    app_key: &Key,
    join_nonce: u32,
    join_eui: Eui64,
    dev_nonce: u16,
) -> [Key; 4] {
    let block = |t: u8| {
        let mut b = [0_u8; 16];
        b[0] = t;
        b[1..4].copy_from_slice(&join_nonce.to_le_bytes()[..3]);
        b[4..12].copy_from_slice(&join_eui.air_bytes());
        b[12..14].copy_from_slice(&dev_nonce.to_le_bytes());
        b
    };
    let nwk = CipherKey::new(nwk_key);
    let app = CipherKey::new(app_key);
    [
        nwk.encrypt_block(block(0x01)),
        nwk.encrypt_block(block(0x03)),
        nwk.encrypt_block(block(0x04)),
        app.encrypt_block(block(0x02)),
    ]
}

/// JSIntKey = `aes128_encrypt(NwkKey, 0x06 | DevEUI | pad16)` (1.1 §6.1.1.3).
pub fn js_int_key(nwk_key: &Key, dev_eui: Eui64) -> Key {
    js_key(0x06, nwk_key, dev_eui)
}

/// JSEncKey = `aes128_encrypt(NwkKey, 0x05 | DevEUI | pad16)` (1.1 §6.1.1.3).
pub fn js_enc_key(nwk_key: &Key, dev_eui: Eui64) -> Key {
    js_key(0x05, nwk_key, dev_eui)
}

fn js_key(t: u8, nwk_key: &Key, dev_eui: Eui64) -> Key {
    let mut b = [0_u8; 16];
    b[0] = t;
    b[1..9].copy_from_slice(&dev_eui.air_bytes());
    CipherKey::new(nwk_key).encrypt_block(b)
}

/// The join-accept MIC. 1.0 form (also a 1.1 device with OptNeg = 0):
/// `cmac(key, MHDR | JoinNonce | NetID | DevAddr | DLSettings | RxDelay | [CFList])[0..4]`.
/// 1.1 form (OptNeg = 1, `with_1_1` given): `cmac(JSIntKey, JoinReqType | JoinEUI | DevNonce |
/// MHDR | …)[0..4]` (1.1 §6.2.3).
pub fn join_accept_mic(key: &MicKey, with_1_1: Option<(u8, Eui64, u16)>, msg: &[u8]) -> [u8; 4] {
    match with_1_1 {
        None => key.mic(&[msg]),
        Some((join_req_type, join_eui, dev_nonce)) => key.mic(&[
            &[join_req_type],
            &join_eui.air_bytes(),
            &dev_nonce.to_le_bytes(),
            msg,
        ]),
    }
}

/// Compares two MICs without an early exit.
pub fn mic_eq(a: &[u8; 4], b: &[u8]) -> bool {
    b.len() == 4 && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
