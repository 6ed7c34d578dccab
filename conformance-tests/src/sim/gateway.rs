//! A simulated Semtech UDP packet forwarder (protocol v2) on a real UDP socket on the loopback
//! interface, talking to one network server.
//!
//! It sends `PULL_DATA` keep-alives (and counts the `PULL_ACK`s), sends uplinks as `PUSH_DATA`
//! (awaiting the `PUSH_ACK`, or fire-and-forget with the acknowledgements only counted, for load),
//! answers every `PULL_RESP` with the configured `TX_ACK` and queues the downlink for the test
//! to read with [`SimGateway::next_downlink`].
//!
//! Two tasks run per gateway (the receive loop and the keep-alive); both stop when the
//! [`SimGateway`] is dropped.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::load::frame::Eui64;

use super::semtech::{self, Downstream, GatewayStat, RadioParams, SimDownlink, TxAckMode};

/// How a simulated gateway behaves.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The gateway EUI.
    pub eui: Eui64,
    /// The network server's Semtech UDP address.
    pub ns_addr: SocketAddr,
    /// `PULL_DATA` period; `None` sends none by itself (call [`SimGateway::pull_data`]).
    /// The first one goes at start.
    pub keepalive: Option<Duration>,
    /// The answer to `PULL_RESP`s (changeable later with [`SimGateway::set_tx_ack`]).
    pub tx_ack: TxAckMode,
    /// How many unread downlinks the gateway keeps; more are dropped and counted.
    pub downlink_capacity: usize,
}

impl GatewayConfig {
    /// A gateway `eui` of `ns_addr`: keep-alive every 10 s, `TX_ACK` `NONE`, 1024 downlinks.
    pub fn new(eui: Eui64, ns_addr: SocketAddr) -> Self {
        Self {
            eui,
            ns_addr,
            keepalive: Some(Duration::from_secs(10)),
            tx_ack: TxAckMode::Ok,
            downlink_capacity: 1024,
        }
    }
}

