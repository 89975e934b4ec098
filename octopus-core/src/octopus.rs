//! [`Octopus`]: one configured instance — the observer adapters plug in, and its registry.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::trace::SdkTracerProvider;
use prometheus::Registry;

use crate::metrics::{MetricsExposition, MetricsObservation};
use crate::propagation::{HeaderCodec, HeaderSink};
use crate::trace::{SpanCounters, SpanCounts, TracingObservation, TracingObserver};
use crate::{
    ConfigError, HeaderSource, MetricsObserver, Observation, OctopusBuilder, OctopusConfig,
    RequestObserver, RequestView, ResponseView,
};

/// One Octopus instance: metrics and spans for one service.
///
/// Build it once, at start-up, outside any per-worker factory, and clone it into each worker or
/// router: clones share everything (one `Arc`). Each instance owns its Prometheus registry
/// unless given one, so two instances in one process (tests, two apps) never collide.
///
/// It is a [`RequestObserver`]: requests whose path is excluded (by default `/metrics` and
/// `/health`) are neither counted nor traced.
///
/// It owns its tracer provider (never a global one). Call [`shutdown`](Octopus::shutdown), or
/// hold a [`ShutdownGuard`], so queued spans are flushed before the process exits.
///
/// ```
/// use octopus_core::{Octopus, OctopusConfig, RequestObserver, RequestView, ResponseView};
///
/// let octopus = Octopus::new(OctopusConfig::prometheus(
///     "users",
///     ["latency", "request_count", "processing_requests"],
/// )?)?;
///
/// // What an adapter does for each request:
/// let headers: &[(&str, &str)] = &[];
/// let view = RequestView::new("GET", "/users/42", headers).with_route(Some("/users/{id}"));
/// let request = octopus.observe(&view);
/// // ... run the handler with `request.context()` current ...
/// request.finish(&ResponseView::new(200));
///
/// let metrics = octopus.render_metrics();
/// assert_eq!(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");
/// # Ok::<(), octopus_core::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Octopus {
    inner: Arc<Inner>,
}

/// What an instance holds; [`OctopusBuilder::build`] makes it.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: OctopusConfig,
    pub(crate) registry: Registry,
    pub(crate) metrics: Option<MetricsObserver>,
    pub(crate) tracing: Option<TracingObserver>,
    pub(crate) provider: Option<SdkTracerProvider>,
    pub(crate) span_counters: Arc<SpanCounters>,
    pub(crate) codec: HeaderCodec,
    pub(crate) excluded_paths: Box<[Box<str>]>,
}

impl Octopus {
    /// An instance with its own registry. Fails on any invalid config value.
    pub fn new(config: OctopusConfig) -> Result<Self, ConfigError> {
        Octopus::builder().config(config).build()
    }

