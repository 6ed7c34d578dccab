//! Device lifecycle (in progress).

pub mod import;
pub mod lifecycle;
pub mod ratelimit;
pub mod sealing;
pub mod token;
