//! `bi-relay`: the bare HTTP relay, the physical limit of the hub's stack on a machine.
//!
//! axum receives `POST /bi`, one shared reqwest client (keep-alive pool) forwards the body
//! to a fixed upstream URL, and the upstream's status and body go back. Nothing else: no
//! parsing, no authentication, no validation, no records. The client is built like the hub's
//! member client (`crates/backend`'s `BiClient`: rustls, 1 s connect timeout, 3 s request
//! timeout, 90 s idle connections), so the difference between the two is the hub's own work.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

/// Where the relay forwards, and with what.
#[derive(Debug, Clone)]
pub struct Upstream {
    url: reqwest::Url,
    client: reqwest::Client,
}

impl Upstream {
    /// Forwards to `url` (a loopback http(s) URL) with a client like the hub's.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let url = crate::load::loopback_url(url)?;
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| anyhow::anyhow!("building the HTTP client: {e}"))?;
        Ok(Self { url, client })
    }
}

/// The relay's one route, `POST /bi`.
pub fn router(upstream: Upstream) -> Router {
    Router::new()
        .route("/bi", post(forward))
        .with_state(Arc::new(upstream))
}

async fn forward(State(upstream): State<Arc<Upstream>>, body: Bytes) -> Response {
    let sent = upstream
        .client
        .post(upstream.url.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            response.bytes().await.map(|body| (status, body))
        }
        Err(e) => Err(e),
    };
    match answer {
        Ok((status, body)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, format!("upstream: {e}")).into_response(),
    }
}

/// Serves [`router`] on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    upstream: Upstream,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(upstream))
        .with_graceful_shutdown(shutdown)
        .await
}
