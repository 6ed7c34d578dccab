//! Multicast: one frame to a group of class B or class C devices, through every gateway of
//! the group's tags, without the gateways' transmissions colliding.
//!
//! Seed 000 ("Downlink multicast RDTP-9925"):
//!
//! - "For all the LRRs that are GPS-synchronized (green base stations in the above figure):
//!   The LRC schedules a simultaneous transmission like for class B devices => Perfectly
//!   synchronized transmissions (with +/- 1 μs precision) mitigate collision risk."
//! - "For other LRRs (not GPS-synchronized), the LRC uses a clustering algorithm to group the
//!   LRRs that are sufficiently spaced away into the same cluster whereas neighbor LRRs are
//!   put in different clusters. The minimum distance required between two LRRs to share the
//!   same cluster is defined as "Class C Collision Avoidance Distance" and set to 7 Km."
//! - "The LRC network server schedules multicast transmission sequentially for each cluster:
//!   All the LRRs within the same cluster transmit their downlink multicast frames at the same
//!   time (…) while the multicast transmission over distinct clusters do not overlap in time."
//! - "In case the LRR location is not provisioned in ThingPark (…), the LRC considers each
//!   LRR as a separate cluster."
//! - "the LRC shall re-attempt the transmission of the multicast frame until the maximum
//!   number of attempts is reached (set to 3 attempts in TPE)."
//! - Class B: "Since class B operation implies that LRRs are perfectly synchronized by GPS, a
//!   downlink multicast frame can be safely transmitted synchronously over all the LRRs": only
//!   GPS-synchronised gateways take part in a class B session.
//!
//! Clustering is a greedy graph colouring (Welsh–Powell: most-crowded gateways first, each
//! into the first cluster where every member is at least the distance away), so no two
//! gateways closer than the distance ever share a cluster; it does not promise the fewest
//! clusters.

use std::time::{Duration, SystemTime};

use lorawan::ids::DevAddr;
use lorawan::mac::Direction;
use lorawan::region::{DwellTime, RegionParams, Repeater};

use super::airtime::{downlink_modulation, time_on_air};
use super::class_a::default_downlink_power_dbm;
use super::delivery::{DeliveryFailedCause, TransmissionSlot};
use crate::gateway::{GatewayId, Transmission, TxOutcome, TxTiming};

/// Mean Earth radius in metres (IUGG).
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A point on Earth, in degrees (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    /// Latitude in degrees, north positive.
    pub latitude: f64,
    /// Longitude in degrees, east positive.
    pub longitude: f64,
}

impl Location {
    /// Whether the coordinates are finite and on Earth (latitude ±90°, longitude ±180°).
    pub fn is_valid(&self) -> bool {
        self.latitude.is_finite()
            && self.longitude.is_finite()
            && self.latitude.abs() <= 90.0
            && self.longitude.abs() <= 180.0
    }
}

/// Great-circle distance in metres between two points (haversine formula).
pub fn distance_m(a: Location, b: Location) -> f64 {
    let (lat1, lat2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let d_lat = lat2 - lat1;
    let d_lon = (b.longitude - a.longitude).to_radians();
    let h = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Whether a gateway's clock is GPS-disciplined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpsSync {
    /// It can transmit at a GPS time, to the microsecond.
    Synchronised,
    /// It cannot.
    NotSynchronised,
}

/// A gateway of the group's tags.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MulticastGateway {
    /// Its id.
    pub id: GatewayId,
    /// Its clock.
    pub gps: GpsSync,
    /// Where it stands, if provisioned.
    pub location: Option<Location>,
}

/// The class of a multicast session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MulticastClass {
    /// Class B: ping slots, GPS-synchronised gateways only.
    B,
    /// Class C: any time, on the group's frequency and data rate.
    C,
}

/// A multicast group: a "virtual" device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulticastGroup {
    /// The group's DevAddr.
    pub dev_addr: DevAddr,
    /// Class B or C.
    pub class: MulticastClass,
    /// Frequency in Hz.
    pub frequency_hz: u32,
    /// Data rate.
    pub data_rate: u8,
}

/// Tunables of multicast delivery.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MulticastOptions {
    /// "Class C Collision Avoidance Distance": gateways closer than this never transmit at
    /// the same time (7 km).
    pub collision_avoidance_distance_m: f64,
    /// Attempts per gateway, the first included (3).
    pub max_attempts: u8,
    /// Silence between two clusters' transmissions, on top of the time on air.
    pub guard: Duration,
    /// Transmit power in dBm, instead of the region's default.
    pub power_dbm: Option<i8>,
}

