//! The simulated device's behaviour, and its frames differentially against `crates/lorawan`
//! (dev-dependency only): lorawan plays the network server, parsing and verifying the
//! device's uplinks and building the downlinks and join-accepts the device must accept.

use lorawan::crypto::{CipherKey as LCipher, MicKey as LMic, UplinkMicParams};
use lorawan::ids::{AesKey, DevAddr as LDevAddr, Eui64 as LEui64, NetId};
use lorawan::join::{JoinAcceptBuilder, JoinNonce, JoinReqType};
use lorawan::phy::{DataFrame, DataFrameBuilder, DlSettings, FCtrl, FrmPayloadInput, MType};

use super::crypto::{js_enc_key, DevAddr};
use super::device::{
    cf_list_frequencies, Device, DeviceError, MacVersion, OtaaKeys, RejoinType, SessionKeys, Uplink,
};
use crate::load::frame::{Eui64, Key};

const ADDR: u32 = 0x2601_1bda;
const F_NWK: Key = [0x11; 16];
const S_NWK: Key = [0x22; 16];
const NWK_ENC: Key = [0x33; 16];
const APP_S: Key = [0x44; 16];

fn keys_1_1() -> SessionKeys {
    SessionKeys::V1_1 {
        f_nwk_s_int_key: F_NWK,
        s_nwk_s_int_key: S_NWK,
        nwk_s_enc_key: NWK_ENC,
        app_s_key: APP_S,
    }
}

fn keys_1_0() -> SessionKeys {
    SessionKeys::V1_0 {
        nwk_s_key: S_NWK,
        app_s_key: APP_S,
    }
}

fn mic(k: Key) -> LMic {
    LMic::new(&AesKey::new(k))
}

fn cipher(k: Key) -> LCipher {
    LCipher::new(&AesKey::new(k))
}

/// A downlink as the network would send it, built by the oracle.
fn downlink(
    v1_1: bool,
    confirmed: bool,
    fcnt: u32,
    fctrl: u8,
    fopts: &[u8],
    port: Option<(u8, &[u8])>,
    conf_fcnt: u32,
) -> Vec<u8> {
    let mtype = if confirmed {
        MType::ConfirmedDataDown
    } else {
        MType::UnconfirmedDataDown
    };
    let app = cipher(APP_S);
    let nwk = cipher(if v1_1 { NWK_ENC } else { S_NWK });
    let mut b = DataFrameBuilder::new(mtype, LDevAddr::from_u32(ADDR), fcnt)
        .fctrl(FCtrl::from_byte(fctrl))
        .fopts(fopts);
    if let Some((fport, data)) = port {
        let key = if fport == 0 { &nwk } else { &app };
        b = b.frm_payload(FrmPayloadInput::Plain { fport, data, key });
    }
    if v1_1 {
        b.build_downlink_1_1(&mic(S_NWK), &nwk, conf_fcnt)
    } else {
        b.build_1_0(&mic(S_NWK))
    }
    .expect("oracle builds")
}

#[test]
fn uplinks_verify_and_decrypt_with_the_oracle_1_0_and_1_1() {
    for keys in [keys_1_0(), keys_1_1()] {
        let v1_1 = matches!(keys, SessionKeys::V1_1 { .. });
        let mut d = Device::abp(MacVersion::V1_1, DevAddr(ADDR), keys).expect("abp");
        d.set_fcnt_up(0xfffe).expect("session");
        for (n, up) in [
            Uplink {
                fopts: &[0x02],
                adr: true,
                tx_dr: 5,
                tx_ch: 2,
                ..Uplink::confirmed(7, b"first")
            },
            Uplink::unconfirmed(0, &[0x03, 0x07]),
            Uplink {
                adr_ack_req: true,
                ..Uplink::mac_only(&[0x06, 0xff, 0x10])
            },
        ]
        .iter()
        .enumerate()
        {
            let fcnt = 0xfffe + n as u32; // crosses the 16-bit boundary
            let phy = d.uplink(up).expect("uplink");
            let frame = DataFrame::parse(&phy).expect("the oracle parses it");
            assert_eq!(frame.fcnt16(), fcnt as u16);
            assert_eq!(frame.confirmed(), up.confirmed);
            assert_eq!(frame.fctrl().adr(), up.adr);
            assert_eq!(frame.fctrl().adr_ack_req(), up.adr_ack_req);
            assert_eq!(frame.fport(), up.fport);
            if v1_1 {
                let params = UplinkMicParams {
                    conf_fcnt: 0,
                    tx_dr: up.tx_dr,
                    tx_ch: up.tx_ch,
                };
                frame
                    .verify_uplink_mic_1_1(&mic(F_NWK), &mic(S_NWK), fcnt, params)
                    .expect("1.1 MIC");
                let mut buf = [0_u8; 15];
                let fopts = frame.decrypt_fopts_1_1_into(&cipher(NWK_ENC), fcnt, &mut buf);
                assert_eq!(fopts, up.fopts);
            } else {
                frame.verify_mic_1_0(&mic(S_NWK), fcnt).expect("1.0 MIC");
                assert_eq!(frame.fopts(), up.fopts);
            }
            let key = match (up.fport, v1_1) {
                (Some(0), true) => NWK_ENC,
                (Some(0), false) => S_NWK,
                _ => APP_S,
            };
            assert_eq!(frame.frm_payload_decrypted(&cipher(key), fcnt), up.payload);
        }
        assert_eq!(d.session().and_then(|s| s.next_fcnt_up()), Some(0x1_0001));
    }
}

