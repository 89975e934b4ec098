//! Configuration: a serde-loadable struct, the standard environment variables, and the
//! constructors shaped like the original plugin configs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The histogram buckets OpenTelemetry recommends for `http.server.request.duration`, seconds.
pub const DEFAULT_LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
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

/// A value that must never be printed: a token, an API key, a header value.
///
/// `Debug` shows `"<redacted>"`, and it has no `Serialize`: the fields holding one are skipped
/// when a configuration is serialised. Deserialises from a plain string.
///
/// ```
/// use octopus_core::config::Secret;
///
/// let key = Secret::from("s3cret");
/// assert_eq!(format!("{key:?}"), r#""<redacted>""#);
/// assert_eq!(key.expose(), "s3cret");
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that uses it (a header, a comparison).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.into())
    }
}

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

/// Declares a configuration enum selected by name: `name()`, `FromStr` whose error names the
/// field, the value and every valid name, and serde through those names.
macro_rules! choice_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident in $field:literal {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every choice.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The name used in configuration files and environment variables.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $name {
            type Err = ConfigError;

            fn from_str(value: &str) -> Result<Self, ConfigError> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|choice| choice.name() == value)
                    .ok_or_else(|| ConfigError::InvalidValue {
                        field: $field.into(),
                        value: value.into(),
                        expected: one_of($name::ALL.iter().map(|c| c.name())),
                    })
            }
        }

        impl TryFrom<String> for $name {
            type Error = ConfigError;

            fn try_from(value: String) -> Result<Self, ConfigError> {
                value.parse()
            }
        }

        impl From<$name> for &'static str {
            fn from(choice: $name) -> &'static str {
                choice.name()
            }
        }
    };
}

/// `one of a, b, c`, for error messages.
pub(crate) fn one_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    format!("one of {}", names.collect::<Vec<_>>().join(", "))
}

choice_enum! {
    /// Where finished spans go (`OTEL_TRACES_EXPORTER`).
    pub enum TracesExporter in "traces_exporter" {
        /// The Jaeger agent protocol: thrift compact over UDP (the original transport).
        Jaeger = "jaeger",
        /// OTLP over gRPC or HTTP/protobuf (what Jaeger v2 and collectors ingest natively).
        Otlp = "otlp",
        /// Human-readable spans on stdout.
        Console = "console",
        /// Spans are created and propagated but not exported.
        None = "none",
    }
}

choice_enum! {
    /// A trace header format (`OTEL_PROPAGATORS`); see [`crate::propagation`].
    pub enum PropagatorKind in "propagators" {
        /// W3C `traceparent` / `tracestate`.
        TraceContext = "tracecontext",
        /// W3C `baggage`.
        Baggage = "baggage",
        /// Jaeger `uber-trace-id` and `uberctx-*` baggage.
        Jaeger = "jaeger",
        /// Zipkin B3, single `b3` header (both encodings are read).
        B3 = "b3",
        /// Zipkin B3, `X-B3-*` headers (both encodings are read).
        B3Multi = "b3multi",
        /// No propagation; only valid alone.
        None = "none",
    }
}

choice_enum! {
    /// The OTLP transport (`OTEL_EXPORTER_OTLP_PROTOCOL`).
    pub enum OtlpProtocol in "otlp_protocol" {
        /// gRPC, port 4317 by default.
        Grpc = "grpc",
        /// HTTP with protobuf bodies, port 4318 by default.
        HttpProtobuf = "http/protobuf",
    }
}

choice_enum! {
    /// The sampler (`OTEL_TRACES_SAMPLER`), as the OpenTelemetry specification names them.
    pub enum SamplerKind in "sampler" {
        /// Sample every trace.
        AlwaysOn = "always_on",
        /// Sample nothing.
        AlwaysOff = "always_off",
        /// Sample a ratio of traces (`sampler_arg`, default 1.0) by trace id.
        TraceIdRatio = "traceidratio",
        /// Follow the parent's decision; sample every root.
        ParentBasedAlwaysOn = "parentbased_always_on",
        /// Follow the parent's decision; sample no root.
        ParentBasedAlwaysOff = "parentbased_always_off",
        /// Follow the parent's decision; sample a ratio of roots.
        ParentBasedTraceIdRatio = "parentbased_traceidratio",
    }
}

