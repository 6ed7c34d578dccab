//! The Semtech UDP front end: one UDP socket serving every provisioned gateway.
//!
//! Quotes are from the packet forwarder's PROTOCOL (Semtech `packet_forwarder` and
//! `sx1302_hal`).
//!
//! - `PUSH_DATA` from a provisioned gateway: a `PUSH_ACK` with its token first ("used by
//!   the server to acknowledge immediately all the PUSH_DATA packets received", "process
//!   packets *after* ack"), then each frame goes to the uplink channel.
//! - `PULL_DATA` ("The gateway must periodically send PULL_DATA packets to be sure the
//!   network route stays open"): a `PULL_ACK` with its token, and the sender's address
//!   becomes the gateway's downlink route, valid for [`SemtechConfig::keepalive_timeout`].
//! - [`GatewayLink::transmit`]: a `PULL_RESP` to that route. A version 2 gateway answers
//!   with a `TX_ACK` carrying "same token as the PULL_RESP packet to acknowledge", which we
//!   wait for up to [`SemtechConfig::tx_ack_timeout`]; version 1 has no `TX_ACK` ("1-2 |
//!   unused bytes"), so handing the datagram over is all there is.
//!
//! Choices where the protocol is silent or does not fit:
//!
//! - **Unknown gateways get no answer at all**, though the protocol would acknowledge "all"
//!   `PUSH_DATA`: that is for the gateways a server serves. ChirpStack's gateway bridge
//!   acknowledges everything because it cannot know which gateways are provisioned; we
//!   can, and an unanswered forwarder shows its operator the problem in its own log (`ackr`
//!   0 %, no `PULL_ACK`) instead of seeming to work while its frames vanish. It costs it
//!   nothing else ("acknowledges are only used for network quality assessment … no
//!   retries"), and we do not answer forged sources. Refusals are counted and logged at
//!   warn, at most once per gateway per [`SemtechConfig::unknown_log_interval`].
//! - **A full uplink channel drops the frame** (counted, logged) rather than blocking: the
//!   socket loop also carries keep-alives and the `TX_ACK`s that downlinks wait for, and a
//!   frame that waited past the deduplication window is of no use anyway.
//! - A readable header with an unreadable body is still acknowledged (the datagram did
//!   arrive), then counted as malformed.
//! - Garbage datagrams (no Semtech header, or a server-side packet type) are counted and
//!   ignored; nothing that arrives can panic the loop.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::codec::{self, Body, ProtocolVersion, SkipReason, Token};
use crate::gateway::registry::{DownlinkAnswer, Registry};
use crate::gateway::{GatewayId, GatewayLink, Reception, Transmission, TxOutcome, TxRefusal};

/// The front end's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemtechConfig {
    /// Where to listen (default `127.0.0.1:1700`, the forwarders' default port).
    pub bind: SocketAddr,
    /// A gateway whose last `PULL_DATA` is older than this is not connected (default 30 s;
    /// forwarders send one every 10 s by default).
    pub keepalive_timeout: Duration,
    /// How long to wait for a `TX_ACK` (default 1 s).
    pub tx_ack_timeout: Duration,
    /// At most one warning per unknown gateway per this interval (default 60 s).
    pub unknown_log_interval: Duration,
}

