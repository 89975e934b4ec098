//! The check that an adapter's `Debug` output (what `tracing::debug!(?state)` prints) shows no
//! secret of the configuration: not the metrics bearer token, not the OTLP header values.

use crate::{Octopus, OctopusConfig};

/// An Octopus whose configuration holds two secrets, both containing `s3cret`: the metrics
/// bearer token (`OCTOPUS_METRICS_TOKEN`) and an OTLP header value (`OTEL_EXPORTER_OTLP_HEADERS`).
/// It exports no spans.
pub fn octopus_with_secrets() -> Octopus {
    let config = OctopusConfig::load(|name| match name {
        "OCTOPUS_METRICS_TOKEN" => Some("t0ken-s3cret".into()),
        "OTEL_EXPORTER_OTLP_HEADERS" => Some("x-api-key=k3y-s3cret".into()),
        "OTEL_TRACES_EXPORTER" => Some("none".into()),
        _ => None,
    })
    .unwrap();
    Octopus::new(config).unwrap()
}

/// Asserts that `debug` (the `Debug` output of `what`, built on [`octopus_with_secrets`]) shows
/// neither secret, and shows `<redacted>` in their place.
pub fn assert_redacted(debug: &str, what: &str) {
    assert!(!debug.contains("s3cret"), "{what}: {debug}");
    assert!(debug.contains("<redacted>"), "{what}: {debug}");
}
