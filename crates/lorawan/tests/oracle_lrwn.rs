//! Differential tests against ChirpStack's `lrwn` 4.13 as an oracle: frames we build must decode
//! and verify in lrwn, frames lrwn builds must parse and verify here, and both must derive the
//! same keys.
//!
//! Where the two differ on purpose — lrwn computes every MIC over a *re-encoded* copy of the
//! frame, we over the bytes as received — the regression tests at the end pin both behaviours.

use lorawan::crypto::{CipherKey, Direction, MicError, MicKey, UplinkMicParams};
use lorawan::ids::{AesKey, DevAddr, Eui64, NetId};
use lorawan::join::{build_join_request, JoinAcceptBuilder, JoinNonce, JoinReqType};
use lorawan::keys;
use lorawan::phy::{
    DataFrame, DataFrameBuilder, DlSettings, FCtrl, FrmPayloadInput, MType, PhyPayload,
    MAX_FOPTS_LEN,
};
use proptest::prelude::*;

fn lk(key: &AesKey) -> lrwn::AES128Key {
    lrwn::AES128Key::from_bytes(*key.bytes())
}

fn l_addr(addr: DevAddr) -> lrwn::DevAddr {
    lrwn::DevAddr::from_be_bytes(addr.to_be_bytes())
}

fn l_eui(eui: Eui64) -> lrwn::EUI64 {
    lrwn::EUI64::from_be_bytes(eui.to_be_bytes())
}

fn l_net_id(net_id: NetId) -> lrwn::NetID {
    lrwn::NetID::from_be_bytes(net_id.to_be_bytes())
}

fn l_join_type(t: JoinReqType) -> lrwn::JoinType {
    match t {
        JoinReqType::Join => lrwn::JoinType::Join,
        JoinReqType::Rejoin0 => lrwn::JoinType::RejoinType0,
        JoinReqType::Rejoin1 => lrwn::JoinType::RejoinType1,
        JoinReqType::Rejoin2 => lrwn::JoinType::RejoinType2,
    }
}

fn key_strategy() -> impl Strategy<Value = AesKey> {
    any::<[u8; 16]>().prop_map(AesKey::new)
}

fn data_mtype() -> impl Strategy<Value = MType> {
    prop_oneof![
        Just(MType::UnconfirmedDataUp),
        Just(MType::ConfirmedDataUp),
        Just(MType::UnconfirmedDataDown),
        Just(MType::ConfirmedDataDown),
    ]
}

/// A data frame's free fields: FCtrl flags, FOpts, optional (FPort, FRMPayload).
#[derive(Debug, Clone)]
struct DataInput {
    mtype: MType,
    dev_addr: DevAddr,
    fcnt: u32,
    fctrl: u8,
    fopts: Vec<u8>,
    payload: Option<(u8, Vec<u8>)>,
}

fn data_input() -> impl Strategy<Value = DataInput> {
    (
        data_mtype(),
        any::<u32>(),
        any::<u32>(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..=MAX_FOPTS_LEN),
        proptest::option::of((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..64))),
    )
        .prop_map(|(mtype, addr, fcnt, fctrl, fopts, payload)| {
            // MAC commands never go in FOpts and an FPort-0 payload at once.
            let fopts = match payload {
                Some((0, _)) => Vec::new(),
                _ => fopts,
            };
            DataInput {
                mtype,
                dev_addr: DevAddr::from_u32(addr),
                fcnt,
                fctrl: fctrl & 0xf0,
                fopts,
                payload,
            }
        })
}

fn is_uplink(mtype: MType) -> bool {
    matches!(mtype, MType::UnconfirmedDataUp | MType::ConfirmedDataUp)
}

fn builder<'p>(input: &'p DataInput, frm_key: &'p CipherKey) -> DataFrameBuilder<'p> {
    let mut b = DataFrameBuilder::new(input.mtype, input.dev_addr, input.fcnt)
        .fctrl(FCtrl::from_byte(input.fctrl))
        .fopts(&input.fopts);
    if let Some((fport, data)) = &input.payload {
        b = b.frm_payload(FrmPayloadInput::Plain {
            fport: *fport,
            data,
            key: frm_key,
        });
    }
    b
}

