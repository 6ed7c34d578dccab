//! A gateway and device simulator: LoRaWAN end devices with the real cryptography (ABP and
//! OTAA; 1.0.2, 1.0.3, 1.0.4 and 1.1) heard by one or several Semtech UDP packet forwarders
//! on the loopback interface. The nsd's integration tests and the load driver use it.
//!
//! Like the rest of the suite it imports none of Switchyard's crates: the device side is
//! written from TS001 (see [`crypto`]) and checked against the public vectors of
//! `shared/vectors` (and, in tests only, differentially against `crates/lorawan`).
//!
//! - [`device::Device`] is sans-IO: it builds join-requests, rejoin-requests and data uplinks,
//!   and checks join-accepts and data downlinks.
//! - [`gateway::SimGateway`] is a packet forwarder on a UDP socket: `PUSH_DATA` / `PUSH_ACK`,
//!   `PULL_DATA` / `PULL_ACK`, `PULL_RESP` / `TX_ACK`.
//! - [`Simulation`] starts several gateways at one network server, sends one frame as heard by
//!   a chosen subset with chosen RSSI / SNR, and collects the downlinks of all of them.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use conformance_tests::sim::{
//!     Device, Heard, MacVersion, OtaaKeys, RadioParams, Simulation, Uplink,
//! };
//! use conformance_tests::load::frame::Eui64;
//!
//! # async fn run(ns_addr: std::net::SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
//! let sim = Simulation::start(ns_addr, 2).await?;
//! assert!(sim.connect(Duration::from_secs(2)).await); // every gateway got a PULL_ACK
//!
//! let mut device = Device::otaa(
//!     MacVersion::V1_0_4,
//!     OtaaKeys {
//!         dev_eui: Eui64(0x0004_a30b_001c_0530),
//!         join_eui: Eui64(0x70b3_d57e_d000_0001),
//!         app_key: [0x2b; 16],
//!         nwk_key: None,
//!     },
//! )?;
//! let radio = RadioParams::eu868(5, 0).ok_or("no such EU868 channel")?;
//!
//! // OTAA: the join-request heard by both gateways, the join-accept on either.
//! let join = device.join_request()?;
//! let report = sim
//!     .uplink(&join, &radio, &[Heard::new(0, -60, 9.5), Heard::new(1, -110, -4.0)])
//!     .await?;
//! assert!(report.all_acked());
//! let accept = sim.next_downlink(Duration::from_secs(6)).await.ok_or("no join-accept")?;
//! device.accept_join_accept(&accept.phy)?;
//!
//! // A confirmed uplink, heard by gateway 1 only; the ACK comes back.
//! let up = device.uplink(&Uplink::confirmed(1, b"hello"))?;
//! sim.uplink(&up, &radio, &[Heard::new(1, -80, 5.0)]).await?;
//! let down = sim.next_downlink(Duration::from_secs(3)).await.ok_or("no downlink")?;
//! let frame = device.accept_downlink(&down.phy)?;
//! assert!(frame.ack);
//! # Ok(())
//! # }
//! ```
//!
//! # Load
//!
//! [`Device::uplink_into`] builds into a reused buffer; [`SimGateway::send_uplink`] sends
//! without waiting and only counts the `PUSH_ACK`s ([`SimGateway::stats`]);
//! [`SimGateway::send_uplink_tracked`] returns a [`PendingAck`] to await later, so that many
//! frames can be in flight at once.

pub mod crypto;
pub mod device;
pub mod gateway;
pub mod semtech;

#[cfg(test)]
mod device_tests;
#[cfg(test)]
mod gateway_tests;
#[cfg(test)]
mod vector_tests;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use crate::load::frame::{Eui64, Key};
pub use crypto::DevAddr;
pub use device::{
    Device, DeviceError, Downlink, JoinAccepted, MacVersion, OtaaKeys, RejoinType, RxSettings,
    Session, SessionKeys, Uplink,
};
pub use gateway::{DownlinkQueue, GatewayConfig, GatewayStats, PendingAck, SimGateway};
pub use semtech::{
    CrcStatus, DataRate, DownlinkTiming, GatewayStat, RadioParams, SimDownlink, TxAckError,
    TxAckMode,
};

/// The EUI of the first gateway [`Simulation::start`] makes; the others count up from it.
pub const FIRST_GATEWAY_EUI: Eui64 = Eui64(0x0016_c001_ff10_0000);

/// How long [`Simulation::uplink`] waits for the `PUSH_ACK`s.
pub const PUSH_ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// The most downlinks [`Simulation::drain_downlinks`] collects in one call.
pub const DRAIN_LIMIT: usize = 65_536;

/// One gateway hearing a frame: which one (its index in the [`Simulation`]) and how well.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heard {
    /// Index of the gateway in [`Simulation::gateways`].
    pub gateway: usize,
    /// RSSI in dBm.
    pub rssi_dbm: i16,
    /// SNR in dB.
    pub snr_db: f32,
    /// `tmst` to report; `None` takes the gateway's clock.
    pub tmst: Option<u32>,
}