choice_enum! {
    /// What to do with an inbound trace context's sampling decision. At the edge of a system,
    /// inbound headers come from clients nobody controls.
    pub enum InboundTrace in "inbound_trace" {
        /// Continue the caller's trace and honour its sampled flag (the default).
        Accept = "accept",
        /// Continue the caller's trace id and parent, but decide sampling locally.
        IgnoreSampledFlag = "ignore_sampled_flag",
        /// Start a new trace; the caller's span becomes a link.
        Restart = "restart",
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
    /// A configuration file that cannot be read or parsed (unknown keys included: the reason
    /// names them).
    #[error("{path}: {reason}")]
    File {
        /// The file, as given.
        path: String,
        /// What went wrong, with the line where the parser knows it.
        reason: String,
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
    /// The trace header formats read and written. Environment: `OTEL_PROPAGATORS`.
    pub propagators: Vec<PropagatorKind>,
    /// Trust in inbound sampling decisions. Environment: `OCTOPUS_INBOUND_TRACE`.
    pub inbound_trace: InboundTrace,
    /// Whether responses carry the W3C `traceresponse` header with the server span's ids.
    /// Environment: `OCTOPUS_TRACE_RESPONSE` (`on`/`off`).
    pub trace_response: bool,
    /// Batch span processor: delay between exports, ms, above 0; `None` is
    /// [`DEFAULT_BSP_SCHEDULE_DELAY_MS`]. Environment: `OTEL_BSP_SCHEDULE_DELAY`.
    ///
    /// The three `bsp_*` values are the only batch settings used: the SDK's own reading of
    /// `OTEL_BSP_*` is overridden, so every value passes [`validate`](Self::validate) first.
    /// `OTEL_BSP_EXPORT_TIMEOUT` and `OTEL_BSP_MAX_CONCURRENT_EXPORTS` are not read: the SDK's
    /// thread-based processor ignores both (OTLP exports are bounded by `otlp_timeout_ms`).
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
            metrics: MetricKind::ALL.to_vec(),
            metrics_prefix: None,
            latency_buckets: DEFAULT_LATENCY_BUCKETS.to_vec(),
            metrics_path: "/metrics".into(),
            unmatched_route_label: String::new(),
            excluded_paths: vec!["/metrics".into(), "/health".into()],
            metrics_address: None,
            metrics_bearer_token: None,
            service_version: None,
            resource_attributes: BTreeMap::new(),
            tracing_enabled: true,
            traces_exporter: TracesExporter::Jaeger,
            jaeger_host: "localhost".into(),
            jaeger_port: 6831,
            jaeger_max_packet_size: 65_000,
            otlp_endpoint: None,
            otlp_protocol: OtlpProtocol::Grpc,
            otlp_headers: BTreeMap::new(),
            otlp_certificate: None,
            otlp_client_certificate: None,
            otlp_client_key: None,
            otlp_timeout_ms: 10_000,
            sampler: SamplerKind::ParentBasedAlwaysOn,
            sampler_arg: None,
            propagators: PropagatorKind::DEFAULT.to_vec(),
            inbound_trace: InboundTrace::Accept,
            trace_response: false,
            bsp_schedule_delay_ms: None,
            bsp_max_queue_size: None,
            bsp_max_export_batch_size: None,
            shutdown_timeout_ms: 5_000,
        }
    }
}

