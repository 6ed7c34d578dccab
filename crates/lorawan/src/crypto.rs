//! The LoRaWAN L2 crypto primitives: cached AES-128 / AES-CMAC keys, the data-frame MIC of
//! LoRaWAN 1.0.x and 1.1, and the A-block keystream that encrypts FRMPayload and (1.1) FOpts.
//!
//! Every MIC here is computed over `msg` exactly as given: callers pass the received bytes
//! (`phy[..len - 4]`), never a re-encoded copy. The typed entry points are the views in
//! [`crate::phy`]; the free functions below are the building blocks they and the tests share.
//!
//! An NS verifies many frames per session key, so keys are prepared once: [`MicKey`] holds the
//! expanded AES key schedule *and* the CMAC subkeys, [`CipherKey`] the AES encryption schedule.

use std::fmt;

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::Aes128Enc;
use cmac::{Cmac, Mac};
use subtle::ConstantTimeEq;

use crate::ids::{AesKey, DevAddr};

/// A 4-byte message integrity code, in air order.
pub type Mic = [u8; 4];

/// The longest `msg` (MHDR .. last byte before the MIC) a B0 block can describe: its length is
/// one byte, and a LoRa PHY payload is at most 255 bytes anyway.
pub const MAX_MIC_MSG_LEN: usize = 255;

/// Which way a frame travels; it selects the `Dir` byte of the B0 and A blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// End-device to network (`Dir = 0`).
    Uplink,
    /// Network to end-device (`Dir = 1`).
    Downlink,
}

impl Direction {
    /// The `Dir` byte of the B0 / A blocks.
    pub const fn dir_byte(self) -> u8 {
        match self {
            Self::Uplink => 0x00,
            Self::Downlink => 0x01,
        }
    }
}

/// Why a MIC could not be computed or did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MicError {
    /// The frame's MIC is not the one computed with the given key and counters (the sender, a
    /// wrong key or a wrong 32-bit counter is to blame).
    #[error("MIC mismatch")]
    Mismatch,
    /// The caller's 32-bit frame counter does not end with the frame's 16 on-air bits.
    #[error("frame counter {given:#x} does not match the on-air FCnt {on_air:#06x}")]
    FCntMismatch {
        /// The 16 bits on the air.
        on_air: u16,
        /// The full counter the caller gave.
        given: u32,
    },
    /// The caller asked for a MIC of the other direction (e.g. a 1.1 uplink MIC of a downlink).
    #[error("this MIC is defined for {expected:?} frames only")]
    WrongDirection {
        /// The direction the MIC is defined for.
        expected: Direction,
    },
    /// The message is longer than a B0 block can describe ([`MAX_MIC_MSG_LEN`]).
    #[error("message of {len} bytes is too long for a LoRaWAN MIC")]
    MessageTooLong {
        /// The message length.
        len: usize,
    },
}

/// An AES-CMAC key with its key schedule and subkeys computed once.
///
/// `Debug` never shows the key.
#[derive(Clone)]
pub struct MicKey {
    cmac: Cmac<Aes128Enc>,
}

impl MicKey {
    /// Prepares `key` for CMAC (one key expansion and one AES block for the subkeys).
    pub fn new(key: &AesKey) -> Self {
        Self {
            cmac: <Cmac<Aes128Enc> as KeyInit>::new(GenericArray::from_slice(key.bytes())),
        }
    }

    /// The full 16-byte CMAC over the concatenation of `parts`.
    pub fn cmac(&self, parts: &[&[u8]]) -> [u8; 16] {
        let mut mac = self.cmac.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The first four bytes of [`MicKey::cmac`]: the MIC of every LoRaWAN message but the 1.1
    /// uplink data frame.
    pub fn mic(&self, parts: &[&[u8]]) -> Mic {
        truncate4(&self.cmac(parts))
    }
}

impl From<&AesKey> for MicKey {
    fn from(key: &AesKey) -> Self {
        Self::new(key)
    }
}

impl fmt::Debug for MicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MicKey(<redacted>)")
    }
}

