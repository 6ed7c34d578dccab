//! What the network server announces besides accepted uplinks and downlink fates: joins,
//! ABP counter resets and multicast frames sent. The AS tunnel turns them into reports
//! (seed 001 §6.4 notification, the multicast summary); other subscribers may listen too.

use std::sync::Arc;
use std::time::SystemTime;

use lorawan::ids::{AesKey, DevAddr, Eui64};
use lorawan::join::MacVersion;

use super::multicast::MulticastReport;
use super::NetworkServer;

/// One announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A device joined (OTAA): for LoRaWAN 1.0.x when the join-accept went out, for 1.1 when
    /// its first uplink carrying `RekeyInd` arrived (the seed's triggers).
    Joined {
        /// The device.
        dev_eui: Eui64,
        /// Its new address.
        dev_addr: DevAddr,
        /// The session's LoRaWAN version.
        mac_version: MacVersion,
        /// The new AppSKey, when the join server gave it to us (not when it is the AS's).
        app_s_key: Option<AesKey>,
        /// The triggering frame's gateway timestamp, else when it arrived.
        time: SystemTime,
    },
    /// A LoRaWAN 1.0 ABP device restarted its uplink counter (automatic reset allowed).
    CounterReset {
        /// The device.
        dev_eui: Eui64,
        /// Its address.
        dev_addr: DevAddr,
        /// The uplink's gateway timestamp, else when it arrived.
        time: SystemTime,
    },
    /// A multicast frame went out (or not) through its group's gateways.
    MulticastSent {
        /// The group's id.
        group: String,
        /// The group address.
        dev_addr: DevAddr,
        /// FPort.
        f_port: u8,
        /// What became of it per gateway.
        report: MulticastReport,
        /// When the last attempt ended.
        time: SystemTime,
    },
}

impl NetworkServer {
    /// Joins, counter resets and multicast frames, as they happen.
    pub fn subscribe_notices(&self) -> tokio::sync::broadcast::Receiver<Arc<Notice>> {
        self.notices.subscribe()
    }

    /// Announces `notice`; nobody listening is fine.
    pub(crate) fn notify(&self, notice: Notice) {
        let _ = self.notices.send(Arc::new(notice));
    }
}
