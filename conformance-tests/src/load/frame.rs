//! Join-request frames and join-accept checks, written from the specification (TS001 L2
//! 1.0.4 §6.2.4–§6.2.6, 1.1 §6.2.2–§6.2.3) rather than imported from `crates/lorawan`: the
//! conformance suite must not share code with what it tests (STYLE 13).
//!
//! Identifiers are held as numbers in display (big-endian) order and turned into air
//! (little-endian) bytes only here, in one place.

use std::fmt;
use std::str::FromStr;

use aes::cipher::{generic_array::GenericArray, BlockDecrypt, BlockEncrypt, KeyInit};
use aes::Aes128;
use cmac::{Cmac, Mac};

/// An AES-128 key (AppKey, NwkKey, JSIntKey), in the order it is printed and imported.
pub type Key = [u8; 16];

/// MHDR of a join-request: MType 000, Major 00 (LoRaWAN R1).
pub const JOIN_REQUEST_MHDR: u8 = 0x00;
/// MHDR of a join-accept: MType 001, Major 00.
pub const JOIN_ACCEPT_MHDR: u8 = 0x20;
/// Length of a join-request PHYPayload: MHDR, JoinEUI, DevEUI, DevNonce, MIC.
pub const JOIN_REQUEST_LEN: usize = 1 + 8 + 8 + 2 + 4;
/// JoinReqType of a join-request in the 1.1 join-accept MIC (§6.2.3).
pub const JOIN_REQ_TYPE_JOIN: u8 = 0xff;

/// A 64-bit EUI (DevEUI, JoinEUI), in display order: `70b3d57ed0000001` is
/// `Eui64(0x70b3d57ed0000001)` and goes on the air as `01 00 00 d0 7e d5 b3 70`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Eui64(pub u64);

impl Eui64 {
    /// The 8 bytes as they are sent over the air (little-endian).
    pub fn air_bytes(self) -> [u8; 8] {
        self.0.to_le_bytes()
    }
}

impl fmt::Display for Eui64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for Eui64 {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex_number(s, 16).map(Self)
    }
}

/// A 24-bit NetID, in display order (`000013`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NetId(u32);

impl NetId {
    /// A NetID from its 24-bit value; `None` above `0xffffff`.
    pub fn new(value: u32) -> Option<Self> {
        (value <= 0xff_ffff).then_some(Self(value))
    }

    /// The 24-bit value.
    pub fn value(self) -> u32 {
        self.0
    }

    /// The NetID type: its 3 most significant bits.
    pub fn netid_type(self) -> u32 {
        self.0 >> 21
    }

    /// How many low bits of a DevAddr of this network are free (NwkAddr), per type 0–7
    /// (TS002 1.1 §13 / RP002, with the errata's 11 and 12 NwkID bits for types 3 and 4).
    pub fn nwk_addr_bits(self) -> u32 {
        [25, 24, 20, 17, 15, 13, 10, 7][self.netid_type() as usize]
    }

    /// The DevAddr this network gives to `nwk_addr` (its low [`Self::nwk_addr_bits`] bits are
    /// used): type prefix (`type` ones then a zero), NwkID (the NetID's low bits), NwkAddr.
    pub fn dev_addr(self, nwk_addr: u32) -> u32 {
        let t = self.netid_type();
        let addr_bits = self.nwk_addr_bits();
        let prefix_len = t + 1;
        let nwk_id_bits = 32 - prefix_len - addr_bits;
        // `t` ones followed by one zero, in the top `t + 1` bits.
        let prefix = if t == 0 {
            0
        } else {
            (u32::MAX << (32 - t)) & !(1 << (31 - t))
        };
        let nwk_id = self.0 & ((1 << nwk_id_bits) - 1);
        let addr_mask = (1_u32 << addr_bits) - 1;
        prefix | (nwk_id << addr_bits) | (nwk_addr & addr_mask)
    }
}

impl fmt::Display for NetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06x}", self.0)
    }
}

impl FromStr for NetId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex_number(s, 6).map(|v| Self(v as u32))
    }
}