#[test]
fn downlinks_from_the_oracle_are_accepted_with_bits_and_payloads() {
    for v1_1 in [false, true] {
        let keys = if v1_1 { keys_1_1() } else { keys_1_0() };
        let mut d = Device::abp(MacVersion::V1_1, DevAddr(ADDR), keys).expect("abp");
        // The device sends a confirmed uplink (FCnt 0); the network acknowledges it.
        d.uplink(&Uplink::confirmed(1, b"x")).expect("uplink");
        let phy = downlink(
            v1_1,
            true,
            3,
            FCtrl::ADR | FCtrl::ACK | FCtrl::F_PENDING,
            &[0x02, 0x07, 0x01],
            Some((9, b"down")),
            0,
        );
        let got = d.accept_downlink(&phy).expect("accepted");
        assert!(got.confirmed && got.ack && got.adr && got.fpending);
        assert_eq!((got.fcnt, got.fport), (3, Some(9)));
        assert_eq!(got.payload, b"down");
        assert_eq!(got.fopts, [0x02, 0x07, 0x01]);
        assert_eq!(got.mac_commands(), [0x02, 0x07, 0x01]);
        // Acknowledging it: 1.1 puts its counter (3) into the uplink MIC as ConfFCnt.
        let up = d
            .uplink(&Uplink {
                ack: true,
                ..Uplink::mac_only(&[])
            })
            .expect("ack");
        let frame = DataFrame::parse(&up).expect("parses");
        assert!(frame.fctrl().ack());
        if v1_1 {
            let params = UplinkMicParams {
                conf_fcnt: 3,
                ..UplinkMicParams::default()
            };
            frame
                .verify_uplink_mic_1_1(&mic(F_NWK), &mic(S_NWK), 1, params)
                .expect("ConfFCnt 3 in B1");
        }
        // FPort 0 downlink: MAC commands in the payload, NwkSEncKey / NwkSKey.
        let phy = downlink(v1_1, false, 4, 0, &[], Some((0, &[0x03, 0x51])), 0);
        let got = d.accept_downlink(&phy).expect("fport 0");
        assert_eq!(got.mac_commands(), [0x03, 0x51]);
    }
}

