//! What a scrape reads: every thread's cells summed into a [`Snapshot`], served to the
//! registry as a `prometheus` [`Collector`] and to the OpenMetrics encoder as exemplars.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus::core::{Collector, Desc, Describer};
use prometheus::proto::{self, LabelPair, MetricFamily, MetricType};
use prometheus::{HistogramOpts, Opts};

use super::cells::{CellsRegistry, Layout};
use super::labels::{LabelIds, SeriesId};
use super::openmetrics::Exemplar;
use super::openmetrics::ExemplarSource;
use super::routes::RouteId;
use crate::{ConfigError, HttpMethod, MetricKind, OctopusConfig};

pub(crate) const METHOD_LABEL: &str = "http_request_method";
pub(crate) const ROUTE_LABEL: &str = "http_route";
pub(crate) const STATUS_LABEL: &str = "http_response_status_code";
pub(crate) const SERVICE_LABEL: &str = "service_name";

/// The counter of requests whose value of a label of the user's own was not admitted.
pub(crate) const LABEL_OVERFLOW: &str = "octopus_label_overflow_total";

/// The constant labels of Octopus's families: `service_name` and the configured ones.
fn const_labels(config: &OctopusConfig) -> std::collections::HashMap<String, String> {
    let mut labels: std::collections::HashMap<String, String> = config
        .const_labels
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    labels.insert(SERVICE_LABEL.into(), config.service_name.clone());
    labels
}

/// The families' descriptions: their full names, help and constant labels.
pub(crate) struct Families {
    requests: Option<Desc>,
    duration: Option<Desc>,
    active: Option<Desc>,
    request_size: Option<Desc>,
    response_size: Option<Desc>,
}

impl Families {
    /// The configured families, named and checked as the `prometheus` crate does;
    /// `user_labels`: the names of the labels of the user's own, in their order.
    pub(crate) fn new(config: &OctopusConfig, user_labels: &[&str]) -> Result<Self, ConfigError> {
        let prefix = config.metrics_prefix.as_deref().unwrap_or("");
        let opts = |kind: MetricKind, help: &str, labels: &[&str]| {
            Opts::new(kind.metric_name(), help)
                .namespace(prefix)
                .const_labels(const_labels(config))
                .variable_labels(
                    labels
                        .iter()
                        .chain(user_labels)
                        .map(|label| label.to_string())
                        .collect(),
                )
        };
        let describe = |kind: MetricKind, describer: &dyn Describer| {
            if !config.metrics.contains(&kind) {
                return Ok(None);
            }
            describer
                .describe()
                .map(Some)
                .map_err(|error| ConfigError::Registration {
                    metric: kind.metric_name().into(),
                    reason: error.to_string(),
                })
        };
        let series = [METHOD_LABEL, ROUTE_LABEL, STATUS_LABEL];
        Ok(Families {
            requests: describe(
                MetricKind::RequestCount,
                &opts(
                    MetricKind::RequestCount,
                    "Number of HTTP requests served.",
                    &series,
                ),
            )?,
            duration: describe(
                MetricKind::Latency,
                &HistogramOpts::from(opts(
                    MetricKind::Latency,
                    "Duration of HTTP server requests.",
                    &series,
                ))
                .buckets(config.latency_buckets.clone()),
            )?,
            active: describe(
                MetricKind::ProcessingRequests,
                &opts(
                    MetricKind::ProcessingRequests,
                    "Number of HTTP server requests in flight.",
                    &[METHOD_LABEL, ROUTE_LABEL],
                ),
            )?,
            request_size: describe(
                MetricKind::RequestSize,
                &HistogramOpts::from(opts(
                    MetricKind::RequestSize,
                    "Size of HTTP server request bodies.",
                    &series,
                ))
                .buckets(config.body_size_buckets.clone()),
            )?,
            response_size: describe(
                MetricKind::ResponseSize,
                &HistogramOpts::from(opts(
                    MetricKind::ResponseSize,
                    "Size of HTTP server response bodies.",
                    &series,
                ))
                .buckets(config.body_size_buckets.clone()),
            )?,
        })
    }
}

