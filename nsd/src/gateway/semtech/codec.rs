//! The Semtech UDP packet-forwarder protocol as bytes, versions 1 and 2 (sans-IO).
//!
//! Every datagram starts with a 4-byte header: the protocol version, a 2-byte random token
//! and a packet identifier. `PUSH_DATA`, `PULL_DATA` and `TX_ACK` (the gateway's packets)
//! then carry the gateway's 8-byte EUI, and `PUSH_DATA`, `PULL_RESP` and `TX_ACK` a JSON
//! object. [`parse`] reads the header and hands out the JSON body unparsed, so a datagram
//! from an unknown gateway costs no JSON parsing; [`parse_push_data`], [`parse_txpk`] and
//! [`parse_tx_ack`] read the bodies.
//!
//! Tolerance, because real packet forwarders differ: unknown JSON fields are ignored, the
//! optional ones may be missing, base64 may be padded or not, trailing NUL bytes and white
//! space after the JSON are ignored, and one malformed `rxpk` entry is skipped and reported
//! without losing the others.

use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::gateway::{
    CodeRate, GatewayId, RadioModulation, Transmission, TxOutcome, TxRefusal, TxTiming,
};

pub use rxpk::{parse_push_data, CrcStatus, PushData, SkipReason, Skipped, Uplink};
pub use time::parse_time;

mod rxpk;
mod time;

/// `PUSH_DATA`: frames and status, gateway → server.
pub const PUSH_DATA: u8 = 0x00;
/// `PUSH_ACK`: server → gateway.
pub const PUSH_ACK: u8 = 0x01;
/// `PULL_DATA`: the downlink keep-alive, gateway → server.
pub const PULL_DATA: u8 = 0x02;
/// `PULL_RESP`: a frame to send, server → gateway.
pub const PULL_RESP: u8 = 0x03;
/// `PULL_ACK`: server → gateway.
pub const PULL_ACK: u8 = 0x04;
/// `TX_ACK`: the gateway's answer to a `PULL_RESP` (protocol version 2 only).
pub const TX_ACK: u8 = 0x05;

/// The largest PHYPayload a concentrator sends.
pub const MAX_PHY_LEN: usize = 255;

/// Why a datagram or one of its fields could not be read or written. Field names are the
/// JSON paths (`rxpk.freq`, `txpk_ack.error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Shorter than its header.
    #[error("datagram of {len} bytes, its header needs {needed}")]
    Truncated {
        /// Bytes received.
        len: usize,
        /// Bytes the header needs.
        needed: usize,
    },
    /// A protocol version other than 1 and 2.
    #[error("unsupported protocol version {0}")]
    Version(u8),
    /// A packet identifier other than 0 to 5.
    #[error("unknown packet identifier {0:#04x}")]
    Identifier(u8),
    /// The body is not a JSON object.
    #[error("body is not a JSON object: {0}")]
    Json(String),
    /// A required field is missing.
    #[error("`{0}` is missing")]
    Missing(&'static str),
    /// A field has a value we cannot use.
    #[error("`{field}`: {reason}")]
    Invalid {
        /// JSON path of the field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl CodecError {
    fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// The protocol version of a datagram; an answer carries its request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolVersion {
    /// Version 1: no `TX_ACK`, the `PULL_RESP` token is unused.
    V1,
    /// Version 2: the gateway answers each `PULL_RESP` with a `TX_ACK` carrying its token.
    V2,
}

impl ProtocolVersion {
    /// From the header's first byte.
    pub const fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            _ => None,
        }
    }

    /// The header's first byte.
    pub const fn byte(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }

    /// Whether a gateway speaking this version answers a `PULL_RESP` with a `TX_ACK`.
    pub const fn acknowledges_transmissions(self) -> bool {
        matches!(self, Self::V2)
    }
}

/// The 2-byte random token of a header, as the two bytes read big-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Token(pub u16);

/// What follows a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// Frames and/or a status report from `gateway`, as JSON.
    PushData {
        /// The sender.
        gateway: GatewayId,
        /// Its JSON object (unparsed; see [`parse_push_data`]).
        json: &'a [u8],
    },
    /// Acknowledges a `PUSH_DATA`.
    PushAck,
    /// The downlink keep-alive of `gateway`.
    PullData {
        /// The sender.
        gateway: GatewayId,
    },
    /// A frame to send (see [`parse_txpk`]).
    PullResp {
        /// The `{"txpk": …}` object.
        json: &'a [u8],
    },
    /// Acknowledges a `PULL_DATA`.
    PullAck,
    /// The gateway's answer to a `PULL_RESP` (see [`parse_tx_ack`]).
    TxAck {
        /// The sender.
        gateway: GatewayId,
        /// The `{"txpk_ack": …}` object, or nothing when all went well.
        json: &'a [u8],
    },
}

