//! Switchyard nsd: a LoRaWAN network server (gateways, MAC, AS tunnel, passive roaming).
//!
//! [`Daemon::start`] opens the database, builds the routes and serves; `main.rs` hands the
//! command line to the shared [`service::cli`].

pub mod api;
pub mod app;
pub mod config;
pub mod device;
pub mod downlink;
pub mod gateway;
pub mod join;
pub mod mac;
pub mod metrics;
pub mod roaming;
pub mod storage;
pub mod tunnel;
pub mod uplink;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use backend::codec::Codec;
use backend::http::client::{BiClient, ClientConfig, PeerEndpoint};
use backend::http::pending::PendingAnswers;
use gateway::semtech::server::{SemtechConfig, SemtechUdp};
use service::daemon::{Daemon, DaemonSpec, Running, StartError};
use service::database::DatabaseConfig;
use service::server::ServerConfig;

pub use config::Config;

/// What the shared start-up needs to know about the nsd.
pub const SPEC: DaemonSpec = DaemonSpec {
    name: "nsd",
    migrations: storage::MIGRATIONS,
};

/// The `nsd` daemon, for the shared command line and tests.
#[derive(Debug, Clone, Copy)]
pub struct Nsd;

impl Daemon for Nsd {
    const NAME: &'static str = "nsd";
    const ENV_PREFIX: &'static str = "NSD";
    const ABOUT: &'static str = "The Switchyard network server: serves gateways and devices, and roams through the hub as forwarding or serving network server";
    type Config = Config;

    fn common(config: &Config) -> (&ServerConfig, &DatabaseConfig) {
        (&config.server, &config.database)
    }

    async fn start(config: &Config) -> Result<Running, StartError> {
        start_with(config, None).await.map(|(running, _)| running)
    }
}

/// Receptions waiting for the pipeline; beyond this the gateway front end drops and counts.
const RECEPTION_QUEUE: usize = 16_384;

/// What a running nsd exposes besides its HTTP server, for tests and tools.
#[derive(Debug, Clone)]
pub struct Handles {
    /// The network server.
    pub server: Arc<app::NetworkServer>,
    /// Where the Semtech UDP front end listens.
    pub udp_addr: std::net::SocketAddr,
}

