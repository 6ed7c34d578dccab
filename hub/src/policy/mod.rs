//! Roaming agreements and activation rules (policies/), and the decisions they make.
//!
//! Pure logic: no HTTP, no SQL, no clock (every decision is given its instant).
//!
//! - [`model`]: [`Agreement`], [`ActivationRule`] and what each TS002 message type means to
//!   them ([`MessageClass`], [`RoamingMessage`]).
//! - [`file`](mod@file): the TOML format of `policies/*.toml` (the admin API's JSON has the same shape),
//!   documented with examples in `policies/README.md`.
//! - [`PolicySet`]: an immutable, checked set of both, loaded whole or not at all. Reloading
//!   is loading again and swapping the `Arc` (the caller's); a bad edit never half-applies.
//! - [`edit`]: changes made through the admin API, kept in the directory's `api.toml`.
//! - [`decide`]: [`PolicySet::decide_roaming`] and [`PolicySet::decide_activation`], each a
//!   [`Decision`] that names the rule that decided and says why in a sentence.

pub mod decide;
pub mod edit;
pub mod file;
pub mod model;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::members::MemberId;

pub use decide::{Decision, Explanation, RoamingQuery};
pub use file::{ActivationEntry, AgreementEntry, PolicyFile};
pub use model::{
    ActivationRule, Agreement, Consent, Direction, Link, MemberPattern, MessageClass, RoamingKind,
    RoamingMessage, Validity, Verdict,
};

/// A problem that keeps policies from loading: where (file, entry) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The file (or the directory, when it cannot be read); `None` for
    /// [`PolicySet::from_parts`].
    pub file: Option<PathBuf>,
    /// The entry; `None` for a problem of the whole file.
    pub entry: Option<EntryRef>,
    /// What is wrong, naming the key.
    pub reason: String,
}

/// `policies/a.toml: agreement[2] (op-a/op-b): between: …`
impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if let Some(entry) = &self.entry {
            write!(f, "{entry}: ")?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for PolicyError {}

/// Which entry: `agreement[2] (op-a/op-b)`, the index counted from 0 within its file (or
/// within the list given to [`PolicySet::from_parts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRef {
    /// Agreement or activation rule.
    pub table: Table,
    /// Its index among the tables of its kind.
    pub index: usize,
    /// Its id, when it has one.
    pub id: Option<String>,
}

impl fmt::Display for EntryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.table.as_str(), self.index)?;
        if let Some(id) = &self.id {
            write!(f, " ({id})")?;
        }
        Ok(())
    }
}

/// The two kinds of entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `[[agreement]]`.
    Agreement,
    /// `[[activation]]`.
    Activation,
}

impl Table {
    /// The table name in the files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agreement => "agreement",
            Self::Activation => "activation",
        }
    }
}

/// Every agreement and activation rule, checked as a whole: ids unique across both, at most
/// one agreement in force per pair of members at any instant, at most one activation rule in
/// force per (ns, js) pattern at any instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicySet {
    agreements: Vec<Agreement>,
    activations: Vec<ActivationRule>,
    /// Agreement indexes by the pair of members (the smaller id first).
    by_pair: BTreeMap<(MemberId, MemberId), Vec<usize>>,
}

