//! The OpenMetrics 1.0 text exposition of gathered metric families, with exemplars.
//!
//! Served instead of the Prometheus text format 0.0.4 when the scraper asks for it in `Accept`
//! (see `metrics_endpoint`). The two formats differ where it matters to a scraper:
//!
//! - a counter family is named without `_total`, and its sample carries it: `# TYPE foo counter`
//!   over `foo_total 1.0` (the 0.0.4 format names both `foo_total`);
//! - `# UNIT` declares the unit of families named `..._seconds` or `..._bytes`;
//! - `"` is escaped in `# HELP` too, `le` and `quantile` are canonical floats (`1.0`, not `1`);
//! - a counter sample and a histogram bucket may carry an exemplar: the trace and span of one
//!   observation it counted, which is why Octopus speaks this format at all;
//! - the exposition ends with `# EOF`, so a truncated scrape is detected.
//!
//! The `prometheus` crate has no encoder for it; this one is written over the same gathered
//! `MetricFamily`s its `TextEncoder` reads, so both renderings show the same registry.
//!
//! Every line is written straight into one `Vec<u8>`: labels are rendered once per series and
//! reused for each of its bucket lines, numbers go through `write!` (no allocation), and text is
//! copied unchanged unless it holds a character that needs escaping.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, TraceId};
use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType};

/// One observation singled out for a series: the trace and span it was made in, its value and
/// when. Rendered after the sample as `# {trace_id="…",span_id="…"} value timestamp`, so a
/// dashboard can jump from a latency bucket or a request count to a trace that fell in it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Exemplar {
    /// The trace of the observation.
    pub(crate) trace_id: TraceId,
    /// The span that made the observation.
    pub(crate) span_id: SpanId,
    /// The observed value: the request's duration for a bucket, the increment for a counter.
    pub(crate) value: f64,
    /// When it was observed.
    pub(crate) timestamp: SystemTime,
}

/// Where the encoder finds exemplars: asked once per counter sample and once per histogram
/// bucket, with the gathered family and series, so a source can match series by their labels
/// without the encoder knowing how exemplars are recorded.
pub(crate) trait ExemplarSource {
    /// The exemplar of a counter series, shown on its `_total` sample.
    fn counter(&self, family: &MetricFamily, metric: &Metric) -> Option<Exemplar>;

    /// The exemplar of one bucket of a histogram series. `bucket` indexes
    /// `metric.get_histogram().get_bucket()`; `bucket == buckets.len()` is the `+Inf` bucket,
    /// which the gathered histogram does not hold (encoders synthesise it from the count).
    fn bucket(&self, family: &MetricFamily, metric: &Metric, bucket: usize) -> Option<Exemplar>;
}

/// No exemplars: the exposition without them.
impl ExemplarSource for () {
    fn counter(&self, _family: &MetricFamily, _metric: &Metric) -> Option<Exemplar> {
        None
    }

    fn bucket(&self, _family: &MetricFamily, _metric: &Metric, _bucket: usize) -> Option<Exemplar> {
        None
    }
}

/// `families` in the OpenMetrics 1.0 text format, in the order given, with the exemplars
/// `exemplars` has for them; ends with `# EOF`.
///
/// Counter values, gauge values, sums and quantiles are written as canonical floats (`5.0`),
/// bucket counts and sample counts as integers (`5`), as the Go client's OpenMetrics encoder
/// writes them, which Prometheus itself scrapes every day.
pub(crate) fn encode(families: &[MetricFamily], exemplars: &dyn ExemplarSource) -> Vec<u8> {
    // A histogram series renders about a hundred bytes per bucket: start big enough for a
    // typical registry so the buffer is not regrown a dozen times.
    let mut out = Vec::with_capacity(16 * 1024);
    let mut labels = Vec::with_capacity(256);
    for family in families {
        encode_family(&mut out, &mut labels, family, exemplars);
    }
    out.extend_from_slice(b"# EOF\n");
    out
}

