//! Sending reports to the AS routes, without ever letting a slow or failing AS exhaust the
//! network server (seed 000, "Delivery status of reports": "Report transmission is dropped by
//! LRC because the AS is either in "Overload" or "Blacklist" state. […] As handlers are a
//! limited resource, LRC implements a protection mechanism against irresponsive/very slow AS
//! destinations consuming too many handlers.").
//!
//! - One keep-alive HTTP client for every destination; idle connections are kept 30 minutes
//!   (seed 001 §4.1: AS servers "MUST be configured with a value of at least 30minutes").
//! - Each destination (route URL) has [`AsProfile::max_in_flight`] handlers (a semaphore).
//!   A report that finds none free is dropped at once: the destination is in **Overload**.
//!   Submitting never waits, so a slow AS costs its own handlers and nothing else.
//! - Each request has the profile's timeout. After [`DeliveryConfig::blacklist_after`]
//!   consecutive failures (HTTP error status, network error, timeout) the destination is
//!   **Blacklisted** for [`DeliveryConfig::blacklist_for`]: its reports are dropped. Then
//!   one report is let through as a probe; success clears the state, failure blacklists
//!   again.
//! - Every report's outcome per destination is kept ([`ReportRecord`], the last
//!   [`DeliveryConfig::history`] reports) with the seed's error texts ("`<code>` HTTP
//!   Error", "Network server internal error"), and each destination's state and counters
//!   ([`DestinationStatus`]), for the API.
//!
//! [`AsProfile::max_in_flight`]: super::AsProfile::max_in_flight

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use lorawan::ids::Eui64;
use lorawan::join::MacVersion;
use tokio::sync::{broadcast, Semaphore};
use tokio::time::Instant;

use super::report::{self, Report, ReportKind};
use super::{encode, AsRouting, TunnelNetwork};
use crate::app::UplinkEvent;

/// How reports are delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// `Lrcid` written in the reports.
    pub lrc_id: String,
    /// Consecutive failures that blacklist a destination.
    pub blacklist_after: u32,
    /// How long a blacklisted destination gets no reports.
    pub blacklist_for: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// How long an idle keep-alive connection is kept.
    pub idle_timeout: Duration,
    /// How many reports' records are kept.
    pub history: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            lrc_id: "00000001".to_owned(),
            blacklist_after: 5,
            blacklist_for: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(30 * 60),
            history: 1000,
        }
    }
}

/// A destination's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationState {
    /// Reports go out.
    Healthy,
    /// Every handler is busy: new reports are dropped.
    Overload,
    /// Too many consecutive failures: reports are dropped until the period ends.
    Blacklist,
}

impl DestinationState {
    /// The name the API shows.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Healthy => "Healthy",
            Self::Overload => "Overload",
            Self::Blacklist => "Blacklist",
        }
    }
}

/// What became of one report at one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// On its way.
    Pending,
    /// The AS answered with a success status.
    Delivered {
        /// The HTTP status.
        status: u16,
    },
    /// It failed; the seed's message.
    Failed {
        /// `"<code> HTTP Error"`, `"Timeout"`, `"Connection error"`, or `"Network server
        /// internal error"`.
        error: String,
    },
    /// Dropped: the destination was in Overload.
    DroppedOverload,
    /// Dropped: the destination was blacklisted.
    DroppedBlacklist,
}

impl Outcome {
    /// Whether it reached the AS.
    pub fn delivered(&self) -> bool {
        matches!(self, Self::Delivered { .. })
    }
}

/// One report's delivery, per destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    /// Sequence number.
    pub id: u64,
    /// Which report.
    pub kind: ReportKind,
    /// The device.
    pub dev_eui: Eui64,
    /// When it was submitted.
    pub at: SystemTime,
    /// `(url, outcome)` per route.
    pub destinations: Vec<(String, Outcome)>,
}

impl ReportRecord {
    /// The global status: delivered to every destination.
    pub fn delivered(&self) -> bool {
        self.destinations.iter().all(|(_, o)| o.delivered())
    }
}

/// A destination's state and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationStatus {
    /// The route URL.
    pub url: String,
    /// Its state now.
    pub state: DestinationState,
    /// Requests in flight.
    pub in_flight: usize,
    /// Reports delivered.
    pub delivered: u64,
    /// Reports failed.
    pub failed: u64,
    /// Reports dropped (Overload or Blacklist).
    pub dropped: u64,
    /// The last error.
    pub last_error: Option<String>,
}

struct Destination {
    url: String,
    handlers: Arc<Semaphore>,
    limit: usize,
    health: Mutex<Health>,
}

#[derive(Default)]
struct Health {
    consecutive_failures: u32,
    blacklisted_until: Option<Instant>,
    probing: bool,
    delivered: u64,
    failed: u64,
    dropped: u64,
    last_error: Option<String>,
}

