//! Daemon plumbing shared by `hub`, `nsd` and `jsd`, so the three start, configure, store,
//! report health and stop the same way: config loading with environment overrides, the
//! database (SQLite or PostgreSQL, migrated at start), `/health` and `/metrics`, logging
//! and graceful shutdown. No LoRaWAN logic lives here.

pub mod auth;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod database;
pub mod metrics;
pub mod ops;
pub mod placeholders;
pub mod process;
pub mod ratelimit;
pub mod rest;
pub mod runtime;
pub mod sealing;
pub mod server;
pub mod testing;
pub mod tls;
