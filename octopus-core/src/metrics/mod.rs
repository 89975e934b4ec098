//! Prometheus metrics: the [`MetricsObserver`], its per-thread cells, and the two text
//! expositions of a registry.
//!
//! # Cost per request
//!
//! Nothing that another thread writes is written on the request path (see [`cells`] for the
//! measurements behind it): a request finds its thread's block of cells through a
//! thread-local list, its route template's number from the thread's own copy of the route
//! table (the last route compared first, then a thread-local map; the shared copy-on-write
//! table is read only the first time a thread sees a template, and for routes named late), and
//! its method and status by array index — no hashing of label values, no formatting, no allocation once a combination has
//! been seen. A scrape sums the threads' cells.
//!
//! Requests without a route template all share one series, so raw paths can never create
//! series; nor can raw paths passed as templates by mistake: past [`MAX_ROUTE_TEMPLATES`]
//! distinct templates, new ones share the series of [`OVERFLOW_ROUTE`].
//!
//! # Labels of the user's own
//!
//! With labels configured ([`LabelConfig`], `OctopusBuilder::label`), a request's cells are
//! those of its route *and* label values: each value is numbered in its label's bounded table
//! (declared values, or a cap past which values are `_other`), the combination in a series
//! table; both are read from the thread's own copy, the shared tables only when a thread first
//! sees a value or combination (see [`labels`]). A value not admitted is counted in the
//! thread's cells (`octopus_label_overflow_total`). Without labels the series number is the
//! route number, and the only cost is one branch.
//!
//! # Exemplars
//!
//! When a request's span is sampled and exemplars are on (config `exemplars`, on by default
//! with tracing), its counter and the latency bucket it lands in keep its trace and span ids
//! as their exemplar, replacing the previous one: one slot per series and bucket (per thread;
//! a scrape serves the newest). OpenMetrics scrapes carry them.

mod cells;
mod collector;
mod exemplar;
pub(crate) mod labels;
/// The OpenMetrics 1.0 exposition, served when the scraper asks for it.
pub(crate) mod openmetrics;
mod routes;

use std::sync::{Arc, Mutex};

use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt as _;
use prometheus::{Encoder, Registry, TextEncoder};

use self::cells::{CellsRegistry, Layout, SizeCells, ThreadCells};
use self::collector::{
    Families, HttpCollector, LabelOverflowCollector, Parts, Snapshot, SnapshotExemplars,
};
use self::exemplar::SampledTrace;
use self::labels::{LabelFn, LabelIds, SeriesId, UserLabels};
use self::routes::RouteTable;
use crate::body::BodySizeRecorder;
use crate::clock::Moment;
use crate::config::LabelConfig;
use crate::{
    ConfigError, HeaderSource, HttpMethod, MetricKind, Observation, OctopusConfig, RequestObserver,
    RequestView, ResponseView,
};

#[cfg(doc)]
use crate::{MAX_ROUTE_TEMPLATES, OVERFLOW_ROUTE};

/// Everything registered in `registry`, in the text exposition format 0.0.4: the body of
/// [`MetricsResponse`](crate::MetricsResponse) unless the scraper asks for OpenMetrics.
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
    cells: Arc<CellsRegistry>,
    families: Arc<Families>,
}

