//! The MAC-command catalogue of LoRaWAN 1.0.4 and 1.1, class B included.
//!
//! MAC commands travel in `FOpts` or in an `FRMPayload` on FPort 0, as a sequence of
//! `CID ‖ payload`. The same CID means a different command in each direction (0x03 is
//! `LinkADRReq` downlink, `LinkADRAns` uplink), so parsing needs the [`Direction`].
//!
//! The payload length is implied by the CID: a CID we do not know (proprietary 0x80..=0xFF,
//! relay 0x40..=0x46, or anything reserved) makes the rest of the buffer unparseable, so
//! [`parse_commands`] stops there and keeps the CID and every remaining byte in
//! [`MacCommand::Unknown`], which [`encode_commands`] writes back unchanged.
//!
//! Payload bit fields are decoded into the payload structs re-exported here.

mod payloads;

pub use payloads::{
    AdrParamSetupReq, BeaconFreqAns, BeaconFreqReq, BeaconTimingAns, DevStatusAns, DeviceClass,
    DeviceTimeAns, DlChannelAns, DlChannelReq, DutyCycleReq, ForceRejoinReq, LinkAdrAns,
    LinkAdrReq, LinkCheckAns, MinorVersion, NewChannelAns, NewChannelReq, PingSlotChannelAns,
    PingSlotChannelReq, PingSlotInfoReq, RejoinParamSetupAns, RejoinParamSetupReq, RxParamSetupAns,
    RxParamSetupReq, RxTimingSetupReq, TxParamSetupReq, FREQUENCY_STEP_HZ, MAX_EIRP_DBM,
};

/// Which way a frame travels; MAC commands are read differently in each direction (one type
/// for the whole crate, shared with the crypto's `Dir` byte).
pub use crate::crypto::Direction;

/// Why a MAC-command sequence could not be parsed or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    /// A known command is cut short by the end of the buffer.
    #[error("{name} (CID {cid:#04x}) needs {needed} payload bytes, {available} left")]
    Truncated {
        /// The CID.
        cid: u8,
        /// The command name.
        name: &'static str,
        /// Payload bytes the command needs.
        needed: usize,
        /// Payload bytes left in the buffer.
        available: usize,
    },
    /// A field does not fit its bit width on encode.
    #[error("{command}.{field} = {value} is out of range (max {max})")]
    FieldOutOfRange {
        /// The command name.
        command: &'static str,
        /// The field name.
        field: &'static str,
        /// The value given (absolute value for a negative margin).
        value: u32,
        /// The largest encodable value.
        max: u32,
    },
}

/// A command identifier; an open value (any byte), read with a [`Direction`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cid(pub u8);

impl Cid {
    /// `ResetInd` / `ResetConf` (1.1).
    pub const RESET: Cid = Cid(0x01);
    /// `LinkCheckReq` / `LinkCheckAns`.
    pub const LINK_CHECK: Cid = Cid(0x02);
    /// `LinkADRReq` / `LinkADRAns`.
    pub const LINK_ADR: Cid = Cid(0x03);
    /// `DutyCycleReq` / `DutyCycleAns`.
    pub const DUTY_CYCLE: Cid = Cid(0x04);
    /// `RXParamSetupReq` / `RXParamSetupAns`.
    pub const RX_PARAM_SETUP: Cid = Cid(0x05);
    /// `DevStatusReq` / `DevStatusAns`.
    pub const DEV_STATUS: Cid = Cid(0x06);
    /// `NewChannelReq` / `NewChannelAns`.
    pub const NEW_CHANNEL: Cid = Cid(0x07);
    /// `RXTimingSetupReq` / `RXTimingSetupAns`.
    pub const RX_TIMING_SETUP: Cid = Cid(0x08);
    /// `TxParamSetupReq` / `TxParamSetupAns`.
    pub const TX_PARAM_SETUP: Cid = Cid(0x09);
    /// `DlChannelReq` / `DlChannelAns`.
    pub const DL_CHANNEL: Cid = Cid(0x0a);
    /// `RekeyInd` / `RekeyConf` (1.1).
    pub const REKEY: Cid = Cid(0x0b);
    /// `ADRParamSetupReq` / `ADRParamSetupAns` (1.1).
    pub const ADR_PARAM_SETUP: Cid = Cid(0x0c);
    /// `DeviceTimeReq` / `DeviceTimeAns`.
    pub const DEVICE_TIME: Cid = Cid(0x0d);
    /// `ForceRejoinReq` (1.1, downlink only).
    pub const FORCE_REJOIN: Cid = Cid(0x0e);
    /// `RejoinParamSetupReq` / `RejoinParamSetupAns` (1.1).
    pub const REJOIN_PARAM_SETUP: Cid = Cid(0x0f);
    /// `PingSlotInfoReq` / `PingSlotInfoAns` (class B).
    pub const PING_SLOT_INFO: Cid = Cid(0x10);
    /// `PingSlotChannelReq` / `PingSlotChannelAns` (class B).
    pub const PING_SLOT_CHANNEL: Cid = Cid(0x11);
    /// `BeaconTimingReq` / `BeaconTimingAns` (class B, 1.0.x; deprecated in 1.1).
    pub const BEACON_TIMING: Cid = Cid(0x12);
    /// `BeaconFreqReq` / `BeaconFreqAns` (class B).
    pub const BEACON_FREQ: Cid = Cid(0x13);
    /// `DeviceModeInd` / `DeviceModeConf` (1.1, class C).
    pub const DEVICE_MODE: Cid = Cid(0x20);