/// One family: its descriptors, then each series' samples.
fn encode_family(
    out: &mut Vec<u8>,
    labels: &mut Vec<u8>,
    family: &MetricFamily,
    exemplars: &dyn ExemplarSource,
) {
    let kind = family.get_field_type();
    let registered = family.name();
    // OpenMetrics names the counter family without `_total` and puts it on the sample; the
    // registry may hold the name either way.
    let name = match kind {
        MetricType::COUNTER => registered.strip_suffix("_total").unwrap_or(registered),
        _ => registered,
    };

    let help = family.help();
    if !help.is_empty() {
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        push_escaped(out, help);
        out.push(b'\n');
    }
    out.extend_from_slice(b"# TYPE ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(match kind {
        MetricType::COUNTER => b" counter\n".as_slice(),
        MetricType::GAUGE => b" gauge\n",
        MetricType::HISTOGRAM => b" histogram\n",
        MetricType::SUMMARY => b" summary\n",
        MetricType::UNTYPED => b" unknown\n",
    });
    // OpenMetrics requires a family with a unit to be named `..._<unit>`; the converse is only
    // a convention, but the one Octopus's own duration and body sizes follow.
    for unit in ["seconds", "bytes"] {
        if let Some(stem) = name.strip_suffix(unit)
            && stem.ends_with('_')
        {
            out.extend_from_slice(b"# UNIT ");
            out.extend_from_slice(name.as_bytes());
            out.push(b' ');
            out.extend_from_slice(unit.as_bytes());
            out.push(b'\n');
        }
    }

    for metric in family.get_metric() {
        labels.clear();
        push_label_pairs(labels, metric.get_label());
        let series = Series {
            name,
            labels,
            timestamp_ms: metric.timestamp_ms(),
        };
        match kind {
            MetricType::COUNTER => {
                series.start(out, "_total", None);
                push_float(out, metric.get_counter().get_value());
                series.end(out, exemplars.counter(family, metric));
            }
            MetricType::GAUGE => {
                series.start(out, "", None);
                push_float(out, metric.get_gauge().get_value());
                series.end(out, None);
            }
            MetricType::UNTYPED => {
                series.start(out, "", None);
                push_float(out, untyped_value(metric));
                series.end(out, None);
            }
            MetricType::HISTOGRAM => {
                let histogram = metric.get_histogram();
                let buckets = histogram.get_bucket();
                let mut infinity_seen = false;
                for (index, bucket) in buckets.iter().enumerate() {
                    let bound = bucket.upper_bound();
                    infinity_seen |= bound == f64::INFINITY;
                    series.start(out, "_bucket", Some(("le", bound)));
                    push_uint(out, bucket.cumulative_count());
                    series.end(out, exemplars.bucket(family, metric, index));
                }
                // OpenMetrics requires the `+Inf` bucket; the gathered histogram leaves it out.
                if !infinity_seen {
                    series.start(out, "_bucket", Some(("le", f64::INFINITY)));
                    push_uint(out, histogram.get_sample_count());
                    series.end(out, exemplars.bucket(family, metric, buckets.len()));
                }
                series.start(out, "_count", None);
                push_uint(out, histogram.get_sample_count());
                series.end(out, None);
                series.start(out, "_sum", None);
                push_float(out, histogram.get_sample_sum());
                series.end(out, None);
            }
            MetricType::SUMMARY => {
                let summary = metric.get_summary();
                for quantile in summary.get_quantile() {
                    series.start(out, "", Some(("quantile", quantile.quantile())));
                    push_float(out, quantile.value());
                    series.end(out, None);
                }
                series.start(out, "_count", None);
                push_uint(out, summary.sample_count());
                series.end(out, None);
                series.start(out, "_sum", None);
                push_float(out, summary.sample_sum());
                series.end(out, None);
            }
        }
    }
}

/// The value of an untyped series. The accessor is deprecated because untyped metrics only
/// come from collectors built by hand, but those may still be registered and must render.
#[allow(deprecated)]
fn untyped_value(metric: &Metric) -> f64 {
    metric.get_untyped().get_value()
}

/// What every sample line of one series shares.
struct Series<'a> {
    /// The family name as OpenMetrics spells it (counters without `_total`).
    name: &'a str,
    /// The series' labels, rendered once: `a="x",b="y"`, no braces.
    labels: &'a [u8],
    /// The gathered timestamp in milliseconds; 0 (the usual) for none.
    timestamp_ms: i64,
}

