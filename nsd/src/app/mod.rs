//! The network server at work: the state every surface (gateways, admin API, Backend
//! Interfaces) shares, and the operations that tie the pure logic ([`crate::device`],
//! [`crate::uplink`]) to storage and to the gateways. HTTP-free: the API adapts to it.
//!
//! - [`devices`]: provisioning of profiles, devices (with their ABP sessions) and gateways;
//! - [`claim`]: devices created with an owner token, claimed on (and released from) their
//!   join server;
//! - [`pipeline`]: gateway receptions → deduplication → [`NetworkServer::serve`];
//! - [`uplink`]: a deduplicated frame → its device → the application event;
//! - [`answer`]: the class A downlink that answers an uplink (ACK, queue head);
//! - [`class_c`]: class C frames sent as soon as they are queued;
//! - [`multicast`]: multicast groups and their frames;
//! - [`notice`]: joins, counter resets and multicast frames announced to subscribers;
//! - [`join`]: a join-request → `JoinReq` to the join server → session → join-accept;
//! - [`downlink`]: the gateway link and the duty-cycle ledgers, for every downlink;
//! - [`roaming`]: passive roaming through the hub, as forwarding and as serving NS.

pub mod answer;
pub mod claim;
pub mod class_c;
pub mod devices;
pub mod downlink;
pub mod join;
pub mod multicast;
pub mod notice;
pub mod pipeline;
pub mod roaming;
pub mod tunnel;
pub mod uplink;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use lorawan::ids::NetId;
use lorawan::netid::DevAddrPool;
use tokio::sync::broadcast;

use crate::device::registry::{DeviceEntry, DeviceRegistry};
use crate::device::DeviceProfile;
use crate::gateway::registry::Registry as GatewayRegistry;
use crate::storage::{DeviceStore, GatewayStore, StorageError};

pub use uplink::{UplinkEvent, UplinkOutcome};

/// How many application events a slow subscriber may fall behind before it loses some.
const EVENT_BACKLOG: usize = 4096;

/// Who the network server is and whom it talks to.
#[derive(Debug)]
pub struct Settings {
    /// Our NetID.
    pub net_id: NetId,
    /// Our NSID (TS002 1.1), when the NetID is shared.
    pub nsid: Option<String>,
    /// Where joins draw DevAddrs from.
    pub dev_addr_pool: DevAddrPool,
    /// The join servers.
    pub joins: join::Joins,
    /// The gateway link.
    pub downlinks: downlink::Downlinks,
    /// The provisioned gateways, shared with the gateway front end.
    pub gateways: Arc<GatewayRegistry>,
    /// Which tenants' gateways may serve which tenants' devices.
    pub tenancy: crate::device::tenancy::Tenancy,
    /// The application servers (LRC-AS tunnel), by AS_ID.
    pub as_profiles: HashMap<String, Arc<crate::tunnel::AsProfile>>,
    /// A gateway silent for longer is not connected (its frames cannot go down).
    pub keepalive_timeout: std::time::Duration,
    /// Passive roaming through the hub, when configured.
    pub roaming: Option<Arc<roaming::Roaming>>,
}

/// The shared state of one network server.
pub struct NetworkServer {
    net_id: NetId,
    nsid: Option<String>,
    dev_addr_pool: DevAddrPool,
    joins: join::Joins,
    downlinks: downlink::Downlinks,
    tenancy: crate::device::tenancy::Tenancy,
    as_profiles: HashMap<String, Arc<crate::tunnel::AsProfile>>,
    keepalive_timeout: std::time::Duration,
    roaming: Option<Arc<roaming::Roaming>>,
    registry: DeviceRegistry,
    profiles: RwLock<HashMap<String, Arc<DeviceProfile>>>,
    gateways: Arc<GatewayRegistry>,
    devices_store: DeviceStore,
    gateways_store: GatewayStore,
    events: broadcast::Sender<Arc<UplinkEvent>>,
    sent: broadcast::Sender<Arc<crate::tunnel::report::DownlinkSent>>,
    notices: broadcast::Sender<Arc<notice::Notice>>,
}

impl std::fmt::Debug for NetworkServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkServer")
            .field("net_id", &self.net_id)
            .field("devices", &self.registry.len())
            .finish_non_exhaustive()
    }
}

