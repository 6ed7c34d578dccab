//! `sim`: ABP devices heard by simulated Semtech UDP gateways, sending unconfirmed uplinks
//! at a network server on the loopback interface; a smoke test for a running nsd.
//!
//! ```text
//! sim --ns 127.0.0.1:1700 --print-devices [--devices 10 --seed 1 --version 1.0.4]
//! sim --ns 127.0.0.1:1700 [--gateways 2 --devices 10 --uplinks 100 --linger-ms 2000]
//! ```
//!
//! `--print-devices` prints the devices (one JSON object a line: DevAddr and session keys,
//! deterministic in `--seed`) to provision them in the server, and exits. Otherwise each
//! device in turn sends an uplink heard by every gateway (fire-and-forget), then the
//! downlinks that arrive within `--linger-ms` are fed to their devices, and one JSON line
//! sums it up: uplinks sent, `PUSH_ACK`s, downlinks received and accepted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use conformance_tests::sim::{
    DevAddr, Device, Key, MacVersion, RadioParams, SessionKeys, Simulation, Uplink,
};

#[derive(Parser, Debug)]
#[command(about = "ABP devices and Semtech UDP gateways against a network server")]
struct Args {
    /// The network server's Semtech UDP address (loopback only).
    #[arg(long)]
    ns: SocketAddr,
    /// Number of gateways; every uplink is heard by all of them.
    #[arg(long, default_value_t = 2)]
    gateways: usize,
    /// Number of ABP devices.
    #[arg(long, default_value_t = 10)]
    devices: u32,
    /// Uplinks in all, round-robin over the devices.
    #[arg(long, default_value_t = 100)]
    uplinks: u64,
    /// `1.0.2`, `1.0.3`, `1.0.4` or `1.1`.
    #[arg(long, default_value = "1.0.4")]
    version: String,
    /// Seed of the session keys.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// DevAddr of device 0 (hex); the others count up.
    #[arg(long, default_value = "26000000")]
    dev_addr_base: String,
    /// How long to collect downlinks after the last uplink.
    #[arg(long, default_value_t = 2000)]
    linger_ms: u64,
    /// Print the devices and exit.
    #[arg(long)]
    print_devices: bool,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Key `role` of device `index`: 16 bytes of a splitmix64 stream seeded by all three.
fn key(seed: u64, index: u32, role: u8) -> Key {
    let mut state = seed ^ (u64::from(index) << 8) ^ u64::from(role);
    let mut k = [0_u8; 16];
    k[..8].copy_from_slice(&splitmix(&mut state).to_be_bytes());
    k[8..].copy_from_slice(&splitmix(&mut state).to_be_bytes());
    k
}

fn session_keys(version: MacVersion, seed: u64, index: u32) -> SessionKeys {
    if version == MacVersion::V1_1 {
        SessionKeys::V1_1 {
            f_nwk_s_int_key: key(seed, index, 1),
            s_nwk_s_int_key: key(seed, index, 3),
            nwk_s_enc_key: key(seed, index, 4),
            app_s_key: key(seed, index, 2),
        }
    } else {
        SessionKeys::V1_0 {
            nwk_s_key: key(seed, index, 1),
            app_s_key: key(seed, index, 2),
        }
    }
}

fn describe(addr: DevAddr, keys: &SessionKeys) -> serde_json::Value {
    match keys {
        SessionKeys::V1_0 {
            nwk_s_key,
            app_s_key,
        } => serde_json::json!({
            "DevAddr": addr.to_string(),
            "NwkSKey": hex::encode(nwk_s_key),
            "AppSKey": hex::encode(app_s_key),
        }),
        SessionKeys::V1_1 {
            f_nwk_s_int_key,
            s_nwk_s_int_key,
            nwk_s_enc_key,
            app_s_key,
        } => serde_json::json!({
            "DevAddr": addr.to_string(),
            "FNwkSIntKey": hex::encode(f_nwk_s_int_key),
            "SNwkSIntKey": hex::encode(s_nwk_s_int_key),
            "NwkSEncKey": hex::encode(nwk_s_enc_key),
            "AppSKey": hex::encode(app_s_key),
        }),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sim: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.ns.ip().is_loopback(),
        "--ns must be a loopback address"
    );
    anyhow::ensure!(args.devices > 0, "--devices must be at least 1");
    let version = match args.version.as_str() {
        "1.0.2" => MacVersion::V1_0_2,
        "1.0.3" => MacVersion::V1_0_3,
        "1.0.4" => MacVersion::V1_0_4,
        "1.1" => MacVersion::V1_1,
        other => anyhow::bail!("--version {other}: expected 1.0.2, 1.0.3, 1.0.4 or 1.1"),
    };
    let base = u32::from_str_radix(&args.dev_addr_base, 16)
        .map_err(|e| anyhow::anyhow!("--dev-addr-base: {e}"))?;
    let mut devices = Vec::with_capacity(args.devices as usize);
    for i in 0..args.devices {
        let addr = DevAddr(base.wrapping_add(i));
        let keys = session_keys(version, args.seed, i);
        if args.print_devices {
            println!("{}", describe(addr, &keys));
        }
        devices.push(Device::abp(version, addr, keys)?);
    }
    if args.print_devices {
        return Ok(());
    }
    let by_addr: HashMap<u32, usize> = devices
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.session().map(|s| (s.dev_addr().0, i)))
        .collect();

    let sim = Simulation::start(args.ns, args.gateways).await?;
    anyhow::ensure!(
        sim.connect(Duration::from_secs(2)).await,
        "not every gateway got a PULL_ACK from {}",
        args.ns
    );
    let radio = RadioParams::eu868(5, 0).ok_or_else(|| anyhow::anyhow!("EU868 DR5"))?;
    let mut phy = Vec::with_capacity(64);
    for n in 0..args.uplinks {
        let i = (n % u64::from(args.devices)) as usize;
        let payload = n.to_be_bytes();
        devices[i].uplink_into(&Uplink::unconfirmed(1, &payload), &mut phy)?;
        for (g, gateway) in sim.gateways().iter().enumerate() {
            // The further the gateway, the weaker.
            let params = RadioParams {
                rssi_dbm: -60 - 10 * g as i16,
                snr_db: 8.0 - 2.0 * g as f32,
                ..radio
            };
            gateway.send_uplink(&phy, &params).await?;
        }
    }

    let (mut received, mut accepted) = (0_u64, 0_u64);
    for down in sim
        .drain_downlinks(Duration::from_millis(args.linger_ms))
        .await
    {
        received += 1;
        let addr = down
            .phy
            .get(1..5)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if let Some(&i) = addr.and_then(|a| by_addr.get(&a)) {
            accepted += u64::from(devices[i].accept_downlink(&down.phy).is_ok());
        }
    }
    let (mut push_sent, mut push_acked) = (0, 0);
    for gateway in sim.gateways() {
        let s = gateway.stats();
        push_sent += s.push_sent;
        push_acked += s.push_acked;
    }
    eprintln!(
        "sim: {} uplinks x {} gateways: {push_acked}/{push_sent} PUSH_ACKs, \
         {received} downlinks, {accepted} accepted by their device",
        args.uplinks, args.gateways
    );
    println!(
        "{}",
        serde_json::json!({
            "uplinks": args.uplinks,
            "push_sent": push_sent,
            "push_acked": push_acked,
            "downlinks": received,
            "downlinks_accepted": accepted,
        })
    );
    Ok(())
}