/// Counters of one gateway's traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatewayStats {
    /// `PUSH_DATA` sent (uplinks and stats).
    pub push_sent: u64,
    /// `PUSH_ACK` received.
    pub push_acked: u64,
    /// `PULL_DATA` sent.
    pub pull_sent: u64,
    /// `PULL_ACK` received.
    pub pull_acked: u64,
    /// Valid `PULL_RESP` received.
    pub pull_resp: u64,
    /// `TX_ACK` sent.
    pub tx_ack_sent: u64,
    /// Packets from the server that could not be read (bad header, bad txpk).
    pub bad_packets: u64,
    /// Socket errors on receive or send (e.g. the server's port closed).
    pub socket_errors: u64,
    /// Downlinks dropped because nobody read them.
    pub downlinks_dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    push_sent: AtomicU64,
    push_acked: AtomicU64,
    pull_sent: AtomicU64,
    pull_acked: AtomicU64,
    pull_resp: AtomicU64,
    tx_ack_sent: AtomicU64,
    bad_packets: AtomicU64,
    socket_errors: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Downlinks received and not yet read; one queue may be shared by several gateways (see
/// [`super::Simulation`]).
#[derive(Debug)]
pub struct DownlinkQueue {
    items: Mutex<VecDeque<SimDownlink>>,
    notify: Notify,
    capacity: usize,
    dropped: AtomicU64,
}

impl DownlinkQueue {
    /// An empty queue keeping at most `capacity` downlinks.
    pub fn new(capacity: usize) -> Self {
        Self {
            items: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            capacity,
            dropped: AtomicU64::new(0),
        }
    }

    fn push(&self, downlink: SimDownlink) {
        {
            let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
            if items.len() >= self.capacity {
                bump(&self.dropped);
                return;
            }
            items.push_back(downlink);
        }
        self.notify.notify_waiters();
    }

    /// The oldest unread downlink, without waiting.
    pub fn try_next(&self) -> Option<SimDownlink> {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    /// The oldest unread downlink, waiting up to `timeout` for one.
    pub async fn next(&self, timeout: Duration) -> Option<SimDownlink> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so a push in between is not missed.
            notified.as_mut().enable();
            if let Some(d) = self.try_next() {
                return Some(d);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.try_next();
            }
        }
    }

    /// How many downlinks are waiting.
    pub fn len(&self) -> usize {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many were dropped for lack of room.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// What a token awaits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AckKind {
    Push,
    Pull,
}

type Waiters = Mutex<HashMap<u16, (AckKind, oneshot::Sender<()>)>>;

#[derive(Debug)]
struct Inner {
    eui: Eui64,
    socket: UdpSocket,
    next_token: AtomicU16,
    waiters: Waiters,
    counters: Counters,
    tx_ack: Mutex<TxAckMode>,
    downlinks: Arc<DownlinkQueue>,
    clock_origin: Instant,
    clock_offset: u32,
}

impl Inner {
    fn token(&self) -> u16 {
        self.next_token.fetch_add(1, Ordering::Relaxed)
    }

    fn register(&self, token: u16, kind: AckKind) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token, (kind, tx));
        rx
    }

    fn forget(&self, token: u16) {
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&token);
    }

    fn acked(&self, token: u16, kind: AckKind) {
        let mut waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        if waiters.get(&token).is_some_and(|(k, _)| *k == kind) {
            if let Some((_, tx)) = waiters.remove(&token) {
                let _ = tx.send(());
            }
        }
    }

    async fn send(&self, packet: &[u8]) -> io::Result<()> {
        self.socket.send(packet).await.map(|_| ()).inspect_err(|_| {
            bump(&self.counters.socket_errors);
        })
    }

    async fn send_pull_data(&self, token: u16) -> io::Result<()> {
        self.send(&semtech::pull_data(token, self.eui)).await?;
        bump(&self.counters.pull_sent);
        Ok(())
    }

    fn counter_now(&self) -> u32 {
        // The concentrator counter is a free-running 32-bit µs counter: truncation is its wrap.
        let us = self.clock_origin.elapsed().as_micros() as u32;
        self.clock_offset.wrapping_add(us)
    }
}

/// A `PUSH_DATA` or `PULL_DATA` sent, its acknowledgement not yet awaited. Dropping it
/// stops waiting (the acknowledgement is still counted).
#[derive(Debug)]
pub struct PendingAck {
    token: u16,
    tmst: u32,
    rx: Option<oneshot::Receiver<()>>,
    inner: Arc<Inner>,
}

impl PendingAck {
    /// The packet's token.
    pub fn token(&self) -> u16 {
        self.token
    }

    /// The `tmst` an uplink was reported with (0 for other packets).
    pub fn tmst(&self) -> u32 {
        self.tmst
    }

    /// Waits up to `timeout` for the acknowledgement; whether it came.
    pub async fn wait(self, timeout: Duration) -> bool {
        self.wait_until(Instant::now() + timeout).await
    }

    /// Waits until `deadline` for the acknowledgement; whether it came.
    pub async fn wait_until(mut self, deadline: Instant) -> bool {
        match self.rx.take() {
            Some(rx) => matches!(tokio::time::timeout_at(deadline, rx).await, Ok(Ok(()))),
            None => false,
        }
    }
}

impl Drop for PendingAck {
    fn drop(&mut self) {
        self.inner.forget(self.token);
    }
}

/// A simulated packet forwarder. See the [module documentation](self).
#[derive(Debug)]
pub struct SimGateway {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

impl SimGateway {
    /// Binds a loopback UDP socket, connects it to `config.ns_addr` and starts the receive
    /// loop and the keep-alive. Its own downlink queue.
    pub async fn start(config: GatewayConfig) -> io::Result<Self> {
        let queue = Arc::new(DownlinkQueue::new(config.downlink_capacity));
        Self::start_with_queue(config, queue).await
    }

