//! An AS downlink request → a [`DownlinkSubmission`], or the seed's exact rejection.
//!
//! The request arrives as the query line of API v1 (`/thingpark/lrc/rest/downlink`) or v2
//! (`/thingpark/lrc/rest/v2/downlink`), seed 001 §7.1.3, or as seed 002's JSON body
//! `{"DevEUI_downlink": {…}}`. It is read into [`RawDownlink`] (strings as sent, and the bytes
//! the token covers), then checked in the order the caller drives:
//!
//! 1. [`RawDownlink::dev_eui`]: 100 "Invalid DevEUI" (also when the device is unknown);
//! 2. [`authenticate`] against the device's AS profile (105–111);
//! 3. [`validate`]: CorrelationID (117), payload (113, 118), FPort (104), counters (119),
//!    ValidityTime (112);
//! 4. the token bucket ([`DownlinkGovernor`], 121), then the network server (101–103, 114–116,
//!    119).
//!
//! Every outcome is a [`Rejection`], written once per API version: v1 answers HTTP 350 with
//! the seed's text (404 for "No Base Station Available"); v2 answers 409 with
//! `{"code": …, "message": …}` and the table's additional attributes.
//!
//! Choices where the seeds are silent, each documented at its line: the JSON body's token;
//! booleans other than `0`/`1`/`true`/`false`; an unreadable counter; a full queue; a JSON
//! body that is not JSON.

use std::borrow::Cow;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use lorawan::ids::{AesKey, Eui64};
use service::ratelimit::{Quota, RateLimiter};

use super::{token, AsCounter, AsProfile, DownlinkRefusal, DownlinkSubmission, SizeLimitSlot};
use crate::downlink::queue::{Confirmation, NewDownlink, Payload};

/// Seed 001 §7.1.5: "The payload size is greater than 5000 characters or is not a multiple
/// of 2."
pub const MAX_PAYLOAD_CHARS: usize = 5000;

/// Why a downlink request was refused: one row of the seed's tables.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// 100.
    #[error("Invalid DevEUI")]
    InvalidDevEui,
    /// 101.
    #[error("Downlink counter value already used")]
    CounterAlreadyUsed {
        /// The counter expected.
        expected: u32,
    },
    /// 102.
    #[error("Downlink counter value increment too large")]
    CounterIncrementTooLarge {
        /// The counter expected.
        expected: u32,
    },
    /// 103.
    #[error("Confirmed downlink is not authorized for this device")]
    ConfirmedNotAllowed,
    /// 104.
    #[error("Invalid LoRa port")]
    InvalidPort,
    /// 105.
    #[error("AS_ID is mandatory")]
    AsIdMissing,
    /// 106 (v1: "missing timestamp/token").
    #[error("missing timestamp")]
    TimeMissing,
    /// 107.
    #[error("bad AS_ID")]
    BadAsId,
    /// 108 for v2; v1 says "missing timestamp/token".
    #[error("missing token")]
    TokenMissing,
    /// 108: "Missing or badly formatted security token".
    #[error("malformed token")]
    TokenMalformed,
    /// 109.
    #[error("malformed ISO 8601 time")]
    MalformedTime,
    /// 110.
    #[error("time deviation above the AS profile's maximum")]
    TimeDeviation,
    /// 111.
    #[error("bad token")]
    BadToken,
    /// 112.
    #[error("validity time expired or invalid")]
    ValidityTime,
    /// 113 with `maxSize`: more than [`MAX_PAYLOAD_CHARS`].
    #[error("payload too big")]
    PayloadTooBig,
    /// 113 without `maxSize`: odd length or not hex.
    #[error("payload of invalid size")]
    PayloadInvalidSize,
    /// 114.
    #[error("downlink transmission disabled")]
    TransmissionDisabled,
    /// 114 with `maxQueueSize` (our choice: the seed has no code for a full queue).
    #[error("downlink queue full")]
    QueueFull {
        /// The queue's size.
        max: usize,
    },
    /// 115 (v1: HTTP 404).
    #[error("No Base Station Available")]
    NoBaseStation,
    /// 116.
    #[error("Invalid payload size according to currents DR")]
    PayloadTooBigForDataRate {
        /// RX2 or ping slot.
        slot: SizeLimitSlot,
        /// Its data rate.
        data_rate: u8,
        /// The largest payload it carries.
        max_size: usize,
    },
    /// 117.
    #[error("invalid CorrelationID")]
    InvalidCorrelationId,
    /// 118.
    #[error("Invalid payload. Must not be empty")]
    EmptyPayload,
    /// 119.
    #[error("Payload must be provided encrypted with the downlink counter value")]
    EncryptionRequired,
    /// 121.
    #[error("Token bucket limit reached")]
    TokenBucket,
}

