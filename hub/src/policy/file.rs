//! The policy file format (`policies/*.toml`, documented in `policies/README.md`), also the
//! JSON shape of the admin API: [`PolicyFile`] holds `[[agreement]]` ([`AgreementEntry`]) and
//! `[[activation]]` ([`ActivationEntry`]) tables. Entries are read one by one, so one file
//! reports every bad entry with its index, not only the first.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime};

use super::model::{
    rfc3339, ActivationRule, Agreement, Consent, Direction, MemberPattern, RoamingKind,
    RoamingMessage, Validity, Verdict,
};
use super::{EntryRef, PolicyError, Table};
use crate::members::MemberId;

/// One policy file: any number of agreements and activation rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// `[[agreement]]` tables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agreement: Vec<AgreementEntry>,
    /// `[[activation]]` tables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activation: Vec<ActivationEntry>,
}

/// An `[[agreement]]` table. Absent keys take the defaults of `policies/README.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementEntry {
    /// Unique id.
    pub id: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The two member ids.
    pub between: Vec<String>,
    /// `passive`, `handover`; default `["passive"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<RoamingKind>>,
    /// Per member of `between`: `roam-in`, `roam-out`; default both for both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directions: Option<BTreeMap<String, Vec<Direction>>>,
    /// TS002 MessageType names; default every roaming message of the kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_types: Option<Vec<String>>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<bool>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downlink: Option<bool>,
    /// RFC 3339 date-time or date (the start of that day, UTC); default: no start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<TimeText>,
    /// RFC 3339 date-time (the first instant no longer in force) or date (in force through
    /// that day, UTC); default: no end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<TimeText>,
    /// Messages per second; default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
}

/// An `[[activation]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationEntry {
    /// Unique id.
    pub id: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A network server's member id, or `*`.
    pub ns: String,
    /// A join server's member id, or `*`.
    pub js: String,
    /// Allow (true) or refuse (false); required.
    pub allow: bool,
    /// As for agreements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<TimeText>,
    /// As for agreements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<TimeText>,
}

/// A time as written: a string, or a TOML date / date-time (turned into its text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeText(pub String);

impl Serialize for TimeText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TimeText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextOrDatetime;
        impl<'de> Visitor<'de> for TextOrDatetime {
            type Value = TimeText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 date-time or a date (YYYY-MM-DD)")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<TimeText, E> {
                Ok(TimeText(text.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TimeText, A::Error> {
                let native = toml::value::Datetime::deserialize(MapAccessDeserializer::new(map))?;
                Ok(TimeText(native.to_string()))
            }
        }
        deserializer.deserialize_any(TextOrDatetime)
    }
}

/// Which end of a period a time is: a date means the start of that day for `From` and the
/// end of that day for `Until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    From,
    Until,
}

fn parse_time(key: &str, text: &TimeText, bound: Bound) -> Result<OffsetDateTime, String> {
    let text = text.0.trim();
    if let Ok(instant) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(instant);
    }
    if let Ok(date) = Date::parse(text, format_description!("[year]-[month]-[day]")) {
        let start = date.midnight().assume_utc();
        return match bound {
            Bound::From => Ok(start),
            Bound::Until => start
                .checked_add(Duration::DAY)
                .ok_or_else(|| format!("{key}: {text} is out of range")),
        };
    }
    if text.contains('T') || text.contains(' ') {
        return Err(format!(
            "{key}: {text:?} is not an RFC 3339 date-time with an offset (Z or ±hh:mm)"
        ));
    }
    Err(format!(
        "{key}: {text:?} is neither an RFC 3339 date-time nor a date (YYYY-MM-DD)"
    ))
}

fn validity(
    from: Option<&TimeText>,
    until: Option<&TimeText>,
    problems: &mut Vec<String>,
) -> Validity {
    let mut read = |key, text: Option<&TimeText>, bound| {
        text.and_then(|text| {
            parse_time(key, text, bound)
                .map_err(|reason| problems.push(reason))
                .ok()
        })
    };
    Validity {
        from: read("valid_from", from, Bound::From),
        until: read("valid_until", until, Bound::Until),
    }
}

