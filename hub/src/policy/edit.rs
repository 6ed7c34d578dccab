//! Changes made through the admin API: one agreement or activation rule at a time, kept in
//! one file of the policy directory, [`API_FILE`], so that a restart or a SIGHUP reload
//! finds them where it finds the operator's own files.
//!
//! The API owns that file and nothing else: an entry defined in another file is refused
//! ([`EditError::DefinedInFile`]), since the next reload would bring the file's version back.
//! An edit is checked against the whole directory before anything is written (the same
//! checks as a reload: unique ids, no overlapping agreements or rules), then the file is
//! replaced atomically ([`crate::owned_file`]).
//! The caller serialises edits and swaps the returned set in.

use std::path::{Path, PathBuf};

use super::{ActivationEntry, AgreementEntry, PolicyError, PolicyFile, PolicySet, Table};
pub use crate::owned_file::Applied;
use crate::owned_file::{self, remove, upsert, OwnedFileError};

/// The file of the policy directory the admin API writes.
pub const API_FILE: &str = "api.toml";

/// Written at the top of [`API_FILE`].
const HEADER: &str =
    "# Written by the hub's admin API (PUT / DELETE /api/policies/…): change these entries\n\
                      # through the API; a hand edit here is overwritten by the next API edit.\n\n";

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Create or replace the agreement with this entry's id.
    PutAgreement(AgreementEntry),
    /// Remove the agreement with this id.
    RemoveAgreement(String),
    /// Create or replace the activation rule with this entry's id.
    PutActivation(ActivationEntry),
    /// Remove the activation rule with this id.
    RemoveActivation(String),
}

impl Edit {
    /// The table and id the edit is about.
    pub fn target(&self) -> (Table, &str) {
        match self {
            Self::PutAgreement(entry) => (Table::Agreement, &entry.id),
            Self::RemoveAgreement(id) => (Table::Agreement, id),
            Self::PutActivation(entry) => (Table::Activation, &entry.id),
            Self::RemoveActivation(id) => (Table::Activation, id),
        }
    }
}

/// Why an edit was not made. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The entry belongs to an operator's file.
    #[error("{} {id:?} is defined in a policy file other than {API_FILE}: edit that file and reload", table.as_str())]
    DefinedInFile {
        /// Agreement or activation rule.
        table: Table,
        /// Its id.
        id: String,
    },
    /// There is no such entry in the API's file.
    #[error("no {} {id:?}", table.as_str())]
    NotFound {
        /// Agreement or activation rule.
        table: Table,
        /// Its id.
        id: String,
    },
    /// The policies would not load with the edit (or do not load now).
    #[error("the policies would not load: {}", join(.0))]
    Invalid(Vec<PolicyError>),
    /// The file could not be read or written.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
}

fn join(errors: &[PolicyError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Applies `edit` to the policy directory `dir`: the policies to put in force, and what was
/// done. Blocking file I/O; the caller runs it off the async workers and one at a time.
pub fn apply(dir: &Path, edit: &Edit) -> Result<(PolicySet, Applied), EditError> {
    let path = dir.join(API_FILE);
    let (table, id) = edit.target();
    let others = PolicySet::load_dir_except(dir, API_FILE).map_err(EditError::Invalid)?;
    let elsewhere = match table {
        Table::Agreement => others.agreement(id).is_some(),
        Table::Activation => others.activation_rule(id).is_some(),
    };
    if elsewhere {
        return Err(EditError::DefinedInFile {
            table,
            id: id.to_owned(),
        });
    }
    let mut file: PolicyFile = owned_file::read(&path).map_err(unreadable)?;
    let applied = match edit {
        Edit::PutAgreement(entry) => upsert(&mut file.agreement, entry.clone(), |e| &e.id),
        Edit::PutActivation(entry) => upsert(&mut file.activation, entry.clone(), |e| &e.id),
        Edit::RemoveAgreement(id) => remove(&mut file.agreement, id, |e| &e.id),
        Edit::RemoveActivation(id) => remove(&mut file.activation, id, |e| &e.id),
    }
    .ok_or_else(|| EditError::NotFound {
        table,
        id: id.to_owned(),
    })?;
    let policies =
        PolicySet::load_dir_replacing(dir, API_FILE, &file).map_err(EditError::Invalid)?;
    owned_file::write(&path, HEADER, &file).map_err(unreadable)?;
    Ok((policies, applied))
}

/// A file that cannot be read is a problem of the policies; one that cannot be written, of
/// the system.
fn unreadable(error: OwnedFileError) -> EditError {
    match error {
        OwnedFileError::Unreadable { path, reason } => EditError::Invalid(vec![PolicyError {
            file: Some(path),
            entry: None,
            reason: format!("cannot read: {reason}"),
        }]),
        OwnedFileError::Io { path, reason } => EditError::Io { path, reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreement(id: &str, a: &str, b: &str) -> AgreementEntry {
        let text = format!("id = {id:?}\nbetween = [{a:?}, {b:?}]\n");
        toml::from_str(&text).expect("agreement entry")
    }

    #[test]
    fn edits_go_to_the_api_file_and_load_back() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("operators.toml"),
            "[[agreement]]\nid = \"a-b\"\nbetween = [\"a\", \"b\"]\n",
        )
        .expect("operator file");

        let put = Edit::PutAgreement(agreement("a-c", "a", "c"));
        let (set, applied) = apply(dir.path(), &put).expect("created");
        assert_eq!(applied, Applied::Created);
        assert_eq!(set.agreements().len(), 2);
        let reloaded = PolicySet::load_dir(dir.path()).expect("reload");
        assert_eq!(reloaded, set);

        let (_, applied) = apply(dir.path(), &put).expect("replaced");
        assert_eq!(applied, Applied::Replaced);
        let (set, applied) =
            apply(dir.path(), &Edit::RemoveAgreement("a-c".into())).expect("removed");
        assert_eq!(applied, Applied::Removed);
        assert_eq!(set.agreements().len(), 1);
        assert_eq!(PolicySet::load_dir(dir.path()).expect("reload"), set);
    }

    #[test]
    fn operator_entries_conflicts_and_unknown_ids_are_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("operators.toml"),
            "[[agreement]]\nid = \"a-b\"\nbetween = [\"a\", \"b\"]\n",
        )
        .expect("operator file");
        let err = apply(dir.path(), &Edit::PutAgreement(agreement("a-b", "a", "b")));
        assert!(
            matches!(err, Err(EditError::DefinedInFile { .. })),
            "{err:?}"
        );
        let err = apply(dir.path(), &Edit::RemoveAgreement("a-b".into()));
        assert!(
            matches!(err, Err(EditError::DefinedInFile { .. })),
            "{err:?}"
        );
        let err = apply(dir.path(), &Edit::RemoveActivation("nope".into()));
        assert!(matches!(err, Err(EditError::NotFound { .. })), "{err:?}");
        // A second agreement between the same members, in force at the same time.
        let err = apply(dir.path(), &Edit::PutAgreement(agreement("b-a", "b", "a")));
        let Err(EditError::Invalid(errors)) = err else {
            panic!("overlap accepted: {err:?}");
        };
        assert!(
            errors[0].to_string().contains("at the same time"),
            "{errors:?}"
        );
        assert!(!dir.path().join(API_FILE).exists());
    }
}
