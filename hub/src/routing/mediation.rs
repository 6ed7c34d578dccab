//! Protocol mediation: a TS002 1.1 member and a 1.0 member talk through the hub.
//!
//! Going to a member, a message takes the member's ProtocolVersion; going to a 1.0 member it
//! also loses what 1.0 does not have: SenderNSID / ReceiverNSID (1.1, §9 NSIDs), HomeNSAns's
//! HNSID, and the 1.1
//! message types (PRStartNotif, XmitLocReq/Ans, ErrorNotif) cannot be sent at all. Coming back,
//! an answer takes the requester's version, so its ResultCode is spelt for the requester
//! (MalformedRequest in 1.0, MalformedMessage in 1.1: the codec writes it by version). Field
//! names and opaque tokens (SenderToken, ReceiverToken, ULToken) are the same in both
//! versions and pass byte for byte; everything else the hub does not know is kept.

use backend::header::ProtocolVersion;
use backend::message::Message;

/// Why a message cannot be written for a member's version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message_type} does not exist in TS002 {version}, which the receiver speaks")]
pub struct NotInVersion {
    /// The message type.
    pub message_type: String,
    /// The receiver's version.
    pub version: String,
}

/// Rewrites `message` for a member speaking `version`.
pub fn for_version(message: &mut Message, version: &ProtocolVersion) -> Result<(), NotInVersion> {
    let header = message.header_mut();
    if !header.message_type.exists_in(version) {
        return Err(NotInVersion {
            message_type: header.message_type.as_str().to_owned(),
            version: version.as_str().to_owned(),
        });
    }
    header.protocol_version = version.clone();
    if *version == ProtocolVersion::V1_0 {
        header.sender_nsid = None;
        header.receiver_nsid = None;
        // HNSID (the home NS's NSID) is 1.1 only: a 1.0 member routes by HNetID alone.
        if let Message::HomeNSAns(answer) = message {
            answer.h_nsid = None;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use backend::header::{Header, MessageType};
    use backend::result::ResultCode;

    fn answer(version: ProtocolVersion, message_type: MessageType) -> Message {
        let mut header = Header::new(
            version,
            message_type,
            String::from("000013"),
            String::from("000014"),
            Some(1),
        );
        header.sender_nsid = Some("70b3d57ed0000013".into());
        Message::error_answer(&header, ResultCode::Success, "x").expect("an answer type")
    }

    #[test]
    fn a_1_1_message_for_a_1_0_member_loses_its_nsids() {
        let mut message = answer(ProtocolVersion::V1_1, MessageType::PRStartReq);
        for_version(&mut message, &ProtocolVersion::V1_0).expect("exists in 1.0");
        assert_eq!(message.header().protocol_version, ProtocolVersion::V1_0);
        assert_eq!(message.header().receiver_nsid, None);
        assert_eq!(message.header().sender_nsid, None);
    }

    #[test]
    fn a_home_ns_answer_for_a_1_0_member_loses_its_hnsid() {
        let mut message = answer(ProtocolVersion::V1_1, MessageType::HomeNSReq);
        if let Message::HomeNSAns(answer) = &mut message {
            answer.h_nsid = Some("70b3d57ed0000002".into());
        }
        for_version(&mut message, &ProtocolVersion::V1_0).expect("exists in 1.0");
        assert!(matches!(&message, Message::HomeNSAns(a) if a.h_nsid.is_none()));
        let mut message = answer(ProtocolVersion::V1_1, MessageType::HomeNSReq);
        if let Message::HomeNSAns(answer) = &mut message {
            answer.h_nsid = Some("70b3d57ed0000002".into());
        }
        for_version(&mut message, &ProtocolVersion::V1_1).expect("exists in 1.1");
        assert!(matches!(&message, Message::HomeNSAns(a) if a.h_nsid.is_some()));
    }

    #[test]
    fn one_point_one_only_types_cannot_go_to_1_0() {
        let mut header = Header::new(
            ProtocolVersion::V1_1,
            MessageType::XmitLocReq,
            String::from("000013"),
            String::from("000014"),
            Some(1),
        );
        header.receiver_nsid = None;
        let mut message =
            Message::error_answer(&header, ResultCode::Success, "x").expect("XmitLocAns");
        for_version(&mut message, &ProtocolVersion::V1_0).expect_err("XmitLocAns is 1.1");
    }
}
