//! Multicast groups: a "virtual" device with its own DevAddr, session keys (McNwkSKey,
//! McAppSKey) and downlink frame counter, whose frames every member device receives.
//!
//! The network server does not set groups up on the devices: the application layer does
//! (TS005 Remote Multicast Setup, or personalisation), and the operator provisions the same
//! McAddr, keys and counter here. Frames go out through the gateways carrying any of the
//! group's tags, scheduled by [`crate::downlink::multicast`].
//!
//! TS001 1.0.4 §9.3.2, multicast frames: "They are not allowed to carry MAC commands, neither
//! in the FOpts field, nor in the payload on port 0 because a multicast downlink does not have
//! the same authentication robustness as a unicast frame. The ACK and ADRACKReq bits MUST be
//! zero. The MType field MUST carry the value for Unconfirmed Data Down." So a group frame is
//! always an unconfirmed data down on an application port, FCtrl all zero, FOpts empty; its
//! MIC is the LoRaWAN 1.0 downlink MIC with McNwkSKey, its FRMPayload encrypted with McAppSKey.

use lorawan::crypto::{CipherKey, MicKey};
use lorawan::ids::{AesKey, DevAddr};
use lorawan::phy::{BuildError, DataFrameBuilder, FCtrl, FrmPayloadInput, MType};
use lorawan::region::Region;

use crate::downlink::multicast::{MulticastClass, MulticastGroup};

/// A group's session keys.
#[derive(Clone, PartialEq, Eq)]
pub struct MulticastKeys {
    /// McNwkSKey: the frame MIC.
    pub mc_nwk_s_key: AesKey,
    /// McAppSKey: the FRMPayload encryption.
    pub mc_app_s_key: AesKey,
}

// Keys never reach logs.
impl std::fmt::Debug for MulticastKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MulticastKeys(..)")
    }
}

/// A provisioned multicast group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McGroup {
    /// The operator's name for it.
    pub id: String,
    /// McAddr: the DevAddr every member listens to.
    pub dev_addr: DevAddr,
    /// McNwkSKey and McAppSKey.
    pub keys: MulticastKeys,
    /// The next downlink frame counter (McFCnt).
    pub f_cnt: u32,
    /// Class B (ping slots, GPS-synchronised gateways only) or class C.
    pub class: MulticastClass,
    /// The region of its members.
    pub region: Region,
    /// The frequency the members listen on, in Hz.
    pub frequency_hz: u32,
    /// The data rate they listen on.
    pub data_rate: u8,
    /// Its frames go through every provisioned gateway carrying any of these tags.
    pub gateway_tags: Vec<String>,
}

/// Why a group cannot be provisioned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McGroupError {
    /// The id is empty or too long.
    #[error("the id must be 1 to 100 characters")]
    Id,
    /// The data rate cannot carry a downlink in the region.
    #[error("data rate {0} cannot carry a downlink in this region")]
    DataRate(u8),
    /// Zero frequency.
    #[error("frequency_hz must be a frequency of the region")]
    Frequency,
    /// No gateway tag: no gateway would send.
    #[error("at least one gateway tag is needed")]
    NoTags,
}

/// A multicast frame built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McFrame {
    /// The PHYPayload.
    pub phy: Vec<u8>,
    /// Its frame counter.
    pub f_cnt: u32,
}

impl McGroup {
    /// Checks the settings against the region.
    pub fn check(&self) -> Result<(), McGroupError> {
        if self.id.is_empty() || self.id.len() > 100 {
            return Err(McGroupError::Id);
        }
        let params = self.region.params();
        if crate::downlink::airtime::downlink_modulation(params, self.data_rate).is_none() {
            return Err(McGroupError::DataRate(self.data_rate));
        }
        if self.frequency_hz == 0 {
            return Err(McGroupError::Frequency);
        }
        if self.gateway_tags.is_empty() {
            return Err(McGroupError::NoTags);
        }
        Ok(())
    }

