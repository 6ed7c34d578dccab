//! The `audit` table: batched inserts (for the [`AuditLog`](super::AuditLog) writer) and
//! filtered queries, newest first. One SQL text for both engines (`$n` parameters, integer
//! times in microseconds since the Unix epoch).

use std::net::SocketAddr;

use service::placeholders::Placeholders;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::{AuditEntry, AuditError, AuditFilter, Reason};
use crate::members::MemberId;
use crate::udr::{from_micros, to_micros};

/// The columns an insert writes, in bind order.
const COLUMNS: &str = "at, remote_addr, member, message_type, transaction_id, sender_id, \
     receiver_id, result_code, reason, description";
/// How many values each inserted row binds.
const BINDS_PER_ROW: usize = 10;
/// Rows in one INSERT statement at most (640 bind parameters).
const MAX_ROWS_PER_INSERT: usize = 64;

/// Reads and writes the audit log.
#[derive(Debug, Clone)]
pub struct AuditStore {
    pool: AnyPool,
}

impl AuditStore {
    /// A store over the hub's (migrated) database.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Stores `entries` in one transaction.
    pub async fn insert(&self, entries: &[AuditEntry]) -> Result<(), AuditError> {
        let mut tx = self.pool.begin().await?;
        insert_rows(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The entries `filter` selects, newest first, at most `filter.limit`.
    pub async fn query(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, AuditError> {
        let mut sql = format!("SELECT id, {COLUMNS} FROM audit WHERE 1 = 1");
        let mut binds: Vec<Bind> = Vec::new();
        let mut condition = |sql: &mut String, text: &str, bind: Bind| {
            binds.push(bind);
            sql.push_str(&format!(" AND {text} ${}", binds.len()));
        };
        if let Some(member) = &filter.member {
            condition(&mut sql, "member =", Bind::Text(member.0.clone()));
        }
        if let Some(from) = filter.from {
            condition(&mut sql, "at >=", Bind::Int(to_micros(from)));
        }
        if let Some(until) = filter.until {
            condition(&mut sql, "at <", Bind::Int(to_micros(until)));
        }
        if let Some(code) = &filter.result_code {
            condition(&mut sql, "result_code =", Bind::Text(code.clone()));
        }
        if let Some(before) = filter.before_id {
            condition(&mut sql, "id <", Bind::Int(before));
        }
        if let Some(members) = filter.access.members() {
            // No member: `IN (NULL)` matches nothing, as a scope of no members should.
            let mut list = Vec::with_capacity(members.len());
            for member in members {
                binds.push(Bind::Text(member.0.clone()));
                list.push(format!("${}", binds.len()));
            }
            if list.is_empty() {
                list.push("NULL".into());
            }
            sql.push_str(&format!(" AND member IN ({})", list.join(", ")));
        }
        binds.push(Bind::Int(i64::from(filter.limit)));
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", binds.len()));
        let mut query = sqlx::query(&sql);
        for bind in binds {
            query = match bind {
                Bind::Int(value) => query.bind(value),
                Bind::Text(value) => query.bind(value),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(decode).collect()
    }
}

/// A value bound to a dynamically built query.
enum Bind {
    Int(i64),
    Text(String),
}

/// Inserts `entries` on `conn` (inside the caller's transaction), a few rows per statement.
async fn insert_rows(conn: &mut AnyConnection, entries: &[AuditEntry]) -> Result<(), AuditError> {
    let placeholders = Placeholders::of(conn);
    for chunk in entries.chunks(MAX_ROWS_PER_INSERT) {
        let sql = insert_sql(chunk.len(), placeholders);
        let mut query = sqlx::query(&sql);
        for entry in chunk {
            query = query
                .bind(to_micros(entry.at))
                .bind(entry.remote_addr.map(|a| a.to_string()))
                .bind(entry.member.as_ref().map(|m| m.0.clone()))
                .bind(entry.message_type.clone())
                .bind(entry.transaction_id.map(i64::from))
                .bind(entry.sender_id.clone())
                .bind(entry.receiver_id.clone())
                .bind(entry.result_code.clone())
                .bind(entry.reason.as_str())
                .bind(entry.description.clone());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// `INSERT INTO audit (…) VALUES ($1, …, $10), ($11, …), …` (or `?` on SQLite) for `rows`
/// rows.
fn insert_sql(rows: usize, placeholders: Placeholders) -> String {
    let mut sql = format!("INSERT INTO audit ({COLUMNS}) VALUES ");
    placeholders.push_rows(&mut sql, rows, BINDS_PER_ROW);
    sql
}

fn decode(row: &AnyRow) -> Result<AuditEntry, AuditError> {
    let id: i64 = row.try_get("id")?;
    let corrupt = |reason: String| AuditError::Corrupt { id, reason };
    let micros: i64 = row.try_get("at")?;
    let at = from_micros(micros).ok_or_else(|| corrupt(format!("at {micros} is out of range")))?;
    let remote_addr = row
        .try_get::<Option<String>, _>("remote_addr")?
        .map(|text| {
            text.parse::<SocketAddr>()
                .map_err(|e| corrupt(format!("remote_addr {text:?}: {e}")))
        })
        .transpose()?;
    let transaction_id = row
        .try_get::<Option<i64>, _>("transaction_id")?
        .map(|value| u32::try_from(value).map_err(|_| corrupt(format!("transaction_id {value}"))))
        .transpose()?;
    let reason: String = row.try_get("reason")?;
    Ok(AuditEntry {
        id: Some(id),
        at,
        remote_addr,
        member: row.try_get::<Option<String>, _>("member")?.map(MemberId),
        message_type: row.try_get("message_type")?,
        transaction_id,
        sender_id: row.try_get("sender_id")?,
        receiver_id: row.try_get("receiver_id")?,
        result_code: row.try_get("result_code")?,
        reason: reason.parse::<Reason>().map_err(corrupt)?,
        description: row.try_get("description")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_statements_number_every_bind() {
        let sql = insert_sql(2, Placeholders::Numbered);
        assert!(sql.ends_with("($11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"));
        assert_eq!(COLUMNS.split(',').count(), BINDS_PER_ROW);
    }
}
