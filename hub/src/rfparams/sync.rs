//! The control plane at work: publications (validated, stored, then in force), the peer
//! configuration of each member on demand, and the pushes to members' `control_url`.
//!
//! Pushing is level-triggered: a background task recomputes every member's configuration
//! when something may have changed (a publication, a policy reload, and every
//! [`PushSettings::recheck`] for agreements that start or end with time) and POSTs it to
//! each member whose last delivered version differs. So a push that failed is tried again
//! on the next round, and nothing here runs on the `/bi` path. At start every member with a
//! `control_url` gets its configuration once (the hub does not remember what it delivered
//! before a restart).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{watch, OnceCell};

use super::model::{validate_sets, RfParamSet, SetProblem};
use super::peers::{peer_config, sets_in_force, PeerConfig, Published, Source};
use super::store::RfParamStore;
use super::RfParamsError;
use crate::members::{Member, MemberId};
use crate::policy::model::rfc3339;
use crate::relay::Relay;

/// How pushes are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushSettings {
    /// Attempts per push round (1 = no retry).
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub first_backoff: Duration,
    /// Bound of one connection attempt.
    pub connect_timeout: Duration,
    /// Bound of one whole request.
    pub request_timeout: Duration,
    /// How often every configuration is recomputed without an event (agreements start and
    /// end with time; failed pushes are tried again).
    pub recheck: Duration,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            attempts: 4,
            first_backoff: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            recheck: Duration::from_secs(60),
        }
    }
}

/// The outcome of the last push round to a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushStatus {
    /// The version pushed.
    pub version: String,
    /// When the round ended (RFC 3339).
    pub at: String,
    /// Whether the member took it (a 2xx answer).
    pub ok: bool,
    /// Why not, when it did not.
    pub error: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// The last version the member took, if any.
    pub delivered_version: Option<String>,
}

/// Why a publication was refused.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Only network servers (members with a NetID) have RF parameter sets.
    #[error("only network servers (members with a net_id) publish RF parameter sets")]
    NotNetworkServer,
    /// The list has problems; nothing changed.
    #[error("invalid RF parameter sets: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<SetProblem>),
    /// It could not be stored; nothing changed.
    #[error(transparent)]
    Store(#[from] RfParamsError),
}

/// A member's own sets in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OwnSets {
    /// The member.
    pub member: MemberId,
    /// Where they come from.
    pub source: Source,
    /// When it published them (RFC 3339), if it did.
    pub published_at: Option<String>,
    /// The sets, as published or declared.
    pub rf_param_sets: Vec<RfParamSet>,
}

/// The control plane's shared state.
pub struct RfSync {
    relay: Arc<Relay>,
    store: RfParamStore,
    published: RwLock<Arc<Published>>,
    published_at: Mutex<BTreeMap<MemberId, OffsetDateTime>>,
    loaded: OnceCell<()>,
    publishing: tokio::sync::Mutex<()>,
    pushes: Mutex<BTreeMap<MemberId, PushStatus>>,
    in_flight: Mutex<BTreeSet<MemberId>>,
    wake: watch::Sender<u64>,
    http: reqwest::Client,
    settings: PushSettings,
}

