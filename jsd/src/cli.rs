//! `jsd import | claim | unclaim | show`: the device operations at the console.
//!
//! Each subcommand loads the same config as the daemon (`--config`, `JSD_…`), opens the
//! database directly (migrating it, as the daemon does), and calls the [`JoinServer`] as
//! [`Caller::Console`], the operator. The answer is printed as JSON on stdout, the same JSON
//! the admin API answers; a refusal is printed on stderr, one problem per line, with exit
//! code 1.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use jsd::app::devices::{AdminError, Imported};
use jsd::app::{Caller, Clock, JoinServer, SystemClock};
use jsd::device::{ClaimOutcome, Format, Home, ImportError, OwnerToken};
use jsd::storage::DeviceStore;
use jsd::Config;
use lorawan::ids::{Eui64, NetId};
use serde_json::{json, Value};
use service::cli::clap::{builder::PossibleValuesParser, Arg, ArgMatches, Command};
use service::database::Database;

const NAME: &str = "jsd";

/// The subcommands, for the shared command line.
pub fn subcommands() -> Vec<Command> {
    let dev_eui = || {
        Arg::new("dev_eui")
            .value_name("DEV_EUI")
            .required(true)
            .value_parser(parse::<Eui64>)
            .help("DevEUI, 16 hex digits")
    };
    vec![
        Command::new("import")
            .about(
                "Import a manufacturer file (JSON or CSV); prints each DevEUI with its owner token",
            )
            .arg(
                Arg::new("file")
                    .value_name("FILE")
                    .required(true)
                    .value_parser(service::cli::clap::value_parser!(PathBuf))
                    .help("The manufacturer file, or - for stdin"),
            )
            .arg(
                Arg::new("batch").long("batch").value_name("NAME").help(
                    "Batch name kept in each device's history [default: the file name and time]",
                ),
            )
            .arg(
                Arg::new("format")
                    .long("format")
                    .value_parser(PossibleValuesParser::new(["json", "csv"]))
                    .help("File format [default: detected from the first character]"),
            ),
        Command::new("claim")
            .about("Claim a device for a home network with its owner token")
            .arg(dev_eui())
            .arg(
                Arg::new("owner_token")
                    .long("owner-token")
                    .value_name("TOKEN")
                    .required(true)
                    .help("The owner token printed by the import (32 hex digits)"),
            )
            .arg(
                Arg::new("home_net_id")
                    .long("home-net-id")
                    .value_name("NETID")
                    .required(true)
                    .value_parser(parse::<NetId>)
                    .help("The home network's NetID, 6 hex digits"),
            )
            .arg(
                Arg::new("home_nsid")
                    .long("home-nsid")
                    .value_name("NSID")
                    .value_parser(parse::<Eui64>)
                    .help("The home network server's NSID, when it has one"),
            ),
        Command::new("unclaim")
            .about("Release a claimed device (as the operator)")
            .arg(dev_eui()),
        Command::new("show")
            .about("Show a device, without its secrets")
            .arg(dev_eui()),
    ]
}

/// Runs subcommand `name`; the exit code is 0 on success, 1 on any refusal or failure.
pub async fn run(name: &str, args: &ArgMatches, config: &Config) -> ExitCode {
    // Refuse a config that cannot run before touching the database, as the daemon does.
    let runnable = config
        .keyring()
        .and_then(|_| config.kek_table())
        .and_then(|_| config.check_peers());
    if let Err(e) = runnable {
        return fail(&format!("config: {e}"));
    }
    let database = match Database::connect(&config.database, jsd::storage::MIGRATIONS).await {
        Ok(database) => database,
        Err(e) => return fail(&format!("database: {e}")),
    };
    let outcome = match JoinServer::new(
        config,
        DeviceStore::new(database.pool().clone()),
        Arc::new(SystemClock),
    ) {
        Ok(server) => dispatch(&server, name, args).await,
        Err(e) => Err(format!("config: {e}")),
    };
    database.close().await;
    match outcome {
        Ok(answer) => match serde_json::to_string_pretty(&answer) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("cannot print the answer: {e}")),
        },
        Err(message) => fail(&message),
    }
}

