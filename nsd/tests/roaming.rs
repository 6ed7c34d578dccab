//! Passive roaming end to end on loopback: the real hub between two real nsd (home:
//! NetID 000013 with an NSID, speaking TS002 1.1; visited: NetID 000014, speaking 1.0), each
//! with its simulated gateways over real UDP. A device of the home network heard only by the
//! visited network's gateway is served by its home, and answered through the visited gateway.

mod common;

use common::federation::*;

use std::time::Duration;

use common::{abp_device, sim_device, Running, WAIT};
use conformance_tests::sim::{Heard, RadioParams, Uplink};
use lorawan::ids::{Eui64, NetId};
use lorawan::join::MacVersion;
use nsd::app::pipeline::Served;
use nsd::app::roaming::Forwarded;
use nsd::device::Device;

/// `phy` heard by the visited network's gateways (`heard`): what the visited network did
/// with it.
async fn forwarded_by_visited(
    visited: &mut Running,
    phy: &[u8],
    radio: &RadioParams,
    heard: &[Heard],
) -> Forwarded {
    visited.sim.uplink(phy, radio, heard).await.expect("sent");
    next_forwarded(visited).await
}

async fn next_forwarded(running: &mut Running) -> Forwarded {
    match common::next_served(running).await {
        Served::Forwarded(forwarded) => forwarded,
        other => panic!("expected a forwarded frame, got {other:?}"),
    }
}

/// Makes the home network's ABP test device roam (or not).
async fn set_roaming(server: &nsd::app::NetworkServer, dev_eui: u64, roaming: bool) {
    let view = server
        .device(Eui64::from_u64(dev_eui))
        .await
        .expect("provisioned");
    server
        .put_device(
            Device {
                roaming,
                ..view.device
            },
            Some(common::test_session(MacVersion::V1_0_4)),
        )
        .await
        .expect("updated");
}

/// The home network's ABP test device 1, roaming; its radio, and the visited gateway that
/// hears it.
async fn roaming_device(
    home: &nsd::app::NetworkServer,
) -> (conformance_tests::sim::Device, RadioParams, [Heard; 1]) {
    abp_device(home, MacVersion::V1_0_4, 1).await;
    set_roaming(home, 1, true).await;
    (
        sim_device(MacVersion::V1_0_4),
        RadioParams::eu868(5, 2).expect("channel"),
        [Heard::new(0, -80, 7.5)],
    )
}

#[tokio::test]
async fn a_home_device_heard_only_by_the_visited_gateway_is_served_home_and_answered_through_it() {
    let mut fed = federation().await;
    let (mut device, radio, heard) = roaming_device(&fed.home.server).await;
    let mut events = fed.home.server.subscribe();

    // An unconfirmed uplink: forwarded, accepted at home, reported with Roaming.
    let up = device
        .uplink(&Uplink::unconfirmed(1, b"roamed"))
        .expect("uplink");
    assert_eq!(
        forwarded_by_visited(&mut fed.visited, &up, &radio, &heard).await,
        Forwarded::Accepted {
            home: "000013".parse::<NetId>().unwrap()
        }
    );
    let event = tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("in time")
        .expect("event");
    assert_eq!(event.f_cnt, 0);
    let roaming = event.roaming.expect("heard through a partner");
    assert_eq!(
        roaming.forwarding_net_id,
        "000014".parse::<NetId>().unwrap()
    );
    assert_eq!(event.receptions.len(), 1);
    assert_eq!(event.receptions[0].rssi_dbm, -80);
    // The home network's MAC layer has its first requests for the device: they go down
    // through the visited gateway too, five seconds after the uplink.
    let first = fed
        .visited
        .sim
        .next_downlink(Duration::from_secs(6))
        .await
        .expect("MAC requests");
    device
        .accept_downlink(&first.phy)
        .expect("a valid downlink");

    // A confirmed uplink: the ACK goes down through the visited gateway, RX1 five seconds
    // after the uplink (the roaming RX1 delay), scheduled by the visited network.
    let up = device
        .uplink(&Uplink::confirmed(1, b"ack me"))
        .expect("uplink");
    let report = fed
        .visited
        .sim
        .uplink(&up, &radio, &heard)
        .await
        .expect("sent");
    assert!(matches!(
        next_forwarded(&mut fed.visited).await,
        Forwarded::Accepted { .. }
    ));
    let down = fed
        .visited
        .sim
        .next_downlink(Duration::from_secs(5))
        .await
        .expect("the ACK through the visited gateway");
    assert_eq!(
        down.delay_after(report.tmst(0).expect("tmst")),
        Some(Duration::from_secs(5))
    );
    assert_eq!(down.freq_hz, 868_500_000, "RX1 on the uplink channel");
    let frame = device.accept_downlink(&down.phy).expect("a valid downlink");
    assert!(frame.ack);
    assert!(
        fed.home
            .sim
            .drain_downlinks(Duration::from_millis(200))
            .await
            .is_empty(),
        "nothing through the home gateway, which did not hear it"
    );
}

