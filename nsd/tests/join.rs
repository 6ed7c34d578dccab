//! Joins end to end: a real jsd and a real nsd started in this process on loopback ports,
//! each on its own scratch SQLite database, and the simulator's devices and packet
//! forwarders over real UDP. A join-request heard by two gateways becomes a `JoinReq` to the
//! jsd over HTTP; its join-accept goes out through the best gateway 5 s (JOIN_ACCEPT_DELAY1)
//! after the request, timed on the gateway's counter (the simulator reports the `txpk` at
//! once, so nothing here waits 5 s); the device's new session then carries data both ways.
//! Refusals carry the join server's ResultCode; devices created on the nsd with an owner
//! token are claimed on the jsd first, and released when deleted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use conformance_tests::sim::{
    Device as SimDevice, Eui64 as SimEui64, Heard, MacVersion as SimVersion, OtaaKeys, RadioParams,
    Simulation, Uplink, FIRST_GATEWAY_EUI,
};
use lorawan::ids::{AesKey, Eui64};
use lorawan::join::MacVersion;
use lorawan::region::Region;
use nsd::app::join::JoinOutcome;
use nsd::app::pipeline::Served;
use nsd::app::uplink::AppPayload;
use nsd::app::{NetworkServer, UplinkOutcome};
use nsd::config::{JoinServerConfig, KekConfig};
use nsd::device::{Device, DeviceProfile};
use nsd::gateway::registry::Gateway;
use serde_json::{json, Value};
use service::auth::OperatorConfig;
use service::config::Secret;
use service::daemon::Daemon;
use service::testing::{Engine, ScratchDatabase};
use tokio::sync::mpsc;

/// The nsd's bearer token at the jsd (peer of NetID 000013), for `/bi` and the admin API.
const NS_TOKEN: &str = "token-of-the-nsd-of-000013";
/// The jsd's operator.
const JS_OPS_TOKEN: &str = "token-of-the-jsd-operator";
/// The nsd's operator.
const NS_OPS_TOKEN: &str = "token-of-the-nsd-operator";
/// The KEK the jsd and the nsd of NetID 000013 agreed on.
const KEK: [u8; 16] = [0x13; 16];
const KEK_LABEL: &str = "ns-000013-kek";
const JOIN_EUI: u64 = 0x70b3_d57e_d000_0001;
const WAIT: Duration = Duration::from_secs(5);
/// The DevAddrs the nsd hands out: a /20 of NetID 000013's range (2600_0000/7).
const POOL: &str = "27a51000/20";

// ---------------------------------------------------------------------------------------
// The join server
// ---------------------------------------------------------------------------------------

struct Jsd {
    running: service::daemon::Running,
    http: reqwest::Client,
    _scratch: ScratchDatabase,
}

impl Jsd {
    /// A jsd knowing the nsd (NetID 000013) and an operator; `kek`: it wraps the session keys
    /// it sends NetID 000013.
    async fn start(kek: bool) -> Self {
        let scratch = ScratchDatabase::create(Engine::Sqlite).await;
        let mut config = json!({
            "server": { "listen": "127.0.0.1:0" },
            "database": { "url": scratch.config.url },
            "keys": { "master_key": "00112233445566778899aabbccddeeff" },
            "peers": [
                { "name": "nsd-13", "token": NS_TOKEN, "net_ids": ["000013"] },
                { "name": "ops", "token": JS_OPS_TOKEN, "operator": true },
            ],
        });
        if kek {
            config["keks"] = json!([{
                "net_id": "000013", "label": KEK_LABEL, "key": hex::encode(KEK),
            }]);
        }
        let config: jsd::Config = serde_json::from_value(config).expect("jsd config");
        let running = jsd::Jsd::start(&config).await.expect("jsd starts");
        Self {
            running,
            http: reqwest::Client::new(),
            _scratch: scratch,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.running.local_addr)
    }

