//! `jsd import | claim | unclaim | show` as an operator runs them: the built binary, a config
//! file, a SQLite file, JSON on stdout, problems on stderr with exit code 1.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const MASTER_KEY: &str = "000102030405060708090a0b0c0d0e0f";

/// A config file and its database in `dir`; the master key comes from the environment.
fn write_config(dir: &Path) -> std::path::PathBuf {
    let config = dir.join("jsd.toml");
    let database = dir.join("jsd.db");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n\n[[peers]]\nname = \"ops\"\n\
             token = \"operator-token-0000001\"\noperator = true\n",
            database.display()
        ),
    )
    .expect("write config");
    config
}

fn jsd(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jsd"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("JSD_KEYS__MASTER_KEY", MASTER_KEY)
        .env_remove("JSD_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run jsd")
}

/// The JSON a successful run printed.
fn success(output: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// The stderr of a run that failed with exit code 1 and printed nothing on stdout.
fn failure(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn import_claim_show_and_unclaim_at_the_console() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = write_config(dir.path());
    let file = dir.path().join("batch.csv");
    std::fs::write(
        &file,
        "DevEUI,JoinEUI,AppKey,LoRaWANVersion\n\
         70B3D57ED0000001,70B3D57ED0000000,2B7E151628AED2A6ABF7158809CF4F3C,1.0.3\n\
         70B3D57ED0000002,70B3D57ED0000000,2B7E151628AED2A6ABF7158809CF4F3C,1.0.3\n",
    )
    .expect("write file");
    let file = file.to_str().expect("UTF-8 path");

    let imported = success(&jsd(&config, &["import", file, "--batch", "lot-7"]));
    assert_eq!(imported["batch"], "lot-7");
    assert_eq!(imported["imported"], 2);
    assert_eq!(imported["devices"][0]["dev_eui"], "70b3d57ed0000001");
    let token = imported["devices"][0]["owner_token"]
        .as_str()
        .expect("owner token")
        .to_owned();

    // Options may also follow the subcommand.
    let claimed = success(&jsd(
        &config,
        &[
            "claim",
            "70B3D57ED0000001",
            "--owner-token",
            &token,
            "--home-net-id",
            "000013",
        ],
    ));
    assert_eq!(claimed["outcome"], "claimed");
    assert_eq!(claimed["device"]["home_net_id"], "000013");

    let shown = success(&jsd(&config, &["show", "70b3d57ed0000001"]));
    assert_eq!(shown["state"], "claimed");
    assert_eq!(
        shown["history"][0]["detail"]
            .as_str()
            .map(|d| d.contains("lot-7")),
        Some(true)
    );
    assert!(!shown.to_string().contains(&token));

    let unclaimed = success(&jsd(&config, &["unclaim", "70b3d57ed0000001"]));
    assert_eq!(unclaimed["state"], "unclaimed");

    // Refusals name the problem.
    let stderr = failure(&jsd(&config, &["unclaim", "70b3d57ed0000001"]));
    assert!(stderr.contains("not claimed"), "{stderr}");
    let stderr = failure(&jsd(&config, &["show", "70b3d57ed00000ff"]));
    assert!(stderr.contains("70b3d57ed00000ff"), "{stderr}");
    let stderr = failure(&jsd(
        &config,
        &[
            "claim",
            "70b3d57ed0000002",
            "--owner-token",
            "00112233445566778899AABBCCDDEEFF",
            "--home-net-id",
            "000013",
        ],
    ));
    assert!(stderr.contains("invalid owner token"), "{stderr}");
    let stderr = failure(&jsd(&config, &["import", file]));
    assert!(stderr.contains("already imported"), "{stderr}");
    assert!(stderr.contains("70b3d57ed0000002"), "{stderr}");
}

#[test]
fn a_bad_file_exits_1_naming_every_line_and_imports_nothing() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = write_config(dir.path());
    let file = dir.path().join("bad.csv");
    std::fs::write(
        &file,
        "DevEUI,JoinEUI,AppKey,LoRaWANVersion\n\
         70B3D57ED0000001,70B3D57ED0000000,2B7E151628AED2A6ABF7158809CF4F3C,1.0.3\n\
         70B3D57ED0000002,70B3D57ED0000000,2B7E15,1.0.3\n\
         70B3D57ED0000003,70B3D57ED0000000,2B7E151628AED2A6ABF7158809CF4F3C,9.9\n",
    )
    .expect("write file");
    let file = file.to_str().expect("UTF-8 path");

    let stderr = failure(&jsd(&config, &["import", file, "--format", "csv"]));
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines[0].contains("nothing imported"), "{stderr}");
    assert!(
        lines.iter().any(|l| l.starts_with("line 3, AppKey: ")),
        "{stderr}"
    );
    assert!(lines.iter().any(|l| l.starts_with("line 4, ")), "{stderr}");
    // Nothing was imported, not even the good line 2.
    let stderr = failure(&jsd(&config, &["show", "70b3d57ed0000001"]));
    assert!(stderr.contains("not pre-commissioned"), "{stderr}");

    // A file that cannot be read, and a format the file is not in.
    let stderr = failure(&jsd(&config, &["import", "/no/such/file.csv"]));
    assert!(stderr.contains("/no/such/file.csv"), "{stderr}");
    let stderr = failure(&jsd(&config, &["import", file, "--format", "json"]));
    assert!(stderr.contains("line 1"), "{stderr}");
}

#[test]
fn the_config_is_checked_and_arguments_are_parsed_before_anything_runs() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = write_config(dir.path());

    // --check-config still prints the config, secrets redacted, and touches no database.
    let output = jsd(&config, &["--check-config"]);
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(!printed.contains("operator-token"), "{printed}");
    assert!(printed.contains("<redacted>"), "{printed}");
    assert!(!dir.path().join("jsd.db").exists());

    // A malformed DevEUI is a usage error, named, before the database is opened.
    let output = jsd(&config, &["show", "70b3"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("DEV_EUI"));
    assert!(!dir.path().join("jsd.db").exists());

    // A config the join server cannot run with: the key at fault is named.
    let output = Command::new(env!("CARGO_BIN_EXE_jsd"))
        .arg("--config")
        .arg(&config)
        .args(["show", "70b3d57ed0000001"])
        .env_remove("JSD_KEYS__MASTER_KEY")
        .env_remove("JSD_CONFIG")
        .output()
        .expect("run jsd");
    let stderr = failure(&output);
    assert!(stderr.contains("keys.master_key"), "{stderr}");

    // The subcommands are in --help.
    let output = Command::new(env!("CARGO_BIN_EXE_jsd"))
        .arg("--help")
        .output()
        .expect("run jsd");
    let help = String::from_utf8_lossy(&output.stdout);
    for name in ["import", "claim", "unclaim", "show", "--check-config"] {
        assert!(help.contains(name), "{help}");
    }
}
