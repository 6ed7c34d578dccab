//! Provisioned gateways.

use lorawan::ids::Eui64;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::{corrupt, to_i64, StorageError};
use crate::gateway::registry::{Gateway, Location};

/// The gateway repository.
#[derive(Debug, Clone)]
pub struct GatewayStore {
    pool: AnyPool,
}

impl GatewayStore {
    /// A repository over a migrated pool.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Creates or replaces a gateway.
    pub async fn put(&self, gateway: &Gateway, at: u64) -> Result<(), StorageError> {
        let tags = serde_json::to_string(&gateway.tags)
            .map_err(|e| corrupt(&gateway.id.to_string(), format!("tags: {e}")))?;
        let (lat, lon, alt) = match gateway.location {
            Some(l) => (Some(l.lat), Some(l.lon), Some(l.alt_m)),
            None => (None, None, None),
        };
        sqlx::query(
            "INSERT INTO gateways (gateway_id, name, tenant, tags, latitude, longitude, altitude, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (gateway_id) DO \
             UPDATE SET name = $2, tenant = $3, tags = $4, latitude = $5, longitude = $6, \
             altitude = $7",
        )
        .bind(gateway.id.to_string())
        .bind(gateway.name.clone())
        .bind(gateway.tenant.clone())
        .bind(tags)
        .bind(lat)
        .bind(lon)
        .bind(alt)
        .bind(to_i64(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes a gateway; `Ok(false)` if there was none.
    pub async fn delete(&self, id: Eui64) -> Result<bool, StorageError> {
        let done = sqlx::query("DELETE FROM gateways WHERE gateway_id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every gateway.
    pub async fn all(&self) -> Result<Vec<Gateway>, StorageError> {
        let rows = sqlx::query(
            "SELECT gateway_id, name, tenant, tags, latitude, longitude, altitude FROM gateways \
             ORDER BY gateway_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode).collect()
    }
}

fn decode(row: &AnyRow) -> Result<Gateway, StorageError> {
    let text: String = row.try_get("gateway_id")?;
    let id = text
        .parse()
        .map_err(|_| corrupt(&text, "gateway_id is not an EUI-64"))?;
    let tags: String = row.try_get("tags")?;
    let tags = serde_json::from_str(&tags).map_err(|e| corrupt(&text, format!("tags: {e}")))?;
    let lat: Option<f64> = row.try_get("latitude")?;
    let lon: Option<f64> = row.try_get("longitude")?;
    let alt: Option<f64> = row.try_get("altitude")?;
    Ok(Gateway {
        id,
        name: row.try_get("name")?,
        tenant: row.try_get("tenant")?,
        tags,
        location: lat.zip(lon).map(|(lat, lon)| Location {
            lat,
            lon,
            alt_m: alt.unwrap_or(0.0),
        }),
    })
}