impl PolicySet {
    /// No agreements and no rules: every roaming and activation request is refused.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Loads every `*.toml` file directly in `dir`, in file-name order. Subdirectories (such
    /// as `policies/examples/`) and names starting with `.` are not read. All or nothing:
    /// any problem in any file, and the errors of every file come back instead of a set.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<PolicySet, Vec<PolicyError>> {
        Self::build(file::read_dir(dir.as_ref(), None))
    }

    /// Loads `dir` as [`PolicySet::load_dir`] does, but with `replacement` standing for the
    /// file `file_name` in it (the admin API's file, [`edit::API_FILE`]): how an edit is
    /// checked against every other file before it is written.
    pub fn load_dir_replacing(
        dir: impl AsRef<Path>,
        file_name: &str,
        replacement: &PolicyFile,
    ) -> Result<PolicySet, Vec<PolicyError>> {
        Self::build(file::read_dir(
            dir.as_ref(),
            Some((file_name, Some(replacement))),
        ))
    }

    /// Loads `dir` without the file `file_name`: the entries the admin API must not touch.
    pub fn load_dir_except(
        dir: impl AsRef<Path>,
        file_name: &str,
    ) -> Result<PolicySet, Vec<PolicyError>> {
        Self::build(file::read_dir(dir.as_ref(), Some((file_name, None))))
    }

    /// Reads one file's text (`file` names it in errors), as [`PolicySet::load_dir`] reads
    /// each file: for an API that accepts a whole file, and for tests.
    pub fn from_toml_str(text: &str, file: Option<&Path>) -> Result<PolicySet, Vec<PolicyError>> {
        Self::build(file::parse_str(text, file))
    }

    /// A set from the entries of a [`PolicyFile`] (the admin API's JSON body), checked like
    /// a file.
    pub fn from_file(file: &PolicyFile) -> Result<PolicySet, Vec<PolicyError>> {
        Self::build(file::from_entries(file, None))
    }

    /// A set from parts built elsewhere (the admin API), checked like files: each entry's
    /// problems, unique ids, no overlapping agreements or rules.
    pub fn from_parts(
        agreements: Vec<Agreement>,
        activations: Vec<ActivationRule>,
    ) -> Result<PolicySet, Vec<PolicyError>> {
        let mut errors = Vec::new();
        let mut parsed = file::Parsed::default();
        let mut place = |table, index, id: &str, problems: Vec<String>| {
            let at = EntryRef {
                table,
                index,
                id: Some(id.to_owned()),
            };
            errors.extend(problems.into_iter().map(|reason| PolicyError {
                file: None,
                entry: Some(at.clone()),
                reason,
            }));
            at
        };
        for (index, item) in agreements.into_iter().enumerate() {
            let at = place(Table::Agreement, index, &item.id, item.problems());
            parsed.agreements.push(file::Located {
                at,
                file: None,
                item,
            });
        }
        for (index, item) in activations.into_iter().enumerate() {
            let at = place(Table::Activation, index, &item.id, item.problems());
            parsed.activations.push(file::Located {
                at,
                file: None,
                item,
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Self::build(parsed)
    }

    /// The checks across the entries that read, then the set if there is no problem at all.
    fn build(mut parsed: file::Parsed) -> Result<PolicySet, Vec<PolicyError>> {
        let mut errors = std::mem::take(&mut parsed.errors);
        let blame = |located_at: &EntryRef, file: &Option<PathBuf>, reason: String| PolicyError {
            file: file.clone(),
            entry: Some(located_at.clone()),
            reason,
        };
        let where_ = |at: &EntryRef, file: &Option<PathBuf>| match file {
            Some(file) => format!("{at} in {}", file.display()),
            None => at.to_string(),
        };

        let mut ids: BTreeMap<&str, String> = BTreeMap::new();
        let entries = parsed
            .agreements
            .iter()
            .map(|a| (a.item.id.as_str(), &a.at, &a.file))
            .chain(
                parsed
                    .activations
                    .iter()
                    .map(|r| (r.item.id.as_str(), &r.at, &r.file)),
            );
        for (id, at, file) in entries {
            if let Some(first) = ids.get(id) {
                errors.push(blame(
                    at,
                    file,
                    format!("duplicate id {id:?}: already used by {first}"),
                ));
            } else {
                ids.insert(id, where_(at, file));
            }
        }

        let mut by_pair: BTreeMap<(MemberId, MemberId), Vec<usize>> = BTreeMap::new();
        for (index, located) in parsed.agreements.iter().enumerate() {
            let [a, b] = &located.item.between;
            let pair = if a <= b {
                (a.clone(), b.clone())
            } else {
                (b.clone(), a.clone())
            };
            let same_pair = by_pair.entry(pair).or_default();
            for earlier in same_pair.iter().map(|i| &parsed.agreements[*i]) {
                if earlier.item.validity.overlaps(&located.item.validity) {
                    errors.push(blame(
                        &located.at,
                        &located.file,
                        format!(
                            "in force at the same time as agreement {:?} ({}) between the same members: give them validity periods that do not overlap",
                            earlier.item.id,
                            where_(&earlier.at, &earlier.file)
                        ),
                    ));
                }
            }
            same_pair.push(index);
        }

        let mut by_pattern: BTreeMap<(&MemberPattern, &MemberPattern), Vec<usize>> =
            BTreeMap::new();
        for (index, located) in parsed.activations.iter().enumerate() {
            let rule = &located.item;
            let same = by_pattern.entry((&rule.ns, &rule.js)).or_default();
            for earlier in same.iter().map(|i| &parsed.activations[*i]) {
                if earlier.item.validity.overlaps(&rule.validity) {
                    errors.push(blame(
                        &located.at,
                        &located.file,
                        format!(
                            "rule {:?} ({}) already decides ns = {}, js = {} at the same time: one rule per pair of patterns",
                            earlier.item.id,
                            where_(&earlier.at, &earlier.file),
                            rule.ns,
                            rule.js
                        ),
                    ));
                }
            }
            same.push(index);
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(PolicySet {
            agreements: parsed.agreements.into_iter().map(|a| a.item).collect(),
            activations: parsed.activations.into_iter().map(|r| r.item).collect(),
            by_pair,
        })
    }

    /// The agreements, in load order (file name, then position).
    pub fn agreements(&self) -> &[Agreement] {
        &self.agreements
    }

    /// The activation rules, in load order.
    pub fn activation_rules(&self) -> &[ActivationRule] {
        &self.activations
    }

    /// The agreement with this id (for its rate limit, say).
    pub fn agreement(&self, id: &str) -> Option<&Agreement> {
        self.agreements.iter().find(|a| a.id == id)
    }

    /// The activation rule with this id.
    pub fn activation_rule(&self, id: &str) -> Option<&ActivationRule> {
        self.activations.iter().find(|r| r.id == id)
    }

    /// The agreements between `x` and `y`, in any order of the two, in load order.
    pub fn agreements_between<'a>(
        &'a self,
        x: &MemberId,
        y: &MemberId,
    ) -> impl Iterator<Item = &'a Agreement> + 'a {
        let pair = if x <= y {
            (x.clone(), y.clone())
        } else {
            (y.clone(), x.clone())
        };
        self.by_pair
            .get(&pair)
            .into_iter()
            .flatten()
            .filter_map(|i| self.agreements.get(*i))
    }

    /// Every member id the policies name, for checking against the members file.
    pub fn members(&self) -> BTreeSet<&MemberId> {
        let named = self.activations.iter().flat_map(|r| [&r.ns, &r.js]);
        self.agreements
            .iter()
            .flat_map(|a| a.between.iter())
            .chain(named.filter_map(|pattern| match pattern {
                MemberPattern::Member(id) => Some(id),
                MemberPattern::Any => None,
            }))
            .collect()
    }

    /// Entries that load but can never allow what they seem to: a roam-out without the
    /// partner's roam-in (or the reverse), an agreement with neither uplink nor downlink.
    /// Worth a warning in the log; never an error.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        for agreement in &self.agreements {
            for (home, visited) in [(0, 1), (1, 0)] {
                let out = agreement.consent[home].roam_out;
                let into = agreement.consent[visited].roam_in;
                if out != into {
                    let (yes, no, missing) = if out {
                        (home, visited, Direction::RoamIn)
                    } else {
                        (visited, home, Direction::RoamOut)
                    };
                    warnings.push(format!(
                        "agreement {:?}: {} allows {} but {} does not allow {}, so devices of {} never roam in {}'s network",
                        agreement.id,
                        agreement.between[yes],
                        if out { Direction::RoamOut } else { Direction::RoamIn },
                        agreement.between[no],
                        missing,
                        agreement.between[home],
                        agreement.between[visited],
                    ));
                }
            }
            if !agreement.uplink && !agreement.downlink {
                warnings.push(format!(
                    "agreement {:?}: neither uplink nor downlink: no roaming traffic can pass",
                    agreement.id
                ));
            }
        }
        warnings
    }

    /// The set as one policy file (defaults written out, times in RFC 3339): for the admin
    /// API (JSON through serde, or TOML with [`PolicySet::to_toml`]).
    pub fn to_file(&self) -> PolicyFile {
        PolicyFile {
            agreement: self.agreements.iter().map(AgreementEntry::from).collect(),
            activation: self.activations.iter().map(ActivationEntry::from).collect(),
        }
    }

    /// The set as the text of one policy file, which loads back to an equal set.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(&self.to_file())
    }
}

