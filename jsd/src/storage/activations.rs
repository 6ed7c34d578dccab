//! Recording accepted joins and rejoins: the new nonces (compare-and-set on the revision the
//! decision was made on), the lifecycle when it changed, and the session kept for AppSKeyReq.
//!
//! **Group commit.** A JoinNonce must be on disk before its join-accept is sent. With SQLite in
//! `synchronous = FULL` every commit waits for the disk, so one transaction per join caps the
//! rate at the disk's sync rate. [`GroupCommit`] has one writer task take every activation
//! waiting in its queue, apply them all in one transaction, commit once, and only then tell
//! each caller whether its write won. Callers still answer only after their write is
//! committed; the batch simply shares the sync. A write that loses its compare-and-set is
//! skipped without disturbing the others; a failing commit refuses the whole group (nothing
//! of it is stored, every caller answers with an error).

use sqlx::{AnyConnection, AnyPool};
use tokio::sync::{mpsc, oneshot};

use super::devices::{encode_history, history_json, state_columns, to_i64, DeviceStore};
use super::{StorageError, StoredSession};
use crate::device::Lifecycle;
use crate::join::NonceState;
use lorawan::ids::Eui64;

/// Activations applied in one transaction at most.
const MAX_GROUP: usize = 256;
/// Activations waiting for the writer at most; callers beyond wait for room.
const QUEUE: usize = 4096;

/// What an accepted join or rejoin writes.
#[derive(Debug, Clone)]
pub struct ActivationWrite {
    /// The device.
    pub dev_eui: Eui64,
    /// The revision the decision was made on.
    pub revision: i64,
    /// The nonces after the activation.
    pub nonces: NonceState,
    /// The lifecycle, when the activation changed it (the first join after a claim).
    pub lifecycle: Option<Lifecycle>,
    /// When, unix seconds.
    pub at: u64,
    /// The session to keep for AppSKeyReq, when the AppSKey is withheld from the NS.
    pub session: Option<StoredSession>,
    /// How many sessions to keep per device.
    pub sessions_kept: u32,
}

impl DeviceStore {
    /// Records an accepted join or rejoin if the device is still at the revision the
    /// decision was made on; `false` when another writer came first (then nothing is written
    /// and the answer must not be sent). Returns once the write is committed.
    pub async fn record_activation(&self, write: ActivationWrite) -> Result<bool, StorageError> {
        if let Some(group_commit) = &self.group_commit {
            return group_commit.submit(write).await;
        }
        let mut tx = self.pool.begin().await?;
        if apply(&mut tx, &write).await? {
            tx.commit().await?;
            Ok(true)
        } else {
            tx.rollback().await?;
            Ok(false)
        }
    }
}

/// Applies one activation on `conn` (inside the caller's transaction); `false` when the
/// compare-and-set lost.
async fn apply(conn: &mut AnyConnection, write: &ActivationWrite) -> Result<bool, StorageError> {
    let dev_eui = write.dev_eui.to_string();
    let nonces = &write.nonces;
    let (state, home_net_id, home_nsid, activated_at) = match &write.lifecycle {
        Some(lifecycle) => {
            let (s, n, h, a) = state_columns(&lifecycle.state);
            (Some(s), n, h, a)
        }
        None => (None, None, None, None),
    };
    let history = write
        .lifecycle
        .as_ref()
        .map(|l| history_json(&l.history))
        .transpose()?;
    let updated = sqlx::query(
        "UPDATE devices SET dev_nonce_last = $1, dev_nonce_history = $2, join_nonce_last = $3, \
         rj_count1_last = $4, last_join_at = $5, revision = revision + 1, \
         state = COALESCE($6, state), home_net_id = COALESCE($7, home_net_id), \
         home_nsid = COALESCE($8, home_nsid), activated_at = COALESCE($9, activated_at), \
         history = COALESCE($10, history) \
         WHERE dev_eui = $11 AND revision = $12",
    )
    .bind(nonces.dev_nonce_last.map(i64::from))
    .bind(encode_history(&nonces.dev_nonce_history))
    .bind(nonces.join_nonce_last.map(|n| i64::from(n.get())))
    .bind(nonces.rj_count1_last.map(i64::from))
    .bind(to_i64(write.at))
    .bind(state)
    .bind(home_net_id)
    .bind(home_nsid)
    .bind(activated_at)
    .bind(history)
    .bind(&dev_eui)
    .bind(write.revision)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(false);
    }
    if let Some(session) = &write.session {
        sqlx::query(
            "INSERT INTO sessions (dev_eui, session_key_id, app_s_key, sealed_with, join_nonce, \
             dev_addr, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&dev_eui)
        .bind(session.session_key_id.as_bytes().to_vec())
        .bind(session.app_s_key.to_bytes().to_vec())
        .bind(session.app_s_key.key_id.to_string())
        .bind(i64::from(session.join_nonce.get()))
        .bind(session.dev_addr.to_string())
        .bind(to_i64(write.at))
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "DELETE FROM sessions WHERE dev_eui = $1 AND join_nonce NOT IN \
             (SELECT join_nonce FROM sessions WHERE dev_eui = $1 \
              ORDER BY join_nonce DESC LIMIT $2)",
        )
        .bind(&dev_eui)
        .bind(i64::from(write.sessions_kept.max(1)))
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

struct Job {
    write: ActivationWrite,
    done: oneshot::Sender<Result<bool, StorageError>>,
}

/// The handle of the group-commit writer task; the task ends when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("dev_eui", &self.write.dev_eui)
            .finish()
    }
}

impl GroupCommit {
    /// Starts the writer task over `pool`.
    pub(super) fn start(pool: AnyPool) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(write_groups(pool, jobs));
        Self { queue }
    }

    async fn submit(&self, write: ActivationWrite) -> Result<bool, StorageError> {
        let (done, outcome) = oneshot::channel();
        self.queue
            .send(Job { write, done })
            .await
            .map_err(|_| StorageError::GroupCommit("the writer has stopped".into()))?;
        outcome
            .await
            .map_err(|_| StorageError::GroupCommit("the writer dropped the write".into()))?
    }
}

async fn write_groups(pool: AnyPool, mut jobs: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while jobs.recv_many(&mut group, MAX_GROUP).await > 0 {
        match commit_group(&pool, &group).await {
            Ok(outcomes) => {
                for (job, won) in group.drain(..).zip(outcomes) {
                    // A caller that gave up (request timed out) no longer listens.
                    let _ = job.done.send(Ok(won));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = group.len(), "group commit failed");
                let reason = e.to_string();
                for job in group.drain(..) {
                    let _ = job
                        .done
                        .send(Err(StorageError::GroupCommit(reason.clone())));
                }
            }
        }
    }
}

/// Applies every write of `group` in one transaction; each one's compare-and-set outcome.
async fn commit_group(pool: &AnyPool, group: &[Job]) -> Result<Vec<bool>, StorageError> {
    let mut tx = pool.begin().await?;
    let mut outcomes = Vec::with_capacity(group.len());
    for job in group {
        outcomes.push(apply(&mut tx, &job.write).await?);
    }
    tx.commit().await?;
    Ok(outcomes)
}
