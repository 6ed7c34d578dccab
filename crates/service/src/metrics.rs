//! Prometheus metrics: one registry per daemon instance (never global), served at `/metrics`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of the HTTP request metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The matched route (`/bi`, `/health`, …), or `unmatched`; never the raw path, which a
    /// client could make unbounded.
    pub route: String,
    /// HTTP method.
    pub method: String,
    /// HTTP status code.
    pub status: u16,
}

/// A daemon's metrics registry and the metrics every daemon shares.
///
/// Build it, let the daemon register its own metrics through [`Metrics::registry_mut`],
/// then share it behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpLabels, Histogram>,
}

impl Metrics {
    /// A registry whose metric names start with `switchyard_{daemon}_`.
    pub fn new(daemon: &str) -> Self {
        let mut registry = Registry::with_prefix(format!("switchyard_{daemon}"));
        let build_info = Gauge::<i64>::default();
        build_info.set(1);
        registry.register(
            "build_info",
            concat!("Always 1; version ", env!("CARGO_PKG_VERSION")),
            build_info,
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests served",
            http_requests.clone(),
        );
        let http_duration = Family::<HttpLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.000_05, 2.0, 18))) as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response head",
            http_duration.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
        }
    }

    /// For registering the daemon's own metrics before the registry is shared.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    fn observe(&self, labels: HttpLabels, seconds: f64) {
        self.http_requests.get_or_create(&labels).inc();
        self.http_duration.get_or_create(&labels).observe(seconds);
    }
}

/// Axum middleware counting and timing every request by route, method and status.
pub async fn track_http(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = HttpLabels {
        route,
        method,
        status: response.status().as_u16(),
    };
    metrics.observe(labels, started.elapsed().as_secs_f64());
    response
}
