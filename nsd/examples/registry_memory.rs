//! Resident memory per provisioned device: fills a [`DeviceRegistry`] (what the nsd keeps
//! in memory for every device: the entry, its session with prepared keys, an empty queue,
//! the DevEUI and DevAddr indexes) with ABP devices and reads `VmRSS` from
//! `/proc/self/status` before and after.
//!
//! ```text
//! cargo run --release -p nsd --example registry_memory -- 100000 1000000
//! ```
//!
//! Each count runs in a fresh child process, so one measurement does not inherit the
//! other's heap. Prints one line per count, and one JSON line each on stdout.
//!
//! With `--active` first, every device is also given the MAC state of a device that has
//! been heard: 25 ADR uplinks run through the MAC layer (a full ADR history, the
//! `LinkADRReq` it plans queued), as the nsd holds it for a device in service.

use std::sync::Arc;

use lorawan::ids::{AesKey, DevAddr, Eui64};
use lorawan::join::MacVersion;
use lorawan::region::Region;
use nsd::device::registry::{DeviceEntry, DeviceRegistry};
use nsd::device::{Device, DeviceProfile, NetworkKeys, Session, SessionKeys};

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn key(i: u32, which: u8) -> AesKey {
    let mut k = [which; 16];
    k[..4].copy_from_slice(&i.to_be_bytes());
    AesKey::new(k)
}

/// Runs 25 ADR uplinks at DR5 through the session's MAC state, as a device in service has.
fn hear(session: &mut Session, profile: &DeviceProfile) {
    let mac = session
        .mac
        .get_or_insert_with(|| profile.fresh_mac_state(session.mac_version));
    for fcnt in 1..=25 {
        let uplink = nsd::mac::UplinkFacts {
            fcnt,
            data_rate: 5,
            adr: true,
            adr_ack_req: false,
            confirmed: false,
            max_snr: 7.25,
            max_rssi: -90.0,
            gateway_count: 2,
            received_unix_ms: 1_704_067_200_000 + u64::from(fcnt) * 60_000,
            gps_time: None,
        };
        let _ = nsd::mac::on_uplink(mac, &uplink, &[]);
    }
}

fn measure(count: u32, version: MacVersion, active: bool) {
    let mut profile = DeviceProfile::defaults("abp", Region::Eu868, version);
    profile.supports_join = false;
    let profile = Arc::new(profile);
    let before = vm_rss_kib();
    let registry = DeviceRegistry::new();
    for i in 0..count {
        let network = if version >= MacVersion::V1_1 {
            NetworkKeys::V1_1 {
                f_nwk_s_int_key: key(i, 1),
                s_nwk_s_int_key: key(i, 2),
                nwk_s_enc_key: key(i, 3),
            }
        } else {
            NetworkKeys::V1_0 {
                nwk_s_key: key(i, 1),
            }
        };
        let session = Session::new(
            DevAddr::from_be_bytes((0x2600_0000 + i).to_be_bytes()),
            version,
            SessionKeys {
                network,
                app_s_key: Some(key(i, 4)),
            },
        );
        let mut session = session;
        if active {
            hear(&mut session, &profile);
        }
        registry.insert(DeviceEntry::new(
            Device {
                dev_eui: Eui64::from_u64(0x00f0_0000_0000_0000 | u64::from(i)),
                name: format!("d{i}"),
                tenant: "acme".into(),
                profile: "abp".into(),
                join_eui: None,
                roaming: false,
                as_link: None,
            },
            profile.clone(),
            Some(session),
        ));
    }
    let after = vm_rss_kib();
    let per_device = (after.saturating_sub(before)) as f64 * 1024.0 / f64::from(count);
    let kind = if active { "heard" } else { "provisioned" };
    eprintln!(
        "{count} {version} ABP devices ({kind}): RSS {before} KiB → {after} KiB, {per_device:.0} bytes per device ({} in the registry)",
        registry.len()
    );
    println!(
        "{{\"devices\":{count},\"version\":\"{version}\",\"heard\":{active},\"rss_before_kib\":{before},\"rss_after_kib\":{after},\"bytes_per_device\":{per_device:.0}}}"
    );
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let active = args.first().map(String::as_str) == Some("--active");
    if active {
        args.remove(0);
    }
    // `[--active] --one COUNT VERSION`: the child measuring one count.
    if args.first().map(String::as_str) == Some("--one") {
        let count = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(100_000);
        let version = match args.get(2).map(String::as_str) {
            Some("1.1") => MacVersion::V1_1,
            _ => MacVersion::V1_0_4,
        };
        measure(count, version, active);
        return;
    }
    eprintln!(
        "sizes (bytes): DeviceEntry {}, Device {}, Session {}, SessionKeys {}, Option<MacState> {}, PreparedKeys {}, MicKey {}, CipherKey {}, DeviceQueue {}, Option<PendingAck> {}",
        std::mem::size_of::<DeviceEntry>(),
        std::mem::size_of::<Device>(),
        std::mem::size_of::<Session>(),
        std::mem::size_of::<SessionKeys>(),
        std::mem::size_of::<Option<nsd::mac::MacState>>(),
        std::mem::size_of::<nsd::device::PreparedKeys>(),
        std::mem::size_of::<lorawan::crypto::MicKey>(),
        std::mem::size_of::<lorawan::crypto::CipherKey>(),
        std::mem::size_of::<nsd::downlink::queue::DeviceQueue>(),
        std::mem::size_of::<Option<nsd::downlink::queue::PendingAck>>(),
    );
    let counts: Vec<&str> = if args.is_empty() {
        vec!["100000", "1000000"]
    } else {
        args.iter().map(String::as_str).collect()
    };
    let Ok(me) = std::env::current_exe() else {
        eprintln!("cannot find this executable");
        std::process::exit(1);
    };
    for count in counts {
        for version in ["1.0.4", "1.1"] {
            let mut child = std::process::Command::new(&me);
            if active {
                child.arg("--active");
            }
            let status = child.args(["--one", count, version]).status();
            if !status.is_ok_and(|s| s.success()) {
                eprintln!("the measurement of {count} devices failed");
                std::process::exit(1);
            }
        }
    }
}
