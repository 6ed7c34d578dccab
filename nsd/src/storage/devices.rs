//! Device profiles, devices and sessions. One SQL text for both engines (`$n` parameters,
//! portable types). Session keys are sealed with the master key before they are written.

use std::sync::Arc;

use lorawan::ids::{AesKey, DevAddr, Eui64};
use lorawan::join::MacVersion;
use lorawan::region::Region;
use service::sealing::{Keyring, SealedKey, SEALED_KEY_LEN};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::counters::{self, CounterWrite, CounterWriter};
use super::{corrupt, to_i64, StorageError};
use crate::device::{Class, Device, DeviceProfile, NetworkKeys, Session, SessionKeys};
use crate::downlink::queue::DeviceQueue;

/// The repository of profiles, devices and sessions.
#[derive(Clone)]
pub struct DeviceStore {
    pool: AnyPool,
    keyring: Arc<Keyring>,
    counters: Option<CounterWriter>,
}

impl std::fmt::Debug for DeviceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceStore")
    }
}

/// A device with its session, as loaded at start.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDevice {
    /// The device.
    pub device: Device,
    /// Its session, if any.
    pub session: Option<Session>,
    /// Its downlink queue.
    pub queue: DeviceQueue,
}

const PROFILE_COLUMNS: &str = "id, region, mac_version, class, supports_join, rx1_delay_s, \
    rx1_dr_offset, rx2_data_rate, rx2_frequency_hz, adr, abp_counter_reset";

const SESSION_COLUMNS: &str = "dev_addr, mac_version, split_keys, has_app_s_key, keys, \
    f_cnt_up_next, n_f_cnt_down, a_f_cnt_down, last_confirmed_down, rj_count0_last";

impl DeviceStore {
    /// A repository over a migrated pool, sealing with `keyring`.
    pub fn new(pool: AnyPool, keyring: Arc<Keyring>) -> Self {
        Self {
            pool,
            keyring,
            counters: None,
        }
    }

    /// As [`Self::new`], with counter writes group-committed ([`super::counters`]): the
    /// daemon's choice. Starts the writer task on the current tokio runtime.
    pub fn with_group_commit(pool: AnyPool, keyring: Arc<Keyring>) -> Self {
        let counters = Some(CounterWriter::start(pool.clone()));
        Self {
            pool,
            keyring,
            counters,
        }
    }

    /// The multicast group repository over the same database and keyring.
    pub fn multicast_groups(&self) -> super::MulticastStore {
        super::MulticastStore::new(self.pool.clone(), Arc::clone(&self.keyring))
    }

