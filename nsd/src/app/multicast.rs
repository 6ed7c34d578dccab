//! Multicast groups at work: provisioning (kept in storage only: nothing on the uplink path
//! needs them) and sending one frame to a group now.
//!
//! Sending: check the port → take the group's next counter (stored before anything is
//! built, [`MulticastStore::take_f_cnt`]) → build the frame with the group's keys → pick
//! the provisioned gateways carrying any of the group's tags → plan
//! ([`plan_multicast`]: GPS-synchronised gateways together, the others in clusters at least
//! 7 km apart, one after the other) → hand each batch to its gateways at its time → retry
//! the gateways that failed, up to three attempts in all ([`MulticastAttempts`]).
//!
//! Which gateways are GPS-synchronised: those whose last status report (Semtech `stat`)
//! carried a GPS position. The packet forwarder writes `lati`/`long` when its GPS has a fix,
//! and the fix is what disciplines the concentrator's clock to GPS time. (A forwarder
//! configured with `fake_gps` reports its fixed position too: such a gateway would be taken
//! for synchronised; it then answers `GPS_UNLOCKED` to a timed transmission and is retried.)
//! Where a gateway stands, for clustering: its provisioned location, else the position of
//! its last status report, else unknown (a cluster of its own).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lorawan::phy::BuildError;
use lorawan::region::Region;

use super::downlink::Downlinks;
use super::{unix_seconds, NetworkServer};
use crate::device::multicast::{valid_f_port, McGroup, McGroupError};
use crate::downlink::delivery::DeliveryFailedCause;
use crate::downlink::multicast::{
    plan_multicast, GpsSync, Location, MulticastAttempts, MulticastClass, MulticastError,
    MulticastGateway, MulticastGroup, MulticastNext, MulticastStart,
};
use crate::gateway::registry::GatewayView;
use crate::gateway::{GatewayId, TxOutcome};
use crate::storage::{MulticastStore, StorageError};

/// Seconds from the Unix epoch to the GPS epoch (1980-01-06T00:00:00Z).
const GPS_EPOCH_UNIX_S: u64 = 315_964_800;
/// GPS time is ahead of UTC by the leap seconds since 1980: 18 s since 2017-01-01.
const GPS_LEAP_SECONDS: u64 = 18;
/// How far ahead GPS-synchronised gateways are asked to transmit, for the frame to reach
/// them and be scheduled.
const GPS_LEAD: Duration = Duration::from_secs(1);