    /// An admin request as the jsd's operator.
    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url()))
            .bearer_auth(JS_OPS_TOKEN);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("jsd answers");
        assert!(response.status().is_success(), "jsd {path}: {response:?}");
        serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON")
    }

    /// The manufacturer's import: returns each device's owner token.
    async fn import(&self, devices: &[&TestDevice]) -> Vec<String> {
        let rows: Vec<Value> = devices.iter().map(|d| d.import_row()).collect();
        let answer = self
            .admin(
                reqwest::Method::POST,
                "/api/imports?batch=test",
                Some(json!({ "devices": rows })),
            )
            .await;
        answer["devices"]
            .as_array()
            .expect("devices")
            .iter()
            .map(|d| d["owner_token"].as_str().expect("token").to_owned())
            .collect()
    }

    /// Claims a device for `home_net_id` as the operator.
    async fn claim(&self, device: &TestDevice, token: &str, home_net_id: &str) {
        let answer = self
            .admin(
                reqwest::Method::POST,
                &format!("/api/devices/{}/claim", device.dev_eui()),
                Some(json!({ "owner_token": token, "home_net_id": home_net_id })),
            )
            .await;
        assert_eq!(answer["outcome"], "claimed");
    }

    /// The device as the jsd's operator sees it.
    async fn device(&self, device: &TestDevice) -> Value {
        self.admin(
            reqwest::Method::GET,
            &format!("/api/devices/{}", device.dev_eui()),
            None,
        )
        .await
    }
}

/// A device its manufacturer imported into the jsd.
struct TestDevice {
    n: u64,
    version: SimVersion,
}

impl TestDevice {
    fn new(n: u64, version: SimVersion) -> Self {
        Self { n, version }
    }

    fn dev_eui(&self) -> Eui64 {
        Eui64::from_u64(0x0004_a30b_0000_0000 | self.n)
    }

    fn app_key(&self) -> [u8; 16] {
        [0x2b ^ self.n as u8; 16]
    }

    fn nwk_key(&self) -> Option<[u8; 16]> {
        (self.version == SimVersion::V1_1).then_some([0x3c ^ self.n as u8; 16])
    }

    fn mac_version(&self) -> MacVersion {
        match self.version {
            SimVersion::V1_1 => MacVersion::V1_1,
            _ => MacVersion::V1_0_4,
        }
    }

    fn import_row(&self) -> Value {
        let mut row = json!({
            "DevEUI": self.dev_eui().to_string(),
            "JoinEUI": Eui64::from_u64(JOIN_EUI).to_string(),
            "AppKey": hex::encode(self.app_key()),
            "LoRaWANVersion": self.mac_version().to_string(),
        });
        if let Some(key) = self.nwk_key() {
            row["NwkKey"] = hex::encode(key).into();
        }
        row
    }

    /// The device itself, in the simulator.
    fn sim(&self) -> SimDevice {
        SimDevice::otaa(
            self.version,
            OtaaKeys {
                dev_eui: SimEui64(self.dev_eui().to_u64()),
                join_eui: SimEui64(JOIN_EUI),
                app_key: self.app_key(),
                nwk_key: self.nwk_key(),
            },
        )
        .expect("device")
    }

    /// The device as the nsd's operator provisions it.
    fn nsd_device(&self) -> Device {
        Device {
            dev_eui: self.dev_eui(),
            name: format!("sensor {}", self.n),
            tenant: "acme".into(),
            profile: profile_id(self.mac_version()),
            join_eui: Some(Eui64::from_u64(JOIN_EUI)),
            roaming: false,
            as_link: None,
        }
    }
}

fn profile_id(version: MacVersion) -> String {
    format!("otaa-{version}")
}

// ---------------------------------------------------------------------------------------
// The network server
// ---------------------------------------------------------------------------------------

struct Nsd {
    daemon: service::daemon::Running,
    server: Arc<NetworkServer>,
    sim: Simulation,
    served: mpsc::UnboundedReceiver<Served>,
    http: reqwest::Client,
    _scratch: ScratchDatabase,
}

/// How the nsd reaches the jsd.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// `/bi` only, keys in clear.
    Bi,
    /// `/bi` with the KEK.
    BiWithKek,
    /// `/bi` and the admin API (claims).
    BiAndAdmin,
}

/// An nsd of NetID 000013 with two gateways, OTAA profiles for 1.0.4 and 1.1, and the jsd as
/// the join server of every JoinEUI.
async fn start_nsd(jsd: &Jsd, reach: Reach) -> Nsd {
    start_nsd_with(jsd, reach, |_| {}).await
}