/// lrwn's view of the same frame, built field by field.
fn lrwn_frame(input: &DataInput, fopts: Vec<u8>, frm: Option<Vec<u8>>) -> lrwn::PhyPayload {
    let f_type = match input.mtype {
        MType::UnconfirmedDataUp => lrwn::FType::UnconfirmedDataUp,
        MType::ConfirmedDataUp => lrwn::FType::ConfirmedDataUp,
        MType::UnconfirmedDataDown => lrwn::FType::UnconfirmedDataDown,
        _ => lrwn::FType::ConfirmedDataDown,
    };
    let f_opts = if fopts.is_empty() {
        lrwn::MACCommandSet::new(vec![])
    } else {
        lrwn::MACCommandSet::new(vec![lrwn::MACCommand::Raw(fopts)])
    };
    lrwn::PhyPayload {
        mhdr: lrwn::MHDR {
            f_type,
            major: lrwn::Major::LoRaWANR1,
        },
        payload: lrwn::Payload::MACPayload(lrwn::MACPayload {
            fhdr: lrwn::FHDR {
                devaddr: l_addr(input.dev_addr),
                f_ctrl: lrwn::FCtrl::from_le_bytes([input.fctrl]),
                f_cnt: input.fcnt,
                f_opts,
            },
            f_port: input.payload.as_ref().map(|(p, _)| *p),
            frm_payload: frm.map(lrwn::FRMPayload::Raw),
        }),
        mic: None,
    }
}

/// lrwn decodes `bytes` and reports the full 32-bit FCnt as the caller must set it.
fn lrwn_decode(bytes: &[u8], fcnt: u32) -> lrwn::PhyPayload {
    let mut phy = lrwn::PhyPayload::from_slice(bytes).expect("lrwn decodes our frame");
    if let lrwn::Payload::MACPayload(pl) = &mut phy.payload {
        pl.fhdr.f_cnt = fcnt;
    }
    phy
}

fn mac_payload(phy: &lrwn::PhyPayload) -> &lrwn::MACPayload {
    match &phy.payload {
        lrwn::Payload::MACPayload(pl) => pl,
        other => panic!("not a MACPayload: {other:?}"),
    }
}

