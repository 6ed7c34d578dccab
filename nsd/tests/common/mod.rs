//! Starting the real nsd in this process for the downlink tests: scratch SQLite, master key,
//! loopback ports, simulated gateways provisioned with the given tags and locations.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use conformance_tests::sim::{Simulation, FIRST_GATEWAY_EUI};
use lorawan::ids::Eui64;
use nsd::app::pipeline::Served;
use nsd::app::NetworkServer;
use nsd::gateway::registry::{Gateway, Location};
use service::testing::{Engine, ScratchDatabase};
use tokio::sync::mpsc;

/// Bound on every wait.
pub const WAIT: Duration = Duration::from_secs(3);
/// The operator's admin API token.
pub const TOKEN: &str = "operator-token-0000001";

/// One simulated gateway as provisioned.
pub struct SimGatewaySpec {
    /// Its tags.
    pub tags: Vec<String>,
    /// Where it stands.
    pub location: Option<(f64, f64)>,
}

/// A running nsd with its simulator.
pub struct Running {
    pub daemon: service::daemon::Running,
    pub server: Arc<NetworkServer>,
    pub sim: Simulation,
    pub served: mpsc::UnboundedReceiver<Served>,
    pub http: String,
    _scratch: ScratchDatabase,
}

/// The EUI of simulated gateway `index`.
pub fn gateway_eui(index: usize) -> Eui64 {
    Eui64::from_u64(FIRST_GATEWAY_EUI.0 + index as u64)
}

/// Starts the nsd with `env` on top of the test defaults, and one simulated gateway per spec.
pub async fn start(gateways: &[SimGatewaySpec], env: &[(&str, &str)]) -> Running {
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
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "nsd-downlink-test-{}-{}.toml",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(
        &path,
        format!("[[operators]]\nname = \"ops\"\ntoken = \"{TOKEN}\"\n"),
    )
    .expect("config file");
    let config: nsd::Config = service::config::load(Some(&path), "NSD", &vars).expect("config");
    let _ = std::fs::remove_file(&path);
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

/// The next frame the pipeline served.
pub async fn next_served(running: &mut Running) -> Served {
    tokio::time::timeout(WAIT, running.served.recv())
        .await
        .expect("a frame is served in time")
        .expect("pipeline running")
}
