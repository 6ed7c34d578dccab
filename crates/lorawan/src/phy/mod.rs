//! PHYPayload views over the received bytes.
//!
//! [`PhyPayload::parse`] checks the structure of a frame once and hands out borrowed views
//! ([`DataFrame`], [`JoinRequest`], [`RejoinRequest`], [`EncryptedJoinAccept`]); nothing is
//! copied or re-encoded, so every MIC is computed over the bytes exactly as received
//! (`msg = phy[..len - 4]`). A frame with RFU bits set therefore keeps them in its MIC input.
//!
//! Parsing never panics: every length is checked before it is sliced (a proptest feeds arbitrary
//! bytes to the parser and every accessor).

mod data;
mod join;

pub use data::{
    BufferTooSmall, BuildError, DataFrame, DataFrameBuilder, FCtrl, FrmPayloadInput, MAX_FOPTS_LEN,
};
pub use join::{
    DlSettings, EncryptedJoinAccept, JoinAccept, JoinRequest, RejoinRequest, RejoinType,
};

use crate::crypto::Mic;

/// The longest PHYPayload a LoRa radio carries (the LoRa PHY length field is one byte).
pub const MAX_PHY_LEN: usize = 255;

/// The message type, bits 7..5 of MHDR. The 3-bit space is fully assigned (RejoinRequest was RFU
/// before LoRaWAN 1.1), so every byte maps to a variant and back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MType {
    /// `000` Join-request.
    JoinRequest,
    /// `001` Join-accept.
    JoinAccept,
    /// `010` Unconfirmed data uplink.
    UnconfirmedDataUp,
    /// `011` Unconfirmed data downlink.
    UnconfirmedDataDown,
    /// `100` Confirmed data uplink.
    ConfirmedDataUp,
    /// `101` Confirmed data downlink.
    ConfirmedDataDown,
    /// `110` Rejoin-request (LoRaWAN 1.1; RFU in 1.0.x).
    RejoinRequest,
    /// `111` Proprietary.
    Proprietary,
}

impl MType {
    /// From the 3-bit value (higher bits ignored).
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 0x07 {
            0 => Self::JoinRequest,
            1 => Self::JoinAccept,
            2 => Self::UnconfirmedDataUp,
            3 => Self::UnconfirmedDataDown,
            4 => Self::ConfirmedDataUp,
            5 => Self::ConfirmedDataDown,
            6 => Self::RejoinRequest,
            _ => Self::Proprietary,
        }
    }

    /// The 3-bit value.
    pub const fn bits(self) -> u8 {
        match self {
            Self::JoinRequest => 0,
            Self::JoinAccept => 1,
            Self::UnconfirmedDataUp => 2,
            Self::UnconfirmedDataDown => 3,
            Self::ConfirmedDataUp => 4,
            Self::ConfirmedDataDown => 5,
            Self::RejoinRequest => 6,
            Self::Proprietary => 7,
        }
    }

    /// `true` for the four data-frame types.
    pub const fn is_data(self) -> bool {
        matches!(
            self,
            Self::UnconfirmedDataUp
                | Self::UnconfirmedDataDown
                | Self::ConfirmedDataUp
                | Self::ConfirmedDataDown
        )
    }
}

/// The frame-format version, bits 1..0 of MHDR. Open: RFU values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Major {
    /// `00` LoRaWAN R1, the only format defined so far.
    R1,
    /// `01`..`11`, reserved.
    Rfu(u8),
}

impl Major {
    /// From the 2-bit value (higher bits ignored).
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 0x03 {
            0 => Self::R1,
            other => Self::Rfu(other),
        }
    }

    /// The 2-bit value.
    pub const fn bits(self) -> u8 {
        match self {
            Self::R1 => 0,
            Self::Rfu(bits) => bits & 0x03,
        }
    }
}

/// The MAC header byte, kept whole (RFU bits 4..2 included) so it round-trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mhdr(u8);

impl Mhdr {
    /// From the raw byte.
    pub const fn from_byte(byte: u8) -> Self {
        Self(byte)
    }

    /// From a type and major, RFU bits zero.
    pub const fn new(mtype: MType, major: Major) -> Self {
        Self((mtype.bits() << 5) | major.bits())
    }

    /// The raw byte.
    pub const fn byte(self) -> u8 {
        self.0
    }

    /// The message type.
    pub const fn mtype(self) -> MType {
        MType::from_bits(self.0 >> 5)
    }

    /// The major version.
    pub const fn major(self) -> Major {
        Major::from_bits(self.0)
    }

    /// The RFU bits 4..2, shifted down (0 on every frame a conforming sender emits).
    pub const fn rfu(self) -> u8 {
        (self.0 >> 2) & 0x07
    }
}

