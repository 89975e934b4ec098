//! Configuration: a serde-loadable struct, the standard environment variables, and the
//! constructors shaped like the original plugin configs.
//!
//! One home for each job: [`OctopusConfig`] and its constructors here; the settings chosen by
//! name in `choice`; [`ConfigError`] in `error`; [`Secret`] in `secret`; the environment
//! overlay (one table of variables) in `env`; files in `file`; every validation rule in
//! `validate`. The items are re-exported here, where users name them.

mod choice;
mod env;
mod error;
mod file;
mod labels;
mod secret;
mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use self::choice::{
    InboundTrace, MetricKind, OtlpProtocol, PropagatorKind, SamplerKind, TracesExporter,
};
#[doc(hidden)]
pub use self::env::ENV_VARS;
pub use self::error::ConfigError;
pub use self::file::CONFIG_FILE_VAR;
pub use self::labels::{
    DEFAULT_LABEL_MAX_VALUES, LabelConfig, MAX_LABEL_MAX_VALUES, MAX_LABEL_VALUE_LEN, MAX_LABELS,
    OTHER_LABEL_VALUE, RESERVED_LABEL_NAMES,
};
pub use self::secret::Secret;
pub(crate) use self::validate::check_labels;
use crate::export::jaeger_agent;

/// The histogram buckets OpenTelemetry recommends for `http.server.request.duration`, seconds.
pub const DEFAULT_LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The byte bounds of the body size histograms' buckets when none are configured: an empty
/// body, then powers of ten from 100 B to 100 MB (OpenTelemetry recommends none for
/// `http.server.request.body.size` and `http.server.response.body.size`).
pub const DEFAULT_BODY_SIZE_BUCKETS: [f64; 8] = [
    0.0,
    100.0,
    1_000.0,
    10_000.0,
    100_000.0,
    1_000_000.0,
    10_000_000.0,
    100_000_000.0,
];

/// The service name used when none is configured (the OpenTelemetry default).
pub const DEFAULT_SERVICE_NAME: &str = "unknown_service";

/// The batch span processor's delay between exports when none is configured, ms (the
/// OpenTelemetry SDK's default).
pub const DEFAULT_BSP_SCHEDULE_DELAY_MS: u64 = 5_000;
/// The batch span processor's queue capacity when none is configured (the SDK's default).
pub const DEFAULT_BSP_MAX_QUEUE_SIZE: usize = 2_048;
/// The batch span processor's spans per export when none is configured (the SDK's default).
pub const DEFAULT_BSP_MAX_EXPORT_BATCH_SIZE: usize = 512;