#[test]
fn downlink_counters_refuse_replays_and_keep_1_1_counters_apart() {
    let mut d = Device::abp(MacVersion::V1_1, DevAddr(ADDR), keys_1_1()).expect("abp");
    let app5 = downlink(true, false, 5, 0, &[], Some((1, b"a")), 0);
    d.accept_downlink(&app5).expect("AFCntDown 5");
    assert_eq!(
        d.accept_downlink(&app5),
        Err(DeviceError::FCntReplay { fcnt: 5, last: 5 })
    );
    let app4 = downlink(true, false, 4, 0, &[], Some((1, b"a")), 0);
    assert_eq!(
        d.accept_downlink(&app4),
        Err(DeviceError::FCntReplay { fcnt: 4, last: 5 })
    );
    // NFCntDown is its own counter: 0 is new there.
    let nwk0 = downlink(true, false, 0, 0, &[0x02, 0x07, 0x01], None, 0);
    assert_eq!(d.accept_downlink(&nwk0).expect("NFCntDown 0").fcnt, 0);
    // A counter past 2^16: the 16 low bits on air, the full value found from the last one.
    let app_big = downlink(true, false, 0x1_0002, 0, &[], Some((2, b"b")), 0);
    assert_eq!(d.accept_downlink(&app_big).expect("rolled").fcnt, 0x1_0002);
    let s = d.session().expect("session");
    assert_eq!((s.nfcnt_down(), s.afcnt_down()), (Some(0), Some(0x1_0002)));

    // 1.0.x: one counter for every port.
    let mut d = Device::abp(MacVersion::V1_0_3, DevAddr(ADDR), keys_1_0()).expect("abp");
    d.accept_downlink(&downlink(false, false, 2, 0, &[], Some((1, b"a")), 0))
        .expect("2");
    assert!(matches!(
        d.accept_downlink(&downlink(false, false, 1, 0, &[0x02, 0, 0], None, 0)),
        Err(DeviceError::FCntReplay { .. })
    ));
}

#[test]
fn bad_downlinks_are_typed_errors_and_change_nothing() {
    let mut d = Device::abp(MacVersion::V1_1, DevAddr(ADDR), keys_1_1()).expect("abp");
    let good = downlink(true, true, 7, 0, &[0x02, 0x07], Some((3, b"payload")), 0);
    // Every single-bit flip is refused, none panics.
    for bit in 0..good.len() * 8 {
        let mut bad = good.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert!(
            d.accept_downlink(&bad).is_err(),
            "bit {bit} flipped accepted"
        );
    }
    // Every truncation, and junk of every length.
    for len in 0..good.len() {
        assert!(d.accept_downlink(&good[..len]).is_err());
        let junk: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37)).collect();
        assert!(d.accept_downlink(&junk).is_err());
        assert!(d.accept_join_accept(&junk).is_err());
    }
    assert!(d.accept_downlink(&[0x60; 300]).is_err());
    let mut other = good.clone();
    other[1] ^= 0xff;
    assert!(matches!(
        d.accept_downlink(&other),
        Err(DeviceError::DevAddr(_))
    ));
    let s = d.session().expect("session");
    assert_eq!((s.nfcnt_down(), s.afcnt_down()), (None, None));
    // The unharmed frame still goes through.
    assert_eq!(d.accept_downlink(&good).expect("good").payload, b"payload");
}

#[test]
fn uplink_rules_are_enforced() {
    let mut d = Device::abp(MacVersion::V1_0_4, DevAddr(ADDR), keys_1_0()).expect("abp");
    assert_eq!(
        Device::abp(MacVersion::V1_0_4, DevAddr(ADDR), keys_1_1()).err(),
        Some(DeviceError::KeysVersion)
    );
    assert!(matches!(
        d.uplink(&Uplink::mac_only(&[0; 16])),
        Err(DeviceError::InvalidUplink(_))
    ));
    assert_eq!(
        d.uplink(&Uplink {
            fopts: &[2],
            ..Uplink::unconfirmed(0, &[2])
        }),
        Err(DeviceError::MacCommandsInBoth)
    );
    assert!(d.uplink(&Uplink::unconfirmed(1, &[0; 243])).is_err());
    assert_eq!(
        d.uplink(&Uplink::unconfirmed(1, &[0; 242]))
            .map(|p| p.len()),
        Ok(255)
    );
    d.set_fcnt_up(u32::MAX).expect("session");
    d.uplink(&Uplink::unconfirmed(1, b"last"))
        .expect("FCnt 2^32-1");
    assert_eq!(
        d.uplink(&Uplink::unconfirmed(1, b"none")),
        Err(DeviceError::FCntExhausted)
    );
}

fn otaa(version: MacVersion) -> Device {
    Device::otaa(
        version,
        OtaaKeys {
            dev_eui: Eui64(0x0004_a30b_001c_0530),
            join_eui: Eui64(0x70b3_d57e_d000_0001),
            app_key: [0xaa; 16],
            nwk_key: (version == MacVersion::V1_1).then_some([0xbb; 16]),
        },
    )
    .expect("otaa")
}

fn dev_nonce(phy: &[u8; 23]) -> u16 {
    u16::from_le_bytes([phy[17], phy[18]])
}

