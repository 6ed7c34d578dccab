//! The nsd's HTTP surfaces. `/health` and `/metrics` come from the shared service layer;
//! the Backend Interfaces endpoint, the gateway listener and the AS tunnel come with the
//! network-server issues.

pub mod tunnel;

use axum::Router;

/// The nsd's own routes.
pub fn routes() -> Router {
    Router::new()
}