    /// Whether the CID is in the proprietary range 0x80..=0xFF.
    pub const fn is_proprietary(self) -> bool {
        self.0 >= 0x80
    }

    /// The command's name in `direction`, as the specification spells it; `None` if unknown.
    pub const fn name(self, direction: Direction) -> Option<&'static str> {
        match entry(self, direction) {
            Some((name, _)) => Some(name),
            None => None,
        }
    }

    /// The payload length (bytes after the CID) in `direction`; `None` if unknown.
    pub const fn payload_len(self, direction: Direction) -> Option<usize> {
        match entry(self, direction) {
            Some((_, len)) => Some(len),
            None => None,
        }
    }
}

/// The catalogue: (name, payload length) per CID and direction (TS001 1.1 Table 16, 1.0.4
/// Table 18, class B chapter).
const fn entry(cid: Cid, direction: Direction) -> Option<(&'static str, usize)> {
    use Direction::{Downlink, Uplink};
    Some(match (cid.0, direction) {
        (0x01, Uplink) => ("ResetInd", 1),
        (0x01, Downlink) => ("ResetConf", 1),
        (0x02, Uplink) => ("LinkCheckReq", 0),
        (0x02, Downlink) => ("LinkCheckAns", 2),
        (0x03, Uplink) => ("LinkADRAns", 1),
        (0x03, Downlink) => ("LinkADRReq", 4),
        (0x04, Uplink) => ("DutyCycleAns", 0),
        (0x04, Downlink) => ("DutyCycleReq", 1),
        (0x05, Uplink) => ("RXParamSetupAns", 1),
        (0x05, Downlink) => ("RXParamSetupReq", 4),
        (0x06, Uplink) => ("DevStatusAns", 2),
        (0x06, Downlink) => ("DevStatusReq", 0),
        (0x07, Uplink) => ("NewChannelAns", 1),
        (0x07, Downlink) => ("NewChannelReq", 5),
        (0x08, Uplink) => ("RXTimingSetupAns", 0),
        (0x08, Downlink) => ("RXTimingSetupReq", 1),
        (0x09, Uplink) => ("TxParamSetupAns", 0),
        (0x09, Downlink) => ("TxParamSetupReq", 1),
        (0x0a, Uplink) => ("DlChannelAns", 1),
        (0x0a, Downlink) => ("DlChannelReq", 4),
        (0x0b, Uplink) => ("RekeyInd", 1),
        (0x0b, Downlink) => ("RekeyConf", 1),
        (0x0c, Uplink) => ("ADRParamSetupAns", 0),
        (0x0c, Downlink) => ("ADRParamSetupReq", 1),
        (0x0d, Uplink) => ("DeviceTimeReq", 0),
        (0x0d, Downlink) => ("DeviceTimeAns", 5),
        (0x0e, Downlink) => ("ForceRejoinReq", 2),
        (0x0f, Uplink) => ("RejoinParamSetupAns", 1),
        (0x0f, Downlink) => ("RejoinParamSetupReq", 1),
        (0x10, Uplink) => ("PingSlotInfoReq", 1),
        (0x10, Downlink) => ("PingSlotInfoAns", 0),
        (0x11, Uplink) => ("PingSlotChannelAns", 1),
        (0x11, Downlink) => ("PingSlotChannelReq", 4),
        (0x12, Uplink) => ("BeaconTimingReq", 0),
        (0x12, Downlink) => ("BeaconTimingAns", 3),
        (0x13, Uplink) => ("BeaconFreqAns", 1),
        (0x13, Downlink) => ("BeaconFreqReq", 3),
        (0x20, Uplink) => ("DeviceModeInd", 1),
        (0x20, Downlink) => ("DeviceModeConf", 1),
        _ => return None,
    })
}

