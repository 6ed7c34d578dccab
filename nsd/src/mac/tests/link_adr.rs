//! `LinkADRReq` blocks and their answers, and ADR driven through the engine.

use lorawan::join::MacVersion;
use lorawan::region::{ChannelMask, Region};

use super::*;

#[test]
fn a_link_adr_block_is_answered_as_a_block() {
    // US915 sub-band 2: channels 8..15 and 65.
    let region = Region::Us915;
    let mut profile = quiet(region);
    profile.wanted.enabled_channels = ChannelMask::range(8, 16).with(65, true);
    let mut state = otaa(region, MacVersion::V1_0_4, MacProfile::new(region));
    state.profile = profile;
    state.confirmed.enabled_channels = ChannelMask::first(72);
    let before = state.clone();
    on_uplink(&mut state, &up(1), &[]);
    // All 125 kHz off + 500 kHz mask 0x0002 (ChMaskCntl 7), then channels 8..15 (block 0);
    // DR and power 0xF (keep), NbTrans 1.
    assert_eq!(
        fopts(&mut state),
        [0x03, 0xff, 0x02, 0x00, 0x71, 0x03, 0xff, 0x00, 0xff, 0x01]
    );
    let outcome = on_uplink(&mut state, &up(2), &cmds(&[0x03, 0x07, 0x03, 0x07]));
    assert_eq!(
        outcome.events,
        [MacEvent::Confirmed {
            request: "LinkADRReq"
        }]
    );
    assert_eq!(
        state.confirmed.enabled_channels,
        state.profile.wanted.enabled_channels
    );

    // One answer for a two-command block: applied, and noted.
    let mut state = before.clone();
    on_uplink(&mut state, &up(1), &[]);
    fopts(&mut state);
    let outcome = on_uplink(&mut state, &up(2), &cmds(&[0x03, 0x07]));
    assert_eq!(
        outcome.events[0],
        MacEvent::LinkAdrAnswerCount {
            expected: 2,
            answered: 1
        }
    );
    assert_eq!(
        state.confirmed.enabled_channels,
        state.profile.wanted.enabled_channels
    );

    // Channel mask refused: nothing applied, the same mask is not sent again.
    let mut state = before;
    on_uplink(&mut state, &up(1), &[]);
    fopts(&mut state);
    let outcome = on_uplink(&mut state, &up(2), &cmds(&[0x03, 0x06, 0x03, 0x06]));
    assert_eq!(
        outcome.events,
        [MacEvent::Refused {
            request: "LinkADRReq",
            parts: vec!["ChannelMaskACK"]
        }]
    );
    assert_eq!(state.confirmed.enabled_channels, ChannelMask::first(72));
    on_uplink(&mut state, &up(3), &[]);
    assert!(fopts(&mut state).is_empty());
}

#[test]
fn a_1_1_device_answers_a_block_once() {
    let region = Region::Us915;
    let mut profile = quiet(region);
    profile.wanted.enabled_channels = ChannelMask::range(8, 16).with(65, true);
    let mut state = otaa(region, MacVersion::V1_1, profile);
    state.confirmed.enabled_channels = ChannelMask::first(72);
    let before = state.clone();
    on_uplink(&mut state, &up(1), &[]);
    assert_eq!(fopts(&mut state).len(), 10, "a two-command block");
    let outcome = on_uplink(&mut state, &up(2), &cmds(&[0x03, 0x07]));
    assert_eq!(
        outcome.events,
        [MacEvent::Confirmed {
            request: "LinkADRReq"
        }]
    );
    // Two answers from a 1.1 device: noted, used.
    let mut state = before;
    on_uplink(&mut state, &up(1), &[]);
    fopts(&mut state);
    let outcome = on_uplink(&mut state, &up(2), &cmds(&[0x03, 0x07, 0x03, 0x07]));
    assert_eq!(
        outcome.events[0],
        MacEvent::LinkAdrAnswerCount {
            expected: 1,
            answered: 2
        }
    );
    assert_eq!(
        state.confirmed.enabled_channels,
        state.profile.wanted.enabled_channels
    );
}

