//! The README's main command end to end: `deploy/local.sh --once` starts the real binaries as
//! the local federation (hub, two nsd — one speaking TS002 1.1 with an NSID, one 1.0 —, the
//! jsd, the AS receiver) and plays the scenario: a join at home and one through the other
//! operator's gateway, roaming uplinks reaching A's AS with Roaming=1, an AS downlink
//! reaching the roaming device through B, a refused roam-out, a partner without agreement,
//! B's network server stopped mid-traffic (nothing lost at A), the hub's UDRs. The script's status is the
//! scenario's: one failed step fails this test, and its output says which.
//!
//! It uses the binaries `cargo test --workspace` builds (hub, nsd, jsd beside this package's
//! own), on fixed loopback ports 8600–8900, with databases in a scratch directory.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_local_federation_plays_its_whole_scenario() {
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_federation"))
        .parent()
        .expect("the target directory")
        .to_path_buf();
    for daemon in ["hub", "nsd", "jsd"] {
        assert!(
            bin_dir.join(daemon).exists(),
            "{} is missing: build the daemons first (cargo build --bins, or cargo test --workspace)",
            bin_dir.join(daemon).display()
        );
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf();
    let run = tempfile::tempdir().expect("scratch directory");
    let output = Command::new(root.join("deploy/local.sh"))
        .arg("--once")
        .env("SWITCHYARD_LOCAL_BIN", &bin_dir)
        .env("SWITCHYARD_LOCAL_DIR", run.path())
        .current_dir(&root)
        .output()
        .expect("deploy/local.sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let logs: String = ["hub", "nsd-a", "nsd-b", "jsd"]
        .iter()
        .map(|name| {
            let log =
                std::fs::read_to_string(run.path().join(format!("{name}.log"))).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            format!(
                "--- {name}.log (end) ---\n{}\n",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        })
        .collect();
    assert!(
        output.status.success(),
        "the scenario failed ({}):\n{stdout}\n{stderr}\n{logs}",
        output.status
    );
    for step in [
        "home join",
        "refused roam-out",
        "roaming join",
        "roaming uplink",
        "roaming downlink",
        "partner without agreement",
        "fNS outage",
        "UDR",
    ] {
        assert!(
            stdout.to_lowercase().contains(&step.to_lowercase()),
            "the scenario's output names the step {step:?}:\n{stdout}"
        );
    }
    assert!(!stdout.contains('✗'), "no step failed:\n{stdout}");
}