/// One MAC command with its decoded payload.
///
/// Variant names follow Rust casing (`LinkAdrReq` for the specification's `LinkADRReq`);
/// [`MacCommand::name`] gives the specification's spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MacCommand {
    /// `ResetInd` (uplink, 1.1 ABP): the end-device's LoRaWAN minor version.
    ResetInd(MinorVersion),
    /// `ResetConf` (downlink, 1.1): the network's LoRaWAN minor version.
    ResetConf(MinorVersion),
    /// `LinkCheckReq` (uplink).
    LinkCheckReq,
    /// `LinkCheckAns` (downlink).
    LinkCheckAns(LinkCheckAns),
    /// `LinkADRReq` (downlink).
    LinkAdrReq(LinkAdrReq),
    /// `LinkADRAns` (uplink).
    LinkAdrAns(LinkAdrAns),
    /// `DutyCycleReq` (downlink).
    DutyCycleReq(DutyCycleReq),
    /// `DutyCycleAns` (uplink).
    DutyCycleAns,
    /// `RXParamSetupReq` (downlink).
    RxParamSetupReq(RxParamSetupReq),
    /// `RXParamSetupAns` (uplink).
    RxParamSetupAns(RxParamSetupAns),
    /// `DevStatusReq` (downlink).
    DevStatusReq,
    /// `DevStatusAns` (uplink).
    DevStatusAns(DevStatusAns),
    /// `NewChannelReq` (downlink).
    NewChannelReq(NewChannelReq),
    /// `NewChannelAns` (uplink).
    NewChannelAns(NewChannelAns),
    /// `RXTimingSetupReq` (downlink).
    RxTimingSetupReq(RxTimingSetupReq),
    /// `RXTimingSetupAns` (uplink).
    RxTimingSetupAns,
    /// `TxParamSetupReq` (downlink).
    TxParamSetupReq(TxParamSetupReq),
    /// `TxParamSetupAns` (uplink).
    TxParamSetupAns,
    /// `DlChannelReq` (downlink).
    DlChannelReq(DlChannelReq),
    /// `DlChannelAns` (uplink).
    DlChannelAns(DlChannelAns),
    /// `RekeyInd` (uplink, 1.1 OTAA).
    RekeyInd(MinorVersion),
    /// `RekeyConf` (downlink, 1.1).
    RekeyConf(MinorVersion),
    /// `ADRParamSetupReq` (downlink, 1.1).
    AdrParamSetupReq(AdrParamSetupReq),
    /// `ADRParamSetupAns` (uplink, 1.1).
    AdrParamSetupAns,
    /// `DeviceTimeReq` (uplink).
    DeviceTimeReq,
    /// `DeviceTimeAns` (downlink).
    DeviceTimeAns(DeviceTimeAns),
    /// `ForceRejoinReq` (downlink, 1.1).
    ForceRejoinReq(ForceRejoinReq),
    /// `RejoinParamSetupReq` (downlink, 1.1).
    RejoinParamSetupReq(RejoinParamSetupReq),
    /// `RejoinParamSetupAns` (uplink, 1.1).
    RejoinParamSetupAns(RejoinParamSetupAns),
    /// `PingSlotInfoReq` (uplink, class B).
    PingSlotInfoReq(PingSlotInfoReq),
    /// `PingSlotInfoAns` (downlink, class B).
    PingSlotInfoAns,
    /// `PingSlotChannelReq` (downlink, class B).
    PingSlotChannelReq(PingSlotChannelReq),
    /// `PingSlotChannelAns` (uplink, class B).
    PingSlotChannelAns(PingSlotChannelAns),
    /// `BeaconTimingReq` (uplink, class B, 1.0.x; deprecated).
    BeaconTimingReq,
    /// `BeaconTimingAns` (downlink, class B, 1.0.x; deprecated).
    BeaconTimingAns(BeaconTimingAns),
    /// `BeaconFreqReq` (downlink, class B).
    BeaconFreqReq(BeaconFreqReq),
    /// `BeaconFreqAns` (uplink, class B).
    BeaconFreqAns(BeaconFreqAns),
    /// `DeviceModeInd` (uplink, 1.1 class C).
    DeviceModeInd(DeviceClass),
    /// `DeviceModeConf` (downlink, 1.1 class C).
    DeviceModeConf(DeviceClass),
    /// A CID unknown in its direction (proprietary, relay, reserved) and every byte after it:
    /// its length is unknown, so nothing after it can be parsed. Written back unchanged.
    Unknown {
        /// The CID.
        cid: u8,
        /// Every byte that followed the CID.
        rest: Vec<u8>,
    },
}