impl Rejection {
    /// API v1: the HTTP status and the body text (seed 001 §7.1.5).
    pub fn v1(&self) -> (u16, Cow<'static, str>) {
        let text: Cow<'static, str> = match self {
            Self::InvalidDevEui => "Invalid DevEUI".into(),
            // Seed 002's DevEUI_downlink_Rejected: "Downlink counter value already used.
            // Expected=1238" with DeliveryStatus 350.
            Self::CounterAlreadyUsed { expected } => {
                format!("Downlink counter value already used. Expected={expected}").into()
            }
            Self::CounterIncrementTooLarge { expected } => {
                format!("Downlink counter value increment too large. Expected={expected}").into()
            }
            Self::ConfirmedNotAllowed => {
                "Confirmed downlink is not authorized for this device".into()
            }
            Self::InvalidPort => "Invalid LoRa port".into(),
            Self::AsIdMissing => "Security Check. AS_ID is mandatory".into(),
            Self::TimeMissing | Self::TokenMissing => {
                "Security Check. missing timestamp/token".into()
            }
            Self::BadAsId => "Security Check. bad AS_ID".into(),
            Self::TokenMalformed => "Security Check. Server Decrypt Error".into(),
            Self::MalformedTime => "Security Check. malformed ISO8601 time".into(),
            Self::TimeDeviation => "Security Check. Invalid downlink frame timestamp".into(),
            Self::BadToken => "Security Check. bad token".into(),
            Self::ValidityTime => "ValidityTime expired or invalid".into(),
            Self::PayloadTooBig | Self::PayloadInvalidSize => {
                "Payload too big or invalid size".into()
            }
            // v2-only codes: the v2 message is the v1 text.
            Self::TransmissionDisabled | Self::QueueFull { .. } => {
                "Downlink transmission disabled".into()
            }
            Self::NoBaseStation => return (404, "No Base Station Available".into()),
            Self::PayloadTooBigForDataRate { .. } => {
                "Invalid payload size according to currents DR".into()
            }
            Self::InvalidCorrelationId => {
                "Invalid CorrelationID. Must be a 64 bits hexadecimal value encoded as string"
                    .into()
            }
            Self::EmptyPayload => "Invalid payload. Must not be empty".into(),
            Self::EncryptionRequired => {
                "Payload must be provided encrypted with the downlink counter value".into()
            }
            Self::TokenBucket => "Token bucket limit reached".into(),
        };
        (350, text)
    }

    /// API v2: the code and message of §7.1.6's table.
    pub fn v2(&self) -> (u16, &'static str) {
        match self {
            Self::InvalidDevEui => (100, "Invalid DevEUI"),
            Self::CounterAlreadyUsed { .. } => (101, "Downlink counter value already used"),
            Self::CounterIncrementTooLarge { .. } => {
                (102, "Downlink counter value increment too large")
            }
            Self::ConfirmedNotAllowed => {
                (103, "Confirmed downlink is not authorized for this device")
            }
            Self::InvalidPort => (104, "Invalid LoRa port"),
            Self::AsIdMissing => (105, "Security Check: AS_ID is mandatory"),
            Self::TimeMissing => (106, "Security Check: Missing timestamp"),
            Self::BadAsId => (107, "Security Check: Bad AS_ID"),
            Self::TokenMissing | Self::TokenMalformed => {
                (108, "Security Check: Server Decrypt Error")
            }
            Self::MalformedTime => (109, "Security Check: Malformed ISO 8601 time"),
            Self::TimeDeviation => (110, "Security Check: Invalid downlink frame timestamp"),
            Self::BadToken => (111, "Security Check: Bad token"),
            Self::ValidityTime => (112, "Validity time expired or invalid"),
            Self::PayloadTooBig | Self::PayloadInvalidSize => {
                (113, "Payload too big or invalid size")
            }
            Self::TransmissionDisabled | Self::QueueFull { .. } => {
                (114, "Downlink transmission disabled")
            }
            Self::NoBaseStation => (115, "No Base Station Available"),
            Self::PayloadTooBigForDataRate { .. } => {
                (116, "Invalid payload size according to currents DR")
            }
            Self::InvalidCorrelationId => (
                117,
                "Invalid Correlation ID. Must be a 64 bits hexadecimal value encoded as string",
            ),
            Self::EmptyPayload => (118, "Invalid payload. Must not be empty"),
            Self::EncryptionRequired => (
                119,
                "Payload must be provided encrypted with the downlink counter value",
            ),
            Self::TokenBucket => (121, "Token bucket limit reached"),
        }
    }

    /// The v2 409 body: `{"code":…,"message":…}` plus the table's additional attributes.
    pub fn v2_json(&self) -> serde_json::Value {
        let (code, message) = self.v2();
        let mut body = serde_json::json!({ "code": code, "message": message });
        let extra: Vec<(&str, u64)> = match self {
            Self::CounterAlreadyUsed { expected } | Self::CounterIncrementTooLarge { expected } => {
                vec![("expected", u64::from(*expected))]
            }
            Self::PayloadTooBig => vec![("maxSize", MAX_PAYLOAD_CHARS as u64)],
            Self::QueueFull { max } => vec![("maxQueueSize", *max as u64)],
            Self::PayloadTooBigForDataRate {
                slot,
                data_rate,
                max_size,
            } => vec![
                (
                    match slot {
                        SizeLimitSlot::Rx2 => "rx2DR",
                        SizeLimitSlot::PingSlot => "pingSlotDR",
                    },
                    u64::from(*data_rate),
                ),
                ("maxSize", *max_size as u64),
            ],
            _ => Vec::new(),
        };
        if let Some(object) = body.as_object_mut() {
            for (name, value) in extra {
                object.insert(name.to_owned(), value.into());
            }
        }
        body
    }
}

