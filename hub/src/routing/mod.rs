//! Where a message goes, decided from the message and the directory alone (no I/O): the
//! sender must use its own identity, and the receiver is found by ReceiverID.
//!
//! 1. **Sender.** SenderID must be the member's own: its NetID, a JoinEUI it serves, or an
//!    AS-ID of its; SenderNSID, when present, its NSID. Else UnknownSender: a member never
//!    speaks for another.
//! 2. **Receiver.** JoinReq, RejoinReq, HomeNSReq and AppSKeyReq go to the join server
//!    serving the ReceiverID (a JoinEUI). Every other message goes to the network server of
//!    the ReceiverID (a NetID): by ReceiverNSID when given; else the NetID's only member;
//!    else, for a NetID shared by several members, the one whose DevAddr pool holds the
//!    DevAddr of the frame (PHYPayload) or of the message. Nothing found: UnknownReceiver,
//!    saying what was looked for.
//! 3. **No loop.** A message is never routed back to the member that sent it.
//!
//! [`decide`] asks the policies about a routed message; [`mediation`] rewrites a message for the receiver's TS002 version.

pub mod mediation;

use backend::header::{Header, MessageType};
use backend::message::Message;
use backend::result::ResultCode;
use lorawan::ids::{DevAddr, Eui64};
use lorawan::phy::{Frame, PhyPayload};

use time::OffsetDateTime;

use crate::members::{Directory, Member, MemberId, Receiver};
use crate::policy::{Decision, Explanation, Link, PolicySet, RoamingQuery};

/// The hub's own refusal of a message: the answer it sends instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The ResultCode.
    pub code: ResultCode,
    /// The Description: what was wrong, for the sender's operator.
    pub description: String,
}

impl Refusal {
    fn new(code: ResultCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

/// Checks that `sender` uses its own identity in `header`.
pub fn check_sender(sender: &Member, header: &Header) -> Result<(), Refusal> {
    if !sender.owns_sender_id(&header.sender_id) {
        return Err(Refusal::new(
            ResultCode::UnknownSender,
            format!(
                "SenderID {:?} is not an identity of member {}",
                header.sender_id, sender.id
            ),
        ));
    }
    if !sender.owns_sender_nsid(header.sender_nsid.as_deref()) {
        return Err(Refusal::new(
            ResultCode::UnknownSender,
            format!(
                "SenderNSID {:?} is not the NSID of member {}",
                header.sender_nsid.as_deref().unwrap_or_default(),
                sender.id
            ),
        ));
    }
    Ok(())
}

/// Whether messages of this type go to a join server.
pub fn is_join_server_bound(message_type: &MessageType) -> bool {
    matches!(
        message_type,
        MessageType::JoinReq
            | MessageType::RejoinReq
            | MessageType::HomeNSReq
            | MessageType::AppSKeyReq
    )
}

/// The policy decision for a message of `message_type` from `sender` to `receiver` at `at`:
/// activation rules for join-server-bound messages, agreements for the rest (`link`:
/// whether an XmitDataReq carries ULMetaData or DLMetaData; `explanation`: whether an
/// allowed message's reason is written out).
pub fn decide(
    policies: &PolicySet,
    message_type: &MessageType,
    sender: &MemberId,
    receiver: &MemberId,
    link: Option<Link>,
    at: OffsetDateTime,
    explanation: Explanation,
) -> Decision {
    if is_join_server_bound(message_type) {
        return policies.decide_activation(sender, receiver, at);
    }
    let mut query = RoamingQuery::new(message_type.as_str(), sender, receiver, at);
    if let Some(link) = link {
        query = query.with_link(link);
    }
    policies.decide_roaming(&query.with_explanation(explanation))
}

/// The member `message` from `sender` goes to.
pub fn destination<'d>(
    directory: &'d Directory,
    sender: &Member,
    message: &Message,
) -> Result<&'d Member, Refusal> {
    let header = message.header();
    let receiver = if is_join_server_bound(&header.message_type) {
        let join_eui: Eui64 = header.receiver_id.parse().map_err(|_| {
            Refusal::new(
                ResultCode::UnknownReceiver,
                format!(
                    "ReceiverID {:?} of a {} is not a JoinEUI",
                    header.receiver_id,
                    header.message_type.as_str()
                ),
            )
        })?;
        directory.join_server(join_eui).ok_or_else(|| {
            Refusal::new(
                ResultCode::UnknownReceiver,
                format!("no member serves JoinEUI {join_eui}"),
            )
        })?
    } else {
        let net_id = header.receiver_net_id().ok_or_else(|| {
            Refusal::new(
                ResultCode::UnknownReceiver,
                format!(
                    "ReceiverID {:?} of a {} is not a NetID",
                    header.receiver_id,
                    header.message_type.as_str()
                ),
            )
        })?;
        let nsid = header.receiver_nsid_eui();
        match directory.network_server(net_id, nsid, dev_addr_of(message)) {
            Receiver::One(member) => member,
            Receiver::Unknown => {
                let nsid = nsid.map(|n| format!(", NSID {n}")).unwrap_or_default();
                return Err(Refusal::new(
                    ResultCode::UnknownReceiver,
                    format!("no member is the network server of NetID {net_id}{nsid}"),
                ));
            }
            Receiver::Ambiguous => {
                return Err(Refusal::new(
                    ResultCode::UnknownReceiver,
                    format!(
                        "NetID {net_id} is shared by several members; without ReceiverNSID \
                         or a DevAddr the receiver is unknown"
                    ),
                ))
            }
        }
    };
    if receiver.id == sender.id {
        return Err(Refusal::new(
            ResultCode::UnknownReceiver,
            format!(
                "the receiver is the sender itself ({}): the hub never routes a message back",
                sender.id
            ),
        ));
    }
    Ok(receiver)
}

/// The DevAddr a message is about: its DevAddr field, else the DevAddr of its data frame.
pub fn dev_addr_of(message: &Message) -> Option<DevAddr> {
    let (field, phy) = match message {
        Message::PRStartReq(m) => (None, Some(&m.phy_payload)),
        Message::XmitDataReq(m) => (None, m.phy_payload.as_ref()),
        Message::HRStartReq(m) => (m.dev_addr, Some(&m.phy_payload)),
        _ => (None, None),
    };
    field.or_else(|| {
        let phy = PhyPayload::parse(phy?.as_bytes()).ok()?;
        match phy.frame() {
            Frame::Data(data) => Some(data.dev_addr()),
            _ => None,
        }
    })
}
