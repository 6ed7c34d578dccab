//! Both roles against each other; `corpus` runs real messages of other implementations
//! (`shared/conformance/bi/accept`) through them.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backend::header::{Header, MessageType, ProtocolVersion};
use backend::message::{Message, PRStartReq, XmitDataReq};
use backend::values::{RfRegion, Token};
use backend::{Codec, Dialect, ResultCode};
use lorawan::ids::{DevAddr, Eui64, NetId};
use lorawan::region::Region;

use super::fns::{self, Forwarding, GatewaySite, XmitPolicy, XmitWindow};
use super::sns::{self, DownlinkDetails, DownlinkWindows, PrOutcome, PrRefusal, RoamedFrame};
use super::ultoken::{UlToken, UlTokenKey, UplinkContext};
use crate::downlink::airtime::LORAWAN_CODE_RATE;
use crate::downlink::class_a::DeviceRadio;
use crate::gateway::{RadioModulation, RxInfo, TxOutcome, TxRefusal, TxTiming};
use crate::uplink::dedup::Deduplicated;

mod corpus;

const KEY: UlTokenKey = UlTokenKey::new([0x5a; 32]);

fn net_id(text: &str) -> NetId {
    text.parse().expect("NetID")
}

fn corpus(name: &str) -> Message {
    let dir = std::env::var_os("SWITCHYARD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")));
    let path = dir.join("conformance/bi/accept").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (check out shared/ beside the repository or set SWITCHYARD_SHARED)",
            path.display()
        )
    });
    codec().decode(&bytes).expect("corpus message decodes")
}

/// The codec, compiled once for all tests.
fn codec() -> &'static Codec {
    static CODEC: OnceLock<Codec> = OnceLock::new();
    CODEC.get_or_init(|| Codec::new().expect("schemas"))
}

/// Encodes and decodes a message as the hub would carry it.
fn over_the_wire(message: Message) -> Message {
    let codec = codec();
    let bytes = codec.encode(&message, &Dialect::canonical());
    codec.decode(&bytes).expect("decodes")
}

fn lora(sf: u8) -> RadioModulation {
    RadioModulation::Lora {
        spreading_factor: sf,
        bandwidth_hz: 125_000,
        code_rate: Some(LORAWAN_CODE_RATE),
    }
}

fn rx(gateway: u64, counter_us: u32, snr_db: f32, rssi_dbm: i16) -> RxInfo {
    RxInfo {
        gateway: Eui64::from_u64(gateway),
        frequency_hz: 868_300_000,
        modulation: lora(9),
        rssi_dbm,
        snr_db,
        channel: 1,
        rf_chain: 0,
        counter_us,
        time: Some(UNIX_EPOCH + Duration::from_secs(1_780_000_000)),
        gps_time_ms: None,
        fine_timestamp_ns: Some(123_456_789),
    }
}

/// The ChirpStack corpus data uplink (DevAddr 0a000000, FCnt 8), heard by two gateways.
fn frame() -> Deduplicated {
    Deduplicated {
        phy: hex::decode("400000000a000800b41451a9").expect("hex"),
        receptions: vec![
            rx(0x0016_c001_ff10_a235, 4_294_000_000, 7.5, -80),
            rx(0x0016_c001_ff10_a236, 1_000, -3.0, -110),
        ],
        heard: 3,
    }
}

fn forwarding(version: ProtocolVersion) -> Forwarding {
    Forwarding {
        protocol_version: version,
        sender_net_id: net_id("000001"),
        sender_nsid: Some(Eui64::from_u64(0x0000_0000_0000_00b1)),
        receiver_net_id: net_id("000005"),
        transaction_id: 42,
        region: Region::Eu868,
    }
}

fn site(_: Eui64) -> GatewaySite {
    GatewaySite {
        location: Some((48.85, 2.35)),
        dl_allowed: true,
    }
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_780_000_001)
}