/// Why a PHYPayload is malformed. The sender is to blame for all of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhyError {
    /// Not even an MHDR.
    #[error("empty PHYPayload")]
    Empty,
    /// Longer than a LoRa PHY payload can be.
    #[error("PHYPayload of {len} bytes exceeds {MAX_PHY_LEN}")]
    TooLong {
        /// The length received.
        len: usize,
    },
    /// The major version is reserved: the layout of the rest is unknown.
    #[error("unsupported major version {0:?}")]
    UnsupportedMajor(Major),
    /// The length does not fit the message type.
    #[error("{mtype:?} of {len} bytes, expected {expected}")]
    Length {
        /// The message type from MHDR.
        mtype: MType,
        /// The length received.
        len: usize,
        /// What the type allows, for the error text.
        expected: &'static str,
    },
    /// FCtrl.FOptsLen claims more bytes than the frame has.
    #[error("FOptsLen {fopts_len} overruns a MACPayload of {available} bytes after FHDR")]
    FOptsOverrun {
        /// FOptsLen.
        fopts_len: u8,
        /// The bytes available for FOpts (up to the MIC).
        available: usize,
    },
    /// A view's `parse` was given a frame of another message type.
    #[error("{found:?} where {expected} was expected")]
    UnexpectedMType {
        /// What the view parses.
        expected: &'static str,
        /// The message type from MHDR.
        found: MType,
    },
    /// MAC commands in FOpts and in an FPort-0 FRMPayload at once (see
    /// [`DataFrame::check_mac_command_placement`]).
    #[error("MAC commands in both FOpts and an FPort 0 FRMPayload")]
    MacCommandsInBoth,
    /// A rejoin-request whose RejoinType is reserved.
    #[error("unknown RejoinType {0}")]
    UnknownRejoinType(u8),
}

/// The typed content of a PHYPayload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A join-request.
    JoinRequest(JoinRequest<'a>),
    /// A join-accept as received (still encrypted).
    JoinAccept(EncryptedJoinAccept<'a>),
    /// A data frame of any of the four data types.
    Data(DataFrame<'a>),
    /// A rejoin-request of type 0, 1 or 2.
    RejoinRequest(RejoinRequest<'a>),
    /// Proprietary: the bytes after MHDR, uninterpreted (no MIC is assumed).
    Proprietary(&'a [u8]),
}

/// A parsed PHYPayload borrowing the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhyPayload<'a> {
    bytes: &'a [u8],
    mhdr: Mhdr,
    frame: Frame<'a>,
}

impl<'a> PhyPayload<'a> {
    /// Checks the structure of `bytes` for its MType and returns the view.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, PhyError> {
        let mhdr = header(bytes, "any", |_| true)?;
        let frame = match mhdr.mtype() {
            MType::JoinRequest => Frame::JoinRequest(JoinRequest::parse(bytes)?),
            MType::JoinAccept => Frame::JoinAccept(EncryptedJoinAccept::parse(bytes)?),
            MType::RejoinRequest => Frame::RejoinRequest(RejoinRequest::parse(bytes)?),
            MType::Proprietary => Frame::Proprietary(bytes.get(1..).unwrap_or_default()),
            MType::UnconfirmedDataUp
            | MType::UnconfirmedDataDown
            | MType::ConfirmedDataUp
            | MType::ConfirmedDataDown => Frame::Data(DataFrame::parse(bytes)?),
        };
        Ok(Self { bytes, mhdr, frame })
    }

    /// The whole frame as received.
    pub const fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The MAC header.
    pub const fn mhdr(&self) -> Mhdr {
        self.mhdr
    }

    /// The message type.
    pub const fn mtype(&self) -> MType {
        self.mhdr.mtype()
    }

    /// The major version (always [`Major::R1`] on a parsed frame).
    pub const fn major(&self) -> Major {
        self.mhdr.major()
    }

    /// The MIC as received; `None` for proprietary frames, whose format is not standard.
    pub fn mic(&self) -> Option<Mic> {
        match self.frame {
            Frame::Proprietary(_) => None,
            _ => split_mic(self.bytes).map(|(_, mic)| mic),
        }
    }

    /// The bytes between MHDR and MIC (for proprietary frames: everything after MHDR).
    pub fn payload(&self) -> &'a [u8] {
        match self.frame {
            Frame::Proprietary(rest) => rest,
            _ => split_mic(self.bytes)
                .and_then(|(msg, _)| msg.get(1..))
                .unwrap_or_default(),
        }
    }

    /// The typed view.
    pub const fn frame(&self) -> Frame<'a> {
        self.frame
    }

    /// The data-frame view, if this is a data frame.
    pub const fn data(&self) -> Option<DataFrame<'a>> {
        match self.frame {
            Frame::Data(data) => Some(data),
            _ => None,
        }
    }

    /// The join-request view, if this is a join-request.
    pub const fn join_request(&self) -> Option<JoinRequest<'a>> {
        match self.frame {
            Frame::JoinRequest(jr) => Some(jr),
            _ => None,
        }
    }

    /// The rejoin-request view, if this is a rejoin-request.
    pub const fn rejoin_request(&self) -> Option<RejoinRequest<'a>> {
        match self.frame {
            Frame::RejoinRequest(rj) => Some(rj),
            _ => None,
        }
    }

    /// The encrypted join-accept view, if this is a join-accept.
    pub const fn join_accept(&self) -> Option<EncryptedJoinAccept<'a>> {
        match self.frame {
            Frame::JoinAccept(ja) => Some(ja),
            _ => None,
        }
    }
}

