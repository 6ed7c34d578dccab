//! Cross-checks of the regional tables against two independent implementations:
//! The Things Stack's golden band files (`vectors/regions/<BAND>_RP002_V1_0_4.json`, read as
//! plain JSON) and ChirpStack's `lrwn` 4.13 `region` module.
//!
//! Known, documented disagreement: lrwn caps the AS923 RX1 data rate at DR5 (pre-RP002-1.0.4
//! text); TTS and we follow RP002-1.0.4 (cap DR7), so against lrwn our AS923 RX1 data
//! rate is compared capped at DR5. lrwn's N (max FRMPayload) column has a few typos, so only M is compared with it.

use lorawan::mac::Direction;
use lorawan::region::{
    CfListType, ChannelPlan, DwellTime, LrFhssCodingRate, Modulation, Region, RegionParams,
    Repeater,
};
use lrwn::region::{self as lr, CommonName, MacVersion, Revision};
use serde_json::Value;

mod common;

fn tts_band(region: Region) -> Value {
    common::load(&format!("regions/{}_RP002_V1_0_4.json", region.band_id()))
}

fn int(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("integer expected, got {v}"))
}

fn tts_modulation(rate: &Value) -> Modulation {
    if let Some(lora) = rate.get("lora") {
        assert_eq!(lora["coding_rate"], "4/5");
        Modulation::Lora {
            spreading_factor: int(&lora["spreading_factor"]) as u8,
            bandwidth_hz: int(&lora["bandwidth"]) as u32,
        }
    } else if let Some(fsk) = rate.get("fsk") {
        Modulation::Fsk {
            bitrate: int(&fsk["bit_rate"]) as u32,
        }
    } else if let Some(lr) = rate.get("lrfhss") {
        Modulation::LrFhss {
            occupied_channel_width_hz: int(&lr["operating_channel_width"]) as u32,
            coding_rate: match lr["coding_rate"].as_str() {
                Some("1/3") => LrFhssCodingRate::OneThird,
                Some("2/3") => LrFhssCodingRate::TwoThirds,
                other => panic!("LR-FHSS coding rate {other:?}"),
            },
        }
    } else {
        panic!("unknown modulation {rate}")
    }
}

fn m(p: &RegionParams, dr: u8, dwell: DwellTime) -> u64 {
    p.max_payload(dr, dwell, Repeater::NotCompatible)
        .map_or(0, |mp| u64::from(mp.m))
}