#[test]
fn pr_start_req_carries_full_ul_metadata() {
    let pr = fns::pr_start_req(
        &frame(),
        &forwarding(ProtocolVersion::V1_1),
        site,
        &KEY,
        now(),
    )
    .expect("forwardable");
    assert_eq!(pr.header.message_type, MessageType::PRStartReq);
    assert_eq!(
        (pr.header.sender_id.as_str(), pr.header.receiver_id.as_str()),
        ("000001", "000005")
    );
    assert_eq!(pr.header.sender_nsid.as_deref(), Some("00000000000000b1"));
    let meta = &pr.ul_meta_data;
    assert_eq!(meta.dev_addr, Some(DevAddr::from_u32(0x0a00_0000)));
    assert_eq!(meta.dev_eui, None);
    // EU868 SF9 / 125 kHz is DR3.
    assert_eq!(meta.data_rate, Some(3));
    assert_eq!(meta.ul_freq, Some(868.3));
    assert_eq!(meta.rf_region, Some(RfRegion::Eu868));
    assert_eq!(meta.gw_cnt, Some(2));
    assert_eq!(
        SystemTime::from(meta.recv_time),
        UNIX_EPOCH + Duration::from_secs(1_780_000_000)
    );
    let gw = meta.gw_info.as_ref().expect("GWInfo");
    assert_eq!(gw.len(), 2);
    assert_eq!(
        gw[0].id.as_ref().map(|id| id.as_bytes().to_vec()),
        Some(vec![0x00, 0x16, 0xc0, 0x01, 0xff, 0x10, 0xa2, 0x35])
    );
    assert_eq!((gw[0].rssi, gw[0].snr), (Some(-80), Some(7.5)));
    assert_eq!((gw[0].lat, gw[0].lon), (Some(48.85), Some(2.35)));
    assert_eq!(gw[0].fine_recv_time, Some(123_456_789));
    assert_eq!(gw[0].dl_allowed, Some(true));
    let token =
        UlToken::open(gw[0].ul_token.as_ref().expect("token").as_bytes(), &KEY).expect("our token");
    assert_eq!(token.gateway, Eui64::from_u64(0x0016_c001_ff10_a235));
    assert_eq!(token.counter_us, 4_294_000_000);
    assert_eq!(
        token.context,
        Some(UplinkContext {
            frequency_hz: 868_300_000,
            data_rate: 3,
            region: Region::Eu868
        })
    );
    assert_eq!(meta.fns_ul_token, gw[0].ul_token);
    // 1.0 has no FineRecvTime and no NSIDs.
    let pr10 = fns::pr_start_req(
        &frame(),
        &forwarding(ProtocolVersion::V1_0),
        site,
        &KEY,
        now(),
    )
    .expect("forwardable");
    assert_eq!(pr10.header.sender_nsid, None);
    assert_eq!(
        pr10.ul_meta_data.gw_info.expect("GWInfo")[0].fine_recv_time,
        None
    );
}

#[test]
fn gateways_that_may_not_transmit_get_no_token() {
    let no_dl = |_| GatewaySite {
        location: None,
        dl_allowed: false,
    };
    let pr = fns::pr_start_req(
        &frame(),
        &forwarding(ProtocolVersion::V1_1),
        no_dl,
        &KEY,
        now(),
    )
    .expect("forwardable");
    let gw = pr.ul_meta_data.gw_info.expect("GWInfo");
    assert!(gw
        .iter()
        .all(|g| g.ul_token.is_none() && g.dl_allowed == Some(false)));
    assert_eq!((gw[0].lat, gw[0].lon), (None, None));
}

#[test]
fn join_requests_carry_dev_eui_and_downlinks_are_not_forwarded() {
    let mut join = frame();
    join.phy = hex::decode("00080706050403020101020304050607087b00f0587fe1").expect("hex");
    let pr = fns::pr_start_req(&join, &forwarding(ProtocolVersion::V1_1), site, &KEY, now())
        .expect("forwardable");
    assert_eq!(
        pr.ul_meta_data.dev_eui,
        Some(Eui64::from_u64(0x0807_0605_0403_0201))
    );
    assert_eq!(pr.ul_meta_data.dev_addr, None);
    let mut down = frame();
    down.phy = hex::decode("600000000a8005000a54972baa8b983cd1").expect("hex");
    assert_eq!(
        fns::pr_start_req(&down, &forwarding(ProtocolVersion::V1_1), site, &KEY, now()),
        Err(fns::ForwardError::NotForwardable("downlink data"))
    );
}

