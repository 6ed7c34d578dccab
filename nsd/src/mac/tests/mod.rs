//! The MAC engine with real bytes: uplink commands built with the `lorawan` codec (or
//! written out), request bytes checked as they would go on the air.

use lorawan::join::MacVersion;
use lorawan::mac::{parse_commands, Direction, MacCommand};
use lorawan::region::{ChannelMask, Region};

use super::*;

/// 2024-01-01T00:00:00Z.
const T0_MS: u64 = 1_704_067_200_000;

fn up(fcnt: u32) -> UplinkFacts {
    UplinkFacts {
        fcnt,
        data_rate: 0,
        adr: false,
        adr_ack_req: false,
        confirmed: false,
        max_snr: -5.0,
        max_rssi: -100.0,
        gateway_count: 1,
        received_unix_ms: T0_MS,
        gps_time: None,
    }
}

/// A profile that wants nothing beyond the defaults and asks for no device status.
fn quiet(region: Region) -> MacProfile {
    let mut profile = MacProfile::new(region);
    profile.dev_status = DevStatusPolicy {
        every_uplinks: None,
        every_secs: None,
    };
    profile
}

fn otaa(region: Region, version: MacVersion, profile: MacProfile) -> MacState {
    let join = JoinAcceptSettings::from_profile(region, &MacProfile::new(region));
    MacState::new(region, version, profile, Activation::Otaa(join))
}

fn eu(version: MacVersion) -> MacState {
    otaa(Region::Eu868, version, quiet(Region::Eu868))
}

/// The uplink commands in `bytes` (an FOpts field).
fn cmds(bytes: &[u8]) -> Vec<MacCommand> {
    parse_commands(bytes, Direction::Uplink).expect("valid uplink MAC commands")
}

fn fopts(state: &mut MacState) -> Vec<u8> {
    commands_for_downlink(state, MacCarrier::FOpts).bytes
}

fn adr_uplink(fcnt: u32, dr: u8, snr: f32) -> UplinkFacts {
    UplinkFacts {
        adr: true,
        data_rate: dr,
        max_snr: snr,
        ..up(fcnt)
    }
}

#[test]
fn link_check_answers_with_the_margin_over_the_data_rate_floor() {
    let mut state = eu(MacVersion::V1_0_4);
    let mut uplink = up(1);
    uplink.max_snr = -4.6; // SF12 needs −20 dB: margin 15.4 → 15
    uplink.gateway_count = 3;
    let outcome = on_uplink(&mut state, &uplink, &cmds(&[0x02]));
    assert!(outcome.needs_downlink);
    assert_eq!(fopts(&mut state), [0x02, 15, 3]);
    // Owed once: the next downlink does not repeat it.
    assert!(fopts(&mut state).is_empty());
}

#[test]
fn device_time_is_gps_time_of_the_uplink() {
    let mut state = eu(MacVersion::V1_0_4);
    let mut uplink = up(1);
    uplink.received_unix_ms = T0_MS + 500;
    on_uplink(&mut state, &uplink, &cmds(&[0x0d]));
    // 1704067200 − 315964800 + 18 leap seconds = 1388102418 = 0x52bcc312; 0.5 s = 128/256.
    assert_eq!(fopts(&mut state), [0x0d, 0x12, 0xc3, 0xbc, 0x52, 0x80]);
    // A gateway's precise GPS time wins.
    uplink.fcnt = 2;
    uplink.gps_time = Some(std::time::Duration::from_millis(1_000_250));
    on_uplink(&mut state, &uplink, &cmds(&[0x0d]));
    assert_eq!(fopts(&mut state), [0x0d, 0xe8, 0x03, 0x00, 0x00, 64]);
}

#[test]
fn rx_param_setup_is_sent_confirmed_and_its_sticky_answer_tolerated() {
    let mut profile = quiet(Region::Eu868);
    profile.wanted.rx1_dr_offset = 1;
    profile.wanted.rx2_data_rate = 3;
    profile.wanted.rx2_frequency = 869_525_000;
    let mut state = otaa(Region::Eu868, MacVersion::V1_0_4, profile);
    let outcome = on_uplink(&mut state, &up(1), &[]);
    assert!(outcome.needs_downlink, "a request to send");
    // RX1DROffset 1 | RX2 DR3, 869.525 MHz = 8695250 × 100 Hz LE.
    assert_eq!(fopts(&mut state), [0x05, 0x13, 0xd2, 0xad, 0x84]);

    let outcome = on_uplink(&mut state, &up(2), &cmds(&[0x05, 0x07]));
    assert_eq!(
        outcome.events,
        [MacEvent::Confirmed {
            request: "RXParamSetupReq"
        }]
    );
    assert!(outcome.needs_downlink, "stop the sticky answer");
    assert_eq!(
        (
            state.confirmed.rx1_dr_offset,
            state.confirmed.rx2_data_rate,
            state.confirmed.rx2_frequency
        ),
        (1, 3, 869_525_000)
    );
    assert!(state.pending.is_empty());
    assert!(fopts(&mut state).is_empty());

    // The downlink was lost: the device repeats the answer.
    let outcome = on_uplink(&mut state, &up(3), &cmds(&[0x05, 0x07]));
    assert_eq!(outcome.ignored[0].reason, IgnoreReason::StickyRepeat);
    assert!(outcome.needs_downlink);
    assert!(outcome.events.is_empty());
    // It got the downlink: quiet again.
    let outcome = on_uplink(&mut state, &up(4), &[]);
    assert!(!outcome.needs_downlink);
    assert!(state.sticky_answers.is_empty());
}

