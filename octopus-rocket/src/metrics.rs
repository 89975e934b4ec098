//! `/metrics` as a rocket route.

use octopus_core::Octopus;
use rocket::http::{ContentType, Method};
use rocket::route::{Handler, Outcome, Route};
use rocket::{Data, Request};

/// `GET {metrics_path}` (default `/metrics`), for mounting yourself when the fairing's own
/// route is turned off ([`OctopusFairing::without_metrics_route`]). The path is among
/// Octopus's exclusions, so scrapes are neither counted nor traced.
///
/// [`OctopusFairing::without_metrics_route`]: crate::OctopusFairing::without_metrics_route
pub fn metrics_route(octopus: &Octopus) -> Route {
    Route::new(
        Method::Get,
        octopus.metrics_path(),
        MetricsHandler(octopus.clone()),
    )
}

/// The handler behind [`metrics_route`]: renders Octopus's registry.
#[derive(Clone, Debug)]
pub struct MetricsHandler(pub Octopus);

#[rocket::async_trait]
impl Handler for MetricsHandler {
    async fn handle<'r>(&self, request: &'r Request<'_>, _: Data<'r>) -> Outcome<'r> {
        let metrics = self.0.render_metrics();
        let content_type =
            ContentType::parse_flexible(metrics.content_type).unwrap_or(ContentType::Plain);
        Outcome::from(request, (content_type, metrics.body))
    }
}
