//! The UDR journal: a memory-mapped file beside the SQLite database where a record is
//! durable against a killed hub the moment it is copied in.
//!
//! Stores into a shared file mapping land in the kernel's page cache, which outlives the
//! process: a hub killed with SIGKILL right after answering has its record in the file, and
//! the next start moves it into the database ([`super::journal_writer`]). Writing one costs a
//! copy of a few hundred bytes under a mutex — no system call, no thread hand-off, no disk
//! on the answer path. (Like SQLite's `synchronous = NORMAL`, this survives the process,
//! not a power loss: the kernel writes the pages back in its own time.)
//!
//! Layout: two segments of [`SEGMENT_BYTES`]. Each starts with a header (magic, generation)
//! and holds records `[length u32][crc32 u32][payload][padding to 8]`, the checksum taken
//! over the segment's generation and the payload, so a record left from an earlier use of
//! the segment, or cut short by the kill, does not pass as one. Records go into the
//! *active* segment; [`Journal::retire`] makes the other one active and hands back the
//! retired one's records for the drainer, which releases the segment once they are
//! committed to the database.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use memmap2::MmapMut;

/// Bytes of one segment (two in the file).
pub const SEGMENT_BYTES: usize = 4 << 20;
/// The segment header: magic, then the generation (u64, little-endian).
const HEADER_BYTES: usize = 16;
const MAGIC: &[u8; 8] = b"SWYUDRJ1";
/// Length and checksum before each payload.
const RECORD_HEADER_BYTES: usize = 8;
/// A payload larger than this can never fit: refused rather than waited for.
pub const MAX_PAYLOAD: usize = SEGMENT_BYTES / 4;

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// Why the journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file cannot be created, sized or mapped.
    #[error("UDR journal {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Another process (a second hub on the same database) holds the journal.
    #[error("UDR journal {0} is in use by another process (a second hub on this database?)")]
    InUse(PathBuf),
}

/// Where a record did not go.
#[derive(Debug, PartialEq, Eq)]
pub enum AppendError {
    /// The active segment has no room: wait until the drainer has retired it.
    Full,
    /// The record is larger than [`MAX_PAYLOAD`].
    TooLarge(usize),
    /// The journal is closed (the hub is stopping).
    Closed,
}

/// A segment taken out of use, with what it holds.
#[derive(Debug)]
pub struct Retired {
    /// Which segment (0 or 1).
    pub segment: usize,
    /// Its generation: the drainer notes it as drained in the database, in the transaction
    /// that stores the records, so a start after a kill replays only what it must.
    pub generation: u64,
    /// The payloads, oldest first.
    pub records: Vec<Vec<u8>>,
}

