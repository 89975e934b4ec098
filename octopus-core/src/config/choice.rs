//! The settings chosen by name: one macro declares each enum, so every one parses, prints,
//! serialises and reports a bad name the same way.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Declares a configuration enum selected by name: `ALL`, `name()`, `FromStr` whose error names
/// the field, the value and every valid name, and serde through those names.
///
/// `unknown = Variant` picks the [`ConfigError`] variant of a bad name (it must have the
/// fields `field` and `value`); without it the error is [`ConfigError::InvalidValue`] listing
/// the choices.
macro_rules! choice_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident in $field:literal $(, unknown = $error:ident)? {
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
            /// Every choice, in the order they are listed in error messages.
            pub const ALL: [$name; choice_enum!(@count $($variant)+)] = [$($name::$variant,)+];

            /// The name used in configuration files and environment variables.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Every name, comma-separated, for error messages.
            pub(crate) fn choices() -> String {
                $name::ALL.map($name::name).join(", ")
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
                    .into_iter()
                    .find(|choice| choice.name() == value)
                    .ok_or_else(|| choice_enum!(@error $name, $field, value $(, $error)?))
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
    (@count $($variant:ident)+) => { 0 $(+ choice_enum!(@one $variant))+ };
    (@one $variant:ident) => { 1 };
    (@error $name:ident, $field:literal, $value:ident) => {
        ConfigError::InvalidValue {
            field: $field.into(),
            value: $value.into(),
            expected: format!("one of {}", $name::choices()),
        }
    };
    (@error $name:ident, $field:literal, $value:ident, $error:ident) => {
        ConfigError::$error {
            field: $field.into(),
            value: $value.into(),
        }
    };
}

choice_enum! {
    /// A metric collector, selected by the name the original library used.
    ///
    /// | name | metric | type |
    /// |---|---|---|
    /// | `latency` | `http_server_request_duration_seconds` | histogram |
    /// | `request_count` | `http_server_requests_total` | counter |
    /// | `processing_requests` | `http_server_active_requests` | gauge |
    /// | `request_size` | `http_server_request_body_size_bytes` | histogram (off by default) |
    /// | `response_size` | `http_server_response_body_size_bytes` | histogram (off by default) |
    ///
    /// [`ALL`](MetricKind::ALL) lists them in the order the original library did, then the
    /// body sizes; [`DEFAULT`](MetricKind::DEFAULT) is the original three, on when no list is
    /// configured.
    ///
    /// ```
    /// use octopus_core::MetricKind;
    ///
    /// assert_eq!("latency".parse::<MetricKind>(), Ok(MetricKind::Latency));
    /// assert_eq!(
    ///     "latncy".parse::<MetricKind>().unwrap_err().to_string(),
    ///     r#"metrics: unknown metric "latncy"; expected one of latency, request_count, processing_requests, request_size, response_size"#,
    /// );
    /// ```
    pub enum MetricKind in "metrics", unknown = UnknownMetric {
        /// `latency`: the request duration histogram.
        Latency = "latency",
        /// `request_count`: the request counter.
        RequestCount = "request_count",
        /// `processing_requests`: the in-flight gauge.
        ProcessingRequests = "processing_requests",
        /// `request_size`: the request body size histogram, bytes.
        RequestSize = "request_size",
        /// `response_size`: the response body size histogram, bytes.
        ResponseSize = "response_size",
    }
}

impl MetricKind {
    /// The collectors on when no list is configured: the original library's three. The body
    /// sizes are off by default: each costs a histogram series per route, method and status.
    pub const DEFAULT: [MetricKind; 3] = [
        MetricKind::Latency,
        MetricKind::RequestCount,
        MetricKind::ProcessingRequests,
    ];

    /// The Prometheus metric name, before any prefix.
    pub const fn metric_name(self) -> &'static str {
        match self {
            MetricKind::Latency => "http_server_request_duration_seconds",
            MetricKind::RequestCount => "http_server_requests_total",
            MetricKind::ProcessingRequests => "http_server_active_requests",
            MetricKind::RequestSize => "http_server_request_body_size_bytes",
            MetricKind::ResponseSize => "http_server_response_body_size_bytes",
        }
    }
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
        /// The strategy a Jaeger agent or collector serves for the service
        /// (`jaeger_remote_sampling`).
        JaegerRemote = "jaeger_remote",
        /// Follow the parent's decision; sample roots as the Jaeger strategy says.
        ParentBasedJaegerRemote = "parentbased_jaeger_remote",
    }
}

impl SamplerKind {
    /// Whether the sampler follows a Jaeger remote strategy.
    pub fn is_jaeger_remote(self) -> bool {
        matches!(
            self,
            SamplerKind::JaegerRemote | SamplerKind::ParentBasedJaegerRemote
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_choice_round_trips_through_its_name_and_serde() {
        fn round_trip<T>(all: &[T])
        where
            T: Copy + fmt::Debug + PartialEq + FromStr<Err = ConfigError> + fmt::Display,
            T: Serialize + for<'de> Deserialize<'de>,
        {
            for &choice in all {
                assert_eq!(choice.to_string().parse::<T>(), Ok(choice));
                let json = toml::Value::try_from(choice).unwrap();
                assert_eq!(json.as_str(), Some(choice.to_string().as_str()));
                assert_eq!(json.try_into::<T>().unwrap(), choice);
            }
        }
        round_trip(&MetricKind::ALL);
        round_trip(&TracesExporter::ALL);
        round_trip(&PropagatorKind::ALL);
        round_trip(&OtlpProtocol::ALL);
        round_trip(&SamplerKind::ALL);
        round_trip(&InboundTrace::ALL);
    }

    #[test]
    fn a_bad_name_lists_the_choices() {
        assert_eq!(
            "latncy".parse::<MetricKind>().unwrap_err(),
            ConfigError::UnknownMetric {
                field: "metrics".into(),
                value: "latncy".into()
            }
        );
        assert_eq!(
            "always".parse::<SamplerKind>().unwrap_err().to_string(),
            r#"sampler: invalid value "always"; expected one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio, jaeger_remote, parentbased_jaeger_remote"#
        );
        assert_eq!(
            MetricKind::choices(),
            "latency, request_count, processing_requests, request_size, response_size"
        );
    }
}
