//! Validation: every rule a configuration must meet, once, in [`RULES`].
//!
//! [`OctopusConfig::validate`] runs them all, in order, and returns the first failure: it is
//! what [`OctopusBuilder::build`](crate::OctopusBuilder::build) (so `Octopus::new`), the
//! file loader and the constructors run. The environment overlay runs the rule of each field
//! a variable sets as it sets it, so that error names the variable instead of the field
//! (`OTEL_EXPORTER_JAEGER_AGENT_PORT: ...`); it is the same rule, not a copy.

use crate::export::jaeger_agent::{MAX_PACKET_SIZE, MIN_PACKET_SIZE};

use super::labels::is_label_name;
use super::{
    ConfigError, LabelConfig, MAX_LABEL_MAX_VALUES, MAX_LABEL_VALUE_LEN, MAX_LABELS, MetricKind,
    OTHER_LABEL_VALUE, OctopusConfig, RESERVED_LABEL_NAMES,
};

/// A check of one field (or of fields that only make sense together), reporting the field.
pub(super) type Rule = fn(&OctopusConfig) -> Result<(), ConfigError>;

/// Every rule, in the order [`OctopusConfig::validate`] runs them.
const RULES: &[Rule] = &[
    service_name,
    metrics,
    metrics_prefix,
    latency_buckets,
    body_size_buckets,
    metrics_path,
    excluded_paths,
    labels,
    metrics_address,
    metrics_bearer_token,
    jaeger_host,
    jaeger_port,
    jaeger_max_packet_size,
    otlp_endpoint,
    otlp_headers,
    otlp_certificate,
    otlp_client_certificate,
    otlp_client_key,
    otlp_client_pair,
    service_version,
    resource_attributes,
    sampler_arg,
    jaeger_remote_sampling,
    bsp_schedule_delay_ms,
    bsp_max_queue_size,
    bsp_max_export_batch_size,
    bsp_batch_fits_queue,
];

impl OctopusConfig {
    /// Checks every value; the first bad one is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        RULES.iter().try_for_each(|rule| rule(self))
    }
}

pub(super) const PORT_EXPECTED: &str = "a port number, 1 to 65535";
pub(super) const RATIO_EXPECTED: &str = "a number from 0.0 to 1.0";
pub(super) const DELAY_EXPECTED: &str = "milliseconds, a whole number above 0";
pub(super) const ABOVE_ZERO: &str = "a whole number above 0";

/// What `jaeger_max_packet_size` accepts: the exporter's own bounds.
pub(super) fn packet_size_expected() -> String {
    format!("a number of bytes from {MIN_PACKET_SIZE} to {MAX_PACKET_SIZE}")
}

pub(super) fn service_name(config: &OctopusConfig) -> Result<(), ConfigError> {
    let name = &config.service_name;
    if name.trim().is_empty() {
        return Err(ConfigError::invalid(
            "service_name",
            name,
            "a non-empty name",
        ));
    }
    Ok(())
}

fn metrics(config: &OctopusConfig) -> Result<(), ConfigError> {
    for (i, kind) in config.metrics.iter().enumerate() {
        if config.metrics[..i].contains(kind) {
            return Err(ConfigError::invalid(
                "metrics",
                kind,
                &format!("each of {} at most once", MetricKind::choices()),
            ));
        }
    }
    Ok(())
}

