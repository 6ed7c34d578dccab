//! The pure cost of a join decision (MIC check, DevNonce rule, key derivation, join-accept
//! build and encryption, KEK wraps), without HTTP or storage: what one JoinReq costs the CPU
//! before the database. 1.0.4 and 1.1 devices.
//!
//! Run: `cargo bench -p jsd --bench join -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;

use backend::header::{Header, MessageType, ProtocolVersion};
use backend::message::JoinReq;
use backend::values::HexBytes;
use criterion::{criterion_group, criterion_main, Criterion};
use jsd::join::{
    decide_join, AppSKeyDelivery, Home, JoinDevice, JoinPolicy, KekTable, NamedKek, NonceState,
};
use lorawan::crypto::MicKey;
use lorawan::ids::{AesKey, DevAddr, Eui64, NetId};
use lorawan::join::{build_join_request, MacVersion};
use serde_json::Map;

fn device(version: MacVersion) -> JoinDevice {
    JoinDevice {
        dev_eui: Eui64::from_u64(0x0004_a30b_001c_0530),
        join_eui: Eui64::from_u64(0x70b3_d57e_d000_0001),
        mac_version: version,
        app_key: AesKey::new([0x2b; 16]),
        nwk_key: (version == MacVersion::V1_1).then(|| AesKey::new([0x3c; 16])),
        home: Some(Home {
            net_id: NetId::from_u32(0x13).expect("24 bits"),
            nsid: None,
        }),
        app_s_key_delivery: AppSKeyDelivery::ToNetworkServer,
        nonces: NonceState::default(),
    }
}

fn request(device: &JoinDevice, mac_version: &str, dl_settings: u8) -> JoinReq {
    let key = device.join_request_mic_key().expect("a key");
    let phy = build_join_request(&MicKey::new(key), device.join_eui, device.dev_eui, 1);
    JoinReq {
        header: Header::new(
            ProtocolVersion::V1_1,
            MessageType::JoinReq,
            String::from("000013"),
            device.join_eui.to_string(),
            Some(1),
        ),
        mac_version: mac_version.into(),
        phy_payload: HexBytes(phy.to_vec()),
        dev_eui: device.dev_eui,
        dev_addr: DevAddr::from_u32(0x2601_1bda),
        dl_settings: HexBytes(vec![dl_settings]),
        rx_delay: 1,
        cf_list: None,
        extra: Map::new(),
    }
}

fn decide(c: &mut Criterion) {
    let kek = NamedKek::new("ns-13", AesKey::new([0x4b; 16])).expect("label");
    let keks = KekTable::new().with_network_server(NetId::from_u32(0x13).expect("24 bits"), kek);
    let policy = JoinPolicy::default();
    for (name, version, mac, dl) in [
        ("decide_join 1.0.4", MacVersion::V1_0_4, "1.0.4", 0x03),
        ("decide_join 1.1", MacVersion::V1_1, "1.1", 0x83),
    ] {
        let device = device(version);
        let request = request(&device, mac, dl);
        c.bench_function(name, |b| {
            b.iter(|| {
                decide_join(
                    black_box(Some(&device)),
                    black_box(&request),
                    &keks,
                    &policy,
                )
            })
        });
    }
}

criterion_group!(benches, decide);
criterion_main!(benches);