/// One route, method and status, summed over threads.
struct SeriesTotals {
    requests: u64,
    /// Non-cumulative, then `+Inf`.
    buckets: Vec<u64>,
    sum_nanos: u64,
    /// The counter's exemplar, then one per bucket: the newest over threads.
    exemplars: Vec<Option<Exemplar>>,
    /// The request body size histogram.
    request_size: SizeTotals,
    /// The response body size histogram.
    response_size: SizeTotals,
}

/// A body size histogram of one series, summed over threads.
#[derive(Default)]
struct SizeTotals {
    /// Non-cumulative, then `+Inf`; empty when the histogram is off.
    buckets: Vec<u64>,
    sum: u64,
}

impl SizeTotals {
    fn add(&mut self, cells: Option<&super::cells::SizeCells>) {
        let Some(cells) = cells else {
            return;
        };
        if self.buckets.is_empty() {
            self.buckets = vec![0; cells.buckets.len()];
        }
        for (total, bucket) in self.buckets.iter_mut().zip(&cells.buckets) {
            *total += bucket.load(Ordering::Acquire);
        }
        self.sum += cells.sum.load(Ordering::Acquire);
    }
}

/// What a [`Snapshot`] sums.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parts {
    /// The status series: counters and histograms.
    pub(crate) series: bool,
    /// The in-flight gauges.
    pub(crate) active: bool,
    /// The exemplar slots of the status series.
    pub(crate) exemplars: bool,
}

impl Parts {
    /// What the collector of `kind` renders.
    fn of(kind: MetricKind) -> Self {
        let active = kind == MetricKind::ProcessingRequests;
        Parts {
            series: !active,
            active,
            exemplars: false,
        }
    }

    /// The exemplars of the status series, for an OpenMetrics scrape.
    pub(crate) const EXEMPLARS: Parts = Parts {
        series: true,
        active: false,
        exemplars: true,
    };
}

/// (series: the route, or the route and label values; method; status: `None` for out of
/// range).
type SeriesKey = (SeriesId, HttpMethod, Option<u16>);

/// The labels of the user's own as a snapshot sees them.
struct UserLabelValues {
    names: Vec<Box<str>>,
    /// Per label, its values by number.
    values: Vec<Vec<Box<str>>>,
    /// Per series number, its route and label values.
    series: Vec<(RouteId, LabelIds)>,
}

/// Every thread's cells, summed at one moment.
pub(crate) struct Snapshot {
    series: BTreeMap<SeriesKey, SeriesTotals>,
    active: BTreeMap<(SeriesId, HttpMethod), i64>,
    labels: Vec<Box<str>>,
    user: Option<UserLabelValues>,
}

impl Snapshot {
    /// Sums the cells of every thread. Each request's writes are summed whole or not at all
    /// only in so far as each cell is read once: a request finishing during the scrape may be
    /// in the counter and not yet in the histogram. One that finished before is in both.
    /// `parts`: what to sum (a family's collector needs only its own cells; only OpenMetrics
    /// reads the exemplar slots).
    pub(crate) fn take(cells: &CellsRegistry, parts: Parts) -> Self {
        let layout = cells.layout();
        let exemplars = parts.exemplars;
        let mut series: BTreeMap<SeriesKey, SeriesTotals> = BTreeMap::new();
        let mut active = BTreeMap::new();
        for thread in cells.threads() {
            for (route, route_cells) in thread.series() {
                for (method, method_cells) in HttpMethod::ALL.iter().zip(&route_cells.methods) {
                    if parts.active && layout.active && method_cells.seen() {
                        *active.entry((route, *method)).or_default() +=
                            method_cells.active.load(Ordering::Acquire);
                    }
                    if !parts.series {
                        continue;
                    }
                    for (status, status_cells) in method_cells.statuses() {
                        let totals = series.entry((route, *method, status)).or_insert_with(|| {
                            SeriesTotals {
                                requests: 0,
                                buckets: vec![0; status_cells.buckets.len()],
                                sum_nanos: 0,
                                // Only OpenMetrics reads the slots: no room otherwise.
                                exemplars: match (&status_cells.exemplars, exemplars) {
                                    (Some(slots), true) => vec![None; slots.len()],
                                    _ => Vec::new(),
                                },
                                request_size: SizeTotals::default(),
                                response_size: SizeTotals::default(),
                            }
                        });
                        totals.request_size.add(status_cells.request_size.as_ref());
                        totals
                            .response_size
                            .add(status_cells.response_size.as_ref());
                        totals.requests += status_cells.requests.load(Ordering::Acquire);
                        for (total, bucket) in totals.buckets.iter_mut().zip(&status_cells.buckets)
                        {
                            *total += bucket.load(Ordering::Acquire);
                        }
                        totals.sum_nanos += status_cells.sum_nanos.load(Ordering::Acquire);
                        let slots = status_cells.exemplars.iter().flatten();
                        for (newest, slot) in totals.exemplars.iter_mut().zip(slots) {
                            if let Some(exemplar) = slot.read()
                                && newest.is_none_or(|n| n.timestamp < exemplar.timestamp)
                            {
                                *newest = Some(exemplar);
                            }
                        }
                    }
                }
            }
        }
        // The tables after the cells: every number a cell was found under is in them.
        let user = cells.labels().map(|labels| UserLabelValues {
            names: labels
                .tables
                .iter()
                .map(|table| table.name.clone())
                .collect(),
            values: labels.tables.iter().map(|table| table.values()).collect(),
            series: labels.series.keys(),
        });
        Snapshot {
            series,
            active,
            labels: cells.table().labels().clone(),
            user,
        }
    }