#[test]
fn adr_raises_the_data_rate_and_lowers_the_power_on_a_good_link() {
    let mut state = eu(MacVersion::V1_0_4);
    // SNR 5 dB at SF12: DR5 and one power step (see adr::tests).
    let outcome = on_uplink(&mut state, &adr_uplink(1, 0, 5.0), &[]);
    assert!(outcome.needs_downlink);
    // DR5 | power 1, channels 0..2, ChMaskCntl 0 | NbTrans 1.
    assert_eq!(fopts(&mut state), [0x03, 0x51, 0x07, 0x00, 0x01]);
    let outcome = on_uplink(&mut state, &adr_uplink(2, 5, 5.0), &cmds(&[0x03, 0x07]));
    assert_eq!(
        outcome.events,
        [MacEvent::Confirmed {
            request: "LinkADRReq"
        }]
    );
    assert_eq!(
        (state.confirmed.data_rate, state.confirmed.tx_power),
        (5, 1)
    );
}

#[test]
fn adr_raises_the_power_on_a_bad_link() {
    let mut state = eu(MacVersion::V1_0_4);
    state.confirmed.data_rate = 5;
    state.confirmed.tx_power = 5;
    // SF7 at −3 dB: 5.5 dB short → three 2 dB steps up; DR unchanged → 0xF.
    on_uplink(&mut state, &adr_uplink(1, 5, -3.0), &[]);
    assert_eq!(fopts(&mut state), [0x03, 0xf2, 0x07, 0x00, 0x01]);
}

#[test]
fn keep_values_only_for_1_0_4_and_later() {
    for (version, first) in [
        (MacVersion::V1_0_3, 0x52),
        (MacVersion::V1_0_4, 0xf2),
        (MacVersion::V1_1, 0xf2),
    ] {
        let mut state = eu(version);
        state.confirmed.data_rate = 5;
        state.confirmed.tx_power = 5;
        on_uplink(&mut state, &adr_uplink(1, 5, -3.0), &[]);
        assert_eq!(fopts(&mut state)[..2], [0x03, first], "{version}");
    }
}

#[test]
fn adr_on_a_lossy_link_adds_transmissions() {
    let mut state = eu(MacVersion::V1_0_4);
    state.confirmed.data_rate = 5;
    // 20 % lost: FCnt 1..=25 without every fifth; SNR just at the margin for SF7.
    for fcnt in (1..=25).filter(|f| f % 5 != 0) {
        on_uplink(&mut state, &adr_uplink(fcnt, 5, 2.5), &[]);
    }
    // DR and power kept (0xF), NbTrans 2.
    assert_eq!(fopts(&mut state), [0x03, 0xff, 0x07, 0x00, 0x02]);
}

#[test]
fn no_adr_bit_no_link_adr_but_adr_ack_req_gets_a_downlink() {
    // A link good enough for DR5, but the device did not set the ADR bit.
    let mut state = eu(MacVersion::V1_0_4);
    let good = UplinkFacts {
        max_snr: 10.0,
        ..up(1)
    };
    let outcome = on_uplink(&mut state, &good, &[]);
    assert!(!outcome.needs_downlink);
    assert!(state.pending.is_empty());
    assert_eq!(fopts(&mut state), Vec::<u8>::new());

    // ADR bit set, nothing to change (SNR just at the margin), ADRACKReq: a downlink, empty.
    let mut state = eu(MacVersion::V1_0_4);
    let mut uplink = adr_uplink(1, 0, -10.0);
    uplink.adr_ack_req = true;
    let outcome = on_uplink(&mut state, &uplink, &[]);
    assert!(outcome.needs_downlink);
    assert_eq!(fopts(&mut state), Vec::<u8>::new());
    // The same without ADRACKReq: no downlink needed.
    let outcome = on_uplink(&mut state, &adr_uplink(2, 0, -10.0), &[]);
    assert!(!outcome.needs_downlink);
}