/// [`start_nsd`], letting `adjust` change the config first.
async fn start_nsd_with(jsd: &Jsd, reach: Reach, adjust: impl FnOnce(&mut nsd::Config)) -> Nsd {
    let scratch = ScratchDatabase::create(Engine::Sqlite).await;
    let env: BTreeMap<String, String> = [
        ("NSD_SERVER__LISTEN", "127.0.0.1:0"),
        ("NSD_GATEWAYS__UDP_LISTEN", "127.0.0.1:0"),
        ("NSD_KEYS__MASTER_KEY", "000102030405060708090a0b0c0d0e0f"),
        ("NSD_NETWORK__NET_ID", "000013"),
        ("NSD_NETWORK__DEV_ADDR_POOL", POOL),
        ("NSD_DATABASE__URL", scratch.config.url.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut config: nsd::Config = service::config::load(None, "NSD", &env).expect("config");
    config.join.servers.push(JoinServerConfig {
        url: format!("{}/bi", jsd.url()),
        join_euis: vec!["70b3d57ed0000000..=70b3d57ed0ffffff".into()],
        token: Some(Secret(NS_TOKEN.into())),
        receiver_id: None,
        kek: (reach == Reach::BiWithKek).then(|| KekConfig {
            label: KEK_LABEL.into(),
            key: Secret(AesKey::new(KEK)),
        }),
        admin_url: (reach == Reach::BiAndAdmin).then(|| jsd.url()),
        admin_token: None,
    });
    config
        .operators
        .push(OperatorConfig::with_token("ops", NS_OPS_TOKEN));
    adjust(&mut config);
    let (tx, served) = mpsc::unbounded_channel();
    let (daemon, handles) = nsd::start_with(&config, Some(tx))
        .await
        .expect("nsd starts");
    let server = handles.server;
    for i in 0..2 {
        server
            .put_gateway(Gateway {
                id: Eui64::from_u64(FIRST_GATEWAY_EUI.0 + i),
                name: format!("gw{i}"),
                location: None,
                tags: vec![],
                tenant: None,
            })
            .await
            .expect("gateway");
    }
    for version in [MacVersion::V1_0_4, MacVersion::V1_1] {
        let profile = DeviceProfile::defaults(&profile_id(version), Region::Eu868, version);
        server.put_profile(profile).await.expect("profile");
    }
    let sim = Simulation::start(handles.udp_addr, 2)
        .await
        .expect("simulator");
    assert!(sim.connect(WAIT).await, "every gateway gets its PULL_ACK");
    Nsd {
        daemon,
        server,
        sim,
        served,
        http: reqwest::Client::new(),
        _scratch: scratch,
    }
}

impl Nsd {
    async fn next_served(&mut self) -> Served {
        tokio::time::timeout(WAIT, self.served.recv())
            .await
            .expect("a frame is served in time")
            .expect("pipeline running")
    }

    /// An admin request as the nsd's operator: the status and the JSON answer (`Null` when
    /// empty).
    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("http://{}{path}", self.daemon.local_addr))
            .bearer_auth(NS_OPS_TOKEN);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("nsd answers");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("body");
        let json = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).expect("JSON")
        };
        (status, json)
    }
}

/// The radio of every frame here: EU868 channel 0 (868.1 MHz), DR5.
fn radio() -> RadioParams {
    RadioParams::eu868(5, 0).expect("channel")
}

