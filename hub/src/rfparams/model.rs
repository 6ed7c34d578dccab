//! An RF parameter set (ThingPark Exchange's "RF Region", TS002 1.1's RFParamSet) and its
//! validation against the regional parameters of `crates/lorawan` (RP002-1.0.4).
//!
//! Plain data: the JSON of the control API and the TOML of the members file have the same
//! shape (see the [module documentation](super) for an example). [`validate_sets`] checks a
//! member's whole list and names every problem with the path of its field.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use backend::header::ProtocolVersion;
use lorawan::crypto::Direction;
use lorawan::region::{LrFhssCodingRate, Modulation as RegionModulation, Region, RegionParams};
use serde::{Deserialize, Serialize};

/// Most sets one member may have.
pub const MAX_SETS: usize = 32;
/// Longest RFParamSetID.
pub const MAX_ID_LEN: usize = 64;

/// One RF parameter set of a network server: the radio plan its gateways use in a region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RfParamSet {
    /// The RP002 region (`EU868`, `US915`, `AS923-1`, …; any spelling `Region::from_name`
    /// takes; stored and served as the canonical name).
    pub region: String,
    /// TS002 1.1 RFParamSetID: tells apart several sets of one member in one region. A label
    /// only for a TS002 1.0 member (1.0 messages carry the region alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rf_param_set_id: Option<String>,
    /// The uplink channels.
    pub channels: Vec<ChannelDef>,
    /// The data rates the set uses. Optional: when omitted, the region's own table is meant
    /// (RP002 fixes what each index is; a set may only restate it, never redefine it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_rates: Option<Vec<DataRateDef>>,
    /// The RX2 window.
    pub rx2: Rx2Def,
    /// RX1DROffset the network uses (optional; must be one the region defines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx1_dr_offset: Option<u8>,
    /// Maximum EIRP in dBm (optional; 0..=36).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_eirp_dbm: Option<f32>,
}

/// An uplink channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelDef {
    /// Centre frequency in Hz.
    pub frequency_hz: u32,
    /// Lowest data-rate index.
    pub min_dr: u8,
    /// Highest data-rate index.
    pub max_dr: u8,
}

/// A data rate of a set: its index and modulation (which must be the region's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataRateDef {
    /// The data-rate index.
    pub index: u8,
    /// What it is.
    pub modulation: Modulation,
}

/// A modulation, as written in sets: `{"type": "lora", "spreading_factor": 12,
/// "bandwidth_khz": 125}`, `{"type": "fsk", "bitrate": 50000}` or `{"type": "lr-fhss",
/// "occupied_channel_width_khz": 137, "coding_rate": "1/3"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Modulation {
    /// LoRa.
    Lora {
        /// Spreading factor.
        spreading_factor: u8,
        /// Bandwidth in kHz (125, 250, 500).
        bandwidth_khz: u32,
    },
    /// (G)FSK.
    Fsk {
        /// Bit rate in bit/s.
        bitrate: u32,
    },
    /// LR-FHSS.
    LrFhss {
        /// Occupied channel width in kHz (rounded down from the region's Hz).
        occupied_channel_width_khz: u32,
        /// `1/3` or `2/3`.
        coding_rate: CodingRate,
    },
}

/// The coding rate of an LR-FHSS data rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CodingRate {
    /// 1/3.
    #[serde(rename = "1/3")]
    OneThird,
    /// 2/3.
    #[serde(rename = "2/3")]
    TwoThirds,
}

impl fmt::Display for CodingRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OneThird => "1/3",
            Self::TwoThirds => "2/3",
        })
    }
}

impl Modulation {
    /// The modulation of a region's data-rate table, as written in sets.
    pub fn of_region(modulation: RegionModulation) -> Self {
        match modulation {
            RegionModulation::Lora {
                spreading_factor,
                bandwidth_hz,
            } => Self::Lora {
                spreading_factor,
                bandwidth_khz: bandwidth_hz / 1000,
            },
            RegionModulation::Fsk { bitrate } => Self::Fsk { bitrate },
            RegionModulation::LrFhss {
                occupied_channel_width_hz,
                coding_rate,
            } => Self::LrFhss {
                occupied_channel_width_khz: occupied_channel_width_hz / 1000,
                coding_rate: match coding_rate {
                    LrFhssCodingRate::OneThird => CodingRate::OneThird,
                    LrFhssCodingRate::TwoThirds => CodingRate::TwoThirds,
                },
            },
        }
    }
}

