//! The device repository: devices with their lifecycle and nonces, and the sessions kept for
//! AppSKeyReq. One SQL text for both engines (`$n` parameters, portable types).
//!
//! Every update is a compare-and-set on `revision`: a writer states the revision it loaded
//! and the update applies only if nobody wrote since. The join path relies on it for its
//! durability contract (a JoinNonce is stored before it is sent, and two concurrent joins of
//! one device cannot both win); claims and the re-seal job use it so they never overwrite a
//! join's nonces with stale ones.

use lorawan::ids::{DevAddr, Eui64, NetId};
use lorawan::join::{JoinNonce, MacVersion};
use service::placeholders::Placeholders;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::activations::GroupCommit;
use crate::device::{DeviceRecord, DeviceState, History, Lifecycle, OwnerTokenHash, SealedKey};
use crate::join::{AppSKeyDelivery, NonceState, SessionKeyId};

/// Why the repository failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database failed (unreachable, constraint, …).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value cannot be read back: the database was edited by hand or is damaged.
    #[error("stored device {dev_eui} is unreadable: {reason}")]
    Corrupt {
        /// The device.
        dev_eui: String,
        /// What is wrong.
        reason: String,
    },
    /// A group commit failed: every activation in the group was refused, none stored.
    #[error("group commit failed: {0}")]
    GroupCommit(String),
    /// An import names devices already in the database; nothing was imported.
    #[error("{} device(s) already imported, first {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
    AlreadyImported(Vec<Eui64>),
}

/// A device as stored, with its revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDevice {
    /// Identity, sealed keys, token hash, lifecycle.
    pub record: DeviceRecord,
    /// Where the AppSKey of its sessions goes.
    pub delivery: AppSKeyDelivery,
    /// Its nonces as last persisted.
    pub nonces: NonceState,
    /// The last accepted join, unix seconds.
    pub last_join_at: Option<u64>,
    /// The compare-and-set guard: pass it back to update.
    pub revision: i64,
}

/// A stored session (AppSKey withheld for the AS), key sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// Its SessionKeyID.
    pub session_key_id: SessionKeyId,
    /// The AppSKey, sealed.
    pub app_s_key: SealedKey,
    /// The JoinNonce that opened it.
    pub join_nonce: JoinNonce,
    /// The NS's DevAddr.
    pub dev_addr: DevAddr,
}

/// A page of devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page<'a> {
    /// Only devices in this state (`generic`, `claimed`, …).
    pub state: Option<&'a str>,
    /// Only devices whose DevEUI sorts after this one.
    pub after: Option<Eui64>,
    /// At most this many.
    pub limit: u32,
}

const COLUMNS: &str = "dev_eui, join_eui, mac_version, profile_id, app_key, nwk_key, \
    owner_token_hash, state, home_net_id, home_nsid, activated_at, history, app_s_key_as_id, \
    dev_nonce_last, dev_nonce_history, join_nonce_last, rj_count1_last, last_join_at, revision";

/// The device repository over a pool of either engine.
#[derive(Debug, Clone)]
pub struct DeviceStore {
    pub(super) pool: AnyPool,
    pub(super) group_commit: Option<GroupCommit>,
}

impl DeviceStore {
    /// A repository over `pool` (migrated with [`super::MIGRATIONS`]); each activation is
    /// its own transaction.
    pub fn new(pool: AnyPool) -> Self {
        Self {
            pool,
            group_commit: None,
        }
    }

    /// A repository whose activations are committed in groups by one writer task (see
    /// [`super::GroupCommit`]): for the daemon, where many joins arrive at once. Call from
    /// within a tokio runtime.
    pub fn with_group_commit(pool: AnyPool) -> Self {
        Self {
            group_commit: Some(GroupCommit::start(pool.clone())),
            pool,
        }
    }

