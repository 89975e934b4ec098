//! [`Octopus`]: one configured instance — the observer adapters plug in, and its registry.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::trace::SdkTracerProvider;
use prometheus::Registry;

use crate::metrics::{MetricsExposition, MetricsObservation};
use crate::propagation::{HeaderCodec, HeaderSink};
use crate::trace::{CustomExporter, SpanCounters, SpanCounts, TracingObservation, TracingObserver};
use crate::{
    ConfigError, HeaderSource, MetricKind, MetricsObserver, Observation, OctopusConfig,
    RequestObserver, RequestView, ResponseView, TracesExporter,
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

#[derive(Debug)]
struct Inner {
    config: OctopusConfig,
    registry: Registry,
    metrics: Option<MetricsObserver>,
    tracing: Option<TracingObserver>,
    provider: Option<SdkTracerProvider>,
    span_counters: Arc<SpanCounters>,
    codec: HeaderCodec,
    excluded_paths: Box<[Box<str>]>,
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

    /// A typed builder, starting from the defaults.
    pub fn builder() -> OctopusBuilder {
        OctopusBuilder::default()
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
        // Exclusion is part of starting: adapters need not know which paths are excluded.
        // With no metrics and no tracing this reads shared memory and writes none.
        if self.is_excluded(request.path()) {
            return OctopusObservation::default();
        }
        OctopusObservation {
            tracing: self.inner.tracing.start(request, context),
            metrics: self.inner.metrics.start(request, context),
            trace_response: self.inner.config.trace_response,
        }
    }
}

/// One request's state inside [`Octopus`]; empty for excluded paths.
#[derive(Default)]
pub struct OctopusObservation {
    metrics: Option<MetricsObservation>,
    tracing: Option<TracingObservation>,
    /// Whether the response gets the W3C `traceresponse` header (config `trace_response`).
    trace_response: bool,
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

    #[inline]
    fn write_response_headers<K: HeaderSink + ?Sized>(&self, headers: &mut K) {
        if self.trace_response
            && let Some(tracing) = &self.tracing
        {
            tracing.write_trace_response(headers);
        }
    }
}

/// Builds an [`Octopus`]: start from [`Octopus::builder`], set what differs from the defaults.
///
/// ```
/// use octopus_core::{MetricKind, Octopus};
/// use prometheus::{IntCounter, Registry};
///
/// let registry = Registry::new();
/// let logins = IntCounter::new("logins_total", "Logins.").unwrap();
/// registry.register(Box::new(logins.clone())).unwrap();
///
/// let octopus = Octopus::builder()
///     .service_name("auth")
///     .metrics([MetricKind::RequestCount, MetricKind::Latency])
///     .latency_buckets([0.01, 0.1, 1.0])
///     .exclude_path("/ready")
///     .registry(registry)
///     .build()?;
/// logins.inc();
/// let text = String::from_utf8(octopus.render_metrics().body).unwrap();
/// assert!(text.contains("logins_total 1"));
/// # Ok::<(), octopus_core::ConfigError>(())
/// ```
#[derive(Default)]
pub struct OctopusBuilder {
    config: OctopusConfig,
    registry: Option<Registry>,
    span_exporter: Option<CustomExporter>,
}

impl std::fmt::Debug for OctopusBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OctopusBuilder")
            .field("config", &self.config)
            .field("registry", &self.registry.is_some())
            .field("span_exporter", &self.span_exporter.is_some())
            .finish()
    }
}

impl OctopusBuilder {
    /// Replaces the whole configuration (a file loaded with serde, say).
    pub fn config(mut self, config: OctopusConfig) -> Self {
        self.config = config;
        self
    }

    /// Applies the process environment on top of the configuration so far.
    pub fn env(mut self) -> Result<Self, ConfigError> {
        self.config.apply_env(|name| std::env::var(name).ok())?;
        Ok(self)
    }