#[test]
fn a_refused_rx_param_setup_keeps_the_old_values_and_is_not_resent() {
    let mut profile = quiet(Region::Eu868);
    profile.wanted.rx2_frequency = 869_100_000;
    let mut state = otaa(Region::Eu868, MacVersion::V1_0_4, profile);
    on_uplink(&mut state, &up(1), &[]);
    assert_eq!(fopts(&mut state), [0x05, 0x00, 0x38, 0x9d, 0x84]);
    // Channel ACK clear.
    let outcome = on_uplink(&mut state, &up(2), &cmds(&[0x05, 0x06]));
    assert_eq!(
        outcome.events,
        [MacEvent::Refused {
            request: "RXParamSetupReq",
            parts: vec!["Channel"]
        }]
    );
    assert_eq!(state.confirmed.rx2_frequency, 869_525_000);
    assert_eq!(state.abandoned[0].reason, AbandonReason::Refused);
    on_uplink(&mut state, &up(3), &[]);
    assert!(fopts(&mut state).is_empty());
}

#[test]
fn unanswered_requests_are_retried_then_given_up() {
    let mut profile = quiet(Region::Eu868);
    profile.dev_status.every_uplinks = Some(1000);
    let mut state = otaa(Region::Eu868, MacVersion::V1_0_4, profile);
    on_uplink(&mut state, &up(1), &[]);
    assert_eq!(fopts(&mut state), [0x06]);
    for fcnt in 2..=3 {
        let outcome = on_uplink(&mut state, &up(fcnt), &[]);
        assert!(outcome.needs_downlink, "retry {fcnt}");
        assert_eq!(fopts(&mut state), [0x06]);
    }
    assert_eq!(state.pending[0].attempts, 3);
    let outcome = on_uplink(&mut state, &up(4), &[]);
    assert_eq!(
        outcome.events,
        [MacEvent::GaveUp {
            request: "DevStatusReq",
            attempts: 3
        }]
    );
    assert_eq!(state.abandoned[0].reason, AbandonReason::Unanswered);
    assert!(state.pending.is_empty());
    assert!(fopts(&mut state).is_empty());
}

#[test]
fn dev_status_answer_is_reported_and_requested_again_after_the_period() {
    let mut profile = quiet(Region::Eu868);
    profile.dev_status.every_uplinks = Some(10);
    let mut state = otaa(Region::Eu868, MacVersion::V1_0_4, profile);
    on_uplink(&mut state, &up(1), &[]);
    assert_eq!(fopts(&mut state), [0x06]);
    // Battery 254, margin 0x3f = −1 dB (6-bit two's complement).
    let answer = MacCommand::DevStatusAns(lorawan::mac::DevStatusAns {
        battery: 254,
        margin: -1,
    });
    let mut bytes = Vec::new();
    answer.encode(&mut bytes).unwrap();
    assert_eq!(bytes, [0x06, 0xfe, 0x3f]);
    let outcome = on_uplink(&mut state, &up(2), &cmds(&bytes));
    let status = DevStatus {
        battery: 254,
        margin: -1,
        fcnt: 2,
    };
    assert_eq!(outcome.events, [MacEvent::DevStatus(status)]);
    assert_eq!(state.dev_status, Some(status));
    on_uplink(&mut state, &up(10), &[]);
    assert!(fopts(&mut state).is_empty(), "9 uplinks after");
    on_uplink(&mut state, &up(11), &[]);
    assert_eq!(fopts(&mut state), [0x06]);
}

#[test]
fn the_fopts_budget_is_respected_and_port_0_carries_more() {
    let mut profile = quiet(Region::Eu868).with_channel(ExtraChannel {
        index: 3,
        frequency: 867_100_000,
        min_dr: 0,
        max_dr: 5,
    });
    profile.wanted.rx2_data_rate = 3;
    profile.wanted.rx1_delay = 5;
    profile.wanted.max_duty_cycle = 2;
    let mut state = otaa(Region::Eu868, MacVersion::V1_0_4, profile);
    let before = state.clone();
    on_uplink(&mut state, &up(1), &cmds(&[0x02]));
    let plan = commands_for_downlink(&mut state, MacCarrier::FOpts);
    // LinkCheckAns 3 + RXParamSetupReq 5 + RXTimingSetupReq 2 + DutyCycleReq 2 = 12; the
    // 6-byte NewChannelReq does not fit in 15.
    assert_eq!(
        plan.bytes,
        [0x02, 15, 1, 0x05, 0x03, 0xd2, 0xad, 0x84, 0x08, 0x05, 0x04, 0x02]
    );
    assert_eq!(plan.left_out, 1);
    assert!(plan.bytes.len() <= FOPTS_MAX_LEN);

    let mut state = before;
    on_uplink(&mut state, &up(1), &cmds(&[0x02]));
    let plan = commands_for_downlink(&mut state, MacCarrier::Port0 { max_len: 51 });
    assert_eq!(plan.left_out, 0);
    // NewChannelReq: index 3, 867.1 MHz, DR5..DR0.
    assert_eq!(plan.bytes[12..], [0x07, 0x03, 0x18, 0x4f, 0x84, 0x50]);
    assert_eq!(plan.commands.len(), 5);
}

