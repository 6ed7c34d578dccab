//! The members, as files: the operator's members file (`[members] file`) and the file the
//! admin API writes (`[members] api_file`, by default `members.api.toml` beside the first).
//! Both are read at start and on every reload, and checked as one federation.
//!
//! The API owns its file only: a member of the operator's file is refused
//! ([`MemberEditError::DefinedInFile`]), since the next reload would bring the file's version
//! back. Every edit is checked with all the members ([`Directory::new`]: ids and tokens
//! unique, no JoinEUI served twice, shared NetIDs told apart) before the file is replaced
//! atomically ([`crate::owned_file`]). The caller serialises edits and swaps the returned
//! directory in.
//!
//! Tokens are kept at rest as digests only: a member put with `token` is written with
//! `token_sha256` instead (and so is any member of the file still holding a token in clear
//! when the file is next written).
//!
//! Outbound tokens (which the hub must present, so cannot hash) are kept sealed when the hub
//! has a keyring (`[keys]`): a member put with `outbound_token` is written with
//! `outbound_token_sealed` under the current master key, and every member of the file whose
//! token is in clear or sealed under a retired key is sealed again when the file is next
//! written. Without a keyring they are written as given, in clear, as before.

use std::path::{Path, PathBuf};

use service::sealing::Keyring;

use super::file::{self, LoadedMember, MemberEntry, MembersFile};
use super::Directory;
use crate::owned_file::{self, remove, upsert, Applied, OwnedFileError};

/// Written at the top of the API's members file.
const HEADER: &str =
    "# Written by the hub's admin API (PUT / DELETE /api/members/…): change these members\n\
                      # through the API; a hand edit here is overwritten by the next API edit.\n\n";

/// The API file's name when `[members] api_file` is not given: beside the operator's file.
pub const DEFAULT_API_FILE: &str = "members.api.toml";

/// One change.
#[derive(Clone)]
pub enum MemberEdit {
    /// Create or replace the member with this entry's id.
    Put(Box<MemberEntry>),
    /// Remove the member with this id.
    Remove(String),
}

/// Why an edit was not made. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum MemberEditError {
    /// The member belongs to the operator's file.
    #[error("member {0:?} is defined in the members file: edit that file and reload")]
    DefinedInFile(String),
    /// No such member in the API's file.
    #[error("no member {0:?} was added through the API")]
    NotFound(String),
    /// The hub has no file to keep edits in.
    #[error("the hub has no [members] file or api_file: members cannot be edited")]
    NoFile,
    /// The members would not load with the edit (or do not load now).
    #[error("the members would not load: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// A file could not be read or written.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
}

/// Where the members are kept, and the keyring their outbound tokens are sealed with.
#[derive(Debug, Clone, Default)]
pub struct MemberFiles {
    /// The operator's members file.
    pub operator: Option<PathBuf>,
    /// The file the admin API writes.
    pub api: Option<PathBuf>,
    /// `[keys]` of the hub config: opens sealed outbound tokens, seals those the API writes.
    keyring: Option<Keyring>,
}

impl MemberFiles {
    /// The files of `[members]`: `api_file`, or [`DEFAULT_API_FILE`] beside `file`.
    pub fn new(file: Option<PathBuf>, api_file: Option<PathBuf>) -> Self {
        let api = api_file.or_else(|| file.as_ref().map(|f| f.with_file_name(DEFAULT_API_FILE)));
        Self {
            operator: file,
            api,
            keyring: None,
        }
    }

    /// The same files, their outbound tokens sealed with `keyring` (none: kept in clear).
    pub fn with_keyring(mut self, keyring: Option<Keyring>) -> Self {
        self.keyring = keyring;
        self
    }