fn no_repeats<T: Ord + Copy + fmt::Debug>(key: &str, items: &[T], problems: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    for item in items {
        if !seen.insert(*item) {
            problems.push(format!("{key}: {item:?} is listed twice"));
        }
    }
}

/// Adds the model's `more` problems to the syntax `problems`, but none about a key that
/// already has one (a key that did not read is left empty, and would be blamed twice).
fn merge(problems: &mut Vec<String>, more: Vec<String>) {
    let key = |problem: &str| problem.split(':').next().unwrap_or_default().to_owned();
    let blamed: BTreeSet<String> = problems.iter().map(|p| key(p)).collect();
    problems.extend(more.into_iter().filter(|p| !blamed.contains(&key(p))));
}

impl AgreementEntry {
    /// The agreement, or every problem of the entry (syntax and [`Agreement::problems`]).
    pub fn to_agreement(&self) -> Result<Agreement, Vec<String>> {
        let mut problems = Vec::new();
        let (between, two) = match self.between.as_slice() {
            [a, b] => (
                [MemberId::from(a.as_str()), MemberId::from(b.as_str())],
                true,
            ),
            other => {
                problems.push(format!(
                    "between: name exactly two members, not {}",
                    other.len()
                ));
                ([MemberId::from(""), MemberId::from("")], false)
            }
        };
        let kinds = match &self.kinds {
            None => BTreeSet::from([RoamingKind::Passive]),
            Some(kinds) => {
                no_repeats("kinds", kinds, &mut problems);
                kinds.iter().copied().collect()
            }
        };
        let consent = match &self.directions {
            // Without the two members, there is nothing to check the directions against.
            None | Some(_) if !two => [Consent::BOTH, Consent::BOTH],
            None => [Consent::BOTH, Consent::BOTH],
            Some(map) => {
                for key in map.keys() {
                    if !self.between.contains(key) {
                        problems.push(format!(
                            "directions: {key:?} is not one of the members in between"
                        ));
                    }
                }
                between.clone().map(|member| match map.get(&member.0) {
                    None => {
                        problems.push(format!(
                            "directions: say what {member} allows (an empty list for nothing)"
                        ));
                        Consent::default()
                    }
                    Some(directions) => {
                        no_repeats(&format!("directions.{member}"), directions, &mut problems);
                        Consent {
                            roam_in: directions.contains(&Direction::RoamIn),
                            roam_out: directions.contains(&Direction::RoamOut),
                        }
                    }
                })
            }
        };
        let message_types = self.message_types.as_ref().map(|names| {
            let mut set = BTreeSet::new();
            for name in names {
                match name.parse::<RoamingMessage>() {
                    Ok(message) => {
                        if !set.insert(message) {
                            problems.push(format!("message_types: {name} is listed twice"));
                        }
                    }
                    Err(reason) => problems.push(format!("message_types: {reason}")),
                }
            }
            set
        });
        let rate_limit = match self.rate_limit {
            None => None,
            Some(limit) => {
                let limit = NonZeroU32::new(limit);
                if limit.is_none() {
                    problems.push(
                        "rate_limit: at least 1 message per second (omit it for no limit)".into(),
                    );
                }
                limit
            }
        };
        let validity = validity(
            self.valid_from.as_ref(),
            self.valid_until.as_ref(),
            &mut problems,
        );
        let agreement = Agreement {
            id: self.id.clone(),
            description: self.description.clone(),
            between,
            kinds,
            consent,
            message_types,
            uplink: self.uplink.unwrap_or(true),
            downlink: self.downlink.unwrap_or(true),
            validity,
            rate_limit,
        };
        merge(&mut problems, agreement.problems());
        if problems.is_empty() {
            Ok(agreement)
        } else {
            Err(problems)
        }
    }
}

