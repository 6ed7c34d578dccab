//! The load itself: one message replayed over keep-alive connections, in a closed or an
//! open loop, and what came back.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::http1::Connection;
use crate::load::stats::Histogram;

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Each connection sends its next request as soon as the previous one is answered.
    Closed,
    /// Requests are due at a fixed rate whatever the answers; one that falls due while every
    /// connection is busy is a miss, not sent.
    Open {
        /// Requests per second.
        rate: f64,
    },
}

/// Everything a run needs; [`BenchConfig::new`] fills in the defaults.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Where to POST: a loopback `http://` URL.
    pub url: String,
    /// Sent as `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// The message replayed: a JSON object whose TransactionID is replaced in each request.
    pub message: Value,
    /// Closed or open loop.
    pub pace: Pace,
    /// Keep-alive connections, which bound the requests in flight (default 32).
    pub connections: usize,
    /// How long requests are sent, warm-up included (default 10 s).
    pub duration: Duration,
    /// The first part of `duration`, whose requests are sent but not counted (default 0).
    pub warmup: Duration,
    /// At most this many requests (or, open loop, due times), warm-up included
    /// (default 10,000,000; at most 2³²).
    pub max_requests: u64,
    /// Per-request bound, for connecting and for the answer (default 5 s).
    pub timeout: Duration,
    /// Set to stop early (as Ctrl-C does); requests in flight are still awaited.
    pub stop: Option<Arc<AtomicBool>>,
}

/// The most connections a run opens.
pub const MAX_CONNECTIONS: usize = 4096;
/// The longest run.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// The highest open-loop rate.
pub const MAX_RATE: f64 = 1_000_000.0;

impl BenchConfig {
    /// A run with the defaults.
    pub fn new(url: &str, message: Value, pace: Pace) -> Self {
        Self {
            url: url.to_owned(),
            token: None,
            message,
            pace,
            connections: 32,
            duration: Duration::from_secs(10),
            warmup: Duration::ZERO,
            max_requests: 10_000_000,
            timeout: Duration::from_secs(5),
            stop: None,
        }
    }
}

/// A request prepared once: each one differs only in its TransactionID.
#[derive(Debug, Clone)]
pub struct Template {
    /// Request line and headers, up to the Content-Length value.
    head: Vec<u8>,
    /// `{"TransactionID":`
    body_prefix: &'static [u8],
    /// `,` and the message's other fields.
    body_suffix: Vec<u8>,
    /// The MessageType of a well-formed answer, for a request (`…Req`).
    answer_type: Option<String>,
}

impl Template {
    /// Prepares `message` for `POST path` to `host` (the Host header).
    pub fn new(
        path: &str,
        host: &str,
        token: Option<&str>,
        message: &Value,
    ) -> anyhow::Result<Self> {
        let Value::Object(fields) = message else {
            anyhow::bail!("the message is not a JSON object");
        };
        let message_type = fields
            .get("MessageType")
            .and_then(Value::as_str)
            .context("the message has no MessageType")?;
        let mut rest = fields.clone();
        rest.remove("TransactionID");
        if rest.is_empty() {
            anyhow::bail!("the message has no fields");
        }
        let rest = serde_json::to_vec(&Value::Object(rest)).context("serialising the message")?;
        // `{…}` → `,…}`: the TransactionID goes first, the other fields follow as they were.
        let body_suffix = [b",".as_slice(), &rest[1..]].concat();
        for (what, text) in [
            ("path", path),
            ("host", host),
            ("token", token.unwrap_or("")),
        ] {
            if text.bytes().any(|b| !b.is_ascii_graphic()) {
                anyhow::bail!("the {what} may only hold visible ASCII characters");
            }
        }
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Accept: application/json\r\n"
        );
        if let Some(token) = token {
            let _ = write!(head, "Authorization: Bearer {token}\r\n");
        }
        head.push_str("Content-Length: ");
        Ok(Self {
            head: head.into_bytes(),
            body_prefix: b"{\"TransactionID\":",
            body_suffix,
            answer_type: message_type
                .strip_suffix("Req")
                .map(|kind| format!("{kind}Ans")),
        })
    }

    /// Writes the whole request with `transaction_id` into `out`.
    pub fn write(&self, transaction_id: u32, out: &mut Vec<u8>) {
        let mut digits = [0u8; 10];
        let digits = decimal(transaction_id, &mut digits);
        let length = self.body_prefix.len() + digits.len() + self.body_suffix.len();
        out.clear();
        out.extend_from_slice(&self.head);
        let _ = write!(out, "{length}\r\n\r\n");
        out.extend_from_slice(self.body_prefix);
        out.extend_from_slice(digits);
        out.extend_from_slice(&self.body_suffix);
    }

    /// The MessageType a well-formed answer has; `None` when the message is not a request
    /// (then any 200 is a success).
    pub fn answer_type(&self) -> Option<&str> {
        self.answer_type.as_deref()
    }
}