#[test]
fn new_channel_and_dl_channel_answers_define_the_channel() {
    let mut profile = quiet(Region::Eu868).with_channel(ExtraChannel {
        index: 3,
        frequency: 867_100_000,
        min_dr: 0,
        max_dr: 5,
    });
    profile.wanted.dl_frequencies.push(DlFrequency {
        index: 3,
        frequency: 869_100_000,
    });
    let mut state = otaa(Region::Eu868, MacVersion::V1_0_4, profile);
    on_uplink(&mut state, &up(1), &[]);
    // No DlChannelReq yet: channel 3 does not exist on the device.
    assert_eq!(fopts(&mut state), [0x07, 0x03, 0x18, 0x4f, 0x84, 0x50]);
    let outcome = on_uplink(&mut state, &up(2), &cmds(&[0x07, 0x03]));
    assert_eq!(
        outcome.events,
        [MacEvent::Confirmed {
            request: "NewChannelReq"
        }]
    );
    assert!(state.confirmed.enabled_channels.contains(3));
    assert_eq!(state.confirmed.extra_channels.len(), 1);
    // Now the RX1 frequency of channel 3: 869.1 MHz.
    assert_eq!(fopts(&mut state), [0x0a, 0x03, 0x38, 0x9d, 0x84]);
    // Uplink frequency exists, channel frequency not OK: refused.
    let outcome = on_uplink(&mut state, &up(3), &cmds(&[0x0a, 0x02]));
    assert_eq!(
        outcome.events,
        [MacEvent::Refused {
            request: "DlChannelReq",
            parts: vec!["ChannelFrequency"]
        }]
    );
    assert!(state.confirmed.dl_frequencies.is_empty());
}

#[test]
fn unknown_and_unsolicited_commands_are_ignored_with_a_reason() {
    let mut state = eu(MacVersion::V1_0_4);
    // LinkADRAns nobody asked for, DutyCycleAns, then a proprietary CID with two bytes.
    let outcome = on_uplink(
        &mut state,
        &up(1),
        &cmds(&[0x03, 0x07, 0x04, 0x80, 0x01, 0x02]),
    );
    let reasons: Vec<_> = outcome.ignored.iter().map(|i| i.reason).collect();
    assert_eq!(
        reasons,
        [
            IgnoreReason::Unsolicited,
            IgnoreReason::Unsolicited,
            IgnoreReason::Unknown
        ]
    );
    // A downlink command handed in as if it were an uplink one.
    let outcome = on_uplink(&mut state, &up(2), &[MacCommand::DevStatusReq]);
    assert_eq!(outcome.ignored[0].reason, IgnoreReason::WrongDirection);
    // The same FCnt again: a retransmission, nothing done.
    let outcome = on_uplink(&mut state, &up(2), &cmds(&[0x02]));
    assert_eq!(outcome.ignored[0].reason, IgnoreReason::Retransmission);
    assert!(state.owed.is_empty());
}

#[test]
fn reset_ind_resets_a_1_1_device_and_is_confirmed() {
    let profile = quiet(Region::Eu868);
    let mut state = MacState::new(Region::Eu868, MacVersion::V1_1, profile, Activation::Abp);
    state.confirmed.rx1_delay = 4;
    // A later profile change is not what the device was programmed with.
    state.profile.wanted.rx1_delay = 2;
    enqueue(&mut state, MacCommand::DevStatusReq).unwrap();
    let outcome = on_uplink(&mut state, &up(1), &cmds(&[0x01, 0x01]));
    assert_eq!(outcome.events, [MacEvent::DeviceReset { minor: 1 }]);
    assert_eq!(state.confirmed.rx1_delay, 1);
    // ResetConf 1.1, then the wanted RX1 delay again.
    assert_eq!(fopts(&mut state), [0x01, 0x01, 0x08, 0x02]);
    // An ABP device has no RekeyInd.
    let outcome = on_uplink(&mut state, &up(2), &cmds(&[0x0b, 0x01]));
    assert_eq!(outcome.ignored[0].reason, IgnoreReason::WrongActivation);
    // An OTAA device has no ResetInd.
    let mut state = eu(MacVersion::V1_1);
    let outcome = on_uplink(&mut state, &up(1), &cmds(&[0x01, 0x01]));
    assert_eq!(outcome.ignored[0].reason, IgnoreReason::WrongActivation);
    assert!(fopts(&mut state).is_empty());
    // A 1.0.4 session has no ResetInd.
    let mut state = eu(MacVersion::V1_0_4);
    let outcome = on_uplink(&mut state, &up(1), &cmds(&[0x01, 0x01]));
    assert_eq!(outcome.ignored[0].reason, IgnoreReason::NotInVersion);
    assert!(fopts(&mut state).is_empty());
}

