//! The `PUSH_DATA` body: `rxpk` (received frames) and `stat` (the gateway's status).

use serde_json::{Map, Value};

use super::{
    base64_data, check_size, frequency_hz, json_object, opt_f64, opt_i64, opt_u32, opt_u64, opt_u8,
    time::parse_time, CodecError,
};
use crate::gateway::registry::{GatewayStats, Location};
use crate::gateway::{CodeRate, GatewayId, RadioModulation, Reception, RxInfo};

/// What a `PUSH_DATA` body carried.
#[derive(Debug, Clone, PartialEq)]
pub struct PushData {
    /// The frames worth passing on, in `rxpk` order.
    pub uplinks: Vec<Uplink>,
    /// The `rxpk` entries left out, and why.
    pub skipped: Vec<Skipped>,
    /// The status report, if there was one (or why it could not be read).
    pub stat: Option<Result<GatewayStats, CodecError>>,
}

/// One received frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Uplink {
    /// The frame and its radio metadata.
    pub reception: Reception,
    /// Its CRC status (frames with a bad CRC are [`Skipped`]).
    pub crc: CrcStatus,
    /// The antenna that heard it best, for multi-antenna forwarders (`rsig`).
    pub antenna: Option<u8>,
    /// The frequency offset the concentrator measured (`foff`), in Hz.
    pub frequency_offset_hz: Option<i32>,
}

/// The CRC status of a passed-on frame (`stat` 1 or 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcStatus {
    /// The CRC was checked and is good.
    Ok,
    /// The frame had no CRC (the MIC still protects a LoRaWAN frame).
    Absent,
}

/// An `rxpk` entry that was not passed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its position in `rxpk`.
    pub index: usize,
    /// Why.
    pub reason: SkipReason,
}

/// Why an `rxpk` entry was not passed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The concentrator found a bad CRC (`stat` -1).
    CrcBad,
    /// The entry is malformed.
    Invalid(CodecError),
}

/// Reads a `PUSH_DATA` body from `gateway`. Fails only if the body is not a JSON object or
/// its `rxpk` is not an array; bad entries and a bad `stat` are reported inside.
pub fn parse_push_data(gateway: GatewayId, json: &[u8]) -> Result<PushData, CodecError> {
    let root = json_object(json)?;
    let entries: &[Value] = match root.get("rxpk") {
        None | Some(Value::Null) => &[],
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(CodecError::invalid("rxpk", "not an array")),
    };
    let mut uplinks = Vec::with_capacity(entries.len());
    let mut skipped = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match rxpk(gateway, entry) {
            Ok(uplink) => uplinks.push(uplink),
            Err(reason) => skipped.push(Skipped { index, reason }),
        }
    }
    let stat = match root.get("stat") {
        None | Some(Value::Null) => None,
        Some(Value::Object(stat)) => Some(stats(stat)),
        Some(_) => Some(Err(CodecError::invalid("stat", "not an object"))),
    };
    Ok(PushData {
        uplinks,
        skipped,
        stat,
    })
}

/// One antenna's view of a frame (`rsig` entry of multi-antenna forwarders).
struct Antenna {
    ant: Option<u8>,
    chan: Option<u8>,
    rssi: Option<i16>,
    snr: Option<f32>,
    fine_ns: Option<u32>,
    foff: Option<i32>,
}

