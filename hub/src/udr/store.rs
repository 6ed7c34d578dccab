//! The `udrs` table: batched inserts (for the [`UdrWriter`](super::UdrWriter)), queries and
//! daily aggregates. One SQL text for both engines (`$n` parameters, integer columns).
//!
//! Times are integer microseconds since the Unix epoch (UTC), so ordering, ranges and the
//! day bucket (`received_at / 86400000000`, integer division on both engines) are plain
//! integer arithmetic. DevEUI and DevAddr are lower-case hex text, as in the other tables.

use std::borrow::Cow;
use std::sync::OnceLock;

use lorawan::ids::{DevAddr, Eui64};
use sqlx::any::AnyRow;

use service::placeholders::{is_postgres, Placeholders};
use sqlx::{AnyConnection, AnyPool, Connection, Row};

use super::model::{
    day_from_epoch_days, from_micros, to_micros, DailyAggregate, Udr, UdrFilter, UdrId,
    MICROS_PER_DAY,
};
use super::writer::UdrFlusher;
use super::{UdrError, UdrWriter};
use crate::members::MemberId;

/// The columns an insert writes, in bind order.
const INSERT_COLUMNS: &str = "received_at, forwarded_at, answered_at, transaction_id, \
     message_type, sender, receiver, agreement, dev_eui, dev_addr, result_code, \
     request_bytes, answer_bytes, gateway_count";
/// How many values each inserted row binds (the columns above).
pub(super) const BINDS_PER_ROW: usize = 14;

/// One bound value of an inserted row.
#[derive(Debug, PartialEq)]
pub(super) enum Column<'a> {
    /// An INTEGER column (NULL when `None`).
    Int(Option<i64>),
    /// A TEXT column (NULL when `None`).
    Text(Option<Cow<'a, str>>),
}

/// The values `udr` binds, in the order of [`INSERT_COLUMNS`]: the one place that maps a
/// record to its columns, for the sqlx statements here and the SQLite writer thread's.
pub(super) fn columns_of(udr: &Udr) -> [Column<'_>; BINDS_PER_ROW] {
    fn text(value: &str) -> Column<'_> {
        Column::Text(Some(Cow::Borrowed(value)))
    }
    [
        Column::Int(Some(to_micros(udr.received_at))),
        Column::Int(udr.forwarded_at.map(to_micros)),
        Column::Int(Some(to_micros(udr.answered_at))),
        Column::Int(udr.transaction_id.map(i64::from)),
        text(&udr.message_type),
        text(&udr.sender.0),
        Column::Text(udr.receiver.as_ref().map(|r| Cow::Borrowed(r.0.as_str()))),
        Column::Text(udr.agreement.as_deref().map(Cow::Borrowed)),
        Column::Text(udr.dev_eui.map(|e| Cow::Owned(e.to_string()))),
        Column::Text(udr.dev_addr.map(|a| Cow::Owned(a.to_string()))),
        text(&udr.result_code),
        Column::Int(Some(i64::from(udr.request_bytes))),
        Column::Int(Some(i64::from(udr.answer_bytes))),
        Column::Int(udr.gateway_count.map(i64::from)),
    ]
}

/// The largest `seq` among the oldest `$1` records of the inbox (NULL when it is empty).
pub(super) const OLDEST_BOUND_SQL: &str =
    "SELECT MAX(seq) FROM (SELECT seq FROM udr_inbox ORDER BY seq LIMIT $1) AS oldest";
/// Deletes the inbox's records through `seq` `$1` (once copied).
pub(super) const DELETE_THROUGH_SQL: &str = "DELETE FROM udr_inbox WHERE seq <= $1";

/// Copies the inbox's records through `seq` `$1` into `udrs`, in order (SQLite's half of a
/// settle; PostgreSQL moves them in one statement).
pub(super) fn copy_through_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        format!(
            "INSERT INTO udrs ({INSERT_COLUMNS}) SELECT {INSERT_COLUMNS} FROM udr_inbox \
             WHERE seq <= $1 ORDER BY seq"
        )
    })
}
/// Rows in one INSERT statement at most. 256 × 14 = 3,584 bind parameters, far below
/// SQLite's 32,766 and PostgreSQL's 65,535.
pub(super) const MAX_ROWS_PER_INSERT: usize = 256;
const _: () = assert!(MAX_ROWS_PER_INSERT * BINDS_PER_ROW <= 32_766);

