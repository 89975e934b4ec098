//! Configuration: a serde-loadable struct, the standard environment variables, and the
//! constructors shaped like the original plugin configs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The histogram buckets OpenTelemetry recommends for `http.server.request.duration`, seconds.
pub const DEFAULT_LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The service name used when none is configured (the OpenTelemetry default).
pub const DEFAULT_SERVICE_NAME: &str = "unknown_service";

/// A metric collector, selected by the name the original library used.
///
/// | name | metric | type |
/// |---|---|---|
/// | `latency` | `http_server_request_duration_seconds` | histogram |
/// | `request_count` | `http_server_requests_total` | counter |
/// | `processing_requests` | `http_server_active_requests` | gauge |
///
/// ```
/// use octopus_core::MetricKind;
///
/// assert_eq!("latency".parse::<MetricKind>(), Ok(MetricKind::Latency));
/// assert_eq!(
///     "latncy".parse::<MetricKind>().unwrap_err().to_string(),
///     r#"metrics: unknown metric "latncy"; expected one of latency, request_count, processing_requests"#,
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum MetricKind {
    /// `latency`: the request duration histogram.
    Latency,
    /// `request_count`: the request counter.
    RequestCount,
    /// `processing_requests`: the in-flight gauge.
    ProcessingRequests,
}

impl MetricKind {
    /// Every collector, in the order the original library listed them.
    pub const ALL: [MetricKind; 3] = [
        MetricKind::Latency,
        MetricKind::RequestCount,
        MetricKind::ProcessingRequests,
    ];

    /// The configuration name (`latency`, `request_count`, `processing_requests`).
    pub const fn name(self) -> &'static str {
        match self {
            MetricKind::Latency => "latency",
            MetricKind::RequestCount => "request_count",
            MetricKind::ProcessingRequests => "processing_requests",
        }
    }

    /// The Prometheus metric name, before any prefix.
    pub const fn metric_name(self) -> &'static str {
        match self {
            MetricKind::Latency => "http_server_request_duration_seconds",
            MetricKind::RequestCount => "http_server_requests_total",
            MetricKind::ProcessingRequests => "http_server_active_requests",
        }
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const METRIC_CHOICES: &str = "latency, request_count, processing_requests";

impl FromStr for MetricKind {
    type Err = ConfigError;

    fn from_str(name: &str) -> Result<Self, ConfigError> {
        MetricKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| ConfigError::UnknownMetric {
                field: "metrics".into(),
                value: name.into(),
            })
    }
}

impl TryFrom<String> for MetricKind {
    type Error = ConfigError;

    fn try_from(name: String) -> Result<Self, ConfigError> {
        name.parse()
    }
}

impl From<MetricKind> for &'static str {
    fn from(kind: MetricKind) -> &'static str {
        kind.name()
    }
}

/// A configuration value that cannot be used. The message names the field (or environment
/// variable), the value and what is accepted.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A metric name that is not one of the collectors.
    #[error("{field}: unknown metric \"{value}\"; expected one of {METRIC_CHOICES}")]
    UnknownMetric {
        /// The field or environment variable.
        field: String,
        /// The name given.
        value: String,
    },
    /// Any other invalid value.
    #[error("{field}: invalid value \"{value}\"; expected {expected}")]
    InvalidValue {
        /// The field or environment variable.
        field: String,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// The metrics could not be registered (a name already taken in a registry passed in).
    #[error("metrics registry: cannot register {metric}: {reason}")]
    Registration {
        /// The metric name.
        metric: String,
        /// What the registry said.
        reason: String,
    },
}

