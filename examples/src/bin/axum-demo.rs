//! The demo service on axum 0.8, per the demo contract (examples/README.md).
//!
//! ```text
//! cargo run -p octopus-examples --bin axum-demo
//! curl localhost:10999/hello/bob && curl localhost:10999/metrics
//! ```

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use octopus_axum::{OctopusLayer, metrics_router};
use octopus_core::Octopus;
use octopus_core::client::TracedClient;
use octopus_examples::{
    DemoSettings, announce, call_client, serve_until_signal, shutdown_octopus, slow_duration,
};
use tower_http::catch_panic::CatchPanicLayer;

async fn hello(Path(name): Path<String>) -> String {
    format!("hello, {name}")
}

async fn slow(Path(ms): Path<String>) -> Result<String, (StatusCode, &'static str)> {
    let wait = slow_duration(&ms).ok_or((StatusCode::BAD_REQUEST, "ms must be a number"))?;
    tokio::time::sleep(wait).await;
    Ok(format!("slept {} ms", wait.as_millis()))
}

async fn fail() -> (StatusCode, &'static str) {
    (StatusCode::INTERNAL_SERVER_ERROR, "failed on purpose")
}

async fn panic() -> &'static str {
    panic!("the /panic handler panics on purpose")
}

/// GETs `url` with the traced client; the request's context is current, so the call joins its
/// trace.
async fn call(
    State(client): State<TracedClient>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, String) {
    let Some(url) = query.get("url") else {
        return (StatusCode::BAD_REQUEST, "url parameter missing".into());
    };
    match client.get(url).send().await {
        Ok(response) => (StatusCode::OK, response.status().as_u16().to_string()),
        Err(error) => (StatusCode::BAD_GATEWAY, format!("{url}: {error}")),
    }
}

fn routes(client: TracedClient) -> Router {
    Router::new()
        .route("/hello/{name}", get(hello))
        .route("/slow/{ms}", get(slow))
        .route("/fail", get(fail))
        .route("/panic", get(panic))
        .route("/call", get(call))
        .route("/health", get(|| async { "ok" }))
        .with_state(client)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let settings = DemoSettings::from_env_or_exit();
    let listener = tokio::net::TcpListener::bind(settings.addr).await?;
    // `leak`: axum clones the service for every request, and with it the observer — a
    // `&'static Octopus` is a pointer copy, where an owned one is a reference count that every
    // worker thread writes.
    let octopus: Option<&'static Octopus> = settings.start_octopus().await.map(Octopus::leak);
    let app = match octopus {
        // The two lines of the quick start: metrics route merged, layer around everything.
        // One `layer` call for both layers (Octopus outside): each call wraps every route in
        // one more boxed service, cloned and its future boxed on every request.
        Some(octopus) => routes(call_client(Some(octopus)))
            .merge(metrics_router(octopus))
            .layer((OctopusLayer::new(octopus), CatchPanicLayer::new())),
        None => routes(call_client(None)).layer(CatchPanicLayer::new()),
    };

    announce(listener.local_addr()?);
    serve_until_signal(|stop| axum::serve(listener, app).with_graceful_shutdown(stop)).await?;
    shutdown_octopus(octopus.cloned()).await;
    Ok(())
}
