//! The UDR writer on a SQLite file with `sqlite_sync = "normal"`: records go into the
//! memory-mapped [`Journal`], and a thread of its own drains it into `udrs`.
//!
//! A caller's record is durable against a killed hub once it is copied into the journal,
//! so the answer waits for a copy, not for a database commit (the hub's closed-loop profile
//! had the commit path — the hand-off to the writer thread, its wake-ups, SQLite's locks and
//! WAL writes, and the settle steps every caller queued behind — as the largest part of the
//! tail at 5,000 transactions/s). Every [`DRAIN_EVERY`], when the active segment is half
//! full, and before every read, the drainer retires the active segment and stores its
//! records in `udrs` in one transaction, together with the segment's generation in
//! `udr_journal`; then the segment may be reused. At start, segments whose generation the
//! database does not have are stored first, so what a killed hub answered is in `udrs`
//! before the restarted one serves anything.
//!
//! Readers of the database that do not go through the hub (another process on the file)
//! see a record up to [`DRAIN_EVERY`] after its answer; the hub's own queries drain first.
//! With `sqlite_sync = "full"` (durable against a power loss) the hub keeps the writer that
//! commits before answering ([`super::sqlite_writer`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};
use service::database::SqliteFile;
use tokio::sync::{oneshot, Notify};

use super::journal::{path_for, AppendError, Journal, Retired, SEGMENT_BYTES};
use super::journal_record;
use super::model::Udr;
use super::sqlite_writer::{open, settle_oldest};
use super::store::insert_one_into_udrs_sql;
use super::writer::SETTLE_STEP;
use super::UdrError;

/// How long a record may wait in the journal before the drainer stores it in `udrs`.
pub const DRAIN_EVERY: Duration = Duration::from_millis(100);

/// What the drainer is asked.
enum Request {
    /// Drain now (the active segment is half full, or a caller waits for room).
    Drain,
    /// Drain now and say when what was journaled before is in `udrs` (a read).
    Flush(oneshot::Sender<Result<(), UdrError>>),
    /// Drain, close the journal and end (the hub is stopping); say when done.
    Close(oneshot::Sender<()>),
}

/// The journal and how callers and the drainer signal each other.
struct Shared {
    journal: Journal,
    /// Notified after every drain: callers that found the journal full try again.
    room: Notify,
    /// A `Drain` request is on its way: callers need not send another.
    drain_requested: AtomicBool,
}

/// The callers' side: cheap to clone. The drainer stores what is left and ends once every
/// handle is dropped.
#[derive(Clone)]
pub(super) struct JournalHandle {
    shared: Arc<Shared>,
    requests: flume::Sender<Request>,
}

impl std::fmt::Debug for JournalHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalHandle")
            .field("journal", &self.shared.journal)
            .finish()
    }
}

/// Opens the journal beside `file`, stores what a previous run left in it, and starts the
/// drainer thread.
pub(super) fn start(file: &SqliteFile) -> Result<JournalHandle, UdrError> {
    let mut connection = open(file)?;
    let (journal, left) = Journal::open(&path_for(&file.path))?;
    let drained = drained_generations(&connection)?;
    let mut newest = drained.values().copied().max().unwrap_or(0);
    for retired in left {
        newest = newest.max(retired.generation);
        if drained.get(&retired.segment) >= Some(&retired.generation) {
            continue;
        }
        let stored = store(&mut connection, &retired)?;
        tracing::info!(
            records = stored,
            journal = %journal.path().display(),
            "UDRs a previous run journaled are stored"
        );
    }
    journal.start(newest);
    // An older hub committed into the inbox: move whatever it left (reads would, too).
    while settle_oldest(&mut connection)? == SETTLE_STEP as u64 {}

    let shared = Arc::new(Shared {
        journal,
        room: Notify::new(),
        drain_requested: AtomicBool::new(false),
    });
    let (requests, received) = flume::bounded(64);
    let drainer = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("udr-drainer".into())
        .spawn(move || drain_until_closed(connection, &drainer, &received))
        .map_err(UdrError::Thread)?;
    Ok(JournalHandle { shared, requests })
}