    /// The `http_route` value of a series.
    fn label(&self, series: SeriesId) -> &str {
        let route = match &self.user {
            None => series.as_route(),
            Some(user) => user.series[series.index()].0,
        };
        &self.labels[route.index()]
    }

    /// The labels of the user's own of a series: (name, value), in the labels' order.
    fn user_labels(&self, series: SeriesId) -> impl Iterator<Item = (&str, &str)> {
        self.user.iter().flat_map(move |user| {
            let values = &user.series[series.index()].1;
            user.names
                .iter()
                .zip(&user.values)
                .zip(values)
                .map(|((name, table), &id)| (&**name, &*table[usize::from(id)]))
        })
    }

    /// The family of `kind`, in the `prometheus` crate's model, if it is on.
    fn family_of(
        &self,
        kind: MetricKind,
        families: &Families,
        layout: &Layout,
    ) -> Vec<MetricFamily> {
        let mut out = Vec::with_capacity(1);
        if let (MetricKind::RequestCount, Some(desc)) = (kind, &families.requests) {
            let metrics = self.series.iter().map(|(key, totals)| {
                let mut counter = proto::Counter::default();
                counter.set_value(totals.requests as f64);
                let mut metric = proto::Metric::from_label(self.series_labels(desc, *key));
                metric.set_counter(counter);
                metric
            });
            out.push(family(desc, MetricType::COUNTER, metrics.collect()));
        }
        if let (MetricKind::Latency, Some(desc), Some(bounds)) =
            (kind, &families.duration, &layout.latency_bounds)
        {
            let metrics = self.series.iter().map(|(key, totals)| {
                let sum = totals.sum_nanos as f64 / 1e9;
                let mut metric = proto::Metric::from_label(self.series_labels(desc, *key));
                metric.set_histogram(histogram(bounds, &totals.buckets, sum));
                metric
            });
            out.push(family(desc, MetricType::HISTOGRAM, metrics.collect()));
        }
        let sizes = match kind {
            MetricKind::RequestSize => families.request_size.as_ref().map(|desc| (desc, false)),
            MetricKind::ResponseSize => families.response_size.as_ref().map(|desc| (desc, true)),
            _ => None,
        };
        if let (Some((desc, response)), Some(bounds)) = (sizes, &layout.body_size_bounds) {
            let metrics = self.series.iter().map(|(key, totals)| {
                let size = if response {
                    &totals.response_size
                } else {
                    &totals.request_size
                };
                let mut metric = proto::Metric::from_label(self.series_labels(desc, *key));
                metric.set_histogram(histogram(bounds, &size.buckets, size.sum as f64));
                metric
            });
            out.push(family(desc, MetricType::HISTOGRAM, metrics.collect()));
        }
        if let (MetricKind::ProcessingRequests, Some(desc)) = (kind, &families.active) {
            let metrics = self.active.iter().map(|(&(route, method), &value)| {
                let mut gauge = proto::Gauge::default();
                gauge.set_value(value as f64);
                let mut labels = vec![
                    pair(METHOD_LABEL, method.as_str()),
                    pair(ROUTE_LABEL, self.label(route)),
                ];
                labels.extend(
                    self.user_labels(route)
                        .map(|(name, value)| pair(name, value)),
                );
                labels.extend(desc.const_label_pairs.iter().cloned());
                labels.sort_by(|a, b| a.name().cmp(b.name()));
                let mut metric = proto::Metric::from_gauge(gauge);
                metric.set_label(labels);
                metric
            });
            out.push(family(desc, MetricType::GAUGE, metrics.collect()));
        }
        out
    }

