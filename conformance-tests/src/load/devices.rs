//! Simulated devices: deterministic identities and keys from a seed, and the JSON import file
//! a Join Server is provisioned with.
//!
//! # The mixing
//!
//! Everything is AES-128 under a per-seed key, so a device is rebuilt from `(seed, index)`
//! alone, without the file:
//!
//! ```text
//! S       = AES-128(key = "bi-load seed key" (ASCII), seed as 8 bytes big-endian | 0^8)
//! DevEUI  = AES-128(S, 00 | 0^15)[0..4] | index as 4 bytes big-endian
//!           (first byte: unicast, "locally administered" bit set, so never all zero)
//! AppKey  = AES-128(S, 01 | 0^11 | index as 4 bytes big-endian)
//! NwkKey  = AES-128(S, 02 | 0^11 | index as 4 bytes big-endian)   (1.1 devices only)
//! ```
//!
//! Devices of one seed share a 4-byte DevEUI prefix and are numbered from 0, so
//! `--count 1000 --seed 7` names the same 1000 devices every time and `--count 2000` adds
//! 1000 more. These are load-test keys: a seed is not a secret.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::frame::{aes_encrypt, parse_key, Eui64, Key};

/// The fixed key that turns a seed into the per-seed key `S`.
const SEED_KEY: &Key = b"bi-load seed key";

/// The LoRaWAN L2 version a simulated device implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LoRaWanVersion {
    /// 1.0.2 (random AppNonce allowed).
    V1_0_2,
    /// 1.0.3 (random AppNonce allowed).
    V1_0_3,
    /// 1.0.4 (JoinNonce a counter).
    V1_0_4,
    /// 1.1 (two root keys; JoinNonce a counter).
    V1_1,
}

impl LoRaWanVersion {
    /// The text used in import files and in `MACVersion`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_0_2 => "1.0.2",
            Self::V1_0_3 => "1.0.3",
            Self::V1_0_4 => "1.0.4",
            Self::V1_1 => "1.1",
        }
    }

    /// Whether the device has a separate NwkKey (LoRaWAN 1.1).
    pub fn has_nwk_key(self) -> bool {
        self == Self::V1_1
    }

    /// Whether the Join Server must send a JoinNonce strictly greater than the last one.
    ///
    /// 1.0.4 §6.2.5 and 1.1 §6.2.3: the JoinNonce is a counter that "SHALL never be reused".
    /// Up to 1.0.3 it was a random AppNonce, so only a repeat of the last value is a fault.
    pub fn join_nonce_is_counter(self) -> bool {
        self >= Self::V1_0_4
    }
}

impl fmt::Display for LoRaWanVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LoRaWanVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "1.0.2" => Ok(Self::V1_0_2),
            "1.0.3" => Ok(Self::V1_0_3),
            "1.0.4" => Ok(Self::V1_0_4),
            "1.1" | "1.1.0" => Ok(Self::V1_1),
            other => Err(format!(
                "LoRaWAN version {other:?} (expected 1.0.2, 1.0.3, 1.0.4 or 1.1)"
            )),
        }
    }
}

/// One simulated device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// DevEUI.
    pub dev_eui: Eui64,
    /// JoinEUI its join-requests carry.
    pub join_eui: Eui64,
    /// AppKey.
    pub app_key: Key,
    /// NwkKey (1.1 only).
    pub nwk_key: Option<Key>,
    /// L2 version.
    pub version: LoRaWanVersion,
}

impl Device {
    /// The key of the join-request MIC and of the join-accept encryption: NwkKey for a 1.1
    /// device, AppKey for 1.0.x (1.1 §6.2.2, 1.0.4 §6.2.4).
    pub fn root_key(&self) -> Key {
        self.nwk_key.unwrap_or(self.app_key)
    }
}

/// The per-seed key `S` (see the module documentation).
fn seed_key(seed: u64) -> Key {
    let mut block = [0_u8; 16];
    block[..8].copy_from_slice(&seed.to_be_bytes());
    aes_encrypt(SEED_KEY, block)
}

