//! The report documents against the seed's samples (§6.1.4, §6.2.4, §6.6.2, seed 002).

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use lorawan::ids::AesKey;

use super::*;
use crate::downlink::delivery::{DeliveryStatus, TransmissionSlot};
use crate::tunnel::encode::{self, document};
use crate::tunnel::{AsProfile, ContentType, RoamingInfo};

fn routing(key: Option<AesKey>) -> AsRouting {
    AsRouting {
        profile: Arc::new(AsProfile::new(
            "app1.sample.com",
            key,
            "http://127.0.0.1:1/as",
        )),
        lrn_infos: "UPHTTP_LAB_LORA".to_owned(),
        customer_id: "100000507".to_owned(),
        customer_data: Some(
            serde_json::json!({"loc":{"lat":"43.58081","lon":"1.4421667"},"alr":{"pro":"STL","ver":"1"}}),
        ),
        driver_cfg: None,
        downlink_quota: None,
    }
}

fn rx(gateway: u64, rssi: i16, snr: f32) -> RxInfo {
    RxInfo {
        gateway: Eui64::from_u64(gateway),
        frequency_hz: 868_300_000,
        modulation: RadioModulation::Lora {
            spreading_factor: 7,
            bandwidth_hz: 125_000,
            code_rate: None,
        },
        rssi_dbm: rssi,
        snr_db: snr,
        channel: 1,
        rf_chain: 0,
        counter_us: 0,
        time: Some(UNIX_EPOCH + Duration::from_millis(1_436_450_798_490)),
        gps_time_ms: None,
        fine_timestamp_ns: None,
    }
}

/// The §6.1.4 sample's frame: DevEUI 000000000F1D8693, FPort 2, FCntUp 7011, ADR and ACK,
/// confirmed (MType 4), payload 0027bd00, two gateways.
fn sample_event() -> UplinkEvent {
    UplinkEvent {
        roaming: None,
        dev_eui: "000000000F1D8693".parse().expect("eui"),
        dev_addr: "0405F519".parse().expect("addr"),
        mac_version: MacVersion::V1_0_4,
        f_cnt: 7011,
        f_port: Some(2),
        payload: Some(AppPayload::Clear(vec![0x00, 0x27, 0xbd, 0x00])),
        mac_commands: Vec::new(),
        confirmed: true,
        adr: true,
        adr_ack_req: false,
        ack: true,
        lost: 0,
        data_rate: Some(5),
        // Best first, as the uplink path gives them; the second has a better SNR.
        receptions: vec![rx(0x0804_0059, -60, 9.75), rx(0x33d1_3a41, -73, 10.5)],
        received_at: UNIX_EPOCH + Duration::from_secs(1_436_450_799),
        mac_events: Vec::new(),
        needs_downlink: false,
    }
}

fn details() -> UplinkDetails {
    UplinkDetails {
        f_cnt_dn: Some(11),
        mic: Some([0x38, 0xe7, 0xa3, 0xb9]),
        channel: Some(2),
        sub_band: Some("G1".to_owned()),
        best_gateway_location: Some((48.874931, 2.333673)),
        instant_per: Some(0.02),
        mean_per: Some(0.02),
        class: Some(crate::device::Class::A),
        ..UplinkDetails::default()
    }
}