/// Everything that configures an Octopus instance.
///
/// Deserialisable with serde, so it loads from TOML, YAML or JSON; every field has a default,
/// unknown fields are an error. [`validate`](OctopusConfig::validate) (run by
/// [`Octopus::new`](crate::Octopus::new) and the builder) checks every value.
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
    /// Upper bounds of the body size histograms' buckets (`request_size`, `response_size`),
    /// bytes, strictly increasing, none negative. Environment: `OCTOPUS_BODY_SIZE_BUCKETS`
    /// (comma-separated numbers).
    pub body_size_buckets: Vec<f64>,
    /// Where adapters serve the Prometheus text exposition.
    pub metrics_path: String,
    /// The `http_route` label value shared by requests that matched no route. Empty by default:
    /// Prometheus then stores the series without the label, as OpenTelemetry's exporters do.
    pub unmatched_route_label: String,
    /// Labels of the user's own on the request metrics, whose values come from request headers
    /// (at most [`MAX_LABELS`], each bounded: see [`LabelConfig`]). Labels whose values a
    /// function gives are added in code ([`OctopusBuilder::label`](crate::OctopusBuilder::label))
    /// and are not listed here. Environment: `OCTOPUS_LABELS`
    /// (`tenant=header:x-tenant;max_values=50,plan=header:x-plan;values=free|pro`; replaces the
    /// file's labels).
    pub labels: Vec<LabelConfig>,
    /// Constant labels on every series of the request metrics (and of
    /// `octopus_label_overflow_total`), besides `service_name`: `{ region = "eu-west-1" }`.
    /// Environment: `OCTOPUS_CONST_LABELS` (`k=v,k2=v2`, values percent-decoded; entries add to
    /// and replace the file's).
    pub const_labels: BTreeMap<String, String>,
    /// Request paths that are neither counted nor traced (exact match). The metrics path is
    /// always excluded.
    pub excluded_paths: Vec<String>,
    /// Serve `/metrics` on this separate address (`IP:PORT`) instead of on the application's
    /// own listener: for scrapes from a private network only. Adapters then do not mount the
    /// metrics route; [`Octopus::serve_metrics`](crate::Octopus::serve_metrics) serves it.
    /// Environment: `OCTOPUS_METRICS_ADDR`.
    pub metrics_address: Option<String>,
    /// A bearer token `/metrics` requires (`Authorization: Bearer <token>`), wherever it is
    /// served: for a metrics endpoint reachable from the internet. Environment:
    /// `OCTOPUS_METRICS_TOKEN`. Never printed nor serialised.
    #[serde(skip_serializing)]
    pub metrics_bearer_token: Option<Secret>,

    /// The service's version: the `service.version` resource attribute of its spans.
    pub service_version: Option<String>,
    /// More resource attributes of the spans (OTLP resource, Jaeger process tags), e.g.
    /// `deployment.environment.name`. `host.name`, `process.pid` and `service.instance.id` (a
    /// random id per process) are detected; an entry here replaces the detected value;
    /// `service_name` and `service_version` win over `service.name` and `service.version` here.
    /// Environment: `OTEL_RESOURCE_ATTRIBUTES` (`k=v,k2=v2`, values percent-decoded; entries
    /// add to and replace the file's).
    pub resource_attributes: BTreeMap<String, String>,

    /// Whether requests are traced at all. Environment: `OTEL_SDK_DISABLED=true` turns it off.
    pub tracing_enabled: bool,
    /// Where spans go. Environment: `OTEL_TRACES_EXPORTER`.
    pub traces_exporter: TracesExporter,
    /// The Jaeger agent's host. Environment: `OTEL_EXPORTER_JAEGER_AGENT_HOST`.
    pub jaeger_host: String,
    /// The Jaeger agent's UDP port. Environment: `OTEL_EXPORTER_JAEGER_AGENT_PORT`.
    pub jaeger_port: u16,
    /// The largest UDP packet sent to the agent, bytes (at most 65 000, the loopback ceiling;
    /// an agent on another host wants less than the path MTU).
    /// Environment: `OCTOPUS_JAEGER_MAX_PACKET_SIZE`.
    pub jaeger_max_packet_size: usize,
    /// The OTLP endpoint: for gRPC the collector's URL, for HTTP the full traces URL. Default
    /// `http://localhost:4317` (gRPC) or `http://localhost:4318/v1/traces` (HTTP).
    /// Environment: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// (HTTP: `/v1/traces` appended).
    pub otlp_endpoint: Option<String>,
    /// The OTLP transport. Environment: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub otlp_protocol: OtlpProtocol,
    /// Headers sent with every OTLP export, e.g. an API key: `{ "x-api-key" = "..." }`.
    /// Environment: `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, or `OTEL_EXPORTER_OTLP_HEADERS`
    /// (`k=v,k2=v2`, values percent-decoded; they replace the file's headers). The values are
    /// never printed nor serialised.
    #[serde(skip_serializing)]
    pub otlp_headers: BTreeMap<String, Secret>,
    /// A PEM file of the CA certificate(s) an `https://` OTLP endpoint's certificate must chain
    /// to, besides the system's and Mozilla's roots. Environment:
    /// `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`, `OTEL_EXPORTER_OTLP_CERTIFICATE`.
    pub otlp_certificate: Option<String>,
    /// A PEM file of the client certificate (chain) for mutual TLS; needs
    /// `otlp_client_key`. Environment: `OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE`,
    /// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`.
    pub otlp_client_certificate: Option<String>,
    /// A PEM file of the client's private key for mutual TLS; needs
    /// `otlp_client_certificate`. Environment: `OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY`,
    /// `OTEL_EXPORTER_OTLP_CLIENT_KEY`.
    pub otlp_client_key: Option<String>,
    /// How long one OTLP export may take, milliseconds. Environment:
    /// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, `OTEL_EXPORTER_OTLP_TIMEOUT`.
    pub otlp_timeout_ms: u64,
    /// The sampler. Environment: `OTEL_TRACES_SAMPLER`.
    pub sampler: SamplerKind,
    /// The ratio of the ratio samplers, 0.0 to 1.0 (default 1.0). Environment:
    /// `OTEL_TRACES_SAMPLER_ARG`.
    pub sampler_arg: Option<f64>,
    /// Where the `jaeger_remote` samplers fetch their strategy, and how often. Environment:
    /// `OTEL_TRACES_SAMPLER_ARG` when the sampler is one of them, as the OpenTelemetry
    /// specification spells it: `endpoint=http://localhost:5778/sampling,pollingIntervalMs=5000,initialSamplingRate=0.25`.
    pub jaeger_remote_sampling: JaegerRemoteSampling,
    /// The trace header formats read and written. Environment: `OTEL_PROPAGATORS`.
    pub propagators: Vec<PropagatorKind>,
    /// Trust in inbound sampling decisions. Environment: `OCTOPUS_INBOUND_TRACE`.
    pub inbound_trace: InboundTrace,
    /// Whether responses carry the W3C `traceresponse` header with the server span's ids.
    /// Environment: `OCTOPUS_TRACE_RESPONSE` (`on`/`off`).
    pub trace_response: bool,
    /// Whether a sampled request leaves its trace as the exemplar of its latency bucket and
    /// request counter, served to OpenMetrics scrapes. Only with tracing on.
    /// Environment: `OCTOPUS_EXEMPLARS` (`true`/`false`).
    pub exemplars: bool,
    /// Batch span processor: delay between exports, ms, above 0; `None` is
    /// [`DEFAULT_BSP_SCHEDULE_DELAY_MS`]. Environment: `OTEL_BSP_SCHEDULE_DELAY`.
    ///
    /// The three `bsp_*` values are the only batch settings used, by Octopus's span pipeline
    /// (for server spans and the SDK spans of its provider alike): the SDK never reads
    /// `OTEL_BSP_*` itself, so every value passes [`validate`](Self::validate) first.
    /// `OTEL_BSP_EXPORT_TIMEOUT` and `OTEL_BSP_MAX_CONCURRENT_EXPORTS` are not read: exports run
    /// one at a time on the export thread (OTLP exports are bounded by `otlp_timeout_ms`).
    pub bsp_schedule_delay_ms: Option<u64>,
    /// Batch span processor: queue capacity, above 0; spans beyond it are dropped. `None` is
    /// [`DEFAULT_BSP_MAX_QUEUE_SIZE`]. Environment: `OTEL_BSP_MAX_QUEUE_SIZE`.
    pub bsp_max_queue_size: Option<usize>,
    /// Batch span processor: spans per export, from 1 to the queue capacity. `None` is
    /// [`DEFAULT_BSP_MAX_EXPORT_BATCH_SIZE`]. Environment: `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`.
    pub bsp_max_export_batch_size: Option<usize>,
    /// How long shutdown may spend flushing queued spans, ms.
    pub shutdown_timeout_ms: u64,
}