#[test]
fn round_trip_fns_to_sns_and_back() {
    // fNS: the frame out as a PRStartReq, through the codec as the hub carries it.
    let original = frame();
    let pr = fns::pr_start_req(
        &original,
        &forwarding(ProtocolVersion::V1_1),
        site,
        &KEY,
        now(),
    )
    .expect("forwardable");
    let Message::PRStartReq(pr) = over_the_wire(pr.into()) else {
        panic!("not a PRStartReq")
    };
    // sNS: the same receptions, best first.
    let roamed = sns::deduplicated_from(&pr, Region::Us915).expect("accepted");
    assert_eq!(roamed.frame.phy, original.phy);
    assert_eq!(roamed.frame.receptions.len(), 2);
    for (got, sent) in roamed.frame.receptions.iter().zip(&original.receptions) {
        assert_eq!(got.gateway, sent.gateway);
        assert_eq!(got.frequency_hz, sent.frequency_hz);
        assert_eq!(got.modulation, sent.modulation);
        assert_eq!((got.rssi_dbm, got.snr_db), (sent.rssi_dbm, sent.snr_db));
        assert_eq!(got.fine_timestamp_ns, sent.fine_timestamp_ns);
        assert_eq!(got.time, sent.time);
    }
    let ctx = &roamed.context;
    assert_eq!(ctx.forwarding_net_id, net_id("000001"));
    assert_eq!(ctx.forwarding_nsid.as_deref(), Some("00000000000000b1"));
    assert_eq!(
        (ctx.uplink_frequency_hz, ctx.uplink_data_rate),
        (868_300_000, 3)
    );

    // sNS answers through the best gateway with a 5 s RX1 delay.
    let mut device = DeviceRadio::defaults(Region::Eu868.params());
    device.rx1_delay = Duration::from_secs(5);
    let windows = sns::class_a_windows(ctx, &device);
    assert_eq!(
        windows,
        DownlinkWindows::ClassA {
            rx1_delay_s: 5,
            rx1: Some((868_300_000, 3)),
            rx2: Some((869_525_000, 0)),
        }
    );
    let best = roamed.frame.receptions[0].gateway;
    let downlink = hex::decode("600000000a8005000a54972baa8b983cd1").expect("hex");
    let sender = sns::ServingNs {
        net_id: net_id("000005"),
        nsid: Some(Eui64::from_u64(0xc5)),
    };
    let details = DownlinkDetails {
        dev_eui: Some(Eui64::from_u64(0x0202_0304_0506_0708)),
        ..DownlinkDetails::default()
    };
    let xmit = sns::xmit_data_req(downlink.clone(), ctx, best, &windows, &details, &sender, 43)
        .expect("token");
    assert_eq!(
        (
            xmit.header.sender_id.as_str(),
            xmit.header.receiver_id.as_str()
        ),
        ("000005", "000001")
    );
    assert_eq!(
        xmit.header.receiver_nsid.as_deref(),
        Some("00000000000000b1")
    );
    let Message::XmitDataReq(xmit) = over_the_wire(xmit.into()) else {
        panic!("not an XmitDataReq")
    };

    // fNS: RX1 at the uplink's counter + 5 s (wrapping), RX2 one second later.
    let plan =
        fns::transmission_for(&xmit, &KEY, &XmitPolicy::new(Region::Eu868), now()).expect("plan");
    assert_eq!(plan.gateway, Eui64::from_u64(0x0016_c001_ff10_a235));
    assert_eq!(plan.attempts.len(), 2);
    let (window, rx1) = &plan.attempts[0];
    assert_eq!(*window, XmitWindow::Rx1);
    assert_eq!(
        rx1.timing,
        TxTiming::AtCounter(4_294_000_000u32.wrapping_add(5_000_000))
    );
    assert_eq!(rx1.timing, TxTiming::AtCounter(4_032_704));
    assert_eq!(rx1.frequency_hz, 868_300_000);
    assert_eq!(rx1.modulation, lora(9));
    assert_eq!(rx1.power_dbm, 14);
    assert!(rx1.invert_polarity);
    assert_eq!(rx1.phy, downlink);
    let (window, rx2) = &plan.attempts[1];
    assert_eq!(*window, XmitWindow::Rx2);
    assert_eq!(rx2.timing, TxTiming::AtCounter(5_032_704));
    assert_eq!(rx2.frequency_hz, 869_525_000);
    assert_eq!(rx2.modulation, lora(12));
    // Sub-band g3 allows 27 dBm.
    assert_eq!(rx2.power_dbm, 27);
}

