//! Recording UDRs durably and fast.
//!
//! The hub answers a successful transaction only after its UDR is durable, so a hub killed
//! at any moment and restarted has a UDR for every success it answered. Three writers:
//! - on a SQLite file with `sqlite_sync = "normal"` (the default), the journal
//!   ([`super::journal_writer`]): the record is copied into a memory-mapped file, which
//!   survives the process, and drained into `udrs` off the answer path;
//! - on a SQLite file with `sqlite_sync = "full"`, a thread with its own connection
//!   ([`super::sqlite_writer`]) that commits (and so fsyncs) before acknowledging;
//! - otherwise (PostgreSQL), a tokio task on a connection of the pool (here).
//!
//! The two committing writers group-commit, like the jsd's activation writer: the writer
//! takes every record waiting in its queue (up to [`MAX_BATCH`]), inserts them in one
//! atomic commit on a connection it keeps, and only then acknowledges each caller. Under
//! load the batches grow by themselves (records queue while a commit runs); when idle a
//! record is written alone, without waiting for company.
//!
//! The rows go to `udr_inbox`, a table without secondary indexes, so a commit writes a page
//! or two; once the oldest has waited [`SETTLE_EVERY`] (and before any read) they are moved
//! into `udrs` in bulk, where the index writes of many records share one commit ([`Inbox`]
//! keeps that schedule). The writer moves them in steps of at most [`SETTLE_STEP`] records,
//! one step after each batch (or while idle), because every caller waits behind a step:
//! moving a whole interval's records at once (a thousand at 5,000 transactions/s) put ten
//! milliseconds into the answers of every transaction arriving meanwhile.
//!
//! A failing commit fails the whole batch (nothing of it is stored, every caller gets an
//! error). A record the database refuses — PostgreSQL a NUL character in a text, say — does
//! not take the batch's other records with it: only the offending one is refused.

use std::time::{Duration, Instant};

use service::database::{Database, SqliteSync};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection};
use tokio::sync::oneshot;

use super::journal_writer::{self, JournalFlusher, JournalHandle};
use super::model::Udr;
use super::sqlite_writer;
use super::store::{insert_rows, settle, statements_for, Settle};
use super::UdrError;

/// Records committed in one transaction at most.
pub const MAX_BATCH: usize = 512;
/// How long committed records may wait in the inbox before they are moved into `udrs` (a
/// read moves them at once): the bulk move costs far less per record than the per-commit
/// index writes it replaces, and the longer the interval, the larger the move.
pub const SETTLE_EVERY: Duration = Duration::from_millis(200);
/// Records moved from the inbox into `udrs` in one step of the writer at most.
pub const SETTLE_STEP: usize = 128;
/// Records waiting for the writer at most; callers beyond wait for room (back-pressure on
/// routing rather than memory without bound).
pub const QUEUE: usize = 8_192;

/// Records UDRs through the writer; cheap to clone. The writer ends once every handle is
/// dropped and what it holds is stored.
#[derive(Debug, Clone)]
pub struct UdrWriter {
    route: Route,
}

/// Which writer records go to.
#[derive(Debug, Clone)]
enum Route {
    /// The journal beside a SQLite file (`sqlite_sync = "normal"`).
    Journal(JournalHandle),
    /// A writer that commits before it acknowledges: the SQLite thread
    /// (`sqlite_sync = "full"`) or the pool task (PostgreSQL).
    Commit(flume::Sender<Job>),
}

/// A record waiting for the writer, and where to say how it ended.
pub(super) struct Job {
    pub(super) udr: Udr,
    pub(super) done: oneshot::Sender<Result<(), UdrError>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("transaction_id", &self.udr.transaction_id)
            .field("message_type", &self.udr.message_type)
            .finish()
    }
}

impl UdrWriter {
    /// Starts the writer of `database` (the hub's, migrated): on a SQLite file the journal
    /// and its drainer (`sqlite_sync = "normal"`) or a committing thread (`"full"`), each
    /// with its own connection; a task on the pool otherwise. Fails only if the SQLite file
    /// or the journal cannot be opened (a second hub holds it), what a previous run
    /// journaled cannot be stored, or the thread not started.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime when the database is not a SQLite file (the task is spawned
    /// on the current one).
    pub fn start(database: &Database) -> Result<Self, UdrError> {
        let route = match database.sqlite_file() {
            Some(file) if file.sync == SqliteSync::Normal => {
                Route::Journal(journal_writer::start(file)?)
            }
            Some(file) => {
                let (queue, jobs) = flume::bounded(QUEUE);
                sqlite_writer::start(file, jobs)?;
                Route::Commit(queue)
            }
            None => {
                let (queue, jobs) = flume::bounded(QUEUE);
                tokio::spawn(write_batches(database.pool().clone(), jobs));
                Route::Commit(queue)
            }
        };
        Ok(Self { route })
    }

