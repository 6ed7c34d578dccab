//! Switchyard hub: the roaming hub every network server and join server connects to.
//!
//! [`Daemon::start`] opens the database, builds the routes and serves; `main.rs` hands the
//! command line to the shared [`service::cli`], which runs the [`cli`] subcommands
//! (`hub hash-token`, `hub seal-token`) too.

pub mod access;
pub mod api;
pub mod audit;
pub mod cli;
pub mod config;
pub mod members;
pub mod owned_file;
pub mod policy;
pub mod relay;
pub mod rfparams;
pub mod routing;
pub mod shield;
pub mod storage;
pub mod udr;

use std::sync::Arc;

use backend::codec::Codec;
use backend::http::client::{BiClient, ClientConfig};
use backend::http::pending::PendingAnswers;
use service::daemon::{Daemon, DaemonSpec, Running, StartError};
use service::database::DatabaseConfig;
use service::server::ServerConfig;

pub use config::Config;

/// What the shared start-up needs to know about the hub.
pub const SPEC: DaemonSpec = DaemonSpec {
    name: "hub",
    migrations: storage::MIGRATIONS,
};

/// The `hub` daemon, for the shared command line and tests.
#[derive(Debug, Clone, Copy)]
pub struct Hub;

impl Daemon for Hub {
    const NAME: &'static str = "hub";
    const ENV_PREFIX: &'static str = "HUB";
    const ABOUT: &'static str = "The Switchyard roaming hub: routes LoRaWAN Backend Interfaces messages between member network servers and join servers";
    type Config = Config;

    fn common(config: &Config) -> (&ServerConfig, &DatabaseConfig) {
        (&config.server, &config.database)
    }

    fn subcommands() -> Vec<service::cli::clap::Command> {
        cli::subcommands()
    }

    async fn run_subcommand(
        name: &str,
        args: &service::cli::clap::ArgMatches,
        config: &Config,
    ) -> std::process::ExitCode {
        cli::run(name, args, config)
    }

    async fn start(config: &Config) -> Result<Running, StartError> {
        let keyring = config
            .keyring()
            .map_err(|e| StartError::Setup(e.to_string()))?;
        let member_files = config.members.files().with_keyring(keyring);
        let directory = Arc::new(load_members(&member_files)?);
        let codec = Arc::new(Codec::new().map_err(|e| StartError::Setup(format!("schemas: {e}")))?);
        let client = BiClient::new(
            &ClientConfig {
                connect_timeout: Some(config.routing.connect_timeout()),
                request_timeout: Some(config.routing.answer_timeout()),
                ..ClientConfig::default()
            },
            Arc::clone(&codec),
        )
        .map_err(|e| StartError::Setup(format!("client: {e}")))?;
        let pending = PendingAnswers::new();
        let policies = load_policies(config)?;
        if directory.members().is_empty() {
            tracing::warn!("no members: every message will be refused (set [members] file)");
        }
        let max_body_bytes = bi_body_limit(config)?;
        let shield_config = config.shield;
        let answer_timeout = config.routing.answer_timeout();
        let policy_dir = config.policies.dir.clone();
        config.check_operators().map_err(StartError::Setup)?;
        if config.operators.is_empty() {
            tracing::warn!("no [[operators]]: the admin API refuses every request");
        }
        for (operator, member) in config.unknown_operator_members(&directory) {
            tracing::warn!(
                operator,
                member,
                "[[operators]] members names no member (yet): nothing of it to see until it is added"
            );
        }
        let operators = config.operators.clone();
        let push = rfparams::PushSettings {
            connect_timeout: config.routing.connect_timeout(),
            ..rfparams::PushSettings::default()
        };
        service::daemon::start(SPEC, &config.server, &config.database, async |resources| {
            let pool = resources.database.pool().clone();
            let udrs = udr::UdrWriter::start(&resources.database)
                .map_err(|e| StartError::Setup(format!("UDR writer: {e}")))?;
            resources.finish_on_stop({
                let udrs = udrs.clone();
                async move { udrs.close().await }
            });
            let metrics = shield::ShieldMetrics::register(resources.metrics.registry_mut());
            let audit = audit::AuditLog::start(
                pool.clone(),
                shield_config.audit_queue.get(),
                metrics.audit_dropped(),
            );
            let shield = shield::Shield::new(shield_config.breaker(), audit, metrics);
            let relay = Arc::new(relay::Relay::new(
                directory,
                policies,
                udrs,
                client.clone(),
                pending.clone(),
                answer_timeout,
                shield,
            ));
            let admin = Arc::new(api::admin::Admin::new(
                Arc::clone(&relay),
                pool.clone(),
                &operators,
                member_files,
                policy_dir.clone(),
            ));
            reload_on_hangup(Arc::clone(&admin));
            let store = rfparams::RfParamStore::new(resources.database.pool().clone());
            let control = rfparams::RfSync::start(Arc::clone(&relay), store, push)
                .map_err(|e| StartError::Setup(format!("control client: {e}")))?;
            Ok(
                api::bi::router(relay, codec, client, pending, max_body_bytes)
                    .merge(api::admin::router(admin))
                    .merge(api::control::router(control)),
            )
        })
        .await
    }
}

