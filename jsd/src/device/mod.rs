//! Device lifecycle (in progress).
