//! Join procedure: join-accept build + MIC + encryption for LoRaWAN 1.0.x and 1.1, join- and
//! rejoin-request builders (for simulators), and the DevNonce / JoinNonce acceptance rules.
//!
//! The received-frame views (join-request, rejoin-request, join-accept) are in [`crate::phy`].
//! Everything here is pure: the rules take the stored state and return a verdict; storing the
//! new state is the caller's business.

use std::fmt;
use std::str::FromStr;

use aes::cipher::{generic_array::GenericArray, BlockDecrypt, KeyInit};
use aes::Aes128Dec;

use crate::crypto::{self, Mic, MicKey};
use crate::ids::{AesKey, DevAddr, Eui64, NetId};
use crate::phy::{DlSettings, MType, Major, Mhdr, RejoinType};

/// JoinReqType, the first byte of the LoRaWAN 1.1 join-accept MIC input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JoinReqType {
    /// Answer to a join-request (`0xFF`).
    Join,
    /// Answer to a rejoin-request type 0 (`0x00`).
    Rejoin0,
    /// Answer to a rejoin-request type 1 (`0x01`).
    Rejoin1,
    /// Answer to a rejoin-request type 2 (`0x02`).
    Rejoin2,
}

impl JoinReqType {
    /// The byte in the MIC input.
    pub const fn byte(self) -> u8 {
        match self {
            Self::Join => 0xff,
            Self::Rejoin0 => 0x00,
            Self::Rejoin1 => 0x01,
            Self::Rejoin2 => 0x02,
        }
    }

    /// From the byte; `None` for the other 252 values.
    pub const fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0xff => Some(Self::Join),
            0x00 => Some(Self::Rejoin0),
            0x01 => Some(Self::Rejoin1),
            0x02 => Some(Self::Rejoin2),
            _ => None,
        }
    }
}

/// A 24-bit JoinNonce (AppNonce in LoRaWAN ≤ 1.0.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct JoinNonce(u32);

impl JoinNonce {
    /// The largest JoinNonce, `2^24 - 1`.
    pub const MAX: Self = Self(0x00ff_ffff);

    /// `None` when `value` does not fit in 24 bits.
    pub const fn new(value: u32) -> Option<Self> {
        if value > Self::MAX.0 {
            None
        } else {
            Some(Self(value))
        }
    }

    /// The value.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// From the 3 air (little-endian) bytes.
    pub const fn from_le_bytes(b: [u8; 3]) -> Self {
        Self(u32::from_le_bytes([b[0], b[1], b[2], 0]))
    }

    /// The 3 air (little-endian) bytes.
    pub const fn to_le_bytes(self) -> [u8; 3] {
        let b = self.0.to_le_bytes();
        [b[0], b[1], b[2]]
    }

    /// The JoinNonce a JS sends next after `self` (the last one sent, 0 for a new device):
    /// TS001-1.0.4 §6.2.3 "the Join Server SHALL increment the JoinNonce value by 1 for every
    /// Join-accept", and it never wraps.
    pub const fn next(self) -> Result<Self, JoinNonceError> {
        if self.0 >= Self::MAX.0 {
            return Err(JoinNonceError::Exhausted);
        }
        Ok(Self(self.0 + 1))
    }
}

impl fmt::Display for JoinNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The LoRaWAN 1.0 join-accept MIC: `aes128_cmac(AppKey (NwkKey for 1.1 devices), msg)[0..4]`,
/// `msg = MHDR | JoinNonce | NetID | DevAddr | DLSettings | RxDelay | [CFList]` in clear.
pub fn join_accept_mic_1_0(key: &MicKey, msg: &[u8]) -> Mic {
    crypto::plain_mic(key, msg)
}

/// The LoRaWAN 1.1 join-accept MIC (OptNeg = 1):
/// `aes128_cmac(JSIntKey, JoinReqType | JoinEUI | DevNonce | msg)[0..4]`, DevNonce being
/// RJcount0 / RJcount1 when answering a rejoin.
pub fn join_accept_mic_1_1(
    js_int_key: &MicKey,
    join_req_type: JoinReqType,
    join_eui: Eui64,
    dev_nonce: u16,
    msg: &[u8],
) -> Mic {
    js_int_key.mic(&[
        &[join_req_type.byte()],
        &join_eui.to_le_bytes(),
        &dev_nonce.to_le_bytes(),
        msg,
    ])
}

/// The fields of a join-accept, to build the encrypted frame a JS returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinAcceptBuilder {
    /// JoinNonce.
    pub join_nonce: JoinNonce,
    /// Home_NetID.
    pub home_net_id: NetId,
    /// DevAddr.
    pub dev_addr: DevAddr,
    /// DLSettings; OptNeg is set or cleared by the build method chosen.
    pub dl_settings: DlSettings,
    /// RxDelay byte (bits 3..0).
    pub rx_delay: u8,
    /// CFList (16 bytes, CFListType last), if any.
    pub cf_list: Option<[u8; 16]>,
}