/// Compares one region with its TTS band file; returns the number of values compared.
fn compare_with_tts(region: Region) -> usize {
    let p = region.params();
    let band = tts_band(region);
    let mut compared = 0;

    // Data rates, modulation and max MACPayload size (false / true = dwell time).
    let drs = band["DataRates"].as_object().unwrap();
    for (key, entry) in drs {
        let dr: u8 = key.parse().unwrap();
        let ours = p
            .data_rate(dr)
            .unwrap_or_else(|| panic!("{region} DR{dr} missing"));
        assert_eq!(
            ours.modulation,
            tts_modulation(&entry["Rate"]),
            "{region} DR{dr}"
        );
        let size = &entry["MaxMACPayloadSize"];
        assert_eq!(
            m(p, dr, DwellTime::NoLimit),
            int(&size["false"]),
            "{region} DR{dr} M"
        );
        assert_eq!(
            m(p, dr, DwellTime::Limit400ms),
            int(&size["true"]),
            "{region} DR{dr} M dwell"
        );
        compared += 4;
    }
    let ours_defined = p.data_rates.iter().filter(|d| d.is_some()).count();
    assert_eq!(ours_defined, drs.len(), "{region}: number of data rates");

    // RX1 data rate: keys "<uplink dr>_<offset>_<dwell>", for every DR and offset we define.
    let rx1 = band["Rx1DataRate"].as_object().unwrap();
    for (dr, rate) in p.data_rates.iter().enumerate() {
        let Some(rate) = rate else { continue };
        if !rate.usage.allows(Direction::Uplink) {
            continue;
        }
        for offset in 0..p.rx1_dr_offsets() {
            for (dwell, name) in [
                (DwellTime::NoLimit, "false"),
                (DwellTime::Limit400ms, "true"),
            ] {
                let key = format!("{dr}_{offset}_{name}");
                // TTS omits the dwell-time rows where a region has no downlink dwell time.
                let Some(want) = rx1
                    .get(&key)
                    .or_else(|| rx1.get(&format!("{dr}_{offset}_false")))
                else {
                    panic!("{region}: TTS has no Rx1DataRate {key}");
                };
                let ours = p.rx1_data_rate(dr as u8, offset as u8, dwell);
                assert_eq!(ours.map(u64::from), Some(int(want)), "{region} RX1 {key}");
                compared += 1;
            }
        }
    }

    // Default channels.
    let channels = |v: &Value| -> Vec<(u64, u64, u64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    int(&c["Frequency"]),
                    int(&c["MinDataRate"]),
                    int(&c["MaxDataRate"]),
                )
            })
            .collect()
    };
    let ours_up: Vec<_> = p
        .default_uplink_channels()
        .iter()
        .map(|c| {
            (
                u64::from(c.frequency),
                u64::from(c.min_dr),
                u64::from(c.max_dr),
            )
        })
        .collect();
    assert_eq!(
        ours_up,
        channels(&band["UplinkChannels"]),
        "{region} uplink channels"
    );
    let tts_down = channels(&band["DownlinkChannels"]);
    let ours_down: Vec<_> = p
        .downlink_channels
        .iter()
        .map(|c| {
            (
                u64::from(c.frequency),
                u64::from(c.min_dr),
                u64::from(c.max_dr),
            )
        })
        .collect();
    assert_eq!(ours_down, tts_down, "{region} downlink channels");
    assert_eq!(
        p.max_uplink_channels as u64,
        int(&band["MaxUplinkChannels"])
    );
    compared += ours_up.len() + ours_down.len() + 1;

    // RX1 channel mapping (TTS lists 0..255).
    let rx1_channel = band["Rx1Channel"].as_object().unwrap();
    for i in 0..p.max_uplink_channels {
        assert_eq!(
            p.rx1_channel(i) as u64,
            int(&rx1_channel[&i.to_string()]),
            "{region} ch{i}"
        );
        compared += 1;
    }

    // RX2 defaults, CFList type, TX power, TxParamSetupReq, EIRP.
    let rx2 = p.rx2_default();
    assert_eq!(
        u64::from(rx2.frequency),
        int(&band["DefaultRx2Parameters"]["Frequency"])
    );
    assert_eq!(
        u64::from(rx2.data_rate),
        int(&band["DefaultRx2Parameters"]["DataRateIndex"])
    );
    let cflist = match p.cflist_type() {
        CfListType::Frequencies => "FREQUENCIES",
        CfListType::ChannelMask => "CHANNEL_MASKS",
    };
    assert_eq!(band["CFListType"], cflist, "{region}");
    let offsets: Vec<i64> = band["TxOffset"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let ours: Vec<i64> = p
        .tx_power_offsets_db
        .iter()
        .map(|&o| i64::from(o))
        .collect();
    assert_eq!(ours, offsets, "{region} TX power offsets");
    assert_eq!(band["TxParamSetupReqSupport"], p.tx_param_setup, "{region}");
    let eirp = band["DefaultMaxEIRP"].as_f64().unwrap();
    assert!(
        (f64::from(p.default_max_eirp_dbm) - eirp).abs() < 1e-6,
        "{region} EIRP"
    );
    compared += 7;

    // Class B.
    assert_eq!(
        u64::from(p.beacon_data_rate),
        int(&band["Beacon"]["DataRateIndex"])
    );
    let freqs = |v: &Value| -> Vec<u64> { v.as_array().unwrap().iter().map(int).collect() };
    let ours: Vec<u64> = p.beacon_frequencies.iter().map(|&f| u64::from(f)).collect();
    assert_eq!(
        ours,
        freqs(&band["Beacon"]["Frequencies"]),
        "{region} beacon"
    );
    let ours: Vec<u64> = p
        .ping_slot_frequencies
        .iter()
        .map(|&f| u64::from(f))
        .collect();
    assert_eq!(
        ours,
        freqs(&band["PingSlotFrequencies"]),
        "{region} ping slot"
    );
    compared += 3;

    // Delays (nanoseconds in TTS).
    let shared = &band["SharedParameters"];
    let delays = p.delays();
    assert_eq!(
        delays.receive_delay1.as_nanos(),
        u128::from(int(&shared["ReceiveDelay1"]))
    );
    assert_eq!(
        delays.receive_delay2.as_nanos(),
        u128::from(int(&shared["ReceiveDelay2"]))
    );
    assert_eq!(
        delays.join_accept_delay1.as_nanos(),
        u128::from(int(&shared["JoinAcceptDelay1"]))
    );
    assert_eq!(
        delays.join_accept_delay2.as_nanos(),
        u128::from(int(&shared["JoinAcceptDelay2"]))
    );
    assert_eq!(
        u64::from(lorawan::fcnt::MAX_FCNT_GAP),
        int(&shared["MaxFCntGap"])
    );
    compared += 5;

    compared
}

#[test]
fn every_region_matches_the_things_stack() {
    let mut total = 0;
    for region in Region::ALL {
        let n = compare_with_tts(region);
        assert!(n > 40, "{region}: only {n} values compared");
        total += n;
    }
    assert!(total > 1000, "compared {total} values");
}

fn lrwn_name(region: Region) -> CommonName {
    match region {
        Region::Eu868 => CommonName::EU868,
        Region::Us915 => CommonName::US915,
        Region::Au915 => CommonName::AU915,
        Region::As923_1 => CommonName::AS923,
        Region::As923_2 => CommonName::AS923_2,
        Region::As923_3 => CommonName::AS923_3,
        Region::As923_4 => CommonName::AS923_4,
        Region::Kr920 => CommonName::KR920,
        Region::Ru864 => CommonName::RU864,
        Region::Eu433 => CommonName::EU433,
    }
}

