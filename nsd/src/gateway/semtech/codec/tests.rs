//! Codec tests on packet-forwarder JSON as real forwarders write it.

use std::time::{Duration, SystemTime};

use super::*;
use crate::gateway::registry::Location;

const GATEWAY: GatewayId = GatewayId::from_u64(0xaa55_5a00_0000_0101);

/// An unconfirmed data uplink (18 bytes).
const DATA_UP: &str = "400403020180010001a694642615d6c3b582";
const DATA_UP_B64: &str = "QAQDAgGAAQABppRkJhXWw7WC";
/// A join-request (23 bytes).
const JOIN_REQUEST: &str = "00dc0000d07ed5b3701e6fedf57ceeaf00c886030af2c9";

fn hex(text: &str) -> Vec<u8> {
    lorawan::ids::parse_hex_vec(text).expect("test hex")
}

fn read_push(json: &str) -> PushData {
    parse_push_data(GATEWAY, json.as_bytes()).expect("PUSH_DATA body")
}

fn lora(sf: u8, bw: u32, cr: Option<(u8, u8)>) -> RadioModulation {
    RadioModulation::Lora {
        spreading_factor: sf,
        bandwidth_hz: bw,
        code_rate: cr.map(|(numerator, denominator)| CodeRate {
            numerator,
            denominator,
        }),
    }
}

// --- header ---------------------------------------------------------------------------

#[test]
fn headers_of_every_packet_type() {
    let eui = [0xaa, 0x55, 0x5a, 0x00, 0x00, 0x00, 0x01, 0x01];
    let mut push_data = vec![2, 0x12, 0x34, 0x00];
    push_data.extend_from_slice(&eui);
    push_data.extend_from_slice(b"{}");
    let packet = parse(&push_data).expect("PUSH_DATA");
    assert_eq!(packet.version, ProtocolVersion::V2);
    assert_eq!(packet.token, Token(0x1234));
    assert_eq!(
        packet.body,
        Body::PushData {
            gateway: GATEWAY,
            json: b"{}"
        }
    );
    assert_eq!(packet.encode(), push_data);

    let mut pull_data = vec![1, 0xbe, 0xef, 0x02];
    pull_data.extend_from_slice(&eui);
    let packet = parse(&pull_data).expect("PULL_DATA");
    assert_eq!(packet.version, ProtocolVersion::V1);
    assert_eq!(packet.body, Body::PullData { gateway: GATEWAY });
    assert_eq!(packet.encode(), pull_data);

    let mut tx_ack = vec![2, 0, 7, 0x05];
    tx_ack.extend_from_slice(&eui);
    assert_eq!(
        parse(&tx_ack).expect("TX_ACK").body,
        Body::TxAck {
            gateway: GATEWAY,
            json: b""
        }
    );

    assert_eq!(
        push_ack(ProtocolVersion::V2, Token(0x1234)),
        [2, 0x12, 0x34, 0x01]
    );
    assert_eq!(
        pull_ack(ProtocolVersion::V1, Token(0xbeef)),
        [1, 0xbe, 0xef, 0x04]
    );
    assert_eq!(
        parse(&[2, 1, 2, 0x01]).expect("PUSH_ACK").body,
        Body::PushAck
    );
    assert_eq!(
        parse(&[2, 1, 2, 0x04]).expect("PULL_ACK").body,
        Body::PullAck
    );
    assert_eq!(
        parse(b"\x02\x01\x02\x03{\"txpk\":{}}")
            .expect("PULL_RESP")
            .body,
        Body::PullResp {
            json: b"{\"txpk\":{}}"
        }
    );
}

#[test]
fn bad_headers_are_errors() {
    assert_eq!(
        parse(&[2, 0, 0]),
        Err(CodecError::Truncated { len: 3, needed: 4 })
    );
    assert_eq!(parse(&[3, 0, 0, 0]), Err(CodecError::Version(3)));
    assert_eq!(parse(&[0, 0, 0, 0]), Err(CodecError::Version(0)));
    assert_eq!(parse(&[2, 0, 0, 0x06]), Err(CodecError::Identifier(6)));
    // PUSH_DATA, PULL_DATA and TX_ACK need the 8-byte EUI.
    for id in [PUSH_DATA, PULL_DATA, TX_ACK] {
        assert_eq!(
            parse(&[2, 0, 0, id, 1, 2, 3, 4, 5, 6, 7]),
            Err(CodecError::Truncated {
                len: 11,
                needed: 12
            })
        );
    }
}

