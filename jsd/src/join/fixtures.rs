//! Devices, KEKs and requests shared by the join tests.

use backend::header::{Header, MessageType, ProtocolVersion};
use backend::message::JoinReq;
use backend::values::HexBytes;
use lorawan::crypto::MicKey;
use lorawan::ids::{AesKey, DevAddr, Eui64, NetId};
use lorawan::join::{build_join_request, MacVersion};
use lorawan::phy::DlSettings;
use serde_json::Map;

use super::device::{AppSKeyDelivery, Home, JoinDevice, NonceState};
use super::keks::{KekTable, NamedKek};

/// The home network of the fixture devices.
pub(crate) const HOME: NetId = NetId::from_be_bytes([0x00, 0x00, 0x13]);
/// The label of the KEK agreed with [`HOME`].
pub(crate) const KEK_LABEL: &str = "ns-000013";

pub(crate) fn kek() -> AesKey {
    AesKey::new([0x4b; 16])
}

pub(crate) fn keks() -> KekTable {
    let kek = NamedKek::new(KEK_LABEL, kek()).expect("a label");
    KekTable::new().with_network_server(HOME, kek)
}

pub(crate) fn device_1_0(version: MacVersion) -> JoinDevice {
    JoinDevice {
        dev_eui: Eui64::from_u64(0x0004_a30b_001c_0530),
        join_eui: Eui64::from_u64(0x70b3_d57e_d000_0001),
        mac_version: version,
        app_key: AesKey::new([0x2b; 16]),
        nwk_key: None,
        home: Some(Home {
            net_id: HOME,
            nsid: None,
        }),
        app_s_key_delivery: AppSKeyDelivery::ToNetworkServer,
        nonces: NonceState::default(),
    }
}

pub(crate) fn device_1_1() -> JoinDevice {
    JoinDevice {
        mac_version: MacVersion::V1_1,
        nwk_key: Some(AesKey::new([0x3c; 16])),
        ..device_1_0(MacVersion::V1_1)
    }
}

/// A header from the home NS to the device's JS.
pub(crate) fn header(message_type: MessageType, device: &JoinDevice) -> Header {
    Header::new(
        ProtocolVersion::V1_1,
        message_type,
        HOME.to_string(),
        device.join_eui.to_string(),
        Some(7),
    )
}

/// A JoinReq for `device` with a correctly signed join-request.
pub(crate) fn join_req(
    device: &JoinDevice,
    dev_nonce: u16,
    dl_settings: DlSettings,
    mac_version: &str,
) -> JoinReq {
    let key = device.join_request_mic_key().unwrap_or(&device.app_key);
    let phy = build_join_request(
        &MicKey::new(key),
        device.join_eui,
        device.dev_eui,
        dev_nonce,
    );
    JoinReq {
        header: header(MessageType::JoinReq, device),
        mac_version: mac_version.into(),
        phy_payload: HexBytes(phy.to_vec()),
        dev_eui: device.dev_eui,
        dev_addr: DevAddr::from_u32(0x2601_1bda),
        dl_settings: HexBytes(vec![dl_settings.byte()]),
        rx_delay: 1,
        cf_list: None,
        extra: Map::new(),
    }
}
