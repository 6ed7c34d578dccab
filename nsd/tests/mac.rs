//! MAC commands, versions and queue rules end to end: the real nsd in this process, the
//! simulator's devices and packet forwarders over real UDP.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use conformance_tests::sim::{Heard, RadioParams, Uplink};
use lorawan::ids::Eui64;
use lorawan::join::MacVersion;
use lorawan::mac::{parse_commands, Direction, MacCommand};
use lorawan::region::Region;
use nsd::app::devices::EnqueueError;
use nsd::app::pipeline::Served;
use nsd::app::uplink::Refusal;
use nsd::app::UplinkOutcome;
use nsd::device::DeviceProfile;
use nsd::downlink::queue::{Confirmation, NewDownlink, Payload, QueueError};
use nsd::mac::MacEvent;
use nsd::uplink::data::Unmatched;

fn queued(payload: &[u8], confirmation: Confirmation, validity: Option<SystemTime>) -> NewDownlink {
    NewDownlink {
        f_port: 7,
        payload: Payload::Clear(payload.to_vec()),
        confirmation,
        validity,
        correlation_id: None,
        fcnt: None,
    }
}

/// The MAC commands of a downlink, from FOpts or an FPort-0 payload.
fn commands_of(frame: &conformance_tests::sim::device::Downlink) -> Vec<MacCommand> {
    parse_commands(frame.mac_commands(), Direction::Downlink).expect("well-formed MAC commands")
}

async fn accepted(running: &mut Running) -> std::sync::Arc<nsd::app::UplinkEvent> {
    match next_served(running).await {
        Served::Uplink(UplinkOutcome::Accepted(event), _) => event,
        other => panic!("expected an accepted uplink, got {other:?}"),
    }
}

#[tokio::test]
async fn link_check_device_time_and_adr_are_answered_and_tracked() {
    let mut running = start(2).await;
    abp_device(&running.server, MacVersion::V1_0_4, 1).await;
    let mut device = sim_device(MacVersion::V1_0_4);
    // SF12 (DR0) with a 10 dB SNR: far more margin than SF12 needs, so ADR speeds it up.
    let slow = RadioParams::eu868(0, 0).expect("channel");
    let heard = [Heard::new(0, -80, 10.0), Heard::new(1, -100, 2.0)];
    let up = device
        .uplink(&Uplink {
            adr: true,
            fopts: &[0x02, 0x0D], // LinkCheckReq, DeviceTimeReq
            ..Uplink::unconfirmed(1, b"t")
        })
        .expect("uplink");
    running.sim.uplink(&up, &slow, &heard).await.expect("sent");
    accepted(&mut running).await;
    let down = running.sim.next_downlink(WAIT).await.expect("the answers");
    let frame = device.accept_downlink(&down.phy).expect("valid downlink");
    let commands = commands_of(&frame);
    // LinkCheckAns: SNR 10 dB over SF12's −20 dB floor is a 30 dB margin; two gateways.
    let link_check = commands.iter().find_map(|c| match c {
        MacCommand::LinkCheckAns(a) => Some(*a),
        _ => None,
    });
    let link_check = link_check.expect("LinkCheckAns");
    assert_eq!((link_check.margin, link_check.gateway_count), (30, 2));
    assert!(
        commands
            .iter()
            .any(|c| matches!(c, MacCommand::DeviceTimeAns(_))),
        "{commands:?}"
    );
    let adr = commands.iter().find_map(|c| match c {
        MacCommand::LinkAdrReq(r) => Some(*r),
        _ => None,
    });
    let adr = adr.expect("ADR's LinkADRReq");
    assert!(adr.data_rate > 0 && adr.data_rate <= 5, "{adr:?}");
    assert!(frame.adr, "1.0.4: the downlink ADR bit is set");

    // The device applies it and answers LinkADRAns (all three bits) and DevStatusAns.
    let up = device
        .uplink(&Uplink {
            adr: true,
            fopts: &[0x03, 0x07, 0x06, 200, 12],
            ..Uplink::unconfirmed(1, b"t")
        })
        .expect("uplink");
    let fast = RadioParams::eu868(adr.data_rate, 0).expect("channel");
    running.sim.uplink(&up, &fast, &heard).await.expect("sent");
    let event = accepted(&mut running).await;
    assert!(
        event
            .mac_events
            .iter()
            .any(|e| matches!(e, MacEvent::Confirmed { .. })),
        "{:?}",
        event.mac_events
    );
    assert!(
        event
            .mac_events
            .iter()
            .any(|e| matches!(e, MacEvent::DevStatus(_))),
        "{:?}",
        event.mac_events
    );
    running.daemon.stop().await.expect("stops");
}

