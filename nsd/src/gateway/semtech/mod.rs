//! The Semtech UDP packet-forwarder protocol, the one every real gateway speaks
//! (Semtech `packet_forwarder` PROTOCOL.TXT, versions 1 and 2).
//!
//! [`codec`] reads and writes the datagrams without I/O; [`server`] serves them on a UDP
//! socket as a [`GatewayLink`](super::GatewayLink).

pub mod codec;
pub mod server;

pub use server::{Counters, CountersSnapshot, SemtechConfig, SemtechUdp};
