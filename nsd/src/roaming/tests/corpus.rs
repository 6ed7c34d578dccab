//! Real Backend Interfaces messages of ChirpStack and Helium through both roles.

use super::*;

#[test]
fn chirpstack_pr_start_req_becomes_a_frame() {
    let Message::PRStartReq(pr) = corpus("chirpstack-gen-PRStartReq-data-class_a_pr_test.json")
    else {
        panic!("not a PRStartReq")
    };
    let roamed = sns::deduplicated_from(&pr, Region::Us915).expect("accepted");
    assert_eq!(
        roamed.kind,
        RoamedFrame::Data {
            dev_addr: DevAddr::from_u32(0x0a00_0000)
        }
    );
    assert_eq!(roamed.frame.phy, pr.phy_payload.as_bytes());
    assert_eq!(roamed.frame.heard, 1);
    let rx = &roamed.frame.receptions[..];
    assert_eq!(rx.len(), 1);
    // A 4-byte TS002 1.0 gateway ID, zero-extended.
    assert_eq!(rx[0].gateway, Eui64::from_u64(0x0506_0708));
    assert_eq!(rx[0].frequency_hz, 868_100_000);
    // EU868 (from RFRegion, not the fallback) DR0 = SF12 / 125 kHz.
    assert_eq!(rx[0].modulation, lora(12));
    assert_eq!((rx[0].rssi_dbm, rx[0].snr_db), (0, 0.0));
    let ctx = &roamed.context;
    assert_eq!(ctx.forwarding_net_id, net_id("000202"));
    assert_eq!(ctx.region, Region::Eu868);
    assert_eq!(ctx.protocol_version, ProtocolVersion::V1_0);
    assert!(ctx.may_transmit(rx[0].gateway));
    // The fNS's opaque token comes back as the exact text received.
    let token = ctx.ul_token(rx[0].gateway).expect("token");
    assert!(token
        .received_text()
        .is_some_and(|t| t.starts_with("0a1030333032")));
}

#[test]
fn chirpstack_join_pr_start_req_becomes_a_join() {
    let Message::PRStartReq(pr) = corpus("chirpstack-gen-PRStartReq-join-otaa_pr_test.json") else {
        panic!("not a PRStartReq")
    };
    let roamed = sns::deduplicated_from(&pr, Region::Eu868).expect("accepted");
    assert_eq!(
        roamed.kind,
        RoamedFrame::Join {
            join_eui: Eui64::from_u64(0x0102_0304_0506_0708),
            dev_eui: Eui64::from_u64(0x0807_0605_0403_0201),
        }
    );
}

#[test]
fn pr_start_req_without_data_rate_is_malformed_naming_the_field() {
    let Message::PRStartReq(mut pr) = corpus("chirpstack-gen-PRStartReq-data-class_a_pr_test.json")
    else {
        panic!("not a PRStartReq")
    };
    pr.ul_meta_data.data_rate = None;
    let refusal = sns::deduplicated_from(&pr, Region::Eu868).expect_err("refused");
    assert_eq!(refusal.code, ResultCode::MalformedRequest);
    assert_eq!(refusal.description, "ULMetaData.DataRate missing");
    pr.ul_meta_data.data_rate = Some(0);
    pr.ul_meta_data.rf_region = Some(RfRegion::Cn470);
    let refusal = sns::deduplicated_from(&pr, Region::Eu868).expect_err("refused");
    assert_eq!(refusal.code, ResultCode::Other);
    assert!(refusal.description.contains("CN470"));
}