    /// The keyring of the outbound tokens, if the hub has one.
    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_ref()
    }

    /// Every member of both files, checked as one federation, or every problem. With a
    /// keyring, members whose outbound token is still in clear are logged (a warning).
    pub fn load(&self) -> Result<Directory, Vec<String>> {
        let api = self.read_api()?;
        let operator = self.read_operator()?;
        if self.keyring.is_some() {
            warn_of_clear_outbound_tokens(&operator, &api);
        }
        self.directory_of(operator, api)
    }

    /// Applies `edit` to the API's file: the members to put in force, and what was done.
    /// Blocking file I/O; the caller runs it off the async workers and one at a time.
    pub fn apply(&self, edit: &MemberEdit) -> Result<(Directory, Applied), MemberEditError> {
        let path = self.api.as_deref().ok_or(MemberEditError::NoFile)?;
        let id = match edit {
            MemberEdit::Put(entry) => entry.id.clone(),
            MemberEdit::Remove(id) => id.clone(),
        };
        let operator = self.read_operator().map_err(MemberEditError::Invalid)?;
        if operator.member.iter().any(|m| m.id == id) {
            return Err(MemberEditError::DefinedInFile(id));
        }
        let mut api: MembersFile = owned_file::read(path).map_err(edit_error)?;
        let applied = match edit {
            MemberEdit::Put(entry) => upsert(&mut api.member, (**entry).clone(), |m| &m.id),
            MemberEdit::Remove(id) => remove(&mut api.member, id, |m| &m.id),
        }
        .ok_or_else(|| MemberEditError::NotFound(id.clone()))?;
        let api = at_rest(api, path, self.keyring.as_ref()).map_err(MemberEditError::Invalid)?;
        let directory = self
            .directory_of(operator, api.clone())
            .map_err(MemberEditError::Invalid)?;
        owned_file::write(path, HEADER, &api).map_err(edit_error)?;
        Ok((directory, applied))
    }

    fn directory_of(
        &self,
        operator: MembersFile,
        api: MembersFile,
    ) -> Result<Directory, Vec<String>> {
        let keyring = self.keyring.as_ref();
        let mut members = checked(operator, self.operator.as_deref(), keyring)?;
        members.extend(checked(api, self.api.as_deref(), keyring)?);
        Directory::new(members).map_err(|e| e.0)
    }

    fn read_operator(&self) -> Result<MembersFile, Vec<String>> {
        let Some(path) = &self.operator else {
            return Ok(MembersFile::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![format!("members file {}: {e}", path.display())])?;
        toml::from_str(&text)
            .map_err(|e| vec![format!("members file {}: {}", path.display(), e.message())])
    }

    fn read_api(&self) -> Result<MembersFile, Vec<String>> {
        match &self.api {
            Some(path) => owned_file::read(path).map_err(|e| vec![e.to_string()]),
            None => Ok(MembersFile::default()),
        }
    }
}

/// Logs, once per load, the members whose outbound token is in clear although a keyring
/// could seal it.
fn warn_of_clear_outbound_tokens(operator: &MembersFile, api: &MembersFile) {
    let clear: Vec<&str> = operator
        .member
        .iter()
        .chain(&api.member)
        .filter(|m| m.has_clear_outbound_token())
        .map(|m| m.id.as_str())
        .collect();
    if !clear.is_empty() {
        tracing::warn!(
            members = clear.join(", "),
            "outbound_token in clear although [keys] is configured: replace it with \
             outbound_token_sealed (`hub seal-token`); the admin API seals its own file's \
             on its next edit"
        );
    }
}

/// `file` as it is kept at rest: every token in clear replaced by its digest and, with a
/// keyring, every outbound token sealed under its current key; or every entry that cannot
/// be (`path: member[i] (id): reason`).
fn at_rest(
    file: MembersFile,
    path: &Path,
    keyring: Option<&Keyring>,
) -> Result<MembersFile, Vec<String>> {
    let mut member = Vec::with_capacity(file.member.len());
    let mut problems = Vec::new();
    for (index, entry) in file.member.into_iter().enumerate() {
        let id = entry.id.clone();
        let rested = entry.with_token_hashed().and_then(|entry| match keyring {
            Some(keyring) => entry
                .with_outbound_token_sealed(keyring)
                .map_err(|e| e.to_string()),
            None => Ok(entry),
        });
        match rested {
            Ok(entry) => member.push(entry),
            Err(reason) => problems.push(format!(
                "{}: member[{index}] ({id}): {reason}",
                path.display()
            )),
        }
    }
    if problems.is_empty() {
        Ok(MembersFile { member })
    } else {
        Err(problems)
    }
}

/// The members of `file`, each checked, problems named with the file.
fn checked(
    file: MembersFile,
    path: Option<&Path>,
    keyring: Option<&Keyring>,
) -> Result<Vec<LoadedMember>, Vec<String>> {
    file::check(file, keyring).map_err(|problems| {
        let place = path.map_or_else(String::new, |p| format!("{}: ", p.display()));
        problems
            .into_iter()
            .map(|p| format!("{place}{p}"))
            .collect()
    })
}