/// Checks what every view checks first: not empty, not longer than a LoRa frame, major R1
/// (TS001 §4.2.2: the layout of a frame with another major is unknown), and an MType `accepts`.
pub(crate) fn header(
    bytes: &[u8],
    expected: &'static str,
    accepts: impl Fn(MType) -> bool,
) -> Result<Mhdr, PhyError> {
    let (&first, _) = bytes.split_first().ok_or(PhyError::Empty)?;
    if bytes.len() > MAX_PHY_LEN {
        return Err(PhyError::TooLong { len: bytes.len() });
    }
    let mhdr = Mhdr::from_byte(first);
    if let Major::Rfu(_) = mhdr.major() {
        return Err(PhyError::UnsupportedMajor(mhdr.major()));
    }
    if !accepts(mhdr.mtype()) {
        return Err(PhyError::UnexpectedMType {
            expected,
            found: mhdr.mtype(),
        });
    }
    Ok(mhdr)
}

/// Splits a frame into `msg` (MHDR .. before MIC) and the MIC; `None` when shorter than 5 bytes.
pub(crate) fn split_mic(bytes: &[u8]) -> Option<(&[u8], Mic)> {
    let split = bytes.len().checked_sub(4)?;
    if split == 0 {
        return None;
    }
    let (msg, mic) = bytes.split_at(split);
    let mic: Mic = mic.try_into().ok()?;
    Some((msg, mic))
}