// --- rxpk -----------------------------------------------------------------------------

#[test]
fn protocol_txt_style_lora_and_fsk_frames() {
    // PROTOCOL.TXT's example shape: one LoRa and one FSK frame in one datagram.
    let body = format!(
        r#"{{"rxpk":[
        {{"time":"2013-03-31T16:21:17.528002Z","tmst":3512348611,"chan":2,"rfch":0,
          "freq":866.349812,"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/6",
          "rssi":-35,"lsnr":5.1,"size":18,"data":"{DATA_UP_B64}"}},
        {{"time":"2013-03-31T16:21:17.530974Z","tmst":3512348514,"chan":9,"rfch":1,
          "freq":869.1,"stat":1,"modu":"FSK","datr":50000,"rssi":-75,"size":17,
          "data":"QPF9vkkAAgABlUN4disR/w0="}}
    ]}}"#
    );
    let push = read_push(&body);
    assert!(push.skipped.is_empty(), "{:?}", push.skipped);
    assert_eq!(push.stat, None);
    let [lora_up, fsk_up] = &push.uplinks[..] else {
        panic!("two uplinks expected: {push:?}")
    };
    assert_eq!(lora_up.crc, CrcStatus::Ok);
    let rx = &lora_up.reception.rx;
    assert_eq!(lora_up.reception.phy, hex(DATA_UP));
    assert_eq!(rx.gateway, GATEWAY);
    assert_eq!(rx.frequency_hz, 866_349_812);
    assert_eq!(rx.modulation, lora(7, 125_000, Some((4, 6))));
    assert_eq!((rx.rssi_dbm, rx.snr_db), (-35, 5.1));
    assert_eq!(
        (rx.channel, rx.rf_chain, rx.counter_us),
        (2, 0, 3_512_348_611)
    );
    assert_eq!(
        rx.time,
        Some(SystemTime::UNIX_EPOCH + Duration::new(1_364_746_877, 528_002_000))
    );
    assert_eq!((rx.gps_time_ms, rx.fine_timestamp_ns), (None, None));

    let rx = &fsk_up.reception.rx;
    assert_eq!(rx.modulation, RadioModulation::Fsk { bitrate: 50_000 });
    assert_eq!(rx.frequency_hz, 869_100_000);
    assert_eq!(
        (rx.rssi_dbm, rx.snr_db, rx.channel, rx.rf_chain),
        (-75, 0.0, 9, 1)
    );
    assert_eq!(
        fsk_up.reception.phy,
        hex("40f17dbe4900020001954378762b11ff0d")
    );
}

#[test]
fn sx1302_forwarder_frame_with_gps_time_and_frequency_offset() {
    let body = format!(
        r#"{{"rxpk":[{{"jver":1,"tmst":1771394228,"time":"2026-12-03T10:00:01.123456Z",
        "tmms":1448794819123,"chan":1,"rfch":1,"freq":868.300000,"mid":8,"stat":1,
        "modu":"LORA","datr":"SF9BW125","codr":"4/5","rssis":-97,"lsnr":-4.2,"foff":-1093,
        "rssi":-92,"size":18,"data":"{DATA_UP_B64}"}}]}}"#
    );
    let push = read_push(&body);
    let [up] = &push.uplinks[..] else {
        panic!("one uplink expected: {push:?}")
    };
    let rx = &up.reception.rx;
    assert_eq!(rx.frequency_hz, 868_300_000);
    assert_eq!(rx.modulation, lora(9, 125_000, Some((4, 5))));
    // The channel RSSI, not the signal RSSI.
    assert_eq!((rx.rssi_dbm, rx.snr_db), (-92, -4.2));
    assert_eq!(rx.gps_time_ms, Some(1_448_794_819_123));
    assert_eq!(
        rx.time,
        Some(SystemTime::UNIX_EPOCH + Duration::new(1_796_292_001, 123_456_000))
    );
    assert_eq!(up.frequency_offset_hz, Some(-1093));
    assert_eq!(up.antenna, None);
}