impl Series<'_> {
    /// Writes a sample's name, labels and the separating space, leaving the value to write.
    /// `extra` is the `le` or `quantile` label, whose value is a float.
    fn start(&self, out: &mut Vec<u8>, suffix: &str, extra: Option<(&str, f64)>) {
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(suffix.as_bytes());
        if !self.labels.is_empty() || extra.is_some() {
            out.push(b'{');
            out.extend_from_slice(self.labels);
            if let Some((label, value)) = extra {
                if !self.labels.is_empty() {
                    out.push(b',');
                }
                out.extend_from_slice(label.as_bytes());
                out.extend_from_slice(b"=\"");
                push_float(out, value);
                out.push(b'"');
            }
            out.push(b'}');
        }
        out.push(b' ');
    }

    /// Ends a sample line after its value: the timestamp if the series has one, the exemplar
    /// if there is one.
    fn end(&self, out: &mut Vec<u8>, exemplar: Option<Exemplar>) {
        if self.timestamp_ms != 0 {
            out.push(b' ');
            push_millis_as_seconds(out, i128::from(self.timestamp_ms));
        }
        if let Some(exemplar) = exemplar {
            push_exemplar(out, &exemplar);
        }
        out.push(b'\n');
    }
}

/// ` # {trace_id="…",span_id="…"} value timestamp`: the ids in lowercase hex, the label names
/// the ones Grafana and Prometheus look for.
fn push_exemplar(out: &mut Vec<u8>, exemplar: &Exemplar) {
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        " # {{trace_id=\"{}\",span_id=\"{}\"}} ",
        exemplar.trace_id, exemplar.span_id
    );
    push_float(out, exemplar.value);
    // The timestamp is optional in OpenMetrics but tells Prometheus when the exemplar was seen;
    // milliseconds are all its storage keeps.
    let millis = match exemplar.timestamp.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_millis()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_millis()).unwrap_or(i128::MAX),
    };
    out.push(b' ');
    push_millis_as_seconds(out, millis);
}

/// A timestamp in seconds with three decimals (`1700000000.123`), written from integer
/// milliseconds so no float rounding shows up in it.
fn push_millis_as_seconds(out: &mut Vec<u8>, millis: i128) {
    if millis < 0 {
        out.push(b'-');
    }
    let millis = millis.unsigned_abs();
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{}.{:03}", millis / 1000, millis % 1000);
}

/// `a="x",b="y"`: the label pairs with their values escaped.
fn push_label_pairs(out: &mut Vec<u8>, pairs: &[LabelPair]) {
    for (index, pair) in pairs.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(pair.name().as_bytes());
        out.extend_from_slice(b"=\"");
        push_escaped(out, pair.value());
        out.push(b'"');
    }
}

/// `text` with `\`, `"` and line feeds escaped, as OpenMetrics wants both label values and
/// `# HELP` text; copied whole when there is nothing to escape, the usual case.
fn push_escaped(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    if !bytes.iter().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.extend_from_slice(bytes);
        return;
    }
    for &byte in bytes {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            other => out.push(other),
        }
    }
}

/// A float as OpenMetrics spells it: `+Inf`, `-Inf`, `NaN`, and otherwise the shortest
/// decimal that reads back as the same float, with `.0` on integers (`1.0`, `0.005`, `1e21`):
/// the canonical form `le` values must have, so the same bucket bound is the same label value
/// whichever client rendered it.
fn push_float(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value == f64::INFINITY {
        out.extend_from_slice(b"+Inf");
    } else if value == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Inf");
    } else {
        // Rust's `Debug` for floats is the shortest round-trip form and keeps `.0` on integers
        // (switching to `1e16` style outside 1e-5..1e16, which OpenMetrics also accepts).
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{value:?}");
    }
}

