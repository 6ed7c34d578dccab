//! The hub's HTTP surfaces. `/health` and `/metrics` come from the shared service layer.
//!
//! - [`bi`]: `POST /bi`, the data plane.
//! - [`admin`]: `/api/…`, the admin REST API (members, policies and their explanations,
//!   usage data records) and its OpenAPI document.
//! - [`control`]: `/control/…`, RF parameter sets and peer configurations for members.

pub mod admin;
pub mod bi;
pub mod control;
