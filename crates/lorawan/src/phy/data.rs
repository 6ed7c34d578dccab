//! Data frames (un/confirmed, up/down): the borrowed view, its MIC and decryption, and the
//! builder for the frames nsd emits.

use crate::crypto::{
    self, mic_eq, CipherKey, Direction, FOptsCounter, Mic, MicError, MicKey, UplinkMicParams,
};
use crate::ids::DevAddr;

use super::{array_at, header, split_mic, MType, Mhdr, PhyError, MAX_PHY_LEN};

/// FOpts is at most 15 bytes (FOptsLen is 4 bits).
pub const MAX_FOPTS_LEN: usize = 15;

/// MHDR + DevAddr + FCtrl + FCnt + MIC.
const MIN_DATA_LEN: usize = 1 + 7 + 4;

/// The FCtrl byte. Bit 6 and bit 4 mean different things per direction, hence both names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FCtrl(u8);

impl FCtrl {
    /// ADR (both directions).
    pub const ADR: u8 = 0x80;
    /// ADRACKReq (uplink; RFU on downlinks).
    pub const ADR_ACK_REQ: u8 = 0x40;
    /// ACK (both directions).
    pub const ACK: u8 = 0x20;
    /// FPending (downlink).
    pub const F_PENDING: u8 = 0x10;
    /// ClassB (uplink; the same bit as FPending).
    pub const CLASS_B: u8 = 0x10;

    /// From the raw byte.
    pub const fn from_byte(byte: u8) -> Self {
        Self(byte)
    }

    /// The raw byte.
    pub const fn byte(self) -> u8 {
        self.0
    }

    /// ADR.
    pub const fn adr(self) -> bool {
        self.0 & Self::ADR != 0
    }

    /// ADRACKReq (uplinks; on downlinks this bit is RFU).
    pub const fn adr_ack_req(self) -> bool {
        self.0 & Self::ADR_ACK_REQ != 0
    }

    /// ACK.
    pub const fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }

    /// FPending (downlinks).
    pub const fn f_pending(self) -> bool {
        self.0 & Self::F_PENDING != 0
    }

    /// ClassB (uplinks).
    pub const fn class_b(self) -> bool {
        self.0 & Self::CLASS_B != 0
    }

    /// FOptsLen, the number of FOpts bytes.
    pub const fn fopts_len(self) -> u8 {
        self.0 & 0x0f
    }

    const fn with_fopts_len(self, len: u8) -> Self {
        Self((self.0 & 0xf0) | (len & 0x0f))
    }
}

/// A data frame borrowing the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFrame<'a> {
    bytes: &'a [u8],
    msg: &'a [u8],
    mhdr: Mhdr,
    dev_addr: DevAddr,
    fctrl: FCtrl,
    fcnt16: u16,
    fopts: &'a [u8],
    fport: Option<u8>,
    frm_payload: &'a [u8],
    mic: Mic,
}

/// The caller's output buffer is shorter than the FRMPayload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("output buffer of {given} bytes, FRMPayload needs {needed}")]
pub struct BufferTooSmall {
    /// Bytes needed.
    pub needed: usize,
    /// Bytes given.
    pub given: usize,
}

