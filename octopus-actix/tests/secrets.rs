//! `tracing::debug!(?state)` prints the adapter's types whole, Octopus and its configuration
//! included: the metrics bearer token and the OTLP header values must not be in it.

use octopus_actix::OctopusMiddleware;
use octopus_core::testing::secrets::{assert_redacted, octopus_with_secrets};

#[test]
fn debug_of_the_adapter_shows_no_secret() {
    let value = OctopusMiddleware::new(octopus_with_secrets());
    let debug = format!("{value:?} {value:#?}");
    assert_redacted(&debug, "OctopusMiddleware");
}