impl Default for MulticastOptions {
    fn default() -> Self {
        Self {
            collision_avoidance_distance_m: 7_000.0,
            max_attempts: 3,
            guard: Duration::from_millis(100),
            power_dbm: None,
        }
    }
}

/// The gateways of one session, grouped for collision avoidance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Clusters {
    /// GPS-synchronised gateways: all transmit together, at one GPS time.
    pub synchronised: Vec<GatewayId>,
    /// The others, in clusters sent one after the other.
    pub clusters: Vec<Vec<GatewayId>>,
}

/// Group `gateways`: the GPS-synchronised together; the others in clusters whose members are
/// all at least `min_distance_m` apart, a gateway without a (valid) location alone in its
/// cluster.
pub fn cluster(gateways: &[MulticastGateway], min_distance_m: f64) -> Clusters {
    let mut out = Clusters::default();
    let mut located: Vec<(GatewayId, Location)> = Vec::new();
    let mut unlocated: Vec<GatewayId> = Vec::new();
    for gateway in gateways {
        match (gateway.gps, gateway.location) {
            (GpsSync::Synchronised, _) => out.synchronised.push(gateway.id),
            (GpsSync::NotSynchronised, Some(location)) if location.is_valid() => {
                located.push((gateway.id, location));
            }
            // No usable location: a cluster of its own.
            (GpsSync::NotSynchronised, _) => unlocated.push(gateway.id),
        }
    }
    let near = |a: Location, b: Location| distance_m(a, b) < min_distance_m;
    // Welsh–Powell order: most neighbours first, then by id for a stable result.
    let mut order: Vec<(usize, GatewayId, Location)> = located
        .iter()
        .map(|&(id, here)| {
            let neighbours = located
                .iter()
                .filter(|&&(other, there)| other != id && near(here, there))
                .count();
            (neighbours, id, here)
        })
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut clusters: Vec<Vec<(GatewayId, Location)>> = Vec::new();
    for (_, id, here) in order {
        match clusters
            .iter_mut()
            .find(|members| members.iter().all(|&(_, there)| !near(here, there)))
        {
            Some(members) => members.push((id, here)),
            None => clusters.push(vec![(id, here)]),
        }
    }
    out.clusters = clusters
        .into_iter()
        .map(|members| members.into_iter().map(|(id, _)| id).collect())
        .collect();
    unlocated.sort();
    out.clusters
        .extend(unlocated.into_iter().map(|id| vec![id]));
    out
}

/// When the session starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulticastStart {
    /// The current time.
    pub now: SystemTime,
    /// When the first batch transmits (far enough ahead for the gateways to schedule it).
    pub at: SystemTime,
    /// The same instant as GPS time in milliseconds since the GPS epoch (class B: the ping
    /// slot's start).
    pub gps_time_ms: u64,
}

/// Transmissions handed to the gateways at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// When to hand them over.
    pub send_at: SystemTime,
    /// One per gateway.
    pub transmissions: Vec<Transmission>,
}

/// A multicast session's batches, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct MulticastPlan {
    /// The batches: the GPS-synchronised gateways first (timed by GPS, handed over at once),
    /// then each cluster, spaced by the time on air plus the guard.
    pub batches: Vec<Batch>,
    /// Time on air of the frame.
    pub time_on_air: Duration,
}

/// Why a multicast session cannot be planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MulticastError {
    /// No gateway in the group's tags.
    #[error("no gateway carries the group's tags")]
    NoGateway,
    /// Class B without a GPS-synchronised gateway.
    #[error("class B multicast needs a GPS-synchronised gateway")]
    NoGpsGateway,
    /// The data rate is RFU or uplink-only in the region.
    #[error("data rate {0} cannot carry a downlink in this region")]
    DataRate(u8),
    /// The frame is longer than the data rate carries.
    #[error("the frame is too large for data rate {0}")]
    TooLarge(u8),
}

impl MulticastError {
    /// The cause reported to the AS.
    pub const fn cause(self) -> DeliveryFailedCause {
        match self {
            Self::NoGateway => DeliveryFailedCause::NoGatewayConnected,
            Self::NoGpsGateway => DeliveryFailedCause::NoGpsSynchronisedGateway,
            Self::DataRate(_) | Self::TooLarge(_) => DeliveryFailedCause::MaxDwellTime,
        }
    }
}