#[test]
fn rekey_and_device_mode_are_confirmed_in_1_1() {
    let mut state = eu(MacVersion::V1_1);
    // A device of a later minor version gets the version the network serves: 1.
    let outcome = on_uplink(&mut state, &up(1), &cmds(&[0x0b, 0x02, 0x20, 0x02]));
    assert_eq!(
        outcome.events,
        [
            MacEvent::Rekeyed { minor: 2 },
            MacEvent::ClassChanged(DeviceClass::C)
        ]
    );
    assert_eq!(state.class, DeviceClass::C);
    assert_eq!(fopts(&mut state), [0x0b, 0x01, 0x20, 0x02]);
    // RFU class: ignored.
    let outcome = on_uplink(&mut state, &up(2), &cmds(&[0x20, 0x01]));
    assert_eq!(outcome.ignored[0].reason, IgnoreReason::RfuValue);
}

#[test]
fn class_b_ping_slots_beacon_frequency_and_beacon_timing() {
    let mut profile = quiet(Region::Eu868);
    profile.wanted.ping_slot_frequency = 869_525_000;
    profile.wanted.beacon_frequency = 869_525_000;
    let mut state = otaa(Region::Eu868, MacVersion::V1_0_3, profile);
    // Periodicity 3 (every 8 s) and a BeaconTimingReq.
    let outcome = on_uplink(&mut state, &up(1), &cmds(&[0x10, 0x03, 0x12]));
    assert_eq!(outcome.events, [MacEvent::PingSlotInfo { periodicity: 3 }]);
    // PingSlotInfoAns; BeaconTimingAns: RX1 at GPS 1388102419 s, next beacon at
    // 10844551 × 128 s = 1388102528 s: 109 s = 3633 × 30 ms (0x0e31), channel 0; then
    // PingSlotChannelReq (869.525 MHz, DR3) and BeaconFreqReq.
    let plan = commands_for_downlink(&mut state, MacCarrier::Port0 { max_len: 51 });
    assert_eq!(
        plan.bytes,
        [0x10, 0x12, 0x31, 0x0e, 0x00, 0x11, 0xd2, 0xad, 0x84, 0x03, 0x13, 0xd2, 0xad, 0x84]
    );
    let outcome = on_uplink(&mut state, &up(2), &cmds(&[0x11, 0x03, 0x13, 0x01]));
    assert_eq!(outcome.events.len(), 2);
    assert_eq!(state.confirmed.ping_slot_frequency, 869_525_000);
    assert_eq!(state.confirmed.beacon_frequency, 869_525_000);
    // BeaconTimingReq is deprecated in 1.1.
    let mut state = eu(MacVersion::V1_1);
    let outcome = on_uplink(&mut state, &up(1), &cmds(&[0x12]));
    assert_eq!(outcome.ignored[0].reason, IgnoreReason::NotInVersion);
}

#[test]
fn tx_param_setup_in_as923() {
    let region = Region::As923_1;
    let mut profile = quiet(region);
    profile.wanted.tx_params = Some(TxParams {
        uplink_dwell_time: true,
        downlink_dwell_time: true,
        max_eirp: 5,
    });
    let mut state = otaa(region, MacVersion::V1_0_4, profile);
    on_uplink(&mut state, &up(1), &[]);
    assert_eq!(fopts(&mut state), [0x09, 0x35]);
    on_uplink(&mut state, &up(2), &cmds(&[0x09]));
    assert_eq!(state.confirmed.tx_params, state.profile.wanted.tx_params);
    // Not in EU868.
    let mut eu = eu(MacVersion::V1_0_4);
    let request = MacCommand::TxParamSetupReq(lorawan::mac::TxParamSetupReq {
        downlink_dwell_time: false,
        uplink_dwell_time: false,
        max_eirp: 0,
    });
    assert!(matches!(
        enqueue(&mut eu, request),
        Err(EnqueueError::NotInRegion(_))
    ));
}

#[test]
fn duty_cycle_rx_timing_and_the_1_1_parameters() {
    let mut profile = quiet(Region::Eu868);
    profile.wanted.max_duty_cycle = 7;
    profile.wanted.rx1_delay = 3;
    profile.wanted.adr_ack_limit_exp = 7;
    profile.wanted.rejoin = Some(RejoinParams {
        max_time_n: 10,
        max_count_n: 4,
    });
    let mut state = otaa(Region::Eu868, MacVersion::V1_1, profile);
    on_uplink(&mut state, &up(1), &[]);
    // RXTimingSetupReq 3, DutyCycleReq 7, ADRParamSetupReq 0x75, RejoinParamSetupReq 0xa4.
    assert_eq!(
        fopts(&mut state),
        [0x08, 0x03, 0x04, 0x07, 0x0c, 0x75, 0x0f, 0xa4]
    );
    // TimeOK clear: the count applies, the time does not.
    let outcome = on_uplink(&mut state, &up(2), &cmds(&[0x08, 0x04, 0x0c, 0x0f, 0x00]));
    assert_eq!(outcome.events.len(), 4);
    let c = &state.confirmed;
    assert_eq!(
        (c.rx1_delay, c.max_duty_cycle, c.adr_ack_limit_exp),
        (3, 7, 7)
    );
    assert_eq!(c.rejoin.map(|r| r.max_count_n), Some(4));
    assert!(matches!(
        outcome.events[3],
        MacEvent::Refused {
            request: "RejoinParamSetupReq",
            ..
        }
    ));
    on_uplink(&mut state, &up(3), &[]);
    assert!(
        fopts(&mut state).is_empty(),
        "the refused one is not resent"
    );
}

