//! The LRC-AS tunnel interface (seed 001, "LRC-AS Tunnel Interface Developer Guide", and seed
//! 002, the `DevEUI_downlink` JSON body): how the nsd talks to application servers written
//! for ThingPark, byte for byte.
//!
//! ```text
//!   nsd ── reports (HTTP POST, JSON or XML, LrnDevEui…&Token=) ──> AS routes   [report, delivery]
//!   AS  ── /thingpark/lrc/rest/downlink, /v2/downlink ──────────> nsd          [downlink, api::tunnel]
//! ```
//!
//! - [`time`]: the ISO 8601 timestamps of §5.1 and their two encodings (§5.1.2).
//! - [`token`]: the SHA-256 tokens of §6.5 (reports) and §7.3 (downlinks).
//! - [`report`]: the report documents (`DevEUI_uplink`, `DevEUI_downlink_Sent`,
//!   `DevEUI_location`, `DevEUI_notification`, `DevEUI_multicast_summary`) built from what the
//!   network server knows, and [`encode`] writes them as JSON, untyped JSON or XML.
//! - [`downlink`]: an AS downlink request (API v1 query, API v2 query or JSON body) → a typed
//!   submission, or the seed's exact rejection (v1 `350` + text, v2 `409` + `{"code",…}`).
//! - [`delivery`]: the asynchronous report sender: keep-alive client, bounded in-flight
//!   requests per destination, timeouts, and the Overload / Blacklist states of seed 000, with
//!   a per-destination record the API can show.
//!
//! - [`config`]: the `[tunnel]` settings and AS profiles, and the per-device link to an AS.
//!
//! Everything except [`delivery`] is sans-IO. The network server is reached only through
//! [`TunnelNetwork`], which the nsd's state implements.
//!
//! # Wiring it into the daemon
//!
//! ```text
//! let profiles = config.tunnel.profiles()?;                 // [tunnel] → AS profiles by AS_ID
//! let delivery = ReportDelivery::new(config.tunnel.delivery())?;
//! // reports of every accepted uplink (abort the task at shutdown: it holds the server)
//! let reporter = tokio::spawn(delivery.clone().forward_uplinks(server.clone(), server.subscribe()));
//! // the downlink API and the delivery view
//! let router = api::routes()
//!     .merge(api::tunnel::routes(server.clone()))
//!     .merge(api::tunnel::delivery_routes(delivery.clone()));
//! // the reports the network server raises itself
//! delivery.report_with(&*server, dev_eui, now, |routing, lrc_id| {
//!     report::downlink_sent(&sent, routing, lrc_id)
//! }).await;
//! ```

pub mod config;
pub mod delivery;
pub mod downlink;
pub mod encode;
pub mod report;
pub mod time;
pub mod token;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lorawan::ids::{AesKey, Eui64, NetId};
use service::ratelimit::Quota;

use crate::app::UplinkEvent;
use crate::device::Class;
use crate::downlink::queue::{NewDownlink, QueueError};

/// How an AS route wants its reports encoded (seed 001 §6.6: "By default, the message of LRC
/// reports is encoded in JSON format by the LRC. It can be set to JSON untyped or XML").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum ContentType {
    /// JSON with typed values (numbers as numbers), as seed 002's `DevEUI_downlink_Sent`.
    #[default]
    Json,
    /// JSON mapped one-to-one from the XML: every value a string, plus `"-xmlns"` (seed 001
    /// §6.6.2).
    JsonUntyped,
    /// XML in the `http://uri.actility.com/lora` namespace (seed 001 §6.1.4).
    Xml,
}

/// One destination of an AS profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsRoute {
    /// The URL reports are POSTed to (`<as-url>`); the query parameters are appended.
    pub url: String,
    /// The encoding this destination wants.
    pub content_type: ContentType,
}

/// An application server as provisioned: its identity, its key and where its reports go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsProfile {
    /// `AS_ID`.
    pub as_id: String,
    /// The Tunnel Interface Authentication Key. `Some` activates the uplink/downlink security
    /// of §6.5 and §7.3: reports carry `AS_ID`, `Time` and `Token`, and downlinks must.
    pub key: Option<AesKey>,
    /// The AS transport key (ASTK): the `join` notification's `Var1` is the new AppSKey
    /// "encrypted with AS transport key" (seed 001 §6.4.3), wrapped with it (RFC 3394).
    /// `None`: the AS gets no AppSKey (the notification says the join happened, without
    /// `Var1`); the key never travels in the clear.
    pub transport_key: Option<AesKey>,
    /// The largest accepted difference between a downlink's `Time` and our clock.
    pub max_time_deviation: Duration,
    /// Where reports go.
    pub routes: Vec<AsRoute>,
    /// Most report requests in flight to each of its routes; more make the route
    /// "Overload"ed and are dropped.
    pub max_in_flight: usize,
    /// How long one report request may take.
    pub timeout: Duration,
}

