//! Join-request, rejoin-request and join-accept views. The crypto that builds join-accepts and
//! the DevNonce / JoinNonce rules are in [`crate::join`].

use crate::crypto::{self, mic_eq, CipherKey, Mic, MicError, MicKey};
use crate::ids::{DevAddr, Eui64, NetId};
use crate::join::{self as join_crypto, JoinNonce, JoinReqType};

use super::{array_at, header, split_mic, MType, Mhdr, PhyError};

const JOIN_REQUEST_LEN: usize = 23;
const REJOIN_02_LEN: usize = 19;
const REJOIN_1_LEN: usize = 24;
const JOIN_ACCEPT_LEN: usize = 17;
const JOIN_ACCEPT_CFLIST_LEN: usize = 33;

fn verified(received: &Mic, expected: &Mic) -> Result<(), MicError> {
    if mic_eq(received, expected) {
        Ok(())
    } else {
        Err(MicError::Mismatch)
    }
}

fn check_len(
    bytes: &[u8],
    mtype: MType,
    ok: &[usize],
    expected: &'static str,
) -> Result<(), PhyError> {
    if ok.contains(&bytes.len()) {
        Ok(())
    } else {
        Err(PhyError::Length {
            mtype,
            len: bytes.len(),
            expected,
        })
    }
}

/// A join-request: `MHDR | JoinEUI | DevEUI | DevNonce | MIC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinRequest<'a> {
    msg: &'a [u8],
    join_eui: Eui64,
    dev_eui: Eui64,
    dev_nonce: u16,
    mic: Mic,
}

impl<'a> JoinRequest<'a> {
    /// Parses a whole join-request PHYPayload (23 bytes).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, PhyError> {
        header(bytes, "a join-request", |m| m == MType::JoinRequest)?;
        check_len(bytes, MType::JoinRequest, &[JOIN_REQUEST_LEN], "23 bytes")?;
        let short = PhyError::Length {
            mtype: MType::JoinRequest,
            len: bytes.len(),
            expected: "23 bytes",
        };
        let (msg, mic) = split_mic(bytes).ok_or(short)?;
        Ok(Self {
            msg,
            join_eui: Eui64::from_le_bytes(array_at(msg, 1).ok_or(short)?),
            dev_eui: Eui64::from_le_bytes(array_at(msg, 9).ok_or(short)?),
            dev_nonce: u16::from_le_bytes(array_at(msg, 17).ok_or(short)?),
            mic,
        })
    }

    /// MHDR .. DevNonce: the MIC input as received.
    pub const fn msg(&self) -> &'a [u8] {
        self.msg
    }

    /// JoinEUI (AppEUI in 1.0.x).
    pub const fn join_eui(&self) -> Eui64 {
        self.join_eui
    }

    /// DevEUI.
    pub const fn dev_eui(&self) -> Eui64 {
        self.dev_eui
    }

    /// DevNonce.
    pub const fn dev_nonce(&self) -> u16 {
        self.dev_nonce
    }

    /// The MIC as received.
    pub const fn mic(&self) -> Mic {
        self.mic
    }

    /// Checks the MIC: `aes128_cmac(AppKey (1.0) / NwkKey (1.1), msg)[0..4]`.
    pub fn verify_mic(&self, key: &MicKey) -> Result<(), MicError> {
        verified(&self.mic, &crypto::plain_mic(key, self.msg))
    }
}

/// The rejoin-request type: 0 and 2 carry NetID and RJcount0, 1 carries JoinEUI and RJcount1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejoinType {
    /// Type 0: new session keys, parameters reset (NS-handled, SNwkSIntKey MIC).
    Type0,
    /// Type 1: re-initialise the session like a join (JS-handled, JSIntKey MIC).
    Type1,
    /// Type 2: rekey only (NS-handled, SNwkSIntKey MIC).
    Type2,
}

impl RejoinType {
    /// The JoinReqType a join-accept answering this rejoin carries in its MIC.
    pub const fn join_req_type(self) -> JoinReqType {
        match self {
            Self::Type0 => JoinReqType::Rejoin0,
            Self::Type1 => JoinReqType::Rejoin1,
            Self::Type2 => JoinReqType::Rejoin2,
        }
    }
}

/// A rejoin-request (LoRaWAN 1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejoinRequest<'a> {
    msg: &'a [u8],
    rejoin_type: RejoinType,
    net_id: Option<NetId>,
    join_eui: Option<Eui64>,
    dev_eui: Eui64,
    rj_count: u16,
    mic: Mic,
}

