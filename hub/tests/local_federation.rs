//! The local federation's hub files (`deploy/local/`, started by `deploy/local.sh`): the
//! members file is a valid federation, the policies load, name only its members, and allow
//! exactly the roaming and activations the scenario needs.

use std::path::{Path, PathBuf};

use hub::members::{Directory, MemberId};
use hub::policy::{Link, PolicySet, RoamingQuery};
use time::OffsetDateTime;

fn local() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local")
}

#[test]
fn the_members_file_is_a_valid_federation() {
    let text = std::fs::read_to_string(local().join("members.toml")).expect("members.toml");
    let loaded = match hub::members::file::parse(&text) {
        Ok(loaded) => loaded,
        Err(problems) => panic!("{problems:#?}"),
    };
    let directory = Directory::new(loaded).expect("no conflicts");
    let ids: Vec<&str> = directory
        .members()
        .iter()
        .map(|m| m.id.0.as_str())
        .collect();
    assert_eq!(ids, ["nsd-a", "nsd-b", "jsd"]);
}

#[test]
fn the_policies_allow_the_scenario_and_nothing_else() {
    let set = match PolicySet::load_dir(local().join("policies")) {
        Ok(set) => set,
        Err(errors) => panic!("{errors:#?}"),
    };
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    let named: Vec<&str> = set.members().iter().map(|m| m.0.as_str()).collect();
    assert_eq!(named, ["jsd", "nsd-a", "nsd-b"]);

    let now = OffsetDateTime::now_utc();
    let (a, b, js) = (
        MemberId::from("nsd-a"),
        MemberId::from("nsd-b"),
        MemberId::from("jsd"),
    );
    // Both ways: B forwards A's devices to A, A sends their downlinks through B; and the
    // reverse for B's devices.
    for (sender, receiver, message, link) in [
        (&b, &a, "PRStartReq", None),
        (&b, &a, "PRStartNotif", None),
        (&b, &a, "XmitDataReq", Some(Link::Uplink)),
        (&a, &b, "XmitDataReq", Some(Link::Downlink)),
        (&a, &b, "PRStopReq", None),
        (&a, &b, "PRStartReq", None),
        (&b, &a, "XmitDataReq", Some(Link::Downlink)),
    ] {
        let query = RoamingQuery::new(message, sender, receiver, now);
        let query = match link {
            Some(link) => query.with_link(link),
            None => query,
        };
        let decision = set.decide_roaming(&query);
        assert!(
            decision.allowed,
            "{message} {sender}→{receiver}: {}",
            decision.reason
        );
        assert_eq!(decision.rule.as_deref(), Some("a/b"));
    }
    // A joins its devices; B asks where a device it hears is at home; nobody else.
    for (ns, allowed, rule) in [
        (&a, true, "jsd-for-a"),
        (&b, true, "jsd-for-b"),
        (&MemberId::from("op-x-ns"), false, "jsd-closed"),
    ] {
        let decision = set.decide_activation(ns, &js, now);
        assert_eq!(decision.allowed, allowed, "{ns}: {}", decision.reason);
        assert_eq!(decision.rule.as_deref(), Some(rule));
    }
}