#[test]
fn operator_requests_force_rejoin_needs_1_1_and_expects_no_answer() {
    let force = MacCommand::ForceRejoinReq(lorawan::mac::ForceRejoinReq {
        period: 1,
        max_retries: 2,
        rejoin_type: 2,
        data_rate: 3,
    });
    let mut state = eu(MacVersion::V1_0_4);
    assert!(matches!(
        enqueue(&mut state, force.clone()),
        Err(EnqueueError::NotInVersion { .. })
    ));
    assert!(matches!(
        enqueue(&mut state, MacCommand::LinkCheckReq),
        Err(EnqueueError::NotARequest(_))
    ));
    let mut state = eu(MacVersion::V1_1);
    enqueue(&mut state, force).unwrap();
    // Period 1 << 11 | retries 2 << 8 | type 2 << 4 | DR3 = 0x0a23, little-endian.
    assert_eq!(fopts(&mut state), [0x0e, 0x23, 0x0a]);
    assert!(state.pending.is_empty());
}

#[test]
fn a_lost_downlink_does_not_count_as_an_attempt() {
    let mut profile = quiet(Region::Eu868);
    profile.dev_status.every_uplinks = Some(1000);
    let mut state = otaa(Region::Eu868, MacVersion::V1_0_4, profile);
    on_uplink(&mut state, &up(1), &cmds(&[0x02]));
    let plan = commands_for_downlink(&mut state, MacCarrier::FOpts);
    assert_eq!(plan.bytes, [0x02, 15, 1, 0x06]);
    on_downlink_lost(&mut state, &plan);
    assert_eq!(state.pending[0].attempts, 0);
    assert_eq!(fopts(&mut state), [0x02, 15, 1, 0x06]);
}

#[test]
fn an_otaa_session_starts_from_the_join_accept() {
    let region = Region::Eu868;
    let profile = quiet(region).with_channel(ExtraChannel {
        index: 3,
        frequency: 867_100_000,
        min_dr: 0,
        max_dr: 5,
    });
    let join = JoinAcceptSettings::from_profile(region, &profile);
    assert!(join.cf_list.is_some());
    let state = MacState::new(region, MacVersion::V1_0_4, profile, Activation::Otaa(join));
    assert_eq!(state.confirmed.enabled_channels, ChannelMask::first(4));
    assert_eq!(
        state.confirmed.extra_channels,
        state.profile.wanted.extra_channels
    );
}

#[test]
fn the_state_round_trips_through_json() {
    let mut profile = quiet(Region::Us915);
    profile.wanted.enabled_channels = ChannelMask::range(8, 16).with(65, true);
    profile.dev_status.every_uplinks = Some(5);
    let mut state = otaa(Region::Us915, MacVersion::V1_1, profile);
    on_uplink(&mut state, &adr_uplink(1, 0, 3.5), &cmds(&[0x02, 0x0d]));
    let plan = commands_for_downlink(&mut state, MacCarrier::Port0 { max_len: 11 });
    assert!(plan.left_out > 0);
    on_uplink(&mut state, &adr_uplink(2, 0, 3.5), &cmds(&[0x03, 0x06]));
    assert!(!state.pending.is_empty() && !state.history.is_empty());
    let json = serde_json::to_string(&state).unwrap();
    assert!(
        json.contains("\"US915\"") && json.contains("\"1.1.0\""),
        "{json}"
    );
    let back: MacState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);
    // A stored command that is not one command is refused, not invented.
    let bad = json.replacen("\"06\"", "\"0606\"", 1);
    assert!(bad == json || serde_json::from_str::<MacState>(&bad).is_err());
}