impl JournalHandle {
    /// Journals `udr`; once `Ok`, the record survives the hub. Waits only when the journal
    /// is full (the database has fallen behind): back-pressure on routing.
    pub(super) async fn record(&self, udr: &Udr) -> Result<(), UdrError> {
        let payload = journal_record::encode(udr);
        loop {
            if self.try_append(&payload)? {
                return Ok(());
            }
            // Full. The wait for room is registered before asking again, so a drain that
            // made room in between is not missed; the common case never registers at all.
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if self.try_append(&payload)? {
                return Ok(());
            }
            self.request_drain()?;
            room.await;
        }
    }

    /// Appends `payload`: `true` once it is in, `false` when the journal is full. Asks for
    /// a drain once the active segment is half full.
    fn try_append(&self, payload: &[u8]) -> Result<bool, UdrError> {
        match self.shared.journal.append(payload) {
            Ok(used) => {
                if used > SEGMENT_BYTES / 2 {
                    self.request_drain()?;
                }
                Ok(true)
            }
            Err(AppendError::Full) => Ok(false),
            Err(AppendError::Closed) => Err(UdrError::WriterStopped),
            Err(AppendError::TooLarge(bytes)) => Err(UdrError::Batch(format!(
                "a record of {bytes} bytes does not fit in the journal"
            ))),
        }
    }

    /// A flusher for readers that does not keep the drainer alive.
    pub(super) fn flusher(&self) -> JournalFlusher {
        JournalFlusher {
            requests: self.requests.downgrade(),
        }
    }

    /// Stores what the journal holds, closes it (a hub started next on the database may
    /// open it) and ends the drainer; records offered later are refused.
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.requests.send_async(Request::Close(done)).await.is_ok() {
            // An error: the drainer has ended already.
            let _ = closed.await;
        }
    }

    fn request_drain(&self) -> Result<(), UdrError> {
        if self.shared.drain_requested.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        match self.requests.try_send(Request::Drain) {
            // A full queue has drains and flushes enough in it.
            Ok(()) | Err(flume::TrySendError::Full(_)) => Ok(()),
            Err(flume::TrySendError::Disconnected(_)) => Err(UdrError::WriterStopped),
        }
    }
}

/// What a reader holds to have the journal drained before it reads: unlike a
/// [`JournalHandle`], it does not keep the drainer running once the writer is gone.
#[derive(Clone)]
pub(super) struct JournalFlusher {
    requests: flume::WeakSender<Request>,
}

impl std::fmt::Debug for JournalFlusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JournalFlusher")
    }
}

impl JournalFlusher {
    /// Returns once every record journaled before the call is in `udrs`; at once when the
    /// writer is gone (its drainer stored what it could when it closed, and the next start
    /// stores the rest).
    pub(super) async fn flush(&self) -> Result<(), UdrError> {
        let Some(requests) = self.requests.upgrade() else {
            return Ok(());
        };
        let (done, stored) = oneshot::channel();
        requests
            .send_async(Request::Flush(done))
            .await
            .map_err(|_| UdrError::WriterStopped)?;
        // Not held while waiting: the flusher never keeps the drainer alive.
        drop(requests);
        stored.await.map_err(|_| UdrError::WriterStopped)?
    }
}

