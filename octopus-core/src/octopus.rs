//! [`Octopus`]: one configured instance — the observer adapters plug in, and its registry.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::trace::SdkTracerProvider;
use prometheus::Registry;

use crate::clock::Moment;
use crate::metrics::MetricsObservation;
use crate::propagation::HeaderCodec;
use crate::trace::{SpanCounts, SpanPipeline, TracingObservation, TracingObserver};
use crate::{
    ConfigError, HeaderSink, HeaderSource, MetricsObserver, MetricsResponse, Observation,
    OctopusBuilder, OctopusConfig, RequestObserver, RequestView, ResponseView,
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
/// use octopus_core::{NoHeaders, Octopus, OctopusConfig, RequestObserver, RequestView, ResponseView};
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
/// // What the adapters' `/metrics` routes answer:
/// let metrics = octopus.scrape(&NoHeaders);
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
    /// The span pipeline, when tracing is enabled.
    pub(crate) spans: Option<Arc<SpanPipeline>>,
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
        crate::clock::calibrate();
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

    /// Answers one scrape of the metrics endpoint whose request carried `request_headers`: the
    /// registry in the format the `Accept` header prefers — OpenMetrics 1.0 (with exemplars)
    /// when the scraper asks for it, as Prometheus does, else the Prometheus text format 0.0.4,
    /// also for an absent or malformed `Accept` — or a 401 when `metrics_bearer_token` is set
    /// and the `Authorization` header is not `Bearer <that token>`. Every adapter's `/metrics`
    /// route and [`serve_metrics`](Octopus::serve_metrics) answer with it; a custom framework
    /// passes its request's headers the same way (all of them, so `Accept` is seen too).
    ///
    /// ```
    /// use octopus_core::{NoHeaders, Octopus};
    ///
    /// let octopus = Octopus::builder().metrics_bearer_token("s3cret").build()?;
    /// assert_eq!(octopus.scrape(&NoHeaders).status, 401);
    /// let wrong: &[(&str, &str)] = &[("authorization", "Bearer wrong")];
    /// assert_eq!(octopus.scrape(wrong).status, 401);
    /// let right: &[(&str, &str)] = &[("authorization", "Bearer s3cret")];
    /// assert_eq!(octopus.scrape(right).status, 200);
    ///
    /// let openmetrics: &[(&str, &str)] = &[
    ///     ("authorization", "Bearer s3cret"),
    ///     ("accept", "application/openmetrics-text; version=1.0.0"),
    /// ];
    /// assert!(octopus.scrape(openmetrics).text().ends_with("# EOF\n"));
    /// # Ok::<(), octopus_core::ConfigError>(())
    /// ```
    pub fn scrape<H: HeaderSource + ?Sized>(&self, request_headers: &H) -> MetricsResponse {
        let token = self.inner.config.metrics_bearer_token.as_ref();
        let metrics = self.inner.metrics.as_ref();
        MetricsResponse::scrape(&self.inner.registry, token, request_headers, metrics)
    }

    /// Whether adapters mount `/metrics` on the application's own routes: not when a separate
    /// `metrics_address` is configured (then [`serve_metrics`](Octopus::serve_metrics) serves
    /// it, and the application's port answers 404 there).
    pub fn metrics_on_app(&self) -> bool {
        self.inner.config.metrics_address.is_none()
    }

    /// Serves `GET {metrics_path}` on the configured `metrics_address` until `shutdown`
    /// resolves; returns at once when no separate address is configured (so it can be
    /// spawned unconditionally). Fails if the address cannot be bound. (Cargo feature
    /// `metrics-server`, on by default.)
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// let octopus = octopus_core::Octopus::builder().metrics_address("0.0.0.0:9464").build().unwrap();
    /// tokio::spawn({
    ///     let octopus = octopus.clone();
    ///     async move { octopus.serve_metrics(std::future::pending()).await }
    /// });
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "metrics-server")]
    pub async fn serve_metrics(
        &self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        let Some(address) = &self.inner.config.metrics_address else {
            return Ok(());
        };
        let listener = tokio::net::TcpListener::bind(address.trim()).await?;
        self.serve_metrics_on(listener, shutdown).await
    }

    /// Serves `GET {metrics_path}` on `listener` (any other request: 404, 405) until
    /// `shutdown` resolves, then finishes the scrapes in progress; with the default
    /// [`ServeOptions`](crate::ServeOptions).
    #[cfg(feature = "metrics-server")]
    pub async fn serve_metrics_on(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        let options = crate::ServeOptions::default();
        self.serve_metrics_with(listener, &options, shutdown).await
    }

    /// [`serve_metrics_on`](Octopus::serve_metrics_on) with `options` (a shorter header
    /// read timeout, say).
    #[cfg(feature = "metrics-server")]
    pub async fn serve_metrics_with(
        &self,
        listener: tokio::net::TcpListener,
        options: &crate::ServeOptions,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        let octopus = self.clone();
        let handler = move |request: http::Request<hyper::body::Incoming>| {
            let answer = crate::metrics_endpoint::answer_on_listener(&octopus, &request);
            let response = http::Response::<http_body_util::Full<bytes::Bytes>>::from(answer);
            async move { Ok::<_, std::convert::Infallible>(response) }
        };
        let name = "octopus: metrics listener";
        crate::serve::serve(name, listener, handler, options, shutdown).await
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

    /// A `tracing-subscriber` layer that turns `tracing` spans into OpenTelemetry spans of this
    /// instance's tracer provider, or `None` when tracing is off.
    ///
    /// It uses Octopus's provider rather than a global one so the spans share the server spans'
    /// sampler, resource (`service.name`), exporter and [`shutdown`](Octopus::shutdown) flush;
    /// two instances in one process stay apart. A `None` is itself a layer that does nothing,
    /// so the subscriber can be set up the same way whether tracing is on or off.
    ///
    /// A `tracing` span opened with no `tracing` parent takes the current OpenTelemetry context
    /// as its parent: in a handler, the request's server span. It keeps the layer's defaults
    /// (code location, thread and target attributes, the OpenTelemetry context made current
    /// while the span is entered); chain the layer's `with_*` methods to change them, and add a
    /// filter (`Layer::with_filter`) when libraries' spans should stay out of the traces.
    ///
    /// Every adapter except rocket polls the handler with the request's context current.
    /// Rocket handlers do not: take the `octopus_rocket::TraceContext` guard and open the spans
    /// inside its `in_scope(future)`, or give a span its parent explicitly with
    /// [`OpenTelemetrySpanExt::set_parent`](tracing_opentelemetry::OpenTelemetrySpanExt::set_parent)
    /// and run the work with `tracing::Instrument`. (Cargo feature `tracing`.)
    ///
    /// ```
    /// use octopus_core::{Octopus, RequestObserver, RequestView, ResponseView};
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use tracing_subscriber::layer::SubscriberExt as _;
    ///
    /// #[tracing::instrument]
    /// fn load_user(id: u64) {
    ///     let _query = tracing::info_span!("query").entered();
    /// }
    ///
    /// let exporter = InMemorySpanExporter::default();
    /// let octopus = Octopus::builder()
    ///     .service_name("users")
    ///     .span_exporter(exporter.clone())
    ///     .build()?;
    ///
    /// // Once, at start-up (an application calls `tracing::subscriber::set_global_default`):
    /// let subscriber = tracing_subscriber::registry().with(octopus.tracing_layer());
    /// let _default = tracing::subscriber::set_default(subscriber);
    ///
    /// // What an adapter does around each handler: the request's context is current.
    /// let headers: &[(&str, &str)] =
    ///     &[("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")];
    /// let view = RequestView::new("GET", "/users/7", headers).with_route(Some("/users/{id}"));
    /// let request = octopus.observe(&view);
    /// {
    ///     let _current = request.context().clone().attach();
    ///     load_user(7);
    /// }
    /// request.finish(&ResponseView::new(200));
    /// octopus.tracer_provider().unwrap().force_flush().unwrap();
    ///
    /// let spans = exporter.get_finished_spans().unwrap();
    /// let span = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
    /// let server = span("GET /users/{id}").span_context.span_id();
    /// assert_eq!(span("load_user").parent_span_id, server);
    /// assert_eq!(span("query").parent_span_id, span("load_user").span_context.span_id());
    /// assert_eq!(
    ///     span("query").span_context.trace_id().to_string(),
    ///     "4bf92f3577b34da6a3ce929d0e0e4736"
    /// );
    /// # octopus.shutdown().unwrap();
    /// # Ok::<(), octopus_core::ConfigError>(())
    /// ```
    #[cfg(feature = "tracing")]
    pub fn tracing_layer<S>(&self) -> Option<crate::TracingLayer<S>>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        let provider = self.tracer_provider()?;
        Some(crate::tracing_layer::layer(provider))
    }

    /// What the span pipeline has handled so far.
    pub fn span_counts(&self) -> SpanCounts {
        self.inner
            .spans
            .as_ref()
            .map_or_else(SpanCounts::default, |spans| spans.snapshot())
    }

    /// Takes the spans waiting in the span pipeline's buffers out of it, without exporting
    /// them (they count as ended, neither exported nor failed): the spans an exporter's
    /// benchmark encodes as the export thread would. Empty without tracing. Not part of the
    /// API.
    #[doc(hidden)]
    pub fn take_buffered_spans(&self) -> crate::trace::BufferedSpans {
        match &self.inner.spans {
            Some(spans) => spans.take_buffered(),
            None => crate::trace::BufferedSpans {
                spans: Vec::new(),
                scope: opentelemetry::InstrumentationScope::default(),
            },
        }
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

    /// This instance for the rest of the process, as a `&'static Octopus` that adapters take
    /// as their observer like an owned one.
    ///
    /// Why: axum's router and warp's service are cloned for every request, and the observer
    /// with them. Cloning an `Octopus` increments and decrements one reference count that every
    /// worker thread writes — under load, a cache line moving between cores on each request.
    /// A `&'static Octopus` is copied instead, and touches no shared memory. An `Octopus` is
    /// built once per process anyway; [`shutdown`](Octopus::shutdown) still flushes, and the
    /// instance's memory is simply never freed.
    ///
    /// ```
    /// use octopus_core::{Octopus, OctopusConfig, RequestObserver, RequestView, ResponseView};
    ///
    /// let octopus: &'static Octopus =
    ///     Octopus::new(OctopusConfig::prometheus("users", ["request_count"])?)?.leak();
    /// let headers: &[(&str, &str)] = &[];
    /// let view = RequestView::new("GET", "/users/7", headers).with_route(Some("/users/{id}"));
    /// octopus.observe(&view).finish(&ResponseView::new(200)); // `&'static Octopus` observes
    /// assert!(octopus.scrape(headers).text().contains("http_server_requests_total"));
    /// # Ok::<(), octopus_core::ConfigError>(())
    /// ```
    pub fn leak(self) -> &'static Octopus {
        Box::leak(Box::new(self))
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
        // One clock read for the start, shared: metrics time the request from it, and the span
        // starts at it (its wall-clock time derived, see `crate::clock`). Without metrics, an
        // unsampled span reads no clock.
        let started = match (&self.inner.metrics, request.received_at()) {
            (Some(_), None) => Some(Moment::now()),
            (_, received_at) => received_at.map(Moment::Given),
        };
        OctopusObservation {
            tracing: (self.inner.tracing.as_ref())
                .map(|tracing| tracing.start_at(request, context, started)),
            metrics: self.inner.metrics.as_ref().map(|metrics| {
                metrics.start_at(request, context, started.unwrap_or_else(Moment::now))
            }),
            trace_response: self.inner.config.trace_response,
        }
    }

    /// Metrics label requests by route and the server span is named after it; with neither
    /// enabled, nothing in `start` reads the route (exclusion goes by path).
    #[inline]
    fn uses_route(&self) -> bool {
        self.inner.metrics.uses_route() || self.inner.tracing.uses_route()
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
    fn finish(mut self, response: &ResponseView<'_>) {
        // One clock read for the end, shared as for the start (on the start's clock).
        let finished = self.metrics.as_ref().map(|metrics| metrics.end(response));
        // Each part finishes in place: moving one out of its `Option` to consume it copied
        // it (`core/metrics`: a `memcpy` call and the moves around it, 2026-12-01); the drop
        // that follows finds both ended.
        if let (Some(metrics), Some(finished)) = (&mut self.metrics, finished) {
            metrics.finish_at(response, finished);
        }
        if let Some(tracing) = &mut self.tracing {
            tracing.finish_at(response, finished);
        }
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

    #[inline]
    fn request_body_recorder(&mut self) -> Option<crate::body::BodySizeRecorder> {
        self.metrics.request_body_recorder()
    }

    #[inline]
    fn response_body_recorder(
        &self,
        response: &ResponseView<'_>,
    ) -> Option<crate::body::BodySizeRecorder> {
        self.metrics.response_body_recorder(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MetricKind, TracesExporter};

    fn octopus(metrics: &[MetricKind], tracing: bool) -> Octopus {
        Octopus::new(OctopusConfig {
            metrics: metrics.to_vec(),
            tracing_enabled: tracing,
            traces_exporter: TracesExporter::None,
            ..OctopusConfig::default()
        })
        .expect("the configuration is valid")
    }

    /// Metrics label by route and the span is named after it: an instance with neither does not
    /// need the route, and adapters may skip computing it.
    #[test]
    fn uses_route_only_with_metrics_or_tracing() {
        let skeleton = octopus(&[], false);
        assert!(skeleton.metrics().is_none() && skeleton.tracing().is_none());
        assert!(!skeleton.uses_route());
        assert!(!skeleton.clone().leak().uses_route());
        assert!(!Some(skeleton).uses_route());

        assert!(octopus(&[MetricKind::RequestCount], false).uses_route());
        assert!(octopus(&[MetricKind::Latency], false).uses_route());
        assert!(octopus(&[MetricKind::ProcessingRequests], false).uses_route());
        let traced = octopus(&[], true);
        assert!(traced.uses_route());
        assert!(traced.tracing().expect("tracing is on").uses_route());
        traced.shutdown().expect("nothing to flush");
        let full = octopus(&[MetricKind::RequestCount], true);
        assert!(full.uses_route());
        assert!(full.metrics().expect("metrics are on").uses_route());
        assert!((octopus(&[], false), full.clone()).uses_route());
        full.shutdown().expect("nothing to flush");
    }
}