impl std::fmt::Debug for MetricsObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsObserver")
            .field("routes", &self.inner.cells.table().labels().len())
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
        crate::clock::calibrate();
        MetricsObserver::with_valid_config(config, registry, &[])
    }

    /// [`new`](Self::new) for a config already validated (the builder validates once).
    /// `functions`: the labels whose values functions give (the builder's), checked with the
    /// config's by [`check_labels`](crate::config::check_labels).
    pub(crate) fn with_valid_config(
        config: &OctopusConfig,
        registry: Option<Registry>,
        functions: &[(LabelConfig, Arc<LabelFn>)],
    ) -> Result<Self, ConfigError> {
        let registry = registry.unwrap_or_default();
        let labels = UserLabels::new(&config.labels, functions).map(Arc::new);
        let label_names: Vec<&str> = labels
            .iter()
            .flat_map(|labels| labels.tables.iter().map(|table| &*table.name))
            .collect();
        let families = Arc::new(Families::new(config, &label_names)?);
        let has = |kind| config.metrics.contains(&kind);
        let layout = Layout {
            requests: has(MetricKind::RequestCount),
            latency_bounds: has(MetricKind::Latency)
                .then(|| config.latency_buckets.clone().into_boxed_slice()),
            active: has(MetricKind::ProcessingRequests),
            // Only a sampled span leaves an exemplar: without tracing, no slots are made.
            exemplars: config.exemplars && config.tracing_enabled,
            body_size_bounds: (has(MetricKind::RequestSize) || has(MetricKind::ResponseSize))
                .then(|| config.body_size_buckets.clone().into_boxed_slice()),
            request_size: has(MetricKind::RequestSize),
            response_size: has(MetricKind::ResponseSize),
        };
        let table = Arc::new(RouteTable::new(&config.unmatched_route_label));
        let cells = CellsRegistry::new(table, Arc::new(layout), labels.clone());
        // In the order of the families' names in errors before the cells existed.
        for kind in [
            MetricKind::RequestCount,
            MetricKind::Latency,
            MetricKind::ProcessingRequests,
            MetricKind::RequestSize,
            MetricKind::ResponseSize,
        ] {
            if !config.metrics.contains(&kind) {
                continue;
            }
            let collector = HttpCollector {
                kind,
                cells: cells.clone(),
                families: families.clone(),
            };
            registry
                .register(Box::new(collector))
                .map_err(|error| ConfigError::Registration {
                    metric: kind.metric_name().into(),
                    reason: error.to_string(),
                })?;
        }
        if labels.is_some() {
            let collector = LabelOverflowCollector::new(config, cells.clone())?;
            registry
                .register(Box::new(collector))
                .map_err(|error| ConfigError::Registration {
                    metric: collector::LABEL_OVERFLOW.into(),
                    reason: error.to_string(),
                })?;
        }
        Ok(MetricsObserver {
            inner: Arc::new(MetricsInner {
                registry,
                cells,
                families,
            }),
        })
    }

    /// The registry the collectors are registered in. Register your own metrics here to serve
    /// them on the same `/metrics`.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }
}

impl MetricsObserver {
    /// Everything in the registry in OpenMetrics 1.0 text, with the exemplars of the
    /// requests' series.
    pub(crate) fn encode_openmetrics(&self) -> Vec<u8> {
        let families = self.inner.registry.gather();
        let snapshot = Snapshot::take(&self.inner.cells, Parts::EXEMPLARS);
        let exemplars = SnapshotExemplars::new(&snapshot, &self.inner.families);
        openmetrics::encode(&families, &exemplars)
    }
}

impl RequestObserver for MetricsObserver {
    type Observation = MetricsObservation;

    #[inline]
    fn start<H: HeaderSource + ?Sized>(
        &self,
        request: &RequestView<'_, H>,
        context: &mut Context,
    ) -> MetricsObservation {
        self.start_at(
            request,
            context,
            Moment::given_or_now(request.received_at()),
        )
    }
}

impl MetricsObserver {
    /// [`start`](RequestObserver::start), the request received at `started`.
    #[inline]
    pub(crate) fn start_at<H: HeaderSource + ?Sized>(
        &self,
        request: &RequestView<'_, H>,
        context: &mut Context,
        started: Moment,
    ) -> MetricsObservation {
        // Without labels of the user's own (the common case), one branch: the series is the
        // route, as it always was.
        let (cells, series, values) = match &self.inner.cells.labels() {
            None => {
                let (cells, route) = self.inner.cells.start(request.route());
                (cells, SeriesId::of_route(route), LabelIds::default())
            }
            Some(labels) => self.start_labelled(labels, request),
        };
        let method = request.method();
        let layout = &*cells.layout;
        if layout.active {
            cells.method(series, method).start();
        }
        let sampled = if layout.exemplars {
            sampled_trace(context)
        } else {
            None
        };
        let request_size = if layout.request_size {
            request.body_size()
        } else {
            None
        };
        let in_flight = layout.active;
        MetricsObservation {
            cells,
            series,
            values,
            method,
            started,
            sampled,
            request_size,
            request_pending: None,
            in_flight,
        }
    }
}