/// A datagram with its header read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Protocol version.
    pub version: ProtocolVersion,
    /// Random token.
    pub token: Token,
    /// Identifier and what follows it.
    pub body: Body<'a>,
}

/// Reads a datagram's header (and the gateway EUI, for the gateway's packets).
pub fn parse(datagram: &[u8]) -> Result<Packet<'_>, CodecError> {
    let [version, t1, t2, identifier, rest @ ..] = datagram else {
        return Err(CodecError::Truncated {
            len: datagram.len(),
            needed: 4,
        });
    };
    let version = ProtocolVersion::from_byte(*version).ok_or(CodecError::Version(*version))?;
    let token = Token(u16::from_be_bytes([*t1, *t2]));
    let len = datagram.len();
    let body = match *identifier {
        PUSH_DATA => {
            let (gateway, json) = split_eui(len, rest)?;
            Body::PushData { gateway, json }
        }
        PUSH_ACK => Body::PushAck,
        PULL_DATA => Body::PullData {
            gateway: split_eui(len, rest)?.0,
        },
        PULL_RESP => Body::PullResp { json: rest },
        PULL_ACK => Body::PullAck,
        TX_ACK => {
            let (gateway, json) = split_eui(len, rest)?;
            Body::TxAck { gateway, json }
        }
        other => return Err(CodecError::Identifier(other)),
    };
    Ok(Packet {
        version,
        token,
        body,
    })
}

impl Packet<'_> {
    /// The datagram's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let (identifier, gateway, json): (u8, Option<GatewayId>, &[u8]) = match self.body {
            Body::PushData { gateway, json } => (PUSH_DATA, Some(gateway), json),
            Body::PushAck => (PUSH_ACK, None, &[]),
            Body::PullData { gateway } => (PULL_DATA, Some(gateway), &[]),
            Body::PullResp { json } => (PULL_RESP, None, json),
            Body::PullAck => (PULL_ACK, None, &[]),
            Body::TxAck { gateway, json } => (TX_ACK, Some(gateway), json),
        };
        let mut out = Vec::with_capacity(12 + json.len());
        out.push(self.version.byte());
        out.extend_from_slice(&self.token.0.to_be_bytes());
        out.push(identifier);
        if let Some(gateway) = gateway {
            out.extend_from_slice(&gateway.to_be_bytes());
        }
        out.extend_from_slice(json);
        out
    }
}

fn split_eui(len: usize, rest: &[u8]) -> Result<(GatewayId, &[u8]), CodecError> {
    match rest.split_first_chunk::<8>() {
        Some((eui, json)) => Ok((GatewayId::from_be_bytes(*eui), json)),
        None => Err(CodecError::Truncated { len, needed: 12 }),
    }
}

/// The `PUSH_ACK` answering a `PUSH_DATA` with `token`.
pub fn push_ack(version: ProtocolVersion, token: Token) -> [u8; 4] {
    let [t1, t2] = token.0.to_be_bytes();
    [version.byte(), t1, t2, PUSH_ACK]
}

/// The `PULL_ACK` answering a `PULL_DATA` with `token`.
pub fn pull_ack(version: ProtocolVersion, token: Token) -> [u8; 4] {
    let [t1, t2] = token.0.to_be_bytes();
    [version.byte(), t1, t2, PULL_ACK]
}

/// A `PULL_RESP` asking for `transmission`. Version 1 leaves the token unused (zero).
pub fn pull_resp(
    version: ProtocolVersion,
    token: Token,
    transmission: &Transmission,
) -> Result<Vec<u8>, CodecError> {
    let json = serde_json::to_vec(&txpk_json(transmission)?)
        .map_err(|e| CodecError::Json(e.to_string()))?;
    let token = match version {
        ProtocolVersion::V1 => Token(0),
        ProtocolVersion::V2 => token,
    };
    Ok(Packet {
        version,
        token,
        body: Body::PullResp { json: &json },
    }
    .encode())
}