impl NetworkServer {
    /// Loads profiles, devices with their sessions, and gateways from storage.
    pub async fn load(
        settings: Settings,
        devices_store: DeviceStore,
        gateways_store: GatewayStore,
    ) -> Result<Self, StorageError> {
        let profiles: HashMap<String, Arc<DeviceProfile>> = devices_store
            .profiles()
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), Arc::new(p)))
            .collect();
        let registry = DeviceRegistry::new();
        for stored in devices_store.devices().await? {
            let Some(profile) = profiles.get(&stored.device.profile) else {
                // The foreign key makes this impossible unless the database was edited.
                tracing::error!(dev_eui = %stored.device.dev_eui, profile = %stored.device.profile, "device names a missing profile; not served");
                continue;
            };
            let profile = profile_for(&stored.device, profile, settings.roaming.as_deref());
            registry.insert(DeviceEntry::new(stored.device, profile, stored.session));
        }
        let gateways = settings.gateways;
        for gateway in gateways_store.all().await? {
            gateways.provision(gateway);
        }
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let (sent, _) = broadcast::channel(EVENT_BACKLOG);
        let (notices, _) = broadcast::channel(EVENT_BACKLOG);
        Ok(Self {
            net_id: settings.net_id,
            nsid: settings.nsid,
            dev_addr_pool: settings.dev_addr_pool,
            joins: settings.joins,
            downlinks: settings.downlinks,
            tenancy: settings.tenancy,
            as_profiles: settings.as_profiles,
            keepalive_timeout: settings.keepalive_timeout,
            roaming: settings.roaming,
            registry,
            profiles: RwLock::new(profiles),
            gateways,
            devices_store,
            gateways_store,
            events,
            sent,
            notices,
        })
    }

    /// This network's NetID.
    pub fn net_id(&self) -> NetId {
        self.net_id
    }

    /// The devices in memory.
    pub fn registry(&self) -> &DeviceRegistry {
        &self.registry
    }

    /// Application events (accepted uplinks), for the AS side and for tests.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<UplinkEvent>> {
        self.events.subscribe()
    }

    /// The fate of every application downlink (sent, or given up), for the AS side.
    pub fn subscribe_downlinks(
        &self,
    ) -> broadcast::Receiver<Arc<crate::tunnel::report::DownlinkSent>> {
        self.sent.subscribe()
    }

    /// Whether `gateway` may send downlinks: provisioned (the gateway layer knows whether it
    /// is connected and says so in its answer).
    pub fn may_transmit(&self, gateway: lorawan::ids::Eui64) -> bool {
        self.gateways.contains(gateway)
    }

    /// Whether `gateway` may serve a device of `tenant` (segregation, see
    /// [`crate::device::tenancy`]).
    pub fn serves_tenant(&self, gateway: lorawan::ids::Eui64, tenant: &str) -> bool {
        self.gateways
            .gateway(gateway)
            .is_some_and(|g| self.tenancy.may_serve(tenant, g.tenant.as_deref()))
    }

    /// The provisioned gateways with their status, shared with the gateway front end.
    pub fn gateway_registry(&self) -> &Arc<GatewayRegistry> {
        &self.gateways
    }
}

/// The profile a device is served with: its own, with the roaming RX1 delay when the device
/// may roam (the round trip through the hub does not fit in the usual 1 s), so the join
/// gives it that delay and the MAC layer asks an ABP device for it (RXTimingSetupReq).
pub(crate) fn profile_for(
    device: &crate::device::Device,
    profile: &Arc<DeviceProfile>,
    roaming: Option<&roaming::Roaming>,
) -> Arc<DeviceProfile> {
    match roaming {
        Some(roaming) if device.roaming && profile.rx1_delay_s < roaming.settings().rx1_delay_s => {
            Arc::new(DeviceProfile {
                rx1_delay_s: roaming.settings().rx1_delay_s,
                ..(**profile).clone()
            })
        }
        _ => Arc::clone(profile),
    }
}

/// Unix seconds now.
pub fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// A poisoned lock only means another thread panicked while holding it; every update under
// these locks is a single call (an insert, a remove, a ledger entry), so the state is
// consistent.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
