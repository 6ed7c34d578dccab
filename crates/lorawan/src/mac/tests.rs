use proptest::prelude::*;

use super::*;

fn parse_up(bytes: &[u8]) -> Vec<MacCommand> {
    parse_commands(bytes, Direction::Uplink).unwrap()
}

fn parse_down(bytes: &[u8]) -> Vec<MacCommand> {
    parse_commands(bytes, Direction::Downlink).unwrap()
}

fn encode(commands: &[MacCommand]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_commands(commands, &mut out).unwrap();
    out
}

#[test]
fn link_adr_req_fields() {
    let commands = parse_down(&[0x03, 0x51, 0x07, 0x00, 0x61]);
    assert_eq!(
        commands,
        vec![MacCommand::LinkAdrReq(LinkAdrReq {
            data_rate: 5,
            tx_power: 1,
            ch_mask: 0x0007,
            ch_mask_cntl: 6,
            nb_trans: 1,
        })]
    );
    assert_eq!(commands[0].name(), "LinkADRReq");
    assert_eq!(encode(&commands), [0x03, 0x51, 0x07, 0x00, 0x61]);
}

#[test]
fn dev_status_margin_is_six_bit_signed() {
    for (byte, margin) in [(0x00, 0), (0x1f, 31), (0x20, -32), (0x3f, -1), (0xff, -1)] {
        let commands = parse_up(&[0x06, 0xfe, byte]);
        assert_eq!(
            commands,
            vec![MacCommand::DevStatusAns(DevStatusAns {
                battery: 0xfe,
                margin
            })],
            "{byte:#x}"
        );
    }
    let too_low = MacCommand::DevStatusAns(DevStatusAns {
        battery: 0,
        margin: -33,
    });
    assert!(matches!(
        too_low.encode(&mut Vec::new()),
        Err(MacError::FieldOutOfRange {
            field: "margin",
            ..
        })
    ));
}

#[test]
fn device_time_ans_is_little_endian_with_fraction() {
    let commands = parse_down(&[0x0d, 0x78, 0x56, 0x34, 0x12, 0x80]);
    assert_eq!(
        commands,
        vec![MacCommand::DeviceTimeAns(DeviceTimeAns {
            seconds: 0x1234_5678,
            fractional: 0x80
        })]
    );
}

#[test]
fn frequencies_are_in_100_hz_steps() {
    // 868.1 MHz = 8681000 × 100 Hz = 0x847628.
    let commands = parse_down(&[0x07, 0x03, 0x28, 0x76, 0x84, 0x50]);
    assert_eq!(
        commands,
        vec![MacCommand::NewChannelReq(NewChannelReq {
            ch_index: 3,
            frequency: 868_100_000,
            max_dr: 5,
            min_dr: 0
        })]
    );
    let bad = MacCommand::BeaconFreqReq(BeaconFreqReq {
        frequency: 868_100_050,
    });
    assert!(bad.encode(&mut Vec::new()).is_err());
    // 1.2 .. 2.4 GHz cannot be expressed; 2.4 GHz uses 200 Hz steps.
    let gap = MacCommand::BeaconFreqReq(BeaconFreqReq {
        frequency: 1_500_000_000,
    });
    assert!(gap.encode(&mut Vec::new()).is_err());
    let ism = vec![MacCommand::BeaconFreqReq(BeaconFreqReq {
        frequency: 2_424_000_000,
    })];
    assert_eq!(encode(&ism), [0x13, 0xc0, 0xef, 0xb8]);
    assert_eq!(parse_down(&encode(&ism)), ism);
}

#[test]
fn force_rejoin_bit_layout() {
    // Period 3, MaxRetries 2, RejoinType 2, DR 5: 0b00_011_010_0_010_0101 = 0x1a25.
    let commands = parse_down(&[0x0e, 0x25, 0x1a]);
    assert_eq!(
        commands,
        vec![MacCommand::ForceRejoinReq(ForceRejoinReq {
            period: 3,
            max_retries: 2,
            rejoin_type: 2,
            data_rate: 5
        })]
    );
    assert_eq!(encode(&commands), [0x0e, 0x25, 0x1a]);
}

#[test]
fn unknown_cid_keeps_the_rest() {
    let commands = parse_up(&[0x02, 0x80, 0x01, 0x02, 0x03]);
    assert_eq!(
        commands,
        vec![
            MacCommand::LinkCheckReq,
            MacCommand::Unknown {
                cid: 0x80,
                rest: vec![1, 2, 3]
            }
        ]
    );
    assert_eq!(commands[1].name(), "Unknown");
    assert!(commands[1].cid().is_proprietary());
    assert_eq!(encode(&commands), [0x02, 0x80, 0x01, 0x02, 0x03]);
    // ForceRejoinReq exists only downlink: uplink 0x0e is unknown.
    assert_eq!(
        parse_up(&[0x0e, 0x00, 0x00]),
        vec![MacCommand::Unknown {
            cid: 0x0e,
            rest: vec![0, 0]
        }]
    );
}

