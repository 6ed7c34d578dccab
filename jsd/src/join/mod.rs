//! Join decisions: JoinReq, RejoinReq, HomeNSReq and AppSKeyReq, as pure functions over the
//! device data the storage layer loads ([`JoinDevice`]) and the KEKs agreed with peers
//! ([`KekLookup`]).
//!
//! Each `decide_*` takes the decoded request and returns either the Success answer (with, for
//! activations, the nonce state and session the caller must store) or a [`JoinError`], which
//! becomes a well-formed refusal with [`JoinError::join_ans`] and its siblings. Nothing here does
//! I/O, reads the clock or draws random numbers: the storage layer loads, the decision decides,
//! the caller persists and then answers (DESIGN.md: decode → validate → decide → act → record).
//!
//! - [`join_req::decide_join`]: JoinReq → JoinAns (and its durability contract).
//! - [`rejoin::decide_rejoin`]: RejoinReq → RejoinAns (LoRaWAN 1.1).
//! - [`home_ns::decide_home_ns`]: HomeNSReq → HomeNSAns (where a roaming device's home is).
//! - [`app_s_key::decide_app_s_key`]: AppSKeyReq → AppSKeyAns (the AS fetches a withheld key).

mod accept;
pub mod app_s_key;
pub mod device;
pub mod error;
pub mod home_ns;
pub mod join_req;
pub mod keks;
pub mod rejoin;

#[cfg(test)]
mod fixtures;

pub use accept::JoinPolicy;
pub use app_s_key::decide_app_s_key;
pub use device::{
    AppSKeyDelivery, Home, JoinDevice, NonceState, SessionKeyId, SessionRecord,
    DEV_NONCE_HISTORY_LEN,
};
pub use error::{Blame, JoinError, KekPeer};
pub use home_ns::decide_home_ns;
pub use join_req::{decide_join, Activation, JoinDecision};
pub use keks::{ClearKeys, EmptyKekLabel, KekLookup, KekTable, NamedKek};
pub use rejoin::{decide_rejoin, RejoinDecision};
