//! The Backend Interfaces HTTP client: rustls, optional client certificate, bearer token,
//! timeouts, retries with backoff for deliveries that may be repeated.
//!
//! It runs on hyper's pooled client directly (hyper-util, hyper-rustls): the hub forwards
//! every routed message through here, and a general-purpose client's per-request work (the
//! URL parsed again, redirect and proxy layers) was a measurable share of the hub's CPU.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::codec::Codec;
use crate::dialect::Dialect;
use crate::header::Header;
use crate::message::Message;

use super::pending::{AnswerKey, PendingAnswers, WaitError};

/// The largest HTTP response body read as an answer. Backend Interfaces answers are a few
/// kilobytes; a peer sending more is broken, and is not allowed to fill the hub's memory.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// A peer's Backend Interfaces endpoint: its URL and bearer token, checked and turned into
/// what a request needs once, not per request. `Debug` never shows the token.
#[derive(Clone)]
pub struct PeerEndpoint {
    url: url::Url,
    bearer_token: Option<String>,
    /// The URL as the request target.
    target: http::Uri,
    /// `Bearer <token>`, marked sensitive so no HTTP log shows it.
    authorization: Option<HeaderValue>,
}

impl PeerEndpoint {
    /// The endpoint at `url` (an absolute http(s) URL), presenting `bearer_token`.
    pub fn new(url: &str, bearer_token: Option<String>) -> Result<Self, ClientError> {
        let invalid = |reason: String| ClientError::Config(format!("url {url:?}: {reason}"));
        let parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("not an http(s) URL".into()));
        }
        let target = parsed
            .as_str()
            .parse::<http::Uri>()
            .map_err(|e| invalid(e.to_string()))?;
        let authorization = match &bearer_token {
            Some(token) => {
                let mut value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
                    ClientError::Config(
                        "bearer token: only visible ASCII characters can be sent".into(),
                    )
                })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self {
            url: parsed,
            bearer_token,
            target,
            authorization,
        })
    }

    /// Where to POST, e.g. `https://ns.example.net/bi`.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// The token sent as `Authorization: Bearer …`, if any.
    pub fn bearer_token(&self) -> Option<&str> {
        self.bearer_token.as_deref()
    }
}

impl std::fmt::Debug for PeerEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerEndpoint")
            .field("url", &self.url.as_str())
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// How often and how patiently a delivery is repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub first_backoff: Duration,
    /// Upper bound of one wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1_u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.first_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Client settings.
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    /// TCP + TLS connect bound (default 5 s).
    pub connect_timeout: Option<Duration>,
    /// Whole-request bound (default 10 s).
    pub request_timeout: Option<Duration>,
    /// Extra trusted root certificates (PEM), e.g. a private federation CA.
    pub ca_pem: Option<Vec<u8>>,
    /// Our client certificate and private key (PEM, concatenated) for mutual TLS.
    pub identity_pem: Option<Vec<u8>>,
    /// Retries for [`BiClient::deliver`].
    pub retry: RetryPolicy,
}

/// How a peer took a message.
#[derive(Debug)]
pub enum Delivery {
    /// It answered in the HTTP response (synchronous).
    Answered(Box<Message>),
    /// It acknowledged with an empty body: its answer, if any, comes later (asynchronous).
    Accepted,
}

/// Why a message could not be delivered or answered. Grouped by who is to blame.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Our own client configuration is wrong (a bad certificate or key).
    #[error("client configuration: {0}")]
    Config(String),
    /// The peer could not be reached or did not answer in time.
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// The peer answered with an HTTP error.
    #[error("peer answered HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The peer's HTTP response body is not a valid Backend Interfaces message.
    #[error("peer sent an invalid answer: {0}")]
    InvalidAnswer(String),
    /// An asynchronous answer did not arrive.
    #[error(transparent)]
    NoAnswer(#[from] WaitError),
}

impl ClientError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable(_) => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Config(_) | Self::InvalidAnswer(_) | Self::NoAnswer(_) => false,
        }
    }
}

/// The pooled HTTP/1.1 and HTTP/2 (by ALPN) client over plain TCP or rustls.
type Http = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A Backend Interfaces client. Cheap to clone; keeps connections alive per peer.
#[derive(Debug, Clone)]
pub struct BiClient {
    http: Http,
    request_timeout: Duration,
    codec: Arc<Codec>,
    retry: RetryPolicy,
}