impl AsProfile {
    /// A profile with one JSON route and the defaults: 30 s maximum time deviation, 16
    /// requests in flight, 5 s timeout.
    pub fn new(as_id: &str, key: Option<AesKey>, url: &str) -> Self {
        Self {
            as_id: as_id.to_owned(),
            key,
            transport_key: None,
            max_time_deviation: Duration::from_secs(30),
            routes: vec![AsRoute {
                url: url.to_owned(),
                content_type: ContentType::Json,
            }],
            max_in_flight: 16,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Everything the tunnel needs about one device: its AS and what the reports say about it.
#[derive(Debug, Clone, PartialEq)]
pub struct AsRouting {
    /// The device's application server.
    pub profile: Arc<AsProfile>,
    /// `LrnInfos`: the service profile name used to route the packet.
    pub lrn_infos: String,
    /// `CustomerID`.
    pub customer_id: String,
    /// `CustomerData` (a JSON object set by provisioning), when there is one.
    pub customer_data: Option<serde_json::Value>,
    /// `DriverCfg`, when there is one.
    pub driver_cfg: Option<serde_json::Value>,
    /// The downlink token bucket of the device (DROP strategy: a downlink over it is refused
    /// with 121 "Token bucket limit reached"); `None`: no limit.
    pub downlink_quota: Option<Quota>,
}

/// Where the frame came from when it came through a roaming partner (passive roaming,
/// serving role): the `Roaming`, `ForwardingNetID` and `ForwardingNSID` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoamingInfo {
    /// The forwarding network's NetID.
    pub forwarding_net_id: NetId,
    /// The forwarding network server's NSID (Backend Interfaces 1.1), when known.
    pub forwarding_ns_id: Option<Eui64>,
}

/// What the network server adds to an [`UplinkEvent`] for its report. Every field is
/// optional: a missing one is left out of the report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UplinkDetails {
    /// The next FCntDn (LoRaWAN 1.0): the highest AS-encrypted counter queued + 1, else the
    /// last used + 1 (seed 001 §6.1.3 `FCntDn`).
    pub f_cnt_dn: Option<u32>,
    /// The next AFCntDn (LoRaWAN 1.1, FPort > 0).
    pub af_cnt_dn: Option<u32>,
    /// The AFCntDn this uplink acknowledges (LoRaWAN 1.1, ACK set for an application
    /// downlink). A 1.1 uplink without payload is reported only when this is set.
    pub conf_af_cnt_dn: Option<u32>,
    /// The frame's MIC.
    pub mic: Option<[u8; 4]>,
    /// The device's class now.
    pub class: Option<Class>,
    /// The logical channel index of the uplink (`Channel` = `LC<n>`).
    pub channel: Option<u8>,
    /// The sub-band (`SubBand`), as the region names it.
    pub sub_band: Option<String>,
    /// The best gateway's position (latitude, longitude).
    pub best_gateway_location: Option<(f64, f64)>,
    /// `NbTrans` the device was told to use.
    pub nb_trans: Option<u8>,
    /// The device's transmit power in dBm.
    pub tx_power_dbm: Option<f32>,
    /// `InstantPER`.
    pub instant_per: Option<f32>,
    /// `MeanPER`.
    pub mean_per: Option<f32>,
    /// The frame came through a roaming partner.
    pub roaming: Option<RoamingInfo>,
}

/// Whether an AS-encrypted payload comes with its LoRaWAN 1.0 or 1.1 counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsCounter {
    /// `FCntDn` (LoRaWAN 1.0).
    FCntDn(u32),
    /// `AFCntDn` (LoRaWAN 1.1).
    AFCntDn(u32),
}

impl AsCounter {
    /// The counter value.
    pub const fn value(self) -> u32 {
        match self {
            Self::FCntDn(v) | Self::AFCntDn(v) => v,
        }
    }
}

