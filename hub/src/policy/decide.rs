//! Decisions: whether the hub forwards a request or notification, which agreement or rule
//! decided, why (a sentence for the people on both sides), and, when refused, the TS002
//! ResultCode the hub answers with itself.
//!
//! The order, for [`PolicySet::decide_roaming`]:
//!
//! 1. **Class of the MessageType** ([`MessageClass`]). Answers and ErrorNotif are not judged
//!    (allowed: an answer follows its request, which was judged). JoinReq, RejoinReq,
//!    HomeNSReq and AppSKeyReq go to [`PolicySet::decide_activation`] with the sender as `ns`
//!    and the receiver as `js`. An unknown type is refused (NoRoamingAgreement). The rest
//!    are roaming messages, judged by agreements below.
//! 2. **Whose device.** The message says which member is the device's home network
//!    ([`RoamingMessage::home`]); the other is the visited network. XmitDataReq needs its link
//!    (ULMetaData: uplink, visited → home; DLMetaData: downlink, home → visited); without
//!    one it is judged as both and allowed only if both are.
//! 3. **An agreement between the two members**, else NoRoamingAgreement.
//! 4. **In force at the instant** (at most one is), else NoRoamingAgreement naming the one
//!    that expired most recently (or starts soonest).
//! 5. **The kind and the message type** are covered, else NoRoamingAgreement.
//! 6. **The direction**: the home member consents to roam-out and the visited member to
//!    roam-in, else RoamingActDisallowed.
//! 7. **The link**: an uplink needs `uplink`, a downlink `downlink`, else
//!    RoamingActDisallowed. Control messages (PRStartNotif, PRStopReq, HRStopReq,
//!    ProfileReq) carry no frame and pass this step.
//! 8. Allowed, by that agreement.
//!
//! [`PolicySet::decide_activation`]: the activation rules in force that match (ns, js); the
//! most specific wins (both named > one named > `* → *`); at equal specificity a refusal
//! wins; no rule: refused (ActivationDisallowed).
//!
//! DevRoamingDisallowed is not produced here: it is for a per-device rule, which this model
//! does not have (the home network server refuses its own devices).

use backend::result::ResultCode;
use serde::Serialize;
use time::OffsetDateTime;

use super::model::{rfc3339, Agreement, Home, Link, MessageClass, RoamingMessage, Traffic};
use super::PolicySet;
use crate::members::MemberId;

/// The ResultCode for: no agreement, none in force, or the kind or type not covered.
pub const NO_ROAMING_AGREEMENT: &str = "NoRoamingAgreement";
/// The ResultCode for: the agreement does not allow this direction or link.
pub const ROAMING_ACT_DISALLOWED: &str = "RoamingActDisallowed";
/// The ResultCode for: no activation rule allows, or one refuses.
pub const ACTIVATION_DISALLOWED: &str = "ActivationDisallowed";

/// A message to judge: who sends what to whom, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoamingQuery<'a> {
    /// The TS002 MessageType, exact spelling.
    pub message_type: &'a str,
    /// The sending member.
    pub sender: &'a MemberId,
    /// The receiving member (found by routing).
    pub receiver: &'a MemberId,
    /// The instant of the decision.
    pub at: OffsetDateTime,
    /// For XmitDataReq: uplink when it carries ULMetaData, downlink when DLMetaData. Other
    /// messages have a fixed link and ignore it.
    pub link: Option<Link>,
    /// How much of the decision to write out.
    pub explanation: Explanation,
}

/// How much of a decision is written out in its `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Explanation {
    /// Every decision says why (the API's explain).
    Full,
    /// Only refusals say why; an allowed roaming message's reason is empty. Routing asks
    /// this way: it reports only refusals, and the sentence is work on every message.
    RefusalsOnly,
}

impl<'a> RoamingQuery<'a> {
    /// A query without a link.
    pub fn new(
        message_type: &'a str,
        sender: &'a MemberId,
        receiver: &'a MemberId,
        at: OffsetDateTime,
    ) -> Self {
        Self {
            message_type,
            sender,
            receiver,
            at,
            link: None,
            explanation: Explanation::Full,
        }
    }