impl Default for OctopusConfig {
    fn default() -> Self {
        OctopusConfig {
            service_name: DEFAULT_SERVICE_NAME.into(),
            metrics: MetricKind::DEFAULT.to_vec(),
            metrics_prefix: None,
            latency_buckets: DEFAULT_LATENCY_BUCKETS.to_vec(),
            body_size_buckets: DEFAULT_BODY_SIZE_BUCKETS.to_vec(),
            metrics_path: "/metrics".into(),
            unmatched_route_label: String::new(),
            labels: Vec::new(),
            const_labels: BTreeMap::new(),
            excluded_paths: vec!["/metrics".into(), "/health".into()],
            metrics_address: None,
            metrics_bearer_token: None,
            service_version: None,
            resource_attributes: BTreeMap::new(),
            tracing_enabled: true,
            traces_exporter: TracesExporter::Jaeger,
            jaeger_host: jaeger_agent::DEFAULT_HOST.into(),
            jaeger_port: jaeger_agent::DEFAULT_PORT,
            jaeger_max_packet_size: jaeger_agent::MAX_PACKET_SIZE,
            otlp_endpoint: None,
            otlp_protocol: OtlpProtocol::Grpc,
            otlp_headers: BTreeMap::new(),
            otlp_certificate: None,
            otlp_client_certificate: None,
            otlp_client_key: None,
            otlp_timeout_ms: 10_000,
            sampler: SamplerKind::ParentBasedAlwaysOn,
            sampler_arg: None,
            jaeger_remote_sampling: JaegerRemoteSampling::default(),
            propagators: PropagatorKind::DEFAULT.to_vec(),
            inbound_trace: InboundTrace::Accept,
            trace_response: false,
            exemplars: true,
            bsp_schedule_delay_ms: None,
            bsp_max_queue_size: None,
            bsp_max_export_batch_size: None,
            shutdown_timeout_ms: 5_000,
        }
    }
}

