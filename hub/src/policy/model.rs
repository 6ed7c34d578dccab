//! The policy model: roaming agreements, activation rules, and what every TS002 message type
//! means to them (which roaming kind, whose device, uplink or downlink).
//!
//! Every type here is plain data. [`Agreement::problems`] and [`ActivationRule::problems`]
//! say what makes one unusable; `PolicySet` refuses to hold any that has a problem.

use std::collections::BTreeSet;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use backend::header::MessageType;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::members::MemberId;

/// A roaming kind of TS002 §12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoamingKind {
    /// Passive roaming: the visited network (fNS) forwards frames; the home network (sNS)
    /// keeps the session.
    Passive,
    /// Handover roaming: the visited network (sNS) takes over the session; the home network
    /// (hNS) keeps the device and its application traffic.
    Handover,
}

impl RoamingKind {
    /// Both kinds, in order.
    pub const ALL: [RoamingKind; 2] = [RoamingKind::Passive, RoamingKind::Handover];

    /// `passive` or `handover`, as in the files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passive => "passive",
            Self::Handover => "handover",
        }
    }

    /// The TS002 names of the visited and the home network in this kind.
    pub fn roles(self) -> (&'static str, &'static str) {
        match self {
            Self::Passive => ("fNS", "sNS"),
            Self::Handover => ("sNS", "hNS"),
        }
    }
}

impl fmt::Display for RoamingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A roaming direction, seen from one side of an agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// The partner's devices may be served by this side's network (this side is the
    /// visited network: fNS in passive roaming, sNS in handover roaming).
    #[serde(rename = "roam-in")]
    RoamIn,
    /// This side's devices may be served by the partner's network (this side is the home
    /// network: sNS in passive roaming, hNS in handover roaming).
    #[serde(rename = "roam-out")]
    RoamOut,
}

impl Direction {
    /// `roam-in` or `roam-out`, as in the files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RoamIn => "roam-in",
            Self::RoamOut => "roam-out",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one side of an agreement consents to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Consent {
    /// The partner's devices may roam in this side's network.
    pub roam_in: bool,
    /// This side's devices may roam in the partner's network.
    pub roam_out: bool,
}

impl Consent {
    /// Both directions.
    pub const BOTH: Consent = Consent {
        roam_in: true,
        roam_out: true,
    };

    /// Whether `direction` is consented to.
    pub fn allows(self, direction: Direction) -> bool {
        match direction {
            Direction::RoamIn => self.roam_in,
            Direction::RoamOut => self.roam_out,
        }
    }

    /// The directions consented to, in order (`roam-in` first).
    pub fn directions(self) -> Vec<Direction> {
        let mut out = Vec::new();
        if self.roam_in {
            out.push(Direction::RoamIn);
        }
        if self.roam_out {
            out.push(Direction::RoamOut);
        }
        out
    }
}

/// Which way the traffic of a message goes, relative to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Link {
    /// From the device: the message carries ULMetaData.
    Uplink,
    /// To the device: the message carries DLMetaData.
    Downlink,
}

impl Link {
    /// `uplink` or `downlink`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uplink => "uplink",
            Self::Downlink => "downlink",
        }
    }
}

/// Which of the two members of a message is the device's home network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home {
    /// The sender is home; the receiver is the visited network.
    Sender,
    /// The receiver is home; the sender is the visited network.
    Receiver,
}

/// The traffic a roaming message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traffic {
    /// An uplink frame, always.
    Uplink,
    /// No frame: session control (start notification, stop, profile).
    Control,
    /// An uplink or a downlink, said by its metadata (XmitDataReq).
    Either,
}

/// The requests and notifications between network servers that agreements judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RoamingMessage {
    /// fNS → sNS: starts passive roaming with an uplink (TS002 §12.2).
    PRStartReq,
    /// fNS → sNS (1.1): whether the Join-accept of a roaming join was transmitted.
    PRStartNotif,
    /// sNS → fNS: ends a passive-roaming session.
    PRStopReq,
    /// Frames between the two networks: uplink (ULMetaData) visited → home, downlink
    /// (DLMetaData) home → visited; in both roaming kinds.
    XmitDataReq,
    /// Visited → home (1.1): network geolocation of an uplink.
    XmitLocReq,
    /// sNS → hNS: starts handover roaming with a Rejoin-request (TS002 §12.3).
    HRStartReq,
    /// hNS → sNS: ends handover roaming.
    HRStopReq,
    /// Visited → home: the Device Profile and the roaming activation type of a device.
    ProfileReq,
}

