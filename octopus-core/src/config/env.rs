//! The environment overlay: the standard `OTEL_*` variables and Octopus's own `OCTOPUS_*`,
//! each one row of [`TABLE`] — its name and how it sets the configuration. The list of
//! variables ([`ENV_VARS`]) is derived from the table, so it cannot drift from what is read.

use std::str::FromStr;

use super::validate::{self, ABOVE_ZERO, DELAY_EXPECTED, PORT_EXPECTED, RATIO_EXPECTED, Rule};
use super::{
    CONFIG_FILE_VAR, ConfigError, JaegerRemoteSampling, MetricKind, OctopusConfig, OtlpProtocol,
    Secret,
};
use crate::PropagatorKind;

/// One environment variable.
struct EnvVar {
    name: &'static str,
    /// The signal-specific variable (`OTEL_EXPORTER_OTLP_TRACES_*`) that wins over this
    /// generic one: when it is set, this one is not read at all, as the OTLP exporter
    /// specification says.
    unless: Option<&'static str>,
    /// Parses the value into the configuration; a value that does not parse is an error
    /// naming the variable.
    set: fn(&mut OctopusConfig, &str, String) -> Result<(), ConfigError>,
    /// The validation rule of the field `set` replaces, run at once so that its error names
    /// the variable rather than the field.
    rule: Option<Rule>,
}

impl EnvVar {
    const fn new(
        name: &'static str,
        set: fn(&mut OctopusConfig, &str, String) -> Result<(), ConfigError>,
    ) -> Self {
        EnvVar {
            name,
            unless: None,
            set,
            rule: None,
        }
    }

    const fn checked(self, rule: Rule) -> Self {
        EnvVar {
            rule: Some(rule),
            ..self
        }
    }

    const fn unless(self, specific: &'static str) -> Self {
        EnvVar {
            unless: Some(specific),
            ..self
        }
    }
}

const MILLISECONDS: &str = "milliseconds, a whole number";
const BYTES_EXPECTED: &str = "comma-separated, strictly increasing, non-negative numbers of bytes";