/// The environment variables [`OctopusConfig::apply_env`] reads.
pub const ENV_VARS: [&str; 33] = [
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OCTOPUS_METRICS",
    "OCTOPUS_METRICS_ADDR",
    "OCTOPUS_METRICS_TOKEN",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_JAEGER_AGENT_HOST",
    "OTEL_EXPORTER_JAEGER_AGENT_PORT",
    "OCTOPUS_JAEGER_MAX_PACKET_SIZE",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_PROPAGATORS",
    "OCTOPUS_INBOUND_TRACE",
    "OCTOPUS_TRACE_RESPONSE",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OCTOPUS_SHUTDOWN_TIMEOUT",
];

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

    /// The configuration from the process environment: the file named by `OCTOPUS_CONFIG` if
    /// set (else the defaults), then the environment variables on top (see
    /// [`load`](Self::load)).
    pub fn from_env() -> Result<Self, ConfigError> {
        OctopusConfig::load(|name| std::env::var(name).ok())
    }

    /// `base`, or the file named by `OCTOPUS_CONFIG` when that variable is set, then every
    /// other variable of [`apply_env`](Self::apply_env) on top: the environment overrides the
    /// file, as operators expect when one value differs per deployment.
    ///
    /// ```
    /// use octopus_core::OctopusConfig;
    ///
    /// let config = OctopusConfig::load_over(OctopusConfig::default(), |name| match name {
    ///     "OTEL_SERVICE_NAME" => Some("checkout".into()),
    ///     _ => None,
    /// })?;
    /// assert_eq!(config.service_name, "checkout");
    /// # Ok::<(), octopus_core::ConfigError>(())
    /// ```
    pub fn load_over(
        base: OctopusConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut config = match lookup(CONFIG_FILE_VAR) {
            Some(path) if !path.trim().is_empty() => OctopusConfig::from_file(path.trim())?,
            Some(path) => {
                return Err(ConfigError::invalid(
                    CONFIG_FILE_VAR,
                    path,
                    "the path of a .toml, .yaml or .yml file",
                ));
            }
            None => base,
        };
        config.apply_env(lookup)?;
        config.validate()?;
        Ok(config)
    }

    /// [`load_over`](Self::load_over) the defaults.
    pub fn load(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        OctopusConfig::load_over(OctopusConfig::default(), lookup)
    }

    /// Reads a TOML (`.toml`) or YAML (`.yaml`, `.yml`) file. Keys left out keep their
    /// defaults; an unknown key, a value of the wrong type or an invalid value is an error
    /// naming the file, the key and what is accepted. `deploy/octopus.toml` in the repository
    /// lists every key with its default.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => ConfigFormat::Toml,
            Some("yaml" | "yml") => ConfigFormat::Yaml,
            _ => {
                return Err(ConfigError::invalid(
                    CONFIG_FILE_VAR,
                    shown,
                    "the path of a .toml, .yaml or .yml file",
                ));
            }
        };
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::File {
            path: shown.clone(),
            reason: error.to_string(),
        })?;
        let config = format.parse(&text).map_err(|reason| ConfigError::File {
            path: shown.clone(),
            reason,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text (see [`from_file`](Self::from_file)); the error is the parser's,
    /// with the line.
    pub fn from_toml_str(text: &str) -> Result<Self, String> {
        ConfigFormat::Toml.parse(text)
    }

    /// Parses YAML text (see [`from_file`](Self::from_file)); the error is the parser's,
    /// with the line.
    pub fn from_yaml_str(text: &str) -> Result<Self, String> {
        ConfigFormat::Yaml.parse(text)
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
        let env = |var: &str| lookup(var).map(|value| (var.to_string(), value));
        if let Some((var, value)) = env("OCTOPUS_METRICS_ADDR") {
            check_socket_address(&var, &value)?;
            self.metrics_address = Some(value);
        }
        if let Some((var, value)) = env("OCTOPUS_METRICS_TOKEN") {
            check_bearer_token(&var, &value)?;
            self.metrics_bearer_token = Some(Secret(value));
        }
        if let Some((var, value)) = env("OTEL_RESOURCE_ATTRIBUTES") {
            for (key, value) in parse_key_values(&var, &value, false)? {
                self.resource_attributes.insert(key, value);
            }
        }
        if let Some((var, value)) = env("OTEL_SDK_DISABLED") {
            self.tracing_enabled = !parse_bool(&var, &value, "true", "false")?;
        }
        if let Some((var, value)) = env("OTEL_TRACES_EXPORTER") {
            self.traces_exporter = value
                .trim()
                .parse()
                .map_err(|e: ConfigError| e.in_field(&var))?;
        }
        if let Some((_, value)) = env("OTEL_EXPORTER_JAEGER_AGENT_HOST") {
            self.jaeger_host = value;
        }
        if let Some((var, value)) = env("OTEL_EXPORTER_JAEGER_AGENT_PORT") {
            self.jaeger_port = parse_number(&var, &value, PORT_EXPECTED)?;
            if self.jaeger_port == 0 {
                return Err(ConfigError::invalid(&var, value, PORT_EXPECTED));
            }
        }
        if let Some((var, value)) = env("OCTOPUS_JAEGER_MAX_PACKET_SIZE") {
            self.jaeger_max_packet_size = parse_number(&var, &value, PACKET_SIZE_EXPECTED)?;
            check_packet_size(&var, self.jaeger_max_packet_size)?;
        }
        if let Some((var, value)) =
            env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
        {
            self.otlp_protocol = value
                .trim()
                .parse()
                .map_err(|e: ConfigError| e.in_field(&var))?;
        }
        if let Some((_, value)) = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            self.otlp_endpoint = Some(value);
        } else if let Some((_, value)) = env("OTEL_EXPORTER_OTLP_ENDPOINT") {
            // The generic variable is a base URL: over HTTP each signal appends its own path.
            self.otlp_endpoint = Some(match self.otlp_protocol {
                OtlpProtocol::Grpc => value,
                OtlpProtocol::HttpProtobuf => format!("{}/v1/traces", value.trim_end_matches('/')),
            });
        }
        if let Some((var, value)) =
            env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT").or_else(|| env("OTEL_EXPORTER_OTLP_TIMEOUT"))
        {
            self.otlp_timeout_ms = parse_number(&var, &value, "milliseconds, a whole number")?;
        }
        // The signal-specific variables win over the generic ones, as the OTLP exporter
        // specification says.
        if let Some((var, value)) =
            env("OTEL_EXPORTER_OTLP_TRACES_HEADERS").or_else(|| env("OTEL_EXPORTER_OTLP_HEADERS"))
        {
            let headers = parse_key_values(&var, &value, true)?;
            for (name, value) in &headers {
                check_otlp_header(&var, name, value)?;
            }
            self.otlp_headers = headers
                .into_iter()
                .map(|(name, value)| (name, Secret(value)))
                .collect();
        }
        for (field, specific, generic) in [
            (
                &mut self.otlp_certificate,
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
            ),
            (
                &mut self.otlp_client_certificate,
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            ),
            (
                &mut self.otlp_client_key,
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
                "OTEL_EXPORTER_OTLP_CLIENT_KEY",
            ),
        ] {
            if let Some((var, path)) = env(specific).or_else(|| env(generic)) {
                check_file_path(&var, &path)?;
                *field = Some(path);
            }
        }
        if let Some((var, value)) = env("OTEL_TRACES_SAMPLER") {
            self.sampler = value
                .trim()
                .parse()
                .map_err(|e: ConfigError| e.in_field(&var))?;
        }
        if let Some((var, value)) = env("OTEL_TRACES_SAMPLER_ARG") {
            let ratio = parse_number(&var, &value, RATIO_EXPECTED)?;
            check_ratio(&var, ratio)?;
            self.sampler_arg = Some(ratio);
        }
        if let Some((var, value)) = env("OTEL_PROPAGATORS") {
            self.propagators = PropagatorKind::parse_list(&value).map_err(|e| e.in_field(&var))?;
        }
        if let Some((var, value)) = env("OCTOPUS_INBOUND_TRACE") {
            self.inbound_trace = value
                .trim()
                .parse()
                .map_err(|e: ConfigError| e.in_field(&var))?;
        }
        if let Some((var, value)) = env("OCTOPUS_TRACE_RESPONSE") {
            self.trace_response = parse_bool(&var, &value, "on", "off")?;
        }
        let ms = "milliseconds, a whole number";
        if let Some((var, value)) = env("OTEL_BSP_SCHEDULE_DELAY") {
            self.bsp_schedule_delay_ms = Some(parse_positive(&var, &value, DELAY_EXPECTED)?);
        }
        if let Some((var, value)) = env("OTEL_BSP_MAX_QUEUE_SIZE") {
            self.bsp_max_queue_size = Some(parse_positive(&var, &value, ABOVE_ZERO)?);
        }
        if let Some((var, value)) = env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
            self.bsp_max_export_batch_size = Some(parse_positive(&var, &value, ABOVE_ZERO)?);
        }
        if let Some((var, value)) = env("OCTOPUS_SHUTDOWN_TIMEOUT") {
            self.shutdown_timeout_ms = parse_number(&var, &value, ms)?;
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
        if let Some(prefix) = &self.metrics_prefix
            && !is_metric_name(prefix)
        {
            return Err(ConfigError::invalid(
                "metrics_prefix",
                prefix,
                "a Prometheus metric name: a letter, '_' or ':' followed by letters, digits, '_' or ':'",
            ));
        }
        check_buckets(&self.latency_buckets)?;
        check_path("metrics_path", &self.metrics_path)?;
        for path in &self.excluded_paths {
            check_path("excluded_paths", path)?;
        }
        if let Some(address) = &self.metrics_address {
            check_socket_address("metrics_address", address)?;
        }
        if let Some(token) = &self.metrics_bearer_token {
            check_bearer_token("metrics_bearer_token", token.expose())?;
        }
        if self.jaeger_host.trim().is_empty() {
            return Err(ConfigError::invalid(
                "jaeger_host",
                &self.jaeger_host,
                "a host name or IP address",
            ));
        }
        if self.jaeger_port == 0 {
            return Err(ConfigError::invalid("jaeger_port", 0, PORT_EXPECTED));
        }
        check_packet_size("jaeger_max_packet_size", self.jaeger_max_packet_size)?;
        if let Some(endpoint) = &self.otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(ConfigError::invalid(
                "otlp_endpoint",
                endpoint,
                "an http:// or https:// URL",
            ));
        }
        self.validate_otlp_and_resource()?;
        if let Some(ratio) = self.sampler_arg {
            check_ratio("sampler_arg", ratio)?;
        }
        self.check_batch_settings()?;
        Ok(())
    }

    /// The batch settings: a delay of 0 makes the export thread spin on a core, a queue of 0
    /// drops every span, and a batch larger than the queue would be cut down silently.
    fn check_batch_settings(&self) -> Result<(), ConfigError> {
        if self.bsp_schedule_delay_ms == Some(0) {
            return Err(ConfigError::invalid(
                "bsp_schedule_delay_ms",
                0,
                DELAY_EXPECTED,
            ));
        }
        for (field, value) in [
            ("bsp_max_queue_size", self.bsp_max_queue_size),
            ("bsp_max_export_batch_size", self.bsp_max_export_batch_size),
        ] {
            if value == Some(0) {
                return Err(ConfigError::invalid(field, 0, ABOVE_ZERO));
            }
        }
        let (queue, batch) = (self.bsp_queue_capacity(), self.bsp_export_batch_size());
        if batch > queue {
            return Err(ConfigError::invalid(
                "bsp_max_export_batch_size",
                batch,
                &format!("a whole number from 1 to bsp_max_queue_size ({queue})"),
            ));
        }
        Ok(())
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

    /// The OTLP headers, TLS files and resource attributes (apart from `validate`'s other
    /// checks, which others extend).
    fn validate_otlp_and_resource(&self) -> Result<(), ConfigError> {
        for (name, value) in &self.otlp_headers {
            check_otlp_header("otlp_headers", name, value.expose())?;
        }
        for (field, path) in [
            ("otlp_certificate", &self.otlp_certificate),
            ("otlp_client_certificate", &self.otlp_client_certificate),
            ("otlp_client_key", &self.otlp_client_key),
        ] {
            if let Some(path) = path {
                check_file_path(field, path)?;
            }
        }
        match (&self.otlp_client_certificate, &self.otlp_client_key) {
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "otlp_client_key",
                    "",
                    "the client key's PEM file, since otlp_client_certificate is set",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "otlp_client_certificate",
                    "",
                    "the client certificate's PEM file, since otlp_client_key is set",
                ));
            }
            _ => {}
        }
        if let Some(version) = &self.service_version
            && version.trim().is_empty()
        {
            return Err(ConfigError::invalid(
                "service_version",
                version,
                "a non-empty version",
            ));
        }
        if let Some(key) = self
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

