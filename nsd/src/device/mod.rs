//! Devices as the network server knows them: the profile they were provisioned with, their
//! identity, and the session that lets us read their frames.
//!
//! ```text
//!  DeviceProfile ──┐            (region, MAC version, class, RX settings, ADR)
//!  Device ─────────┼──> Session (DevAddr, session keys, frame counters)
//!                  │      set by an ABP provisioning or by a join (OTAA)
//! ```
//!
//! The nsd never holds a device's root keys (AppKey, NwkKey): joins go to the join server,
//! which answers with the session keys (see `join`).

pub mod multicast;
pub mod registry;
pub mod session;
pub mod tenancy;

use lorawan::ids::Eui64;
use lorawan::join::MacVersion;
use lorawan::region::Region;

pub use session::{NetworkKeys, PreparedKeys, Session, SessionKeys};

/// The class a device operates in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Class A: receive windows after each uplink only.
    A,
    /// Class B: also scheduled ping slots.
    B,
    /// Class C: receiver always on.
    C,
}

impl Class {
    /// The letter, as the API writes it.
    pub const fn letter(self) -> &'static str {
        match self {
            Class::A => "A",
            Class::B => "B",
            Class::C => "C",
        }
    }

    /// From the API letter (any case).
    pub fn from_letter(text: &str) -> Option<Self> {
        match text.trim() {
            "A" | "a" => Some(Class::A),
            "B" | "b" => Some(Class::B),
            "C" | "c" => Some(Class::C),
            _ => None,
        }
    }
}

/// How devices of a kind behave on air, shared by many devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceProfile {
    /// The operator's name for it.
    pub id: String,
    /// The regional parameters its radio follows.
    pub region: Region,
    /// LoRaWAN L2 version its firmware implements.
    pub mac_version: MacVersion,
    /// Class A, B or C.
    pub class: Class,
    /// Whether its devices join (OTAA) rather than being personalised (ABP).
    pub supports_join: bool,
    /// RX1 delay in seconds (1..=15) the network sets at join and keeps: roaming devices need
    /// more than the 1 s default (passive-roaming round trips take 0.5–0.9 s).
    pub rx1_delay_s: u8,
    /// RX1 data-rate offset.
    pub rx1_dr_offset: u8,
    /// RX2 data rate.
    pub rx2_data_rate: u8,
    /// RX2 frequency in Hz.
    pub rx2_frequency_hz: u32,
    /// Whether the network drives the device's data rate and power (ADR).
    pub adr: bool,
    /// LoRaWAN ≤ 1.0.3 ABP devices that restart their frame counters at reboot: accept a
    /// counter reset (the frame MIC must still match). Refused for 1.0.4 and 1.1, which
    /// forbid resets.
    pub abp_counter_reset: bool,
}

/// Why a profile cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// RX1 delay outside 1..=15 s.
    #[error("rx1_delay_s must be 1..=15, got {0}")]
    Rx1Delay(u8),
    /// RX1 offset the region does not define.
    #[error("rx1_dr_offset {offset} is not defined in {region:?} (0..{max})")]
    Rx1Offset {
        /// The offset.
        offset: u8,
        /// The region.
        region: Region,
        /// Number of offsets the region defines.
        max: usize,
    },
    /// RX2 data rate the region does not define.
    #[error("rx2_data_rate {0} is not a data rate of the region")]
    Rx2DataRate(u8),
    /// Counter resets requested for a version that forbids them.
    #[error("abp_counter_reset is not allowed for LoRaWAN {0}: 1.0.4 and 1.1 forbid frame-counter resets")]
    CounterResetForbidden(MacVersion),
}

impl DeviceProfile {
    /// A class A profile with the region's defaults.
    pub fn defaults(id: &str, region: Region, mac_version: MacVersion) -> Self {
        let rx2 = region.params().rx2_default();
        Self {
            id: id.to_owned(),
            region,
            mac_version,
            class: Class::A,
            supports_join: true,
            rx1_delay_s: 1,
            rx1_dr_offset: 0,
            rx2_data_rate: rx2.data_rate,
            rx2_frequency_hz: rx2.frequency,
            adr: true,
            abp_counter_reset: false,
        }
    }

    /// Checks the settings against the region and the version.
    pub fn check(&self) -> Result<(), ProfileError> {
        if !(1..=15).contains(&self.rx1_delay_s) {
            return Err(ProfileError::Rx1Delay(self.rx1_delay_s));
        }
        let params = self.region.params();
        let offsets = params.rx1_dr_offsets();
        if usize::from(self.rx1_dr_offset) >= offsets {
            return Err(ProfileError::Rx1Offset {
                offset: self.rx1_dr_offset,
                region: self.region,
                max: offsets,
            });
        }
        if params.data_rate(self.rx2_data_rate).is_none() {
            return Err(ProfileError::Rx2DataRate(self.rx2_data_rate));
        }
        // TS001 1.0.4 §4.3.1.1: "the end-device SHALL NOT reset the frame counters" (ABP);
        // 1.1 likewise keeps them across resets.
        if self.abp_counter_reset && self.mac_version >= MacVersion::V1_0_4 {
            return Err(ProfileError::CounterResetForbidden(self.mac_version));
        }
        Ok(())
    }
}

impl DeviceProfile {
    /// What the MAC layer follows for devices of this profile: the region's defaults with
    /// this profile's RX settings and ADR switch.
    pub fn mac_profile(&self) -> crate::mac::MacProfile {
        let mut profile = crate::mac::MacProfile::new(self.region);
        profile.wanted.rx1_delay = self.rx1_delay_s;
        profile.wanted.rx1_dr_offset = self.rx1_dr_offset;
        profile.wanted.rx2_data_rate = self.rx2_data_rate;
        profile.wanted.rx2_frequency = self.rx2_frequency_hz;
        profile.adr.enabled = self.adr;
        profile
    }

    /// What a join-accept for devices of this profile tells the device.
    pub fn join_accept_settings(&self) -> crate::mac::JoinAcceptSettings {
        crate::mac::JoinAcceptSettings::from_profile(self.region, &self.mac_profile())
    }

    /// The MAC state of a session that starts now: after a join, what the join-accept said;
    /// for ABP, the profile's values (what the device was provisioned with).
    pub fn fresh_mac_state(&self, version: MacVersion) -> crate::mac::MacState {
        let activation = if self.supports_join {
            crate::mac::Activation::Otaa(self.join_accept_settings())
        } else {
            crate::mac::Activation::Abp
        };
        crate::mac::MacState::new(self.region, version, self.mac_profile(), activation)
    }
}

/// A provisioned device.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// DevEUI.
    pub dev_eui: Eui64,
    /// The operator's name for it.
    pub name: String,
    /// The tenant (customer) it belongs to: its frames are served by the tenant's gateways.
    pub tenant: String,
    /// Its profile's id.
    pub profile: String,
    /// JoinEUI, for devices that join.
    pub join_eui: Option<Eui64>,
    /// The application server its frames are reported to (the LRC-AS tunnel), if any.
    pub as_link: Option<crate::tunnel::config::DeviceAsLink>,
    /// Roam-out: the device may be served through roaming partners' gateways (passive
    /// roaming); its RX1 delay is then the roaming one.
    pub roaming: bool,
}