impl From<DownlinkRefusal> for Rejection {
    fn from(refusal: DownlinkRefusal) -> Self {
        match refusal {
            DownlinkRefusal::UnknownDevice => Self::InvalidDevEui,
            DownlinkRefusal::CounterAlreadyUsed { expected } => {
                Self::CounterAlreadyUsed { expected }
            }
            DownlinkRefusal::CounterIncrementTooLarge { expected } => {
                Self::CounterIncrementTooLarge { expected }
            }
            DownlinkRefusal::ConfirmedNotAllowed => Self::ConfirmedNotAllowed,
            DownlinkRefusal::TransmissionDisabled => Self::TransmissionDisabled,
            DownlinkRefusal::QueueFull { max } => Self::QueueFull { max },
            DownlinkRefusal::NoBaseStation => Self::NoBaseStation,
            DownlinkRefusal::PayloadTooBigForDataRate {
                slot,
                data_rate,
                max_size,
            } => Self::PayloadTooBigForDataRate {
                slot,
                data_rate,
                max_size,
            },
            DownlinkRefusal::ValidityExpired => Self::ValidityTime,
            DownlinkRefusal::InvalidPort => Self::InvalidPort,
            DownlinkRefusal::EncryptionRequired => Self::EncryptionRequired,
        }
    }
}

/// A downlink request as sent: each parameter's text, and what the token covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawDownlink {
    /// `DevEUI`.
    pub dev_eui: Option<String>,
    /// `FPort`.
    pub f_port: Option<String>,
    /// `Payload` (query) or `payload_hex` (JSON).
    pub payload: Option<String>,
    /// `FCntDn`.
    pub f_cnt_dn: Option<String>,
    /// `AFCntDn`.
    pub af_cnt_dn: Option<String>,
    /// `Confirmed`.
    pub confirmed: Option<String>,
    /// `FlushDownlinkQueue`.
    pub flush: Option<String>,
    /// `ValidityTime`.
    pub validity_time: Option<String>,
    /// `AS_ID`.
    pub as_id: Option<String>,
    /// `Time`.
    pub time: Option<String>,
    /// `Token`.
    pub token: Option<String>,
    /// `CorrelationID`.
    pub correlation_id: Option<String>,
    /// `AS_KEY` (JSON body only).
    pub as_key: Option<String>,
    /// `DriverCfg` (JSON body only).
    pub driver_cfg: Option<serde_json::Value>,
    /// The JSON body had both `payload` and `payload_hex`, or a `payload` we cannot encode.
    pub payload_conflict: bool,
    /// The bytes the token covers.
    pub signed: Vec<u8>,
}

