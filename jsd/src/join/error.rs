//! Why the JS refuses a request, grouped by who is to blame, and the one place those reasons
//! become a ResultCode and a well-formed answer (STYLE #5).
//!
//! | reason | ResultCode |
//! |---|---|
//! | SenderID is not a NetID (NS requests) / not the device's AS (AppSKeyReq) | UnknownSender |
//! | a field does not parse, PHYPayload of the wrong type, DevEUI ≠ PHYPayload DevEUI | MalformedRequest (1.0) / MalformedMessage (1.1) |
//! | PHYPayload of a wrong length | FrameSizeError |
//! | no such device, no such session, HomeNSReq about an unclaimed device | UnknownDevEUI |
//! | device not claimed, or the requester is not its home network | ActivationDisallowed |
//! | MIC mismatch | MICFailed |
//! | DevNonce / RJcount1 reused, JoinEUI, MACVersion, OptNeg or rejoin NetID inconsistent with the device, JoinNonce exhausted, no KEK for the NS and clear keys refused | JoinReqFailed |
//! | the JS's own records are incomplete (a 1.1 device without NwkKey); no KEK for the AS and clear keys refused | Other |

use backend::header::{Header, ProtocolVersion};
use backend::message::{AppSKeyAns, HomeNSAns, JoinAns, RejoinAns};
use backend::result::{BiResult, ResultCode};
use lorawan::ids::{Eui64, NetId};
use lorawan::join::{DevNonceError, MacVersion};
use lorawan::phy::PhyError;
use serde_json::Map;

/// Who is to blame for a refusal: for logs and metrics (a JS fault deserves an alert, a
/// device's replay does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Blame {
    /// The requesting server sent something malformed or is not who may ask.
    Sender,
    /// The end-device (or a replay of its frames): MIC, nonces, identifiers.
    Device,
    /// The activation policy: the device is not claimed by the requester.
    Policy,
    /// The JS's own records or configuration.
    JoinServer,
}

/// Why the JS refuses a JoinReq, RejoinReq, HomeNSReq or AppSKeyReq.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The SenderID is not a NetID (a JoinReq / RejoinReq comes from a network server).
    #[error("SenderID {0:?} is not a NetID")]
    SenderNotANetId(String),
    /// The AppSKeyReq sender is not the application server the device's AppSKey goes to.
    #[error("SenderID {0:?} is not the application server of this device")]
    NotTheDevicesApplicationServer(String),
    /// A field of the request is invalid.
    #[error("{field}: {reason}")]
    Malformed {
        /// The wire name of the field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The PHYPayload has a length its message type does not allow.
    #[error("PHYPayload: {0}")]
    FrameSize(PhyError),
    /// The DevEUI of the message and the one in its PHYPayload differ.
    #[error("DevEUI {message} differs from the PHYPayload's DevEUI {phy}")]
    DevEuiMismatch {
        /// DevEUI field of the message.
        message: Eui64,
        /// DevEUI in the PHYPayload.
        phy: Eui64,
    },
    /// No device with this DevEUI.
    #[error("unknown DevEUI {0}")]
    UnknownDevEui(Eui64),
    /// No session of the device with this SessionKeyID.
    #[error("DevEUI {dev_eui} has no session with SessionKeyID {session_key_id}")]
    UnknownSession {
        /// DevEUI.
        dev_eui: Eui64,
        /// The SessionKeyID asked for, hex.
        session_key_id: String,
    },
    /// Nobody has claimed the device.
    #[error("DevEUI {0} is not claimed by any network")]
    NotClaimed(Eui64),
    /// The requester is not the device's home network.
    #[error("NetID {sender} may not activate DevEUI {dev_eui}: it is claimed by another network")]
    NotHomeNetwork {
        /// DevEUI.
        dev_eui: Eui64,
        /// The requester's NetID.
        sender: NetId,
    },
    /// The requester is the home NetID but another network server of it (TS002 1.1 NSID).
    #[error("SenderNSID {sender_nsid} may not activate DevEUI {dev_eui}: it is not the home network server")]
    NotHomeNetworkServer {
        /// DevEUI.
        dev_eui: Eui64,
        /// The requester's SenderNSID.
        sender_nsid: String,
    },
    /// The JoinEUI in the frame is not the one the device was provisioned with.
    #[error("JoinEUI {received} is not the JoinEUI of DevEUI {dev_eui}")]
    JoinEuiMismatch {
        /// DevEUI.
        dev_eui: Eui64,
        /// The JoinEUI in the frame.
        received: Eui64,
    },
    /// The request's MACVersion cannot serve a device of the provisioned version.
    #[error("MACVersion {requested} cannot activate a LoRaWAN {device} device")]
    MacVersionMismatch {
        /// The MACVersion of the request.
        requested: MacVersion,
        /// The device's provisioned version.
        device: MacVersion,
    },
    /// DLSettings.OptNeg contradicts the request's MACVersion.
    #[error("DLSettings OptNeg is {} but MACVersion is {mac_version}: OptNeg is set exactly for LoRaWAN 1.1", if *opt_neg { "set" } else { "clear" })]
    OptNegMismatch {
        /// The MACVersion of the request.
        mac_version: MacVersion,
        /// The OptNeg bit of the request's DLSettings.
        opt_neg: bool,
    },
    /// The rejoin-request (type 0/2) names another network than the device's home.
    #[error("rejoin-request NetID {received} is not the home NetID {home}")]
    RejoinNetIdMismatch {
        /// NetID in the rejoin-request.
        received: NetId,
        /// The device's home NetID.
        home: NetId,
    },
    /// The frame's MIC does not verify.
    #[error("{0} MIC does not verify")]
    MicFailed(&'static str),
    /// The DevNonce was used before (or, for a counter, is not greater than the last one).
    #[error("{}", describe_dev_nonce(.0))]
    DevNonceReused(DevNonceError),
    /// RJcount1 is not greater than the last accepted one (TS001-1.1 §6.2.4.4).
    #[error("RJcount1 {received} already used: not greater than the last one, {last}")]
    RjCount1Reused {
        /// The last accepted RJcount1.
        last: u16,
        /// The one received.
        received: u16,
    },
    /// All 2^24 - 1 JoinNonces of the device are used: it must be re-provisioned.
    #[error("JoinNonce exhausted for DevEUI {0}: the device must be re-provisioned")]
    JoinNonceExhausted(Eui64),
    /// No KEK is agreed with the receiver and clear keys are refused.
    #[error("no KEK agreed with {0} and session keys are not sent in clear")]
    NoKek(KekPeer),
    /// A HomeNSReq about a device nobody has claimed: it has no home to tell.
    #[error("DevEUI {0} is not claimed by any network: it has no home network")]
    NoHome(Eui64),
    /// A LoRaWAN 1.1 device record without NwkKey.
    #[error("the record of LoRaWAN 1.1 DevEUI {0} has no NwkKey")]
    MissingNwkKey(Eui64),
}

/// The peer a KEK was looked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KekPeer {
    /// The network server of a NetID.
    NetworkServer(NetId),
    /// An application server, by AS-ID.
    ApplicationServer(String),
}

