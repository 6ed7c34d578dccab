use super::*;

#[test]
fn names() {
    for (name, region) in [
        ("EU868", Region::Eu868),
        ("eu_863_870", Region::Eu868),
        ("US902", Region::Us915),
        ("US_902_928", Region::Us915),
        ("Australia915", Region::Au915),
        ("AU_915_928", Region::Au915),
        ("AS923", Region::As923_1),
        ("AS923-1", Region::As923_1),
        ("AS923-2", Region::As923_2),
        ("AS923_3", Region::As923_3),
        ("AS_923_4", Region::As923_4),
        ("KR920", Region::Kr920),
        ("RU_864_870", Region::Ru864),
    ] {
        assert_eq!(Region::from_name(name), Ok(region), "{name}");
    }
    assert!(Region::from_name("XX123").is_err());
    for region in Region::ALL {
        assert_eq!(region.name().parse::<Region>(), Ok(region));
        assert_eq!(Region::from_name(region.band_id()), Ok(region));
        assert_eq!(region.params().region, region);
    }
}

#[test]
fn dr_lookup_both_ways() {
    let us = Region::Us915.params();
    let sf8_500 = Modulation::Lora {
        spreading_factor: 8,
        bandwidth_hz: 500_000,
    };
    assert_eq!(us.dr_for(sf8_500, Direction::Uplink), Some(4));
    assert_eq!(us.dr_for(sf8_500, Direction::Downlink), Some(12));
    assert_eq!(us.data_rate(7), None);
    let eu = Region::Eu868.params();
    assert_eq!(
        eu.dr_for(Modulation::Fsk { bitrate: 50_000 }, Direction::Downlink),
        Some(7)
    );
}

#[test]
fn as923_dwell_and_offsets() {
    let as1 = Region::As923_1.params();
    assert_eq!(as1.rx1_dr_offsets(), 8);
    assert_eq!(as1.rx1_data_rate(0, 0, DwellTime::Limit400ms), Some(2));
    assert_eq!(as1.rx1_data_rate(5, 7, DwellTime::NoLimit), Some(7));
    assert_eq!(
        as1.max_payload(0, DwellTime::Limit400ms, Repeater::NotCompatible),
        None
    );
    assert_eq!(
        as1.max_payload(2, DwellTime::Limit400ms, Repeater::NotCompatible),
        Some(MaxPayload { m: 19, n: 11 })
    );
    assert_eq!(
        Region::As923_2.params().rx2_default().frequency,
        921_400_000
    );
    assert_eq!(
        Region::As923_3.params().uplink_channels[0].frequency,
        916_600_000
    );
    assert_eq!(
        Region::As923_4.params().uplink_channels[1].frequency,
        917_500_000
    );
}

#[test]
fn repeater_caps_at_230() {
    let eu = Region::Eu868.params();
    assert_eq!(
        eu.max_payload(5, DwellTime::NoLimit, Repeater::Compatible),
        Some(MaxPayload { m: 230, n: 222 })
    );
    assert_eq!(
        eu.max_payload(0, DwellTime::NoLimit, Repeater::Compatible),
        Some(MaxPayload { m: 59, n: 51 })
    );
}

#[test]
fn us915_rx1_is_uplink_channel_mod_8() {
    let us = Region::Us915.params();
    assert_eq!(us.rx1_channel(9), 1);
    // Channel 9 = 904.1 MHz → downlink channel 1 = 923.9 MHz.
    assert_eq!(us.rx1_frequency(904_100_000), Some(923_900_000));
    // Channel 65 (500 kHz) = 904.6 MHz → downlink channel 1.
    assert_eq!(us.rx1_frequency(904_600_000), Some(923_900_000));
    assert_eq!(us.rx1_frequency(904_150_000), None);
    let eu = Region::Eu868.params();
    assert_eq!(eu.rx1_frequency(868_300_000), Some(868_300_000));
}

#[test]
fn tx_power() {
    let eu = Region::Eu868.params();
    assert_eq!(eu.tx_power_eirp(0), Some(16.0));
    assert_eq!(eu.tx_power_eirp(7), Some(2.0));
    assert_eq!(eu.tx_power_eirp(8), None);
    assert_eq!(Region::Us915.params().tx_power_eirp(14), Some(2.0));
}