impl<'a> DataFrame<'a> {
    /// Parses a whole data-frame PHYPayload (MHDR .. MIC); the MType must be a data type.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, PhyError> {
        let mhdr = header(bytes, "a data frame", MType::is_data)?;
        let length_error = PhyError::Length {
            mtype: mhdr.mtype(),
            len: bytes.len(),
            expected: "12..=255 bytes",
        };
        if bytes.len() < MIN_DATA_LEN {
            return Err(length_error);
        }
        let (msg, mic) = split_mic(bytes).ok_or(length_error)?;
        let dev_addr = DevAddr::from_le_bytes(array_at(msg, 1).ok_or(length_error)?);
        let [fctrl] = array_at::<1>(msg, 5).ok_or(length_error)?;
        let fctrl = FCtrl::from_byte(fctrl);
        let fcnt16 = u16::from_le_bytes(array_at(msg, 6).ok_or(length_error)?);
        let rest = msg.get(8..).unwrap_or_default();
        let fopts_len = usize::from(fctrl.fopts_len());
        if rest.len() < fopts_len {
            return Err(PhyError::FOptsOverrun {
                fopts_len: fctrl.fopts_len(),
                available: rest.len(),
            });
        }
        let (fopts, after) = rest.split_at(fopts_len);
        let (fport, frm_payload) = match after.split_first() {
            Some((&port, payload)) => (Some(port), payload),
            None => (None, after),
        };
        Ok(Self {
            bytes,
            msg,
            mhdr,
            dev_addr,
            fctrl,
            fcnt16,
            fopts,
            fport,
            frm_payload,
            mic,
        })
    }

    /// The whole frame as received.
    pub const fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// MHDR .. FRMPayload: the MIC input as received.
    pub const fn msg(&self) -> &'a [u8] {
        self.msg
    }

    /// The MAC header.
    pub const fn mhdr(&self) -> Mhdr {
        self.mhdr
    }

    /// The message type.
    pub const fn mtype(&self) -> MType {
        self.mhdr.mtype()
    }

    /// Uplink for the two `…DataUp` types, downlink for the two `…DataDown` types.
    pub const fn direction(&self) -> Direction {
        match self.mhdr.mtype() {
            MType::UnconfirmedDataUp | MType::ConfirmedDataUp => Direction::Uplink,
            _ => Direction::Downlink,
        }
    }

    /// `true` for confirmed frames.
    pub const fn confirmed(&self) -> bool {
        matches!(
            self.mhdr.mtype(),
            MType::ConfirmedDataUp | MType::ConfirmedDataDown
        )
    }

    /// DevAddr (display order).
    pub const fn dev_addr(&self) -> DevAddr {
        self.dev_addr
    }

    /// FCtrl.
    pub const fn fctrl(&self) -> FCtrl {
        self.fctrl
    }

    /// The 16 low-order bits of the frame counter, as on the air.
    pub const fn fcnt16(&self) -> u16 {
        self.fcnt16
    }

    /// FOpts as received (encrypted with NwkSEncKey in LoRaWAN 1.1).
    pub const fn fopts(&self) -> &'a [u8] {
        self.fopts
    }

    /// FPort, absent when nothing follows FHDR.
    pub const fn fport(&self) -> Option<u8> {
        self.fport
    }

    /// FRMPayload as received (encrypted).
    pub const fn frm_payload(&self) -> &'a [u8] {
        self.frm_payload
    }

    /// The MIC as received.
    pub const fn mic(&self) -> Mic {
        self.mic
    }

    /// TS001 §4.3.1.6 (paraphrased): MAC commands are carried either in FOpts or in an FPort-0
    /// FRMPayload, never both; such a frame is to be ignored. Parsing keeps the frame (a
    /// forwarder relays it byte for byte); the NS calls this before acting on MAC commands.
    pub fn check_mac_command_placement(&self) -> Result<(), PhyError> {
        if self.fport == Some(0) && !self.fopts.is_empty() {
            return Err(PhyError::MacCommandsInBoth);
        }
        Ok(())
    }

    fn check_fcnt(&self, fcnt: u32) -> Result<(), MicError> {
        if (fcnt & 0xffff) as u16 != self.fcnt16 {
            return Err(MicError::FCntMismatch {
                on_air: self.fcnt16,
                given: fcnt,
            });
        }
        Ok(())
    }

    fn check_direction(&self, expected: Direction) -> Result<(), MicError> {
        if self.direction() != expected {
            return Err(MicError::WrongDirection { expected });
        }
        Ok(())
    }

    /// ConfFCnt as the MIC uses it. TS001-1.1 §4.4: "If the ACK bit of the frame is set,
    /// ConfFCnt is the frame counter value modulo 2^16 of the confirmed frame that is being
    /// acknowledged. In all other cases ConfFCnt = 0x0000."
    fn effective_conf_fcnt(&self, conf_fcnt: u32) -> u32 {
        if self.fctrl.ack() {
            conf_fcnt & 0xffff
        } else {
            0
        }
    }

    /// The LoRaWAN 1.0.x MIC (either direction) with NwkSKey and the full 32-bit `fcnt`.
    pub fn mic_1_0(&self, nwk_s_key: &MicKey, fcnt: u32) -> Result<Mic, MicError> {
        self.check_fcnt(fcnt)?;
        crypto::data_mic_1_0(nwk_s_key, self.direction(), self.dev_addr, fcnt, self.msg)
    }

    /// Checks the LoRaWAN 1.0.x MIC (constant-time comparison).
    pub fn verify_mic_1_0(&self, nwk_s_key: &MicKey, fcnt: u32) -> Result<(), MicError> {
        verified(&self.mic, &self.mic_1_0(nwk_s_key, fcnt)?)
    }

    /// The LoRaWAN 1.1 uplink MIC (`cmacS[0..2] | cmacF[0..2]`); ConfFCnt is zeroed unless ACK.
    pub fn uplink_mic_1_1(
        &self,
        f_nwk_s_int_key: &MicKey,
        s_nwk_s_int_key: &MicKey,
        fcnt: u32,
        params: UplinkMicParams,
    ) -> Result<Mic, MicError> {
        self.check_direction(Direction::Uplink)?;
        self.check_fcnt(fcnt)?;
        let params = UplinkMicParams {
            conf_fcnt: self.effective_conf_fcnt(params.conf_fcnt),
            ..params
        };
        crypto::uplink_mic_1_1(
            f_nwk_s_int_key,
            s_nwk_s_int_key,
            self.dev_addr,
            fcnt,
            params,
            self.msg,
        )
    }

    /// Checks the full LoRaWAN 1.1 uplink MIC (serving NS / home NS with both keys).
    pub fn verify_uplink_mic_1_1(
        &self,
        f_nwk_s_int_key: &MicKey,
        s_nwk_s_int_key: &MicKey,
        fcnt: u32,
        params: UplinkMicParams,
    ) -> Result<(), MicError> {
        let expected = self.uplink_mic_1_1(f_nwk_s_int_key, s_nwk_s_int_key, fcnt, params)?;
        verified(&self.mic, &expected)
    }

    /// Checks only `cmacF`, the two low-order MIC bytes: what a forwarding NS holding only
    /// FNwkSIntKey can verify.
    pub fn verify_uplink_micf_1_1(
        &self,
        f_nwk_s_int_key: &MicKey,
        fcnt: u32,
    ) -> Result<(), MicError> {
        self.check_direction(Direction::Uplink)?;
        self.check_fcnt(fcnt)?;
        let f = crypto::uplink_micf_1_1(f_nwk_s_int_key, self.dev_addr, fcnt, self.msg)?;
        let [_, _, m2, m3] = self.mic;
        verified_half(&[m2, m3], &f)
    }

    /// Checks only `cmacS`, the two high-order MIC bytes (ConfFCnt is zeroed unless ACK).
    /// With [`DataFrame::verify_uplink_micf_1_1`] it is the full check of
    /// [`DataFrame::verify_uplink_mic_1_1`], split so that a server matching a frame against
    /// several sessions can compute `cmacS` (and prepare SNwkSIntKey) only for the session
    /// whose `cmacF` matched.
    pub fn verify_uplink_mics_1_1(
        &self,
        s_nwk_s_int_key: &MicKey,
        fcnt: u32,
        params: UplinkMicParams,
    ) -> Result<(), MicError> {
        self.check_direction(Direction::Uplink)?;
        self.check_fcnt(fcnt)?;
        let params = UplinkMicParams {
            conf_fcnt: self.effective_conf_fcnt(params.conf_fcnt),
            ..params
        };
        let s = crypto::uplink_mics_1_1(s_nwk_s_int_key, self.dev_addr, fcnt, params, self.msg)?;
        let [m0, m1, _, _] = self.mic;
        verified_half(&[m0, m1], &s)
    }

    /// The LoRaWAN 1.1 downlink MIC with SNwkSIntKey; ConfFCnt is zeroed unless ACK.
    pub fn downlink_mic_1_1(
        &self,
        s_nwk_s_int_key: &MicKey,
        fcnt: u32,
        conf_fcnt: u32,
    ) -> Result<Mic, MicError> {
        self.check_direction(Direction::Downlink)?;
        self.check_fcnt(fcnt)?;
        crypto::downlink_mic_1_1(
            s_nwk_s_int_key,
            self.dev_addr,
            fcnt,
            self.effective_conf_fcnt(conf_fcnt),
            self.msg,
        )
    }

    /// Checks the LoRaWAN 1.1 downlink MIC.
    pub fn verify_downlink_mic_1_1(
        &self,
        s_nwk_s_int_key: &MicKey,
        fcnt: u32,
        conf_fcnt: u32,
    ) -> Result<(), MicError> {
        verified(
            &self.mic,
            &self.downlink_mic_1_1(s_nwk_s_int_key, fcnt, conf_fcnt)?,
        )
    }

    /// Decrypts FRMPayload into `out` and returns the plaintext slice (no allocation).
    ///
    /// `key`: AppSKey for FPort > 0, NwkSKey (1.0) / NwkSEncKey (1.1) for FPort 0.
    pub fn decrypt_frm_payload_into<'o>(
        &self,
        key: &CipherKey,
        fcnt: u32,
        out: &'o mut [u8],
    ) -> Result<&'o [u8], BufferTooSmall> {
        let len = self.frm_payload.len();
        let given = out.len();
        let out = out
            .get_mut(..len)
            .ok_or(BufferTooSmall { needed: len, given })?;
        out.copy_from_slice(self.frm_payload);
        crypto::crypt_frm_payload(key, self.direction(), self.dev_addr, fcnt, out);
        Ok(out)
    }

    /// Decrypts FRMPayload into a new vector.
    pub fn frm_payload_decrypted(&self, key: &CipherKey, fcnt: u32) -> Vec<u8> {
        let mut out = self.frm_payload.to_vec();
        crypto::crypt_frm_payload(key, self.direction(), self.dev_addr, fcnt, &mut out);
        out
    }

    /// Which counter the LoRaWAN 1.1 FOpts keystream uses for this frame: AFCntDown for
    /// downlinks with FPort > 0, otherwise FCntUp / NFCntDown.
    pub fn fopts_counter(&self) -> FOptsCounter {
        match (self.direction(), self.fport) {
            (Direction::Downlink, Some(port)) if port > 0 => FOptsCounter::AppDown,
            _ => FOptsCounter::NetworkOrUp,
        }
    }

    /// Decrypts LoRaWAN 1.1 FOpts (NwkSEncKey) into `out` and returns the plaintext slice.
    /// (LoRaWAN 1.0.x FOpts are in clear: use [`DataFrame::fopts`].)
    pub fn decrypt_fopts_1_1_into<'o>(
        &self,
        nwk_s_enc_key: &CipherKey,
        fcnt: u32,
        out: &'o mut [u8; MAX_FOPTS_LEN],
    ) -> &'o [u8] {
        let len = self.fopts.len().min(MAX_FOPTS_LEN);
        let (plain, _) = out.split_at_mut(len);
        plain.copy_from_slice(self.fopts.get(..len).unwrap_or_default());
        crypto::crypt_fopts(
            nwk_s_enc_key,
            self.fopts_counter(),
            self.direction(),
            self.dev_addr,
            fcnt,
            plain,
        );
        plain
    }
}

