//! Backend Interfaces conformance suite, runnable against any peer URL.
//!
//! It deliberately imports none of Switchyard's own crates (the code under test): a check
//! here is what the specification and deployed peers require of an answer, written from the
//! wire up, so a bug shared by our codec and our servers cannot hide itself.
//!
//! # bi-load
//!
//! The [`load`] module and the `bi-load` binary drive JoinReq load at a Join Server on the
//! loopback interface and check the answers as a device would (join-accept MIC, JoinNonce
//! never going back, no DevNonce accepted twice after a crash):
//!
//! - `bi-load devices --count N --seed S --join-eui HEX16 --version 1.0.4 --out FILE` writes a
//!   Join Server import file of deterministic devices;
//! - `bi-load run --peer http://127.0.0.1:PORT/… --sender-id NETID --receiver-id JOINEUI
//!   --devices FILE [--duration-s 10 --max-requests 1000000 --concurrency 16 --state FILE]`
//!   sends the load and prints a summary and one JSON line;
//! - `bi-load run … --replay-state FILE` re-sends every DevNonce the state file records as
//!   accepted: none may succeed again.
//!
//! See [`load`] for every option and the output format.
//!
//! # bi-bench, bi-sink, bi-relay
//!
//! The [`bench`](mod@bench) module measures a Backend Interfaces relay (the hub) against the bare HTTP
//! relay of the same stack: `bi-sink` is a member that answers every request at once,
//! `bi-relay` forwards to it and nothing else, `bi-bench` drives either in a closed or an open
//! loop. See [`bench`](mod@bench) and `bench/hub-relay.sh`.

pub mod answer;
pub mod bench;
pub mod corpus;
pub mod load;
pub mod sim;
