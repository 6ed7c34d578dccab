//! The report documents of seed 001 §6, built from what the network server knows.
//!
//! A [`Report`] is an ordered list of named fields, in the order of the seed's samples (the
//! XML is read by position-agnostic parsers, but a reader comparing with the seed should find
//! the same order). [`crate::tunnel::encode`] writes it as JSON, untyped JSON or XML and
//! signs it.
//!
//! Which uplinks are reported (§6.1.1): "The uplink packet contains an applicative payload
//! (FPort > 0); If the device implements LoRaWAN 1.0: the uplink packet does not contain an
//! applicative payload (FPort = 0 or FPort absent) but the ACK bit is set; If the device
//! implements LoRaWAN 1.1: […] but the ACK bit is set and acknowledges an AFCntDn. In all
//! other cases, the uplink packet is not reported" ([`should_report_uplink`]).
//!
//! Hex case: `DevEUI` and `DevAddr` upper case, `Lrrid`, `payload_hex`, `mic_hex` lower case,
//! as in the seed's samples.

use std::time::SystemTime;

use lorawan::crypto::Direction;
use lorawan::ids::{DevAddr, Eui64};
use lorawan::join::MacVersion;
use lorawan::mac::{parse_commands, MacCommand};

use super::{AsRouting, UplinkDetails};
use crate::app::uplink::AppPayload;
use crate::app::UplinkEvent;
use crate::downlink::delivery::{DeliveryFailedCause, DeliveryReport};
use crate::gateway::{GatewayId, RadioModulation, RxInfo};

/// The namespace of every report (seed 001 §6.1.4).
pub const XMLNS: &str = "http://uri.actility.com/lora";

/// The seed's limit of gateways in `Lrrs` (§6.1.3 note: "only the 10 LRRs with the best SNR
/// are reported").
pub const MAX_LRRS: usize = 10;

/// The five reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportKind {
    /// `DevEUI_uplink` (§6.1).
    Uplink,
    /// `DevEUI_downlink_Sent` (§6.2).
    DownlinkSent,
    /// `DevEUI_location` (§6.3).
    Location,
    /// `DevEUI_notification` (§6.4).
    Notification,
    /// `DevEUI_multicast_summary` (seed 000).
    MulticastSummary,
}

impl ReportKind {
    /// The document's root element / key.
    pub const fn root(self) -> &'static str {
        match self {
            Self::Uplink => "DevEUI_uplink",
            Self::DownlinkSent => "DevEUI_downlink_Sent",
            Self::Location => "DevEUI_location",
            Self::Notification => "DevEUI_notification",
            Self::MulticastSummary => "DevEUI_multicast_summary",
        }
    }

    /// The fields whose values, concatenated, are the token's `<body-elements>` (§6.5.2).
    /// The multicast summary is not in the seed; it is signed like a notification.
    pub const fn token_fields(self) -> &'static [&'static str] {
        match self {
            Self::Uplink => &["CustomerID", "DevEUI", "FPort", "FCntUp", "payload_hex"],
            Self::DownlinkSent => &["CustomerID", "DevEUI", "FPort", "FCntDn"],
            Self::Location | Self::Notification | Self::MulticastSummary => {
                &["CustomerID", "DevEUI"]
            }
        }
    }
}