/// The RX2 window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rx2Def {
    /// Frequency in Hz.
    pub frequency_hz: u32,
    /// Data-rate index.
    pub dr: u8,
}

/// A problem of a list of sets: the field (`[1].channels[0].frequency_hz`) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetProblem {
    /// The JSON path of the field, from the list (`[i]…`); empty for the list itself.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for SetProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}

/// The frequency range of a region's band in Hz (RP002-1.0.4 §2.x.1; for AS923 the widest
/// range of the AS923 groups). `crates/lorawan` has the channel tables but not the band
/// edges, so they are here.
pub fn band_hz(region: Region) -> (u32, u32) {
    match region {
        Region::Eu868 => (863_000_000, 870_000_000),
        Region::Us915 => (902_000_000, 928_000_000),
        Region::Au915 => (915_000_000, 928_000_000),
        Region::As923_1 | Region::As923_2 | Region::As923_3 | Region::As923_4 => {
            (915_000_000, 928_000_000)
        }
        Region::Kr920 => (920_900_000, 923_300_000),
        Region::Ru864 => (864_000_000, 870_000_000),
        Region::Eu433 => (433_175_000, 434_665_000),
    }
}

impl RfParamSet {
    /// The data rates in force: the listed ones, or (when none are listed) the region's
    /// entries for every index a channel or RX2 uses. Empty for an unknown region.
    pub fn effective_data_rates(&self) -> Vec<DataRateDef> {
        if let Some(listed) = &self.data_rates {
            return listed.clone();
        }
        let Ok(region) = Region::from_name(&self.region) else {
            return Vec::new();
        };
        let params = region.params();
        let used: BTreeSet<u8> = self
            .channels
            .iter()
            .flat_map(|c| c.min_dr..=c.max_dr)
            .chain([self.rx2.dr])
            .collect();
        used.into_iter()
            .filter_map(|index| {
                let rate = params.data_rate(index)?;
                Some(DataRateDef {
                    index,
                    modulation: Modulation::of_region(rate.modulation),
                })
            })
            .collect()
    }

    /// How the set is named in messages: `EU868` or `EU868/my-id`.
    pub fn label(&self) -> String {
        match &self.rf_param_set_id {
            Some(id) => format!("{}/{id}", self.region),
            None => self.region.clone(),
        }
    }
}

