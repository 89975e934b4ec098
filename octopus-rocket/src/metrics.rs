//! `/metrics` as a rocket route.

use octopus_core::Octopus;
use rocket::http::{ContentType, Header, Method, Status};
use rocket::response::Responder;
use rocket::route::{Handler, Outcome, Route};
use rocket::{Data, Request};

use crate::headers::RocketHeaders;

/// `GET {metrics_path}` (default `/metrics`): mount it at `/`. The path is among Octopus's
/// exclusions, so scrapes are neither counted nor traced. A configured bearer token is
/// required. With a separate `metrics_address` it answers 404 (`Octopus::serve_metrics`
/// serves the metrics there).
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
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> Outcome<'r> {
        // With a separate `metrics_address` the application's port has no `/metrics`.
        if !self.0.metrics_on_app() {
            return Outcome::forward(data, Status::NotFound);
        }
        let scrape = self.0.scrape(&RocketHeaders(request.headers()));
        let content_type =
            ContentType::parse_flexible(scrape.content_type).unwrap_or(ContentType::Plain);
        let status = Status::from_code(scrape.status.as_u16()).unwrap_or(Status::Ok);
        let mut response = match (status, (content_type, scrape.body)).respond_to(request) {
            Ok(response) => response,
            Err(status) => return Outcome::Error(status),
        };
        if let Some(challenge) = scrape.www_authenticate {
            response.set_header(Header::new("WWW-Authenticate", challenge));
        }
        Outcome::Success(response)
    }
}