/// A field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Text(String),
    /// An integer.
    Int(i64),
    /// A float; with `decimals`, its text form has that many (`-60.000000`), else the
    /// shortest form (`868.3`).
    Float {
        /// The value.
        value: f64,
        /// Fixed decimals of the text form.
        decimals: Option<u8>,
    },
    /// A JSON object (`CustomerData`, `DriverCfg`): an object in JSON, its text in XML.
    Json(serde_json::Value),
    /// The `Lrrs` list: one entry per gateway, each an ordered list of fields.
    Lrrs(Vec<Vec<(&'static str, Value)>>),
}

impl Value {
    /// The text form (XML content, untyped JSON, token body elements).
    pub fn text(&self) -> String {
        match self {
            Value::Text(text) => text.clone(),
            Value::Int(value) => value.to_string(),
            Value::Float {
                value,
                decimals: Some(decimals),
            } => format!("{value:.*}", usize::from(*decimals)),
            Value::Float {
                value,
                decimals: None,
            } => value.to_string(),
            Value::Json(value) => value.to_string(),
            Value::Lrrs(_) => String::new(),
        }
    }
}

/// One report, ready to encode.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Which report.
    pub kind: ReportKind,
    /// The device (`LrnDevEui`).
    pub dev_eui: Eui64,
    /// `LrnFPort` (uplink and downlink-sent reports, when the frame has a port).
    pub f_port: Option<u8>,
    /// The fields, in document order.
    pub fields: Vec<(&'static str, Value)>,
}

impl Report {
    /// An empty report of `kind` for `dev_eui`.
    pub fn new(kind: ReportKind, dev_eui: Eui64) -> Self {
        Self {
            kind,
            dev_eui,
            f_port: None,
            fields: Vec::with_capacity(32),
        }
    }

    /// The value of field `name`.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The token's `<body-elements>`: the text of [`ReportKind::token_fields`], concatenated
    /// without separator; an absent field contributes nothing. A LoRaWAN 1.1 downlink-sent
    /// report has `AFCntDn` instead of `FCntDn`: it stands in (the seed is silent).
    pub fn body_elements(&self) -> String {
        let mut out = String::new();
        for name in self.kind.token_fields() {
            let value = self
                .field(name)
                .or_else(|| (*name == "FCntDn").then(|| self.field("AFCntDn")).flatten());
            if let Some(value) = value {
                out.push_str(&value.text());
            }
        }
        out
    }

    fn push(&mut self, name: &'static str, value: Value) {
        self.fields.push((name, value));
    }

    fn text(&mut self, name: &'static str, text: impl Into<String>) {
        self.push(name, Value::Text(text.into()));
    }

    fn int(&mut self, name: &'static str, value: impl Into<i64>) {
        self.push(name, Value::Int(value.into()));
    }

    fn float(&mut self, name: &'static str, value: f64, decimals: Option<u8>) {
        self.push(name, Value::Float { value, decimals });
    }

    fn customer(&mut self, routing: &AsRouting) {
        self.text("CustomerID", routing.customer_id.clone());
        if let Some(data) = &routing.customer_data {
            self.push("CustomerData", Value::Json(data.clone()));
        }
    }
}

/// Whether §6.1.1 reports this uplink. `details.conf_af_cnt_dn` tells whether a 1.1 ACK
/// acknowledges an application downlink.
pub fn should_report_uplink(event: &UplinkEvent, details: &UplinkDetails) -> bool {
    if event.f_port.is_some_and(|port| port > 0) {
        return true;
    }
    if !event.ack {
        return false;
    }
    match event.mac_version {
        MacVersion::V1_1 => details.conf_af_cnt_dn.is_some(),
        _ => true,
    }
}

/// The `DevStatusAns` (battery, margin) among the uplink's MAC commands.
pub fn dev_status(event: &UplinkEvent) -> Option<(u8, i8)> {
    // A truncated sequence yields nothing: the commands before the error are lost too,
    // which only costs a battery report.
    let commands = parse_commands(&event.mac_commands, Direction::Uplink).ok()?;
    commands.into_iter().find_map(|command| match command {
        MacCommand::DevStatusAns(ans) => Some((ans.battery, ans.margin)),
        _ => None,
    })
}

/// Estimated signal power from RSSI and SNR: ESP = RSSI + SNR − 10·log10(1 + 10^(SNR/10)).
pub fn esp(rssi_dbm: f64, snr_db: f64) -> f64 {
    rssi_dbm + snr_db - 10.0 * (1.0 + 10f64.powf(snr_db / 10.0)).log10()
}

/// The gateway identifier as `Lrrid` (lower-case hex).
pub fn lrrid(gateway: GatewayId) -> String {
    gateway.to_string()
}

/// The `DevEUI_uplink` report of an accepted uplink (§6.1.3).
pub fn uplink(
    event: &UplinkEvent,
    routing: &AsRouting,
    details: &UplinkDetails,
    lrc_id: &str,
) -> Report {
    let mut r = Report::new(ReportKind::Uplink, event.dev_eui);
    r.f_port = event.f_port;
    let best = event.receptions.first();
    let time = best.and_then(|rx| rx.time).unwrap_or(event.received_at);
    r.text("Time", super::time::format(time));
    r.text("DevEUI", format!("{:X}", event.dev_eui));
    if let Some(port) = event.f_port {
        r.int("FPort", port);
    }
    r.int("FCntUp", event.f_cnt);
    // "ADRbit is not filled in the document, if not set in the uplink frame." Same for ACKbit.
    if event.adr {
        r.int("ADRbit", 1);
    }
    if event.ack {
        r.int("ACKbit", 1);
    }
    r.int("MType", if event.confirmed { 4 } else { 2 });
    r.int("AckRequested", i64::from(event.confirmed));
    r.int("ADRAckReq", i64::from(event.adr_ack_req));
    let v1_1 = event.mac_version == MacVersion::V1_1;
    if let (false, Some(f_cnt_dn)) = (v1_1, details.f_cnt_dn) {
        r.int("FCntDn", f_cnt_dn);
    }
    if let (true, Some(af_cnt_dn), true) =
        (v1_1, details.af_cnt_dn, event.f_port.is_some_and(|p| p > 0))
    {
        r.int("AFCntDn", af_cnt_dn);
    }
    if let (true, Some(conf)) = (v1_1, details.conf_af_cnt_dn) {
        r.int("ConfAFCntDn", conf);
    }
    if let Some(payload) = &event.payload {
        let bytes = match payload {
            AppPayload::Clear(bytes) | AppPayload::Encrypted(bytes) => bytes,
        };
        r.text("payload_hex", hex_lower(bytes));
    }
    if let Some(mic) = details.mic {
        r.text("mic_hex", hex_lower(&mic));
    }
    r.text("Lrcid", lrc_id);
    if let Some(rx) = best {
        r.float("LrrRSSI", f64::from(rx.rssi_dbm), Some(6));
        r.float("LrrSNR", f64::from(rx.snr_db), Some(6));
        r.float(
            "LrrESP",
            esp(f64::from(rx.rssi_dbm), f64::from(rx.snr_db)),
            Some(6),
        );
        if let RadioModulation::Lora {
            spreading_factor, ..
        } = rx.modulation
        {
            r.int("SpFact", spreading_factor);
        }
    }
    if let Some(sub_band) = &details.sub_band {
        r.text("SubBand", sub_band.clone());
    }
    if let Some(channel) = details.channel {
        r.text("Channel", format!("LC{channel}"));
    }
    r.int("DevLrrCnt", event.receptions.len() as i64);
    if let Some(rx) = best {
        r.text("Lrrid", lrrid(rx.gateway));
    }
    // "Late is always filled": our gateways' frames are never queued by the gateway.
    r.int("Late", 0);
    if let Some((lat, lon)) = details.best_gateway_location {
        r.float("LrrLAT", lat, Some(6));
        r.float("LrrLON", lon, Some(6));
    }
    r.push("Lrrs", Value::Lrrs(lrrs(&event.receptions)));
    r.customer(routing);
    if let Some(per) = details.instant_per {
        r.float("InstantPER", f64::from(per), None);
    }
    if let Some(per) = details.mean_per {
        r.float("MeanPER", f64::from(per), None);
    }
    r.text("DevAddr", format!("{:X}", event.dev_addr));
    if let Some(power) = details.tx_power_dbm {
        r.float("TxPower", f64::from(power), None);
    }
    if let Some(nb_trans) = details.nb_trans {
        r.int("NbTrans", nb_trans);
    }
    if let Some(rx) = best {
        r.float("Frequency", mhz(rx.frequency_hz), None);
    }
    if let Some(class) = details.class {
        r.text("DynamicClass", class.letter());
    }
    // "When the uplink frame contains an applicative payload, the Battery and Margin
    // information is included in the uplink frame report" (§6.4.1).
    if let (Some((battery, margin)), true) = (dev_status(event), event.payload.is_some()) {
        r.int("BatteryLevel", battery);
        r.text("BatteryTime", super::time::format(time));
        r.int("Margin", margin_6bit(margin));
    }
    if !event.mac_commands.is_empty() {
        r.text("rawMacCommands", hex_lower(&event.mac_commands));
    }
    if let Some(driver) = &routing.driver_cfg {
        r.push("DriverCfg", Value::Json(driver.clone()));
    }
    if let Some(roaming) = details.roaming {
        r.int("Roaming", 1);
        r.text(
            "ForwardingNetID",
            format!("{:X}", roaming.forwarding_net_id),
        );
        if let Some(ns_id) = roaming.forwarding_ns_id {
            r.text("ForwardingNSID", format!("{ns_id:X}"));
        }
    }
    r
}

/// §6.1.3 `Margin`: "a signed integer of 6 bits […] reported as a 6 bits unsigned integer".
pub fn margin_6bit(margin: i8) -> i64 {
    i64::from(margin).rem_euclid(64)
}

/// Up to [`MAX_LRRS`] receptions by best SNR.
fn lrrs(receptions: &[RxInfo]) -> Vec<Vec<(&'static str, Value)>> {
    let mut sorted: Vec<&RxInfo> = receptions.iter().collect();
    sorted.sort_by(|a, b| b.snr_db.total_cmp(&a.snr_db));
    sorted
        .into_iter()
        .take(MAX_LRRS)
        .map(|rx| {
            let rssi = f64::from(rx.rssi_dbm);
            let snr = f64::from(rx.snr_db);
            vec![
                ("Lrrid", Value::Text(lrrid(rx.gateway))),
                ("Chain", Value::Int(i64::from(rx.rf_chain))),
                (
                    "LrrRSSI",
                    Value::Float {
                        value: rssi,
                        decimals: Some(6),
                    },
                ),
                (
                    "LrrSNR",
                    Value::Float {
                        value: snr,
                        decimals: Some(6),
                    },
                ),
                (
                    "LrrESP",
                    Value::Float {
                        value: esp(rssi, snr),
                        decimals: Some(6),
                    },
                ),
            ]
        })
        .collect()
}

/// What the network server knows about a downlink that went out (or did not).
#[derive(Debug, Clone, PartialEq)]
pub struct DownlinkSent {
    /// The device.
    pub dev_eui: Eui64,
    /// Its address.
    pub dev_addr: DevAddr,
    /// When it was sent (or given up).
    pub time: SystemTime,
    /// FPort.
    pub f_port: u8,
    /// The FCntDn it used (LoRaWAN 1.0).
    pub f_cnt_dn: Option<u32>,
    /// The AFCntDn it used (LoRaWAN 1.1).
    pub af_cnt_dn: Option<u32>,
    /// The device's last FCntUp.
    pub f_cnt_up: Option<u32>,
    /// Confirmed downlink.
    pub confirmed: bool,
    /// FPending was set.
    pub f_pending: bool,
    /// MAC commands piggy-backed in FOpts.
    pub mac_commands: Vec<u8>,
    /// The delivery outcome.
    pub delivery: DeliveryReport,
    /// The gateway that sent it.
    pub gateway: Option<GatewayId>,
    /// Frequency in Hz.
    pub frequency_hz: Option<u32>,
    /// Spreading factor of RX1.
    pub spreading_factor: Option<u8>,
    /// Logical channel index.
    pub channel: Option<u8>,
    /// Sub-band.
    pub sub_band: Option<String>,
    /// The AS's correlation ID.
    pub correlation_id: Option<String>,
}

/// The `DevEUI_downlink_Sent` report (§6.2.3), fields in the order of the seed's samples.
pub fn downlink_sent(sent: &DownlinkSent, routing: &AsRouting, lrc_id: &str) -> Report {
    let mut r = Report::new(ReportKind::DownlinkSent, sent.dev_eui);
    r.f_port = Some(sent.f_port);
    r.text("Time", super::time::format(sent.time));
    r.text("DevEUI", format!("{:X}", sent.dev_eui));
    r.int("FPort", sent.f_port);
    if let Some(f_cnt_dn) = sent.f_cnt_dn {
        r.int("FCntDn", f_cnt_dn);
    }
    if let Some(af_cnt_dn) = sent.af_cnt_dn {
        r.int("AFCntDn", af_cnt_dn);
    }
    if let Some(f_cnt_up) = sent.f_cnt_up {
        r.int("FCntUp", f_cnt_up);
    }
    r.text("DevAddr", format!("{:X}", sent.dev_addr));
    r.int("AckRequested", i64::from(sent.confirmed));
    r.int("FPending", i64::from(sent.f_pending));
    r.text("Lrcid", lrc_id);
    if let Some(sf) = sent.spreading_factor {
        r.int("SpFact", sf);
    }
    if let Some(sub_band) = &sent.sub_band {
        r.text("SubBand", sub_band.clone());
    }
    if let Some(channel) = sent.channel {
        r.text("Channel", format!("LC{channel}"));
    }
    if let Some(gateway) = sent.gateway {
        r.text("Lrrid", lrrid(gateway));
    }
    r.int("DeliveryStatus", sent.delivery.status.value());
    r.text("DeliveryFailedCause1", sent.delivery.cause1_code());
    r.text("DeliveryFailedCause2", sent.delivery.cause2_code());
    r.text("DeliveryFailedCause3", sent.delivery.cause3_code());
    r.customer(routing);
    r.int("TransmissionSlot", sent.delivery.slot.value());
    if let Some(hz) = sent.frequency_hz {
        r.float("Frequency", mhz(hz), None);
    }
    if !sent.mac_commands.is_empty() {
        r.text("rawMacCommands", hex_lower(&sent.mac_commands));
    }
    if let Some(id) = &sent.correlation_id {
        r.text("CorrelationID", id.clone());
    }
    r
}

/// A resolved geolocation (§6.3.3).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Geolocation {
    /// When it was resolved.
    pub time: Option<SystemTime>,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Altitude in metres.
    pub alt: Option<f64>,
    /// Horizontal tolerance in metres.
    pub radius: Option<f64>,
    /// Vertical tolerance in metres.
    pub alt_radius: Option<f64>,
    /// North velocity in m/s.
    pub north_velocity: Option<f64>,
    /// East velocity in m/s.
    pub east_velocity: Option<f64>,
    /// Horizontal dilution of precision.
    pub loc_dilution: Option<f64>,
    /// Vertical dilution of precision.
    pub alt_dilution: Option<f64>,
    /// The uplink counter it was resolved from.
    pub f_cnt_up_used: Option<u32>,
    /// `NwGeolocAlgo` (0 TDOA, 1 RSSI, 2 both).
    pub algo: Option<u8>,
    /// `NwGeolocAlgoUsed`.
    pub algo_used: Option<u8>,
}