/// The `{"txpk": …}` object for `transmission`.
///
/// Frequencies are written in MHz such that a forwarder multiplying by 10⁶ and truncating
/// (as Semtech's `lora_pkt_fwd` does) gets the exact Hz. LoRa downlinks go out without a
/// physical-layer CRC (`ncrc`), as LoRaWAN defines them (TS001 §3.3, downlink messages:
/// "No payload integrity check is done at this level"). FSK gets `fdev` = bit rate / 2
/// (25 kHz for LoRaWAN's 50 kbit/s FSK, what deployed network servers send). The data is
/// written padded; `txpk` readers take it either way (PROTOCOL: "padding optional").
pub fn txpk_json(tx: &Transmission) -> Result<Value, CodecError> {
    if tx.phy.len() > MAX_PHY_LEN {
        return Err(CodecError::invalid(
            "txpk.size",
            format!("{} bytes, at most {MAX_PHY_LEN}", tx.phy.len()),
        ));
    }
    let mut txpk = Map::new();
    match tx.timing {
        TxTiming::Immediately => txpk.insert("imme".into(), json!(true)),
        TxTiming::AtCounter(counter) => txpk.insert("tmst".into(), json!(counter)),
        TxTiming::AtGpsTime(ms) => txpk.insert("tmms".into(), json!(ms)),
    };
    txpk.insert("freq".into(), json!(mhz_for_forwarder(tx.frequency_hz)));
    txpk.insert("rfch".into(), json!(tx.rf_chain));
    txpk.insert("powe".into(), json!(tx.power_dbm));
    match tx.modulation {
        RadioModulation::Lora {
            spreading_factor,
            bandwidth_hz,
            code_rate,
        } => {
            let code_rate = code_rate.unwrap_or(CodeRate {
                numerator: 4,
                denominator: 5,
            });
            txpk.insert("modu".into(), json!("LORA"));
            txpk.insert(
                "datr".into(),
                json!(format!(
                    "SF{spreading_factor}BW{}",
                    bandwidth_khz(bandwidth_hz)
                )),
            );
            txpk.insert(
                "codr".into(),
                json!(format!("{}/{}", code_rate.numerator, code_rate.denominator)),
            );
            txpk.insert("ipol".into(), json!(tx.invert_polarity));
            txpk.insert("ncrc".into(), json!(true));
        }
        RadioModulation::Fsk { bitrate } => {
            txpk.insert("modu".into(), json!("FSK"));
            txpk.insert("datr".into(), json!(bitrate));
            txpk.insert("fdev".into(), json!(bitrate / 2));
        }
        RadioModulation::LrFhss { .. } => {
            return Err(CodecError::invalid("txpk.modu", "LR-FHSS is uplink only"));
        }
    }
    txpk.insert("size".into(), json!(tx.phy.len()));
    txpk.insert("data".into(), json!(BASE64_PADDED.encode(&tx.phy)));
    Ok(json!({ "txpk": txpk }))
}

/// Reads a `PULL_RESP` body back into the [`Transmission`] it asks of `gateway` (for
/// simulated gateways and round-trip tests).
pub fn parse_txpk(json: &[u8], gateway: GatewayId) -> Result<Transmission, CodecError> {
    let root = json_object(json)?;
    let txpk = root
        .get("txpk")
        .ok_or(CodecError::Missing("txpk"))?
        .as_object()
        .ok_or_else(|| CodecError::invalid("txpk", "not an object"))?;
    let timing = if txpk.get("imme").and_then(Value::as_bool) == Some(true) {
        TxTiming::Immediately
    } else if let Some(counter) = opt_u32(txpk, "tmst", "txpk.tmst")? {
        TxTiming::AtCounter(counter)
    } else if let Some(ms) = opt_u64(txpk, "tmms", "txpk.tmms")? {
        TxTiming::AtGpsTime(ms)
    } else {
        return Err(CodecError::Missing("txpk.tmst"));
    };
    let frequency_hz = frequency_hz(txpk.get("freq"), "txpk.freq")?;
    let modulation = rxpk::modulation(
        txpk.get("modu").and_then(Value::as_str),
        txpk.get("datr").ok_or(CodecError::Missing("txpk.datr"))?,
        txpk.get("codr").and_then(Value::as_str),
        ("txpk.modu", "txpk.datr"),
    )?;
    let power_dbm = opt_i64(txpk, "powe", "txpk.powe")?
        .map(|p| i8::try_from(p).map_err(|_| CodecError::invalid("txpk.powe", "out of range")))
        .transpose()?
        .unwrap_or(0);
    let rf_chain = opt_u8(txpk, "rfch", "txpk.rfch")?.unwrap_or(0);
    let phy = base64_data(txpk.get("data"), "txpk.data")?;
    check_size(txpk, &phy, "txpk.size")?;
    Ok(Transmission {
        gateway,
        timing,
        frequency_hz,
        modulation,
        power_dbm,
        rf_chain,
        invert_polarity: txpk.get("ipol").and_then(Value::as_bool).unwrap_or(false),
        phy,
    })
}