/// An uplink on [`radio`]: TxDr and TxCh go into the 1.1 MIC.
fn on_radio(up: Uplink<'_>) -> Uplink<'_> {
    Uplink {
        tx_dr: 5,
        tx_ch: 0,
        ..up
    }
}

/// Gateway 1 hears best.
fn heard() -> [Heard; 2] {
    [Heard::new(0, -110, -3.0), Heard::new(1, -70, 8.5)]
}

/// `device` joins through both gateways: the join-accept comes through the best one, in RX1
/// (JOIN_ACCEPT_DELAY1 after the request, same channel); returns whether OptNeg was set.
async fn join(nsd: &mut Nsd, device: &mut SimDevice) -> bool {
    let request = device.join_request().expect("join-request");
    let report = nsd
        .sim
        .uplink(&request, &radio(), &heard())
        .await
        .expect("sent");
    assert!(report.all_acked());
    let accept = nsd.sim.next_downlink(WAIT).await.expect("the join-accept");
    assert_eq!(
        accept.gateway.0,
        FIRST_GATEWAY_EUI.0 + 1,
        "the best gateway"
    );
    assert_eq!(
        accept.delay_after(report.tmst(1).expect("tmst")),
        Some(Duration::from_secs(5))
    );
    assert_eq!(accept.freq_hz, 868_100_000);
    let accepted = device
        .accept_join_accept(&accept.phy)
        .expect("a valid join-accept");
    assert_eq!(accepted.net_id, 0x13);
    // NetID 000013 is of type 0: its DevAddrs start with 0 and the 6-bit NwkID 0x13.
    assert_eq!(accepted.dev_addr.0 >> 25, 0x13, "a DevAddr of our NetID");
    assert_eq!(
        accepted.dev_addr.0 >> 12,
        0x27a51,
        "a DevAddr of the pool {POOL}"
    );
    match nsd.next_served().await {
        Served::Join(JoinOutcome::Joined {
            dev_eui, dev_addr, ..
        }) => {
            assert_eq!(
                dev_eui.to_u64(),
                device.otaa_keys().expect("otaa").dev_eui.0
            );
            assert_eq!(dev_addr.to_string(), format!("{:08x}", accepted.dev_addr.0));
        }
        other => panic!("expected a join, got {other:?}"),
    }
    accepted.opt_neg
}

/// With its new session, `device` sends data: an unconfirmed frame is accepted, a confirmed
/// one is acknowledged in RX1 through the best gateway.
async fn exchange_data(nsd: &mut Nsd, device: &mut SimDevice) {
    let up = device
        .uplink(&on_radio(Uplink::unconfirmed(2, b"joined")))
        .expect("uplink");
    nsd.sim.uplink(&up, &radio(), &heard()).await.expect("sent");
    match nsd.next_served().await {
        Served::Uplink(UplinkOutcome::Accepted(event), _) => {
            assert_eq!(event.payload, Some(AppPayload::Clear(b"joined".to_vec())));
            assert_eq!(event.f_cnt, 0);
        }
        other => panic!("expected an accepted uplink, got {other:?}"),
    }
    // Whatever the network said in answer (MAC commands), the device reads it.
    for down in nsd.sim.drain_downlinks(Duration::from_millis(300)).await {
        device.accept_downlink(&down.phy).expect("valid downlink");
    }
    let up = device
        .uplink(&on_radio(Uplink::confirmed(2, b"ack me")))
        .expect("uplink");
    let report = nsd.sim.uplink(&up, &radio(), &heard()).await.expect("sent");
    let down = nsd.sim.next_downlink(WAIT).await.expect("the ACK");
    assert_eq!(down.gateway.0, FIRST_GATEWAY_EUI.0 + 1);
    assert_eq!(
        down.delay_after(report.tmst(1).expect("tmst")),
        Some(Duration::from_secs(1))
    );
    let frame = device.accept_downlink(&down.phy).expect("valid downlink");
    assert!(frame.ack);
    assert!(matches!(
        nsd.next_served().await,
        Served::Uplink(UplinkOutcome::Accepted(_), Some(_))
    ));
}

/// The refusal of the next frame served, once no join-accept went out.
async fn refused_join(nsd: &mut Nsd) -> String {
    let reason = match nsd.next_served().await {
        Served::Join(JoinOutcome::Refused(reason)) => reason,
        other => panic!("expected a refused join, got {other:?}"),
    };
    assert!(
        nsd.sim
            .next_downlink(Duration::from_millis(300))
            .await
            .is_none(),
        "nothing is sent to a device the join server refused"
    );
    reason
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn otaa_1_0_4_joins_then_a_replayed_join_request_is_refused() {
    let jsd = Jsd::start(false).await;
    let device = TestDevice::new(1, SimVersion::V1_0_4);
    let tokens = jsd.import(&[&device]).await;
    jsd.claim(&device, &tokens[0], "000013").await;
    let mut nsd = start_nsd(&jsd, Reach::Bi).await;
    nsd.server
        .put_device(device.nsd_device(), None)
        .await
        .expect("device");

    let mut sim = device.sim();
    assert!(!join(&mut nsd, &mut sim).await, "no OptNeg for 1.0.4");
    exchange_data(&mut nsd, &mut sim).await;
    assert_eq!(jsd.device(&device).await["state"], "activated");

    // The same DevNonce again (a recorded join-request replayed): the join server refuses,
    // nothing goes out, and the device keeps its session.
    let replay = sim.join_request_with_dev_nonce(0).expect("join-request");
    nsd.sim
        .uplink(&replay, &radio(), &heard())
        .await
        .expect("sent");
    let reason = refused_join(&mut nsd).await;
    assert!(reason.contains("JoinReqFailed"), "{reason}");
    assert!(reason.contains("DevNonce 0"), "{reason}");
    let up = sim
        .uplink(&on_radio(Uplink::unconfirmed(2, b"still")))
        .expect("uplink");
    nsd.sim.uplink(&up, &radio(), &heard()).await.expect("sent");
    assert!(matches!(
        nsd.next_served().await,
        Served::Uplink(UplinkOutcome::Accepted(_), _)
    ));
    nsd.daemon.stop().await.expect("nsd stops");
    jsd.running.stop().await.expect("jsd stops");
}

#[tokio::test]
async fn otaa_1_1_with_keys_wrapped_by_the_kek() {
    let jsd = Jsd::start(true).await;
    let device = TestDevice::new(2, SimVersion::V1_1);
    let tokens = jsd.import(&[&device]).await;
    jsd.claim(&device, &tokens[0], "000013").await;
    let mut nsd = start_nsd(&jsd, Reach::BiWithKek).await;
    nsd.server
        .put_device(device.nsd_device(), None)
        .await
        .expect("device");

    let mut sim = device.sim();
    assert!(join(&mut nsd, &mut sim).await, "OptNeg: a 1.1 network");
    assert!(sim.session().expect("session").is_1_1(), "split keys");
    let view = nsd.server.device(device.dev_eui()).await.expect("device");
    let session = view.session.expect("the session from the JoinAns");
    assert_eq!(session.mac_version, MacVersion::V1_1);
    assert!(session.app_s_key_held);
    exchange_data(&mut nsd, &mut sim).await;
    nsd.daemon.stop().await.expect("nsd stops");
    jsd.running.stop().await.expect("jsd stops");
}

#[tokio::test]
async fn keys_wrapped_with_a_kek_the_nsd_lacks_fail_the_join() {
    let jsd = Jsd::start(true).await;
    let device = TestDevice::new(3, SimVersion::V1_0_4);
    let tokens = jsd.import(&[&device]).await;
    jsd.claim(&device, &tokens[0], "000013").await;
    let mut nsd = start_nsd(&jsd, Reach::Bi).await;
    nsd.server
        .put_device(device.nsd_device(), None)
        .await
        .expect("device");
    let mut sim = device.sim();
    let request = sim.join_request().expect("join-request");
    nsd.sim
        .uplink(&request, &radio(), &heard())
        .await
        .expect("sent");
    let reason = refused_join(&mut nsd).await;
    assert!(reason.contains(KEK_LABEL), "{reason}");
    nsd.daemon.stop().await.expect("nsd stops");
    jsd.running.stop().await.expect("jsd stops");
}

#[tokio::test]
async fn devices_not_claimed_for_our_net_id_are_refused_by_the_join_server() {
    let jsd = Jsd::start(false).await;
    let generic = TestDevice::new(4, SimVersion::V1_0_4);
    let elsewhere = TestDevice::new(5, SimVersion::V1_1);
    let tokens = jsd.import(&[&generic, &elsewhere]).await;
    jsd.claim(&elsewhere, &tokens[1], "000014").await;
    let mut nsd = start_nsd(&jsd, Reach::Bi).await;
    for device in [&generic, &elsewhere] {
        nsd.server
            .put_device(device.nsd_device(), None)
            .await
            .expect("device");
        let mut sim = device.sim();
        let request = sim.join_request().expect("join-request");
        nsd.sim
            .uplink(&request, &radio(), &heard())
            .await
            .expect("sent");
        let reason = refused_join(&mut nsd).await;
        assert!(reason.contains("ActivationDisallowed"), "{reason}");
        assert!(nsd
            .server
            .device(device.dev_eui())
            .await
            .expect("device")
            .session
            .is_none());
    }
    nsd.daemon.stop().await.expect("nsd stops");
    jsd.running.stop().await.expect("jsd stops");
}

#[tokio::test]
async fn devices_created_with_an_owner_token_are_claimed_and_released_on_delete() {
    let jsd = Jsd::start(false).await;
    let device = TestDevice::new(6, SimVersion::V1_0_4);
    let taken = TestDevice::new(7, SimVersion::V1_0_4);
    let doomed = TestDevice::new(8, SimVersion::V1_0_4);
    let tokens = jsd.import(&[&device, &taken, &doomed]).await;
    jsd.claim(&taken, &tokens[1], "000014").await;
    let mut nsd = start_nsd(&jsd, Reach::BiAndAdmin).await;
    let body = |token: &str| {
        json!({
            "tenant": "acme", "profile": "otaa-1.0.4", "owner_token": token,
            "join_eui": Eui64::from_u64(JOIN_EUI).to_string(),
        })
    };
    let path = |device: &TestDevice| format!("/api/devices/{}", device.dev_eui());
    let put = reqwest::Method::PUT;

    // A wrong owner token: the jsd's code and message, and nothing stored.
    let wrong = "000102030405060708090a0b0c0d0e0f";
    let (status, answer) = nsd
        .admin(put.clone(), &path(&device), Some(body(wrong)))
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer,
        json!({"error": "invalid_token", "message": "invalid owner token"})
    );
    let (status, _) = nsd.admin(reqwest::Method::GET, &path(&device), None).await;
    assert_eq!(status, 404);
    assert_eq!(jsd.device(&device).await["state"], "generic");

    // The right one: claimed for our NetID, then stored; the device joins.
    let (status, answer) = nsd
        .admin(put.clone(), &path(&device), Some(body(&tokens[0])))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["join_eui"], Eui64::from_u64(JOIN_EUI).to_string());
    let shown = jsd.device(&device).await;
    assert_eq!(
        (&shown["state"], &shown["home_net_id"]),
        (&json!("claimed"), &json!("000013"))
    );
    let mut sim = device.sim();
    join(&mut nsd, &mut sim).await;
    // Provisioning it again with its token changes nothing on the jsd.
    let (status, _) = nsd
        .admin(put.clone(), &path(&device), Some(body(&tokens[0])))
        .await;
    assert_eq!(status, 200);

    // Held by another network: 409 with the jsd's code.
    let (status, answer) = nsd
        .admin(put.clone(), &path(&taken), Some(body(&tokens[1])))
        .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"], "already_claimed");

    // Deleting releases it on the jsd.
    let (status, answer) = nsd
        .admin(reqwest::Method::DELETE, &path(&device), None)
        .await;
    assert_eq!(status, 204, "{answer}");
    assert_eq!(jsd.device(&device).await["state"], "unclaimed");

    // The jsd gone: the device is deleted all the same, and the failed release is reported.
    let (status, _) = nsd.admin(put, &path(&doomed), Some(body(&tokens[2]))).await;
    assert_eq!(status, 200);
    jsd.running.stop().await.expect("jsd stops");
    let (status, answer) = nsd
        .admin(reqwest::Method::DELETE, &path(&doomed), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["deleted"], true);
    assert_eq!(answer["unclaim_error"]["error"], "join_server_unavailable");
    let (status, _) = nsd.admin(reqwest::Method::GET, &path(&doomed), None).await;
    assert_eq!(status, 404);
    nsd.daemon.stop().await.expect("nsd stops");
}

