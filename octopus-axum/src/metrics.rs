//! `/metrics` in one line.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use octopus_core::Octopus;

/// A router serving `GET {metrics_path}` (default `/metrics`): merge it into your app. The path
/// is among Octopus's exclusions, so scrapes are neither counted nor traced. A configured
/// bearer token is required; with a separate `metrics_address` the router is empty
/// ([`Octopus::serve_metrics`] serves the metrics there).
pub fn metrics_router<S: Clone + Send + Sync + 'static>(octopus: &Octopus) -> Router<S> {
    if !octopus.metrics_on_app() {
        return Router::new();
    }
    Router::new()
        .route(octopus.metrics_path(), get(metrics_handler))
        .with_state(octopus.clone())
}

/// The handler behind [`metrics_router`], for mounting yourself with `Octopus` as state.
pub async fn metrics_handler(State(octopus): State<Octopus>, headers: HeaderMap) -> Response {
    octopus.scrape(&headers).into()
}