fn frm_raw(pl: &lrwn::MACPayload) -> Vec<u8> {
    match &pl.frm_payload {
        Some(lrwn::FRMPayload::Raw(v)) => v.clone(),
        None => Vec::new(),
        Some(other) => panic!("unexpected {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Ours builds a 1.0 frame → lrwn decodes it, its MIC check passes, payloads decrypt equal.
    #[test]
    fn ours_1_0_verifies_in_lrwn(input in data_input(), nwk in key_strategy(), app in key_strategy()) {
        let frm_key = CipherKey::new(&app);
        let bytes = builder(&input, &frm_key).build_1_0(&MicKey::new(&nwk)).unwrap();
        let phy = lrwn_decode(&bytes, input.fcnt);
        let ok = if is_uplink(input.mtype) {
            phy.validate_uplink_data_mic(lrwn::MACVersion::LoRaWAN1_0, 0, 0, 0, &lk(&nwk), &lk(&nwk)).unwrap()
        } else {
            phy.clone().validate_downlink_data_mic(lrwn::MACVersion::LoRaWAN1_0, 0, &lk(&nwk)).unwrap()
        };
        prop_assert!(ok);
        let pl = mac_payload(&phy);
        prop_assert_eq!(pl.fhdr.f_opts.to_vec().unwrap(), input.fopts.clone());
        if let Some((_, plain)) = &input.payload {
            let dec = lrwn::encrypt_frm_payload(&lk(&app), is_uplink(input.mtype), &pl.fhdr.devaddr, input.fcnt, &frm_raw(pl)).unwrap();
            prop_assert_eq!(&dec, plain);
        }
    }

    /// Ours builds a 1.1 frame → lrwn verifies the MIC (and MICF), decrypts FOpts equal.
    #[test]
    fn ours_1_1_verifies_in_lrwn(
        input in data_input(),
        f in key_strategy(), s in key_strategy(), enc in key_strategy(), app in key_strategy(),
        conf_fcnt in any::<u32>(), tx_dr in 0u8..16, tx_ch in any::<u8>(),
    ) {
        let frm_key = CipherKey::new(&app);
        let b = builder(&input, &frm_key);
        let up = is_uplink(input.mtype);
        let bytes = if up {
            b.build_uplink_1_1(&MicKey::new(&f), &MicKey::new(&s), &CipherKey::new(&enc),
                UplinkMicParams { conf_fcnt, tx_dr, tx_ch }).unwrap()
        } else {
            b.build_downlink_1_1(&MicKey::new(&s), &CipherKey::new(&enc), conf_fcnt).unwrap()
        };
        let mut phy = lrwn_decode(&bytes, input.fcnt);
        if up {
            prop_assert!(phy.validate_uplink_data_mic(lrwn::MACVersion::LoRaWAN1_1, conf_fcnt, tx_dr, tx_ch, &lk(&f), &lk(&s)).unwrap());
            prop_assert!(phy.validate_uplink_data_micf(&lk(&f)).unwrap());
        } else {
            prop_assert!(phy.validate_downlink_data_mic(lrwn::MACVersion::LoRaWAN1_1, conf_fcnt, &lk(&s)).unwrap());
        }
        let pl = mac_payload(&phy);
        let a_fcnt_down = !up && pl.f_port.is_some_and(|p| p > 0);
        let fopts = lrwn::encrypt_f_opts(&lk(&enc), a_fcnt_down, up, &pl.fhdr.devaddr, input.fcnt, &pl.fhdr.f_opts.to_vec().unwrap()).unwrap();
        prop_assert_eq!(fopts, input.fopts.clone());
        if let Some((_, plain)) = &input.payload {
            let dec = lrwn::encrypt_frm_payload(&lk(&app), up, &pl.fhdr.devaddr, input.fcnt, &frm_raw(pl)).unwrap();
            prop_assert_eq!(&dec, plain);
        }
    }

    /// lrwn builds a frame (1.0 or 1.1) → ours parses it, verifies the MIC and decrypts.
    #[test]
    fn lrwn_frames_verify_in_ours(
        input in data_input(),
        f in key_strategy(), s in key_strategy(), enc in key_strategy(), app in key_strategy(),
        conf_fcnt in any::<u32>(), tx_dr in 0u8..16, tx_ch in any::<u8>(), v11 in any::<bool>(),
    ) {
        let up = is_uplink(input.mtype);
        let mut phy = lrwn_frame(&input, input.fopts.clone(), input.payload.as_ref().map(|(_, d)| d.clone()));
        phy.encrypt_frm_payload(&lk(&app)).unwrap();
        let version = if v11 { lrwn::MACVersion::LoRaWAN1_1 } else { lrwn::MACVersion::LoRaWAN1_0 };
        if v11 {
            phy.encrypt_f_opts(&lk(&enc)).unwrap();
        }
        if up {
            phy.set_uplink_data_mic(version, conf_fcnt, tx_dr, tx_ch, &lk(&f), &lk(&s)).unwrap();
        } else {
            phy.set_downlink_data_mic(version, conf_fcnt, &lk(&s)).unwrap();
        }
        let bytes = phy.to_vec().unwrap();

        let ours = PhyPayload::parse(&bytes).unwrap();
        let frame = ours.data().unwrap();
        prop_assert_eq!(frame.dev_addr(), input.dev_addr);
        prop_assert_eq!(frame.fcnt16(), (input.fcnt & 0xffff) as u16);
        prop_assert_eq!(frame.fport(), input.payload.as_ref().map(|(p, _)| *p));
        match (v11, up) {
            (false, true) => frame.verify_mic_1_0(&MicKey::new(&f), input.fcnt).unwrap(),
            (false, false) => frame.verify_mic_1_0(&MicKey::new(&s), input.fcnt).unwrap(),
            (true, true) => {
                frame.verify_uplink_mic_1_1(&MicKey::new(&f), &MicKey::new(&s), input.fcnt,
                    UplinkMicParams { conf_fcnt, tx_dr, tx_ch }).unwrap();
                frame.verify_uplink_micf_1_1(&MicKey::new(&f), input.fcnt).unwrap();
            }
            (true, false) => frame.verify_downlink_mic_1_1(&MicKey::new(&s), input.fcnt, conf_fcnt).unwrap(),
        }
        if v11 {
            let mut buf = [0u8; MAX_FOPTS_LEN];
            let plain = frame.decrypt_fopts_1_1_into(&CipherKey::new(&enc), input.fcnt, &mut buf);
            prop_assert_eq!(plain, &input.fopts[..]);
        } else {
            prop_assert_eq!(frame.fopts(), &input.fopts[..]);
        }
        if let Some((_, plain)) = &input.payload {
            let mut buf = [0u8; 256];
            let dec = frame.decrypt_frm_payload_into(&CipherKey::new(&app), input.fcnt, &mut buf).unwrap();
            prop_assert_eq!(dec, &plain[..]);
        }
    }

    /// Join-request both ways.
    #[test]
    fn join_request_both_ways(key in key_strategy(), join_eui in any::<u64>(), dev_eui in any::<u64>(), dev_nonce in any::<u16>()) {
        let (join_eui, dev_eui) = (Eui64::from_u64(join_eui), Eui64::from_u64(dev_eui));
        let ours = build_join_request(&MicKey::new(&key), join_eui, dev_eui, dev_nonce);
        let theirs = lrwn::PhyPayload::from_slice(&ours).unwrap();
        prop_assert!(theirs.validate_join_request_mic(&lk(&key)).unwrap());

        let mut theirs = lrwn::PhyPayload {
            mhdr: lrwn::MHDR { f_type: lrwn::FType::JoinRequest, major: lrwn::Major::LoRaWANR1 },
            payload: lrwn::Payload::JoinRequest(lrwn::JoinRequestPayload {
                join_eui: l_eui(join_eui), dev_eui: l_eui(dev_eui), dev_nonce,
            }),
            mic: None,
        };
        theirs.set_join_request_mic(&lk(&key)).unwrap();
        let bytes = theirs.to_vec().unwrap();
        prop_assert_eq!(&bytes[..], &ours[..]);
        let jr = PhyPayload::parse(&bytes).unwrap().join_request().unwrap();
        jr.verify_mic(&MicKey::new(&key)).unwrap();
        prop_assert_eq!((jr.join_eui(), jr.dev_eui(), jr.dev_nonce()), (join_eui, dev_eui, dev_nonce));
    }

    /// Join-accept both ways, 1.0 and 1.1 (every JoinReqType, with and without CFList).
    #[test]
    fn join_accept_both_ways(
        mic_key in key_strategy(), enc_key in key_strategy(),
        join_nonce in 0u32..=0xff_ffff, net_id in 0u32..=0xff_ffff, dev_addr in any::<u32>(),
        rx1 in 0u8..8, rx2 in 0u8..16, rx_delay in 0u8..16,
        cf in proptest::option::of(any::<[u8; 15]>()),
        v11 in any::<bool>(), jrt in 0usize..4, join_eui in any::<u64>(), dev_nonce in any::<u16>(),
    ) {
        let jrt = [JoinReqType::Join, JoinReqType::Rejoin0, JoinReqType::Rejoin1, JoinReqType::Rejoin2][jrt];
        let join_eui = Eui64::from_u64(join_eui);
        // CFListType 0 (channels): lrwn re-encodes a type-1 mask list lossily, see below.
        let cf_list = cf.map(|c| { let mut b = [0u8; 16]; b[..15].copy_from_slice(&c); b });
        let builder = JoinAcceptBuilder {
            join_nonce: JoinNonce::new(join_nonce).unwrap(),
            home_net_id: NetId::from_u32(net_id).unwrap(),
            dev_addr: DevAddr::from_u32(dev_addr),
            dl_settings: DlSettings::new(rx1, rx2),
            rx_delay,
            cf_list,
        };
        // In 1.0, MIC and encryption both use the one root key.
        let (mic_key, enc_key) = if v11 { (mic_key, enc_key) } else { (enc_key, enc_key) };
        let ours = if v11 {
            builder.build_1_1(&MicKey::new(&mic_key), &enc_key, jrt, join_eui, dev_nonce)
        } else {
            builder.build_1_0(&enc_key)
        };
        let mut theirs = lrwn::PhyPayload::from_slice(&ours).unwrap();
        theirs.decrypt_join_accept_payload(&lk(&enc_key)).unwrap();
        prop_assert!(theirs.validate_join_accept_mic(l_join_type(jrt), &l_eui(join_eui), dev_nonce, &lk(&mic_key)).unwrap());

        // lrwn encodes the same → byte-identical, and ours decrypts and verifies it.
        let ja = match &theirs.payload { lrwn::Payload::JoinAccept(ja) => ja.clone(), _ => unreachable!() };
        prop_assert_eq!(ja.join_nonce, join_nonce);
        prop_assert_eq!(ja.devaddr, l_addr(DevAddr::from_u32(dev_addr)));
        prop_assert_eq!(ja.home_netid, l_net_id(NetId::from_u32(net_id).unwrap()));
        let mut again = lrwn::PhyPayload { mhdr: theirs.mhdr.clone(), payload: lrwn::Payload::JoinAccept(ja), mic: None };
        again.set_join_accept_mic(l_join_type(jrt), &l_eui(join_eui), dev_nonce, &lk(&mic_key)).unwrap();
        again.encrypt_join_accept_payload(&lk(&enc_key)).unwrap();
        let bytes = again.to_vec().unwrap();
        prop_assert_eq!(&bytes, &ours);
        let dec = PhyPayload::parse(&bytes).unwrap().join_accept().unwrap().decrypt(&CipherKey::new(&enc_key));
        if v11 {
            dec.verify_mic_1_1(&MicKey::new(&mic_key), jrt, join_eui, dev_nonce).unwrap();
        } else {
            dec.verify_mic_1_0(&MicKey::new(&mic_key)).unwrap();
        }
        prop_assert_eq!(dec.cf_list(), cf_list);
    }

    /// Session keys equal lrwn's for 1.0 and 1.1, and the JS keys.
    #[test]
    fn session_keys_equal(
        nwk in key_strategy(), app in key_strategy(), join_nonce in 0u32..=0xff_ffff,
        net_id in 0u32..=0xff_ffff, join_eui in any::<u64>(), dev_eui in any::<u64>(), dev_nonce in any::<u16>(),
    ) {
        let jn = JoinNonce::new(join_nonce).unwrap();
        let net_id = NetId::from_u32(net_id).unwrap();
        let (join_eui, dev_eui) = (Eui64::from_u64(join_eui), Eui64::from_u64(dev_eui));
        let (ln, le) = (l_net_id(net_id), l_eui(join_eui));
        let k10 = keys::derive_1_0(&nwk, jn, net_id, dev_nonce);
        prop_assert_eq!(*k10.nwk_s_key.bytes(), lrwn::keys::get_f_nwk_s_int_key(false, &lk(&nwk), &ln, &le, join_nonce, dev_nonce).unwrap().to_bytes());
        prop_assert_eq!(*k10.app_s_key.bytes(), lrwn::keys::get_app_s_key(false, &lk(&nwk), &ln, &le, join_nonce, dev_nonce).unwrap().to_bytes());
        let k11 = keys::derive_1_1(&nwk, &app, jn, join_eui, dev_nonce);
        prop_assert_eq!(*k11.f_nwk_s_int_key.bytes(), lrwn::keys::get_f_nwk_s_int_key(true, &lk(&nwk), &ln, &le, join_nonce, dev_nonce).unwrap().to_bytes());
        prop_assert_eq!(*k11.s_nwk_s_int_key.bytes(), lrwn::keys::get_s_nwk_s_int_key(true, &lk(&nwk), &ln, &le, join_nonce, dev_nonce).unwrap().to_bytes());
        prop_assert_eq!(*k11.nwk_s_enc_key.bytes(), lrwn::keys::get_nwk_s_enc_key(true, &lk(&nwk), &ln, &le, join_nonce, dev_nonce).unwrap().to_bytes());
        prop_assert_eq!(*k11.app_s_key.bytes(), lrwn::keys::get_app_s_key(true, &lk(&app), &ln, &le, join_nonce, dev_nonce).unwrap().to_bytes());
        prop_assert_eq!(*keys::js_int_key(&nwk, dev_eui).bytes(), lrwn::keys::get_js_int_key(&l_eui(dev_eui), &lk(&nwk)).unwrap().to_bytes());
        prop_assert_eq!(*keys::js_enc_key(&nwk, dev_eui).bytes(), lrwn::keys::get_js_enc_key(&l_eui(dev_eui), &lk(&nwk)).unwrap().to_bytes());
        prop_assert_eq!(*keys::root_wor_s_key(&k11.nwk_s_enc_key).bytes(), lrwn::keys::get_root_wor_s_key(&lk(&k11.nwk_s_enc_key)).unwrap().to_bytes());
    }

    /// On arbitrary bytes (≤ 255) the two parsers agree on which data frames are well formed,
    /// and on their fields.
    #[test]
    fn data_frame_parsing_agrees(mtype in data_mtype(), rfu in 0u8..8, rest in proptest::collection::vec(any::<u8>(), 0..254)) {
        let mut bytes = vec![(mtype.bits() << 5) | (rfu << 2)];
        bytes.extend_from_slice(&rest);
        let ours = DataFrame::parse(&bytes);
        let theirs = lrwn::PhyPayload::from_slice(&bytes);
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "ours {:?} lrwn {:?}", ours, theirs.as_ref().err());
        if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
            let pl = mac_payload(&theirs);
            prop_assert_eq!(l_addr(ours.dev_addr()), pl.fhdr.devaddr);
            prop_assert_eq!(u32::from(ours.fcnt16()), pl.fhdr.f_cnt);
            prop_assert_eq!(ours.fopts(), &pl.fhdr.f_opts.to_vec().unwrap()[..]);
            prop_assert_eq!(ours.fport(), pl.f_port);
            prop_assert_eq!(ours.frm_payload(), &frm_raw(pl)[..]);
            prop_assert_eq!(ours.mic(), theirs.mic.unwrap());
        }
    }
}