/// The journal file, mapped; shared by every caller and the drainer.
pub struct Journal {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    /// The file, kept open (it holds the lock) and mapped until [`Journal::close`].
    open: Option<(File, [MmapMut; 2])>,
    active: usize,
    generation: u64,
    /// Where the next record goes in the active segment.
    cursor: usize,
    /// A retired segment whose records are not yet committed (segment, generation, bytes
    /// in use): it cannot become active.
    retired: Option<(usize, u64, usize)>,
    next_generation: u64,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

/// The journal file of the SQLite database at `database`.
pub fn path_for(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-udr-journal");
    PathBuf::from(name)
}

impl Journal {
    /// Opens (or creates) the journal at `path` and locks it. Returns the journal and what
    /// its segments held from the last run (oldest first), which the caller must store
    /// before calling [`Journal::start`]; until then nothing can be appended.
    pub fn open(path: &Path) -> Result<(Self, Vec<Retired>), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::InUse(path.to_owned()))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let total = 2 * SEGMENT_BYTES as u64;
        if file.metadata().map_err(io)?.len() != total {
            // Written out, not just sized: a sparse file would allocate its blocks when the
            // kernel writes the pages back, and a full disk would then fault the hub.
            file.set_len(0).map_err(io)?;
            std::io::Write::write_all(&mut &file, &vec![0; 2 * SEGMENT_BYTES]).map_err(io)?;
        }
        let segments = [
            map_segment(&file, 0).map_err(io)?,
            map_segment(&file, 1).map_err(io)?,
        ];
        let mut found: Vec<Retired> = (0..2)
            .filter_map(|segment| {
                let generation = generation_of(&segments[segment])?;
                Some(Retired {
                    segment,
                    generation,
                    records: records_in(&segments[segment], generation),
                })
            })
            .collect();
        found.sort_by_key(|r| r.generation);
        let next_generation = found.last().map_or(1, |r| r.generation + 1);
        let journal = Self {
            path: path.to_owned(),
            state: Mutex::new(State {
                open: Some((file, segments)),
                active: 0,
                generation: 0,
                cursor: SEGMENT_BYTES,
                retired: None,
                next_generation,
            }),
        };
        Ok((journal, found))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts taking records, in a fresh generation, once what [`Journal::open`] found is
    /// stored. `after` is the highest generation the database knows as drained, so a new
    /// generation never repeats one it has noted.
    pub fn start(&self, after: u64) {
        let mut state = self.lock();
        state.next_generation = state.next_generation.max(after + 1);
        state.retired = None;
        let segment = state.active;
        state.activate(segment);
    }