impl JoinAcceptBuilder {
    /// `MHDR | JoinNonce | NetID | DevAddr | DLSettings | RxDelay | [CFList]` in clear.
    fn msg(&self, dl_settings: DlSettings) -> Vec<u8> {
        let mut msg = Vec::with_capacity(33);
        msg.push(Mhdr::new(MType::JoinAccept, Major::R1).byte());
        msg.extend_from_slice(&self.join_nonce.to_le_bytes());
        msg.extend_from_slice(&self.home_net_id.to_le_bytes());
        msg.extend_from_slice(&self.dev_addr.to_le_bytes());
        msg.push(dl_settings.byte());
        msg.push(self.rx_delay);
        if let Some(cf_list) = &self.cf_list {
            msg.extend_from_slice(cf_list);
        }
        msg
    }

    /// A LoRaWAN 1.0.x join-accept (OptNeg cleared): MIC and encryption with `key` (AppKey of a
    /// 1.0 device, NwkKey of a 1.1 device on a 1.0 network).
    pub fn build_1_0(&self, key: &AesKey) -> Vec<u8> {
        let dl = DlSettings::from_byte(self.dl_settings.byte() & !DlSettings::OPT_NEG);
        let mut phy = self.msg(dl);
        let mic = join_accept_mic_1_0(&MicKey::new(key), &phy);
        phy.extend_from_slice(&mic);
        encrypt_join_accept(key, &mut phy);
        phy
    }

    /// A LoRaWAN 1.1 join-accept (OptNeg set): MIC with JSIntKey over JoinReqType, JoinEUI and
    /// DevNonce (or RJcount), encrypted with `enc_key` (NwkKey for a join-request, JSEncKey for
    /// a rejoin-request).
    pub fn build_1_1(
        &self,
        js_int_key: &MicKey,
        enc_key: &AesKey,
        join_req_type: JoinReqType,
        join_eui: Eui64,
        dev_nonce: u16,
    ) -> Vec<u8> {
        let mut phy = self.msg(self.dl_settings.with_opt_neg());
        let mic = join_accept_mic_1_1(js_int_key, join_req_type, join_eui, dev_nonce, &phy);
        phy.extend_from_slice(&mic);
        encrypt_join_accept(enc_key, &mut phy);
        phy
    }
}

/// Encrypts a clear join-accept `MHDR .. MIC` in place: AES-ECB *decryption* of every 16-byte
/// block after MHDR (TS001 §6.2.3: "the network server uses an AES decrypt operation in ECB
/// mode to encrypt the join-accept message"). A trailing partial block is left as is.
pub fn encrypt_join_accept(key: &AesKey, phy: &mut [u8]) {
    let aes = Aes128Dec::new(GenericArray::from_slice(key.bytes()));
    if let Some(body) = phy.get_mut(1..) {
        for chunk in body.chunks_exact_mut(16) {
            aes.decrypt_block(GenericArray::from_mut_slice(chunk));
        }
    }
}

/// A join-request with its MIC (`key`: AppKey in 1.0.x, NwkKey in 1.1), for simulators.
pub fn build_join_request(
    key: &MicKey,
    join_eui: Eui64,
    dev_eui: Eui64,
    dev_nonce: u16,
) -> [u8; 23] {
    let mut phy = [0u8; 23];
    phy[0] = Mhdr::new(MType::JoinRequest, Major::R1).byte();
    phy[1..9].copy_from_slice(&join_eui.to_le_bytes());
    phy[9..17].copy_from_slice(&dev_eui.to_le_bytes());
    phy[17..19].copy_from_slice(&dev_nonce.to_le_bytes());
    let mic = crypto::plain_mic(key, &phy[..19]);
    phy[19..].copy_from_slice(&mic);
    phy
}

/// The identifier a rejoin-request carries after its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejoinIdent {
    /// Type 0 or 2, with NetID.
    NetId(RejoinType, NetId),
    /// Type 1, with JoinEUI.
    JoinEui(Eui64),
}