#[tokio::test]
async fn refused_roam_out_and_unknown_partners_are_answered_precisely() {
    let mut fed = federation().await;
    abp_device(&fed.home.server, MacVersion::V1_0_4, 1).await;
    let mut device = sim_device(MacVersion::V1_0_4);
    let radio = RadioParams::eu868(5, 2).expect("channel");
    let heard = [Heard::new(0, -80, 7.5)];

    // Roam-out off for this device: the home refuses, the visited network says why.
    let up = device
        .uplink(&Uplink::unconfirmed(1, b"x"))
        .expect("uplink");
    match forwarded_by_visited(&mut fed.visited, &up, &radio, &heard).await {
        Forwarded::Refused { code, .. } => assert_eq!(code, "DevRoamingDisallowed"),
        other => panic!("{other:?}"),
    }

    // A DevAddr of a network with no agreement (NetID 000021): dropped by the visited NS.
    let mut stranger = conformance_tests::sim::Device::abp(
        conformance_tests::sim::MacVersion::V1_0_4,
        conformance_tests::sim::crypto::DevAddr(0x4200_0001),
        conformance_tests::sim::device::SessionKeys::V1_0 {
            nwk_s_key: [1; 16],
            app_s_key: [2; 16],
        },
    )
    .expect("device");
    let up = stranger
        .uplink(&Uplink::unconfirmed(1, b"?"))
        .expect("uplink");
    assert_eq!(
        forwarded_by_visited(&mut fed.visited, &up, &radio, &heard).await,
        Forwarded::NoAgreement
    );

    // Roam-out on, but a wrong MIC (other keys, same DevAddr): MICFailed.
    set_roaming(&fed.home.server, 1, true).await;
    let mut forger = conformance_tests::sim::Device::abp(
        conformance_tests::sim::MacVersion::V1_0_4,
        conformance_tests::sim::crypto::DevAddr(common::ADDR),
        conformance_tests::sim::device::SessionKeys::V1_0 {
            nwk_s_key: [9; 16],
            app_s_key: [9; 16],
        },
    )
    .expect("device");
    let up = forger
        .uplink(&Uplink::unconfirmed(1, b"forged"))
        .expect("uplink");
    match forwarded_by_visited(&mut fed.visited, &up, &radio, &heard).await {
        Forwarded::Refused { code, .. } => assert_eq!(code, "MICFailed"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_frame_heard_at_home_and_through_the_partner_is_one_uplink() {
    let mut fed = federation().await;
    let (mut device, radio, heard) = roaming_device(&fed.home.server).await;
    let mut events = fed.home.server.subscribe();
    let up = device
        .uplink(&Uplink::unconfirmed(1, b"both"))
        .expect("uplink");
    fed.home
        .sim
        .uplink(&up, &radio, &heard)
        .await
        .expect("sent");
    fed.visited
        .sim
        .uplink(&up, &radio, &heard)
        .await
        .expect("sent");
    assert!(matches!(
        common::next_served(&mut fed.home).await,
        Served::Uplink(nsd::app::UplinkOutcome::Accepted(_), _)
    ));
    assert!(matches!(
        next_forwarded(&mut fed.visited).await,
        Forwarded::Accepted { .. }
    ));
    let _first = events.recv().await.expect("one event");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), events.recv())
            .await
            .is_err(),
        "reported once"
    );
    // The network's first MAC requests go through the home gateway (heard as well as the
    // visited one).
    let first = fed
        .home
        .sim
        .next_downlink(Duration::from_secs(3))
        .await
        .expect("MAC requests at home");
    device
        .accept_downlink(&first.phy)
        .expect("a valid downlink");

    // A confirmed frame heard faintly at home and well by the visited gateway: one uplink,
    // and its ACK goes through the visited gateway, the best of all.
    let up = device
        .uplink(&Uplink::confirmed(1, b"best is abroad"))
        .expect("uplink");
    fed.home
        .sim
        .uplink(&up, &radio, &[Heard::new(0, -118, -12.0)])
        .await
        .expect("sent");
    // The partner's copy comes later in real networks too (its own window, then the hub).
    tokio::time::sleep(Duration::from_millis(50)).await;
    fed.visited
        .sim
        .uplink(&up, &radio, &[Heard::new(0, -70, 9.0)])
        .await
        .expect("sent");
    let down = fed
        .visited
        .sim
        .next_downlink(Duration::from_secs(5))
        .await
        .expect("the ACK through the visited gateway");
    assert!(device.accept_downlink(&down.phy).expect("valid").ack);
    assert!(
        fed.home
            .sim
            .drain_downlinks(Duration::from_millis(300))
            .await
            .is_empty(),
        "nothing through the home gateway"
    );
    let event = events.recv().await.expect("the event");
    assert_eq!(event.f_cnt, 1);
    assert!(event.roaming.is_none(), "served at home first");
}