#[test]
fn link_adr_dynamic() {
    let eu = Region::Eu868.params();
    let defined = ChannelMask::first(8);
    let all = eu
        .apply_link_adr(6, 0, ChannelMask::EMPTY, defined)
        .unwrap();
    assert_eq!(all, defined);
    let some = eu.apply_link_adr(0, 0b101, all, defined).unwrap();
    assert_eq!(some.indices().collect::<Vec<_>>(), [0, 2]);
    assert_eq!(
        eu.apply_link_adr(0, 1 << 9, all, defined),
        Err(RegionError::UndefinedChannel(9))
    );
    assert_eq!(
        eu.apply_link_adr(3, 0, all, defined),
        Err(RegionError::UnsupportedChMaskCntl(3))
    );
    assert_eq!(
        eu.apply_link_adr_block(&[(0, 0)], all, defined),
        Err(RegionError::NoChannelEnabled)
    );
    assert_eq!(eu.link_adr_masks(some).unwrap(), [(0, 0b101)]);
}

#[test]
fn link_adr_fixed_plan() {
    let us = Region::Us915.params();
    let all = ChannelMask::first(72);
    // Sub-band 2 (channels 8..15) + 500 kHz channel 65, the usual TTN / Helium setting.
    let fsb2 = ChannelMask::range(8, 16).with(65, true);
    let masks = us.link_adr_masks(fsb2).unwrap();
    assert_eq!(masks, [(7, 0b10), (0, 0xff00)]);
    assert_eq!(us.apply_link_adr_block(&masks, all, all), Ok(fsb2));
    assert_eq!(us.apply_link_adr(5, 0b10, all, all), Ok(fsb2));
    assert_eq!(us.apply_link_adr(6, 0xff, ChannelMask::EMPTY, all), Ok(all));
    assert_eq!(
        us.apply_link_adr(4, 0x0f, all, all).unwrap(),
        ChannelMask::first(68)
    );
    assert_eq!(us.link_adr_masks(all).unwrap(), [(6, 0xff)]);
    assert_eq!(
        us.link_adr_masks(ChannelMask::first(73)),
        Err(RegionError::UndefinedChannel(72))
    );
}

#[test]
fn cflists() {
    let eu = Region::Eu868.params();
    let cf = eu
        .cflist_frequencies(&[
            867_100_000,
            867_300_000,
            867_500_000,
            867_700_000,
            867_900_000,
        ])
        .unwrap();
    let bytes = cf.encode().unwrap();
    assert_eq!(
        hex(&bytes),
        "18 4f 84 e8 56 84 b8 5e 84 88 66 84 58 6e 84 00"
    );
    assert_eq!(CfList::decode(bytes), cf);
    assert!(eu.cflist_channel_mask(ChannelMask::first(8)).is_err());

    let us = Region::Us915.params();
    let cf = us
        .cflist_channel_mask(ChannelMask::range(8, 16).with(65, true))
        .unwrap();
    let bytes = cf.encode().unwrap();
    assert_eq!(
        hex(&bytes),
        "00 ff 00 00 00 00 00 00 02 00 00 00 00 00 00 01"
    );
    assert_eq!(CfList::decode(bytes), cf);
    assert_eq!(cf.cf_list_type(), Some(CfListType::ChannelMask));

    let mut odd = [0u8; 16];
    odd[15] = 7;
    assert_eq!(CfList::decode(odd).encode().unwrap(), odd);
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

mod properties {
    use proptest::prelude::*;

    use super::super::*;

    proptest! {
        #[test]
        fn link_adr_masks_reach_the_wanted_channels(bits in any::<u128>(), start in any::<u128>()) {
            for region in [Region::Us915, Region::Au915] {
                let p = region.params();
                let all = ChannelMask::first(72);
                let wanted = ChannelMask::from_bits(bits).intersection(all);
                let current = ChannelMask::from_bits(start).intersection(all);
                if wanted.is_empty() {
                    continue;
                }
                let masks = p.link_adr_masks(wanted).unwrap();
                prop_assert!(masks.len() <= 5);
                prop_assert_eq!(p.apply_link_adr_block(&masks, current, all), Ok(wanted));
            }
        }

        #[test]
        fn dynamic_link_adr_masks_round_trip(bits in 1u16.., defined in any::<u16>()) {
            let p = Region::Eu868.params();
            let defined = ChannelMask::from_bits(u128::from(defined | bits));
            let wanted = ChannelMask::from_bits(u128::from(bits));
            let masks = p.link_adr_masks(wanted).unwrap();
            prop_assert_eq!(p.apply_link_adr_block(&masks, defined, defined), Ok(wanted));
        }

        #[test]
        fn cflist_decode_encode_is_identity_on_canonical_bytes(bytes in any::<[u8; 16]>()) {
            let decoded = CfList::decode(bytes);
            let encoded = decoded.encode().unwrap();
            prop_assert_eq!(CfList::decode(encoded), decoded);
        }
    }
}