impl<'a> RejoinRequest<'a> {
    /// Parses a whole rejoin-request PHYPayload (19 bytes for types 0/2, 24 for type 1).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, PhyError> {
        let mtype = MType::RejoinRequest;
        header(bytes, "a rejoin-request", |m| m == mtype)?;
        let ty = *bytes.get(1).ok_or(PhyError::Length {
            mtype,
            len: bytes.len(),
            expected: "19 or 24 bytes",
        })?;
        let rejoin_type = match ty {
            0 => RejoinType::Type0,
            1 => RejoinType::Type1,
            2 => RejoinType::Type2,
            other => return Err(PhyError::UnknownRejoinType(other)),
        };
        let (len, expected) = match rejoin_type {
            RejoinType::Type1 => (REJOIN_1_LEN, "24 bytes for type 1"),
            _ => (REJOIN_02_LEN, "19 bytes for types 0 and 2"),
        };
        check_len(bytes, mtype, &[len], expected)?;
        let short = PhyError::Length {
            mtype,
            len: bytes.len(),
            expected,
        };
        let (msg, mic) = split_mic(bytes).ok_or(short)?;
        let (net_id, join_eui, dev_eui_at) = match rejoin_type {
            RejoinType::Type1 => (
                None,
                Some(Eui64::from_le_bytes(array_at(msg, 2).ok_or(short)?)),
                10,
            ),
            _ => (
                Some(NetId::from_le_bytes(array_at(msg, 2).ok_or(short)?)),
                None,
                5,
            ),
        };
        Ok(Self {
            msg,
            rejoin_type,
            net_id,
            join_eui,
            dev_eui: Eui64::from_le_bytes(array_at(msg, dev_eui_at).ok_or(short)?),
            rj_count: u16::from_le_bytes(array_at(msg, dev_eui_at + 8).ok_or(short)?),
            mic,
        })
    }

    /// MHDR .. RJcount: the MIC input as received.
    pub const fn msg(&self) -> &'a [u8] {
        self.msg
    }

    /// The rejoin type.
    pub const fn rejoin_type(&self) -> RejoinType {
        self.rejoin_type
    }

    /// NetID (types 0 and 2).
    pub const fn net_id(&self) -> Option<NetId> {
        self.net_id
    }

    /// JoinEUI (type 1).
    pub const fn join_eui(&self) -> Option<Eui64> {
        self.join_eui
    }

    /// DevEUI.
    pub const fn dev_eui(&self) -> Eui64 {
        self.dev_eui
    }

    /// RJcount0 (types 0/2) or RJcount1 (type 1).
    pub const fn rj_count(&self) -> u16 {
        self.rj_count
    }

    /// The MIC as received.
    pub const fn mic(&self) -> Mic {
        self.mic
    }

    /// Checks the MIC: `aes128_cmac(key, msg)[0..4]`, key SNwkSIntKey for types 0/2 and
    /// JSIntKey for type 1.
    pub fn verify_mic(&self, key: &MicKey) -> Result<(), MicError> {
        verified(&self.mic, &crypto::plain_mic(key, self.msg))
    }
}

/// A join-accept as received: MHDR in clear, the rest AES-encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedJoinAccept<'a> {
    bytes: &'a [u8],
}

impl<'a> EncryptedJoinAccept<'a> {
    /// Parses a whole join-accept PHYPayload (17 bytes, or 33 with a CFList).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, PhyError> {
        header(bytes, "a join-accept", |m| m == MType::JoinAccept)?;
        check_len(
            bytes,
            MType::JoinAccept,
            &[JOIN_ACCEPT_LEN, JOIN_ACCEPT_CFLIST_LEN],
            "17 or 33 bytes",
        )?;
        Ok(Self { bytes })
    }

    /// The frame as received.
    pub const fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Decrypts with NwkKey (AppKey in 1.0.x) for a join-request answer or JSEncKey for a
    /// rejoin answer. The join-accept is "encrypted" with AES *decrypt*, so this is an
    /// AES-ECB encryption of each 16-byte block after MHDR.
    pub fn decrypt(&self, key: &CipherKey) -> JoinAccept {
        let mut plain = [0u8; JOIN_ACCEPT_CFLIST_LEN];
        let len = self.bytes.len().min(JOIN_ACCEPT_CFLIST_LEN);
        let (dst, _) = plain.split_at_mut(len);
        dst.copy_from_slice(self.bytes.get(..len).unwrap_or_default());
        if let Some(body) = dst.get_mut(1..) {
            for chunk in body.chunks_exact_mut(16) {
                let mut block = [0u8; 16];
                block.copy_from_slice(chunk);
                chunk.copy_from_slice(&key.encrypt_block(block));
            }
        }
        JoinAccept {
            plain,
            len: len as u8,
        }
    }
}