#[test]
fn multi_antenna_rsig_takes_the_best_antenna() {
    // Kerlink iBTS / lora_pkt_fwd v4 style: per-antenna signal in `rsig`, no top-level rssi.
    let body = format!(
        r#"{{"rxpk":[{{"aesk":0,"brd":0,"codr":"4/5","data":"{DATA_UP_B64}","datr":"SF7BW125",
        "freq":868.1,"jver":2,"modu":"LORA","size":18,"stat":1,
        "time":"2019-01-11T08:24:19.000000Z","tmst":2893488652,"rfch":0,
        "rsig":[
          {{"ant":0,"chan":3,"lsnr":-7.5,"rssic":-110,"rssis":-117,"etime":"3dlx6BZaUKpdTt4rsaFNSA==",
            "foff":-85,"ftstat":0,"ftver":1,"ftdelta":0}},
          {{"ant":1,"chan":3,"lsnr":8.25,"rssic":-96,"rssis":-97,"ftime":123456789,"foff":-80}}
        ]}}]}}"#
    );
    let push = read_push(&body);
    let [up] = &push.uplinks[..] else {
        panic!("one uplink expected: {push:?}")
    };
    let rx = &up.reception.rx;
    assert_eq!(up.antenna, Some(1));
    assert_eq!((rx.rssi_dbm, rx.snr_db, rx.channel), (-96, 8.25, 3));
    assert_eq!(rx.fine_timestamp_ns, Some(123_456_789));
    assert_eq!(up.frequency_offset_hz, Some(-80));
    assert_eq!(rx.frequency_hz, 868_100_000);
    assert_eq!(
        rx.time,
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_547_195_059))
    );
}

#[test]
fn old_single_channel_forwarder_without_codr_and_unpadded_base64() {
    // No codr, integer lsnr, no chan/rfch, no size, base64 without its padding.
    let body = r#"{"rxpk":[{"tmst":2074912276,"freq":868.1,"stat":1,"modu":"LORA",
        "datr":"SF12BW125","rssi":-57,"lsnr":9,"data":"QPF9vkkAAgABlUN4disR/w0"}]}"#;
    let push = read_push(body);
    let [up] = &push.uplinks[..] else {
        panic!("one uplink expected: {push:?}")
    };
    assert_eq!(up.reception.phy, hex("40f17dbe4900020001954378762b11ff0d"));
    let rx = &up.reception.rx;
    assert_eq!(rx.modulation, lora(12, 125_000, None));
    assert_eq!((rx.channel, rx.rf_chain, rx.snr_db), (0, 0, 9.0));
    assert_eq!(rx.time, None);
}

#[test]
fn codr_off_and_lora_2g4_and_lr_fhss() {
    let body = format!(
        r#"{{"rxpk":[
        {{"tmst":1,"freq":868.1,"stat":0,"modu":"LORA","datr":"SF7BW125","codr":"OFF",
          "rssi":-80,"data":"{DATA_UP_B64}"}},
        {{"tmst":2,"freq":2425.0,"stat":1,"modu":"LORA","datr":"SF12BW812","codr":"4/8LI",
          "rssi":-80,"data":"{DATA_UP_B64}"}},
        {{"jver":2,"tmst":3,"freq":868.1,"stat":1,"modu":"LR-FHSS","datr":"M0CW137",
          "codr":"2/3","hpw":52,"size":18,"data":"{DATA_UP_B64}",
          "rsig":[{{"ant":0,"chan":0,"rssic":-107,"fdri":23,"foff":5114}}]}}
    ]}}"#
    );
    let push = read_push(&body);
    assert!(push.skipped.is_empty(), "{:?}", push.skipped);
    let modulations: Vec<_> = push
        .uplinks
        .iter()
        .map(|u| u.reception.rx.modulation)
        .collect();
    assert_eq!(
        modulations,
        [
            lora(7, 125_000, None),
            lora(12, 812_500, Some((4, 8))),
            RadioModulation::LrFhss {
                occupied_channel_width_hz: 137_000,
                code_rate: Some(CodeRate {
                    numerator: 2,
                    denominator: 3
                }),
            },
        ]
    );
    assert_eq!(push.uplinks[0].crc, CrcStatus::Absent);
    assert_eq!(push.uplinks[1].reception.rx.frequency_hz, 2_425_000_000);
    assert_eq!(push.uplinks[2].reception.rx.rssi_dbm, -107);
    assert_eq!(push.uplinks[2].frequency_offset_hz, Some(5114));
}

