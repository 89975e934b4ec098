//! The resource of every span: which service, version, instance, host and process emitted it,
//! after the OpenTelemetry resource semantic conventions.
//!
//! Built explicitly from the validated configuration rather than with the SDK's default
//! detectors, which read `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` themselves and
//! silently drop what they cannot parse: Octopus reads those variables (and reports a bad
//! value), so the SDK must not re-add them unvalidated.

use std::sync::OnceLock;

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::TelemetryResourceDetector;

use crate::config::OctopusConfig;

/// `service.instance.id` of this process unless configured: a random UUID (version 4), the
/// same for every Octopus instance in the process, as the convention asks of one process.
pub(crate) fn instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| uuid::Uuid::new_v4().to_string())
}

/// The host's name (`host.name`), if the system has a readable one.
pub(crate) fn host_name() -> Option<String> {
    let name = gethostname::gethostname().into_string().ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// The resource of `config`, most specific last: the SDK's `telemetry.sdk.*`, then what is
/// detected (`host.name`, `process.pid`, `service.instance.id`), then `resource_attributes`
/// (which may replace a detected value), then `service_version` and `service_name`.
pub(crate) fn resource(config: &OctopusConfig) -> Resource {
    let mut detected = vec![
        KeyValue::new("process.pid", i64::from(std::process::id())),
        KeyValue::new("service.instance.id", instance_id()),
    ];
    if let Some(host) = host_name() {
        detected.push(KeyValue::new("host.name", host));
    }
    let configured = config
        .resource_attributes
        .iter()
        .map(|(key, value)| KeyValue::new(key.clone(), value.clone()));
    let mut builder = Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes(detected)
        .with_attributes(configured);
    if let Some(version) = &config.service_version {
        builder = builder.with_attribute(KeyValue::new("service.version", version.clone()));
    }
    builder
        .with_service_name(config.service_name.clone())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::{Key, Value};

    fn get(resource: &Resource, key: &'static str) -> Option<Value> {
        resource.get(&Key::from_static_str(key))
    }

    #[test]
    fn detected_configured_and_explicit_values_in_order_of_precedence() {
        let config = OctopusConfig {
            service_name: "checkout".into(),
            service_version: Some("2.1.0".into()),
            resource_attributes: [
                ("deployment.environment.name", "staging"),
                ("service.name", "ignored"),
                ("service.version", "ignored"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            ..OctopusConfig::default()
        };
        let built = resource(&config);
        assert_eq!(get(&built, "service.name"), Some("checkout".into()));
        assert_eq!(get(&built, "service.version"), Some("2.1.0".into()));
        assert_eq!(
            get(&built, "deployment.environment.name"),
            Some("staging".into())
        );
        assert_eq!(
            get(&built, "process.pid"),
            Some(Value::I64(i64::from(std::process::id())))
        );
        assert_eq!(
            get(&built, "service.instance.id"),
            Some(instance_id().to_owned().into())
        );
        assert_eq!(get(&built, "host.name").map(|v| v.to_string()), host_name());
        assert_eq!(get(&built, "telemetry.sdk.language"), Some("rust".into()));

        // A configured instance id or host name replaces the detected one.
        let config = OctopusConfig {
            resource_attributes: [("service.instance.id", "pod-7"), ("host.name", "web-1")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ..OctopusConfig::default()
        };
        let built = resource(&config);
        assert_eq!(get(&built, "service.instance.id"), Some("pod-7".into()));
        assert_eq!(get(&built, "host.name"), Some("web-1".into()));
    }

    #[test]
    fn nothing_but_the_configuration_and_detected_values_is_in_it() {
        // No SDK env detector: OTEL_RESOURCE_ATTRIBUTES reaches the resource only through the
        // (validated) configuration, whatever the process environment holds.
        let built = resource(&OctopusConfig::default());
        let mut keys: Vec<String> = built.iter().map(|(k, _)| k.to_string()).collect();
        keys.sort();
        let mut expected = vec![
            "process.pid",
            "service.instance.id",
            "service.name",
            "telemetry.sdk.language",
            "telemetry.sdk.name",
            "telemetry.sdk.version",
        ];
        if host_name().is_some() {
            expected.insert(0, "host.name");
        }
        assert_eq!(keys, expected);
    }

    #[test]
    fn the_instance_id_is_a_version_4_uuid_fixed_for_the_process() {
        let id = uuid::Uuid::parse_str(instance_id()).unwrap();
        assert_eq!(id.get_version_num(), 4);
        assert_eq!(instance_id(), instance_id());
    }
}
