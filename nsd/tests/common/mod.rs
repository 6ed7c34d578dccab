//! The harness of the nsd's end-to-end tests: the real nsd started in the test process on
//! loopback ports and a scratch database, provisioned through its own API, and the
//! simulator's packet forwarders talking to it over real UDP.

#![allow(dead_code)] // each test file uses part of it

pub mod federation;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use conformance_tests::sim::crypto::DevAddr as SimDevAddr;
use conformance_tests::sim::device::SessionKeys as SimKeys;
use conformance_tests::sim::{
    Device as SimDevice, MacVersion as SimVersion, Simulation, FIRST_GATEWAY_EUI,
};
use lorawan::ids::{AesKey, DevAddr, Eui64};
use lorawan::join::MacVersion;
use lorawan::region::Region;
use nsd::app::pipeline::Served;
use nsd::app::NetworkServer;
use nsd::device::{Device, DeviceProfile, NetworkKeys, Session, SessionKeys};
use nsd::gateway::registry::{Gateway, Location};
use service::auth::OperatorConfig;
use service::testing::{Engine, ScratchDatabase};
use tokio::sync::mpsc;

/// The ABP devices' keys and address.
pub const NWK_S_KEY: [u8; 16] = [0x11; 16];
/// 1.1: SNwkSIntKey.
pub const S_NWK_S_INT_KEY: [u8; 16] = [0x33; 16];
/// 1.1: NwkSEncKey.
pub const NWK_S_ENC_KEY: [u8; 16] = [0x44; 16];
/// AppSKey.
pub const APP_S_KEY: [u8; 16] = [0x22; 16];
/// DevAddr.
pub const ADDR: u32 = 0x2600_0a01;
/// How long a test waits for anything.
pub const WAIT: Duration = Duration::from_secs(3);

/// The operator's admin API token.
pub const TOKEN: &str = "operator-token-0000001";

/// One simulated gateway as provisioned.
#[derive(Debug, Clone, Default)]
pub struct SimGatewaySpec {
    /// Its tags.
    pub tags: Vec<String>,
    /// Where it stands.
    pub location: Option<(f64, f64)>,
}

/// A running nsd with its simulator.
pub struct Running {
    /// The daemon.
    pub daemon: service::daemon::Running,
    /// Its network server.
    pub server: Arc<NetworkServer>,
    /// The packet forwarders.
    pub sim: Simulation,
    /// What became of every frame.
    pub served: mpsc::UnboundedReceiver<Served>,
    /// The admin API's base URL (operator token [`TOKEN`]).
    pub http: String,
    _scratch: ScratchDatabase,
}

/// The EUI of simulated gateway `index`.
pub fn gateway_eui(index: usize) -> Eui64 {
    Eui64::from_u64(FIRST_GATEWAY_EUI.0 + index as u64)
}

/// Starts an nsd (NetID 000013, SQLite) with `gateways` provisioned simulated gateways.
pub async fn start(gateways: usize) -> Running {
    start_with(gateways, |_| {}).await
}

/// [`start`], letting `adjust` change the config first.
pub async fn start_with(gateways: usize, adjust: impl FnOnce(&mut nsd::Config)) -> Running {
    launch(&vec![SimGatewaySpec::default(); gateways], &[], adjust).await
}

/// One simulated gateway per spec, letting `adjust` change the config first.
pub async fn start_specs_with(
    gateways: &[SimGatewaySpec],
    adjust: impl FnOnce(&mut nsd::Config),
) -> Running {
    launch(gateways, &[], adjust).await
}

/// Starts the nsd with `env` on top of the test defaults, and one simulated gateway per spec.
pub async fn start_specs(gateways: &[SimGatewaySpec], env: &[(&str, &str)]) -> Running {
    launch(gateways, env, |_| {}).await
}

/// One simulated gateway per spec, `env` on top of the test defaults, then `adjust`.
pub async fn start_specs_env_with(
    gateways: &[SimGatewaySpec],
    env: &[(&str, &str)],
    adjust: impl FnOnce(&mut nsd::Config),
) -> Running {
    launch(gateways, env, adjust).await
}

