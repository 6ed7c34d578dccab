//! The nsd's storage: sqlx repositories over SQLite or PostgreSQL, and their migrations
//! (one folder per backend beside this file).
//!
//! The hot path does not read from here: everything is loaded into memory at start
//! ([`crate::device::registry`]) and written through on every change.

pub mod counters;
mod devices;
mod gateways;
mod multicast;

use service::database::Migrations;
use sqlx::migrate::Migrator;

pub use devices::{DeviceStore, StoredDevice};
pub use gateways::GatewayStore;
pub use multicast::{class_letter, MulticastStore};

static SQLITE: Migrator = sqlx::migrate!("src/storage/migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("src/storage/migrations/postgres");

/// The nsd's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

/// Why a repository failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database failed (unreachable, constraint, …).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value cannot be read back: edited by hand, damaged, or sealed with a master
    /// key that is not configured.
    #[error("stored record {id} is unreadable: {reason}")]
    Corrupt {
        /// The record.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// Something still uses what was to be deleted.
    #[error("{what} is used by {by}")]
    InUse {
        /// What was to be deleted.
        what: String,
        /// What uses it.
        by: String,
    },
    /// The record was deleted or replaced meanwhile.
    #[error("{0} is gone")]
    Gone(String),
}

fn corrupt(id: &str, reason: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        id: id.to_owned(),
        reason: reason.into(),
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