/// The settings of the `jaeger_remote` samplers (see [`SamplerKind::JaegerRemote`]).
///
/// ```
/// use octopus_core::config::JaegerRemoteSampling;
///
/// let settings = JaegerRemoteSampling::parse_arg(
///     "endpoint=http://jaeger:5778/sampling,pollingIntervalMs=5000,initialSamplingRate=0.25",
/// )?;
/// assert_eq!(settings.endpoint, "http://jaeger:5778/sampling");
/// assert_eq!(settings.polling_interval_ms, 5000);
/// assert_eq!(settings.initial_sampling_rate, 0.25);
/// # Ok::<(), octopus_core::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JaegerRemoteSampling {
    /// The strategy endpoint; Octopus asks `{endpoint}?service={service_name}`. Default
    /// `http://localhost:5778/sampling` (the Jaeger agent's, and the collector's
    /// `remote_sampling` extension's HTTP port).
    pub endpoint: String,
    /// How often to fetch the strategy, milliseconds, above 0 (default 60 000).
    pub polling_interval_ms: u64,
    /// The sampling rate until a first strategy arrives, 0.0 to 1.0 (default 0.001).
    pub initial_sampling_rate: f64,
}

impl Default for JaegerRemoteSampling {
    fn default() -> Self {
        JaegerRemoteSampling {
            endpoint: "http://localhost:5778/sampling".into(),
            polling_interval_ms: 60_000,
            initial_sampling_rate: 0.001,
        }
    }
}

impl JaegerRemoteSampling {
    /// Reads `OTEL_TRACES_SAMPLER_ARG` as the specification defines it for the Jaeger remote
    /// samplers: comma-separated `key=value` pairs, `endpoint`, `pollingIntervalMs`,
    /// `initialSamplingRate`, each optional. An unknown key or a bad value is an error naming
    /// the pair.
    pub fn parse_arg(arg: &str) -> Result<Self, ConfigError> {
        const FIELD: &str = "OTEL_TRACES_SAMPLER_ARG";
        let mut settings = JaegerRemoteSampling::default();
        for pair in arg
            .split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
        {
            let invalid = |expected: &str| ConfigError::invalid(FIELD, pair, expected);
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                invalid("key=value pairs: endpoint, pollingIntervalMs, initialSamplingRate")
            })?;
            let value = value.trim();
            match key.trim() {
                "endpoint" => {
                    if !(value.starts_with("http://") || value.starts_with("https://")) {
                        return Err(invalid("endpoint=<an http:// or https:// URL>"));
                    }
                    settings.endpoint = value.to_owned();
                }
                "pollingIntervalMs" => {
                    settings.polling_interval_ms = value
                        .parse()
                        .ok()
                        .filter(|&ms: &u64| ms > 0)
                        .ok_or_else(|| invalid("pollingIntervalMs=<milliseconds above 0>"))?;
                }
                "initialSamplingRate" => {
                    settings.initial_sampling_rate = value
                        .parse()
                        .ok()
                        .filter(|rate: &f64| (0.0..=1.0).contains(rate))
                        .ok_or_else(|| invalid("initialSamplingRate=<a number from 0.0 to 1.0>"))?;
                }
                _ => {
                    return Err(invalid(
                        "key=value pairs: endpoint, pollingIntervalMs, initialSamplingRate",
                    ));
                }
            }
        }
        Ok(settings)
    }
}

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

    /// The original `JaegerTracing(jaeger_config={jaeger_host, jaeger_port, service_name})`
    /// plugin config: spans to a Jaeger agent over UDP.
    ///
    /// ```
    /// use octopus_core::{OctopusConfig, TracesExporter};
    ///
    /// let config = OctopusConfig::jaeger("jaeger-agent", 6831, "users").unwrap();
    /// assert_eq!(config.traces_exporter, TracesExporter::Jaeger);
    /// assert!(OctopusConfig::jaeger("jaeger-agent", 0, "users").is_err());
    /// ```
    pub fn jaeger(
        jaeger_host: impl Into<String>,
        jaeger_port: u16,
        service_name: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let config = OctopusConfig {
            service_name: service_name.into(),
            traces_exporter: TracesExporter::Jaeger,
            jaeger_host: jaeger_host.into(),
            jaeger_port,
            ..OctopusConfig::default()
        };
        config.validate()?;
        Ok(config)
    }

    /// The batch span processor's delay between exports in force: `bsp_schedule_delay_ms` or
    /// [`DEFAULT_BSP_SCHEDULE_DELAY_MS`].
    pub fn bsp_schedule_delay(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.bsp_schedule_delay_ms
                .unwrap_or(DEFAULT_BSP_SCHEDULE_DELAY_MS),
        )
    }

    /// The batch span processor's queue capacity in force: `bsp_max_queue_size` or
    /// [`DEFAULT_BSP_MAX_QUEUE_SIZE`].
    pub fn bsp_queue_capacity(&self) -> usize {
        self.bsp_max_queue_size
            .unwrap_or(DEFAULT_BSP_MAX_QUEUE_SIZE)
    }

    /// The batch span processor's spans per export in force: `bsp_max_export_batch_size` or
    /// [`DEFAULT_BSP_MAX_EXPORT_BATCH_SIZE`].
    pub fn bsp_export_batch_size(&self) -> usize {
        self.bsp_max_export_batch_size
            .unwrap_or(DEFAULT_BSP_MAX_EXPORT_BATCH_SIZE)
    }

    /// The OTLP traces endpoint in force: the configured one or the protocol's default.
    pub fn otlp_traces_endpoint(&self) -> String {
        match (&self.otlp_endpoint, self.otlp_protocol) {
            (Some(endpoint), _) => endpoint.clone(),
            (None, OtlpProtocol::Grpc) => "http://localhost:4317".into(),
            (None, OtlpProtocol::HttpProtobuf) => "http://localhost:4318/v1/traces".into(),
        }
    }

    /// Whether metrics are collected at all.
    pub fn metrics_enabled(&self) -> bool {
        !self.metrics.is_empty()
    }
}