fn edit_error(error: OwnedFileError) -> MemberEditError {
    match error {
        OwnedFileError::Unreadable { path, reason } => {
            MemberEditError::Invalid(vec![format!("{}: cannot read: {reason}", path.display())])
        }
        OwnedFileError::Io { path, reason } => MemberEditError::Io { path, reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, net_id: &str) -> MemberEntry {
        let text = format!(
            "id = {id:?}\nurl = \"http://127.0.0.1:1/bi\"\ntoken = \"token-of-{id}-0123456789\"\nnet_id = {net_id:?}\n"
        );
        toml::from_str(&text).expect("entry")
    }

    fn files() -> (tempfile::TempDir, MemberFiles) {
        let dir = tempfile::tempdir().expect("dir");
        let operator = dir.path().join("members.toml");
        std::fs::write(
            &operator,
            "[[member]]\nid = \"a\"\nurl = \"http://127.0.0.1:1/bi\"\n\
             token = \"token-of-a-0123456789\"\nnet_id = \"000013\"\n",
        )
        .expect("operator file");
        let files = MemberFiles::new(Some(operator), None);
        (dir, files)
    }

    #[test]
    fn api_members_join_the_operators_and_load_back() {
        let (dir, files) = files();
        assert_eq!(files.api, Some(dir.path().join(DEFAULT_API_FILE)));
        let put = MemberEdit::Put(Box::new(entry("b", "000014")));
        let (directory, applied) = files.apply(&put).expect("created");
        assert_eq!(applied, Applied::Created);
        assert_eq!(directory.members().len(), 2);
        let reloaded = files.load().expect("reload");
        assert!(reloaded.get(&"b".into()).is_some());
        assert!(reloaded
            .authenticate(Some("token-of-b-0123456789"))
            .is_some());
        let (_, applied) = files.apply(&put).expect("replaced");
        assert_eq!(applied, Applied::Replaced);
        let (directory, applied) = files
            .apply(&MemberEdit::Remove("b".into()))
            .expect("removed");
        assert_eq!(applied, Applied::Removed);
        assert_eq!(directory.members().len(), 1);
        assert_eq!(files.load().expect("reload").members().len(), 1);
    }

    #[test]
    fn conflicts_and_operator_members_are_refused_and_nothing_is_written() {
        let (_dir, files) = files();
        let api = files.api.clone().expect("api file");
        let err = files.apply(&MemberEdit::Remove("a".into()));
        assert!(
            matches!(err, Err(MemberEditError::DefinedInFile(_))),
            "{err:?}"
        );
        let err = files.apply(&MemberEdit::Remove("z".into()));
        assert!(matches!(err, Err(MemberEditError::NotFound(_))), "{err:?}");
        // Same NetID as a, no DevAddr pools to tell them apart.
        let err = files.apply(&MemberEdit::Put(Box::new(entry("c", "000013"))));
        let Err(MemberEditError::Invalid(problems)) = err else {
            panic!("conflict accepted: {err:?}");
        };
        assert!(problems[0].contains("000013"), "{problems:?}");
        let mut bad = entry("d", "000015");
        bad.token = Some("short".into());
        let err = files.apply(&MemberEdit::Put(Box::new(bad)));
        assert!(matches!(err, Err(MemberEditError::Invalid(_))), "{err:?}");
        assert!(!api.exists());
        assert!(MemberFiles::default()
            .apply(&MemberEdit::Remove("a".into()))
            .is_err_and(|e| matches!(e, MemberEditError::NoFile)));
    }

    #[test]
    fn the_api_file_keeps_digests_of_tokens_never_the_tokens() {
        let (_dir, files) = files();
        let api = files.api.clone().expect("api file");
        files
            .apply(&MemberEdit::Put(Box::new(entry("b", "000014"))))
            .expect("created");
        let written = std::fs::read_to_string(&api).expect("api file");
        let digest = service::auth::TokenDigest::of("token-of-b-0123456789").to_hex();
        assert!(!written.contains("token-of-b-0123456789"), "{written}");
        assert!(
            written.contains(&format!("token_sha256 = \"{digest}\"")),
            "{written}"
        );
        let reloaded = files.load().expect("reload");
        assert!(reloaded
            .authenticate(Some("token-of-b-0123456789"))
            .is_some_and(|m| m.id.0 == "b"));
        // The same token under another member, as a digest: caught as shared.
        let mut twin = entry("c", "000015");
        (twin.token, twin.token_sha256) = (None, Some(digest.to_ascii_uppercase()));
        let err = files.apply(&MemberEdit::Put(Box::new(twin)));
        let Err(MemberEditError::Invalid(problems)) = err else {
            panic!("a shared token accepted: {err:?}");
        };
        assert!(
            problems[0].contains("b and c share a token"),
            "{problems:?}"
        );
        // Both forms at once: refused before anything is written, naming the member.
        let mut both = entry("d", "000016");
        both.token_sha256 = Some(digest);
        let err = files.apply(&MemberEdit::Put(Box::new(both)));
        let Err(MemberEditError::Invalid(problems)) = err else {
            panic!("both forms accepted: {err:?}");
        };
        assert!(
            problems[0].contains("member[1] (d): both token and token_sha256"),
            "{problems:?}"
        );
    }

    fn keyring(current: u8, retired: &[u8]) -> Keyring {
        let key = |b: u8| service::sealing::MasterKey::new(lorawan::ids::AesKey::new([b; 16]));
        Keyring::new(key(current), retired.iter().map(|b| key(*b)).collect()).expect("keyring")
    }

    fn with_outbound(id: &str, net_id: &str) -> MemberEntry {
        let mut entry = entry(id, net_id);
        entry.outbound_token = Some(format!("hub-to-{id}-outbound"));
        entry
    }

    #[test]
    fn with_a_keyring_the_api_file_keeps_outbound_tokens_sealed() {
        let (_dir, files) = files();
        let api = files.api.clone().expect("api file");
        let files = files.with_keyring(Some(keyring(1, &[])));
        let (directory, _) = files
            .apply(&MemberEdit::Put(Box::new(with_outbound("b", "000014"))))
            .expect("created");
        let presented = |directory: &Directory| {
            directory
                .get(&"b".into())
                .and_then(|m| m.endpoint.bearer_token().map(str::to_owned))
        };
        assert_eq!(presented(&directory).as_deref(), Some("hub-to-b-outbound"));
        let written = std::fs::read_to_string(&api).expect("api file");
        assert!(!written.contains("hub-to-b-outbound"), "{written}");
        assert!(!written.contains("outbound_token ="), "{written}");
        let first_seal = format!(
            "outbound_token_sealed = \"sealed:v1:{}",
            keyring(1, &[]).current().id()
        );
        assert!(written.contains(&first_seal), "{written}");
        assert_eq!(
            presented(&files.load().expect("reload")).as_deref(),
            Some("hub-to-b-outbound")
        );
        // Without the keyring the file does not load, naming the member.
        let keyless = files.clone().with_keyring(None);
        let problems = keyless.load().expect_err("no keyring");
        assert!(
            problems[0].contains("member[0] (b): outbound_token_sealed needs the hub's master key"),
            "{problems:?}"
        );
        // After a rotation, an edit of another member re-seals b under the new key.
        let rotated = files.with_keyring(Some(keyring(2, &[1])));
        rotated
            .apply(&MemberEdit::Put(Box::new(with_outbound("c", "000015"))))
            .expect("created");
        let written = std::fs::read_to_string(&api).expect("api file");
        assert!(!written.contains(&first_seal), "{written}");
        assert_eq!(
            written
                .matches("outbound_token_sealed = \"sealed:v1:")
                .count(),
            2
        );
        let retired_removed = rotated.with_keyring(Some(keyring(2, &[])));
        assert_eq!(
            presented(&retired_removed.load().expect("only the new key needed")).as_deref(),
            Some("hub-to-b-outbound")
        );
    }

    #[test]
    fn without_a_keyring_the_api_file_keeps_outbound_tokens_as_given() {
        let (_dir, files) = files();
        let api = files.api.clone().expect("api file");
        files
            .apply(&MemberEdit::Put(Box::new(with_outbound("b", "000014"))))
            .expect("created");
        let written = std::fs::read_to_string(&api).expect("api file");
        assert!(
            written.contains("outbound_token = \"hub-to-b-outbound\""),
            "{written}"
        );
    }
}