#[test]
fn uplink_report_json_has_the_seeds_fields() {
    let report = uplink(&sample_event(), &routing(None), &details(), "00000065");
    let (text, content_type) = document(&report, ContentType::Json);
    assert_eq!(content_type, "application/json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let up = &json["DevEUI_uplink"];
    assert_eq!(up["Time"], "2015-07-09T14:06:38.490+00:00");
    assert_eq!(up["DevEUI"], "000000000F1D8693");
    assert_eq!(up["FPort"], 2);
    assert_eq!(up["FCntUp"], 7011);
    assert_eq!(up["ADRbit"], 1);
    assert_eq!(up["ACKbit"], 1);
    assert_eq!(up["MType"], 4);
    assert_eq!(up["FCntDn"], 11);
    assert!(up.get("AFCntDn").is_none(), "1.0 device");
    assert_eq!(up["payload_hex"], "0027bd00");
    assert_eq!(up["mic_hex"], "38e7a3b9");
    assert_eq!(up["Lrcid"], "00000065");
    assert_eq!(up["LrrRSSI"], -60.0);
    assert_eq!(up["LrrSNR"], 9.75);
    assert_eq!(up["SpFact"], 7);
    assert_eq!(up["SubBand"], "G1");
    assert_eq!(up["Channel"], "LC2");
    assert_eq!(up["DevLrrCnt"], 2);
    assert_eq!(up["Lrrid"], "0000000008040059");
    assert_eq!(up["Late"], 0);
    assert_eq!(up["LrrLAT"], 48.874931);
    assert_eq!(up["CustomerID"], "100000507");
    assert_eq!(up["CustomerData"]["alr"]["pro"], "STL");
    assert_eq!(up["DevAddr"], "0405F519");
    assert_eq!(up["Frequency"], 868.3);
    assert_eq!(up["DynamicClass"], "A");
    // Lrrs by best SNR.
    let lrrs = up["Lrrs"]["Lrr"].as_array().expect("Lrr list");
    assert_eq!(lrrs.len(), 2);
    assert_eq!(lrrs[0]["Lrrid"], "0000000033d13a41");
    assert_eq!(lrrs[1]["Lrrid"], "0000000008040059");
    assert_eq!(lrrs[1]["LrrRSSI"], -60.0);
    assert_eq!(lrrs[1]["Chain"], 0);
    // The token's body elements: CustomerID, DevEUI, FPort, FCntUp, payload_hex (§6.5.2).
    assert_eq!(
        report.body_elements(),
        "100000507000000000F1D8693270110027bd00"
    );
}

#[test]
fn uplink_report_xml_and_untyped_json() {
    let report = uplink(&sample_event(), &routing(None), &details(), "00000065");
    let (xml, content_type) = document(&report, ContentType::Xml);
    assert_eq!(content_type, "application/xml");
    assert!(xml.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DevEUI_uplink xmlns=\"http://uri.actility.com/lora\"><Time>"
    ));
    for element in [
        "<DevEUI>000000000F1D8693</DevEUI>",
        "<FPort>2</FPort>",
        "<FCntUp>7011</FCntUp>",
        "<ADRbit>1</ADRbit>",
        "<MType>4</MType>",
        "<payload_hex>0027bd00</payload_hex>",
        "<LrrRSSI>-60.000000</LrrRSSI>",
        "<LrrSNR>9.750000</LrrSNR>",
        "<LrrLAT>48.874931</LrrLAT>",
        "<Lrrs><Lrr><Lrrid>0000000033d13a41</Lrrid><Chain>0</Chain><LrrRSSI>-73.000000</LrrRSSI>",
        "<CustomerData>{&quot;alr&quot;:{&quot;pro&quot;:&quot;STL&quot;,&quot;ver&quot;:&quot;1&quot;},",
        "<Frequency>868.3</Frequency>",
    ] {
        assert!(xml.contains(element), "{element} in {xml}");
    }
    assert!(xml.ends_with("</DevEUI_uplink>"));
    // The order of the sample: Time, DevEUI, FPort, FCntUp, ADRbit, ACKbit, MType.
    let at = |s: &str| xml.find(s).expect(s);
    assert!(at("<Time>") < at("<DevEUI>") && at("<DevEUI>") < at("<FPort>"));
    assert!(at("<FCntUp>") < at("<ADRbit>") && at("<ACKbit>") < at("<MType>"));

    let (untyped, _) = document(&report, ContentType::JsonUntyped);
    let json: serde_json::Value = serde_json::from_str(&untyped).expect("JSON");
    let up = &json["DevEUI_uplink"];
    assert_eq!(up["-xmlns"], "http://uri.actility.com/lora");
    assert_eq!(up["FPort"], "2");
    assert_eq!(up["LrrRSSI"], "-60.000000");
    assert_eq!(up["Lrrs"]["Lrr"][0]["LrrSNR"], "10.500000");
    assert!(
        up["CustomerData"].is_object(),
        "an object in JSON, as §6.6.2"
    );
}

