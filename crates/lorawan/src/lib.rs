//! LoRaWAN L2 for Switchyard: identifiers, the PHYPayload codec, the crypto of LoRaWAN 1.0.x
//! and 1.1, the MAC-command catalogue, NetID / DevAddr rules and the regional parameters.
//!
//! Sans-IO: nothing here does network, file or database I/O, so the hub, nsd, jsd and the
//! conformance suite all share one implementation. Every MIC is computed over the bytes as
//! received; views borrow the received buffer instead of re-encoding it.

pub mod crypto;
pub mod fcnt;
pub mod ids;
pub mod join;
pub mod keys;
pub mod keywrap;
pub mod mac;
pub mod netid;
pub mod phy;
pub mod region;