#[tokio::test]
async fn a_home_device_joins_through_the_visited_network_then_roams() {
    let mut fed = federation().await;
    let http = reqwest::Client::new();
    let jsd = format!("http://{}", fed.jsd.local_addr);
    let dev_eui = Eui64::from_u64(0x0004_a30b_0000_0077);
    let app_key = [0x5a; 16];
    // The manufacturer imported it; the home operator claimed it.
    let imported: serde_json::Value = http
        .post(format!("{jsd}/api/imports?batch=roaming"))
        .bearer_auth(JSD_OPS)
        .header("content-type", "application/json")
        .body(
            serde_json::json!({ "devices": [{
                "DevEUI": dev_eui.to_string(), "JoinEUI": Eui64::from_u64(JOIN_EUI).to_string(),
                "AppKey": hex::encode(app_key), "LoRaWANVersion": "1.0.4",
            }]})
            .to_string(),
        )
        .send()
        .await
        .expect("jsd answers")
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).expect("JSON"))
        .expect("body");
    let owner_token = imported["devices"][0]["owner_token"]
        .as_str()
        .expect("token");
    let claimed = http
        .post(format!("{jsd}/api/devices/{dev_eui}/claim"))
        .bearer_auth(JSD_OPS)
        .header("content-type", "application/json")
        .body(
            serde_json::json!({ "owner_token": owner_token, "home_net_id": "000013" }).to_string(),
        )
        .send()
        .await
        .expect("jsd answers");
    assert!(claimed.status().is_success(), "{claimed:?}");
    let profile = nsd::device::DeviceProfile::defaults(
        "otaa",
        lorawan::region::Region::Eu868,
        MacVersion::V1_0_4,
    );
    fed.home.server.put_profile(profile).await.expect("profile");
    fed.home
        .server
        .put_device(
            Device {
                dev_eui,
                name: "roamer".into(),
                tenant: "acme".into(),
                profile: "otaa".into(),
                join_eui: Some(Eui64::from_u64(JOIN_EUI)),
                as_link: None,
                roaming: true,
            },
            None,
        )
        .await
        .expect("device");
    let mut device = conformance_tests::sim::Device::otaa(
        conformance_tests::sim::MacVersion::V1_0_4,
        conformance_tests::sim::OtaaKeys {
            dev_eui: conformance_tests::sim::Eui64(dev_eui.to_u64()),
            join_eui: conformance_tests::sim::Eui64(JOIN_EUI),
            app_key,
            nwk_key: None,
        },
    )
    .expect("device");
    let radio = RadioParams::eu868(5, 0).expect("channel");
    let heard = [Heard::new(0, -90, 3.0)];

    // Heard only by the visited gateway: HomeNSReq → PRStartReq → the join-accept back.
    let request = device.join_request().expect("join-request");
    let report = fed
        .visited
        .sim
        .uplink(&request, &radio, &heard)
        .await
        .expect("sent");
    match next_forwarded(&mut fed.visited).await {
        Forwarded::Joined { home, outcome } => {
            assert_eq!(home, "000013".parse::<NetId>().unwrap());
            assert_eq!(outcome, nsd::gateway::TxOutcome::Sent);
        }
        other => panic!("{other:?}"),
    }
    let accept = fed
        .visited
        .sim
        .next_downlink(WAIT)
        .await
        .expect("the join-accept through the visited gateway");
    assert_eq!(
        accept.delay_after(report.tmst(0).expect("tmst")),
        Some(Duration::from_secs(5)),
        "JOIN_ACCEPT_DELAY1"
    );
    device
        .accept_join_accept(&accept.phy)
        .expect("a join-accept the device takes");
    let view = fed.home.server.device(dev_eui).await.expect("device");
    assert!(view.session.is_some(), "the home network holds the session");

    // Its first data uplink, again through the visited network.
    let mut events = fed.home.server.subscribe();
    let up = device
        .uplink(&Uplink::unconfirmed(2, b"hello"))
        .expect("uplink");
    assert!(matches!(
        forwarded_by_visited(&mut fed.visited, &up, &radio, &heard).await,
        Forwarded::Accepted { .. }
    ));
    let event = tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("in time")
        .expect("event");
    assert_eq!(event.dev_eui, dev_eui);
    assert!(event.roaming.is_some());
}

