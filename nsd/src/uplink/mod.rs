//! The uplink path: receptions from gateways → deduplication → which device, which counter
//! → MIC → payload and MAC commands → the application report and the downlink decision.
//!
//! - [`dedup`]: one frame heard by several gateways becomes one uplink;
//! - [`data`]: which session a data frame belongs to, with its full frame counter.

pub mod data;
pub mod dedup;