/// The environment variable naming a configuration file (see [`OctopusConfig::load`]).
pub const CONFIG_FILE_VAR: &str = "OCTOPUS_CONFIG";

#[derive(Clone, Copy)]
enum ConfigFormat {
    Toml,
    Yaml,
}

impl ConfigFormat {
    fn parse(self, text: &str) -> Result<OctopusConfig, String> {
        match self {
            // Both parsers' messages carry the key (`unknown field `x`, expected one of ...`)
            // and the position; they are kept as they are, one line.
            ConfigFormat::Toml => {
                toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))
            }
            ConfigFormat::Yaml => serde_norway::from_str(text).map_err(|e| e.to_string()),
        }
    }
}

const PORT_EXPECTED: &str = "a port number, 1 to 65535";
const PACKET_SIZE_EXPECTED: &str = "a number of bytes from 512 to 65000";
const RATIO_EXPECTED: &str = "a number from 0.0 to 1.0";
const DELAY_EXPECTED: &str = "milliseconds, a whole number above 0";
const ABOVE_ZERO: &str = "a whole number above 0";

fn parse_number<T: FromStr>(field: &str, value: &str, expected: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| ConfigError::invalid(field, value, expected))
}

/// A whole number above 0.
fn parse_positive<T: FromStr + Default + PartialEq>(
    field: &str,
    value: &str,
    expected: &str,
) -> Result<T, ConfigError> {
    let number: T = parse_number(field, value, expected)?;
    if number == T::default() {
        return Err(ConfigError::invalid(field, value, expected));
    }
    Ok(number)
}