#[test]
fn bad_entries_are_skipped_and_reported_the_rest_passes() {
    let body = format!(
        r#"{{"rxpk":[
        {{"tmst":1,"freq":868.1,"stat":-1,"modu":"LORA","datr":"SF7BW125","rssi":-120,
          "data":"{DATA_UP_B64}"}},
        {{"tmst":2,"stat":1,"modu":"LORA","datr":"SF7BW125","rssi":-80,"data":"{DATA_UP_B64}"}},
        {{"tmst":3,"freq":868.1,"stat":1,"modu":"LORA","datr":"SF7BW125","rssi":-80,
          "data":"not base64!"}},
        {{"tmst":4,"freq":868.1,"stat":1,"modu":"LORA","datr":"SF13BW125","rssi":-80,
          "data":"{DATA_UP_B64}"}},
        {{"tmst":5,"freq":868.1,"stat":1,"modu":"LORA","datr":"SF7BW125","rssi":-80,
          "size":19,"data":"{DATA_UP_B64}"}},
        {{"tmst":6,"freq":868.1,"stat":1,"modu":"QPSK","datr":"SF7BW125","rssi":-80,
          "data":"{DATA_UP_B64}"}},
        "a string",
        {{"freq":868.1,"stat":1,"modu":"LORA","datr":"SF7BW125","rssi":-80,"data":"{DATA_UP_B64}"}},
        {{"tmst":9,"freq":868.5,"stat":1,"modu":"LORA","datr":"SF8BW125","rssi":-80.4,
          "lsnr":7.0,"time":"garbage","data":"ANwAANB+1bNwHm/t9XzurwDIhgMK8sk="}}
    ]}}"#
    );
    let push = read_push(&body);
    let [good] = &push.uplinks[..] else {
        panic!("one good uplink expected: {push:?}")
    };
    assert_eq!(good.reception.phy, hex(JOIN_REQUEST));
    assert_eq!(good.reception.rx.counter_us, 9);
    assert_eq!(good.reception.rx.rssi_dbm, -80);
    // An unreadable time is left out, not a reason to drop the frame.
    assert_eq!(good.reception.rx.time, None);

    let reasons: Vec<(usize, SkipReason)> = push
        .skipped
        .into_iter()
        .map(|s| (s.index, s.reason))
        .collect();
    let field = |reason: &SkipReason| match reason {
        SkipReason::CrcBad => "crc",
        SkipReason::Invalid(CodecError::Missing(field)) => field,
        SkipReason::Invalid(CodecError::Invalid { field, .. }) => field,
        SkipReason::Invalid(other) => panic!("unexpected {other:?}"),
    };
    let fields: Vec<(usize, &str)> = reasons.iter().map(|(i, r)| (*i, field(r))).collect();
    assert_eq!(
        fields,
        [
            (0, "crc"),
            (1, "rxpk.freq"),
            (2, "rxpk.data"),
            (3, "rxpk.datr"),
            (4, "rxpk.size"),
            (5, "rxpk.modu"),
            (6, "rxpk"),
            (7, "rxpk.tmst"),
        ]
    );
}