/// An integer count.
fn push_uint(out: &mut Vec<u8>, value: u64) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{value}");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use prometheus::proto::{Quantile, Summary, Untyped};
    use prometheus::{
        Counter, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
    };

    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn exemplar(value: f64) -> Exemplar {
        Exemplar {
            trace_id: TraceId::from_hex(TRACE).unwrap(),
            span_id: SpanId::from_hex(SPAN).unwrap(),
            value,
            timestamp: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        }
    }

    fn label<'a>(metric: &'a Metric, name: &str) -> Option<&'a str> {
        metric
            .get_label()
            .iter()
            .find(|pair| pair.name() == name)
            .map(LabelPair::value)
    }

    /// Exemplars for the GET counter, the second bucket and the `+Inf` bucket of the histogram.
    struct Fixed;

    impl ExemplarSource for Fixed {
        fn counter(&self, family: &MetricFamily, metric: &Metric) -> Option<Exemplar> {
            (family.name() == "http_requests_total" && label(metric, "method") == Some("GET"))
                .then(|| exemplar(1.0))
        }

        fn bucket(
            &self,
            family: &MetricFamily,
            metric: &Metric,
            bucket: usize,
        ) -> Option<Exemplar> {
            let buckets = metric.get_histogram().get_bucket().len();
            match bucket {
                _ if family.name() != "request_duration_seconds" => None,
                1 => Some(exemplar(0.25)),
                _ if bucket == buckets => Some(exemplar(2.0)),
                _ => None,
            }
        }
    }

    /// A counter vec (named with `_total`), a counter named without it, a gauge, a histogram
    /// vec with its own buckets; all values exact in binary so the sums print exactly.
    fn registry() -> Registry {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "Requests served."),
            &["method"],
        )
        .unwrap();
        registry.register(Box::new(requests.clone())).unwrap();
        requests.with_label_values(&["GET"]).inc_by(5);
        requests.with_label_values(&["POST"]).inc();

        let jobs = IntCounter::new("jobs", "Jobs run.").unwrap();
        registry.register(Box::new(jobs.clone())).unwrap();
        jobs.inc_by(2);

        let temperature = Gauge::new("temperature_celsius", "Room temperature.").unwrap();
        registry.register(Box::new(temperature.clone())).unwrap();
        temperature.set(21.5);

        let duration = HistogramVec::new(
            HistogramOpts::new("request_duration_seconds", "Request duration.")
                .buckets(vec![0.005, 0.5, 1.0]),
            &["route"],
        )
        .unwrap();
        registry.register(Box::new(duration.clone())).unwrap();
        let users = duration.with_label_values(&["/users/{id}"]);
        for seconds in [0.00390625, 0.25, 0.25, 2.0] {
            users.observe(seconds);
        }
        registry
    }

    fn text(families: &[MetricFamily], exemplars: &dyn ExemplarSource) -> String {
        String::from_utf8(encode(families, exemplars)).unwrap()
    }

    #[test]
    fn a_registry_renders_with_its_exemplars() {
        let mut families = registry().gather();
        // The crate has no untyped collector; a hand-made family stands for one.
        let mut metric = Metric::default();
        // Deprecated as protobuf-specific, but the only way to make an untyped sample.
        #[allow(deprecated)]
        {
            let mut untyped = Untyped::default();
            untyped.set_value(3.0);
            metric.set_untyped(untyped);
        }
        let mut family = MetricFamily::default();
        family.set_name("legacy_widgets".into());
        family.set_help("Widgets of an old collector.".into());
        family.set_field_type(MetricType::UNTYPED);
        family.set_metric(vec![metric]);
        families.push(family);

        assert_eq!(
            text(&families, &Fixed),
            r#"# HELP http_requests Requests served.
# TYPE http_requests counter
http_requests_total{method="GET"} 5.0 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} 1.0 1700000000.123
http_requests_total{method="POST"} 1.0
# HELP jobs Jobs run.
# TYPE jobs counter
jobs_total 2.0
# HELP request_duration_seconds Request duration.
# TYPE request_duration_seconds histogram
# UNIT request_duration_seconds seconds
request_duration_seconds_bucket{route="/users/{id}",le="0.005"} 1
request_duration_seconds_bucket{route="/users/{id}",le="0.5"} 3 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} 0.25 1700000000.123
request_duration_seconds_bucket{route="/users/{id}",le="1.0"} 3
request_duration_seconds_bucket{route="/users/{id}",le="+Inf"} 4 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} 2.0 1700000000.123
request_duration_seconds_count{route="/users/{id}"} 4
request_duration_seconds_sum{route="/users/{id}"} 2.50390625
# HELP temperature_celsius Room temperature.
# TYPE temperature_celsius gauge
temperature_celsius 21.5
# HELP legacy_widgets Widgets of an old collector.
# TYPE legacy_widgets unknown
legacy_widgets 3.0
# EOF
"#
        );
    }

    /// The exemplars are checked by Prometheus's own OpenMetrics parser (promtool's backfill
    /// command; see `tests/promtool.rs`, which checks an Octopus scrape the same way). It wants
    /// a timestamp on every sample, so each sample line gets one first.
    #[test]
    fn exemplars_pass_prometheus_openmetrics_parser() {
        let promtool =
            |args: &[&std::ffi::OsStr]| std::process::Command::new("promtool").args(args).output();
        if promtool(&["--version".as_ref()]).is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "promtool is missing in CI"
            );
            eprintln!("SKIPPED: promtool not installed; nothing was checked");
            return;
        }
        let body = text(&registry().gather(), &Fixed);
        let stamped: String = body
            .lines()
            .map(|line| match line.split_once(" # {") {
                _ if line.starts_with('#') => format!("{line}\n"),
                Some((sample, exemplar)) => format!("{sample} 1700000000 # {{{exemplar}\n"),
                None => format!("{line} 1700000000\n"),
            })
            .collect();
        let dir = std::env::temp_dir().join(format!("octopus-om-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("exposition.om");
        std::fs::write(&input, stamped).unwrap();
        let blocks = dir.join("blocks");
        let args = ["tsdb", "create-blocks-from", "openmetrics"].map(std::ffi::OsStr::new);
        let output =
            promtool(&[&args[..], &[input.as_os_str(), blocks.as_os_str()]].concat()).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            output.status.success(),
            "{}{}\n---\n{body}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    #[test]
    fn without_exemplars_no_sample_carries_one() {
        let rendered = text(&registry().gather(), &());
        assert!(!rendered.contains(" # {"), "{rendered}");
        assert!(rendered.contains("http_requests_total{method=\"GET\"} 5.0\n"));
        assert!(rendered.ends_with("request_duration_seconds_bucket{route=\"/users/{id}\",le=\"+Inf\"} 4\nrequest_duration_seconds_count{route=\"/users/{id}\"} 4\nrequest_duration_seconds_sum{route=\"/users/{id}\"} 2.50390625\n# HELP temperature_celsius Room temperature.\n# TYPE temperature_celsius gauge\ntemperature_celsius 21.5\n# EOF\n"));
    }

    #[test]
    fn counters_are_named_without_total_and_sampled_with_it() {
        let registry = Registry::new();
        for name in ["with_total", "without"] {
            let counter = Counter::new(name, "A counter.").unwrap();
            registry.register(Box::new(counter.clone())).unwrap();
            counter.inc_by(1.5);
        }
        // A gauge keeps its name whole, `_total` or not.
        let gauge = Gauge::new("odd_total", "A gauge.").unwrap();
        registry.register(Box::new(gauge)).unwrap();
        assert_eq!(
            text(&registry.gather(), &()),
            "# HELP odd_total A gauge.\n# TYPE odd_total gauge\nodd_total 0.0\n\
             # HELP with A counter.\n# TYPE with counter\nwith_total 1.5\n\
             # HELP without A counter.\n# TYPE without counter\nwithout_total 1.5\n\
             # EOF\n"
        );
    }

    #[test]
    fn the_unit_is_declared_for_seconds_and_bytes_families_only() {
        let registry = Registry::new();
        let body = Gauge::new("body_bytes", "Body size.").unwrap();
        registry.register(Box::new(body)).unwrap();
        let kilo = Gauge::new("kilobytes", "Not in bytes.").unwrap();
        registry.register(Box::new(kilo)).unwrap();
        let busy = Counter::new("busy_seconds_total", "Time spent busy.").unwrap();
        registry.register(Box::new(busy)).unwrap();
        let age = Gauge::new("age_seconds", "Age.").unwrap();
        registry.register(Box::new(age)).unwrap();
        // Not a unit suffix: no underscore before it.
        let odd = Gauge::new("milliseconds", "Not in seconds.").unwrap();
        registry.register(Box::new(odd)).unwrap();
        assert_eq!(
            text(&registry.gather(), &()),
            "# HELP age_seconds Age.\n# TYPE age_seconds gauge\n# UNIT age_seconds seconds\nage_seconds 0.0\n\
             # HELP body_bytes Body size.\n# TYPE body_bytes gauge\n# UNIT body_bytes bytes\nbody_bytes 0.0\n\
             # HELP busy_seconds Time spent busy.\n# TYPE busy_seconds counter\n# UNIT busy_seconds seconds\nbusy_seconds_total 0.0\n\
             # HELP kilobytes Not in bytes.\n# TYPE kilobytes gauge\nkilobytes 0.0\n\
             # HELP milliseconds Not in seconds.\n# TYPE milliseconds gauge\nmilliseconds 0.0\n\
             # EOF\n"
        );
    }

    #[test]
    fn help_and_label_values_are_escaped() {
        let registry = Registry::new();
        let odd = IntCounterVec::new(
            Opts::new("odd_total", "Says \"hi\" with a \\ and\na second line."),
            &["value"],
        )
        .unwrap();
        registry.register(Box::new(odd.clone())).unwrap();
        odd.with_label_values(&["a\"b\\c\nd"]).inc();
        assert_eq!(
            text(&registry.gather(), &()),
            "# HELP odd Says \\\"hi\\\" with a \\\\ and\\na second line.\n\
             # TYPE odd counter\n\
             odd_total{value=\"a\\\"b\\\\c\\nd\"} 1.0\n\
             # EOF\n"
        );
    }

    #[test]
    fn floats_are_canonical() {
        let cases = [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-1.0, "-1.0"),
            (0.005, "0.005"),
            (2.5, "2.5"),
            (10.0, "10.0"),
            (1e21, "1e21"),
            (1e-7, "1e-7"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (value, expected) in cases {
            let mut out = Vec::new();
            push_float(&mut out, value);
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{value}");
        }
    }

    #[test]
    fn timestamps_are_seconds_with_milliseconds() {
        let at = |millis| {
            let mut out = Vec::new();
            push_millis_as_seconds(&mut out, millis);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(at(1_700_000_000_123), "1700000000.123");
        assert_eq!(at(1_700_000_000_005), "1700000000.005");
        assert_eq!(at(0), "0.000");
        assert_eq!(at(-1_500), "-1.500");
    }

    #[test]
    fn summaries_render_quantiles_count_and_sum() {
        let quantile = |q, value| {
            let mut quantile = Quantile::default();
            quantile.set_quantile(q);
            quantile.set_value(value);
            quantile
        };
        let mut summary = Summary::default();
        summary.set_quantile(vec![quantile(0.5, 0.25), quantile(0.99, 1.0)]);
        summary.set_sample_count(7);
        summary.set_sample_sum(3.5);
        let mut metric = Metric::default();
        metric.set_summary(summary);
        metric.set_timestamp_ms(1_700_000_000_500);
        let mut family = MetricFamily::default();
        family.set_name("rpc_duration_seconds".into());
        family.set_field_type(MetricType::SUMMARY);
        family.set_metric(vec![metric]);
        assert_eq!(
            text(&[family], &()),
            "# TYPE rpc_duration_seconds summary\n\
             # UNIT rpc_duration_seconds seconds\n\
             rpc_duration_seconds{quantile=\"0.5\"} 0.25 1700000000.500\n\
             rpc_duration_seconds{quantile=\"0.99\"} 1.0 1700000000.500\n\
             rpc_duration_seconds_count 7 1700000000.500\n\
             rpc_duration_seconds_sum 3.5 1700000000.500\n\
             # EOF\n"
        );
    }

    #[test]
    fn an_empty_registry_is_just_the_end_marker() {
        assert_eq!(text(&[], &()), "# EOF\n");
    }

    /// A thousand histogram series (twelve buckets each, exemplars on every bucket) encode
    /// whole. Their speed is measured by the `core/render_1000_series_openmetrics` benchmark,
    /// not asserted here.
    #[test]
    fn a_thousand_histogram_series_encode_whole() {
        struct Everywhere;
        impl ExemplarSource for Everywhere {
            fn counter(&self, _: &MetricFamily, _: &Metric) -> Option<Exemplar> {
                Some(exemplar(1.0))
            }
            fn bucket(&self, _: &MetricFamily, _: &Metric, _: usize) -> Option<Exemplar> {
                Some(exemplar(0.1))
            }
        }

        let registry = Registry::new();
        let duration = HistogramVec::new(
            HistogramOpts::new("load_duration_seconds", "Load."),
            &["route", "status"],
        )
        .unwrap();
        registry.register(Box::new(duration.clone())).unwrap();
        for series in 0..1_000 {
            let route = format!("/route/{}", series / 10);
            let status = format!("{}", 200 + series % 10);
            duration
                .with_label_values(&[route.as_str(), status.as_str()])
                .observe(0.1);
        }
        let families = registry.gather();

        let body = encode(&families, &Everywhere);
        // 1 000 series × (11 buckets + `+Inf` + count + sum) sample lines, plus 3 + EOF.
        assert_eq!(body.iter().filter(|&&b| b == b'\n').count(), 14_000 + 4);
        // Every bucket line (12 000) and no other carries an exemplar.
        assert_eq!(
            String::from_utf8(body)
                .unwrap()
                .matches(" # {trace_id=")
                .count(),
            12_000
        );
    }
}
