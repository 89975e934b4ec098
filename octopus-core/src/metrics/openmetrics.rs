//! Interim: the OpenMetrics encoder lands from its own branch (`openmetrics`); only the
//! exemplar lookup it defines is needed here until then.

use prometheus::proto::{Metric, MetricFamily};

use super::exemplar::Exemplar;

/// Where the encoder finds the exemplars of a gathered metric.
pub(crate) trait ExemplarSource {
    /// The exemplar of a counter's `_total` sample.
    fn counter(&self, family: &MetricFamily, metric: &Metric) -> Option<Exemplar>;
    /// The exemplar of a histogram bucket; `bucket == buckets.len()` is `+Inf`.
    fn bucket(&self, family: &MetricFamily, metric: &Metric, bucket: usize) -> Option<Exemplar>;
}
