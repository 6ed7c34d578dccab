//! The nsd's HTTP surfaces. `/health` and `/metrics` come from the shared service layer.
//!
//! - [`admin`]: `/api/…`, the admin REST API (profiles, devices, queues, gateways) and its
//!   OpenAPI document.

pub mod admin;

use std::sync::Arc;

use axum::Router;
use service::auth::OperatorConfig;

use crate::app::NetworkServer;

/// The nsd's own routes over `server`.
pub fn routes(server: Arc<NetworkServer>, operators: &[OperatorConfig]) -> Router {
    admin::router(server, operators)
}