    /// Copies `payload` in. Once this returns `Ok`, the record survives the process. `Ok`
    /// holds how many bytes of the active segment are in use now.
    pub fn append(&self, payload: &[u8]) -> Result<usize, AppendError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(AppendError::TooLarge(payload.len()));
        }
        let length =
            u32::try_from(payload.len()).map_err(|_| AppendError::TooLarge(payload.len()))?;
        let mut state = self.lock();
        let start = state.cursor;
        let end = start + RECORD_HEADER_BYTES + padded(payload.len());
        let checksum = checksum(state.generation, payload);
        let active = state.active;
        let Some((_, segments)) = &mut state.open else {
            return Err(AppendError::Closed);
        };
        if end > SEGMENT_BYTES {
            return Err(AppendError::Full);
        }
        let segment = &mut segments[active];
        // The payload before its length: a record whose length is in place is whole (the
        // checksum says so too, should a kill tear the copy).
        segment[start + RECORD_HEADER_BYTES..start + RECORD_HEADER_BYTES + payload.len()]
            .copy_from_slice(payload);
        segment[start + 4..start + 8].copy_from_slice(&checksum.to_le_bytes());
        segment[start..start + 4].copy_from_slice(&length.to_le_bytes());
        // The next record's length must read as "none" until it is written: the space
        // may hold a record from the segment's previous generation.
        if end + 4 <= SEGMENT_BYTES {
            segment[end..end + 4].fill(0);
        }
        state.cursor = end;
        Ok(end)
    }

    /// Retires the active segment if it holds records (the other becomes active) and
    /// returns its records; or returns the segment retired before, if it was not released
    /// (its records were not stored: the drainer tries again). `None`: nothing to store.
    pub fn retire(&self) -> Option<Retired> {
        // Only the bytes in use are copied under the lock; the records are read out of the
        // copy after it, so appenders do not wait for the parsing.
        let (segment, generation, used) = {
            let mut state = self.lock();
            state.open.as_ref()?;
            let retired = match state.retired {
                Some(retired) => retired,
                None if state.cursor == HEADER_BYTES => return None,
                None => {
                    let retired = (state.active, state.generation, state.cursor);
                    let other = 1 - state.active;
                    state.activate(other);
                    state.retired = Some(retired);
                    retired
                }
            };
            let (segment, generation, end) = retired;
            let used = state.open.as_ref()?.1[segment][..end].to_vec();
            (segment, generation, used)
        };
        Some(Retired {
            segment,
            generation,
            records: records_in(&used, generation),
        })
    }

    /// The retired segment's records are stored: it may become active again.
    pub fn release(&self, retired: &Retired) {
        let mut state = self.lock();
        if state.retired.is_some_and(|(segment, generation, _)| {
            (segment, generation) == (retired.segment, retired.generation)
        }) {
            state.retired = None;
        }
    }

    /// Unmaps and closes the file (releasing its lock, so a hub started next on the same
    /// database can open it); appends are refused from now on. What was not retired and
    /// stored stays in the file for the next start.
    pub fn close(&self) {
        self.lock().open = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps inconsistent (a torn record
        // fails its checksum), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl State {
    /// Makes `segment` the active one, in the next generation, empty.
    fn activate(&mut self, segment: usize) {
        let generation = self.next_generation;
        self.next_generation += 1;
        if let Some((_, segments)) = &mut self.open {
            let map = &mut segments[segment];
            map[HEADER_BYTES..HEADER_BYTES + 4].fill(0);
            map[..8].copy_from_slice(MAGIC);
            map[8..16].copy_from_slice(&generation.to_le_bytes());
        }
        self.active = segment;
        self.generation = generation;
        self.cursor = HEADER_BYTES;
    }
}

/// Maps segment `index` of the journal `file`, shared (stores reach the page cache).
///
/// The workspace's one `unsafe`: a mapping's memory changes if anyone else writes or
/// truncates the file. Nobody does: the hub holds the file's lock ([`Journal::open`]) for as
/// long as the maps live, and no other program has business with the file.
#[allow(unsafe_code)]
fn map_segment(file: &File, index: usize) -> std::io::Result<MmapMut> {
    // SAFETY: see above; the file is open, locked and sized before it is mapped.
    unsafe {
        memmap2::MmapOptions::new()
            .offset((index * SEGMENT_BYTES) as u64)
            .len(SEGMENT_BYTES)
            .map_mut(file)
    }
}

/// The generation in a segment's header; `None` for a segment never used.
fn generation_of(segment: &[u8]) -> Option<u64> {
    if &segment[..8] != MAGIC {
        return None;
    }
    let generation = u64::from_le_bytes(segment[8..16].try_into().ok()?);
    (generation != 0).then_some(generation)
}

/// The whole records of `generation` in `segment`, oldest first, up to the first that is
/// missing or not whole.
fn records_in(segment: &[u8], generation: u64) -> Vec<Vec<u8>> {
    let mut records = Vec::new();
    let mut at = HEADER_BYTES;
    while at + RECORD_HEADER_BYTES <= segment.len() {
        let length = u32::from_le_bytes(segment[at..at + 4].try_into().unwrap_or_default());
        let length = length as usize;
        let start = at + RECORD_HEADER_BYTES;
        if length == 0 || length > MAX_PAYLOAD || start + length > segment.len() {
            break;
        }
        let stored = u32::from_le_bytes(segment[at + 4..at + 8].try_into().unwrap_or_default());
        let payload = &segment[start..start + length];
        if checksum(generation, payload) != stored {
            break;
        }
        records.push(payload.to_vec());
        at = start + padded(length);
    }
    records
}

fn checksum(generation: u64, payload: &[u8]) -> u32 {
    let mut digest = CRC.digest();
    digest.update(&generation.to_le_bytes());
    digest.update(payload);
    digest.finalize()
}

/// `length` rounded up to a multiple of 8.
fn padded(length: usize) -> usize {
    length.div_ceil(8) * 8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new journal in `dir`, taking records.
    fn started(dir: &tempfile::TempDir) -> Journal {
        let (journal, found) = Journal::open(&dir.path().join("j")).expect("open");
        assert!(found.is_empty());
        journal.start(0);
        journal
    }

    fn payloads(retired: &Retired) -> Vec<String> {
        retired
            .records
            .iter()
            .map(|r| String::from_utf8(r.clone()).expect("utf-8"))
            .collect()
    }

    #[test]
    fn records_survive_a_reopen_without_release() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("j");
        {
            let (journal, found) = Journal::open(&path).expect("open");
            assert!(found.is_empty());
            journal.start(0);
            journal.append(b"one").expect("append");
            journal.append(b"two, longer than eight").expect("append");
            // Dropped as a killed hub would leave it: nothing retired or released.
        }
        let (journal, found) = Journal::open(&path).expect("reopen");
        assert_eq!(found.len(), 1);
        assert_eq!(payloads(&found[0]), ["one", "two, longer than eight"]);
        // A fresh generation: the old records are not read again from the new one.
        journal.start(found[0].generation);
        journal.append(b"three").expect("append");
        let retired = journal.retire().expect("records");
        assert_eq!(payloads(&retired), ["three"]);
        assert!(retired.generation > found[0].generation);
    }

    #[test]
    fn a_torn_record_ends_the_segment() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("j");
        {
            let (journal, _) = Journal::open(&path).expect("open");
            journal.start(0);
            journal.append(b"whole").expect("append");
            journal.append(b"torn by the kill").expect("append");
            let mut state = journal.lock();
            // One byte of the second payload never made it.
            let at = HEADER_BYTES + RECORD_HEADER_BYTES + padded(5) + RECORD_HEADER_BYTES;
            if let Some((_, segments)) = &mut state.open {
                segments[0][at] ^= 0xff;
            }
        }
        let (_, found) = Journal::open(&path).expect("reopen");
        assert_eq!(payloads(&found[0]), ["whole"]);
    }

    #[test]
    fn retire_alternates_segments_and_keeps_an_unreleased_one() {
        let dir = tempfile::tempdir().expect("dir");
        let journal = started(&dir);
        assert!(journal.retire().is_none(), "nothing to retire");
        journal.append(b"a").expect("append");
        let first = journal.retire().expect("retired");
        assert_eq!(payloads(&first), ["a"]);
        journal.append(b"b").expect("append");
        // Not released (the database failed): handed back again, the new record waits.
        let again = journal.retire().expect("retired again");
        assert_eq!(
            (again.segment, payloads(&again)),
            (first.segment, vec!["a".into()])
        );
        journal.release(&again);
        let second = journal.retire().expect("retired");
        assert_ne!(second.segment, first.segment);
        assert_eq!(payloads(&second), ["b"]);
        journal.release(&second);
        // The first segment is reused in a later generation: its old record is gone.
        journal.append(b"c").expect("append");
        assert_eq!(payloads(&journal.retire().expect("retired")), ["c"]);
    }

    #[test]
    fn a_full_segment_refuses_until_retired() {
        let dir = tempfile::tempdir().expect("dir");
        let journal = started(&dir);
        let record = vec![7_u8; 4096 - RECORD_HEADER_BYTES];
        let mut written = 0;
        let mut used = 0;
        while let Ok(now) = journal.append(&record) {
            written += 1;
            used = now;
        }
        assert!(used > SEGMENT_BYTES - 4096);
        assert_eq!(journal.append(&record), Err(AppendError::Full));
        assert!(written > 1000);
        let retired = journal.retire().expect("retired");
        assert_eq!(retired.records.len(), written);
        journal.append(&record).expect("room in the other segment");
        assert_eq!(
            journal.append(&vec![0; MAX_PAYLOAD + 1]),
            Err(AppendError::TooLarge(MAX_PAYLOAD + 1))
        );
    }

    #[test]
    fn a_second_opener_is_refused_until_the_first_closes() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("j");
        let (first, _) = Journal::open(&path).expect("open");
        first.start(0);
        first.append(b"kept").expect("append");
        assert!(matches!(Journal::open(&path), Err(JournalError::InUse(_))));
        first.close();
        assert_eq!(first.append(b"late"), Err(AppendError::Closed));
        let (_, found) = Journal::open(&path).expect("open after close");
        assert_eq!(payloads(&found[0]), ["kept"]);
    }
}
