//! Roaming messages between network servers (TS002 1.0 §12–§13, 1.1 additions): passive
//! roaming (PRStart*/PRStop*), handover roaming (HRStart*/HRStop*), ProfileReq/Ans, data
//! transfer (XmitData*), geolocation (XmitLoc*, 1.1) and the 1.1 notifications.

use lorawan::ids::{DevAddr, Eui64};
use time::OffsetDateTime;

use crate::keys::KeyEnvelope;
use crate::metadata::{DlMetaData, UlMetaData};
use crate::profiles::{DeviceProfile, ServiceProfile};
use crate::result::BiResult;
use crate::values::HexBytes;

bi_message! {
    /// PRStartReq: fNS → sNS/hNS, starts passive roaming with an uplink.
    PRStartReq {
        /// The uplink PHYPayload.
        phy_payload: req HexBytes = "PHYPayload",
        /// ULMetaData.
        ul_meta_data: req UlMetaData = "ULMetaData",
    }
}

bi_message! {
    /// PRStartAns: sNS → fNS.
    PRStartAns {
        /// Result.
        result: req BiResult = "Result",
        /// Join-accept PHYPayload, for a join.
        phy_payload: opt HexBytes = "PHYPayload",
        /// DevEUI (1.1: reported to the fNS on Success).
        dev_eui: opt Eui64 = "DevEUI",
        /// Lifetime of the roaming session, seconds.
        lifetime: opt u32 = "Lifetime",
        /// FNwkSIntKey (stateful fNS, 1.1 device).
        f_nwk_s_int_key: opt KeyEnvelope = "FNwkSIntKey",
        /// NwkSKey (stateful fNS, 1.0 device).
        nwk_s_key: opt KeyEnvelope = "NwkSKey",
        /// FCntUp.
        f_cnt_up: opt u32 = "FCntUp",
        /// ServiceProfile.
        service_profile: opt ServiceProfile = "ServiceProfile",
        /// DLMetaData for the Join-accept downlink.
        dl_meta_data: opt DlMetaData = "DLMetaData",
        /// DevAddr (ChirpStack and Helium send it).
        dev_addr: opt DevAddr = "DevAddr",
    }
}

bi_message! {
    /// PRStartNotif (1.1): fNS → sNS, reports whether the Join-accept was transmitted.
    PRStartNotif {
        /// Result.
        result: req BiResult = "Result",
    }
}

bi_message! {
    /// PRStopReq: sNS → fNS, ends a passive-roaming session.
    PRStopReq {
        /// DevEUI.
        dev_eui: req Eui64 = "DevEUI",
        /// Lifetime: do not start again before it expires, seconds.
        lifetime: opt u32 = "Lifetime",
    }
}

bi_message! {
    /// PRStopAns: fNS → sNS.
    PRStopAns {
        /// Result.
        result: req BiResult = "Result",
    }
}

bi_message! {
    /// HRStartReq: new sNS → hNS, starts handover roaming with a Rejoin-request.
    HRStartReq {
        /// MACVersion of the device.
        mac_version: opt String = "MACVersion",
        /// The Rejoin-request PHYPayload.
        phy_payload: req HexBytes = "PHYPayload",
        /// DevAddr assigned by the new sNS.
        dev_addr: opt DevAddr = "DevAddr",
        /// DeviceProfile known to the sNS.
        device_profile: opt DeviceProfile = "DeviceProfile",
        /// ULMetaData.
        ul_meta_data: req UlMetaData = "ULMetaData",
        /// DeviceProfileTimestamp of the sNS's Device Profile.
        device_profile_timestamp: opt OffsetDateTime = "DeviceProfileTimestamp",
        /// DLSettings byte for the Join-accept.
        dl_settings: opt HexBytes = "DLSettings",
        /// RxDelay for the Join-accept.
        rx_delay: opt u8 = "RxDelay",
        /// CFList: empty or 16 bytes.
        cf_list: opt HexBytes = "CFList",
    }
}