#[test]
fn dl_channel_and_ping_slot_channel_answers() {
    let mut profile = quiet(Region::Eu868);
    profile.wanted.dl_frequencies.push(DlFrequency {
        index: 1,
        frequency: 869_100_000,
    });
    profile.wanted.ping_slot_data_rate = 5;
    let mut state = otaa(Region::Eu868, MacVersion::V1_0_4, profile);
    state.confirmed.ping_slot_periodicity = Some(0);
    on_uplink(&mut state, &up(1), &[]);
    // DlChannelReq channel 1 → 869.1 MHz; PingSlotChannelReq default frequency, DR5.
    assert_eq!(
        fopts(&mut state),
        [0x0a, 0x01, 0x38, 0x9d, 0x84, 0x11, 0x00, 0x00, 0x00, 0x05]
    );
    let outcome = on_uplink(&mut state, &up(2), &cmds(&[0x0a, 0x03, 0x11, 0x01]));
    assert_eq!(
        outcome.events,
        [
            MacEvent::Confirmed {
                request: "DlChannelReq"
            },
            MacEvent::Refused {
                request: "PingSlotChannelReq",
                parts: vec!["DataRateOK"]
            }
        ]
    );
    assert_eq!(
        state.confirmed.dl_frequencies,
        state.profile.wanted.dl_frequencies
    );
    assert_eq!(state.confirmed.ping_slot_data_rate, 3);
    // The sticky DlChannelAns is repeated: no new request, a downlink to stop it.
    let outcome = on_uplink(&mut state, &up(3), &cmds(&[0x0a, 0x03]));
    assert_eq!(outcome.ignored[0].reason, IgnoreReason::StickyRepeat);
    assert!(outcome.needs_downlink);
    assert!(fopts(&mut state).is_empty());
}

mod link_adr;

/// A device that accepts everything: the answers (uplink bytes) to a downlink's commands,
/// one `LinkADRAns` per `LinkADRReq` (1.0.2 … 1.0.4 style).
fn obliging_device(downlink: &[MacCommand]) -> Vec<u8> {
    use lorawan::mac::{
        BeaconFreqAns, DevStatusAns, DlChannelAns, LinkAdrAns, NewChannelAns, PingSlotChannelAns,
        RejoinParamSetupAns, RxParamSetupAns,
    };
    use MacCommand as M;
    let answers: Vec<MacCommand> = downlink
        .iter()
        .filter_map(|c| {
            Some(match c {
                M::LinkAdrReq(_) => M::LinkAdrAns(LinkAdrAns {
                    power_ack: true,
                    data_rate_ack: true,
                    channel_mask_ack: true,
                }),
                M::DutyCycleReq(_) => M::DutyCycleAns,
                M::RxParamSetupReq(_) => M::RxParamSetupAns(RxParamSetupAns {
                    rx1_dr_offset_ack: true,
                    rx2_data_rate_ack: true,
                    channel_ack: true,
                }),
                M::DevStatusReq => M::DevStatusAns(DevStatusAns {
                    battery: 100,
                    margin: 7,
                }),
                M::NewChannelReq(_) => M::NewChannelAns(NewChannelAns {
                    data_rate_range_ok: true,
                    channel_frequency_ok: true,
                }),
                M::RxTimingSetupReq(_) => M::RxTimingSetupAns,
                M::TxParamSetupReq(_) => M::TxParamSetupAns,
                M::DlChannelReq(_) => M::DlChannelAns(DlChannelAns {
                    uplink_frequency_exists: true,
                    channel_frequency_ok: true,
                }),
                M::AdrParamSetupReq(_) => M::AdrParamSetupAns,
                M::RejoinParamSetupReq(_) => {
                    M::RejoinParamSetupAns(RejoinParamSetupAns { time_ok: true })
                }
                M::PingSlotChannelReq(_) => M::PingSlotChannelAns(PingSlotChannelAns {
                    data_rate_ok: true,
                    channel_frequency_ok: true,
                }),
                M::BeaconFreqReq(_) => M::BeaconFreqAns(BeaconFreqAns {
                    beacon_frequency_ok: true,
                }),
                _ => return None,
            })
        })
        .collect();
    let mut bytes = Vec::new();
    lorawan::mac::encode_commands(&answers, &mut bytes).expect("answers encode");
    bytes
}

#[test]
fn an_obliging_device_converges_on_the_profile_and_then_all_is_quiet() {
    let region = Region::Eu868;
    let mut profile = quiet(region).with_channel(ExtraChannel {
        index: 3,
        frequency: 867_100_000,
        min_dr: 0,
        max_dr: 5,
    });
    profile.wanted.rx1_dr_offset = 2;
    profile.wanted.rx2_data_rate = 3;
    profile.wanted.rx1_delay = 3;
    profile.wanted.max_duty_cycle = 4;
    profile.wanted.adr_ack_limit_exp = 5;
    profile.wanted.rejoin = Some(RejoinParams {
        max_time_n: 3,
        max_count_n: 2,
    });
    profile.dev_status.every_uplinks = Some(50);
    let mut state = otaa(region, MacVersion::V1_0_4, profile);
    // ADRParamSetupReq and RejoinParamSetupReq are 1.1 commands: never sent here.
    let mut answers = Vec::new();
    // The device applies a LinkADRReq on reception: its next uplink is at the new rate.
    let mut device_dr = 0;
    for fcnt in 1..=8 {
        on_uplink(
            &mut state,
            &adr_uplink(fcnt, device_dr, 2.0),
            &cmds(&answers),
        );
        let plan = commands_for_downlink(&mut state, MacCarrier::FOpts);
        assert!(plan.bytes.len() <= FOPTS_MAX_LEN);
        for command in &plan.commands {
            if let MacCommand::LinkAdrReq(r) = command {
                if r.data_rate != adr::KEEP {
                    device_dr = r.data_rate;
                }
            }
        }
        answers = obliging_device(&plan.commands);
    }
    assert!(state.pending.is_empty(), "{:?}", state.pending);
    assert!(state.abandoned.is_empty());
    let (c, w) = (&state.confirmed, &state.profile.wanted);
    assert_eq!(c.extra_channels, w.extra_channels);
    assert_eq!(c.enabled_channels, ChannelMask::first(4));
    assert_eq!(
        (
            c.rx1_dr_offset,
            c.rx2_data_rate,
            c.rx1_delay,
            c.max_duty_cycle
        ),
        (2, 3, 3, 4)
    );
    // SNR 2 dB with a 10 dB margin: SF8 (needs −10 dB) is as fast as it gets.
    assert_eq!(c.data_rate, 4);
    assert_eq!((c.rejoin, c.adr_ack_limit_exp), (None, 6));
    assert!(state.dev_status.is_some());
    // Quiet: the next uplinks need nothing.
    for fcnt in 9..=12 {
        let outcome = on_uplink(
            &mut state,
            &adr_uplink(fcnt, device_dr, 2.0),
            &cmds(&answers),
        );
        answers.clear();
        assert!(!outcome.needs_downlink, "uplink {fcnt}: {outcome:?}");
    }
}