fn parse_bool(field: &str, value: &str, yes: &str, no: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        v if v.eq_ignore_ascii_case(yes) => Ok(true),
        v if v.eq_ignore_ascii_case(no) => Ok(false),
        _ => Err(ConfigError::invalid(
            field,
            value,
            &format!("one of {yes}, {no}"),
        )),
    }
}

fn check_packet_size(field: &str, size: usize) -> Result<(), ConfigError> {
    if !(512..=65_000).contains(&size) {
        return Err(ConfigError::invalid(field, size, PACKET_SIZE_EXPECTED));
    }
    Ok(())
}

fn check_ratio(field: &str, ratio: f64) -> Result<(), ConfigError> {
    if !(0.0..=1.0).contains(&ratio) {
        return Err(ConfigError::invalid(field, ratio, RATIO_EXPECTED));
    }
    Ok(())
}

fn check_socket_address(field: &str, address: &str) -> Result<(), ConfigError> {
    match address.trim().parse::<std::net::SocketAddr>() {
        Ok(_) => Ok(()),
        Err(_) => Err(ConfigError::invalid(
            field,
            address,
            "IP:PORT, e.g. 0.0.0.0:9464",
        )),
    }
}

/// RFC 6750's `b64token` characters, so the token fits an `Authorization` header as it is.
fn check_bearer_token(field: &str, token: &str) -> Result<(), ConfigError> {
    let valid = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            "(hidden)",
            "a non-empty token of letters, digits and -._~+/=",
        ))
    }
}