fn our_xmit(class_mode: &str, token: Vec<u8>) -> XmitDataReq {
    let json = serde_json::json!({
        "ProtocolVersion": "1.1", "SenderID": "000005", "ReceiverID": "000001",
        "TransactionID": 7, "MessageType": "XmitDataReq",
        "PHYPayload": "600000000a8005000a54972baa8b983cd1",
        "DLMetaData": {
            "DLFreq1": 868.1, "DataRate1": 5, "DLFreq2": 869.525, "DataRate2": 0,
            "RXDelay1": 5, "ClassMode": class_mode,
            "GWInfo": [{"ULToken": hex::encode(token)}]
        }
    });
    match codec()
        .decode(json.to_string().as_bytes())
        .expect("valid XmitDataReq")
    {
        Message::XmitDataReq(xmit) => xmit,
        other => panic!("{other:?}"),
    }
}

fn token_at(issued_at: SystemTime) -> UlToken {
    UlToken {
        gateway: Eui64::from_u64(0xaa),
        counter_us: 1_000_000,
        issued_at,
        context: None,
    }
}

#[test]
fn class_a_rx1_is_counter_plus_rx_delay1_and_class_c_is_immediate() {
    let policy = XmitPolicy::new(Region::Eu868);
    let xmit = our_xmit("A", token_at(now()).seal(&KEY));
    let plan = fns::transmission_for(&xmit, &KEY, &policy, now()).expect("plan");
    assert_eq!(plan.attempts[0].1.timing, TxTiming::AtCounter(6_000_000));
    assert_eq!(plan.attempts[0].1.modulation, lora(7));
    assert_eq!(plan.attempts[1].1.timing, TxTiming::AtCounter(7_000_000));

    // Class C: an hour-old token still names the gateway; sent at once on RX2's settings.
    let old = now() - Duration::from_secs(3_600);
    let xmit = our_xmit("C", token_at(old).seal(&KEY));
    let plan = fns::transmission_for(&xmit, &KEY, &policy, now()).expect("plan");
    assert_eq!(plan.attempts.len(), 1);
    let (window, tx) = &plan.attempts[0];
    assert_eq!(*window, XmitWindow::Immediate);
    assert_eq!(tx.timing, TxTiming::Immediately);
    assert_eq!((tx.frequency_hz, tx.modulation), (869_525_000, lora(12)));

    // The same token is too old for class A.
    let xmit = our_xmit("A", token_at(old).seal(&KEY));
    let refusal = fns::transmission_for(&xmit, &KEY, &policy, now()).expect_err("stale");
    assert_eq!(refusal.code, ResultCode::XmitFailed);
    assert!(refusal.description.contains("ULToken is 3600000 ms old"));
}