/// `[shield] max_body_bytes`, checked to be below `[server] max_body_bytes`: the shared
/// layer refuses bodies over its limit with a plain HTTP 413, so the BI endpoint's own
/// limit (answered as a Backend Interfaces message, and audited) must be the one that
/// applies.
fn bi_body_limit(config: &Config) -> Result<usize, StartError> {
    let (bi, server) = (config.shield.max_body_bytes, config.server.max_body_bytes);
    if bi >= server {
        return Err(StartError::Setup(format!(
            "[shield] max_body_bytes ({bi}) must be below [server] max_body_bytes ({server}), \
             so that oversized messages are answered as Backend Interfaces messages"
        )));
    }
    Ok(bi)
}

/// The policies of `[policies] dir`, checked whole; none without a directory.
fn load_policies(config: &Config) -> Result<policy::PolicySet, StartError> {
    let Some(dir) = &config.policies.dir else {
        tracing::warn!("no [policies] dir: every roaming message and join will be refused");
        return Ok(policy::PolicySet::empty());
    };
    policy::PolicySet::load_dir(dir).map_err(|errors| {
        StartError::Setup(format!(
            "policies: {}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })
}

/// Reloads the members files and the policy directory on every SIGHUP; a bad edit of either
/// is refused whole and what is in force stays.
fn reload_on_hangup(admin: Arc<api::admin::Admin>) {
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP: members and policies reload only on restart");
            return;
        };
        while hangups.recv().await.is_some() {
            match admin.reload_members().await {
                Ok(members) => tracing::info!(members, "members reloaded"),
                Err(error) => tracing::error!(%error, "members not reloaded"),
            }
            if !admin.has_policy_dir() {
                continue;
            }
            match admin.reload_policies().await {
                Ok(policies) => tracing::info!(
                    agreements = policies.agreements().len(),
                    activation_rules = policies.activation_rules().len(),
                    "policies reloaded"
                ),
                Err(error) => tracing::error!(%error, "policies not reloaded"),
            }
        }
    });
}

/// The members of `[members] file` and `api_file`, checked whole; none without files.
fn load_members(files: &members::edit::MemberFiles) -> Result<members::Directory, StartError> {
    files
        .load()
        .map_err(|problems| StartError::Setup(format!("members: {}", problems.join("; "))))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_members_file_is_a_valid_federation() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/members.example.toml"
        );
        let text = std::fs::read_to_string(path).expect("example members file");
        let loaded = super::members::file::parse(&text).expect("every member parses");
        let directory = super::members::Directory::new(loaded).expect("no conflicts");
        assert_eq!(directory.members().len(), 2);
    }

    #[test]
    fn the_example_config_matches_the_defaults() {
        service::testing::check_example_config::<super::Hub>(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.."
        )));
    }
}
