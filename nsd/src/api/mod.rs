//! The nsd's HTTP surfaces. `/health` and `/metrics` come from the shared service layer.
//!
//! - [`admin`]: `/api/…`, the admin REST API (profiles, devices, queues, gateways) and its
//!   OpenAPI document.

pub mod admin;
