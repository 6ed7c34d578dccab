//! The jsd's HTTP surfaces. `/health` and `/metrics` come from the shared service layer.
//!
//! - [`bi`]: `POST /bi`, the Backend Interfaces endpoint.
//! - [`admin`]: `/api/…`, the admin REST API (import, claim, unclaim, devices, keys) and its
//!   OpenAPI document.

pub mod admin;
pub mod bi;

use std::sync::Arc;

use axum::Router;
use backend::codec::Codec;
use prometheus_client::registry::Registry;

use crate::app::JoinServer;

/// The jsd's own routes over `server`, their metrics registered in `registry`.
pub fn routes(server: Arc<JoinServer>, codec: Arc<Codec>, registry: &mut Registry) -> Router {
    Router::new()
        .merge(bi::router(Arc::clone(&server), codec, registry))
        .merge(admin::router(server))
}