/// The entry of an agreement: defaults written out, times in RFC 3339.
impl From<&Agreement> for AgreementEntry {
    fn from(agreement: &Agreement) -> Self {
        let directions = agreement
            .between
            .iter()
            .zip(agreement.consent)
            .map(|(member, consent)| (member.0.clone(), consent.directions()))
            .collect();
        Self {
            id: agreement.id.clone(),
            description: agreement.description.clone(),
            between: agreement.between.iter().map(|m| m.0.clone()).collect(),
            kinds: Some(agreement.kinds.iter().copied().collect()),
            directions: Some(directions),
            message_types: agreement
                .message_types
                .as_ref()
                .map(|set| set.iter().map(|m| m.as_str().to_owned()).collect()),
            uplink: Some(agreement.uplink),
            downlink: Some(agreement.downlink),
            valid_from: agreement.validity.from.map(|t| TimeText(rfc3339(t))),
            valid_until: agreement.validity.until.map(|t| TimeText(rfc3339(t))),
            rate_limit: agreement.rate_limit.map(NonZeroU32::get),
        }
    }
}

impl ActivationEntry {
    /// The rule, or every problem of the entry.
    pub fn to_rule(&self) -> Result<ActivationRule, Vec<String>> {
        let mut problems = Vec::new();
        let mut pattern = |key: &str, text: &str| {
            text.parse::<MemberPattern>()
                .map_err(|reason| problems.push(format!("{key}: {reason}")))
                .unwrap_or(MemberPattern::Any)
        };
        let ns = pattern("ns", &self.ns);
        let js = pattern("js", &self.js);
        let validity = validity(
            self.valid_from.as_ref(),
            self.valid_until.as_ref(),
            &mut problems,
        );
        let rule = ActivationRule {
            id: self.id.clone(),
            description: self.description.clone(),
            ns,
            js,
            verdict: if self.allow {
                Verdict::Allow
            } else {
                Verdict::Refuse
            },
            validity,
        };
        merge(&mut problems, rule.problems());
        if problems.is_empty() {
            Ok(rule)
        } else {
            Err(problems)
        }
    }
}

/// The entry of a rule, times in RFC 3339.
impl From<&ActivationRule> for ActivationEntry {
    fn from(rule: &ActivationRule) -> Self {
        Self {
            id: rule.id.clone(),
            description: rule.description.clone(),
            ns: rule.ns.to_string(),
            js: rule.js.to_string(),
            allow: rule.allows(),
            valid_from: rule.validity.from.map(|t| TimeText(rfc3339(t))),
            valid_until: rule.validity.until.map(|t| TimeText(rfc3339(t))),
        }
    }
}

/// An entry read from somewhere, with where it was read.
#[derive(Debug, Clone)]
pub(super) struct Located<T> {
    pub(super) at: EntryRef,
    pub(super) file: Option<PathBuf>,
    pub(super) item: T,
}

/// What one or more files hold, each entry with its place, and the problems of the entries
/// that did not read (kept apart, so the checks across entries still run on the others).
#[derive(Debug, Clone, Default)]
pub(super) struct Parsed {
    pub(super) agreements: Vec<Located<Agreement>>,
    pub(super) activations: Vec<Located<ActivationRule>>,
    pub(super) errors: Vec<PolicyError>,
}

impl Parsed {
    fn extend(&mut self, more: Parsed) {
        self.agreements.extend(more.agreements);
        self.activations.extend(more.activations);
        self.errors.extend(more.errors);
    }
}