#[test]
fn dev_nonce_is_a_counter_from_1_0_4_and_random_before() {
    let mut d = otaa(MacVersion::V1_0_4);
    let nonces: Vec<u16> = (0..3)
        .map(|_| dev_nonce(&d.join_request().expect("join")))
        .collect();
    assert_eq!(nonces, [0, 1, 2]);
    d.join_request_with_dev_nonce(10).expect("given");
    assert_eq!(dev_nonce(&d.join_request().expect("join")), 11);
    d.set_next_dev_nonce(u16::MAX);
    d.join_request().expect("65535");
    assert_eq!(d.join_request(), Err(DeviceError::DevNonceExhausted));

    let mut d = otaa(MacVersion::V1_0_2).with_seed(42);
    let mut seen: Vec<u16> = (0..200)
        .map(|_| dev_nonce(&d.join_request().expect("join")))
        .collect();
    assert_ne!(seen[..3], [0, 1, 2]);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 200, "a random DevNonce never repeats");
    assert_eq!(
        Device::otaa(
            MacVersion::V1_1,
            OtaaKeys {
                nwk_key: None,
                ..*otaa(MacVersion::V1_1).otaa_keys().expect("keys")
            }
        )
        .err(),
        Some(DeviceError::MissingNwkKey)
    );
}

fn accept_builder(join_nonce: u32, cf_list: Option<[u8; 16]>) -> JoinAcceptBuilder {
    JoinAcceptBuilder {
        join_nonce: JoinNonce::new(join_nonce).expect("24 bits"),
        home_net_id: NetId::from_u32(0x13).expect("24 bits"),
        dev_addr: LDevAddr::from_u32(ADDR),
        dl_settings: DlSettings::new(2, 8),
        rx_delay: 0,
        cf_list,
    }
}

#[test]
fn join_accepts_1_1_with_and_without_opt_neg_and_the_join_nonce_rule() {
    let mut d = otaa(MacVersion::V1_1);
    let keys = *d.otaa_keys().expect("keys");
    let nk = AesKey::new([0xbb; 16]);
    let dev_eui = LEui64::from_u64(keys.dev_eui.0);
    let js_int = LMic::new(&lorawan::keys::js_int_key(&nk, dev_eui));
    let join_eui = LEui64::from_u64(keys.join_eui.0);

    // No request pending: nothing to accept.
    let cf = [
        0x18, 0x4f, 0x84, 0xe8, 0x56, 0x84, 0xb8, 0x5e, 0x84, 0x88, 0x66, 0x84, 0x58, 0x6e, 0x84, 0,
    ];
    let accept =
        accept_builder(5, Some(cf)).build_1_1(&js_int, &nk, JoinReqType::Join, join_eui, 0);
    assert_eq!(
        d.accept_join_accept(&accept),
        Err(DeviceError::NoPendingJoin)
    );

    let req = d.join_request().expect("join");
    assert_eq!(dev_nonce(&req), 0);
    let got = d.accept_join_accept(&accept).expect("1.1 accept");
    assert!(got.opt_neg);
    assert_eq!((got.net_id, got.dev_addr), (0x13, DevAddr(ADDR)));
    assert_eq!(
        (got.rx.rx1_dr_offset, got.rx.rx2_dr, got.rx.rx1_delay_s),
        (2, 8, 1)
    );
    assert_eq!(
        got.cf_list.as_ref().and_then(cf_list_frequencies),
        Some([
            867_100_000,
            867_300_000,
            867_500_000,
            867_700_000,
            867_900_000
        ])
    );
    assert!(d.session().expect("session").is_1_1());

    // The same JoinNonce again (a replayed accept for a new request): refused, 1.1 wants more.
    d.join_request().expect("join");
    let replay = accept_builder(5, None).build_1_1(&js_int, &nk, JoinReqType::Join, join_eui, 1);
    assert_eq!(
        d.accept_join_accept(&replay),
        Err(DeviceError::JoinNonce {
            join_nonce: 5,
            last: 5
        })
    );
    // A 1.0 network (OptNeg clear): 1.0 MIC and 1.0 keys from the NwkKey.
    let v10 = accept_builder(6, None).build_1_0(&nk);
    let got = d.accept_join_accept(&v10).expect("OptNeg 0 accept");
    assert!(!got.opt_neg);
    let session = d.session().expect("session");
    assert!(!session.is_1_1());
    let expected = lorawan::keys::derive_1_0(
        &nk,
        JoinNonce::new(6).expect("nonce"),
        NetId::from_u32(0x13).expect("net"),
        1,
    );
    assert_eq!(
        *session.keys(),
        SessionKeys::V1_0 {
            nwk_s_key: *expected.nwk_s_key.bytes(),
            app_s_key: *expected.app_s_key.bytes(),
        }
    );
    assert_eq!(
        d.rejoin_request(RejoinType::Type0),
        Err(DeviceError::Version("rejoin on a 1.0-mode session"))
    );
}

