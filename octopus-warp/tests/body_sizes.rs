//! The body size metrics over real TCP: known lengths, chunked bodies, a stream that never ends.

use std::convert::Infallible;

use bytes::Bytes;
use octopus_core::testing::body_sizes::{
    self, BodyRoutes, ENDLESS_CHUNK, STREAM_CHUNK, UPLOAD_REPLY,
};
use warp::Filter;

#[tokio::test]
async fn body_sizes_over_tcp_are_exact_and_endless_streams_are_not_recorded() {
    let octopus = body_sizes::octopus("warp-bodies");

    // Reads the whole body (`bytes`), answers a sized body.
    let upload = warp::post()
        .and(warp::path!("upload"))
        .and(octopus_warp::route("/upload"))
        .and(warp::body::bytes())
        .map(|_body: Bytes| UPLOAD_REPLY);
    let stream = warp::get()
        .and(warp::path!("stream" / usize))
        .and(octopus_warp::route("/stream/{n}"))
        .map(|n: usize| {
            let chunks = (0..n)
                .step_by(STREAM_CHUNK)
                .map(move |at| Ok::<_, Infallible>(vec![b'x'; STREAM_CHUNK.min(n - at)]));
            warp::reply::stream(futures_util::stream::iter(chunks))
        });
    let endless = warp::get()
        .and(warp::path!("endless"))
        .and(octopus_warp::route("/endless"))
        .map(|| {
            let first = futures_util::stream::once(async { Ok::<_, Infallible>(ENDLESS_CHUNK) });
            warp::reply::stream(futures_util::StreamExt::chain(
                first,
                futures_util::stream::pending(),
            ))
        });
    let routes = upload
        .or(stream)
        .or(endless)
        .or(octopus_warp::metrics_filter(&octopus));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = octopus_warp::observe(octopus.clone(), warp::service(routes));
    let server = tokio::spawn(octopus_warp::serve(listener, service, async {
        stopped.await.ok();
    }));
    body_sizes::play(address, BodyRoutes::BRACES).await;
    stop.send(()).ok();
    server.abort();
}