/// `k=v,k2=v2` as `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS` spell them (W3C
/// baggage without properties): keys and values trimmed, values percent-decoded, empty members
/// skipped. A malformed pair is an error naming it — unless the values are `secret`, when it
/// only says which pair.
fn parse_key_values(
    field: &str,
    text: &str,
    secret: bool,
) -> Result<Vec<(String, String)>, ConfigError> {
    const EXPECTED: &str = "comma-separated key=value pairs, values percent-encoded";
    let mut pairs = Vec::new();
    for (index, member) in text.split(',').map(str::trim).enumerate() {
        if member.is_empty() {
            continue;
        }
        let parsed = member.split_once('=').and_then(|(key, value)| {
            let key = key.trim();
            let value = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8()
                .ok()?;
            (!key.is_empty()).then(|| (key.to_owned(), value.into_owned()))
        });
        match parsed {
            Some(pair) => pairs.push(pair),
            None if secret => {
                return Err(ConfigError::invalid(
                    field,
                    "(hidden)",
                    &format!("{EXPECTED}; pair {} is not one", index + 1),
                ));
            }
            None => return Err(ConfigError::invalid(field, member, EXPECTED)),
        }
    }
    Ok(pairs)
}

/// A header the OTLP exporters can send (over HTTP and as gRPC metadata). The value is a
/// secret: errors name the header, never its value.
fn check_otlp_header(field: &str, name: &str, value: &str) -> Result<(), ConfigError> {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(ConfigError::invalid(
            field,
            name,
            "header names of letters, digits and !#$%&'*+-.^_`|~",
        ));
    }
    if http::HeaderValue::from_str(value).is_err() {
        return Err(ConfigError::invalid(
            field,
            "(hidden)",
            &format!("a value of visible ASCII characters for header {name}"),
        ));
    }
    Ok(())
}

