use lorawan::crypto::{CipherKey, MicKey, UplinkMicParams};
use lorawan::ids::{AesKey, DevAddr};
use lorawan::join::MacVersion;
use lorawan::phy::{DataFrame, DataFrameBuilder, FrmPayloadInput, MType};

use super::*;
use crate::device::{NetworkKeys, PreparedKeys, Session, SessionKeys};

const ADDR: DevAddr = DevAddr::from_be_bytes([0x26, 0x01, 0x02, 0x03]);
const RADIO: Radio = Radio {
    data_rate: 5,
    channel: 2,
};

fn session_1_0(key: u8, version: MacVersion, next: u32) -> Session {
    let mut s = Session::new(
        ADDR,
        version,
        SessionKeys {
            network: NetworkKeys::V1_0 {
                nwk_s_key: AesKey::new([key; 16]),
            },
            app_s_key: Some(AesKey::new([0xAA; 16])),
        },
    );
    s.f_cnt_up_next = next;
    s
}

fn session_1_1(next: u32) -> Session {
    let mut s = Session::new(
        ADDR,
        MacVersion::V1_1,
        SessionKeys {
            network: NetworkKeys::V1_1 {
                f_nwk_s_int_key: AesKey::new([0x11; 16]),
                s_nwk_s_int_key: AesKey::new([0x22; 16]),
                nwk_s_enc_key: AesKey::new([0x33; 16]),
            },
            app_s_key: None,
        },
    );
    s.f_cnt_up_next = next;
    s
}

fn uplink_1_0(key: u8, f_cnt: u32) -> Vec<u8> {
    let app = CipherKey::new(&AesKey::new([0xAA; 16]));
    DataFrameBuilder::new(MType::UnconfirmedDataUp, ADDR, f_cnt)
        .frm_payload(FrmPayloadInput::Plain {
            fport: 1,
            data: b"hi",
            key: &app,
        })
        .build_1_0(&MicKey::new(&AesKey::new([key; 16])))
        .unwrap()
}

fn uplink_1_1(f_cnt: u32, radio: Radio) -> Vec<u8> {
    DataFrameBuilder::new(MType::UnconfirmedDataUp, ADDR, f_cnt)
        .build_uplink_1_1(
            &MicKey::new(&AesKey::new([0x11; 16])),
            &MicKey::new(&AesKey::new([0x22; 16])),
            &CipherKey::new(&AesKey::new([0x33; 16])),
            UplinkMicParams {
                conf_fcnt: 0,
                tx_dr: radio.data_rate,
                tx_ch: radio.channel,
            },
        )
        .unwrap()
}

fn run(phy: &[u8], sessions: &[Session], reset: bool) -> Result<Matched, Unmatched> {
    let keys: Vec<PreparedKeys> = sessions
        .iter()
        .map(|s| PreparedKeys::new(&s.keys))
        .collect();
    let candidates: Vec<Candidate<'_>> = sessions
        .iter()
        .zip(&keys)
        .map(|(session, keys)| Candidate {
            session,
            keys,
            counter_reset_allowed: reset,
        })
        .collect();
    match_uplink(&DataFrame::parse(phy).unwrap(), &candidates, RADIO)
}

#[test]
fn the_mic_picks_the_device_among_sessions_sharing_the_address() {
    let sessions = [
        session_1_0(1, MacVersion::V1_0_4, 0),
        session_1_0(2, MacVersion::V1_0_4, 0),
    ];
    let matched = run(&uplink_1_0(2, 0), &sessions, false).unwrap();
    assert_eq!(matched.index, 1);
    assert_eq!(matched.counter, Counter::New { lost: 0 });
    assert_eq!(
        run(&uplink_1_0(3, 0), &sessions, false),
        Err(Unmatched::MicMismatch { candidates: 2 })
    );
    assert_eq!(
        run(&uplink_1_0(3, 0), &[], false),
        Err(Unmatched::NoSession)
    );
}

#[test]
fn counters_extend_to_32_bits_and_lost_frames_are_counted() {
    let sessions = [session_1_0(1, MacVersion::V1_0_4, 0x1_fff0)];
    let matched = run(&uplink_1_0(1, 0x2_0005), &sessions, false).unwrap();
    assert_eq!(matched.f_cnt, 0x2_0005);
    assert_eq!(matched.counter, Counter::New { lost: 0x15 });
}

#[test]
fn the_last_counter_again_is_a_retransmission_and_older_ones_are_replays() {
    let sessions = [session_1_0(1, MacVersion::V1_0_4, 11)];
    let again = run(&uplink_1_0(1, 10), &sessions, false).unwrap();
    assert_eq!(again.counter, Counter::Retransmission);
    assert_eq!(
        run(&uplink_1_0(1, 7), &sessions, false),
        Err(Unmatched::Replayed {
            index: 0,
            f_cnt: 7,
            next_expected: 11
        })
    );
}

#[test]
fn max_fcnt_gap_applies_up_to_1_0_3_only() {
    let old = [session_1_0(1, MacVersion::V1_0_3, 0)];
    assert!(matches!(
        run(&uplink_1_0(1, 20_000), &old, false),
        Err(Unmatched::GapTooLarge { f_cnt: 20_000, .. })
    ));
    let new = [session_1_0(1, MacVersion::V1_0_4, 0)];
    assert_eq!(
        run(&uplink_1_0(1, 20_000), &new, false).unwrap().counter,
        Counter::New { lost: 20_000 }
    );
}

#[test]
fn a_counter_reset_is_accepted_only_where_the_profile_allows_it() {
    let sessions = [session_1_0(1, MacVersion::V1_0_2, 500)];
    let reset = run(&uplink_1_0(1, 0), &sessions, true).unwrap();
    assert_eq!((reset.f_cnt, reset.counter), (0, Counter::Reset));
    assert!(matches!(
        run(&uplink_1_0(1, 0), &sessions, false),
        Err(Unmatched::Replayed { f_cnt: 0, .. })
    ));
}

#[test]
fn a_1_1_mic_covers_the_data_rate_and_channel() {
    let sessions = [session_1_1(3)];
    assert_eq!(
        run(&uplink_1_1(3, RADIO), &sessions, false).unwrap().f_cnt,
        3
    );
    let elsewhere = Radio {
        data_rate: 5,
        channel: 1,
    };
    assert_eq!(
        run(&uplink_1_1(3, elsewhere), &sessions, false),
        Err(Unmatched::MicMismatch { candidates: 1 })
    );
}

#[test]
fn a_1_1_match_needs_both_halves_of_the_mic() {
    // Same FNwkSIntKey (cmacF matches), another SNwkSIntKey: not the sender.
    let mut other = session_1_1(3);
    if let NetworkKeys::V1_1 {
        s_nwk_s_int_key, ..
    } = &mut other.keys.network
    {
        *s_nwk_s_int_key = AesKey::new([0x44; 16]);
    }
    let sessions = [other, session_1_1(3)];
    assert_eq!(
        run(&uplink_1_1(3, RADIO), &sessions, false).unwrap().index,
        1
    );
    assert_eq!(
        run(&uplink_1_1(3, RADIO), &sessions[..1], false),
        Err(Unmatched::MicMismatch { candidates: 1 })
    );
}