#[test]
fn which_uplinks_are_reported() {
    let mut event = sample_event();
    let none = UplinkDetails::default();
    assert!(should_report_uplink(&event, &none), "FPort > 0");
    event.f_port = Some(0);
    event.payload = None;
    assert!(should_report_uplink(&event, &none), "1.0, ACK set");
    event.ack = false;
    assert!(!should_report_uplink(&event, &none), "1.0, no ACK");
    event.f_port = None;
    event.ack = true;
    event.mac_version = MacVersion::V1_1;
    assert!(
        !should_report_uplink(&event, &none),
        "1.1 ACK of a MAC-only downlink"
    );
    let acked = UplinkDetails {
        conf_af_cnt_dn: Some(3),
        ..UplinkDetails::default()
    };
    assert!(
        should_report_uplink(&event, &acked),
        "1.1 ACK of an AFCntDn"
    );
}

#[test]
fn lrrs_are_the_ten_best_by_snr() {
    let mut event = sample_event();
    event.receptions = (0..12).map(|i| rx(i, -100, i as f32 - 5.0)).collect();
    let report = uplink(&event, &routing(None), &UplinkDetails::default(), "1");
    let Some(Value::Lrrs(lrrs)) = report.field("Lrrs") else {
        panic!("Lrrs");
    };
    assert_eq!(lrrs.len(), MAX_LRRS);
    assert_eq!(lrrs[0][0].1, Value::Text(lrrid(Eui64::from_u64(11))));
    assert_eq!(lrrs[9][0].1, Value::Text(lrrid(Eui64::from_u64(2))));
    assert_eq!(report.field("DevLrrCnt"), Some(&Value::Int(12)));
}

#[test]
fn v1_1_counters_battery_and_roaming() {
    let mut event = sample_event();
    event.mac_version = MacVersion::V1_1;
    // DevStatusAns: battery 200, margin -5 (6-bit two's complement 0x3b).
    event.mac_commands = vec![0x06, 200, 0x3b];
    let details = UplinkDetails {
        f_cnt_dn: Some(4),
        af_cnt_dn: Some(9),
        conf_af_cnt_dn: Some(8),
        roaming: Some(RoamingInfo {
            forwarding_net_id: "00000C".parse().expect("netid"),
            forwarding_ns_id: None,
        }),
        ..UplinkDetails::default()
    };
    let report = uplink(&event, &routing(None), &details, "1");
    assert_eq!(report.field("FCntDn"), None, "1.0 only");
    assert_eq!(report.field("AFCntDn"), Some(&Value::Int(9)));
    assert_eq!(report.field("ConfAFCntDn"), Some(&Value::Int(8)));
    assert_eq!(report.field("BatteryLevel"), Some(&Value::Int(200)));
    assert_eq!(
        report.field("Margin"),
        Some(&Value::Int(59)),
        "-5 as 6-bit unsigned"
    );
    assert_eq!(
        report.field("rawMacCommands"),
        Some(&Value::Text("06c83b".into()))
    );
    assert_eq!(report.field("Roaming"), Some(&Value::Int(1)));
    assert_eq!(
        report.field("ForwardingNetID"),
        Some(&Value::Text("00000C".into()))
    );
    // With a payload the battery is in the uplink report, not a notification.
    assert_eq!(dev_status_notification(&event), None);
    event.payload = None;
    event.f_port = Some(0);
    assert_eq!(
        dev_status_notification(&event),
        Some(Notification::DevStatusAns {
            battery: 200,
            margin: -5
        })
    );
    assert_eq!(margin_6bit(31), 31);
    assert_eq!(margin_6bit(-32), 32);
}