/// An AES-128 encryption key schedule, for the A-block keystream and key derivation.
///
/// `Debug` never shows the key.
#[derive(Clone)]
pub struct CipherKey {
    aes: Aes128Enc,
}

impl CipherKey {
    /// Expands `key` once.
    pub fn new(key: &AesKey) -> Self {
        Self {
            aes: Aes128Enc::new(GenericArray::from_slice(key.bytes())),
        }
    }

    /// `aes128_encrypt(key, block)`.
    pub fn encrypt_block(&self, block: [u8; 16]) -> [u8; 16] {
        let mut block = GenericArray::from(block);
        self.aes.encrypt_block(&mut block);
        block.into()
    }
}

impl From<&AesKey> for CipherKey {
    fn from(key: &AesKey) -> Self {
        Self::new(key)
    }
}

impl fmt::Debug for CipherKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CipherKey(<redacted>)")
    }
}

/// Compares two MICs in constant time.
pub fn mic_eq(a: &Mic, b: &Mic) -> bool {
    a.ct_eq(b).into()
}

fn truncate4(full: &[u8; 16]) -> Mic {
    [full[0], full[1], full[2], full[3]]
}

/// The B0 / B1 block: `0x49 | ConfFCnt(2) | TxDr | TxCh | Dir | DevAddr(LE) | FCnt(LE) | 0 | len`.
#[allow(clippy::too_many_arguments)]
fn b_block(
    conf_fcnt: u16,
    tx_dr: u8,
    tx_ch: u8,
    dir: Direction,
    dev_addr: DevAddr,
    fcnt: u32,
    msg: &[u8],
) -> Result<[u8; 16], MicError> {
    let len = u8::try_from(msg.len()).map_err(|_| MicError::MessageTooLong { len: msg.len() })?;
    let mut b = [0u8; 16];
    b[0] = 0x49;
    b[1..3].copy_from_slice(&conf_fcnt.to_le_bytes());
    b[3] = tx_dr;
    b[4] = tx_ch;
    b[5] = dir.dir_byte();
    b[6..10].copy_from_slice(&dev_addr.to_le_bytes());
    b[10..14].copy_from_slice(&fcnt.to_le_bytes());
    b[15] = len;
    Ok(b)
}

/// The MIC of a LoRaWAN 1.0.x data frame, uplink or downlink:
/// `aes128_cmac(NwkSKey, B0 | msg)[0..4]`.
///
/// `fcnt` is the full 32-bit counter; `msg` is MHDR .. FRMPayload as received.
pub fn data_mic_1_0(
    nwk_s_key: &MicKey,
    dir: Direction,
    dev_addr: DevAddr,
    fcnt: u32,
    msg: &[u8],
) -> Result<Mic, MicError> {
    let b0 = b_block(0, 0, 0, dir, dev_addr, fcnt, msg)?;
    Ok(nwk_s_key.mic(&[&b0, msg]))
}

/// The `cmacF` half of a LoRaWAN 1.1 uplink MIC: `aes128_cmac(FNwkSIntKey, B0 | msg)[0..2]`.
///
/// A forwarding NS, which holds only FNwkSIntKey, checks these two bytes against the last two
/// bytes of the received MIC.
pub fn uplink_micf_1_1(
    f_nwk_s_int_key: &MicKey,
    dev_addr: DevAddr,
    fcnt: u32,
    msg: &[u8],
) -> Result<[u8; 2], MicError> {
    let b0 = b_block(0, 0, 0, Direction::Uplink, dev_addr, fcnt, msg)?;
    let full = f_nwk_s_int_key.cmac(&[&b0, msg]);
    Ok([full[0], full[1]])
}

