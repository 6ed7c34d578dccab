//! Class C over real UDP: a frame queued for a class C device goes out at once (`imme`) on
//! the RX2 frequency and data rate through the gateway that heard the device best; a gateway
//! refusing (`TX_ACK` errors) is asked again until it accepts, or until the configured
//! maximum delay passes (E0: the frame leaves the queue unsent); a frame queued behind a
//! confirmed one waits for the acknowledgement timeout.

mod common;

use std::time::Duration;

use common::{gateway_eui, next_served, start_specs, Running, SimGatewaySpec, WAIT};
use conformance_tests::sim::crypto::DevAddr as SimDevAddr;
use conformance_tests::sim::device::SessionKeys as SimKeys;
use conformance_tests::sim::{
    DataRate, Device as SimDevice, DownlinkTiming, Heard, MacVersion as SimVersion, RadioParams,
    TxAckError, TxAckMode, Uplink,
};
use lorawan::ids::{AesKey, DevAddr, Eui64};
use lorawan::join::MacVersion;
use lorawan::region::Region;
use nsd::app::pipeline::Served;
use nsd::device::{Class, Device, DeviceProfile, NetworkKeys, Session, SessionKeys};
use nsd::downlink::queue::{Confirmation, NewDownlink, Payload};

const NWK_S_KEY: [u8; 16] = [0x11; 16];
const APP_S_KEY: [u8; 16] = [0x22; 16];
const ADDR: u32 = 0x2600_0c01;
const DEV_EUI: u64 = 0x0c;

async fn class_c_device(running: &Running) -> SimDevice {
    let mut profile = DeviceProfile::defaults("class-c", Region::Eu868, MacVersion::V1_0_4);
    profile.supports_join = false;
    profile.class = Class::C;
    running.server.put_profile(profile).await.expect("profile");
    let session = Session::new(
        DevAddr::from_be_bytes(ADDR.to_be_bytes()),
        MacVersion::V1_0_4,
        SessionKeys {
            network: NetworkKeys::V1_0 {
                nwk_s_key: AesKey::new(NWK_S_KEY),
            },
            app_s_key: Some(AesKey::new(APP_S_KEY)),
        },
    );
    running
        .server
        .put_device(
            Device {
                dev_eui: Eui64::from_u64(DEV_EUI),
                name: "valve".into(),
                tenant: "acme".into(),
                profile: "class-c".into(),
                join_eui: None,
                roaming: false,
                as_link: None,
            },
            Some(session),
        )
        .await
        .expect("device");
    SimDevice::abp(
        SimVersion::V1_0_4,
        SimDevAddr(ADDR),
        SimKeys::V1_0 {
            nwk_s_key: NWK_S_KEY,
            app_s_key: APP_S_KEY,
        },
    )
    .expect("device")
}

fn downlink(payload: &[u8]) -> NewDownlink {
    NewDownlink {
        f_port: 7,
        payload: Payload::Clear(payload.to_vec()),
        confirmation: Confirmation::Unconfirmed,
        validity: None,
        correlation_id: None,
        fcnt: None,
    }
}

