//! Differential tests of the MAC-command codec against ChirpStack's `lrwn` 4.13.
//!
//! lrwn does not know `BeaconTimingReq/Ans` (0x12, deprecated) and refuses values that are
//! RFU in the specification (minor version ≠ 1, device class other than A / C, rejoin type
//! other than 0 / 2 on encode); those cases are kept out of the byte comparison and checked
//! on our side only.

use lorawan::mac::{self, Direction, MacCommand};
use lrwn::{MACCommand as L, MACCommandSet};
use proptest::prelude::*;

fn lrwn_parse(bytes: &[u8], direction: Direction) -> Vec<L> {
    let mut set = MACCommandSet::from_slice(bytes);
    set.decode_from_raw(direction == Direction::Uplink)
        .expect("lrwn decodes what we decode");
    set.iter().cloned().collect()
}

fn ours(bytes: &[u8], direction: Direction) -> Vec<MacCommand> {
    mac::parse_commands(bytes, direction).expect("we decode the vector")
}

/// Field-by-field comparison of one command decoded by both codecs.
fn assert_same(ours: &MacCommand, theirs: &L) {
    use MacCommand as M;
    match (ours, theirs) {
        (M::LinkAdrReq(a), L::LinkADRReq(b)) => {
            assert_eq!(a.data_rate, b.dr);
            assert_eq!(a.tx_power, b.tx_power);
            assert_eq!(a.ch_mask.to_le_bytes(), b.ch_mask.to_bytes());
            assert_eq!(a.ch_mask_cntl, b.redundancy.ch_mask_cntl);
            assert_eq!(a.nb_trans, b.redundancy.nb_rep);
        }
        (M::LinkAdrAns(a), L::LinkADRAns(b)) => {
            assert_eq!(
                (a.power_ack, a.data_rate_ack, a.channel_mask_ack),
                (b.tx_power_ack, b.dr_ack, b.ch_mask_ack)
            );
        }
        (M::LinkCheckAns(a), L::LinkCheckAns(b)) => {
            assert_eq!((a.margin, a.gateway_count), (b.margin, b.gw_cnt));
        }
        (M::DevStatusAns(a), L::DevStatusAns(b)) => {
            assert_eq!((a.battery, a.margin), (b.battery, b.margin));
        }
        (M::RxParamSetupReq(a), L::RxParamSetupReq(b)) => {
            assert_eq!(a.frequency, b.frequency);
            assert_eq!(a.rx1_dr_offset, b.dl_settings.rx1_dr_offset);
            assert_eq!(a.rx2_data_rate, b.dl_settings.rx2_dr);
        }
        (M::NewChannelReq(a), L::NewChannelReq(b)) => {
            assert_eq!(
                (a.ch_index, a.frequency, a.min_dr, a.max_dr),
                (b.ch_index, b.freq, b.min_dr, b.max_dr)
            );
        }
        (M::NewChannelAns(a), L::NewChannelAns(b)) => {
            assert_eq!(
                (a.data_rate_range_ok, a.channel_frequency_ok),
                (b.dr_range_ok, b.channel_freq_ok)
            );
        }
        (M::DeviceTimeAns(a), L::DeviceTimeAns(b)) => {
            assert_eq!(u64::from(a.seconds), b.time_since_gps_epoch.as_secs());
            assert_eq!(
                u32::from(a.fractional) * 3_906_250,
                b.time_since_gps_epoch.subsec_nanos()
            );
        }
        (M::ForceRejoinReq(a), L::ForceRejoinReq(b)) => {
            assert_eq!(
                (a.period, a.max_retries, a.rejoin_type, a.data_rate),
                (b.period, b.max_retries, b.rejoin_type, b.dr)
            );
        }
        (M::PingSlotChannelReq(a), L::PingSlotChannelReq(b)) => {
            assert_eq!((a.frequency, a.data_rate), (b.freq, b.dr));
        }
        (M::PingSlotInfoReq(a), L::PingSlotInfoReq(b)) => {
            assert_eq!(a.periodicity, b.periodicity);
        }
        (M::Unknown { cid, rest }, L::Raw(bytes)) => {
            assert_eq!(bytes[0], *cid);
            assert_eq!(&bytes[1..], rest.as_slice());
        }
        // Every other pair: same CID is checked by the caller, bytes by re-encoding.
        (a, b) => assert_eq!(a.cid().0, b.cid().to_u8(), "{a:?} vs {b:?}"),
    }
}

fn check_vector(bytes: &[u8], direction: Direction) {
    let a = ours(bytes, direction);
    let b = lrwn_parse(bytes, direction);
    assert_eq!(a.len(), b.len(), "{bytes:02x?}");
    for (x, y) in a.iter().zip(&b) {
        assert_same(x, y);
    }
    let mut encoded = Vec::new();
    mac::encode_commands(&a, &mut encoded).unwrap();
    let theirs = MACCommandSet::new(b).to_vec().unwrap();
    assert_eq!(encoded, theirs, "{bytes:02x?}");
    assert_eq!(encoded, bytes);
}