impl std::fmt::Debug for RfSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RfSync")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RfSync {
    /// The control plane over `relay`'s members and policies and `store`, with its push
    /// task started (it ends when the returned value is dropped).
    pub fn start(
        relay: Arc<Relay>,
        store: RfParamStore,
        settings: PushSettings,
    ) -> Result<Arc<Self>, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .build()?;
        let (wake, woken) = watch::channel(0);
        let policy_changes = relay.policy_changes();
        let sync = Arc::new(Self {
            relay,
            store,
            published: RwLock::default(),
            published_at: Mutex::default(),
            loaded: OnceCell::new(),
            publishing: tokio::sync::Mutex::new(()),
            pushes: Mutex::default(),
            in_flight: Mutex::default(),
            wake,
            http,
            settings,
        });
        tokio::spawn(push_task(Arc::downgrade(&sync), woken, policy_changes));
        Ok(sync)
    }

    /// The member holding `token`.
    pub fn authenticate(&self, token: Option<&str>) -> Option<Member> {
        self.relay.directory().authenticate(token).cloned()
    }

    /// Loads the stored publications once (the first caller waits for it). A publication
    /// that no longer fits the members file (member gone, no longer a network server, now
    /// TS002 1.0 with two sets in a region) is left out with a warning: the member's
    /// declared sets are in force until it publishes again.
    async fn ensure_loaded(&self) -> Result<(), RfParamsError> {
        self.loaded
            .get_or_try_init(|| async {
                let stored = self.store.load_all().await?;
                let directory = self.relay.directory();
                let mut published = Published::new();
                let mut times = BTreeMap::new();
                for publication in stored {
                    let Some(member) = directory.get(&publication.member) else {
                        tracing::warn!(member = %publication.member, "stored RF parameter sets of a member no longer in the members file: ignored");
                        continue;
                    };
                    if member.net_id.is_none() {
                        tracing::warn!(member = %member.id, "stored RF parameter sets of a member that is no longer a network server: ignored");
                        continue;
                    }
                    match validate_sets(&member.protocol, publication.sets) {
                        Ok(sets) => {
                            times.insert(member.id.clone(), publication.published_at);
                            published.insert(member.id.clone(), sets);
                        }
                        Err(problems) => {
                            for problem in problems {
                                tracing::warn!(member = %member.id, %problem, "stored RF parameter sets no longer valid: ignored");
                            }
                        }
                    }
                }
                self.replace_published(Arc::new(published));
                *lock(&self.published_at) = times;
                Ok(())
            })
            .await
            .map(|_| ())
    }

    fn snapshot(&self) -> Arc<Published> {
        self.published
            .read()
            .map(|p| Arc::clone(&p))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    fn replace_published(&self, published: Arc<Published>) {
        match self.published.write() {
            Ok(mut current) => *current = published,
            Err(poisoned) => *poisoned.into_inner() = published,
        }
    }

    /// Replaces `member`'s publication with `sets`, checked whole: stored first, then in
    /// force, then pushed to the members it concerns. A refused list changes nothing.
    pub async fn publish(
        &self,
        member: &Member,
        sets: Vec<RfParamSet>,
    ) -> Result<OwnSets, PublishError> {
        if member.net_id.is_none() {
            return Err(PublishError::NotNetworkServer);
        }
        let sets = validate_sets(&member.protocol, sets).map_err(PublishError::Invalid)?;
        self.ensure_loaded().await?;
        let _one_at_a_time = self.publishing.lock().await;
        let now = OffsetDateTime::now_utc();
        self.store.replace(&member.id, &sets, now).await?;
        let mut published = (*self.snapshot()).clone();
        published.insert(member.id.clone(), sets);
        self.replace_published(Arc::new(published));
        lock(&self.published_at).insert(member.id.clone(), now);
        tracing::info!(member = %member.id, "RF parameter sets published");
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
        self.own_sets(member).await.map_err(PublishError::Store)
    }

    /// `member`'s own sets in force.
    pub async fn own_sets(&self, member: &Member) -> Result<OwnSets, RfParamsError> {
        self.ensure_loaded().await?;
        let published = self.snapshot();
        let (source, sets) = sets_in_force(member, &published);
        Ok(OwnSets {
            member: member.id.clone(),
            source,
            published_at: lock(&self.published_at)
                .get(&member.id)
                .copied()
                .map(rfc3339),
            rf_param_sets: sets.to_vec(),
        })
    }

    /// `member`'s peer configuration now.
    pub async fn peer_config(
        &self,
        member: &MemberId,
    ) -> Result<Option<PeerConfig>, RfParamsError> {
        self.ensure_loaded().await?;
        Ok(peer_config(
            &self.relay.directory(),
            &self.relay.policies(),
            &self.snapshot(),
            member,
            OffsetDateTime::now_utc(),
        ))
    }

    /// The last push round to `member`, if there was one.
    pub fn push_status(&self, member: &MemberId) -> Option<PushStatus> {
        lock(&self.pushes).get(member).cloned()
    }

    /// Starts a push to every member whose configuration differs from what it last took
    /// (and that is not being pushed to already).
    fn push_changed(self: &Arc<Self>) {
        let directory = self.relay.directory();
        let policies = self.relay.policies();
        let published = self.snapshot();
        let now = OffsetDateTime::now_utc();
        for member in directory.members() {
            let Some(url) = &member.control_url else {
                continue;
            };
            let Some(config) = peer_config(&directory, &policies, &published, &member.id, now)
            else {
                continue;
            };
            let delivered = lock(&self.pushes)
                .get(&member.id)
                .and_then(|s| s.delivered_version.clone());
            if delivered.as_deref() == Some(config.version.as_str()) {
                continue;
            }
            if !lock(&self.in_flight).insert(member.id.clone()) {
                continue; // the round in flight ends with a wake-up: checked again then
            }
            let this = Arc::clone(self);
            let (url, token) = (
                url.clone(),
                member.endpoint.bearer_token().map(str::to_owned),
            );
            tokio::spawn(async move {
                let (attempts, result) = this.deliver(&url, token.as_deref(), &config).await;
                let mut pushes = lock(&this.pushes);
                let previous = pushes
                    .get(&config.member)
                    .and_then(|s| s.delivered_version.clone());
                if let Err(error) = &result {
                    tracing::warn!(member = %config.member, %url, %error, "peer configuration not pushed");
                }
                pushes.insert(
                    config.member.clone(),
                    PushStatus {
                        version: config.version.clone(),
                        at: rfc3339(OffsetDateTime::now_utc()),
                        ok: result.is_ok(),
                        error: result.as_ref().err().cloned(),
                        attempts,
                        delivered_version: if result.is_ok() {
                            Some(config.version.clone())
                        } else {
                            previous
                        },
                    },
                );
                drop(pushes);
                lock(&this.in_flight).remove(&config.member);
                if result.is_ok() {
                    // Something may have changed while this round was in flight.
                    this.wake.send_modify(|n| *n = n.wrapping_add(1));
                }
            });
        }
    }

    /// POSTs `config` to `url`, up to [`PushSettings::attempts`] times: the attempts made and
    /// the last error.
    async fn deliver(
        &self,
        url: &str,
        token: Option<&str>,
        config: &PeerConfig,
    ) -> (u32, Result<(), String>) {
        let mut last = Err("no attempt".to_owned());
        let body = match serde_json::to_vec(config) {
            Ok(body) => body,
            Err(error) => return (0, Err(format!("cannot encode the configuration: {error}"))),
        };
        let attempts = self.settings.attempts.max(1);
        for attempt in 1..=attempts {
            let mut request = self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            last = match request.send().await {
                Ok(response) if response.status().is_success() => return (attempt, Ok(())),
                Ok(response) => Err(format!("{url} answered {}", response.status())),
                Err(error) => Err(format!("{url}: {}", describe(&error))),
            };
            if attempt < attempts {
                let factor = 1_u32.checked_shl(attempt - 1).unwrap_or(u32::MAX);
                tokio::time::sleep(self.settings.first_backoff.saturating_mul(factor)).await;
            }
        }
        (attempts, last)
    }
}

/// Wakes on a publication, a policy reload or the recheck period, and pushes what changed;
/// ends when the [`RfSync`] is dropped (or the relay, with its policies).
async fn push_task(
    sync: Weak<RfSync>,
    mut woken: watch::Receiver<u64>,
    mut policy_changes: watch::Receiver<u64>,
) {
    loop {
        let recheck = {
            let Some(sync) = sync.upgrade() else { return };
            match sync.ensure_loaded().await {
                Ok(()) => sync.push_changed(),
                Err(error) => tracing::error!(%error, "RF parameter sets not loaded; pushes wait"),
            }
            sync.settings.recheck
        };
        tokio::select! {
            changed = woken.changed() => if changed.is_err() { return },
            changed = policy_changes.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(recheck) => {}
        }
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        error.to_string()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