/// Every variable [`OctopusConfig::apply_env`] reads, in the order it applies them (the OTLP
/// protocol before the generic endpoint, whose path depends on it).
const TABLE: &[EnvVar] = &[
    EnvVar::new("OTEL_SERVICE_NAME", |c, _, value| {
        c.service_name = value;
        Ok(())
    })
    .checked(validate::service_name),
    EnvVar::new("OTEL_RESOURCE_ATTRIBUTES", |c, var, value| {
        // Entries add to (and replace) the file's attributes.
        c.resource_attributes
            .extend(parse_key_values(var, &value, false)?);
        Ok(())
    }),
    EnvVar::new("OCTOPUS_METRICS", |c, var, value| {
        c.metrics = parse_metric_list(&value).map_err(|e| e.in_field(var))?;
        Ok(())
    }),
    EnvVar::new("OCTOPUS_LABELS", |c, var, value| {
        // Replaces the file's labels whole: an empty value turns them off.
        c.labels = super::labels::parse_labels_env(var, &value)?;
        Ok(())
    })
    .checked(validate::labels),
    EnvVar::new("OCTOPUS_CONST_LABELS", |c, var, value| {
        // Entries add to (and replace) the file's constant labels.
        c.const_labels.extend(parse_key_values(var, &value, false)?);
        Ok(())
    })
    .checked(validate::labels),
    EnvVar::new("OCTOPUS_BODY_SIZE_BUCKETS", |c, var, value| {
        c.body_size_buckets = parse_number_list(var, &value, BYTES_EXPECTED)?;
        Ok(())
    })
    .checked(validate::body_size_buckets),
    EnvVar::new("OCTOPUS_METRICS_ADDR", |c, _, value| {
        c.metrics_address = Some(value);
        Ok(())
    })
    .checked(validate::metrics_address),
    EnvVar::new("OCTOPUS_METRICS_TOKEN", |c, _, value| {
        c.metrics_bearer_token = Some(Secret::new(value));
        Ok(())
    })
    .checked(validate::metrics_bearer_token),
    EnvVar::new("OTEL_SDK_DISABLED", |c, var, value| {
        c.tracing_enabled = !parse_bool(var, &value, "true", "false")?;
        Ok(())
    }),
    EnvVar::new("OTEL_TRACES_EXPORTER", |c, var, value| {
        c.traces_exporter = parse_choice(var, &value)?;
        Ok(())
    }),
    EnvVar::new("OTEL_EXPORTER_JAEGER_AGENT_HOST", |c, _, value| {
        c.jaeger_host = value;
        Ok(())
    }),
    EnvVar::new("OTEL_EXPORTER_JAEGER_AGENT_PORT", |c, var, value| {
        c.jaeger_port = parse_number(var, &value, PORT_EXPECTED)?;
        Ok(())
    })
    .checked(validate::jaeger_port),
    EnvVar::new("OCTOPUS_JAEGER_MAX_PACKET_SIZE", |c, var, value| {
        c.jaeger_max_packet_size = parse_number(var, &value, &validate::packet_size_expected())?;
        Ok(())
    })
    .checked(validate::jaeger_max_packet_size),
    EnvVar::new("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", set_otlp_protocol),
    EnvVar::new("OTEL_EXPORTER_OTLP_PROTOCOL", set_otlp_protocol)
        .unless("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
    EnvVar::new("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", |c, _, value| {
        c.otlp_endpoint = Some(value);
        Ok(())
    }),
    EnvVar::new("OTEL_EXPORTER_OTLP_ENDPOINT", |c, _, value| {
        // The generic variable is a base URL: over HTTP each signal appends its own path.
        c.otlp_endpoint = Some(match c.otlp_protocol {
            OtlpProtocol::Grpc => value,
            OtlpProtocol::HttpProtobuf => format!("{}/v1/traces", value.trim_end_matches('/')),
        });
        Ok(())
    })
    .unless("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
    EnvVar::new("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", set_otlp_timeout),
    EnvVar::new("OTEL_EXPORTER_OTLP_TIMEOUT", set_otlp_timeout)
        .unless("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"),
    EnvVar::new("OTEL_EXPORTER_OTLP_TRACES_HEADERS", set_otlp_headers)
        .checked(validate::otlp_headers),
    EnvVar::new("OTEL_EXPORTER_OTLP_HEADERS", set_otlp_headers)
        .checked(validate::otlp_headers)
        .unless("OTEL_EXPORTER_OTLP_TRACES_HEADERS"),
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
        set_otlp_certificate,
    )
    .checked(validate::otlp_certificate),
    EnvVar::new("OTEL_EXPORTER_OTLP_CERTIFICATE", set_otlp_certificate)
        .checked(validate::otlp_certificate)
        .unless("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"),
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
        set_otlp_client_certificate,
    )
    .checked(validate::otlp_client_certificate),
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        set_otlp_client_certificate,
    )
    .checked(validate::otlp_client_certificate)
    .unless("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE"),
    EnvVar::new("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", set_otlp_client_key)
        .checked(validate::otlp_client_key),
    EnvVar::new("OTEL_EXPORTER_OTLP_CLIENT_KEY", set_otlp_client_key)
        .checked(validate::otlp_client_key)
        .unless("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY"),
    EnvVar::new("OTEL_TRACES_SAMPLER", |c, var, value| {
        c.sampler = parse_choice(var, &value)?;
        Ok(())
    }),
    // After OTEL_TRACES_SAMPLER: its meaning depends on the sampler.
    EnvVar::new("OTEL_TRACES_SAMPLER_ARG", |c, var, value| {
        if c.sampler.is_jaeger_remote() {
            c.jaeger_remote_sampling = JaegerRemoteSampling::parse_arg(&value)?;
        } else {
            c.sampler_arg = Some(parse_number(var, &value, RATIO_EXPECTED)?);
        }
        Ok(())
    })
    .checked(validate::sampler_arg),
    EnvVar::new("OTEL_PROPAGATORS", |c, var, value| {
        c.propagators = PropagatorKind::parse_list(&value).map_err(|e| e.in_field(var))?;
        Ok(())
    }),
    EnvVar::new("OCTOPUS_INBOUND_TRACE", |c, var, value| {
        c.inbound_trace = parse_choice(var, &value)?;
        Ok(())
    }),
    EnvVar::new("OCTOPUS_TRACE_RESPONSE", |c, var, value| {
        c.trace_response = parse_bool(var, &value, "on", "off")?;
        Ok(())
    }),
    EnvVar::new("OCTOPUS_EXEMPLARS", |c, var, value| {
        c.exemplars = parse_bool(var, &value, "true", "false")?;
        Ok(())
    }),
    EnvVar::new("OTEL_BSP_SCHEDULE_DELAY", |c, var, value| {
        c.bsp_schedule_delay_ms = Some(parse_number(var, &value, DELAY_EXPECTED)?);
        Ok(())
    })
    .checked(validate::bsp_schedule_delay_ms),
    EnvVar::new("OTEL_BSP_MAX_QUEUE_SIZE", |c, var, value| {
        c.bsp_max_queue_size = Some(parse_number(var, &value, ABOVE_ZERO)?);
        Ok(())
    })
    .checked(validate::bsp_max_queue_size),
    EnvVar::new("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", |c, var, value| {
        c.bsp_max_export_batch_size = Some(parse_number(var, &value, ABOVE_ZERO)?);
        Ok(())
    })
    .checked(validate::bsp_max_export_batch_size),
    EnvVar::new("OCTOPUS_SHUTDOWN_TIMEOUT", |c, var, value| {
        c.shutdown_timeout_ms = parse_number(var, &value, MILLISECONDS)?;
        Ok(())
    }),
];