#[test]
fn whole_body_errors() {
    assert!(matches!(
        parse_push_data(GATEWAY, b"not json"),
        Err(CodecError::Json(_))
    ));
    assert!(matches!(
        parse_push_data(GATEWAY, b"[1,2]"),
        Err(CodecError::Json(_))
    ));
    assert!(matches!(
        parse_push_data(GATEWAY, b""),
        Err(CodecError::Json(_))
    ));
    assert_eq!(
        parse_push_data(GATEWAY, br#"{"rxpk":{}}"#),
        Err(CodecError::invalid("rxpk", "not an array"))
    );
    // Unknown top-level members and trailing NULs are fine.
    let push = parse_push_data(GATEWAY, b"{\"future\":1}\0\0").expect("tolerated");
    assert!(push.uplinks.is_empty() && push.skipped.is_empty() && push.stat.is_none());
}

#[test]
fn frequencies_in_mhz_become_exact_hz() {
    for (mhz, hz) in [
        ("868.1", 868_100_000u32),
        ("868.100000", 868_100_000),
        ("867.1", 867_100_000),
        ("867.7", 867_700_000),
        ("869.525", 869_525_000),
        ("902.3", 902_300_000),
        ("923.3", 923_300_000),
        ("433.175", 433_175_000),
        ("470.3", 470_300_000),
        ("866.349812", 866_349_812),
    ] {
        let value: Value = serde_json::from_str(mhz).expect("number");
        assert_eq!(frequency_hz(Some(&value), "f"), Ok(hz), "{mhz}");
    }
    let bad: Value = serde_json::from_str("-1").expect("number");
    assert!(frequency_hz(Some(&bad), "f").is_err());
    assert_eq!(frequency_hz(None, "f"), Err(CodecError::Missing("f")));
}

#[test]
fn written_frequencies_survive_a_truncating_forwarder() {
    // Every kHz from 400 to 1000 MHz, and 2.4 GHz: what we write, parsed as a forwarder
    // parses it and multiplied by 10^6 then truncated (lora_pkt_fwd), is the exact Hz.
    let mut hz = 400_000_000u32;
    let mut adjusted = 0;
    while hz <= 1_000_000_000 {
        let mhz = mhz_for_forwarder(hz);
        if mhz != f64::from(hz) / 1e6 {
            adjusted += 1;
        }
        let text = serde_json::to_string(&json!(mhz)).expect("number");
        let read: f64 = text.parse().expect("float");
        assert_eq!((read * 1e6) as u32, hz, "{hz} written as {text}");
        assert_eq!((read * 1e6).round() as u32, hz, "{hz} written as {text}");
        hz += 1000;
    }
    // The nudge is needed for some frequencies: this test would catch its removal.
    assert!(adjusted > 0);
    let text = json!(mhz_for_forwarder(2_425_000_000)).to_string();
    assert_eq!(
        (text.parse::<f64>().expect("float") * 1e6) as u32,
        2_425_000_000
    );
}

// --- stat -----------------------------------------------------------------------------

#[test]
fn stat_objects() {
    let body = r#"{"stat":{"time":"2014-01-12 08:59:28 GMT","lati":46.24000,"long":3.25230,
        "alti":145,"rxnb":2,"rxok":2,"rxfw":2,"ackr":100.0,"dwnb":2,"txnb":2,"temp":35.5}}"#;
    let push = read_push(body);
    assert!(push.uplinks.is_empty());
    let stats = push.stat.expect("stat").expect("readable");
    assert_eq!(
        stats.time,
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_389_517_168))
    );
    assert_eq!(
        stats.location,
        Some(Location {
            lat: 46.24,
            lon: 3.2523,
            alt_m: 145.0
        })
    );
    assert_eq!(
        (stats.rx_received, stats.rx_ok, stats.rx_forwarded),
        (Some(2), Some(2), Some(2))
    );
    assert_eq!(stats.ack_ratio_percent, Some(100.0));
    assert_eq!(
        (stats.downlinks_received, stats.tx_emitted),
        (Some(2), Some(2))
    );
    assert_eq!(stats.temperature_c, Some(35.5));

    // A GPS-less forwarder: 0/0 is no location; a forwarder that leaves fields out.
    let push = read_push(
        r#"{"stat":{"time":"2026-12-03 10:00:01 GMT","lati":0,"long":0,"alti":0,"rxnb":0}}"#,
    );
    let stats = push.stat.expect("stat").expect("readable");
    assert_eq!(stats.location, None);
    assert_eq!(
        (stats.rx_received, stats.rx_ok, stats.temperature_c),
        (Some(0), None, None)
    );

    // A bad stat is reported; the frames beside it still pass.
    let body = format!(
        r#"{{"stat":{{"rxnb":"many"}},"rxpk":[{{"tmst":1,"freq":868.1,"stat":1,
        "datr":"SF7BW125","rssi":-80,"data":"{DATA_UP_B64}"}}]}}"#
    );
    let push = read_push(&body);
    assert_eq!(push.uplinks.len(), 1);
    assert_eq!(
        push.stat,
        Some(Err(CodecError::invalid("stat.rxnb", "not an integer")))
    );
}

