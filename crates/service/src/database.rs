//! Opening a daemon's database: SQLite (a file, nothing to install) or PostgreSQL (by URL).
//!
//! Both go through sqlx's `Any` driver so a repository is written once; the SQL in
//! repositories uses `$1`-style parameters, which both SQLite and PostgreSQL understand.
//! Each daemon ships one migration folder per backend (dialects differ in types and
//! defaults) and both are applied at start.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

/// The `[database]` section of every daemon's config.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` (created if missing) or `postgres://user@host:port/db`.
    pub url: String,
    /// Upper bound of pooled connections.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// How long start-up (and a request) waits for a connection, in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// SQLite only: `normal` (WAL; survives a process crash, may lose the last transactions on
    /// power loss) or `full` (every commit reaches the disk).
    #[serde(default)]
    pub sqlite_sync: SqliteSync,
}

impl DatabaseConfig {
    /// A SQLite file with default settings.
    pub fn sqlite(path: &str) -> Self {
        Self {
            url: format!("sqlite://{path}"),
            max_connections: default_max_connections(),
            connect_timeout_ms: default_connect_timeout_ms(),
            sqlite_sync: SqliteSync::default(),
        }
    }
}

fn default_max_connections() -> u32 {
    8
}

fn default_connect_timeout_ms() -> u64 {
    10_000
}

/// A `[database]` section as written, every key optional, to lay over a daemon's own defaults
/// ([`DatabaseSection::over`]): `JSD_DATABASE__URL=…` alone keeps the daemon's other defaults.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// See [`DatabaseConfig::url`].
    pub url: Option<String>,
    /// See [`DatabaseConfig::max_connections`].
    pub max_connections: Option<u32>,
    /// See [`DatabaseConfig::connect_timeout_ms`].
    pub connect_timeout_ms: Option<u64>,
    /// See [`DatabaseConfig::sqlite_sync`].
    pub sqlite_sync: Option<SqliteSync>,
}

impl DatabaseSection {
    /// The section's keys over `defaults`.
    pub fn over(self, defaults: DatabaseConfig) -> DatabaseConfig {
        DatabaseConfig {
            url: self.url.unwrap_or(defaults.url),
            max_connections: self.max_connections.unwrap_or(defaults.max_connections),
            connect_timeout_ms: self
                .connect_timeout_ms
                .unwrap_or(defaults.connect_timeout_ms),
            sqlite_sync: self.sqlite_sync.unwrap_or(defaults.sqlite_sync),
        }
    }
}

/// SQLite durability mode (`PRAGMA synchronous`), see [`DatabaseConfig::sqlite_sync`].
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    /// `synchronous = NORMAL` in WAL mode.
    #[default]
    Normal,
    /// `synchronous = FULL`.
    Full,
}

/// Which database engine a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// Both engines, e.g. for a test that must run on each.
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

    /// `sqlite` or `postgres`, as `/health` reports it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A daemon's migrations, one set per backend.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    /// Applied on SQLite.
    pub sqlite: &'static Migrator,
    /// Applied on PostgreSQL.
    pub postgres: &'static Migrator,
}

/// Why the database could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The URL names no supported backend.
    #[error("database.url must start with sqlite:// or postgres:// (got {0:?})")]
    UnsupportedUrl(String),
    /// The directory of a SQLite file could not be created.
    #[error("cannot create directory {path} for the SQLite database: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Connecting failed.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL, without its password.
        url: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

/// An open, migrated database.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
    sqlite_file: Option<SqliteFile>,
}

/// The file of a SQLite database and how it is synced, for a component that opens a
/// connection of its own beside the pool (the hub's UDR writer thread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteFile {
    /// The database file.
    pub path: PathBuf,
    /// The `[database] sqlite_sync` setting its connections use.
    pub sync: SqliteSync,
}

/// The pragmas every connection to a SQLite database runs first, the pool's and any other.
pub fn sqlite_pragmas(sync: SqliteSync) -> [&'static str; 5] {
    [
        // WAL lets readers run beside the one writer.
        "PRAGMA journal_mode = WAL",
        match sync {
            SqliteSync::Normal => "PRAGMA synchronous = NORMAL",
            SqliteSync::Full => "PRAGMA synchronous = FULL",
        },
        // A second writer waits for the first instead of failing with SQLITE_BUSY.
        "PRAGMA busy_timeout = 5000",
        // Checkpoints run in the background (see `checkpoint_in_background`); a commit
        // checkpoints itself only if the WAL passes 64 MB (4 KB pages), should that task
        // fall behind.
        "PRAGMA wal_autocheckpoint = 16000",
        "PRAGMA foreign_keys = ON",
    ]
}