/// The drainer: a drain every [`DRAIN_EVERY`] or on request, until it is closed or every
/// handle is gone; then a last one, and the journal is closed.
fn drain_until_closed(
    mut connection: Connection,
    shared: &Shared,
    requests: &flume::Receiver<Request>,
) {
    loop {
        let mut asked = Asked::default();
        match requests.recv_timeout(DRAIN_EVERY) {
            Ok(request) => asked.add(request),
            Err(flume::RecvTimeoutError::Timeout) => {}
            Err(flume::RecvTimeoutError::Disconnected) => asked.closed = true,
        }
        for request in requests.try_iter() {
            asked.add(request);
        }
        shared.drain_requested.store(false, Ordering::Release);
        let outcome = drain(&mut connection, &shared.journal);
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "UDR journal not drained; retried shortly");
        }
        if asked.closed {
            // What could not be stored stays in the file for the next start.
            shared.journal.close();
        }
        shared.room.notify_waiters();
        for done in asked.flushes {
            // A reader that gave up no longer listens.
            let _ = done.send(match &outcome {
                Ok(()) => Ok(()),
                Err(e) => Err(UdrError::Batch(e.to_string())),
            });
        }
        if asked.closed {
            for done in asked.closes {
                let _ = done.send(());
            }
            break;
        }
        if outcome.is_err() {
            // The callers waiting for room ask again at once: without a pause a database
            // that keeps failing (a full disk) would have the drainer spin.
            std::thread::sleep(DRAIN_EVERY);
        }
    }
}

/// What one round of the drainer was asked.
#[derive(Default)]
struct Asked {
    flushes: Vec<oneshot::Sender<Result<(), UdrError>>>,
    closes: Vec<oneshot::Sender<()>>,
    closed: bool,
}

impl Asked {
    fn add(&mut self, request: Request) {
        match request {
            Request::Drain => {}
            Request::Flush(done) => self.flushes.push(done),
            Request::Close(done) => {
                self.closes.push(done);
                self.closed = true;
            }
        }
    }
}

/// Stores what the journal holds: the segment left retired by a failed drain, if any, then
/// the active one.
fn drain(connection: &mut Connection, journal: &Journal) -> Result<(), UdrError> {
    for _ in 0..2 {
        let Some(retired) = journal.retire() else {
            return Ok(());
        };
        store(connection, &retired)?;
        journal.release(&retired);
    }
    Ok(())
}

/// Stores `retired`'s records in `udrs` and notes its generation as drained, in one
/// transaction. Returns how many records were stored.
///
/// A record that cannot be read back or that SQLite refuses (neither happens to a record
/// this hub journaled) is logged whole, for the operator to recover, and skipped: the
/// others are not held back by it.
fn store(connection: &mut Connection, retired: &Retired) -> Result<usize, UdrError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut stored = 0;
    {
        let mut insert = transaction.prepare_cached(insert_one_into_udrs_sql())?;
        for payload in &retired.records {
            let outcome = journal_record::decode(payload).and_then(|row| {
                insert
                    .execute(rusqlite::params_from_iter(row.iter()))
                    .map_err(|e| e.to_string())
            });
            match outcome {
                Ok(_) => stored += 1,
                // SQLite rolled the transaction back (I/O error, disk full): the segment
                // stays retired and is tried again.
                Err(_) if transaction.is_autocommit() => {
                    return Err(UdrError::Batch(
                        "the drain's transaction was rolled back".into(),
                    ))
                }
                Err(reason) => tracing::error!(
                    %reason,
                    record = %journal_record::describe(payload),
                    "journaled UDR cannot be stored; skipped"
                ),
            }
        }
    }
    transaction.execute(
        "INSERT INTO udr_journal (segment, generation) VALUES (?1, ?2) \
         ON CONFLICT (segment) DO UPDATE SET generation = excluded.generation",
        rusqlite::params![retired.segment as i64, retired.generation as i64],
    )?;
    transaction.commit()?;
    Ok(stored)
}

/// The generation of each segment the database has stored.
fn drained_generations(connection: &Connection) -> Result<HashMap<usize, u64>, UdrError> {
    let mut statement = connection.prepare("SELECT segment, generation FROM udr_journal")?;
    let rows = statement.query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))?;
    let mut drained = HashMap::new();
    for row in rows {
        let (segment, generation) = row?;
        if let (Ok(segment), Ok(generation)) = (usize::try_from(segment), u64::try_from(generation))
        {
            drained.insert(segment, generation);
        }
    }
    Ok(drained)
}