/// Checks a member's whole list of sets for a member speaking `protocol`, and returns it
/// with region names made canonical; or every problem. A TS002 1.0 member's sets must be
/// told apart by region alone (1.0 has no RFParamSetID): one set per region. A 1.1 member
/// may have several sets in a region if each has its own RFParamSetID.
pub fn validate_sets(
    protocol: &ProtocolVersion,
    sets: Vec<RfParamSet>,
) -> Result<Vec<RfParamSet>, Vec<SetProblem>> {
    let mut problems = Vec::new();
    let mut push = |field: String, reason: String| problems.push(SetProblem { field, reason });
    if sets.len() > MAX_SETS {
        push(
            String::new(),
            format!("{} sets: at most {MAX_SETS} per member", sets.len()),
        );
    }
    let mut out = Vec::with_capacity(sets.len());
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_region: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
    for (i, mut set) in sets.into_iter().enumerate() {
        let at = |field: &str| format!("[{i}].{field}");
        if let Some(id) = &set.rf_param_set_id {
            if let Some(reason) = id_problem(id) {
                push(at("rf_param_set_id"), reason);
            } else if let Some(first) = ids.insert(id.clone(), i) {
                push(
                    at("rf_param_set_id"),
                    format!("{id:?} is already the RFParamSetID of set [{first}]"),
                );
            }
        }
        let region = match Region::from_name(&set.region) {
            Ok(region) => region,
            Err(_) => {
                let known: Vec<&str> = Region::ALL.iter().map(|r| r.name()).collect();
                push(
                    at("region"),
                    format!(
                        "{:?} is not a supported region ({})",
                        set.region,
                        known.join(", ")
                    ),
                );
                out.push(set);
                continue;
            }
        };
        set.region = region.name().to_owned();
        per_region.entry(region.name()).or_default().push(i);
        for problem in set_problems(&set, region.params()) {
            push(at(&problem.field), problem.reason);
        }
        out.push(set);
    }
    for (region, indexes) in per_region.iter().filter(|(_, v)| v.len() > 1) {
        let list = indexes
            .iter()
            .map(|i| format!("[{i}]"))
            .collect::<Vec<_>>()
            .join(", ");
        match protocol {
            ProtocolVersion::V1_0 => push(
                format!("[{}].region", indexes[1]),
                format!(
                    "sets {list} are all {region}: a TS002 1.0 member's sets are told apart by \
                     region alone (1.0 has no RFParamSetID), so one set per region"
                ),
            ),
            _ => {
                for &i in indexes {
                    if out.get(i).is_some_and(|s| s.rf_param_set_id.is_none()) {
                        push(
                            format!("[{i}].rf_param_set_id"),
                            format!(
                                "sets {list} are all {region}: each needs an RFParamSetID to be \
                                 told apart"
                            ),
                        );
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn id_problem(id: &str) -> Option<String> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Some(format!("must be 1 to {MAX_ID_LEN} characters"));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Some(format!(
            "{id:?}: only letters, digits, '-', '_', '.' and ':' are allowed"
        ));
    }
    None
}

/// The problems of one set in its region (field paths relative to the set).
fn set_problems(set: &RfParamSet, params: &RegionParams) -> Vec<SetProblem> {
    let mut problems = Vec::new();
    let mut push = |field: String, reason: String| problems.push(SetProblem { field, reason });
    let region = params.region;
    let (low, high) = band_hz(region);
    let in_band = |hz: u32| (low..=high).contains(&hz);
    let band = format!("{region} band {low}..={high} Hz");
    let listed: Option<BTreeSet<u8>> = set
        .data_rates
        .as_ref()
        .map(|rates| rates.iter().map(|r| r.index).collect());
    // A DR usable in `direction`: defined by the region for it, and listed when the set lists.
    let dr_problem = |dr: u8, direction: Direction| -> Option<String> {
        let Some(rate) = params.data_rate(dr) else {
            return Some(format!("DR{dr} is not defined in {region}"));
        };
        if !rate.usage.allows(direction) {
            let way = match direction {
                Direction::Uplink => "uplink",
                Direction::Downlink => "downlink",
            };
            return Some(format!("DR{dr} is not a {way} data rate in {region}"));
        }
        match &listed {
            Some(listed) if !listed.contains(&dr) => {
                Some(format!("DR{dr} is not among the set's data_rates"))
            }
            _ => None,
        }
    };

    if set.channels.is_empty() {
        push("channels".into(), "at least one channel".into());
    }
    if set.channels.len() > params.max_uplink_channels {
        push(
            "channels".into(),
            format!(
                "{} channels: {region} has at most {}",
                set.channels.len(),
                params.max_uplink_channels
            ),
        );
    }
    let mut frequencies = BTreeMap::new();
    for (c, channel) in set.channels.iter().enumerate() {
        let at = |field: &str| format!("channels[{c}].{field}");
        if !in_band(channel.frequency_hz) {
            push(
                at("frequency_hz"),
                format!("{} Hz is outside the {band}", channel.frequency_hz),
            );
        }
        if let Some(first) = frequencies.insert(channel.frequency_hz, c) {
            push(
                at("frequency_hz"),
                format!("{} Hz is already channel [{first}]", channel.frequency_hz),
            );
        }
        if channel.min_dr > channel.max_dr {
            push(
                at("min_dr"),
                format!(
                    "min_dr {} is above max_dr {}",
                    channel.min_dr, channel.max_dr
                ),
            );
        }
        for (field, dr) in [("min_dr", channel.min_dr), ("max_dr", channel.max_dr)] {
            if let Some(reason) = dr_problem(dr, Direction::Uplink) {
                push(at(field), reason);
            }
        }
    }
    if let Some(rates) = &set.data_rates {
        let mut seen = BTreeSet::new();
        for (d, rate) in rates.iter().enumerate() {
            let at = |field: &str| format!("data_rates[{d}].{field}");
            if !seen.insert(rate.index) {
                push(at("index"), format!("DR{} is listed twice", rate.index));
            }
            match params.data_rate(rate.index) {
                None => push(
                    at("index"),
                    format!("DR{} is not defined in {region}", rate.index),
                ),
                Some(defined) => {
                    let expected = Modulation::of_region(defined.modulation);
                    if expected != rate.modulation {
                        push(
                            at("modulation"),
                            format!(
                                "DR{} in {region} is {}, not {}",
                                rate.index,
                                describe(&expected),
                                describe(&rate.modulation)
                            ),
                        );
                    }
                }
            }
        }
    }
    if !in_band(set.rx2.frequency_hz) {
        push(
            "rx2.frequency_hz".into(),
            format!("{} Hz is outside the {band}", set.rx2.frequency_hz),
        );
    }
    if let Some(reason) = dr_problem(set.rx2.dr, Direction::Downlink) {
        push("rx2.dr".into(), reason);
    }
    if let Some(offset) = set.rx1_dr_offset {
        if usize::from(offset) >= params.rx1_dr_offsets() {
            push(
                "rx1_dr_offset".into(),
                format!(
                    "{offset}: {region} defines RX1DROffset 0..={}",
                    params.rx1_dr_offsets().saturating_sub(1)
                ),
            );
        }
    }
    if let Some(eirp) = set.max_eirp_dbm {
        if !(0.0..=36.0).contains(&eirp) {
            push("max_eirp_dbm".into(), format!("{eirp} dBm: must be 0..=36"));
        }
    }
    problems
}

fn describe(modulation: &Modulation) -> String {
    match modulation {
        Modulation::Lora {
            spreading_factor,
            bandwidth_khz,
        } => format!("LoRa SF{spreading_factor}/{bandwidth_khz} kHz"),
        Modulation::Fsk { bitrate } => format!("FSK {bitrate} bit/s"),
        Modulation::LrFhss {
            occupied_channel_width_khz,
            coding_rate,
        } => format!("LR-FHSS {occupied_channel_width_khz} kHz CR {coding_rate}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eu868() -> RfParamSet {
        serde_json::from_value(serde_json::json!({
            "region": "eu_863_870",
            "channels": [
                {"frequency_hz": 868_100_000, "min_dr": 0, "max_dr": 5},
                {"frequency_hz": 868_300_000, "min_dr": 0, "max_dr": 5}
            ],
            "rx2": {"frequency_hz": 869_525_000, "dr": 0}
        }))
        .expect("a set")
    }

    fn problems(protocol: &ProtocolVersion, sets: Vec<RfParamSet>) -> Vec<String> {
        match validate_sets(protocol, sets) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_good_set_is_made_canonical_and_its_data_rates_come_from_the_region() {
        let sets = validate_sets(&ProtocolVersion::V1_1, vec![eu868()]).expect("valid");
        assert_eq!(sets[0].region, "EU868");
        let rates = sets[0].effective_data_rates();
        assert_eq!(rates.len(), 6);
        assert_eq!(
            rates[0].modulation,
            Modulation::Lora {
                spreading_factor: 12,
                bandwidth_khz: 125
            }
        );
        assert_eq!(sets[0].label(), "EU868");
    }

    #[test]
    fn every_problem_names_its_field() {
        let mut bad = eu868();
        bad.region = "US915".into();
        bad.channels[0].frequency_hz = 868_100_000; // outside 902..928 MHz
        bad.channels[0].max_dr = 7; // RFU in US915
        bad.channels[1] = ChannelDef {
            frequency_hz: 903_900_000,
            min_dr: 4,
            max_dr: 3,
        };
        bad.rx2 = Rx2Def {
            frequency_hz: 923_300_000,
            dr: 0, // uplink-only in US915
        };
        bad.rx1_dr_offset = Some(4);
        bad.max_eirp_dbm = Some(40.0);
        let found = problems(&ProtocolVersion::V1_1, vec![bad]);
        assert_eq!(
            found,
            vec![
                "[0].channels[0].frequency_hz: 868100000 Hz is outside the US915 band 902000000..=928000000 Hz",
                "[0].channels[0].max_dr: DR7 is not defined in US915",
                "[0].channels[1].min_dr: min_dr 4 is above max_dr 3",
                "[0].rx2.dr: DR0 is not a downlink data rate in US915",
                "[0].rx1_dr_offset: 4: US915 defines RX1DROffset 0..=3",
                "[0].max_eirp_dbm: 40 dBm: must be 0..=36",
            ]
        );
        let mut unknown = eu868();
        unknown.region = "MARS433".into();
        assert!(problems(&ProtocolVersion::V1_1, vec![unknown])[0]
            .starts_with("[0].region: \"MARS433\" is not a supported region (EU868, US915"));
    }

    #[test]
    fn listed_data_rates_must_be_the_regions_and_cover_the_channels() {
        let mut set = eu868();
        set.data_rates = Some(vec![
            DataRateDef {
                index: 0,
                modulation: Modulation::Lora {
                    spreading_factor: 12,
                    bandwidth_khz: 125,
                },
            },
            DataRateDef {
                index: 5,
                modulation: Modulation::Fsk { bitrate: 50_000 },
            },
            DataRateDef {
                index: 0,
                modulation: Modulation::Lora {
                    spreading_factor: 12,
                    bandwidth_khz: 125,
                },
            },
        ]);
        assert_eq!(
            problems(&ProtocolVersion::V1_1, vec![set]),
            vec![
                "[0].data_rates[1].modulation: DR5 in EU868 is LoRa SF7/125 kHz, not FSK 50000 bit/s",
                "[0].data_rates[2].index: DR0 is listed twice",
            ]
        );
        let mut short = eu868();
        short.data_rates = Some(vec![DataRateDef {
            index: 0,
            modulation: Modulation::Lora {
                spreading_factor: 12,
                bandwidth_khz: 125,
            },
        }]);
        assert_eq!(
            problems(&ProtocolVersion::V1_1, vec![short]),
            vec![
                "[0].channels[0].max_dr: DR5 is not among the set's data_rates",
                "[0].channels[1].max_dr: DR5 is not among the set's data_rates"
            ]
        );
    }

    #[test]
    fn sets_of_one_region_need_ids_in_1_1_and_are_refused_in_1_0() {
        let two = vec![eu868(), eu868()];
        assert_eq!(
            problems(&ProtocolVersion::V1_1, two.clone()),
            vec![
                "[0].rf_param_set_id: sets [0], [1] are all EU868: each needs an RFParamSetID to be told apart",
                "[1].rf_param_set_id: sets [0], [1] are all EU868: each needs an RFParamSetID to be told apart",
            ]
        );
        let mut named = two;
        named[0].rf_param_set_id = Some("eu-a".into());
        named[1].rf_param_set_id = Some("eu-b".into());
        assert!(problems(&ProtocolVersion::V1_1, named.clone()).is_empty());
        let found = problems(&ProtocolVersion::V1_0, named.clone());
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("[1].region: sets [0], [1] are all EU868: a TS002 1.0"));
        named[1].rf_param_set_id = Some("eu-a".into());
        assert_eq!(
            problems(&ProtocolVersion::V1_1, named),
            vec!["[1].rf_param_set_id: \"eu-a\" is already the RFParamSetID of set [0]"]
        );
        let mut odd = eu868();
        odd.rf_param_set_id = Some("has space".into());
        assert!(problems(&ProtocolVersion::V1_1, vec![odd])[0]
            .starts_with("[0].rf_param_set_id: \"has space\": only"));
        assert_eq!(
            problems(&ProtocolVersion::V1_1, vec![eu868(); MAX_SETS + 1])
                .first()
                .map(String::as_str),
            Some("33 sets: at most 32 per member")
        );
    }

    #[test]
    fn the_wire_shape_round_trips_and_refuses_unknown_keys() {
        let text = r#"{"region":"US915","rf_param_set_id":"sb2","channels":[{"frequency_hz":903900000,"min_dr":0,"max_dr":3}],
            "data_rates":[{"index":0,"modulation":{"type":"lora","spreading_factor":10,"bandwidth_khz":125}},
                          {"index":1,"modulation":{"type":"lora","spreading_factor":9,"bandwidth_khz":125}},
                          {"index":2,"modulation":{"type":"lora","spreading_factor":8,"bandwidth_khz":125}},
                          {"index":3,"modulation":{"type":"lora","spreading_factor":7,"bandwidth_khz":125}},
                          {"index":8,"modulation":{"type":"lora","spreading_factor":12,"bandwidth_khz":500}}],
            "rx2":{"frequency_hz":923300000,"dr":8}}"#;
        let set: RfParamSet = serde_json::from_str(text).expect("parses");
        assert!(problems(&ProtocolVersion::V1_1, vec![set.clone()]).is_empty());
        let again: RfParamSet =
            serde_json::from_str(&serde_json::to_string(&set).expect("json")).expect("back");
        assert_eq!(again, set);
        let lr: Modulation = serde_json::from_str(
            r#"{"type":"lr-fhss","occupied_channel_width_khz":137,"coding_rate":"1/3"}"#,
        )
        .expect("LR-FHSS");
        assert!(matches!(
            lr,
            Modulation::LrFhss {
                coding_rate: CodingRate::OneThird,
                ..
            }
        ));
        let unknown = text.replace("\"rx2\"", "\"rx3\":1,\"rx2\"");
        assert!(serde_json::from_str::<RfParamSet>(&unknown).is_err());
        let unknown_in_modulation =
            text.replace("\"bandwidth_khz\":500", "\"bandwidth_khz\":500,\"cr\":5");
        assert!(serde_json::from_str::<RfParamSet>(&unknown_in_modulation).is_err());
    }
}