/// Parses exactly `digits` hex digits (any case, an optional `0x`) into a number.
fn parse_hex_number(s: &str, digits: usize) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if t.len() != digits || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{s:?} is not {digits} hex digits"));
    }
    u64::from_str_radix(t, 16).map_err(|e| format!("{s:?}: {e}"))
}

/// Parses a 32-hex-digit key (any case).
pub fn parse_key(s: &str) -> Result<Key, String> {
    let mut key = [0_u8; 16];
    hex::decode_to_slice(s.trim(), &mut key)
        .map_err(|_| format!("{s:?} is not a 32 hex digit key"))?;
    Ok(key)
}

/// AES-128 encryption of one block.
pub fn aes_encrypt(key: &Key, block: [u8; 16]) -> [u8; 16] {
    let mut block = GenericArray::from(block);
    Aes128::new(GenericArray::from_slice(key)).encrypt_block(&mut block);
    block.into()
}

/// The LoRaWAN MIC: the first 4 bytes of AES-CMAC(key, the parts in order).
pub fn mic(key: &Key, parts: &[&[u8]]) -> [u8; 4] {
    let mut mac = <Cmac<Aes128> as KeyInit>::new(GenericArray::from_slice(key));
    for part in parts {
        mac.update(part);
    }
    let tag = mac.finalize().into_bytes();
    [tag[0], tag[1], tag[2], tag[3]]
}

/// The join-request PHYPayload: `MHDR | JoinEUI | DevEUI | DevNonce | MIC`, EUIs and DevNonce
/// little-endian, MIC = CMAC(key, MHDR | JoinEUI | DevEUI | DevNonce)[0..4] with
/// key = AppKey for a 1.0.x device, NwkKey for 1.1 (1.0.4 §6.2.4, 1.1 §6.2.2).
pub fn join_request(
    key: &Key,
    join_eui: Eui64,
    dev_eui: Eui64,
    dev_nonce: u16,
) -> [u8; JOIN_REQUEST_LEN] {
    let mut phy = [0_u8; JOIN_REQUEST_LEN];
    phy[0] = JOIN_REQUEST_MHDR;
    phy[1..9].copy_from_slice(&join_eui.air_bytes());
    phy[9..17].copy_from_slice(&dev_eui.air_bytes());
    phy[17..19].copy_from_slice(&dev_nonce.to_le_bytes());
    let m = mic(key, &[&phy[..19]]);
    phy[19..].copy_from_slice(&m);
    phy
}

/// JSIntKey = aes128_encrypt(NwkKey, 0x06 | DevEUI | pad16) (LoRaWAN 1.1 §6.1.1.3).
pub fn js_int_key(nwk_key: &Key, dev_eui: Eui64) -> Key {
    let mut block = [0_u8; 16];
    block[0] = 0x06;
    block[1..9].copy_from_slice(&dev_eui.air_bytes());
    aes_encrypt(nwk_key, block)
}

/// Keys and request fields a join-accept is checked with.
#[derive(Debug, Clone, Copy)]
pub enum AcceptKeys {
    /// A LoRaWAN 1.0.x device: the accept is encrypted and signed with the AppKey.
    V1_0 {
        /// AppKey.
        app_key: Key,
    },
    /// A LoRaWAN 1.1 device answering a join-request: encrypted with the NwkKey; signed with
    /// the JSIntKey over JoinReqType | JoinEUI | DevNonce too when OptNeg is set, else with
    /// the NwkKey in the 1.0 form (a 1.1 device on a 1.0 network).
    V1_1 {
        /// NwkKey.
        nwk_key: Key,
        /// JSIntKey (see [`js_int_key`]).
        js_int_key: Key,
        /// The JoinEUI of the request.
        join_eui: Eui64,
        /// The DevNonce of the request.
        dev_nonce: u16,
    },
}

