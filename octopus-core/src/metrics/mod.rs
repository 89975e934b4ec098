//! Prometheus metrics: the [`MetricsObserver`] and the text exposition of a registry.
//!
//! # Cost per request
//!
//! The `prometheus` crate's `with_label_values` hashes every label value and takes a lock on
//! each call. Octopus resolves each label combination once and keeps the handles:
//!
//! - per route template, a `RouteSeries` found through a copy-on-write map (one short-string
//!   hash of the template, no lock: templates are few and fixed after warm-up);
//! - inside it, per method a fixed array slot, and per status code a lazily filled slot indexed
//!   by the code — no hashing, no formatting, no allocation once a combination has been seen.
//!
//! Requests without a route template all share one `RouteSeries`, so raw paths can never
//! create series; nor can raw paths passed as templates by mistake: past
//! [`MAX_ROUTE_TEMPLATES`] distinct templates, new ones share the series of [`OVERFLOW_ROUTE`].

/// The OpenMetrics 1.0 exposition, served when the scraper asks for it.
pub(crate) mod openmetrics;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use arc_swap::ArcSwap;
use opentelemetry::Context;
use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::request::report_route_overflow;
use crate::{
    ConfigError, HeaderSource, HttpMethod, MAX_ROUTE_TEMPLATES, MetricKind, OVERFLOW_ROUTE,
    Observation, OctopusConfig, RequestObserver, RequestView, ResponseView,
};

const METHOD_LABEL: &str = "http_request_method";
const ROUTE_LABEL: &str = "http_route";
const STATUS_LABEL: &str = "http_response_status_code";
const SERVICE_LABEL: &str = "service_name";

/// Everything registered in `registry`, in the text exposition format: the body of
/// [`MetricsResponse`](crate::MetricsResponse), Octopus's one rendering.
pub(crate) fn encode_text(registry: &Registry) -> Vec<u8> {
    let mut body = Vec::with_capacity(16 * 1024);
    // Encoding into a Vec cannot fail on I/O; the encoder only fails on metric families that
    // violate the format, which the registry refuses to register in the first place.
    if let Err(error) = TextEncoder::new().encode(&registry.gather(), &mut body) {
        body.clear();
        body.extend_from_slice(format!("# octopus: cannot encode metrics: {error}\n").as_bytes());
    }
    body
}

/// Creates a collector if it is `enabled` and registers it; errors name the metric.
fn register<C: Collector + Clone + 'static>(
    (enabled, kind, registry): (bool, MetricKind, &Registry),
    create: impl FnOnce(MetricKind) -> prometheus::Result<C>,
) -> Result<Option<C>, ConfigError> {
    if !enabled {
        return Ok(None);
    }
    let registration = |error: prometheus::Error| ConfigError::Registration {
        metric: kind.metric_name().into(),
        reason: error.to_string(),
    };
    let collector = create(kind).map_err(registration)?;
    registry
        .register(Box::new(collector.clone()))
        .map_err(registration)?;
    Ok(Some(collector))
}

/// The metric families, shared by every series.
struct Families {
    requests: Option<IntCounterVec>,
    duration: Option<HistogramVec>,
    active: Option<IntGaugeVec>,
}

/// Counts, times and gauges requests, as configured by [`OctopusConfig`].
///
/// Cheap to clone (one `Arc`). Usually reached through [`Octopus`](crate::Octopus), which adds
/// exclusions and tracing; use it alone to put only metrics on the seam.
///
/// ```
/// use octopus_core::{MetricsObserver, OctopusConfig, RequestObserver, RequestView, ResponseView};
///
/// let config = OctopusConfig::prometheus("users", ["request_count"]).unwrap();
/// let metrics = MetricsObserver::new(&config, None).unwrap();
/// let headers: &[(&str, &str)] = &[];
/// let request = RequestView::new("GET", "/users/7", headers).with_route(Some("/users/{id}"));
/// metrics.observe(&request).finish(&ResponseView::new(200));
///
/// // Octopus serves the registry with `Octopus::scrape`; alone, render it with `prometheus`:
/// let text = prometheus::TextEncoder::new().encode_to_string(&metrics.registry().gather()).unwrap();
/// assert!(text.contains(
///     r#"http_server_requests_total{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",service_name="users"} 1"#
/// ));
/// ```
#[derive(Clone)]
pub struct MetricsObserver {
    inner: Arc<MetricsInner>,
}