impl ConfigError {
    fn invalid(field: &str, value: impl fmt::Display, expected: &str) -> Self {
        ConfigError::InvalidValue {
            field: field.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// The same error, attributed to another field name (an environment variable, say).
    fn in_field(self, name: &str) -> Self {
        match self {
            ConfigError::UnknownMetric { value, .. } => ConfigError::UnknownMetric {
                field: name.into(),
                value,
            },
            ConfigError::InvalidValue {
                value, expected, ..
            } => ConfigError::InvalidValue {
                field: name.into(),
                value,
                expected,
            },
            other => other,
        }
    }
}

/// Everything that configures an Octopus instance.
///
/// Deserialisable with serde, so it loads from TOML, YAML or JSON; every field has a default,
/// unknown fields are an error. [`validate`](OctopusConfig::validate) (called by
/// [`Octopus::new`](crate::Octopus::new)) checks every value.
///
/// ```
/// use octopus_core::{MetricKind, OctopusConfig};
///
/// let config: OctopusConfig = toml::from_str(r#"
///     service_name = "users"
///     metrics = ["latency", "request_count"]
/// "#).unwrap();
/// assert_eq!(config.metrics, [MetricKind::Latency, MetricKind::RequestCount]);
/// assert_eq!(config.excluded_paths, ["/metrics", "/health"]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OctopusConfig {
    /// The service name: the `service_name` label on every metric and the traces' service.
    /// Environment: `OTEL_SERVICE_NAME`.
    pub service_name: String,
    /// The collectors to run, by name. Empty turns metrics off.
    /// Environment: `OCTOPUS_METRICS` (comma-separated; empty or `none` for no metrics).
    pub metrics: Vec<MetricKind>,
    /// A prefix for every metric name (`myapp` gives `myapp_http_server_requests_total`).
    pub metrics_prefix: Option<String>,
    /// Upper bounds of the latency histogram buckets, seconds, strictly increasing.
    pub latency_buckets: Vec<f64>,
    /// Where adapters serve the Prometheus text exposition.
    pub metrics_path: String,
    /// The `http_route` label value shared by requests that matched no route. Empty by default:
    /// Prometheus then stores the series without the label, as OpenTelemetry's exporters do.
    pub unmatched_route_label: String,
    /// Request paths that are neither counted nor traced (exact match). The metrics path is
    /// always excluded.
    pub excluded_paths: Vec<String>,
}

impl Default for OctopusConfig {
    fn default() -> Self {
        OctopusConfig {
            service_name: DEFAULT_SERVICE_NAME.into(),
            metrics: MetricKind::ALL.to_vec(),
            metrics_prefix: None,
            latency_buckets: DEFAULT_LATENCY_BUCKETS.to_vec(),
            metrics_path: "/metrics".into(),
            unmatched_route_label: String::new(),
            excluded_paths: vec!["/metrics".into(), "/health".into()],
        }
    }
}

/// The environment variables [`OctopusConfig::apply_env`] reads.
pub const ENV_VARS: [&str; 2] = ["OTEL_SERVICE_NAME", "OCTOPUS_METRICS"];

impl OctopusConfig {
    /// The original `Prometheus(service_name, metrics=[...])` plugin config.
    ///
    /// ```
    /// use octopus_core::OctopusConfig;
    ///
    /// let config = OctopusConfig::prometheus("users", ["latency", "request_count"]).unwrap();
    /// assert_eq!(config.service_name, "users");
    /// assert!(OctopusConfig::prometheus("users", ["latncy"]).is_err());
    /// ```
    pub fn prometheus<I>(service_name: impl Into<String>, metrics: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let config = OctopusConfig {
            service_name: service_name.into(),
            metrics: metrics
                .into_iter()
                .map(|name| name.as_ref().parse())
                .collect::<Result<_, _>>()?,
            ..OctopusConfig::default()
        };
        config.validate()?;
        Ok(config)
    }

