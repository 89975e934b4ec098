//! Configuration files: TOML (`.toml`) or YAML (`.yaml`, `.yml`), chosen by extension.

use std::path::Path;

use super::{ConfigError, OctopusConfig};

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

/// The error for a path that names no configuration file Octopus reads.
pub(super) fn not_a_config_file(path: impl std::fmt::Display) -> ConfigError {
    ConfigError::invalid(
        CONFIG_FILE_VAR,
        path,
        "the path of a .toml, .yaml or .yml file",
    )
}

/// The file's configuration, not yet validated: [`OctopusConfig::load_over`] validates once,
/// after the environment overlay.
pub(super) fn read(path: impl AsRef<Path>) -> Result<OctopusConfig, ConfigError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => ConfigFormat::Toml,
        Some("yaml" | "yml") => ConfigFormat::Yaml,
        _ => return Err(not_a_config_file(shown)),
    };
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::File {
        path: shown.clone(),
        reason: error.to_string(),
    })?;
    format.parse(&text).map_err(|reason| ConfigError::File {
        path: shown,
        reason,
    })
}

impl OctopusConfig {
    /// Reads a TOML (`.toml`) or YAML (`.yaml`, `.yml`) file. Keys left out keep their
    /// defaults; an unknown key, a value of the wrong type or an invalid value is an error
    /// naming the file, the key and what is accepted. `deploy/octopus.toml` in the repository
    /// lists every key with its default.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let config = read(path)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text (see [`from_file`](Self::from_file)); the error is the parser's,
    /// with the line. Not validated. Kept for the fuzz targets.
    #[doc(hidden)]
    pub fn from_toml_str(text: &str) -> Result<Self, String> {
        ConfigFormat::Toml.parse(text)
    }

    /// Parses YAML text (see [`from_file`](Self::from_file)); the error is the parser's,
    /// with the line. Not validated. Kept for the fuzz targets.
    #[doc(hidden)]
    pub fn from_yaml_str(text: &str) -> Result<Self, String> {
        ConfigFormat::Yaml.parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;

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
                r#"metrics: unknown metric "latncy"; expected one of latency, request_count, processing_requests, request_size, response_size"#
            ),
            "{err}"
        );
        let err = toml::from_str::<OctopusConfig>("servce_name = \"x\"").unwrap_err();
        assert!(err.to_string().contains("servce_name"), "{err}");
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
}