    /// As [`Self::start`], its downlinks going to `queue` (`config.downlink_capacity` unused).
    pub async fn start_with_queue(
        config: GatewayConfig,
        queue: Arc<DownlinkQueue>,
    ) -> io::Result<Self> {
        let bind = if config.ns_addr.is_ipv6() {
            SocketAddr::from((Ipv6Addr::LOCALHOST, 0))
        } else {
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
        };
        let socket = UdpSocket::bind(bind).await?;
        socket.connect(config.ns_addr).await?;
        // Tokens and the counter start from the EUI, so gateways differ without randomness.
        let seed = config.eui.0 ^ (config.eui.0 >> 32);
        let inner = Arc::new(Inner {
            eui: config.eui,
            socket,
            next_token: AtomicU16::new(seed as u16),
            waiters: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            tx_ack: Mutex::new(config.tx_ack),
            downlinks: queue,
            clock_origin: Instant::now(),
            clock_offset: (seed as u32).wrapping_mul(2_654_435_761),
        });
        let mut tasks = vec![tokio::spawn(recv_loop(Arc::clone(&inner)))];
        if let Some(period) = config.keepalive {
            tasks.push(tokio::spawn(keepalive(Arc::clone(&inner), period)));
        }
        Ok(Self { inner, tasks })
    }

    /// The gateway EUI.
    pub fn eui(&self) -> Eui64 {
        self.inner.eui
    }

    /// The local UDP address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket.local_addr()
    }

    /// The concentrator counter now (µs, wrapping), as `tmst` would report it.
    pub fn counter_now(&self) -> u32 {
        self.inner.counter_now()
    }

    /// Sends a `PULL_DATA` now and waits up to `timeout` for its `PULL_ACK`.
    pub async fn pull_data(&self, timeout: Duration) -> io::Result<bool> {
        let token = self.inner.token();
        let pending = self.pending(token, 0, AckKind::Pull);
        self.inner.send_pull_data(token).await?;
        Ok(pending.wait(timeout).await)
    }

    fn pending(&self, token: u16, tmst: u32, kind: AckKind) -> PendingAck {
        PendingAck {
            token,
            tmst,
            rx: Some(self.inner.register(token, kind)),
            inner: Arc::clone(&self.inner),
        }
    }

    /// Sends `phy` as heard with `radio` and waits up to `timeout` for the `PUSH_ACK`;
    /// whether it came.
    pub async fn uplink(
        &self,
        phy: &[u8],
        radio: &RadioParams,
        timeout: Duration,
    ) -> io::Result<bool> {
        let pending = self.send_uplink_tracked(phy, radio).await?;
        Ok(pending.wait(timeout).await)
    }

    /// Sends `phy` as heard with `radio`; the returned [`PendingAck`] awaits the `PUSH_ACK`.
    pub async fn send_uplink_tracked(
        &self,
        phy: &[u8],
        radio: &RadioParams,
    ) -> io::Result<PendingAck> {
        let token = self.inner.token();
        let tmst = radio.tmst.unwrap_or_else(|| self.inner.counter_now());
        let pending = self.pending(token, tmst, AckKind::Push);
        let mut packet = Vec::with_capacity(256 + phy.len() * 4 / 3);
        semtech::push_data_rxpk(token, self.inner.eui, phy, radio, tmst, &mut packet);
        self.inner.send(&packet).await?;
        bump(&self.inner.counters.push_sent);
        Ok(pending)
    }

    /// Sends `phy` as heard with `radio` without waiting: the `PUSH_ACK` is only counted
    /// ([`GatewayStats::push_acked`]). Returns the `tmst` reported. For load.
    pub async fn send_uplink(&self, phy: &[u8], radio: &RadioParams) -> io::Result<u32> {
        let token = self.inner.token();
        let tmst = radio.tmst.unwrap_or_else(|| self.inner.counter_now());
        let mut packet = Vec::with_capacity(256 + phy.len() * 4 / 3);
        semtech::push_data_rxpk(token, self.inner.eui, phy, radio, tmst, &mut packet);
        self.inner.send(&packet).await?;
        bump(&self.inner.counters.push_sent);
        Ok(tmst)
    }

