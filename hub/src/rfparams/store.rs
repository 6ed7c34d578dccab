//! The `rf_param_sets` table: each member's last publication, one row per member (migration
//! `0003_rf_param_sets.sql`). One SQL text for both engines (`$n` parameters; the upsert's
//! `ON CONFLICT … DO UPDATE` is SQLite 3.24+ and PostgreSQL 9.5+).

use sqlx::{AnyPool, Row};
use time::OffsetDateTime;

use super::model::RfParamSet;
use super::RfParamsError;
use crate::members::MemberId;
use crate::udr::{from_micros, to_micros};

/// A stored publication, as read back (not yet checked against the members file).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPublication {
    /// Who published.
    pub member: MemberId,
    /// The sets.
    pub sets: Vec<RfParamSet>,
    /// When.
    pub published_at: OffsetDateTime,
}

/// Reads and writes publications.
#[derive(Debug, Clone)]
pub struct RfParamStore {
    pool: AnyPool,
}

impl RfParamStore {
    /// A store over the hub's (migrated) database.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Every stored publication, by member id. A row that does not read back (edited by
    /// hand) is an error naming its member, not a silent loss.
    pub async fn load_all(&self) -> Result<Vec<StoredPublication>, RfParamsError> {
        let rows =
            sqlx::query("SELECT member, sets, published_at FROM rf_param_sets ORDER BY member")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                let member: String = row.try_get("member")?;
                let text: String = row.try_get("sets")?;
                let micros: i64 = row.try_get("published_at")?;
                let sets = serde_json::from_str(&text).map_err(|e| RfParamsError::Corrupt {
                    member: member.clone(),
                    reason: e.to_string(),
                })?;
                let published_at = from_micros(micros).ok_or_else(|| RfParamsError::Corrupt {
                    member: member.clone(),
                    reason: format!("published_at {micros} is out of range"),
                })?;
                Ok(StoredPublication {
                    member: MemberId(member),
                    sets,
                    published_at,
                })
            })
            .collect()
    }

    /// Stores `sets` as `member`'s publication, replacing the previous one.
    pub async fn replace(
        &self,
        member: &MemberId,
        sets: &[RfParamSet],
        at: OffsetDateTime,
    ) -> Result<(), RfParamsError> {
        let text = serde_json::to_string(sets).map_err(|e| RfParamsError::Corrupt {
            member: member.0.clone(),
            reason: e.to_string(),
        })?;
        sqlx::query(
            "INSERT INTO rf_param_sets (member, sets, published_at) VALUES ($1, $2, $3) \
             ON CONFLICT (member) DO UPDATE SET sets = excluded.sets, \
             published_at = excluded.published_at",
        )
        .bind(member.0.as_str())
        .bind(text)
        .bind(to_micros(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
