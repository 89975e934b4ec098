//! [`OctopusBuilder`]: an [`Octopus`] from a configuration, the environment and settings made
//! in code — given in any order.

use std::sync::Arc;

use prometheus::Registry;

use crate::config::{LabelConfig, Secret};
use crate::metrics::labels::LabelFn;
use crate::octopus::Inner;
use crate::propagation::HeaderCodec;
use crate::trace::{CustomExporter, SpanMetrics, TracingObserver};
use crate::{
    ConfigError, HeaderSource, MetricKind, MetricsObserver, Octopus, OctopusConfig, PropagatorKind,
    RequestView, SamplerKind, TracesExporter,
};

/// Where the environment overlay reads variables.
type Lookup = Box<dyn Fn(&str) -> Option<String> + Send>;

/// One setting made in code, applied to the configuration at [`build`](OctopusBuilder::build).
type Setting = Box<dyn FnOnce(&mut OctopusConfig) + Send>;

/// Builds an [`Octopus`]: start from [`Octopus::builder`], set what differs from the defaults.
///
/// The order of the calls does not matter. [`build`](Self::build) layers, from the bottom:
///
/// 1. the configuration given to [`config`](Self::config) (a file loaded with serde, say), or
///    the defaults;
/// 2. the environment variables, when [`env`](Self::env) was called: they override the
///    configuration, as operators expect when one value differs per deployment;
/// 3. the settings made in code (`service_name`, `exclude_path`, ...), in the order they were
///    made: what the program states explicitly wins, as in the OpenTelemetry SDKs.
///
/// Then it validates the result, once. So `.service_name("auth").config(file)` keeps the
/// service name, and `.exclude_path("/ready")` adds to the file's excluded paths whether it
/// comes before or after it.
///
/// ```
/// use octopus_core::{MetricKind, Octopus};
/// use prometheus::{IntCounter, Registry};
///
/// let registry = Registry::new();
/// let logins = IntCounter::new("logins_total", "Logins.").unwrap();
/// registry.register(Box::new(logins.clone())).unwrap();
///
/// let octopus = Octopus::builder()
///     .service_name("auth")
///     .metrics([MetricKind::RequestCount, MetricKind::Latency])
///     .latency_buckets([0.01, 0.1, 1.0])
///     .exclude_path("/ready")
///     .registry(registry)
///     .build()?;
/// logins.inc();
/// let scrape = octopus.scrape(&octopus_core::NoHeaders);
/// assert!(scrape.text().contains("logins_total 1"));
/// # Ok::<(), octopus_core::ConfigError>(())
/// ```
#[derive(Default)]
pub struct OctopusBuilder {
    /// The configuration everything else refines: the last one given to `config`.
    base: OctopusConfig,
    env: Option<Lookup>,
    settings: Vec<Setting>,
    registry: Option<Registry>,
    span_exporter: Option<CustomExporter>,
    /// Labels whose values functions give, in the order added.
    label_functions: Vec<(LabelConfig, Arc<LabelFn>)>,
}