impl RawDownlink {
    /// Reads a query line (v1 and v2). The token covers the line without its `Token`
    /// parameter, percent-decoded, in the order sent (§7.3.2: Time is hashed with `+` and
    /// `:`, sent as `%2B` and `%3A`). A literal `+` stays `+`: an AS that did not encode it
    /// hashed it as `+`.
    pub fn from_query(query: &str) -> Self {
        let mut raw = Self::default();
        let mut first = true;
        for segment in query.split('&') {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            let name = percent_decode(name);
            if name == b"Token" {
                raw.token
                    .get_or_insert_with(|| text(&percent_decode(value)));
                continue;
            }
            if !first {
                raw.signed.push(b'&');
            }
            first = false;
            raw.signed.extend_from_slice(&percent_decode(segment));
            let value = text(&percent_decode(value));
            if let Some(slot) = raw.slot(&name) {
                slot.get_or_insert(value);
            }
        }
        raw
    }

    /// Reads seed 002's JSON body `{"DevEUI_downlink": {…}}`, with the query line of the
    /// same request (which may carry parameters too, `AS_ID`, `Time` and `Token` for
    /// instance; the body's win).
    ///
    /// The token (our choice; the seed does not say how a JSON body is signed): it covers the
    /// request's parameters, body and query line together, written as a query line in
    /// §7.1.3's order — `DevEUI`, `FPort`, `Payload` (= `payload_hex`), `FCntDn`, `AFCntDn`,
    /// `Confirmed`, `FlushDownlinkQueue`, `ValidityTime`, `AS_ID`, `Time`, `CorrelationID`,
    /// each when present, values as written — so the frame is always covered, wherever the
    /// token is. Seed 002's `AS_KEY` is the alternative: the key itself, compared in constant
    /// time.
    pub fn from_json(body: &[u8], query: &str) -> Result<Self, Rejection> {
        let mut raw = Self::from_query(query);
        // A body that is not the message: the DevEUI cannot be read (our choice of code).
        let document: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| Rejection::InvalidDevEui)?;
        let fields = document
            .get("DevEUI_downlink")
            .and_then(serde_json::Value::as_object)
            .ok_or(Rejection::InvalidDevEui)?;
        let mut has_payload_field = false;
        for (name, value) in fields {
            match name.as_str() {
                "DriverCfg" => raw.driver_cfg = Some(value.clone()),
                "payload" => has_payload_field = true,
                "payload_hex" => raw.payload = json_text(value),
                "AS_KEY" => raw.as_key = json_text(value),
                other => {
                    if let Some(slot) = raw.slot(other.as_bytes()) {
                        if let Some(text) = json_text(value) {
                            *slot = Some(text);
                        }
                    }
                }
            }
        }
        // "There must be the payload field or the hex-payload field, but not both"; and a
        // decoded `payload` needs a driver the nsd does not have, so it is refused (113)
        // unless it is plain text, taken as hex.
        if has_payload_field {
            match (
                fields.contains_key("payload_hex"),
                fields.get("payload").and_then(serde_json::Value::as_str),
            ) {
                (false, Some(text)) => raw.payload = Some(text.to_owned()),
                _ => raw.payload_conflict = true,
            }
        }
        raw.signed = raw.canonical();
        Ok(raw)
    }

    /// The DevEUI (100 "Invalid DevEUI" when absent or not 16 hex digits).
    pub fn dev_eui(&self) -> Result<Eui64, Rejection> {
        let text = self.dev_eui.as_deref().ok_or(Rejection::InvalidDevEui)?;
        if text.len() != 16 {
            return Err(Rejection::InvalidDevEui);
        }
        text.parse().map_err(|_| Rejection::InvalidDevEui)
    }

    fn slot(&mut self, name: &[u8]) -> Option<&mut Option<String>> {
        Some(match name {
            b"DevEUI" => &mut self.dev_eui,
            b"FPort" => &mut self.f_port,
            b"Payload" => &mut self.payload,
            b"FCntDn" => &mut self.f_cnt_dn,
            b"AFCntDn" => &mut self.af_cnt_dn,
            b"Confirmed" => &mut self.confirmed,
            b"FlushDownlinkQueue" => &mut self.flush,
            b"ValidityTime" => &mut self.validity_time,
            b"AS_ID" => &mut self.as_id,
            b"Time" => &mut self.time,
            b"Token" => &mut self.token,
            b"CorrelationID" => &mut self.correlation_id,
            _ => return None,
        })
    }

    fn canonical(&self) -> Vec<u8> {
        let fields = [
            ("DevEUI", &self.dev_eui),
            ("FPort", &self.f_port),
            ("Payload", &self.payload),
            ("FCntDn", &self.f_cnt_dn),
            ("AFCntDn", &self.af_cnt_dn),
            ("Confirmed", &self.confirmed),
            ("FlushDownlinkQueue", &self.flush),
            ("ValidityTime", &self.validity_time),
            ("AS_ID", &self.as_id),
            ("Time", &self.time),
            ("CorrelationID", &self.correlation_id),
        ];
        let parts: Vec<String> = fields
            .iter()
            .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name}={v}")))
            .collect();
        parts.join("&").into_bytes()
    }
}

