//! The devices in memory: the uplink hot path finds sessions here, never in the database.
//!
//! The storage layer loads every device at start and keeps this registry in step with each
//! write; the registry itself does no I/O.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use lorawan::ids::{DevAddr, Eui64};

use super::{Device, DeviceProfile, PreparedKeys, Session};
use crate::downlink::queue::DeviceQueue;
use crate::gateway::RxInfo;

/// One device with everything the hot path needs.
#[derive(Debug, Clone)]
pub struct DeviceEntry {
    /// The device.
    pub device: Device,
    /// Its profile.
    pub profile: Arc<DeviceProfile>,
    /// Its current session, if it has one.
    pub session: Option<Session>,
    /// The session's keys, expanded.
    pub keys: Option<PreparedKeys>,
    /// Frames waiting for the device.
    pub queue: DeviceQueue,
    /// The gateways that heard its last uplink, best first (class C downlinks go there).
    pub last_receptions: Vec<RxInfo>,
}

impl DeviceEntry {
    /// An entry, preparing the session's keys.
    pub fn new(device: Device, profile: Arc<DeviceProfile>, session: Option<Session>) -> Self {
        let keys = session.as_ref().map(|s| PreparedKeys::new(&s.keys));
        Self {
            device,
            profile,
            session,
            keys,
            queue: DeviceQueue::new(),
            last_receptions: Vec::new(),
        }
    }

    /// Replaces the session (a join, a new ABP provisioning).
    pub fn set_session(&mut self, session: Session) {
        self.keys = Some(PreparedKeys::new(&session.keys));
        self.session = Some(session);
    }
}

/// A device entry shared between the registry and the task serving one of its frames.
/// Frames of one device are served one at a time: the lock is the device's order.
pub type SharedEntry = Arc<tokio::sync::Mutex<DeviceEntry>>;

/// Every device, by DevEUI and by the DevAddr of its session.
#[derive(Debug, Default)]
pub struct DeviceRegistry {
    by_eui: RwLock<HashMap<Eui64, SharedEntry>>,
    by_addr: RwLock<HashMap<DevAddr, AddrUsers>>,
    addr_of: Mutex<HashMap<Eui64, DevAddr>>,
}

impl DeviceRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a device.
    pub fn insert(&self, entry: DeviceEntry) -> SharedEntry {
        let dev_eui = entry.device.dev_eui;
        let addr = entry.session.as_ref().map(|s| s.dev_addr);
        let shared = Arc::new(tokio::sync::Mutex::new(entry));
        write(&self.by_eui).insert(dev_eui, shared.clone());
        self.index_addr(dev_eui, addr);
        shared
    }

    /// Removes a device; returns whether it was there.
    pub fn remove(&self, dev_eui: Eui64) -> bool {
        self.index_addr(dev_eui, None);
        write(&self.by_eui).remove(&dev_eui).is_some()
    }

    /// The device with this DevEUI.
    pub fn get(&self, dev_eui: Eui64) -> Option<SharedEntry> {
        read(&self.by_eui).get(&dev_eui).cloned()
    }

    /// The devices whose session uses `dev_addr` (several devices may share one address:
    /// the MIC tells them apart).
    pub fn by_dev_addr(&self, dev_addr: DevAddr) -> Vec<SharedEntry> {
        let euis = read(&self.by_addr)
            .get(&dev_addr)
            .map(|users| users.as_slice().to_vec())
            .unwrap_or_default();
        let by_eui = read(&self.by_eui);
        euis.iter().filter_map(|e| by_eui.get(e).cloned()).collect()
    }

    /// Records that `dev_eui`'s session now uses `dev_addr` (`None`: no session).
    pub fn index_addr(&self, dev_eui: Eui64, dev_addr: Option<DevAddr>) {
        let mut addr_of = self.addr_of.lock().unwrap_or_else(|e| e.into_inner());
        let mut by_addr = write(&self.by_addr);
        if let Some(old) = addr_of.remove(&dev_eui) {
            if let Some(users) = by_addr.get_mut(&old) {
                if users.remove(dev_eui) {
                    by_addr.remove(&old);
                }
            }
        }
        if let Some(addr) = dev_addr {
            addr_of.insert(dev_eui, addr);
            match by_addr.entry(addr) {
                Entry::Occupied(mut users) => users.get_mut().push(dev_eui),
                Entry::Vacant(slot) => {
                    slot.insert(AddrUsers::One(dev_eui));
                }
            }
        }
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        read(&self.by_eui).len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every DevEUI, in no order.
    pub fn dev_euis(&self) -> Vec<Eui64> {
        read(&self.by_eui).keys().copied().collect()
    }
}

