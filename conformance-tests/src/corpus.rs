//! The shared corpus of real Backend Interfaces messages (`shared/conformance/bi/`).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Which folder a corpus message comes from, i.e. what a conforming peer does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    /// `accept/`: valid, answered normally.
    Accept,
    /// `reject/`: invalid, answered with a protocol error.
    Reject,
    /// `edge/`: peers disagree; see schemas/README.md.
    Edge,
}

/// One corpus message.
#[derive(Debug, Clone)]
pub struct CorpusMessage {
    /// File name without folder.
    pub name: String,
    /// Its folder's meaning.
    pub expectation: Expectation,
    /// The raw bytes (some are not valid JSON on purpose).
    pub bytes: Vec<u8>,
}

impl CorpusMessage {
    /// The message as JSON, when it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.bytes).ok()
    }

    /// Its MessageType, when readable.
    pub fn message_type(&self) -> Option<String> {
        self.json()?.get("MessageType")?.as_str().map(str::to_owned)
    }
}

/// `shared/` as CI lays it out (beside the repository), or `SWITCHYARD_SHARED`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("SWITCHYARD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

/// Every `.json` message of `accept/`, `reject/` and `edge/` under `bi_dir`, sorted by name.
pub fn load(bi_dir: &Path) -> std::io::Result<Vec<CorpusMessage>> {
    let mut out = Vec::new();
    for (folder, expectation) in [
        ("accept", Expectation::Accept),
        ("reject", Expectation::Reject),
        ("edge", Expectation::Edge),
    ] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(bi_dir.join(folder))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for path in files {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push(CorpusMessage {
                name,
                expectation,
                bytes: std::fs::read(&path)?,
            });
        }
    }
    Ok(out)
}