async fn dispatch(server: &JoinServer, name: &str, args: &ArgMatches) -> Result<Value, String> {
    let console = Caller::Console;
    match name {
        "import" => {
            let path = args
                .get_one::<PathBuf>("file")
                .ok_or("import: FILE is required")?;
            let bytes = read_file(path)?;
            let format = match args.get_one::<String>("format").map(String::as_str) {
                Some("json") => Some(Format::Json),
                Some("csv") => Some(Format::Csv),
                _ => None,
            };
            let batch = args.get_one::<String>("batch").cloned().unwrap_or_else(|| {
                // As the admin API names a batch, with the file it came from.
                let file = match path.file_name() {
                    Some(name) if path != Path::new("-") => name.to_string_lossy(),
                    _ => "stdin".into(),
                };
                format!(
                    "import of {file} at {} by {}",
                    SystemClock.unix_seconds(),
                    console.name()
                )
            });
            let imported = server
                .import(console, &bytes, format, &batch)
                .await
                .map_err(|e| explain(&e))?;
            Ok(import_answer(&batch, &imported))
        }
        "claim" => {
            let dev_eui = one::<Eui64>(args, "dev_eui")?;
            let token: OwnerToken = args
                .get_one::<String>("owner_token")
                .ok_or("claim: --owner-token is required")?
                .parse()
                .map_err(|e| format!("--owner-token: {e}"))?;
            let home = Home {
                net_id: one::<NetId>(args, "home_net_id")?,
                nsid: args.get_one::<Eui64>("home_nsid").copied(),
            };
            let (outcome, device) = server
                .claim(console, dev_eui, &token, home)
                .await
                .map_err(|e| explain(&e))?;
            let outcome = match outcome {
                ClaimOutcome::Claimed => "claimed",
                ClaimOutcome::AlreadyYours => "already_yours",
            };
            Ok(json!({"outcome": outcome, "device": device}))
        }
        "unclaim" => {
            let dev_eui = one::<Eui64>(args, "dev_eui")?;
            let device = server
                .unclaim(console, dev_eui, None)
                .await
                .map_err(|e| explain(&e))?;
            serde_json::to_value(device).map_err(|e| e.to_string())
        }
        "show" => {
            let dev_eui = one::<Eui64>(args, "dev_eui")?;
            let device = server
                .show(console, dev_eui)
                .await
                .map_err(|e| explain(&e))?;
            serde_json::to_value(device).map_err(|e| e.to_string())
        }
        other => Err(format!("no subcommand {other:?}")),
    }
}

/// The same shape as the admin API's import answer.
fn import_answer(batch: &str, imported: &[Imported]) -> Value {
    let devices: Vec<Value> = imported
        .iter()
        .map(|d| json!({"dev_eui": d.dev_eui.to_string(), "owner_token": d.owner_token.expose_text()}))
        .collect();
    json!({"batch": batch, "imported": devices.len(), "devices": devices})
}

/// The refusal for a person: the error, then every bad row or DevEUI on its own line.
fn explain(error: &AdminError) -> String {
    let mut text = error.to_string();
    match error {
        AdminError::Import(ImportError::Invalid(rows)) => {
            text = format!("import refused, nothing imported: {} error(s)", rows.len());
            for row in rows {
                let _ = write!(text, "\n{row}");
            }
        }
        AdminError::AlreadyImported(dev_euis) => {
            text.push(':');
            for dev_eui in dev_euis {
                let _ = write!(text, "\n{dev_eui}");
            }
        }
        _ => {}
    }
    text
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        return Ok(bytes);
    }
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn one<T: Clone + Send + Sync + 'static>(args: &ArgMatches, id: &str) -> Result<T, String> {
    args.get_one::<T>(id)
        .cloned()
        .ok_or_else(|| format!("{id} is required"))
}

fn parse<T>(text: &str) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| e.to_string())
}

fn fail(message: &str) -> ExitCode {
    eprintln!("{NAME}: {message}");
    ExitCode::FAILURE
}
