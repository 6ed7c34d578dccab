//! The Semtech UDP packet-forwarder protocol, version 2, as a gateway speaks it: encoding of
//! `PUSH_DATA` (rxpk, stat), `PULL_DATA`, `TX_ACK`, decoding of `PUSH_ACK`, `PULL_ACK`,
//! `PULL_RESP` (txpk). Sans-IO; [`super::gateway`] does the sockets.
//!
//! Every packet starts `version (2) | token (2 bytes) | identifier`; packets from the gateway
//! then carry its EUI (8 bytes, big-endian as printed), and some a JSON object.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::load::frame::Eui64;

/// The protocol version this simulator speaks.
pub const PROTOCOL_VERSION: u8 = 2;
/// Gateway → server: uplinks and status.
pub const PUSH_DATA: u8 = 0x00;
/// Server → gateway: `PUSH_DATA` received.
pub const PUSH_ACK: u8 = 0x01;
/// Gateway → server: keep-alive, opens the downlink path.
pub const PULL_DATA: u8 = 0x02;
/// Server → gateway: a frame to transmit.
pub const PULL_RESP: u8 = 0x03;
/// Server → gateway: `PULL_DATA` received.
pub const PULL_ACK: u8 = 0x04;
/// Gateway → server: what became of a `PULL_RESP`.
pub const TX_ACK: u8 = 0x05;

/// A LoRa or FSK data rate, as `datr` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataRate {
    /// LoRa: `"SF7BW125"`.
    Lora {
        /// Spreading factor.
        sf: u8,
        /// Bandwidth in kHz.
        bw_khz: u16,
    },
    /// FSK: a number, bits per second.
    Fsk {
        /// Bit rate.
        bitrate: u32,
    },
}

impl DataRate {
    /// Reads a `datr` value: a `SF{n}BW{k}` string or an FSK bit rate number.
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        match value {
            serde_json::Value::Number(n) => {
                let bitrate = u32::try_from(n.as_u64()?).ok()?;
                Some(Self::Fsk { bitrate })
            }
            serde_json::Value::String(s) => {
                let rest = s.strip_prefix("SF")?;
                let (sf, bw) = rest.split_once("BW")?;
                Some(Self::Lora {
                    sf: sf.parse().ok()?,
                    bw_khz: bw.parse().ok()?,
                })
            }
            _ => None,
        }
    }
}

/// CRC status of a received frame (`stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CrcStatus {
    /// CRC OK (`1`).
    #[default]
    Ok,
    /// CRC failed (`-1`).
    Bad,
    /// No CRC (`0`).
    Absent,
}

/// How one gateway heard one frame: the `rxpk` fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RadioParams {
    /// Centre frequency in Hz.
    pub freq_hz: u32,
    /// Modulation and data rate.
    pub data_rate: DataRate,
    /// LoRa coding rate denominator: 5 is `"4/5"`.
    pub code_rate: u8,
    /// RSSI in dBm.
    pub rssi_dbm: i16,
    /// LoRa SNR in dB.
    pub snr_db: f32,
    /// Concentrator IF channel (`chan`).
    pub channel: u8,
    /// Concentrator RF chain (`rfch`).
    pub rf_chain: u8,
    /// Concentrator counter in µs (`tmst`); `None` takes the gateway's own clock.
    pub tmst: Option<u32>,
    /// UTC reception time (`time`), when the gateway knows it.
    pub time: Option<SystemTime>,
    /// GPS time in ms since the GPS epoch (`tmms`).
    pub gps_time_ms: Option<u64>,
    /// CRC status (`stat`).
    pub crc: CrcStatus,
}

impl RadioParams {
    /// A LoRa reception at `freq_hz` with SF`sf` / BW`bw_khz`, coding rate 4/5, RSSI -60 dBm,
    /// SNR 7 dB, channel 0, the gateway's clock.
    pub fn lora(freq_hz: u32, sf: u8, bw_khz: u16) -> Self {
        Self {
            freq_hz,
            data_rate: DataRate::Lora { sf, bw_khz },
            code_rate: 5,
            rssi_dbm: -60,
            snr_db: 7.0,
            channel: 0,
            rf_chain: 0,
            tmst: None,
            time: None,
            gps_time_ms: None,
            crc: CrcStatus::Ok,
        }
    }