/// The DLSettings byte: `OptNeg(7) | RX1DROffset(6..4) | RX2DataRate(3..0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DlSettings(u8);

impl DlSettings {
    /// OptNeg bit: set by a LoRaWAN 1.1 JS/NS, selecting the 1.1 MIC and key derivation.
    pub const OPT_NEG: u8 = 0x80;

    /// From the raw byte.
    pub const fn from_byte(byte: u8) -> Self {
        Self(byte)
    }

    /// From RX1DROffset (3 bits) and RX2DataRate (4 bits), OptNeg clear; extra bits dropped.
    pub const fn new(rx1_dr_offset: u8, rx2_dr: u8) -> Self {
        Self(((rx1_dr_offset & 0x07) << 4) | (rx2_dr & 0x0f))
    }

    /// The same settings with OptNeg set.
    pub const fn with_opt_neg(self) -> Self {
        Self(self.0 | Self::OPT_NEG)
    }

    /// The raw byte.
    pub const fn byte(self) -> u8 {
        self.0
    }

    /// OptNeg.
    pub const fn opt_neg(self) -> bool {
        self.0 & Self::OPT_NEG != 0
    }

    /// RX1DROffset.
    pub const fn rx1_dr_offset(self) -> u8 {
        (self.0 >> 4) & 0x07
    }

    /// RX2DataRate.
    pub const fn rx2_dr(self) -> u8 {
        self.0 & 0x0f
    }
}

/// A decrypted join-accept, owned (at most 33 bytes, no allocation):
/// `MHDR | JoinNonce | Home_NetID | DevAddr | DLSettings | RxDelay | [CFList] | MIC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinAccept {
    plain: [u8; JOIN_ACCEPT_CFLIST_LEN],
    len: u8,
}

impl JoinAccept {
    /// Wraps plaintext bytes `MHDR .. MIC` (17 or 33 bytes, MType JoinAccept).
    pub fn from_plaintext(bytes: &[u8]) -> Result<Self, PhyError> {
        header(bytes, "a join-accept", |m| m == MType::JoinAccept)?;
        check_len(
            bytes,
            MType::JoinAccept,
            &[JOIN_ACCEPT_LEN, JOIN_ACCEPT_CFLIST_LEN],
            "17 or 33 bytes",
        )?;
        let mut plain = [0u8; JOIN_ACCEPT_CFLIST_LEN];
        let (dst, _) = plain.split_at_mut(bytes.len());
        dst.copy_from_slice(bytes);
        Ok(Self {
            plain,
            len: bytes.len() as u8,
        })
    }