/// A frame whose MHDR RFU bits were flipped in transit (or by a forger).
///
/// lrwn 4.13 decodes MHDR into (FType, Major), dropping the RFU bits, and computes the MIC over
/// `mhdr.to_le_bytes()` — a re-encoded header with RFU = 0 — so it *accepts* the altered frame.
/// We compute the MIC over the bytes as received, so the same frame fails. (The same holds for
/// any field lrwn normalises when re-encoding, e.g. a type-1 CFList's 15th byte.)
#[test]
fn flipped_mhdr_rfu_bit_fails_our_mic_but_passes_lrwn() {
    let nwk = AesKey::new([0x2b; 16]);
    let mut bytes =
        DataFrameBuilder::new(MType::UnconfirmedDataUp, DevAddr::from_u32(0x2601_1bda), 7)
            .frm_payload(FrmPayloadInput::Encrypted {
                fport: 1,
                data: &[1, 2, 3],
            })
            .build_1_0(&MicKey::new(&nwk))
            .unwrap();
    bytes[0] |= 0b0001_0000; // an RFU bit of MHDR
    let frame = PhyPayload::parse(&bytes).unwrap().data().unwrap();
    assert_eq!(frame.mhdr().rfu(), 0b100);
    assert_eq!(
        frame.verify_mic_1_0(&MicKey::new(&nwk), 7),
        Err(MicError::Mismatch)
    );

    let theirs = lrwn_decode(&bytes, 7);
    assert!(
        theirs
            .validate_uplink_data_mic(lrwn::MACVersion::LoRaWAN1_0, 0, 0, 0, &lk(&nwk), &lk(&nwk))
            .unwrap(),
        "lrwn 4.13 re-encodes MHDR before the MIC and accepts the altered frame; if this starts \
         failing, lrwn has fixed it: update this comment"
    );
}

