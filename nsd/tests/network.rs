//! The real nsd, started in this process on loopback ports and a scratch SQLite database,
//! driven by the simulator's packet forwarders and devices over real UDP: uplinks heard by
//! several gateways become one application event; confirmed uplinks are acknowledged in RX1
//! through the best gateway; queued frames reach the device; replays are refused.

mod common;

use std::time::Duration;

use common::*;
use conformance_tests::sim::{Heard, RadioParams, Uplink, FIRST_GATEWAY_EUI};
use lorawan::ids::Eui64;
use lorawan::join::MacVersion;
use nsd::app::pipeline::Served;
use nsd::app::uplink::{AppPayload, Refusal};
use nsd::app::UplinkOutcome;
use nsd::downlink::queue::{Confirmation, NewDownlink, Payload};
use nsd::gateway::registry::Gateway;
use nsd::uplink::data::Unmatched;

#[tokio::test]
async fn abp_1_0_4_uplinks_acks_queued_downlinks_and_replays() {
    let mut running = start(2).await;
    abp_device(&running.server, MacVersion::V1_0_4, 1).await;
    let mut device = sim_device(MacVersion::V1_0_4);
    let radio = RadioParams::eu868(5, 0).expect("channel");
    let mut events = running.server.subscribe();

    // One frame, two gateways: one event with both receptions, the better first.
    let up = device
        .uplink(&Uplink::unconfirmed(2, b"hello"))
        .expect("uplink");
    let heard = [Heard::new(0, -110, -3.0), Heard::new(1, -70, 8.5)];
    assert!(running
        .sim
        .uplink(&up, &radio, &heard)
        .await
        .expect("sent")
        .all_acked());
    let event = tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("event")
        .expect("event");
    assert_eq!(event.dev_eui, Eui64::from_u64(1));
    assert_eq!(event.f_cnt, 0);
    assert_eq!(event.f_port, Some(2));
    assert_eq!(event.payload, Some(AppPayload::Clear(b"hello".to_vec())));
    assert_eq!(event.data_rate, Some(5));
    let gateways: Vec<u64> = event
        .receptions
        .iter()
        .map(|r| r.gateway.to_u64())
        .collect();
    assert_eq!(gateways, [FIRST_GATEWAY_EUI.0 + 1, FIRST_GATEWAY_EUI.0]);
    // The MAC layer asks a new session for its status (DevStatusReq, CID 0x06) in RX1.
    assert!(matches!(
        next_served(&mut running).await,
        Served::Uplink(UplinkOutcome::Accepted(_), Some(_))
    ));
    let down = running
        .sim
        .next_downlink(WAIT)
        .await
        .expect("a MAC downlink");
    let frame = device.accept_downlink(&down.phy).expect("valid downlink");
    assert_eq!((frame.fcnt, frame.fopts.as_slice()), (0, &[0x06][..]));

    // The same bytes again (NbTrans): a retransmission, not a second event.
    running
        .sim
        .uplink(&up, &radio, &heard[..1])
        .await
        .expect("sent");
    assert!(matches!(
        next_served(&mut running).await,
        Served::Uplink(UplinkOutcome::Retransmission { f_cnt: 0, .. }, None)
    ));

    // A confirmed uplink is acknowledged through the best gateway, in RX1.
    // It answers DevStatusAns (battery 254, margin 10 dB) in FOpts.
    let up = device
        .uplink(&Uplink {
            fopts: &[0x06, 254, 10],
            ..Uplink::confirmed(2, b"ack me")
        })
        .expect("uplink");
    let report = running.sim.uplink(&up, &radio, &heard).await.expect("sent");
    let down = running.sim.next_downlink(WAIT).await.expect("the ACK");
    assert_eq!(down.gateway.0, FIRST_GATEWAY_EUI.0 + 1);
    assert_eq!(
        down.delay_after(report.tmst(1).expect("tmst")),
        Some(Duration::from_secs(1))
    );
    assert_eq!(down.freq_hz, 868_100_000);
    let frame = device.accept_downlink(&down.phy).expect("valid downlink");
    assert!(frame.ack && frame.adr);
    assert_eq!(frame.fcnt, 1);
    match next_served(&mut running).await {
        Served::Uplink(UplinkOutcome::Accepted(event), Some(_)) => {
            assert!(
                event
                    .mac_events
                    .iter()
                    .any(|e| matches!(e, nsd::mac::MacEvent::DevStatus(_))),
                "{:?}",
                event.mac_events
            );
        }
        other => panic!("expected an accepted uplink, got {other:?}"),
    }

    // A queued frame goes down after the next uplink, encrypted with the AppSKey.
    running
        .server
        .enqueue(
            Eui64::from_u64(1),
            NewDownlink {
                f_port: 10,
                payload: Payload::Clear(b"set 21C".to_vec()),
                confirmation: Confirmation::Unconfirmed,
                validity: None,
                correlation_id: None,
                fcnt: None,
            },
        )
        .await
        .expect("queued");
    let up = device
        .uplink(&Uplink::unconfirmed(2, b"tick"))
        .expect("uplink");
    running.sim.uplink(&up, &radio, &heard).await.expect("sent");
    let down = running
        .sim
        .next_downlink(WAIT)
        .await
        .expect("the queued frame");
    let frame = device.accept_downlink(&down.phy).expect("valid downlink");
    assert_eq!(
        (frame.fport, frame.payload.as_slice()),
        (Some(10), &b"set 21C"[..])
    );
    assert_eq!(frame.fcnt, 2);
    next_served(&mut running).await;
    assert!(running
        .server
        .queue(Eui64::from_u64(1))
        .await
        .expect("device")
        .is_empty());

    // An old frame replayed is refused as such.
    let mut old = sim_device(MacVersion::V1_0_4);
    old.set_fcnt_up(1).expect("counter");
    let replay = old.uplink(&Uplink::unconfirmed(2, b"old")).expect("uplink");
    running
        .sim
        .uplink(&replay, &radio, &heard[..1])
        .await
        .expect("sent");
    match next_served(&mut running).await {
        Served::Uplink(UplinkOutcome::Refused(Refusal::Unmatched { reason, .. }), None) => {
            assert_eq!(
                reason,
                Unmatched::Replayed {
                    index: 0,
                    f_cnt: 1,
                    next_expected: 3
                }
            );
        }
        other => panic!("expected a replay refusal, got {other:?}"),
    }
    // Counters survive in storage: the device as the API shows it.
    let view = running
        .server
        .device(Eui64::from_u64(1))
        .await
        .expect("device");
    let session = view.session.expect("session");
    assert_eq!((session.f_cnt_up_next, session.n_f_cnt_down), (3, 3));
    running.daemon.stop().await.expect("stops");
}

