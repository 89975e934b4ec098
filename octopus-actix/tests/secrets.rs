//! `tracing::debug!(?state)` prints the adapter's types whole, Octopus and its configuration
//! included: the metrics bearer token and the OTLP header values must not be in it.

use octopus_actix::OctopusMiddleware;
use octopus_core::{Octopus, OctopusConfig};

fn octopus_with_secrets() -> Octopus {
    let config = OctopusConfig::load(|name| match name {
        "OCTOPUS_METRICS_TOKEN" => Some("t0ken-s3cret".into()),
        "OTEL_EXPORTER_OTLP_HEADERS" => Some("x-api-key=k3y-s3cret".into()),
        "OTEL_TRACES_EXPORTER" => Some("none".into()),
        _ => None,
    })
    .unwrap();
    Octopus::new(config).unwrap()
}

#[test]
fn debug_of_the_adapter_shows_no_secret() {
    let value = OctopusMiddleware::new(octopus_with_secrets());
    let debug = format!("{value:?} {value:#?}");
    assert!(!debug.contains("s3cret"), "OctopusMiddleware: {debug}");
    assert!(debug.contains("<redacted>"), "OctopusMiddleware: {debug}");
}
