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
//! The MAC state, when a write carries it, goes to `session_mac` in the same transaction:
//! not in the session row, which every uplink rewrites and which should stay a small row
//! sharing its page with many others (migration 0005 says why).
//!
//! Writes of one device are never reordered: its caller holds the device's lock across
//! `save_counters`, and one group applies its writes in arrival order.

use lorawan::ids::{DevAddr, Eui64};
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use service::placeholders::Placeholders;

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
    /// The session's MAC state as JSON (it changes with the counters: requests sent,
    /// answers applied, the ADR history); `None` keeps the stored one.
    pub mac_state: Option<String>,
    pub rj_count0_last: Option<u16>,
    pub at: u64,
}

impl CounterWrite {
    /// The write of `session`'s counters, with its MAC state when `with_mac`.
    pub(super) fn of(
        dev_eui: Eui64,
        session: &Session,
        at: u64,
        with_mac: bool,
    ) -> Result<Self, StorageError> {
        Ok(Self {
            dev_eui,
            dev_addr: session.dev_addr,
            f_cnt_up_next: session.f_cnt_up_next,
            n_f_cnt_down: session.n_f_cnt_down,
            a_f_cnt_down: session.a_f_cnt_down,
            last_confirmed_down: session.last_confirmed_down,
            mac_state: if with_mac {
                super::devices::mac_json(dev_eui, session)?
            } else {
                None
            },
            rj_count0_last: session.rj_count0_last,
            at,
        })
    }
}

/// Applies one write on `conn` (inside the caller's transaction); whether the session was
/// there to update.
pub(super) async fn apply(
    conn: &mut sqlx::AnyConnection,
    write: &CounterWrite,
) -> Result<bool, StorageError> {
    let done = sqlx::query(
        "UPDATE sessions SET f_cnt_up_next = $2, n_f_cnt_down = $3, a_f_cnt_down = $4, \
         last_confirmed_down = $5, updated_at = $6, rj_count0_last = $8 \
         WHERE dev_eui = $1 AND dev_addr = $7",
    )
    .bind(write.dev_eui.to_string())
    .bind(i64::from(write.f_cnt_up_next))
    .bind(i64::from(write.n_f_cnt_down))
    .bind(i64::from(write.a_f_cnt_down))
    .bind(write.last_confirmed_down.map(i64::from))
    .bind(to_i64(write.at))
    .bind(write.dev_addr.to_string())
    .bind(write.rj_count0_last.map(i64::from))
    .execute(&mut *conn)
    .await?;
    let found = done.rows_affected() > 0;
    if found {
        store_mac_states(conn, &[write]).await?;
    }
    Ok(found)
}

/// Stores the MAC state of every write of `writes` (distinct devices whose session is
/// there) that carries one, in one statement.
async fn store_mac_states(
    conn: &mut sqlx::AnyConnection,
    writes: &[&CounterWrite],
) -> Result<(), StorageError> {
    let with_mac: Vec<(&CounterWrite, &str)> = writes
        .iter()
        .filter_map(|w| w.mac_state.as_deref().map(|mac| (*w, mac)))
        .collect();
    if with_mac.is_empty() {
        return Ok(());
    }
    let mut sql = String::from("INSERT INTO session_mac (dev_eui, mac_state) VALUES ");
    Placeholders::of(conn).push_rows(&mut sql, with_mac.len(), 2);
    sql.push_str(" ON CONFLICT (dev_eui) DO UPDATE SET mac_state = excluded.mac_state");
    let mut query = sqlx::query(&sql);
    for (write, mac) in with_mac {
        query = query.bind(write.dev_eui.to_string()).bind(mac.to_owned());
    }
    query.execute(&mut *conn).await?;
    Ok(())
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
                        Err(StorageError::Gone(format!(
                            "session of {}",
                            job.write.dev_eui
                        )))
                    };
                    // A caller that went away no longer listens; its write is stored anyway.
                    let _ = job.done.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = group.len(), "counter group commit failed");
                let reason = e.to_string();
                for job in group.drain(..) {
                    let _ = job
                        .done
                        .send(Err(StorageError::Database(sqlx::Error::Protocol(format!(
                            "counter group commit failed: {reason}"
                        )))));
                }
            }
        }
    }
}

/// Applies every write of `group` in one transaction; for each, whether its session was
/// found.
///
/// One `UPDATE … FROM (VALUES …)` per run of distinct devices (SQLite ≥ 3.33 and
/// PostgreSQL both name the VALUES columns `column1`, `column2`, …): one statement instead
/// of one per write, which is most of the cost at thousands of writes per second; runs are
/// cut into power-of-two sizes so that a few statement shapes serve every group. A device
/// twice in a group (not expected: its caller holds the device's lock until the commit)
/// starts a new statement, so the later write applies last.
async fn commit_group(pool: &AnyPool, group: &[Job]) -> Result<Vec<bool>, StorageError> {
    let mut tx = pool.begin().await?;
    let mut found = vec![false; group.len()];
    let mut start = 0;
    while start < group.len() {
        let mut seen = std::collections::HashSet::new();
        let distinct = group[start..]
            .iter()
            .position(|job| !seen.insert(job.write.dev_eui))
            .unwrap_or(group.len() - start);
        // Statements of power-of-two sizes only: a handful of shapes, each prepared once
        // and cached, instead of one fresh statement per group size.
        let end = start + (1 << distinct.ilog2());
        let updated = update_many(&mut tx, &group[start..end]).await?;
        for (job, found) in group[start..end].iter().zip(&mut found[start..end]) {
            *found = updated.contains(&job.write.dev_eui.to_string());
        }
        start = end;
    }
    tx.commit().await?;
    Ok(found)
}

/// Updates every write of `jobs` (distinct devices) in one statement; the DevEUIs updated.
/// Values per session in the group's `VALUES` list.
const COLUMNS: usize = 8;

async fn update_many(
    conn: &mut sqlx::AnyConnection,
    jobs: &[Job],
) -> Result<std::collections::HashSet<String>, StorageError> {
    use sqlx::Row;
    let mut sql = String::with_capacity(200 + jobs.len() * 40);
    sql.push_str(
        "UPDATE sessions SET f_cnt_up_next = v.column3, n_f_cnt_down = v.column4, \
         a_f_cnt_down = v.column5, last_confirmed_down = v.column6, updated_at = v.column7, \
         rj_count0_last = v.column8 \
         FROM (VALUES ",
    );
    Placeholders::of(conn).push_rows(&mut sql, jobs.len(), COLUMNS);
    sql.push_str(
        ") AS v WHERE sessions.dev_eui = v.column1 AND sessions.dev_addr = v.column2 \
         RETURNING sessions.dev_eui",
    );
    let mut query = sqlx::query(&sql);
    for job in jobs {
        let w = &job.write;
        query = query
            .bind(w.dev_eui.to_string())
            .bind(w.dev_addr.to_string())
            .bind(i64::from(w.f_cnt_up_next))
            .bind(i64::from(w.n_f_cnt_down))
            .bind(i64::from(w.a_f_cnt_down))
            .bind(w.last_confirmed_down.map(i64::from))
            .bind(to_i64(w.at))
            .bind(w.rj_count0_last.map(i64::from));
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let updated = rows
        .iter()
        .map(|row| row.try_get::<String, _>(0).map_err(StorageError::from))
        .collect::<Result<std::collections::HashSet<String>, _>>()?;
    let found: Vec<&CounterWrite> = jobs
        .iter()
        .map(|job| &job.write)
        .filter(|w| updated.contains(&w.dev_eui.to_string()))
        .collect();
    store_mac_states(conn, &found).await?;
    Ok(updated)
}
