//! A roaming federation on loopback for tests and examples: the real hub between two real
//! nsd (home: NetID 000013 with an NSID, speaking TS002 1.1, synchronous; visited: NetID
//! 000014, speaking 1.0, asynchronous — its answers and the hub's come as separate POSTs),
//! each with one simulated gateway, and the real jsd behind the hub.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use service::daemon::{Daemon, Running as Daemon_};
use service::testing::{Engine, ScratchDatabase};

use super::Running;

pub const HOME_TOKEN: &str = "home-ns-token-at-the-hub";
pub const HUB_AT_HOME: &str = "hub-token-at-the-home-ns";
pub const VISITED_TOKEN: &str = "visited-ns-token-at-hub";
pub const HUB_AT_VISITED: &str = "hub-token-at-visited-ns";
pub const HOME_NSID: &str = "0000000000000013";
pub const JSD_TOKEN: &str = "jsd-token-at-the-hub-000";
pub const HUB_AT_JSD: &str = "hub-token-at-the-jsd-000";
pub const JSD_OPS: &str = "jsd-operator-token-00000";
pub const JOIN_EUI: u64 = 0x70b3_d57e_d000_0001;

/// A free loopback port (bound, then released for the daemon to take).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// The running federation; everything stops when it is dropped.
pub struct Federation {
    /// The home network (NetID 000013).
    pub home: Running,
    /// The visited network (NetID 000014).
    pub visited: Running,
    /// The join server.
    pub jsd: Daemon_,
    /// The hub.
    pub hub: Daemon_,
    /// The hub's and the jsd's databases.
    pub dbs: [ScratchDatabase; 2],
    /// The hub's members file and policies.
    pub dir: tempfile::TempDir,
}

/// Starts the jsd, the hub, then both nsd (each has fetched its peers when this returns).
pub async fn federation() -> Federation {
    federation_with(1).await
}

/// [`federation`] with `visited_gateways` simulated gateways in the visited network.
pub async fn federation_with(visited_gateways: usize) -> Federation {
    let (hub_addr, home_addr, visited_addr) = (free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().expect("tempdir");
    // The real jsd, trusting the hub for any NetID (the hub checks who may send as which).
    let jsd_db = ScratchDatabase::create(Engine::Sqlite).await;
    let jsd_config: jsd::Config = serde_json::from_value(serde_json::json!({
        "server": { "listen": "127.0.0.1:0" },
        "database": { "url": jsd_db.config.url },
        "keys": { "master_key": "00112233445566778899aabbccddeeff" },
        "peers": [
            { "name": "hub", "token": HUB_AT_JSD, "net_ids": ["*"] },
            { "name": "ops", "token": JSD_OPS, "operator": true },
        ],
    }))
    .expect("jsd config");
    let jsd = jsd::Jsd::start(&jsd_config).await.expect("jsd starts");
    let members = dir.path().join("members.toml");
    std::fs::write(
        &members,
        format!(
            "[[member]]\nid = \"home\"\nurl = \"http://{home_addr}/bi\"\ntoken = \"{HOME_TOKEN}\"\n\
             outbound_token = \"{HUB_AT_HOME}\"\nprotocol = \"1.1\"\nnet_id = \"000013\"\n\
             nsid = \"{HOME_NSID}\"\n\n\
             [[member]]\nid = \"visited\"\nurl = \"http://{visited_addr}/bi\"\n\
             token = \"{VISITED_TOKEN}\"\noutbound_token = \"{HUB_AT_VISITED}\"\n\
             protocol = \"1.0\"\nmode = \"async\"\nnet_id = \"000014\"\n\n\
             [[member]]\nid = \"jsd\"\nurl = \"http://{}/bi\"\ntoken = \"{JSD_TOKEN}\"\n\
             outbound_token = \"{HUB_AT_JSD}\"\njoin_eui_ranges = [\"70b3d57ed0000000/56\"]\n",
            jsd.local_addr
        ),
    )
    .expect("members file");
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).expect("policies dir");
    std::fs::write(
        policies.join("roaming.toml"),
        "[[agreement]]\nid = \"home/visited\"\nbetween = [\"home\", \"visited\"]\n\n\
         [[activation]]\nid = \"everyone\"\nns = \"*\"\njs = \"*\"\nallow = true\n",
    )
    .expect("policy file");
    let hub_db = ScratchDatabase::create(Engine::Sqlite).await;
    let env: BTreeMap<String, String> = [
        ("HUB_SERVER__LISTEN", hub_addr.to_string()),
        ("HUB_DATABASE__URL", hub_db.config.url.clone()),
        ("HUB_MEMBERS__FILE", members.display().to_string()),
        ("HUB_POLICIES__DIR", policies.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config: hub::Config = service::config::load(None, "HUB", &env).expect("hub config");
    let hub = hub::Hub::start(&config).await.expect("hub starts");

    let hub_url = format!("http://{hub_addr}/bi");
    let roaming = |listen: SocketAddr, token: &str, inbound: &str, protocol: &str| {
        vec![
            ("NSD_SERVER__LISTEN".to_owned(), listen.to_string()),
            ("NSD_ROAMING__HUB_URL".to_owned(), hub_url.clone()),
            ("NSD_ROAMING__HUB_TOKEN".to_owned(), token.to_owned()),
            ("NSD_ROAMING__INBOUND_TOKEN".to_owned(), inbound.to_owned()),
            ("NSD_ROAMING__PROTOCOL".to_owned(), protocol.to_owned()),
        ]
    };
    let mut home_env = roaming(home_addr, HOME_TOKEN, HUB_AT_HOME, "1.1");
    home_env.push(("NSD_NETWORK__NSID".into(), HOME_NSID.into()));
    let mut visited_env = roaming(visited_addr, VISITED_TOKEN, HUB_AT_VISITED, "1.0");
    visited_env.push(("NSD_NETWORK__NET_ID".into(), "000014".into()));
    // The home network's joins go to the jsd through the hub.
    let home = super::start_specs_env_with(&[Default::default()], &borrowed(&home_env), |c| {
        c.join.servers.push(nsd::config::JoinServerConfig {
            url: hub_url.clone(),
            join_euis: vec!["*".into()],
            token: Some(service::config::Secret(HOME_TOKEN.into())),
            receiver_id: None,
            kek: None,
            admin_url: None,
            admin_token: None,
        })
    })
    .await;
    let visited = super::start_specs(
        &vec![Default::default(); visited_gateways],
        &borrowed(&visited_env),
    )
    .await;
    for running in [&home, &visited] {
        let roaming = running.server.roaming().expect("roaming on");
        roaming
            .refresh_peers()
            .await
            .expect("the hub's peer configuration");
        assert_eq!(roaming.peers().partners.len(), 1, "one partner each");
    }
    Federation {
        home,
        visited,
        jsd,
        hub,
        dbs: [hub_db, jsd_db],
        dir,
    }
}

fn borrowed(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}