    /// Records `udr`; returns once it is durable (`Ok`: journaled or committed) or known
    /// not to be (`Err`). Only after `Ok` may the transaction be answered as successful.
    ///
    /// A caller that stops waiting (its future dropped) does not withdraw the record: once
    /// queued it is written.
    pub async fn record(&self, udr: Udr) -> Result<(), UdrError> {
        match &self.route {
            Route::Journal(journal) => journal.record(&udr).await,
            Route::Commit(queue) => {
                let (done, outcome) = oneshot::channel();
                queue
                    .send_async(Job { udr, done })
                    .await
                    .map_err(|_| UdrError::WriterStopped)?;
                outcome.await.map_err(|_| UdrError::WriterStopped)?
            }
        }
    }

    /// Stops the writer once the hub has stopped routing: what it journaled is stored and
    /// the journal closed, so the next hub on the database opens it at once. Records
    /// offered afterwards are refused. (The committing writers end when their last handle
    /// is dropped.)
    pub async fn close(&self) {
        if let Route::Journal(journal) = &self.route {
            journal.close().await;
        }
    }

    /// What a reader needs to see what this writer acknowledged (see
    /// [`UdrStore::flushing`](super::UdrStore::flushing)); it does not keep the writer
    /// running.
    pub fn flusher(&self) -> UdrFlusher {
        UdrFlusher(match &self.route {
            Route::Journal(journal) => Some(journal.flusher()),
            Route::Commit(_) => None,
        })
    }
}

/// Has a writer store what it acknowledged but holds outside the database (the journal's
/// records) before a read; nothing to do for the committing writers.
#[derive(Debug, Clone)]
pub struct UdrFlusher(Option<JournalFlusher>);

impl UdrFlusher {
    /// Returns once every record acknowledged before the call is in the database.
    pub async fn flush(&self) -> Result<(), UdrError> {
        match &self.0 {
            Some(journal) => journal.flush().await,
            None => Ok(()),
        }
    }
}

/// The writer on the pool: batches and settle steps on one kept connection.
async fn write_batches(pool: AnyPool, jobs: flume::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut connection = None;
    let mut inbox = Inbox::at_start();
    loop {
        let first = match inbox.wait() {
            // A zero wait still takes a record already queued: `timeout` polls the receive
            // before it looks at the clock.
            Some(wait) => match tokio::time::timeout(wait, jobs.recv_async()).await {
                Ok(received) => received,
                Err(_idle) => {
                    step(&mut inbox, &pool, &mut connection).await;
                    continue;
                }
            },
            None => jobs.recv_async().await,
        };
        let Ok(first) = first else {
            break;
        };
        batch.push(first);
        batch.extend(jobs.try_iter().take(MAX_BATCH - 1));
        commit_and_answer(&pool, &mut connection, &mut batch).await;
        inbox.committed();
        if inbox.step_due() {
            step(&mut inbox, &pool, &mut connection).await;
        }
    }
    while inbox.is_unsettled() && step(&mut inbox, &pool, &mut connection).await {}
}

/// Commits `batch` and tells each caller how its record ended (emptying `batch`). A batch
/// the database refused as a whole is retried one record at a time, so only a refused
/// record fails.
async fn commit_and_answer(
    pool: &AnyPool,
    connection: &mut Option<PoolConnection<Any>>,
    batch: &mut Vec<Job>,
) {
    let (udrs, callers): (Vec<Udr>, Vec<_>) = batch.drain(..).map(|j| (j.udr, j.done)).unzip();
    match commit_batch(pool, connection, &udrs).await {
        Ok(()) => {
            for (udr, done) in udrs.iter().zip(callers) {
                answer(done, udr.transaction_id, Ok(()));
            }
        }
        Err(BatchError::Insert(e)) if udrs.len() > 1 => {
            tracing::warn!(error = %e, records = udrs.len(), "UDR batch refused, recording one by one");
            for (udr, done) in udrs.iter().zip(callers) {
                let outcome = commit_batch(pool, connection, std::slice::from_ref(udr))
                    .await
                    .map_err(BatchError::into_udr_error);
                answer(done, udr.transaction_id, outcome);
            }
        }
        Err(e) => fail_all(callers.into_iter(), &e.into_udr_error()),
    }
}

/// Tells a caller how its record (of `transaction_id`) ended; a refused record is logged.
pub(super) fn answer(
    done: oneshot::Sender<Result<(), UdrError>>,
    transaction_id: Option<u32>,
    outcome: Result<(), UdrError>,
) {
    if let Err(e) = &outcome {
        tracing::error!(error = %e, ?transaction_id, "UDR refused");
    }
    // A caller that gave up no longer listens; its record is stored anyway.
    let _ = done.send(outcome);
}

/// Tells every caller of a batch that its commit failed: nothing of it is stored.
pub(super) fn fail_all(
    callers: impl ExactSizeIterator<Item = oneshot::Sender<Result<(), UdrError>>>,
    error: &UdrError,
) {
    tracing::error!(error = %error, records = callers.len(), "UDR batch failed");
    let reason = error.to_string();
    for done in callers {
        // Logged once above for the whole batch.
        let _ = done.send(Err(UdrError::Batch(reason.clone())));
    }
}

