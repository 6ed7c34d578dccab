//! Starting and stopping a daemon the same way for all three: open the database, build the
//! routes around shared state, listen, serve until told to stop.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::database::{Database, DatabaseConfig, DatabaseError, Migrations};
use crate::metrics::Metrics;
use crate::ops::Ops;
use crate::runtime;
use crate::server::{with_common_layers, ServerConfig};
use crate::tls::{TlsConfig, TlsError, TlsListener};

/// A daemon binary: its identity, its config type and how to start it. `hub`, `nsd` and `jsd`
/// each implement it once; [`crate::cli::main`] and the shared tests do the rest.
pub trait Daemon {
    /// `hub`, `nsd` or `jsd`.
    const NAME: &'static str;
    /// Prefix of environment overrides (`HUB` for `HUB_DATABASE__URL`).
    const ENV_PREFIX: &'static str;
    /// One line for `--help`.
    const ABOUT: &'static str;
    /// The daemon's config file, deserialized with `deny_unknown_fields`.
    type Config: serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync;
    /// The `[server]` and `[database]` sections every daemon has.
    fn common(config: &Self::Config) -> (&ServerConfig, &DatabaseConfig);
    /// Starts serving with `config`.
    fn start(
        config: &Self::Config,
    ) -> impl std::future::Future<Output = Result<Running, StartError>> + Send;

    /// Subcommands beside serving (`jsd import FILE`), added to the shared command line;
    /// none by default. `--config` and `--log` apply to them too.
    fn subcommands() -> Vec<clap::Command> {
        Vec::new()
    }

    /// Runs subcommand `name` (one of [`Daemon::subcommands`]) with its arguments and the
    /// loaded config, on the async runtime. Its result is the process's exit code; it prints
    /// its own output (stdout) and errors (stderr).
    fn run_subcommand(
        name: &str,
        args: &clap::ArgMatches,
        config: &Self::Config,
    ) -> impl std::future::Future<Output = std::process::ExitCode> {
        let _ = (args, config);
        let message = format!("{}: no subcommand {name:?}", Self::NAME);
        async move {
            eprintln!("{message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// What a daemon is, for the shared start-up.
#[derive(Debug, Clone, Copy)]
pub struct DaemonSpec {
    /// `hub`, `nsd` or `jsd`: metric prefix, `/health` and logs.
    pub name: &'static str,
    /// The daemon's migrations.
    pub migrations: Migrations,
}

/// Why a daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// The listener could not be bound.
    #[error(transparent)]
    Listen(#[from] std::io::Error),
    /// `[server.tls]` cannot be used (the key at fault and why).
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The daemon's own set-up failed.
    #[error("{0}")]
    Setup(String),
}

/// Opened resources handed to a daemon's route builder.
#[derive(Debug)]
pub struct Resources {
    /// The migrated database.
    pub database: Database,
    /// The metrics registry, still open for the daemon's own metrics.
    pub metrics: Metrics,
    stopping: tokio::sync::watch::Receiver<bool>,
    finishers: Finishers,
}

/// Work a stopping daemon waits for (see [`Resources::finish_on_stop`]).
/// (In a mutex only so that `Running` stays `Sync`: nothing runs them but `stop`.)
#[derive(Default)]
struct Finishers(std::sync::Mutex<Vec<Finisher>>);

type Finisher = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl Finishers {
    fn into_inner(self) -> Vec<Finisher> {
        self.0
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Finishers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Finishers")
    }
}

impl Resources {
    /// Has [`Running::stop`] run `finish` once the server has finished its requests and
    /// before the database closes, and wait for it: a writer storing what it still holds,
    /// say.
    pub fn finish_on_stop(
        &mut self,
        finish: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        self.finishers
            .0
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Box::pin(finish));
    }

    /// Completes when the daemon is told to stop: background tasks the daemon starts (a UDP
    /// listener, say) select on it so they end with the HTTP server.
    pub fn stopping(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut stopping = self.stopping.clone();
        async move {
            // An error means the sender is gone: the daemon is gone too.
            let _ = stopping.wait_for(|stop| *stop).await;
        }
    }
}

/// A running daemon.
#[derive(Debug)]
pub struct Running {
    /// Where it listens (useful when the config said port 0).
    pub local_addr: SocketAddr,
    /// Its database.
    pub database: Database,
    stop: oneshot::Sender<()>,
    stopping: tokio::sync::watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    finishers: Finishers,
}

/// Opens the database, lets `build` make the daemon's routes (registering its metrics on the
/// way; it may read the database first), wraps them in the common layers and starts serving.
pub async fn start<F>(
    spec: DaemonSpec,
    server: &ServerConfig,
    database: &DatabaseConfig,
    build: F,
) -> Result<Running, StartError>
where
    F: AsyncFnOnce(&mut Resources) -> Result<Router, StartError>,
{
    // Checked first: a bad certificate refuses to start before anything is opened.
    let tls = server
        .tls
        .as_ref()
        .map(TlsConfig::server_config)
        .transpose()?;
    let database = Database::connect(database, spec.migrations).await?;
    let (stopping, stopping_rx) = tokio::sync::watch::channel(false);
    let mut resources = Resources {
        database: database.clone(),
        metrics: Metrics::new(spec.name),
        stopping: stopping_rx,
        finishers: Finishers::default(),
    };
    let routes = build(&mut resources).await?;
    let instance = database.instance_id().await?;
    let finishers = std::mem::take(&mut resources.finishers);
    let ops = Ops {
        daemon: spec.name,
        instance: instance.clone(),
        database: database.clone(),
        metrics: Arc::new(resources.metrics),
    };
    let router = with_common_layers(routes, ops, server);
    let listener = runtime::bind(server.listen).await?;
    let local_addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let server = match tls {
        None => tokio::spawn(runtime::serve(listener, router, shutdown)),
        Some(config) => tokio::spawn(runtime::serve_tls(
            TlsListener::new(listener, config),
            router,
            shutdown,
        )),
    };
    tracing::info!(daemon = spec.name, %instance, %local_addr, scheme, "listening");
    Ok(Running {
        local_addr,
        database,
        stop,
        stopping,
        server,
        finishers,
    })
}

impl Running {
    /// Stops accepting, finishes open requests and closes the database.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        let _ = self.stopping.send(true);
        let served = self
            .server
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        for finish in self.finishers.into_inner() {
            finish.await;
        }
        self.database.close().await;
        served
    }

    /// Serves until Ctrl-C or SIGTERM, then stops cleanly.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        runtime::shutdown_signal().await;
        self.stop().await
    }
}