struct MetricsInner {
    registry: Registry,
    families: Arc<Families>,
    /// Route template → its series. Read lock-free on every request; replaced whole (under
    /// `insert_lock`) when a new template is seen. At most [`MAX_ROUTE_TEMPLATES`] entries.
    routes: ArcSwap<HashMap<Box<str>, Arc<RouteSeries>, foldhash::fast::RandomState>>,
    insert_lock: Mutex<()>,
    unmatched: Arc<RouteSeries>,
    /// The series of templates past the cap.
    overflow: Arc<RouteSeries>,
}

impl std::fmt::Debug for MetricsObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsObserver")
            .field("routes", &self.inner.routes.load().len())
            .finish_non_exhaustive()
    }
}

impl MetricsObserver {
    /// Creates the configured collectors and registers them in `registry`, or in a new registry
    /// of its own when `None`.
    ///
    /// Fails if the config is invalid or a metric name is already registered.
    pub fn new(config: &OctopusConfig, registry: Option<Registry>) -> Result<Self, ConfigError> {
        config.validate()?;
        MetricsObserver::with_valid_config(config, registry)
    }

    /// [`new`](Self::new) for a config already validated (the builder validates once).
    pub(crate) fn with_valid_config(
        config: &OctopusConfig,
        registry: Option<Registry>,
    ) -> Result<Self, ConfigError> {
        let registry = registry.unwrap_or_default();
        let prefix = config.metrics_prefix.as_deref().unwrap_or("");
        let opts = |kind: MetricKind, help: &str| {
            Opts::new(kind.metric_name(), help)
                .namespace(prefix)
                .const_label(SERVICE_LABEL, &config.service_name)
        };
        let family = |kind| (config.metrics.contains(&kind), kind, &registry);
        let requests = register(family(MetricKind::RequestCount), |kind| {
            IntCounterVec::new(
                opts(kind, "Number of HTTP requests served."),
                &[METHOD_LABEL, ROUTE_LABEL, STATUS_LABEL],
            )
        })?;
        let duration = register(family(MetricKind::Latency), |kind| {
            HistogramVec::new(
                HistogramOpts::from(opts(kind, "Duration of HTTP server requests."))
                    .buckets(config.latency_buckets.clone()),
                &[METHOD_LABEL, ROUTE_LABEL, STATUS_LABEL],
            )
        })?;
        let active = register(family(MetricKind::ProcessingRequests), |kind| {
            IntGaugeVec::new(
                opts(kind, "Number of HTTP server requests in flight."),
                &[METHOD_LABEL, ROUTE_LABEL],
            )
        })?;

        let families = Arc::new(Families {
            requests,
            duration,
            active,
        });
        let unmatched = Arc::new(RouteSeries::new(
            &config.unmatched_route_label,
            families.clone(),
        ));
        let overflow = Arc::new(RouteSeries::new(OVERFLOW_ROUTE, families.clone()));
        Ok(MetricsObserver {
            inner: Arc::new(MetricsInner {
                registry,
                families,
                routes: ArcSwap::default(),
                insert_lock: Mutex::new(()),
                unmatched,
                overflow,
            }),
        })
    }

    /// The registry the collectors are registered in. Register your own metrics here to serve
    /// them on the same `/metrics`.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }
}

impl MetricsInner {
    /// The series of a route template, the shared unmatched series without one, or the shared
    /// overflow series past the cap.
    fn route_series(&self, route: Option<&str>) -> Arc<RouteSeries> {
        let Some(template) = route else {
            return self.unmatched.clone();
        };
        let routes = self.routes.load();
        if let Some(series) = routes.get(template) {
            return series.clone();
        }
        // Past the cap, no lock: every request with an unknown template would take it otherwise.
        if routes.len() >= MAX_ROUTE_TEMPLATES {
            return self.overflow();
        }
        drop(routes);
        self.insert_route(template)
    }

    #[cold]
    fn overflow(&self) -> Arc<RouteSeries> {
        report_route_overflow();
        self.overflow.clone()
    }

    #[cold]
    fn insert_route(&self, template: &str) -> Arc<RouteSeries> {
        // A poisoned lock only means another thread panicked while inserting; the map it
        // guards is replaced atomically, so it is still consistent.
        let _guard = self
            .insert_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.routes.load_full();
        if let Some(series) = current.get(template) {
            return series.clone();
        }
        if current.len() >= MAX_ROUTE_TEMPLATES {
            return self.overflow();
        }
        let series = Arc::new(RouteSeries::new(template, self.families.clone()));
        let mut next = HashMap::clone(&current);
        next.insert(template.into(), series.clone());
        self.routes.store(Arc::new(next));
        series
    }
}

impl RequestObserver for MetricsObserver {
    type Observation = MetricsObservation;