/// Plan the transmission of `phy` to `group` through `gateways`.
pub fn plan_multicast(
    group: &MulticastGroup,
    gateways: &[MulticastGateway],
    region: &RegionParams,
    phy: &[u8],
    start: MulticastStart,
    options: &MulticastOptions,
) -> Result<MulticastPlan, MulticastError> {
    if gateways.is_empty() {
        return Err(MulticastError::NoGateway);
    }
    let dr = group.data_rate;
    let modulation = downlink_modulation(region, dr).ok_or(MulticastError::DataRate(dr))?;
    let max = region
        .max_payload(dr, DwellTime::NoLimit, Repeater::NotCompatible)
        .ok_or(MulticastError::DataRate(dr))?;
    // MHDR (1) + MACPayload + MIC (4).
    if phy.len().saturating_sub(5) > usize::from(max.m) {
        return Err(MulticastError::TooLarge(dr));
    }
    let airtime = time_on_air(&modulation, phy.len(), Direction::Downlink)
        .ok_or(MulticastError::DataRate(dr))?;
    let mut groups = cluster(gateways, options.collision_avoidance_distance_m);
    if group.class == MulticastClass::B {
        if groups.synchronised.is_empty() {
            return Err(MulticastError::NoGpsGateway);
        }
        groups.clusters.clear();
    }
    let power_dbm = options
        .power_dbm
        .unwrap_or_else(|| default_downlink_power_dbm(region.region, group.frequency_hz));
    let transmission = |gateway: GatewayId, timing: TxTiming| Transmission {
        gateway,
        timing,
        frequency_hz: group.frequency_hz,
        modulation,
        power_dbm,
        rf_chain: 0,
        invert_polarity: true,
        phy: phy.to_vec(),
    };
    let mut batches = Vec::new();
    if !groups.synchronised.is_empty() {
        batches.push(Batch {
            send_at: start.now,
            transmissions: groups
                .synchronised
                .iter()
                .map(|&id| transmission(id, TxTiming::AtGpsTime(start.gps_time_ms)))
                .collect(),
        });
    }
    let step = airtime + options.guard;
    let mut offset = if batches.is_empty() {
        Duration::ZERO
    } else {
        step
    };
    for members in &groups.clusters {
        batches.push(Batch {
            send_at: start.at + offset,
            transmissions: members
                .iter()
                .map(|&id| transmission(id, TxTiming::Immediately))
                .collect(),
        });
        offset += step;
    }
    Ok(MulticastPlan {
        batches,
        time_on_air: airtime,
    })
}

/// What to do after an attempt's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MulticastNext {
    /// Every gateway sent the frame.
    Done,
    /// Plan again through these gateways (those that failed).
    Retry(Vec<GatewayId>),
    /// Attempts exhausted: these gateways never sent it.
    Exhausted(Vec<(GatewayId, DeliveryFailedCause)>),
}

/// The attempts of one multicast frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulticastAttempts {
    attempt: u8,
    max_attempts: u8,
    slot: TransmissionSlot,
}

impl MulticastAttempts {
    /// The first attempt of a session of `class` is being made.
    pub fn first(class: MulticastClass, options: &MulticastOptions) -> Self {
        Self {
            attempt: 1,
            max_attempts: options.max_attempts.max(1),
            slot: match class {
                MulticastClass::B => TransmissionSlot::PingSlot,
                MulticastClass::C => TransmissionSlot::Rx2,
            },
        }
    }

    /// The attempt being made (1-based).
    pub fn attempt(&self) -> u8 {
        self.attempt
    }

    /// The gateways answered the current attempt.
    pub fn outcomes(&mut self, answers: &[(GatewayId, TxOutcome)]) -> MulticastNext {
        let failed: Vec<(GatewayId, DeliveryFailedCause)> = answers
            .iter()
            .filter_map(|&(id, outcome)| {
                DeliveryFailedCause::from_outcome(outcome, self.slot).map(|cause| (id, cause))
            })
            .collect();
        if failed.is_empty() {
            MulticastNext::Done
        } else if self.attempt < self.max_attempts {
            self.attempt += 1;
            MulticastNext::Retry(failed.into_iter().map(|(id, _)| id).collect())
        } else {
            MulticastNext::Exhausted(failed)
        }
    }
}

#[cfg(test)]
#[path = "multicast_tests.rs"]
mod tests;