/// The security checks of §7.3 against the device's AS profile, at `now`. Without a key in
/// the profile the security is not activated: only a wrong `AS_ID` is refused.
pub fn authenticate(
    raw: &RawDownlink,
    profile: &AsProfile,
    now: SystemTime,
) -> Result<(), Rejection> {
    let Some(key) = profile.key.as_ref() else {
        return match raw.as_id.as_deref() {
            Some(as_id) if as_id != profile.as_id => Err(Rejection::BadAsId),
            _ => Ok(()),
        };
    };
    // "Speaking to this device needs AS_ID."
    let as_id = raw.as_id.as_deref().ok_or(Rejection::AsIdMissing)?;
    // "AS_ID is not declared in the database or is not authorized for the targeted device."
    if as_id != profile.as_id {
        return Err(Rejection::BadAsId);
    }
    // "Time and Token query parameters are mandatory when the Application Server
    // authentication is activated."
    let time = raw.time.as_deref().ok_or(Rejection::TimeMissing)?;
    let presented = match (raw.token.as_deref(), raw.as_key.as_deref()) {
        (Some(token_text), _) => Presented::Token(token_text),
        (None, Some(as_key)) => Presented::Key(as_key),
        (None, None) => return Err(Rejection::TokenMissing),
    };
    let time = super::time::parse(time).map_err(|_| Rejection::MalformedTime)?;
    // "The time deviation between the frame generation by the Application Server and the
    // reception by the LRC exceeds the MAX deviation configured in the AS profile."
    if !super::time::within_deviation(time, now, profile.max_time_deviation) {
        return Err(Rejection::TimeDeviation);
    }
    match presented {
        Presented::Token(text) => {
            let presented = token::from_hex(text).ok_or(Rejection::TokenMalformed)?;
            let expected = token::downlink_token(&raw.signed, key);
            if !token::matches(&presented, &expected) {
                return Err(Rejection::BadToken);
            }
        }
        Presented::Key(text) => {
            let presented: AesKey = text.parse().map_err(|_| Rejection::TokenMalformed)?;
            if presented != *key {
                return Err(Rejection::BadToken);
            }
        }
    }
    Ok(())
}