impl std::fmt::Display for KekPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NetworkServer(net_id) => write!(f, "the network server of NetID {net_id}"),
            Self::ApplicationServer(as_id) => write!(f, "application server {as_id:?}"),
        }
    }
}

fn describe_dev_nonce(error: &DevNonceError) -> String {
    match error {
        DevNonceError::Reused(n) => format!("DevNonce {n} already used"),
        DevNonceError::NotIncreasing { last, received } => {
            format!("DevNonce {received} already used: not greater than the last one, {last}")
        }
    }
}

impl JoinError {
    /// Who is to blame.
    pub fn blame(&self) -> Blame {
        match self {
            Self::SenderNotANetId(_)
            | Self::NotTheDevicesApplicationServer(_)
            | Self::Malformed { .. }
            | Self::FrameSize(_)
            | Self::DevEuiMismatch { .. }
            | Self::UnknownDevEui(_)
            | Self::UnknownSession { .. }
            | Self::MacVersionMismatch { .. }
            | Self::OptNegMismatch { .. } => Blame::Sender,
            Self::NotClaimed(_)
            | Self::NoHome(_)
            | Self::NotHomeNetwork { .. }
            | Self::NotHomeNetworkServer { .. }
            | Self::NoKek(_) => Blame::Policy,
            Self::JoinEuiMismatch { .. }
            | Self::RejoinNetIdMismatch { .. }
            | Self::MicFailed(_)
            | Self::DevNonceReused(_)
            | Self::RjCount1Reused { .. }
            | Self::JoinNonceExhausted(_) => Blame::Device,
            Self::MissingNwkKey(_) => Blame::JoinServer,
        }
    }