    /// An instance configured from the environment only (see [`OctopusConfig::apply_env`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        Octopus::new(OctopusConfig::from_env()?)
    }

    /// A typed builder, starting from the defaults; its calls may come in any order.
    pub fn builder() -> OctopusBuilder {
        OctopusBuilder::default()
    }

    pub(crate) fn from_parts(inner: Inner) -> Self {
        Octopus {
            inner: Arc::new(inner),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &OctopusConfig {
        &self.inner.config
    }

    /// The service name.
    pub fn service_name(&self) -> &str {
        &self.inner.config.service_name
    }

    /// The registry `/metrics` renders: register your own metrics here to serve them alongside.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Where adapters mount the metrics endpoint.
    pub fn metrics_path(&self) -> &str {
        &self.inner.config.metrics_path
    }

    /// The body and `Content-Type` of a `/metrics` response.
    pub fn render_metrics(&self) -> MetricsExposition {
        crate::metrics::render(&self.inner.registry)
    }

    /// Whether requests to `path` are left unobserved.
    #[inline]
    pub fn is_excluded(&self, path: &str) -> bool {
        self.inner.excluded_paths.iter().any(|p| **p == *path)
    }

    /// The metrics observer, when metrics are enabled.
    pub fn metrics(&self) -> Option<&MetricsObserver> {
        self.inner.metrics.as_ref()
    }

    /// The tracing observer, when tracing is enabled.
    pub fn tracing(&self) -> Option<&TracingObserver> {
        self.inner.tracing.as_ref()
    }

    /// The tracer provider, when tracing is enabled: start your own spans with it
    /// (`provider.tracer("my-component")`), or install it globally with
    /// `opentelemetry::global::set_tracer_provider(provider.clone())`.
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.inner.provider.as_ref()
    }

    /// The header codec of the configured propagators; the traced client injects with it.
    pub fn codec(&self) -> &HeaderCodec {
        &self.inner.codec
    }

    /// Writes the response headers Octopus is configured to add (the W3C `traceresponse`
    /// header when `trace_response` is on) for the request whose context is `context`.
    pub fn inject_response_headers<S: HeaderSink + ?Sized>(&self, context: &Context, sink: &mut S) {
        if self.inner.config.trace_response {
            crate::trace::inject_trace_response(context, sink);
        }
    }

    /// What the span pipeline has handled so far.
    pub fn span_counts(&self) -> SpanCounts {
        self.inner.span_counters.snapshot()
    }

    /// Flushes queued spans and stops the exporter, waiting at most the configured
    /// `shutdown_timeout_ms`. Spans that never reached the backend are reported on stderr.
    /// Later calls (and those of clones) do nothing and return the same counts.
    pub fn shutdown(&self) -> Result<SpanCounts, OTelSdkError> {
        let Some(provider) = &self.inner.provider else {
            return Ok(self.span_counts());
        };
        let timeout = Duration::from_millis(self.inner.config.shutdown_timeout_ms);
        let result = match provider.shutdown_with_timeout(timeout) {
            Err(OTelSdkError::AlreadyShutdown) => Ok(()),
            other => other,
        };
        let counts = self.span_counts();
        if counts.failed > 0 || counts.unaccounted() > 0 {
            eprintln!(
                "octopus: {} of {} spans were not delivered ({} in failed exports, {} dropped or unflushed)",
                counts.failed + counts.unaccounted(),
                counts.ended,
                counts.failed,
                counts.unaccounted()
            );
        }
        result.map(|()| counts)
    }

    /// A guard that calls [`shutdown`](Octopus::shutdown) when dropped: keep it alive in
    /// `main` so spans are flushed however `main` returns.
    pub fn shutdown_guard(&self) -> ShutdownGuard {
        ShutdownGuard {
            octopus: self.clone(),
        }
    }
}

/// Flushes an [`Octopus`]'s spans when dropped. Made by [`Octopus::shutdown_guard`].
#[derive(Debug)]
#[must_use = "the guard flushes spans when it is dropped; dropping it at once flushes now"]
pub struct ShutdownGuard {
    octopus: Octopus,
}

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        if let Err(error) = self.octopus.shutdown() {
            eprintln!("octopus: shutting down the tracer provider: {error}");
        }
    }
}

impl RequestObserver for Octopus {
    type Observation = OctopusObservation;

    #[inline]
    fn start<H: HeaderSource + ?Sized>(
        &self,
        request: &RequestView<'_, H>,
        context: &mut Context,
    ) -> OctopusObservation {
        if self.is_excluded(request.path()) {
            return OctopusObservation {
                metrics: None,
                tracing: None,
            };
        }
        OctopusObservation {
            tracing: self.inner.tracing.start(request, context),
            metrics: self.inner.metrics.start(request, context),
        }
    }
}

/// One request's state inside [`Octopus`]; empty for excluded paths.
#[derive(Default)]
pub struct OctopusObservation {
    metrics: Option<MetricsObservation>,
    tracing: Option<TracingObservation>,
}

impl Observation for OctopusObservation {
    #[inline]
    fn finish(self, response: &ResponseView<'_>) {
        self.metrics.finish(response);
        self.tracing.finish(response);
    }

    #[inline]
    fn cancel(self) {
        self.metrics.cancel();
        self.tracing.cancel();
    }

    #[inline]
    fn set_route(&mut self, route: &str) {
        self.metrics.set_route(route);
        self.tracing.set_route(route);
    }
}
