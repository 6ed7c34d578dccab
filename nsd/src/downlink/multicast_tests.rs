use super::*;

use crate::gateway::TxRefusal;
use lorawan::region::Region;

/// Metres per degree of latitude on the mean sphere: 2πR / 360.
const M_PER_DEG_LAT: f64 = 2.0 * std::f64::consts::PI * EARTH_RADIUS_M / 360.0;

fn gw(n: u64) -> GatewayId {
    GatewayId::from_u64(n)
}

/// A gateway `north_km` north of (45° N, 6° E).
fn at(n: u64, north_km: f64) -> MulticastGateway {
    MulticastGateway {
        id: gw(n),
        gps: GpsSync::NotSynchronised,
        location: Some(Location {
            latitude: 45.0 + north_km * 1000.0 / M_PER_DEG_LAT,
            longitude: 6.0,
        }),
    }
}

fn gps(n: u64) -> MulticastGateway {
    MulticastGateway {
        id: gw(n),
        gps: GpsSync::Synchronised,
        location: None,
    }
}

fn t(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
}

fn group(class: MulticastClass) -> MulticastGroup {
    MulticastGroup {
        dev_addr: DevAddr::from_u32(0x0100_0001),
        class,
        frequency_hz: 869_525_000,
        data_rate: 0,
    }
}

#[test]
fn haversine_gives_known_distances() {
    let paris = Location {
        latitude: 48.8566,
        longitude: 2.3522,
    };
    let london = Location {
        latitude: 51.5074,
        longitude: -0.1278,
    };
    // ≈ 343.5 km on the mean sphere.
    let d = distance_m(paris, london);
    assert!((343_000.0..344_000.0).contains(&d), "{d}");
    assert!(distance_m(paris, paris).abs() < 1e-6);
    let a = at(1, 0.0).location.expect("located");
    let b = at(2, 1.0).location.expect("located");
    assert!((distance_m(a, b) - 1000.0).abs() < 0.01);
}

#[test]
fn neighbours_1_km_apart_never_share_a_cluster_10_km_may() {
    // 1 and 2 are 1 km apart; 3 is 10 km north of 1 (9 km of 2).
    let gateways = [at(1, 0.0), at(2, 1.0), at(3, 10.0)];
    let clusters = cluster(&gateways, 7_000.0);
    assert!(clusters.synchronised.is_empty());
    assert_eq!(clusters.clusters, vec![vec![gw(1), gw(3)], vec![gw(2)]]);
}

#[test]
fn gps_gateways_go_together_and_unlocated_ones_alone() {
    let mut lost = at(9, 0.0);
    lost.location = None;
    let mut lost2 = lost;
    lost2.id = gw(8);
    lost2.location = Some(Location {
        latitude: f64::NAN,
        longitude: 6.0,
    });
    let gateways = [gps(1), at(2, 0.0), gps(3), lost, at(4, 50.0), lost2];
    let clusters = cluster(&gateways, 7_000.0);
    assert_eq!(clusters.synchronised, vec![gw(1), gw(3)]);
    assert_eq!(
        clusters.clusters,
        vec![vec![gw(2), gw(4)], vec![gw(8)], vec![gw(9)]]
    );
}

#[test]
fn no_cluster_ever_holds_two_gateways_closer_than_7_km() {
    // A pseudo-random field of 60 gateways in a 40 km × 40 km square.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 40_000) as f64 / 1000.0
    };
    let gateways: Vec<MulticastGateway> = (0..60)
        .map(|n| {
            let (north, east) = (next(), next());
            MulticastGateway {
                id: gw(n),
                gps: GpsSync::NotSynchronised,
                location: Some(Location {
                    latitude: 45.0 + north * 1000.0 / M_PER_DEG_LAT,
                    longitude: 6.0 + east * 1000.0 / (M_PER_DEG_LAT * 45f64.to_radians().cos()),
                }),
            }
        })
        .collect();
    let clusters = cluster(&gateways, 7_000.0);
    let location = |id: GatewayId| {
        gateways
            .iter()
            .find(|g| g.id == id)
            .and_then(|g| g.location)
            .expect("located")
    };
    let mut seen = 0;
    for members in &clusters.clusters {
        seen += members.len();
        for (i, &a) in members.iter().enumerate() {
            for &b in &members[i + 1..] {
                assert!(distance_m(location(a), location(b)) >= 7_000.0);
            }
        }
    }
    assert_eq!(seen, 60, "every gateway is in exactly one cluster");
    assert!(
        clusters.clusters.len() < 60,
        "some gateways share a cluster"
    );
}

