//! The Semtech UDP packet-forwarder protocol, the one every real gateway speaks
//! (Semtech `packet_forwarder` PROTOCOL, versions 1 and 2).
//!
//! [`codec`] reads and writes the datagrams without I/O; [`server`] serves them on a UDP
//! socket as a [`GatewayLink`](super::GatewayLink).
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use nsd::gateway::registry::{Gateway, Registry};
//! use nsd::gateway::semtech::{SemtechConfig, SemtechUdp};
//! use nsd::gateway::GatewayId;
//!
//! # async fn run() -> std::io::Result<()> {
//! let registry = Arc::new(Registry::new());
//! registry.provision(Gateway {
//!     id: GatewayId::from_u64(0xaa55_5a00_0000_0101),
//!     name: "roof".into(),
//!     location: None,
//!     tags: vec![],
//!     tenant: None,
//! });
//! let (receptions, mut uplinks) = tokio::sync::mpsc::channel(1024);
//! let udp = SemtechUdp::bind(SemtechConfig::default(), registry, receptions).await?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let serving = tokio::spawn({
//!     let udp = udp.clone();
//!     async move { udp.serve(async { let _ = stopped.await; }).await }
//! });
//! while let Some(reception) = uplinks.recv().await {
//!     // … deduplicate, decode, answer with `udp.transmit(…)` (GatewayLink).
//!     # let _ = reception;
//!     # break;
//! }
//! let _ = stop.send(());
//! let _ = serving.await;
//! # Ok(())
//! # }
//! ```

pub mod codec;
pub mod server;

pub use server::{Counters, CountersSnapshot, SemtechConfig, SemtechUdp};
