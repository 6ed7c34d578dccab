//! The jsd's storage: sqlx repositories over SQLite or PostgreSQL, and their migrations
//! (one folder per backend beside this file).

mod activations;
mod devices;

use service::database::Migrations;
use sqlx::migrate::Migrator;

pub use activations::{ActivationWrite, GroupCommit};
pub use devices::{DeviceStore, Page, StorageError, StoredDevice, StoredSession};

static SQLITE: Migrator = sqlx::migrate!("src/storage/migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("src/storage/migrations/postgres");

/// The jsd's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};