fn verified_half(received: &[u8; 2], expected: &[u8; 2]) -> Result<(), MicError> {
    let ok: bool = subtle::ConstantTimeEq::ct_eq(&received[..], &expected[..]).into();
    if ok {
        Ok(())
    } else {
        Err(MicError::Mismatch)
    }
}

fn verified(received: &Mic, expected: &Mic) -> Result<(), MicError> {
    if mic_eq(received, expected) {
        Ok(())
    } else {
        Err(MicError::Mismatch)
    }
}

/// FRMPayload for [`DataFrameBuilder`]: plaintext to encrypt, or bytes already encrypted (an
/// application server that holds AppSKey encrypts them itself).
#[derive(Debug, Clone, Copy)]
pub enum FrmPayloadInput<'p> {
    /// Encrypt `data` with `key` (AppSKey for FPort > 0; NwkSKey / NwkSEncKey for FPort 0).
    Plain {
        /// FPort.
        fport: u8,
        /// Plaintext.
        data: &'p [u8],
        /// Encryption key.
        key: &'p CipherKey,
    },
    /// Copy `data` as is.
    Encrypted {
        /// FPort.
        fport: u8,
        /// Ciphertext.
        data: &'p [u8],
    },
}

/// Why a data frame could not be built. The caller is to blame for all of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The MType is not a data type.
    #[error("{0:?} is not a data-frame MType")]
    NotData(MType),
    /// The builder method is for the other direction.
    #[error("this builder method is for {expected:?} frames")]
    WrongDirection {
        /// The direction the method builds.
        expected: Direction,
    },
    /// More than 15 bytes of FOpts.
    #[error("FOpts of {0} bytes exceeds {MAX_FOPTS_LEN}")]
    FOptsTooLong(usize),
    /// MAC commands in FOpts and an FPort-0 payload at once.
    #[error("MAC commands in both FOpts and an FPort 0 FRMPayload")]
    MacCommandsInBoth,
    /// The frame would exceed [`MAX_PHY_LEN`].
    #[error("frame of {0} bytes exceeds {MAX_PHY_LEN}")]
    TooLong(usize),
}