    /// The same query, writing out `explanation`.
    pub fn with_explanation(self, explanation: Explanation) -> Self {
        Self {
            explanation,
            ..self
        }
    }

    /// The same query with a link (XmitDataReq).
    pub fn with_link(self, link: Link) -> Self {
        Self {
            link: Some(link),
            ..self
        }
    }
}

/// A decision and its explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the message may pass.
    pub allowed: bool,
    /// The id of the agreement or activation rule that decided; `None` when none did (no
    /// agreement, no rule, a message that is not judged).
    pub rule: Option<String>,
    /// Why, in a sentence; empty for an allowed message whose query did not ask for it
    /// ([`Explanation::RefusalsOnly`]).
    pub reason: String,
    /// When refused: the ResultCode of the hub's answer (`NoRoamingAgreement`,
    /// `RoamingActDisallowed`, `ActivationDisallowed`); `None` when allowed.
    pub result_code: Option<&'static str>,
}

impl Decision {
    fn allow(rule: Option<&str>, reason: String) -> Self {
        Self {
            allowed: true,
            rule: rule.map(str::to_owned),
            reason,
            result_code: None,
        }
    }

    fn refuse(code: &'static str, rule: Option<&str>, reason: String) -> Self {
        Self {
            allowed: false,
            rule: rule.map(str::to_owned),
            reason,
            result_code: Some(code),
        }
    }

    /// The ResultCode as the wire model's type, when refused.
    pub fn code(&self) -> Option<ResultCode> {
        self.result_code.map(ResultCode::parse)
    }
}

impl PolicySet {
    /// Judges a request or notification from one member to another (see the module
    /// documentation for the order). Deterministic: the same set and query give the same
    /// decision.
    pub fn decide_roaming(&self, query: &RoamingQuery<'_>) -> Decision {
        let name = query.message_type;
        match MessageClass::of(name) {
            MessageClass::Answer => Decision::allow(
                None,
                format!("{name} is an answer: it follows its request, which was judged, and is not judged itself"),
            ),
            MessageClass::NotJudged => Decision::allow(
                None,
                format!("{name} reports a fault in a message already exchanged and is not judged"),
            ),
            MessageClass::Unknown => Decision::refuse(
                NO_ROAMING_AGREEMENT,
                None,
                format!("{name:?} is not a TS002 MessageType, so no agreement covers it"),
            ),
            MessageClass::Activation => {
                let mut decision = self.decide_activation(query.sender, query.receiver, query.at);
                decision.reason = format!(
                    "{name} is an activation request, judged by activation rules: {}",
                    decision.reason
                );
                decision
            }
            MessageClass::Roaming(message) => match (message.traffic(), query.link) {
                (Traffic::Uplink, _) => self.judge(message, query, Some(Link::Uplink)),
                (Traffic::Control, _) => self.judge(message, query, None),
                (Traffic::Either, Some(link)) => self.judge(message, query, Some(link)),
                (Traffic::Either, None) => self.judge_both_links(message, query),
            },
        }
    }

