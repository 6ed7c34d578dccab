//! A TOML file the hub itself writes (the admin API's edits of policies and members), kept
//! beside the operator's own files so that a restart or reload reads them the same way.
//!
//! Reading: a missing file is the empty default. Writing is atomic: the new text goes to a
//! file beside it whose name starts with `.` (which the loaders skip), is synced, then
//! renamed over the old one, so a crash leaves either the old file or the new one. The file
//! is readable by the hub's user only (mode 0600): the API's members file holds tokens.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why an owned file could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnedFileError {
    /// The file is not what the hub wrote (edited by hand into something invalid).
    #[error("{}: cannot read: {reason}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The system refused.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
}

/// What an edit of an entry of an owned file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A new entry.
    Created,
    /// An entry, replaced.
    Replaced,
    /// An entry, removed.
    Removed,
}

impl Applied {
    /// `created`, `replaced` or `removed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Replaced => "replaced",
            Self::Removed => "removed",
        }
    }
}

/// Puts `entry` in `entries`, replacing the one with the same `id`.
pub fn upsert<T>(entries: &mut Vec<T>, entry: T, id: impl Fn(&T) -> &String) -> Option<Applied> {
    match entries.iter_mut().find(|e| id(e) == id(&entry)) {
        Some(existing) => {
            *existing = entry;
            Some(Applied::Replaced)
        }
        None => {
            entries.push(entry);
            Some(Applied::Created)
        }
    }
}

/// Removes the entry whose `id` is `wanted`; `None` when there is none.
pub fn remove<T>(
    entries: &mut Vec<T>,
    wanted: &str,
    id: impl Fn(&T) -> &String,
) -> Option<Applied> {
    let index = entries.iter().position(|e| id(e) == wanted)?;
    entries.remove(index);
    Some(Applied::Removed)
}

/// The contents of `path`, or `T::default()` when there is no such file.
pub fn read<T: DeserializeOwned + Default>(path: &Path) -> Result<T, OwnedFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
        Err(e) => {
            return Err(OwnedFileError::Io {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        }
    };
    toml::from_str(&text).map_err(|e| OwnedFileError::Unreadable {
        path: path.to_path_buf(),
        reason: e.message().to_owned(),
    })
}

/// Replaces `path` with `header` (comment lines) and `value` as TOML, atomically.
pub fn write<T: Serialize>(path: &Path, header: &str, value: &T) -> Result<(), OwnedFileError> {
    let io = |e: std::io::Error| OwnedFileError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let text = toml::to_string(value).map_err(|e| OwnedFileError::Io {
        path: path.to_path_buf(),
        reason: format!("cannot write the entries as TOML: {e}"),
    })?;
    let name = path
        .file_name()
        .map_or_else(|| "owned".into(), |n| n.to_string_lossy().into_owned());
    let temporary = path.with_file_name(format!(".{name}.tmp"));
    // Owner-only: the members file the API writes holds bearer tokens. A leftover from a
    // crash is removed first, since an existing file keeps its mode.
    let _ = std::fs::remove_file(&temporary);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(io)?;
    out.write_all(header.as_bytes()).map_err(io)?;
    out.write_all(text.as_bytes()).map_err(io)?;
    out.sync_all().map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, serde::Deserialize, serde::Serialize)]
    struct Sample {
        names: Vec<String>,
    }

    #[test]
    fn missing_is_empty_and_writes_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("owned.toml");
        assert_eq!(read::<Sample>(&path), Ok(Sample::default()));
        let sample = Sample {
            names: vec!["a".into()],
        };
        write(&path, "# header\n", &sample).expect("written");
        assert!(std::fs::read_to_string(&path)
            .expect("text")
            .starts_with("# header\n"));
        assert_eq!(read::<Sample>(&path), Ok(sample));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).expect("metadata").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "owner-only");
        std::fs::write(&path, "names = 3").expect("hand edit");
        assert!(matches!(
            read::<Sample>(&path),
            Err(OwnedFileError::Unreadable { .. })
        ));
    }
}