fn lrwn_modulation(m: &lr::DataRateModulation) -> Modulation {
    match m {
        lr::DataRateModulation::Lora(l) => Modulation::Lora {
            spreading_factor: l.spreading_factor,
            bandwidth_hz: l.bandwidth,
        },
        lr::DataRateModulation::Fsk(f) => Modulation::Fsk { bitrate: f.bitrate },
        lr::DataRateModulation::LrFhss(l) => Modulation::LrFhss {
            occupied_channel_width_hz: l.occupied_channel_width,
            // lrwn writes 1/3 as "2/6" and 2/3 as "4/6".
            coding_rate: match l.coding_rate.as_str() {
                "1/3" | "2/6" => LrFhssCodingRate::OneThird,
                "2/3" | "4/6" => LrFhssCodingRate::TwoThirds,
                other => panic!("lrwn LR-FHSS coding rate {other}"),
            },
        },
    }
}

#[test]
fn every_region_matches_lrwn() {
    for region in Region::ALL {
        let p = region.params();
        let is_as923 = p.rx1_dr_offsets() == 8;
        for (repeater, dwell) in [
            (Repeater::NotCompatible, DwellTime::NoLimit),
            (Repeater::Compatible, DwellTime::NoLimit),
            (Repeater::NotCompatible, DwellTime::Limit400ms),
            (Repeater::Compatible, DwellTime::Limit400ms),
        ] {
            // lrwn applies the dwell time only where the band has one.
            let band_has_dwell = matches!(region, Region::Au915) || is_as923;
            if dwell == DwellTime::Limit400ms && !band_has_dwell {
                continue;
            }
            let theirs = lr::get(
                lrwn_name(region),
                repeater == Repeater::Compatible,
                dwell == DwellTime::Limit400ms,
            );
            for dr in 0..16u8 {
                let ours = p.data_rate(dr);
                match theirs.get_data_rate(dr) {
                    Ok(m) => assert_eq!(
                        ours.map(|d| d.modulation),
                        Some(lrwn_modulation(&m)),
                        "{region} DR{dr}"
                    ),
                    Err(_) => assert!(ours.is_none(), "{region} DR{dr} unknown to lrwn"),
                }
                if let Ok(size) =
                    theirs.get_max_payload_size(MacVersion::Latest, Revision::Latest, dr)
                {
                    // M only: lrwn's N column has typos (EU868 DR4 and AU915 DR10 say
                    // N = 222 or 250 for M = 250); ours is always M - 8.
                    let ours = p.max_payload(dr, dwell, repeater).map_or(0, |mp| mp.m);
                    assert_eq!(
                        usize::from(ours),
                        size.m,
                        "{region} DR{dr} {repeater:?} {dwell:?}"
                    );
                }
                // RX1 data rate; lrwn caps AS923 at DR5 (see the module comment), so our
                // AS923 value is compared capped at 5 too.
                let uplink = ours.is_some_and(|d| d.usage.allows(Direction::Uplink));
                for offset in 0..p.rx1_dr_offsets() {
                    if let (true, Ok(theirs)) = (uplink, theirs.get_rx1_data_rate_index(dr, offset))
                    {
                        let ours = p.rx1_data_rate(dr, offset as u8, dwell).map(|rx1| {
                            if is_as923 {
                                rx1.min(5)
                            } else {
                                rx1
                            }
                        });
                        assert_eq!(ours, Some(theirs), "{region} RX1 DR{dr} offset {offset}");
                    }
                }
            }
            let defaults = theirs.get_defaults();
            assert_eq!(
                p.rx2_default().frequency,
                defaults.rx2_frequency,
                "{region}"
            );
            assert_eq!(p.rx2_default().data_rate, defaults.rx2_dr, "{region}");
            assert_eq!(p.delays().receive_delay1, defaults.rx1_delay);
            assert_eq!(p.delays().join_accept_delay2, defaults.join_accept_delay2);
            for (i, c) in p.default_uplink_channels().iter().enumerate() {
                let channel = theirs.get_uplink_channel(i).unwrap();
                assert_eq!(
                    (c.frequency, c.min_dr, c.max_dr),
                    (channel.frequency, channel.min_dr, channel.max_dr),
                    "{region} ch{i}"
                );
                if p.plan == ChannelPlan::Fixed72 {
                    let rx1 = theirs_rx1(&*theirs, c.frequency);
                    assert_eq!(p.rx1_frequency(c.frequency), rx1, "{region} ch{i} RX1");
                }
            }
            for (i, &offset) in p.tx_power_offsets_db.iter().enumerate() {
                // lrwn stops at TXPower 10 for US915 / AU915 (RP002-1.0.4 and TTS go to 14).
                if let Ok(theirs) = theirs.get_tx_power_offset(i) {
                    assert_eq!(theirs, offset as isize, "{region} TXPower {i}");
                }
            }
        }
    }
}

fn theirs_rx1(region: &(dyn lr::Region + Sync + Send), uplink_frequency: u32) -> Option<u32> {
    region
        .get_rx1_frequency_for_uplink_frequency(uplink_frequency)
        .ok()
}
