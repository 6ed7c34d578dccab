//! Activation messages between NS, JS and AS (TS002 1.0 §7, §11; 1.1 the same): JoinReq/Ans,
//! RejoinReq/Ans, AppSKeyReq/Ans, HomeNSReq/Ans.

use lorawan::ids::{DevAddr, Eui64, NetId};

use crate::keys::KeyEnvelope;
use crate::result::BiResult;
use crate::values::HexBytes;

bi_message! {
    /// JoinReq: NS → JS, a Join-request to process.
    JoinReq {
        /// MACVersion of the device, e.g. `1.0.3`.
        mac_version: req String = "MACVersion",
        /// The Join-request PHYPayload.
        phy_payload: req HexBytes = "PHYPayload",
        /// DevEUI.
        dev_eui: req Eui64 = "DevEUI",
        /// DevAddr assigned by the NS.
        dev_addr: req DevAddr = "DevAddr",
        /// DLSettings byte of the Join-accept.
        dl_settings: req HexBytes = "DLSettings",
        /// RxDelay of the Join-accept.
        rx_delay: req u8 = "RxDelay",
        /// CFList of the Join-accept: empty (`""`) or 16 bytes.
        cf_list: opt HexBytes = "CFList",
    }
}

bi_message! {
    /// JoinAns: JS → NS, the Join-accept and session keys.
    JoinAns {
        /// Result.
        result: req BiResult = "Result",
        /// The Join-accept PHYPayload (on Success).
        phy_payload: opt HexBytes = "PHYPayload",
        /// Lifetime of the session, seconds.
        lifetime: opt u32 = "Lifetime",
        /// SNwkSIntKey (LoRaWAN 1.1 device).
        s_nwk_s_int_key: opt KeyEnvelope = "SNwkSIntKey",
        /// FNwkSIntKey (LoRaWAN 1.1 device).
        f_nwk_s_int_key: opt KeyEnvelope = "FNwkSIntKey",
        /// NwkSEncKey (LoRaWAN 1.1 device).
        nwk_s_enc_key: opt KeyEnvelope = "NwkSEncKey",
        /// NwkSKey (LoRaWAN 1.0 device).
        nwk_s_key: opt KeyEnvelope = "NwkSKey",
        /// AppSKey, when the JS hands it to the NS.
        app_s_key: opt KeyEnvelope = "AppSKey",
        /// SessionKeyID.
        session_key_id: opt HexBytes = "SessionKeyID",
    }
}

bi_message! {
    /// RejoinReq: NS → JS, a Rejoin-request to process (same fields as JoinReq).
    RejoinReq {
        /// MACVersion of the device.
        mac_version: req String = "MACVersion",
        /// The Rejoin-request PHYPayload.
        phy_payload: req HexBytes = "PHYPayload",
        /// DevEUI.
        dev_eui: req Eui64 = "DevEUI",
        /// DevAddr assigned by the NS.
        dev_addr: req DevAddr = "DevAddr",
        /// DLSettings byte.
        dl_settings: req HexBytes = "DLSettings",
        /// RxDelay.
        rx_delay: req u8 = "RxDelay",
        /// CFList: empty or 16 bytes.
        cf_list: opt HexBytes = "CFList",
    }
}

bi_message! {
    /// RejoinAns: JS → NS (same fields as JoinAns).
    RejoinAns {
        /// Result.
        result: req BiResult = "Result",
        /// The Join-accept PHYPayload.
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
        /// AppSKey.
        app_s_key: opt KeyEnvelope = "AppSKey",
        /// SessionKeyID.
        session_key_id: opt HexBytes = "SessionKeyID",
    }
}

bi_message! {
    /// AppSKeyReq: AS → JS, asks for the AppSKey of a session.
    AppSKeyReq {
        /// DevEUI.
        dev_eui: req Eui64 = "DevEUI",
        /// SessionKeyID.
        session_key_id: req HexBytes = "SessionKeyID",
    }
}

bi_message! {
    /// AppSKeyAns: JS → AS.
    AppSKeyAns {
        /// Result.
        result: req BiResult = "Result",
        /// DevEUI (The Things Stack leaves it out).
        dev_eui: opt Eui64 = "DevEUI",
        /// AppSKey.
        app_s_key: opt KeyEnvelope = "AppSKey",
        /// SessionKeyID.
        session_key_id: opt HexBytes = "SessionKeyID",
    }
}

bi_message! {
    /// HomeNSReq: NS → JS, asks for the home network of a DevEUI.
    HomeNSReq {
        /// DevEUI.
        dev_eui: req Eui64 = "DevEUI",
    }
}

bi_message! {
    /// HomeNSAns: JS → NS.
    HomeNSAns {
        /// Result.
        result: req BiResult = "Result",
        /// HNetID: NetID of the home NS.
        h_net_id: opt NetId = "HNetID",
        /// HNSID (1.1): NSID of the home NS; any string on read (schemas/README.md).
        h_nsid: opt String = "HNSID",
    }
}