impl BiClient {
    /// Builds a client; fails only on a bad certificate or key in `config`.
    pub fn new(config: &ClientConfig, codec: Arc<Codec>) -> Result<Self, ClientError> {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(
            config.connect_timeout.unwrap_or(Duration::from_secs(5)),
        ));
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(config)?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(Self {
            http,
            request_timeout: config.request_timeout.unwrap_or(Duration::from_secs(10)),
            codec,
            retry: config.retry,
        })
    }

    /// The codec it encodes and decodes with.
    pub fn codec(&self) -> &Arc<Codec> {
        &self.codec
    }

    /// One POST of `body`; no retry. A body in the response is read as a message on its own
    /// (use [`BiClient::request`] for answers, which may omit header fields).
    pub async fn post(&self, peer: &PeerEndpoint, body: Vec<u8>) -> Result<Delivery, ClientError> {
        self.post_expecting(peer, Bytes::from(body), None).await
    }

    async fn post_expecting(
        &self,
        peer: &PeerEndpoint,
        body: Bytes,
        answering: Option<&Header>,
    ) -> Result<Delivery, ClientError> {
        let mut request = http::Request::post(peer.target.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(authorization) = &peer.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| ClientError::Config(format!("request to {}: {e}", peer.url)))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| ClientError::Unreachable(error_chain(&e)))?;
            let status = response.status().as_u16();
            let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        ClientError::InvalidAnswer(format!(
                            "the response body is larger than {MAX_ANSWER_BYTES} bytes"
                        ))
                    } else {
                        ClientError::Unreachable(error_chain(e.as_ref()))
                    }
                })?
                .to_bytes();
            Ok::<_, ClientError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.request_timeout, exchange)
            .await
            .map_err(|_| {
                ClientError::Unreachable(format!(
                    "{}: no complete answer within {} ms",
                    peer.url,
                    self.request_timeout.as_millis()
                ))
            })??;
        if !(200..300).contains(&status) {
            let body = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned();
            return Err(ClientError::Status { status, body });
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Delivery::Accepted);
        }
        // Some peers answer with a bare `{"Result": …}`; against the request, the codec can
        // fill the header fields such an answer leaves out.
        let decoded = match answering {
            Some(request) => self.codec.decode_answer(request, &bytes),
            None => self.codec.decode(&bytes),
        };
        decoded
            .map(|answer| Delivery::Answered(Box::new(answer)))
            .map_err(|rejection| ClientError::InvalidAnswer(rejection.description))
    }

    /// POSTs `body`, retrying unreachable peers, 429 and 5xx with exponential backoff
    /// (asynchronous answers and notifications, which the peer must eventually get).
    pub async fn deliver(
        &self,
        peer: &PeerEndpoint,
        body: Vec<u8>,
    ) -> Result<Delivery, ClientError> {
        // Shared, so a retry re-sends the same buffer instead of copying it.
        let body = Bytes::from(body);
        let mut attempt = 1;
        loop {
            match self.post_expecting(peer, body.clone(), None).await {
                Err(e) if e.is_retryable() && attempt < self.retry.attempts => {
                    tracing::debug!(url = %peer.url(), attempt, error = %e, "delivery failed, retrying");
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    /// Sends a request and returns its answer however it comes: in the HTTP response, or
    /// later to our endpoint (through `pending`, waiting at most `async_timeout`).
    ///
    /// The wait is registered before sending, so an answer that arrives before the peer's
    /// HTTP response is not lost.
    pub async fn request(
        &self,
        peer: &PeerEndpoint,
        message: &Message,
        dialect: &Dialect,
        pending: &PendingAnswers,
        async_timeout: Duration,
    ) -> Result<Message, ClientError> {
        let header = message.header();
        let waiting = header
            .transaction_id
            .map(|tid| pending.register(AnswerKey::new(&header.receiver_id, tid)));
        let body = self.codec.encode(message, dialect);
        match self
            .post_expecting(peer, Bytes::from(body), Some(header))
            .await?
        {
            Delivery::Answered(answer) => Ok(*answer),
            Delivery::Accepted => match waiting {
                Some(waiting) => Ok(waiting.wait(async_timeout).await?),
                None => Err(ClientError::InvalidAnswer(
                    "peer acknowledged a request without TransactionID; no answer can be matched"
                        .into(),
                )),
            },
        }
    }
}

/// An error and its causes on one line: an HTTP client's top-level message alone says little
/// (hyper's "client error (Connect)", reqwest's "error sending request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The client's TLS settings: the public web roots plus `ca_pem`, and `identity_pem` as the
/// client certificate for mutual TLS.
fn tls_config(config: &ClientConfig) -> Result<rustls::ClientConfig, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = &config.ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| ClientError::Config(format!("ca_pem: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| ClientError::Config(format!("ca_pem: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(ClientError::Config(
                "ca_pem: no CERTIFICATE block found".into(),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Config(e.to_string()))?
        .with_root_certificates(roots);
    match &config.identity_pem {
        None => Ok(builder.with_no_client_auth()),
        Some(pem) => {
            let chain = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ClientError::Config(format!("identity_pem: {e}")))?;
            if chain.is_empty() {
                return Err(ClientError::Config(
                    "identity_pem: no CERTIFICATE block found".into(),
                ));
            }
            let key = PrivateKeyDer::from_pem_slice(pem)
                .map_err(|e| ClientError::Config(format!("identity_pem: private key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ClientError::Config(format!("identity_pem: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_bound() {
        let policy = RetryPolicy {
            attempts: 10,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        };
        assert_eq!(policy.backoff(1), Duration::from_millis(100));
        assert_eq!(policy.backoff(2), Duration::from_millis(200));
        assert_eq!(policy.backoff(4), Duration::from_millis(800));
        assert_eq!(policy.backoff(5), Duration::from_millis(1000));
        assert_eq!(policy.backoff(60), Duration::from_millis(1000));
    }

    #[test]
    fn debug_never_shows_the_bearer_token() {
        let endpoint = PeerEndpoint::new("http://127.0.0.1:1/bi", Some("token-in-clear".into()))
            .expect("endpoint");
        let debug = format!("{endpoint:?}");
        assert!(!debug.contains("token-in-clear"), "{debug}");
        assert!(
            debug.contains("<redacted>") && debug.contains("127.0.0.1:1/bi"),
            "{debug}"
        );
    }
}