/// As [`PolicySet::to_file`]: `{"agreement": [...], "activation": [...]}`.
impl serde::Serialize for PolicySet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_file().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match PolicySet::from_toml_str(text, Some(Path::new("p.toml"))) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn ids_are_unique_across_tables() {
        let text = r#"
            [[agreement]]
            id = "x"
            between = ["a", "b"]
            [[activation]]
            id = "x"
            ns = "*"
            js = "*"
            allow = true
        "#;
        assert_eq!(
            errors(text),
            vec!["p.toml: activation[0] (x): duplicate id \"x\": already used by agreement[0] (x) in p.toml"]
        );
    }

    #[test]
    fn agreements_of_one_pair_may_not_overlap() {
        let text = r#"
            [[agreement]]
            id = "2025"
            between = ["a", "b"]
            valid_until = 2025-12-31
            [[agreement]]
            id = "2026"
            between = ["b", "a"]
            valid_from = 2026-01-01
            [[agreement]]
            id = "forever"
            between = ["a", "b"]
        "#;
        let errors = errors(text);
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0]
            .contains("agreement[2] (forever): in force at the same time as agreement \"2025\""));
        assert!(errors[1].contains("as agreement \"2026\""));
        let fine = text
            .split("[[agreement]]\n            id = \"forever\"")
            .next();
        let set = PolicySet::from_toml_str(fine.unwrap_or_default(), None);
        let set = set.unwrap_or_default();
        assert_eq!(set.agreements_between(&"b".into(), &"a".into()).count(), 2);
    }

    #[test]
    fn one_activation_rule_per_pattern() {
        let text = r#"
            [[activation]]
            id = "r1"
            ns = "*"
            js = "js"
            allow = true
            [[activation]]
            id = "r2"
            ns = "*"
            js = "js"
            allow = false
        "#;
        assert!(errors(text)[0].contains("activation[1] (r2): rule \"r1\""));
    }

    #[test]
    fn from_parts_checks_like_files() {
        let selfish = Agreement::new("a-a", "a".into(), "a".into());
        let errors = PolicySet::from_parts(vec![selfish], Vec::new()).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0]
            .to_string()
            .starts_with("agreement[0] (a-a): between"));
        let mut later = Agreement::new("a-b-2", "b".into(), "a".into());
        later.validity.from = Some(datetime!(2026-01-01 0:00 UTC));
        let set = PolicySet::from_parts(
            vec![Agreement::new("a-b", "a".into(), "b".into()), later],
            Vec::new(),
        );
        assert!(set.unwrap_err()[0].to_string().contains("a-b-2"));
    }

    #[test]
    fn to_toml_loads_back_equal() {
        let text = r#"
            [[agreement]]
            id = "a/b"
            between = ["a", "b"]
            directions = { a = ["roam-out"], b = ["roam-in"] }
            valid_from = "2026-01-01T00:00:00+01:00"
            [[activation]]
            id = "open"
            ns = "*"
            js = "*"
            allow = true
        "#;
        let set = PolicySet::from_toml_str(text, None).unwrap_or_default();
        assert_eq!(set.agreements().len(), 1);
        let again = set.to_toml().unwrap_or_default();
        assert_eq!(PolicySet::from_toml_str(&again, None), Ok(set.clone()));
        assert_eq!(set.members().len(), 2);
        assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    }

    #[test]
    fn the_api_shape_is_the_file_shape() {
        let text = r#"
            [[agreement]]
            id = "a/b"
            between = ["a", "b"]
            kinds = ["handover"]
            valid_until = 2026-12-31
            [[activation]]
            id = "r"
            ns = "a"
            js = "*"
            allow = false
        "#;
        let set = PolicySet::from_toml_str(text, None).unwrap_or_default();
        let json = serde_json::to_value(&set).unwrap_or_default();
        assert_eq!(json["agreement"][0]["valid_until"], "2027-01-01T00:00:00Z");
        assert_eq!(json["activation"][0]["allow"], false);
        let file: PolicyFile = serde_json::from_value(json).unwrap_or_default();
        assert_eq!(PolicySet::from_file(&file), Ok(set));
        let mut bad = file.clone();
        bad.agreement[0].between = vec!["a".into()];
        bad.activation.push(bad.activation[0].clone());
        let errors: Vec<_> = PolicySet::from_file(&bad)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            vec![
                "agreement[0] (a/b): between: name exactly two members, not 1",
                "activation[1] (r): duplicate id \"r\": already used by activation[0] (r)",
                "activation[1] (r): rule \"r\" (activation[0] (r)) already decides ns = a, js = * at the same time: one rule per pair of patterns",
            ]
        );
    }

    #[test]
    fn one_sided_consent_is_a_warning() {
        let text = r#"
            [[agreement]]
            id = "a/b"
            between = ["a", "b"]
            directions = { a = ["roam-out"], b = [] }
        "#;
        let set = PolicySet::from_toml_str(text, None).unwrap_or_default();
        assert_eq!(
            set.warnings(),
            vec!["agreement \"a/b\": a allows roam-out but b does not allow roam-in, so devices of a never roam in b's network"]
        );
    }
}
