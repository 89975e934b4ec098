//! `/metrics` in one line.

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, Resource, web};
use octopus_core::Octopus;

/// A resource serving `GET {metrics_path}` (default `/metrics`): `App::service` it. The path is
/// among Octopus's exclusions, so scrapes are neither counted nor traced.
pub fn metrics_resource(octopus: &Octopus) -> Resource {
    web::resource(octopus.metrics_path())
        .app_data(web::Data::new(octopus.clone()))
        .route(web::get().to(metrics_handler))
}

/// The handler behind [`metrics_resource`], for mounting yourself with `web::Data<Octopus>`
/// as app data.
pub async fn metrics_handler(octopus: web::Data<Octopus>) -> HttpResponse {
    let metrics = octopus.render_metrics();
    HttpResponse::Ok()
        .insert_header(ContentType(
            metrics
                .content_type
                .parse()
                .expect("the exposition content type is a valid MIME type"),
        ))
        .body(metrics.body)
}
