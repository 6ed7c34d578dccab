//! Profiles (TS002 1.0 §17, Tables 17–19): DeviceProfile, ServiceProfile, RoutingProfile.
//! Every element is optional on read; the spec marks the mandatory ones per message and the
//! deployed peers send subsets.

use crate::values::{HexBytes, RfRegion};

bi_object! {
    /// Device capabilities and boot parameters (DeviceProfile).
    DeviceProfile {
        /// DeviceProfileID.
        device_profile_id: opt String = "DeviceProfileID",
        /// SupportsClassB.
        supports_class_b: opt bool = "SupportsClassB",
        /// ClassBTimeout, seconds.
        class_b_timeout: opt u32 = "ClassBTimeout",
        /// PingSlotPeriod.
        ping_slot_period: opt u32 = "PingSlotPeriod",
        /// PingSlotDR.
        ping_slot_dr: opt u8 = "PingSlotDR",
        /// PingSlotFreq, MHz.
        ping_slot_freq: opt f64 = "PingSlotFreq",
        /// SupportsClassC.
        supports_class_c: opt bool = "SupportsClassC",
        /// ClassCTimeout, seconds.
        class_c_timeout: opt u32 = "ClassCTimeout",
        /// MACVersion, e.g. `1.0.2`.
        mac_version: opt String = "MACVersion",
        /// RegParamsRevision, e.g. `B`.
        reg_params_revision: opt String = "RegParamsRevision",
        /// RXDelay1.
        rx_delay1: opt u8 = "RXDelay1",
        /// RXDROffset1.
        rx_dr_offset1: opt u8 = "RXDROffset1",
        /// RXDataRate2.
        rx_data_rate2: opt u8 = "RXDataRate2",
        /// RXFreq2, MHz.
        rx_freq2: opt f64 = "RXFreq2",
        /// FactoryPresetFreqs, MHz.
        factory_preset_freqs: opt Vec<f64> = "FactoryPresetFreqs",
        /// MaxEIRP, dBm.
        max_eirp: opt i32 = "MaxEIRP",
        /// MaxDutyCycle, e.g. 0.1 for 10 %.
        max_duty_cycle: opt f64 = "MaxDutyCycle",
        /// SupportsJoin (OTAA).
        supports_join: opt bool = "SupportsJoin",
        /// RFRegion.
        rf_region: opt RfRegion = "RFRegion",
        /// Supports32bitFCnt.
        supports_32bit_fcnt: opt bool = "Supports32bitFCnt",
    }
}

bi_object! {
    /// Service parameters (ServiceProfile).
    ServiceProfile {
        /// ServiceProfileID.
        service_profile_id: opt String = "ServiceProfileID",
        /// ULRate.
        ul_rate: opt u32 = "ULRate",
        /// ULBucketSize.
        ul_bucket_size: opt u32 = "ULBucketSize",
        /// ULRatePolicy: Drop or Mark.
        ul_rate_policy: opt String = "ULRatePolicy",
        /// DLRate.
        dl_rate: opt u32 = "DLRate",
        /// DLBucketSize.
        dl_bucket_size: opt u32 = "DLBucketSize",
        /// DLRatePolicy: Drop or Mark.
        dl_rate_policy: opt String = "DLRatePolicy",
        /// AddGWMetadata.
        add_gw_metadata: opt bool = "AddGWMetadata",
        /// DevStatusReqFreq, requests per day.
        dev_status_req_freq: opt u32 = "DevStatusReqFreq",
        /// ReportDevStatusBatery (the spec's spelling).
        report_dev_status_battery: opt bool = "ReportDevStatusBatery",
        /// ReportDevStatusMargin.
        report_dev_status_margin: opt bool = "ReportDevStatusMargin",
        /// DRMin.
        dr_min: opt u8 = "DRMin",
        /// DRMax.
        dr_max: opt u8 = "DRMax",
        /// ChannelMask.
        channel_mask: opt HexBytes = "ChannelMask",
        /// PRAllowed.
        pr_allowed: opt bool = "PRAllowed",
        /// HRAllowed.
        hr_allowed: opt bool = "HRAllowed",
        /// RAAllowed.
        ra_allowed: opt bool = "RAAllowed",
        /// NwkGeoLoc.
        nwk_geo_loc: opt bool = "NwkGeoLoc",
        /// TargetPER, e.g. 0.1 for 10 %.
        target_per: opt f64 = "TargetPER",
        /// MinGWDiversity.
        min_gw_diversity: opt u32 = "MinGWDiversity",
    }
}

bi_object! {
    /// Data-plane parameters towards the AS (RoutingProfile).
    RoutingProfile {
        /// RoutingProfileID.
        routing_profile_id: opt String = "RoutingProfileID",
        /// AS-ID: IP address, DNS name, …
        as_id: opt String = "AS-ID",
    }
}