#[test]
fn truncated_known_command_is_an_error() {
    assert_eq!(
        parse_commands(&[0x02, 0x03, 0x51, 0x07, 0x01], Direction::Downlink),
        Err(MacError::Truncated {
            cid: 0x07,
            name: "NewChannelReq",
            needed: 5,
            available: 1
        })
    );
}

#[test]
fn out_of_range_field_writes_nothing() {
    let mut out = vec![0xaa];
    let bad = MacCommand::LinkAdrReq(LinkAdrReq {
        data_rate: 16,
        tx_power: 0,
        ch_mask: 0,
        ch_mask_cntl: 0,
        nb_trans: 0,
    });
    assert!(matches!(
        bad.encode(&mut out),
        Err(MacError::FieldOutOfRange {
            field: "data_rate",
            ..
        })
    ));
    assert_eq!(out, [0xaa]);
}

#[test]
fn catalogue_is_consistent() {
    for direction in [Direction::Uplink, Direction::Downlink] {
        for cid in 0..=u8::MAX {
            let Some(len) = Cid(cid).payload_len(direction) else {
                continue;
            };
            let mut bytes = vec![cid];
            bytes.resize(1 + len, 0);
            let commands = parse_commands(&bytes, direction).unwrap();
            assert_eq!(commands.len(), 1, "{cid:#x} {direction:?}");
            let command = &commands[0];
            assert_eq!(command.cid(), Cid(cid));
            assert_eq!(command.direction(), Some(direction), "{cid:#x}");
            assert_eq!(Some(command.name()), Cid(cid).name(direction));
            assert_eq!(encode(&commands), bytes, "{cid:#x} {direction:?}");
        }
    }
}

#[test]
fn helpers() {
    let req = TxParamSetupReq {
        downlink_dwell_time: true,
        uplink_dwell_time: false,
        max_eirp: 5,
    };
    assert_eq!(req.max_eirp_dbm(), 16);
    assert_eq!(RxTimingSetupReq { delay: 0 }.seconds(), 1);
    assert_eq!(DeviceClass::from_u8(2), DeviceClass::C);
    assert_eq!(DeviceClass::Other(7).to_u8(), 7);
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::Uplink), Just(Direction::Downlink)]
}

/// Byte sequences made only of catalogue commands with random payloads.
fn known_sequence(direction: Direction) -> impl Strategy<Value = Vec<u8>> {
    let cids: Vec<u8> = (0..=u8::MAX)
        .filter(|&c| Cid(c).payload_len(direction).is_some())
        .collect();
    prop::collection::vec(
        (
            prop::sample::select(cids),
            prop::collection::vec(any::<u8>(), 5),
        ),
        0..8,
    )
    .prop_map(move |parts| {
        let mut bytes = Vec::new();
        for (cid, payload) in parts {
            let len = Cid(cid).payload_len(direction).unwrap_or(0);
            bytes.push(cid);
            bytes.extend_from_slice(&payload[..len]);
        }
        bytes
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), dir in direction()) {
        if let Ok(commands) = parse_commands(&bytes, dir) {
            let encoded = encode(&commands);
            prop_assert_eq!(encoded.len(), bytes.len());
            prop_assert_eq!(parse_commands(&encoded, dir), Ok(commands));
        }
    }

    #[test]
    fn typed_commands_round_trip(
        (dir, bytes) in direction().prop_flat_map(|d| (Just(d), known_sequence(d)))
    ) {
        // Every typed value a decoder can produce is in range, so encode → decode is exact.
        let commands = parse_commands(&bytes, dir).unwrap();
        prop_assert!(commands.iter().all(|c| c.direction() == Some(dir)));
        let encoded = encode(&commands);
        prop_assert_eq!(encoded.len(), bytes.len());
        prop_assert_eq!(parse_commands(&encoded, dir).unwrap(), commands);
    }

    #[test]
    fn link_adr_req_round_trips(dr in 0u8..16, power in 0u8..16, mask in any::<u16>(), cntl in 0u8..8, nb in 0u8..16) {
        let command = MacCommand::LinkAdrReq(LinkAdrReq { data_rate: dr, tx_power: power, ch_mask: mask, ch_mask_cntl: cntl, nb_trans: nb });
        let bytes = encode(std::slice::from_ref(&command));
        prop_assert_eq!(parse_down(&bytes), vec![command]);
    }

    #[test]
    fn dev_status_round_trips(battery in any::<u8>(), margin in -32i8..=31) {
        let command = MacCommand::DevStatusAns(DevStatusAns { battery, margin });
        let bytes = encode(std::slice::from_ref(&command));
        prop_assert_eq!(parse_up(&bytes), vec![command]);
    }
}