impl MetricsObserver {
    /// The cells, series and label values of a request with labels of the user's own.
    #[inline]
    fn start_labelled<H: HeaderSource + ?Sized>(
        &self,
        labels: &UserLabels,
        request: &RequestView<'_, H>,
    ) -> (Arc<ThreadCells>, SeriesId, LabelIds) {
        // Functions see the request with its headers behind `dyn`: one signature for every
        // adapter's header type.
        let headers = request.headers();
        let erased_headers: &dyn HeaderSource = &headers;
        let erased = labels
            .functions
            .then(|| request.with_erased_headers(erased_headers));
        let raw = labels.extract(request, erased.as_ref());
        self.inner
            .cells
            .start_labelled(labels, request.route(), &raw)
    }
}

/// The ids of the context's span, if it is sampled.
#[inline]
fn sampled_trace(context: &Context) -> Option<SampledTrace> {
    let span = context.span();
    let span_context = span.span_context();
    if !(span_context.is_sampled() && span_context.is_valid()) {
        return None;
    }
    SampledTrace::new(span_context.trace_id(), span_context.span_id())
}

/// One request's metrics state. Dropping it — finished or not — takes the request off the
/// in-flight gauge, exactly once.
pub struct MetricsObservation {
    /// The cells of the thread the request started on, where it went in flight. Its end is
    /// written there too when it ends on that thread, else into the ending thread's own block
    /// ([`ThreadCells::write`]): every cell has one writer.
    cells: Arc<ThreadCells>,
    /// The route's cells number; with labels of the user's own, the (route, label values)
    /// combination's.
    series: SeriesId,
    /// With labels of the user's own: the request's label values, for a route named late.
    values: LabelIds,
    method: HttpMethod,
    started: Moment,
    /// The request's sampled span, when exemplars are on.
    sampled: Option<SampledTrace>,
    /// The request body's size when known at start and `request_size` is on.
    request_size: Option<u64>,
    /// The request body being counted as it streams (size unknown at start), when the
    /// adapter asked for a recorder.
    request_pending: Option<Arc<PendingSize>>,
    /// Counted in flight (the gauge is on) and not yet taken off: the end takes it off in the
    /// same write as its counts, so dropping it afterwards has nothing left to do.
    in_flight: bool,
}

impl Observation for MetricsObservation {
    #[inline]
    fn finish(mut self, response: &ResponseView<'_>) {
        let finished = self.end(response);
        self.finish_at(response, finished);
    }

    /// Moves the request to the series of `route`, the in-flight gauge with it.
    fn set_route(&mut self, route: &str) {
        let route = self.cells.table.id(Some(route));
        let series = match &self.cells.labels {
            None => SeriesId::of_route(route),
            Some(labels) => self.cells.series_of(labels, (route, self.values)),
        };
        if series == self.series {
            return;
        }
        if self.in_flight {
            let (before, method) = (self.series, self.method);
            self.cells.write(|cells| {
                cells.method(series, method).start();
                cells.method(before, method).end();
            });
        }
        self.series = series;
    }

    /// A streamed request body: counted by the adapter, recorded with the request's status
    /// once both the body and the request ended.
    fn request_body_recorder(&mut self) -> Option<BodySizeRecorder> {
        if !self.cells.layout.request_size
            || self.request_size.is_some()
            || self.request_pending.is_some()
        {
            return None;
        }
        let pending = Arc::new(PendingSize::default());
        self.request_pending = Some(pending.clone());
        Some(BodySizeRecorder::pending(pending))
    }

    /// A streamed response body: recorded under the response's status when it ends.
    fn response_body_recorder(&self, response: &ResponseView<'_>) -> Option<BodySizeRecorder> {
        (self.cells.layout.response_size && response.body_size().is_none())
            .then(|| BodySizeRecorder::metrics(self.size_target(response, true)))
    }

    // A cancelled request has no status to label it with, so it is neither counted nor timed;
    // dropping the state takes it off the gauge (the default `cancel`).
}

impl MetricsObservation {
    /// When the request ended: the response's given end, or now on the clock of its start
    /// (see [`Moment::end`]).
    #[inline]
    pub(crate) fn end(&self, response: &ResponseView<'_>) -> Moment {
        self.started.end(response.finished_at())
    }