    /// Creates or replaces a profile.
    pub async fn put_profile(&self, p: &DeviceProfile, at: u64) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO device_profiles (id, region, mac_version, class, supports_join, \
             rx1_delay_s, rx1_dr_offset, rx2_data_rate, rx2_frequency_hz, adr, abp_counter_reset, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (id) DO UPDATE SET region = $2, mac_version = $3, class = $4, \
             supports_join = $5, rx1_delay_s = $6, rx1_dr_offset = $7, rx2_data_rate = $8, \
             rx2_frequency_hz = $9, adr = $10, abp_counter_reset = $11",
        )
        .bind(p.id.clone())
        .bind(p.region.name())
        .bind(p.mac_version.to_string())
        .bind(p.class.letter())
        .bind(i32::from(p.supports_join))
        .bind(i32::from(p.rx1_delay_s))
        .bind(i32::from(p.rx1_dr_offset))
        .bind(i32::from(p.rx2_data_rate))
        .bind(i64::from(p.rx2_frequency_hz))
        .bind(i32::from(p.adr))
        .bind(i32::from(p.abp_counter_reset))
        .bind(to_i64(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every profile.
    pub async fn profiles(&self) -> Result<Vec<DeviceProfile>, StorageError> {
        let sql = format!("SELECT {PROFILE_COLUMNS} FROM device_profiles ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(decode_profile).collect()
    }

    /// Deletes a profile; `Ok(false)` if there was none. Fails while devices use it.
    pub async fn delete_profile(&self, id: &str) -> Result<bool, StorageError> {
        let used: i64 = sqlx::query("SELECT COUNT(*) FROM devices WHERE profile_id = $1")
            .bind(id.to_owned())
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        if used > 0 {
            return Err(StorageError::InUse {
                what: format!("device profile {id}"),
                by: format!("{used} device(s)"),
            });
        }
        let done = sqlx::query("DELETE FROM device_profiles WHERE id = $1")
            .bind(id.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Creates or replaces a device, and its session when given (`None` keeps none).
    pub async fn put_device(
        &self,
        device: &Device,
        session: Option<&Session>,
        at: u64,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO devices (dev_eui, name, tenant, profile_id, join_eui, created_at, as_link, \
             roaming) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dev_eui) DO UPDATE \
             SET name = $2, tenant = $3, profile_id = $4, join_eui = $5, as_link = $7, \
             roaming = $8",
        )
        .bind(device.dev_eui.to_string())
        .bind(device.name.clone())
        .bind(device.tenant.clone())
        .bind(device.profile.clone())
        .bind(device.join_eui.map(|e| e.to_string()))
        .bind(to_i64(at))
        .bind(
            device
                .as_link
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| corrupt(&device.dev_eui.to_string(), format!("as_link: {e}")))?,
        )
        .bind(i32::from(device.roaming))
        .execute(&mut *tx)
        .await?;
        delete_session(&mut tx, device.dev_eui).await?;
        if let Some(session) = session {
            self.insert_session(&mut tx, device.dev_eui, session, at)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a device's session (a join).
    pub async fn put_session(
        &self,
        dev_eui: Eui64,
        session: &Session,
        at: u64,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        delete_session(&mut tx, dev_eui).await?;
        self.insert_session(&mut tx, dev_eui, session, at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_session(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        dev_eui: Eui64,
        session: &Session,
        at: u64,
    ) -> Result<(), StorageError> {
        let mut sealed = Vec::with_capacity(SEALED_KEY_LEN * 5);
        for (_, key) in session.keys.named() {
            sealed.extend_from_slice(&self.keyring.seal(key).to_bytes());
        }
        sqlx::query(
            "INSERT INTO sessions (dev_eui, dev_addr, mac_version, split_keys, has_app_s_key, \
             keys, sealed_with, f_cnt_up_next, n_f_cnt_down, a_f_cnt_down, last_confirmed_down, \
             updated_at, rj_count0_last) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(dev_eui.to_string())
        .bind(session.dev_addr.to_string())
        .bind(session.mac_version.to_string())
        .bind(i32::from(session.is_1_1()))
        .bind(i32::from(session.keys.app_s_key.is_some()))
        .bind(sealed)
        .bind(self.keyring.current().id().to_string())
        .bind(i64::from(session.f_cnt_up_next))
        .bind(i64::from(session.n_f_cnt_down))
        .bind(i64::from(session.a_f_cnt_down))
        .bind(session.last_confirmed_down.map(i64::from))
        .bind(to_i64(at))
        .bind(session.rj_count0_last.map(i64::from))
        .execute(&mut **tx)
        .await?;
        if let Some(mac) = mac_json(dev_eui, session)? {
            sqlx::query("INSERT INTO session_mac (dev_eui, mac_state) VALUES ($1, $2)")
                .bind(dev_eui.to_string())
                .bind(mac)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Writes a session's counters and MAC state (before the uplink is reported or the
    /// downlink sent); returns once they are committed.
    pub async fn save_counters(
        &self,
        dev_eui: Eui64,
        session: &Session,
        at: u64,
    ) -> Result<(), StorageError> {
        self.write_counters(CounterWrite::of(dev_eui, session, at, true)?, dev_eui)
            .await
    }

    /// [`Self::save_counters`] keeping the stored MAC state: for an uplink that changed it
    /// only in its ADR history (see [`crate::mac::MacState::same_but_uplink_history`]).
    pub async fn save_counters_only(
        &self,
        dev_eui: Eui64,
        session: &Session,
        at: u64,
    ) -> Result<(), StorageError> {
        self.write_counters(CounterWrite::of(dev_eui, session, at, false)?, dev_eui)
            .await
    }

    async fn write_counters(
        &self,
        write: CounterWrite,
        dev_eui: Eui64,
    ) -> Result<(), StorageError> {
        let found = match &self.counters {
            Some(writer) => return writer.save(write).await,
            None => {
                let mut tx = self.pool.begin().await?;
                let found = counters::apply(&mut tx, &write).await?;
                tx.commit().await?;
                found
            }
        };
        if !found {
            return Err(StorageError::Gone(format!("session of {dev_eui}")));
        }
        Ok(())
    }

    /// Writes a device's downlink queue.
    pub async fn save_queue(
        &self,
        dev_eui: Eui64,
        queue: &DeviceQueue,
        at: u64,
    ) -> Result<(), StorageError> {
        let text = serde_json::to_string(queue)
            .map_err(|e| corrupt(&dev_eui.to_string(), format!("queue: {e}")))?;
        sqlx::query(
            "INSERT INTO device_queues (dev_eui, queue, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (dev_eui) DO UPDATE SET queue = $2, updated_at = $3",
        )
        .bind(dev_eui.to_string())
        .bind(text)
        .bind(to_i64(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes a device and its session; `Ok(false)` if there was none.
    pub async fn delete_device(&self, dev_eui: Eui64) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        delete_session(&mut tx, dev_eui).await?;
        sqlx::query("DELETE FROM device_queues WHERE dev_eui = $1")
            .bind(dev_eui.to_string())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM devices WHERE dev_eui = $1")
            .bind(dev_eui.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every device with its session (at start, to fill the registry).
    pub async fn devices(&self) -> Result<Vec<StoredDevice>, StorageError> {
        let sql = format!(
            "SELECT d.dev_eui, d.name, d.tenant, d.profile_id, d.join_eui, d.as_link, d.roaming, \
             q.queue, m.mac_state, {} \
             FROM devices d LEFT JOIN sessions s ON s.dev_eui = d.dev_eui \
             LEFT JOIN session_mac m ON m.dev_eui = d.dev_eui \
             LEFT JOIN device_queues q ON q.dev_eui = d.dev_eui ORDER BY d.dev_eui",
            SESSION_COLUMNS
                .split(", ")
                .map(|c| format!("s.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(|row| self.decode_device(row)).collect()
    }

    fn decode_device(&self, row: &AnyRow) -> Result<StoredDevice, StorageError> {
        let eui_text: String = row.try_get("dev_eui")?;
        let dev_eui: Eui64 = eui_text
            .parse()
            .map_err(|_| corrupt(&eui_text, "dev_eui is not an EUI-64"))?;
        let join_eui = row
            .try_get::<Option<String>, _>("join_eui")?
            .map(|t| {
                t.parse()
                    .map_err(|_| corrupt(&eui_text, "join_eui is not an EUI-64"))
            })
            .transpose()?;
        let device = Device {
            dev_eui,
            name: row.try_get("name")?,
            tenant: row.try_get("tenant")?,
            profile: row.try_get("profile_id")?,
            join_eui,
            as_link: row
                .try_get::<Option<String>, _>("as_link")?
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(|e| corrupt(&eui_text, format!("as_link: {e}")))?,
            roaming: row.try_get::<i32, _>("roaming")? != 0,
        };
        let session = match row.try_get::<Option<String>, _>("dev_addr")? {
            None => None,
            Some(addr) => Some(self.decode_session(row, &eui_text, &addr)?),
        };
        let queue = match row.try_get::<Option<String>, _>("queue")? {
            None => DeviceQueue::new(),
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| corrupt(&eui_text, format!("queue: {e}")))?,
        };
        Ok(StoredDevice {
            device,
            session,
            queue,
        })
    }

    fn decode_session(
        &self,
        row: &AnyRow,
        dev_eui: &str,
        addr: &str,
    ) -> Result<Session, StorageError> {
        let dev_addr: DevAddr = addr
            .parse()
            .map_err(|_| corrupt(dev_eui, "dev_addr is not a DevAddr"))?;
        let version: String = row.try_get("mac_version")?;
        let mac_version: MacVersion = version
            .parse()
            .map_err(|_| corrupt(dev_eui, format!("mac_version {version:?}")))?;
        let split = row.try_get::<i32, _>("split_keys")? != 0;
        let has_app = row.try_get::<i32, _>("has_app_s_key")? != 0;
        let sealed: Vec<u8> = row.try_get("keys")?;
        let mut keys = Vec::new();
        for chunk in sealed.chunks(SEALED_KEY_LEN) {
            let sealed = SealedKey::from_bytes(chunk)
                .map_err(|e| corrupt(dev_eui, format!("sealed session key: {e}")))?;
            let key = self
                .keyring
                .unseal(&sealed)
                .map_err(|e| corrupt(dev_eui, format!("session key: {e}")))?;
            keys.push(key);
        }
        let expected = if split { 3 } else { 1 } + usize::from(has_app);
        if keys.len() != expected {
            return Err(corrupt(
                dev_eui,
                format!("{} session keys, expected {expected}", keys.len()),
            ));
        }
        let mut keys = keys.into_iter();
        let mut next = || keys.next().unwrap_or_else(|| AesKey::new([0; 16]));
        let network = if split {
            NetworkKeys::V1_1 {
                f_nwk_s_int_key: next(),
                s_nwk_s_int_key: next(),
                nwk_s_enc_key: next(),
            }
        } else {
            NetworkKeys::V1_0 { nwk_s_key: next() }
        };
        let app_s_key = has_app.then(next);
        Ok(Session {
            dev_addr,
            mac_version,
            keys: SessionKeys { network, app_s_key },
            f_cnt_up_next: counter(row, "f_cnt_up_next", dev_eui)?,
            n_f_cnt_down: counter(row, "n_f_cnt_down", dev_eui)?,
            a_f_cnt_down: counter(row, "a_f_cnt_down", dev_eui)?,
            last_confirmed_down: row
                .try_get::<Option<i64>, _>("last_confirmed_down")?
                .map(|v| u32::try_from(v).map_err(|_| corrupt(dev_eui, "last_confirmed_down")))
                .transpose()?,
            mac: row
                .try_get::<Option<String>, _>("mac_state")?
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(|e| corrupt(dev_eui, format!("mac_state: {e}")))?,
            rj_count0_last: row
                .try_get::<Option<i64>, _>("rj_count0_last")?
                .map(|v| u16::try_from(v).map_err(|_| corrupt(dev_eui, "rj_count0_last")))
                .transpose()?,
        })
    }
}

/// Deletes a device's session and its MAC state (inside the caller's transaction).
async fn delete_session(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    dev_eui: Eui64,
) -> Result<(), StorageError> {
    for table in ["session_mac", "sessions"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE dev_eui = $1"))
            .bind(dev_eui.to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(super) fn mac_json(dev_eui: Eui64, session: &Session) -> Result<Option<String>, StorageError> {
    session
        .mac
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| corrupt(&dev_eui.to_string(), format!("mac_state: {e}")))
}

fn counter(row: &AnyRow, column: &str, dev_eui: &str) -> Result<u32, StorageError> {
    let value: i64 = row.try_get(column)?;
    u32::try_from(value).map_err(|_| corrupt(dev_eui, format!("{column} = {value}")))
}

fn decode_profile(row: &AnyRow) -> Result<DeviceProfile, StorageError> {
    let id: String = row.try_get("id")?;
    let bad = |what: &str| corrupt(&id, format!("profile column {what}"));
    let region: String = row.try_get("region")?;
    let small = |column: &str| -> Result<u8, StorageError> {
        let v: i32 = row.try_get(column)?;
        u8::try_from(v).map_err(|_| bad(column))
    };
    Ok(DeviceProfile {
        region: Region::from_name(&region).map_err(|_| bad("region"))?,
        mac_version: row
            .try_get::<String, _>("mac_version")?
            .parse()
            .map_err(|_| bad("mac_version"))?,
        class: Class::from_letter(&row.try_get::<String, _>("class")?)
            .ok_or_else(|| bad("class"))?,
        supports_join: small("supports_join")? != 0,
        rx1_delay_s: small("rx1_delay_s")?,
        rx1_dr_offset: small("rx1_dr_offset")?,
        rx2_data_rate: small("rx2_data_rate")?,
        rx2_frequency_hz: u32::try_from(row.try_get::<i64, _>("rx2_frequency_hz")?)
            .map_err(|_| bad("rx2_frequency_hz"))?,
        adr: small("adr")? != 0,
        abp_counter_reset: small("abp_counter_reset")? != 0,
        id: id.clone(),
    })
}