    /// Inserts a whole import in one transaction: all devices, or none when any DevEUI is
    /// already stored ([`StorageError::AlreadyImported`] lists them all).
    pub async fn insert_batch(
        &self,
        records: &[DeviceRecord],
        at: u64,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        let mut existing = Vec::new();
        for chunk in records.chunks(500) {
            let mut sql = String::from("SELECT dev_eui FROM devices WHERE dev_eui IN (");
            Placeholders::of(&tx).push_list(&mut sql, chunk.len());
            sql.push(')');
            let mut query = sqlx::query(&sql);
            for record in chunk {
                query = query.bind(record.dev_eui.to_string());
            }
            for row in query.fetch_all(&mut *tx).await? {
                let text: String = row.try_get(0)?;
                existing.push(parse_eui(&text, "dev_eui", &text)?);
            }
        }
        if !existing.is_empty() {
            existing.sort();
            return Err(StorageError::AlreadyImported(existing));
        }
        for record in records {
            let (state, home_net_id, home_nsid, activated_at) =
                state_columns(&record.lifecycle.state);
            sqlx::query(
                "INSERT INTO devices (dev_eui, join_eui, mac_version, profile_id, app_key, nwk_key, \
                 sealed_with, owner_token_hash, state, home_net_id, home_nsid, activated_at, \
                 history, app_s_key_as_id, dev_nonce_last, dev_nonce_history, join_nonce_last, \
                 rj_count1_last, last_join_at, revision, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, NULL, $14, \
                 NULL, NULL, NULL, 0, $15)",
            )
            .bind(record.dev_eui.to_string())
            .bind(record.join_eui.to_string())
            .bind(record.mac_version.to_string())
            .bind(record.profile_id.clone())
            .bind(record.app_key.to_bytes().to_vec())
            .bind(record.nwk_key.map(|k| k.to_bytes().to_vec()))
            .bind(record.app_key.key_id.to_string())
            .bind(record.owner_token.to_bytes().to_vec())
            .bind(state)
            .bind(home_net_id)
            .bind(home_nsid)
            .bind(activated_at)
            .bind(history_json(&record.lifecycle.history)?)
            .bind(Vec::<u8>::new())
            .bind(to_i64(at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The device with this DevEUI.
    pub async fn load(&self, dev_eui: Eui64) -> Result<Option<StoredDevice>, StorageError> {
        let sql = format!("SELECT {COLUMNS} FROM devices WHERE dev_eui = $1");
        let row = sqlx::query(&sql)
            .bind(dev_eui.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| decode_device(&row)).transpose()
    }

    /// A page of devices in DevEUI order.
    pub async fn list(&self, page: Page<'_>) -> Result<Vec<StoredDevice>, StorageError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM devices WHERE ($1 IS NULL OR state = $1) \
             AND ($2 IS NULL OR dev_eui > $2) ORDER BY dev_eui LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(page.state.map(str::to_owned))
            .bind(page.after.map(|e| e.to_string()))
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(decode_device).collect()
    }

    /// Writes a new lifecycle (claim, unclaim) if the device is still at `revision`;
    /// `false` when another writer came first.
    pub async fn save_lifecycle(
        &self,
        dev_eui: Eui64,
        revision: i64,
        lifecycle: &Lifecycle,
    ) -> Result<bool, StorageError> {
        let (state, home_net_id, home_nsid, activated_at) = state_columns(&lifecycle.state);
        let done = sqlx::query(
            "UPDATE devices SET state = $1, home_net_id = $2, home_nsid = $3, activated_at = $4, \
             history = $5, revision = revision + 1 WHERE dev_eui = $6 AND revision = $7",
        )
        .bind(state)
        .bind(home_net_id)
        .bind(home_nsid)
        .bind(activated_at)
        .bind(history_json(&lifecycle.history)?)
        .bind(dev_eui.to_string())
        .bind(revision)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets where the AppSKey of the device's next sessions goes; `false` when there is no
    /// such device.
    pub async fn set_delivery(
        &self,
        dev_eui: Eui64,
        delivery: &AppSKeyDelivery,
    ) -> Result<bool, StorageError> {
        let as_id = match delivery {
            AppSKeyDelivery::ToNetworkServer => None,
            AppSKeyDelivery::ToApplicationServer { as_id } => Some(as_id.clone()),
        };
        let done = sqlx::query(
            "UPDATE devices SET app_s_key_as_id = $1, revision = revision + 1 WHERE dev_eui = $2",
        )
        .bind(as_id)
        .bind(dev_eui.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The device's kept sessions, newest first.
    pub async fn sessions(&self, dev_eui: Eui64) -> Result<Vec<StoredSession>, StorageError> {
        let rows = sqlx::query(
            "SELECT session_key_id, app_s_key, join_nonce, dev_addr FROM sessions \
             WHERE dev_eui = $1 ORDER BY join_nonce DESC",
        )
        .bind(dev_eui.to_string())
        .fetch_all(&self.pool)
        .await?;
        let text = dev_eui.to_string();
        rows.iter().map(|row| decode_session(row, &text)).collect()
    }

    /// How many devices and sessions are sealed with another key than `current`.
    pub async fn count_sealed_with_other(&self, current: &str) -> Result<(u64, u64), StorageError> {
        let devices: i64 = sqlx::query("SELECT COUNT(*) FROM devices WHERE sealed_with <> $1")
            .bind(current)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let sessions: i64 = sqlx::query("SELECT COUNT(*) FROM sessions WHERE sealed_with <> $1")
            .bind(current)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok((to_u64(devices), to_u64(sessions)))
    }

    /// Up to `limit` devices sealed with another key than `current`.
    pub async fn sealed_with_other(
        &self,
        current: &str,
        limit: u32,
    ) -> Result<Vec<StoredDevice>, StorageError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM devices WHERE sealed_with <> $1 ORDER BY dev_eui LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(current)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(decode_device).collect()
    }

    /// Replaces a device's sealed root keys if it is still at `revision`.
    pub async fn save_root_keys(
        &self,
        dev_eui: Eui64,
        revision: i64,
        app_key: &SealedKey,
        nwk_key: Option<&SealedKey>,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "UPDATE devices SET app_key = $1, nwk_key = $2, sealed_with = $3, \
             revision = revision + 1 WHERE dev_eui = $4 AND revision = $5",
        )
        .bind(app_key.to_bytes().to_vec())
        .bind(nwk_key.map(|k| k.to_bytes().to_vec()))
        .bind(app_key.key_id.to_string())
        .bind(dev_eui.to_string())
        .bind(revision)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Up to `limit` sessions sealed with another key than `current`, with their DevEUI.
    pub async fn sessions_sealed_with_other(
        &self,
        current: &str,
        limit: u32,
    ) -> Result<Vec<(Eui64, StoredSession)>, StorageError> {
        let rows = sqlx::query(
            "SELECT dev_eui, session_key_id, app_s_key, join_nonce, dev_addr FROM sessions \
             WHERE sealed_with <> $1 LIMIT $2",
        )
        .bind(current)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let text: String = row.try_get("dev_eui")?;
                let dev_eui = parse_eui(&text, "dev_eui", &text)?;
                Ok((dev_eui, decode_session(row, &text)?))
            })
            .collect()
    }

    /// Replaces a session's sealed AppSKey, if it still holds `old`.
    pub async fn save_session_key(
        &self,
        dev_eui: Eui64,
        session_key_id: &SessionKeyId,
        old: &SealedKey,
        new: &SealedKey,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "UPDATE sessions SET app_s_key = $1, sealed_with = $2 \
             WHERE dev_eui = $3 AND session_key_id = $4 AND app_s_key = $5",
        )
        .bind(new.to_bytes().to_vec())
        .bind(new.key_id.to_string())
        .bind(dev_eui.to_string())
        .bind(session_key_id.as_bytes().to_vec())
        .bind(old.to_bytes().to_vec())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// The state as columns: name, home NetID, home NSID, activation time.
pub(super) fn state_columns(
    state: &DeviceState,
) -> (&'static str, Option<String>, Option<String>, Option<i64>) {
    let home = state.home();
    let activated_at = match state {
        DeviceState::Activated { at, .. } => Some(to_i64(*at)),
        _ => None,
    };
    (
        state.name(),
        home.map(|h| h.net_id.to_string()),
        home.and_then(|h| h.nsid).map(|n| n.to_string()),
        activated_at,
    )
}

pub(super) fn history_json(history: &History) -> Result<String, StorageError> {
    serde_json::to_string(history).map_err(|e| StorageError::Corrupt {
        dev_eui: String::new(),
        reason: format!("history does not serialize: {e}"),
    })
}

pub(super) fn encode_history(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub(super) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn corrupt(dev_eui: &str, reason: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        dev_eui: dev_eui.to_owned(),
        reason: reason.into(),
    }
}

fn parse_eui(text: &str, column: &str, dev_eui: &str) -> Result<Eui64, StorageError> {
    text.parse()
        .map_err(|_| corrupt(dev_eui, format!("{column} {text:?} is not an EUI-64")))
}

fn parse_net_id(text: &str, dev_eui: &str) -> Result<NetId, StorageError> {
    text.parse()
        .map_err(|_| corrupt(dev_eui, format!("home_net_id {text:?} is not a NetID")))
}

fn sealed(bytes: &[u8], column: &str, dev_eui: &str) -> Result<SealedKey, StorageError> {
    SealedKey::from_bytes(bytes).map_err(|e| corrupt(dev_eui, format!("{column}: {e}")))
}

fn opt_u16(value: Option<i64>, column: &str, dev_eui: &str) -> Result<Option<u16>, StorageError> {
    value
        .map(|v| {
            u16::try_from(v).map_err(|_| corrupt(dev_eui, format!("{column} {v} out of range")))
        })
        .transpose()
}

fn decode_device(row: &AnyRow) -> Result<StoredDevice, StorageError> {
    let dev_eui_text: String = row.try_get("dev_eui")?;
    let id = dev_eui_text.as_str();
    let dev_eui = parse_eui(id, "dev_eui", id)?;
    let join_eui_text: String = row.try_get("join_eui")?;
    let mac_version_text: String = row.try_get("mac_version")?;
    let mac_version: MacVersion = mac_version_text
        .parse()
        .map_err(|_| corrupt(id, format!("mac_version {mac_version_text:?}")))?;
    let app_key: Vec<u8> = row.try_get("app_key")?;
    let nwk_key: Option<Vec<u8>> = row.try_get("nwk_key")?;
    let token: Vec<u8> = row.try_get("owner_token_hash")?;
    let owner_token = OwnerTokenHash::from_slice(&token)
        .ok_or_else(|| corrupt(id, "owner_token_hash is not 32 bytes"))?;

    let state_name: String = row.try_get("state")?;
    let home_net_id: Option<String> = row.try_get("home_net_id")?;
    let home_nsid: Option<String> = row.try_get("home_nsid")?;
    let activated_at: Option<i64> = row.try_get("activated_at")?;
    let home = |net_id: Option<String>| -> Result<(NetId, Option<Eui64>), StorageError> {
        let net_id =
            net_id.ok_or_else(|| corrupt(id, format!("{state_name} without home_net_id")))?;
        let nsid = home_nsid
            .as_deref()
            .map(|n| parse_eui(n, "home_nsid", id))
            .transpose()?;
        Ok((parse_net_id(&net_id, id)?, nsid))
    };
    let state = match state_name.as_str() {
        "generic" => DeviceState::Generic,
        "unclaimed" => DeviceState::Unclaimed,
        "claimed" => {
            let (home_net_id, home_nsid) = home(home_net_id)?;
            DeviceState::Claimed {
                home_net_id,
                home_nsid,
            }
        }
        "activated" => {
            let (home_net_id, home_nsid) = home(home_net_id)?;
            DeviceState::Activated {
                home_net_id,
                home_nsid,
                at: to_u64(activated_at.unwrap_or_default()),
            }
        }
        other => return Err(corrupt(id, format!("unknown state {other:?}"))),
    };
    let history_text: String = row.try_get("history")?;
    let history: History =
        serde_json::from_str(&history_text).map_err(|e| corrupt(id, format!("history: {e}")))?;

    let as_id: Option<String> = row.try_get("app_s_key_as_id")?;
    let delivery = match as_id {
        Some(as_id) => AppSKeyDelivery::ToApplicationServer { as_id },
        None => AppSKeyDelivery::ToNetworkServer,
    };
    let dev_nonce_history: Vec<u8> = row.try_get("dev_nonce_history")?;
    if !dev_nonce_history.len().is_multiple_of(2) {
        return Err(corrupt(id, "dev_nonce_history has an odd length"));
    }
    let join_nonce_last: Option<i64> = row.try_get("join_nonce_last")?;
    let join_nonce_last = join_nonce_last
        .map(|n| {
            u32::try_from(n)
                .ok()
                .and_then(JoinNonce::new)
                .ok_or_else(|| corrupt(id, format!("join_nonce_last {n} out of range")))
        })
        .transpose()?;
    let nonces = NonceState {
        dev_nonce_last: opt_u16(row.try_get("dev_nonce_last")?, "dev_nonce_last", id)?,
        dev_nonce_history: dev_nonce_history
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
            .collect(),
        join_nonce_last,
        rj_count1_last: opt_u16(row.try_get("rj_count1_last")?, "rj_count1_last", id)?,
    };
    let last_join_at: Option<i64> = row.try_get("last_join_at")?;
    Ok(StoredDevice {
        record: DeviceRecord {
            dev_eui,
            join_eui: parse_eui(&join_eui_text, "join_eui", id)?,
            mac_version,
            profile_id: row.try_get("profile_id")?,
            app_key: sealed(&app_key, "app_key", id)?,
            nwk_key: nwk_key
                .as_deref()
                .map(|k| sealed(k, "nwk_key", id))
                .transpose()?,
            owner_token,
            lifecycle: Lifecycle { state, history },
        },
        delivery,
        nonces,
        last_join_at: last_join_at.map(to_u64),
        revision: row.try_get("revision")?,
    })
}

fn decode_session(row: &AnyRow, dev_eui: &str) -> Result<StoredSession, StorageError> {
    let id: Vec<u8> = row.try_get("session_key_id")?;
    let key: Vec<u8> = row.try_get("app_s_key")?;
    let join_nonce: i64 = row.try_get("join_nonce")?;
    let dev_addr: String = row.try_get("dev_addr")?;
    Ok(StoredSession {
        session_key_id: SessionKeyId::from_slice(&id)
            .ok_or_else(|| corrupt(dev_eui, "session_key_id is not 16 bytes"))?,
        app_s_key: sealed(&key, "app_s_key", dev_eui)?,
        join_nonce: u32::try_from(join_nonce)
            .ok()
            .and_then(JoinNonce::new)
            .ok_or_else(|| corrupt(dev_eui, "session join_nonce out of range"))?,
        dev_addr: dev_addr
            .parse()
            .map_err(|_| corrupt(dev_eui, format!("session dev_addr {dev_addr:?}")))?,
    })
}
