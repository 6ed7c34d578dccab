//! Provisioning: device profiles, devices (an ABP device comes with its session) and
//! gateways. Every change is written to storage first, then to memory, so what the hot path
//! serves is always what a restart would load.

use std::sync::Arc;

use lorawan::ids::Eui64;

use super::{read, unix_seconds, write, NetworkServer};
use crate::device::registry::DeviceEntry;
use crate::device::{Device, DeviceProfile, ProfileError, Session};
use crate::gateway::registry::{Gateway, GatewayView};
use crate::storage::StorageError;

/// Why a provisioning request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The profile is inconsistent.
    #[error("{0}")]
    Profile(#[from] ProfileError),
    /// The device names a profile that does not exist.
    #[error("device profile {0:?} does not exist")]
    UnknownProfile(String),
    /// An ABP device without a session, or an OTAA device with one.
    #[error("{0}")]
    Activation(String),
    /// Nothing by that id.
    #[error("{0} not found")]
    NotFound(String),
    /// Storage failed or refused (a profile still in use, …).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The join server refused to claim the device (or could not be asked).
    #[error(transparent)]
    Claim(#[from] crate::join::claim::ClaimError),
}

/// A device as the API shows it: never its keys.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceView {
    /// The device.
    pub device: Device,
    /// Its session, keys left out.
    pub session: Option<SessionView>,
}

/// A session without its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// DevAddr.
    pub dev_addr: lorawan::ids::DevAddr,
    /// L2 version of the session.
    pub mac_version: lorawan::join::MacVersion,
    /// Next expected FCntUp.
    pub f_cnt_up_next: u32,
    /// Next NFCntDown (FCntDown in 1.0).
    pub n_f_cnt_down: u32,
    /// Next AFCntDown (1.1).
    pub a_f_cnt_down: u32,
    /// Whether the nsd holds the AppSKey (else the application server does).
    pub app_s_key_held: bool,
}

impl From<&Session> for SessionView {
    fn from(s: &Session) -> Self {
        Self {
            dev_addr: s.dev_addr,
            mac_version: s.mac_version,
            f_cnt_up_next: s.f_cnt_up_next,
            n_f_cnt_down: s.n_f_cnt_down,
            a_f_cnt_down: s.a_f_cnt_down,
            app_s_key_held: s.keys.app_s_key.is_some(),
        }
    }
}

impl NetworkServer {
    /// Creates or replaces a profile; devices using it follow at once.
    pub async fn put_profile(&self, profile: DeviceProfile) -> Result<(), ProvisionError> {
        profile.check()?;
        self.devices_store
            .put_profile(&profile, unix_seconds())
            .await?;
        let profile = Arc::new(profile);
        write(&self.profiles).insert(profile.id.clone(), profile.clone());
        for dev_eui in self.registry.dev_euis() {
            if let Some(entry) = self.registry.get(dev_eui) {
                let mut entry = entry.lock().await;
                if entry.profile.id == profile.id {
                    entry.profile =
                        super::profile_for(&entry.device, &profile, self.roaming.as_deref());
                }
            }
        }
        Ok(())
    }