/// Builds data frames (uplink for simulators and tests, downlink for nsd), MIC included.
///
/// FCtrl's FOptsLen is set from the FOpts given; the 16 low-order bits of `fcnt` go on the
/// air and the full value into the MIC and the keystreams.
#[derive(Debug, Clone, Copy)]
pub struct DataFrameBuilder<'p> {
    mtype: MType,
    dev_addr: DevAddr,
    fcnt: u32,
    fctrl: FCtrl,
    fopts: &'p [u8],
    frm_payload: Option<FrmPayloadInput<'p>>,
}

impl<'p> DataFrameBuilder<'p> {
    /// A frame of `mtype` (must be a data type) to `dev_addr` with the full counter `fcnt`.
    pub const fn new(mtype: MType, dev_addr: DevAddr, fcnt: u32) -> Self {
        Self {
            mtype,
            dev_addr,
            fcnt,
            fctrl: FCtrl::from_byte(0),
            fopts: &[],
            frm_payload: None,
        }
    }

    /// FCtrl flags (its FOptsLen bits are ignored).
    pub const fn fctrl(mut self, fctrl: FCtrl) -> Self {
        self.fctrl = fctrl;
        self
    }

    /// FOpts MAC commands in clear (encrypted by the 1.1 build methods).
    pub const fn fopts(mut self, fopts: &'p [u8]) -> Self {
        self.fopts = fopts;
        self
    }