async fn launch(
    gateways: &[SimGatewaySpec],
    env: &[(&str, &str)],
    adjust: impl FnOnce(&mut nsd::Config),
) -> Running {
    let scratch = ScratchDatabase::create(Engine::Sqlite).await;
    let mut vars: BTreeMap<String, String> = [
        ("NSD_SERVER__LISTEN", "127.0.0.1:0"),
        ("NSD_GATEWAYS__UDP_LISTEN", "127.0.0.1:0"),
        ("NSD_KEYS__MASTER_KEY", "000102030405060708090a0b0c0d0e0f"),
        ("NSD_NETWORK__NET_ID", "000013"),
        ("NSD_DATABASE__URL", scratch.config.url.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in env {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    let mut config: nsd::Config = service::config::load(None, "NSD", &vars).expect("config");
    config
        .operators
        .push(OperatorConfig::with_token("ops", TOKEN));
    adjust(&mut config);
    let (tx, served) = mpsc::unbounded_channel();
    let (daemon, handles) = nsd::start_with(&config, Some(tx))
        .await
        .expect("nsd starts");
    let server = handles.server;
    for (i, spec) in gateways.iter().enumerate() {
        server
            .put_gateway(Gateway {
                id: gateway_eui(i),
                name: format!("gw{i}"),
                location: spec.location.map(|(lat, lon)| Location {
                    lat,
                    lon,
                    alt_m: 0.0,
                }),
                tags: spec.tags.clone(),
                tenant: None,
            })
            .await
            .expect("gateway");
    }
    let sim = Simulation::start(handles.udp_addr, gateways.len())
        .await
        .expect("simulator");
    assert!(sim.connect(WAIT).await, "every gateway gets its PULL_ACK");
    let http = format!("http://{}", daemon.local_addr);
    Running {
        daemon,
        server,
        sim,
        served,
        http,
        _scratch: scratch,
    }
}

/// The ABP session of the test keys for `version`.
pub fn test_session(version: MacVersion) -> Session {
    let network = if version >= MacVersion::V1_1 {
        NetworkKeys::V1_1 {
            f_nwk_s_int_key: AesKey::new(NWK_S_KEY),
            s_nwk_s_int_key: AesKey::new(S_NWK_S_INT_KEY),
            nwk_s_enc_key: AesKey::new(NWK_S_ENC_KEY),
        }
    } else {
        NetworkKeys::V1_0 {
            nwk_s_key: AesKey::new(NWK_S_KEY),
        }
    };
    Session::new(
        DevAddr::from_be_bytes(ADDR.to_be_bytes()),
        version,
        SessionKeys {
            network,
            app_s_key: Some(AesKey::new(APP_S_KEY)),
        },
    )
}

/// Provisions ABP device `dev_eui` of `profile` (created if new) with the test keys.
pub async fn abp_device_with(server: &NetworkServer, profile: DeviceProfile, dev_eui: u64) {
    let version = profile.mac_version;
    let profile_id = profile.id.clone();
    server.put_profile(profile).await.expect("profile");
    let session = test_session(version);
    server
        .put_device(
            Device {
                dev_eui: Eui64::from_u64(dev_eui),
                name: "meter".into(),
                tenant: "acme".into(),
                profile: profile_id,
                join_eui: None,
                roaming: false,
                as_link: None,
            },
            Some(session),
        )
        .await
        .expect("device");
}

/// Provisions ABP device `dev_eui` (EU868, profile "abp", the test keys) linked to an AS.
pub async fn abp_device_linked(
    server: &NetworkServer,
    version: MacVersion,
    dev_eui: u64,
    link: nsd::tunnel::config::DeviceAsLink,
) {
    abp_device(server, version, dev_eui).await;
    let view = server
        .device(Eui64::from_u64(dev_eui))
        .await
        .expect("provisioned");
    let session = test_session(version);
    server
        .put_device(
            Device {
                roaming: false,
                as_link: Some(link),
                ..view.device
            },
            Some(session),
        )
        .await
        .expect("linked");
}

/// Provisions an EU868 class A ABP device of `version`, profile "abp".
pub async fn abp_device(server: &NetworkServer, version: MacVersion, dev_eui: u64) {
    let mut profile = DeviceProfile::defaults("abp", Region::Eu868, version);
    profile.supports_join = false;
    abp_device_with(server, profile, dev_eui).await;
}

/// The simulated device matching [`abp_device`].
pub fn sim_device(version: MacVersion) -> SimDevice {
    let (sim_version, keys) = if version >= MacVersion::V1_1 {
        (
            SimVersion::V1_1,
            SimKeys::V1_1 {
                f_nwk_s_int_key: NWK_S_KEY,
                s_nwk_s_int_key: S_NWK_S_INT_KEY,
                nwk_s_enc_key: NWK_S_ENC_KEY,
                app_s_key: APP_S_KEY,
            },
        )
    } else {
        let v = match version {
            MacVersion::V1_0_4 => SimVersion::V1_0_4,
            MacVersion::V1_0_3 => SimVersion::V1_0_3,
            _ => SimVersion::V1_0_2,
        };
        (
            v,
            SimKeys::V1_0 {
                nwk_s_key: NWK_S_KEY,
                app_s_key: APP_S_KEY,
            },
        )
    };
    SimDevice::abp(sim_version, SimDevAddr(ADDR), keys).expect("device")
}

/// Provisions load device `index` of `seed` (`conformance_tests::load::uplinks::abp_identity`:
/// DevAddr `first_dev_addr + index`) as a LoRaWAN 1.0.4 ABP device of `profile` that may
/// roam, and returns the simulated device with the same keys.
pub async fn roaming_load_device(
    server: &NetworkServer,
    seed: u64,
    index: u32,
    first_dev_addr: u32,
    profile: &str,
) -> SimDevice {
    let id = conformance_tests::load::uplinks::abp_identity(
        seed,
        index,
        first_dev_addr,
        SimVersion::V1_0_4,
    );
    let SimKeys::V1_0 {
        nwk_s_key,
        app_s_key,
    } = id.keys
    else {
        unreachable!("1.0 keys for a 1.0.4 identity")
    };
    let session = Session::new(
        DevAddr::from_be_bytes(id.dev_addr.to_be_bytes()),
        MacVersion::V1_0_4,
        SessionKeys {
            network: NetworkKeys::V1_0 {
                nwk_s_key: AesKey::new(nwk_s_key),
            },
            app_s_key: Some(AesKey::new(app_s_key)),
        },
    );
    let device = Device {
        dev_eui: Eui64::from_u64(id.dev_eui.0),
        name: format!("d{index}"),
        tenant: "load".into(),
        profile: profile.into(),
        join_eui: None,
        as_link: None,
        roaming: true,
    };
    server
        .put_device(device, Some(session))
        .await
        .expect("device");
    SimDevice::abp(SimVersion::V1_0_4, SimDevAddr(id.dev_addr), id.keys).expect("device")
}

/// What became of the next frame.
pub async fn next_served(running: &mut Running) -> Served {
    tokio::time::timeout(WAIT, running.served.recv())
        .await
        .expect("a frame is served in time")
        .expect("pipeline running")
}
