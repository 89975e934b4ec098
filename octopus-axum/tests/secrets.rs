//! `tracing::debug!(?state)` prints the adapter's types whole, Octopus and its configuration
//! included: the metrics bearer token and the OTLP header values must not be in it.

use octopus_axum::OctopusLayer;
use octopus_core::testing::secrets::{assert_redacted, octopus_with_secrets};

#[test]
fn debug_of_the_adapter_shows_no_secret() {
    let value = OctopusLayer::new(octopus_with_secrets());
    let service = tower::Layer::layer(&value, ());
    let debug = format!("{value:?} {value:#?} {service:?}");
    assert_redacted(&debug, "OctopusLayer (and the service it makes)");
}