/// The `DevEUI_location` report (§6.3.3).
pub fn location(
    dev_eui: Eui64,
    dev_addr: DevAddr,
    geo: &Geolocation,
    now: SystemTime,
    routing: &AsRouting,
    lrc_id: &str,
) -> Report {
    let mut r = Report::new(ReportKind::Location, dev_eui);
    r.text("Time", super::time::format(now));
    r.text("DevEUI", format!("{dev_eui:X}"));
    r.text("DevAddr", format!("{dev_addr:X}"));
    r.text("Lrcid", lrc_id);
    r.text("DevLocTime", super::time::format(geo.time.unwrap_or(now)));
    r.float("DevLAT", geo.lat, None);
    r.float("DevLON", geo.lon, None);
    for (name, value) in [
        ("DevAlt", geo.alt),
        ("DevLocRadius", geo.radius),
        ("DevAltRadius", geo.alt_radius),
        ("DevNorthVel", geo.north_velocity),
        ("DevEastVel", geo.east_velocity),
        ("DevLocDilution", geo.loc_dilution),
        ("DevAltDilution", geo.alt_dilution),
    ] {
        if let Some(value) = value {
            r.float(name, value, None);
        }
    }
    if let Some(f_cnt) = geo.f_cnt_up_used {
        r.int("DevUlFCntUpUsed", f_cnt);
    }
    r.customer(routing);
    if let Some(algo) = geo.algo {
        r.int("NwGeolocAlgo", algo);
    }
    if let Some(algo) = geo.algo_used {
        r.int("NwGeolocAlgoUsed", algo);
    }
    r
}