    /// The plaintext `MHDR .. MIC`.
    pub fn bytes(&self) -> &[u8] {
        self.plain.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The plaintext `MHDR .. CFList`, the MIC input of LoRaWAN 1.0 (and the tail of 1.1's).
    pub fn msg(&self) -> &[u8] {
        let end = usize::from(self.len).saturating_sub(4);
        self.plain.get(..end).unwrap_or_default()
    }

    /// The MAC header.
    pub const fn mhdr(&self) -> Mhdr {
        Mhdr::from_byte(self.plain[0])
    }

    /// JoinNonce (AppNonce in 1.0.x).
    pub fn join_nonce(&self) -> JoinNonce {
        JoinNonce::from_le_bytes([self.plain[1], self.plain[2], self.plain[3]])
    }

    /// Home_NetID.
    pub fn home_net_id(&self) -> NetId {
        NetId::from_le_bytes([self.plain[4], self.plain[5], self.plain[6]])
    }

    /// DevAddr.
    pub fn dev_addr(&self) -> DevAddr {
        DevAddr::from_le_bytes([self.plain[7], self.plain[8], self.plain[9], self.plain[10]])
    }

    /// DLSettings.
    pub const fn dl_settings(&self) -> DlSettings {
        DlSettings::from_byte(self.plain[11])
    }

    /// The RxDelay byte (bits 3..0: delay in seconds, 0 meaning 1; bits 7..4 RFU).
    pub const fn rx_delay(&self) -> u8 {
        self.plain[12]
    }

    /// CFList, when present.
    pub fn cf_list(&self) -> Option<[u8; 16]> {
        if usize::from(self.len) == JOIN_ACCEPT_CFLIST_LEN {
            array_at(&self.plain, 13)
        } else {
            None
        }
    }

    /// The decrypted MIC.
    pub fn mic(&self) -> Mic {
        array_at(&self.plain, usize::from(self.len).saturating_sub(4)).unwrap_or_default()
    }

    /// Checks the LoRaWAN 1.0 MIC (OptNeg = 0): `aes128_cmac(AppKey / NwkKey, msg)[0..4]`.
    pub fn verify_mic_1_0(&self, key: &MicKey) -> Result<(), MicError> {
        verified(
            &self.mic(),
            &join_crypto::join_accept_mic_1_0(key, self.msg()),
        )
    }

    /// Checks the LoRaWAN 1.1 MIC (OptNeg = 1) with JSIntKey:
    /// `aes128_cmac(JSIntKey, JoinReqType | JoinEUI | DevNonce | msg)[0..4]`, where DevNonce is
    /// RJcount0/RJcount1 when answering a rejoin.
    pub fn verify_mic_1_1(
        &self,
        js_int_key: &MicKey,
        join_req_type: JoinReqType,
        join_eui: Eui64,
        dev_nonce: u16,
    ) -> Result<(), MicError> {
        let expected = join_crypto::join_accept_mic_1_1(
            js_int_key,
            join_req_type,
            join_eui,
            dev_nonce,
            self.msg(),
        );
        verified(&self.mic(), &expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AesKey;
    use crate::phy::PhyPayload;

    fn hex(s: &str) -> Vec<u8> {
        crate::ids::parse_hex_vec(s).unwrap()
    }

    #[test]
    fn join_request_view_and_mic() {
        let bytes = hex("0001010101010101010202020202020202030309b97b32");
        let phy = PhyPayload::parse(&bytes).unwrap();
        let jr = phy.join_request().unwrap();
        assert_eq!(jr.join_eui().to_u64(), 0x0101_0101_0101_0101);
        assert_eq!(jr.dev_eui().to_u64(), 0x0202_0202_0202_0202);
        assert_eq!(jr.dev_nonce(), 771);
        let key: AesKey = "0102030405060708090a0b0c0d0e0f10".parse().unwrap();
        jr.verify_mic(&MicKey::new(&key)).unwrap();
        assert_eq!(
            jr.verify_mic(&MicKey::new(&AesKey::new([0; 16]))),
            Err(MicError::Mismatch)
        );
    }

    #[test]
    fn rejoin_views() {
        let t2 = hex("c0020302010807060504030201db003c8642ae");
        let rj = RejoinRequest::parse(&t2).unwrap();
        assert_eq!(rj.rejoin_type(), RejoinType::Type2);
        assert_eq!(rj.net_id(), Some("010203".parse().unwrap()));
        assert_eq!(rj.dev_eui(), "0102030405060708".parse().unwrap());
        assert_eq!(rj.rj_count(), 219);
        rj.verify_mic(&MicKey::new(&AesKey::new([0; 16]))).unwrap();

        let t1 = hex("c0010807060504030201100f0e0d0c0b0a09db00eac31072");
        let rj = RejoinRequest::parse(&t1).unwrap();
        assert_eq!(rj.rejoin_type(), RejoinType::Type1);
        assert_eq!(rj.join_eui(), Some("0102030405060708".parse().unwrap()));
        assert_eq!(rj.dev_eui(), "090a0b0c0d0e0f10".parse().unwrap());
        assert_eq!(rj.rejoin_type().join_req_type(), JoinReqType::Rejoin1);

        assert_eq!(
            RejoinRequest::parse(&[0xc0, 3, 0, 0, 0]),
            Err(PhyError::UnknownRejoinType(3))
        );
        assert!(RejoinRequest::parse(&t1[..20]).is_err());
        assert_eq!(
            JoinRequest::parse(&t1[..23]),
            Err(PhyError::UnexpectedMType {
                expected: "a join-request",
                found: MType::RejoinRequest
            })
        );
    }

    #[test]
    fn join_accept_decrypts_and_decodes() {
        let key: AesKey = "00112233445566778899aabbccddeeff".parse().unwrap();
        let bytes = hex("20493eeb51fba2116f810edb3742975142");
        let ja = EncryptedJoinAccept::parse(&bytes)
            .unwrap()
            .decrypt(&CipherKey::new(&key));
        assert_eq!(ja.join_nonce().get(), 5_704_647);
        assert_eq!(ja.home_net_id().to_string(), "221101");
        assert_eq!(ja.dev_addr().to_string(), "02031980");
        assert_eq!(ja.dl_settings(), DlSettings::from_byte(0));
        assert_eq!(ja.rx_delay(), 0);
        assert_eq!(ja.cf_list(), None);
        assert_eq!(ja.mic(), [0x43, 0x48, 0x5b, 0xbc]);
        ja.verify_mic_1_0(&MicKey::new(&key)).unwrap();
    }

    #[test]
    fn dl_settings_bits() {
        let d = DlSettings::new(1, 3).with_opt_neg();
        assert_eq!(d.byte(), 0x93);
        assert!(d.opt_neg());
        assert_eq!((d.rx1_dr_offset(), d.rx2_dr()), (1, 3));
    }
}