/// `n` in decimal, in the tail of `buf`.
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 200 and, for a request, its answer with ResultCode `Success`.
    Ok,
    /// A well-formed answer refusing the request, or a status other than 200: the key it is
    /// counted under (`XmitFailed`, `HTTP 502`, `HTTP 400 MalformedMessage`).
    Refused(String),
    /// 200, but not the answer to this request (not JSON, wrong MessageType or
    /// TransactionID, no ResultCode).
    Malformed(String),
    /// No HTTP answer (connection refused or reset, timeout, not HTTP).
    Transport(String),
}

#[derive(Debug, Deserialize)]
struct AnswerHead<'a> {
    #[serde(rename = "MessageType", borrow)]
    message_type: Option<Cow<'a, str>>,
    #[serde(rename = "TransactionID")]
    transaction_id: Option<u64>,
    #[serde(rename = "Result", borrow)]
    result: Option<AnswerResult<'a>>,
}

#[derive(Debug, Deserialize)]
struct AnswerResult<'a> {
    #[serde(rename = "ResultCode", borrow)]
    result_code: Option<Cow<'a, str>>,
}

/// Judges an answer to the request with `transaction_id`.
pub fn classify(
    status: u16,
    body: &[u8],
    transaction_id: u32,
    answer_type: Option<&str>,
) -> Outcome {
    let head = serde_json::from_slice::<AnswerHead<'_>>(body);
    if status != 200 {
        let code = head.ok().and_then(|h| h.result?.result_code);
        return Outcome::Refused(match code {
            Some(code) => format!("HTTP {status} {code}"),
            None => format!("HTTP {status}"),
        });
    }
    let Some(answer_type) = answer_type else {
        return Outcome::Ok;
    };
    let head = match head {
        Ok(head) => head,
        Err(e) => return Outcome::Malformed(format!("not a JSON answer: {e}")),
    };
    if head.message_type.as_deref() != Some(answer_type) {
        return Outcome::Malformed(format!(
            "MessageType {:?}, expected {answer_type:?}",
            head.message_type.as_deref().unwrap_or("(none)")
        ));
    }
    if head.transaction_id != Some(u64::from(transaction_id)) {
        return Outcome::Malformed(format!(
            "TransactionID {:?}, expected {transaction_id}",
            head.transaction_id
        ));
    }
    match head.result.and_then(|r| r.result_code) {
        Some(code) if code == "Success" => Outcome::Ok,
        Some(code) => Outcome::Refused(code.into_owned()),
        None => Outcome::Malformed("no Result.ResultCode".into()),
    }
}

/// Which loop a summary describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaceKind {
    /// Closed loop.
    Closed,
    /// Open loop.
    Open,
}

/// What a run did: the JSON line `bi-bench` prints. Counts and latencies leave out the
/// warm-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchSummary {
    /// Closed or open loop.
    pub mode: PaceKind,
    /// The URL loaded.
    pub url: String,
    /// Keep-alive connections (the bound on requests in flight).
    pub connections: usize,
    /// Open loop: the rate asked for, per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_rate: Option<f64>,
    /// Requests sent and finished (answered, failed or timed out).
    pub requests: u64,
    /// Answered 200 with the right answer and ResultCode `Success`.
    pub ok: u64,
    /// `requests - ok`.
    pub failed: u64,
    /// Refusals, by ResultCode or `HTTP <status> [ResultCode]`.
    pub errors: BTreeMap<String, u64>,
    /// Requests that got no HTTP answer.
    pub transport_errors: u64,
    /// 200 answers that are not the answer to the request.
    pub malformed_answers: u64,
    /// Open loop: due times at which every connection was busy (nothing sent).
    pub misses: u64,
    /// From the end of the warm-up to the last answer.
    pub elapsed_s: f64,
    /// `requests / elapsed_s`.
    pub rate_per_s: f64,
    /// `ok / elapsed_s`.
    pub ok_per_s: f64,
    /// Latency (request written → answer read) of the requests that got an HTTP answer.
    pub p50_ms: Option<f64>,
    /// 90th percentile latency.
    pub p90_ms: Option<f64>,
    /// 99th percentile latency.
    pub p99_ms: Option<f64>,
    /// 99.9th percentile latency.
    pub p999_ms: Option<f64>,
    /// Largest latency.
    pub max_ms: Option<f64>,
    /// Open loop: 99th percentile of how late requests were sent after their due time
    /// (timer and scheduling slack of the load tool itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_p99_ms: Option<f64>,
    /// Open loop: the latest a request was sent after its due time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_max_ms: Option<f64>,
    /// A few examples of failures, for the human summary (not in the JSON line).
    #[serde(skip)]
    pub failure_samples: Vec<String>,
}

