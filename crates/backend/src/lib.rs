//! LoRaWAN Backend Interfaces (TS002 1.0 and 1.1) for Switchyard.
//!
//! The message model is sans-IO: read leniently (any hex case, `0x`, `null` for absent fields,
//! the spec's own misspellings), write exactly, keep unknown fields. The `http` feature adds
//! the client and the axum server glue.