    /// Every profile.
    pub fn profiles(&self) -> Vec<Arc<DeviceProfile>> {
        let mut all: Vec<_> = read(&self.profiles).values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Deletes a profile no device uses.
    pub async fn delete_profile(&self, id: &str) -> Result<(), ProvisionError> {
        if !self.devices_store.delete_profile(id).await? {
            return Err(ProvisionError::NotFound(format!("device profile {id:?}")));
        }
        write(&self.profiles).remove(id);
        Ok(())
    }

    /// Creates or replaces a device. An ABP device (profile without joins) comes with its
    /// session; an OTAA device comes without, and gets one when it joins.
    pub async fn put_device(
        &self,
        device: Device,
        abp_session: Option<Session>,
    ) -> Result<DeviceView, ProvisionError> {
        let profile = read(&self.profiles)
            .get(&device.profile)
            .cloned()
            .ok_or_else(|| ProvisionError::UnknownProfile(device.profile.clone()))?;
        match (&abp_session, profile.supports_join) {
            (None, false) => {
                return Err(ProvisionError::Activation(
                    "an ABP device (its profile has supports_join = false) needs a session".into(),
                ))
            }
            (Some(_), true) => {
                return Err(ProvisionError::Activation(
                    "an OTAA device gets its session by joining; give no session".into(),
                ))
            }
            _ => {}
        }
        if let Some(link) = &device.as_link {
            if !self.as_profiles.contains_key(&link.as_id) {
                return Err(ProvisionError::Activation(format!(
                    "as_link.as_id {:?} is not an AS of [tunnel] as_profiles",
                    link.as_id
                )));
            }
        }
        if device.roaming && !crate::roaming::fns::may_roam_out(self.net_id) {
            return Err(ProvisionError::Activation(format!(
                "roaming: devices of private NetID {} cannot roam out (a dedicated NetID is needed)",
                self.net_id
            )));
        }
        if profile.supports_join && device.join_eui.is_none() {
            return Err(ProvisionError::Activation(
                "an OTAA device needs its join_eui".into(),
            ));
        }
        if let Some(session) = &abp_session {
            if session.is_1_1() != (profile.mac_version >= lorawan::join::MacVersion::V1_1) {
                return Err(ProvisionError::Activation(format!(
                    "LoRaWAN {} takes {} network keys",
                    profile.mac_version,
                    if session.is_1_1() {
                        "one (NwkSKey)"
                    } else {
                        "three (FNwkSIntKey, SNwkSIntKey, NwkSEncKey)"
                    }
                )));
            }
        }
        // A replaced device keeps its queue, and an OTAA device its session until it joins
        // again.
        let (kept_session, kept_queue) = match self.registry.get(device.dev_eui) {
            Some(entry) => {
                let entry = entry.lock().await;
                (entry.session.clone(), entry.queue.clone())
            }
            None => (None, crate::downlink::queue::DeviceQueue::new()),
        };
        let session = abp_session.or(kept_session);
        self.devices_store
            .put_device(&device, session.as_ref(), unix_seconds())
            .await?;
        let view = DeviceView {
            device: device.clone(),
            session: session.as_ref().map(SessionView::from),
        };
        let profile = super::profile_for(&device, &profile, self.roaming.as_deref());
        let mut entry = DeviceEntry::new(device, profile, session);
        entry.queue = kept_queue;
        self.registry.insert(entry);
        Ok(view)
    }

    /// Deletes a device and its session.
    pub async fn delete_device(&self, dev_eui: Eui64) -> Result<(), ProvisionError> {
        if !self.devices_store.delete_device(dev_eui).await? {
            return Err(ProvisionError::NotFound(format!("device {dev_eui}")));
        }
        self.registry.remove(dev_eui);
        Ok(())
    }

    /// One device, without keys.
    pub async fn device(&self, dev_eui: Eui64) -> Option<DeviceView> {
        let entry = self.registry.get(dev_eui)?;
        let entry = entry.lock().await;
        Some(DeviceView {
            device: entry.device.clone(),
            session: entry.session.as_ref().map(SessionView::from),
        })
    }

    /// Devices in DevEUI order after `after`, at most `limit`.
    pub async fn devices(&self, after: Option<Eui64>, limit: usize) -> Vec<DeviceView> {
        let mut euis = self.registry.dev_euis();
        euis.sort_by_key(|e| e.to_u64());
        let mut views = Vec::new();
        for eui in euis
            .into_iter()
            .filter(|e| after.is_none_or(|a| e.to_u64() > a.to_u64()))
            .take(limit)
        {
            if let Some(view) = self.device(eui).await {
                views.push(view);
            }
        }
        views
    }

    /// Creates or replaces a gateway.
    pub async fn put_gateway(&self, gateway: Gateway) -> Result<(), ProvisionError> {
        self.gateways_store.put(&gateway, unix_seconds()).await?;
        self.gateways.provision(gateway);
        Ok(())
    }

    /// Deletes a gateway: its frames are refused from now on.
    pub async fn delete_gateway(&self, id: Eui64) -> Result<(), ProvisionError> {
        if !self.gateways_store.delete(id).await? {
            return Err(ProvisionError::NotFound(format!("gateway {id}")));
        }
        self.gateways.remove(id);
        Ok(())
    }

    /// Every gateway with its status, in id order.
    pub fn gateways(&self) -> Vec<GatewayView> {
        let mut all = self.gateways.list();
        all.sort_by_key(|g| g.gateway.id.to_u64());
        all
    }
}

/// Why a downlink was not queued.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    /// No such device.
    #[error("device {0} not found")]
    NotFound(Eui64),
    /// The device has no session yet (an OTAA device that has not joined).
    #[error("device {0} has no session: it has not joined")]
    NoSession(Eui64),
    /// A clear payload, but the application server holds the AppSKey.
    #[error("the AppSKey of this session is held by the application server: send the payload encrypted, with its FCnt")]
    NoAppSKey,
    /// The queue refused it (full, bad FPort, expired, …).
    #[error(transparent)]
    Queue(#[from] crate::downlink::queue::QueueError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl NetworkServer {
    /// Queues a downlink for the device's next window (for a class C device: at once, see
    /// [`super::class_c`]); returns its id in the queue.
    pub async fn enqueue(
        &self,
        dev_eui: Eui64,
        downlink: crate::downlink::queue::NewDownlink,
    ) -> Result<u64, EnqueueError> {
        let shared = self
            .registry
            .get(dev_eui)
            .ok_or(EnqueueError::NotFound(dev_eui))?;
        let mut entry = shared.lock().await;
        let Some(session) = &entry.session else {
            return Err(EnqueueError::NoSession(dev_eui));
        };
        if session.keys.app_s_key.is_none()
            && matches!(downlink.payload, crate::downlink::queue::Payload::Clear(_))
        {
            return Err(EnqueueError::NoAppSKey);
        }
        let mut queue = entry.queue.clone();
        let id = queue.enqueue(downlink, std::time::SystemTime::now())?;
        self.devices_store
            .save_queue(dev_eui, &queue, unix_seconds())
            .await?;
        entry.queue = queue;
        // Class C: it goes out now, not at the next uplink.
        self.start_class_c(&shared, &entry);
        Ok(id)
    }

    /// The frames queued for a device.
    pub async fn queue(&self, dev_eui: Eui64) -> Option<Vec<crate::downlink::queue::QueueItem>> {
        let entry = self.registry.get(dev_eui)?;
        let entry = entry.lock().await;
        Some(entry.queue.items().cloned().collect())
    }

    /// Empties a device's queue; returns the frames removed.
    pub async fn flush_queue(
        &self,
        dev_eui: Eui64,
    ) -> Result<Vec<crate::downlink::queue::QueueItem>, EnqueueError> {
        let entry = self
            .registry
            .get(dev_eui)
            .ok_or(EnqueueError::NotFound(dev_eui))?;
        let mut entry = entry.lock().await;
        let mut queue = entry.queue.clone();
        let removed = queue.flush();
        self.devices_store
            .save_queue(dev_eui, &queue, unix_seconds())
            .await?;
        entry.queue = queue;
        Ok(removed)
    }
}