#[test]
fn tampered_or_foreign_tokens_cannot_make_our_gateway_transmit() {
    let policy = XmitPolicy::new(Region::Eu868);
    let mut sealed = token_at(now()).seal(&KEY);
    // Point the token at another gateway.
    sealed[9] ^= 0x01;
    let refusal =
        fns::transmission_for(&our_xmit("A", sealed), &KEY, &policy, now()).expect_err("forged");
    assert_eq!(refusal.code, ResultCode::XmitFailed);
    assert_eq!(
        refusal.description,
        "DLMetaData.GWInfo.ULToken: ULToken authentication failed (not issued by this fNS, or altered)"
    );
    // Sealed under another fNS's key.
    let other = UlTokenKey::new([1; 32]);
    let refusal = fns::transmission_for(
        &our_xmit("A", token_at(now()).seal(&other)),
        &KEY,
        &policy,
        now(),
    )
    .expect_err("forged");
    assert_eq!(refusal.code, ResultCode::XmitFailed);

    // ChirpStack's own token format, as in its XmitDataReq.
    let Message::XmitDataReq(xmit) =
        corpus("chirpstack-gen-XmitDataReq-downlink-class_a_pr_test.json")
    else {
        panic!("not an XmitDataReq")
    };
    let refusal = fns::transmission_for(&xmit, &KEY, &policy, now()).expect_err("not ours");
    assert_eq!(refusal.code, ResultCode::XmitFailed);
    assert!(refusal
        .description
        .starts_with("DLMetaData.GWInfo.ULToken: ULToken version 10"));
}

#[test]
fn malformed_dl_metadata_is_refused_naming_the_field() {
    let policy = XmitPolicy::new(Region::Eu868);
    let mut xmit = our_xmit("A", token_at(now()).seal(&KEY));
    let dl = xmit.dl_meta_data.as_mut().expect("DLMetaData");
    dl.data_rate1 = None;
    let refusal = fns::transmission_for(&xmit, &KEY, &policy, now()).expect_err("malformed");
    assert_eq!(refusal.code, ResultCode::MalformedMessage);
    assert_eq!(
        refusal.description,
        "DLMetaData.DataRate1 missing (given with DLFreq1)"
    );
    let mut xmit = our_xmit("A", token_at(now()).seal(&KEY));
    xmit.dl_meta_data.as_mut().expect("DLMetaData").data_rate1 = Some(15);
    let refusal = fns::transmission_for(&xmit, &KEY, &policy, now()).expect_err("malformed");
    assert_eq!(
        refusal.description,
        "DLMetaData.DataRate1 15 is not a downlink data rate of EU868"
    );
    let mut xmit = our_xmit("A", token_at(now()).seal(&KEY));
    xmit.dl_meta_data.as_mut().expect("DLMetaData").rx_delay1 = Some(16);
    let refusal = fns::transmission_for(&xmit, &KEY, &policy, now()).expect_err("malformed");
    assert_eq!(
        refusal.description,
        "DLMetaData.RXDelay1 16 is more than 15 s"
    );
    let xmit = our_xmit("B", token_at(now()).seal(&KEY));
    let refusal = fns::transmission_for(&xmit, &KEY, &policy, now()).expect_err("class B");
    assert_eq!(refusal.code, ResultCode::Other);
}

#[test]
fn xmit_data_ans_reports_the_gateway_answer() {
    let request = Header::new(
        ProtocolVersion::V1_1,
        MessageType::XmitDataReq,
        "000005",
        "000001",
        Some(43),
    );
    let ok = fns::xmit_data_ans(&request, TxOutcome::Sent);
    assert_eq!(ok.result.result_code, ResultCode::Success);
    assert_eq!(ok.header.message_type, MessageType::XmitDataAns);
    assert_eq!(
        (ok.header.sender_id.as_str(), ok.header.transaction_id),
        ("000001", Some(43))
    );
    let late = fns::xmit_data_ans(&request, TxOutcome::Refused(TxRefusal::TooLate));
    assert_eq!(late.result.result_code, ResultCode::XmitFailed);
    assert_eq!(
        late.result.description.as_deref(),
        Some("gateway refused: TX_ACK TOO_LATE")
    );
    let collision = fns::xmit_data_ans(&request, TxOutcome::Refused(TxRefusal::CollisionPacket));
    assert!(collision
        .result
        .description
        .is_some_and(|d| d.ends_with("COLLISION_PACKET")));
    let gone = fns::xmit_data_ans(&request, TxOutcome::NotConnected);
    assert_eq!(gone.result.result_code, ResultCode::XmitFailed);
}