    /// Sends a status report and waits up to `timeout` for the `PUSH_ACK`.
    pub async fn send_stat(&self, stat: &GatewayStat, timeout: Duration) -> io::Result<bool> {
        let token = self.inner.token();
        let pending = self.pending(token, 0, AckKind::Push);
        let mut packet = Vec::with_capacity(256);
        semtech::push_data_stat(token, self.inner.eui, stat, &mut packet);
        self.inner.send(&packet).await?;
        bump(&self.inner.counters.push_sent);
        Ok(pending.wait(timeout).await)
    }

    /// Sends arbitrary bytes to the server (malformed-packet tests).
    pub async fn send_raw(&self, packet: &[u8]) -> io::Result<()> {
        self.inner.send(packet).await
    }

    /// The next downlink of this gateway's queue (shared with the other gateways of a
    /// [`super::Simulation`]), waiting up to `timeout`.
    pub async fn next_downlink(&self, timeout: Duration) -> Option<SimDownlink> {
        self.inner.downlinks.next(timeout).await
    }

    /// The downlink queue.
    pub fn downlinks(&self) -> &Arc<DownlinkQueue> {
        &self.inner.downlinks
    }

    /// Changes the answer to later `PULL_RESP`s.
    pub fn set_tx_ack(&self, mode: TxAckMode) {
        *self
            .inner
            .tx_ack
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = mode;
    }

    /// The traffic counters so far.
    pub fn stats(&self) -> GatewayStats {
        let c = &self.inner.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        GatewayStats {
            push_sent: load(&c.push_sent),
            push_acked: load(&c.push_acked),
            pull_sent: load(&c.pull_sent),
            pull_acked: load(&c.pull_acked),
            pull_resp: load(&c.pull_resp),
            tx_ack_sent: load(&c.tx_ack_sent),
            bad_packets: load(&c.bad_packets),
            socket_errors: load(&c.socket_errors),
            downlinks_dropped: self.inner.downlinks.dropped(),
        }
    }
}

impl Drop for SimGateway {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn keepalive(inner: Arc<Inner>, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let token = inner.token();
        // A failed send is counted; the next tick tries again.
        let _ = inner.send_pull_data(token).await;
    }
}

async fn recv_loop(inner: Arc<Inner>) {
    let mut buf = vec![0_u8; 65_536];
    loop {
        let n = match inner.socket.recv(&mut buf).await {
            Ok(n) => n,
            Err(_) => {
                // E.g. ECONNREFUSED after an ICMP port-unreachable: count, breathe, go on.
                bump(&inner.counters.socket_errors);
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        match semtech::parse_downstream(&buf[..n]) {
            Ok(Downstream::PushAck(token)) => {
                bump(&inner.counters.push_acked);
                inner.acked(token, AckKind::Push);
            }
            Ok(Downstream::PullAck(token)) => {
                bump(&inner.counters.pull_acked);
                inner.acked(token, AckKind::Pull);
            }
            Ok(Downstream::PullResp(token, body)) => {
                match semtech::parse_txpk(inner.eui, token, body) {
                    Ok(downlink) => {
                        bump(&inner.counters.pull_resp);
                        let mode = inner
                            .tx_ack
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .clone();
                        if let Some(ack) = semtech::tx_ack(token, inner.eui, &mode) {
                            if inner.send(&ack).await.is_ok() {
                                bump(&inner.counters.tx_ack_sent);
                            }
                        }
                        inner.downlinks.push(downlink);
                    }
                    // Semtech's forwarder drops a txpk it cannot read without a TX_ACK.
                    Err(_) => bump(&inner.counters.bad_packets),
                }
            }
            Err(_) => bump(&inner.counters.bad_packets),
        }
    }
}