impl RoamingMessage {
    /// Every roaming message, in order.
    pub const ALL: [RoamingMessage; 8] = [
        Self::PRStartReq,
        Self::PRStartNotif,
        Self::PRStopReq,
        Self::XmitDataReq,
        Self::XmitLocReq,
        Self::HRStartReq,
        Self::HRStopReq,
        Self::ProfileReq,
    ];

    /// The MessageType name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PRStartReq => "PRStartReq",
            Self::PRStartNotif => "PRStartNotif",
            Self::PRStopReq => "PRStopReq",
            Self::XmitDataReq => "XmitDataReq",
            Self::XmitLocReq => "XmitLocReq",
            Self::HRStartReq => "HRStartReq",
            Self::HRStopReq => "HRStopReq",
            Self::ProfileReq => "ProfileReq",
        }
    }

    /// The roaming kinds the message belongs to.
    pub fn kinds(self) -> &'static [RoamingKind] {
        match self {
            Self::PRStartReq | Self::PRStartNotif | Self::PRStopReq => &[RoamingKind::Passive],
            Self::HRStartReq | Self::HRStopReq => &[RoamingKind::Handover],
            Self::XmitDataReq | Self::XmitLocReq | Self::ProfileReq => &RoamingKind::ALL,
        }
    }

    /// Whether the message belongs to `kind`.
    pub fn is_of(self, kind: RoamingKind) -> bool {
        self.kinds().contains(&kind)
    }

    /// The traffic the message carries.
    pub fn traffic(self) -> Traffic {
        match self {
            Self::PRStartReq | Self::XmitLocReq | Self::HRStartReq => Traffic::Uplink,
            Self::PRStartNotif | Self::PRStopReq | Self::HRStopReq | Self::ProfileReq => {
                Traffic::Control
            }
            Self::XmitDataReq => Traffic::Either,
        }
    }

    /// Which member is the device's home network, for a message carrying `link` (the link
    /// matters only for XmitDataReq: an uplink goes home, a downlink comes from home).
    pub fn home(self, link: Link) -> Home {
        match self {
            Self::PRStartReq
            | Self::PRStartNotif
            | Self::XmitLocReq
            | Self::HRStartReq
            | Self::ProfileReq => Home::Receiver,
            Self::PRStopReq | Self::HRStopReq => Home::Sender,
            Self::XmitDataReq => match link {
                Link::Uplink => Home::Receiver,
                Link::Downlink => Home::Sender,
            },
        }
    }
}

impl fmt::Display for RoamingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RoamingMessage {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match MessageClass::of(text) {
            MessageClass::Roaming(message) => Ok(message),
            MessageClass::Activation => Err(format!(
                "{text} is an activation message (judged by activation rules, not agreements)"
            )),
            MessageClass::Answer => Err(format!(
                "{text} is an answer: answers follow their request; list the request"
            )),
            MessageClass::NotJudged => Err(format!("{text} is never judged by a policy")),
            MessageClass::Unknown => Err(format!("{text:?} is not a TS002 MessageType")),
        }
    }
}

/// What a MessageType is to the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageClass {
    /// A roaming request or notification between network servers: judged by agreements.
    Roaming(RoamingMessage),
    /// JoinReq, RejoinReq, HomeNSReq, AppSKeyReq: a member asks a join server; judged by
    /// activation rules (the sender in the `ns` place, the join server in the `js` place).
    Activation,
    /// An answer (`…Ans`): it follows its request, which was judged; never judged itself.
    Answer,
    /// ErrorNotif (1.1): reports a fault in a message already exchanged; never judged.
    NotJudged,
    /// Not a TS002 MessageType (exact spelling): refused.
    Unknown,
}

impl MessageClass {
    /// The class of a MessageType name (exact spelling, as on the wire).
    pub fn of(message_type: &str) -> Self {
        use MessageType as T;
        match MessageType::parse(message_type) {
            T::PRStartReq => Self::Roaming(RoamingMessage::PRStartReq),
            T::PRStartNotif => Self::Roaming(RoamingMessage::PRStartNotif),
            T::PRStopReq => Self::Roaming(RoamingMessage::PRStopReq),
            T::XmitDataReq => Self::Roaming(RoamingMessage::XmitDataReq),
            T::XmitLocReq => Self::Roaming(RoamingMessage::XmitLocReq),
            T::HRStartReq => Self::Roaming(RoamingMessage::HRStartReq),
            T::HRStopReq => Self::Roaming(RoamingMessage::HRStopReq),
            T::ProfileReq => Self::Roaming(RoamingMessage::ProfileReq),
            T::JoinReq | T::RejoinReq | T::HomeNSReq | T::AppSKeyReq => Self::Activation,
            T::JoinAns
            | T::RejoinAns
            | T::AppSKeyAns
            | T::PRStartAns
            | T::PRStopAns
            | T::HRStartAns
            | T::HRStopAns
            | T::HomeNSAns
            | T::ProfileAns
            | T::XmitDataAns
            | T::XmitLocAns => Self::Answer,
            T::ErrorNotif => Self::NotJudged,
            T::Unknown(_) => Self::Unknown,
        }
    }
}