#[tokio::test]
async fn abp_counter_resets_only_where_the_version_and_profile_allow_them() {
    let mut running = start(1).await;
    let mut profile = DeviceProfile::defaults("old", Region::Eu868, MacVersion::V1_0_2);
    profile.supports_join = false;
    profile.abp_counter_reset = true;
    abp_device_with(&running.server, profile, 1).await;
    let radio = RadioParams::eu868(5, 0).expect("channel");
    let heard = [Heard::new(0, -80, 8.0)];
    let mut device = sim_device(MacVersion::V1_0_2);
    device.set_fcnt_up(40).expect("counter");
    let up = device
        .uplink(&Uplink::unconfirmed(1, b"a"))
        .expect("uplink");
    running.sim.uplink(&up, &radio, &heard).await.expect("sent");
    assert_eq!(accepted(&mut running).await.f_cnt, 40);
    running
        .sim
        .drain_downlinks(Duration::from_millis(200))
        .await;
    // The device rebooted: its counter starts again at 0, and the profile allows that.
    let mut rebooted = sim_device(MacVersion::V1_0_2);
    let up = rebooted
        .uplink(&Uplink::unconfirmed(1, b"b"))
        .expect("uplink");
    running.sim.uplink(&up, &radio, &heard).await.expect("sent");
    assert_eq!(accepted(&mut running).await.f_cnt, 0);

    // The same for a 1.0.3 profile without the option: a replay.
    let mut strict = DeviceProfile::defaults("strict", Region::Eu868, MacVersion::V1_0_3);
    strict.supports_join = false;
    abp_device_with(&running.server, strict, 1).await;
    let mut device = sim_device(MacVersion::V1_0_3);
    device.set_fcnt_up(40).expect("counter");
    let up = device
        .uplink(&Uplink::unconfirmed(1, b"c"))
        .expect("uplink");
    running.sim.uplink(&up, &radio, &heard).await.expect("sent");
    accepted(&mut running).await;
    running
        .sim
        .drain_downlinks(Duration::from_millis(200))
        .await;
    let mut rebooted = sim_device(MacVersion::V1_0_3);
    let up = rebooted
        .uplink(&Uplink::unconfirmed(1, b"d"))
        .expect("uplink");
    running.sim.uplink(&up, &radio, &heard).await.expect("sent");
    match next_served(&mut running).await {
        Served::Uplink(UplinkOutcome::Refused(Refusal::Unmatched { reason, .. }), None) => {
            assert!(
                matches!(reason, Unmatched::Replayed { f_cnt: 0, .. }),
                "{reason:?}"
            );
        }
        other => panic!("expected a replay, got {other:?}"),
    }
    // 1.0.4 forbids the option outright.
    let mut forbidden = DeviceProfile::defaults("new", Region::Eu868, MacVersion::V1_0_4);
    forbidden.supports_join = false;
    forbidden.abp_counter_reset = true;
    assert!(running.server.put_profile(forbidden).await.is_err());
    running.daemon.stop().await.expect("stops");
}

#[tokio::test]
async fn queue_rules_fpending_expiry_confirmation_and_limits() {
    let mut running = start(1).await;
    abp_device(&running.server, MacVersion::V1_0_4, 1).await;
    let dev_eui = Eui64::from_u64(1);
    let mut device = sim_device(MacVersion::V1_0_4);
    let radio = RadioParams::eu868(5, 0).expect("channel");
    let heard = [Heard::new(0, -80, 8.0)];
    // A first uplink settles the new session's MAC requests (DevStatusReq).
    let up = device
        .uplink(&Uplink::unconfirmed(1, b"hi"))
        .expect("uplink");
    running.sim.uplink(&up, &radio, &heard).await.expect("sent");
    accepted(&mut running).await;
    let down = running.sim.next_downlink(WAIT).await.expect("MAC downlink");
    device.accept_downlink(&down.phy).expect("valid");

    // Two frames: the first goes with FPending, the second without.
    let server = &running.server;
    server
        .enqueue(dev_eui, queued(b"one", Confirmation::Unconfirmed, None))
        .await
        .expect("queued");
    server
        .enqueue(dev_eui, queued(b"two", Confirmation::Confirmed, None))
        .await
        .expect("queued");
    let mut payloads = Vec::new();
    for _ in 0..2 {
        let up = device
            .uplink(&Uplink {
                fopts: &[0x06, 255, 10],
                ..Uplink::unconfirmed(1, b"x")
            })
            .expect("uplink");
        running.sim.uplink(&up, &radio, &heard).await.expect("sent");
        accepted(&mut running).await;
        let down = running.sim.next_downlink(WAIT).await.expect("queued frame");
        let frame = device.accept_downlink(&down.phy).expect("valid");
        payloads.push((frame.payload.clone(), frame.fpending, frame.confirmed));
    }
    assert_eq!(
        payloads,
        [
            (b"one".to_vec(), true, false),
            (b"two".to_vec(), false, true)
        ]
    );
    // The confirmed frame awaits its ACK; the device acknowledges it.
    let up = device
        .uplink(&Uplink {
            ack: true,
            ..Uplink::unconfirmed(1, b"ack")
        })
        .expect("uplink");
    running.sim.uplink(&up, &radio, &heard).await.expect("sent");
    accepted(&mut running).await;
    assert!(running
        .server
        .queue(dev_eui)
        .await
        .expect("device")
        .is_empty());

    // A frame whose validity passes before the next uplink is dropped, not sent.
    running
        .server
        .enqueue(
            dev_eui,
            queued(
                b"late",
                Confirmation::Unconfirmed,
                Some(SystemTime::now() + Duration::from_millis(300)),
            ),
        )
        .await
        .expect("queued");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let up = device
        .uplink(&Uplink::unconfirmed(1, b"y"))
        .expect("uplink");
    running.sim.uplink(&up, &radio, &heard).await.expect("sent");
    accepted(&mut running).await;
    assert!(running
        .sim
        .next_downlink(Duration::from_millis(1500))
        .await
        .is_none());
    assert!(running
        .server
        .queue(dev_eui)
        .await
        .expect("device")
        .is_empty());

    // Five at most; a flush empties the queue.
    for n in 0..5u8 {
        running
            .server
            .enqueue(dev_eui, queued(&[n], Confirmation::Unconfirmed, None))
            .await
            .expect("queued");
    }
    let sixth = running
        .server
        .enqueue(dev_eui, queued(b"6", Confirmation::Unconfirmed, None))
        .await;
    assert!(matches!(
        sixth,
        Err(EnqueueError::Queue(QueueError::Full { max: 5 }))
    ));
    assert_eq!(
        running
            .server
            .flush_queue(dev_eui)
            .await
            .expect("flushed")
            .len(),
        5
    );
    running.daemon.stop().await.expect("stops");
}
