//! The body size metrics over real TCP: known lengths, a chunked request body (not counted:
//! rocket hands request bodies to handlers only), streamed responses, a stream that never ends.

use std::net::SocketAddr;

use octopus_core::testing::body_sizes::{
    self, BodyRoutes, ENDLESS_CHUNK, STREAM_CHUNK, UPLOAD_REPLY,
};
use octopus_rocket::{OctopusFairing, metrics_route};
use rocket::data::{Data, ToByteUnit};
use rocket::fairing::AdHoc;
use rocket::response::stream::ByteStream;
use rocket::{get, post, routes};

/// Reads the whole body, answers a sized body.
#[post("/upload", data = "<body>")]
async fn upload(body: Data<'_>) -> &'static str {
    let _ = body.open(1.mebibytes()).into_bytes().await;
    UPLOAD_REPLY
}

#[get("/stream/<n>")]
fn stream(n: usize) -> ByteStream<impl futures_util::Stream<Item = Vec<u8>>> {
    let chunks = (0..n)
        .step_by(STREAM_CHUNK)
        .map(move |at| vec![b'x'; STREAM_CHUNK.min(n - at)]);
    ByteStream(futures_util::stream::iter(chunks))
}

#[get("/endless")]
fn endless() -> ByteStream<impl futures_util::Stream<Item = &'static [u8]>> {
    let first = futures_util::stream::once(async { ENDLESS_CHUNK.as_bytes() });
    ByteStream(futures_util::StreamExt::chain(
        first,
        futures_util::stream::pending(),
    ))
}

#[rocket::async_test]
async fn body_sizes_over_tcp_are_exact_and_endless_streams_are_not_recorded() {
    let octopus = body_sizes::octopus("rocket-bodies");
    let rocket_config = rocket::Config {
        address: [127, 0, 0, 1].into(),
        port: 0,
        log_level: rocket::config::LogLevel::Off,
        ..rocket::Config::debug_default()
    };
    let (sender, receiver) = tokio::sync::oneshot::channel::<(SocketAddr, rocket::Shutdown)>();
    let sender = std::sync::Mutex::new(Some(sender));
    let rocket = rocket::custom(rocket_config)
        .mount("/", routes![upload, stream, endless])
        .mount("/", vec![metrics_route(&octopus)])
        .attach(OctopusFairing::new(octopus.clone()))
        .attach(AdHoc::on_liftoff("address", move |rocket| {
            let config = rocket.config();
            let address = SocketAddr::new(config.address, config.port);
            if let Some(sender) = sender.lock().unwrap().take() {
                let _ = sender.send((address, rocket.shutdown()));
            }
            Box::pin(async {})
        }))
        .ignite()
        .await
        .unwrap();
    tokio::spawn(rocket.launch());
    let (address, shutdown) = receiver.await.unwrap();
    body_sizes::play(
        address,
        BodyRoutes {
            upload: "/upload",
            stream: "/stream/<n>",
            endless: "/endless",
            counts_streamed_requests: false,
        },
    )
    .await;
    shutdown.notify();
}