/// The environment variables [`OctopusConfig::apply_env`] reads (besides `OCTOPUS_CONFIG`,
/// which [`OctopusConfig::load`] reads): the names of its table, in its order.
#[doc(hidden)]
pub const ENV_VARS: [&str; TABLE.len()] = {
    let mut names = [""; TABLE.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = TABLE[i].name;
        i += 1;
    }
    names
};

fn set_otlp_protocol(c: &mut OctopusConfig, var: &str, value: String) -> Result<(), ConfigError> {
    c.otlp_protocol = parse_choice(var, &value)?;
    Ok(())
}

fn set_otlp_timeout(c: &mut OctopusConfig, var: &str, value: String) -> Result<(), ConfigError> {
    c.otlp_timeout_ms = parse_number(var, &value, MILLISECONDS)?;
    Ok(())
}

/// The variable replaces the file's headers whole.
fn set_otlp_headers(c: &mut OctopusConfig, var: &str, value: String) -> Result<(), ConfigError> {
    c.otlp_headers = parse_key_values(var, &value, true)?
        .into_iter()
        .map(|(name, value)| (name, Secret::new(value)))
        .collect();
    Ok(())
}

fn set_otlp_certificate(c: &mut OctopusConfig, _: &str, path: String) -> Result<(), ConfigError> {
    c.otlp_certificate = Some(path);
    Ok(())
}

fn set_otlp_client_certificate(
    c: &mut OctopusConfig,
    _: &str,
    path: String,
) -> Result<(), ConfigError> {
    c.otlp_client_certificate = Some(path);
    Ok(())
}

fn set_otlp_client_key(c: &mut OctopusConfig, _: &str, path: String) -> Result<(), ConfigError> {
    c.otlp_client_key = Some(path);
    Ok(())
}

impl OctopusConfig {
    /// The configuration from the process environment: the file named by `OCTOPUS_CONFIG` if
    /// set (else the defaults), then the environment variables on top (see
    /// [`load`](Self::load)).
    pub fn from_env() -> Result<Self, ConfigError> {
        OctopusConfig::load(|name| std::env::var(name).ok())
    }

    /// `base`, or the file named by `OCTOPUS_CONFIG` when that variable is set, then every
    /// other variable of [`apply_env`](Self::apply_env) on top: the environment overrides the
    /// file, as operators expect when one value differs per deployment. The result is
    /// validated once, after the overlay.
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
            Some(path) if !path.trim().is_empty() => super::file::read(path.trim())?,
            Some(path) => return Err(super::file::not_a_config_file(path)),
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

    /// Overrides fields from environment variables, read through `lookup` (so tests and
    /// config loaders need not touch the process environment). Each variable sets one field;
    /// a value that does not parse, or that the field's validation rule rejects, is an error
    /// naming the variable. Rules between fields (the batch size within the queue, the client
    /// certificate with its key) are [`validate`](Self::validate)'s, run after the overlay.
    ///
    /// | variable | field |
    /// |---|---|
    /// | `OTEL_SERVICE_NAME` | `service_name` |
    /// | `OCTOPUS_METRICS` | `metrics`, comma-separated; empty or `none` for none |
    ///
    /// Every field's documentation on [`OctopusConfig`] names its variable.
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
        for var in TABLE {
            if var
                .unless
                .is_some_and(|specific| lookup(specific).is_some())
            {
                continue;
            }
            let Some(value) = lookup(var.name) else {
                continue;
            };
            (var.set)(self, var.name, value)?;
            if let Some(rule) = var.rule {
                rule(self).map_err(|error| error.in_field(var.name))?;
            }
        }
        Ok(())
    }
}