fn rxpk(gateway: GatewayId, entry: &Value) -> Result<Uplink, SkipReason> {
    let obj = entry
        .as_object()
        .ok_or_else(|| CodecError::invalid("rxpk", "entry is not an object"))?;
    // CRC first: a frame with a bad CRC is reported as such whatever else is wrong with it.
    let crc = match opt_i64(obj, "stat", "rxpk.stat")? {
        Some(1) => CrcStatus::Ok,
        Some(0) | None => CrcStatus::Absent,
        Some(-1) => return Err(SkipReason::CrcBad),
        Some(other) => {
            return Err(
                CodecError::invalid("rxpk.stat", format!("{other} is not 1, 0 or -1")).into(),
            )
        }
    };
    let phy = base64_data(obj.get("data"), "rxpk.data")?;
    check_size(obj, &phy, "rxpk.size")?;
    let frequency_hz = frequency_hz(obj.get("freq"), "rxpk.freq")?;
    let counter_us = opt_u32(obj, "tmst", "rxpk.tmst")?.ok_or(CodecError::Missing("rxpk.tmst"))?;
    let modulation = modulation(
        obj.get("modu").and_then(Value::as_str),
        obj.get("datr").ok_or(CodecError::Missing("rxpk.datr"))?,
        obj.get("codr").and_then(Value::as_str),
        ("rxpk.modu", "rxpk.datr"),
    )?;
    let best = best_antenna(obj)?;
    let rssi_dbm = match best.as_ref().and_then(|a| a.rssi) {
        Some(rssi) => rssi,
        None => match rssi(obj, "rssi", "rxpk.rssi")? {
            Some(rssi) => rssi,
            None => rssi(obj, "rssis", "rxpk.rssis")?.ok_or(CodecError::Missing("rxpk.rssi"))?,
        },
    };
    let snr_db = match best.as_ref().and_then(|a| a.snr) {
        Some(snr) => snr,
        None => opt_f64(obj, "lsnr", "rxpk.lsnr")?.map_or(0.0, |s| s as f32),
    };
    let channel = match best.as_ref().and_then(|a| a.chan) {
        Some(chan) => chan,
        None => opt_u8(obj, "chan", "rxpk.chan")?.unwrap_or(0),
    };
    let fine_timestamp_ns = match fine_ns(obj, "ftime", "rxpk.ftime")? {
        Some(ns) => Some(ns),
        None => best.as_ref().and_then(|a| a.fine_ns),
    };
    let frequency_offset_hz = match best.as_ref().and_then(|a| a.foff) {
        Some(foff) => Some(foff),
        None => i32_field(obj, "foff", "rxpk.foff")?,
    };
    Ok(Uplink {
        reception: Reception {
            phy,
            rx: RxInfo {
                gateway,
                frequency_hz,
                modulation,
                rssi_dbm,
                snr_db,
                channel,
                rf_chain: opt_u8(obj, "rfch", "rxpk.rfch")?.unwrap_or(0),
                counter_us,
                // Metadata only: a forwarder without a clock writes nonsense here.
                time: obj.get("time").and_then(Value::as_str).and_then(parse_time),
                gps_time_ms: opt_u64(obj, "tmms", "rxpk.tmms")?,
                fine_timestamp_ns,
            },
        },
        crc,
        antenna: best.and_then(|a| a.ant),
        frequency_offset_hz,
    })
}

impl From<CodecError> for SkipReason {
    fn from(error: CodecError) -> Self {
        Self::Invalid(error)
    }
}

/// The `rsig` entry with the best SNR (then RSSI): the antenna that heard the frame best.
fn best_antenna(obj: &Map<String, Value>) -> Result<Option<Antenna>, CodecError> {
    let entries = match obj.get("rsig") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(CodecError::invalid("rxpk.rsig", "not an array")),
    };
    let mut best: Option<Antenna> = None;
    for entry in entries {
        let sig = entry
            .as_object()
            .ok_or_else(|| CodecError::invalid("rxpk.rsig", "entry is not an object"))?;
        let antenna = Antenna {
            ant: opt_u8(sig, "ant", "rxpk.rsig.ant")?,
            chan: opt_u8(sig, "chan", "rxpk.rsig.chan")?,
            rssi: match rssi(sig, "rssic", "rxpk.rsig.rssic")? {
                Some(rssi) => Some(rssi),
                None => rssi(sig, "rssis", "rxpk.rsig.rssis")?,
            },
            snr: opt_f64(sig, "lsnr", "rxpk.rsig.lsnr")?.map(|s| s as f32),
            fine_ns: fine_ns(sig, "ftime", "rxpk.rsig.ftime")?,
            foff: i32_field(sig, "foff", "rxpk.rsig.foff")?,
        };
        let key = |a: &Antenna| (a.snr.unwrap_or(f32::MIN), a.rssi.unwrap_or(i16::MIN));
        if best.as_ref().is_none_or(|b| key(&antenna) > key(b)) {
            best = Some(antenna);
        }
    }
    Ok(best)
}