    /// The ResultCode of this refusal in an answer of `version` (MalformedRequest in TS002 1.0,
    /// MalformedMessage in 1.1).
    pub fn result_code(&self, version: &ProtocolVersion) -> ResultCode {
        match self {
            Self::SenderNotANetId(_) | Self::NotTheDevicesApplicationServer(_) => {
                ResultCode::UnknownSender
            }
            Self::Malformed { .. } | Self::DevEuiMismatch { .. } => {
                ResultCode::malformed(Some(version))
            }
            Self::FrameSize(_) => ResultCode::FrameSizeError,
            Self::UnknownDevEui(_) | Self::UnknownSession { .. } | Self::NoHome(_) => {
                ResultCode::UnknownDevEUI
            }
            Self::NotClaimed(_)
            | Self::NotHomeNetwork { .. }
            | Self::NotHomeNetworkServer { .. } => ResultCode::ActivationDisallowed,
            Self::MicFailed(_) => ResultCode::MICFailed,
            Self::JoinEuiMismatch { .. }
            | Self::MacVersionMismatch { .. }
            | Self::OptNegMismatch { .. }
            | Self::RejoinNetIdMismatch { .. }
            | Self::DevNonceReused(_)
            | Self::RjCount1Reused { .. }
            | Self::JoinNonceExhausted(_)
            | Self::NoKek(KekPeer::NetworkServer(_)) => ResultCode::JoinReqFailed,
            Self::NoKek(KekPeer::ApplicationServer(_)) | Self::MissingNwkKey(_) => {
                ResultCode::Other
            }
        }
    }

    /// The Result object answering a request of `version`.
    pub fn result(&self, version: &ProtocolVersion) -> BiResult {
        BiResult::with_description(self.result_code(version), self.to_string())
    }

    /// The JoinAns refusing the JoinReq whose header is `request`.
    pub fn join_ans(&self, request: &Header) -> JoinAns {
        JoinAns {
            header: request.answer_header(),
            result: self.result(&request.protocol_version),
            phy_payload: None,
            lifetime: None,
            s_nwk_s_int_key: None,
            f_nwk_s_int_key: None,
            nwk_s_enc_key: None,
            nwk_s_key: None,
            app_s_key: None,
            session_key_id: None,
            extra: Map::new(),
        }
    }

    /// The RejoinAns refusing the RejoinReq whose header is `request`.
    pub fn rejoin_ans(&self, request: &Header) -> RejoinAns {
        RejoinAns {
            header: request.answer_header(),
            result: self.result(&request.protocol_version),
            phy_payload: None,
            lifetime: None,
            s_nwk_s_int_key: None,
            f_nwk_s_int_key: None,
            nwk_s_enc_key: None,
            nwk_s_key: None,
            app_s_key: None,
            session_key_id: None,
            extra: Map::new(),
        }
    }

    /// The HomeNSAns refusing the HomeNSReq whose header is `request`.
    pub fn home_ns_ans(&self, request: &Header) -> HomeNSAns {
        HomeNSAns {
            header: request.answer_header(),
            result: self.result(&request.protocol_version),
            h_net_id: None,
            h_nsid: None,
            extra: Map::new(),
        }
    }

    /// The AppSKeyAns refusing the AppSKeyReq whose header is `request`.
    pub fn app_s_key_ans(&self, request: &Header) -> AppSKeyAns {
        AppSKeyAns {
            header: request.answer_header(),
            result: self.result(&request.protocol_version),
            dev_eui: None,
            app_s_key: None,
            session_key_id: None,
            extra: Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backend::header::MessageType;

    #[test]
    fn malformed_follows_the_protocol_version() {
        let error = JoinError::Malformed {
            field: "DLSettings",
            reason: "expected 1 byte".into(),
        };
        assert_eq!(
            error.result_code(&ProtocolVersion::V1_0),
            ResultCode::MalformedRequest
        );
        assert_eq!(
            error.result_code(&ProtocolVersion::V1_1),
            ResultCode::MalformedMessage
        );
        assert_eq!(error.to_string(), "DLSettings: expected 1 byte");
    }

    #[test]
    fn answers_swap_the_header_and_carry_the_description() {
        let request = Header::new(
            ProtocolVersion::V1_1,
            MessageType::JoinReq,
            "000013",
            "70b3d57ed0000001",
            Some(42),
        );
        let error = JoinError::DevNonceReused(DevNonceError::NotIncreasing {
            last: 5,
            received: 3,
        });
        let ans = error.join_ans(&request);
        assert_eq!(ans.header.message_type, MessageType::JoinAns);
        assert_eq!(ans.header.receiver_id, "000013");
        assert_eq!(ans.header.transaction_id, Some(42));
        assert_eq!(ans.result.result_code, ResultCode::JoinReqFailed);
        assert!(ans
            .result
            .description
            .as_deref()
            .is_some_and(|d| d.contains("DevNonce 3 already used")));
        assert_eq!(error.blame(), Blame::Device);
    }
}