/// When an agreement or a rule is in force: from `from` (inclusive) until `until`
/// (exclusive); an absent bound is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Validity {
    /// The first instant in force.
    pub from: Option<OffsetDateTime>,
    /// The first instant no longer in force.
    pub until: Option<OffsetDateTime>,
}

impl Validity {
    /// Always in force.
    pub const ALWAYS: Validity = Validity {
        from: None,
        until: None,
    };

    /// Whether `at` is in the period.
    pub fn contains(&self, at: OffsetDateTime) -> bool {
        self.from.is_none_or(|from| from <= at) && self.until.is_none_or(|until| at < until)
    }

    /// Whether two periods share an instant.
    pub fn overlaps(&self, other: &Validity) -> bool {
        let starts_before_other_ends = match (self.from, other.until) {
            (Some(from), Some(until)) => from < until,
            _ => true,
        };
        let other_starts_before_end = match (other.from, self.until) {
            (Some(from), Some(until)) => from < until,
            _ => true,
        };
        starts_before_other_ends && other_starts_before_end
    }

    /// Why `at` is outside the period, if it is: "expired at …" or "not in force before …".
    pub fn outside(&self, at: OffsetDateTime) -> Option<String> {
        if let Some(from) = self.from.filter(|from| at < *from) {
            return Some(format!("not in force before {}", rfc3339(from)));
        }
        if let Some(until) = self.until.filter(|until| *until <= at) {
            return Some(format!("expired at {}", rfc3339(until)));
        }
        None
    }

    fn problems(&self) -> Vec<String> {
        match (self.from, self.until) {
            (Some(from), Some(until)) if until <= from => vec![format!(
                "valid_until ({}) must be after valid_from ({})",
                rfc3339(until),
                rfc3339(from)
            )],
            _ => Vec::new(),
        }
    }
}

/// `instant` in RFC 3339 (the model's only time format on output).
pub fn rfc3339(instant: OffsetDateTime) -> String {
    instant
        .format(&Rfc3339)
        .unwrap_or_else(|_| instant.unix_timestamp().to_string())
}

/// A roaming agreement between two members (network servers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    /// Its id, unique among all agreements and activation rules.
    pub id: String,
    /// Free text for people (who signed it, a contract reference).
    pub description: Option<String>,
    /// The two members; the order carries no meaning.
    pub between: [MemberId; 2],
    /// The roaming kinds it covers (never empty).
    pub kinds: BTreeSet<RoamingKind>,
    /// What each member of `between` consents to, in the same order. A device of A may
    /// roam in B's network when A consents to roam-out and B to roam-in.
    pub consent: [Consent; 2],
    /// The message types it covers; `None`: every roaming message of its kinds.
    pub message_types: Option<BTreeSet<RoamingMessage>>,
    /// Whether uplinks may pass (PRStartReq, HRStartReq, XmitLocReq, uplink XmitDataReq).
    pub uplink: bool,
    /// Whether downlinks may pass (downlink XmitDataReq).
    pub downlink: bool,
    /// When it is in force.
    pub validity: Validity,
    /// Messages per second it allows (enforced by the hub's limiter, keyed by `id`).
    pub rate_limit: Option<NonZeroU32>,
}

impl Agreement {
    /// An agreement with the defaults of the file format: passive roaming, both directions
    /// for both members, every message type of passive roaming, uplink and downlink, always
    /// in force, no rate limit.
    pub fn new(id: impl Into<String>, a: MemberId, b: MemberId) -> Self {
        Self {
            id: id.into(),
            description: None,
            between: [a, b],
            kinds: BTreeSet::from([RoamingKind::Passive]),
            consent: [Consent::BOTH, Consent::BOTH],
            message_types: None,
            uplink: true,
            downlink: true,
            validity: Validity::ALWAYS,
            rate_limit: None,
        }
    }

    /// Whether it is between `x` and `y` (in either order).
    pub fn is_between(&self, x: &MemberId, y: &MemberId) -> bool {
        (&self.between[0] == x && &self.between[1] == y)
            || (&self.between[0] == y && &self.between[1] == x)
    }