/// Reads the stored records: paged queries and daily aggregates.
#[derive(Debug, Clone)]
pub struct UdrStore {
    pool: AnyPool,
    /// The hub's writer's flusher, before every read: records it journaled are not in the
    /// database yet.
    flusher: Option<UdrFlusher>,
}

impl UdrStore {
    /// A store over the hub's (migrated) database, for a process that records nothing
    /// itself (or reads only what a stopped hub left: its journal is stored at its start).
    pub fn new(pool: AnyPool) -> Self {
        Self {
            pool,
            flusher: None,
        }
    }

    /// A store that reads what `writer` (of the same database) has acknowledged, too: each
    /// read waits until the writer has stored its journaled records.
    /// The store does not keep the writer running.
    pub fn flushing(pool: AnyPool, writer: &UdrWriter) -> Self {
        Self {
            pool,
            flusher: Some(writer.flusher()),
        }
    }

    /// The records `filter` selects, in id order, at most `filter.limit`.
    pub async fn query(&self, filter: &UdrFilter) -> Result<Vec<Udr>, UdrError> {
        self.settle_inbox().await?;
        let mut sql = format!("SELECT id, {INSERT_COLUMNS} FROM udrs WHERE ");
        let mut binds = where_clause(filter, &mut sql);
        if let Some(after) = filter.after_id {
            binds.push(Bind::Int(after.0));
            sql.push_str(&format!(" AND id > ${}", binds.len()));
        }
        binds.push(Bind::Int(i64::from(filter.limit)));
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", binds.len()));
        let rows = bind_all(sqlx::query(&sql), binds)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(decode_udr).collect()
    }

    /// The daily aggregates of the records `filter` selects (paging aside), computed by the
    /// database, ordered by [`DailyAggregate::key`].
    pub async fn daily_aggregates(
        &self,
        filter: &UdrFilter,
    ) -> Result<Vec<DailyAggregate>, UdrError> {
        self.settle_inbox().await?;
        // CAST(SUM(…) AS BIGINT): PostgreSQL sums BIGINTs as NUMERIC, which sqlx's `Any`
        // driver cannot decode; SQLite sums integers as integers already.
        let mut sql = format!(
            "SELECT received_at / {MICROS_PER_DAY} AS day, sender, receiver, agreement, \
             message_type, result_code, COUNT(*) AS records, \
             CAST(SUM(request_bytes) AS BIGINT) AS request_bytes, \
             CAST(SUM(answer_bytes) AS BIGINT) AS answer_bytes, \
             CAST(SUM(answered_at - received_at) AS BIGINT) AS latency_sum, \
             MAX(answered_at - received_at) AS latency_max \
             FROM udrs WHERE "
        );
        let binds = where_clause(filter, &mut sql);
        sql.push_str(&format!(
            " GROUP BY received_at / {MICROS_PER_DAY}, sender, receiver, agreement, \
             message_type, result_code"
        ));
        let rows = bind_all(sqlx::query(&sql), binds)
            .fetch_all(&self.pool)
            .await?;
        let mut aggregates = rows
            .iter()
            .map(decode_aggregate)
            .collect::<Result<Vec<_>, _>>()?;
        // Sorted here: the engines order NULLs (hub-answered, no agreement) differently.
        aggregates.sort_by(|a, b| a.key().cmp(&b.key()));
        Ok(aggregates)
    }

    /// Stores `udrs` in one transaction (the writer's batches do the same inside theirs):
    /// for imports and tests; the routing path records through the writer.
    pub async fn insert(&self, udrs: &[Udr]) -> Result<(), UdrError> {
        let mut tx = self.pool.begin().await?;
        insert_rows(&mut tx, udrs).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores what the writer journaled and moves every committed record of the inbox into
    /// `udrs`, so a read sees everything recorded before it (including what a hub killed
    /// before its writer settled left).
    async fn settle_inbox(&self) -> Result<(), UdrError> {
        if let Some(flusher) = &self.flusher {
            flusher.flush().await?;
        }
        let mut conn = self.pool.acquire().await?;
        settle(&mut conn, Settle::Everything).await.map(|_| ())
    }
}

/// How much of `udr_inbox` one [`settle`] moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settle {
    /// Every record committed when it starts (for reads: they see everything before them).
    Everything,
    /// At most this many of the oldest records: the writer's steps, short enough that the
    /// transactions whose UDRs queue behind one barely wait.
    Oldest(usize),
}

