//! RF parameter set synchronisation (the ThingPark Exchange "RF Regions" sync): each
//! forwarding network server's RF parameter sets reach the serving network servers it has a
//! roaming agreement with, together with the technical configuration of those peers.
//!
//! - [`model`]: [`RfParamSet`] and [`validate_sets`], checked against `crates/lorawan`'s
//!   regional parameters (RP002-1.0.4). Pure.
//! - [`peers`]: [`peer_config`], what the hub tells a member about its partners (NetID,
//!   NSID, protocol, the agreement in force, their sets) and the join servers it may use
//!   (JoinEUI ranges, under which activation rule). A pure function of the members, the
//!   policies, the published sets and the instant.
//! - [`store`]: the `rf_param_sets` table (migration `0003_rf_param_sets.sql`): each
//!   member's last publication, so it survives a restart.
//! - [`sync`]: [`RfSync`], publications and pushes at work (I/O). The HTTP surface is
//!   `crate::api::control`.
//!
//! **Where a member's sets come from.** The operator may declare them in the members file
//! (`[[member.rf_param_sets]]`, like the TEX NetOps upload), and the member may publish them
//! itself (`PUT /control/rf-param-sets`). Once a member has published, its publication
//! (even an empty list) is in force and the declared sets are not: the member knows its
//! radio plan better than a file edited by someone else. The declared sets come back only if
//! the stored publication stops fitting the members file.
//!
//! **Data rates.** A set may list its data rates; each must be the region's own (RP002 fixes
//! what every index is). When a set lists none, the region's table is meant, and the peer
//! configuration writes out the region's entries for every index the set's channels and RX2
//! use, so a partner never needs the tables to read it.
//!
//! A set, as published (a JSON array of them is the body of `PUT /control/rf-param-sets`)
//! and as written in the members file (the same keys in TOML):
//!
//! ```json
//! {
//!   "region": "EU868",
//!   "rf_param_set_id": "eu868-8ch",
//!   "channels": [
//!     {"frequency_hz": 868100000, "min_dr": 0, "max_dr": 5},
//!     {"frequency_hz": 867100000, "min_dr": 0, "max_dr": 5}
//!   ],
//!   "data_rates": [
//!     {"index": 0, "modulation": {"type": "lora", "spreading_factor": 12, "bandwidth_khz": 125}},
//!     {"index": 5, "modulation": {"type": "lora", "spreading_factor": 7, "bandwidth_khz": 125}},
//!     {"index": 7, "modulation": {"type": "fsk", "bitrate": 50000}}
//!   ],
//!   "rx2": {"frequency_hz": 869525000, "dr": 0},
//!   "rx1_dr_offset": 0,
//!   "max_eirp_dbm": 16.0
//! }
//! ```
//!
//! `rf_param_set_id`, `data_rates`, `rx1_dr_offset` and `max_eirp_dbm` are optional. An
//! LR-FHSS rate is `{"type": "lr-fhss", "occupied_channel_width_khz": 137, "coding_rate":
//! "1/3"}`. A refused publication is answered 422 with every problem:
//!
//! ```json
//! {"error": "invalid-rf-param-sets", "message": "…",
//!  "problems": [{"field": "[0].channels[1].frequency_hz",
//!                "reason": "915000000 Hz is outside the EU868 band 863000000..=870000000 Hz"}]}
//! ```
//!
//! A peer configuration (`GET /control/peers`, and the body POSTed to a member's
//! `control_url`; `version` is also the ETag):
//!
//! ```json
//! {
//!   "member": "op-b-ns",
//!   "version": "5c1b0e1f9a3d2c47",
//!   "partners": [{
//!     "member": "op-a-ns", "net_id": "000013", "nsid": null, "protocol": "1.1",
//!     "dev_addr_pools": [],
//!     "agreement": {"id": "op-a/op-b", "kinds": ["passive"],
//!                   "directions": {"op-a-ns": ["roam-out"], "op-b-ns": ["roam-in"]},
//!                   "message_types": ["PRStartReq", "PRStartNotif", "PRStopReq", "XmitDataReq",
//!                                     "XmitLocReq", "ProfileReq"],
//!                   "uplink": true, "downlink": true, "valid_from": null, "valid_until": null},
//!     "rf_param_sets_source": "published",
//!     "rf_param_sets": [{"region": "EU868", "channels": ["…"], "data_rates": ["…"],
//!                        "rx2": {"frequency_hz": 869525000, "dr": 0}}]
//!   }],
//!   "join_servers": [{"member": "op-a-js",
//!                     "join_eui_ranges": ["70b3d57ed0000000-70b3d57ed00000ff"],
//!                     "rule": "everyone"}]
//! }
//! ```

pub mod model;
pub mod peers;
pub mod store;
pub mod sync;

pub use model::{
    validate_sets, ChannelDef, DataRateDef, Modulation, RfParamSet, Rx2Def, SetProblem,
};
pub use peers::{peer_config, PeerConfig, Published, Source};
pub use store::RfParamStore;
pub use sync::{OwnSets, PublishError, PushSettings, PushStatus, RfSync};

/// Why stored sets could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RfParamsError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored publication does not read back (edited by hand, damaged).
    #[error("stored RF parameter sets of {member} are unreadable: {reason}")]
    Corrupt {
        /// The member.
        member: String,
        /// What is wrong.
        reason: String,
    },
}
