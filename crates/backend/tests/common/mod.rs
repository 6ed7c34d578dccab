//! Shared test helpers: the shared corpus location and a complete example of every message.
#![allow(dead_code)]

use std::path::PathBuf;

use backend::{MessageType, ProtocolVersion};
use serde_json::{json, Map, Value};

/// `shared/` (env SWITCHYARD_SHARED, else next to the workspace); fails loudly when missing.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("SWITCHYARD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    assert!(
        dir.join("conformance/bi").is_dir(),
        "shared corpus not found at {} (set SWITCHYARD_SHARED)",
        dir.display()
    );
    dir
}

/// The `.json` files of `shared/conformance/bi/<folder>`, sorted.
pub fn corpus(folder: &str) -> Vec<(String, Value)> {
    let dir = shared_dir().join("conformance/bi").join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, value)
        })
        .collect()
}

/// Message types of `version`.
pub fn types_of(version: &ProtocolVersion) -> Vec<MessageType> {
    MessageType::KNOWN
        .iter()
        .filter(|t| t.exists_in(version))
        .cloned()
        .collect()
}

fn key(label: &str) -> Value {
    json!({"KEKLabel": label, "AESKey": "2a195cc93ca54ad82cfb36c83d91450f3d2d523556f13e69"})
}

fn gw_info(version: &ProtocolVersion, i: u8) -> Value {
    let mut gw = json!({"ID": format!("0102030{i}"), "RFRegion": "EU868", "RSSI": -40 - i32::from(i),
        "SNR": 7.5, "Lat": 52.1, "Lon": 4.3, "ULToken": format!("0A0B0C0{i}"), "DLAllowed": true});
    if *version == ProtocolVersion::V1_1 {
        gw["FineRecvTime"] = json!(123_456_789);
    }
    gw
}

/// ULMetaData with every field and `gateways` GWInfo entries.
pub fn ul_meta_data(version: &ProtocolVersion, gateways: u8) -> Value {
    json!({"DevEUI": "0102030405060708", "DevAddr": "01020304", "FPort": 1, "FCntDown": 2,
        "FCntUp": 3, "Confirmed": true, "DataRate": 5, "ULFreq": 868.1, "Margin": 10, "Battery": 200,
        "FNSULToken": "7b2274696d657374616d70223a317d", "RecvTime": "2024-05-01T12:34:56.789Z",
        "RFRegion": "EU868", "GWCnt": gateways,
        "GWInfo": (0..gateways).map(|i| gw_info(version, i)).collect::<Vec<_>>()})
}

fn dl_meta_data(version: &ProtocolVersion) -> Value {
    json!({"DevEUI": "0102030405060708", "FPort": 2, "FCntDown": 3, "Confirmed": false,
        "DLFreq1": 868.1, "DLFreq2": 869.525, "RXDelay1": 1, "ClassMode": "A", "DataRate1": 5,
        "DataRate2": 0, "FNSULToken": "7b7d", "GWInfo": [gw_info(version, 1)], "HiPriorityFlag": false})
}

fn device_profile() -> Value {
    json!({"DeviceProfileID": "dp-1", "SupportsClassB": false, "ClassBTimeout": 0, "PingSlotPeriod": 0,
        "PingSlotDR": 0, "PingSlotFreq": 869.525, "SupportsClassC": true, "ClassCTimeout": 5,
        "MACVersion": "1.0.3", "RegParamsRevision": "A", "RXDelay1": 1, "RXDROffset1": 0,
        "RXDataRate2": 0, "RXFreq2": 869.525, "FactoryPresetFreqs": [868.1, 868.3, 868.5],
        "MaxEIRP": 16, "MaxDutyCycle": 0.01, "SupportsJoin": true, "RFRegion": "EU868",
        "Supports32bitFCnt": true})
}

fn service_profile() -> Value {
    json!({"ServiceProfileID": "sp-1", "ULRate": 10, "ULBucketSize": 20, "ULRatePolicy": "Drop",
        "DLRate": 5, "DLBucketSize": 10, "DLRatePolicy": "Mark", "AddGWMetadata": true,
        "DevStatusReqFreq": 1, "ReportDevStatusBatery": true, "ReportDevStatusMargin": true,
        "DRMin": 0, "DRMax": 5, "ChannelMask": "ff00", "PRAllowed": true, "HRAllowed": false,
        "RAAllowed": false, "NwkGeoLoc": false, "TargetPER": 0.1, "MinGWDiversity": 1})
}