/// The AS's side of the tunnel: its URL and the bodies it receives.
async fn application_server() -> (String, mpsc::UnboundedReceiver<(String, String)>) {
    use axum::extract::RawQuery;
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/as",
        axum::routing::post(move |RawQuery(query): RawQuery, body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((query.unwrap_or_default(), body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/as"), rx)
}

#[tokio::test]
async fn a_1_0_4_join_is_notified_to_the_as_with_the_app_s_key_wrapped_by_its_transport_key() {
    join_notification(SimVersion::V1_0_4).await;
}

#[tokio::test]
async fn a_1_1_join_is_notified_on_the_rekey_ind_uplink() {
    join_notification(SimVersion::V1_1).await;
}

/// The `join` notification (seed 001 §6.4.1): at the join-request for 1.0.4 (DevNonce
/// counter-based), on the uplink carrying `RekeyInd` for 1.1; `Var1` the AppSKey the device
/// derived, wrapped with the AS transport key.
async fn join_notification(version: SimVersion) {
    use nsd::tunnel::config::{AsProfileConfig, ContentTypeConfig, DeviceAsLink, RouteConfig};
    const ASTK: [u8; 16] = [0x5a; 16];
    let v1_1 = version == SimVersion::V1_1;
    let (as_url, mut reports) = application_server().await;
    let jsd = Jsd::start(v1_1).await;
    let device = TestDevice::new(7, version);
    let tokens = jsd.import(&[&device]).await;
    jsd.claim(&device, &tokens[0], "000013").await;
    let reach = if v1_1 { Reach::BiWithKek } else { Reach::Bi };
    let mut nsd = start_nsd_with(&jsd, reach, |config| {
        config.tunnel.as_profiles.push(AsProfileConfig {
            as_id: "as-1".into(),
            key: Some(Secret(
                "46ab678cd45df4a4e4b375eacd096acc".parse().expect("key"),
            )),
            transport_key: Some(Secret(AesKey::new(ASTK))),
            max_time_deviation_s: 60,
            max_in_flight: 4,
            timeout_ms: 2000,
            routes: vec![RouteConfig {
                url: as_url.clone(),
                content_type: ContentTypeConfig::Json,
            }],
        });
    })
    .await;
    let mut provisioned = device.nsd_device();
    provisioned.as_link = Some(DeviceAsLink {
        as_id: "as-1".into(),
        lrn_infos: String::new(),
        customer_id: "100".into(),
        customer_data: None,
        driver_cfg: None,
        downlink_rate_per_s: None,
        downlink_burst: None,
        confirmed_downlinks: true,
    });
    nsd.server
        .put_device(provisioned, None)
        .await
        .expect("device");

    let mut sim = device.sim();
    join(&mut nsd, &mut sim).await;
    if v1_1 {
        // Nothing yet: the 1.1 join is reported on the RekeyInd uplink (CID 0x0B, minor 1).
        assert!(
            tokio::time::timeout(Duration::from_millis(300), reports.recv())
                .await
                .is_err(),
            "no notification before RekeyInd"
        );
        let up = sim
            .uplink(&on_radio(Uplink::mac_only(&[0x0b, 0x01])))
            .expect("uplink");
        nsd.sim.uplink(&up, &radio(), &heard()).await.expect("sent");
    }
    let (query, body) = tokio::time::timeout(WAIT, reports.recv())
        .await
        .expect("a notification in time")
        .expect("AS running");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    let n = &body["DevEUI_notification"];
    assert_eq!(n["Type"], "join", "{body}");
    assert_eq!(n["DevEUI"], format!("{:X}", device.dev_eui()), "{body}");
    let counter = if v1_1 { "AFCntDn" } else { "FCntDn" };
    assert_eq!(n[counter], 0, "a new session: {body}");
    assert!(query.contains("Token="), "{query}");
    // Var1: the AppSKey the device derived, wrapped with the AS transport key (RFC 3394).
    let wrapped = hex::decode(n["Var1"].as_str().expect("Var1")).expect("hex");
    let app_s_key = lorawan::keywrap::unwrap_key(&AesKey::new(ASTK), &wrapped).expect("unwraps");
    let derived = match sim.session().expect("session").keys() {
        conformance_tests::sim::device::SessionKeys::V1_0 { app_s_key, .. }
        | conformance_tests::sim::device::SessionKeys::V1_1 { app_s_key, .. } => *app_s_key,
    };
    assert_eq!(app_s_key, AesKey::new(derived));
    nsd.daemon.stop().await.expect("nsd stops");
    jsd.running.stop().await.expect("jsd stops");
}
