//! Backend Interfaces conformance suite, runnable against any peer URL.
//!
//! It deliberately imports none of Switchyard's own crates (the code under test): a check
//! here is what the specification and deployed peers require of an answer, written from the
//! wire up, so a bug shared by our codec and our servers cannot hide itself.

pub mod answer;
pub mod corpus;
