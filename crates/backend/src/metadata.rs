//! Packet metadata (TS002 1.0 §16, Tables 20–22; 1.1 adds GWInfo.FineRecvTime): ULMetaData
//! travels with uplinks (PRStartReq, XmitDataReq, HRStartReq), DLMetaData with downlinks
//! (XmitDataReq, PRStartAns), GWInfo describes one receiving gateway.
//!
//! ULToken and FNSULToken are opaque tokens of the forwarding NS: they are kept as the exact
//! text received and come back unchanged ("Copy of the ULToken received for each GW. If
//! provided in ULMetadata, it SHALL be present in DLMetadata", Table 22).

use lorawan::ids::{DevAddr, Eui64};
use time::OffsetDateTime;

use crate::values::{ClassMode, HexBytes, RfRegion, Token};

bi_object! {
    /// One gateway that received the uplink (GWInfoElement).
    GwInfo {
        /// ID: gateway identifier, 4 bytes (TS002 1.0) or 8 bytes (a gateway EUI, as deployed).
        id: opt HexBytes = "ID",
        /// FineRecvTime (1.1): nanoseconds of the fine timestamp.
        fine_recv_time: opt i64 = "FineRecvTime",
        /// RFRegion of the gateway.
        rf_region: opt RfRegion = "RFRegion",
        /// RSSI, dBm.
        rssi: opt i32 = "RSSI",
        /// SNR, dB.
        snr: opt f64 = "SNR",
        /// Latitude.
        lat: opt f64 = "Lat",
        /// Longitude.
        lon: opt f64 = "Lon",
        /// ULToken: opaque to everyone but the gateway's NS.
        ul_token: opt Token = "ULToken",
        /// DLAllowed: whether the gateway can take a downlink.
        dl_allowed: opt bool = "DLAllowed",
    }
}

bi_object! {
    /// Uplink metadata (ULMetaData).
    UlMetaData {
        /// DevEUI, when known.
        dev_eui: opt Eui64 = "DevEUI",
        /// DevAddr, when known.
        dev_addr: opt DevAddr = "DevAddr",
        /// FPort (carried separately when FRMPayload is sent).
        f_port: opt u8 = "FPort",
        /// FCntDown.
        f_cnt_down: opt u32 = "FCntDown",
        /// FCntUp.
        f_cnt_up: opt u32 = "FCntUp",
        /// Confirmed uplink.
        confirmed: opt bool = "Confirmed",
        /// DataRate index.
        data_rate: opt u8 = "DataRate",
        /// ULFreq, MHz.
        ul_freq: opt f64 = "ULFreq",
        /// Margin from DevStatusAns.
        margin: opt i32 = "Margin",
        /// Battery from DevStatusAns.
        battery: opt u8 = "Battery",
        /// FNSULToken: opaque token of the forwarding NS.
        fns_ul_token: opt Token = "FNSULToken",
        /// RecvTime: when the uplink arrived.
        recv_time: req OffsetDateTime = "RecvTime",
        /// RFRegion of the forwarding NS.
        rf_region: opt RfRegion = "RFRegion",
        /// GWCnt: number of receiving gateways.
        gw_cnt: opt u32 = "GWCnt",
        /// GWInfo: one element per receiving gateway.
        gw_info: opt Vec<GwInfo> = "GWInfo",
    }
}

bi_object! {
    /// Downlink metadata (DLMetaData).
    DlMetaData {
        /// DevEUI.
        dev_eui: opt Eui64 = "DevEUI",
        /// FPort.
        f_port: opt u8 = "FPort",
        /// FCntDown.
        f_cnt_down: opt u32 = "FCntDown",
        /// Confirmed downlink.
        confirmed: opt bool = "Confirmed",
        /// DLFreq1 (RX1), MHz.
        dl_freq1: opt f64 = "DLFreq1",
        /// DLFreq2 (RX2), MHz.
        dl_freq2: opt f64 = "DLFreq2",
        /// RXDelay1, seconds.
        rx_delay1: opt u8 = "RXDelay1",
        /// ClassMode: A or C.
        class_mode: opt ClassMode = "ClassMode",
        /// DataRate1 (with DLFreq1).
        data_rate1: opt u8 = "DataRate1",
        /// DataRate2 (with DLFreq2).
        data_rate2: opt u8 = "DataRate2",
        /// FNSULToken: copy of the last one received from the fNS.
        fns_ul_token: opt Token = "FNSULToken",
        /// GWInfo: ULTokens of the gateways to send through.
        gw_info: opt Vec<GwInfo> = "GWInfo",
        /// HiPriorityFlag.
        hi_priority_flag: opt bool = "HiPriorityFlag",
    }
}

impl UlMetaData {
    /// ULMetaData with only RecvTime set.
    pub fn new(recv_time: OffsetDateTime) -> Self {
        Self {
            dev_eui: None,
            dev_addr: None,
            f_port: None,
            f_cnt_down: None,
            f_cnt_up: None,
            confirmed: None,
            data_rate: None,
            ul_freq: None,
            margin: None,
            battery: None,
            fns_ul_token: None,
            recv_time,
            rf_region: None,
            gw_cnt: None,
            gw_info: None,
            extra: serde_json::Map::new(),
        }
    }
}

impl Default for GwInfo {
    fn default() -> Self {
        Self {
            id: None,
            fine_recv_time: None,
            rf_region: None,
            rssi: None,
            snr: None,
            lat: None,
            lon: None,
            ul_token: None,
            dl_allowed: None,
            extra: serde_json::Map::new(),
        }
    }
}

impl Default for DlMetaData {
    fn default() -> Self {
        Self {
            dev_eui: None,
            f_port: None,
            f_cnt_down: None,
            confirmed: None,
            dl_freq1: None,
            dl_freq2: None,
            rx_delay1: None,
            class_mode: None,
            data_rate1: None,
            data_rate2: None,
            fns_ul_token: None,
            gw_info: None,
            hi_priority_flag: None,
            extra: serde_json::Map::new(),
        }
    }
}