    /// [`finish`](Observation::finish), the request ended at `finished`. In place, leaving
    /// nothing for the drop to do: the observation is not moved once more to be consumed (see
    /// [`OctopusObservation`](crate::OctopusObservation)'s `finish`).
    #[inline]
    pub(crate) fn finish_at(&mut self, response: &ResponseView<'_>, finished: Moment) {
        let elapsed = finished.saturating_since(self.started);
        let seconds = elapsed.as_secs_f64();
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let layout = &*self.cells.layout;
        self.cells.write(|cells| {
            let method = cells.method(self.series, self.method);
            if self.in_flight {
                method.end();
            }
            let series = method.status(response.status(), layout);
            let bucket = series.record(layout, seconds, nanos);
            if layout.request_size
                && let Some(bytes) = self.request_size
            {
                record_size(&series.request_size, layout, bytes);
            }
            if layout.response_size
                && let Some(bytes) = response.body_size()
            {
                record_size(&series.response_size, layout, bytes);
            }
            if let (Some(trace), Some(slots)) = (self.sampled, &series.exemplars) {
                // The end's instant, on the wall clock (no clock read: see `crate::clock`).
                let now = finished.wall_time();
                if layout.requests {
                    // An OpenMetrics counter exemplar's value is the increment it stands for.
                    slots[0].record(trace, 1.0, now);
                }
                if let Some(bucket) = bucket {
                    slots[1 + bucket].record(trace, seconds, now);
                }
            }
        });
        if layout.request_size
            && self.request_size.is_none()
            && let Some(pending) = &self.request_pending
        {
            pending.request_ended(self.size_target(response, false));
        }
        self.in_flight = false;
    }

    /// The series of this request's body size histogram (`response`: which one).
    fn size_target(&self, ended: &ResponseView<'_>, response: bool) -> SizeTarget {
        SizeTarget {
            cells: self.cells.clone(),
            series: self.series,
            method: self.method,
            status: ended.status(),
            response,
        }
    }
}

/// Counts one body of `bytes` bytes in `cells`, when its histogram is on.
#[inline]
fn record_size(cells: &Option<SizeCells>, layout: &Layout, bytes: u64) {
    if let (Some(cells), Some(bounds)) = (cells, layout.body_size_bounds.as_deref()) {
        cells.record(bounds, bytes);
    }
}

/// The body size series a streamed body is recorded in when it ends: written through the
/// request's block like the rest of its metrics ([`ThreadCells::write`]).
pub(crate) struct SizeTarget {
    cells: Arc<ThreadCells>,
    series: SeriesId,
    method: HttpMethod,
    status: u16,
    /// The response body's histogram; else the request body's.
    response: bool,
}

impl SizeTarget {
    /// Counts the body, `bytes` long.
    pub(crate) fn record(self, bytes: u64) {
        let layout = &*self.cells.layout;
        self.cells.write(|cells| {
            let series = cells
                .method(self.series, self.method)
                .status(self.status, layout);
            let cells = if self.response {
                &series.response_size
            } else {
                &series.request_size
            };
            record_size(cells, layout, bytes);
        });
    }
}

/// A streamed request body, between the adapter's counter and the request's observation: the
/// size needs the status, and the body may end before the request does (a handler reading its
/// body whole) or after (a handler answering early). Whichever comes second records. One per
/// request whose body is counted, touched twice: an uncontended lock.
#[derive(Default)]
pub(crate) struct PendingSize {
    state: Mutex<Pending>,
}

#[derive(Default)]
enum Pending {
    /// Neither the body nor the request ended.
    #[default]
    Waiting,
    /// The body ended, this long; the request has not.
    BodyEnded(u64),
    /// The request ended with this series; the body has not.
    RequestEnded(SizeTarget),
    /// Recorded.
    Done,
}

impl PendingSize {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The body ended after `bytes` bytes.
    pub(crate) fn body_ended(&self, bytes: u64) {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, Pending::Done) {
            Pending::Waiting => *state = Pending::BodyEnded(bytes),
            Pending::RequestEnded(target) => {
                drop(state);
                target.record(bytes);
            }
            other => *state = other,
        }
    }

    /// The request ended: its body's series is `target`.
    fn request_ended(&self, target: SizeTarget) {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, Pending::Done) {
            Pending::Waiting => *state = Pending::RequestEnded(target),
            Pending::BodyEnded(bytes) => {
                drop(state);
                target.record(bytes);
            }
            other => *state = other,
        }
    }
}

impl Drop for MetricsObservation {
    #[inline]
    fn drop(&mut self) {
        if self.in_flight {
            let (series, method) = (self.series, self.method);
            self.cells.write(|cells| cells.method(series, method).end());
        }
    }
}