    /// Judges whether network server `ns` may use join server `js` at `at`.
    pub fn decide_activation(&self, ns: &MemberId, js: &MemberId, at: OffsetDateTime) -> Decision {
        let matching: Vec<_> = self
            .activation_rules()
            .iter()
            .filter(|rule| rule.matches(ns, js))
            .collect();
        let in_force: Vec<_> = matching
            .iter()
            .copied()
            .filter(|rule| rule.validity.contains(at))
            .collect();
        let Some(top) = in_force.iter().map(|rule| rule.specificity()).max() else {
            let note = matching
                .iter()
                .find_map(|rule| {
                    rule.validity
                        .outside(at)
                        .map(|why| format!(" (rule {} would apply but is {why})", rule.id))
                })
                .unwrap_or_default();
            return Decision::refuse(
                ACTIVATION_DISALLOWED,
                None,
                format!("no activation rule lets {ns} use {js}{note}; activation is refused unless a rule allows it"),
            );
        };
        // At equal specificity a refusal wins; between the two one-sided rules, the one
        // naming the network server is reported first.
        let best = in_force
            .iter()
            .copied()
            .filter(|rule| rule.specificity() == top)
            .min_by_key(|rule| (rule.allows(), !rule.ns.is_specific()));
        let Some(chosen) = best else {
            return Decision::refuse(
                ACTIVATION_DISALLOWED,
                None,
                format!("no activation rule lets {ns} use {js}"),
            );
        };
        let mut disagreeing: Vec<_> = in_force
            .iter()
            .filter(|rule| rule.allows() != chosen.allows())
            .collect();
        disagreeing.sort_by_key(|rule| std::cmp::Reverse(rule.specificity()));
        let overridden: Vec<String> = disagreeing
            .into_iter()
            .map(|rule| {
                if rule.specificity() < top {
                    format!("rule {} (less specific)", rule.id)
                } else {
                    format!("rule {} (a refusal wins at equal specificity)", rule.id)
                }
            })
            .collect();
        let overrides = if overridden.is_empty() {
            String::new()
        } else {
            format!("; it overrides {}", overridden.join(", "))
        };
        let what = format!(
            "activation rule {} (ns = {}, js = {})",
            chosen.id, chosen.ns, chosen.js
        );
        if chosen.allows() {
            Decision::allow(
                Some(&chosen.id),
                format!("{what} allows {ns} to use {js}{overrides}"),
            )
        } else {
            Decision::refuse(
                ACTIVATION_DISALLOWED,
                Some(&chosen.id),
                format!("{what} refuses {ns} the use of {js}{overrides}"),
            )
        }
    }

    /// XmitDataReq without metadata: allowed only if allowed both as an uplink and as a
    /// downlink (the two readings concern different devices' home networks).
    fn judge_both_links(&self, message: RoamingMessage, query: &RoamingQuery<'_>) -> Decision {
        let prefix = || {
            format!("{message} without ULMetaData or DLMetaData is judged both as an uplink and as a downlink")
        };
        let up = self.judge(message, query, Some(Link::Uplink));
        let down = self.judge(message, query, Some(Link::Downlink));
        for (decision, link) in [(&up, Link::Uplink), (&down, Link::Downlink)] {
            if !decision.allowed {
                let mut refused = decision.clone();
                refused.reason = format!(
                    "{}; as {} {}: {}",
                    prefix(),
                    if link == Link::Uplink { "an" } else { "a" },
                    link.as_str(),
                    decision.reason
                );
                return refused;
            }
        }
        if query.explanation == Explanation::RefusalsOnly {
            return up;
        }
        Decision {
            reason: format!(
                "{}; as an uplink: {}; as a downlink: {}",
                prefix(),
                up.reason,
                down.reason
            ),
            ..up
        }
    }

