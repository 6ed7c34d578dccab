//! The Backend Interfaces HTTP client: rustls, optional client certificate, bearer token,
//! timeouts, retries with backoff for deliveries that may be repeated.

use std::sync::Arc;

use bytes::Bytes;
use std::time::Duration;

use crate::codec::Codec;
use crate::dialect::Dialect;
use crate::header::Header;
use crate::message::Message;

use super::pending::{AnswerKey, PendingAnswers, WaitError};

/// A peer's Backend Interfaces endpoint. `Debug` never shows the token.
#[derive(Clone)]
pub struct PeerEndpoint {
    /// Where to POST, e.g. `https://ns.example.net/bi`; parsed once, not per request.
    pub url: reqwest::Url,
    /// Sent as `Authorization: Bearer …` when set.
    pub bearer_token: Option<String>,
}

impl PeerEndpoint {
    /// The endpoint at `url` (an absolute http(s) URL), presenting `bearer_token`.
    pub fn new(url: &str, bearer_token: Option<String>) -> Result<Self, ClientError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| ClientError::Config(format!("url {url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ClientError::Config(format!(
                "url {url:?}: not an http(s) URL"
            )));
        }
        Ok(Self {
            url: parsed,
            bearer_token,
        })
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

/// A Backend Interfaces client. Cheap to clone; keeps connections alive per peer.
#[derive(Debug, Clone)]
pub struct BiClient {
    http: reqwest::Client,
    codec: Arc<Codec>,
    retry: RetryPolicy,
}

impl BiClient {
    /// Builds a client; fails only on a bad certificate or key in `config`.
    pub fn new(config: &ClientConfig, codec: Arc<Codec>) -> Result<Self, ClientError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(config.connect_timeout.unwrap_or(Duration::from_secs(5)))
            .timeout(config.request_timeout.unwrap_or(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(90));
        if let Some(pem) = &config.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ClientError::Config(format!("ca_pem: {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some(pem) = &config.identity_pem {
            let identity = reqwest::Identity::from_pem(pem)
                .map_err(|e| ClientError::Config(format!("identity_pem: {e}")))?;
            builder = builder.identity(identity);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Config(e.to_string()))?;
        Ok(Self {
            http,
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
        let mut request = self
            .http
            .post(peer.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(token) = &peer.bearer_token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ClientError::Unreachable(describe(&e)))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable(describe(&e)))?;
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
                    tracing::debug!(url = %peer.url, attempt, error = %e, "delivery failed, retrying");
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

/// The error and its causes on one line (reqwest's top-level message alone says little).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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