enum Presented<'a> {
    Token(&'a str),
    Key(&'a str),
}

/// The frame checks of §7.1.3 / §7.1.5, at `now`; the result is what the network server is
/// asked to queue.
pub fn validate(raw: &RawDownlink, now: SystemTime) -> Result<DownlinkSubmission, Rejection> {
    let correlation_id = match raw.correlation_id.as_deref() {
        None => None,
        Some(id) if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(id.to_owned())
        }
        Some(_) => return Err(Rejection::InvalidCorrelationId),
    };
    let flush = flag(raw.flush.as_deref());
    if raw.payload_conflict {
        return Err(Rejection::PayloadInvalidSize);
    }
    let payload = match raw.payload.as_deref() {
        // "The payload can be omitted when FlushDownlinkQueue=1."
        None if flush => None,
        None | Some("") => return Err(Rejection::EmptyPayload),
        Some(text) if text.len() > MAX_PAYLOAD_CHARS => return Err(Rejection::PayloadTooBig),
        Some(text) => Some(
            lorawan::ids::parse_hex_vec(text)
                .ok()
                .filter(|_| !text.starts_with("0x") && !text.starts_with("0X"))
                .filter(|_| text.trim() == text)
                .ok_or(Rejection::PayloadInvalidSize)?,
        ),
    };
    let Some(bytes) = payload else {
        return Ok(DownlinkSubmission {
            flush,
            frame: None,
            counter: None,
            driver_cfg: raw.driver_cfg.clone(),
        });
    };
    // "Sending on port non included in 1..224 range is unauthorized from the tunneling
    // interface."
    let f_port = raw
        .f_port
        .as_deref()
        .and_then(|p| p.parse::<u8>().ok())
        .filter(|p| (1..=224).contains(p))
        .ok_or(Rejection::InvalidPort)?;
    // An unreadable counter is no counter the payload can have been encrypted with (our
    // choice of 119).
    let counter = match (raw.f_cnt_dn.as_deref(), raw.af_cnt_dn.as_deref()) {
        (_, Some(a)) => Some(AsCounter::AFCntDn(
            a.parse().map_err(|_| Rejection::EncryptionRequired)?,
        )),
        (Some(f), None) => Some(AsCounter::FCntDn(
            f.parse().map_err(|_| Rejection::EncryptionRequired)?,
        )),
        (None, None) => None,
    };
    let validity = raw
        .validity_time
        .as_deref()
        .map(|text| validity_time(text, now))
        .transpose()?;
    let frame = NewDownlink {
        f_port,
        payload: if counter.is_some() {
            Payload::Encrypted(bytes)
        } else {
            Payload::Clear(bytes)
        },
        confirmation: if flag(raw.confirmed.as_deref()) {
            Confirmation::Confirmed
        } else {
            Confirmation::Unconfirmed
        },
        validity,
        correlation_id,
        fcnt: counter.map(AsCounter::value),
    };
    Ok(DownlinkSubmission {
        flush,
        frame: Some(frame),
        counter,
        driver_cfg: raw.driver_cfg.clone(),
    })
}

/// `ValidityTime`: "ISO 8601 timestamp or Duration in seconds"; wrongly formatted or in the
/// past → 112.
fn validity_time(text: &str, now: SystemTime) -> Result<SystemTime, Rejection> {
    let until = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: u64 = text.parse().map_err(|_| Rejection::ValidityTime)?;
        now.checked_add(Duration::from_secs(seconds))
            .ok_or(Rejection::ValidityTime)?
    } else {
        super::time::parse(text).map_err(|_| Rejection::ValidityTime)?
    };
    if until <= now {
        return Err(Rejection::ValidityTime);
    }
    Ok(until)
}

/// `Confirmed` and `FlushDownlinkQueue` are 0 or 1 (and JSON writes `true`); anything else
/// is the seed's default, 0 (our choice: the tables have no code for it).
fn flag(text: Option<&str>) -> bool {
    matches!(text, Some("1" | "true"))
}

/// The downlink token bucket of each device (seed 001 §7.1.5: "the downlink token bucket
/// limit is reached, and the DROP strategy is used" → 121): a request over it is refused,
/// never delayed.
#[derive(Debug)]
pub struct DownlinkGovernor {
    buckets: Mutex<RateLimiter<Eui64>>,
}

impl DownlinkGovernor {
    /// A governor tracking at most `max_devices` buckets (the least recently used is
    /// forgotten first).
    pub fn new(max_devices: NonZeroUsize) -> Self {
        let unused = Quota::per_second(std::num::NonZeroU32::MIN, std::num::NonZeroU32::MIN);
        Self {
            buckets: Mutex::new(RateLimiter::new(unused, max_devices)),
        }
    }

    /// Takes a token from `dev_eui`'s bucket of `quota` at `now`.
    pub fn admit(&self, dev_eui: Eui64, quota: Quota, now: Instant) -> Result<(), Rejection> {
        // A poisoned lock only means a panic elsewhere while holding it; the buckets are
        // still consistent (each update is one map operation).
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .try_acquire_with(&dev_eui, quota, now)
            .map_err(|_| Rejection::TokenBucket)
    }
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
#[path = "downlink_tests.rs"]
mod tests;