    /// EU868 data rate `dr` (0–7, RP002 §2.4.3) on default channel `channel` (0–2: 868.1,
    /// 868.3, 868.5 MHz); `None` outside those. Pass the same `dr` / `channel` as the
    /// uplink's TxDr / TxCh for a 1.1 device.
    pub fn eu868(dr: u8, channel: u8) -> Option<Self> {
        let freq_hz = [868_100_000, 868_300_000, 868_500_000]
            .get(usize::from(channel))
            .copied()?;
        let data_rate = match dr {
            0..=5 => DataRate::Lora {
                sf: 12 - dr,
                bw_khz: 125,
            },
            6 => DataRate::Lora { sf: 7, bw_khz: 250 },
            7 => DataRate::Fsk { bitrate: 50_000 },
            _ => return None,
        };
        Some(Self {
            data_rate,
            channel,
            ..Self::lora(freq_hz, 7, 125)
        })
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum DatrJson {
    Lora(String),
    Fsk(u32),
}

#[derive(Serialize)]
struct RxPkJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tmms: Option<u64>,
    tmst: u32,
    chan: u8,
    rfch: u8,
    freq: f64,
    stat: i8,
    modu: &'static str,
    datr: DatrJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    codr: Option<String>,
    rssi: i16,
    #[serde(skip_serializing_if = "Option::is_none")]
    lsnr: Option<f32>,
    size: usize,
    data: String,
}

#[derive(Serialize)]
struct RxPkBody<'a> {
    rxpk: &'a [RxPkJson],
}

/// The gateway's status report (`stat` object of a `PUSH_DATA`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GatewayStat {
    /// UTC time of the report.
    pub time: SystemTime,
    /// Latitude, longitude (degrees) and altitude (m), when the gateway has a position.
    pub position: Option<(f64, f64, i32)>,
    /// Frames received.
    pub rxnb: u32,
    /// Frames received with a valid CRC.
    pub rxok: u32,
    /// Frames forwarded.
    pub rxfw: u32,
    /// Percentage of upstream datagrams acknowledged.
    pub ackr: f32,
    /// Downlinks received.
    pub dwnb: u32,
    /// Frames transmitted.
    pub txnb: u32,
}

#[derive(Serialize)]
struct StatJson {
    time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    lati: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    long: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alti: Option<i32>,
    rxnb: u32,
    rxok: u32,
    rxfw: u32,
    ackr: f32,
    dwnb: u32,
    txnb: u32,
}

#[derive(Serialize)]
struct StatBody {
    stat: StatJson,
}

fn header(token: u16, ident: u8, out: &mut Vec<u8>) {
    out.push(PROTOCOL_VERSION);
    out.extend_from_slice(&token.to_be_bytes());
    out.push(ident);
}

/// Writes a `PUSH_DATA` with one `rxpk` into `out` (cleared first). `tmst` is the counter value
/// to report (the caller resolves `radio.tmst`).
pub fn push_data_rxpk(
    token: u16,
    gateway: Eui64,
    phy: &[u8],
    radio: &RadioParams,
    tmst: u32,
    out: &mut Vec<u8>,
) {
    let (modu, datr, codr, lsnr) = match radio.data_rate {
        DataRate::Lora { sf, bw_khz } => (
            "LORA",
            DatrJson::Lora(format!("SF{sf}BW{bw_khz}")),
            Some(format!("4/{}", radio.code_rate)),
            Some(radio.snr_db),
        ),
        DataRate::Fsk { bitrate } => ("FSK", DatrJson::Fsk(bitrate), None, None),
    };
    let rxpk = RxPkJson {
        time: radio.time.map(rfc3339),
        tmms: radio.gps_time_ms,
        tmst,
        chan: radio.channel,
        rfch: radio.rf_chain,
        freq: f64::from(radio.freq_hz) / 1e6,
        stat: match radio.crc {
            CrcStatus::Ok => 1,
            CrcStatus::Bad => -1,
            CrcStatus::Absent => 0,
        },
        modu,
        datr,
        codr,
        rssi: radio.rssi_dbm,
        lsnr,
        size: phy.len(),
        data: BASE64.encode(phy),
    };
    out.clear();
    header(token, PUSH_DATA, out);
    out.extend_from_slice(&gateway.0.to_be_bytes());
    // Serializing these plain structs into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &RxPkBody { rxpk: &[rxpk] });
}

/// Writes a `PUSH_DATA` with a `stat` object into `out` (cleared first).
pub fn push_data_stat(token: u16, gateway: Eui64, stat: &GatewayStat, out: &mut Vec<u8>) {
    let body = StatBody {
        stat: StatJson {
            time: stat_time(stat.time),
            lati: stat.position.map(|p| p.0),
            long: stat.position.map(|p| p.1),
            alti: stat.position.map(|p| p.2),
            rxnb: stat.rxnb,
            rxok: stat.rxok,
            rxfw: stat.rxfw,
            ackr: stat.ackr,
            dwnb: stat.dwnb,
            txnb: stat.txnb,
        },
    };
    out.clear();
    header(token, PUSH_DATA, out);
    out.extend_from_slice(&gateway.0.to_be_bytes());
    let _ = serde_json::to_writer(&mut *out, &body);
}