impl Heard {
    /// Gateway `gateway` heard the frame at `rssi_dbm` / `snr_db`.
    pub fn new(gateway: usize, rssi_dbm: i16, snr_db: f32) -> Self {
        Self {
            gateway,
            rssi_dbm,
            snr_db,
            tmst: None,
        }
    }
}

/// What became of one frame sent by several gateways.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UplinkReport {
    /// For each [`Heard`], in order: the gateway index, the `tmst` reported and whether its
    /// `PUSH_ACK` came back.
    pub receptions: Vec<(usize, u32, bool)>,
}

impl UplinkReport {
    /// Whether every gateway got its `PUSH_ACK`.
    pub fn all_acked(&self) -> bool {
        self.receptions.iter().all(|r| r.2)
    }

    /// The `tmst` gateway `gateway` reported, if it heard the frame.
    pub fn tmst(&self, gateway: usize) -> Option<u32> {
        self.receptions.iter().find(|r| r.0 == gateway).map(|r| r.1)
    }
}

/// Why [`Simulation::uplink`] could not send.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A [`Heard`] names a gateway the simulation does not have.
    #[error("no gateway {0}")]
    NoGateway(usize),
    /// The socket refused to send.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Several simulated gateways at one network server, sharing one downlink queue.
#[derive(Debug)]
pub struct Simulation {
    gateways: Vec<SimGateway>,
    downlinks: Arc<DownlinkQueue>,
}

impl Simulation {
    /// Starts `count` gateways (EUIs from [`FIRST_GATEWAY_EUI`]) at `ns_addr` with the
    /// default [`GatewayConfig`].
    pub async fn start(ns_addr: SocketAddr, count: usize) -> io::Result<Self> {
        let configs = (0..count as u64)
            .map(|i| GatewayConfig::new(Eui64(FIRST_GATEWAY_EUI.0 + i), ns_addr))
            .collect();
        Self::start_with(configs, 1024).await
    }

    /// Starts one gateway per config; their downlinks share a queue of `downlink_capacity`.
    pub async fn start_with(
        configs: Vec<GatewayConfig>,
        downlink_capacity: usize,
    ) -> io::Result<Self> {
        let downlinks = Arc::new(DownlinkQueue::new(downlink_capacity));
        let mut gateways = Vec::with_capacity(configs.len());
        for config in configs {
            gateways.push(SimGateway::start_with_queue(config, Arc::clone(&downlinks)).await?);
        }
        Ok(Self {
            gateways,
            downlinks,
        })
    }

    /// The gateways, in start order.
    pub fn gateways(&self) -> &[SimGateway] {
        &self.gateways
    }

    /// Gateway `index`, if there is one.
    pub fn gateway(&self, index: usize) -> Option<&SimGateway> {
        self.gateways.get(index)
    }

    /// Sends a `PULL_DATA` from every gateway; whether all `PULL_ACK`s came within
    /// `timeout`. After it, the server knows every gateway's downlink address.
    pub async fn connect(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut all = true;
        for gateway in &self.gateways {
            let left = deadline.saturating_duration_since(Instant::now());
            all &= matches!(gateway.pull_data(left).await, Ok(true));
        }
        all
    }

    /// Sends `phy` from every gateway of `heard` (its own RSSI, SNR and `tmst`, the rest of
    /// `radio`) and waits for all `PUSH_ACK`s, at most [`PUSH_ACK_TIMEOUT`].
    pub async fn uplink(
        &self,
        phy: &[u8],
        radio: &RadioParams,
        heard: &[Heard],
    ) -> Result<UplinkReport, SimError> {
        let mut pending = Vec::with_capacity(heard.len());
        for h in heard {
            let gateway = self
                .gateways
                .get(h.gateway)
                .ok_or(SimError::NoGateway(h.gateway))?;
            let params = RadioParams {
                rssi_dbm: h.rssi_dbm,
                snr_db: h.snr_db,
                tmst: h.tmst.or(radio.tmst),
                ..*radio
            };
            pending.push((h.gateway, gateway.send_uplink_tracked(phy, &params).await?));
        }
        let deadline = Instant::now() + PUSH_ACK_TIMEOUT;
        let mut report = UplinkReport::default();
        for (index, p) in pending {
            let tmst = p.tmst();
            let acked = p.wait_until(deadline).await;
            report.receptions.push((index, tmst, acked));
        }
        Ok(report)
    }

    /// The next downlink any gateway received, waiting up to `timeout`.
    pub async fn next_downlink(&self, timeout: Duration) -> Option<SimDownlink> {
        self.downlinks.next(timeout).await
    }

    /// Every downlink received until none has come for `quiet` (to check, e.g., that a
    /// downlink went out through one gateway only); at most [`DRAIN_LIMIT`] of them.
    pub async fn drain_downlinks(&self, quiet: Duration) -> Vec<SimDownlink> {
        let mut out = Vec::new();
        while out.len() < DRAIN_LIMIT {
            match self.downlinks.next(quiet).await {
                Some(d) => out.push(d),
                None => break,
            }
        }
        out
    }

    /// The shared downlink queue.
    pub fn downlinks(&self) -> &Arc<DownlinkQueue> {
        &self.downlinks
    }
}