/// What a notification reports (§6.4.3 `Type`, `Var1`, `Var2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// `reset`: an ABP counter reset seen on an uplink (`automatic_reset`).
    AutomaticReset,
    /// `reset`: an administrative reset (`admin_reset`).
    AdminReset,
    /// `join`: the new AppSKey, encrypted with the AS transport key, as text.
    Join {
        /// `Var1`; `None` when the AS has no transport key (or we have no AppSKey).
        app_s_key: Option<String>,
    },
    /// `devstatusans`: battery and margin of a `DevStatusAns` on a frame without payload.
    DevStatusAns {
        /// Battery (0..=255).
        battery: u8,
        /// Margin (-32..=31).
        margin: i8,
    },
}

/// The `DevEUI_notification` report (§6.4.3). `time` is the uplink's gateway timestamp when
/// an uplink triggered it, else now; `f_cnt_dn` (1.0) or `af_cnt_dn` (1.1) is the next
/// downlink counter (0 after a reset or a join, as §6.4.1 requires).
#[allow(clippy::too_many_arguments)]
pub fn notification(
    dev_eui: Eui64,
    dev_addr: DevAddr,
    what: &Notification,
    time: SystemTime,
    f_cnt_dn: Option<u32>,
    af_cnt_dn: Option<u32>,
    routing: &AsRouting,
    lrc_id: &str,
) -> Report {
    let mut r = Report::new(ReportKind::Notification, dev_eui);
    r.text("Time", super::time::format(time));
    r.text("DevEUI", format!("{dev_eui:X}"));
    r.text("DevAddr", format!("{dev_addr:X}"));
    if let Some(f_cnt_dn) = f_cnt_dn {
        r.int("FCntDn", f_cnt_dn);
    }
    if let Some(af_cnt_dn) = af_cnt_dn {
        r.int("AFCntDn", af_cnt_dn);
    }
    r.text("Lrcid", lrc_id);
    let (kind, var1, var2) = match what {
        Notification::AutomaticReset => ("reset", "automatic_reset".to_owned(), None),
        Notification::AdminReset => ("reset", "admin_reset".to_owned(), None),
        Notification::Join { app_s_key } => ("join", app_s_key.clone().unwrap_or_default(), None),
        Notification::DevStatusAns { battery, margin } => (
            "devstatusans",
            battery.to_string(),
            Some(margin.to_string()),
        ),
    };
    r.text("Type", kind);
    if !var1.is_empty() {
        r.text("Var1", var1);
    }
    if let Some(var2) = var2 {
        r.text("Var2", var2);
    }
    r.customer(routing);
    r
}