fn parse_number<T: FromStr>(field: &str, value: &str, expected: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| ConfigError::invalid(field, value, expected))
}

/// Comma-separated numbers (`0,100,1000`); blanks around them are ignored. A value that is not
/// a number is an error naming the whole variable's value.
fn parse_number_list(field: &str, value: &str, expected: &str) -> Result<Vec<f64>, ConfigError> {
    value
        .split(',')
        .map(|number| number.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| ConfigError::invalid(field, value, expected))
}

fn parse_choice<T: FromStr<Err = ConfigError>>(field: &str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|e: ConfigError| e.in_field(field))
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

fn parse_metric_list(list: &str) -> Result<Vec<MetricKind>, ConfigError> {
    let list = list.trim();
    if list.is_empty() || list == "none" {
        return Ok(Vec::new());
    }
    list.split(',').map(|name| name.trim().parse()).collect()
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

#[cfg(test)]
mod tests {
    use super::super::vars as env;
    use super::super::*;
    use super::TABLE;

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
            r#"OCTOPUS_METRICS: unknown metric "requests"; expected one of latency, request_count, processing_requests, request_size, response_size"#
        );

        config
            .apply_env(env(&[
                ("OCTOPUS_METRICS", "request_size,response_size"),
                ("OCTOPUS_BODY_SIZE_BUCKETS", " 0, 1024 ,65536"),
            ]))
            .unwrap();
        assert_eq!(
            config.metrics,
            [MetricKind::RequestSize, MetricKind::ResponseSize]
        );
        assert_eq!(config.body_size_buckets, [0.0, 1024.0, 65536.0]);
        for (bad, error) in [
            (
                "0,1k",
                r#"OCTOPUS_BODY_SIZE_BUCKETS: invalid value "0,1k"; expected comma-separated, strictly increasing, non-negative numbers of bytes"#,
            ),
            (
                "100,10",
                r#"OCTOPUS_BODY_SIZE_BUCKETS: invalid value "[100.0, 10.0]"; expected a non-empty list of finite, strictly increasing, non-negative numbers of bytes"#,
            ),
            (
                "-1",
                r#"OCTOPUS_BODY_SIZE_BUCKETS: invalid value "[-1.0]"; expected a non-empty list of finite, strictly increasing, non-negative numbers of bytes"#,
            ),
        ] {
            let err = config
                .apply_env(env(&[("OCTOPUS_BODY_SIZE_BUCKETS", bad)]))
                .unwrap_err();
            assert_eq!(err.to_string(), error);
        }
        let err = config
            .apply_env(env(&[("OTEL_SERVICE_NAME", " ")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"OTEL_SERVICE_NAME: invalid value " "; expected a non-empty name"#
        );
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
            r#"OTEL_TRACES_SAMPLER: invalid value "sometimes"; expected one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio, jaeger_remote, parentbased_jaeger_remote"#
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

    /// Per variable: a valid value that differs from the default, and a value the variable
    /// rejects (`None` where the overlay accepts any text and `validate` judges the field).
    const SAMPLES: &[(&str, &str, Option<&str>)] = &[
        ("OTEL_SERVICE_NAME", "checkout", Some(" ")),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=payments", Some("region")),
        ("OCTOPUS_METRICS", "latency", Some("latncy")),
        (
            "OCTOPUS_LABELS",
            "tenant=header:x-tenant",
            Some("tenant=x-tenant"),
        ),
        ("OCTOPUS_CONST_LABELS", "region=eu", Some("le=1")),
        ("OCTOPUS_BODY_SIZE_BUCKETS", "0, 512,4096", Some("0,1k")),
        ("OCTOPUS_METRICS_ADDR", "127.0.0.1:9464", Some("localhost")),
        ("OCTOPUS_METRICS_TOKEN", "t0ken", Some("two words")),
        ("OTEL_SDK_DISABLED", "true", Some("maybe")),
        ("OTEL_TRACES_EXPORTER", "otlp", Some("zipkin")),
        ("OTEL_EXPORTER_JAEGER_AGENT_HOST", "agent", None),
        ("OTEL_EXPORTER_JAEGER_AGENT_PORT", "6832", Some("0")),
        ("OCTOPUS_JAEGER_MAX_PACKET_SIZE", "1400", Some("100000")),
        (
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "http/protobuf",
            Some("http/json"),
        ),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http/protobuf",
            Some("http/json"),
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4317", None),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317", None),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500", Some("soon")),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500", Some("soon")),
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "x-api-key=k",
            Some("no-pair"),
        ),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k", Some("no-pair")),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            "/etc/ca.pem",
            Some(" "),
        ),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem", Some(" ")),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            "/etc/c.pem",
            Some(" "),
        ),
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            "/etc/c.pem",
            Some(" "),
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
            "/etc/c.key",
            Some(" "),
        ),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/etc/c.key", Some(" ")),
        ("OTEL_TRACES_SAMPLER", "always_off", Some("sometimes")),
        ("OTEL_TRACES_SAMPLER_ARG", "0.5", Some("1.5")),
        ("OTEL_PROPAGATORS", "b3", Some("xray")),
        ("OCTOPUS_INBOUND_TRACE", "restart", Some("trust")),
        ("OCTOPUS_TRACE_RESPONSE", "on", Some("yes")),
        ("OCTOPUS_EXEMPLARS", "false", Some("off")),
        ("OTEL_BSP_SCHEDULE_DELAY", "250", Some("0")),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "4096", Some("0")),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64", Some("0")),
        ("OCTOPUS_SHUTDOWN_TIMEOUT", "100", Some("-1")),
    ];

    #[test]
    fn env_vars_are_the_tables_variables_and_each_is_read() {
        let table: Vec<&str> = TABLE.iter().map(|var| var.name).collect();
        assert_eq!(ENV_VARS, table.as_slice());
        let mut unique = table.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ENV_VARS.len(), "a variable listed twice");
        assert!(!ENV_VARS.contains(&CONFIG_FILE_VAR));

        // With nothing set, apply_env asks for every variable and nothing else.
        let asked = std::cell::RefCell::new(Vec::new());
        OctopusConfig::default()
            .apply_env(|name| {
                asked.borrow_mut().push(name.to_owned());
                None
            })
            .unwrap();
        let mut asked = asked.into_inner();
        asked.sort_unstable();
        asked.dedup();
        assert_eq!(asked, unique);

        // Every variable has a sample here, so a new one cannot go untested.
        let sampled: Vec<&str> = SAMPLES.iter().map(|(var, _, _)| *var).collect();
        assert_eq!(sampled, table);
        for &(var, good, bad) in SAMPLES {
            let mut config = OctopusConfig::default();
            config.apply_env(env(&[(var, good)])).unwrap();
            assert_ne!(
                config,
                OctopusConfig::default(),
                "{var}={good} changed nothing"
            );
            if let Some(bad) = bad {
                let error = OctopusConfig::default()
                    .apply_env(env(&[(var, bad)]))
                    .unwrap_err()
                    .to_string();
                assert!(
                    error.starts_with(&format!("{var}: ")),
                    "{var}={bad}: {error}"
                );
            }
        }
    }

    #[test]
    fn a_generic_otlp_variable_is_not_read_when_the_specific_one_is_set() {
        for specific in TABLE.iter().filter_map(|var| var.unless) {
            let generic = TABLE
                .iter()
                .find(|var| var.unless == Some(specific))
                .unwrap();
            let (_, good, bad) = SAMPLES.iter().find(|(v, _, _)| *v == specific).unwrap();
            let mut config = OctopusConfig::default();
            config
                // A value the generic variable rejects, or else one that differs.
                .apply_env(env(&[
                    (generic.name, bad.unwrap_or("http://generic:4317")),
                    (specific, good),
                ]))
                .unwrap();
            let mut expected = OctopusConfig::default();
            expected.apply_env(env(&[(specific, good)])).unwrap();
            assert_eq!(
                config, expected,
                "{} was read beside {specific}",
                generic.name
            );
        }
    }
}