/// A `PULL_DATA` keep-alive.
pub fn pull_data(token: u16, gateway: Eui64) -> [u8; 12] {
    let mut p = [0_u8; 12];
    p[0] = PROTOCOL_VERSION;
    p[1..3].copy_from_slice(&token.to_be_bytes());
    p[3] = PULL_DATA;
    p[4..].copy_from_slice(&gateway.0.to_be_bytes());
    p
}

/// What a gateway answers to a `PULL_RESP`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TxAckMode {
    /// `TX_ACK` with `{"txpk_ack":{"error":"NONE"}}`.
    #[default]
    Ok,
    /// `TX_ACK` without JSON, as Semtech's own forwarder answers a success.
    OkEmpty,
    /// `TX_ACK` with `{"txpk_ack":{"error":"<code>"}}`.
    Error(TxAckError),
    /// No `TX_ACK` at all (a v1 forwarder, or a lost datagram).
    Silent,
}

/// A `TX_ACK` error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxAckError {
    /// `TOO_LATE`.
    TooLate,
    /// `TOO_EARLY`.
    TooEarly,
    /// `COLLISION_PACKET`.
    CollisionPacket,
    /// `COLLISION_BEACON`.
    CollisionBeacon,
    /// `TX_FREQ`.
    TxFreq,
    /// `TX_POWER`.
    TxPower,
    /// `GPS_UNLOCKED`.
    GpsUnlocked,
    /// Any other string (to test an unknown code).
    Other(String),
}

impl TxAckError {
    /// The code as the protocol writes it.
    pub fn code(&self) -> &str {
        match self {
            Self::TooLate => "TOO_LATE",
            Self::TooEarly => "TOO_EARLY",
            Self::CollisionPacket => "COLLISION_PACKET",
            Self::CollisionBeacon => "COLLISION_BEACON",
            Self::TxFreq => "TX_FREQ",
            Self::TxPower => "TX_POWER",
            Self::GpsUnlocked => "GPS_UNLOCKED",
            Self::Other(code) => code,
        }
    }
}

/// The `TX_ACK` for `mode` answering `token`; `None` for [`TxAckMode::Silent`].
pub fn tx_ack(token: u16, gateway: Eui64, mode: &TxAckMode) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    header(token, TX_ACK, &mut out);
    out.extend_from_slice(&gateway.0.to_be_bytes());
    let error = match mode {
        TxAckMode::Silent => return None,
        TxAckMode::OkEmpty => return Some(out),
        TxAckMode::Ok => "NONE",
        TxAckMode::Error(e) => e.code(),
    };
    let body = serde_json::json!({ "txpk_ack": { "error": error } });
    let _ = serde_json::to_writer(&mut out, &body);
    Some(out)
}

/// A packet from the server, its header decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Downstream<'a> {
    /// `PUSH_ACK` for `token`.
    PushAck(u16),
    /// `PULL_ACK` for `token`.
    PullAck(u16),
    /// `PULL_RESP` with its token and JSON body.
    PullResp(u16, &'a [u8]),
}

/// Why a packet from the server could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SemtechError {
    /// Fewer than 4 bytes.
    #[error("packet of {0} bytes is shorter than a header")]
    Short(usize),
    /// Not protocol version 1 or 2.
    #[error("protocol version {0}")]
    Version(u8),
    /// An identifier a server does not send.
    #[error("identifier {0:#04x} is not a server packet")]
    Identifier(u8),
    /// A `PULL_RESP` whose JSON is not a valid txpk.
    #[error("bad txpk: {0}")]
    TxPk(String),
}

/// Decodes a packet's header. Versions 1 and 2 are read alike.
pub fn parse_downstream(packet: &[u8]) -> Result<Downstream<'_>, SemtechError> {
    let [version, t0, t1, ident, rest @ ..] = packet else {
        return Err(SemtechError::Short(packet.len()));
    };
    if *version != 1 && *version != 2 {
        return Err(SemtechError::Version(*version));
    }
    let token = u16::from_be_bytes([*t0, *t1]);
    match *ident {
        PUSH_ACK => Ok(Downstream::PushAck(token)),
        PULL_ACK => Ok(Downstream::PullAck(token)),
        PULL_RESP => Ok(Downstream::PullResp(token, rest)),
        other => Err(SemtechError::Identifier(other)),
    }
}

/// When a downlink is to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DownlinkTiming {
    /// `imme: true`.
    Immediately,
    /// `tmst`: at this concentrator counter value.
    AtCounter(u32),
    /// `tmms`: at this GPS time in ms.
    AtGpsTime(u64),
}