#[test]
fn class_c_batches_gps_first_then_clusters_in_sequence() {
    let gateways = [gps(5), at(1, 0.0), at(2, 1.0), at(3, 10.0)];
    let start = MulticastStart {
        now: t(0),
        at: t(2_000),
        gps_time_ms: 1_400_000_000_000,
    };
    let phy = [0x60u8; 20];
    let plan = plan_multicast(
        &group(MulticastClass::C),
        &gateways,
        Region::Eu868.params(),
        &phy,
        start,
        &MulticastOptions::default(),
    )
    .expect("planned");
    // SF12/125 kHz, 20 bytes, no CRC: 8 + ceil(140 / 40) · 5 = 28 symbols → 1318.912 ms.
    assert_eq!(plan.time_on_air, Duration::from_micros(1_318_912));
    assert_eq!(plan.batches.len(), 3);
    let first = &plan.batches[0];
    assert_eq!(first.send_at, t(0));
    assert_eq!(first.transmissions.len(), 1);
    assert_eq!(
        first.transmissions[0].timing,
        TxTiming::AtGpsTime(1_400_000_000_000)
    );
    assert_eq!(first.transmissions[0].power_dbm, 27);
    let step = Duration::from_micros(1_418_912);
    assert_eq!(plan.batches[1].send_at, t(2_000) + step);
    assert_eq!(plan.batches[2].send_at, t(2_000) + step * 2);
    let ids: Vec<Vec<GatewayId>> = plan.batches[1..]
        .iter()
        .map(|b| b.transmissions.iter().map(|tx| tx.gateway).collect())
        .collect();
    assert_eq!(ids, vec![vec![gw(1), gw(3)], vec![gw(2)]]);
    assert!(plan.batches[1].transmissions.iter().all(|tx| {
        tx.timing == TxTiming::Immediately && tx.frequency_hz == 869_525_000 && tx.phy == phy
    }));
}

#[test]
fn class_b_uses_gps_gateways_only() {
    let start = MulticastStart {
        now: t(0),
        at: t(0),
        gps_time_ms: 1,
    };
    let phy = [0x60u8; 20];
    let eu = Region::Eu868.params();
    let options = MulticastOptions::default();
    let b = group(MulticastClass::B);
    let plan =
        plan_multicast(&b, &[gps(1), at(2, 0.0)], eu, &phy, start, &options).expect("planned");
    assert_eq!(plan.batches.len(), 1);
    assert_eq!(plan.batches[0].transmissions.len(), 1);
    let refused = plan_multicast(&b, &[at(2, 0.0)], eu, &phy, start, &options);
    assert_eq!(refused, Err(MulticastError::NoGpsGateway));
    assert_eq!(MulticastError::NoGpsGateway.cause().code(), "DC");
    let none = plan_multicast(&group(MulticastClass::C), &[], eu, &phy, start, &options);
    assert_eq!(none, Err(MulticastError::NoGateway));
    let big = plan_multicast(&b, &[gps(1)], eu, &[0; 70], start, &options);
    assert_eq!(big, Err(MulticastError::TooLarge(0)));
}

#[test]
fn failed_gateways_are_retried_up_to_three_attempts() {
    let options = MulticastOptions::default();
    let mut attempts = MulticastAttempts::first(MulticastClass::C, &options);
    let busy = TxOutcome::Refused(TxRefusal::CollisionPacket);
    let answers = [(gw(1), TxOutcome::Sent), (gw(2), busy)];
    assert_eq!(
        attempts.outcomes(&answers),
        MulticastNext::Retry(vec![gw(2)])
    );
    assert_eq!(attempts.attempt(), 2);
    assert_eq!(
        attempts.outcomes(&[(gw(2), busy)]),
        MulticastNext::Retry(vec![gw(2)])
    );
    assert_eq!(attempts.attempt(), 3);
    assert_eq!(
        attempts.outcomes(&[(gw(2), busy)]),
        MulticastNext::Exhausted(vec![(gw(2), DeliveryFailedCause::RadioBusy)])
    );
    let mut ok = MulticastAttempts::first(MulticastClass::B, &options);
    assert_eq!(
        ok.outcomes(&[(gw(1), TxOutcome::Sent)]),
        MulticastNext::Done
    );
}
