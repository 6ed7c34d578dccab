//! Multicast groups. Keys are sealed with the master key like session keys; the frame
//! counter is advanced here, atomically, before each frame is built.

use std::sync::Arc;

use lorawan::region::Region;
use service::sealing::{Keyring, SealedKey, SEALED_KEY_LEN};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::{corrupt, to_i64, StorageError};
use crate::device::multicast::{McGroup, MulticastKeys};
use crate::downlink::multicast::MulticastClass;

/// The multicast group repository.
#[derive(Clone)]
pub struct MulticastStore {
    pool: AnyPool,
    keyring: Arc<Keyring>,
}

impl std::fmt::Debug for MulticastStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MulticastStore")
    }
}

const COLUMNS: &str =
    "id, dev_addr, keys, f_cnt, class, region, frequency_hz, data_rate, gateway_tags";

impl MulticastStore {
    /// A repository over a migrated pool, sealing with `keyring`.
    pub fn new(pool: AnyPool, keyring: Arc<Keyring>) -> Self {
        Self { pool, keyring }
    }

    /// Creates or replaces a group.
    pub async fn put(&self, group: &McGroup, at: u64) -> Result<(), StorageError> {
        let mut sealed = Vec::with_capacity(SEALED_KEY_LEN * 2);
        for key in [&group.keys.mc_nwk_s_key, &group.keys.mc_app_s_key] {
            sealed.extend_from_slice(&self.keyring.seal(key).to_bytes());
        }
        let tags = serde_json::to_string(&group.gateway_tags)
            .map_err(|e| corrupt(&group.id, format!("gateway_tags: {e}")))?;
        sqlx::query(
            "INSERT INTO multicast_groups (id, dev_addr, keys, sealed_with, f_cnt, class, region, \
             frequency_hz, data_rate, gateway_tags, created_at, updated_at) VALUES ($1, $2, $3, \
             $4, $5, $6, $7, $8, $9, $10, $11, $11) ON CONFLICT (id) DO UPDATE SET dev_addr = $2, \
             keys = $3, sealed_with = $4, f_cnt = $5, class = $6, region = $7, \
             frequency_hz = $8, data_rate = $9, gateway_tags = $10, updated_at = $11",
        )
        .bind(group.id.clone())
        .bind(group.dev_addr.to_string())
        .bind(sealed)
        .bind(self.keyring.current().id().to_string())
        .bind(i64::from(group.f_cnt))
        .bind(class_letter(group.class))
        .bind(group.region.name())
        .bind(i64::from(group.frequency_hz))
        .bind(i32::from(group.data_rate))
        .bind(tags)
        .bind(to_i64(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One group.
    pub async fn get(&self, id: &str) -> Result<Option<McGroup>, StorageError> {
        let sql = format!("SELECT {COLUMNS} FROM multicast_groups WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| self.decode(&row)).transpose()
    }

    /// Every group, by id.
    pub async fn all(&self) -> Result<Vec<McGroup>, StorageError> {
        let sql = format!("SELECT {COLUMNS} FROM multicast_groups ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(|row| self.decode(row)).collect()
    }

    /// Deletes a group; `Ok(false)` if there was none.
    pub async fn delete(&self, id: &str) -> Result<bool, StorageError> {
        let done = sqlx::query("DELETE FROM multicast_groups WHERE id = $1")
            .bind(id.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Takes the group's next frame counter: advances the stored one and returns the group
    /// with the counter to use (`None`: no such group). Two callers never get the same one.
    pub async fn take_f_cnt(&self, id: &str, at: u64) -> Result<Option<McGroup>, StorageError> {
        let row = sqlx::query(
            "UPDATE multicast_groups SET f_cnt = f_cnt + 1, updated_at = $2 WHERE id = $1 \
             AND f_cnt < 4294967296 RETURNING f_cnt",
        )
        .bind(id.to_owned())
        .bind(to_i64(at))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let after: i64 = row.try_get("f_cnt")?;
        let Some(mut group) = self.get(id).await? else {
            return Ok(None);
        };
        group.f_cnt = u32::try_from(after - 1).map_err(|_| corrupt(id, "f_cnt exhausted"))?;
        Ok(Some(group))
    }

    fn decode(&self, row: &AnyRow) -> Result<McGroup, StorageError> {
        let id: String = row.try_get("id")?;
        let bad = |what: &str| corrupt(&id, format!("multicast group column {what}"));
        let sealed: Vec<u8> = row.try_get("keys")?;
        let mut keys = Vec::with_capacity(2);
        for chunk in sealed.chunks(SEALED_KEY_LEN) {
            let sealed = SealedKey::from_bytes(chunk)
                .map_err(|e| corrupt(&id, format!("sealed multicast key: {e}")))?;
            keys.push(
                self.keyring
                    .unseal(&sealed)
                    .map_err(|e| corrupt(&id, format!("multicast key: {e}")))?,
            );
        }
        let [mc_nwk_s_key, mc_app_s_key]: [_; 2] = keys
            .try_into()
            .map_err(|_| corrupt(&id, "expected two sealed multicast keys"))?;
        let tags: String = row.try_get("gateway_tags")?;
        Ok(McGroup {
            dev_addr: row
                .try_get::<String, _>("dev_addr")?
                .parse()
                .map_err(|_| bad("dev_addr"))?,
            keys: MulticastKeys {
                mc_nwk_s_key,
                mc_app_s_key,
            },
            f_cnt: u32::try_from(row.try_get::<i64, _>("f_cnt")?).map_err(|_| bad("f_cnt"))?,
            class: match row.try_get::<String, _>("class")?.as_str() {
                "B" => MulticastClass::B,
                "C" => MulticastClass::C,
                _ => return Err(bad("class")),
            },
            region: Region::from_name(&row.try_get::<String, _>("region")?)
                .map_err(|_| bad("region"))?,
            frequency_hz: u32::try_from(row.try_get::<i64, _>("frequency_hz")?)
                .map_err(|_| bad("frequency_hz"))?,
            data_rate: u8::try_from(row.try_get::<i32, _>("data_rate")?)
                .map_err(|_| bad("data_rate"))?,
            gateway_tags: serde_json::from_str(&tags).map_err(|_| bad("gateway_tags"))?,
            id,
        })
    }
}

/// The letter a multicast class is stored and shown as.
pub fn class_letter(class: MulticastClass) -> &'static str {
    match class {
        MulticastClass::B => "B",
        MulticastClass::C => "C",
    }
}