/// The `cmacS` half of a LoRaWAN 1.1 uplink MIC: `aes128_cmac(SNwkSIntKey, B1 | msg)[0..2]`,
/// checked against the first two bytes of the received MIC.
///
/// `params.conf_fcnt` is used as given (truncated to 16 bits): pass 0 when ACK is not set.
pub fn uplink_mics_1_1(
    s_nwk_s_int_key: &MicKey,
    dev_addr: DevAddr,
    fcnt: u32,
    params: UplinkMicParams,
    msg: &[u8],
) -> Result<[u8; 2], MicError> {
    // Truncation is the spec's: "ConfFCnt ... the 16 least significant bits".
    let conf = (params.conf_fcnt & 0xffff) as u16;
    let b1 = b_block(
        conf,
        params.tx_dr,
        params.tx_ch,
        Direction::Uplink,
        dev_addr,
        fcnt,
        msg,
    )?;
    let full = s_nwk_s_int_key.cmac(&[&b1, msg]);
    Ok([full[0], full[1]])
}

/// The radio parameters and acknowledged counter that LoRaWAN 1.1 mixes into the uplink MIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UplinkMicParams {
    /// The FCnt of the acknowledged downlink. Only its 16 low-order bits enter the B1 block,
    /// and only when the frame's ACK bit is set (the frame-level API zeroes it otherwise).
    pub conf_fcnt: u32,
    /// The data rate the uplink was received on.
    pub tx_dr: u8,
    /// The index of the channel the uplink was received on.
    pub tx_ch: u8,
}

/// The MIC of a LoRaWAN 1.1 uplink data frame: `cmacS[0..2] | cmacF[0..2]` with
/// `cmacS = aes128_cmac(SNwkSIntKey, B1 | msg)` and `cmacF = aes128_cmac(FNwkSIntKey, B0 | msg)`.
///
/// `params.conf_fcnt` is used as given (truncated to 16 bits): pass 0 when ACK is not set.
pub fn uplink_mic_1_1(
    f_nwk_s_int_key: &MicKey,
    s_nwk_s_int_key: &MicKey,
    dev_addr: DevAddr,
    fcnt: u32,
    params: UplinkMicParams,
    msg: &[u8],
) -> Result<Mic, MicError> {
    let [s0, s1] = uplink_mics_1_1(s_nwk_s_int_key, dev_addr, fcnt, params, msg)?;
    let [f0, f1] = uplink_micf_1_1(f_nwk_s_int_key, dev_addr, fcnt, msg)?;
    Ok([s0, s1, f0, f1])
}

/// The MIC of a LoRaWAN 1.1 downlink data frame: `aes128_cmac(SNwkSIntKey, B0 | msg)[0..4]`,
/// B0 carrying ConfFCnt (16 low-order bits; pass 0 when ACK is not set).
pub fn downlink_mic_1_1(
    s_nwk_s_int_key: &MicKey,
    dev_addr: DevAddr,
    fcnt: u32,
    conf_fcnt: u32,
    msg: &[u8],
) -> Result<Mic, MicError> {
    let conf = (conf_fcnt & 0xffff) as u16;
    let b0 = b_block(conf, 0, 0, Direction::Downlink, dev_addr, fcnt, msg)?;
    Ok(s_nwk_s_int_key.mic(&[&b0, msg]))
}

/// The generic MIC of join-request, rejoin-request and 1.0 join-accept:
/// `aes128_cmac(key, msg)[0..4]`.
pub fn plain_mic(key: &MicKey, msg: &[u8]) -> Mic {
    key.mic(&[msg])
}

/// Which counter a LoRaWAN 1.1 FOpts keystream is bound to (1.1 errata: `A[4]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FOptsCounter {
    /// FCntUp (uplinks) or NFCntDown (downlinks without FPort or with FPort 0): `A[4] = 0x01`.
    NetworkOrUp,
    /// AFCntDown (downlinks with FPort > 0): `A[4] = 0x02`.
    AppDown,
}