fn check_file_path(field: &str, path: &str) -> Result<(), ConfigError> {
    if path.trim().is_empty() {
        return Err(ConfigError::invalid(field, path, "the path of a PEM file"));
    }
    Ok(())
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

    #[test]
    fn tracing_settings_come_from_the_standard_variables() {
        let mut config = OctopusConfig::default();
        config
            .apply_env(env(&[
                ("OTEL_TRACES_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
                ("OTEL_PROPAGATORS", "b3multi,tracecontext"),
                ("OCTOPUS_INBOUND_TRACE", "restart"),
                ("OCTOPUS_TRACE_RESPONSE", "on"),
                ("OTEL_BSP_SCHEDULE_DELAY", "250"),
                ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
                ("OTEL_EXPORTER_JAEGER_AGENT_HOST", "agent"),
                ("OTEL_EXPORTER_JAEGER_AGENT_PORT", "6832"),
                ("OCTOPUS_JAEGER_MAX_PACKET_SIZE", "1400"),
            ]))
            .unwrap();
        assert_eq!(config.traces_exporter, TracesExporter::Otlp);
        assert_eq!(config.otlp_protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(
            config.otlp_traces_endpoint(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(config.otlp_timeout_ms, 2_500);
        assert_eq!(config.sampler, SamplerKind::ParentBasedTraceIdRatio);
        assert_eq!(config.sampler_arg, Some(0.25));
        assert_eq!(
            config.propagators,
            [PropagatorKind::B3Multi, PropagatorKind::TraceContext]
        );
        assert_eq!(config.inbound_trace, InboundTrace::Restart);
        assert!(config.trace_response);
        assert_eq!(config.bsp_schedule_delay_ms, Some(250));
        assert_eq!(config.bsp_max_queue_size, Some(4_096));
        assert_eq!(
            (config.jaeger_host.as_str(), config.jaeger_port),
            ("agent", 6832)
        );
        assert_eq!(config.jaeger_max_packet_size, 1_400);
        config.validate().unwrap();

        // The signal-specific variable wins and is used as given.
        let mut config = OctopusConfig::default();
        config
            .apply_env(env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4317"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:4317"),
                ("OTEL_SDK_DISABLED", "true"),
            ]))
            .unwrap();
        assert_eq!(config.otlp_traces_endpoint(), "http://b:4317");
        assert!(!config.tracing_enabled);
        assert_eq!(
            OctopusConfig::default().otlp_traces_endpoint(),
            "http://localhost:4317"
        );
    }

    #[test]
    fn bad_tracing_variables_name_variable_value_and_choices() {
        let bad = |var: &str, value: &str| {
            let mut config = OctopusConfig::default();
            config
                .apply_env(env(&[(var, value)]))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            bad("OTEL_TRACES_EXPORTER", "zipkin"),
            r#"OTEL_TRACES_EXPORTER: invalid value "zipkin"; expected one of jaeger, otlp, console, none"#
        );
        assert_eq!(
            bad("OTEL_TRACES_SAMPLER", "sometimes"),
            r#"OTEL_TRACES_SAMPLER: invalid value "sometimes"; expected one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio"#
        );
        assert_eq!(
            bad("OTEL_TRACES_SAMPLER_ARG", "1.5"),
            r#"OTEL_TRACES_SAMPLER_ARG: invalid value "1.5"; expected a number from 0.0 to 1.0"#
        );
        assert_eq!(
            bad("OTEL_TRACES_SAMPLER_ARG", "half"),
            r#"OTEL_TRACES_SAMPLER_ARG: invalid value "half"; expected a number from 0.0 to 1.0"#
        );
        assert_eq!(
            bad("OTEL_EXPORTER_JAEGER_AGENT_PORT", "0"),
            r#"OTEL_EXPORTER_JAEGER_AGENT_PORT: invalid value "0"; expected a port number, 1 to 65535"#
        );
        assert_eq!(
            bad("OTEL_EXPORTER_JAEGER_AGENT_PORT", "70000"),
            r#"OTEL_EXPORTER_JAEGER_AGENT_PORT: invalid value "70000"; expected a port number, 1 to 65535"#
        );
        assert_eq!(
            bad("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            r#"OTEL_EXPORTER_OTLP_PROTOCOL: invalid value "http/json"; expected one of grpc, http/protobuf"#
        );
        assert_eq!(
            bad("OTEL_PROPAGATORS", "tracecontext,xray"),
            r#"OTEL_PROPAGATORS: invalid value "xray"; expected one of tracecontext, baggage, jaeger, b3, b3multi, none"#
        );
        assert_eq!(
            bad("OCTOPUS_INBOUND_TRACE", "trust"),
            r#"OCTOPUS_INBOUND_TRACE: invalid value "trust"; expected one of accept, ignore_sampled_flag, restart"#
        );
        assert_eq!(
            bad("OCTOPUS_TRACE_RESPONSE", "yes"),
            r#"OCTOPUS_TRACE_RESPONSE: invalid value "yes"; expected one of on, off"#
        );
        assert_eq!(
            bad("OCTOPUS_JAEGER_MAX_PACKET_SIZE", "100000"),
            r#"OCTOPUS_JAEGER_MAX_PACKET_SIZE: invalid value "100000"; expected a number of bytes from 512 to 65000"#
        );
        assert_eq!(
            bad("OTEL_SDK_DISABLED", "maybe"),
            r#"OTEL_SDK_DISABLED: invalid value "maybe"; expected one of true, false"#
        );
        assert!(bad("OTEL_BSP_MAX_QUEUE_SIZE", "-1").starts_with("OTEL_BSP_MAX_QUEUE_SIZE: "));
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

    #[test]
    fn bad_batch_variables_name_the_variable() {
        let bad = |pairs: &[(&str, &str)]| OctopusConfig::load(env(pairs)).unwrap_err().to_string();
        assert_eq!(
            bad(&[("OTEL_BSP_SCHEDULE_DELAY", "0")]),
            r#"OTEL_BSP_SCHEDULE_DELAY: invalid value "0"; expected milliseconds, a whole number above 0"#
        );
        assert_eq!(
            bad(&[("OTEL_BSP_SCHEDULE_DELAY", "-5")]),
            r#"OTEL_BSP_SCHEDULE_DELAY: invalid value "-5"; expected milliseconds, a whole number above 0"#
        );
        assert_eq!(
            bad(&[("OTEL_BSP_MAX_QUEUE_SIZE", "0")]),
            r#"OTEL_BSP_MAX_QUEUE_SIZE: invalid value "0"; expected a whole number above 0"#
        );
        assert_eq!(
            bad(&[("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0")]),
            r#"OTEL_BSP_MAX_EXPORT_BATCH_SIZE: invalid value "0"; expected a whole number above 0"#
        );
        assert_eq!(
            bad(&[
                ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
                ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "128"),
            ]),
            r#"bsp_max_export_batch_size: invalid value "128"; expected a whole number from 1 to bsp_max_queue_size (64)"#
        );
        let config = OctopusConfig::load(env(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "250"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64"),
        ]))
        .unwrap();
        assert_eq!(
            (
                config.bsp_schedule_delay_ms,
                config.bsp_max_queue_size,
                config.bsp_max_export_batch_size
            ),
            (Some(250), Some(64), Some(64))
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
    fn tracing_fields_load_from_files_and_are_validated() {
        let config: OctopusConfig = toml::from_str(
            r#"
            service_name = "users"
            traces_exporter = "otlp"
            otlp_protocol = "grpc"
            otlp_endpoint = "http://collector:4317"
            sampler = "traceidratio"
            sampler_arg = 0.1
            propagators = ["tracecontext", "b3"]
            inbound_trace = "ignore_sampled_flag"
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(
            config.propagators,
            [PropagatorKind::TraceContext, PropagatorKind::B3]
        );
        let err = toml::from_str::<OctopusConfig>("traces_exporter = \"zipkin\"").unwrap_err();
        assert!(err.to_string().contains(
            r#"traces_exporter: invalid value "zipkin"; expected one of jaeger, otlp, console, none"#
        ), "{err}");
        let bad = OctopusConfig {
            otlp_endpoint: Some("collector:4317".into()),
            ..OctopusConfig::default()
        };
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            r#"otlp_endpoint: invalid value "collector:4317"; expected an http:// or https:// URL"#
        );
        assert!(OctopusConfig::jaeger("", 6831, "x").is_err());
    }

    #[test]
    fn resource_attributes_come_from_the_variable_percent_decoded_and_merge_with_the_file() {
        let mut config: OctopusConfig = toml::from_str(
            r#"
            service_version = "1.2.3"
            [resource_attributes]
            "deployment.environment.name" = "prod"
            team = "payments"
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        config
            .apply_env(env(&[(
                "OTEL_RESOURCE_ATTRIBUTES",
                " deployment.environment.name = staging ,k8s.pod.name=web%2C1%3Dx,",
            )]))
            .unwrap();
        let attributes: Vec<(&str, &str)> = config
            .resource_attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            attributes,
            [
                ("deployment.environment.name", "staging"),
                ("k8s.pod.name", "web,1=x"),
                ("team", "payments"),
            ]
        );
        assert_eq!(config.service_version.as_deref(), Some("1.2.3"));
    }

    #[test]
    fn a_malformed_resource_attribute_names_the_pair() {
        let bad = |value: &str| {
            let mut config = OctopusConfig::default();
            config
                .apply_env(env(&[("OTEL_RESOURCE_ATTRIBUTES", value)]))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            bad("team=payments,region"),
            r#"OTEL_RESOURCE_ATTRIBUTES: invalid value "region"; expected comma-separated key=value pairs, values percent-encoded"#
        );
        assert_eq!(
            bad("=x"),
            r#"OTEL_RESOURCE_ATTRIBUTES: invalid value "=x"; expected comma-separated key=value pairs, values percent-encoded"#
        );
        assert_eq!(
            bad("a=%FF"),
            r#"OTEL_RESOURCE_ATTRIBUTES: invalid value "a=%FF"; expected comma-separated key=value pairs, values percent-encoded"#
        );
        let config = OctopusConfig {
            service_version: Some(" ".into()),
            ..OctopusConfig::default()
        };
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            r#"service_version: invalid value " "; expected a non-empty version"#
        );
    }

    #[test]
    fn otlp_headers_and_tls_files_come_from_the_standard_variables() {
        let mut config = OctopusConfig::default();
        config
            .apply_env(env(&[
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-generic=1"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                    "x-api-key = s3cret%3D%3D , x-tenant=acme",
                ),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem"),
                ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/etc/generic.pem"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                    "/etc/client.pem",
                ),
                ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "/etc/client.key"),
            ]))
            .unwrap();
        config.validate().unwrap();
        let headers: Vec<(&str, &str)> = config
            .otlp_headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        // The signal-specific variable replaces the generic one whole.
        assert_eq!(headers, [("x-api-key", "s3cret=="), ("x-tenant", "acme")]);
        assert_eq!(config.otlp_certificate.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(
            config.otlp_client_certificate.as_deref(),
            Some("/etc/client.pem")
        );
        assert_eq!(config.otlp_client_key.as_deref(), Some("/etc/client.key"));
    }

    #[test]
    fn bad_otlp_headers_name_the_variable_but_never_the_value() {
        let bad = |var: &str, value: &str| {
            let mut config = OctopusConfig::default();
            let error = config
                .apply_env(env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(!error.contains("s3cret"), "{error}");
            error
        };
        assert_eq!(
            bad(
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-api-key=s3cret,s3cret-no-equals"
            ),
            r#"OTEL_EXPORTER_OTLP_HEADERS: invalid value "(hidden)"; expected comma-separated key=value pairs, values percent-encoded; pair 2 is not one"#
        );
        assert_eq!(
            bad("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-api-key=s3cret%0A"),
            r#"OTEL_EXPORTER_OTLP_TRACES_HEADERS: invalid value "(hidden)"; expected a value of visible ASCII characters for header x-api-key"#
        );
        assert_eq!(
            bad("OTEL_EXPORTER_OTLP_HEADERS", "x api key=s3cret"),
            r#"OTEL_EXPORTER_OTLP_HEADERS: invalid value "x api key"; expected header names of letters, digits and !#$%&'*+-.^_`|~"#
        );
        let config = OctopusConfig {
            otlp_headers: [("x-api-key".to_owned(), Secret::from("s3cret\n"))].into(),
            ..OctopusConfig::default()
        };
        let error = config.validate().unwrap_err().to_string();
        assert_eq!(
            error,
            r#"otlp_headers: invalid value "(hidden)"; expected a value of visible ASCII characters for header x-api-key"#
        );
        let config = OctopusConfig {
            otlp_client_key: Some("/etc/client.key".into()),
            ..OctopusConfig::default()
        };
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            r#"otlp_client_certificate: invalid value ""; expected the client certificate's PEM file, since otlp_client_key is set"#
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
