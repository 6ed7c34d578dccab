use super::*;

use crate::downlink::delivery::DeliveryStatus;
use crate::gateway::{CodeRate, TxRefusal};

const CR45: Option<CodeRate> = Some(CodeRate {
    numerator: 4,
    denominator: 5,
});

fn gw(n: u64) -> GatewayId {
    GatewayId::from_u64(n)
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn rx(gateway: u64, frequency_hz: u32, sf: u8, bw: u32, snr: f32, rssi: i16) -> RxInfo {
    RxInfo {
        gateway: gw(gateway),
        frequency_hz,
        modulation: RadioModulation::Lora {
            spreading_factor: sf,
            bandwidth_hz: bw,
            code_rate: CR45,
        },
        rssi_dbm: rssi,
        snr_db: snr,
        channel: 0,
        rf_chain: 0,
        counter_us: 1_000_000,
        time: None,
        gps_time_ms: None,
        fine_timestamp_ns: None,
    }
}

fn lora(sf: u8, bw: u32) -> RadioModulation {
    RadioModulation::Lora {
        spreading_factor: sf,
        bandwidth_hz: bw,
        code_rate: CR45,
    }
}

fn plan_for(
    receptions: &[RxInfo],
    device: &DeviceRadio,
    region: Region,
    phy_len: usize,
    elapsed: Duration,
) -> ClassAPlan {
    plan_with(
        receptions,
        device,
        region,
        phy_len,
        elapsed,
        &ClassAOptions::default(),
        &DutyCycleLedger::new(region),
    )
}

fn plan_with(
    receptions: &[RxInfo],
    device: &DeviceRadio,
    region: Region,
    phy_len: usize,
    elapsed: Duration,
    options: &ClassAOptions,
    ledger: &DutyCycleLedger,
) -> ClassAPlan {
    let request = ClassARequest {
        receptions,
        device,
        region: region.params(),
        phy_len,
        elapsed,
        now: now(),
    };
    plan_class_a(&request, options, ledger, |_| true).expect("a gateway")
}

fn ok(slot: &Result<SlotPlan, DeliveryFailedCause>) -> &SlotPlan {
    slot.as_ref().expect("slot planned")
}

#[test]
fn eu868_sf12_uplink_gets_rx1_on_its_channel_and_rx2_on_869_525() {
    let eu = Region::Eu868.params();
    let device = DeviceRadio::defaults(eu);
    let uplink = [rx(1, 868_100_000, 12, 125_000, 5.0, -100)];
    let plan = plan_for(
        &uplink,
        &device,
        Region::Eu868,
        20,
        Duration::from_millis(100),
    );
    let rx1 = ok(&plan.rx1);
    assert_eq!(rx1.frequency_hz, 868_100_000);
    assert_eq!(rx1.data_rate, 0);
    assert_eq!(rx1.modulation, lora(12, 125_000));
    assert_eq!(rx1.timing, TxTiming::AtCounter(2_000_000));
    assert_eq!(rx1.power_dbm, 14);
    let rx2 = ok(&plan.rx2);
    assert_eq!(rx2.frequency_hz, 869_525_000);
    assert_eq!(rx2.data_rate, 0);
    assert_eq!(rx2.timing, TxTiming::AtCounter(3_000_000));
    assert_eq!(rx2.power_dbm, 27);
    let tx = rx1.transmission(vec![0x60; 20]);
    assert!(tx.invert_polarity);
    assert_eq!(tx.gateway, gw(1));
    assert_eq!(plan.candidates().count(), 2);
    let both = plan.transmissions(&[0x60; 20]);
    assert_eq!(
        both.iter()
            .map(|(slot, tx)| (*slot, tx.frequency_hz))
            .collect::<Vec<_>>(),
        vec![
            (TransmissionSlot::Rx1, 868_100_000),
            (TransmissionSlot::Rx2, 869_525_000)
        ]
    );
    let sent = plan.report(&[(TransmissionSlot::Rx1, TxOutcome::Sent)]);
    assert_eq!(sent.status, DeliveryStatus::Sent);
    assert_eq!(sent.slot, TransmissionSlot::Rx1);
    assert_eq!((sent.cause1_code(), sent.cause2_code()), ("00", "00"));
    let busy = TxOutcome::Refused(TxRefusal::CollisionPacket);
    let late = TxOutcome::Refused(TxRefusal::TooLate);
    let failed = plan.report(&[(TransmissionSlot::Rx1, busy), (TransmissionSlot::Rx2, late)]);
    assert_eq!(failed.status, DeliveryStatus::NotSent);
    assert_eq!((failed.cause1_code(), failed.cause2_code()), ("A3", "B0"));
}

#[test]
fn eu868_rx1_dr_offset_lowers_the_rx1_data_rate() {
    let eu = Region::Eu868.params();
    let device = DeviceRadio {
        rx1_dr_offset: 2,
        ..DeviceRadio::defaults(eu)
    };
    // DR5 (SF7) uplink, offset 2 → DR3 (SF9).
    let uplink = [rx(1, 868_500_000, 7, 125_000, 5.0, -100)];
    let plan = plan_for(&uplink, &device, Region::Eu868, 20, Duration::ZERO);
    let rx1 = ok(&plan.rx1);
    assert_eq!((rx1.frequency_hz, rx1.data_rate), (868_500_000, 3));
    assert_eq!(rx1.modulation, lora(9, 125_000));
}

#[test]
fn us915_rx1_is_on_the_downlink_channel_uplink_mod_8() {
    let us = Region::Us915.params();
    let device = DeviceRadio::defaults(us);
    // Channel 8 = 903.9 MHz at DR0 (SF10/125) → 923.3 MHz DR10 (SF10/500).
    let uplink = [rx(1, 903_900_000, 10, 125_000, 5.0, -100)];
    let plan = plan_for(&uplink, &device, Region::Us915, 20, Duration::ZERO);
    let rx1 = ok(&plan.rx1);
    assert_eq!((rx1.frequency_hz, rx1.data_rate), (923_300_000, 10));
    assert_eq!(rx1.modulation, lora(10, 500_000));
    let rx2 = ok(&plan.rx2);
    assert_eq!((rx2.frequency_hz, rx2.data_rate), (923_300_000, 8));
    assert_eq!(rx2.modulation, lora(12, 500_000));
    assert_eq!(rx2.power_dbm, 20);

    // Channel 15 = 905.3 MHz at DR3 (SF7/125), offset 1 → channel 7 = 927.5 MHz, DR12.
    let device = DeviceRadio {
        rx1_dr_offset: 1,
        ..device
    };
    let uplink = [rx(1, 905_300_000, 7, 125_000, 5.0, -100)];
    let plan = plan_for(&uplink, &device, Region::Us915, 20, Duration::ZERO);
    let rx1 = ok(&plan.rx1);
    assert_eq!((rx1.frequency_hz, rx1.data_rate), (927_500_000, 12));

    // 500 kHz channel 65 = 904.6 MHz at DR4 (SF8/500), offset 1 → channel 1 = 923.9 MHz DR13.
    let uplink = [rx(1, 904_600_000, 8, 500_000, 5.0, -100)];
    let plan = plan_for(&uplink, &device, Region::Us915, 20, Duration::ZERO);
    let rx1 = ok(&plan.rx1);
    assert_eq!((rx1.frequency_hz, rx1.data_rate), (923_900_000, 13));
}

#[test]
fn an_uplink_off_the_us915_grid_falls_back_to_rx2() {
    let us = Region::Us915.params();
    let uplink = [rx(1, 903_950_000, 10, 125_000, 5.0, -100)];
    let plan = plan_for(
        &uplink,
        &DeviceRadio::defaults(us),
        Region::Us915,
        20,
        Duration::ZERO,
    );
    assert_eq!(plan.rx1, Err(DeliveryFailedCause::Rx2Selected));
    assert!(plan.rx2.is_ok());
}

#[test]
fn the_best_snr_then_rssi_among_allowed_gateways_sends() {
    let receptions = [
        rx(1, 868_100_000, 7, 125_000, 5.0, -90),
        rx(2, 868_100_000, 7, 125_000, 9.5, -110),
        rx(3, 868_100_000, 7, 125_000, 9.5, -100),
        rx(4, 868_100_000, 7, 125_000, 12.0, -80),
    ];
    let chosen = best_reception(&receptions, |g| g != gw(4)).map(|r| r.gateway);
    assert_eq!(chosen, Some(gw(3)));
    assert_eq!(best_reception(&receptions, |_| false), None);
    let eu = Region::Eu868.params();
    let request = ClassARequest {
        receptions: &receptions,
        device: &DeviceRadio::defaults(eu),
        region: eu,
        phy_len: 20,
        elapsed: Duration::ZERO,
        now: now(),
    };
    let ledger = DutyCycleLedger::new(Region::Eu868);
    let refused = plan_class_a(&request, &ClassAOptions::default(), &ledger, |_| false);
    assert_eq!(refused, Err(NoEligibleGateway));
    assert_eq!(NoEligibleGateway.cause().code(), "DD");
}

#[test]
fn lateness_skips_rx1_then_both_with_b0() {
    let margin = Duration::from_millis(50);
    let second = Duration::from_secs(1);
    assert_eq!(
        too_late(Duration::from_millis(949), second, margin),
        Lateness::InTime
    );
    assert_eq!(
        too_late(Duration::from_millis(950), second, margin),
        Lateness::TooLateForRx1
    );
    assert_eq!(
        too_late(Duration::from_millis(1950), second, margin),
        Lateness::TooLateForBoth
    );

    let eu = Region::Eu868.params();
    let device = DeviceRadio::defaults(eu);
    let uplink = [rx(1, 868_100_000, 7, 125_000, 5.0, -100)];
    let late = plan_for(
        &uplink,
        &device,
        Region::Eu868,
        20,
        Duration::from_millis(960),
    );
    assert_eq!(late.rx1, Err(DeliveryFailedCause::TooLate));
    assert!(late.rx2.is_ok());
    let report = late.report(&[(TransmissionSlot::Rx2, TxOutcome::Sent)]);
    assert_eq!(report.slot, TransmissionSlot::Rx2);
    assert_eq!((report.cause1_code(), report.cause2_code()), ("B0", "00"));
    let later = plan_for(&uplink, &device, Region::Eu868, 20, Duration::from_secs(2));
    assert_eq!(later.rx2, Err(DeliveryFailedCause::TooLate));
}

#[test]
fn a_roaming_device_s_long_rx1_delay_is_used() {
    let eu = Region::Eu868.params();
    let device = DeviceRadio {
        rx1_delay: Duration::from_secs(5),
        ..DeviceRadio::defaults(eu)
    };
    let uplink = [rx(1, 868_100_000, 7, 125_000, 5.0, -100)];
    let plan = plan_for(&uplink, &device, Region::Eu868, 20, Duration::from_secs(2));
    assert_eq!(ok(&plan.rx1).timing, TxTiming::AtCounter(6_000_000));
    assert_eq!(ok(&plan.rx2).timing, TxTiming::AtCounter(7_000_000));
    assert_eq!(
        DeviceRadio::rx1_delay_from_setting(0),
        Duration::from_secs(1)
    );
    assert_eq!(
        DeviceRadio::rx1_delay_from_setting(1),
        Duration::from_secs(1)
    );
    assert_eq!(
        DeviceRadio::rx1_delay_from_setting(15),
        Duration::from_secs(15)
    );
}

#[test]
fn the_counter_wraps() {
    let eu = Region::Eu868.params();
    let mut uplink = rx(1, 868_100_000, 7, 125_000, 5.0, -100);
    uplink.counter_us = u32::MAX - 99;
    let plan = plan_for(
        &[uplink],
        &DeviceRadio::defaults(eu),
        Region::Eu868,
        20,
        Duration::ZERO,
    );
    assert_eq!(ok(&plan.rx1).timing, TxTiming::AtCounter(999_900));
}

#[test]
fn a_frame_too_large_for_rx1_goes_to_rx2_with_c0() {
    let eu = Region::Eu868.params();
    // DR0 carries M = 59 bytes of MACPayload: a 70-byte PHYPayload (M = 65) does not fit.
    let uplink = [rx(1, 868_100_000, 12, 125_000, 5.0, -100)];
    let device = DeviceRadio {
        rx2_data_rate: 3,
        ..DeviceRadio::defaults(eu)
    };
    let plan1 = plan_for(&uplink, &device, Region::Eu868, 70, Duration::ZERO);
    assert_eq!(plan1.rx1, Err(DeliveryFailedCause::Rx2Selected));
    assert_eq!(ok(&plan1.rx2).data_rate, 3);
    assert_eq!(ok(&plan1.rx2).max_payload.m, 123);
    // 64 bytes = M 59 fits exactly.
    let plan2 = plan_for(&uplink, &device, Region::Eu868, 64, Duration::ZERO);
    assert!(plan2.rx1.is_ok());
    // Too large for both.
    let default = DeviceRadio::defaults(eu);
    let plan3 = plan_for(&uplink, &default, Region::Eu868, 70, Duration::ZERO);
    assert_eq!(plan3.rx2, Err(DeliveryFailedCause::MaxDwellTime));
}

#[test]
fn a_spent_rx1_band_is_refused_with_da() {
    let eu = Region::Eu868.params();
    let mut ledger = DutyCycleLedger::new(Region::Eu868);
    ledger.record(gw(1), 868_300_000, Duration::from_secs(36), now());
    let uplink = [rx(1, 868_100_000, 7, 125_000, 5.0, -100)];
    let plan = plan_with(
        &uplink,
        &DeviceRadio::defaults(eu),
        Region::Eu868,
        20,
        Duration::ZERO,
        &ClassAOptions::default(),
        &ledger,
    );
    assert_eq!(plan.rx1, Err(DeliveryFailedCause::DutyCycleNetworkServer));
    assert!(plan.rx2.is_ok(), "869.525 MHz is in another sub-band");
    let busy = TxOutcome::Refused(TxRefusal::CollisionPacket);
    let report = plan.report(&[(TransmissionSlot::Rx2, busy)]);
    assert_eq!((report.cause1_code(), report.cause2_code()), ("DA", "A3"));
    // A window skipped at planning time is reported only if it was needed.
    let mut spent_rx2 = DutyCycleLedger::new(Region::Eu868);
    spent_rx2.record(gw(1), 869_525_000, Duration::from_secs(360), now());
    let plan = plan_with(
        &uplink,
        &DeviceRadio::defaults(eu),
        Region::Eu868,
        20,
        Duration::ZERO,
        &ClassAOptions::default(),
        &spent_rx2,
    );
    assert_eq!(plan.rx2, Err(DeliveryFailedCause::DutyCycleNetworkServer));
    let report = plan.report(&[(TransmissionSlot::Rx1, TxOutcome::Sent)]);
    assert_eq!((report.cause1_code(), report.cause2_code()), ("00", "00"));
    let report = plan.report(&[(TransmissionSlot::Rx1, TxOutcome::NotConnected)]);
    assert_eq!((report.cause1_code(), report.cause2_code()), ("DD", "DA"));
}

#[test]
fn policies_can_select_rx2() {
    let eu = Region::Eu868.params();
    let device = DeviceRadio::defaults(eu);
    let uplink = [rx(1, 868_100_000, 12, 125_000, 5.0, -100)];
    let ledger = DutyCycleLedger::new(Region::Eu868);
    let rx2_only = ClassAOptions {
        windows: RxWindowPolicy::Rx2Only,
        ..ClassAOptions::default()
    };
    let only = plan_with(
        &uplink,
        &device,
        Region::Eu868,
        20,
        Duration::ZERO,
        &rx2_only,
        &ledger,
    );
    assert_eq!(only.rx1, Err(DeliveryFailedCause::Rx2Selected));
    let below = ClassAOptions {
        windows: RxWindowPolicy::Rx2WhenRx1DrBelow(2),
        power_dbm: Some(10),
        ..ClassAOptions::default()
    };
    let slow = plan_with(
        &uplink,
        &device,
        Region::Eu868,
        20,
        Duration::ZERO,
        &below,
        &ledger,
    );
    assert_eq!(slow.rx1, Err(DeliveryFailedCause::Rx2Selected));
    assert_eq!(ok(&slow.rx2).power_dbm, 10);
    let fast_uplink = [rx(1, 868_100_000, 7, 125_000, 5.0, -100)];
    let fast = plan_with(
        &fast_uplink,
        &device,
        Region::Eu868,
        20,
        Duration::ZERO,
        &below,
        &ledger,
    );
    assert!(fast.rx1.is_ok());
}

#[test]
fn the_400_ms_dwell_time_is_enforced_with_db() {
    let as923 = Region::As923_1.params();
    let device = DeviceRadio {
        downlink_dwell: DwellTime::Limit400ms,
        ..DeviceRadio::defaults(as923)
    };
    // DR2 uplink (SF10/125): with dwell time RX1 is DR2, M = 19: a 24-byte frame fits and
    // lasts 370.688 ms.
    let uplink = [rx(1, 923_200_000, 10, 125_000, 5.0, -100)];
    let fits = plan_for(&uplink, &device, Region::As923_1, 24, Duration::ZERO);
    assert_eq!(ok(&fits.rx1).data_rate, 2);
    assert_eq!(ok(&fits.rx1).time_on_air, Duration::from_micros(370_688));
    // RX2 at DR0 is not allowed at all under the dwell-time limit.
    let device = DeviceRadio {
        rx2_data_rate: 0,
        ..device
    };
    let refused = plan_for(&uplink, &device, Region::As923_1, 24, Duration::ZERO);
    assert_eq!(refused.rx2, Err(DeliveryFailedCause::MaxDwellTime));
}