    /// What `member` consents to (nothing if it is not a party).
    pub fn consent_of(&self, member: &MemberId) -> Consent {
        self.between
            .iter()
            .zip(self.consent)
            .find(|(party, _)| *party == member)
            .map(|(_, consent)| consent)
            .unwrap_or_default()
    }

    /// Whether it covers `message`: one of its kinds, and listed when it lists types.
    pub fn covers(&self, message: RoamingMessage) -> bool {
        let of_kind = self.kinds.iter().any(|kind| message.is_of(*kind));
        of_kind
            && self
                .message_types
                .as_ref()
                .is_none_or(|listed| listed.contains(&message))
    }

    /// The message types it covers, in order.
    pub fn covered(&self) -> Vec<RoamingMessage> {
        RoamingMessage::ALL
            .into_iter()
            .filter(|message| self.covers(*message))
            .collect()
    }

    /// What makes the agreement unusable; empty when it is sound.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        id_problems(&self.id, &mut problems);
        for member in &self.between {
            if member.0.trim().is_empty() {
                problems.push("between: a member id must not be empty".into());
            }
        }
        if self.between[0] == self.between[1] {
            problems.push(format!(
                "between: an agreement is between two different members, not {} and itself",
                self.between[0]
            ));
        }
        if self.kinds.is_empty() {
            problems.push("kinds: name at least one of \"passive\", \"handover\"".into());
        }
        if let Some(listed) = &self.message_types {
            if listed.is_empty() {
                problems.push(
                    "message_types: an empty list covers nothing (omit it for every type)".into(),
                );
            }
            for message in listed {
                if !self.kinds.iter().any(|kind| message.is_of(*kind)) {
                    let kinds: Vec<_> = message.kinds().iter().map(|k| k.as_str()).collect();
                    problems.push(format!(
                        "message_types: {message} is {} roaming, which kinds does not include",
                        kinds.join(" or ")
                    ));
                }
            }
        }
        problems.extend(self.validity.problems());
        problems
    }
}

/// Either a member or any member (`*`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberPattern {
    /// Any member: `*`.
    Any,
    /// This member.
    Member(MemberId),
}

impl MemberPattern {
    /// Whether `member` matches.
    pub fn matches(&self, member: &MemberId) -> bool {
        match self {
            Self::Any => true,
            Self::Member(id) => id == member,
        }
    }

    /// Whether it names a member (rather than `*`).
    pub fn is_specific(&self) -> bool {
        matches!(self, Self::Member(_))
    }
}

impl fmt::Display for MemberPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Member(id) => f.write_str(&id.0),
        }
    }
}

/// `*` or a member id.
impl FromStr for MemberPattern {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "*" => Ok(Self::Any),
            "" => Err("a member id or \"*\", not an empty string".into()),
            text if text.trim() != text => Err(format!("{text:?}: no spaces around a member id")),
            text => Ok(Self::Member(MemberId::from(text))),
        }
    }
}

/// Whether an activation rule lets a network server use a join server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// It may.
    Allow,
    /// It may not.
    Refuse,
}

/// An activation rule: whether network server(s) `ns` may use join server(s) `js` (JoinReq,
/// RejoinReq, HomeNSReq, AppSKeyReq). The most specific rule in force wins; at equal
/// specificity a refusal wins; with no rule, activation is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationRule {
    /// Its id, unique among all agreements and activation rules.
    pub id: String,
    /// Free text for people.
    pub description: Option<String>,
    /// The network server (the sender of the request), or any.
    pub ns: MemberPattern,
    /// The join server (the receiver), or any.
    pub js: MemberPattern,
    /// Allow or refuse.
    pub verdict: Verdict,
    /// When it is in force.
    pub validity: Validity,
}

impl ActivationRule {
    /// Whether it applies to `ns` using `js` (in force or not).
    pub fn matches(&self, ns: &MemberId, js: &MemberId) -> bool {
        self.ns.matches(ns) && self.js.matches(js)
    }

    /// Its specificity: 2 names both members, 1 one of them, 0 neither (`* → *`).
    pub fn specificity(&self) -> u8 {
        u8::from(self.ns.is_specific()) + u8::from(self.js.is_specific())
    }

    /// Whether it allows.
    pub fn allows(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    /// What makes the rule unusable; empty when it is sound.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        id_problems(&self.id, &mut problems);
        for (key, pattern) in [("ns", &self.ns), ("js", &self.js)] {
            if let MemberPattern::Member(id) = pattern {
                match id.0.parse::<MemberPattern>() {
                    Err(reason) => problems.push(format!("{key}: {reason}")),
                    Ok(MemberPattern::Any) => {
                        problems.push(format!("{key}: \"*\" is any member, not a member id"));
                    }
                    Ok(MemberPattern::Member(_)) => {}
                }
            }
        }
        problems.extend(self.validity.problems());
        problems
    }
}

