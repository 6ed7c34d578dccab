//! jsd