/// A modulation from `modu`, `datr` and `codr` (shared with `txpk`). Without `modu`, the
/// `datr` decides: a string is LoRa (or LR-FHSS), a number FSK.
pub(super) fn modulation(
    modu: Option<&str>,
    datr: &Value,
    codr: Option<&str>,
    (modu_field, datr_field): (&'static str, &'static str),
) -> Result<RadioModulation, CodecError> {
    let datr_text = datr.as_str().map(str::trim);
    let kind = match modu.map(str::trim) {
        Some(m) if m.eq_ignore_ascii_case("LORA") => "LORA",
        Some(m) if m.eq_ignore_ascii_case("FSK") => "FSK",
        Some(m) if m.eq_ignore_ascii_case("LR-FHSS") => "LR-FHSS",
        Some(other) => {
            return Err(CodecError::invalid(
                modu_field,
                format!("unknown modulation {other:?}"),
            ))
        }
        None => match datr_text {
            Some(d) if d.starts_with('M') => "LR-FHSS",
            Some(d) if d.starts_with("SF") => "LORA",
            _ => "FSK",
        },
    };
    let code_rate = codr.and_then(code_rate);
    match kind {
        "LORA" => {
            let text = datr_text.ok_or_else(|| CodecError::invalid(datr_field, "not a string"))?;
            let (sf, bw) = text
                .strip_prefix("SF")
                .and_then(|rest| rest.split_once("BW"))
                .ok_or_else(|| {
                    CodecError::invalid(datr_field, format!("{text:?} is not SFnBWm"))
                })?;
            let spreading_factor = sf
                .parse::<u8>()
                .ok()
                .filter(|sf| (5..=12).contains(sf))
                .ok_or_else(|| {
                    CodecError::invalid(datr_field, format!("bad spreading factor {sf:?}"))
                })?;
            let bandwidth_hz = bw
                .parse::<u32>()
                .ok()
                .and_then(bandwidth_hz)
                .ok_or_else(|| CodecError::invalid(datr_field, format!("bad bandwidth {bw:?}")))?;
            Ok(RadioModulation::Lora {
                spreading_factor,
                bandwidth_hz,
                code_rate,
            })
        }
        "FSK" => {
            let bitrate = match (datr.as_u64(), datr_text) {
                (Some(bitrate), _) => u32::try_from(bitrate).ok(),
                (None, Some(text)) => text.parse::<u32>().ok(),
                (None, None) => datr
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && (1.0..=f64::from(u32::MAX)).contains(f))
                    .map(|f| f as u32),
            }
            .filter(|&bitrate| bitrate > 0)
            .ok_or_else(|| CodecError::invalid(datr_field, "not an FSK bit rate"))?;
            Ok(RadioModulation::Fsk { bitrate })
        }
        _ => {
            // sx1302 forwarders: "M0CW137" = modulation type 0, occupied channel width
            // 137 kHz (also 336 and 1523).
            let text = datr_text.ok_or_else(|| CodecError::invalid(datr_field, "not a string"))?;
            let width_khz = text
                .strip_prefix('M')
                .and_then(|rest| rest.split_once("CW"))
                .and_then(|(_, cw)| cw.parse::<u32>().ok())
                .filter(|&khz| khz > 0 && khz < 100_000)
                .ok_or_else(|| CodecError::invalid(datr_field, format!("{text:?} is not MnCWw")))?;
            Ok(RadioModulation::LrFhss {
                occupied_channel_width_hz: width_khz * 1000,
                code_rate,
            })
        }
    }
}