#[test]
fn rejoin_requests_and_their_accepts_1_1() {
    let mut d = otaa(MacVersion::V1_1);
    let keys = *d.otaa_keys().expect("keys");
    let nk = AesKey::new([0xbb; 16]);
    let dev_eui = LEui64::from_u64(keys.dev_eui.0);
    let join_eui = LEui64::from_u64(keys.join_eui.0);
    let js_int = LMic::new(&lorawan::keys::js_int_key(&nk, dev_eui));
    d.join_request().expect("join");
    let accept = accept_builder(1, None).build_1_1(&js_int, &nk, JoinReqType::Join, join_eui, 0);
    d.accept_join_accept(&accept).expect("joined");
    let Some(SessionKeys::V1_1 {
        s_nwk_s_int_key, ..
    }) = d.session().map(|s| *s.keys())
    else {
        panic!("1.1 session");
    };

    // Type 0 and 2 carry RJcount0 (0 then 1), signed with SNwkSIntKey; type 1 RJcount1.
    let r0 = d.rejoin_request(RejoinType::Type0).expect("type 0");
    let net = NetId::from_u32(0x13).expect("net");
    let oracle = |ident, key: &LMic, n| lorawan::join::build_rejoin_request(key, ident, dev_eui, n);
    let s_int = LMic::new(&AesKey::new(s_nwk_s_int_key));
    use lorawan::join::RejoinIdent;
    use lorawan::phy::RejoinType as LType;
    assert_eq!(r0, oracle(RejoinIdent::NetId(LType::Type0, net), &s_int, 0));
    let r2 = d.rejoin_request(RejoinType::Type2).expect("type 2");
    assert_eq!(r2, oracle(RejoinIdent::NetId(LType::Type2, net), &s_int, 1));
    let r1 = d.rejoin_request(RejoinType::Type1).expect("type 1");
    assert_eq!(r1, oracle(RejoinIdent::JoinEui(join_eui), &js_int, 0));

    // The accept of the type-1 rejoin: JSEncKey encryption, JoinReqType 1, RJcount1 0.
    let enc = AesKey::new(js_enc_key(&[0xbb; 16], keys.dev_eui));
    let wrong_type =
        accept_builder(2, None).build_1_1(&js_int, &enc, JoinReqType::Rejoin0, join_eui, 0);
    assert_eq!(d.accept_join_accept(&wrong_type), Err(DeviceError::Mic));
    let accept =
        accept_builder(2, None).build_1_1(&js_int, &enc, JoinReqType::Rejoin1, join_eui, 0);
    let got = d.accept_join_accept(&accept).expect("rejoin accept");
    assert_eq!(got.join_nonce, 2);
    let expected = lorawan::keys::derive_1_1(
        &nk,
        &AesKey::new([0xaa; 16]),
        JoinNonce::new(2).expect("nonce"),
        join_eui,
        0,
    );
    let Some(SessionKeys::V1_1 { app_s_key, .. }) = d.session().map(|s| *s.keys()) else {
        panic!("1.1 session");
    };
    assert_eq!(app_s_key, *expected.app_s_key.bytes());
    // A new session: counters from zero, RJcount0 too.
    assert_eq!(d.session().and_then(|s| s.next_fcnt_up()), Some(0));
    let r0 = d.rejoin_request(RejoinType::Type0).expect("type 0");
    assert_eq!(u16::from_le_bytes([r0[13], r0[14]]), 0);

    assert!(matches!(
        otaa(MacVersion::V1_0_4).rejoin_request(RejoinType::Type0),
        Err(DeviceError::Version(_))
    ));
}
