//! The provisioned gateways and what we last heard from each.
//!
//! Only provisioned gateways are served: a protocol front end looks the sender up here on
//! every datagram and refuses (and logs) an unknown one. The storage layer and the admin API
//! fill the registry with [`Registry::provision`] / [`Registry::remove`] and read it back
//! with [`Registry::list`] / [`Registry::view`].
//!
//! Lookups take a shared read lock on the map and then the gateway's own small mutex, so the
//! hot path (one lookup and one status update per datagram) never waits for another gateway.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use super::GatewayId;

/// Where a gateway is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    /// Latitude in degrees, north positive.
    pub lat: f64,
    /// Longitude in degrees, east positive.
    pub lon: f64,
    /// Altitude in metres.
    pub alt_m: f64,
}

/// A provisioned gateway: what the operator told us about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Gateway {
    /// Its EUI, as its packet forwarder announces it.
    pub id: GatewayId,
    /// A human name.
    pub name: String,
    /// Where it stands, when known.
    pub location: Option<Location>,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// The tenant owning it, if the deployment has tenants.
    pub tenant: Option<String>,
}

/// A gateway's own statistics, as its last status report gave them (every field optional:
/// forwarders differ in what they report).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayStats {
    /// The gateway's UTC clock when it wrote the report.
    pub time: Option<SystemTime>,
    /// Its GPS position, when it has a fix.
    pub location: Option<Location>,
    /// Radio frames received since the previous report.
    pub rx_received: Option<u32>,
    /// … of which with a valid CRC.
    pub rx_ok: Option<u32>,
    /// … of which forwarded to us.
    pub rx_forwarded: Option<u32>,
    /// Percentage of its upstream datagrams we acknowledged.
    pub ack_ratio_percent: Option<f64>,
    /// Downlink datagrams it received.
    pub downlinks_received: Option<u32>,
    /// Frames it emitted.
    pub tx_emitted: Option<u32>,
    /// Its temperature in degrees Celsius.
    pub temperature_c: Option<f64>,
}

/// What we last heard from a gateway.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayStatus {
    /// When any datagram from it last arrived.
    pub last_seen: Option<SystemTime>,
    /// When its last downlink keep-alive (Semtech `PULL_DATA`) arrived: the gateway is
    /// connected while this is recent.
    pub last_keepalive: Option<SystemTime>,
    /// Where its downlinks go: the address and protocol version of its last keep-alive.
    pub downlink: Option<DownlinkRoute>,
    /// The address its uplinks last came from.
    pub uplink_addr: Option<SocketAddr>,
    /// The Semtech UDP protocol version (1 or 2) it last spoke, for Semtech gateways.
    pub protocol_version: Option<u8>,
    /// Its last status report.
    pub last_stats: Option<GatewayStats>,
    /// Frames received from it and passed on.
    pub frames_received: u64,
    /// Downlinks it accepted.
    pub frames_sent: u64,
    /// Downlinks it refused.
    pub frames_refused: u64,
}

impl GatewayStatus {
    /// Whether the gateway's last keep-alive is at most `timeout` old at `now`.
    pub fn is_connected(&self, now: SystemTime, timeout: Duration) -> bool {
        self.last_keepalive
            .is_some_and(|at| match now.duration_since(at) {
                Ok(age) => age <= timeout,
                // A keep-alive "in the future" (the clock stepped back): recent.
                Err(_) => true,
            })
    }
}

/// A gateway with its status, as the admin API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayView {
    /// What was provisioned.
    pub gateway: Gateway,
    /// What we heard.
    pub status: GatewayStatus,
}

/// Where and how to reach a connected gateway for a downlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownlinkRoute {
    /// The address of its last keep-alive.
    pub addr: SocketAddr,
    /// The Semtech UDP protocol version it spoke then.
    pub protocol_version: u8,
}

#[derive(Debug)]
struct Entry {
    gateway: Gateway,
    /// Shared with the entry that replaces this one when the gateway is re-provisioned, so
    /// no update made meanwhile through this entry is lost.
    status: Arc<Mutex<GatewayStatus>>,
}