/// Why a multicast request failed.
#[derive(Debug, thiserror::Error)]
pub enum MulticastGroupError {
    /// The group's settings are inconsistent.
    #[error("{0}")]
    Invalid(#[from] McGroupError),
    /// No such group.
    #[error("multicast group {0:?} not found")]
    NotFound(String),
    /// Class B sessions need ping-slot scheduling, which the nsd does not do yet.
    #[error("class B multicast needs ping-slot scheduling, not supported yet")]
    ClassBNotSupported,
    /// FPort 0 (MAC commands), 224 (test) or RFU.
    #[error("FPort {0} cannot carry a multicast frame (1..=223)")]
    FPort(u8),
    /// The frame cannot be built (too long, …).
    #[error("{0}")]
    Frame(#[from] BuildError),
    /// The frame cannot be planned (no gateway with the tags, too large for the data rate).
    #[error("{0}")]
    Plan(#[from] MulticastError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What became of a multicast frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MulticastReport {
    /// The frame counter it was sent with.
    pub f_cnt: u32,
    /// Per gateway, in id order.
    pub gateways: Vec<GatewayDelivery>,
}

/// One gateway's part of a multicast frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayDelivery {
    /// The gateway.
    pub gateway: GatewayId,
    /// Attempts made through it.
    pub attempts: u8,
    /// Sent, or why not (the last attempt's cause).
    pub result: Result<(), DeliveryFailedCause>,
}

impl NetworkServer {
    fn multicast_store(&self) -> MulticastStore {
        self.devices_store.multicast_groups()
    }

    /// Creates or replaces a multicast group.
    pub async fn put_multicast_group(&self, group: McGroup) -> Result<(), MulticastGroupError> {
        group.check()?;
        self.multicast_store().put(&group, unix_seconds()).await?;
        Ok(())
    }

    /// One multicast group.
    pub async fn multicast_group(&self, id: &str) -> Result<McGroup, MulticastGroupError> {
        self.multicast_store()
            .get(id)
            .await?
            .ok_or_else(|| MulticastGroupError::NotFound(id.to_owned()))
    }

    /// Every multicast group, by id.
    pub async fn multicast_groups(&self) -> Result<Vec<McGroup>, MulticastGroupError> {
        Ok(self.multicast_store().all().await?)
    }

    /// Deletes a multicast group.
    pub async fn delete_multicast_group(&self, id: &str) -> Result<(), MulticastGroupError> {
        if !self.multicast_store().delete(id).await? {
            return Err(MulticastGroupError::NotFound(id.to_owned()));
        }
        Ok(())
    }

    /// The provisioned gateways carrying any of `tags`, as the multicast planner sees them.
    pub fn multicast_gateways(&self, tags: &[String]) -> Vec<MulticastGateway> {
        self.gateways
            .list()
            .iter()
            .filter(|view| view.gateway.tags.iter().any(|tag| tags.contains(tag)))
            .map(multicast_gateway)
            .collect()
    }

    /// Sends `payload` on `f_port` to group `id` now, through every gateway of its tags;
    /// returns when every gateway sent it or ran out of attempts.
    pub async fn send_multicast(
        &self,
        id: &str,
        f_port: u8,
        payload: &[u8],
    ) -> Result<MulticastReport, MulticastGroupError> {
        if !valid_f_port(f_port) {
            return Err(MulticastGroupError::FPort(f_port));
        }
        let group = self.multicast_group(id).await?;
        if group.class == MulticastClass::B {
            return Err(MulticastGroupError::ClassBNotSupported);
        }
        let gateways = self.multicast_gateways(&group.gateway_tags);
        if gateways.is_empty() {
            return Err(MulticastError::NoGateway.into());
        }
        // The counter is stored before the frame exists: never used twice.
        let mut group = self
            .multicast_store()
            .take_f_cnt(id, unix_seconds())
            .await?
            .ok_or_else(|| MulticastGroupError::NotFound(id.to_owned()))?;
        let frame = group.build_frame(f_port, payload)?;
        // Checked once before handing over, so that a frame too large fails the request.
        plan_multicast(
            &group.plan_view(),
            &gateways,
            group.region.params(),
            &frame.phy,
            start(SystemTime::now(), &gateways),
            self.downlinks.multicast_options(),
        )?;
        let delivery = Delivery {
            downlinks: self.downlinks.clone(),
            region: group.region,
            group: group.plan_view(),
            phy: frame.phy,
        };
        // Its own task: an HTTP client going away does not stop a delivery half done.
        let gateways = tokio::spawn(delivery.run(gateways))
            .await
            .unwrap_or_default();
        let report = MulticastReport {
            f_cnt: frame.f_cnt,
            gateways,
        };
        // The tunnel's multicast summary report.
        self.notify(super::notice::Notice::MulticastSent {
            group: id.to_owned(),
            dev_addr: group.dev_addr,
            f_port,
            report: report.clone(),
            time: SystemTime::now(),
        });
        Ok(report)
    }
}

/// How the planner sees a provisioned gateway (see the module doc for the choices).
fn multicast_gateway(view: &GatewayView) -> MulticastGateway {
    let stats_location = view.status.last_stats.as_ref().and_then(|s| s.location);
    MulticastGateway {
        id: view.gateway.id,
        gps: if stats_location.is_some() {
            GpsSync::Synchronised
        } else {
            GpsSync::NotSynchronised
        },
        location: view.gateway.location.or(stats_location).map(|l| Location {
            latitude: l.lat,
            longitude: l.lon,
        }),
    }
}

/// When an attempt starts: now for clusters alone; with GPS-synchronised gateways, their
/// common GPS time a little ahead, the clusters after it.
fn start(now: SystemTime, gateways: &[MulticastGateway]) -> MulticastStart {
    let synchronised = gateways.iter().any(|g| g.gps == GpsSync::Synchronised);
    let at = if synchronised { now + GPS_LEAD } else { now };
    MulticastStart {
        now,
        at,
        gps_time_ms: gps_time_ms(at),
    }
}

/// `t` as milliseconds since the GPS epoch.
fn gps_time_ms(t: SystemTime) -> u64 {
    let unix_ms = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    (unix_ms + GPS_LEAP_SECONDS * 1000).saturating_sub(GPS_EPOCH_UNIX_S * 1000)
}

/// One multicast frame on its way.
struct Delivery {
    downlinks: Downlinks,
    region: Region,
    group: MulticastGroup,
    phy: Vec<u8>,
}

impl Delivery {
    async fn run(self, mut gateways: Vec<MulticastGateway>) -> Vec<GatewayDelivery> {
        let options = *self.downlinks.multicast_options();
        let mut attempts = MulticastAttempts::first(self.group.class, &options);
        let mut results: BTreeMap<GatewayId, GatewayDelivery> = gateways
            .iter()
            .map(|g| {
                let pending = GatewayDelivery {
                    gateway: g.id,
                    attempts: 0,
                    result: Err(DeliveryFailedCause::NoGatewayConnected),
                };
                (g.id, pending)
            })
            .collect();
        loop {
            let now = SystemTime::now();
            let plan = match plan_multicast(
                &self.group,
                &gateways,
                self.region.params(),
                &self.phy,
                start(now, &gateways),
                &options,
            ) {
                Ok(plan) => plan,
                Err(error) => {
                    for g in &gateways {
                        if let Some(r) = results.get_mut(&g.id) {
                            r.result = Err(error.cause());
                        }
                    }
                    break;
                }
            };
            let mut answers: Vec<(GatewayId, TxOutcome)> = Vec::new();
            for batch in plan.batches {
                let wait = batch
                    .send_at
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO);
                tokio::time::sleep(wait).await;
                let batch_answers = self
                    .downlinks
                    .multicast_batch(self.region, batch.transmissions, plan.time_on_air)
                    .await;
                answers.extend(batch_answers);
            }
            for &(gateway, outcome) in &answers {
                if let Some(r) = results.get_mut(&gateway) {
                    r.attempts += 1;
                    if outcome == TxOutcome::Sent {
                        r.result = Ok(());
                    }
                }
            }
            match attempts.outcomes(&answers) {
                MulticastNext::Done => break,
                MulticastNext::Retry(failed) => {
                    gateways.retain(|g| failed.contains(&g.id));
                    tracing::debug!(group = %self.group.dev_addr, gateways = failed.len(), attempt = attempts.attempt(), "multicast frame retried");
                    tokio::time::sleep(plan.time_on_air + options.guard).await;
                }
                MulticastNext::Exhausted(failed) => {
                    for (gateway, cause) in failed {
                        if let Some(r) = results.get_mut(&gateway) {
                            r.result = Err(cause);
                        }
                    }
                    break;
                }
            }
        }
        results.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gps_time_counts_from_1980_with_the_leap_seconds() {
        // 2017-01-01T00:00:00Z = Unix 1483228800 = GPS 1167264018 s (18 leap seconds).
        let t = UNIX_EPOCH + Duration::from_secs(1_483_228_800);
        assert_eq!(gps_time_ms(t), 1_167_264_018_000);
    }

    #[test]
    fn gateways_reporting_a_gps_position_are_synchronised() {
        use crate::gateway::registry::{Gateway, GatewayStats, GatewayStatus, Location as At};
        let mut view = GatewayView {
            gateway: Gateway {
                id: GatewayId::from_u64(1),
                name: "gw".into(),
                location: None,
                tags: vec!["city".into()],
                tenant: None,
            },
            status: GatewayStatus::default(),
        };
        let plain = multicast_gateway(&view);
        assert_eq!(
            (plain.gps, plain.location),
            (GpsSync::NotSynchronised, None)
        );
        view.status.last_stats = Some(GatewayStats {
            location: Some(At {
                lat: 48.85,
                lon: 2.35,
                alt_m: 35.0,
            }),
            ..GatewayStats::default()
        });
        let gps = multicast_gateway(&view);
        assert_eq!(gps.gps, GpsSync::Synchronised);
        assert_eq!(
            gps.location,
            Some(Location {
                latitude: 48.85,
                longitude: 2.35
            })
        );
        let with_gps = [gps];
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let s = start(now, &with_gps);
        assert_eq!(s.at, now + GPS_LEAD);
        assert_eq!(s.gps_time_ms, gps_time_ms(now + GPS_LEAD));
        assert_eq!(start(now, &[plain]).at, now);
    }
}
