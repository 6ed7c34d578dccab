//! Usage data records: one per routed transaction, for billing and latency per hop.
//!
//! - [`Udr`]: the record (who, what, under which agreement, how it ended, how big, when it
//!   passed each hop), with per-hop latencies; [`UdrFilter`] and [`DailyAggregate`] for
//!   what is asked of the stored ones. Pure.
//! - [`UdrWriter`]: records durably: `record(udr).await` returns once the record survives a
//!   killed hub, so a transaction answered as successful has its UDR once the hub is
//!   restarted. On a SQLite file with `sqlite_sync = "normal"` (the default) the record is
//!   copied into a memory-mapped journal beside the database (`journal`) and a drainer
//!   thread stores it in `udrs` within [`DRAIN_EVERY`] (`journal_writer`); with `"full"` a
//!   thread of its own commits each batch before acknowledging (`sqlite_writer`); on
//!   PostgreSQL a task on the pool does (group commit).
//! - [`UdrStore`]: paged queries by member, agreement and period; daily aggregates computed
//!   by the database.
//! - [`export`]: CSV (RFC 4180) and JSON. Pure.
//!
//! The table is `udrs` (migration `0002_udrs.sql`), times in microseconds since the Unix
//! epoch. The committing writers commit into `udr_inbox` (migration `0005_udr_inbox.sql`),
//! which they and every read settle into `udrs`; the journal's drainer stores into `udrs`
//! directly and notes each drained segment in `udr_journal` (SQLite migration 0006).

pub mod export;
mod journal;
mod journal_record;
mod journal_writer;
mod model;
mod sqlite_writer;
mod store;
mod writer;

pub use journal_writer::DRAIN_EVERY;
pub use model::{
    day_from_epoch_days, from_micros, iso8601, to_micros, truncate_to_micros, DailyAggregate, Udr,
    UdrFilter, UdrId, MICROS_PER_DAY,
};
pub use store::UdrStore;
pub use writer::{UdrFlusher, UdrWriter, MAX_BATCH, QUEUE, SETTLE_EVERY, SETTLE_STEP};

/// Why a UDR could not be recorded or read.
#[derive(Debug, thiserror::Error)]
pub enum UdrError {
    /// The database failed (unreachable, refused a value, …).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The SQLite writer thread's connection failed (could not open the file, refused a
    /// value, …).
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The UDR journal beside the SQLite database cannot be opened (a second hub holds it,
    /// or the file cannot be created or mapped).
    #[error("{0}")]
    Journal(#[from] journal::JournalError),
    /// The SQLite writer thread could not be started.
    #[error("cannot start the UDR writer thread: {0}")]
    Thread(std::io::Error),
    /// The writer task has stopped (the runtime is shutting down): the record is not stored.
    #[error("the UDR writer has stopped")]
    WriterStopped,
    /// The batch the record was committed in failed: none of it is stored.
    #[error("UDR batch failed: {0}")]
    Batch(String),
    /// A stored record cannot be read back: the database was edited by hand or is damaged.
    #[error("stored UDR {id} is unreadable: {reason}")]
    Corrupt {
        /// The record's id.
        id: i64,
        /// What is wrong.
        reason: String,
    },
    /// An aggregate cannot be read back (a damaged record in its group).
    #[error("UDR aggregate of day {day} is unreadable: {reason}")]
    CorruptAggregate {
        /// The day, in days since 1970-01-01.
        day: i64,
        /// What is wrong.
        reason: String,
    },
}