/// The `devstatusans` notification an uplink triggers: "only triggered when the uplink frame
/// containing the DevStatusAns MAC command does not contain an applicative payload" (§6.4.1).
pub fn dev_status_notification(event: &UplinkEvent) -> Option<Notification> {
    if event.payload.is_some() {
        return None;
    }
    dev_status(event).map(|(battery, margin)| Notification::DevStatusAns { battery, margin })
}

/// How a multicast frame went (`TransmissionStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MulticastStatus {
    /// Sent by every target gateway.
    Sent,
    /// Sent by some.
    PartiallySent,
    /// Sent by none.
    Aborted,
}

/// What became of one multicast frame.
#[derive(Debug, Clone, PartialEq)]
pub struct MulticastSummary {
    /// The multicast group's identifier, as provisioned.
    pub dev_eui: Eui64,
    /// The group address.
    pub dev_addr: DevAddr,
    /// When the last attempt ended.
    pub time: SystemTime,
    /// FPort.
    pub f_port: u8,
    /// The group's FCntDn.
    pub f_cnt_dn: u32,
    /// Gateways targeted.
    pub lrr_count: u32,
    /// Gateways that sent it.
    pub lrr_success: u32,
    /// Failure causes and how many gateways gave each.
    pub failures: Vec<(DeliveryFailedCause, u32)>,
    /// The AS's correlation ID.
    pub correlation_id: Option<String>,
}