impl Entry {
    fn status(&self) -> std::sync::MutexGuard<'_, GatewayStatus> {
        // A panic while holding the guard cannot leave the plain-data status inconsistent.
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The provisioned gateways, shared between the protocol front ends and the admin API.
#[derive(Debug, Default)]
pub struct Registry {
    gateways: RwLock<HashMap<GatewayId, Arc<Entry>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Provisions `gateway`, or updates it if its ID is already provisioned (its status is
    /// kept). Returns the previous provisioning.
    pub fn provision(&self, gateway: Gateway) -> Option<Gateway> {
        let mut map = self.write();
        let status = map
            .get(&gateway.id)
            .map(|entry| Arc::clone(&entry.status))
            .unwrap_or_default();
        let entry = Arc::new(Entry { gateway, status });
        map.insert(entry.gateway.id, entry)
            .map(|old| old.gateway.clone())
    }

    /// Removes a gateway; its datagrams are refused from now on. Returns what was provisioned.
    pub fn remove(&self, id: GatewayId) -> Option<Gateway> {
        self.write().remove(&id).map(|old| old.gateway.clone())
    }

    /// Whether `id` is provisioned.
    pub fn contains(&self, id: GatewayId) -> bool {
        self.read().contains_key(&id)
    }

    /// The provisioning of `id`.
    pub fn gateway(&self, id: GatewayId) -> Option<Gateway> {
        self.entry(id).map(|entry| entry.gateway.clone())
    }

    /// The status of `id`.
    pub fn status(&self, id: GatewayId) -> Option<GatewayStatus> {
        self.entry(id).map(|entry| entry.status().clone())
    }

    /// The provisioning and status of `id`.
    pub fn view(&self, id: GatewayId) -> Option<GatewayView> {
        self.entry(id).map(|entry| view(&entry))
    }

    /// Every provisioned gateway with its status, by ID.
    pub fn list(&self) -> Vec<GatewayView> {
        let mut all: Vec<GatewayView> = self.read().values().map(|entry| view(entry)).collect();
        all.sort_by_key(|v| v.gateway.id);
        all
    }

    /// Number of provisioned gateways.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no gateway is provisioned.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Records an uplink datagram from `id` (from `addr`, in protocol `version`) carrying
    /// `frames` frames passed on. Returns false (and records nothing) if `id` is unknown.
    pub fn record_uplink(
        &self,
        id: GatewayId,
        now: SystemTime,
        addr: SocketAddr,
        version: u8,
        frames: u64,
    ) -> bool {
        self.update(id, |status| {
            status.last_seen = Some(now);
            status.uplink_addr = Some(addr);
            status.protocol_version = Some(version);
            status.frames_received = status.frames_received.saturating_add(frames);
        })
    }

    /// Records a downlink keep-alive from `id`: `addr` is where its downlinks go from now
    /// on. Returns false if `id` is unknown.
    pub fn record_keepalive(
        &self,
        id: GatewayId,
        now: SystemTime,
        addr: SocketAddr,
        version: u8,
    ) -> bool {
        self.update(id, |status| {
            status.last_seen = Some(now);
            status.last_keepalive = Some(now);
            status.downlink = Some(DownlinkRoute {
                addr,
                protocol_version: version,
            });
            status.protocol_version = Some(version);
        })
    }

    /// Records any other sign of life from `id` (a transmission acknowledgement).
    pub fn record_seen(&self, id: GatewayId, now: SystemTime) -> bool {
        self.update(id, |status| status.last_seen = Some(now))
    }

    /// Records a status report from `id`.
    pub fn record_stats(&self, id: GatewayId, stats: GatewayStats) -> bool {
        self.update(id, |status| status.last_stats = Some(stats))
    }

    /// Records the gateway's answer to a downlink: accepted (`Accepted`) or refused.
    pub fn record_downlink(&self, id: GatewayId, answer: DownlinkAnswer) -> bool {
        self.update(id, |status| match answer {
            DownlinkAnswer::Accepted => status.frames_sent = status.frames_sent.saturating_add(1),
            DownlinkAnswer::Refused => {
                status.frames_refused = status.frames_refused.saturating_add(1);
            }
        })
    }

    /// Where to send a downlink for `id`: its last keep-alive address, if that keep-alive is
    /// at most `keepalive_timeout` old at `now`; `None` if unknown or not connected.
    pub fn downlink_route(
        &self,
        id: GatewayId,
        now: SystemTime,
        keepalive_timeout: Duration,
    ) -> Option<DownlinkRoute> {
        let entry = self.entry(id)?;
        let status = entry.status();
        if !status.is_connected(now, keepalive_timeout) {
            return None;
        }
        status.downlink
    }

    fn update(&self, id: GatewayId, change: impl FnOnce(&mut GatewayStatus)) -> bool {
        match self.entry(id) {
            Some(entry) => {
                change(&mut entry.status());
                true
            }
            None => false,
        }
    }

    fn entry(&self, id: GatewayId) -> Option<Arc<Entry>> {
        self.read().get(&id).cloned()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<GatewayId, Arc<Entry>>> {
        self.gateways.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<GatewayId, Arc<Entry>>> {
        self.gateways
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A gateway's answer to a downlink, for its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownlinkAnswer {
    /// It accepted the frame for transmission.
    Accepted,
    /// It refused it.
    Refused,
}

fn view(entry: &Entry) -> GatewayView {
    GatewayView {
        gateway: entry.gateway.clone(),
        status: entry.status().clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(id: u64, name: &str) -> Gateway {
        Gateway {
            id: GatewayId::from_u64(id),
            name: name.into(),
            location: Some(Location {
                lat: 52.37,
                lon: 4.89,
                alt_m: 12.0,
            }),
            tags: vec!["roof".into()],
            tenant: None,
        }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn unknown_gateways_are_not_recorded() {
        let registry = Registry::new();
        let id = GatewayId::from_u64(1);
        assert!(!registry.record_uplink(id, SystemTime::UNIX_EPOCH, addr(1), 2, 1));
        assert!(!registry.record_keepalive(id, SystemTime::UNIX_EPOCH, addr(1), 2));
        assert_eq!(registry.status(id), None);
        assert!(registry.is_empty());
    }

    #[test]
    fn provision_update_and_remove_keep_the_status_until_removal() {
        let registry = Registry::new();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(registry.provision(gateway(0xaa, "first")), None);
        assert!(registry.record_uplink(GatewayId::from_u64(0xaa), now, addr(5000), 2, 3));
        let previous = registry.provision(gateway(0xaa, "renamed"));
        assert_eq!(previous.map(|g| g.name), Some("first".to_string()));
        let view = registry
            .view(GatewayId::from_u64(0xaa))
            .expect("provisioned");
        assert_eq!(view.gateway.name, "renamed");
        assert_eq!(view.status.frames_received, 3);
        assert_eq!(view.status.last_seen, Some(now));
        assert_eq!(view.status.uplink_addr, Some(addr(5000)));

        registry.provision(gateway(0x01, "other"));
        let ids: Vec<_> = registry.list().iter().map(|v| v.gateway.id).collect();
        assert_eq!(ids, [GatewayId::from_u64(0x01), GatewayId::from_u64(0xaa)]);

        assert!(registry.remove(GatewayId::from_u64(0xaa)).is_some());
        assert!(!registry.contains(GatewayId::from_u64(0xaa)));
        assert_eq!(registry.len(), 1);
    }

    #[test]
    fn a_gateway_is_connected_while_its_keepalive_is_recent() {
        let registry = Registry::new();
        let id = GatewayId::from_u64(7);
        registry.provision(gateway(7, "gw"));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let timeout = Duration::from_secs(30);
        assert_eq!(
            registry.downlink_route(id, t0, timeout),
            None,
            "never kept alive"
        );

        // Uplinks alone do not make a downlink route: downlinks go where PULL_DATA came from.
        registry.record_uplink(id, t0, addr(4000), 2, 1);
        assert_eq!(registry.downlink_route(id, t0, timeout), None);

        registry.record_keepalive(id, t0, addr(4001), 1);
        // An uplink in another version does not change how downlinks are sent.
        registry.record_uplink(id, t0, addr(4000), 2, 1);
        let route = DownlinkRoute {
            addr: addr(4001),
            protocol_version: 1,
        };
        assert_eq!(
            registry.downlink_route(id, t0 + timeout, timeout),
            Some(route)
        );
        let late = t0 + timeout + Duration::from_millis(1);
        assert_eq!(registry.downlink_route(id, late, timeout), None);
    }

    #[test]
    fn downlink_answers_are_counted() {
        let registry = Registry::new();
        let id = GatewayId::from_u64(9);
        registry.provision(gateway(9, "gw"));
        registry.record_downlink(id, DownlinkAnswer::Accepted);
        registry.record_downlink(id, DownlinkAnswer::Accepted);
        registry.record_downlink(id, DownlinkAnswer::Refused);
        let status = registry.status(id).expect("provisioned");
        assert_eq!((status.frames_sent, status.frames_refused), (2, 1));
    }
}