/// The devices whose session uses one DevAddr: almost always a single one, kept inline (a
/// `Vec` would cost every device a separate 32-byte heap block).
#[derive(Debug, Clone, PartialEq, Eq)]
enum AddrUsers {
    One(Eui64),
    Many(Vec<Eui64>),
}

impl AddrUsers {
    fn as_slice(&self) -> &[Eui64] {
        match self {
            AddrUsers::One(eui) => std::slice::from_ref(eui),
            AddrUsers::Many(euis) => euis,
        }
    }

    fn push(&mut self, dev_eui: Eui64) {
        match self {
            AddrUsers::One(first) => *self = AddrUsers::Many(vec![*first, dev_eui]),
            AddrUsers::Many(euis) => euis.push(dev_eui),
        }
    }

    /// Removes `dev_eui`; returns whether no device is left.
    fn remove(&mut self, dev_eui: Eui64) -> bool {
        match self {
            AddrUsers::One(eui) => *eui == dev_eui,
            AddrUsers::Many(euis) => {
                euis.retain(|e| *e != dev_eui);
                match euis.as_slice() {
                    [] => true,
                    [last] => {
                        *self = AddrUsers::One(*last);
                        false
                    }
                    _ => false,
                }
            }
        }
    }
}

// A poisoned lock only means another thread panicked while holding it; the maps stay
// consistent (every update is a single insert / remove), so keep serving.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{NetworkKeys, SessionKeys};
    use lorawan::ids::AesKey;
    use lorawan::join::MacVersion;
    use lorawan::region::Region;

    fn entry(eui: u64, addr: Option<u32>) -> DeviceEntry {
        let device = Device {
            dev_eui: Eui64::from_be_bytes(eui.to_be_bytes()),
            name: String::new(),
            tenant: "t".into(),
            profile: "p".into(),
            join_eui: None,
            roaming: false,
            as_link: None,
        };
        let profile = Arc::new(DeviceProfile::defaults(
            "p",
            Region::Eu868,
            MacVersion::V1_0_4,
        ));
        let session = addr.map(|a| {
            Session::new(
                DevAddr::from_be_bytes(a.to_be_bytes()),
                MacVersion::V1_0_4,
                SessionKeys {
                    network: NetworkKeys::V1_0 {
                        nwk_s_key: AesKey::new([1; 16]),
                    },
                    app_s_key: None,
                },
            )
        });
        DeviceEntry::new(device, profile, session)
    }

    #[test]
    fn devices_sharing_an_address_are_all_candidates_and_reindexing_moves_them() {
        let registry = DeviceRegistry::new();
        registry.insert(entry(1, Some(0x2600_0001)));
        registry.insert(entry(2, Some(0x2600_0001)));
        registry.insert(entry(3, None));
        let addr = DevAddr::from_be_bytes([0x26, 0, 0, 1]);
        assert_eq!(registry.by_dev_addr(addr).len(), 2);
        let moved = Eui64::from_be_bytes(2u64.to_be_bytes());
        registry.index_addr(moved, Some(DevAddr::from_be_bytes([0x26, 0, 0, 2])));
        assert_eq!(registry.by_dev_addr(addr).len(), 1);
        assert!(registry.remove(Eui64::from_be_bytes(1u64.to_be_bytes())));
        assert!(registry.by_dev_addr(addr).is_empty());
        assert_eq!(registry.len(), 2);
    }

    #[test]
    fn address_users_grow_and_shrink_back_to_one() {
        let e = |n: u64| Eui64::from_be_bytes(n.to_be_bytes());
        let mut users = AddrUsers::One(e(1));
        assert!(!users.remove(e(9)), "another device: nothing removed");
        users.push(e(2));
        users.push(e(3));
        assert_eq!(users.as_slice(), &[e(1), e(2), e(3)]);
        assert!(!users.remove(e(2)));
        assert!(!users.remove(e(1)));
        assert_eq!(users, AddrUsers::One(e(3)));
        assert!(users.remove(e(3)));
    }
}