/// How often the WAL of a SQLite database is checkpointed in the background.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Copies the SQLite WAL back into the database file every [`CHECKPOINT_EVERY`], on a
/// connection of its own, until the pool is closed. SQLite's automatic checkpoint runs inside
/// whichever commit crosses the threshold, so that commit (an uplink's counter, a UDR batch)
/// waits for page copies and an fsync: a latency spike on the hot path every few thousand
/// commits. A PASSIVE checkpoint never waits for writers or readers; what it cannot copy
/// now, the next one does.
async fn checkpoint_in_background(pool: AnyPool) {
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        if pool.is_closed() {
            return;
        }
        let outcome = match pool.acquire().await {
            Ok(mut conn) => conn
                .execute("PRAGMA wal_checkpoint(PASSIVE)")
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            if pool.is_closed() {
                return;
            }
            tracing::debug!(error = %e, "background WAL checkpoint failed; retried");
        }
    }
}

impl Database {
    /// Connects, applies the backend's pragmas, and runs the daemon's migrations.
    pub async fn connect(
        config: &DatabaseConfig,
        migrations: Migrations,
    ) -> Result<Self, DatabaseError> {
        sqlx::any::install_default_drivers();
        let (backend, url, path) = normalise_url(&config.url)?;
        let options =
            AnyConnectOptions::from_str(&url).map_err(|source| DatabaseError::Connect {
                url: redact_password(&config.url),
                source,
            })?;
        let sync = config.sqlite_sync;
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(Duration::from_millis(config.connect_timeout_ms))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in sqlite_pragmas(sync) {
                            conn.execute(pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|source| DatabaseError::Connect {
                url: redact_password(&config.url),
                source,
            })?;
        let migrator = match backend {
            Backend::Sqlite => migrations.sqlite,
            Backend::Postgres => migrations.postgres,
        };
        migrator.run(&pool).await?;
        if backend == Backend::Sqlite {
            tokio::spawn(checkpoint_in_background(pool.clone()));
        }
        let sqlite_file = path.map(|path| SqliteFile { path, sync });
        Ok(Self {
            pool,
            backend,
            sqlite_file,
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database file, when the engine is SQLite.
    pub fn sqlite_file(&self) -> Option<&SqliteFile> {
        self.sqlite_file.as_ref()
    }

    /// This database's instance id: a random id written at first start into the `instance`
    /// table every daemon's first migration creates, so logs, metrics and records of one
    /// deployment can be told apart from another's.
    pub async fn instance_id(&self) -> Result<String, DatabaseError> {
        use sqlx::Row;
        if let Some(row) = sqlx::query("SELECT id FROM instance")
            .fetch_optional(&self.pool)
            .await?
        {
            return Ok(row.try_get::<String, _>("id")?);
        }
        let id = random_instance_id();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        // Two instances starting at once on one PostgreSQL database: the second insert is a
        // no-op and both read the winner's id.
        sqlx::query("INSERT INTO instance (id, created_at) SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM instance)")
            .bind(&id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query("SELECT id FROM instance")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<String, _>("id")?)
    }

    /// A cheap round trip, for `/health`.
    pub async fn ping(&self) -> Result<(), DatabaseError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every pooled connection (a clean shutdown checkpoints SQLite's WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// 16 random hex digits from the OS's hasher keys (no RNG dependency needed for an id).
fn random_instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", hasher.finish())
}

/// Checks the scheme and, for SQLite, creates the file's directory and asks for the file to
/// be created when missing (`mode=rwc`); the SQLite file's path too.
fn normalise_url(url: &str) -> Result<(Backend, String, Option<PathBuf>), DatabaseError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned(), None));
    }
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Err(DatabaseError::UnsupportedUrl(url.to_owned()));
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err(DatabaseError::UnsupportedUrl(url.to_owned()));
    }
    if let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|source| DatabaseError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let query = if query.split('&').any(|kv| kv.starts_with("mode=")) {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    // An in-memory database is the pool's alone: another connection would open another one.
    let in_memory = path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory");
    Ok((
        Backend::Sqlite,
        format!("sqlite://{path}?{query}"),
        (!in_memory).then(|| PathBuf::from(path)),
    ))
}

/// The URL with any password replaced, fit for a log line or an error message.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_ask_for_creation() {
        let (backend, url, path) = normalise_url("sqlite://var-test-unused/x.db").unwrap();
        assert_eq!(backend, Backend::Sqlite);
        assert_eq!(url, "sqlite://var-test-unused/x.db?mode=rwc");
        assert_eq!(path, Some(PathBuf::from("var-test-unused/x.db")));
        let _ = std::fs::remove_dir("var-test-unused");
        let (_, url, path) = normalise_url("sqlite:x.db?mode=ro").unwrap();
        assert_eq!(url, "sqlite://x.db?mode=ro");
        assert_eq!(path, Some(PathBuf::from("x.db")));
        let (_, _, path) = normalise_url("sqlite::memory:").unwrap();
        assert_eq!(path, None);
        let (backend, _, path) = normalise_url("postgres://u@h/db").unwrap();
        assert_eq!((backend, path), (Backend::Postgres, None));
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(matches!(
            normalise_url("mysql://x"),
            Err(DatabaseError::UnsupportedUrl(_))
        ));
        assert!(matches!(
            normalise_url("sqlite://"),
            Err(DatabaseError::UnsupportedUrl(_))
        ));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_password("postgres://u@h/db"), "postgres://u@h/db");
    }
}