/// Moves records of `udr_inbox` into `udrs`, oldest first, atomically: each record is in
/// exactly one of the two tables before and after, even with several settlers at once.
/// Returns how many moved.
///
/// The records moved are those up to a `seq` bound read first; then:
/// - SQLite: one `BEGIN IMMEDIATE` transaction (the write lock is taken before the copy, so
///   no other writer commits in between): copy through the bound, delete through the bound.
/// - PostgreSQL: one statement, `DELETE … RETURNING` feeding the INSERT, so only rows this
///   statement deleted are copied, whatever other sessions commit meanwhile.
pub(super) async fn settle(conn: &mut AnyConnection, how_much: Settle) -> Result<u64, UdrError> {
    // Reads settle too, mostly finding nothing: that costs no write lock.
    let bound: Option<i64> = match how_much {
        Settle::Everything => {
            sqlx::query_scalar("SELECT MAX(seq) FROM udr_inbox")
                .fetch_one(&mut *conn)
                .await?
        }
        Settle::Oldest(records) => {
            sqlx::query_scalar(OLDEST_BOUND_SQL)
                .bind(i64::try_from(records).unwrap_or(i64::MAX))
                .fetch_one(&mut *conn)
                .await?
        }
    };
    let Some(bound) = bound else {
        return Ok(0);
    };
    if is_postgres(conn) {
        let moved = sqlx::query(&format!(
            "WITH moved AS (DELETE FROM udr_inbox WHERE seq <= $1 RETURNING seq, {INSERT_COLUMNS}) \
             INSERT INTO udrs ({INSERT_COLUMNS}) SELECT {INSERT_COLUMNS} FROM moved ORDER BY seq"
        ))
        .bind(bound)
        .execute(&mut *conn)
        .await?;
        return Ok(moved.rows_affected());
    }
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let moved = sqlx::query(copy_through_sql())
        .bind(bound)
        .execute(&mut *tx)
        .await?;
    if moved.rows_affected() > 0 {
        sqlx::query(DELETE_THROUGH_SQL)
            .bind(bound)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(moved.rows_affected())
}

/// Inserts `udrs` on `conn` (inside the caller's transaction when [`statements_for`] says
/// more than one statement), as few statements as bind limits allow.
pub(super) async fn insert_rows(conn: &mut AnyConnection, udrs: &[Udr]) -> Result<(), UdrError> {
    let placeholders = Placeholders::of(conn);
    let mut rest = udrs;
    while !rest.is_empty() {
        let rows = chunk_len(rest.len());
        let (chunk, tail) = rest.split_at(rows);
        let mut query = sqlx::query(insert_sql(rows, placeholders));
        for udr in chunk {
            for column in columns_of(udr) {
                query = match column {
                    Column::Int(value) => query.bind(value),
                    Column::Text(Some(Cow::Borrowed(text))) => query.bind(text),
                    Column::Text(Some(Cow::Owned(text))) => query.bind(text),
                    Column::Text(None) => query.bind(None::<&str>),
                };
            }
        }
        query.execute(&mut *conn).await?;
        rest = tail;
    }
    Ok(())
}

/// How many INSERT statements [`insert_rows`] uses for `rows` records: one (atomic by
/// itself, no transaction needed) up to [`EXACT_SHAPES`] rows.
pub(super) fn statements_for(mut rows: usize) -> usize {
    let mut statements = 0;
    while rows > 0 {
        rows -= chunk_len(rows);
        statements += 1;
    }
    statements
}

/// Batches up to this many rows are inserted by one statement of exactly their size (each
/// size is its own prepared statement, within sqlx's cache of 100 per connection); larger
/// ones in power-of-two chunks.
const EXACT_SHAPES: usize = 64;

/// The rows of the next statement for `remaining` records.
fn chunk_len(remaining: usize) -> usize {
    if remaining <= EXACT_SHAPES {
        return remaining;
    }
    let power = 1usize << (usize::BITS - 1 - remaining.leading_zeros());
    power.min(MAX_ROWS_PER_INSERT)
}

/// `INSERT INTO udrs (…) VALUES (?, …)`: one record straight into `udrs`, positional
/// parameters (the journal's drainer, which stores records in bulk, off the answer path).
pub(super) fn insert_one_into_udrs_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let mut sql = format!("INSERT INTO udrs ({INSERT_COLUMNS}) VALUES ");
        Placeholders::Positional.push_rows(&mut sql, 1, BINDS_PER_ROW);
        sql
    })
}