/// When the writer moves records from `udr_inbox` into `udrs`: whether records wait there,
/// and since when (the time the inbox was last found empty, or the first record went in
/// after that). Only the writer adds records, so it knows.
pub(super) struct Inbox {
    unsettled: bool,
    settled_at: Instant,
}

impl Inbox {
    /// At start: a hub killed before it settled may have left records, so the first step is
    /// due at once.
    pub(super) fn at_start() -> Self {
        Self {
            unsettled: true,
            settled_at: Instant::now()
                .checked_sub(SETTLE_EVERY)
                .unwrap_or_else(Instant::now),
        }
    }

    /// How long the writer may wait for records before a step is due; `None`: nothing to
    /// settle, wait for records alone.
    pub(super) fn wait(&self) -> Option<Duration> {
        self.unsettled
            .then(|| SETTLE_EVERY.saturating_sub(self.settled_at.elapsed()))
    }

    /// Whether records may wait in the inbox.
    pub(super) fn is_unsettled(&self) -> bool {
        self.unsettled
    }

    /// A batch went into the inbox.
    pub(super) fn committed(&mut self) {
        if !self.unsettled {
            self.unsettled = true;
            self.settled_at = Instant::now();
        }
    }

    /// Whether the oldest records have waited long enough for a step.
    pub(super) fn step_due(&self) -> bool {
        self.unsettled && self.settled_at.elapsed() >= SETTLE_EVERY
    }

    /// How a step of at most [`SETTLE_STEP`] records ended: a step that moved fewer has
    /// emptied the inbox. A failure is logged; the records stay where they are (committed;
    /// a later step or read moves them) and the next step waits a whole interval. Returns
    /// whether the step succeeded.
    pub(super) fn stepped(&mut self, outcome: Result<u64, UdrError>) -> bool {
        match outcome {
            Ok(moved) => {
                if moved < SETTLE_STEP as u64 {
                    self.unsettled = false;
                    self.settled_at = Instant::now();
                }
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "UDR inbox not settled; retried later");
                self.settled_at = Instant::now();
                false
            }
        }
    }
}

/// One settle step on the writer's connection (dropped after a failure, like a batch's).
async fn step(
    inbox: &mut Inbox,
    pool: &AnyPool,
    connection: &mut Option<PoolConnection<Any>>,
) -> bool {
    let outcome = match kept_connection(pool, connection).await {
        Ok(conn) => settle(conn, Settle::Oldest(SETTLE_STEP)).await,
        Err(e) => Err(e.into()),
    };
    if outcome.is_err() {
        *connection = None;
    }
    inbox.stepped(outcome)
}

/// Why a batch was not stored.
enum BatchError {
    /// The database refused an INSERT statement: maybe one record's fault.
    Insert(UdrError),
    /// Anything else (no connection, the commit failed): nobody's record in particular.
    Other(UdrError),
}

impl BatchError {
    fn into_udr_error(self) -> UdrError {
        match self {
            Self::Insert(e) | Self::Other(e) => e,
        }
    }
}

/// Stores `udrs` atomically on the writer's own connection (taken from the pool once and
/// kept, so a batch costs no acquire): one INSERT statement, atomic by itself, for a batch
/// that fits in one; several in one transaction otherwise. A failure that is not about a
/// statement drops the connection; the next batch takes a fresh one.
async fn commit_batch(
    pool: &AnyPool,
    connection: &mut Option<PoolConnection<Any>>,
    udrs: &[Udr],
) -> Result<(), BatchError> {
    let conn = kept_connection(pool, connection)
        .await
        .map_err(|e| BatchError::Other(e.into()))?;
    let outcome = if statements_for(udrs.len()) == 1 {
        insert_rows(conn, udrs).await
    } else {
        in_transaction(conn, udrs).await
    };
    match outcome {
        Ok(()) => Ok(()),
        // Only an error the database reported about the statement can be a record's fault;
        // a lost connection or a timeout is retried by nobody (the callers decide).
        Err(UdrError::Database(sqlx::Error::Database(e))) => Err(BatchError::Insert(
            UdrError::Database(sqlx::Error::Database(e)),
        )),
        Err(e) => {
            *connection = None;
            Err(BatchError::Other(e))
        }
    }
}

/// The writer's own connection: the one it keeps, or a fresh one from `pool` once the last
/// was dropped after a failure.
async fn kept_connection<'c>(
    pool: &AnyPool,
    connection: &'c mut Option<PoolConnection<Any>>,
) -> Result<&'c mut PoolConnection<Any>, sqlx::Error> {
    match connection {
        Some(conn) => Ok(conn),
        None => Ok(connection.insert(pool.acquire().await?)),
    }
}

async fn in_transaction(conn: &mut AnyConnection, udrs: &[Udr]) -> Result<(), UdrError> {
    let mut tx = conn.begin().await?;
    insert_rows(&mut tx, udrs).await?;
    tx.commit().await?;
    Ok(())
}
