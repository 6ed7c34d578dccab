//! The `[server]` config section and the HTTP layers every daemon puts around its routes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::Router;
use serde::Deserialize;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::metrics::{track_http, Metrics};
use crate::ops::{self, Ops};
use crate::tls::TlsConfig;

/// The `[server]` section: where the daemon's HTTP surfaces listen and their limits.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the HTTP listener (`/bi`, admin API, `/health`, `/metrics`).
    pub listen: SocketAddr,
    /// A request still running after this many milliseconds is answered 408.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Largest accepted request body, in bytes (a BI message is a few kB).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// `[server.tls]`: serve HTTPS (and accept client certificates); plain HTTP without it.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

fn default_request_timeout_ms() -> u64 {
    10_000
}

fn default_max_body_bytes() -> usize {
    1 << 20
}

impl ServerConfig {
    /// Defaults listening on `listen`.
    pub fn on(listen: SocketAddr) -> Self {
        Self {
            listen,
            request_timeout_ms: default_request_timeout_ms(),
            max_body_bytes: default_max_body_bytes(),
            tls: None,
        }
    }
}

/// A `[server]` section as written, every key optional, to lay over a daemon's own defaults
/// ([`ServerSection::over`]): a file that sets only `listen` (or an environment override of
/// it) keeps the daemon's other defaults instead of falling back to the shared ones.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// See [`ServerConfig::listen`].
    pub listen: Option<SocketAddr>,
    /// See [`ServerConfig::request_timeout_ms`].
    pub request_timeout_ms: Option<u64>,
    /// See [`ServerConfig::max_body_bytes`].
    pub max_body_bytes: Option<usize>,
    /// See [`ServerConfig::tls`].
    pub tls: Option<TlsConfig>,
}

impl ServerSection {
    /// The section's keys over `defaults`.
    pub fn over(self, defaults: ServerConfig) -> ServerConfig {
        ServerConfig {
            listen: self.listen.unwrap_or(defaults.listen),
            request_timeout_ms: self
                .request_timeout_ms
                .unwrap_or(defaults.request_timeout_ms),
            max_body_bytes: self.max_body_bytes.unwrap_or(defaults.max_body_bytes),
            tls: self.tls.or(defaults.tls),
        }
    }
}

/// Wraps a daemon's routes in the shared pipeline, outermost first:
/// 1. metrics: every request counted and timed by matched route and status;
/// 2. timeout: a request never holds a connection longer than `request_timeout_ms`;
/// 3. body limit: an oversized body is refused before it is buffered.
///
/// `/health` and `/metrics` are served beside the daemon's own routes.
pub fn with_common_layers(routes: Router, ops: Ops, server: &ServerConfig) -> Router {
    let metrics: Arc<Metrics> = ops.metrics.clone();
    routes
        .merge(ops::router(ops))
        .layer(RequestBodyLimitLayer::new(server.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(server.request_timeout_ms),
        ))
        .layer(axum::middleware::from_fn_with_state(metrics, track_http))
}
