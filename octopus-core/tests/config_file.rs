//! Configuration files: `OCTOPUS_CONFIG`, TOML and YAML, environment over file, the sample file
//! in `deploy/` that lists every key.

use std::collections::BTreeSet;
use std::path::PathBuf;

use octopus_core::{ConfigError, MetricKind, OctopusConfig, PropagatorKind, TracesExporter};

fn sample_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/octopus.toml")
}

/// A file in a fresh temporary directory (no tempfile crate needed for two files).
fn write_temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "octopus-config-{}-{}",
        std::process::id(),
        name.replace('.', "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn lookup(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

#[test]
fn the_sample_file_is_the_defaults_and_names_every_key() {
    let sample = OctopusConfig::from_file(sample_path()).expect("the sample file loads");
    assert_eq!(sample, OctopusConfig::default());

    // Every field, optional ones included, appears in the sample as a key or a commented key.
    let every_field_set = OctopusConfig {
        metrics_prefix: Some("p".into()),
        metrics_address: Some("127.0.0.1:9464".into()),
        metrics_bearer_token: Some("t".into()),
        service_version: Some("1".into()),
        resource_attributes: [("k".to_owned(), "v".to_owned())].into(),
        labels: vec![octopus_core::config::LabelConfig::header(
            "tenant", "x-tenant",
        )],
        const_labels: [("region".to_owned(), "eu".to_owned())].into(),
        otlp_endpoint: Some("http://x".into()),
        otlp_headers: [("k".to_owned(), "v".into())].into(),
        otlp_certificate: Some("ca.pem".into()),
        otlp_client_certificate: Some("client.pem".into()),
        otlp_client_key: Some("client.key".into()),
        sampler_arg: Some(0.5),
        bsp_schedule_delay_ms: Some(1),
        bsp_max_queue_size: Some(1),
        bsp_max_export_batch_size: Some(1),
        ..OctopusConfig::default()
    };
    let table: toml::Table = toml::from_str(&toml::to_string(&every_field_set).unwrap()).unwrap();
    // Secrets are never serialised; the sample names them all the same.
    let fields: BTreeSet<&str> = table
        .keys()
        .map(String::as_str)
        .chain(["metrics_bearer_token", "otlp_headers"])
        .collect();
    assert_eq!(
        fields.len(),
        37,
        "a new field? add it to deploy/octopus.toml"
    );
    let text = std::fs::read_to_string(sample_path()).unwrap();
    let keys_in_sample: BTreeSet<&str> = text
        .lines()
        .map(|line| line.trim_start_matches("# ").trim())
        .filter_map(|line| {
            // A key, or a table (`[jaeger_remote_sampling]`).
            line.split_once(" = ")
                .map(|(key, _)| key)
                .or_else(|| line.strip_prefix('[')?.strip_suffix(']'))
        })
        .filter(|key| fields.contains(key))
        .collect();
    assert_eq!(keys_in_sample, fields);
}

#[test]
fn toml_and_yaml_files_load_and_the_environment_overrides_them() {
    let toml_path = write_temp(
        "octopus.toml",
        "service_name = \"from-file\"\nmetrics = [\"request_count\"]\ntraces_exporter = \"none\"\njaeger_port = 6832\n",
    );
    let yaml_path = write_temp(
        "octopus.yaml",
        "service_name: from-file\nmetrics: [request_count]\ntraces_exporter: none\njaeger_port: 6832\n",
    );
    for path in [&toml_path, &yaml_path] {
        let file_only =
            OctopusConfig::load(lookup(vec![("OCTOPUS_CONFIG", path.display().to_string())]))
                .unwrap();
        assert_eq!(file_only.service_name, "from-file");
        assert_eq!(file_only.metrics, [MetricKind::RequestCount]);
        assert_eq!(file_only.traces_exporter, TracesExporter::None);
        assert_eq!(file_only.jaeger_port, 6832);
        assert_eq!(file_only.propagators, PropagatorKind::DEFAULT);

        let overridden = OctopusConfig::load(lookup(vec![
            ("OCTOPUS_CONFIG", path.display().to_string()),
            ("OTEL_SERVICE_NAME", "from-env".into()),
            ("OTEL_EXPORTER_JAEGER_AGENT_PORT", "7000".into()),
        ]))
        .unwrap();
        assert_eq!(overridden.service_name, "from-env");
        assert_eq!(overridden.jaeger_port, 7000);
        assert_eq!(overridden.metrics, [MetricKind::RequestCount]);
    }
}

#[test]
fn unknown_keys_and_bad_values_are_errors_that_name_them() {
    let unknown = write_temp(
        "unknown.toml",
        "service_name = \"x\"\nsevice_name = \"y\"\n",
    );
    let error = OctopusConfig::from_file(&unknown).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, ConfigError::File { .. }), "{error:?}");
    assert!(
        message.starts_with(&unknown.display().to_string()),
        "{message}"
    );
    assert!(message.contains("unknown field `sevice_name`"), "{message}");
    assert!(message.contains("line 2"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");

    let unknown_yaml = write_temp("unknown.yml", "metrics: [latency]\nsampler_ratio: 0.5\n");
    let message = OctopusConfig::from_file(&unknown_yaml)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("unknown field `sampler_ratio`"),
        "{message}"
    );

    let bad_metric = write_temp("metric.toml", "metrics = [\"latncy\"]\n");
    let message = OctopusConfig::from_file(&bad_metric)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(
            "unknown metric \"latncy\"; expected one of latency, request_count, processing_requests, request_size, response_size"
        ),
        "{message}"
    );

    let bad_port = write_temp("port.yaml", "jaeger_port: 0\n");
    assert_eq!(
        OctopusConfig::from_file(&bad_port).unwrap_err().to_string(),
        "jaeger_port: invalid value \"0\"; expected a port number, 1 to 65535"
    );

    let bad_address = write_temp("address.toml", "metrics_address = \"localhost\"\n");
    assert_eq!(
        OctopusConfig::from_file(&bad_address)
            .unwrap_err()
            .to_string(),
        "metrics_address: invalid value \"localhost\"; expected IP:PORT, e.g. 0.0.0.0:9464"
    );

    assert_eq!(
        OctopusConfig::from_file("octopus.json")
            .unwrap_err()
            .to_string(),
        "OCTOPUS_CONFIG: invalid value \"octopus.json\"; expected the path of a .toml, .yaml or .yml file"
    );
    let missing = OctopusConfig::load(lookup(vec![(
        "OCTOPUS_CONFIG",
        "/nonexistent/octopus.toml".into(),
    )]))
    .unwrap_err()
    .to_string();
    assert!(
        missing.starts_with("/nonexistent/octopus.toml: No such file"),
        "{missing}"
    );
}

#[test]
fn metrics_listener_and_token_come_from_the_environment() {
    let config = OctopusConfig::load(lookup(vec![
        ("OCTOPUS_METRICS_ADDR", "127.0.0.1:9464".into()),
        ("OCTOPUS_METRICS_TOKEN", "s3cret-token".into()),
    ]))
    .unwrap();
    assert_eq!(config.metrics_address.as_deref(), Some("127.0.0.1:9464"));
    assert_eq!(
        config.metrics_bearer_token.as_ref().map(|t| t.expose()),
        Some("s3cret-token")
    );
    // The token itself never appears in an error message.
    let error = OctopusConfig::load(lookup(vec![("OCTOPUS_METRICS_TOKEN", "two words".into())]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "OCTOPUS_METRICS_TOKEN: invalid value \"(hidden)\"; expected a non-empty token of letters, digits and -._~+/="
    );
}