#[test]
fn helium_xmit_data_req_with_our_fns_ul_token_is_scheduled() {
    // Helium echoes only FNSULToken (its GWInfo has no ULToken): put ours there.
    let Message::XmitDataReq(mut xmit) = corpus("helium-XmitDataReq-1.json") else {
        panic!("not an XmitDataReq")
    };
    let token = UlToken {
        gateway: Eui64::from_u64(0xbb),
        counter_us: 10_793_527,
        issued_at: now(),
        context: Some(UplinkContext {
            frequency_hz: 904_300_000,
            data_rate: 0,
            region: Region::Us915,
        }),
    };
    let dl = xmit.dl_meta_data.as_mut().expect("DLMetaData");
    dl.fns_ul_token = Some(Token::from(token.seal(&KEY)));
    let plan =
        fns::transmission_for(&xmit, &KEY, &XmitPolicy::new(Region::Eu868), now()).expect("plan");
    assert_eq!(plan.gateway, Eui64::from_u64(0xbb));
    let (_, rx1) = &plan.attempts[0];
    // RXDelay1 1 s; US915 DR10 = SF10 / 500 kHz on 926.9 MHz, 20 dBm.
    assert_eq!(rx1.timing, TxTiming::AtCounter(11_793_527));
    assert_eq!(rx1.frequency_hz, 926_900_000);
    assert_eq!(
        rx1.modulation,
        RadioModulation::Lora {
            spreading_factor: 10,
            bandwidth_hz: 500_000,
            code_rate: Some(LORAWAN_CODE_RATE)
        }
    );
    assert_eq!(rx1.power_dbm, 20);
    let (_, rx2) = &plan.attempts[1];
    assert_eq!(rx2.timing, TxTiming::AtCounter(12_793_527));
    assert_eq!(rx2.frequency_hz, 923_300_000);

    // Helium's own token (JSON text) is not ours.
    let Message::XmitDataReq(helium) = corpus("helium-XmitDataReq-1.json") else {
        panic!("not an XmitDataReq")
    };
    let refusal = fns::transmission_for(&helium, &KEY, &XmitPolicy::new(Region::Us915), now())
        .expect_err("not ours");
    assert!(refusal.description.starts_with("DLMetaData.FNSULToken: "));
}

#[test]
fn chirpstack_xmit_data_req_with_our_token_is_scheduled() {
    // ChirpStack's real 1.0 XmitDataReq, its GWInfo ULToken replaced by one of ours.
    let Message::XmitDataReq(mut xmit) =
        corpus("chirpstack-gen-XmitDataReq-downlink-class_a_pr_test.json")
    else {
        panic!("not an XmitDataReq")
    };
    let dl = xmit.dl_meta_data.as_mut().expect("DLMetaData");
    dl.gw_info.as_mut().expect("GWInfo")[0].ul_token =
        Some(Token::from(token_at(now()).seal(&KEY)));
    let plan =
        fns::transmission_for(&xmit, &KEY, &XmitPolicy::new(Region::Eu868), now()).expect("plan");
    // RXDelay1 1: RX1 at +1 s on 868.1 MHz DR0, RX2 at +2 s on 869.525 MHz DR0.
    let timings: Vec<_> = plan
        .attempts
        .iter()
        .map(|(w, t)| (*w, t.timing, t.frequency_hz, t.modulation))
        .collect();
    assert_eq!(
        timings,
        vec![
            (
                XmitWindow::Rx1,
                TxTiming::AtCounter(2_000_000),
                868_100_000,
                lora(12)
            ),
            (
                XmitWindow::Rx2,
                TxTiming::AtCounter(3_000_000),
                869_525_000,
                lora(12)
            ),
        ]
    );
    let refusal = fns::xmit_data_refusal(
        &xmit.header,
        &fns::XmitRefusal {
            code: ResultCode::XmitFailed,
            description: "x".into(),
        },
    );
    assert_eq!(refusal.header.receiver_id, "000505");
}

#[test]
fn inconsistent_pr_start_req_is_malformed() {
    let Message::PRStartReq(pr) = corpus("chirpstack-gen-PRStartReq-data-class_a_pr_test.json")
    else {
        panic!("not a PRStartReq")
    };
    let mut other_addr = pr.clone();
    other_addr.ul_meta_data.dev_addr = Some(DevAddr::from_u32(0x0a00_0001));
    let refusal = sns::deduplicated_from(&other_addr, Region::Eu868).expect_err("refused");
    assert_eq!(refusal.code, ResultCode::MalformedRequest);
    assert_eq!(
        refusal.description,
        "ULMetaData.DevAddr 0a000001 differs from the PHYPayload's 0a000000"
    );
    let mut bad_id = pr.clone();
    bad_id.ul_meta_data.gw_info.as_mut().expect("GWInfo")[0].id =
        Some(backend::values::HexBytes(vec![1, 2, 3]));
    let refusal = sns::deduplicated_from(&bad_id, Region::Eu868).expect_err("refused");
    assert_eq!(
        refusal.description,
        "ULMetaData.GWInfo[0].ID is not a 4- or 8-byte gateway ID"
    );
    let mut not_net_id = pr;
    not_net_id.header.sender_id = "as-1".into();
    let refusal = sns::deduplicated_from(&not_net_id, Region::Eu868).expect_err("refused");
    assert_eq!(refusal.code, ResultCode::UnknownSender);
}