impl BenchSummary {
    /// A few lines for people.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3}"));
        let pace = match self.target_rate {
            Some(rate) => format!("open loop at {rate}/s"),
            None => "closed loop".to_owned(),
        };
        let _ = writeln!(
            out,
            "bi-bench {pace}, {} connections, {}: {} requests in {:.2} s ({:.0}/s), {} ok, {} failed",
            self.connections, self.url, self.requests, self.elapsed_s, self.rate_per_s, self.ok,
            self.failed
        );
        let _ = writeln!(
            out,
            "  latency ms: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            opt(self.p50_ms),
            opt(self.p90_ms),
            opt(self.p99_ms),
            opt(self.p999_ms),
            opt(self.max_ms)
        );
        if self.lag_p99_ms.is_some() {
            let _ = writeln!(
                out,
                "  send lag ms: p99 {}  max {}; misses (all connections busy): {}",
                opt(self.lag_p99_ms),
                opt(self.lag_max_ms),
                self.misses
            );
        }
        for (code, count) in &self.errors {
            let _ = writeln!(out, "  {code}: {count}");
        }
        for (name, count) in [
            ("transport errors", self.transport_errors),
            ("malformed answers", self.malformed_answers),
        ] {
            if count > 0 {
                let _ = writeln!(out, "  {name}: {count}");
            }
        }
        for sample in &self.failure_samples {
            let _ = writeln!(out, "  e.g. {sample}");
        }
        out
    }
}

/// Runs the load and returns what happened.
pub async fn run(config: BenchConfig) -> anyhow::Result<BenchSummary> {
    let url = crate::load::loopback_url(&config.url)?;
    if url.scheme() != "http" {
        anyhow::bail!("{}: bi-bench speaks plain http only", config.url);
    }
    if !(1..=MAX_CONNECTIONS).contains(&config.connections) {
        anyhow::bail!("connections must be between 1 and {MAX_CONNECTIONS}");
    }
    if config.duration.is_zero() || config.duration > MAX_DURATION {
        anyhow::bail!("the duration must be above 0 and at most {MAX_DURATION:?}");
    }
    if config.warmup >= config.duration {
        anyhow::bail!("the warm-up must be shorter than the duration");
    }
    if config.max_requests == 0 || config.max_requests > 1 << 32 {
        anyhow::bail!("max requests must be between 1 and 2^32 (TransactionIDs are 32-bit)");
    }
    if let Pace::Open { rate } = config.pace {
        if !(rate.is_finite() && rate > 0.0 && rate <= MAX_RATE) {
            anyhow::bail!("the rate must be above 0 and at most {MAX_RATE}/s");
        }
    }
    let addr = url
        .socket_addrs(|| None)
        .with_context(|| format!("resolving {url}"))?
        .into_iter()
        .find(|a| a.ip().is_loopback())
        .with_context(|| format!("{url} resolves to no loopback address"))?;
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let template = Template::new(&path, &host, config.token.as_deref(), &config.message)?;

    // Connect up front, so that no latency includes a TCP handshake.
    let mut connections = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        let connection = tokio::time::timeout(config.timeout, Connection::connect(addr))
            .await
            .map_err(|_| anyhow::anyhow!("connecting to {addr}: timed out"))?
            .with_context(|| format!("connecting to {addr}"))?;
        connections.push(Some(connection));
    }

    // TransactionIDs count up from the clock, so that two runs in a row do not reuse them.
    let first_tid = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u32);
    let started = Instant::now();
    let shared = Arc::new(Shared {
        template,
        addr,
        timeout: config.timeout,
        issued: AtomicU64::new(0),
        next_tid: AtomicU32::new(first_tid),
        max_requests: config.max_requests,
        started,
        measure_from: started + config.warmup,
        deadline: started + config.duration,
        stop: config.stop.clone().unwrap_or_default(),
        tally: Mutex::new(Tally::default()),
    });
    let misses = match config.pace {
        Pace::Closed => {
            let workers: Vec<_> = connections
                .into_iter()
                .map(|c| tokio::spawn(closed_worker(Arc::clone(&shared), c)))
                .collect();
            for worker in workers {
                worker.await.context("a load worker failed")?;
            }
            0
        }
        Pace::Open { rate } => open_loop(&shared, connections, rate).await?,
    };
    let tally = std::mem::take(&mut *lock(&shared.tally));
    let end = tally.last_answer.unwrap_or_else(Instant::now);
    let elapsed = end.saturating_duration_since(shared.measure_from);
    Ok(tally.summary(&config, url.as_str(), elapsed, misses))
}