/// A `PULL_RESP` a simulated gateway received.
#[derive(Debug, Clone, PartialEq)]
pub struct SimDownlink {
    /// The gateway that received it.
    pub gateway: Eui64,
    /// The `PULL_RESP` token.
    pub token: u16,
    /// The PHYPayload (`data`, base64-decoded).
    pub phy: Vec<u8>,
    /// When.
    pub timing: DownlinkTiming,
    /// Frequency in Hz (`freq` in MHz, rounded to the Hz).
    pub freq_hz: u32,
    /// Data rate (`modu`, `datr`).
    pub data_rate: DataRate,
    /// Coding rate (`codr`).
    pub code_rate: Option<String>,
    /// TX power in dBm (`powe`).
    pub power_dbm: Option<i32>,
    /// RF chain (`rfch`).
    pub rf_chain: Option<u8>,
    /// Polarity inversion (`ipol`).
    pub invert_polarity: Option<bool>,
    /// `size`, when given (should equal the length of `phy`).
    pub size: Option<u16>,
    /// The whole `txpk` object, as sent.
    pub txpk: serde_json::Value,
}

impl SimDownlink {
    /// For a downlink timed on the concentrator counter, how long after the uplink reported
    /// with `uplink_tmst` it is to be sent (the counter wraps): 1 s for a default RX1, 5 s for
    /// a join-accept in RX1. `None` for other timings.
    pub fn delay_after(&self, uplink_tmst: u32) -> Option<Duration> {
        match self.timing {
            DownlinkTiming::AtCounter(t) => Some(Duration::from_micros(u64::from(
                t.wrapping_sub(uplink_tmst),
            ))),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct PullRespJson {
    txpk: serde_json::Value,
}

#[derive(Deserialize)]
struct TxPkJson {
    imme: Option<bool>,
    tmst: Option<u32>,
    tmms: Option<u64>,
    freq: f64,
    rfch: Option<u8>,
    powe: Option<i32>,
    modu: String,
    datr: serde_json::Value,
    codr: Option<String>,
    ipol: Option<bool>,
    size: Option<u16>,
    data: String,
}

/// Reads a `PULL_RESP` body (`{"txpk":{…}}`).
pub fn parse_txpk(gateway: Eui64, token: u16, body: &[u8]) -> Result<SimDownlink, SemtechError> {
    let bad = |e: &dyn std::fmt::Display| SemtechError::TxPk(e.to_string());
    let outer: PullRespJson = serde_json::from_slice(body).map_err(|e| bad(&e))?;
    let txpk: TxPkJson = serde_json::from_value(outer.txpk.clone()).map_err(|e| bad(&e))?;
    let phy = BASE64.decode(txpk.data.as_bytes()).map_err(|e| bad(&e))?;
    let timing = match (txpk.imme, txpk.tmst, txpk.tmms) {
        (Some(true), _, _) => DownlinkTiming::Immediately,
        (_, Some(t), _) => DownlinkTiming::AtCounter(t),
        (_, _, Some(t)) => DownlinkTiming::AtGpsTime(t),
        _ => return Err(bad(&"no imme, tmst or tmms")),
    };
    let hz = (txpk.freq * 1e6).round();
    if !(1.0..=f64::from(u32::MAX)).contains(&hz) {
        return Err(bad(&format!("freq {}", txpk.freq)));
    }
    let data_rate =
        DataRate::from_json(&txpk.datr).ok_or_else(|| bad(&format!("datr {}", txpk.datr)))?;
    let modu_matches = matches!(
        (txpk.modu.as_str(), data_rate),
        ("LORA", DataRate::Lora { .. }) | ("FSK", DataRate::Fsk { .. })
    );
    if !modu_matches {
        return Err(bad(&format!("modu {} with datr {}", txpk.modu, txpk.datr)));
    }
    Ok(SimDownlink {
        gateway,
        token,
        phy,
        timing,
        freq_hz: hz as u32,
        data_rate,
        code_rate: txpk.codr,
        power_dbm: txpk.powe,
        rf_chain: txpk.rfch,
        invert_polarity: txpk.ipol,
        size: txpk.size,
        txpk: outer.txpk,
    })
}

/// `(year, month, day, hour, minute, second, microsecond)` of a UTC time (proleptic
/// Gregorian; times before 1970 are clamped to the epoch).
fn civil(t: SystemTime) -> (i64, u32, u32, u64, u64, u64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        d.subsec_micros(),
    )
}

/// `2013-03-31T16:21:17.528002Z`, the rxpk `time` format.
pub fn rfc3339(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, us) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z")
}

/// `2014-01-12 08:59:28 GMT`, the stat `time` format.
pub fn stat_time(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, _) = civil(t);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} GMT")
}
