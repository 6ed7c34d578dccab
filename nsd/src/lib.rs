//! nsd