#[test]
fn a_refused_data_rate_caps_adr() {
    let mut state = eu(MacVersion::V1_0_4);
    on_uplink(&mut state, &adr_uplink(1, 0, 5.0), &[]);
    assert_eq!(fopts(&mut state)[1], 0x51);
    // Data rate NACK: nothing applied, ADR stays below DR5.
    let outcome = on_uplink(&mut state, &adr_uplink(2, 0, 5.0), &cmds(&[0x03, 0x05]));
    assert_eq!(
        outcome.events,
        [MacEvent::Refused {
            request: "LinkADRReq",
            parts: vec!["DataRateACK"]
        }]
    );
    assert_eq!(state.confirmed.data_rate, 0);
    assert_eq!(state.adr_limits.max_data_rate, Some(4));
    // DR4 costs 10 dB of the 15: the remaining 5 dB buy two power steps.
    assert_eq!(fopts(&mut state)[1], 0x42);
}

#[test]
fn a_device_without_adr_takes_the_channel_mask_only() {
    // A 1.0.3 device, ADR off: the network only wants channel 2 off.
    let mut profile = quiet(Region::Eu868);
    profile.wanted.enabled_channels = ChannelMask::first(2);
    let mut state = otaa(Region::Eu868, MacVersion::V1_0_3, profile);
    on_uplink(&mut state, &up(1), &[]);
    // No 0xF before 1.0.4: the current DR0 / power 0 are written out.
    assert_eq!(fopts(&mut state), [0x03, 0x00, 0x03, 0x00, 0x01]);
    // Channel mask ACK only.
    let outcome = on_uplink(&mut state, &up(2), &cmds(&[0x03, 0x01]));
    assert_eq!(
        outcome.events,
        [MacEvent::Refused {
            request: "LinkADRReq",
            parts: vec!["PowerACK", "DataRateACK"]
        }]
    );
    assert_eq!(state.confirmed.enabled_channels, ChannelMask::first(2));
    assert_eq!(state.adr_limits, AdrLimits::default());
    on_uplink(&mut state, &up(3), &[]);
    assert!(fopts(&mut state).is_empty());
}

#[test]
fn a_refused_power_caps_adr_and_a_removed_channel_is_deleted() {
    let mut state = eu(MacVersion::V1_0_4);
    state.confirmed.data_rate = 5;
    state.confirmed.extra_channels.push(ExtraChannel {
        index: 3,
        frequency: 867_100_000,
        min_dr: 0,
        max_dr: 5,
    });
    state.confirmed.enabled_channels = ChannelMask::first(4);
    state.profile.wanted.enabled_channels = ChannelMask::first(4);
    // 13.5 dB of headroom at SF7: six 2 dB power steps; the profile no longer has channel 3.
    on_uplink(&mut state, &adr_uplink(1, 5, 16.0), &[]);
    assert_eq!(
        fopts(&mut state),
        [0x03, 0xf6, 0x0f, 0x00, 0x01, 0x07, 0x03, 0x00, 0x00, 0x00, 0x00]
    );
    // Power refused; the channel deleted (both bits set).
    let outcome = on_uplink(
        &mut state,
        &adr_uplink(2, 5, 16.0),
        &cmds(&[0x03, 0x03, 0x07, 0x03]),
    );
    assert_eq!(outcome.events.len(), 2);
    assert_eq!(state.adr_limits.max_tx_power, Some(5));
    assert!(state.confirmed.extra_channels.is_empty());
    assert!(!state.confirmed.enabled_channels.contains(3));
    // ADR stays at or below power index 5; channel 3 is gone from the mask now.
    assert_eq!(fopts(&mut state), [0x03, 0xf5, 0x07, 0x00, 0x01]);
}