    /// The group as the planner sees it.
    pub fn plan_view(&self) -> MulticastGroup {
        MulticastGroup {
            dev_addr: self.dev_addr,
            class: self.class,
            frequency_hz: self.frequency_hz,
            data_rate: self.data_rate,
        }
    }

    /// Builds the frame carrying `payload` on `f_port` (1..=223) and advances the counter
    /// (store the group before sending it, so a counter is never used twice).
    pub fn build_frame(&mut self, f_port: u8, payload: &[u8]) -> Result<McFrame, BuildError> {
        let f_cnt = self.f_cnt;
        let app = CipherKey::new(&self.keys.mc_app_s_key);
        let mic = MicKey::new(&self.keys.mc_nwk_s_key);
        // TS001 1.0.4 §9.3.2: no MAC commands, ACK and ADRACKReq zero, unconfirmed.
        let phy = DataFrameBuilder::new(MType::UnconfirmedDataDown, self.dev_addr, f_cnt)
            .fctrl(FCtrl::from_byte(0))
            .fopts(&[])
            .frm_payload(FrmPayloadInput::Plain {
                fport: f_port,
                data: payload,
                key: &app,
            })
            .build_1_0(&mic)?;
        self.f_cnt = f_cnt.wrapping_add(1);
        Ok(McFrame { phy, f_cnt })
    }
}

/// Whether `f_port` may carry a multicast frame: an application port (port 0 would carry MAC
/// commands, 224 is the test port, 225..=255 are RFU).
pub fn valid_f_port(f_port: u8) -> bool {
    (1..=223).contains(&f_port)
}

#[cfg(test)]
mod tests {
    use lorawan::phy::DataFrame;

    use super::*;

    fn group() -> McGroup {
        McGroup {
            id: "street-lights".into(),
            dev_addr: DevAddr::from_be_bytes([0x01, 0xab, 0xcd, 0xef]),
            keys: MulticastKeys {
                mc_nwk_s_key: AesKey::new([0x5a; 16]),
                mc_app_s_key: AesKey::new([0xa5; 16]),
            },
            f_cnt: 7,
            class: MulticastClass::C,
            region: Region::Eu868,
            frequency_hz: 869_525_000,
            data_rate: 0,
            gateway_tags: vec!["city".into()],
        }
    }

    #[test]
    fn a_group_frame_is_unconfirmed_without_mac_commands_and_uses_the_group_keys() {
        let mut g = group();
        let frame = g.build_frame(200, b"dim 40%").expect("built");
        assert_eq!((frame.f_cnt, g.f_cnt), (7, 8));
        let parsed = DataFrame::parse(&frame.phy).expect("parses");
        assert!(!parsed.confirmed());
        assert_eq!(
            frame.phy[0], 0x60,
            "MHDR: unconfirmed data down, LoRaWAN R1"
        );
        assert_eq!(
            &frame.phy[1..5],
            &[0xef, 0xcd, 0xab, 0x01],
            "McAddr, little endian"
        );
        assert_eq!(frame.phy[5], 0, "FCtrl: no ADR, ACK, FPending, FOpts");
        parsed
            .verify_mic_1_0(&MicKey::new(&AesKey::new([0x5a; 16])), 7)
            .expect("MIC with McNwkSKey");
        assert!(parsed
            .verify_mic_1_0(&MicKey::new(&AesKey::new([0xa5; 16])), 7)
            .is_err());
        let app = CipherKey::new(&AesKey::new([0xa5; 16]));
        assert_eq!(parsed.frm_payload_decrypted(&app, 7), b"dim 40%");
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(group().check(), Ok(()));
        let mut g = group();
        g.data_rate = 15;
        assert_eq!(g.check(), Err(McGroupError::DataRate(15)));
        let mut g = group();
        g.gateway_tags.clear();
        assert_eq!(g.check(), Err(McGroupError::NoTags));
        let mut g = group();
        g.id.clear();
        assert_eq!(g.check(), Err(McGroupError::Id));
        assert!(valid_f_port(1) && valid_f_port(223));
        assert!(!valid_f_port(0) && !valid_f_port(224));
    }
}
