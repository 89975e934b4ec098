//! The framework-neutral core of Octopus.
//!
//! Octopus makes web services observable: every request is counted and timed in Prometheus
//! metrics, and traced as an OpenTelemetry span. This crate holds all of that logic; the
//! adapter crates (actix-web, axum, warp, rocket) only translate their framework's request and
//! response types onto the [`RequestObserver`] seam defined here.
//!
//! # Example: driving the seam by hand
//!
//! This is what every adapter does per request, and what you do to instrument a framework
//! Octopus has no adapter for:
//!
//! ```
//! use octopus_core::{Octopus, OctopusConfig, RequestObserver, RequestView, ResponseView};
//!
//! // Once, at start-up: the original plugin's two values.
//! let octopus = Octopus::new(OctopusConfig::prometheus(
//!     "users",
//!     ["latency", "request_count", "processing_requests"],
//! )?)?;
//!
//! // Per request: the framework-neutral view (borrowed from your request type) ...
//! let headers = http::HeaderMap::new();
//! let view = RequestView::new("GET", "/users/42", &headers).with_route(Some("/users/{id}"));
//! let request = octopus.observe(&view);
//! // ... run the handler with `request.context()` as the current OpenTelemetry context ...
//! request.finish(&ResponseView::new(200));
//! // (if the request future is dropped instead, dropping `request` records the cancellation)
//!
//! // On GET /metrics, with the request's headers (a bearer token, when one is configured):
//! let metrics = octopus.scrape(&headers);
//! assert_eq!(metrics.status, 200);
//! assert!(metrics.text().contains(concat!(
//!     r#"http_server_requests_total{http_request_method="GET","#,
//!     r#"http_response_status_code="200",http_route="/users/{id}",service_name="users"} 1"#,
//! )));
//! # Ok::<(), octopus_core::ConfigError>(())
//! ```
//!
//! # Metrics
//!
//! | config name | metric | type | labels |
//! |---|---|---|---|
//! | `latency` | `http_server_request_duration_seconds` | histogram | `http_request_method`, `http_route`, `http_response_status_code` |
//! | `request_count` | `http_server_requests_total` | counter | same |
//! | `processing_requests` | `http_server_active_requests` | gauge | `http_request_method`, `http_route` |
//! | `request_size` (off by default) | `http_server_request_body_size_bytes` | histogram | as `request_count` |
//! | `response_size` (off by default) | `http_server_response_body_size_bytes` | histogram | as `request_count` |
//!
//! Every series also carries the constant `service_name` label. `http_route` is the route
//! *template*; requests that matched no route share one value
//! ([`OctopusConfig::unmatched_route_label`], empty by default), and templates beyond the first
//! [`MAX_ROUTE_TEMPLATES`] share [`OVERFLOW_ROUTE`]. Unknown methods are `_OTHER`.
//! A request cancelled before it ended (client gone) leaves the gauge but is neither counted nor
//! timed: it has no status code.
//!
//! Labels of your own (a `tenant`, a `client`) come from a request header or a function of the
//! request ([`OctopusBuilder::label`], [`config::LabelConfig`], `OCTOPUS_LABELS`), each bounded
//! by declared values or a cap on distinct values, past which values are counted as `_other`
//! and in `octopus_label_overflow_total`; constant labels from `const_labels`.
//!
//! # Where things are
//!
//! Everything an application or an adapter names is exported here, at the crate root: the
//! framework-neutral views ([`RequestView`], [`ResponseView`], the [`HeaderSource`] and
//! [`HeaderSink`] traits), the seam ([`RequestObserver`], [`Observation`],
//! [`ObservedRequest`], and [`ObservedFuture`] with [`Translate`] and [`OnPanic`]: the one
//! poll body every adapter's response future is), [`Octopus`] and its configuration, and the
//! `/metrics` answer
//! ([`MetricsResponse`], from [`Octopus::scrape`]). The public modules are reference:
//!
//! - [`observer`]: the seam's lifecycle;
//! - [`body`]: body sizes — the recorder an observation hands out for a streamed body, and the
//!   counting wrappers adapters put around such bodies;
//! - [`propagation`]: the header codec (W3C trace context and baggage, Jaeger, B3);
//! - [`trace`]: the server span of each request, samplers, limits;
//! - [`export`]: the Jaeger agent exporter (thrift compact over UDP);
//! - [`config`]: [`OctopusConfig`], environment variables and errors;
//! - `client` (cargo feature): the traced HTTP client on `reqwest-middleware`;
//! - `testing` (cargo feature): receivers that decode the Jaeger and OTLP wire formats, a
//!   `/metrics` parser and the over-TCP scenario every adapter's tests play.
//!
//! Cargo features: `metrics-server` (on by default) adds [`Octopus::serve_metrics`], the
//! separate metrics listener; `tracing` adds `Octopus::tracing_layer`, which makes spans of
//! the `tracing` crate children of the request's server span.
//!
//! Tracing is on by default, exporting to a Jaeger agent on `localhost:6831`; see
//! [`OctopusConfig`] for OTLP, console and the `OTEL_*` variables. Call
//! [`Octopus::shutdown`] (or keep an [`Octopus::shutdown_guard`]) so queued spans are flushed.

#![warn(missing_docs)]

pub mod body;
mod builder;
#[cfg(feature = "client")]
pub mod client;
mod clock;
pub mod config;
pub mod export;
mod headers;
mod metrics;
mod metrics_endpoint;
pub mod observer;
mod octopus;
pub mod propagation;
mod request;
mod response;
/// The accept loop of the metrics listener, which octopus-warp also serves through: not part
/// of the API ([`ServeOptions`] is).
#[cfg(feature = "metrics-server")]
#[doc(hidden)]
pub mod serve;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace;
#[cfg(feature = "tracing")]
mod tracing_layer;

pub use builder::OctopusBuilder;
pub use config::{
    ConfigError, InboundTrace, MetricKind, OctopusConfig, OtlpProtocol, SamplerKind, Secret,
    TracesExporter,
};
#[doc(hidden)]
pub use headers::read_on_every_request_index;
pub use headers::{HeaderSink, HeaderSource, NoHeaders};
pub use metrics::{MetricsObservation, MetricsObserver};
pub use metrics_endpoint::MetricsResponse;
pub use observer::{
    InContext, Observation, ObservedFuture, ObservedRequest, OnPanic, RequestObserver, Translate,
};
pub use octopus::{Octopus, OctopusObservation, ShutdownGuard};
pub use propagation::{HeaderCodec, PropagatorKind};
#[doc(hidden)]
pub use request::intern_route;
pub use request::{HttpMethod, MAX_ROUTE_TEMPLATES, OVERFLOW_ROUTE, RequestView};
pub use response::ResponseView;
#[cfg(feature = "metrics-server")]
pub use serve::ServeOptions;
pub use trace::{ParentContext, SpanCounts, TraceContext, TracingObserver};
#[cfg(feature = "tracing")]
pub use tracing_layer::TracingLayer;

/// Re-exported so adapters and users name the same versions Octopus uses.
pub use opentelemetry;
/// Re-exported so users register their own metrics in the same `prometheus` version.
pub use prometheus;
/// Re-exported so users name the layer's types and use its span extension
/// (`OpenTelemetrySpanExt`) in the version that speaks Octopus's OpenTelemetry.
#[cfg(feature = "tracing")]
pub use tracing_opentelemetry;