    /// The defaults, overridden by the process environment (see [`apply_env`](Self::apply_env)).
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut config = OctopusConfig::default();
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    /// Overrides fields from environment variables, read through `lookup` (so tests and
    /// config loaders need not touch the process environment):
    ///
    /// | variable | field |
    /// |---|---|
    /// | `OTEL_SERVICE_NAME` | `service_name` |
    /// | `OCTOPUS_METRICS` | `metrics`, comma-separated; empty or `none` for none |
    ///
    /// ```
    /// use octopus_core::{MetricKind, OctopusConfig};
    ///
    /// let mut config = OctopusConfig::default();
    /// config.apply_env(|name| match name {
    ///     "OCTOPUS_METRICS" => Some("request_count, latency".into()),
    ///     _ => None,
    /// }).unwrap();
    /// assert_eq!(config.metrics, [MetricKind::RequestCount, MetricKind::Latency]);
    /// ```
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(name) = lookup("OTEL_SERVICE_NAME") {
            check_service_name(&name).map_err(|e| e.in_field("OTEL_SERVICE_NAME"))?;
            self.service_name = name;
        }
        if let Some(list) = lookup("OCTOPUS_METRICS") {
            self.metrics = parse_metric_list(&list).map_err(|e| e.in_field("OCTOPUS_METRICS"))?;
        }
        Ok(())
    }

    /// Checks every value; the first bad one is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_service_name(&self.service_name)?;
        for (i, kind) in self.metrics.iter().enumerate() {
            if self.metrics[..i].contains(kind) {
                return Err(ConfigError::invalid(
                    "metrics",
                    kind,
                    &format!("each of {METRIC_CHOICES} at most once"),
                ));
            }
        }
        if let Some(prefix) = &self.metrics_prefix {
            if !is_metric_name(prefix) {
                return Err(ConfigError::invalid(
                    "metrics_prefix",
                    prefix,
                    "a Prometheus metric name: a letter, '_' or ':' followed by letters, digits, '_' or ':'",
                ));
            }
        }
        check_buckets(&self.latency_buckets)?;
        check_path("metrics_path", &self.metrics_path)?;
        for path in &self.excluded_paths {
            check_path("excluded_paths", path)?;
        }
        Ok(())
    }

    /// Whether metrics are collected at all.
    pub fn metrics_enabled(&self) -> bool {
        !self.metrics.is_empty()
    }
}

fn check_service_name(name: &str) -> Result<(), ConfigError> {
    if name.trim().is_empty() {
        return Err(ConfigError::invalid(
            "service_name",
            name,
            "a non-empty name",
        ));
    }
    Ok(())
}

fn parse_metric_list(list: &str) -> Result<Vec<MetricKind>, ConfigError> {
    let list = list.trim();
    if list.is_empty() || list == "none" {
        return Ok(Vec::new());
    }
    list.split(',').map(|name| name.trim().parse()).collect()
}

fn check_buckets(buckets: &[f64]) -> Result<(), ConfigError> {
    const EXPECTED: &str = "a non-empty list of finite, strictly increasing numbers of seconds";
    let shown = || format!("{buckets:?}");
    if buckets.is_empty() || buckets.iter().any(|b| !b.is_finite()) {
        return Err(ConfigError::invalid("latency_buckets", shown(), EXPECTED));
    }
    if buckets.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err(ConfigError::invalid("latency_buckets", shown(), EXPECTED));
    }
    Ok(())
}