impl MacCommand {
    /// The command identifier.
    pub fn cid(&self) -> Cid {
        use MacCommand as M;
        Cid(match self {
            M::ResetInd(_) | M::ResetConf(_) => 0x01,
            M::LinkCheckReq | M::LinkCheckAns(_) => 0x02,
            M::LinkAdrReq(_) | M::LinkAdrAns(_) => 0x03,
            M::DutyCycleReq(_) | M::DutyCycleAns => 0x04,
            M::RxParamSetupReq(_) | M::RxParamSetupAns(_) => 0x05,
            M::DevStatusReq | M::DevStatusAns(_) => 0x06,
            M::NewChannelReq(_) | M::NewChannelAns(_) => 0x07,
            M::RxTimingSetupReq(_) | M::RxTimingSetupAns => 0x08,
            M::TxParamSetupReq(_) | M::TxParamSetupAns => 0x09,
            M::DlChannelReq(_) | M::DlChannelAns(_) => 0x0a,
            M::RekeyInd(_) | M::RekeyConf(_) => 0x0b,
            M::AdrParamSetupReq(_) | M::AdrParamSetupAns => 0x0c,
            M::DeviceTimeReq | M::DeviceTimeAns(_) => 0x0d,
            M::ForceRejoinReq(_) => 0x0e,
            M::RejoinParamSetupReq(_) | M::RejoinParamSetupAns(_) => 0x0f,
            M::PingSlotInfoReq(_) | M::PingSlotInfoAns => 0x10,
            M::PingSlotChannelReq(_) | M::PingSlotChannelAns(_) => 0x11,
            M::BeaconTimingReq | M::BeaconTimingAns(_) => 0x12,
            M::BeaconFreqReq(_) | M::BeaconFreqAns(_) => 0x13,
            M::DeviceModeInd(_) | M::DeviceModeConf(_) => 0x20,
            M::Unknown { cid, .. } => *cid,
        })
    }

    /// The direction the command travels in; `None` for [`MacCommand::Unknown`].
    pub fn direction(&self) -> Option<Direction> {
        use MacCommand as M;
        match self {
            M::Unknown { .. } => None,
            M::ResetInd(_)
            | M::LinkCheckReq
            | M::LinkAdrAns(_)
            | M::DutyCycleAns
            | M::RxParamSetupAns(_)
            | M::DevStatusAns(_)
            | M::NewChannelAns(_)
            | M::RxTimingSetupAns
            | M::TxParamSetupAns
            | M::DlChannelAns(_)
            | M::RekeyInd(_)
            | M::AdrParamSetupAns
            | M::DeviceTimeReq
            | M::RejoinParamSetupAns(_)
            | M::PingSlotInfoReq(_)
            | M::PingSlotChannelAns(_)
            | M::BeaconTimingReq
            | M::BeaconFreqAns(_)
            | M::DeviceModeInd(_) => Some(Direction::Uplink),
            _ => Some(Direction::Downlink),
        }
    }