/// A downlink request the AS made and the tunnel accepted, for the network server to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct DownlinkSubmission {
    /// `FlushDownlinkQueue=1`: purge the device's AS queue first.
    pub flush: bool,
    /// The frame to queue after the purge (none: purge only). An AS-encrypted payload has its
    /// counter in `fcnt` and in [`Self::counter`].
    pub frame: Option<NewDownlink>,
    /// Which counter an AS-encrypted payload was encrypted with.
    pub counter: Option<AsCounter>,
    /// `DriverCfg` of a JSON request, passed through.
    pub driver_cfg: Option<serde_json::Value>,
}

/// Which receive window limits the payload size in [`DownlinkRefusal::PayloadTooBigForDataRate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeLimitSlot {
    /// RX2 (class A and C): `rx2DR`.
    Rx2,
    /// The class B ping slot: `pingSlotDR`.
    PingSlot,
}

/// Why the network server did not queue a downlink the tunnel accepted. Each maps to one
/// code of seed 001 §7.1.5 / §7.1.6 ([`downlink::Rejection`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownlinkRefusal {
    /// 100: no such device (any more).
    #[error("unknown device")]
    UnknownDevice,
    /// 101: an AS-encrypted payload's counter was already used.
    #[error("downlink counter already used; expected {expected}")]
    CounterAlreadyUsed {
        /// The counter the AS should use.
        expected: u32,
    },
    /// 102: an AS-encrypted payload's counter is too far ahead.
    #[error("downlink counter increment too large; expected {expected}")]
    CounterIncrementTooLarge {
        /// The counter the AS should use.
        expected: u32,
    },
    /// 103: the device's plan does not allow confirmed downlinks.
    #[error("confirmed downlinks are not allowed for this device")]
    ConfirmedNotAllowed,
    /// 114: downlinks are disabled for the device.
    #[error("downlink transmission disabled")]
    TransmissionDisabled,
    /// The device's queue is full. The seed has no code for it: answered as 114 with a
    /// `"maxQueueSize"` in v2 (our choice).
    #[error("downlink queue full ({max} frames)")]
    QueueFull {
        /// The queue's size.
        max: usize,
    },
    /// 115 (v1: HTTP 404): no gateway near the device is connected.
    #[error("no base station available")]
    NoBaseStation,
    /// 116: the payload does not fit the data rate of RX2 or the ping slot.
    #[error("payload too big for DR{data_rate} (max {max_size} bytes)")]
    PayloadTooBigForDataRate {
        /// RX2 or ping slot.
        slot: SizeLimitSlot,
        /// The data rate of that slot.
        data_rate: u8,
        /// The largest payload it carries, in bytes.
        max_size: usize,
    },
    /// 112: the validity time is already over.
    #[error("validity time expired")]
    ValidityExpired,
    /// 104: the port is not 1..=224.
    #[error("invalid FPort")]
    InvalidPort,
    /// 119: a clear payload for a device whose AppSKey the network server does not hold.
    #[error("the payload must be encrypted by the AS")]
    EncryptionRequired,
}

impl From<QueueError> for DownlinkRefusal {
    fn from(error: QueueError) -> Self {
        match error {
            QueueError::Full { max } => Self::QueueFull { max },
            QueueError::InvalidFPort(_) => Self::InvalidPort,
            QueueError::AlreadyExpired => Self::ValidityExpired,
            QueueError::MissingFCnt => Self::EncryptionRequired,
        }
    }
}

/// What the tunnel needs from the network server. The nsd's state implements it; tests
/// implement it with a map.
pub trait TunnelNetwork: Send + Sync + 'static {
    /// The device's AS routing; `None` when the device is unknown or has no AS. Called for
    /// every downlink request and every report, so it should be a map lookup.
    fn routing(&self, dev_eui: Eui64) -> impl Future<Output = Option<AsRouting>> + Send;

    /// What the report of `event` says beyond the event itself (counters, class, MIC,
    /// gateway position, …). The default knows nothing more.
    fn uplink_details(&self, event: &UplinkEvent) -> impl Future<Output = UplinkDetails> + Send {
        let _ = event;
        std::future::ready(UplinkDetails::default())
    }

    /// Queue an accepted downlink request (purge first when `submission.flush`).
    fn submit_downlink(
        &self,
        dev_eui: Eui64,
        submission: DownlinkSubmission,
    ) -> impl Future<Output = Result<(), DownlinkRefusal>> + Send;
}