#[test]
fn pr_start_ans_codes_and_stateless_lifetime() {
    let request = |version| {
        let mut h = Header::new(
            version,
            MessageType::PRStartReq,
            "000001",
            "000005",
            Some(9),
        );
        h.sender_nsid = Some("00000000000000b1".into());
        h
    };
    let dev_eui = Eui64::from_u64(0x0202_0304_0506_0708);
    let ok = sns::pr_start_ans(
        &request(ProtocolVersion::V1_1),
        PrOutcome::Accepted { dev_eui },
    );
    assert_eq!(ok.result.result_code, ResultCode::Success);
    assert_eq!((ok.lifetime, ok.dev_eui), (Some(0), Some(dev_eui)));
    assert_eq!(ok.header.message_type, MessageType::PRStartAns);
    assert_eq!(ok.header.receiver_nsid.as_deref(), Some("00000000000000b1"));
    assert_eq!(ok.nwk_s_key, None);
    let ok10 = sns::pr_start_ans(
        &request(ProtocolVersion::V1_0),
        PrOutcome::Accepted { dev_eui },
    );
    assert_eq!((ok10.lifetime, ok10.dev_eui), (Some(0), None));

    let refused = |version, refusal: PrRefusal| {
        sns::pr_start_ans(&request(version), PrOutcome::Refused(refusal))
            .result
            .result_code
    };
    let v11 = ProtocolVersion::V1_1;
    let addr = DevAddr::from_u32(0x0a00_0000);
    let data = RoamedFrame::Data { dev_addr: addr };
    let join = RoamedFrame::Join {
        join_eui: Eui64::from_u64(1),
        dev_eui,
    };
    assert_eq!(
        refused(v11.clone(), PrRefusal::unknown_dev_addr(addr)),
        ResultCode::UnknownDevAddr
    );
    assert_eq!(
        refused(v11.clone(), PrRefusal::mic_failed()),
        ResultCode::MICFailed
    );
    assert_eq!(
        refused(v11.clone(), PrRefusal::roaming_disallowed(&data)),
        ResultCode::DevRoamingDisallowed
    );
    assert_eq!(
        refused(v11.clone(), PrRefusal::roaming_disallowed(&join)),
        ResultCode::RoamingActDisallowed
    );
    assert_eq!(
        refused(v11.clone(), PrRefusal::frame_replayed(&v11, 8)),
        ResultCode::FrameReplayed
    );
    let v10 = ProtocolVersion::V1_0;
    assert_eq!(
        refused(v10.clone(), PrRefusal::frame_replayed(&v10, 8)),
        ResultCode::Other
    );
    // A refusal carries no Lifetime and encodes as a valid PRStartAns.
    let answer = sns::pr_start_ans(
        &request(v11),
        PrOutcome::Refused(PrRefusal::unknown_dev_addr(addr)),
    );
    assert_eq!(answer.lifetime, None);
    let Message::PRStartAns(back) = over_the_wire(answer.into()) else {
        panic!("not a PRStartAns")
    };
    assert_eq!(
        back.result.description.as_deref(),
        Some("no device with DevAddr 0a000000")
    );
}