fn metrics_prefix(config: &OctopusConfig) -> Result<(), ConfigError> {
    if let Some(prefix) = &config.metrics_prefix
        && !is_metric_name(prefix)
    {
        return Err(ConfigError::invalid(
            "metrics_prefix",
            prefix,
            "a Prometheus metric name: a letter, '_' or ':' followed by letters, digits, '_' or ':'",
        ));
    }
    Ok(())
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn latency_buckets(config: &OctopusConfig) -> Result<(), ConfigError> {
    const EXPECTED: &str = "a non-empty list of finite, strictly increasing numbers of seconds";
    let buckets = &config.latency_buckets;
    let increasing = buckets.windows(2).all(|pair| pair[0] < pair[1]);
    if buckets.is_empty() || buckets.iter().any(|b| !b.is_finite()) || !increasing {
        return Err(ConfigError::invalid(
            "latency_buckets",
            format!("{buckets:?}"),
            EXPECTED,
        ));
    }
    Ok(())
}

pub(super) fn body_size_buckets(config: &OctopusConfig) -> Result<(), ConfigError> {
    const EXPECTED: &str =
        "a non-empty list of finite, strictly increasing, non-negative numbers of bytes";
    let buckets = &config.body_size_buckets;
    let increasing = buckets.windows(2).all(|pair| pair[0] < pair[1]);
    let valid = |b: &f64| b.is_finite() && *b >= 0.0;
    if buckets.is_empty() || !buckets.iter().all(valid) || !increasing {
        return Err(ConfigError::invalid(
            "body_size_buckets",
            format!("{buckets:?}"),
            EXPECTED,
        ));
    }
    Ok(())
}

fn metrics_path(config: &OctopusConfig) -> Result<(), ConfigError> {
    check_path("metrics_path", &config.metrics_path)
}

fn excluded_paths(config: &OctopusConfig) -> Result<(), ConfigError> {
    config
        .excluded_paths
        .iter()
        .try_for_each(|path| check_path("excluded_paths", path))
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

/// The labels of the configuration (each from a header) and its constant labels.
pub(super) fn labels(config: &OctopusConfig) -> Result<(), ConfigError> {
    check_labels(config, &[])
}

/// The labels of `config` and `from_functions` (labels given in code with a function, which
/// have no header) together: names valid, not Octopus's own, each once among them and the
/// constant labels; at most [`MAX_LABELS`]; values and caps in range. Errors name the field
/// (`labels`, `const_labels`), the value and what is valid.
pub(crate) fn check_labels(
    config: &OctopusConfig,
    from_functions: &[&LabelConfig],
) -> Result<(), ConfigError> {
    const FIELD: &str = "labels";
    let name_expected = || {
        format!(
            "a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __) other than \
             Octopus's own ({})",
            RESERVED_LABEL_NAMES.join(", ")
        )
    };
    let check_name = |field: &str, name: &str| {
        if !is_label_name(name) || RESERVED_LABEL_NAMES.contains(&name) {
            return Err(ConfigError::invalid(field, name, &name_expected()));
        }
        Ok(())
    };
    let all: Vec<(&LabelConfig, bool)> = config
        .labels
        .iter()
        .map(|label| (label, false))
        .chain(from_functions.iter().map(|label| (*label, true)))
        .collect();
    for (i, &(label, from_function)) in all.iter().enumerate() {
        check_name(FIELD, &label.name)?;
        if all[..i].iter().any(|(other, _)| other.name == label.name)
            || config.const_labels.contains_key(&label.name)
        {
            return Err(ConfigError::invalid(
                FIELD,
                &label.name,
                "each label name at most once, constant labels (const_labels) included",
            ));
        }
        match (&label.header, from_function) {
            (Some(header), false) => {
                let lower = header.to_ascii_lowercase();
                if http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
                    return Err(ConfigError::invalid(
                        &format!("labels.{}.header", label.name),
                        header,
                        "a header name of letters, digits and !#$%&'*+-.^_`|~",
                    ));
                }
            }
            (None, false) => {
                return Err(ConfigError::invalid(
                    &format!("labels.{}.header", label.name),
                    "",
                    "the request header the label's value comes from",
                ));
            }
            (Some(header), true) => {
                return Err(ConfigError::invalid(
                    &format!("labels.{}.header", label.name),
                    header,
                    "no header for a label whose value a function gives",
                ));
            }
            (None, true) => {}
        }
        if label.values.is_empty() && !(1..=MAX_LABEL_MAX_VALUES).contains(&label.max_values) {
            return Err(ConfigError::invalid(
                &format!("labels.{}.max_values", label.name),
                label.max_values,
                &format!("a number of values from 1 to {MAX_LABEL_MAX_VALUES}"),
            ));
        }
        if label.values.len() > MAX_LABEL_MAX_VALUES {
            return Err(ConfigError::invalid(
                &format!("labels.{}.values", label.name),
                format!("{} values", label.values.len()),
                &format!("at most {MAX_LABEL_MAX_VALUES} values"),
            ));
        }
        for value in label.values.iter().chain([&label.default]) {
            if value.len() > MAX_LABEL_VALUE_LEN || value == OTHER_LABEL_VALUE {
                return Err(ConfigError::invalid(
                    &format!("labels.{}", label.name),
                    value,
                    &format!(
                        "values and default of at most {MAX_LABEL_VALUE_LEN} bytes, other than \
                         {OTHER_LABEL_VALUE}"
                    ),
                ));
            }
        }
    }
    if all.len() > MAX_LABELS {
        return Err(ConfigError::invalid(
            FIELD,
            all.iter()
                .map(|(label, _)| label.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
            &format!("at most {MAX_LABELS} labels"),
        ));
    }
    for name in config.const_labels.keys() {
        check_name("const_labels", name)?;
        // `octopus_label_overflow_total`, there with labels of the user's own, has its own.
        if name == "label" && !all.is_empty() {
            return Err(ConfigError::invalid(
                "const_labels",
                name,
                "a name other than label, which octopus_label_overflow_total uses",
            ));
        }
    }
    Ok(())
}

pub(super) fn metrics_address(config: &OctopusConfig) -> Result<(), ConfigError> {
    match &config.metrics_address {
        Some(address) if address.trim().parse::<std::net::SocketAddr>().is_err() => Err(
            ConfigError::invalid("metrics_address", address, "IP:PORT, e.g. 0.0.0.0:9464"),
        ),
        _ => Ok(()),
    }
}

/// RFC 6750's `b64token` characters, so the token fits an `Authorization` header as it is.
pub(super) fn metrics_bearer_token(config: &OctopusConfig) -> Result<(), ConfigError> {
    let Some(token) = &config.metrics_bearer_token else {
        return Ok(());
    };
    let token = token.expose();
    let valid = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    if !valid {
        return Err(ConfigError::invalid(
            "metrics_bearer_token",
            "(hidden)",
            "a non-empty token of letters, digits and -._~+/=",
        ));
    }
    Ok(())
}

fn jaeger_host(config: &OctopusConfig) -> Result<(), ConfigError> {
    if config.jaeger_host.trim().is_empty() {
        return Err(ConfigError::invalid(
            "jaeger_host",
            &config.jaeger_host,
            "a host name or IP address",
        ));
    }
    Ok(())
}

pub(super) fn jaeger_port(config: &OctopusConfig) -> Result<(), ConfigError> {
    if config.jaeger_port == 0 {
        return Err(ConfigError::invalid("jaeger_port", 0, PORT_EXPECTED));
    }
    Ok(())
}

pub(super) fn jaeger_max_packet_size(config: &OctopusConfig) -> Result<(), ConfigError> {
    let size = config.jaeger_max_packet_size;
    if !(MIN_PACKET_SIZE..=MAX_PACKET_SIZE).contains(&size) {
        return Err(ConfigError::invalid(
            "jaeger_max_packet_size",
            size,
            &packet_size_expected(),
        ));
    }
    Ok(())
}

fn otlp_endpoint(config: &OctopusConfig) -> Result<(), ConfigError> {
    if let Some(endpoint) = &config.otlp_endpoint
        && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
    {
        return Err(ConfigError::invalid(
            "otlp_endpoint",
            endpoint,
            "an http:// or https:// URL",
        ));
    }
    Ok(())
}

/// Headers the OTLP exporters can send (over HTTP and as gRPC metadata). The values are
/// secrets: errors name the header, never its value.
pub(super) fn otlp_headers(config: &OctopusConfig) -> Result<(), ConfigError> {
    for (name, value) in &config.otlp_headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(ConfigError::invalid(
                "otlp_headers",
                name,
                "header names of letters, digits and !#$%&'*+-.^_`|~",
            ));
        }
        if http::HeaderValue::from_str(value.expose()).is_err() {
            return Err(ConfigError::invalid(
                "otlp_headers",
                "(hidden)",
                &format!("a value of visible ASCII characters for header {name}"),
            ));
        }
    }
    Ok(())
}