/// `INSERT INTO udr_inbox (…) VALUES ($1, …, $14), ($15, …), …` for `rows` rows (as
/// [`chunk_len`] gives them), built once per shape: routing inserts a batch per commit.
pub(super) fn insert_sql(rows: usize, placeholders: Placeholders) -> &'static str {
    static NUMBERED: OnceLock<Vec<String>> = OnceLock::new();
    static POSITIONAL: OnceLock<Vec<String>> = OnceLock::new();
    let cache = match placeholders {
        Placeholders::Numbered => &NUMBERED,
        Placeholders::Positional => &POSITIONAL,
    };
    // Index `rows - 1` for the exact shapes, then one per power of two above them.
    let shapes = cache.get_or_init(|| {
        let powers = (EXACT_SHAPES.ilog2() + 1..=MAX_ROWS_PER_INSERT.ilog2()).map(|p| 1 << p);
        (1..=EXACT_SHAPES)
            .chain(powers)
            .map(|rows| build_insert_sql(rows, placeholders))
            .collect()
    });
    let index = if rows <= EXACT_SHAPES {
        rows.max(1) - 1
    } else {
        EXACT_SHAPES + (rows.ilog2() - EXACT_SHAPES.ilog2()) as usize - 1
    };
    shapes.get(index).map_or("", String::as_str)
}

fn build_insert_sql(rows: usize, placeholders: Placeholders) -> String {
    let mut sql = format!("INSERT INTO udr_inbox ({INSERT_COLUMNS}) VALUES ");
    placeholders.push_rows(&mut sql, rows, BINDS_PER_ROW);
    sql
}

/// A value bound to a dynamically built query.
enum Bind {
    Int(i64),
    Text(String),
}

/// Appends the filter's conditions to `sql` (which ends in `WHERE `); the values to bind,
/// in order. Only present conditions are written, so each can use its index.
fn where_clause(filter: &UdrFilter, sql: &mut String) -> Vec<Bind> {
    let mut binds = vec![
        Bind::Int(to_micros(filter.from)),
        Bind::Int(to_micros(filter.until)),
    ];
    sql.push_str("received_at >= $1 AND received_at < $2");
    if let Some(member) = &filter.member {
        binds.push(Bind::Text(member.0.clone()));
        let n = binds.len();
        sql.push_str(&format!(" AND (sender = ${n} OR receiver = ${n})"));
    }
    if let Some(agreement) = &filter.agreement {
        binds.push(Bind::Text(agreement.clone()));
        sql.push_str(&format!(" AND agreement = ${}", binds.len()));
    }
    if let Some(members) = filter.access.members() {
        let list = members_list(members, &mut binds);
        sql.push_str(&format!(
            " AND (sender IN ({list}) OR receiver IN ({list}))"
        ));
    }
    binds
}

