//! The state file: each device's last DevNonce sent, the DevNonces the Join Server accepted
//! and the last JoinNonce received, so a later run continues above them and a replay after a
//! crash can prove that none is accepted twice.
//!
//! ```json
//! {"devices": [{"DevEUI": "…", "LastDevNonce": 212, "LastJoinNonce": 195,
//!               "AcceptedDevNonces": [[1, 180], [182, 196]]}, …]}
//! ```
//!
//! - `LastDevNonce` is the highest DevNonce *sent*, answered or not: a later run continues
//!   above it, as a device would.
//! - `AcceptedDevNonces` lists, as inclusive ranges in increasing order, the DevNonces
//!   answered `Success` with a join-accept that verified. These, and only these, must never be
//!   accepted again. (A DevNonce that got no answer, say because the Join Server was down,
//!   may never have reached it: a Join Server may rightly accept it later. One in flight at a
//!   crash may or may not have been stored: it cannot be judged either way.)
//! - `LastJoinNonce` is the JoinNonce of the last verified join-accept (null if none yet).

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::frame::Eui64;

/// One device's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceState {
    /// The device.
    #[serde(rename = "DevEUI", with = "eui_text")]
    pub dev_eui: Eui64,
    /// The highest DevNonce sent (null if none).
    #[serde(rename = "LastDevNonce")]
    pub last_dev_nonce: Option<u16>,
    /// The JoinNonce of the last verified join-accept (null if none).
    #[serde(rename = "LastJoinNonce")]
    pub last_join_nonce: Option<u32>,
    /// DevNonces answered Success, as `[first, last]` ranges in increasing order.
    #[serde(rename = "AcceptedDevNonces")]
    pub accepted_dev_nonces: Vec<[u16; 2]>,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    /// One entry per device of the run.
    pub devices: Vec<DeviceState>,
}

impl StateFile {
    /// Reads a state file.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a bi-load state file", path.display()))
    }

    /// Writes it (to a temporary file first, then renamed: never half a file).
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_vec(self)?;
        text.push(b'\n');
        super::write_atomically(path, &text)
    }

    /// Checks what serde cannot: ranges in order, none above `LastDevNonce`, no DevEUI twice.
    pub fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for d in &self.devices {
            if !seen.insert(d.dev_eui) {
                return Err(format!("state file: DevEUI {} twice", d.dev_eui));
            }
            let mut floor = 0_u32;
            for &[a, b] in &d.accepted_dev_nonces {
                if u32::from(a) < floor || a > b {
                    return Err(format!(
                        "state file: DevEUI {}: AcceptedDevNonces out of order at [{a}, {b}]",
                        d.dev_eui
                    ));
                }
                floor = u32::from(b) + 1;
            }
            let highest = d.accepted_dev_nonces.last().map(|r| r[1]);
            if highest > d.last_dev_nonce {
                return Err(format!(
                    "state file: DevEUI {}: a DevNonce accepted above LastDevNonce",
                    d.dev_eui
                ));
            }
        }
        Ok(())
    }

    /// The entries by DevEUI.
    pub fn by_dev_eui(&self) -> HashMap<Eui64, &DeviceState> {
        self.devices.iter().map(|d| (d.dev_eui, d)).collect()
    }
}

mod eui_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Eui64;

    pub fn serialize<S: Serializer>(eui: &Eui64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(eui)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Eui64, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