#[test]
fn xmit_data_req_needs_the_chosen_gateways_token() {
    let pr: PRStartReq = fns::pr_start_req(
        &frame(),
        &forwarding(ProtocolVersion::V1_1),
        site,
        &KEY,
        now(),
    )
    .expect("forwardable");
    let roamed = sns::deduplicated_from(&pr, Region::Eu868).expect("accepted");
    let sender = sns::ServingNs {
        net_id: net_id("000005"),
        nsid: None,
    };
    let windows = DownlinkWindows::ClassC {
        frequency_hz: 869_525_000,
        data_rate: 0,
    };
    let unknown = Eui64::from_u64(0x99);
    assert_eq!(
        sns::xmit_data_req(
            vec![0x60],
            &roamed.context,
            unknown,
            &windows,
            &DownlinkDetails::default(),
            &sender,
            1
        ),
        Err(sns::NoUlToken(unknown))
    );
    let gateway = roamed.frame.receptions[1].gateway;
    let xmit = sns::xmit_data_req(
        vec![0x60],
        &roamed.context,
        gateway,
        &windows,
        &DownlinkDetails::default(),
        &sender,
        1,
    )
    .expect("token");
    let dl = xmit.dl_meta_data.expect("DLMetaData");
    assert_eq!(dl.class_mode, Some(backend::values::ClassMode::C));
    assert_eq!((dl.dl_freq2, dl.data_rate2), (Some(869.525), Some(0)));
    assert_eq!((dl.dl_freq1, dl.rx_delay1), (None, None));
    let token = dl.gw_info.expect("GWInfo")[0]
        .ul_token
        .clone()
        .expect("token");
    assert_eq!(
        UlToken::open(token.as_bytes(), &KEY).map(|t| t.gateway),
        Ok(gateway)
    );
}

#[test]
fn join_accept_goes_out_in_the_join_windows_and_its_fate_is_notified() {
    let mut join = frame();
    join.phy = hex::decode("00080706050403020101020304050607087b00f0587fe1").expect("hex");
    let pr = fns::pr_start_req(&join, &forwarding(ProtocolVersion::V1_1), site, &KEY, now())
        .expect("forwardable");
    let Message::PRStartReq(pr) = over_the_wire(pr.into()) else {
        panic!("not a PRStartReq")
    };
    // sNS: the join-accept in JOIN_ACCEPT_DELAY1 (5 s) / JOIN_ACCEPT_DELAY2.
    let roamed = sns::deduplicated_from(&pr, Region::Eu868).expect("accepted");
    let windows = DownlinkWindows::ClassA {
        rx1_delay_s: 5,
        rx1: Some((868_300_000, 3)),
        rx2: Some((869_525_000, 0)),
    };
    let gateway = roamed.frame.receptions[0].gateway;
    let dl = sns::dl_meta_data(
        &roamed.context,
        gateway,
        &windows,
        &DownlinkDetails::default(),
    )
    .expect("token");
    let join_accept = vec![0x20; 17];
    let ans = sns::pr_start_ans(
        &pr.header,
        PrOutcome::Joined {
            dev_eui: Eui64::from_u64(0x0807_0605_0403_0201),
            join_accept: join_accept.clone(),
            dl_meta_data: dl,
        },
    );
    let Message::PRStartAns(ans) = over_the_wire(ans.into()) else {
        panic!("not a PRStartAns")
    };
    assert_eq!(ans.lifetime, Some(0));
    // fNS: scheduled against the join-request's counter.
    let plan = fns::join_accept_transmission(&ans, &KEY, &XmitPolicy::new(Region::Eu868), now())
        .expect("plan");
    assert_eq!(
        plan.attempts[0].1.timing,
        TxTiming::AtCounter(4_294_000_000u32.wrapping_add(5_000_000))
    );
    assert_eq!(plan.attempts[0].1.phy, join_accept);
    let notif = fns::pr_start_notif(&ans, Ok(TxOutcome::Refused(TxRefusal::TooLate)))
        .expect("1.1 has PRStartNotif");
    let mut ans10 = ans.clone();
    ans10.header.protocol_version = ProtocolVersion::V1_0;
    assert_eq!(fns::pr_start_notif(&ans10, Ok(TxOutcome::Sent)), None);
    assert_eq!(notif.header.message_type, MessageType::PRStartNotif);
    assert_eq!(
        (
            notif.header.sender_id.as_str(),
            notif.header.receiver_id.as_str()
        ),
        ("000001", "000005")
    );
    assert_eq!(notif.header.transaction_id, Some(42));
    assert_eq!(notif.result.result_code, ResultCode::XmitFailed);
    let Message::PRStartNotif(back) = over_the_wire(notif.into()) else {
        panic!("not a PRStartNotif")
    };
    assert_eq!(
        back.result.description.as_deref(),
        Some("gateway refused: TX_ACK TOO_LATE")
    );
}