fn a_block(a4: u8, dir: Direction, dev_addr: DevAddr, fcnt: u32) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0x01;
    a[4] = a4;
    a[5] = dir.dir_byte();
    a[6..10].copy_from_slice(&dev_addr.to_le_bytes());
    a[10..14].copy_from_slice(&fcnt.to_le_bytes());
    a
}

/// Encrypts or decrypts (the same XOR) an FRMPayload in place:
/// `S_i = aes128_encrypt(K, A_i)`, `A_i = 01 | 00000000 | Dir | DevAddr | FCnt | 00 | i`, i from 1.
///
/// `key` is AppSKey for FPort > 0, NwkSKey (1.0) / NwkSEncKey (1.1) for FPort 0.
pub fn crypt_frm_payload(
    key: &CipherKey,
    dir: Direction,
    dev_addr: DevAddr,
    fcnt: u32,
    data: &mut [u8],
) {
    let mut a = a_block(0x00, dir, dev_addr, fcnt);
    for (i, chunk) in data.chunks_mut(16).enumerate() {
        // At most 16 blocks fit in a 255-byte frame, so `i + 1` fits in the byte; wrap anyway
        // rather than panic on a caller's oversized buffer.
        a[15] = (i as u8).wrapping_add(1);
        let s = key.encrypt_block(a);
        for (byte, k) in chunk.iter_mut().zip(s.iter()) {
            *byte ^= k;
        }
    }
}

/// Encrypts or decrypts LoRaWAN 1.1 FOpts in place with NwkSEncKey, per the 1.1 errata
/// ("FOpts encryption, usage of FCntDwn"): `A = 01 | 000000 | A[4] | Dir | DevAddr | FCnt | 00 | 01`.
///
/// FOpts is at most 15 bytes, so one keystream block covers it; bytes beyond 16 are left as is
/// (a caller bug that the frame parser and builder rule out).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> AesKey {
        AesKey::new([byte; 16])
    }

    #[test]
    fn data_mic_1_0_matches_tts_vector() {
        let msg = [
            0x40, 0x04, 0x03, 0x02, 0x01, 0x00, 0x01, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04,
        ];
        let k = MicKey::new(&key(1));
        let addr = DevAddr::from_u32(0x0102_0304);
        let up = data_mic_1_0(&k, Direction::Uplink, addr, 1, &msg).unwrap();
        assert_eq!(up, [0x3b, 0x07, 0x31, 0x82]);
        let down = data_mic_1_0(&k, Direction::Downlink, addr, 1, &msg).unwrap();
        assert_eq!(down, [0xa5, 0x60, 0x9f, 0xa9]);
    }

    #[test]
    fn frm_payload_roundtrips_and_matches_tts() {
        let k = CipherKey::new(&key(1));
        let addr = DevAddr::from_u32(0x0102_0304);
        let mut data = [1, 2, 3, 4];
        crypt_frm_payload(&k, Direction::Uplink, addr, 1, &mut data);
        assert_eq!(data, [0xcf, 0xf3, 0x0b, 0x4e]);
        crypt_frm_payload(&k, Direction::Uplink, addr, 1, &mut data);
        assert_eq!(data, [1, 2, 3, 4]);
    }

    #[test]
    fn too_long_message_is_an_error() {
        let k = MicKey::new(&key(1));
        let msg = [0u8; 256];
        let err = data_mic_1_0(&k, Direction::Uplink, DevAddr::default(), 0, &msg);
        assert_eq!(err, Err(MicError::MessageTooLong { len: 256 }));
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", MicKey::new(&key(7))), "MicKey(<redacted>)");
        assert_eq!(
            format!("{:?}", CipherKey::new(&key(7))),
            "CipherKey(<redacted>)"
        );
    }

    #[test]
    fn mic_eq_is_equality() {
        assert!(mic_eq(&[1, 2, 3, 4], &[1, 2, 3, 4]));
        assert!(!mic_eq(&[1, 2, 3, 4], &[1, 2, 3, 5]));
    }
}