/// A rejoin-request with its MIC (`key`: SNwkSIntKey for types 0/2, JSIntKey for type 1), for
/// simulators. Returns the frame (19 or 24 bytes). A `RejoinType::Type1` inside
/// [`RejoinIdent::NetId`] is treated as type 0, the only NetID-carrying types being 0 and 2.
pub fn build_rejoin_request(
    key: &MicKey,
    ident: RejoinIdent,
    dev_eui: Eui64,
    rj_count: u16,
) -> Vec<u8> {
    let mut phy = Vec::with_capacity(24);
    phy.push(Mhdr::new(MType::RejoinRequest, Major::R1).byte());
    match ident {
        RejoinIdent::NetId(ty, net_id) => {
            phy.push(if ty == RejoinType::Type2 { 2 } else { 0 });
            phy.extend_from_slice(&net_id.to_le_bytes());
        }
        RejoinIdent::JoinEui(join_eui) => {
            phy.push(1);
            phy.extend_from_slice(&join_eui.to_le_bytes());
        }
    }
    phy.extend_from_slice(&dev_eui.to_le_bytes());
    phy.extend_from_slice(&rj_count.to_le_bytes());
    let mic = crypto::plain_mic(key, &phy);
    phy.extend_from_slice(&mic);
    phy
}

/// A LoRaWAN L2 version, as far as the join rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MacVersion {
    /// 1.0.0.
    V1_0_0,
    /// 1.0.1.
    V1_0_1,
    /// 1.0.2.
    V1_0_2,
    /// 1.0.3.
    V1_0_3,
    /// 1.0.4.
    V1_0_4,
    /// 1.1 (1.1.0).
    V1_1,
}

/// An unknown version string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown LoRaWAN version {0:?}")]
pub struct UnknownVersion(pub String);

impl FromStr for MacVersion {
    type Err = UnknownVersion;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "1.0" | "1.0.0" => Ok(Self::V1_0_0),
            "1.0.1" => Ok(Self::V1_0_1),
            "1.0.2" => Ok(Self::V1_0_2),
            "1.0.3" => Ok(Self::V1_0_3),
            "1.0.4" => Ok(Self::V1_0_4),
            "1.1" | "1.1.0" => Ok(Self::V1_1),
            other => Err(UnknownVersion(other.to_owned())),
        }
    }
}

impl fmt::Display for MacVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V1_0_0 => "1.0.0",
            Self::V1_0_1 => "1.0.1",
            Self::V1_0_2 => "1.0.2",
            Self::V1_0_3 => "1.0.3",
            Self::V1_0_4 => "1.0.4",
            Self::V1_1 => "1.1.0",
        })
    }
}

/// Why a join server ignores a join-request's DevNonce. The device (or a replay) is to blame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DevNonceError {
    /// A random DevNonce (≤ 1.0.3) seen before.
    #[error("DevNonce {0} was used before")]
    Reused(u16),
    /// A counter DevNonce (1.0.4, 1.1) not greater than the last accepted one.
    #[error("DevNonce {received} is not greater than the last one, {last}")]
    NotIncreasing {
        /// The last accepted DevNonce.
        last: u16,
        /// The one received.
        received: u16,
    },
}

/// How a join server judges DevNonces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DevNoncePolicy {
    /// LoRaWAN ≤ 1.0.3: random values; reject one among the recent ones kept (1.0.3 §6.2.4:
    /// the server "keeps track of a certain number of DevNonce values used by the end-device
    /// in the past, and ignores join requests with any of these DevNonce values").
    RandomNoReuse,
    /// LoRaWAN 1.0.4 and 1.1: a counter; TS001-1.0.4 §6.2.5: the Join Server "SHALL ignore
    /// Join-Requests whose DevNonce is not greater than the last one". Gaps are fine, there
    /// is no wrap, and the first value need not be 0 (LoRaMac-node starts at 1).
    Counter,
}

impl DevNoncePolicy {
    /// The policy of a device of version `version`.
    pub const fn for_version(version: MacVersion) -> Self {
        match version {
            MacVersion::V1_0_0 | MacVersion::V1_0_1 | MacVersion::V1_0_2 | MacVersion::V1_0_3 => {
                Self::RandomNoReuse
            }
            MacVersion::V1_0_4 | MacVersion::V1_1 => Self::Counter,
        }
    }