    /// Steps 3 to 8 for one reading of the message (`link`: `None` for control messages).
    fn judge(
        &self,
        message: RoamingMessage,
        query: &RoamingQuery<'_>,
        link: Option<Link>,
    ) -> Decision {
        let (sender, receiver, at) = (query.sender, query.receiver, query.at);
        let (home, visited) = match message.home(link.unwrap_or(Link::Uplink)) {
            Home::Sender => (sender, receiver),
            Home::Receiver => (receiver, sender),
        };
        let all: Vec<&Agreement> = self.agreements_between(sender, receiver).collect();
        if all.is_empty() {
            return Decision::refuse(
                NO_ROAMING_AGREEMENT,
                None,
                format!("no agreement between {sender} and {receiver}, so {message} from {sender} to {receiver} is refused"),
            );
        }
        let Some(agreement) = all.iter().copied().find(|a| a.validity.contains(at)) else {
            let expired = all
                .iter()
                .filter(|a| a.validity.until.is_some_and(|until| until <= at))
                .max_by_key(|a| a.validity.until);
            let upcoming = all
                .iter()
                .filter(|a| a.validity.from.is_some_and(|from| at < from))
                .min_by_key(|a| a.validity.from);
            let nearest = expired.or(upcoming).copied();
            let (id, why) = match nearest {
                Some(a) => (
                    Some(a.id.as_str()),
                    format!(
                        ": agreement {} is {}",
                        a.id,
                        a.validity.outside(at).unwrap_or_default()
                    ),
                ),
                None => (None, String::new()),
            };
            return Decision::refuse(
                NO_ROAMING_AGREEMENT,
                id,
                format!(
                    "no agreement between {sender} and {receiver} is in force at {}{why}",
                    rfc3339(at)
                ),
            );
        };
        let id = Some(agreement.id.as_str());
        let a_id = &agreement.id;

        let kinds: Vec<_> = message
            .kinds()
            .iter()
            .copied()
            .filter(|kind| agreement.kinds.contains(kind))
            .collect();
        if kinds.is_empty() {
            let has: Vec<_> = agreement.kinds.iter().map(|k| k.as_str()).collect();
            let needs: Vec<_> = message.kinds().iter().map(|k| k.as_str()).collect();
            return Decision::refuse(
                NO_ROAMING_AGREEMENT,
                id,
                format!(
                    "agreement {a_id} covers {} roaming only, and {message} is {} roaming",
                    has.join(" and "),
                    needs.join(" or ")
                ),
            );
        }
        if !agreement.covers(message) {
            let covered: Vec<_> = agreement.covered().iter().map(|m| m.as_str()).collect();
            return Decision::refuse(
                NO_ROAMING_AGREEMENT,
                id,
                format!(
                    "agreement {a_id} does not cover {message} (it covers {})",
                    covered.join(", ")
                ),
            );
        }

        let out = agreement.consent_of(home).roam_out;
        let into = agreement.consent_of(visited).roam_in;
        let flow = || format!("a device of {home} roaming in {visited}'s network");
        if !(out && into) {
            let mut missing = Vec::new();
            if !out {
                missing.push(format!("{home} does not allow roam-out"));
            }
            if !into {
                missing.push(format!("{visited} does not allow roam-in"));
            }
            return Decision::refuse(
                ROAMING_ACT_DISALLOWED,
                id,
                format!(
                    "agreement {a_id} does not let devices of {home} roam in {visited}'s network ({message} from {sender} to {receiver} concerns {}): {}",
                    flow(),
                    missing.join(" and ")
                ),
            );
        }

        let link_allowed = match link {
            Some(Link::Uplink) => agreement.uplink,
            Some(Link::Downlink) => agreement.downlink,
            None => true,
        };
        if let (false, Some(link)) = (link_allowed, link) {
            return Decision::refuse(
                ROAMING_ACT_DISALLOWED,
                id,
                format!(
                    "agreement {a_id} allows no {}s, and {message} from {sender} to {receiver} carries one",
                    link.as_str()
                ),
            );
        }

        if query.explanation == Explanation::RefusalsOnly {
            return Decision::allow(id, String::new());
        }
        let (kind_text, visited_role, home_role) = match kinds.as_slice() {
            [kind] => {
                let (v, h) = kind.roles();
                (format!("{kind} roaming"), v, h)
            }
            _ => (
                "passive or handover roaming".to_owned(),
                "visited network",
                "home network",
            ),
        };
        let carried = match link {
            Some(link) => link.as_str(),
            None => "session control",
        };
        let role = |member: &MemberId| {
            if member == home {
                home_role
            } else {
                visited_role
            }
        };
        Decision::allow(
            id,
            format!(
                "agreement {a_id} allows {message} from {sender} ({}) to {receiver} ({}): {kind_text} {carried} for {}, roam-out for {home} and roam-in for {visited}",
                role(sender),
                role(receiver),
                flow(),
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use time::macros::datetime;

    use super::*;

    const POLICY: &str = r#"
        [[agreement]]
        id = "a/b"
        between = ["op-a-ns", "op-b-ns"]
        directions = { op-a-ns = ["roam-out"], op-b-ns = ["roam-in"] }
        valid_from = 2026-01-01

        [[agreement]]
        id = "b/c"
        between = ["op-b-ns", "op-c-ns"]
        kinds = ["passive", "handover"]
        downlink = false
        valid_until = 2026-06-30

        [[activation]]
        id = "open"
        ns = "*"
        js = "*"
        allow = true

        [[activation]]
        id = "a-js-closed"
        ns = "*"
        js = "op-a-js"
        allow = false

        [[activation]]
        id = "a-uses-own"
        ns = "op-a-ns"
        js = "op-a-js"
        allow = true

        [[activation]]
        id = "c-no-foreign"
        ns = "op-c-ns"
        js = "*"
        allow = false

        [[activation]]
        id = "x-js-public"
        ns = "*"
        js = "op-x-js"
        allow = true
    "#;

    const AT: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

    fn set() -> PolicySet {
        match PolicySet::from_toml_str(POLICY, Some(Path::new("test.toml"))) {
            Ok(set) => set,
            Err(errors) => panic!("{errors:#?}"),
        }
    }

    fn roaming(message_type: &str, sender: &str, receiver: &str) -> Decision {
        let (sender, receiver) = (MemberId::from(sender), MemberId::from(receiver));
        set().decide_roaming(&RoamingQuery::new(message_type, &sender, &receiver, AT))
    }

    #[test]
    fn roam_out_for_one_side_only() {
        let allowed = roaming("PRStartReq", "op-b-ns", "op-a-ns");
        assert!(allowed.allowed, "{allowed:?}");
        assert_eq!(allowed.rule.as_deref(), Some("a/b"));
        assert_eq!(
            allowed.reason,
            "agreement a/b allows PRStartReq from op-b-ns (fNS) to op-a-ns (sNS): passive roaming uplink for a device of op-a-ns roaming in op-b-ns's network, roam-out for op-a-ns and roam-in for op-b-ns"
        );
        let refused = roaming("PRStartReq", "op-a-ns", "op-b-ns");
        assert_eq!(refused.result_code, Some(ROAMING_ACT_DISALLOWED));
        assert_eq!(refused.rule.as_deref(), Some("a/b"));
        assert!(refused
            .reason
            .ends_with("op-b-ns does not allow roam-out and op-a-ns does not allow roam-in"));
        // The stop comes from the home network: same flow as the start.
        assert!(roaming("PRStopReq", "op-a-ns", "op-b-ns").allowed);
        assert!(!roaming("PRStopReq", "op-b-ns", "op-a-ns").allowed);
    }

    #[test]
    fn xmit_data_follows_its_link() {
        let (a, b) = (MemberId::from("op-a-ns"), MemberId::from("op-b-ns"));
        let set = set();
        let query = RoamingQuery::new("XmitDataReq", &a, &b, AT);
        // a (home) → b (visited): a downlink for a's device.
        assert!(set.decide_roaming(&query.with_link(Link::Downlink)).allowed);
        // a → b as an uplink would be a device of b in a's network: not agreed.
        let up = set.decide_roaming(&query.with_link(Link::Uplink));
        assert_eq!(up.result_code, Some(ROAMING_ACT_DISALLOWED));
        let unknown = set.decide_roaming(&query);
        assert!(!unknown.allowed);
        assert!(unknown.reason.starts_with("XmitDataReq without ULMetaData"));
        // b/c allows both directions but no downlinks.
        let (c, b) = (MemberId::from("op-c-ns"), MemberId::from("op-b-ns"));
        let down = RoamingQuery::new("XmitDataReq", &c, &b, AT).with_link(Link::Downlink);
        let down = set.decide_roaming(&down);
        assert_eq!(down.result_code, Some(ROAMING_ACT_DISALLOWED));
        assert!(down.reason.contains("allows no downlinks"), "{down:?}");
    }

    #[test]
    fn kinds_types_and_time() {
        let refused = roaming("HRStartReq", "op-b-ns", "op-a-ns");
        assert_eq!(refused.result_code, Some(NO_ROAMING_AGREEMENT));
        assert_eq!(
            refused.reason,
            "agreement a/b covers passive roaming only, and HRStartReq is handover roaming"
        );
        let handover = roaming("HRStartReq", "op-b-ns", "op-c-ns");
        assert!(handover.allowed, "{handover:?}");
        assert!(handover.reason.contains("op-b-ns (sNS) to op-c-ns (hNS)"));
        let none = roaming("PRStartReq", "op-a-ns", "op-c-ns");
        assert_eq!(none.rule, None);
        assert_eq!(
            none.reason,
            "no agreement between op-a-ns and op-c-ns, so PRStartReq from op-a-ns to op-c-ns is refused"
        );
        let (b, c) = (MemberId::from("op-b-ns"), MemberId::from("op-c-ns"));
        let later = datetime!(2026-07-01 0:00 UTC);
        let expired = set().decide_roaming(&RoamingQuery::new("PRStartReq", &b, &c, later));
        assert_eq!(expired.rule.as_deref(), Some("b/c"));
        assert_eq!(
            expired.reason,
            "no agreement between op-b-ns and op-c-ns is in force at 2026-07-01T00:00:00Z: agreement b/c is expired at 2026-07-01T00:00:00Z"
        );
    }

    #[test]
    fn messages_that_are_not_judged_or_unknown() {
        assert!(roaming("PRStartAns", "op-a-ns", "op-c-ns").allowed);
        assert!(roaming("ErrorNotif", "op-a-ns", "op-c-ns").allowed);
        let unknown = roaming("PRStartReqq", "op-b-ns", "op-a-ns");
        assert_eq!(unknown.result_code, Some(NO_ROAMING_AGREEMENT));
        let join = roaming("JoinReq", "op-b-ns", "op-a-js");
        assert_eq!(join.result_code, Some(ACTIVATION_DISALLOWED));
        assert!(join.reason.starts_with("JoinReq is an activation request"));
    }

    #[test]
    fn the_most_specific_activation_rule_wins() {
        let decide = |ns: &str, js: &str| set().decide_activation(&ns.into(), &js.into(), AT);
        let own = decide("op-a-ns", "op-a-js");
        assert!(own.allowed);
        assert_eq!(own.rule.as_deref(), Some("a-uses-own"));
        assert_eq!(
            own.reason,
            "activation rule a-uses-own (ns = op-a-ns, js = op-a-js) allows op-a-ns to use op-a-js; it overrides rule a-js-closed (less specific)"
        );
        let closed = decide("op-b-ns", "op-a-js");
        assert_eq!(closed.rule.as_deref(), Some("a-js-closed"));
        assert_eq!(closed.result_code, Some(ACTIVATION_DISALLOWED));
        let tie = decide("op-c-ns", "op-x-js");
        assert_eq!(tie.rule.as_deref(), Some("c-no-foreign"));
        assert!(tie
            .reason
            .ends_with("it overrides rule x-js-public (a refusal wins at equal specificity), rule open (less specific)"));
        assert_eq!(decide("op-b-ns", "op-b-js").rule.as_deref(), Some("open"));
        let nothing = PolicySet::empty().decide_activation(&"n".into(), &"j".into(), AT);
        assert_eq!(nothing.result_code, Some(ACTIVATION_DISALLOWED));
        assert_eq!(nothing.rule, None);
    }

    #[test]
    fn result_codes_are_the_wire_model_s() {
        for code in [
            NO_ROAMING_AGREEMENT,
            ROAMING_ACT_DISALLOWED,
            ACTIVATION_DISALLOWED,
        ] {
            assert!(
                ResultCode::KNOWN.contains(&ResultCode::parse(code)),
                "{code}"
            );
        }
        assert_eq!(
            roaming("PRStartReq", "x", "y").code(),
            Some(ResultCode::NoRoamingAgreement)
        );
    }
}
