//! The jsd's HTTP surfaces. `/health` and `/metrics` come from the shared service layer;
//! the Backend Interfaces endpoint and the admin API come with the join-server issue.

use axum::Router;

/// The jsd's own routes.
pub fn routes() -> Router {
    Router::new()
}