fn check_path(field: &str, path: &str) -> Result<(), ConfigError> {
    if !path.starts_with('/') {
        return Err(ConfigError::invalid(
            field,
            path,
            "a path starting with '/'",
        ));
    }
    Ok(())
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_are_valid_and_complete() {
        let config = OctopusConfig::default();
        config.validate().unwrap();
        assert_eq!(config.metrics, MetricKind::ALL);
        assert_eq!(config.latency_buckets.len(), 14);
    }

    #[test]
    fn unknown_metric_names_field_value_and_choices() {
        let err = OctopusConfig::prometheus("svc", ["latency", "latncy"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"metrics: unknown metric "latncy"; expected one of latency, request_count, processing_requests"#
        );
    }

    #[test]
    fn environment_overrides_and_names_the_variable() {
        let mut config = OctopusConfig::default();
        config
            .apply_env(env(&[
                ("OTEL_SERVICE_NAME", "checkout"),
                ("OCTOPUS_METRICS", " processing_requests ,latency"),
            ]))
            .unwrap();
        assert_eq!(config.service_name, "checkout");
        assert_eq!(
            config.metrics,
            [MetricKind::ProcessingRequests, MetricKind::Latency]
        );

        config
            .apply_env(env(&[("OCTOPUS_METRICS", "none")]))
            .unwrap();
        assert!(!config.metrics_enabled());

        let err = config
            .apply_env(env(&[("OCTOPUS_METRICS", "latency,requests")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"OCTOPUS_METRICS: unknown metric "requests"; expected one of latency, request_count, processing_requests"#
        );
        let err = config
            .apply_env(env(&[("OTEL_SERVICE_NAME", " ")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"OTEL_SERVICE_NAME: invalid value " "; expected a non-empty name"#
        );
    }

    #[test]
    fn each_bad_value_is_reported() {
        let bad = |edit: fn(&mut OctopusConfig)| {
            let mut config = OctopusConfig::default();
            edit(&mut config);
            config.validate().unwrap_err().to_string()
        };
        assert_eq!(
            bad(|c| c.metrics = vec![MetricKind::Latency, MetricKind::Latency]),
            r#"metrics: invalid value "latency"; expected each of latency, request_count, processing_requests at most once"#
        );
        assert!(
            bad(|c| c.metrics_prefix = Some("my-app".into())).starts_with(
                r#"metrics_prefix: invalid value "my-app"; expected a Prometheus metric name"#
            )
        );
        assert_eq!(
            bad(|c| c.latency_buckets = vec![0.1, 0.1]),
            r#"latency_buckets: invalid value "[0.1, 0.1]"; expected a non-empty list of finite, strictly increasing numbers of seconds"#
        );
        assert!(bad(|c| c.latency_buckets = vec![]).starts_with("latency_buckets: "));
        assert!(bad(|c| c.latency_buckets = vec![f64::NAN]).starts_with("latency_buckets: "));
        assert_eq!(
            bad(|c| c.metrics_path = "metrics".into()),
            r#"metrics_path: invalid value "metrics"; expected a path starting with '/'"#
        );
        assert!(bad(|c| c.excluded_paths = vec!["health".into()]).starts_with("excluded_paths: "));
        assert!(bad(|c| c.service_name = String::new()).starts_with("service_name: "));
    }

    #[test]
    fn loads_from_toml_and_yaml_and_rejects_unknown_keys() {
        let from_toml: OctopusConfig = toml::from_str(
            r#"
            service_name = "users"
            metrics = ["latency", "request_count", "processing_requests"]
            metrics_prefix = "shop"
            latency_buckets = [0.1, 1.0]
            excluded_paths = ["/health", "/ready"]
            "#,
        )
        .unwrap();
        let from_yaml: OctopusConfig = serde_norway::from_str(
            "service_name: users\n\
             metrics: [latency, request_count, processing_requests]\n\
             metrics_prefix: shop\n\
             latency_buckets: [0.1, 1.0]\n\
             excluded_paths: [/health, /ready]\n",
        )
        .unwrap();
        assert_eq!(from_toml, from_yaml);
        assert_eq!(from_toml.metrics_prefix.as_deref(), Some("shop"));
        assert_eq!(from_toml.metrics_path, "/metrics");
        from_toml.validate().unwrap();

        let err = toml::from_str::<OctopusConfig>("metrics = [\"latncy\"]").unwrap_err();
        assert!(
            err.to_string().contains(
                r#"metrics: unknown metric "latncy"; expected one of latency, request_count, processing_requests"#
            ),
            "{err}"
        );
        let err = toml::from_str::<OctopusConfig>("servce_name = \"x\"").unwrap_err();
        assert!(err.to_string().contains("servce_name"), "{err}");
    }
}