    /// FPort and FRMPayload.
    pub const fn frm_payload(mut self, payload: FrmPayloadInput<'p>) -> Self {
        self.frm_payload = Some(payload);
        self
    }

    fn direction(&self) -> Result<Direction, BuildError> {
        match self.mtype {
            MType::UnconfirmedDataUp | MType::ConfirmedDataUp => Ok(Direction::Uplink),
            MType::UnconfirmedDataDown | MType::ConfirmedDataDown => Ok(Direction::Downlink),
            other => Err(BuildError::NotData(other)),
        }
    }

    /// MHDR .. FRMPayload, FOpts encrypted with `fopts_key` when given.
    fn msg(&self, fopts_key: Option<&CipherKey>) -> Result<Vec<u8>, BuildError> {
        let dir = self.direction()?;
        if self.fopts.len() > MAX_FOPTS_LEN {
            return Err(BuildError::FOptsTooLong(self.fopts.len()));
        }
        let (fport, payload_len) = match self.frm_payload {
            Some(FrmPayloadInput::Plain { fport, data, .. })
            | Some(FrmPayloadInput::Encrypted { fport, data }) => (Some(fport), data.len()),
            None => (None, 0),
        };
        // TS001 §4.3.1.6 (paraphrased): MAC commands are never in FOpts and an FPort-0
        // FRMPayload at the same time.
        if fport == Some(0) && !self.fopts.is_empty() {
            return Err(BuildError::MacCommandsInBoth);
        }
        let total = MIN_DATA_LEN + self.fopts.len() + usize::from(fport.is_some()) + payload_len;
        if total > MAX_PHY_LEN {
            return Err(BuildError::TooLong(total));
        }
        let mut msg = Vec::with_capacity(total);
        msg.push(Mhdr::new(self.mtype, super::Major::R1).byte());
        msg.extend_from_slice(&self.dev_addr.to_le_bytes());
        // The length check above bounds FOpts to 15 bytes.
        let fopts_len = self.fopts.len() as u8;
        msg.push(self.fctrl.with_fopts_len(fopts_len).byte());
        msg.extend_from_slice(&((self.fcnt & 0xffff) as u16).to_le_bytes());
        let fopts_at = msg.len();
        msg.extend_from_slice(self.fopts);
        if let Some(key) = fopts_key {
            let counter = match (dir, fport) {
                (Direction::Downlink, Some(port)) if port > 0 => FOptsCounter::AppDown,
                _ => FOptsCounter::NetworkOrUp,
            };
            if let Some(fopts) = msg.get_mut(fopts_at..) {
                crypto::crypt_fopts(key, counter, dir, self.dev_addr, self.fcnt, fopts);
            }
        }
        if let Some(port) = fport {
            msg.push(port);
        }
        match self.frm_payload {
            Some(FrmPayloadInput::Plain { data, key, .. }) => {
                let at = msg.len();
                msg.extend_from_slice(data);
                if let Some(payload) = msg.get_mut(at..) {
                    crypto::crypt_frm_payload(key, dir, self.dev_addr, self.fcnt, payload);
                }
            }
            Some(FrmPayloadInput::Encrypted { data, .. }) => msg.extend_from_slice(data),
            None => {}
        }
        Ok(msg)
    }

