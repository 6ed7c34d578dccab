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

/// Which engine a storage test runs on: the database backends themselves
/// (`for engine in Engine::ALL`).
pub use crate::database::Backend as Engine;

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
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
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
                Self {
                    config: config(url),
                    postgres_name: None,
                    _dir: Some(dir),
                }
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
                let base = admin
                    .rsplit_once('/')
                    .map_or(admin.as_str(), |(base, _)| base);
                let url = format!("{base}/{name}");
                Self {
                    config: config(url),
                    postgres_name: Some(name),
                    _dir: None,
                }
            }
        }
    }

    /// Drops a PostgreSQL scratch database (call after closing its pools); SQLite files go
    /// with their directory.
    pub async fn drop_now(self) {
        if let Some(name) = &self.postgres_name {
            if let Ok(mut conn) = PgConnection::connect(&postgres_admin_url()).await {
                let _ = conn
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await;
                let _ = conn.close().await;
            }
        }
    }
}

fn config(url: String) -> DatabaseConfig {
    DatabaseConfig {
        url,
        max_connections: 4,
        ..DatabaseConfig::sqlite("unused")
    }
}

/// Starts a daemon's binary (`CARGO_BIN_EXE_…`) as a child process with `config`, on
/// `database_url` and loopback `port` (given as `<ENV_PREFIX>_DATABASE__URL` and
/// `…_SERVER__LISTEN`), logging warnings only, output discarded: for kill -9 tests.
pub fn spawn_daemon(
    binary: &str,
    env_prefix: &str,
    config: &std::path::Path,
    database_url: &str,
    port: u16,
) -> std::process::Child {
    std::process::Command::new(binary)
        .arg("--config")
        .arg(config)
        .arg("--log")
        .arg("warn")
        .env(format!("{env_prefix}_DATABASE__URL"), database_url)
        .env(
            format!("{env_prefix}_SERVER__LISTEN"),
            format!("127.0.0.1:{port}"),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"))
}

/// A loopback port free right now, for a daemon started as a child process.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Waits (20 s at most) until the daemon on loopback `port` answers `/health` with 200.
pub async fn wait_healthy(port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    while std::time::Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_ok()
            && http_get(addr, "/health").await.0 == 200
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the daemon on port {port} did not become healthy within 20 s");
}

/// A plain HTTP/1.1 GET on loopback, for daemon tests: `(status, body)`.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("receive");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Checks a running daemon's `/health` and `/metrics` and returns its instance id.
pub async fn assert_ops_endpoints(
    addr: std::net::SocketAddr,
    daemon: &str,
    engine: Engine,
) -> String {
    let (status, body) = http_get(addr, "/health").await;
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("health is JSON");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["daemon"], daemon);
    assert_eq!(health["database"], engine.name());
    let (status, _) = http_get(addr, "/no-such-route").await;
    assert_eq!(status, 404);
    let (status, metrics) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(&format!("switchyard_{daemon}_build_info")),
        "{metrics}"
    );
    let health_line = format!(
        r#"switchyard_{daemon}_http_requests_total{{route="/health",method="GET",status="200"}} 1"#
    );
    assert!(metrics.contains(&health_line), "{metrics}");
    assert!(metrics.contains(r#"route="unmatched""#), "{metrics}");
    health["instance"].as_str().expect("instance id").to_owned()
}

/// Starts daemon `D` on a loopback port over `scratch`, configured the way an operator
/// would: built-in defaults plus environment overrides.
pub async fn start_daemon<D: crate::daemon::Daemon>(
    scratch: &ScratchDatabase,
) -> crate::daemon::Running {
    start_daemon_with::<D>(scratch, &[]).await
}

/// [`start_daemon`] with more environment overrides (`("JSD_KEYS__MASTER_KEY", "…")`), for
/// settings a daemon has no default for.
pub async fn start_daemon_with<D: crate::daemon::Daemon>(
    scratch: &ScratchDatabase,
    extra_env: &[(&str, &str)],
) -> crate::daemon::Running {
    let mut env: std::collections::BTreeMap<String, String> = [
        (
            format!("{}_SERVER__LISTEN", D::ENV_PREFIX),
            "127.0.0.1:0".to_owned(),
        ),
        (
            format!("{}_DATABASE__URL", D::ENV_PREFIX),
            scratch.config.url.clone(),
        ),
    ]
    .into();
    env.extend(
        extra_env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let config: D::Config =
        crate::config::load(None, D::ENV_PREFIX, &env).expect("defaults with overrides load");
    D::start(&config).await.expect("daemon starts")
}

/// The start-up contract every daemon keeps, on both engines: `/health` and `/metrics`
/// answer, unknown routes are 404, and a restart over the same database keeps the
/// instance id.
pub async fn check_daemon_lifecycle<D: crate::daemon::Daemon>() {
    check_daemon_lifecycle_with::<D>(&[]).await;
}

/// [`check_daemon_lifecycle`] with more environment overrides (see [`start_daemon_with`]).
pub async fn check_daemon_lifecycle_with<D: crate::daemon::Daemon>(extra_env: &[(&str, &str)]) {
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        let daemon = start_daemon_with::<D>(&scratch, extra_env).await;
        let instance = assert_ops_endpoints(daemon.local_addr, D::NAME, engine).await;
        daemon.stop().await.expect("clean stop");

        let daemon = start_daemon_with::<D>(&scratch, extra_env).await;
        let (_, body) = http_get(daemon.local_addr, "/health").await;
        assert!(
            body.contains(&instance),
            "instance id must survive a restart: {body}"
        );
        daemon.stop().await.expect("clean stop");
        scratch.drop_now().await;
    }
}

/// Loads the example config shipped in `deploy/{name}.toml` (every key documented there)
/// and the built-in defaults, so neither can drift from the code.
pub fn check_example_config<D: crate::daemon::Daemon>(workspace_root: &std::path::Path) {
    let path = workspace_root
        .join("deploy")
        .join(format!("{}.toml", D::NAME));
    let empty = std::collections::BTreeMap::<String, String>::new();
    let example: D::Config = crate::config::load(Some(&path), D::ENV_PREFIX, &empty)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let defaults: D::Config =
        crate::config::load(None, D::ENV_PREFIX, &empty).expect("built-in defaults load");
    let (example_server, example_db) = D::common(&example);
    let (default_server, default_db) = D::common(&defaults);
    // The example documents the defaults: starting with or without it is the same.
    assert_eq!(
        example_server,
        default_server,
        "{}: [server] differs from defaults",
        path.display()
    );
    assert_eq!(
        example_db,
        default_db,
        "{}: [database] differs from defaults",
        path.display()
    );
}
