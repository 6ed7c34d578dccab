//! The operations surface every daemon serves: `/health` and `/metrics`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::database::Database;
use crate::metrics::Metrics;

/// What the operations endpoints need.
#[derive(Debug, Clone)]
pub struct Ops {
    /// `hub`, `nsd` or `jsd`.
    pub daemon: &'static str,
    /// The database's instance id.
    pub instance: String,
    /// Checked by `/health`.
    pub database: Database,
    /// Rendered by `/metrics`.
    pub metrics: Arc<Metrics>,
}

/// `GET /health` and `GET /metrics`.
pub fn router(ops: Ops) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(ops)
}

/// 200 with `{"status":"ok",…}` when the database answers, else 503 saying why.
async fn health(State(ops): State<Ops>) -> Response {
    let database = ops.database.backend().name();
    match ops.database.ping().await {
        Ok(()) => Json(json!({
            "status": "ok",
            "daemon": ops.daemon,
            "instance": ops.instance,
            "version": env!("CARGO_PKG_VERSION"),
            "database": database,
        }))
        .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "daemon": ops.daemon,
                "database": database,
                "reason": e.to_string(),
            })),
        )
            .into_response(),
    }
}

async fn metrics(State(ops): State<Ops>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        ops.metrics.render(),
    )
        .into_response()
}
