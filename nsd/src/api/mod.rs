//! The nsd's HTTP surfaces. `/health` and `/metrics` come from the shared service layer.
//!
//! - [`admin`]: `/api/…`, the admin REST API (profiles, devices, queues, gateways) and its
//!   OpenAPI document;
//! - [`multicast`]: the admin API's multicast-group routes;
//! - [`bi`]: `POST /bi`, Backend Interfaces from the hub (passive roaming);
//! - [`tunnel`]: the application servers' downlink API.

pub mod admin;
pub mod bi;
pub mod multicast;

use std::sync::Arc;

pub mod tunnel;

use axum::Router;
use service::auth::OperatorConfig;

use crate::app::NetworkServer;

/// The nsd's own routes over `server`: the admin API (with the tunnel's report records when
/// `delivery` is given) and the AS downlink API.
pub fn routes(
    server: Arc<NetworkServer>,
    operators: &[OperatorConfig],
    delivery: Option<Arc<crate::tunnel::delivery::ReportDelivery>>,
) -> Router {
    admin::router(Arc::clone(&server), operators, delivery).merge(tunnel::routes(server))
}