#[test]
fn downlink_sent_report_matches_seed_002() {
    let mut delivery = DeliveryReport::default();
    delivery.failed(TransmissionSlot::Rx1, DeliveryFailedCause::TooLate);
    assert_eq!(delivery.status, DeliveryStatus::NotSent);
    let sent = DownlinkSent {
        dev_eui: "0018B20000000D48".parse().expect("eui"),
        dev_addr: "0405F519".parse().expect("addr"),
        time: UNIX_EPOCH + Duration::from_secs(1_566_485_282),
        f_port: 1,
        f_cnt_dn: Some(47),
        af_cnt_dn: None,
        f_cnt_up: Some(39),
        confirmed: false,
        f_pending: false,
        mac_commands: Vec::new(),
        delivery: DeliveryReport {
            slot: TransmissionSlot::Rx1,
            ..delivery
        },
        gateway: Some(Eui64::from_u64(0xff01_06de)),
        frequency_hz: Some(868_300_000),
        spreading_factor: Some(7),
        channel: Some(2),
        sub_band: Some("G1".to_owned()),
        correlation_id: Some("4434704901C7450B".to_owned()),
    };
    let mut routing = routing(None);
    routing.customer_id = "199983788".to_owned();
    let report = downlink_sent(&sent, &routing, "0000000F");
    let (text, _) = document(&report, ContentType::Json);
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let s = &json["DevEUI_downlink_Sent"];
    assert_eq!(s["Time"], "2019-08-22T14:48:02.000+00:00");
    assert_eq!(s["DevEUI"], "0018B20000000D48");
    assert_eq!(s["FPort"], 1);
    assert_eq!(s["FCntDn"], 47);
    assert_eq!(s["FCntUp"], 39);
    assert_eq!(s["Lrcid"], "0000000F");
    assert_eq!(s["SpFact"], 7);
    assert_eq!(s["SubBand"], "G1");
    assert_eq!(s["Channel"], "LC2");
    assert_eq!(s["DeliveryStatus"], 0);
    assert_eq!(s["DeliveryFailedCause1"], "B0");
    assert_eq!(s["DeliveryFailedCause2"], "00");
    assert_eq!(s["DeliveryFailedCause3"], "00");
    assert_eq!(s["CustomerID"], "199983788");
    assert_eq!(s["TransmissionSlot"], 1);
    assert_eq!(s["Frequency"], 868.3);
    assert_eq!(s["CorrelationID"], "4434704901C7450B");
    // §6.5.2: CustomerID, DevEUI, FPort, FCntDn.
    assert_eq!(report.body_elements(), "1999837880018B20000000D48147");
    let (xml, _) = document(&report, ContentType::Xml);
    assert!(xml.contains("<DevEUI_downlink_Sent xmlns=\"http://uri.actility.com/lora\">"));
    assert!(xml.contains("<DeliveryFailedCause1>B0</DeliveryFailedCause1>"));
    assert!(xml.contains("<TransmissionSlot>1</TransmissionSlot>"));
}

#[test]
fn notification_location_and_multicast_reports() {
    let dev_eui: Eui64 = "000000000F1D8693".parse().expect("eui");
    let dev_addr: DevAddr = "0405F519".parse().expect("addr");
    let t = UNIX_EPOCH + Duration::from_secs(1_547_544_679);
    let n = notification(
        dev_eui,
        dev_addr,
        &Notification::DevStatusAns {
            battery: 254,
            margin: -3,
        },
        t,
        Some(0),
        None,
        &routing(None),
        "1",
    );
    assert_eq!(n.field("Type"), Some(&Value::Text("devstatusans".into())));
    assert_eq!(n.field("Var1"), Some(&Value::Text("254".into())));
    assert_eq!(n.field("Var2"), Some(&Value::Text("-3".into())));
    assert_eq!(n.body_elements(), "100000507000000000F1D8693");
    let reset = notification(
        dev_eui,
        dev_addr,
        &Notification::AdminReset,
        t,
        Some(0),
        None,
        &routing(None),
        "1",
    );
    assert_eq!(
        reset.field("Var1"),
        Some(&Value::Text("admin_reset".into()))
    );
    assert_eq!(reset.field("Var2"), None);

    let geo = Geolocation {
        lat: 10.11212,
        lon: 7.44464,
        radius: Some(100.0),
        f_cnt_up_used: Some(7011),
        algo: Some(0),
        algo_used: Some(0),
        ..Geolocation::default()
    };
    let loc = location(dev_eui, dev_addr, &geo, t, &routing(None), "1");
    let (xml, _) = document(&loc, ContentType::Xml);
    assert!(xml.contains("<DevUlFCntUpUsed>7011</DevUlFCntUpUsed>"));
    assert!(xml.contains("<DevLocRadius>100</DevLocRadius>"));
    assert!(xml.contains("<NwGeolocAlgoUsed>0</NwGeolocAlgoUsed></DevEUI_location>"));

    let summary = MulticastSummary {
        dev_eui,
        dev_addr,
        time: t,
        f_port: 2,
        f_cnt_dn: 11,
        lrr_count: 93,
        lrr_success: 86,
        failures: vec![
            (DeliveryFailedCause::RadioBusy, 2),
            (DeliveryFailedCause::DutyCycleGateway, 5),
        ],
        correlation_id: None,
    };
    let m = multicast_summary(&summary, &routing(None), "00000065");
    assert_eq!(
        m.field("TransmissionStatus"),
        Some(&Value::Text("PARTIALLY_SENT".into()))
    );
    assert_eq!(m.field("LrrFailedCnt"), Some(&Value::Int(7)));
    assert_eq!(
        m.field("LrrFailedDistribution"),
        Some(&Value::Text("A3=2,D0=5".into()))
    );
}

