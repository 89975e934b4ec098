//! `/metrics` in one line.

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use octopus_core::Octopus;

/// A router serving `GET {metrics_path}` (default `/metrics`): merge it into your app. The path
/// is among Octopus's exclusions, so scrapes are neither counted nor traced.
pub fn metrics_router<S: Clone + Send + Sync + 'static>(octopus: &Octopus) -> Router<S> {
    Router::new()
        .route(octopus.metrics_path(), get(metrics_handler))
        .with_state(octopus.clone())
}

/// The handler behind [`metrics_router`], for mounting yourself with `Octopus` as state.
pub async fn metrics_handler(State(octopus): State<Octopus>) -> Response {
    let metrics = octopus.render_metrics();
    ([(CONTENT_TYPE, metrics.content_type)], metrics.body).into_response()
}
