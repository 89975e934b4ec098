//! The body size metrics over real TCP: known lengths, chunked bodies, a stream that never ends.

use std::convert::Infallible;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::routing::{get, post};
use octopus_axum::{OctopusLayer, metrics_router};
use octopus_core::Octopus;
use octopus_core::testing::body_sizes::{
    self, BodyRoutes, ENDLESS_CHUNK, STREAM_CHUNK, UPLOAD_REPLY,
};

fn app(octopus: &Octopus) -> Router {
    Router::new()
        .route(
            "/upload",
            // Reads the whole body (`Bytes`), answers a sized body.
            post(|_body: Bytes| async { UPLOAD_REPLY }),
        )
        .route(
            "/stream/{n}",
            get(|Path(n): Path<usize>| async move {
                let chunks = (0..n)
                    .step_by(STREAM_CHUNK)
                    .map(move |at| Ok::<_, Infallible>(vec![b'x'; STREAM_CHUNK.min(n - at)]));
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .route(
            "/endless",
            get(|| async {
                let first =
                    futures_util::stream::once(async { Ok::<_, Infallible>(ENDLESS_CHUNK) });
                Body::from_stream(futures_util::StreamExt::chain(
                    first,
                    futures_util::stream::pending(),
                ))
            }),
        )
        .merge(metrics_router(octopus))
        .layer(OctopusLayer::new(octopus.clone()))
}

#[tokio::test]
async fn body_sizes_over_tcp_are_exact_and_endless_streams_are_not_recorded() {
    let octopus = body_sizes::octopus("axum-bodies");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, app(&octopus)).into_future());
    body_sizes::play(address, BodyRoutes::BRACES).await;
    server.abort();
}
