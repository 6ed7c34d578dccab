//! Policies: the shipped examples decide as documented (a table of queries), decisions are
//! deterministic and always explained (property test), and loading is all or nothing with
//! every problem named by file, entry and reason.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use backend::header::MessageType;
use backend::result::ResultCode;
use hub::members::MemberId;
use hub::policy::{
    ActivationRule, Agreement, Consent, Explanation, Link, MemberPattern, PolicySet, RoamingKind,
    RoamingMessage, RoamingQuery, Validity, Verdict,
};
use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

fn examples() -> PolicySet {
    match PolicySet::load_dir(policies_dir().join("examples")) {
        Ok(set) => set,
        Err(errors) => panic!("the examples do not load: {errors:#?}"),
    }
}

const SPRING_2026: OffsetDateTime = datetime!(2026-05-01 12:00 UTC);

struct Case {
    message_type: &'static str,
    sender: &'static str,
    receiver: &'static str,
    link: Option<Link>,
    at: OffsetDateTime,
    allowed: bool,
    rule: Option<&'static str>,
    code: Option<&'static str>,
}

const fn case(
    message_type: &'static str,
    sender: &'static str,
    receiver: &'static str,
    allowed: bool,
    rule: Option<&'static str>,
    code: Option<&'static str>,
) -> Case {
    Case {
        message_type,
        sender,
        receiver,
        link: None,
        at: SPRING_2026,
        allowed,
        rule,
        code,
    }
}

impl Case {
    const fn link(self, link: Link) -> Self {
        Case {
            link: Some(link),
            ..self
        }
    }
    const fn at(self, at: OffsetDateTime) -> Self {
        Case { at, ..self }
    }
}

const NRA: Option<&str> = Some("NoRoamingAgreement");
const RAD: Option<&str> = Some("RoamingActDisallowed");
const AD: Option<&str> = Some("ActivationDisallowed");

