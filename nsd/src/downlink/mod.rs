//! Downlinks: when, where and how a frame goes to a device, and what the AS is told.
//!
//! Sans-IO: nothing here sends, stores or reads a clock; the caller passes `now` in and acts
//! on the plans. The gateway layer's types ([`crate::gateway`]) are the vocabulary.
//!
//! TODO: flow overview.

pub mod airtime;
pub mod class_a;
pub mod delivery;
pub mod duty_cycle;
