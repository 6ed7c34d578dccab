//! The join server at work: the shared state every surface (BI endpoint, admin API, CLI)
//! calls, and the operations that tie the pure logic ([`crate::device`], [`crate::join`]) to
//! the storage. HTTP-free: the API modules adapt to these results.
//!
//! Each operation follows DESIGN.md's path: load → decide (pure) → persist (compare-and-set)
//! → answer. A lost compare-and-set means another request changed the device in between; the
//! operation loads again and decides on the fresh state (a few times, then gives up with a
//! retryable error), so no decision is ever made on stale nonces or a stale claim.
//!
//! - [`bi`]: JoinReq, RejoinReq, HomeNSReq, AppSKeyReq → their answers.
//! - [`devices`]: import, claim, unclaim, show, list, AppSKey delivery.
//! - [`reseal`]: the background re-seal after a master-key rotation.

pub mod bi;
pub mod devices;
pub mod reseal;
pub mod view;

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use lorawan::ids::Eui64;

use crate::config::{Config, ConfigProblem};
use crate::device::{ClaimGuard, Keyring, RateLimiter};
use crate::join::{JoinPolicy, KekTable};
use crate::peers::{Peer, Peers};
use crate::storage::DeviceStore;

/// How many times an operation reloads and decides again after losing a compare-and-set.
const CAS_ATTEMPTS: usize = 4;

/// Stripes of the per-device activation lock. Within one jsd, activations of one device take
/// turns (a device's joins are sequential anyway; only retries and replays overlap), so the
/// compare-and-set only ever races with another jsd instance on the same PostgreSQL. Two
/// devices share a stripe with probability 1/1024: a short wait, never a wrong answer.
const ACTIVATION_STRIPES: usize = 1024;

/// Where the join server reads the time: the system clock, or a test's.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Unix seconds, for histories and records.
    fn unix_seconds(&self) -> u64;
    /// A monotonic instant, for rate limits.
    fn instant(&self) -> Instant;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_seconds(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// Who is calling an admin operation.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// An authenticated peer of the admin API.
    Peer(&'a Peer),
    /// The local command line (`jsd import|claim|unclaim|show`): the operator at the console.
    Console,
}

impl Caller<'_> {
    /// Whether it may do anything.
    pub fn is_operator(&self) -> bool {
        match self {
            Self::Peer(peer) => peer.is_operator(),
            Self::Console => true,
        }
    }

    /// Its name for the rate limiter and the history.
    pub fn name(&self) -> &str {
        match self {
            Self::Peer(peer) => &peer.name,
            Self::Console => "console",
        }
    }
}

/// The join server's shared state.
#[derive(Debug)]
pub struct JoinServer {
    store: DeviceStore,
    keyring: Keyring,
    keks: KekTable,
    policy: JoinPolicy,
    sessions_kept: u32,
    peers: Peers,
    claims: Mutex<ClaimGuard<Eui64, String>>,
    activations: Box<[tokio::sync::Mutex<()>]>,
    clock: Arc<dyn Clock>,
}

impl JoinServer {
    /// The state for `config` over `store`, reading time from `clock`.
    pub fn new(
        config: &Config,
        store: DeviceStore,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigProblem> {
        config.check_peers()?;
        let tracked = config.claims.tracked;
        Ok(Self {
            store,
            keyring: config.keyring()?,
            keks: config.kek_table()?,
            policy: config.join.policy(),
            sessions_kept: config.join.sessions_kept,
            peers: Peers::from_config(&config.peers),
            claims: Mutex::new(ClaimGuard::new(
                RateLimiter::new(config.claims.per_device(), tracked),
                RateLimiter::new(config.claims.per_caller(), tracked),
            )),
            activations: (0..ACTIVATION_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            clock,
        })
    }

    /// The configured peers, to authenticate callers.
    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// The device repository.
    pub fn store(&self) -> &DeviceStore {
        &self.store
    }

    /// The keyring sealing root keys.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Waits for the device's turn to be activated.
    async fn activation_turn(&self, dev_eui: Eui64) -> tokio::sync::MutexGuard<'_, ()> {
        // Fold the EUI into a stripe index; EUIs of one batch differ in their low bytes.
        let value = dev_eui.to_u64();
        let mixed = value ^ (value >> 29) ^ (value >> 47);
        let stripe = usize::try_from(mixed % ACTIVATION_STRIPES as u64).unwrap_or(0);
        self.activations[stripe].lock().await
    }

    fn now(&self) -> u64 {
        self.clock.unix_seconds()
    }
}