/// Reads the text of one policy file (`file` names it in errors): every entry that reads,
/// and the problem of every one that does not. Unknown tables and keys are errors.
pub(super) fn parse_str(text: &str, file: Option<&Path>) -> Parsed {
    let error = |entry: Option<EntryRef>, reason: String| PolicyError {
        file: file.map(Path::to_path_buf),
        entry,
        reason,
    };
    let mut parsed = Parsed::default();
    let mut table: toml::Table = match toml::from_str(text) {
        Ok(table) => table,
        Err(e) => {
            let reason = format!("not valid TOML: {}", e.to_string().trim_end());
            parsed.errors.push(error(None, reason));
            return parsed;
        }
    };
    let mut errors = Vec::new();
    for other in table
        .keys()
        .filter(|k| *k != "agreement" && *k != "activation")
    {
        errors.push(error(
            None,
            format!("unknown key {other:?} (a file holds [[agreement]] and [[activation]] tables)"),
        ));
    }
    for kind in [Table::Agreement, Table::Activation] {
        let key = kind.as_str();
        let Some(value) = table.remove(key) else {
            continue;
        };
        let toml::Value::Array(entries) = value else {
            errors.push(error(
                None,
                format!("{key} must be an array of tables: write [[{key}]]"),
            ));
            continue;
        };
        for (index, value) in entries.into_iter().enumerate() {
            let id = value
                .get("id")
                .and_then(toml::Value::as_str)
                .map(str::to_owned);
            let at = EntryRef {
                table: kind,
                index,
                id,
            };
            let read = match kind {
                Table::Agreement => value
                    .try_into::<AgreementEntry>()
                    .map_err(|e| vec![e.message().to_owned()])
                    .and_then(|entry| entry.to_agreement())
                    .map(|item| {
                        parsed.agreements.push(Located {
                            at: at.clone(),
                            file: file.map(Path::to_path_buf),
                            item,
                        })
                    }),
                Table::Activation => value
                    .try_into::<ActivationEntry>()
                    .map_err(|e| vec![e.message().to_owned()])
                    .and_then(|entry| entry.to_rule())
                    .map(|item| {
                        parsed.activations.push(Located {
                            at: at.clone(),
                            file: file.map(Path::to_path_buf),
                            item,
                        })
                    }),
            };
            if let Err(reasons) = read {
                errors.extend(
                    reasons
                        .into_iter()
                        .map(|reason| error(Some(at.clone()), reason)),
                );
            }
        }
    }
    parsed.errors = errors;
    parsed
}

/// Checks the entries of a file already read (the admin API's JSON), as [`parse_str`] does.
pub(super) fn from_entries(file: &PolicyFile, path: Option<&Path>) -> Parsed {
    let mut parsed = Parsed::default();
    let mut blame = |at: &EntryRef, reasons: Vec<String>| {
        parsed
            .errors
            .extend(reasons.into_iter().map(|reason| PolicyError {
                file: path.map(Path::to_path_buf),
                entry: Some(at.clone()),
                reason,
            }));
    };
    let mut agreements = Vec::new();
    for (index, entry) in file.agreement.iter().enumerate() {
        let at = EntryRef {
            table: Table::Agreement,
            index,
            id: Some(entry.id.clone()),
        };
        match entry.to_agreement() {
            Ok(item) => agreements.push(Located {
                at,
                file: path.map(Path::to_path_buf),
                item,
            }),
            Err(reasons) => blame(&at, reasons),
        }
    }
    let mut activations = Vec::new();
    for (index, entry) in file.activation.iter().enumerate() {
        let at = EntryRef {
            table: Table::Activation,
            index,
            id: Some(entry.id.clone()),
        };
        match entry.to_rule() {
            Ok(item) => activations.push(Located {
                at,
                file: path.map(Path::to_path_buf),
                item,
            }),
            Err(reasons) => blame(&at, reasons),
        }
    }
    parsed.agreements = agreements;
    parsed.activations = activations;
    parsed
}

/// In [`read_dir`], the file of this name: skipped, or read from these entries instead.
pub(super) type Substitute<'a> = (&'a str, Option<&'a PolicyFile>);