struct Shared {
    template: Template,
    addr: SocketAddr,
    timeout: Duration,
    issued: AtomicU64,
    next_tid: AtomicU32,
    max_requests: u64,
    started: Instant,
    measure_from: Instant,
    deadline: Instant,
    stop: Arc<AtomicBool>,
    tally: Mutex<Tally>,
}

impl Shared {
    /// Whether the run is over: stopped, past the deadline, or out of requests.
    fn take_ticket(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
            && Instant::now() < self.deadline
            && self.issued.fetch_add(1, Ordering::Relaxed) < self.max_requests
    }

    fn record(&self, sent: Instant, lag: Option<Duration>, outcome: Outcome) {
        let answered = Instant::now();
        if sent < self.measure_from {
            return;
        }
        lock(&self.tally).record(answered, answered - sent, lag, outcome);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a counter update or a push: the data stays consistent even
    // if a task panicked holding the lock.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long a closed-loop connection waits after a request got no HTTP answer, so that a
/// subject that is down is not hammered at the speed of refused connections.
const TRANSPORT_ERROR_PAUSE: Duration = Duration::from_millis(10);

async fn closed_worker(shared: Arc<Shared>, mut connection: Option<Connection>) {
    let mut request = Vec::with_capacity(1024);
    while shared.take_ticket() {
        let tid = shared.next_tid.fetch_add(1, Ordering::Relaxed);
        shared.template.write(tid, &mut request);
        let sent = Instant::now();
        let outcome = exchange(&shared, &mut connection, &request, tid).await;
        let transport = matches!(outcome, Outcome::Transport(_));
        shared.record(sent, None, outcome);
        if transport {
            tokio::time::sleep(TRANSPORT_ERROR_PAUSE).await;
        }
    }
}

/// A connection of the open loop with its request buffer.
struct Slot {
    connection: Option<Connection>,
    request: Vec<u8>,
}

type Pool = Arc<Mutex<Vec<Slot>>>;

/// Sends at `rate` until the deadline; returns the misses.
///
/// The due times are kept by a thread of its own with `std::thread::sleep` (tens of
/// microseconds of slack on Linux) rather than by tokio's millisecond timer, which would send
/// the requests of each millisecond in one burst. At each due time it takes an idle
/// connection and spawns the exchange on the runtime; with none idle, the due time is a miss.
async fn open_loop(
    shared: &Arc<Shared>,
    connections: Vec<Option<Connection>>,
    rate: f64,
) -> anyhow::Result<u64> {
    let total = connections.len();
    let pool: Pool = Arc::new(Mutex::new(
        connections
            .into_iter()
            .map(|connection| Slot {
                connection,
                request: Vec::with_capacity(1024),
            })
            .collect(),
    ));
    let runtime = tokio::runtime::Handle::current();
    let dispatcher = {
        let shared = Arc::clone(shared);
        let pool = Arc::clone(&pool);
        tokio::task::spawn_blocking(move || dispatch(&shared, &pool, rate, &runtime))
    };
    let misses = dispatcher
        .await
        .context("the open-loop dispatcher failed")?;
    // Every exchange is bounded (connect, then answer, each within the timeout).
    let wait_until = Instant::now() + 2 * shared.timeout + Duration::from_secs(1);
    while lock(&pool).len() < total && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(misses)
}

fn dispatch(shared: &Arc<Shared>, pool: &Pool, rate: f64, runtime: &tokio::runtime::Handle) -> u64 {
    let mut misses = 0;
    for due_index in 0u64.. {
        let due = shared.started + Duration::from_secs_f64(due_index as f64 / rate);
        if due >= shared.deadline {
            break;
        }
        // Sleep in short steps so that a stop is noticed even at very low rates.
        loop {
            let now = Instant::now();
            if now >= due || shared.stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep((due - now).min(Duration::from_millis(50)));
        }
        if !shared.take_ticket() {
            break;
        }
        let Some(slot) = lock(pool).pop() else {
            if due >= shared.measure_from {
                misses += 1;
            }
            continue;
        };
        runtime.spawn(open_request(
            Arc::clone(shared),
            Arc::clone(pool),
            slot,
            due,
        ));
    }
    misses
}

async fn open_request(shared: Arc<Shared>, pool: Pool, mut slot: Slot, due: Instant) {
    let tid = shared.next_tid.fetch_add(1, Ordering::Relaxed);
    shared.template.write(tid, &mut slot.request);
    let sent = Instant::now();
    let outcome = exchange(&shared, &mut slot.connection, &slot.request, tid).await;
    if due >= shared.measure_from {
        shared.record(sent, Some(sent.saturating_duration_since(due)), outcome);
    }
    lock(&pool).push(slot);
}

/// One request on `connection` (opened first if it is not), within the timeout; the
/// connection is dropped after an error or an answer that closes it.
async fn exchange(
    shared: &Shared,
    connection: &mut Option<Connection>,
    request: &[u8],
    tid: u32,
) -> Outcome {
    if connection.is_none() {
        match tokio::time::timeout(shared.timeout, Connection::connect(shared.addr)).await {
            Ok(Ok(fresh)) => *connection = Some(fresh),
            Ok(Err(e)) => return Outcome::Transport(format!("connecting: {e}")),
            Err(_) => return Outcome::Transport("connecting: timed out".into()),
        }
    }
    let Some(open) = connection.as_mut() else {
        return Outcome::Transport("no connection".into());
    };
    let (outcome, keep) = match tokio::time::timeout(shared.timeout, open.send(request)).await {
        Err(_) => (
            Outcome::Transport(format!("no answer within {:?}", shared.timeout)),
            false,
        ),
        Ok(Err(e)) => (Outcome::Transport(e.to_string()), false),
        Ok(Ok(response)) => (
            classify(
                response.status,
                response.body,
                tid,
                shared.template.answer_type(),
            ),
            !response.close,
        ),
    };
    if !keep {
        *connection = None;
    }
    outcome
}

/// How many failure examples a summary keeps.
const MAX_SAMPLES: usize = 5;

#[derive(Default)]
struct Tally {
    requests: u64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    transport_errors: u64,
    malformed_answers: u64,
    latency: Histogram,
    lag: Histogram,
    samples: Vec<String>,
    last_answer: Option<Instant>,
}

impl Tally {
    fn record(&mut self, at: Instant, latency: Duration, lag: Option<Duration>, outcome: Outcome) {
        self.requests += 1;
        self.last_answer = Some(self.last_answer.map_or(at, |last| last.max(at)));
        if let Some(lag) = lag {
            self.lag.record(lag);
        }
        if !matches!(outcome, Outcome::Transport(_)) {
            self.latency.record(latency);
        }
        let sample = match outcome {
            Outcome::Ok => {
                self.ok += 1;
                return;
            }
            Outcome::Refused(code) => {
                *self.errors.entry(code.clone()).or_default() += 1;
                code
            }
            Outcome::Malformed(why) => {
                self.malformed_answers += 1;
                format!("malformed answer: {why}")
            }
            Outcome::Transport(why) => {
                self.transport_errors += 1;
                format!("no answer: {why}")
            }
        };
        if self.samples.len() < MAX_SAMPLES && !self.samples.contains(&sample) {
            self.samples.push(sample);
        }
    }

    fn summary(
        self,
        config: &BenchConfig,
        url: &str,
        elapsed: Duration,
        misses: u64,
    ) -> BenchSummary {
        let secs = elapsed.as_secs_f64();
        let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let ms = |us: Option<u64>| us.map(|us| us as f64 / 1000.0);
        let open = matches!(config.pace, Pace::Open { .. });
        BenchSummary {
            mode: if open {
                PaceKind::Open
            } else {
                PaceKind::Closed
            },
            url: url.to_owned(),
            connections: config.connections,
            target_rate: match config.pace {
                Pace::Open { rate } => Some(rate),
                Pace::Closed => None,
            },
            requests: self.requests,
            ok: self.ok,
            failed: self.requests - self.ok,
            errors: self.errors,
            transport_errors: self.transport_errors,
            malformed_answers: self.malformed_answers,
            misses,
            elapsed_s: secs,
            rate_per_s: per_s(self.requests),
            ok_per_s: per_s(self.ok),
            p50_ms: ms(self.latency.quantile_us(0.50)),
            p90_ms: ms(self.latency.quantile_us(0.90)),
            p99_ms: ms(self.latency.quantile_us(0.99)),
            p999_ms: ms(self.latency.quantile_us(0.999)),
            max_ms: ms(self.latency.max_us()),
            lag_p99_ms: if open {
                ms(self.lag.quantile_us(0.99))
            } else {
                None
            },
            lag_max_ms: if open { ms(self.lag.max_us()) } else { None },
            failure_samples: self.samples,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_request_carries_its_own_transaction_id_and_length() {
        let message = json!({"ProtocolVersion": "1.1", "TransactionID": 1,
                             "MessageType": "XmitDataReq", "SenderID": "000013"});
        let template =
            Template::new("/bi", "127.0.0.1:1", Some("tok"), &message).expect("template");
        assert_eq!(template.answer_type(), Some("XmitDataAns"));
        let mut out = Vec::new();
        for tid in [0, 7, 4_294_967_295] {
            template.write(tid, &mut out);
            let text = String::from_utf8(out.clone()).expect("ASCII");
            let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
            assert!(head.starts_with("POST /bi HTTP/1.1\r\nHost: 127.0.0.1:1\r\n"));
            assert!(head.contains("\r\nAuthorization: Bearer tok\r\n"));
            assert!(head.ends_with(&format!("\r\nContent-Length: {}", body.len())));
            let sent: Value = serde_json::from_str(body).expect("JSON body");
            let mut expected = message.clone();
            expected["TransactionID"] = json!(tid);
            assert_eq!(sent, expected);
        }
    }

    #[test]
    fn bad_messages_and_header_injection_are_refused() {
        let ok = json!({"MessageType": "XmitDataReq"});
        assert!(Template::new("/bi", "h", Some("a\r\nX: y"), &ok).is_err());
        assert!(Template::new("/b i", "h", None, &ok).is_err());
        assert!(Template::new("/bi", "h", None, &json!([1])).is_err());
        assert!(Template::new("/bi", "h", None, &json!({"TransactionID": 1})).is_err());
        let notif = Template::new("/bi", "h", None, &json!({"MessageType": "PRStartNotif"}));
        assert_eq!(notif.expect("a notification").answer_type(), None);
    }

    #[test]
    fn answers_are_judged_by_status_type_transaction_and_result() {
        let ans = |tid: u64, code: &str| {
            json!({"MessageType": "XmitDataAns", "TransactionID": tid,
                   "Result": {"ResultCode": code}})
            .to_string()
            .into_bytes()
        };
        let t = Some("XmitDataAns");
        assert_eq!(classify(200, &ans(9, "Success"), 9, t), Outcome::Ok);
        assert_eq!(
            classify(200, &ans(9, "XmitFailed"), 9, t),
            Outcome::Refused("XmitFailed".into())
        );
        assert_eq!(
            classify(400, &ans(9, "MalformedMessage"), 9, t),
            Outcome::Refused("HTTP 400 MalformedMessage".into())
        );
        assert_eq!(
            classify(502, b"upstream", 9, t),
            Outcome::Refused("HTTP 502".into())
        );
        assert!(matches!(
            classify(200, &ans(8, "Success"), 9, t),
            Outcome::Malformed(_)
        ));
        assert!(matches!(classify(200, b"", 9, t), Outcome::Malformed(_)));
        assert!(matches!(
            classify(200, &ans(9, "Success"), 9, Some("PRStartAns")),
            Outcome::Malformed(_)
        ));
        assert_eq!(classify(200, b"", 9, None), Outcome::Ok);
    }
}