/// The report sender. Cheap to share (`Arc`); submitting never blocks.
pub struct ReportDelivery {
    client: reqwest::Client,
    config: DeliveryConfig,
    destinations: Mutex<HashMap<String, Arc<Destination>>>,
    records: Mutex<VecDeque<ReportRecord>>,
    next_id: AtomicU64,
    lagged: AtomicU64,
}

impl std::fmt::Debug for ReportDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportDelivery")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ReportDelivery {
    /// A sender with its HTTP client.
    pub fn new(config: DeliveryConfig) -> Result<Arc<Self>, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(config.idle_timeout)
            .tcp_keepalive(Duration::from_secs(60))
            .build()?;
        Ok(Arc::new(Self {
            client,
            config,
            destinations: Mutex::new(HashMap::new()),
            records: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(1),
            lagged: AtomicU64::new(0),
        }))
    }

    /// The configuration.
    pub fn config(&self) -> &DeliveryConfig {
        &self.config
    }

    /// Sends `report` to every route of `routing`'s AS, signed at `now`; returns the record's
    /// id. Must be called within a tokio runtime (each request is a task).
    pub fn submit(self: &Arc<Self>, report: &Report, routing: &AsRouting, now: SystemTime) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let query = encode::query(report, routing, now);
        let profile = &routing.profile;
        let mut destinations = Vec::with_capacity(profile.routes.len());
        let mut sends = Vec::new();
        for route in &profile.routes {
            let destination = self.destination(&route.url, profile.max_in_flight);
            let outcome = match destination.admit(Instant::now()) {
                Err(dropped) => dropped,
                Ok(permit) => {
                    let (body, content_type) = encode::document(report, route.content_type);
                    sends.push((
                        destinations.len(),
                        destination.clone(),
                        permit,
                        encode::url(&route.url, &query),
                        body,
                        content_type,
                    ));
                    Outcome::Pending
                }
            };
            destinations.push((route.url.clone(), outcome));
        }
        self.push_record(ReportRecord {
            id,
            kind: report.kind,
            dev_eui: report.dev_eui,
            at: now,
            destinations,
        });
        for (index, destination, permit, url, body, content_type) in sends {
            let this = self.clone();
            let request = self
                .client
                .post(url)
                .timeout(profile.timeout)
                .header("content-type", content_type)
                .body(body);
            tokio::spawn(async move {
                let outcome = match request.send().await {
                    Ok(response) if response.status().is_success() => Outcome::Delivered {
                        status: response.status().as_u16(),
                    },
                    Ok(response) => Outcome::Failed {
                        error: format!("{} HTTP Error", response.status().as_u16()),
                    },
                    Err(e) if e.is_timeout() => Outcome::Failed {
                        error: "Timeout".to_owned(),
                    },
                    Err(e) if e.is_connect() => Outcome::Failed {
                        error: "Connection error".to_owned(),
                    },
                    Err(_) => Outcome::Failed {
                        error: "Network server internal error".to_owned(),
                    },
                };
                drop(permit);
                destination.settle(&outcome, &this.config, Instant::now());
                this.update_record(id, index, outcome);
            });
        }
        id
    }

    /// Builds the report of `dev_eui` with its routing and `Lrcid` and sends it; `None` when
    /// the device has no AS. For the reports the network server raises itself, e.g.
    /// `delivery.report_with(&*network, dev_eui, now, |routing, lrc_id|
    /// report::downlink_sent(&sent, routing, lrc_id)).await`; likewise [`report::location`],
    /// [`report::notification`] (join, reset) and [`report::multicast_summary`].
    pub async fn report_with<N: TunnelNetwork>(
        self: &Arc<Self>,
        network: &N,
        dev_eui: Eui64,
        now: SystemTime,
        build: impl FnOnce(&AsRouting, &str) -> Report,
    ) -> Option<u64> {
        let routing = network.routing(dev_eui).await?;
        let report = build(&routing, &self.config.lrc_id);
        Some(self.submit(&report, &routing, now))
    }

    /// Reports an accepted uplink when §6.1.1 says so, and the notifications it triggers
    /// (`reset` on a 1.1 `ResetInd`, `devstatusans`); returns the records' ids.
    pub async fn report_uplink<N: TunnelNetwork>(
        self: &Arc<Self>,
        network: &N,
        event: &UplinkEvent,
        now: SystemTime,
    ) -> Vec<u64> {
        let Some(routing) = network.routing(event.dev_eui).await else {
            return Vec::new();
        };
        let details = network.uplink_details(event).await;
        let mut ids = Vec::new();
        if report::should_report_uplink(event, &details) {
            let report = report::uplink(event, &routing, &details, &self.config.lrc_id);
            ids.push(self.submit(&report, &routing, now));
        }
        // 1.1 ABP `ResetInd`: "triggered by the uplink frame containing the ResetInd MAC
        // command … The AFCntDn is NOT reset to 0 in this report" (§6.4.1).
        let reset = event
            .mac_events
            .iter()
            .any(|e| matches!(e, crate::mac::MacEvent::DeviceReset { .. }))
            .then_some(report::Notification::AutomaticReset);
        for what in reset
            .into_iter()
            .chain(report::dev_status_notification(event))
        {
            let time = event
                .receptions
                .first()
                .and_then(|rx| rx.time)
                .unwrap_or(event.received_at);
            let report = report::notification(
                event.dev_eui,
                event.dev_addr,
                &what,
                time,
                // FCntDn is "only applicable to LoRaWAN 1.0", AFCntDn to 1.1 (§6.4.3).
                details
                    .f_cnt_dn
                    .filter(|_| event.mac_version != MacVersion::V1_1),
                details
                    .af_cnt_dn
                    .filter(|_| event.mac_version == MacVersion::V1_1),
                &routing,
                &self.config.lrc_id,
            );
            ids.push(self.submit(&report, &routing, now));
        }
        ids
    }

    /// Reports every accepted uplink of `events` until the network server closes the
    /// channel. Uplinks missed because this task fell behind are counted ([`Self::lagged`]).
    pub async fn forward_uplinks<N: TunnelNetwork>(
        self: Arc<Self>,
        network: Arc<N>,
        mut events: broadcast::Receiver<Arc<UplinkEvent>>,
    ) {
        loop {
            match events.recv().await {
                Ok(event) => {
                    self.report_uplink(network.as_ref(), &event, SystemTime::now())
                        .await;
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    self.lagged.fetch_add(missed, Ordering::Relaxed);
                    tracing::warn!(missed, "AS tunnel fell behind; uplink reports lost");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }

    /// Uplinks never reported because the reporting task fell behind.
    pub fn lagged(&self) -> u64 {
        self.lagged.load(Ordering::Relaxed)
    }

    /// The latest records, newest first, of one device or of all, at most `limit`.
    pub fn records(&self, dev_eui: Option<Eui64>, limit: usize) -> Vec<ReportRecord> {
        lock(&self.records)
            .iter()
            .rev()
            .filter(|r| dev_eui.is_none_or(|d| r.dev_eui == d))
            .take(limit)
            .cloned()
            .collect()
    }

    /// The record `id`, while it is kept.
    pub fn record(&self, id: u64) -> Option<ReportRecord> {
        let records = lock(&self.records);
        let index = records.partition_point(|r| r.id < id);
        records.get(index).filter(|r| r.id == id).cloned()
    }

    /// Every destination's state and counters, by URL.
    pub fn destinations(&self) -> Vec<DestinationStatus> {
        let destinations: Vec<Arc<Destination>> =
            lock(&self.destinations).values().cloned().collect();
        let now = Instant::now();
        let mut out: Vec<DestinationStatus> = destinations.iter().map(|d| d.status(now)).collect();
        out.sort_by(|a, b| a.url.cmp(&b.url));
        out
    }

    fn destination(&self, url: &str, limit: usize) -> Arc<Destination> {
        let mut destinations = lock(&self.destinations);
        if let Some(existing) = destinations.get(url) {
            if existing.limit == limit.max(1) {
                return existing.clone();
            }
        }
        // New, or its profile's limit changed: a fresh semaphore (requests in flight on
        // the old one finish there).
        let limit = limit.max(1);
        let previous = destinations.get(url).map(|d| {
            let health = lock(&d.health);
            Health {
                consecutive_failures: health.consecutive_failures,
                blacklisted_until: health.blacklisted_until,
                probing: health.probing,
                delivered: health.delivered,
                failed: health.failed,
                dropped: health.dropped,
                last_error: health.last_error.clone(),
            }
        });
        let destination = Arc::new(Destination {
            url: url.to_owned(),
            handlers: Arc::new(Semaphore::new(limit)),
            limit,
            health: Mutex::new(previous.unwrap_or_default()),
        });
        destinations.insert(url.to_owned(), destination.clone());
        destination
    }

    fn push_record(&self, record: ReportRecord) {
        let mut records = lock(&self.records);
        records.push_back(record);
        while records.len() > self.config.history.max(1) {
            records.pop_front();
        }
    }

    fn update_record(&self, id: u64, index: usize, outcome: Outcome) {
        let mut records = lock(&self.records);
        let position = records.partition_point(|r| r.id < id);
        if let Some(record) = records.get_mut(position).filter(|r| r.id == id) {
            if let Some(slot) = record.destinations.get_mut(index) {
                slot.1 = outcome;
            }
        }
    }
}

impl Destination {
    /// A handler for one more report, or why the report is dropped.
    fn admit(&self, now: Instant) -> Result<tokio::sync::OwnedSemaphorePermit, Outcome> {
        let mut health = lock(&self.health);
        if let Some(until) = health.blacklisted_until {
            // After the period, one report goes through as a probe; the rest wait for it.
            if now < until || health.probing {
                health.dropped += 1;
                return Err(Outcome::DroppedBlacklist);
            }
            health.probing = true;
        }
        match self.handlers.clone().try_acquire_owned() {
            Ok(permit) => Ok(permit),
            Err(_) => {
                // A probe that finds no handler is no probe: the next report tries again.
                health.probing = false;
                health.dropped += 1;
                Err(Outcome::DroppedOverload)
            }
        }
    }

    fn settle(&self, outcome: &Outcome, config: &DeliveryConfig, now: Instant) {
        let mut health = lock(&self.health);
        health.probing = false;
        match outcome {
            Outcome::Delivered { .. } => {
                health.delivered += 1;
                health.consecutive_failures = 0;
                health.blacklisted_until = None;
            }
            Outcome::Failed { error } => {
                health.failed += 1;
                health.consecutive_failures = health.consecutive_failures.saturating_add(1);
                health.last_error = Some(error.clone());
                if health.consecutive_failures >= config.blacklist_after.max(1) {
                    health.blacklisted_until = Some(now + config.blacklist_for);
                    tracing::warn!(url = %self.url, error, "AS destination blacklisted");
                }
            }
            Outcome::Pending | Outcome::DroppedOverload | Outcome::DroppedBlacklist => {}
        }
    }

    fn status(&self, now: Instant) -> DestinationStatus {
        let health = lock(&self.health);
        let in_flight = self.limit - self.handlers.available_permits();
        let blacklisted = health
            .blacklisted_until
            .is_some_and(|until| now < until || health.probing);
        let state = if blacklisted {
            DestinationState::Blacklist
        } else if self.handlers.available_permits() == 0 {
            DestinationState::Overload
        } else {
            DestinationState::Healthy
        };
        DestinationStatus {
            url: self.url.clone(),
            state,
            in_flight,
            delivered: health.delivered,
            failed: health.failed,
            dropped: health.dropped,
            last_error: health.last_error.clone(),
        }
    }
}

// A poisoned lock only means a task panicked while holding it; every update is a few field
// assignments, so the data is consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destination(limit: usize) -> Destination {
        Destination {
            url: "http://127.0.0.1:1/as".to_owned(),
            handlers: Arc::new(Semaphore::new(limit)),
            limit,
            health: Mutex::new(Health::default()),
        }
    }

    fn failed() -> Outcome {
        Outcome::Failed {
            error: "503 HTTP Error".to_owned(),
        }
    }

    #[test]
    fn overload_blacklist_and_probe() {
        let config = DeliveryConfig {
            blacklist_after: 2,
            blacklist_for: Duration::from_secs(10),
            ..DeliveryConfig::default()
        };
        let d = destination(1);
        let t0 = Instant::now();
        let held = d.admit(t0).expect("a handler");
        assert_eq!(d.status(t0).state, DestinationState::Overload);
        assert_eq!(d.admit(t0).err(), Some(Outcome::DroppedOverload));
        drop(held);
        assert_eq!(d.status(t0).state, DestinationState::Healthy);

        d.settle(&failed(), &config, t0);
        assert_eq!(d.status(t0).state, DestinationState::Healthy, "one failure");
        d.settle(&failed(), &config, t0);
        assert_eq!(d.status(t0).state, DestinationState::Blacklist);
        assert_eq!(d.admit(t0).err(), Some(Outcome::DroppedBlacklist));
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            d.admit(later - Duration::from_millis(1)).err(),
            Some(Outcome::DroppedBlacklist)
        );

        // The period is over: one probe, the others still dropped while it runs.
        let probe = d.admit(later).expect("the probe");
        assert_eq!(d.admit(later).err(), Some(Outcome::DroppedBlacklist));
        drop(probe);
        d.settle(&failed(), &config, later);
        assert_eq!(
            d.status(later).state,
            DestinationState::Blacklist,
            "probe failed"
        );

        // A probe that finds no free handler does not wedge the destination.
        let again = later + Duration::from_secs(10);
        let busy = d.handlers.clone().try_acquire_owned().expect("permit");
        assert_eq!(d.admit(again).err(), Some(Outcome::DroppedOverload));
        drop(busy);
        let probe = d.admit(again).expect("the next report probes");
        drop(probe);
        d.settle(&Outcome::Delivered { status: 200 }, &config, again);
        let status = d.status(again);
        assert_eq!(status.state, DestinationState::Healthy);
        assert_eq!((status.delivered, status.failed, status.dropped), (1, 3, 5));
        assert_eq!(status.last_error.as_deref(), Some("503 HTTP Error"));
    }
}