#[tokio::test]
async fn abp_1_1_uplink_and_acknowledgement() {
    let mut running = start(1).await;
    abp_device(&running.server, MacVersion::V1_1, 2).await;
    let mut device = sim_device(MacVersion::V1_1);
    let radio = RadioParams::eu868(5, 1).expect("channel");
    let up = device
        .uplink(&Uplink {
            tx_dr: 5,
            tx_ch: 1,
            ..Uplink::confirmed(3, b"v1.1")
        })
        .expect("uplink");
    running
        .sim
        .uplink(&up, &radio, &[Heard::new(0, -90, 4.0)])
        .await
        .expect("sent");
    let down = running.sim.next_downlink(WAIT).await.expect("the ACK");
    let frame = device
        .accept_downlink(&down.phy)
        .expect("valid 1.1 downlink");
    assert!(frame.ack);
    assert_eq!(down.freq_hz, 868_300_000);
    match next_served(&mut running).await {
        Served::Uplink(UplinkOutcome::Accepted(event), Some(_)) => {
            assert_eq!(event.payload, Some(AppPayload::Clear(b"v1.1".to_vec())));
        }
        other => panic!("expected an accepted uplink, got {other:?}"),
    }
    running.daemon.stop().await.expect("stops");
}

#[tokio::test]
async fn frames_of_unknown_gateways_are_not_served() {
    let mut running = start(1).await;
    abp_device(&running.server, MacVersion::V1_0_4, 3).await;
    let mut device = sim_device(MacVersion::V1_0_4);
    let radio = RadioParams::eu868(5, 0).expect("channel");
    let up = device
        .uplink(&Uplink::unconfirmed(2, b"x"))
        .expect("uplink");
    running
        .server
        .delete_gateway(Eui64::from_u64(FIRST_GATEWAY_EUI.0))
        .await
        .expect("removed");
    let report = running
        .sim
        .uplink(&up, &radio, &[Heard::new(0, -90, 4.0)])
        .await;
    // No PUSH_ACK for an unknown gateway, and nothing served.
    assert!(!report.map(|r| r.all_acked()).unwrap_or(false));
    assert!(
        tokio::time::timeout(Duration::from_millis(600), running.served.recv())
            .await
            .is_err()
    );
    running.daemon.stop().await.expect("stops");
}

#[tokio::test]
async fn another_tenants_gateways_do_not_serve_a_device() {
    let mut running = start(2).await;
    abp_device(&running.server, MacVersion::V1_0_4, 4).await;
    // Gateway 0 belongs to another tenant (no agreement configured); gateway 1 is shared.
    running
        .server
        .put_gateway(Gateway {
            id: Eui64::from_u64(FIRST_GATEWAY_EUI.0),
            name: "theirs".into(),
            location: None,
            tags: vec![],
            tenant: Some("globex".into()),
        })
        .await
        .expect("gateway");
    let mut device = sim_device(MacVersion::V1_0_4);
    let radio = RadioParams::eu868(5, 0).expect("channel");
    let up = device
        .uplink(&Uplink::unconfirmed(2, b"a"))
        .expect("uplink");
    running
        .sim
        .uplink(&up, &radio, &[Heard::new(0, -60, 9.0)])
        .await
        .expect("sent");
    assert!(matches!(
        next_served(&mut running).await,
        Served::Uplink(UplinkOutcome::Refused(Refusal::Segregated { .. }), None)
    ));
    // Heard by both: served, with the shared gateway's reception only (even though the
    // other tenant's gateway heard it better), and answered through it.
    let up = device.uplink(&Uplink::confirmed(2, b"b")).expect("uplink");
    running
        .sim
        .uplink(
            &up,
            &radio,
            &[Heard::new(0, -60, 9.0), Heard::new(1, -100, 1.0)],
        )
        .await
        .expect("sent");
    match next_served(&mut running).await {
        Served::Uplink(UplinkOutcome::Accepted(event), Some(_)) => {
            let gateways: Vec<u64> = event
                .receptions
                .iter()
                .map(|r| r.gateway.to_u64())
                .collect();
            assert_eq!(gateways, [FIRST_GATEWAY_EUI.0 + 1]);
        }
        other => panic!("expected an accepted uplink, got {other:?}"),
    }
    let down = running.sim.next_downlink(WAIT).await.expect("the ACK");
    assert_eq!(down.gateway.0, FIRST_GATEWAY_EUI.0 + 1);
    running.daemon.stop().await.expect("stops");
}