/// Starts the nsd; `served`, if given, receives what became of every frame.
pub async fn start_with(
    config: &Config,
    served: Option<tokio::sync::mpsc::UnboundedSender<app::pipeline::Served>>,
) -> Result<(Running, Handles), StartError> {
    // Refuse a config that cannot run before touching the database or a socket.
    config.check().map_err(setup)?;
    let keyring = Arc::new(config.keyring().map_err(setup)?);
    let dev_addr_pool = config.dev_addr_pool().map_err(setup)?;
    if config.operators.is_empty() {
        tracing::warn!("no [[operators]]: the admin API refuses every request");
    }
    let codec = Arc::new(Codec::new().map_err(|e| setup(format!("schemas: {e}")))?);
    let client = BiClient::new(&ClientConfig::default(), Arc::clone(&codec))
        .map_err(|e| setup(format!("join client: {e}")))?;
    let pending = PendingAnswers::new();
    let roaming = match config.roaming.settings().map_err(setup)? {
        Some(settings) => Some(Arc::new(
            app::roaming::Roaming::new(settings, client.clone(), pending.clone()).map_err(setup)?,
        )),
        None => None,
    };
    let servers = join_servers(config)?;
    let registry = Arc::new(gateway::registry::Registry::new());
    let (receptions, reception_queue) = tokio::sync::mpsc::channel(RECEPTION_QUEUE);
    let udp = SemtechUdp::bind(
        SemtechConfig {
            bind: config.gateways.udp_listen,
            keepalive_timeout: Duration::from_secs(config.gateways.keepalive_timeout_s),
            tx_ack_timeout: Duration::from_millis(config.gateways.tx_ack_timeout_ms),
            ..SemtechConfig::default()
        },
        Arc::clone(&registry),
        receptions,
    )
    .await
    .map_err(|e| {
        setup(format!(
            "gateways.udp_listen {}: {e}",
            config.gateways.udp_listen
        ))
    })?;
    let udp_addr = udp.local_addr().map_err(|e| setup(e.to_string()))?;
    let mut handles = None;
    let settings = app::Settings {
        net_id: config.network.net_id,
        nsid: config.network.nsid.clone(),
        dev_addr_pool,
        joins: app::join::Joins {
            servers,
            client,
            pending: pending.clone(),
        },
        downlinks: app::downlink::Downlinks::new(udp.clone()).with_options(
            downlink::class_c::ClassCOptions {
                max_delay: Duration::from_millis(config.downlink.class_c_max_delay_ms),
                retry_interval: Duration::from_millis(config.downlink.class_c_retry_interval_ms),
                ack_timeout: Duration::from_millis(config.downlink.class_c_ack_timeout_ms),
                ..downlink::class_c::ClassCOptions::default()
            },
            downlink::multicast::MulticastOptions {
                collision_avoidance_distance_m: config
                    .downlink
                    .multicast_collision_avoidance_distance_m,
                max_attempts: config.downlink.multicast_max_attempts.max(1),
                ..downlink::multicast::MulticastOptions::default()
            },
        ),
        gateways: registry,
        tenancy: config.tenancy().map_err(setup)?,
        as_profiles: config
            .tunnel
            .profiles()
            .map_err(|e| setup(format!("tunnel: {e}")))?,
        keepalive_timeout: Duration::from_secs(config.gateways.keepalive_timeout_s),
        roaming: roaming.clone(),
    };
    let delivery = tunnel::delivery::ReportDelivery::new(config.tunnel.delivery())
        .map_err(|e| setup(format!("tunnel client: {e}")))?;
    let multicast_links = config
        .tunnel
        .multicast_links(&settings.as_profiles)
        .map_err(|e| setup(format!("tunnel: {e}")))?;
    let uplink = config.uplink;
    let operators = config.operators.clone();
    let running =
        service::daemon::start(SPEC, &config.server, &config.database, async |resources| {
            let pool = resources.database.pool().clone();
            let frames = metrics::FrameMetrics::register(resources.metrics.registry_mut());
            let served = Some(metrics::counting(frames, served));
            let server = app::NetworkServer::load(
                settings,
                storage::DeviceStore::with_group_commit(pool.clone(), keyring),
                storage::GatewayStore::new(pool),
            )
            .await
            .map_err(|e| setup(format!("loading devices and gateways: {e}")))?;
            let server = Arc::new(server);
            let stopping = resources.stopping();
            tokio::spawn(async move { udp.serve(stopping).await });
            tokio::spawn(app::pipeline::run(
                Arc::clone(&server),
                reception_queue,
                Duration::from_millis(uplink.dedup_window_ms),
                uplink.max_receptions,
                served,
            ));
            // Reports to the application servers: every accepted uplink, and the fate of every
            // application downlink; both end with the daemon.
            let reports =
                forward_reports(Arc::clone(&server), Arc::clone(&delivery), multicast_links);
            let stopping = resources.stopping();
            tokio::spawn(async move {
                tokio::select! {
                    () = reports => {}
                    () = stopping => {}
                }
            });
            if let Some(roaming) = roaming {
                // The partners and join servers the hub lets us use; ends with the daemon.
                let stopping = resources.stopping();
                tokio::spawn(async move {
                    tokio::select! {
                        () = app::roaming::keep_peers_fresh(roaming) => {}
                        () = stopping => {}
                    }
                });
            }
            handles = Some(Arc::clone(&server));
            let bi = api::bi::router(Arc::clone(&server), codec, pending);
            Ok(api::routes(server, &operators, Some(delivery)).merge(bi))
        })
        .await?;
    let server = handles.ok_or_else(|| setup("the routes were not built"))?;
    Ok((running, Handles { server, udp_addr }))
}

/// The multicast groups' report targets by group id: DevEUI and routing.
type MulticastLinks = std::collections::HashMap<String, (lorawan::ids::Eui64, tunnel::AsRouting)>;