#[tokio::test]
async fn a_partner_outage_mid_traffic_loses_no_downlink() {
    use nsd::downlink::queue::{Confirmation, NewDownlink, Payload};
    let Federation {
        mut home,
        visited,
        jsd: _jsd,
        hub: _hub,
        dbs: _dbs,
        dir: _dir,
    } = federation().await;
    let (mut device, radio, _) = roaming_device(&home.server).await;
    let mut sent = home.server.subscribe_downlinks();
    home.server
        .enqueue(
            Eui64::from_u64(1),
            NewDownlink {
                f_port: 10,
                payload: Payload::Clear(b"open valve".to_vec()),
                confirmation: Confirmation::Unconfirmed,
                validity: None,
                correlation_id: None,
                fcnt: None,
            },
        )
        .await
        .expect("queued");

    // The visited network forwarded the uplink, then went down before the downlink.
    let hub = home
        .server
        .roaming()
        .expect("roaming")
        .settings()
        .hub_url
        .clone();
    let visited_http = visited.http.clone();
    visited.daemon.stop().await.expect("the visited nsd stops");
    let up = device
        .uplink(&Uplink::unconfirmed(1, b"last words"))
        .expect("uplink");
    let pr_start_req = serde_json::json!({
        "ProtocolVersion": "1.0", "SenderID": "000014", "ReceiverID": "000013",
        "TransactionID": 4242, "MessageType": "PRStartReq", "PHYPayload": hex::encode(&up),
        "ULMetaData": {
            "DevAddr": format!("{:08X}", common::ADDR), "DataRate": 5, "ULFreq": 868.5,
            "RecvTime": "2026-12-03T12:00:00Z", "RFRegion": "EU868", "GWCnt": 1,
            "GWInfo": [{ "ID": "0102030405060708", "RSSI": -80, "SNR": 7.5,
                         "ULToken": "0011223344", "DLAllowed": true }],
        },
    });
    // The visited network is an asynchronous member: the hub acknowledges at once (its
    // PRStartAns would follow to the visited network, which is down).
    let acknowledged = reqwest::Client::new()
        .post(&hub)
        .bearer_auth(VISITED_TOKEN)
        .header("content-type", "application/json")
        .body(pr_start_req.to_string())
        .send()
        .await
        .expect("the hub answers");
    assert_eq!(acknowledged.status(), 200);
    let fate = tokio::time::timeout(Duration::from_secs(10), sent.recv())
        .await
        .expect("the downlink's fate is reported")
        .expect("report");
    assert_eq!(
        fate.delivery.status,
        nsd::downlink::delivery::DeliveryStatus::NotSent,
        "the partner is down ({visited_http}): {fate:?}"
    );
    assert_eq!(
        home.server
            .queue(Eui64::from_u64(1))
            .await
            .expect("queue")
            .len(),
        1,
        "still queued"
    );

    // Back home: the frame goes down through the home gateway.
    let up = device
        .uplink(&Uplink::unconfirmed(1, b"home again"))
        .expect("uplink");
    home.sim
        .uplink(&up, &radio, &[Heard::new(0, -70, 9.0)])
        .await
        .expect("sent");
    let down = home
        .sim
        .next_downlink(WAIT)
        .await
        .expect("the queued frame");
    let frame = device.accept_downlink(&down.phy).expect("a valid downlink");
    assert_eq!(frame.payload, b"open valve");
    let _ = common::next_served(&mut home).await;
}
