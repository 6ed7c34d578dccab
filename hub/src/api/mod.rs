//! The hub's HTTP surfaces. `/health` and `/metrics` come from the shared service layer.
//!
//! - [`bi`]: `POST /bi`, the data plane.

pub mod bi;