/// `$n, $m, …`: one bind per member (reused by each IN of the caller); `NULL` for none,
/// which matches nothing, as a scope of no members should.
fn members_list(members: &std::collections::BTreeSet<MemberId>, binds: &mut Vec<Bind>) -> String {
    if members.is_empty() {
        return "NULL".into();
    }
    members
        .iter()
        .map(|member| {
            binds.push(Bind::Text(member.0.clone()));
            format!("${}", binds.len())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for bind in binds {
        query = match bind {
            Bind::Int(value) => query.bind(value),
            Bind::Text(value) => query.bind(value),
        };
    }
    query
}

fn decode_udr(row: &AnyRow) -> Result<Udr, UdrError> {
    let id: i64 = row.try_get("id")?;
    let corrupt = |reason: String| UdrError::Corrupt { id, reason };
    let time = |column: &str, micros: i64| {
        from_micros(micros).ok_or_else(|| corrupt(format!("{column} {micros} is out of range")))
    };
    let count = |column: &str, value: i64| {
        u32::try_from(value).map_err(|_| corrupt(format!("{column} {value} is not a u32")))
    };
    let received_at = time("received_at", row.try_get("received_at")?)?;
    let forwarded_at = row
        .try_get::<Option<i64>, _>("forwarded_at")?
        .map(|micros| time("forwarded_at", micros))
        .transpose()?;
    let answered_at = time("answered_at", row.try_get("answered_at")?)?;
    let transaction_id = row
        .try_get::<Option<i64>, _>("transaction_id")?
        .map(|value| count("transaction_id", value))
        .transpose()?;
    let dev_eui = row
        .try_get::<Option<String>, _>("dev_eui")?
        .map(|text| {
            text.parse::<Eui64>()
                .map_err(|e| corrupt(format!("dev_eui {text:?}: {e}")))
        })
        .transpose()?;
    let dev_addr = row
        .try_get::<Option<String>, _>("dev_addr")?
        .map(|text| {
            text.parse::<DevAddr>()
                .map_err(|e| corrupt(format!("dev_addr {text:?}: {e}")))
        })
        .transpose()?;
    let gateway_count = row
        .try_get::<Option<i64>, _>("gateway_count")?
        .map(|value| count("gateway_count", value))
        .transpose()?;
    Ok(Udr {
        id: Some(UdrId(id)),
        transaction_id,
        message_type: row.try_get("message_type")?,
        sender: MemberId(row.try_get("sender")?),
        receiver: row.try_get::<Option<String>, _>("receiver")?.map(MemberId),
        agreement: row.try_get("agreement")?,
        dev_eui,
        dev_addr,
        result_code: row.try_get("result_code")?,
        request_bytes: count("request_bytes", row.try_get("request_bytes")?)?,
        answer_bytes: count("answer_bytes", row.try_get("answer_bytes")?)?,
        gateway_count,
        received_at,
        forwarded_at,
        answered_at,
    })
}

fn decode_aggregate(row: &AnyRow) -> Result<DailyAggregate, UdrError> {
    let day: i64 = row.try_get("day")?;
    let corrupt = |reason: String| UdrError::CorruptAggregate { day, reason };
    let unsigned = |column: &str| -> Result<u64, UdrError> {
        let value: i64 = row.try_get(column)?;
        u64::try_from(value).map_err(|_| corrupt(format!("{column} {value} is negative")))
    };
    let count = unsigned("records")?;
    let latency_sum: i64 = row.try_get("latency_sum")?;
    Ok(DailyAggregate {
        day: day_from_epoch_days(day)
            .ok_or_else(|| corrupt("the day is out of range".to_owned()))?,
        sender: MemberId(row.try_get("sender")?),
        receiver: row.try_get::<Option<String>, _>("receiver")?.map(MemberId),
        agreement: row.try_get("agreement")?,
        message_type: row.try_get("message_type")?,
        result_code: row.try_get("result_code")?,
        count,
        request_bytes: unsigned("request_bytes")?,
        answer_bytes: unsigned("answer_bytes")?,
        // A group has at least one record; max(1) only keeps the division total.
        mean_total_latency_us: latency_sum / i64::try_from(count.max(1)).unwrap_or(i64::MAX),
        max_total_latency_us: row.try_get("latency_max")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_up_to_the_cap() {
        assert_eq!(chunk_len(1), 1);
        assert_eq!(chunk_len(3), 3);
        assert_eq!(chunk_len(EXACT_SHAPES), EXACT_SHAPES);
        assert_eq!(chunk_len(255), 128);
        assert_eq!(chunk_len(256), 256);
        assert_eq!(chunk_len(10_000), MAX_ROWS_PER_INSERT);
        assert_eq!(statements_for(EXACT_SHAPES), 1);
        assert_eq!(statements_for(EXACT_SHAPES + 1), 2);
    }

    #[test]
    fn insert_statements_number_every_bind() {
        let sql = insert_sql(2, Placeholders::Numbered);
        assert!(
            sql.ends_with("($15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)")
        );
        for rows in [1, 3, EXACT_SHAPES, 128, MAX_ROWS_PER_INSERT] {
            let sql = insert_sql(rows, Placeholders::Positional);
            assert_eq!(
                sql.matches('?').count(),
                rows * BINDS_PER_ROW,
                "{rows} rows"
            );
        }
        assert_eq!(INSERT_COLUMNS.split(',').count(), BINDS_PER_ROW);
    }
}