    /// The specification's name of the command (`"Unknown"` for an unknown CID).
    pub fn name(&self) -> &'static str {
        self.direction()
            .and_then(|d| self.cid().name(d))
            .unwrap_or("Unknown")
    }

    /// Appends `CID ‖ payload` to `out`; fails (writing nothing) if a field is out of range.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), MacError> {
        use MacCommand as M;
        let start = out.len();
        out.push(self.cid().0);
        let result = match self {
            M::ResetInd(v) => v.encode("ResetInd").and_then(|b| put(out, b)),
            M::ResetConf(v) => v.encode("ResetConf").and_then(|b| put(out, b)),
            M::RekeyInd(v) => v.encode("RekeyInd").and_then(|b| put(out, b)),
            M::RekeyConf(v) => v.encode("RekeyConf").and_then(|b| put(out, b)),
            M::LinkCheckAns(p) => put(out, p.encode()),
            M::LinkAdrReq(p) => p.encode().and_then(|b| put(out, b)),
            M::LinkAdrAns(p) => put(out, p.encode()),
            M::DutyCycleReq(p) => p.encode().and_then(|b| put(out, b)),
            M::RxParamSetupReq(p) => p.encode().and_then(|b| put(out, b)),
            M::RxParamSetupAns(p) => put(out, p.encode()),
            M::DevStatusAns(p) => p.encode().and_then(|b| put(out, b)),
            M::NewChannelReq(p) => p.encode().and_then(|b| put(out, b)),
            M::NewChannelAns(p) => put(out, p.encode()),
            M::RxTimingSetupReq(p) => p.encode().and_then(|b| put(out, b)),
            M::TxParamSetupReq(p) => p.encode().and_then(|b| put(out, b)),
            M::DlChannelReq(p) => p.encode().and_then(|b| put(out, b)),
            M::DlChannelAns(p) => put(out, p.encode()),
            M::AdrParamSetupReq(p) => p.encode().and_then(|b| put(out, b)),
            M::DeviceTimeAns(p) => put(out, p.encode()),
            M::ForceRejoinReq(p) => p.encode().and_then(|b| put(out, b)),
            M::RejoinParamSetupReq(p) => p.encode().and_then(|b| put(out, b)),
            M::RejoinParamSetupAns(p) => put(out, p.encode()),
            M::PingSlotInfoReq(p) => p.encode().and_then(|b| put(out, b)),
            M::PingSlotChannelReq(p) => p.encode().and_then(|b| put(out, b)),
            M::PingSlotChannelAns(p) => put(out, p.encode()),
            M::BeaconTimingAns(p) => put(out, p.encode()),
            M::BeaconFreqReq(p) => p.encode().and_then(|b| put(out, b)),
            M::BeaconFreqAns(p) => put(out, p.encode()),
            M::DeviceModeInd(class) | M::DeviceModeConf(class) => put(out, [class.to_u8()]),
            M::Unknown { rest, .. } => {
                out.extend_from_slice(rest);
                Ok(())
            }
            M::LinkCheckReq
            | M::DutyCycleAns
            | M::DevStatusReq
            | M::RxTimingSetupAns
            | M::TxParamSetupAns
            | M::AdrParamSetupAns
            | M::DeviceTimeReq
            | M::PingSlotInfoAns
            | M::BeaconTimingReq => Ok(()),
        };
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

fn put<const N: usize>(out: &mut Vec<u8>, bytes: [u8; N]) -> Result<(), MacError> {
    out.extend_from_slice(&bytes);
    Ok(())
}

/// Parses a MAC-command sequence (FOpts, or a decrypted FPort-0 FRMPayload).
///
/// Stops at the first CID unknown in `direction` and keeps it with every remaining byte in
/// [`MacCommand::Unknown`]. A known command cut short is an error ([`MacError::Truncated`]).
/// Never panics, whatever the bytes.
pub fn parse_commands(bytes: &[u8], direction: Direction) -> Result<Vec<MacCommand>, MacError> {
    let mut commands = Vec::new();
    let mut rest = bytes;
    while let Some((&cid, after)) = rest.split_first() {
        let Some((name, len)) = entry(Cid(cid), direction) else {
            commands.push(MacCommand::Unknown {
                cid,
                rest: after.to_vec(),
            });
            break;
        };
        if after.len() < len {
            return Err(MacError::Truncated {
                cid,
                name,
                needed: len,
                available: after.len(),
            });
        }
        let (payload, tail) = after.split_at(len);
        commands.push(decode_known(cid, direction, payload));
        rest = tail;
    }
    Ok(commands)
}

/// Encodes `commands` one after the other into `out`. On error `out` keeps the commands
/// encoded before the faulty one.
pub fn encode_commands(commands: &[MacCommand], out: &mut Vec<u8>) -> Result<(), MacError> {
    commands.iter().try_for_each(|command| command.encode(out))
}

