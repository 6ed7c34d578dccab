//! The Backend Interfaces JoinReq the driver sends and what it reads from the JoinAns
//! (TS002 1.1 §6.2.2.1, §12).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use super::devices::LoRaWanVersion;
use super::frame::{self, AcceptKeys, Eui64, JoinAccept, NetId};
use crate::answer::check_answer;

/// The Backend Interfaces protocol version of the messages sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolVersion {
    /// TS002 1.0.
    V1_0,
    /// TS002 1.1.
    V1_1,
}

impl ProtocolVersion {
    /// `ProtocolVersion` as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_0 => "1.0",
            Self::V1_1 => "1.1",
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProtocolVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "1.0" => Ok(Self::V1_0),
            "1.1" => Ok(Self::V1_1),
            other => Err(format!("protocol version {other:?} (expected 1.0 or 1.1)")),
        }
    }
}

/// A JoinReq, field names as on the wire. CFList is left out (the NS has none to add).
#[derive(Debug, Clone, Serialize)]
pub struct JoinReq<'a> {
    /// `1.0` or `1.1`.
    #[serde(rename = "ProtocolVersion")]
    pub protocol_version: &'a str,
    /// The sending network server's NetID, 6 hex digits.
    #[serde(rename = "SenderID")]
    pub sender_id: String,
    /// The Join Server's JoinEUI, 16 hex digits.
    #[serde(rename = "ReceiverID")]
    pub receiver_id: String,
    /// Unique per request within a run.
    #[serde(rename = "TransactionID")]
    pub transaction_id: u32,
    /// Always `JoinReq`.
    #[serde(rename = "MessageType")]
    pub message_type: &'a str,
    /// The device's LoRaWAN version.
    #[serde(rename = "MACVersion")]
    pub mac_version: &'a str,
    /// The join-request, hex.
    #[serde(rename = "PHYPayload")]
    pub phy_payload: String,
    /// 16 hex digits.
    #[serde(rename = "DevEUI")]
    pub dev_eui: String,
    /// The DevAddr the NS assigns, 8 hex digits.
    #[serde(rename = "DevAddr")]
    pub dev_addr: String,
    /// DLSettings, 2 hex digits.
    #[serde(rename = "DLSettings")]
    pub dl_settings: String,
    /// RxDelay in seconds.
    #[serde(rename = "RxDelay")]
    pub rx_delay: u8,
}

/// The fields of a JoinReq that change from one request to the next.
#[derive(Debug, Clone, Copy)]
pub struct JoinReqFields<'a> {
    /// Protocol version.
    pub protocol: ProtocolVersion,
    /// SenderID.
    pub sender_id: NetId,
    /// ReceiverID.
    pub receiver_id: Eui64,
    /// TransactionID.
    pub transaction_id: u32,
    /// MACVersion.
    pub mac_version: &'a str,
    /// The join-request bytes.
    pub phy_payload: &'a [u8],
    /// DevEUI.
    pub dev_eui: Eui64,
    /// DevAddr.
    pub dev_addr: u32,
    /// DLSettings: the byte the join-accept will carry ([`dl_settings`]).
    pub dl_settings: u8,
}

/// The DLSettings a network server asks for: RX1DROffset 0, RX2DataRate 0, and OptNeg (bit 7)
/// set exactly when the device is LoRaWAN 1.1 and so is the network (1.1 §6.2.3: "OptNeg …
/// set indicates that the network server implements the LoRaWAN 1.1 protocol version").
pub fn dl_settings(mac_version: LoRaWanVersion) -> u8 {
    if mac_version == LoRaWanVersion::V1_1 {
        0x80
    } else {
        0x00
    }
}

impl<'a> JoinReq<'a> {
    /// The JoinReq of `fields`, with RxDelay 1.
    pub fn new(fields: &JoinReqFields<'a>) -> Self {
        Self {
            protocol_version: fields.protocol.as_str(),
            sender_id: fields.sender_id.to_string(),
            receiver_id: fields.receiver_id.to_string(),
            transaction_id: fields.transaction_id,
            message_type: "JoinReq",
            mac_version: fields.mac_version,
            phy_payload: hex::encode(fields.phy_payload),
            dev_eui: fields.dev_eui.to_string(),
            dev_addr: format!("{:08x}", fields.dev_addr),
            dl_settings: format!("{:02x}", fields.dl_settings),
            rx_delay: 1,
        }
    }

    /// The header fields [`crate::answer::check_answer`] compares an answer with.
    pub fn header(&self) -> Value {
        serde_json::json!({
            "ProtocolVersion": self.protocol_version,
            "SenderID": self.sender_id,
            "ReceiverID": self.receiver_id,
            "TransactionID": self.transaction_id,
            "MessageType": self.message_type,
        })
    }
}

/// The join-accept of a `Success` JoinAns: `PHYPayload` as bytes.
pub fn answer_phy_payload(answer: &Value) -> Result<Vec<u8>, String> {
    let text = answer
        .get("PHYPayload")
        .and_then(Value::as_str)
        .ok_or("Success without a PHYPayload")?;
    hex::decode(text.trim()).map_err(|e| format!("PHYPayload is not hex: {e}"))
}

/// What one exchange came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// No HTTP answer.
    Transport(String),
    /// An HTTP answer that is not a well-formed JoinAns to the request.
    Malformed(String),
    /// A well-formed answer other than Success.
    Refused {
        /// Its ResultCode.
        code: String,
        /// Its `Result.Description`, if any.
        description: Option<String>,
    },
    /// Success, but the join-accept is missing or does not verify.
    AcceptInvalid(String),
    /// Success with a verified join-accept.
    Accepted(JoinAccept),
}

/// Classifies an HTTP answer body to the JoinReq whose header is `request`.
pub fn classify(request: &Value, body: &[u8], keys: &AcceptKeys) -> Answer {
    let answer: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return Answer::Malformed("answer is not JSON".to_owned()),
    };
    let code = match check_answer(request, &answer) {
        Ok(code) => code,
        Err(e) => return Answer::Malformed(e),
    };
    if code != "Success" {
        let description = answer["Result"]
            .get("Description")
            .and_then(Value::as_str)
            .map(str::to_owned);
        return Answer::Refused { code, description };
    }
    let verified = answer_phy_payload(&answer)
        .and_then(|phy| frame::verify_join_accept(keys, &phy).map_err(|e| e.to_string()));
    match verified {
        Ok(accept) => Answer::Accepted(accept),
        Err(e) => Answer::AcceptInvalid(e),
    }
}
