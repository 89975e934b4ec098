//! The body size metrics over real TCP: known lengths, chunked bodies, a stream that never ends.

use actix_web::web::Bytes;
use actix_web::{App, HttpResponse, HttpServer, web};
use octopus_actix::{OctopusMiddleware, metrics_resource};
use octopus_core::testing::body_sizes::{
    self, BodyRoutes, ENDLESS_CHUNK, STREAM_CHUNK, UPLOAD_REPLY,
};

async fn stream(n: web::Path<usize>) -> HttpResponse {
    let n = n.into_inner();
    let chunks = (0..n).step_by(STREAM_CHUNK).map(move |at| {
        Ok::<_, actix_web::Error>(Bytes::from(vec![b'x'; STREAM_CHUNK.min(n - at)]))
    });
    HttpResponse::Ok().streaming(futures_util::stream::iter(chunks))
}

async fn endless() -> HttpResponse {
    let first = futures_util::stream::once(async {
        Ok::<_, actix_web::Error>(Bytes::from_static(ENDLESS_CHUNK.as_bytes()))
    });
    HttpResponse::Ok().streaming(futures_util::StreamExt::chain(
        first,
        futures_util::stream::pending(),
    ))
}

#[actix_web::test]
async fn body_sizes_over_tcp_are_exact_and_endless_streams_are_not_recorded() {
    let octopus = body_sizes::octopus("actix-bodies");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let app_octopus = octopus.clone();
    let server = HttpServer::new(move || {
        App::new()
            // Reads the whole body (`Bytes`), answers a sized body.
            .route(
                "/upload",
                web::post().to(|_body: Bytes| async { UPLOAD_REPLY }),
            )
            .route("/stream/{n}", web::get().to(stream))
            .route("/endless", web::get().to(endless))
            .service(metrics_resource(&app_octopus))
            .wrap(OctopusMiddleware::new(app_octopus.clone()))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    body_sizes::play(address, BodyRoutes::BRACES).await;
    handle.stop(false).await;
}