/// The gateway's answer in a `TX_ACK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxAckStatus {
    /// Accepted (error `NONE`, or an empty body), perhaps with a warning (the transmission
    /// still goes out, e.g. at a lower power).
    Accepted {
        /// The warning code, as written.
        warning: Option<String>,
    },
    /// Refused, with the error code as written.
    Refused {
        /// `TOO_LATE`, `TOO_EARLY`, `COLLISION_PACKET`, `COLLISION_BEACON`, `TX_FREQ`,
        /// `TX_POWER`, `GPS_UNLOCKED` or another.
        error: String,
    },
}

impl TxAckStatus {
    /// What became of the transmission.
    pub fn outcome(&self) -> TxOutcome {
        match self {
            Self::Accepted { .. } => TxOutcome::Sent,
            Self::Refused { error } => TxOutcome::Refused(refusal(error)),
        }
    }
}

/// The [`TxRefusal`] a `TX_ACK` error code stands for.
pub fn refusal(error: &str) -> TxRefusal {
    match error {
        "TOO_LATE" => TxRefusal::TooLate,
        "TOO_EARLY" => TxRefusal::TooEarly,
        "COLLISION_PACKET" => TxRefusal::CollisionPacket,
        "COLLISION_BEACON" => TxRefusal::CollisionBeacon,
        "TX_FREQ" => TxRefusal::Frequency,
        "TX_POWER" => TxRefusal::Power,
        "GPS_UNLOCKED" => TxRefusal::GpsUnlocked,
        _ => TxRefusal::Other,
    }
}

/// The `TX_ACK` error code of a [`TxRefusal`] (`UNKNOWN` for [`TxRefusal::Other`]).
pub fn refusal_code(refusal: TxRefusal) -> &'static str {
    match refusal {
        TxRefusal::TooLate => "TOO_LATE",
        TxRefusal::TooEarly => "TOO_EARLY",
        TxRefusal::CollisionPacket => "COLLISION_PACKET",
        TxRefusal::CollisionBeacon => "COLLISION_BEACON",
        TxRefusal::Frequency => "TX_FREQ",
        TxRefusal::Power => "TX_POWER",
        TxRefusal::GpsUnlocked => "GPS_UNLOCKED",
        TxRefusal::Other => "UNKNOWN",
    }
}

/// Reads a `TX_ACK` body: empty ("If no JSON is present (empty string), this means than no
/// error occured", PROTOCOL §5.5) or `{"txpk_ack":{"error":"…"}}` /
/// `{"txpk_ack":{"warn":"…","value":…}}`. Forwarders before PROTOCOL v1.5 report
/// `TX_POWER` as an error, later ones as a warning: a refusal, then a transmission.
pub fn parse_tx_ack(json: &[u8]) -> Result<TxAckStatus, CodecError> {
    if trim_json(json).is_empty() {
        return Ok(TxAckStatus::Accepted { warning: None });
    }
    let root = json_object(json)?;
    let ack = root
        .get("txpk_ack")
        .ok_or(CodecError::Missing("txpk_ack"))?
        .as_object()
        .ok_or_else(|| CodecError::invalid("txpk_ack", "not an object"))?;
    let text = |key: &str, field: &'static str| -> Result<Option<String>, CodecError> {
        match ack.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() || s == "NONE" => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(CodecError::invalid(field, "not a string")),
        }
    };
    let error = text("error", "txpk_ack.error")?;
    let warning = text("warn", "txpk_ack.warn")?;
    Ok(match error {
        Some(error) => TxAckStatus::Refused { error },
        None => TxAckStatus::Accepted { warning },
    })
}

/// A `TX_ACK` from `gateway` (for simulated gateways and tests).
pub fn tx_ack(
    version: ProtocolVersion,
    token: Token,
    gateway: GatewayId,
    status: &TxAckStatus,
) -> Vec<u8> {
    let ack = match status {
        TxAckStatus::Accepted { warning: None } => json!({ "error": "NONE" }),
        TxAckStatus::Accepted {
            warning: Some(warning),
        } => json!({ "warn": warning }),
        TxAckStatus::Refused { error } => json!({ "error": error }),
    };
    let json = json!({ "txpk_ack": ack }).to_string();
    Packet {
        version,
        token,
        body: Body::TxAck {
            gateway,
            json: json.as_bytes(),
        },
    }
    .encode()
}