    /// Judges `new` against what the JS stored: the recently used DevNonces for
    /// [`Self::RandomNoReuse`]; the last accepted DevNonce for [`Self::Counter`] (a longer
    /// history works too: its maximum is taken). Empty means a device that never joined.
    pub fn check(self, last_or_history: &[u16], new: u16) -> Result<(), DevNonceError> {
        match self {
            Self::RandomNoReuse => {
                if last_or_history.contains(&new) {
                    return Err(DevNonceError::Reused(new));
                }
            }
            Self::Counter => {
                if let Some(&last) = last_or_history.iter().max() {
                    if new <= last {
                        return Err(DevNonceError::NotIncreasing {
                            last,
                            received: new,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// A JoinNonce the JS cannot send or the device must discard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinNonceError {
    /// The JS has used all 2^24 - 1 values for this device (it must be re-provisioned).
    #[error("JoinNonce exhausted")]
    Exhausted,
    /// (Device side, 1.1) not greater than the last accepted JoinNonce.
    #[error("JoinNonce {received} is not greater than the last one, {last}")]
    NotIncreasing {
        /// The last accepted JoinNonce.
        last: JoinNonce,
        /// The one received.
        received: JoinNonce,
    },
    /// (Device side, 1.0.x) equal to the last accepted JoinNonce.
    #[error("JoinNonce {0} repeats the last one")]
    Repeated(JoinNonce),
}

/// How an end-device (or a device simulator) judges a join-accept's JoinNonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JoinNoncePolicy {
    /// LoRaWAN 1.0.x, as LoRaMac-node does by default: different from the last one.
    NotRepeated,
    /// LoRaWAN 1.1: greater than the last one (LoRaMac-node `IsJoinNonce11xOk`).
    Increasing,
}

impl JoinNoncePolicy {
    /// The policy of a device of version `version`.
    pub const fn for_version(version: MacVersion) -> Self {
        match version {
            MacVersion::V1_1 => Self::Increasing,
            _ => Self::NotRepeated,
        }
    }

    /// Judges `new` against the last accepted JoinNonce (`None` before the first join).
    pub fn check(self, last: Option<JoinNonce>, new: JoinNonce) -> Result<(), JoinNonceError> {
        let Some(last) = last else {
            return Ok(());
        };
        match self {
            Self::Increasing if new <= last => Err(JoinNonceError::NotIncreasing {
                last,
                received: new,
            }),
            Self::NotRepeated if new == last => Err(JoinNonceError::Repeated(new)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::CipherKey;
    use crate::phy::{EncryptedJoinAccept, PhyPayload};

    #[test]
    fn join_accept_1_0_roundtrip() {
        let key: AesKey = "0102030405060708090a0b0c0d0e0f10".parse().unwrap();
        let builder = JoinAcceptBuilder {
            join_nonce: JoinNonce::new(65793).unwrap(),
            home_net_id: "020202".parse().unwrap(),
            dev_addr: "01020304".parse().unwrap(),
            dl_settings: DlSettings::new(0, 0),
            rx_delay: 0,
            cf_list: None,
        };
        let phy = builder.build_1_0(&key);
        assert_eq!(
            crate::ids::parse_hex_vec("2023cf335489aae3183c0be0baa8dee5f3").unwrap(),
            phy
        );
        let ja = EncryptedJoinAccept::parse(&phy)
            .unwrap()
            .decrypt(&CipherKey::new(&key));
        ja.verify_mic_1_0(&MicKey::new(&key)).unwrap();
        assert_eq!(ja.join_nonce().get(), 65793);
    }

    #[test]
    fn join_request_builder_parses_back() {
        let key = MicKey::new(&AesKey::new([1; 16]));
        let bytes = build_join_request(&key, Eui64::from_u64(1), Eui64::from_u64(2), 3);
        let jr = PhyPayload::parse(&bytes).unwrap().join_request().unwrap();
        assert_eq!(jr.dev_nonce(), 3);
        jr.verify_mic(&key).unwrap();
        let rj = build_rejoin_request(
            &key,
            RejoinIdent::NetId(RejoinType::Type2, NetId::from_u32(0x13).unwrap()),
            Eui64::from_u64(2),
            9,
        );
        let view = PhyPayload::parse(&rj).unwrap().rejoin_request().unwrap();
        assert_eq!(view.rejoin_type(), RejoinType::Type2);
        view.verify_mic(&key).unwrap();
    }

    #[test]
    fn join_nonce_is_24_bits() {
        assert!(JoinNonce::new(0x0100_0000).is_none());
        assert_eq!(JoinNonce::MAX.next(), Err(JoinNonceError::Exhausted));
        assert_eq!(JoinNonce::default().next().unwrap().get(), 1);
        assert_eq!(JoinNonce::from_le_bytes([1, 2, 3]).get(), 0x0003_0201);
        assert_eq!(JoinNonce::from_le_bytes([1, 2, 3]).to_le_bytes(), [1, 2, 3]);
    }

    #[test]
    fn versions_parse_and_print() {
        assert_eq!("1.0.4".parse(), Ok(MacVersion::V1_0_4));
        assert_eq!("1.1".parse(), Ok(MacVersion::V1_1));
        assert_eq!(MacVersion::V1_1.to_string(), "1.1.0");
        assert!("2.0".parse::<MacVersion>().is_err());
        assert_eq!(JoinReqType::from_byte(0xff), Some(JoinReqType::Join));
        assert_eq!(JoinReqType::from_byte(3), None);
    }
}