/// The `DevEUI_multicast_summary` report. Its fields are not in the seeds (seed 001 lost
/// that section); we follow ThingPark's published message: `TransmissionStatus`, `LrrCnt`,
/// `LrrSuccessCnt`, `LrrFailedCnt`, `LrrFailedDistribution` (`"A3=2,D0=7"`).
pub fn multicast_summary(summary: &MulticastSummary, routing: &AsRouting, lrc_id: &str) -> Report {
    let mut r = Report::new(ReportKind::MulticastSummary, summary.dev_eui);
    r.text("Time", super::time::format(summary.time));
    r.text("DevEUI", format!("{:X}", summary.dev_eui));
    r.text("DevAddr", format!("{:X}", summary.dev_addr));
    r.int("FPort", summary.f_port);
    r.int("FCntDn", summary.f_cnt_dn);
    r.text("Lrcid", lrc_id);
    let status = if summary.lrr_success == 0 {
        MulticastStatus::Aborted
    } else if summary.lrr_success >= summary.lrr_count {
        MulticastStatus::Sent
    } else {
        MulticastStatus::PartiallySent
    };
    r.text(
        "TransmissionStatus",
        match status {
            MulticastStatus::Sent => "SENT",
            MulticastStatus::PartiallySent => "PARTIALLY_SENT",
            MulticastStatus::Aborted => "ABORTED",
        },
    );
    r.int("LrrCnt", summary.lrr_count);
    r.int("LrrSuccessCnt", summary.lrr_success);
    r.customer(routing);
    let failed: u32 = summary.lrr_count.saturating_sub(summary.lrr_success);
    r.int("LrrFailedCnt", failed);
    if !summary.failures.is_empty() {
        let distribution: Vec<String> = summary
            .failures
            .iter()
            .map(|(cause, n)| format!("{}={n}", cause.code()))
            .collect();
        r.text("LrrFailedDistribution", distribution.join(","));
    }
    if let Some(id) = &summary.correlation_id {
        r.text("CorrelationID", id.clone());
    }
    r
}

fn mhz(hz: u32) -> f64 {
    // Through the kHz integer so 868_300_000 gives exactly 868.3, not 868.3000000000001.
    f64::from(hz / 1000) / 1000.0 + f64::from(hz % 1000) / 1e6
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
