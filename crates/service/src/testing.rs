//! Helpers for storage tests, which run every case on SQLite and on PostgreSQL.
//!
//! PostgreSQL comes from `SWITCHYARD_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`, the CI machine's trust-auth server). Each
//! [`ScratchDatabase`] is a fresh database, so tests run in parallel and start empty.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, Executor, PgConnection};

use crate::database::DatabaseConfig;

/// The maintenance URL scratch databases are created through.
pub fn postgres_admin_url() -> String {
    std::env::var("SWITCHYARD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A database that exists for one test: a SQLite file in a temporary directory, or a
/// PostgreSQL database created for it and dropped by [`ScratchDatabase::drop_now`].
#[derive(Debug)]
pub struct ScratchDatabase {
    /// The config pointing at it.
    pub config: DatabaseConfig,
    postgres_name: Option<String>,
    _dir: Option<tempfile_dir::TempDir>,
}

/// Which engine a storage test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

impl Engine {
    /// Both engines, for `for engine in Engine::ALL`.
    pub const ALL: [Engine; 2] = [Engine::Sqlite, Engine::Postgres];
}

mod tempfile_dir {
    //! A minimal temporary directory (removed on drop) so this module needs no dev-only crate.
    use std::path::{Path, PathBuf};

    #[derive(Debug)]
    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(name: &str) -> std::io::Result<Self> {
            let path = std::env::temp_dir().join(name);
            std::fs::create_dir_all(&path)?;
            Ok(Self(path))
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl ScratchDatabase {
    /// Creates an empty database on `engine`.
    ///
    /// Panics with a clear message when PostgreSQL is unreachable: a storage test that
    /// silently skips one engine would hide the bugs this exists to find.
    pub async fn create(engine: Engine) -> Self {
        match engine {
            Engine::Sqlite => {
                let dir = tempfile_dir::TempDir::new(&unique_name("switchyard_sqlite"))
                    .expect("create a temporary directory");
                let url = format!("sqlite://{}/test.db", dir.path().display());
                Self { config: config(url), postgres_name: None, _dir: Some(dir) }
            }
            Engine::Postgres => {
                let admin = postgres_admin_url();
                let name = unique_name("switchyard_test");
                let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at {admin} is needed by the storage tests: {e}")
                });
                conn.execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create scratch database");
                let _ = conn.close().await;
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
                let url = format!("{base}/{name}");
                Self { config: config(url), postgres_name: Some(name), _dir: None }
            }
        }
    }

    /// Drops a PostgreSQL scratch database (call after closing its pools); SQLite files go
    /// with their directory.
    pub async fn drop_now(self) {
        if let Some(name) = &self.postgres_name {
            if let Ok(mut conn) = PgConnection::connect(&postgres_admin_url()).await {
                let _ =
                    conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await;
                let _ = conn.close().await;
            }
        }
    }
}

fn config(url: String) -> DatabaseConfig {
    DatabaseConfig { url, max_connections: 4, sqlite_sync: Default::default() }
}