    #[inline]
    fn start<H: HeaderSource + ?Sized>(
        &self,
        request: &RequestView<'_, H>,
        _context: &mut Context,
    ) -> MetricsObservation {
        let started = request.received_at().unwrap_or_else(Instant::now);
        let route = self.inner.route_series(request.route());
        let method = request.method();
        let active = route.active(method).cloned();
        if let Some(gauge) = &active {
            gauge.inc();
        }
        MetricsObservation {
            observer: self.inner.clone(),
            route,
            method,
            started,
            active,
        }
    }
}

/// One request's metrics state. Dropping it — finished or not — takes the request off the
/// in-flight gauge, exactly once.
pub struct MetricsObservation {
    /// To look up a route template that becomes known late ([`Observation::set_route`]).
    observer: Arc<MetricsInner>,
    route: Arc<RouteSeries>,
    method: HttpMethod,
    started: Instant,
    active: Option<IntGauge>,
}

impl Observation for MetricsObservation {
    #[inline]
    fn finish(self, response: &ResponseView<'_>) {
        let finished = response.finished_at().unwrap_or_else(Instant::now);
        let seconds = finished
            .saturating_duration_since(self.started)
            .as_secs_f64();
        let series = self.route.status(self.method, response.status());
        if let Some(counter) = &series.requests {
            counter.inc();
        }
        if let Some(histogram) = &series.duration {
            histogram.observe(seconds);
        }
        // Drop takes the request off the gauge.
    }

    /// Moves the request to the series of `route`, the in-flight gauge with it.
    fn set_route(&mut self, route: &str) {
        let series = self.observer.route_series(Some(route));
        if Arc::ptr_eq(&series, &self.route) {
            return;
        }
        let active = series.active(self.method).cloned();
        if let Some(gauge) = &active {
            gauge.inc();
        }
        if let Some(gauge) = std::mem::replace(&mut self.active, active) {
            gauge.dec();
        }
        self.route = series;
    }

    // A cancelled request has no status to label it with, so it is neither counted nor timed;
    // dropping the state takes it off the gauge (the default `cancel`).
}

impl Drop for MetricsObservation {
    #[inline]
    fn drop(&mut self) {
        if let Some(gauge) = &self.active {
            gauge.dec();
        }
    }
}

/// Status codes are three digits (RFC 9110 §15); slots cover 100..=999, grouped by their
/// first digit so only the classes a route actually returns are allocated.
const STATUS_CLASSES: usize = 9;
type StatusClass = [OnceLock<StatusSeries>; 100];

/// The resolved series of one route template.
pub(crate) struct RouteSeries {
    label: Box<str>,
    families: Arc<Families>,
    methods: [MethodSeries; HttpMethod::ALL.len()],
}

#[derive(Default)]
struct MethodSeries {
    active: OnceLock<Option<IntGauge>>,
    classes: [OnceLock<Box<StatusClass>>; STATUS_CLASSES],
    /// A status outside 100..=999, which no conforming server sends: one shared series.
    out_of_range: OnceLock<StatusSeries>,
}

struct StatusSeries {
    requests: Option<IntCounter>,
    duration: Option<Histogram>,
}

impl RouteSeries {
    fn new(label: &str, families: Arc<Families>) -> Self {
        RouteSeries {
            label: label.into(),
            families,
            methods: Default::default(),
        }
    }

    #[inline]
    fn active(&self, method: HttpMethod) -> Option<&IntGauge> {
        self.methods[method.index()]
            .active
            .get_or_init(|| {
                self.families
                    .active
                    .as_ref()
                    .map(|vec| vec.with_label_values(&[method.as_str(), &self.label]))
            })
            .as_ref()
    }

    #[inline]
    fn status(&self, method: HttpMethod, status: u16) -> &StatusSeries {
        let slots = &self.methods[method.index()];
        if !(100..=999).contains(&status) {
            return slots
                .out_of_range
                .get_or_init(|| self.resolve(method, "_OTHER"));
        }
        let class = slots.classes[usize::from(status / 100 - 1)]
            .get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())));
        class[usize::from(status % 100)].get_or_init(|| self.resolve(method, &status.to_string()))
    }

    #[cold]
    fn resolve(&self, method: HttpMethod, status: &str) -> StatusSeries {
        let labels = [method.as_str(), &*self.label, status];
        StatusSeries {
            requests: self
                .families
                .requests
                .as_ref()
                .map(|vec| vec.with_label_values(&labels)),
            duration: self
                .families
                .duration
                .as_ref()
                .map(|vec| vec.with_label_values(&labels)),
        }
    }
}
