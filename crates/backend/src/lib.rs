//! LoRaWAN Backend Interfaces (TS002 1.0 and 1.1) for Switchyard.
//!
//! The message model is sans-IO: read leniently (any hex case, `0x`, `null` for absent fields,
//! the spec's own misspellings), write exactly, keep unknown fields. The `http` feature adds
//! the client and the axum server glue.
//!
//! - [`codec::Codec`]: bytes → [`message::Message`] (header first, then schema, then typed) and
//!   back, in a peer's [`dialect::Dialect`]; failures are [`codec::Rejection`]s that always
//!   have a well-formed answer.
//! - [`header`], [`result`], [`message`], [`metadata`], [`profiles`], [`keys`], [`values`]:
//!   the typed model.
//! - [`schema`]: the embedded JSON Schemas of `schemas/bi/`.

#[macro_use]
mod macros;
mod wire;

pub mod codec;
pub mod dialect;
pub mod error;
pub mod header;
pub mod keys;
pub mod message;
pub mod metadata;
pub mod profiles;
pub mod result;
pub mod schema;
pub mod values;

#[cfg(feature = "http")]
pub mod http;

pub use codec::{Codec, Rejection};
pub use dialect::Dialect;
pub use header::{Header, MessageType, ProtocolVersion};
pub use message::Message;
pub use result::{BiResult, ResultCode};