/// A small deterministic generator (xorshift) for the robustness test below.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn byte(&mut self) -> u8 {
        (self.next() >> 32) as u8
    }
}

#[test]
fn arbitrary_uplink_commands_never_panic_and_the_state_stays_storable() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let versions = [MacVersion::V1_0_2, MacVersion::V1_0_4, MacVersion::V1_1];
    for round in 0..200 {
        let region = Region::ALL[round % Region::ALL.len()];
        let version = versions[round % versions.len()];
        let mut profile = quiet(region);
        profile.dev_status.every_uplinks = Some(3);
        let activation = if round % 2 == 0 {
            Activation::Abp
        } else {
            Activation::Otaa(JoinAcceptSettings::from_profile(region, &profile))
        };
        let mut state = MacState::new(region, version, profile, activation);
        for fcnt in 0..30u32 {
            let len = usize::from(rng.byte() % 16);
            let bytes: Vec<u8> = (0..len).map(|_| rng.byte() % 0x22).collect();
            let Ok(commands) = parse_commands(&bytes, Direction::Uplink) else {
                continue;
            };
            let uplink = UplinkFacts {
                fcnt: fcnt / 2 * 2 + u32::from(rng.byte() % 2),
                data_rate: rng.byte() % 16,
                adr: rng.byte().is_multiple_of(2),
                adr_ack_req: rng.byte().is_multiple_of(4),
                confirmed: rng.byte().is_multiple_of(3),
                max_snr: f32::from(rng.byte() % 60) - 30.0,
                max_rssi: -120.0,
                gateway_count: rng.byte() % 4,
                received_unix_ms: T0_MS + u64::from(fcnt) * 60_000,
                gps_time: None,
            };
            on_uplink(&mut state, &uplink, &commands);
            let carrier = if rng.byte().is_multiple_of(2) {
                MacCarrier::FOpts
            } else {
                MacCarrier::Port0 { max_len: 51 }
            };
            let plan = commands_for_downlink(&mut state, carrier);
            let budget = match carrier {
                MacCarrier::FOpts => FOPTS_MAX_LEN,
                MacCarrier::Port0 { max_len } => max_len,
            };
            assert!(plan.bytes.len() <= budget);
            assert_eq!(
                parse_commands(&plan.bytes, Direction::Downlink).as_ref(),
                Ok(&plan.commands)
            );
        }
        let json = serde_json::to_string(&state).expect("serializes");
        let back: MacState = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, state, "round {round}");
    }
}

/// A session after 25 ADR uplinks at DR5: a full history and a `LinkADRReq` queued.
fn settled_session() -> MacState {
    let mut state = eu(MacVersion::V1_0_4);
    for fcnt in 1..=25 {
        let _ = on_uplink(&mut state, &adr_uplink(fcnt, 5, 7.25), &[]);
    }
    state
}