impl std::fmt::Debug for OctopusBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OctopusBuilder")
            .field("config", &self.base)
            .field("env", &self.env.is_some())
            .field("settings", &self.settings.len())
            .field("registry", &self.registry.is_some())
            .field("span_exporter", &self.span_exporter.is_some())
            .field(
                "label_functions",
                &self
                    .label_functions
                    .iter()
                    .map(|(label, _)| &label.name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl OctopusBuilder {
    /// The configuration the environment and the other settings refine (a file loaded with
    /// serde, say), instead of the defaults. Settings made before this call are kept.
    pub fn config(mut self, config: OctopusConfig) -> Self {
        self.base = config;
        self
    }

    /// Applies the process environment (see [`OctopusConfig::apply_env`]) over the
    /// configuration, below the settings made in code. A bad variable is an error of
    /// [`build`](Self::build), naming it.
    pub fn env(self) -> Self {
        self.env_from(|name| std::env::var(name).ok())
    }

    fn env_from(mut self, lookup: impl Fn(&str) -> Option<String> + Send + 'static) -> Self {
        self.env = Some(Box::new(lookup));
        self
    }

    fn set(mut self, setting: impl FnOnce(&mut OctopusConfig) + Send + 'static) -> Self {
        self.settings.push(Box::new(setting));
        self
    }

    /// The service name.
    pub fn service_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.set(|c| c.service_name = name)
    }

    /// The service's version (`service.version` on its spans), e.g.
    /// `.service_version(env!("CARGO_PKG_VERSION"))`.
    pub fn service_version(self, version: impl Into<String>) -> Self {
        let version = version.into();
        self.set(|c| c.service_version = Some(version))
    }

    /// Adds a resource attribute to the spans (OTLP resource, Jaeger process tags), e.g.
    /// `.resource_attribute("deployment.environment.name", "production")`.
    pub fn resource_attribute(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        self.set(|c| {
            c.resource_attributes.insert(key, value);
        })
    }

    /// The collectors to run.
    pub fn metrics(self, metrics: impl IntoIterator<Item = MetricKind>) -> Self {
        let metrics = metrics.into_iter().collect();
        self.set(|c| c.metrics = metrics)
    }

    /// A prefix for every metric name.
    pub fn metrics_prefix(self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.set(|c| c.metrics_prefix = Some(prefix))
    }

    /// The latency histogram's bucket bounds, seconds.
    pub fn latency_buckets(self, buckets: impl IntoIterator<Item = f64>) -> Self {
        let buckets = buckets.into_iter().collect();
        self.set(|c| c.latency_buckets = buckets)
    }

    /// Whether sampled requests leave exemplars on the latency buckets and request counters
    /// (on by default with tracing; served to OpenMetrics scrapes).
    pub fn exemplars(self, on: bool) -> Self {
        self.set(move |c| c.exemplars = on)
    }

    /// Adds a label of your own to the request metrics (`http_server_requests_total`,
    /// `http_server_request_duration_seconds`, `http_server_active_requests`), whose value
    /// `value` gives from each request: a header, the host, a part of the path. `None` gives
    /// the label's default value (empty: Prometheus stores the series without the label).
    ///
    /// The function returns a string borrowed from the request (or a `&'static str`), so
    /// nothing is allocated per request. Its values are capped at
    /// [`DEFAULT_LABEL_MAX_VALUES`](crate::config::DEFAULT_LABEL_MAX_VALUES) distinct ones:
    /// later ones are counted as `_other`, said once on stderr and counted in
    /// `octopus_label_overflow_total{label="<name>"}`. Declare the values, or another cap or
    /// default, with [`label_with`](Self::label_with); a label straight from a header can also
    /// come from the configuration ([`header_label`](Self::header_label), `labels` in a file,
    /// `OCTOPUS_LABELS`).
    ///
    /// The name must be a Prometheus label name other than Octopus's own and those of the
    /// other labels, else [`build`](Self::build) fails naming it; at most
    /// [`MAX_LABELS`](crate::config::MAX_LABELS) labels in all.
    ///
    /// ```
    /// use octopus_core::{MetricKind, Octopus, RequestObserver, RequestView, ResponseView};
    ///
    /// let octopus = Octopus::builder()
    ///     .service_name("shop")
    ///     .metrics([MetricKind::RequestCount])
    ///     // The tenant is the first segment of the host name: `acme.shop.example` → `acme`.
    ///     .label("tenant", |request| request.host()?.split('.').next())
    ///     .build()?;
    ///
    /// let headers: &[(&str, &str)] = &[("host", "acme.shop.example")];
    /// let view = RequestView::new("GET", "/cart", headers).with_route(Some("/cart"));
    /// octopus.observe(&view).finish(&ResponseView::new(200));
    ///
    /// let text = octopus.scrape(&octopus_core::NoHeaders).text().into_owned();
    /// assert!(text.contains(concat!(
    ///     r#"http_server_requests_total{http_request_method="GET","#,
    ///     r#"http_response_status_code="200",http_route="/cart",service_name="shop",tenant="acme"} 1"#,
    /// )));
    /// assert!(text.contains(r#"octopus_label_overflow_total{label="tenant",service_name="shop"} 0"#));
    /// # Ok::<(), octopus_core::ConfigError>(())
    /// ```
    pub fn label<F>(self, name: impl Into<String>, value: F) -> Self
    where
        F: for<'r> Fn(&RequestView<'r, dyn HeaderSource + 'r>) -> Option<&'r str>
            + Send
            + Sync
            + 'static,
    {
        self.label_with(LabelConfig::named(name), value)
    }

    /// [`label`](Self::label) with the label's settings: declared values, another cap, a
    /// default value. `label.header` must be `None`: the function gives the value.
    ///
    /// ```
    /// use octopus_core::Octopus;
    /// use octopus_core::config::LabelConfig;
    ///
    /// let octopus = Octopus::builder()
    ///     .label_with(
    ///         LabelConfig::named("plan").values(["free", "pro"]).default_value("anonymous"),
    ///         |request| request.headers().header("x-plan"),
    ///     )
    ///     .build()?;
    /// # Ok::<(), octopus_core::ConfigError>(())
    /// ```
    pub fn label_with<F>(mut self, label: LabelConfig, value: F) -> Self
    where
        F: for<'r> Fn(&RequestView<'r, dyn HeaderSource + 'r>) -> Option<&'r str>
            + Send
            + Sync
            + 'static,
    {
        self.label_functions.push((label, Arc::new(value)));
        self
    }

    /// Adds a label whose value is a request header, as `labels` in a configuration file does:
    /// `.header_label(LabelConfig::header("tenant", "x-tenant"))`.
    pub fn header_label(self, label: LabelConfig) -> Self {
        self.set(|c| c.labels.push(label))
    }

    /// Adds a constant label to every series of the request metrics, e.g.
    /// `.const_label("region", "eu-west-1")`.
    pub fn const_label(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        self.set(|c| {
            c.const_labels.insert(name, value);
        })
    }

    /// Where adapters serve `/metrics`.
    pub fn metrics_path(self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.set(|c| c.metrics_path = path)
    }

    /// The `http_route` label value of requests that matched no route.
    pub fn unmatched_route_label(self, label: impl Into<String>) -> Self {
        let label = label.into();
        self.set(|c| c.unmatched_route_label = label)
    }

    /// Adds a path that is neither counted nor traced.
    pub fn exclude_path(self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.set(|c| c.excluded_paths.push(path))
    }

    /// Serves `/metrics` on this separate address (`IP:PORT`) with
    /// [`Octopus::serve_metrics`] instead of on the application's routes.
    pub fn metrics_address(self, address: impl Into<String>) -> Self {
        let address = address.into();
        self.set(|c| c.metrics_address = Some(address))
    }

    /// Requires `Authorization: Bearer <token>` on `/metrics`.
    pub fn metrics_bearer_token(self, token: impl Into<String>) -> Self {
        let token = Secret::new(token);
        self.set(|c| c.metrics_bearer_token = Some(token))
    }

    /// The trace header formats read and written, in order.
    pub fn propagators(self, propagators: impl IntoIterator<Item = PropagatorKind>) -> Self {
        let propagators = propagators.into_iter().collect();
        self.set(|c| c.propagators = propagators)
    }

    /// The sampler, by its OpenTelemetry name, with the ratio of the ratio samplers.
    pub fn sampler(self, sampler: SamplerKind, ratio: Option<f64>) -> Self {
        self.set(move |c| {
            c.sampler = sampler;
            c.sampler_arg = ratio;
        })
    }

    /// Registers the metrics in this registry instead of a new one, so the user's own metrics
    /// appear on the same `/metrics`.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Sends spans to this exporter (through the span pipeline) instead of the configured
    /// `traces_exporter`: for backends Octopus does not know, or an in-memory exporter in tests.
    pub fn span_exporter<E: opentelemetry_sdk::trace::SpanExporter + 'static>(
        mut self,
        exporter: E,
    ) -> Self {
        self.span_exporter = Some(crate::trace::custom_exporter(exporter));
        self
    }

    /// The configuration in layers (configuration, environment, settings), validated.
    fn resolve(
        base: OctopusConfig,
        env: Option<Lookup>,
        settings: Vec<Setting>,
    ) -> Result<OctopusConfig, ConfigError> {
        let mut config = base;
        if let Some(lookup) = env {
            config.apply_env(lookup)?;
        }
        for setting in settings {
            setting(&mut config);
        }
        config.validate()?;
        Ok(config)
    }

    /// Validates the configuration and creates the collectors.
    pub fn build(self) -> Result<Octopus, ConfigError> {
        let config = OctopusBuilder::resolve(self.base, self.env, self.settings)?;
        let functions: Vec<&LabelConfig> = self
            .label_functions
            .iter()
            .map(|(label, _)| label)
            .collect();
        crate::config::check_labels(&config, &functions)?;
        let registry = self.registry.unwrap_or_default();
        let metrics = if config.metrics_enabled() {
            Some(MetricsObserver::with_valid_config(
                &config,
                Some(registry.clone()),
                &self.label_functions,
            )?)
        } else {
            None
        };
        let codec = HeaderCodec::new(&config.propagators);
        let (tracing, provider, spans) = if config.tracing_enabled {
            let custom = self.span_exporter.is_some();
            // One sampler for the provider's spans and the server spans: a clone shares a
            // Jaeger remote sampler's strategy and poller.
            let sampler = crate::trace::sampler(&config);
            let (provider, pipeline) =
                crate::trace::tracer_provider(&config, self.span_exporter, sampler.box_clone())?;
            // With no exporter the counters would sit at 0 beside traffic that is traced: no
            // series is better than a misleading one.
            if custom || config.traces_exporter != TracesExporter::None {
                SpanMetrics(pipeline.clone()).register(&registry)?;
            }
            let observer = TracingObserver::native(
                crate::trace::ServerSampler::new(&config, sampler),
                pipeline.clone(),
                codec.clone(),
                config.inbound_trace,
            );
            (Some(observer), Some(provider), Some(pipeline))
        } else {
            (None, None, None)
        };
        let mut excluded: Vec<Box<str>> = Vec::new();
        for path in std::iter::once(&config.metrics_path).chain(&config.excluded_paths) {
            if !excluded.iter().any(|p| **p == **path) {
                excluded.push(path.as_str().into());
            }
        }
        Ok(Octopus::from_parts(Inner {
            config,
            registry,
            metrics,
            tracing,
            provider,
            spans,
            codec,
            excluded_paths: excluded.into_boxed_slice(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ordering of `steps`, each as the list of step indices.
    fn orderings(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![Vec::new()];
        }
        let mut all = Vec::new();
        for rest in orderings(n - 1) {
            for at in 0..=rest.len() {
                let mut order = rest.clone();
                order.insert(at, n - 1);
                all.push(order);
            }
        }
        all
    }

    fn file_config() -> OctopusConfig {
        OctopusConfig {
            service_name: "from-file".into(),
            jaeger_port: 6832,
            excluded_paths: vec!["/health".into()],
            tracing_enabled: false,
            ..OctopusConfig::default()
        }
    }

    type Step = fn(OctopusBuilder) -> OctopusBuilder;

    const STEPS: [Step; 6] = [
        |b| b.config(file_config()),
        |b| {
            b.env_from(|name| match name {
                "OTEL_SERVICE_NAME" => Some("from-env".into()),
                "OTEL_EXPORTER_JAEGER_AGENT_PORT" => Some("7000".into()),
                "OCTOPUS_METRICS" => Some("latency".into()),
                _ => None,
            })
        },
        |b| b.service_name("from-code"),
        |b| b.exclude_path("/ready"),
        |b| b.resource_attribute("team", "payments"),
        |b| b.sampler(SamplerKind::TraceIdRatio, Some(0.5)),
    ];

    fn resolved(order: &[usize]) -> OctopusConfig {
        let builder = order
            .iter()
            .fold(Octopus::builder(), |builder, &step| STEPS[step](builder));
        OctopusBuilder::resolve(builder.base, builder.env, builder.settings).unwrap()
    }

    #[test]
    fn every_order_of_the_calls_gives_the_same_configuration() {
        let expected = OctopusConfig {
            // Code over environment over file.
            service_name: "from-code".into(),
            // Environment over file.
            jaeger_port: 7000,
            metrics: vec![MetricKind::Latency],
            // The file's, plus the one added in code.
            excluded_paths: vec!["/health".into(), "/ready".into()],
            resource_attributes: [("team".to_owned(), "payments".to_owned())].into(),
            sampler: SamplerKind::TraceIdRatio,
            sampler_arg: Some(0.5),
            ..file_config()
        };
        let orders = orderings(STEPS.len());
        assert_eq!(orders.len(), 720);
        for order in &orders {
            assert_eq!(resolved(order), expected, "calls in the order {order:?}");
        }
        // And what `build` makes of it.
        let octopus = STEPS
            .iter()
            .rev()
            .fold(Octopus::builder(), |builder, step| step(builder))
            .build()
            .unwrap();
        assert_eq!(*octopus.config(), expected);
        assert!(octopus.is_excluded("/ready") && octopus.is_excluded("/health"));
    }

    #[test]
    fn the_service_name_set_before_a_configuration_is_kept() {
        let octopus = Octopus::builder()
            .service_name("auth")
            .config(file_config())
            .build()
            .unwrap();
        assert_eq!(octopus.service_name(), "auth");
    }

    #[test]
    fn a_bad_variable_is_an_error_of_build_naming_it() {
        let error = Octopus::builder()
            .env_from(|name| (name == "OTEL_EXPORTER_JAEGER_AGENT_PORT").then(|| "0".into()))
            .config(file_config())
            .build()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"OTEL_EXPORTER_JAEGER_AGENT_PORT: invalid value "0"; expected a port number, 1 to 65535"#
        );
        // A bad value set in code is `validate`'s error, naming the field.
        let error = Octopus::builder()
            .metrics_path("metrics")
            .build()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"metrics_path: invalid value "metrics"; expected a path starting with '/'"#
        );
    }
}