    fn finish(mut msg: Vec<u8>, mic: Result<Mic, MicError>) -> Result<Vec<u8>, BuildError> {
        // `msg` has been bounded to MAX_PHY_LEN - 4, so the MIC cannot fail on length; map
        // defensively rather than unwrap.
        let mic = mic.map_err(|_| BuildError::TooLong(msg.len() + 4))?;
        msg.extend_from_slice(&mic);
        Ok(msg)
    }

    /// A LoRaWAN 1.0.x frame (FOpts in clear), MIC with NwkSKey.
    pub fn build_1_0(&self, nwk_s_key: &MicKey) -> Result<Vec<u8>, BuildError> {
        let dir = self.direction()?;
        let msg = self.msg(None)?;
        let mic = crypto::data_mic_1_0(nwk_s_key, dir, self.dev_addr, self.fcnt, &msg);
        Self::finish(msg, mic)
    }

    /// A LoRaWAN 1.1 uplink: FOpts encrypted with NwkSEncKey, MIC `cmacS | cmacF`.
    pub fn build_uplink_1_1(
        &self,
        f_nwk_s_int_key: &MicKey,
        s_nwk_s_int_key: &MicKey,
        nwk_s_enc_key: &CipherKey,
        params: UplinkMicParams,
    ) -> Result<Vec<u8>, BuildError> {
        if self.direction()? != Direction::Uplink {
            return Err(BuildError::WrongDirection {
                expected: Direction::Uplink,
            });
        }
        let msg = self.msg(Some(nwk_s_enc_key))?;
        let params = UplinkMicParams {
            conf_fcnt: if self.fctrl.ack() {
                params.conf_fcnt
            } else {
                0
            },
            ..params
        };
        let mic = crypto::uplink_mic_1_1(
            f_nwk_s_int_key,
            s_nwk_s_int_key,
            self.dev_addr,
            self.fcnt,
            params,
            &msg,
        );
        Self::finish(msg, mic)
    }

