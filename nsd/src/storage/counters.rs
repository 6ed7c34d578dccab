//! Group commit of session counters.
//!
//! Every accepted uplink advances its session's FCntUp, and every downlink its FCntDown;
//! the new value must be durable before the uplink is reported or the downlink leaves (a
//! counter reported once is never accepted again, a downlink counter never reused, even
//! across a crash). One transaction per frame caps the rate at the database's commit rate:
//! with SQLite that is one WAL write (and, with `sqlite_sync = "full"`, one fsync) per
//! frame; with PostgreSQL one synchronous commit per frame.
//!
//! [`CounterWriter`] has one task take every counter write waiting in its queue (at most
//! [`MAX_GROUP`]), apply them in one transaction, commit once, and only then answer each
//! caller. The durability contract is unchanged: [`super::DeviceStore::save_counters`]
//! still returns only once its write is committed; the writes of a group share the commit.
//! A write whose session is gone (deleted or replaced meanwhile) answers
//! [`StorageError::Gone`] without disturbing the others; a failing commit refuses the whole
//! group (nothing of it is stored, every caller gets the error).
//!
//! Writes of one device are never reordered: its caller holds the device's lock across
//! `save_counters`, and one group applies its writes in arrival order.

use lorawan::ids::{DevAddr, Eui64};
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::{to_i64, StorageError};
use crate::device::Session;

/// Counter writes applied in one transaction at most.
pub const MAX_GROUP: usize = 512;
/// Counter writes waiting for the writer at most; callers beyond wait for room.
const QUEUE: usize = 8192;

/// One session's counters, as `save_counters` writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CounterWrite {
    pub dev_eui: Eui64,
    pub dev_addr: DevAddr,
    pub f_cnt_up_next: u32,
    pub n_f_cnt_down: u32,
    pub a_f_cnt_down: u32,
    pub last_confirmed_down: Option<u32>,
    pub at: u64,
}

impl CounterWrite {
    pub(super) fn of(dev_eui: Eui64, session: &Session, at: u64) -> Self {
        Self {
            dev_eui,
            dev_addr: session.dev_addr,
            f_cnt_up_next: session.f_cnt_up_next,
            n_f_cnt_down: session.n_f_cnt_down,
            a_f_cnt_down: session.a_f_cnt_down,
            last_confirmed_down: session.last_confirmed_down,
            at,
        }
    }
}

/// Applies one write on `conn`; whether the session was there to update.
pub(super) async fn apply(
    conn: &mut sqlx::AnyConnection,
    write: &CounterWrite,
) -> Result<bool, StorageError> {
    let done = sqlx::query(
        "UPDATE sessions SET f_cnt_up_next = $2, n_f_cnt_down = $3, a_f_cnt_down = $4, \
         last_confirmed_down = $5, updated_at = $6 WHERE dev_eui = $1 AND dev_addr = $7",
    )
    .bind(write.dev_eui.to_string())
    .bind(i64::from(write.f_cnt_up_next))
    .bind(i64::from(write.n_f_cnt_down))
    .bind(i64::from(write.a_f_cnt_down))
    .bind(write.last_confirmed_down.map(i64::from))
    .bind(to_i64(write.at))
    .bind(write.dev_addr.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

struct Job {
    write: CounterWrite,
    done: oneshot::Sender<Result<(), StorageError>>,
}

/// The handle of the counter writer task; the task ends when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct CounterWriter {
    queue: mpsc::Sender<Job>,
}

impl CounterWriter {
    /// Starts the writer task over `pool` (on the current tokio runtime).
    pub fn start(pool: AnyPool) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(write_groups(pool, jobs));
        Self { queue }
    }

    /// Queues `write`; returns once it is committed (or refused).
    pub(super) async fn save(&self, write: CounterWrite) -> Result<(), StorageError> {
        let dev_eui = write.dev_eui;
        let (done, outcome) = oneshot::channel();
        self.queue
            .send(Job { write, done })
            .await
            .map_err(|_| StorageError::Gone(format!("counter writer (saving {dev_eui})")))?;
        outcome
            .await
            .map_err(|_| StorageError::Gone(format!("counter writer (saving {dev_eui})")))?
    }
}

async fn write_groups(pool: AnyPool, mut jobs: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while jobs.recv_many(&mut group, MAX_GROUP).await > 0 {
        match commit_group(&pool, &group).await {
            Ok(found) => {
                for (job, found) in group.drain(..).zip(found) {
                    let outcome = if found {
                        Ok(())
                    } else {
                        Err(StorageError::Gone(format!("session of {}", job.write.dev_eui)))
                    };
                    // A caller that went away no longer listens; its write is stored anyway.
                    let _ = job.done.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = group.len(), "counter group commit failed");
                let reason = e.to_string();
                for job in group.drain(..) {
                    let _ = job.done.send(Err(StorageError::Database(sqlx::Error::Protocol(
                        format!("counter group commit failed: {reason}"),
                    ))));
                }
            }
        }
    }
}

/// Applies every write of `group` in one transaction; for each, whether its session was
/// found.
async fn commit_group(pool: &AnyPool, group: &[Job]) -> Result<Vec<bool>, StorageError> {
    let mut tx = pool.begin().await?;
    let mut found = Vec::with_capacity(group.len());
    for job in group {
        found.push(apply(&mut tx, &job.write).await?);
    }
    tx.commit().await?;
    Ok(found)
}