/// Reads `N` bytes at `at`; `None` when out of range.
pub(crate) fn array_at<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::crypto::{CipherKey, MicKey, UplinkMicParams};
    use crate::ids::{AesKey, Eui64};
    use crate::join::JoinReqType;
    use proptest::prelude::*;

    /// Touches every accessor of every view; none may panic, whatever the bytes.
    fn exercise(bytes: &[u8]) {
        let Ok(phy) = PhyPayload::parse(bytes) else {
            return;
        };
        let mic_key = MicKey::new(&AesKey::new([0; 16]));
        let cipher = CipherKey::new(&AesKey::new([0; 16]));
        let _ = (phy.bytes(), phy.mhdr().rfu(), phy.mtype(), phy.major());
        let _ = (phy.mic(), phy.payload());
        match phy.frame() {
            Frame::Data(d) => {
                let _ = (
                    d.bytes(),
                    d.msg(),
                    d.mhdr(),
                    d.mtype(),
                    d.direction(),
                    d.confirmed(),
                );
                let _ = (
                    d.dev_addr(),
                    d.fcnt16(),
                    d.fopts(),
                    d.fport(),
                    d.frm_payload(),
                    d.mic(),
                );
                let f = d.fctrl();
                let _ = (
                    f.adr(),
                    f.adr_ack_req(),
                    f.ack(),
                    f.f_pending(),
                    f.class_b(),
                    f.fopts_len(),
                );
                let fcnt = u32::from(d.fcnt16()) | 0xabcd_0000;
                let _ = d.verify_mic_1_0(&mic_key, fcnt);
                let _ =
                    d.verify_uplink_mic_1_1(&mic_key, &mic_key, fcnt, UplinkMicParams::default());
                let _ = d.verify_uplink_micf_1_1(&mic_key, fcnt);
                let _ = d.verify_uplink_mics_1_1(&mic_key, fcnt, UplinkMicParams::default());
                let _ = d.verify_downlink_mic_1_1(&mic_key, fcnt, 1);
                let _ = d.frm_payload_decrypted(&cipher, fcnt);
                let _ = d.decrypt_frm_payload_into(&cipher, fcnt, &mut [0u8; 8]);
                let mut buf = [0u8; MAX_FOPTS_LEN];
                let _ = d.decrypt_fopts_1_1_into(&cipher, fcnt, &mut buf);
                let _ = (d.fopts_counter(), d.check_mac_command_placement());
            }
            Frame::JoinRequest(j) => {
                let _ = (j.msg(), j.join_eui(), j.dev_eui(), j.dev_nonce(), j.mic());
                let _ = j.verify_mic(&mic_key);
            }
            Frame::RejoinRequest(r) => {
                let _ = (
                    r.msg(),
                    r.rejoin_type(),
                    r.net_id(),
                    r.join_eui(),
                    r.dev_eui(),
                );
                let _ = (r.rj_count(), r.mic(), r.verify_mic(&mic_key));
            }
            Frame::JoinAccept(e) => {
                let ja = e.decrypt(&cipher);
                let _ = (e.bytes(), ja.bytes(), ja.msg(), ja.mhdr(), ja.join_nonce());
                let _ = (
                    ja.home_net_id(),
                    ja.dev_addr(),
                    ja.dl_settings().rx2_dr(),
                    ja.rx_delay(),
                );
                let _ = (ja.cf_list(), ja.mic(), ja.verify_mic_1_0(&mic_key));
                let _ = ja.verify_mic_1_1(&mic_key, JoinReqType::Join, Eui64::default(), 0);
                let _ = JoinAccept::from_plaintext(bytes);
            }
            Frame::Proprietary(rest) => assert_eq!(rest.len() + 1, bytes.len()),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            exercise(&bytes);
        }

        /// Well-typed headers reach deeper than uniform bytes do.
        #[test]
        fn parse_never_panics_on_typed_headers(
            mtype in 0u8..8,
            rfu in 0u8..8,
            second in 0u8..4,
            rest in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut bytes = vec![(mtype << 5) | (rfu << 2), second];
            bytes.extend_from_slice(&rest);
            exercise(&bytes);
        }
    }

    #[test]
    fn mhdr_keeps_rfu_bits() {
        let m = Mhdr::from_byte(0x5d);
        assert_eq!(m.mtype(), MType::UnconfirmedDataUp);
        assert_eq!(m.major(), Major::Rfu(1));
        assert_eq!(m.rfu(), 0b111);
        assert_eq!(m.byte(), 0x5d);
        for b in 0..=7u8 {
            assert_eq!(MType::from_bits(b).bits(), b);
        }
        assert_eq!(Mhdr::new(MType::JoinAccept, Major::R1).byte(), 0x20);
    }

    #[test]
    fn rejects_structural_errors() {
        assert_eq!(PhyPayload::parse(&[]), Err(PhyError::Empty));
        assert_eq!(
            PhyPayload::parse(&[0x41, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(PhyError::UnsupportedMajor(Major::Rfu(1)))
        );
        assert!(matches!(
            PhyPayload::parse(&[0x40; 11]),
            Err(PhyError::Length { .. })
        ));
        assert!(matches!(
            PhyPayload::parse(&[0x40; 256]),
            Err(PhyError::TooLong { len: 256 })
        ));
    }

    #[test]
    fn proprietary_has_no_mic() {
        let phy = PhyPayload::parse(&[0xe0, 1, 2, 3]).unwrap();
        assert_eq!(phy.mtype(), MType::Proprietary);
        assert_eq!(phy.mic(), None);
        assert_eq!(phy.payload(), &[1, 2, 3]);
        assert_eq!(phy.frame(), Frame::Proprietary(&[1, 2, 3]));
    }

    #[test]
    fn data_frame_view() {
        // brocaar 1.0 uplink with FOpts: LinkCheckReq + LinkADRAns, FPort 1.
        let bytes = [
            0x40, 0x04, 0x03, 0x02, 0x01, 0x03, 0x00, 0x00, 0x02, 0x03, 0x05, 0x01, 0x6a, 0x37,
            0x98, 0xf5, 0xb6, 0x4d, 0xc0, 0x39,
        ];
        let phy = PhyPayload::parse(&bytes).unwrap();
        assert_eq!(phy.mic(), Some([0xb6, 0x4d, 0xc0, 0x39]));
        assert_eq!(phy.payload().len(), bytes.len() - 5);
        let data = phy.data().unwrap();
        assert_eq!(data.dev_addr().to_u32(), 0x0102_0304);
        assert_eq!(data.fopts(), &[0x02, 0x03, 0x05]);
        assert_eq!(data.fport(), Some(1));
        assert_eq!(data.frm_payload(), &[0x6a, 0x37, 0x98, 0xf5]);
        assert!(phy.join_request().is_none());
    }
}