/// Decodes a command whose CID is in the catalogue and whose payload has the catalogue length.
fn decode_known(cid: u8, direction: Direction, payload: &[u8]) -> MacCommand {
    use Direction::{Downlink, Uplink};
    use MacCommand as M;
    // `payload.len()` equals the catalogue length for (cid, direction), so every `arr` below
    // gets the size it asks for; a mismatch would be a catalogue bug, caught by the tests.
    fn arr<const N: usize>(payload: &[u8]) -> [u8; N] {
        let mut out = [0u8; N];
        let n = payload.len().min(N);
        out[..n].copy_from_slice(&payload[..n]);
        out
    }
    let p = payload;
    match (cid, direction) {
        (0x01, Uplink) => M::ResetInd(MinorVersion::decode(arr(p))),
        (0x01, Downlink) => M::ResetConf(MinorVersion::decode(arr(p))),
        (0x02, Uplink) => M::LinkCheckReq,
        (0x02, Downlink) => M::LinkCheckAns(LinkCheckAns::decode(arr(p))),
        (0x03, Uplink) => M::LinkAdrAns(LinkAdrAns::decode(arr(p))),
        (0x03, Downlink) => M::LinkAdrReq(LinkAdrReq::decode(arr(p))),
        (0x04, Uplink) => M::DutyCycleAns,
        (0x04, Downlink) => M::DutyCycleReq(DutyCycleReq::decode(arr(p))),
        (0x05, Uplink) => M::RxParamSetupAns(RxParamSetupAns::decode(arr(p))),
        (0x05, Downlink) => M::RxParamSetupReq(RxParamSetupReq::decode(arr(p))),
        (0x06, Uplink) => M::DevStatusAns(DevStatusAns::decode(arr(p))),
        (0x06, Downlink) => M::DevStatusReq,
        (0x07, Uplink) => M::NewChannelAns(NewChannelAns::decode(arr(p))),
        (0x07, Downlink) => M::NewChannelReq(NewChannelReq::decode(arr(p))),
        (0x08, Uplink) => M::RxTimingSetupAns,
        (0x08, Downlink) => M::RxTimingSetupReq(RxTimingSetupReq::decode(arr(p))),
        (0x09, Uplink) => M::TxParamSetupAns,
        (0x09, Downlink) => M::TxParamSetupReq(TxParamSetupReq::decode(arr(p))),
        (0x0a, Uplink) => M::DlChannelAns(DlChannelAns::decode(arr(p))),
        (0x0a, Downlink) => M::DlChannelReq(DlChannelReq::decode(arr(p))),
        (0x0b, Uplink) => M::RekeyInd(MinorVersion::decode(arr(p))),
        (0x0b, Downlink) => M::RekeyConf(MinorVersion::decode(arr(p))),
        (0x0c, Uplink) => M::AdrParamSetupAns,
        (0x0c, Downlink) => M::AdrParamSetupReq(AdrParamSetupReq::decode(arr(p))),
        (0x0d, Uplink) => M::DeviceTimeReq,
        (0x0d, Downlink) => M::DeviceTimeAns(DeviceTimeAns::decode(arr(p))),
        (0x0e, _) => M::ForceRejoinReq(ForceRejoinReq::decode(arr(p))),
        (0x0f, Uplink) => M::RejoinParamSetupAns(RejoinParamSetupAns::decode(arr(p))),
        (0x0f, Downlink) => M::RejoinParamSetupReq(RejoinParamSetupReq::decode(arr(p))),
        (0x10, Uplink) => M::PingSlotInfoReq(PingSlotInfoReq::decode(arr(p))),
        (0x10, Downlink) => M::PingSlotInfoAns,
        (0x11, Uplink) => M::PingSlotChannelAns(PingSlotChannelAns::decode(arr(p))),
        (0x11, Downlink) => M::PingSlotChannelReq(PingSlotChannelReq::decode(arr(p))),
        (0x12, Uplink) => M::BeaconTimingReq,
        (0x12, Downlink) => M::BeaconTimingAns(BeaconTimingAns::decode(arr(p))),
        (0x13, Uplink) => M::BeaconFreqAns(BeaconFreqAns::decode(arr(p))),
        (0x13, Downlink) => M::BeaconFreqReq(BeaconFreqReq::decode(arr(p))),
        (0x20, Uplink) => M::DeviceModeInd(DeviceClass::from_u8(arr::<1>(p)[0])),
        (0x20, Downlink) => M::DeviceModeConf(DeviceClass::from_u8(arr::<1>(p)[0])),
        _ => M::Unknown {
            cid,
            rest: payload.to_vec(),
        },
    }
}

#[cfg(test)]
mod tests;