    /// The service name.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.config.service_name = name.into();
        self
    }

    /// The service's version (`service.version` on its spans), e.g.
    /// `.service_version(env!("CARGO_PKG_VERSION"))`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.config.service_version = Some(version.into());
        self
    }

    /// Adds a resource attribute to the spans (OTLP resource, Jaeger process tags), e.g.
    /// `.resource_attribute("deployment.environment.name", "production")`.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config
            .resource_attributes
            .insert(key.into(), value.into());
        self
    }

    /// The collectors to run.
    pub fn metrics(mut self, metrics: impl IntoIterator<Item = MetricKind>) -> Self {
        self.config.metrics = metrics.into_iter().collect();
        self
    }

    /// A prefix for every metric name.
    pub fn metrics_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.metrics_prefix = Some(prefix.into());
        self
    }

    /// The latency histogram's bucket bounds, seconds.
    pub fn latency_buckets(mut self, buckets: impl IntoIterator<Item = f64>) -> Self {
        self.config.latency_buckets = buckets.into_iter().collect();
        self
    }

    /// Where adapters serve `/metrics`.
    pub fn metrics_path(mut self, path: impl Into<String>) -> Self {
        self.config.metrics_path = path.into();
        self
    }

    /// The `http_route` label value of requests that matched no route.
    pub fn unmatched_route_label(mut self, label: impl Into<String>) -> Self {
        self.config.unmatched_route_label = label.into();
        self
    }

    /// Adds a path that is neither counted nor traced.
    pub fn exclude_path(mut self, path: impl Into<String>) -> Self {
        self.config.excluded_paths.push(path.into());
        self
    }

    /// Serves `/metrics` on this separate address (`IP:PORT`) with
    /// [`Octopus::serve_metrics`] instead of on the application's routes.
    pub fn metrics_address(mut self, address: impl Into<String>) -> Self {
        self.config.metrics_address = Some(address.into());
        self
    }

    /// Requires `Authorization: Bearer <token>` on `/metrics`.
    pub fn metrics_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.config.metrics_bearer_token = Some(crate::config::Secret::new(token));
        self
    }

    /// Registers the metrics in this registry instead of a new one, so the user's own metrics
    /// appear on the same `/metrics`.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Sends spans to this exporter (through the batch processor) instead of the configured
    /// `traces_exporter`: for backends Octopus does not know, or an in-memory exporter in tests.
    pub fn span_exporter<E: opentelemetry_sdk::trace::SpanExporter + 'static>(
        mut self,
        exporter: E,
    ) -> Self {
        self.span_exporter = Some(crate::trace::custom_exporter(exporter));
        self
    }

    /// The trace header formats read and written, in order.
    pub fn propagators(
        mut self,
        propagators: impl IntoIterator<Item = crate::PropagatorKind>,
    ) -> Self {
        self.config.propagators = propagators.into_iter().collect();
        self
    }

    /// The sampler, by its OpenTelemetry name, with the ratio of the ratio samplers.
    pub fn sampler(mut self, sampler: crate::SamplerKind, ratio: Option<f64>) -> Self {
        self.config.sampler = sampler;
        self.config.sampler_arg = ratio;
        self
    }

    /// Validates the configuration and creates the collectors.
    pub fn build(self) -> Result<Octopus, ConfigError> {
        let config = self.config;
        config.validate()?;
        let registry = self.registry.unwrap_or_default();
        let metrics = if config.metrics_enabled() {
            Some(MetricsObserver::new(&config, Some(registry.clone()))?)
        } else {
            None
        };
        let codec = HeaderCodec::new(&config.propagators);
        let span_counters = Arc::new(SpanCounters::new(&config.service_name));
        let (tracing, provider) = if config.tracing_enabled {
            // With no exporter the counters would sit at 0 beside traffic that is traced: no
            // series is better than a misleading one.
            if self.span_exporter.is_some() || config.traces_exporter != TracesExporter::None {
                span_counters.register(&registry)?;
            }
            let provider =
                crate::trace::tracer_provider(&config, &span_counters, self.span_exporter)?;
            let tracer = opentelemetry::trace::TracerProvider::tracer_with_scope(
                &provider,
                opentelemetry::InstrumentationScope::builder("octopus")
                    .with_version(env!("CARGO_PKG_VERSION"))
                    .build(),
            );
            let observer = TracingObserver::new(tracer, codec.clone(), config.inbound_trace);
            (Some(observer), Some(provider))
        } else {
            (None, None)
        };
        let mut excluded: Vec<Box<str>> = Vec::new();
        for path in std::iter::once(&config.metrics_path).chain(&config.excluded_paths) {
            if !excluded.iter().any(|p| **p == **path) {
                excluded.push(path.as_str().into());
            }
        }
        Ok(Octopus {
            inner: Arc::new(Inner {
                config,
                registry,
                metrics,
                tracing,
                provider,
                span_counters,
                codec,
                excluded_paths: excluded.into_boxed_slice(),
            }),
        })
    }
}
