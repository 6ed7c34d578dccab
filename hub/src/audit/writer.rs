//! Recording audit entries without making anyone wait: [`AuditLog::record`] never blocks
//! and never fails; a writer task drains the bounded queue in batches (one transaction per
//! batch). A full queue (the database slower than a flood of refusals) drops the entry,
//! counts it and logs — refusing the flood matters more than remembering each of its
//! messages.

use prometheus_client::metrics::counter::Counter;
use sqlx::AnyPool;
use tokio::sync::mpsc;

use super::store::AuditStore;
use super::AuditEntry;

/// Entries stored in one transaction at most.
pub const MAX_BATCH: usize = 256;

/// The audit log's queue; cheap to clone. The writer task ends once every handle is
/// dropped and the queue is drained.
#[derive(Debug, Clone)]
pub struct AuditLog {
    queue: Option<mpsc::Sender<AuditEntry>>,
    dropped: Counter,
}

impl AuditLog {
    /// Starts the writer task over `pool` (the hub's migrated database) with room for
    /// `queue` waiting entries; entries beyond are dropped and counted in `dropped`.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (the task is spawned on the current one).
    pub fn start(pool: AnyPool, queue: usize, dropped: Counter) -> Self {
        let (sender, entries) = mpsc::channel(queue.max(1));
        tokio::spawn(write_batches(AuditStore::new(pool), entries));
        Self {
            queue: Some(sender),
            dropped,
        }
    }

    /// An audit log that keeps nothing (tests of the logic that need none).
    pub fn disabled() -> Self {
        Self {
            queue: None,
            dropped: Counter::default(),
        }
    }

    /// Queues `entry` for storage; drops it (counted, logged) when the queue is full.
    pub fn record(&self, entry: AuditEntry) {
        let Some(queue) = &self.queue else { return };
        if let Err(e) = queue.try_send(entry.sanitized()) {
            let dropped = self.dropped.inc() + 1;
            // Logged at 1, 2, 4, 8, … drops: visible, but no log flood during a flood.
            if dropped.is_power_of_two() {
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => "the queue is full",
                    mpsc::error::TrySendError::Closed(_) => "the writer has stopped",
                };
                tracing::warn!(dropped, "audit entry dropped: {why}");
            }
        }
    }

    /// Entries dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }
}

async fn write_batches(store: AuditStore, mut entries: mpsc::Receiver<AuditEntry>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while entries.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if let Err(e) = store.insert(&batch).await {
            if batch.len() == 1 {
                tracing::error!(error = %e, "audit entry not stored");
            } else {
                // Maybe one entry's fault: store the others one by one.
                tracing::warn!(error = %e, entries = batch.len(), "audit batch refused, storing one by one");
                for entry in &batch {
                    if let Err(e) = store.insert(std::slice::from_ref(entry)).await {
                        tracing::error!(error = %e, reason = %entry.reason, "audit entry not stored");
                    }
                }
            }
        }
        batch.clear();
    }
}