/// Polls until the device's queue is empty (bounded).
async fn queue_empties(running: &Running) -> bool {
    for _ in 0..100 {
        let queue = running
            .server
            .queue(Eui64::from_u64(DEV_EUI))
            .await
            .expect("device");
        if queue.is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// An uplink heard by gateway 0 weakly and gateway 1 well: gateway 1 is the best.
async fn heard_uplink(running: &mut Running, device: &mut SimDevice) {
    let radio = RadioParams::eu868(5, 0).expect("channel");
    let up = device
        .uplink(&Uplink::unconfirmed(2, b"status"))
        .expect("uplink");
    let heard = [Heard::new(0, -115, -6.0), Heard::new(1, -72, 9.0)];
    assert!(running
        .sim
        .uplink(&up, &radio, &heard)
        .await
        .expect("sent")
        .all_acked());
    // A new session's first uplink is answered with the MAC layer's DevStatusReq (class A).
    assert!(matches!(
        next_served(running).await,
        Served::Uplink(nsd::app::UplinkOutcome::Accepted(_), _)
    ));
    if let Some(down) = running.sim.next_downlink(WAIT).await {
        device
            .accept_downlink(&down.phy)
            .expect("valid MAC downlink");
    }
}

#[tokio::test]
async fn a_class_c_frame_goes_out_at_once_and_refusals_are_retried() {
    let gateways = [
        SimGatewaySpec {
            tags: vec![],
            location: None,
        },
        SimGatewaySpec {
            tags: vec![],
            location: None,
        },
    ];
    let mut running = start_specs(
        &gateways,
        &[
            ("NSD_DOWNLINK__CLASS_C_MAX_DELAY_MS", "5000"),
            ("NSD_DOWNLINK__CLASS_C_RETRY_INTERVAL_MS", "300"),
            ("NSD_DOWNLINK__CLASS_C_ACK_TIMEOUT_MS", "400"),
        ],
    )
    .await;
    let mut device = class_c_device(&running).await;
    heard_uplink(&mut running, &mut device).await;

    // Queued: sent now, not at the next uplink, through the best gateway, on RX2.
    running
        .server
        .enqueue(Eui64::from_u64(DEV_EUI), downlink(b"open"))
        .await
        .expect("queued");
    let down = running
        .sim
        .next_downlink(WAIT)
        .await
        .expect("class C frame");
    assert_eq!(down.gateway.0, gateway_eui(1).to_u64());
    assert_eq!(down.timing, DownlinkTiming::Immediately);
    assert_eq!(down.txpk["imme"], serde_json::json!(true));
    assert_eq!(down.freq_hz, 869_525_000);
    assert_eq!(
        down.data_rate,
        DataRate::Lora {
            sf: 12,
            bw_khz: 125
        }
    );
    assert_eq!(down.invert_polarity, Some(true));
    let frame = device.accept_downlink(&down.phy).expect("valid downlink");
    assert_eq!(
        (frame.fport, frame.payload.as_slice(), frame.fcnt),
        // FCnt 0 went to the class A answer of the first uplink (DevStatusReq).
        (Some(7), &b"open"[..], 1)
    );
    assert!(!frame.ack && !frame.confirmed);
    assert!(queue_empties(&running).await, "sent frames leave the queue");

    // The gateway is busy once: the same frame is asked again, and then accepted.
    let best = running.sim.gateway(1).expect("gateway 1");
    best.set_tx_ack(TxAckMode::Error(TxAckError::CollisionPacket));
    running
        .server
        .enqueue(Eui64::from_u64(DEV_EUI), downlink(b"close"))
        .await
        .expect("queued");
    let refused = running
        .sim
        .next_downlink(WAIT)
        .await
        .expect("first attempt");
    best.set_tx_ack(TxAckMode::Ok);
    let retried = running.sim.next_downlink(WAIT).await.expect("the retry");
    assert_eq!(retried.gateway.0, gateway_eui(1).to_u64());
    assert_eq!(retried.phy, refused.phy, "the same frame, same counter");
    let frame = device
        .accept_downlink(&retried.phy)
        .expect("valid downlink");
    assert_eq!((frame.payload.as_slice(), frame.fcnt), (&b"close"[..], 2));
    assert!(queue_empties(&running).await);
    // Nothing more: the frame went out once accepted.
    assert!(running
        .sim
        .drain_downlinks(Duration::from_millis(500))
        .await
        .is_empty());

    // A confirmed frame, then another: the second waits for the acknowledgement timeout
    // (TS001 1.0.4 §6.2), the device staying silent.
    let mut confirmed = downlink(b"ping");
    confirmed.confirmation = Confirmation::Confirmed;
    for frame in [confirmed, downlink(b"pong")] {
        running
            .server
            .enqueue(Eui64::from_u64(DEV_EUI), frame)
            .await
            .expect("queued");
    }
    let first = running
        .sim
        .next_downlink(WAIT)
        .await
        .expect("confirmed frame");
    let frame = device.accept_downlink(&first.phy).expect("valid downlink");
    assert!(frame.confirmed);
    assert_eq!((frame.payload.as_slice(), frame.fcnt), (&b"ping"[..], 3));
    let second = running
        .sim
        .next_downlink(WAIT)
        .await
        .expect("the next frame");
    let frame = device.accept_downlink(&second.phy).expect("valid downlink");
    assert!(!frame.confirmed);
    assert_eq!((frame.payload.as_slice(), frame.fcnt), (&b"pong"[..], 4));
    assert!(queue_empties(&running).await);

    // The counter was stored before sending: the device as the API shows it.
    let view = running
        .server
        .device(Eui64::from_u64(DEV_EUI))
        .await
        .expect("device");
    assert_eq!(view.session.expect("session").n_f_cnt_down, 5);
    running.daemon.stop().await.expect("stops");
}

#[tokio::test]
async fn a_class_c_frame_refused_until_the_maximum_delay_is_given_up() {
    let gateways = [SimGatewaySpec {
        tags: vec![],
        location: None,
    }];
    let mut running = start_specs(
        &gateways,
        &[
            ("NSD_DOWNLINK__CLASS_C_MAX_DELAY_MS", "900"),
            ("NSD_DOWNLINK__CLASS_C_RETRY_INTERVAL_MS", "200"),
        ],
    )
    .await;
    let mut device = class_c_device(&running).await;
    let radio = RadioParams::eu868(5, 0).expect("channel");
    let up = device
        .uplink(&Uplink::unconfirmed(2, b"status"))
        .expect("uplink");
    running
        .sim
        .uplink(&up, &radio, &[Heard::new(0, -90, 3.0)])
        .await
        .expect("sent");
    next_served(&mut running).await;
    // The class A answer to that uplink (the MAC layer's DevStatusReq) is not an attempt.
    running
        .sim
        .drain_downlinks(Duration::from_millis(300))
        .await;
    let gateway = running.sim.gateway(0).expect("gateway 0");
    gateway.set_tx_ack(TxAckMode::Error(TxAckError::TooLate));
    running
        .server
        .enqueue(Eui64::from_u64(DEV_EUI), downlink(b"never"))
        .await
        .expect("queued");
    // Asked again and again, then given up (E0): the frame leaves the queue unsent.
    assert!(queue_empties(&running).await, "given up within the bound");
    let attempts = running
        .sim
        .drain_downlinks(Duration::from_millis(600))
        .await;
    assert!(
        attempts.len() >= 2,
        "refusals are retried ({} attempts)",
        attempts.len()
    );
    assert!(attempts.iter().all(|d| d.phy == attempts[0].phy));
    assert_eq!(
        running
            .server
            .gateway_registry()
            .status(gateway_eui(0))
            .expect("status")
            .frames_sent,
        1,
        "only the class A answer to the uplink was sent"
    );
    running.daemon.stop().await.expect("stops");
}