    /// A series' label pairs, sorted by name as the `prometheus` crate sorts them.
    fn series_labels(&self, desc: &Desc, (route, method, status): SeriesKey) -> Vec<LabelPair> {
        let status = status.map_or_else(|| "_OTHER".to_owned(), |code| code.to_string());
        let mut labels = vec![
            pair(METHOD_LABEL, method.as_str()),
            pair(ROUTE_LABEL, self.label(route)),
            pair(STATUS_LABEL, &status),
        ];
        labels.extend(
            self.user_labels(route)
                .map(|(name, value)| pair(name, value)),
        );
        labels.extend(desc.const_label_pairs.iter().cloned());
        labels.sort_by(|a, b| a.name().cmp(b.name()));
        labels
    }

    /// The series' totals by their label values, for the exemplar lookups of one encoding.
    fn by_labels(&self) -> HashMap<ExemplarKey<'_>, &SeriesTotals> {
        self.series
            .iter()
            .map(|(&(route, method, status), totals)| {
                let status = status.map_or_else(|| "_OTHER".to_owned(), |code| code.to_string());
                let user = self.user_labels(route).map(|(_, value)| value).collect();
                ((method.as_str(), self.label(route), status, user), totals)
            })
            .collect()
    }

    /// The names of the labels of the user's own, in their order.
    fn user_label_names(&self) -> Vec<&str> {
        self.user
            .iter()
            .flat_map(|user| user.names.iter().map(|name| &**name))
            .collect()
    }
}

/// A histogram in the `prometheus` crate's model from per-bucket (not cumulative) counts, one
/// per bound (a missing count is 0) then `+Inf`: cumulative buckets, the count their sum.
fn histogram(bounds: &[f64], counts: &[u64], sum: f64) -> proto::Histogram {
    let mut cumulative = 0;
    let buckets = bounds
        .iter()
        .enumerate()
        .map(|(index, &bound)| {
            cumulative += counts.get(index).copied().unwrap_or(0);
            let mut bucket = proto::Bucket::default();
            bucket.set_upper_bound(bound);
            bucket.set_cumulative_count(cumulative);
            bucket
        })
        .collect();
    let mut histogram = proto::Histogram::default();
    histogram.set_bucket(buckets);
    histogram.set_sample_count(counts.iter().sum());
    histogram.set_sample_sum(sum);
    histogram
}

fn pair(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.to_owned());
    pair.set_value(value.to_owned());
    pair
}

fn family(desc: &Desc, kind: MetricType, metrics: Vec<proto::Metric>) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(desc.fq_name.clone());
    family.set_help(desc.help.clone());
    family.set_field_type(kind);
    family.set_metric(metrics);
    family
}

/// One of Octopus's families as a `prometheus` collector: registered in the observer's
/// registry, so `registry.gather()` — the text format, a user's own push or federation — sees
/// it like any other metric, and a user metric of the same name is refused at registration,
/// naming it. One collector per family, so each scrape sums only that family's cells.
pub(crate) struct HttpCollector {
    pub(crate) kind: MetricKind,
    pub(crate) cells: Arc<CellsRegistry>,
    pub(crate) families: Arc<Families>,
}

impl HttpCollector {
    fn desc_of(&self) -> Option<&Desc> {
        match self.kind {
            MetricKind::RequestCount => self.families.requests.as_ref(),
            MetricKind::Latency => self.families.duration.as_ref(),
            MetricKind::ProcessingRequests => self.families.active.as_ref(),
            MetricKind::RequestSize => self.families.request_size.as_ref(),
            MetricKind::ResponseSize => self.families.response_size.as_ref(),
        }
    }
}

