//! The hub's HTTP surfaces. `/health` and `/metrics` come from the shared service layer;
//! the Backend Interfaces endpoint and the admin API are added by the routing issue.

use axum::Router;

/// The hub's own routes.
pub fn routes() -> Router {
    Router::new()
}
