//! The hub's HTTP surfaces. `/health` and `/metrics` come from the shared service layer.
//!
//! - [`bi`]: `POST /bi`, the data plane.
//! - [`control`]: `/control/…`, RF parameter sets and peer configurations for members.

pub mod bi;
pub mod control;
