//! Reads metric values back from the Prometheus text exposition, exactly as a scraper sees
//! them: every sample of one `/metrics` answer, looked up by metric name and labels.
//!
//! ```
//! use octopus_core::testing::exposition::{HttpMetrics, Samples};
//! use octopus_core::{NoHeaders, Octopus, OctopusConfig, RequestObserver, RequestView, ResponseView};
//!
//! let octopus = Octopus::new(OctopusConfig::prometheus("users", ["request_count"])?)?;
//! octopus
//!     .observe(&RequestView::new("GET", "/users/7", &NoHeaders).with_route(Some("/users/{id}")))
//!     .finish(&ResponseView::new(200));
//! let samples = Samples::of(&octopus);
//! assert_eq!(samples.series("http_server_requests_total"), 1);
//! let text = octopus.scrape(&NoHeaders).text().into_owned();
//! let metrics = HttpMetrics::parse(&text, "users");
//! assert_eq!(metrics.requests("GET", "200", "/users/{id}"), Some(1.0));
//! assert_eq!(metrics.requests("GET", "500", "/users/{id}"), None);
//! # Ok::<(), octopus_core::ConfigError>(())
//! ```

use std::collections::BTreeMap;

use crate::{NoHeaders, Octopus};

/// The labels of one series, by name.
pub type Labels = BTreeMap<String, String>;

/// Every sample of one rendering: (metric name, labels) → value.
#[derive(Clone, Debug, PartialEq)]
pub struct Samples(BTreeMap<(String, Labels), f64>);

impl Samples {
    /// The samples of what `octopus` serves on `/metrics` now.
    pub fn of(octopus: &Octopus) -> Self {
        let response = octopus.scrape(&NoHeaders);
        Samples::parse(&response.text())
    }

    /// Parses a text exposition (version 0.0.4). Panics on a line a scraper would reject, and
    /// on a series that appears twice: a test wants to hear of either.
    pub fn parse(text: &str) -> Self {
        let mut samples = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (series, value) = line.rsplit_once(' ').expect("sample line has a value");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("labels end with }");
                    (name.to_string(), parse_labels(body))
                }
            };
            assert!(
                samples.insert((name, labels), value).is_none(),
                "duplicate series in {line:?}"
            );
        }
        Samples(samples)
    }

    /// The value of the series with exactly these labels (besides `service_name`), if any.
    /// For a histogram bucket, name `..._bucket` and include `le`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted = labels_of(labels);
        self.0
            .iter()
            .find(|((n, l), _)| {
                let mut l = l.clone();
                l.remove("service_name");
                n == name && l == wanted
            })
            .map(|(_, v)| *v)
    }

    /// The value of the series with exactly these labels, `service_name` included, if any.
    pub fn get_exact(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0.get(&(name.to_string(), labels_of(labels))).copied()
    }

    /// The sum of the series of `name` that carry every one of `labels` (and any others): a
    /// histogram's `_count` over all status codes, say.
    pub fn sum_matching(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|((n, l), _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, v)| *v)
            .sum()
    }

    /// How many series of this metric exist.
    pub fn series(&self, name: &str) -> usize {
        self.0.keys().filter(|(n, _)| n == name).count()
    }

    /// The value of label `label` on every series of `name`.
    pub fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        self.0
            .keys()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, l)| l.get(label).cloned())
            .collect()
    }
}

/// The HTTP server series of one service in one `/metrics` answer: the request counter and the
/// in-flight gauge, looked up with every label exact (`service_name` included).
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    samples: Samples,
    service: String,
}

impl HttpMetrics {
    /// Parses `text` (a `/metrics` body) for the series of `service`.
    pub fn parse(text: &str, service: &str) -> Self {
        HttpMetrics {
            samples: Samples::parse(text),
            service: service.to_owned(),
        }
    }

    /// `http_server_requests_total` of this method, status code and route template (`""` for
    /// requests that matched no route).
    pub fn requests(&self, method: &str, status: &str, route: &str) -> Option<f64> {
        self.samples.get_exact(
            "http_server_requests_total",
            &[
                ("http_request_method", method),
                ("http_response_status_code", status),
                ("http_route", route),
                ("service_name", &self.service),
            ],
        )
    }

    /// `http_server_active_requests` of this method and route template.
    pub fn active(&self, method: &str, route: &str) -> Option<f64> {
        self.samples.get_exact(
            "http_server_active_requests",
            &[
                ("http_request_method", method),
                ("http_route", route),
                ("service_name", &self.service),
            ],
        )
    }

    /// Every sample, for lookups beyond the two series above.
    pub fn samples(&self) -> &Samples {
        &self.samples
    }
}

fn labels_of(labels: &[(&str, &str)]) -> Labels {
    labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The label pairs between `{` and `}`, unescaping `\n`, `\\` and `\"` in values.
fn parse_labels(body: &str) -> Labels {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label value is quoted");
        let mut value = String::new();
        loop {
            match chars.next().expect("label value ends") {
                '\\' => match chars.next().expect("escape") {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(name, value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    labels
}