/// The same for a join-request: lrwn accepts MHDR 0x04 with the MIC of 0x00.
#[test]
fn flipped_join_request_rfu_bit_fails_our_mic_but_passes_lrwn() {
    let key = AesKey::new([0x11; 16]);
    let mut bytes = build_join_request(
        &MicKey::new(&key),
        Eui64::from_u64(1),
        Eui64::from_u64(2),
        3,
    );
    bytes[0] |= 0b0000_0100;
    let jr = PhyPayload::parse(&bytes).unwrap().join_request().unwrap();
    assert_eq!(jr.verify_mic(&MicKey::new(&key)), Err(MicError::Mismatch));
    let theirs = lrwn::PhyPayload::from_slice(&bytes).unwrap();
    assert!(theirs.validate_join_request_mic(&lk(&key)).unwrap());
}

/// The direction check: a 1.1 uplink MIC is not defined for a downlink frame.
#[test]
fn uplink_mic_of_downlink_is_a_caller_error() {
    let k = MicKey::new(&AesKey::new([1; 16]));
    let bytes = DataFrameBuilder::new(MType::UnconfirmedDataDown, DevAddr::from_u32(1), 1)
        .build_1_0(&k)
        .unwrap();
    let frame = DataFrame::parse(&bytes).unwrap();
    assert_eq!(
        frame.uplink_mic_1_1(&k, &k, 1, UplinkMicParams::default()),
        Err(MicError::WrongDirection {
            expected: Direction::Uplink
        })
    );
}