impl Default for SemtechConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 1700)),
            keepalive_timeout: Duration::from_secs(30),
            tx_ack_timeout: Duration::from_secs(1),
            unknown_log_interval: Duration::from_secs(60),
        }
    }
}

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// What the front end has seen and done since it started, for `/metrics`.
        #[derive(Debug, Default)]
        pub struct Counters {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        /// The [`Counters`] at one moment.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct CountersSnapshot {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl Counters {
            /// Reads every counter.
            pub fn snapshot(&self) -> CountersSnapshot {
                CountersSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters! {
    /// Datagrams received.
    datagrams,
    /// Datagrams that are not a gateway's Semtech packet: ignored.
    garbage,
    /// Datagrams from gateways that are not provisioned: refused.
    unknown_gateway,
    /// `PUSH_DATA` from provisioned gateways.
    push_data,
    /// `PULL_DATA` from provisioned gateways.
    pull_data,
    /// `TX_ACK` from provisioned gateways.
    tx_acks,
    /// `TX_ACK`s matching no waiting transmission (late, or duplicated).
    tx_acks_unmatched,
    /// `PUSH_DATA` / `TX_ACK` bodies or `stat` objects that could not be read.
    malformed,
    /// Frames passed on to the uplink channel.
    receptions,
    /// Frames dropped because the uplink channel was full or closed.
    receptions_dropped,
    /// Frames the gateway reported with a bad CRC: not passed on.
    crc_bad,
    /// Malformed `rxpk` entries: not passed on.
    rxpk_invalid,
    /// Status reports recorded.
    stats,
    /// Transmissions the gateway accepted (or, version 1, that were handed over).
    tx_sent,
    /// Transmissions the gateway refused.
    tx_refused,
    /// Transmissions without a `TX_ACK` in time.
    tx_no_answer,
    /// Transmissions for gateways that were not connected.
    tx_not_connected,
    /// Socket errors on receive or send.
    socket_errors,
}

/// The Semtech UDP front end. Cheap to clone: clones share the socket, the registry and
/// the counters.
#[derive(Debug, Clone)]
pub struct SemtechUdp {
    shared: Arc<Shared>,
}

type Pending = HashMap<(GatewayId, Token), oneshot::Sender<TxOutcome>>;

#[derive(Debug)]
struct Shared {
    socket: UdpSocket,
    config: SemtechConfig,
    registry: Arc<Registry>,
    receptions: mpsc::Sender<Reception>,
    counters: Counters,
    pending: Mutex<Pending>,
    next_token: AtomicU16,
    unknown_logged: Mutex<HashMap<GatewayId, Instant>>,
}

/// The receive buffer asked of the kernel for the socket (`SO_RCVBUF`). The Linux default
/// (208 KiB, ≈ 500 `PUSH_DATA` datagrams) fills in 25 ms at 20,000 datagrams/s whenever the
/// receive task is descheduled, and the kernel then drops what arrives. Linux caps the size
/// at `net.core.rmem_max`; what it granted is logged at bind.
pub const RECV_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// A non-blocking UDP socket bound to `addr`, with [`RECV_BUFFER_BYTES`] asked for.
fn bind_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Not fatal: the socket works with the default buffer, it only drops sooner.
    if let Err(error) = socket.set_recv_buffer_size(RECV_BUFFER_BYTES) {
        tracing::warn!(%error, asked = RECV_BUFFER_BYTES, "Semtech UDP: SO_RCVBUF refused");
    }
    // Linux reports twice the size granted (the kernel's bookkeeping share included).
    match socket.recv_buffer_size() {
        Ok(granted) => tracing::info!(
            asked = RECV_BUFFER_BYTES,
            granted,
            "Semtech UDP receive buffer (SO_RCVBUF as the kernel reports it)"
        ),
        Err(error) => tracing::warn!(%error, "Semtech UDP: SO_RCVBUF unreadable"),
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// How many unknown gateways the log rate limiter remembers.
const UNKNOWN_LOG_CAPACITY: usize = 1024;

impl SemtechUdp {
    /// Binds the socket. Frames from `registry`'s gateways go to `receptions`; nothing is
    /// served until [`SemtechUdp::serve`] runs.
    pub async fn bind(
        config: SemtechConfig,
        registry: Arc<Registry>,
        receptions: mpsc::Sender<Reception>,
    ) -> io::Result<Self> {
        let socket = bind_socket(config.bind)?;
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Ok(Self {
            shared: Arc::new(Shared {
                socket,
                config,
                registry,
                receptions,
                counters: Counters::default(),
                pending: Mutex::new(HashMap::new()),
                next_token: AtomicU16::new(seed as u16),
                unknown_logged: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.socket.local_addr()
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// The registry the gateways are looked up in.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.shared.registry
    }

    /// Serves datagrams until `shutdown` completes. Transmissions still waiting then end
    /// as [`TxOutcome::NoAnswer`] when their wait runs out; the socket closes when the last
    /// clone of this handle is dropped.
    pub async fn serve(&self, shutdown: impl Future<Output = ()>) {
        let shared = &*self.shared;
        let mut buffer = vec![0u8; 65_535];
        tokio::pin!(shutdown);
        tracing::info!(addr = ?shared.socket.local_addr().ok(), "Semtech UDP listening");
        loop {
            let received = tokio::select! {
                biased;
                () = &mut shutdown => break,
                received = shared.socket.recv_from(&mut buffer) => received,
            };
            match received {
                Ok((len, from)) => {
                    let datagram = buffer.get(..len).unwrap_or_default();
                    shared.handle(datagram, from, SystemTime::now()).await;
                }
                Err(error) => {
                    bump(&shared.counters.socket_errors);
                    tracing::warn!(%error, "Semtech UDP receive");
                    // Do not spin on an error that repeats.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        tracing::info!("Semtech UDP stopped");
    }
}

impl GatewayLink for SemtechUdp {
    async fn transmit(&self, transmission: Transmission) -> TxOutcome {
        let shared = &*self.shared;
        let outcome = shared.transmit(&transmission).await;
        let counter = match outcome {
            TxOutcome::Sent => &shared.counters.tx_sent,
            TxOutcome::Refused(_) => &shared.counters.tx_refused,
            TxOutcome::NoAnswer => &shared.counters.tx_no_answer,
            TxOutcome::NotConnected => &shared.counters.tx_not_connected,
        };
        bump(counter);
        let answer = match outcome {
            TxOutcome::Sent => Some(DownlinkAnswer::Accepted),
            TxOutcome::Refused(_) => Some(DownlinkAnswer::Refused),
            TxOutcome::NoAnswer | TxOutcome::NotConnected => None,
        };
        if let Some(answer) = answer {
            shared
                .registry
                .record_downlink(transmission.gateway, answer);
        }
        outcome
    }
}

impl Shared {
    async fn handle(&self, datagram: &[u8], from: SocketAddr, now: SystemTime) {
        bump(&self.counters.datagrams);
        let packet = match codec::parse(datagram) {
            Ok(packet) => packet,
            Err(error) => {
                bump(&self.counters.garbage);
                tracing::debug!(%from, %error, "not a Semtech UDP datagram");
                return;
            }
        };
        let (version, token) = (packet.version, packet.token);
        match packet.body {
            Body::PushData { gateway, json } => {
                if self.refused(gateway, from, "PUSH_DATA") {
                    return;
                }
                bump(&self.counters.push_data);
                self.send(&codec::push_ack(version, token), from).await;
                self.push_data(gateway, json, version, from, now);
            }
            Body::PullData { gateway } => {
                if self.refused(gateway, from, "PULL_DATA") {
                    return;
                }
                bump(&self.counters.pull_data);
                self.registry
                    .record_keepalive(gateway, now, from, version.byte());
                self.send(&codec::pull_ack(version, token), from).await;
            }
            Body::TxAck { gateway, json } => {
                if self.refused(gateway, from, "TX_ACK") {
                    return;
                }
                bump(&self.counters.tx_acks);
                self.registry.record_seen(gateway, now);
                self.tx_ack(gateway, token, json);
            }
            Body::PushAck | Body::PullAck | Body::PullResp { .. } => {
                bump(&self.counters.garbage);
                tracing::debug!(%from, "a server's Semtech packet sent to us: ignored");
            }
        }
    }

    fn push_data(
        &self,
        gateway: GatewayId,
        json: &[u8],
        version: ProtocolVersion,
        from: SocketAddr,
        now: SystemTime,
    ) {
        let push = match codec::parse_push_data(gateway, json) {
            Ok(push) => push,
            Err(error) => {
                bump(&self.counters.malformed);
                tracing::warn!(%gateway, %error, "PUSH_DATA body unreadable");
                self.registry
                    .record_uplink(gateway, now, from, version.byte(), 0);
                return;
            }
        };
        for skipped in &push.skipped {
            match &skipped.reason {
                SkipReason::CrcBad => {
                    bump(&self.counters.crc_bad);
                    tracing::debug!(%gateway, index = skipped.index, "frame with a bad CRC skipped");
                }
                SkipReason::Invalid(error) => {
                    bump(&self.counters.rxpk_invalid);
                    tracing::warn!(%gateway, index = skipped.index, %error, "rxpk entry skipped");
                }
            }
        }
        let mut passed = 0;
        for uplink in push.uplinks {
            match self.receptions.try_send(uplink.reception) {
                Ok(()) => {
                    bump(&self.counters.receptions);
                    passed += 1;
                }
                Err(error) => {
                    let dropped = bump(&self.counters.receptions_dropped);
                    // Logged on the 1st, 2nd, 4th, 8th… drop: visible, never a flood.
                    if dropped.is_power_of_two() {
                        let why = match error {
                            TrySendError::Full(_) => "uplink channel full",
                            TrySendError::Closed(_) => "uplink channel closed",
                        };
                        tracing::warn!(%gateway, dropped, "frame dropped: {why}");
                    }
                }
            }
        }
        self.registry
            .record_uplink(gateway, now, from, version.byte(), passed);
        match push.stat {
            Some(Ok(stats)) => {
                bump(&self.counters.stats);
                self.registry.record_stats(gateway, stats);
            }
            Some(Err(error)) => {
                bump(&self.counters.malformed);
                tracing::warn!(%gateway, %error, "stat object unreadable");
            }
            None => {}
        }
    }

    fn tx_ack(&self, gateway: GatewayId, token: Token, json: &[u8]) {
        let Some(waiting) = self.pending().remove(&(gateway, token)) else {
            bump(&self.counters.tx_acks_unmatched);
            tracing::debug!(%gateway, token = token.0, "TX_ACK for no waiting transmission");
            return;
        };
        match codec::parse_tx_ack(json) {
            Ok(status) => {
                if let codec::TxAckStatus::Accepted {
                    warning: Some(warning),
                } = &status
                {
                    tracing::info!(%gateway, %warning, "transmission accepted with a warning");
                }
                // The transmitter may have stopped waiting: nothing to do then.
                let _ = waiting.send(status.outcome());
            }
            Err(error) => {
                // Dropping `waiting` ends that transmission as NoAnswer: we cannot tell
                // what the gateway meant.
                bump(&self.counters.malformed);
                tracing::warn!(%gateway, %error, "TX_ACK body unreadable");
            }
        }
    }

    async fn transmit(&self, tx: &Transmission) -> TxOutcome {
        let gateway = tx.gateway;
        let now = SystemTime::now();
        let route = self
            .registry
            .downlink_route(gateway, now, self.config.keepalive_timeout);
        let Some((route, version)) = route.and_then(|route| {
            ProtocolVersion::from_byte(route.protocol_version).map(|version| (route, version))
        }) else {
            return TxOutcome::NotConnected;
        };
        let token = Token(self.next_token.fetch_add(1, Ordering::Relaxed));
        let datagram = match codec::pull_resp(version, token, tx) {
            Ok(datagram) => datagram,
            Err(error) => {
                tracing::warn!(%gateway, %error, "transmission not expressible as a txpk");
                return TxOutcome::Refused(TxRefusal::Other);
            }
        };
        if !version.acknowledges_transmissions() {
            return if self.send(&datagram, route.addr).await {
                TxOutcome::Sent
            } else {
                TxOutcome::NotConnected
            };
        }
        let (answer, waiting) = oneshot::channel();
        let key = (gateway, token);
        self.pending().insert(key, answer);
        // Removes the entry whatever happens next, including this future being dropped.
        let _pending = PendingEntry { shared: self, key };
        if !self.send(&datagram, route.addr).await {
            return TxOutcome::NotConnected;
        }
        match tokio::time::timeout(self.config.tx_ack_timeout, waiting).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) | Err(_) => TxOutcome::NoAnswer,
        }
    }

    /// Whether `gateway` is unknown: then counted and (rate-limited) logged.
    fn refused(&self, gateway: GatewayId, from: SocketAddr, what: &str) -> bool {
        if self.registry.contains(gateway) {
            return false;
        }
        bump(&self.counters.unknown_gateway);
        if self.first_refusal_in_interval(gateway) {
            tracing::warn!(%gateway, %from, "{what} from a gateway that is not provisioned: refused");
        }
        true
    }

    fn first_refusal_in_interval(&self, gateway: GatewayId) -> bool {
        let now = Instant::now();
        let interval = self.config.unknown_log_interval;
        let mut logged = self
            .unknown_logged
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if logged.len() >= UNKNOWN_LOG_CAPACITY {
            logged.retain(|_, at| now.duration_since(*at) < interval);
            if logged.len() >= UNKNOWN_LOG_CAPACITY {
                logged.clear();
            }
        }
        match logged.get(&gateway) {
            Some(at) if now.duration_since(*at) < interval => false,
            _ => {
                logged.insert(gateway, now);
                true
            }
        }
    }

    /// Sends a datagram; false (counted, logged) if the socket refused it.
    async fn send(&self, datagram: &[u8], to: SocketAddr) -> bool {
        match self.socket.send_to(datagram, to).await {
            Ok(_) => true,
            Err(error) => {
                bump(&self.counters.socket_errors);
                tracing::warn!(%to, %error, "Semtech UDP send");
                false
            }
        }
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct PendingEntry<'a> {
    shared: &'a Shared,
    key: (GatewayId, Token),
}

impl Drop for PendingEntry<'_> {
    fn drop(&mut self) {
        self.shared.pending().remove(&self.key);
    }
}

/// Adds one; returns the new value.
fn bump(counter: &AtomicU64) -> u64 {
    counter.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
}

#[cfg(test)]
mod tests;