bi_message! {
    /// HRStartAns: hNS → new sNS.
    HRStartAns {
        /// Result.
        result: req BiResult = "Result",
        /// Join-accept PHYPayload.
        phy_payload: opt HexBytes = "PHYPayload",
        /// Lifetime, seconds.
        lifetime: opt u32 = "Lifetime",
        /// SNwkSIntKey.
        s_nwk_s_int_key: opt KeyEnvelope = "SNwkSIntKey",
        /// FNwkSIntKey.
        f_nwk_s_int_key: opt KeyEnvelope = "FNwkSIntKey",
        /// NwkSEncKey.
        nwk_s_enc_key: opt KeyEnvelope = "NwkSEncKey",
        /// NwkSKey.
        nwk_s_key: opt KeyEnvelope = "NwkSKey",
        /// DeviceProfile (also with StaleDeviceProfile).
        device_profile: opt DeviceProfile = "DeviceProfile",
        /// ServiceProfile.
        service_profile: opt ServiceProfile = "ServiceProfile",
        /// DLMetaData for the Join-accept.
        dl_meta_data: opt DlMetaData = "DLMetaData",
        /// DeviceProfileTimestamp.
        device_profile_timestamp: opt OffsetDateTime = "DeviceProfileTimestamp",
    }
}

bi_message! {
    /// HRStopReq: hNS → sNS, ends handover roaming.
    HRStopReq {
        /// DevEUI.
        dev_eui: req Eui64 = "DevEUI",
    }
}

bi_message! {
    /// HRStopAns: sNS → hNS.
    HRStopAns {
        /// Result.
        result: req BiResult = "Result",
    }
}

bi_message! {
    /// ProfileReq: visited NS → hNS, asks for the Device Profile of a DevEUI.
    ProfileReq {
        /// DevEUI.
        dev_eui: req Eui64 = "DevEUI",
    }
}

bi_message! {
    /// ProfileAns: hNS → visited NS.
    ProfileAns {
        /// Result.
        result: req BiResult = "Result",
        /// DeviceProfile.
        device_profile: opt DeviceProfile = "DeviceProfile",
        /// DeviceProfileTimestamp.
        device_profile_timestamp: opt OffsetDateTime = "DeviceProfileTimestamp",
        /// RoamingActivationType: Passive or Handover.
        roaming_activation_type: opt String = "RoamingActivationType",
    }
}

bi_message! {
    /// XmitDataReq: an uplink (ULMetaData) or downlink (DLMetaData) between NSs.
    XmitDataReq {
        /// PHYPayload (fNS ↔ sNS).
        phy_payload: opt HexBytes = "PHYPayload",
        /// FRMPayload (sNS ↔ hNS).
        frm_payload: opt HexBytes = "FRMPayload",
        /// ULMetaData, for an uplink.
        ul_meta_data: opt UlMetaData = "ULMetaData",
        /// DLMetaData, for a downlink.
        dl_meta_data: opt DlMetaData = "DLMetaData",
    }
}

bi_message! {
    /// XmitDataAns.
    XmitDataAns {
        /// Result.
        result: req BiResult = "Result",
    }
}

bi_message! {
    /// XmitLocReq (1.1): network geolocation of a roaming device. The location objects beyond
    /// PHYPayload and ULMetaData are kept in `extra` (schemas/README.md).
    XmitLocReq {
        /// PHYPayload of the located uplink.
        phy_payload: opt HexBytes = "PHYPayload",
        /// ULMetaData of the located uplink.
        ul_meta_data: opt UlMetaData = "ULMetaData",
    }
}

bi_message! {
    /// XmitLocAns (1.1).
    XmitLocAns {
        /// Result.
        result: req BiResult = "Result",
    }
}

bi_message! {
    /// ErrorNotif (1.1): reports an invalid answer or notification to its sender.
    ErrorNotif {
        /// Result: what was wrong with the message.
        result: req BiResult = "Result",
    }
}