fn id_problems(id: &str, problems: &mut Vec<String>) {
    if id.trim().is_empty() {
        problems.push("id must not be empty".into());
    } else if id.trim() != id || id.chars().any(char::is_control) {
        problems.push(format!(
            "id {id:?}: no spaces around it and no control characters"
        ));
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn every_message_type_has_a_class() {
        for message in RoamingMessage::ALL {
            assert_eq!(
                MessageClass::of(message.as_str()),
                MessageClass::Roaming(message)
            );
            assert_eq!(message.as_str().parse::<RoamingMessage>(), Ok(message));
        }
        for known in MessageType::KNOWN {
            let class = MessageClass::of(known.as_str());
            assert_ne!(class, MessageClass::Unknown, "{}", known.as_str());
            assert_eq!(class == MessageClass::Answer, known.is_answer());
        }
        assert_eq!(MessageClass::of("JoinReq"), MessageClass::Activation);
        assert_eq!(MessageClass::of("prstartreq"), MessageClass::Unknown);
        assert!("PRStartAns".parse::<RoamingMessage>().is_err());
        assert!("HomeNSReq".parse::<RoamingMessage>().is_err());
    }

    #[test]
    fn the_home_network_follows_the_message() {
        use RoamingMessage as M;
        assert_eq!(M::PRStartReq.home(Link::Uplink), Home::Receiver);
        assert_eq!(M::PRStopReq.home(Link::Uplink), Home::Sender);
        assert_eq!(M::XmitDataReq.home(Link::Downlink), Home::Sender);
        assert_eq!(M::XmitDataReq.home(Link::Uplink), Home::Receiver);
        assert_eq!(M::HRStartReq.home(Link::Uplink), Home::Receiver);
        assert_eq!(M::HRStopReq.home(Link::Uplink), Home::Sender);
    }

    #[test]
    fn validity_is_half_open() {
        let period = Validity {
            from: Some(datetime!(2026-01-01 0:00 UTC)),
            until: Some(datetime!(2027-01-01 0:00 UTC)),
        };
        assert!(period.contains(datetime!(2026-01-01 0:00 UTC)));
        assert!(period.contains(datetime!(2026-12-31 23:59:59 UTC)));
        assert!(!period.contains(datetime!(2027-01-01 0:00 UTC)));
        assert!(!period.contains(datetime!(2025-12-31 23:59:59 UTC)));
        assert_eq!(
            period.outside(datetime!(2027-03-01 0:00 UTC)).as_deref(),
            Some("expired at 2027-01-01T00:00:00Z")
        );
        let next = Validity {
            from: Some(datetime!(2027-01-01 0:00 UTC)),
            until: None,
        };
        assert!(!period.overlaps(&next));
        assert!(!next.overlaps(&period));
        assert!(Validity::ALWAYS.overlaps(&next));
        let inside = Validity {
            from: Some(datetime!(2026-06-01 0:00 UTC)),
            until: Some(datetime!(2026-07-01 0:00 UTC)),
        };
        assert!(period.overlaps(&inside) && inside.overlaps(&period));
    }

    #[test]
    fn an_agreement_says_what_is_wrong_with_it() {
        let mut agreement = Agreement::new("a-a", "op-a-ns".into(), "op-a-ns".into());
        agreement.message_types = Some(BTreeSet::from([RoamingMessage::HRStartReq]));
        agreement.validity = Validity {
            from: Some(datetime!(2026-01-01 0:00 UTC)),
            until: Some(datetime!(2025-01-01 0:00 UTC)),
        };
        let problems = agreement.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("itself"));
        assert!(problems[1].contains("HRStartReq is handover roaming"));
        assert!(problems[2].contains("must be after"));
        assert!(Agreement::new("a-b", "a".into(), "b".into())
            .problems()
            .is_empty());
    }

    #[test]
    fn patterns_and_specificity() {
        let rule = ActivationRule {
            id: "r".into(),
            description: None,
            ns: "*".parse().unwrap_or(MemberPattern::Any),
            js: "js-x".parse().unwrap_or(MemberPattern::Any),
            verdict: Verdict::Refuse,
            validity: Validity::ALWAYS,
        };
        assert_eq!(rule.specificity(), 1);
        assert!(rule.matches(&"anyone".into(), &"js-x".into()));
        assert!(!rule.matches(&"anyone".into(), &"js-y".into()));
        assert!("".parse::<MemberPattern>().is_err());
        assert!(" a".parse::<MemberPattern>().is_err());
    }
}
