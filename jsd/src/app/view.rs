//! A device as the admin API and the command line show it: everything but secrets.

use serde::Serialize;

use crate::device::{DeviceState, Event};
use crate::join::AppSKeyDelivery;
use crate::storage::StoredDevice;

/// What `GET /api/devices/{dev_eui}` and `jsd show` print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceView {
    /// DevEUI.
    pub dev_eui: String,
    /// JoinEUI.
    pub join_eui: String,
    /// LoRaWAN version.
    pub mac_version: String,
    /// Device profile, as imported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<String>,
    /// State, with the home network when claimed or activated.
    #[serde(flatten)]
    pub state: DeviceState,
    /// Where the AppSKey of new sessions goes: `network_server`, or the AS-ID.
    pub app_s_key_delivery: DeliveryView,
    /// Last accepted DevNonce.
    pub dev_nonce_last: Option<u16>,
    /// Last JoinNonce sent.
    pub join_nonce_last: Option<u32>,
    /// Last accepted join, unix seconds.
    pub last_join_at: Option<u64>,
    /// Id of the master key sealing its root keys.
    pub sealed_with: String,
    /// Lifecycle events, oldest first.
    pub history: Vec<Event>,
    /// Events dropped to keep the history bounded.
    pub history_omitted: u64,
}

/// Where the AppSKey goes, as JSON: `{"to": "network_server"}` or
/// `{"to": "application_server", "as_id": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "to", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeliveryView {
    /// In the JoinAns, to the network server.
    NetworkServer,
    /// Withheld; the application server fetches it with AppSKeyReq.
    ApplicationServer {
        /// Its AS-ID.
        as_id: String,
    },
}

impl From<&AppSKeyDelivery> for DeliveryView {
    fn from(delivery: &AppSKeyDelivery) -> Self {
        match delivery {
            AppSKeyDelivery::ToNetworkServer => Self::NetworkServer,
            AppSKeyDelivery::ToApplicationServer { as_id } => Self::ApplicationServer {
                as_id: as_id.clone(),
            },
        }
    }
}

impl From<DeliveryView> for AppSKeyDelivery {
    fn from(view: DeliveryView) -> Self {
        match view {
            DeliveryView::NetworkServer => Self::ToNetworkServer,
            DeliveryView::ApplicationServer { as_id } => Self::ToApplicationServer { as_id },
        }
    }
}

impl From<&StoredDevice> for DeviceView {
    fn from(stored: &StoredDevice) -> Self {
        let record = &stored.record;
        Self {
            dev_eui: record.dev_eui.to_string(),
            join_eui: record.join_eui.to_string(),
            mac_version: record.mac_version.to_string(),
            profile_id: record.profile_id.clone(),
            state: record.lifecycle.state,
            app_s_key_delivery: (&stored.delivery).into(),
            dev_nonce_last: stored.nonces.dev_nonce_last,
            join_nonce_last: stored.nonces.join_nonce_last.map(|n| n.get()),
            last_join_at: stored.last_join_at,
            sealed_with: record.app_key.key_id.to_string(),
            history: record.lifecycle.history.events().to_vec(),
            history_omitted: record.lifecycle.history.omitted(),
        }
    }
}