// --- txpk -----------------------------------------------------------------------------

fn class_a(phy: Vec<u8>) -> Transmission {
    Transmission {
        gateway: GATEWAY,
        timing: TxTiming::AtCounter(3_512_348_611 + 1_000_000),
        frequency_hz: 868_100_000,
        modulation: lora(7, 125_000, Some((4, 5))),
        power_dbm: 14,
        rf_chain: 0,
        invert_polarity: true,
        phy,
    }
}

#[test]
fn pull_resp_for_a_class_a_downlink() {
    let tx = class_a(hex(DATA_UP));
    let datagram = pull_resp(ProtocolVersion::V2, Token(0xabcd), &tx).expect("encodable");
    assert_eq!(datagram[..4], [2, 0xab, 0xcd, PULL_RESP]);
    let body: Value = serde_json::from_slice(&datagram[4..]).expect("JSON");
    assert_eq!(
        body,
        json!({"txpk": {
            "tmst": 3_513_348_611u32, "freq": 868.1, "rfch": 0, "powe": 14, "modu": "LORA",
            "datr": "SF7BW125", "codr": "4/5", "ipol": true, "ncrc": true, "size": 18,
            "data": DATA_UP_B64
        }})
    );
    let Body::PullResp { json } = parse(&datagram).expect("parse").body else {
        panic!("PULL_RESP expected")
    };
    assert_eq!(parse_txpk(json, GATEWAY), Ok(tx));
}

#[test]
fn pull_resp_variants_round_trip() {
    let mut class_c = class_a(hex(JOIN_REQUEST));
    class_c.timing = TxTiming::Immediately;
    class_c.frequency_hz = 869_525_000;
    class_c.modulation = lora(12, 125_000, Some((4, 5)));
    class_c.power_dbm = 27;
    let mut class_b = class_a(vec![]);
    class_b.timing = TxTiming::AtGpsTime(1_448_794_819_123);
    class_b.frequency_hz = 923_300_000;
    class_b.modulation = lora(9, 500_000, Some((4, 5)));
    class_b.rf_chain = 1;
    let mut fsk = class_a(hex(DATA_UP));
    fsk.modulation = RadioModulation::Fsk { bitrate: 50_000 };
    fsk.frequency_hz = 868_800_000;
    fsk.invert_polarity = false;
    for tx in [class_c, class_b, fsk] {
        let json = serde_json::to_vec(&txpk_json(&tx).expect("encodable")).expect("JSON");
        assert_eq!(
            parse_txpk(&json, GATEWAY),
            Ok(tx.clone()),
            "{}",
            String::from_utf8_lossy(&json)
        );
    }

    // The fields forwarders need for each timing and for FSK.
    let mut fsk = class_a(vec![1, 2, 3]);
    fsk.modulation = RadioModulation::Fsk { bitrate: 50_000 };
    fsk.timing = TxTiming::Immediately;
    let txpk = txpk_json(&fsk).expect("encodable");
    assert_eq!(txpk["txpk"]["imme"], json!(true));
    assert_eq!(txpk["txpk"]["datr"], json!(50_000));
    assert_eq!(txpk["txpk"]["fdev"], json!(25_000));
    assert_eq!(txpk["txpk"]["data"], json!("AQID"));
    assert_eq!(txpk["txpk"].get("ncrc"), None);
    // Without a code rate, LoRa downlinks go out at 4/5.
    let mut no_cr = class_a(vec![0; 5]);
    no_cr.modulation = lora(10, 125_000, None);
    assert_eq!(
        txpk_json(&no_cr).expect("encodable")["txpk"]["codr"],
        json!("4/5")
    );
    // Version 1 leaves the token unused.
    assert_eq!(
        pull_resp(ProtocolVersion::V1, Token(0xabcd), &no_cr).expect("encodable")[..4],
        [1, 0, 0, PULL_RESP]
    );
}

