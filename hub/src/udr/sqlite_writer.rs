//! The UDR writer on a SQLite file: a thread of its own with a connection of its own.
//!
//! sqlx runs every SQLite connection on a worker thread and hands it each statement through
//! a channel, so a writer task on the pool paid two cross-thread wake-ups per statement on
//! top of its callers' own. At the hub's closed-loop rate the batches are small (three
//! records on average with 32 connections), and those wake-ups, not SQLite, were most of
//! what a UDR cost. This thread takes the callers' records straight from their queue,
//! inserts them in one `BEGIN IMMEDIATE` transaction with a prepared single-row INSERT,
//! commits, and answers each caller: one hand-off each way per batch. The schedule of the
//! settle steps is the pool writer's ([`Inbox`]).
//!
//! A record SQLite refuses fails alone: a failed statement leaves its transaction open, so
//! the rest of the batch is committed. If the transaction itself is lost (BEGIN or COMMIT
//! fails, or SQLite rolled it back after an I/O error) every record of the batch fails.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql, TransactionBehavior};
use service::database::{sqlite_pragmas, SqliteFile};
use service::placeholders::Placeholders;

use super::store::{
    columns_of, copy_through_sql, insert_sql, Column, DELETE_THROUGH_SQL, OLDEST_BOUND_SQL,
};
use super::writer::{answer, fail_all, Inbox, Job, MAX_BATCH, SETTLE_STEP};
use super::UdrError;

/// Opens `file` (created and migrated by the pool already) and starts the writer thread
/// on `jobs`; it ends once every sender is dropped and the queue is drained.
pub(super) fn start(file: &SqliteFile, jobs: flume::Receiver<Job>) -> Result<(), UdrError> {
    let connection = open(file)?;
    std::thread::Builder::new()
        .name("udr-writer".into())
        .spawn(move || write_batches(connection, &jobs))
        .map_err(UdrError::Thread)?;
    Ok(())
}

pub(super) fn open(file: &SqliteFile) -> Result<Connection, rusqlite::Error> {
    // Only this thread uses the connection: SQLite's own mutex would guard nothing.
    let connection = Connection::open_with_flags(
        &file.path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    for pragma in sqlite_pragmas(file.sync) {
        // `journal_mode` answers with a row; the others with none.
        let mut statement = connection.prepare(pragma)?;
        let mut rows = statement.query([])?;
        while rows.next()?.is_some() {}
    }
    Ok(connection)
}

fn write_batches(mut connection: Connection, jobs: &flume::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut inbox = Inbox::at_start();
    loop {
        let first = match inbox.wait() {
            // A zero wait still takes a record already queued.
            Some(wait) => match jobs.recv_timeout(wait) {
                Ok(job) => job,
                Err(flume::RecvTimeoutError::Timeout) => {
                    inbox.stepped(settle_oldest(&mut connection));
                    continue;
                }
                Err(flume::RecvTimeoutError::Disconnected) => break,
            },
            None => match jobs.recv() {
                Ok(job) => job,
                Err(flume::RecvError::Disconnected) => break,
            },
        };
        batch.push(first);
        batch.extend(jobs.try_iter().take(MAX_BATCH - 1));
        commit_and_answer(&mut connection, &mut batch);
        inbox.committed();
        if inbox.step_due() {
            inbox.stepped(settle_oldest(&mut connection));
        }
    }
    while inbox.is_unsettled() && inbox.stepped(settle_oldest(&mut connection)) {}
}

/// Commits `batch` and tells each caller how its record ended (emptying `batch`).
fn commit_and_answer(connection: &mut Connection, batch: &mut Vec<Job>) {
    match insert_all(connection, batch) {
        Ok(outcomes) => {
            for (job, outcome) in batch.drain(..).zip(outcomes) {
                answer(job.done, job.udr.transaction_id, outcome);
            }
        }
        Err(e) => fail_all(batch.drain(..).map(|job| job.done), &e.into()),
    }
}

/// Inserts every record of `batch` into `udr_inbox` in one transaction; each record's
/// outcome, once the transaction committed.
fn insert_all(
    connection: &mut Connection,
    batch: &[Job],
) -> Result<Vec<Result<(), UdrError>>, rusqlite::Error> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    {
        let mut insert = transaction.prepare_cached(insert_sql(1, Placeholders::Positional))?;
        for job in batch {
            let columns = columns_of(&job.udr);
            match insert.execute(rusqlite::params_from_iter(columns.iter())) {
                Ok(_) => outcomes.push(Ok(())),
                // SQLite rolled the whole transaction back (I/O error, disk full): nothing
                // of the batch is stored, whatever the statements said so far.
                Err(e) if transaction.is_autocommit() => return Err(e),
                Err(e) => outcomes.push(Err(e.into())),
            }
        }
    }
    transaction.commit()?;
    Ok(outcomes)
}

/// One settle step: moves the oldest [`SETTLE_STEP`] records of the inbox into `udrs` in
/// one `BEGIN IMMEDIATE` transaction (as the pool's `settle` does on SQLite). Returns how
/// many moved.
pub(super) fn settle_oldest(connection: &mut Connection) -> Result<u64, UdrError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let bound: Option<i64> = transaction.query_row(
        OLDEST_BOUND_SQL,
        [i64::try_from(SETTLE_STEP).unwrap_or(i64::MAX)],
        |row| row.get(0),
    )?;
    let Some(bound) = bound else {
        return Ok(0);
    };
    let moved = transaction.execute(copy_through_sql(), [bound])?;
    if moved > 0 {
        transaction.execute(DELETE_THROUGH_SQL, [bound])?;
    }
    transaction.commit()?;
    Ok(moved as u64)
}

impl ToSql for Column<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Self::Int(Some(value)) => ValueRef::Integer(*value),
            Self::Text(Some(text)) => ValueRef::Text(text.as_bytes()),
            Self::Int(None) | Self::Text(None) => ValueRef::Null,
        }))
    }
}