#[test]
fn the_query_line_is_signed_as_the_seed_says() {
    let key: AesKey = "46ab678cd45df4a4e4b375eacd096acc".parse().expect("key");
    let event = sample_event();
    let report = uplink(&event, &routing(Some(key)), &details(), "00000065");
    let now = UNIX_EPOCH + Duration::from_millis(1_452_514_271_333);
    let query = encode::query(&report, &routing(Some(key)), now);
    assert_eq!(
        query.signed,
        "LrnDevEui=000000000f1d8693&LrnFPort=2&LrnInfos=UPHTTP_LAB_LORA&AS_ID=app1.sample.com&Time=2016-01-11T12:11:11.333+00:00"
    );
    let expected = crate::tunnel::token::report_token(
        "100000507000000000F1D8693270110027bd00",
        &query.signed,
        &key,
    );
    assert_eq!(
        query.url,
        format!(
            "LrnDevEui=000000000f1d8693&LrnFPort=2&LrnInfos=UPHTTP_LAB_LORA&AS_ID=app1.sample.com&Time=2016-01-11T12%3A11%3A11.333%2B00%3A00&Token={}",
            crate::tunnel::token::to_hex(&expected)
        )
    );
    // Without a key: no AS_ID, Time or Token.
    let open = encode::query(&report, &routing(None), now);
    assert_eq!(
        open.url,
        "LrnDevEui=000000000f1d8693&LrnFPort=2&LrnInfos=UPHTTP_LAB_LORA"
    );
    assert_eq!(
        encode::url("http://as/x?a=1", &open),
        format!("http://as/x?a=1&{}", open.url)
    );
}

#[test]
fn esp_follows_the_formula() {
    // RSSI -60, SNR 9.75: the signal is 0.44 dB below the channel power.
    assert!((esp(-60.0, 9.75) - -60.4373).abs() < 1e-3);
    // Below the noise floor the signal power is about RSSI + SNR.
    assert!((esp(-120.0, -10.0) - -130.4139).abs() < 1e-3);
}

#[test]
fn join_notification_carries_the_wrapped_app_s_key_or_nothing() {
    let dev_eui: Eui64 = "000000000F1D8693".parse().expect("eui");
    let dev_addr: DevAddr = "0405F519".parse().expect("addr");
    let t = UNIX_EPOCH + Duration::from_secs(1_547_544_679);
    let join = |app_s_key: Option<String>| {
        notification(
            dev_eui,
            dev_addr,
            &Notification::Join { app_s_key },
            t,
            None,
            Some(0),
            &routing(None),
            "1",
        )
    };
    let wrapped = join(Some(
        "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5".into(),
    ));
    assert_eq!(wrapped.field("Type"), Some(&Value::Text("join".into())));
    assert_eq!(
        wrapped.field("Var1"),
        Some(&Value::Text(
            "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5".into()
        ))
    );
    assert_eq!(wrapped.field("AFCntDn"), Some(&Value::Int(0)));
    assert_eq!(wrapped.field("FCntDn"), None);
    let bare = join(None);
    assert_eq!(bare.field("Type"), Some(&Value::Text("join".into())));
    assert_eq!(bare.field("Var1"), None);
}