/// Base64 with the standard alphabet, padding written; on input padding may be missing.
const BASE64_PADDED: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The JSON body without the NUL bytes and white space some forwarders append.
fn trim_json(json: &[u8]) -> &[u8] {
    let end = json
        .iter()
        .rposition(|c| !matches!(c, 0 | b' ' | b'\t' | b'\r' | b'\n'))
        .map_or(0, |i| i + 1);
    &json[..end]
}

fn json_object(json: &[u8]) -> Result<Map<String, Value>, CodecError> {
    match serde_json::from_slice(trim_json(json)) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(CodecError::Json("not an object".into())),
        Err(e) => Err(CodecError::Json(e.to_string())),
    }
}

/// MHz as a forwarder reads it: `freq * 1e6` truncated must give `hz` back. The nearest
/// double to `hz / 1e6` sometimes multiplies to `hz - 1e-7`; then the next double up is
/// written instead (still rounding to `hz` for a forwarder that rounds).
fn mhz_for_forwarder(hz: u32) -> f64 {
    let mhz = f64::from(hz) / 1e6;
    if (mhz * 1e6) as u32 == hz {
        mhz
    } else {
        f64::from_bits(mhz.to_bits() + 1)
    }
}

/// Hz from a `freq` in MHz, rounded to the nearest Hz (the protocol's "Hz precision").
fn frequency_hz(value: Option<&Value>, field: &'static str) -> Result<u32, CodecError> {
    let mhz = value
        .ok_or(CodecError::Missing(field))?
        .as_f64()
        .ok_or_else(|| CodecError::invalid(field, "not a number"))?;
    let hz = (mhz * 1e6).round();
    if !(1.0..=f64::from(u32::MAX)).contains(&hz) {
        return Err(CodecError::invalid(
            field,
            format!("{mhz} MHz is out of range"),
        ));
    }
    Ok(hz as u32)
}

fn bandwidth_khz(hz: u32) -> u32 {
    match hz {
        // The LoRa 2.4 GHz and sub-kHz bandwidths forwarders write truncated.
        812_500 => 812,
        406_250 => 406,
        203_125 => 203,
        62_500 => 62,
        other => other / 1000,
    }
}

fn base64_data(value: Option<&Value>, field: &'static str) -> Result<Vec<u8>, CodecError> {
    let text = value
        .ok_or(CodecError::Missing(field))?
        .as_str()
        .ok_or_else(|| CodecError::invalid(field, "not a string"))?;
    BASE64_PADDED
        .decode(text.trim())
        .map_err(|e| CodecError::invalid(field, format!("not base64: {e}")))
}

fn check_size(obj: &Map<String, Value>, phy: &[u8], field: &'static str) -> Result<(), CodecError> {
    match opt_u64(obj, "size", field)? {
        Some(size) if size != phy.len() as u64 => Err(CodecError::invalid(
            field,
            format!("says {size} bytes, data has {}", phy.len()),
        )),
        _ => Ok(()),
    }
}

fn opt_i64(
    obj: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<i64>, CodecError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match (value.as_i64(), value.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            // `12.0`: some forwarders print every number as a float.
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
            _ => Err(CodecError::invalid(field, "not an integer")),
        },
    }
}

fn opt_u64(
    obj: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<u64>, CodecError> {
    match obj.get(key).and_then(Value::as_u64) {
        Some(v) => Ok(Some(v)),
        None => opt_i64(obj, key, field)?
            .map(|v| u64::try_from(v).map_err(|_| CodecError::invalid(field, "negative")))
            .transpose(),
    }
}

fn opt_u32(
    obj: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<u32>, CodecError> {
    opt_u64(obj, key, field)?
        .map(|v| u32::try_from(v).map_err(|_| CodecError::invalid(field, "out of range")))
        .transpose()
}

fn opt_u8(
    obj: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<u8>, CodecError> {
    opt_u64(obj, key, field)?
        .map(|v| u8::try_from(v).map_err(|_| CodecError::invalid(field, "out of range")))
        .transpose()
}

fn opt_f64(
    obj: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<f64>, CodecError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or_else(|| CodecError::invalid(field, "not a number")),
    }
}

#[cfg(test)]
mod replay;
#[cfg(test)]
mod tests;