/// Reports accepted uplinks, downlink fates, joins, resets and multicast frames to the
/// application servers.
async fn forward_reports(
    server: Arc<app::NetworkServer>,
    delivery: Arc<tunnel::delivery::ReportDelivery>,
    multicast_links: MulticastLinks,
) {
    let notices = forward_notices(Arc::clone(&server), Arc::clone(&delivery), multicast_links);
    let uplinks = delivery
        .clone()
        .forward_uplinks(Arc::clone(&server), server.subscribe());
    let mut sent = server.subscribe_downlinks();
    let downlinks = async {
        loop {
            match sent.recv().await {
                Ok(event) => {
                    delivery
                        .report_with(
                            &*server,
                            event.dev_eui,
                            SystemTime::now(),
                            |routing, lrc| tunnel::report::downlink_sent(&event, routing, lrc),
                        )
                        .await;
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "AS tunnel fell behind; downlink reports lost");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    };
    tokio::join!(uplinks, downlinks, notices);
}

/// Joins, ABP counter resets and multicast frames → notification and multicast summary
/// reports (seed 001 §6.4).
async fn forward_notices(
    server: Arc<app::NetworkServer>,
    delivery: Arc<tunnel::delivery::ReportDelivery>,
    multicast_links: MulticastLinks,
) {
    use app::notice::Notice;
    use tunnel::report::{self, Notification};
    let mut notices = server.subscribe_notices();
    loop {
        let notice = match notices.recv().await {
            Ok(notice) => notice,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "AS tunnel fell behind; notifications lost");
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        };
        let now = SystemTime::now();
        match &*notice {
            Notice::Joined {
                dev_eui,
                dev_addr,
                mac_version,
                app_s_key,
                time,
            } => {
                // "The FCntDn [AFCntDn] is reset to 0 in this report" (§6.4.1): a new session.
                let v1_1 = *mac_version == lorawan::join::MacVersion::V1_1;
                delivery
                    .report_with(&*server, *dev_eui, now, |routing, lrc| {
                        let wrapped = routing
                            .profile
                            .transport_key
                            .as_ref()
                            .zip(app_s_key.as_ref())
                            .map(|(astk, key)| {
                                lorawan::keywrap::wrap_key(astk, key)
                                    .iter()
                                    .map(|b| format!("{b:02x}"))
                                    .collect()
                            });
                        report::notification(
                            *dev_eui,
                            *dev_addr,
                            &Notification::Join { app_s_key: wrapped },
                            *time,
                            (!v1_1).then_some(0),
                            v1_1.then_some(0),
                            routing,
                            lrc,
                        )
                    })
                    .await;
            }
            Notice::CounterReset {
                dev_eui,
                dev_addr,
                time,
            } => {
                let next = server.next_as_counter(*dev_eui).await.ok();
                delivery
                    .report_with(&*server, *dev_eui, now, |routing, lrc| {
                        report::notification(
                            *dev_eui,
                            *dev_addr,
                            &Notification::AutomaticReset,
                            *time,
                            next,
                            None,
                            routing,
                            lrc,
                        )
                    })
                    .await;
            }
            Notice::MulticastSent {
                group,
                dev_addr,
                f_port,
                report: sent,
                time,
            } => {
                let Some((dev_eui, routing)) = multicast_links.get(group) else {
                    continue;
                };
                let mut failures: Vec<(downlink::delivery::DeliveryFailedCause, u32)> = Vec::new();
                for cause in sent.gateways.iter().filter_map(|g| g.result.err()) {
                    match failures.iter_mut().find(|(c, _)| *c == cause) {
                        Some((_, n)) => *n += 1,
                        None => failures.push((cause, 1)),
                    }
                }
                let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
                let summary = report::MulticastSummary {
                    dev_eui: *dev_eui,
                    dev_addr: *dev_addr,
                    time: *time,
                    f_port: *f_port,
                    f_cnt_dn: sent.f_cnt,
                    lrr_count: count(sent.gateways.len()),
                    lrr_success: count(sent.gateways.iter().filter(|g| g.result.is_ok()).count()),
                    failures,
                    correlation_id: None,
                };
                let report =
                    report::multicast_summary(&summary, routing, &delivery.config().lrc_id);
                delivery.submit(&report, routing, now);
            }
        }
    }
}

fn setup(reason: impl ToString) -> StartError {
    StartError::Setup(reason.to_string())
}

/// `[[join.servers]]` as the join path uses them.
fn join_servers(config: &Config) -> Result<Vec<app::join::JoinServer>, StartError> {
    let ranges = config.join_ranges().map_err(setup)?;
    config
        .join
        .servers
        .iter()
        .zip(ranges)
        .map(|(server, ranges)| {
            let admin = server
                .admin_url
                .as_deref()
                .map(|url| {
                    let token = server.admin_token.as_ref().or(server.token.as_ref());
                    app::claim::AdminClient::new(url, token.map(|t| t.0.clone()))
                })
                .transpose()
                .map_err(setup)?;
            Ok(app::join::JoinServer {
                ranges,
                endpoint: PeerEndpoint::new(
                    &server.url,
                    server.token.as_ref().map(|t| t.0.clone()),
                )
                .map_err(|e| setup(e.to_string()))?,
                receiver_id: server.receiver_id.clone(),
                kek: server.kek.as_ref().map(|k| (k.label.clone(), k.key.0)),
                admin,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_config_matches_the_defaults() {
        service::testing::check_example_config::<super::Nsd>(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.."
        )));
    }
}