pub(super) fn otlp_certificate(config: &OctopusConfig) -> Result<(), ConfigError> {
    check_pem_path("otlp_certificate", &config.otlp_certificate)
}

pub(super) fn otlp_client_certificate(config: &OctopusConfig) -> Result<(), ConfigError> {
    check_pem_path("otlp_client_certificate", &config.otlp_client_certificate)
}

pub(super) fn otlp_client_key(config: &OctopusConfig) -> Result<(), ConfigError> {
    check_pem_path("otlp_client_key", &config.otlp_client_key)
}

fn check_pem_path(field: &str, path: &Option<String>) -> Result<(), ConfigError> {
    match path {
        Some(path) if path.trim().is_empty() => {
            Err(ConfigError::invalid(field, path, "the path of a PEM file"))
        }
        _ => Ok(()),
    }
}

/// Mutual TLS needs both the client certificate and its key.
fn otlp_client_pair(config: &OctopusConfig) -> Result<(), ConfigError> {
    match (&config.otlp_client_certificate, &config.otlp_client_key) {
        (Some(_), None) => Err(ConfigError::invalid(
            "otlp_client_key",
            "",
            "the client key's PEM file, since otlp_client_certificate is set",
        )),
        (None, Some(_)) => Err(ConfigError::invalid(
            "otlp_client_certificate",
            "",
            "the client certificate's PEM file, since otlp_client_key is set",
        )),
        _ => Ok(()),
    }
}