/// A complete, valid example of `message_type` in `version`: every header and body field set.
pub fn full_example(version: &ProtocolVersion, message_type: &MessageType) -> Value {
    let (sender, receiver) = match message_type.as_str() {
        "JoinReq" | "RejoinReq" | "HomeNSReq" => ("000001", "70b3d57ed0000000"),
        "JoinAns" | "RejoinAns" | "HomeNSAns" => ("70b3d57ed0000000", "000001"),
        "AppSKeyReq" => ("as.example.com", "70b3d57ed0000000"),
        "AppSKeyAns" => ("70b3d57ed0000000", "as.example.com"),
        _ => ("000001", "c00053"),
    };
    let mut m = Map::new();
    m.insert("ProtocolVersion".into(), json!(version.as_str()));
    m.insert("SenderID".into(), json!(sender));
    m.insert("ReceiverID".into(), json!(receiver));
    m.insert("TransactionID".into(), json!(4_000_000_000u32));
    m.insert("MessageType".into(), json!(message_type.as_str()));
    m.insert("SenderToken".into(), json!("0108f03d290000000101"));
    m.insert("ReceiverToken".into(), json!("0A"));
    if *version == ProtocolVersion::V1_1 {
        m.insert("SenderNSID".into(), json!("f03d290000000101"));
        m.insert("ReceiverNSID".into(), json!("6081fffe12345678"));
    }
    m.insert(
        "VSExtension".into(),
        json!({"VendorID": "0016c0", "Object": {"x": [1, 2]}}),
    );
    let result = json!({"ResultCode": "Success", "Description": "fine"});
    let body = match message_type.as_str() {
        "JoinReq" | "RejoinReq" => json!({"MACVersion": "1.0.3",
            "PHYPayload": "00000000d07ed5b370080706050403020100003851f0b6", "DevEUI": "0102030405060708",
            "DevAddr": "01020304", "DLSettings": "00", "RxDelay": 5,
            "CFList": "184f84e85684b85e84886684586e8400"}),
        "JoinAns" | "RejoinAns" => {
            json!({"Result": result, "PHYPayload": "204d675073bb4153b23653efa82c1f3a",
            "Lifetime": 3600, "SNwkSIntKey": key("ns:000001"), "FNwkSIntKey": key("ns:000001"),
            "NwkSEncKey": key("ns:000001"), "NwkSKey": {"AESKey": "000102030405060708090a0b0c0d0e0f"},
            "AppSKey": key("as:1"), "SessionKeyID": "016bfa7bad4756346a674981e75cdbdc"})
        }
        "AppSKeyReq" => json!({"DevEUI": "0102030405060708", "SessionKeyID": "016bfa7b"}),
        "AppSKeyAns" => {
            json!({"Result": result, "DevEUI": "0102030405060708", "AppSKey": key("as:1"),
            "SessionKeyID": "016bfa7b"})
        }
        "PRStartReq" => {
            json!({"PHYPayload": "400000000a000800b41451a9", "ULMetaData": ul_meta_data(version, 3)})
        }
        "PRStartAns" => {
            json!({"Result": result, "PHYPayload": "2001020304", "DevEUI": "0102030405060708",
            "Lifetime": 0, "FNwkSIntKey": key("ns:1"), "NwkSKey": key("ns:1"), "FCntUp": 8,
            "ServiceProfile": service_profile(), "DLMetaData": dl_meta_data(version), "DevAddr": "48000037"})
        }
        "PRStopReq" => json!({"DevEUI": "0102030405060708", "Lifetime": 60}),
        "HRStartReq" => {
            json!({"MACVersion": "1.1", "PHYPayload": "c00102030405", "DevAddr": "01020304",
            "DeviceProfile": device_profile(), "ULMetaData": ul_meta_data(version, 1),
            "DeviceProfileTimestamp": "2024-01-01T00:00:00+02:00", "DLSettings": "00", "RxDelay": 1,
            "CFList": ""})
        }
        "HRStartAns" => json!({"Result": result, "PHYPayload": "2001020304", "Lifetime": 60,
            "SNwkSIntKey": key("k"), "FNwkSIntKey": key("k"), "NwkSEncKey": key("k"), "NwkSKey": key("k"),
            "DeviceProfile": device_profile(), "ServiceProfile": service_profile(),
            "DLMetaData": dl_meta_data(version), "DeviceProfileTimestamp": "2024-01-01T00:00:00Z"}),
        "HRStopReq" | "HomeNSReq" | "ProfileReq" => json!({"DevEUI": "0102030405060708"}),
        "HomeNSAns" => json!({"Result": result, "HNetID": "000001", "HNSID": "70b3d57ed0000001"}),
        "ProfileAns" => json!({"Result": result, "DeviceProfile": device_profile(),
            "DeviceProfileTimestamp": "2024-01-01T00:00:00.5Z", "RoamingActivationType": "Passive"}),
        "XmitDataReq" => {
            json!({"PHYPayload": "6073000048ab", "FRMPayload": "01", "ULMetaData": ul_meta_data(version, 2),
            "DLMetaData": dl_meta_data(version)})
        }
        "XmitLocReq" => json!({"PHYPayload": "40010203", "ULMetaData": ul_meta_data(version, 2)}),
        _ => json!({"Result": result}),
    };
    if let Value::Object(body) = body {
        m.extend(body);
    }
    m.insert("SomeVendorField".into(), json!({"kept": true}));
    Value::Object(m)
}

/// The first mandatory body field of a type (after the header), for invalid examples.
pub fn first_required_field(message_type: &MessageType) -> &'static str {
    match message_type.as_str() {
        "JoinReq" | "RejoinReq" => "MACVersion",
        "AppSKeyReq" | "PRStopReq" | "HRStopReq" | "HomeNSReq" | "ProfileReq" => "DevEUI",
        "PRStartReq" | "HRStartReq" => "PHYPayload",
        "XmitDataReq" | "XmitLocReq" => "",
        _ => "Result",
    }
}