/// The fields of a decrypted, verified join-accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinAccept {
    /// JoinNonce (AppNonce before 1.0.4), 24 bits.
    pub join_nonce: u32,
    /// The home NetID.
    pub net_id: u32,
    /// The DevAddr given to the device.
    pub dev_addr: u32,
    /// DLSettings (bit 7: OptNeg).
    pub dl_settings: u8,
    /// RxDelay.
    pub rx_delay: u8,
    /// Whether the 16-byte CFList was present.
    pub has_cf_list: bool,
}

/// Why a join-accept was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptError {
    /// Neither 17 nor 33 bytes.
    Length(usize),
    /// Not the join-accept MHDR.
    Mhdr(u8),
    /// The MIC does not match: wrong key, or a corrupted or foreign accept.
    Mic,
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length(n) => write!(f, "join-accept of {n} bytes (expected 17 or 33)"),
            Self::Mhdr(m) => write!(f, "join-accept MHDR {m:02x} (expected 20)"),
            Self::Mic => write!(f, "join-accept MIC does not verify"),
        }
    }
}

/// Undoes the join-accept encryption: the Join Server "encrypts" everything after the MHDR
/// with AES *decrypt* so that the device only needs AES encrypt (1.0.4 §6.2.6), so reading
/// it is an AES-ECB encryption. Returns `MHDR | payload | MIC` in clear.
pub fn decrypt_join_accept(key: &Key, phy: &[u8]) -> Result<Vec<u8>, AcceptError> {
    if phy.len() != 17 && phy.len() != 33 {
        return Err(AcceptError::Length(phy.len()));
    }
    if phy[0] != JOIN_ACCEPT_MHDR {
        return Err(AcceptError::Mhdr(phy[0]));
    }
    let aes = Aes128::new(GenericArray::from_slice(key));
    let mut clear = phy.to_vec();
    for chunk in clear[1..].chunks_exact_mut(16) {
        aes.encrypt_block(GenericArray::from_mut_slice(chunk));
    }
    Ok(clear)
}

/// The inverse of [`decrypt_join_accept`], as a Join Server does it (for tests and vectors).
pub fn encrypt_join_accept(key: &Key, clear: &[u8]) -> Result<Vec<u8>, AcceptError> {
    if clear.len() != 17 && clear.len() != 33 {
        return Err(AcceptError::Length(clear.len()));
    }
    let aes = Aes128::new(GenericArray::from_slice(key));
    let mut phy = clear.to_vec();
    for chunk in phy[1..].chunks_exact_mut(16) {
        aes.decrypt_block(GenericArray::from_mut_slice(chunk));
    }
    Ok(phy)
}

/// Decrypts a join-accept PHYPayload, checks its MIC and returns its fields.
pub fn verify_join_accept(keys: &AcceptKeys, phy: &[u8]) -> Result<JoinAccept, AcceptError> {
    let encryption_key = match keys {
        AcceptKeys::V1_0 { app_key } => app_key,
        AcceptKeys::V1_1 { nwk_key, .. } => nwk_key,
    };
    let clear = decrypt_join_accept(encryption_key, phy)?;
    let (signed, received_mic) = clear.split_at(clear.len() - 4);
    let dl_settings = signed[11];
    let opt_neg = dl_settings & 0x80 != 0;
    let expected = match keys {
        AcceptKeys::V1_1 {
            js_int_key,
            join_eui,
            dev_nonce,
            ..
        } if opt_neg => mic(
            js_int_key,
            &[
                &[JOIN_REQ_TYPE_JOIN],
                &join_eui.air_bytes(),
                &dev_nonce.to_le_bytes(),
                signed,
            ],
        ),
        _ => mic(encryption_key, &[signed]),
    };
    if expected != received_mic {
        return Err(AcceptError::Mic);
    }
    let le24 = |b: &[u8]| u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
    Ok(JoinAccept {
        join_nonce: le24(&signed[1..4]),
        net_id: le24(&signed[4..7]),
        dev_addr: u32::from_le_bytes([signed[7], signed[8], signed[9], signed[10]]),
        dl_settings,
        rx_delay: signed[12],
        has_cf_list: signed.len() == 29,
    })
}
