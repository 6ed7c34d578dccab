//! HTTP transport for Backend Interfaces: a client ([`client`]) and axum server glue
//! ([`server`]), with asynchronous answers correlated by peer and TransactionID
//! ([`pending`]).
//!
//! How an answer travels is decided per transaction, never per peer: a 200 response whose
//! body is a Backend Interfaces answer is a synchronous answer; a 200/202 response with an
//! empty body means the answer will be POSTed later to our own endpoint. Waiting
//! synchronously for a peer that answers asynchronously is what broke joins in
//! chirpstack#801.

pub mod client;
pub mod pending;
pub mod server;
