//! Master-key rotation without downtime. The operator restarts the jsd with the new key as
//! `keys.master_key` and the old one in `keys.retired_master_keys`; the jsd serves at once
//! (the keyring unseals with either key) while this job re-seals devices and kept sessions
//! under the new key, in small batches with compare-and-set, so joins racing with it keep
//! their nonces. When [`KeyStatus::pending`] is zero the retired key can be dropped from the
//! config.

use std::time::Duration;

use serde::Serialize;

use super::JoinServer;
use crate::storage::StorageError;

/// Records re-sealed per batch.
const BATCH: u32 = 200;

/// The keyring and how much is left to re-seal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyStatus {
    /// Id of the current master key.
    pub current: String,
    /// Ids of the retired keys still accepted.
    pub retired: Vec<String>,
    /// Devices sealed with a retired key.
    pub pending_devices: u64,
    /// Kept sessions sealed with a retired key.
    pub pending_sessions: u64,
}

impl KeyStatus {
    /// Records still sealed with a retired key.
    pub const fn pending(&self) -> u64 {
        self.pending_devices + self.pending_sessions
    }
}

impl JoinServer {
    /// The keyring and the re-seal backlog.
    pub async fn key_status(&self) -> Result<KeyStatus, StorageError> {
        let current = self.keyring.current().id().to_string();
        let (pending_devices, pending_sessions) =
            self.store.count_sealed_with_other(&current).await?;
        Ok(KeyStatus {
            current,
            retired: self
                .keyring
                .retired_ids()
                .map(|id| id.to_string())
                .collect(),
            pending_devices,
            pending_sessions,
        })
    }

    /// Re-seals one batch of devices and sessions; returns how many records it moved to the
    /// current key. A record sealed with a key the keyring does not know is skipped and
    /// logged (it stays readable for nobody until that key is configured again).
    pub async fn reseal_batch(&self) -> Result<u64, StorageError> {
        let current = self.keyring.current().id().to_string();
        let mut moved = 0;
        for mut stored in self.store.sealed_with_other(&current, BATCH).await? {
            let dev_eui = stored.record.dev_eui;
            match stored.record.reseal(&self.keyring) {
                Ok(true) => {
                    let record = &stored.record;
                    if self
                        .store
                        .save_root_keys(
                            dev_eui,
                            stored.revision,
                            &record.app_key,
                            record.nwk_key.as_ref(),
                        )
                        .await?
                    {
                        moved += 1;
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::error!(%dev_eui, error = %e, "cannot re-seal device keys"),
            }
        }
        for (dev_eui, session) in self
            .store
            .sessions_sealed_with_other(&current, BATCH)
            .await?
        {
            match self.keyring.reseal(&session.app_s_key) {
                Ok(Some(new)) => {
                    if self
                        .store
                        .save_session_key(
                            dev_eui,
                            &session.session_key_id,
                            &session.app_s_key,
                            &new,
                        )
                        .await?
                    {
                        moved += 1;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::error!(%dev_eui, error = %e, "cannot re-seal a session key"),
            }
        }
        Ok(moved)
    }

    /// Re-seals until nothing movable is left, pausing `pause` between batches so joins keep
    /// the database. Runs in the background from start-up; errors are logged and retried.
    pub async fn reseal_all(&self, pause: Duration) {
        let mut total = 0u64;
        loop {
            match self.reseal_batch().await {
                Ok(0) => break,
                Ok(moved) => total += moved,
                Err(e) => tracing::warn!(error = %e, "re-seal batch failed; retrying"),
            }
            tokio::time::sleep(pause).await;
        }
        if total > 0 {
            tracing::info!(records = total, "re-sealed under the current master key");
        }
    }
}