/// LoRa bandwidth in Hz from the kHz a `datr` writes (truncated for the odd ones).
fn bandwidth_hz(khz: u32) -> Option<u32> {
    match khz {
        0 => None,
        62 => Some(62_500),
        203 => Some(203_125),
        406 => Some(406_250),
        812 => Some(812_500),
        khz if khz <= 2000 => Some(khz * 1000),
        _ => None,
    }
}

/// "4/5" → 4/5; "4/5LI" (2.4 GHz long interleaving) → 4/5; "OFF" or garbage → none (the
/// code rate is informational on uplink).
fn code_rate(text: &str) -> Option<CodeRate> {
    let (numerator, rest) = text.trim().split_once('/')?;
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let numerator = numerator.parse::<u8>().ok()?;
    let denominator = rest[..digits].parse::<u8>().ok()?;
    (numerator > 0 && denominator >= numerator).then_some(CodeRate {
        numerator,
        denominator,
    })
}

fn rssi(
    obj: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<i16>, CodecError> {
    opt_f64(obj, key, field)?
        .map(|dbm| {
            let dbm = dbm.round();
            if (-300.0..=100.0).contains(&dbm) {
                Ok(dbm as i16)
            } else {
                Err(CodecError::invalid(
                    field,
                    format!("{dbm} dBm is out of range"),
                ))
            }
        })
        .transpose()
}

fn fine_ns(
    obj: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<u32>, CodecError> {
    opt_u32(obj, key, field)?
        .map(|ns| {
            if ns < 1_000_000_000 {
                Ok(ns)
            } else {
                Err(CodecError::invalid(field, "not within a second"))
            }
        })
        .transpose()
}

fn i32_field(
    obj: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<i32>, CodecError> {
    opt_i64(obj, key, field)?
        .map(|v| i32::try_from(v).map_err(|_| CodecError::invalid(field, "out of range")))
        .transpose()
}

/// The `stat` object. A GPS-less forwarder writes `lati`/`long` as 0: no location then.
fn stats(stat: &Map<String, Value>) -> Result<GatewayStats, CodecError> {
    let lat = opt_f64(stat, "lati", "stat.lati")?;
    let lon = opt_f64(stat, "long", "stat.long")?;
    let alt = opt_f64(stat, "alti", "stat.alti")?;
    let location = match (lat, lon) {
        (Some(lat), Some(lon)) if (lat, lon) != (0.0, 0.0) => {
            if !(-90.0..=90.0).contains(&lat) {
                return Err(CodecError::invalid(
                    "stat.lati",
                    format!("{lat} is not a latitude"),
                ));
            }
            if !(-180.0..=180.0).contains(&lon) {
                return Err(CodecError::invalid(
                    "stat.long",
                    format!("{lon} is not a longitude"),
                ));
            }
            Some(Location {
                lat,
                lon,
                alt_m: alt.unwrap_or(0.0),
            })
        }
        _ => None,
    };
    Ok(GatewayStats {
        time: stat
            .get("time")
            .and_then(Value::as_str)
            .and_then(parse_time),
        location,
        rx_received: opt_u32(stat, "rxnb", "stat.rxnb")?,
        rx_ok: opt_u32(stat, "rxok", "stat.rxok")?,
        rx_forwarded: opt_u32(stat, "rxfw", "stat.rxfw")?,
        ack_ratio_percent: opt_f64(stat, "ackr", "stat.ackr")?,
        downlinks_received: opt_u32(stat, "dwnb", "stat.dwnb")?,
        tx_emitted: opt_u32(stat, "txnb", "stat.txnb")?,
        temperature_c: opt_f64(stat, "temp", "stat.temp")?,
    })
}
