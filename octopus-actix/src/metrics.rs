//! `/metrics` in one line.

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, Resource, guard, web};
use octopus_core::Octopus;

use crate::header_map::ActixHeaders;

/// A resource serving `GET {metrics_path}` (default `/metrics`): `App::service` it. The path is
/// among Octopus's exclusions, so scrapes are neither counted nor traced. A configured bearer
/// token is required; with a separate `metrics_address` the resource never matches
/// ([`Octopus::serve_metrics`] serves the metrics there).
pub fn metrics_resource(octopus: &Octopus) -> Resource {
    let on_app = octopus.metrics_on_app();
    web::resource(octopus.metrics_path())
        .guard(guard::fn_guard(move |_| on_app))
        .app_data(web::Data::new(octopus.clone()))
        .route(web::get().to(metrics_handler))
}

/// The handler behind [`metrics_resource`], for mounting yourself with `web::Data<Octopus>`
/// as app data.
pub async fn metrics_handler(octopus: web::Data<Octopus>, request: HttpRequest) -> HttpResponse {
    let scrape = octopus.scrape(&ActixHeaders(request.headers()));
    // actix-web speaks `http` 0.2: the status crosses over as its number.
    let status = StatusCode::from_u16(scrape.status.as_u16()).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    response.insert_header((CONTENT_TYPE, scrape.content_type));
    if let Some(challenge) = scrape.www_authenticate {
        response.insert_header((WWW_AUTHENTICATE, challenge));
    }
    response.body(scrape.body)
}
