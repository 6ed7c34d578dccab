//! The device lifecycle of the join server: pre-commissioning by manufacturers, claim and
//! unclaim by home networks with owner tokens, activation on joins, and the protection of
//! root keys and tokens at rest. Logic only (sans-IO): no HTTP, SQL or async here; the admin
//! API, the `jsd import` command and storage adapt to it.
//!
//! ```text
//!   manufacturer file ──import::parse──▶ ImportRow ──record::commission──▶ DeviceRecord
//!   (JSON / CSV, all or nothing)                      │  root keys sealed (sealing)
//!                                                     │  owner token hashed (token)
//!                                                     └─ OwnerToken, shown once
//!
//!   Generic ──claim(token, home)──▶ Claimed ──join──▶ Activated
//!      ▲                               │                 │
//!      └──── claim ◀── Unclaimed ◀─────┴──── unclaim ────┘      (lifecycle)
//! ```
//!
//! 1. **Import** ([`import`]): a manufacturer's batch is parsed and checked whole; any bad row
//!    (reported with its line, field and reason, all of them) means nothing is imported.
//! 2. **Commission** ([`record::commission`]): each device gets a random 128-bit owner token,
//!    returned once; the JS keeps only its hash. AppKey and NwkKey are sealed with the master
//!    key ([`sealing`]). The device is *generic*: known, bound to no network.
//! 3. **Claim** ([`record::claim`], [`lifecycle::claim`]): DevEUI + owner token + home NetID
//!    (+ home NSID when the network has one) bind the device to its home network. Errors are
//!    distinct: not pre-commissioned, invalid token, already claimed (told only to token
//!    holders). Attempts pass a rate limit per DevEUI and per caller ([`ratelimit`]).
//! 4. **Activate** ([`lifecycle::activate`]): an accepted join; only claimed devices join.
//! 5. **Unclaim** ([`lifecycle::unclaim`]): the home NS deleted the device (or the operator
//!    released it); it can be claimed again with its owner token.
//!
//! Every transition is recorded in the device's bounded [`lifecycle::History`], which the API
//! shows with the state. The master key rotates without downtime: a [`sealing::Keyring`]
//! unseals with the current or any retired key and seals with the current one, and a
//! background job re-seals old records ([`record::DeviceRecord::reseal`]).
//!
//! Secrets never reach logs: [`token::OwnerToken`], [`sealing::MasterKey`] and
//! [`lorawan::ids::AesKey`] have redacted `Debug` and no `Display`.

pub mod import;
pub mod lifecycle;
pub mod ratelimit;
pub mod record;
pub use service::sealing;
pub mod token;

pub use import::{parse as parse_import, Format, ImportError, ImportRow, Limits, RowError};
pub use lifecycle::{
    ActivateError, ClaimError, ClaimOutcome, DeviceState, Event, EventKind, History, Home,
    Lifecycle, UnclaimError, Unclaimer,
};
pub use ratelimit::{ClaimGuard, ClaimLimited, Quota, RateLimited, RateLimiter};
pub use record::{claim, commission, DeviceRecord, RootKeys};
pub use sealing::{Keyring, MasterKey, SealError, SealedKey};
pub use token::{OwnerToken, OwnerTokenHash, TokenCheck};