impl Collector for HttpCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.desc_of().into_iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        Snapshot::take(&self.cells, Parts::of(self.kind)).family_of(
            self.kind,
            &self.families,
            self.cells.layout(),
        )
    }
}

/// A series by its label values: method, route, status, then the labels of the user's own in
/// their order.
type ExemplarKey<'s> = (&'s str, &'s str, String, Vec<&'s str>);

/// The exemplars of one snapshot, found by a gathered metric's labels.
pub(crate) struct SnapshotExemplars<'s> {
    requests_name: Option<&'s str>,
    duration_name: Option<&'s str>,
    series: HashMap<ExemplarKey<'s>, &'s SeriesTotals>,
    user_labels: Vec<&'s str>,
}

impl<'s> SnapshotExemplars<'s> {
    pub(crate) fn new(snapshot: &'s Snapshot, families: &'s Families) -> Self {
        SnapshotExemplars {
            requests_name: families.requests.as_ref().map(|d| d.fq_name.as_str()),
            duration_name: families.duration.as_ref().map(|d| d.fq_name.as_str()),
            series: snapshot.by_labels(),
            user_labels: snapshot.user_label_names(),
        }
    }

    fn totals(&self, metric: &proto::Metric) -> Option<&SeriesTotals> {
        let value = |name: &str| {
            metric
                .get_label()
                .iter()
                .find(|pair| pair.name() == name)
                .map(|pair| pair.value())
        };
        let key = (
            value(METHOD_LABEL)?,
            value(ROUTE_LABEL)?,
            value(STATUS_LABEL)?.to_owned(),
            self.user_labels
                .iter()
                .map(|name| value(name))
                .collect::<Option<Vec<_>>>()?,
        );
        self.series.get(&key).copied()
    }
}

impl ExemplarSource for SnapshotExemplars<'_> {
    fn counter(&self, family: &MetricFamily, metric: &proto::Metric) -> Option<Exemplar> {
        if Some(family.name()) != self.requests_name {
            return None;
        }
        *self.totals(metric)?.exemplars.first()?
    }

    fn bucket(
        &self,
        family: &MetricFamily,
        metric: &proto::Metric,
        bucket: usize,
    ) -> Option<Exemplar> {
        if Some(family.name()) != self.duration_name {
            return None;
        }
        *self.totals(metric)?.exemplars.get(bucket + 1)?
    }
}

/// `octopus_label_overflow_total{label="..."}`: per label of the user's own, the requests whose
/// value was not admitted (not among the declared values, past the cap, or too long), summed
/// over the threads' cells. Every label has its series, 0 until a value is refused.
pub(crate) struct LabelOverflowCollector {
    cells: Arc<CellsRegistry>,
    desc: Desc,
}

impl LabelOverflowCollector {
    pub(crate) fn new(
        config: &OctopusConfig,
        cells: Arc<CellsRegistry>,
    ) -> Result<Self, ConfigError> {
        let desc = Opts::new(
            LABEL_OVERFLOW,
            "Requests whose value of a label was not admitted and counted as _other.",
        )
        .const_labels(const_labels(config))
        .variable_labels(vec!["label".into()])
        .describe()
        .map_err(|error| ConfigError::Registration {
            metric: LABEL_OVERFLOW.into(),
            reason: error.to_string(),
        })?;
        Ok(LabelOverflowCollector { cells, desc })
    }
}

impl Collector for LabelOverflowCollector {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(labels) = self.cells.labels() else {
            return Vec::new();
        };
        let mut totals = vec![0u64; labels.tables.len()];
        for thread in self.cells.threads() {
            for (total, count) in totals.iter_mut().zip(thread.label_overflow.iter()) {
                *total += count.load(Ordering::Acquire);
            }
        }
        let metrics = labels
            .tables
            .iter()
            .zip(totals)
            .map(|(table, total)| {
                let mut counter = proto::Counter::default();
                counter.set_value(total as f64);
                let mut label_pairs = vec![pair("label", &table.name)];
                label_pairs.extend(self.desc.const_label_pairs.iter().cloned());
                label_pairs.sort_by(|a, b| a.name().cmp(b.name()));
                let mut metric = proto::Metric::from_label(label_pairs);
                metric.set_counter(counter);
                metric
            })
            .collect();
        vec![family(&self.desc, MetricType::COUNTER, metrics)]
    }
}