/// The device number `index` of `seed` (see the module documentation for the mixing).
pub fn generate_device(seed: u64, index: u32, join_eui: Eui64, version: LoRaWanVersion) -> Device {
    let s = seed_key(seed);
    let mut prefix = [0_u8; 4];
    prefix.copy_from_slice(&aes_encrypt(&s, [0; 16])[..4]);
    // EUI-64 first octet: bit 0 = group, bit 1 = locally administered. Synthetic DevEUIs are
    // unicast and not IEEE-assigned; the set bit also keeps the DevEUI from being all zero.
    prefix[0] = (prefix[0] | 0x02) & !0x01;
    let dev_eui = Eui64(u64::from(u32::from_be_bytes(prefix)) << 32 | u64::from(index));
    let key = |label: u8| {
        let mut block = [0_u8; 16];
        block[0] = label;
        block[12..].copy_from_slice(&index.to_be_bytes());
        aes_encrypt(&s, block)
    };
    Device {
        dev_eui,
        join_eui,
        app_key: key(0x01),
        nwk_key: version.has_nwk_key().then(|| key(0x02)),
        version,
    }
}

/// Devices `0..count` of `seed`, all with `join_eui` and `version`.
pub fn generate_devices(
    seed: u64,
    count: u32,
    join_eui: Eui64,
    version: LoRaWanVersion,
) -> Vec<Device> {
    (0..count)
        .map(|index| generate_device(seed, index, join_eui, version))
        .collect()
}

/// One device of the import file, in the column names the Join Server import accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRecord {
    /// 16 hex digits.
    #[serde(rename = "DevEUI")]
    pub dev_eui: String,
    /// 16 hex digits.
    #[serde(rename = "JoinEUI")]
    pub join_eui: String,
    /// 32 hex digits.
    #[serde(rename = "AppKey")]
    pub app_key: String,
    /// 32 hex digits, 1.1 only (absent for 1.0.x: the import refuses a second key there).
    #[serde(rename = "NwkKey", default, skip_serializing_if = "Option::is_none")]
    pub nwk_key: Option<String>,
    /// `1.0.2`, `1.0.3`, `1.0.4` or `1.1`.
    #[serde(rename = "LoRaWANVersion")]
    pub version: String,
}

/// The import file: `{"devices": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceFile {
    /// The devices, in index order.
    pub devices: Vec<DeviceRecord>,
}

impl From<&Device> for DeviceRecord {
    fn from(d: &Device) -> Self {
        Self {
            dev_eui: d.dev_eui.to_string(),
            join_eui: d.join_eui.to_string(),
            app_key: hex::encode(d.app_key),
            nwk_key: d.nwk_key.map(hex::encode),
            version: d.version.to_string(),
        }
    }
}

impl TryFrom<&DeviceRecord> for Device {
    type Error = String;

    fn try_from(r: &DeviceRecord) -> Result<Self, Self::Error> {
        let version: LoRaWanVersion = r.version.parse()?;
        let nwk_key = r.nwk_key.as_deref().map(parse_key).transpose()?;
        if version.has_nwk_key() != nwk_key.is_some() {
            return Err(format!(
                "DevEUI {}: NwkKey must be given for 1.1 and only for 1.1",
                r.dev_eui
            ));
        }
        Ok(Self {
            dev_eui: r.dev_eui.parse()?,
            join_eui: r.join_eui.parse()?,
            app_key: parse_key(&r.app_key)?,
            nwk_key,
            version,
        })
    }
}

impl DeviceFile {
    /// The file of `devices`.
    pub fn new(devices: &[Device]) -> Self {
        Self {
            devices: devices.iter().map(DeviceRecord::from).collect(),
        }
    }

    /// The devices, checked.
    pub fn devices(&self) -> Result<Vec<Device>, String> {
        self.devices
            .iter()
            .enumerate()
            .map(|(i, r)| Device::try_from(r).map_err(|e| format!("device #{i}: {e}")))
            .collect()
    }

    /// Reads and checks an import file.
    pub fn read(path: &Path) -> anyhow::Result<Vec<Device>> {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let file: Self = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a device file", path.display()))?;
        file.devices()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Writes the file (pretty JSON, one device per few lines).
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_vec_pretty(self)?;
        text.push(b'\n');
        super::write_atomically(path, &text)
    }
}