#[test]
fn downlink_vectors_match_lrwn() {
    let vectors: &[&[u8]] = &[
        &[0x02, 0x14, 0x03],                                           // LinkCheckAns
        &[0x03, 0x51, 0xff, 0x00, 0x01],                               // LinkADRReq
        &[0x03, 0x30, 0x00, 0xff, 0x71, 0x03, 0x30, 0xff, 0x00, 0x01], // US915 block
        &[0x05, 0x23, 0x28, 0x76, 0x84],                               // RXParamSetupReq 868.1 MHz
        &[0x06],                                                       // DevStatusReq
        &[0x07, 0x03, 0xd8, 0x7d, 0x84, 0x50],                         // NewChannelReq 867.1 MHz
        &[0x08, 0x05, 0x09, 0x35, 0x0a, 0x02, 0x28, 0x76, 0x84], // RXTiming, TxParam, DlChannel
        &[0x0d, 0x78, 0x56, 0x34, 0x12, 0x80],                   // DeviceTimeAns
        &[0x0e, 0x25, 0x1a],                                     // ForceRejoinReq
        &[0x11, 0x28, 0x76, 0x84, 0x03, 0x13, 0x28, 0x76, 0x84], // PingSlotChannelReq, BeaconFreqReq
        &[0x0b, 0x01, 0x01, 0x01, 0x0c, 0x65, 0x0f, 0x7a, 0x20, 0x02], // 1.1 confirmations
        &[0x02, 0x14, 0x03, 0x99, 0x01, 0x02],                   // proprietary tail kept raw
    ];
    for bytes in vectors {
        check_vector(bytes, Direction::Downlink);
    }
}

#[test]
fn uplink_vectors_match_lrwn() {
    let vectors: &[&[u8]] = &[
        &[0x02],                                                       // LinkCheckReq
        &[0x03, 0x07, 0x03, 0x06],                                     // two LinkADRAns
        &[0x05, 0x07, 0x04],                   // RXParamSetupAns, DutyCycleAns
        &[0x06, 0xff, 0x3f, 0x06, 0x00, 0x1f], // DevStatusAns margin -1 and 31
        &[0x07, 0x03, 0x0a, 0x01, 0x08, 0x09], // NewChannelAns, DlChannelAns, RXTiming, TxParam
        &[0x01, 0x01, 0x0b, 0x01, 0x0c, 0x0d], // ResetInd, RekeyInd, ADRParamSetupAns, DeviceTimeReq
        &[0x0f, 0x01, 0x10, 0x05, 0x11, 0x03, 0x13, 0x01, 0x20, 0x02], // class B / C
        &[0x02, 0xc0, 0xde, 0xad],             // proprietary tail kept raw
    ];
    for bytes in vectors {
        check_vector(bytes, Direction::Uplink);
    }
}

/// Whether lrwn can represent the command (see the module comment).
fn lrwn_knows(command: &MacCommand) -> bool {
    use MacCommand as M;
    match command {
        M::BeaconTimingReq | M::BeaconTimingAns(_) | M::Unknown { .. } => false,
        M::ResetInd(v) | M::ResetConf(v) | M::RekeyInd(v) | M::RekeyConf(v) => v.minor == 1,
        M::DeviceModeInd(c) | M::DeviceModeConf(c) => !matches!(c, mac::DeviceClass::Other(_)),
        M::ForceRejoinReq(r) => r.rejoin_type == 0 || r.rejoin_type == 2,
        _ => true,
    }
}

fn known_sequence(direction: Direction) -> impl Strategy<Value = Vec<u8>> {
    let cids: Vec<u8> = (0..=u8::MAX)
        .filter(|&c| mac::Cid(c).payload_len(direction).is_some())
        .collect();
    prop::collection::vec(
        (
            prop::sample::select(cids),
            prop::collection::vec(any::<u8>(), 5),
        ),
        1..6,
    )
    .prop_map(move |parts| {
        let mut bytes = Vec::new();
        for (cid, payload) in parts {
            let len = mac::Cid(cid).payload_len(direction).unwrap_or(0);
            bytes.push(cid);
            bytes.extend_from_slice(&payload[..len]);
        }
        bytes
    })
}

fn differential(raw: &[u8], direction: Direction) -> Result<(), TestCaseError> {
    // Our decode → encode gives the canonical bytes (RFU bits zero) both codecs must agree on.
    let commands: Vec<MacCommand> = ours(raw, direction)
        .into_iter()
        .filter(lrwn_knows)
        .collect();
    let mut canonical = Vec::new();
    mac::encode_commands(&commands, &mut canonical).unwrap();
    let theirs = lrwn_parse(&canonical, direction);
    prop_assert_eq!(theirs.len(), commands.len());
    for (a, b) in commands.iter().zip(&theirs) {
        assert_same(a, b);
    }
    prop_assert_eq!(MACCommandSet::new(theirs).to_vec().unwrap(), canonical);
    Ok(())
}

proptest! {
    #[test]
    fn random_downlink_sequences_match_lrwn(raw in known_sequence(Direction::Downlink)) {
        differential(&raw, Direction::Downlink)?;
    }

    #[test]
    fn random_uplink_sequences_match_lrwn(raw in known_sequence(Direction::Uplink)) {
        differential(&raw, Direction::Uplink)?;
    }
}