#[test]
fn impossible_transmissions_are_errors() {
    let mut lr_fhss = class_a(vec![1]);
    lr_fhss.modulation = RadioModulation::LrFhss {
        occupied_channel_width_hz: 137_000,
        code_rate: None,
    };
    assert_eq!(
        txpk_json(&lr_fhss),
        Err(CodecError::invalid("txpk.modu", "LR-FHSS is uplink only"))
    );
    assert!(matches!(
        txpk_json(&class_a(vec![0; 256])),
        Err(CodecError::Invalid {
            field: "txpk.size",
            ..
        })
    ));
}

// --- TX_ACK ---------------------------------------------------------------------------

#[test]
fn tx_ack_bodies() {
    let accepted = TxAckStatus::Accepted { warning: None };
    assert_eq!(parse_tx_ack(b""), Ok(accepted.clone()));
    assert_eq!(parse_tx_ack(b"\0"), Ok(accepted.clone()));
    assert_eq!(
        parse_tx_ack(br#"{"txpk_ack":{"error":"NONE"}}"#),
        Ok(accepted.clone())
    );
    assert_eq!(
        parse_tx_ack(br#"{"txpk_ack":{"error":""}}"#),
        Ok(accepted.clone())
    );
    assert_eq!(
        parse_tx_ack(b"{\"txpk_ack\":{\"warn\":\"TX_POWER\",\"value\":20}}\0"),
        Ok(TxAckStatus::Accepted {
            warning: Some("TX_POWER".into())
        })
    );
    for (code, refusal) in [
        ("TOO_LATE", TxRefusal::TooLate),
        ("TOO_EARLY", TxRefusal::TooEarly),
        ("COLLISION_PACKET", TxRefusal::CollisionPacket),
        ("COLLISION_BEACON", TxRefusal::CollisionBeacon),
        ("TX_FREQ", TxRefusal::Frequency),
        ("TX_POWER", TxRefusal::Power),
        ("GPS_UNLOCKED", TxRefusal::GpsUnlocked),
        ("SOMETHING_NEW", TxRefusal::Other),
    ] {
        let body = format!(r#"{{"txpk_ack":{{"error":"{code}"}}}}"#);
        let status = parse_tx_ack(body.as_bytes()).expect("readable");
        assert_eq!(status.outcome(), TxOutcome::Refused(refusal), "{code}");
        if refusal != TxRefusal::Other {
            assert_eq!(refusal_code(refusal), code);
        }
    }
    // A warning is still a transmission.
    assert_eq!(
        TxAckStatus::Accepted {
            warning: Some("TX_POWER".into())
        }
        .outcome(),
        TxOutcome::Sent
    );
    assert_eq!(parse_tx_ack(b"{}"), Err(CodecError::Missing("txpk_ack")));
    assert_eq!(
        parse_tx_ack(br#"{"txpk_ack":{"error":5}}"#),
        Err(CodecError::invalid("txpk_ack.error", "not a string"))
    );
}

#[test]
fn tx_ack_round_trips() {
    for status in [
        TxAckStatus::Accepted { warning: None },
        TxAckStatus::Accepted {
            warning: Some("TX_FREQ".into()),
        },
        TxAckStatus::Refused {
            error: "COLLISION_BEACON".into(),
        },
    ] {
        let datagram = tx_ack(ProtocolVersion::V2, Token(9), GATEWAY, &status);
        let packet = parse(&datagram).expect("TX_ACK");
        assert_eq!(packet.token, Token(9));
        let Body::TxAck { gateway, json } = packet.body else {
            panic!("TX_ACK expected")
        };
        assert_eq!(gateway, GATEWAY);
        assert_eq!(parse_tx_ack(json), Ok(status));
    }
}