#[test]
fn the_stored_document_is_compact_and_reads_back_the_same() {
    let state = settled_session();
    let json = serde_json::to_string(&state).expect("serializable");
    assert!(
        json.contains(r#""history":[[6,7.25,1,5,0],[7,7.25,1,5,0],"#),
        "history records are arrays: {json}"
    );
    assert!(!json.contains("null") && !json.contains("[]"), "{json}");
    // The spelled-out form of the same session was 2,744 bytes.
    assert!(json.len() < 1_300, "{} bytes: {json}", json.len());
    let read: MacState = serde_json::from_str(&json).expect("readable");
    assert_eq!(read, state);
}

#[test]
fn a_document_with_every_optional_part_reads_back_the_same() {
    let mut state = settled_session();
    let params = &mut state.confirmed;
    params.extra_channels.push(ExtraChannel {
        index: 3,
        frequency: 867_100_000,
        min_dr: 0,
        max_dr: 5,
    });
    params.dl_frequencies.push(DlFrequency {
        index: 3,
        frequency: 868_100_000,
    });
    params.tx_power = 2;
    params.rx1_dr_offset = 1;
    params.max_duty_cycle = 4;
    params.tx_params = Some(TxParams {
        uplink_dwell_time: true,
        downlink_dwell_time: false,
        max_eirp: 5,
    });
    params.ping_slot_periodicity = Some(3);
    params.ping_slot_frequency = 869_525_000;
    params.beacon_frequency = 869_525_000;
    params.rejoin = Some(RejoinParams {
        max_time_n: 2,
        max_count_n: 3,
    });
    state.owed = parse_commands(&[0x02, 15, 3], Direction::Downlink)
        .expect("a LinkCheckAns")
        .into_iter()
        .map(StoredCommand)
        .collect();
    state.sticky_answers = vec![0x05];
    state.dev_status = Some(DevStatus {
        battery: 200,
        margin: -3,
        fcnt: 20,
    });
    state.dev_status_requested = Some(RequestMark {
        fcnt: 19,
        unix_ms: T0_MS,
    });
    state.adr_limits.max_data_rate = Some(4);
    state.abandoned.push(Abandoned {
        commands: state.pending[0].commands.clone(),
        reason: AbandonReason::Refused,
        at_fcnt: 21,
    });
    let json = serde_json::to_string(&state).expect("serializable");
    let read: MacState = serde_json::from_str(&json).expect("readable");
    assert_eq!(read, state);
}

#[test]
fn a_document_in_the_earlier_spelled_out_form_still_reads() {
    // What the same session was stored as before the compact form (sessions stored by an
    // earlier release are read with it).
    let earlier = concat!(
        r#"{"region":"EU868","version":"1.0.4","activation":"Otaa","class":"A","#,
        r#""confirmed":{"enabled_channels":"0x7","extra_channels":[],"dl_frequencies":[],"#,
        r#""data_rate":5,"tx_power":0,"nb_trans":1,"rx1_dr_offset":0,"rx2_data_rate":0,"#,
        r#""rx2_frequency":869525000,"rx1_delay":1,"max_duty_cycle":0,"tx_params":null,"#,
        r#""ping_slot_periodicity":null,"ping_slot_data_rate":3,"ping_slot_frequency":0,"#,
        r#""beacon_frequency":0,"adr_ack_limit_exp":6,"adr_ack_delay_exp":5,"rejoin":null},"#,
        r#""profile":{"wanted":{"enabled_channels":"0x7","extra_channels":[],"#,
        r#""dl_frequencies":[],"data_rate":0,"tx_power":0,"nb_trans":1,"rx1_dr_offset":0,"#,
        r#""rx2_data_rate":0,"rx2_frequency":869525000,"rx1_delay":1,"max_duty_cycle":0,"#,
        r#""tx_params":null,"ping_slot_periodicity":null,"ping_slot_data_rate":3,"#,
        r#""ping_slot_frequency":0,"beacon_frequency":0,"adr_ack_limit_exp":6,"#,
        r#""adr_ack_delay_exp":5,"rejoin":null},"adr":{"enabled":true,"margin_db":10.0,"#,
        r#""max_dr":15,"max_tx_power":7,"max_nb_trans":3},"#,
        r#""dev_status":{"every_uplinks":null,"every_secs":null},"max_attempts":3},"#,
        r#""pending":[{"commands":["03f2070001"],"status":"Queued","attempts":0,"#,
        r#""origin":"Network"}],"owed":[],"sticky_answers":[],"dev_status":null,"#,
        r#""dev_status_requested":null,"history":["#,
    );
    let records: Vec<String> = (6..=25)
        .map(|fcnt| {
            format!(
                r#"{{"fcnt":{fcnt},"max_snr":7.25,"gateway_count":1,"data_rate":5,"tx_power":0}}"#
            )
        })
        .collect();
    let document = format!(
        "{earlier}{}],{}",
        records.join(","),
        r#""adr_limits":{"max_data_rate":null,"max_tx_power":null},"abandoned":[],"last_fcnt":25,"last_uplink_unix_ms":1704067200000}"#
    );
    let read: MacState = serde_json::from_str(&document).expect("the earlier form reads");
    assert_eq!(read, settled_session());
}

#[test]
fn the_adr_history_is_held_at_its_final_size() {
    // Every heard device keeps a history: no room for more than HISTORY_LEN records.
    let state = settled_session();
    assert_eq!(state.history.len(), HISTORY_LEN);
    assert_eq!(state.history.capacity(), HISTORY_LEN);
    assert_eq!(state.history.first().map(|r| r.fcnt), Some(6));
    // A state read back from storage (its vector grown while parsing) is trimmed at the
    // next uplink.
    let json = serde_json::to_string(&state).expect("serializable");
    let mut read: MacState = serde_json::from_str(&json).expect("readable");
    let _ = on_uplink(&mut read, &adr_uplink(26, 5, 7.25), &[]);
    assert_eq!(read.history.capacity(), HISTORY_LEN);
    assert_eq!(
        read.history.iter().map(|r| r.fcnt).collect::<Vec<_>>(),
        (7..=26).collect::<Vec<_>>()
    );
}