/// `lookup` for tests: the value of each name among `pairs`.
#[cfg(test)]
fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::vars as env;
    use super::*;

    #[test]
    fn defaults_are_valid_and_complete() {
        let config = OctopusConfig::default();
        config.validate().unwrap();
        assert_eq!(config.metrics, MetricKind::DEFAULT);
        assert_eq!(config.latency_buckets.len(), 14);
        assert_eq!(config.body_size_buckets, DEFAULT_BODY_SIZE_BUCKETS);
    }

    #[test]
    fn unknown_metric_names_field_value_and_choices() {
        let err = OctopusConfig::prometheus("svc", ["latency", "latncy"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"metrics: unknown metric "latncy"; expected one of latency, request_count, processing_requests, request_size, response_size"#
        );
    }

    #[test]
    fn batch_defaults_are_the_sdks() {
        use opentelemetry_sdk::trace::{
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE_DEFAULT, OTEL_BSP_MAX_QUEUE_SIZE_DEFAULT,
            OTEL_BSP_SCHEDULE_DELAY_DEFAULT,
        };
        let config = OctopusConfig::default();
        assert_eq!(config.bsp_schedule_delay(), OTEL_BSP_SCHEDULE_DELAY_DEFAULT);
        assert_eq!(config.bsp_queue_capacity(), OTEL_BSP_MAX_QUEUE_SIZE_DEFAULT);
        assert_eq!(
            config.bsp_export_batch_size(),
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE_DEFAULT
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_left_out_when_serialised() {
        let mut config = OctopusConfig::default();
        config
            .apply_env(env(&[
                ("OCTOPUS_METRICS_TOKEN", "t0ken-s3cret"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k3y-s3cret"),
            ]))
            .unwrap();
        let debug = format!("{config:?} {config:#?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(
            debug.contains(r#"metrics_bearer_token: Some("<redacted>")"#),
            "{debug}"
        );
        assert!(debug.contains(r#""x-api-key": "<redacted>""#), "{debug}");
        for serialised in [
            toml::to_string(&config).unwrap(),
            serde_norway::to_string(&config).unwrap(),
        ] {
            assert!(!serialised.contains("s3cret"), "{serialised}");
            assert!(!serialised.contains("metrics_bearer_token"), "{serialised}");
            assert!(!serialised.contains("otlp_headers"), "{serialised}");
        }
        // A secret still loads from a file.
        let loaded: OctopusConfig = toml::from_str(
            "metrics_bearer_token = \"t0ken\"\n[otlp_headers]\nx-api-key = \"k3y\"\n",
        )
        .unwrap();
        assert_eq!(loaded.metrics_bearer_token, Some(Secret::from("t0ken")));
        assert_eq!(loaded.otlp_headers["x-api-key"].expose(), "k3y");
    }
}
