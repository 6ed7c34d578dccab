//! Recording UDRs durably and fast: a group-commit writer task.
//!
//! The hub answers a successful transaction only after its UDR is committed, so a hub killed
//! at any moment has a UDR for every success it answered. One commit per transaction would
//! cap routing at the database's commit rate (with SQLite `synchronous = FULL`, the disk's
//! sync rate), so [`UdrWriter`] works like the jsd's activation writer: one task takes every
//! record waiting in its queue (up to [`MAX_BATCH`]), inserts them with one multi-row INSERT
//! (atomic by itself; larger batches: several in one transaction) on a connection it keeps,
//! and only then acknowledges each caller. The rows go to `udr_inbox`, a table without
//! secondary indexes, so a commit writes a page or two; once the oldest has waited
//! [`SETTLE_EVERY`] (and before any read) they are moved into `udrs` in bulk, where the
//! index writes of many records share one commit. The writer moves them in steps of at most
//! [`SETTLE_STEP`] records, one step after each batch (or while idle), because every
//! caller waits behind a step: moving a whole interval's records at once (a thousand at
//! 5,000 transactions/s) put ten milliseconds into the answers of every transaction
//! arriving meanwhile. Under load the
//! batches grow by themselves (records queue while a commit runs); when idle a record is
//! written alone, without waiting for company.
//!
//! A failing commit fails the whole batch (nothing of it is stored, every caller gets an
//! error). A failing INSERT — the database refused a value, e.g. PostgreSQL a NUL character
//! in a text — does not take the batch's other records with it: the batch is rolled back
//! and each record is retried on its own, so only the offending one is refused.

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::model::Udr;
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

/// Records UDRs through the writer task; cheap to clone. The task ends once every handle is
/// dropped and the queue is drained.
#[derive(Debug, Clone)]
pub struct UdrWriter {
    queue: mpsc::Sender<Job>,
}

struct Job {
    udr: Udr,
    done: oneshot::Sender<Result<(), UdrError>>,
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
    /// Starts the writer task over `pool` (the hub's migrated database).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (the task is spawned on the current one).
    pub fn start(pool: AnyPool) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(pool, jobs));
        Self { queue }
    }

    /// Records `udr`; returns once it is committed (`Ok`) or known not to be (`Err`). Only
    /// after `Ok` may the transaction be answered as successful.
    ///
    /// A caller that stops waiting (its future dropped) does not withdraw the record: once
    /// queued it is written.
    pub async fn record(&self, udr: Udr) -> Result<(), UdrError> {
        let (done, outcome) = oneshot::channel();
        self.queue
            .send(Job { udr, done })
            .await
            .map_err(|_| UdrError::WriterStopped)?;
        outcome.await.map_err(|_| UdrError::WriterStopped)?
    }
}

async fn write_batches(pool: AnyPool, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut udrs = Vec::with_capacity(MAX_BATCH);
    let mut callers = Vec::with_capacity(MAX_BATCH);
    let mut connection = None;
    // A hub killed before it settled left records in the inbox: they are moved first.
    let mut inbox = Inbox {
        unsettled: true,
        settled_at: Instant::now()
            .checked_sub(SETTLE_EVERY)
            .unwrap_or_else(Instant::now),
    };
    loop {
        let received = if inbox.unsettled {
            let wait = SETTLE_EVERY.saturating_sub(inbox.settled_at.elapsed());
            // A zero wait still takes the records already queued: `timeout` polls the
            // receive before it looks at the clock.
            match tokio::time::timeout(wait, jobs.recv_many(&mut batch, MAX_BATCH)).await {
                Ok(received) => received,
                Err(_idle) => {
                    inbox.step(&pool, &mut connection).await;
                    continue;
                }
            }
        } else {
            jobs.recv_many(&mut batch, MAX_BATCH).await
        };
        if received == 0 {
            break;
        }
        for job in batch.drain(..) {
            udrs.push(job.udr);
            callers.push(job.done);
        }
        match commit_batch(&pool, &mut connection, &udrs).await {
            Ok(()) => {
                for done in callers.drain(..) {
                    // A caller that gave up no longer listens; its record is stored anyway.
                    let _ = done.send(Ok(()));
                }
            }
            Err(BatchError::Insert(e)) if udrs.len() > 1 => {
                tracing::warn!(error = %e, records = udrs.len(), "UDR batch refused, recording one by one");
                for (udr, done) in udrs.iter().zip(callers.drain(..)) {
                    let outcome = commit_batch(&pool, &mut connection, std::slice::from_ref(udr))
                        .await
                        .map_err(BatchError::into_udr_error);
                    if let Err(e) = &outcome {
                        tracing::error!(error = %e, transaction_id = ?udr.transaction_id, "UDR refused");
                    }
                    let _ = done.send(outcome);
                }
            }
            Err(e) => {
                let e = e.into_udr_error();
                tracing::error!(error = %e, records = udrs.len(), "UDR batch failed");
                let reason = e.to_string();
                for done in callers.drain(..) {
                    let _ = done.send(Err(UdrError::Batch(reason.clone())));
                }
            }
        }
        udrs.clear();
        if !inbox.unsettled {
            inbox.unsettled = true;
            inbox.settled_at = Instant::now();
        }
        if inbox.settled_at.elapsed() >= SETTLE_EVERY {
            inbox.step(&pool, &mut connection).await;
        }
    }
    while inbox.unsettled {
        if !inbox.step(&pool, &mut connection).await {
            break;
        }
    }
}

/// Whether records wait in `udr_inbox`, and since when (the time the inbox was last found
/// empty, or the first record went in after that).
struct Inbox {
    unsettled: bool,
    settled_at: Instant,
}

impl Inbox {
    /// Moves the oldest [`SETTLE_STEP`] records of the inbox into `udrs` on the writer's
    /// connection; a step that moves fewer has emptied it (only the writer adds records).
    /// A failure is logged, the records stay where they are (committed; a later step or
    /// read moves them) and the next step waits a whole interval. Returns whether it
    /// succeeded.
    async fn step(&mut self, pool: &AnyPool, connection: &mut Option<PoolConnection<Any>>) -> bool {
        let conn = match kept_connection(pool, connection).await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "UDR inbox not settled: no connection");
                self.settled_at = Instant::now();
                return false;
            }
        };
        match settle(conn, Settle::Oldest(SETTLE_STEP)).await {
            Ok(moved) => {
                if moved < SETTLE_STEP as u64 {
                    self.unsettled = false;
                    self.settled_at = Instant::now();
                }
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "UDR inbox not settled; retried later");
                *connection = None;
                self.settled_at = Instant::now();
                false
            }
        }
    }
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