fn service_version(config: &OctopusConfig) -> Result<(), ConfigError> {
    if let Some(version) = &config.service_version
        && version.trim().is_empty()
    {
        return Err(ConfigError::invalid(
            "service_version",
            version,
            "a non-empty version",
        ));
    }
    Ok(())
}

fn resource_attributes(config: &OctopusConfig) -> Result<(), ConfigError> {
    if let Some(key) = config
        .resource_attributes
        .keys()
        .find(|k| k.trim().is_empty())
    {
        return Err(ConfigError::invalid(
            "resource_attributes",
            key,
            "attribute names that are not empty",
        ));
    }
    Ok(())
}

pub(super) fn sampler_arg(config: &OctopusConfig) -> Result<(), ConfigError> {
    match config.sampler_arg {
        Some(ratio) if !(0.0..=1.0).contains(&ratio) => {
            Err(ConfigError::invalid("sampler_arg", ratio, RATIO_EXPECTED))
        }
        _ => Ok(()),
    }
}

/// The Jaeger remote sampling settings, as a file or code may set them (the variable is
/// checked as it is read: [`JaegerRemoteSampling::parse_arg`](super::JaegerRemoteSampling::parse_arg)).
fn jaeger_remote_sampling(config: &OctopusConfig) -> Result<(), ConfigError> {
    let settings = &config.jaeger_remote_sampling;
    if !(settings.endpoint.starts_with("http://") || settings.endpoint.starts_with("https://")) {
        return Err(ConfigError::invalid(
            "jaeger_remote_sampling.endpoint",
            &settings.endpoint,
            "an http:// or https:// URL",
        ));
    }
    if settings.polling_interval_ms == 0 {
        return Err(ConfigError::invalid(
            "jaeger_remote_sampling.polling_interval_ms",
            0,
            DELAY_EXPECTED,
        ));
    }
    if !(0.0..=1.0).contains(&settings.initial_sampling_rate) {
        return Err(ConfigError::invalid(
            "jaeger_remote_sampling.initial_sampling_rate",
            settings.initial_sampling_rate,
            RATIO_EXPECTED,
        ));
    }
    Ok(())
}

/// A delay of 0 makes the export thread spin on a core.
pub(super) fn bsp_schedule_delay_ms(config: &OctopusConfig) -> Result<(), ConfigError> {
    above_zero(
        "bsp_schedule_delay_ms",
        config.bsp_schedule_delay_ms,
        DELAY_EXPECTED,
    )
}

/// A queue of 0 drops every span.
pub(super) fn bsp_max_queue_size(config: &OctopusConfig) -> Result<(), ConfigError> {
    above_zero("bsp_max_queue_size", config.bsp_max_queue_size, ABOVE_ZERO)
}

/// A batch of 0 exports nothing.
pub(super) fn bsp_max_export_batch_size(config: &OctopusConfig) -> Result<(), ConfigError> {
    above_zero(
        "bsp_max_export_batch_size",
        config.bsp_max_export_batch_size,
        ABOVE_ZERO,
    )
}