#[test]
fn the_examples_decide_as_documented() {
    use Link::{Downlink, Uplink};
    let ab = Some("op-a/op-b");
    let cases = [
        // A roams out into B: B (fNS) starts passive roaming for A's device (A is the sNS).
        case("PRStartReq", "op-b-ns", "op-a-ns", true, ab, None),
        // B's devices may not roam in A's network.
        case("PRStartReq", "op-a-ns", "op-b-ns", false, ab, RAD),
        case("XmitDataReq", "op-a-ns", "op-b-ns", true, ab, None).link(Downlink),
        case("XmitDataReq", "op-b-ns", "op-a-ns", true, ab, None).link(Uplink),
        case("XmitDataReq", "op-b-ns", "op-a-ns", false, ab, RAD).link(Downlink),
        case("PRStopReq", "op-a-ns", "op-b-ns", true, ab, None),
        case("ProfileReq", "op-b-ns", "op-a-ns", true, ab, None),
        // Passive only.
        case("HRStartReq", "op-b-ns", "op-a-ns", false, ab, NRA),
        // Not yet in force.
        case("PRStartReq", "op-b-ns", "op-a-ns", false, ab, NRA)
            .at(datetime!(2025-12-31 23:59 UTC)),
        // A and C: the 2025 agreement expired, the renewal starts in July.
        case(
            "PRStartReq",
            "op-c-ns",
            "op-a-ns",
            false,
            Some("op-a/op-c-2025"),
            NRA,
        ),
        case(
            "PRStartReq",
            "op-c-ns",
            "op-a-ns",
            true,
            Some("op-a/op-c-2025"),
            None,
        )
        .at(datetime!(2025-06-01 0:00 UTC)),
        case(
            "PRStartReq",
            "op-a-ns",
            "op-c-ns",
            true,
            Some("op-a/op-c-2025"),
            None,
        )
        .at(datetime!(2025-12-31 23:59:59 UTC)),
        case(
            "PRStartReq",
            "op-c-ns",
            "op-a-ns",
            true,
            Some("op-a/op-c-2026"),
            None,
        )
        .at(datetime!(2026-07-01 0:00 UTC)),
        case(
            "XmitLocReq",
            "op-c-ns",
            "op-a-ns",
            false,
            Some("op-a/op-c-2026"),
            NRA,
        )
        .at(datetime!(2026-08-01 0:00 UTC)),
        case(
            "PRStartReq",
            "op-c-ns",
            "op-a-ns",
            false,
            Some("op-a/op-c-2025"),
            NRA,
        )
        .at(datetime!(2024-01-01 0:00 UTC)),
        // B and C: handover too, uplinks only.
        case(
            "HRStartReq",
            "op-b-ns",
            "op-c-ns",
            true,
            Some("op-b/op-c"),
            None,
        ),
        case(
            "HRStopReq",
            "op-c-ns",
            "op-b-ns",
            true,
            Some("op-b/op-c"),
            None,
        ),
        case(
            "XmitDataReq",
            "op-c-ns",
            "op-b-ns",
            true,
            Some("op-b/op-c"),
            None,
        )
        .link(Uplink),
        case(
            "XmitDataReq",
            "op-c-ns",
            "op-b-ns",
            false,
            Some("op-b/op-c"),
            RAD,
        )
        .link(Downlink),
        case(
            "XmitDataReq",
            "op-c-ns",
            "op-b-ns",
            false,
            Some("op-b/op-c"),
            RAD,
        ),
        // Nobody agreed with op-x.
        case("PRStartReq", "op-a-ns", "op-x-ns", false, None, NRA),
        case("PRStartReq", "op-a-ns", "op-a-ns", false, None, NRA),
        case("NotAType", "op-b-ns", "op-a-ns", false, None, NRA),
        // Answers and ErrorNotif are not judged.
        case("PRStartAns", "op-a-ns", "op-x-ns", true, None, None),
        case("JoinAns", "op-x-js", "op-c-ns", true, None, None),
        case("ErrorNotif", "op-a-ns", "op-x-ns", true, None, None),
        // Activation.
        case(
            "JoinReq",
            "op-a-ns",
            "op-a-js",
            true,
            Some("op-a-js-own"),
            None,
        ),
        case(
            "JoinReq",
            "op-b-ns",
            "op-a-js",
            false,
            Some("op-a-js-closed"),
            AD,
        ),
        case(
            "HomeNSReq",
            "op-b-ns",
            "op-a-js",
            false,
            Some("op-a-js-closed"),
            AD,
        ),
        case(
            "JoinReq",
            "op-b-ns",
            "op-x-js",
            true,
            Some("op-x-js-public"),
            None,
        ),
        case(
            "RejoinReq",
            "op-c-ns",
            "op-x-js",
            false,
            Some("op-c-no-foreign-js"),
            AD,
        ),
        case(
            "JoinReq",
            "op-c-ns",
            "op-c-js",
            true,
            Some("op-c-js-own"),
            None,
        ),
        case("JoinReq", "op-b-ns", "op-c-js", false, None, AD),
        case(
            "AppSKeyReq",
            "op-a-ns",
            "op-b-js",
            true,
            Some("op-b-js-trial-for-a"),
            None,
        )
        .at(datetime!(2026-03-31 23:00 UTC)),
        case("JoinReq", "op-a-ns", "op-b-js", false, None, AD),
    ];
    let set = examples();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let (sender, receiver) = (MemberId::from(case.sender), MemberId::from(case.receiver));
        let query = RoamingQuery {
            message_type: case.message_type,
            sender: &sender,
            receiver: &receiver,
            at: case.at,
            link: case.link,
            explanation: Explanation::Full,
        };
        let decision = set.decide_roaming(&query);
        let got = (
            decision.allowed,
            decision.rule.as_deref(),
            decision.result_code,
        );
        if got != (case.allowed, case.rule, case.code) || decision.reason.is_empty() {
            failures.push(format!(
                "case {i}: {} {} → {}: expected {:?}, got {got:?}: {}",
                case.message_type,
                case.sender,
                case.receiver,
                (case.allowed, case.rule, case.code),
                decision.reason
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_examples_explain_themselves() {
    let set = examples();
    let (a, b, c) = (
        MemberId::from("op-a-ns"),
        MemberId::from("op-b-ns"),
        MemberId::from("op-c-ns"),
    );
    let refused = set.decide_roaming(&RoamingQuery::new("PRStartReq", &a, &b, SPRING_2026));
    assert_eq!(
        refused.reason,
        "agreement op-a/op-b does not let devices of op-b-ns roam in op-a-ns's network (PRStartReq from op-a-ns to op-b-ns concerns a device of op-b-ns roaming in op-a-ns's network): op-b-ns does not allow roam-out and op-a-ns does not allow roam-in"
    );
    let expired = set.decide_roaming(&RoamingQuery::new("PRStartReq", &c, &a, SPRING_2026));
    assert_eq!(
        expired.reason,
        "no agreement between op-c-ns and op-a-ns is in force at 2026-05-01T12:00:00Z: agreement op-a/op-c-2025 is expired at 2026-01-01T00:00:00Z"
    );
    let tie = set.decide_activation(&c, &"op-x-js".into(), SPRING_2026);
    assert_eq!(
        tie.reason,
        "activation rule op-c-no-foreign-js (ns = op-c-ns, js = *) refuses op-c-ns the use of op-x-js; it overrides rule op-x-js-public (a refusal wins at equal specificity)"
    );
    assert_eq!(
        set.agreement("op-a/op-b")
            .and_then(|a| a.rate_limit)
            .map(|r| r.get()),
        Some(50)
    );
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    assert_eq!(set.members().len(), 7);
}

#[test]
fn the_policy_directory_itself_does_not_load_the_examples() {
    let set = match PolicySet::load_dir(policies_dir()) {
        Ok(set) => set,
        Err(errors) => panic!("{errors:#?}"),
    };
    assert!(set.agreements().is_empty() && set.activation_rules().is_empty());
}

fn write(dir: &Path, name: &str, text: &str) {
    if let Err(e) = std::fs::write(dir.join(name), text) {
        panic!("write {name}: {e}");
    }
}

fn load_errors(dir: &Path) -> Vec<String> {
    match PolicySet::load_dir(dir) {
        Ok(set) => panic!("loaded, expected errors: {set:?}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn every_loading_error_names_its_file_and_entry() {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("no temporary directory");
    };
    let dir = dir.path();
    let good = "[[agreement]]\nid = \"a/b\"\nbetween = [\"a\", \"b\"]\n";
    write(dir, "10-good.toml", good);
    write(dir, "20-bad-toml.toml", "[[agreement]\nid = \"x\"\n");
    write(
        dir,
        "30-unknown-key.toml",
        "[[agreement]]\nid = \"typo\"\nbetween = [\"a\", \"c\"]\nvaild_until = 2026-01-01\n",
    );
    write(
        dir,
        "40-duplicate.toml",
        "[[activation]]\nid = \"a/b\"\nns = \"*\"\njs = \"*\"\nallow = true\n",
    );
    write(
        dir,
        "50-dates.toml",
        "[[agreement]]\nid = \"dates\"\nbetween = [\"a\", \"d\"]\nvalid_from = \"2026-02-30\"\nvalid_until = \"tomorrow\"\n",
    );
    write(
        dir,
        "60-self.toml",
        "[[agreement]]\nid = \"ok\"\nbetween = [\"c\", \"d\"]\n\n[[agreement]]\nid = \"self\"\nbetween = [\"a\", \"a\"]\n",
    );
    // Not read: another extension, a hidden file, a subdirectory.
    write(dir, "notes.md", "[[agreement]]\n");
    write(dir, ".draft.toml", "[[agreement]]\n");
    if let Err(e) = std::fs::create_dir(dir.join("examples")) {
        panic!("{e}");
    }
    write(&dir.join("examples"), "bad.toml", "[[agreement]]\n");

    let errors = load_errors(dir);
    let file = |name: &str| dir.join(name).display().to_string();
    let expected_starts = [
        format!("{}: not valid TOML", file("20-bad-toml.toml")),
        format!(
            "{}: agreement[0] (typo): unknown field `vaild_until`",
            file("30-unknown-key.toml")
        ),
        format!(
            "{}: agreement[0] (dates): valid_from: \"2026-02-30\" is neither",
            file("50-dates.toml")
        ),
        format!(
            "{}: agreement[0] (dates): valid_until: \"tomorrow\" is neither",
            file("50-dates.toml")
        ),
        format!(
            "{}: agreement[1] (self): between: an agreement is between two different members, not a and itself",
            file("60-self.toml")
        ),
        // The checks across files run on the entries that read.
        format!(
            "{}: activation[0] (a/b): duplicate id \"a/b\": already used by agreement[0] (a/b) in {}",
            file("40-duplicate.toml"),
            file("10-good.toml")
        ),
    ];
    assert_eq!(errors.len(), expected_starts.len(), "{errors:#?}");
    for (error, start) in errors.iter().zip(&expected_starts) {
        assert!(
            error.starts_with(start.as_str()),
            "{error}\n  should start with\n{start}"
        );
    }

    // One bad file is enough for no set at all; without the bad files, the good one loads.
    for name in [
        "20-bad-toml.toml",
        "30-unknown-key.toml",
        "40-duplicate.toml",
        "50-dates.toml",
    ] {
        if let Err(e) = std::fs::remove_file(dir.join(name)) {
            panic!("{e}");
        }
    }
    assert_eq!(load_errors(dir).len(), 1);
    if let Err(e) = std::fs::remove_file(dir.join("60-self.toml")) {
        panic!("{e}");
    }
    let Ok(set) = PolicySet::load_dir(dir) else {
        panic!("the good file alone loads");
    };
    assert_eq!(set.agreements().len(), 1);
}

#[test]
fn a_missing_directory_is_an_error() {
    let errors = load_errors(Path::new("/nonexistent/policies"));
    assert!(errors[0].starts_with("/nonexistent/policies: cannot read the policy directory"));
}

// ---- property test ------------------------------------------------------------------

const NS: [&str; 4] = ["op-a-ns", "op-b-ns", "op-c-ns", "op-d-ns"];
const JS: [&str; 2] = ["op-a-js", "op-x-js"];
const BOUNDARIES: [OffsetDateTime; 2] = [
    datetime!(2026-01-01 0:00 UTC),
    datetime!(2026-07-01 0:00 UTC),
];

/// The validity of slot 0 (before the first boundary), 1 (between) or 2 (after): slots never
/// overlap, so several agreements of one pair load.
fn slot(index: usize) -> Validity {
    Validity {
        from: index.checked_sub(1).map(|i| BOUNDARIES[i]),
        until: BOUNDARIES.get(index).copied(),
    }
}

prop_compose! {
    fn agreement_terms()(
        handover in any::<bool>(),
        passive in any::<bool>(),
        consent in any::<[bool; 4]>(),
        types in proptest::option::of(any::<u8>()),
        uplink in any::<bool>(),
        downlink in any::<bool>(),
    ) -> (BTreeSet<RoamingKind>, [Consent; 2], Option<u8>, bool, bool) {
        let mut kinds = BTreeSet::new();
        if passive || !handover {
            kinds.insert(RoamingKind::Passive);
        }
        if handover {
            kinds.insert(RoamingKind::Handover);
        }
        let consent = [
            Consent { roam_in: consent[0], roam_out: consent[1] },
            Consent { roam_in: consent[2], roam_out: consent[3] },
        ];
        (kinds, consent, types, uplink, downlink)
    }
}

fn policy_set() -> impl Strategy<Value = PolicySet> {
    let pairs = 6 * 3; // every pair of NS, every slot
    (
        proptest::collection::vec(proptest::option::of(agreement_terms()), pairs),
        proptest::collection::vec(proptest::option::of(any::<bool>()), 5 * 3),
    )
        .prop_map(|(terms, verdicts)| {
            let mut pairs = Vec::new();
            for (i, x) in NS.iter().enumerate() {
                for y in &NS[i + 1..] {
                    pairs.push((*x, *y));
                }
            }
            let mut agreements = Vec::new();
            for (n, terms) in terms.into_iter().enumerate() {
                let Some((kinds, consent, types, uplink, downlink)) = terms else {
                    continue;
                };
                let (x, y) = pairs[n / 3];
                let mut agreement =
                    Agreement::new(format!("{x}/{y}#{}", n % 3), x.into(), y.into());
                agreement.kinds = kinds;
                agreement.consent = consent;
                agreement.uplink = uplink;
                agreement.downlink = downlink;
                agreement.validity = slot(n % 3);
                if let Some(bits) = types {
                    let listed: BTreeSet<_> = RoamingMessage::ALL
                        .into_iter()
                        .enumerate()
                        .filter(|(i, m)| {
                            bits & (1 << i) != 0 && agreement.kinds.iter().any(|k| m.is_of(*k))
                        })
                        .map(|(_, m)| m)
                        .collect();
                    agreement.message_types = (!listed.is_empty()).then_some(listed);
                }
                agreements.push(agreement);
            }
            let ns_patterns = ["*", "op-a-ns", "op-b-ns", "op-c-ns", "op-d-ns"];
            let js_patterns = ["*", "op-a-js", "op-x-js"];
            let mut rules = Vec::new();
            for (n, verdict) in verdicts.into_iter().enumerate() {
                let Some(allow) = verdict else { continue };
                let pattern = |text: &str| text.parse().unwrap_or(MemberPattern::Any);
                rules.push(ActivationRule {
                    id: format!("rule-{n}"),
                    description: None,
                    ns: pattern(ns_patterns[n / 3]),
                    js: pattern(js_patterns[n % 3]),
                    verdict: if allow {
                        Verdict::Allow
                    } else {
                        Verdict::Refuse
                    },
                    validity: Validity::ALWAYS,
                });
            }
            match PolicySet::from_parts(agreements, rules) {
                Ok(set) => set,
                Err(errors) => panic!("generated policies do not load: {errors:#?}"),
            }
        })
}

fn message_type() -> impl Strategy<Value = String> {
    let mut names: Vec<String> = MessageType::KNOWN
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    names.extend(["".to_owned(), "Bogus".to_owned(), "prstartreq".to_owned()]);
    proptest::sample::select(names)
}

fn member() -> impl Strategy<Value = MemberId> {
    proptest::sample::select(NS.iter().chain(&JS).copied().collect::<Vec<_>>())
        .prop_map(MemberId::from)
}

proptest! {
    #[test]
    fn decisions_are_deterministic_and_explained(
        set in policy_set(),
        message_type in message_type(),
        sender in member(),
        receiver in member(),
        minutes in 0i64..(3 * 365 * 24 * 60),
        link in proptest::option::of(prop_oneof![Just(Link::Uplink), Just(Link::Downlink)]),
    ) {
        let at = datetime!(2025-01-01 0:00 UTC) + Duration::minutes(minutes);
        let query = RoamingQuery { message_type: &message_type, sender: &sender, receiver: &receiver, at, link, explanation: Explanation::Full };
        let decision = set.decide_roaming(&query);
        prop_assert_eq!(&decision, &set.decide_roaming(&query));

        // Routing's brief query decides the same; only an allowed message's reason is left out.
        let brief = set.decide_roaming(&query.with_explanation(Explanation::RefusalsOnly));
        prop_assert_eq!(
            (brief.allowed, &brief.rule, brief.result_code),
            (decision.allowed, &decision.rule, decision.result_code)
        );
        if decision.allowed {
            prop_assert!(brief.reason.is_empty() || brief.reason == decision.reason, "{:?}", brief);
        } else {
            prop_assert_eq!(&brief.reason, &decision.reason);
        }

        // The same policies written out and read back decide the same.
        let text = set.to_toml().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let reloaded = PolicySet::from_toml_str(&text, None)
            .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(&reloaded, &set);
        prop_assert_eq!(&decision, &reloaded.decide_roaming(&query));

        prop_assert!(!decision.reason.trim().is_empty());
        match decision.result_code {
            None => prop_assert!(decision.allowed, "{:?}", decision),
            Some(code) => {
                prop_assert!(!decision.allowed);
                prop_assert!(["NoRoamingAgreement", "RoamingActDisallowed", "ActivationDisallowed"].contains(&code));
                prop_assert!(decision.code().is_some_and(|c| ResultCode::KNOWN.contains(&c)));
            }
        }
        if let Some(rule) = &decision.rule {
            if let Some(agreement) = set.agreement(rule) {
                prop_assert!(agreement.is_between(&sender, &receiver));
                if decision.allowed {
                    prop_assert!(agreement.validity.contains(at));
                }
            } else {
                let rule = set.activation_rule(rule);
                prop_assert!(rule.is_some_and(|r| r.matches(&sender, &receiver) && r.validity.contains(at)));
            }
        }
        let activation = set.decide_activation(&sender, &receiver, at);
        prop_assert_eq!(&activation, &set.decide_activation(&sender, &receiver, at));
        prop_assert_eq!(activation.allowed, activation.result_code.is_none());
        prop_assert!(!activation.reason.is_empty());
    }
}