/// Reads every `*.toml` file directly in `dir` (not in subdirectories; names starting with
/// `.` skipped, and `substitute`'s file skipped or replaced), in file-name order: every entry
/// that reads, and every problem.
pub(super) fn read_dir(dir: &Path, substitute: Option<Substitute<'_>>) -> Parsed {
    let dir_error = |reason: String| Parsed {
        errors: vec![PolicyError {
            file: Some(dir.to_path_buf()),
            entry: None,
            reason,
        }],
        ..Parsed::default()
    };
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) => return dir_error(format!("cannot read the policy directory: {e}")),
    };
    let mut files = Vec::new();
    for entry in listing {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => return dir_error(format!("cannot list the directory: {e}")),
        };
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.')
            || path.extension().is_none_or(|ext| ext != "toml")
            || substitute.is_some_and(|(skipped, _)| name == skipped)
        {
            continue;
        }
        // `metadata` follows symbolic links: a link to a file is read, a directory skipped.
        if std::fs::metadata(&path).is_ok_and(|meta| meta.is_dir()) {
            continue;
        }
        files.push(path);
    }
    let replacement = substitute.and_then(|(name, file)| Some((dir.join(name), file?)));
    if let Some((path, _)) = &replacement {
        files.push(path.clone());
    }
    files.sort();
    let mut parsed = Parsed::default();
    for path in files {
        if let Some((_, entries)) = replacement.as_ref().filter(|(p, _)| *p == path) {
            parsed.extend(from_entries(entries, Some(&path)));
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => parsed.extend(parse_str(&text, Some(&path))),
            Err(e) => parsed.errors.push(PolicyError {
                file: Some(path.clone()),
                entry: None,
                reason: format!("cannot read: {e}"),
            }),
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn reasons(text: &str) -> Vec<String> {
        let parsed = parse_str(text, Some(Path::new("p.toml")));
        parsed.errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_full_agreement_reads() {
        let text = r#"
            [[agreement]]
            id = "a/b"
            description = "contract 42"
            between = ["op-a-ns", "op-b-ns"]
            kinds = ["passive", "handover"]
            directions = { op-a-ns = ["roam-out"], op-b-ns = ["roam-in"] }
            message_types = ["PRStartReq", "XmitDataReq", "HRStartReq"]
            uplink = true
            downlink = false
            valid_from = 2026-01-01
            valid_until = "2026-12-31"
            rate_limit = 50
        "#;
        let parsed = parse_str(text, None);
        let [a] = parsed.agreements.as_slice() else {
            panic!("{:?}", reasons(text));
        };
        let a = &a.item;
        assert_eq!(
            a.consent[0],
            Consent {
                roam_in: false,
                roam_out: true
            }
        );
        assert_eq!(
            a.consent[1],
            Consent {
                roam_in: true,
                roam_out: false
            }
        );
        assert!(!a.downlink && a.uplink);
        assert_eq!(a.validity.from, Some(datetime!(2026-01-01 0:00 UTC)));
        assert_eq!(a.validity.until, Some(datetime!(2027-01-01 0:00 UTC)));
        assert_eq!(a.rate_limit.map(NonZeroU32::get), Some(50));
        assert_eq!(a.covered().len(), 3);
    }

    #[test]
    fn times_in_every_accepted_form() {
        let at = |text: &str, bound| parse_time("t", &TimeText(text.into()), bound);
        assert_eq!(
            at("2026-05-01T12:00:00+02:00", Bound::From),
            Ok(datetime!(2026-05-01 10:00 UTC))
        );
        assert_eq!(
            at("2026-05-01", Bound::Until),
            Ok(datetime!(2026-05-02 0:00 UTC))
        );
        assert!(at("2026-05-01T12:00:00", Bound::From)
            .unwrap_err()
            .contains("offset"));
        assert!(at("2026-13-01", Bound::From).is_err());
        assert!(at("soon", Bound::From).is_err());
        // A native TOML offset date-time reads too.
        let text = "[[activation]]\nid = \"r\"\nns = \"*\"\njs = \"*\"\nallow = true\nvalid_from = 2026-05-01T12:00:00Z\n";
        let parsed = parse_str(text, None);
        assert_eq!(
            parsed
                .activations
                .first()
                .and_then(|r| r.item.validity.from),
            Some(datetime!(2026-05-01 12:00 UTC))
        );
        // A TOML local date-time has no offset: refused.
        let text = text.replace("12:00:00Z", "12:00:00");
        assert!(reasons(&text)[0].contains("offset"), "{:?}", reasons(&text));
    }

    #[test]
    fn every_bad_entry_is_reported_with_its_index() {
        let text = r#"
            [[agreement]]
            id = "fine"
            between = ["a", "b"]

            [[agreement]]
            id = "typo"
            between = ["a", "c"]
            kind = ["passive"]

            [[agreement]]
            id = "selfish"
            between = ["a", "a"]
            rate_limit = 0

            [[activation]]
            id = "no-verdict"
            ns = "*"
            js = "js"

            [[activation]]
            id = "blank"
            ns = ""
            js = "js"
            allow = true
        "#;
        let reasons = reasons(text);
        assert_eq!(reasons.len(), 5, "{reasons:#?}");
        assert!(
            reasons[0].starts_with("p.toml: agreement[1] (typo): unknown field `kind`"),
            "{reasons:#?}"
        );
        assert!(reasons[1].starts_with("p.toml: agreement[2] (selfish): rate_limit"));
        assert!(
            reasons[2].contains("agreement[2] (selfish): between") && reasons[2].contains("itself")
        );
        assert!(reasons[3].contains("activation[0] (no-verdict): missing field `allow`"));
        assert!(reasons[4].contains("activation[1] (blank): ns:"));
    }

    #[test]
    fn directions_name_exactly_the_two_members() {
        let text = r#"
            [[agreement]]
            id = "x"
            between = ["a", "b"]
            directions = { a = ["roam-out", "roam-out"], c = [] }
        "#;
        let reasons = reasons(text);
        assert_eq!(reasons.len(), 3, "{reasons:#?}");
        assert!(reasons[0].contains("\"c\" is not one of the members"));
        assert!(reasons[1].contains("directions.a: RoamOut is listed twice"));
        assert!(reasons[2].contains("say what b allows"));
    }

    #[test]
    fn bad_toml_and_unknown_tables() {
        assert!(reasons("[[agreement]\n")[0].starts_with("p.toml: not valid TOML"));
        assert!(reasons("[[agreements]]\nid = \"x\"\n")[0].contains("unknown key \"agreements\""));
        assert!(reasons("[agreement]\nid = \"x\"\n")[0].contains("write [[agreement]]"));
        assert!(reasons("").is_empty());
    }

    #[test]
    fn entries_round_trip() {
        let text = r#"
            [[agreement]]
            id = "a/b"
            between = ["op-a-ns", "op-b-ns"]
            kinds = ["handover"]
            directions = { op-a-ns = [], op-b-ns = ["roam-in", "roam-out"] }
            message_types = ["HRStartReq"]
            valid_until = 2026-12-31

            [[activation]]
            id = "r"
            ns = "op-a-ns"
            js = "*"
            allow = false
        "#;
        let parsed = parse_str(text, None);
        let file = PolicyFile {
            agreement: parsed.agreements.iter().map(|a| (&a.item).into()).collect(),
            activation: parsed
                .activations
                .iter()
                .map(|r| (&r.item).into())
                .collect(),
        };
        let again = toml::to_string(&file).unwrap_or_default();
        let reparsed = parse_str(&again, None);
        assert_eq!(reparsed.agreements.len(), 1, "{again}");
        assert_eq!(reparsed.agreements[0].item, parsed.agreements[0].item);
        assert_eq!(reparsed.activations[0].item, parsed.activations[0].item);
        let json = serde_json::to_string(&file).unwrap_or_default();
        let from_json: PolicyFile = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(from_json, file);
    }
}