fn above_zero<T: Default + PartialEq + std::fmt::Display>(
    field: &str,
    value: Option<T>,
    expected: &str,
) -> Result<(), ConfigError> {
    match value {
        Some(value) if value == T::default() => Err(ConfigError::invalid(field, value, expected)),
        _ => Ok(()),
    }
}

/// A batch larger than the queue would be cut down silently by the SDK. The defaults count:
/// the default batch (512) must fit a smaller queue too.
fn bsp_batch_fits_queue(config: &OctopusConfig) -> Result<(), ConfigError> {
    let (queue, batch) = (config.bsp_queue_capacity(), config.bsp_export_batch_size());
    if batch > queue {
        return Err(ConfigError::invalid(
            "bsp_max_export_batch_size",
            batch,
            &format!("a whole number from 1 to bsp_max_queue_size ({queue})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::*;

    #[test]
    fn each_bad_value_is_reported() {
        let bad = |edit: fn(&mut OctopusConfig)| {
            let mut config = OctopusConfig::default();
            edit(&mut config);
            config.validate().unwrap_err().to_string()
        };
        assert_eq!(
            bad(|c| c.metrics = vec![MetricKind::Latency, MetricKind::Latency]),
            r#"metrics: invalid value "latency"; expected each of latency, request_count, processing_requests, request_size, response_size at most once"#
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
            bad(|c| c.body_size_buckets = vec![100.0, 10.0]),
            r#"body_size_buckets: invalid value "[100.0, 10.0]"; expected a non-empty list of finite, strictly increasing, non-negative numbers of bytes"#
        );
        assert!(bad(|c| c.body_size_buckets = vec![]).starts_with("body_size_buckets: "));
        assert!(bad(|c| c.body_size_buckets = vec![-1.0]).starts_with("body_size_buckets: "));
        assert!(
            bad(|c| c.body_size_buckets = vec![f64::INFINITY]).starts_with("body_size_buckets: ")
        );
        assert_eq!(
            bad(|c| c.metrics_path = "metrics".into()),
            r#"metrics_path: invalid value "metrics"; expected a path starting with '/'"#
        );
        assert!(bad(|c| c.excluded_paths = vec!["health".into()]).starts_with("excluded_paths: "));
        assert!(bad(|c| c.service_name = String::new()).starts_with("service_name: "));
    }

    #[test]
    fn batch_settings_reject_zero_and_a_batch_above_the_queue() {
        let bad = |edit: fn(&mut OctopusConfig)| {
            let mut config = OctopusConfig::default();
            edit(&mut config);
            config.validate().unwrap_err().to_string()
        };
        assert_eq!(
            bad(|c| c.bsp_schedule_delay_ms = Some(0)),
            r#"bsp_schedule_delay_ms: invalid value "0"; expected milliseconds, a whole number above 0"#
        );
        assert_eq!(
            bad(|c| c.bsp_max_queue_size = Some(0)),
            r#"bsp_max_queue_size: invalid value "0"; expected a whole number above 0"#
        );
        assert_eq!(
            bad(|c| c.bsp_max_export_batch_size = Some(0)),
            r#"bsp_max_export_batch_size: invalid value "0"; expected a whole number above 0"#
        );
        assert_eq!(
            bad(|c| {
                c.bsp_max_queue_size = Some(100);
                c.bsp_max_export_batch_size = Some(101);
            }),
            r#"bsp_max_export_batch_size: invalid value "101"; expected a whole number from 1 to bsp_max_queue_size (100)"#
        );
        // The default batch (512) must fit a smaller queue too: the SDK would cut it silently.
        assert_eq!(
            bad(|c| c.bsp_max_queue_size = Some(100)),
            r#"bsp_max_export_batch_size: invalid value "512"; expected a whole number from 1 to bsp_max_queue_size (100)"#
        );
        let fits = OctopusConfig {
            bsp_schedule_delay_ms: Some(1),
            bsp_max_queue_size: Some(100),
            bsp_max_export_batch_size: Some(100),
            ..OctopusConfig::default()
        };
        fits.validate().unwrap();
        assert_eq!(
            fits.bsp_schedule_delay(),
            std::time::Duration::from_millis(1)
        );
        assert_eq!(
            (fits.bsp_queue_capacity(), fits.bsp_export_batch_size()),
            (100, 100)
        );
    }
}