    /// A LoRaWAN 1.1 downlink: FOpts encrypted with NwkSEncKey, MIC with SNwkSIntKey and
    /// ConfFCnt (used only when ACK is set).
    pub fn build_downlink_1_1(
        &self,
        s_nwk_s_int_key: &MicKey,
        nwk_s_enc_key: &CipherKey,
        conf_fcnt: u32,
    ) -> Result<Vec<u8>, BuildError> {
        if self.direction()? != Direction::Downlink {
            return Err(BuildError::WrongDirection {
                expected: Direction::Downlink,
            });
        }
        let msg = self.msg(Some(nwk_s_enc_key))?;
        let conf = if self.fctrl.ack() { conf_fcnt } else { 0 };
        let mic = crypto::downlink_mic_1_1(s_nwk_s_int_key, self.dev_addr, self.fcnt, conf, &msg);
        Self::finish(msg, mic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AesKey;

    fn keys() -> (MicKey, CipherKey) {
        let k = AesKey::new([2; 16]);
        (MicKey::new(&k), CipherKey::new(&AesKey::new([1; 16])))
    }

    #[test]
    fn builds_brocaar_1_0_uplink() {
        let (nwk, app) = keys();
        let bytes =
            DataFrameBuilder::new(MType::UnconfirmedDataUp, DevAddr::from_u32(0x0102_0304), 1)
                .fctrl(FCtrl::from_byte(FCtrl::ADR))
                .frm_payload(FrmPayloadInput::Plain {
                    fport: 1,
                    data: b"hello",
                    key: &app,
                })
                .build_1_0(&nwk)
                .unwrap();
        let expected = [
            0x40, 0x04, 0x03, 0x02, 0x01, 0x80, 0x01, 0x00, 0x01, 0xa6, 0x94, 0x64, 0x26, 0x15,
            0xd6, 0xc3, 0xb5, 0x82,
        ];
        assert_eq!(bytes, expected);
        let frame = DataFrame::parse(&bytes).unwrap();
        frame.verify_mic_1_0(&nwk, 1).unwrap();
        assert_eq!(frame.frm_payload_decrypted(&app, 1), b"hello");
        let mut buf = [0u8; 8];
        assert_eq!(
            frame.decrypt_frm_payload_into(&app, 1, &mut buf).unwrap(),
            b"hello"
        );
        assert_eq!(
            frame.decrypt_frm_payload_into(&app, 1, &mut [0u8; 2]),
            Err(BufferTooSmall {
                needed: 5,
                given: 2
            })
        );
    }

    #[test]
    fn mic_checks_name_the_callers_mistakes() {
        let (nwk, _) = keys();
        let bytes = DataFrameBuilder::new(MType::ConfirmedDataDown, DevAddr::from_u32(7), 0x1_0002)
            .build_1_0(&nwk)
            .unwrap();
        let frame = DataFrame::parse(&bytes).unwrap();
        assert_eq!(frame.fcnt16(), 2);
        frame.verify_mic_1_0(&nwk, 0x1_0002).unwrap();
        assert_eq!(
            frame.verify_mic_1_0(&nwk, 2),
            Err(MicError::Mismatch),
            "wrong upper 16 bits"
        );
        assert_eq!(
            frame.verify_mic_1_0(&nwk, 3),
            Err(MicError::FCntMismatch {
                on_air: 2,
                given: 3
            })
        );
        assert_eq!(
            frame.verify_uplink_micf_1_1(&nwk, 0x1_0002),
            Err(MicError::WrongDirection {
                expected: Direction::Uplink
            })
        );
    }

    #[test]
    fn builder_rejects_bad_input() {
        let (nwk, app) = keys();
        let addr = DevAddr::from_u32(1);
        assert_eq!(
            DataFrameBuilder::new(MType::JoinAccept, addr, 0).build_1_0(&nwk),
            Err(BuildError::NotData(MType::JoinAccept))
        );
        assert_eq!(
            DataFrameBuilder::new(MType::UnconfirmedDataDown, addr, 0)
                .fopts(&[0; 16])
                .build_1_0(&nwk),
            Err(BuildError::FOptsTooLong(16))
        );
        assert_eq!(
            DataFrameBuilder::new(MType::UnconfirmedDataDown, addr, 0)
                .fopts(&[2])
                .frm_payload(FrmPayloadInput::Plain {
                    fport: 0,
                    data: &[2],
                    key: &app
                })
                .build_1_0(&nwk),
            Err(BuildError::MacCommandsInBoth)
        );
        assert_eq!(
            DataFrameBuilder::new(MType::UnconfirmedDataDown, addr, 0)
                .frm_payload(FrmPayloadInput::Encrypted {
                    fport: 1,
                    data: &[0; 243]
                })
                .build_1_0(&nwk),
            Err(BuildError::TooLong(256))
        );
        assert_eq!(
            DataFrameBuilder::new(MType::UnconfirmedDataDown, addr, 0).build_uplink_1_1(
                &nwk,
                &nwk,
                &app,
                UplinkMicParams::default()
            ),
            Err(BuildError::WrongDirection {
                expected: Direction::Uplink
            })
        );
    }

    #[test]
    fn mac_commands_in_both_places_are_flagged() {
        // FOptsLen 1 (LinkCheckReq) and FPort 0 with a payload.
        let bytes = [
            0x40, 1, 2, 3, 4, 0x01, 0, 0, 0x02, 0x00, 0x55, 0xaa, 0xbb, 0xcc, 0xdd,
        ];
        let frame = DataFrame::parse(&bytes).unwrap();
        assert_eq!(
            frame.check_mac_command_placement(),
            Err(PhyError::MacCommandsInBoth)
        );
    }

    #[test]
    fn fopts_overrun_is_reported() {
        // FOptsLen 15 but only 2 bytes before the MIC.
        let bytes = [0x40, 1, 2, 3, 4, 0x0f, 0, 0, 9, 9, 0xaa, 0xbb, 0xcc, 0xdd];
        assert_eq!(
            DataFrame::parse(&bytes),
            Err(PhyError::FOptsOverrun {
                fopts_len: 15,
                available: 2
            })
        );
    }
}
