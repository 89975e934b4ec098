//! The demo service on actix-web 4, per the demo contract (examples/README.md).
//!
//! ```text
//! cargo run -p octopus-examples --bin actix-demo
//! curl localhost:10999/hello/bob && curl localhost:10999/metrics
//! ```

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;

use actix_web::dev::Service as _;
use actix_web::{App, HttpResponse, HttpServer, web};
use futures_util::FutureExt as _;
use octopus_actix::{OctopusMiddleware, metrics_resource};
use octopus_core::client::TracedClient;
use octopus_examples::{
    DRAIN_TIMEOUT, DemoSettings, announce, call_client, shutdown_octopus, shutdown_signal,
    slow_duration,
};

async fn hello(name: web::Path<String>) -> String {
    format!("hello, {name}")
}

async fn slow(ms: web::Path<String>) -> HttpResponse {
    let Some(wait) = slow_duration(&ms) else {
        return HttpResponse::BadRequest().body("ms must be a number");
    };
    tokio::time::sleep(wait).await;
    HttpResponse::Ok().body(format!("slept {} ms", wait.as_millis()))
}

async fn fail() -> HttpResponse {
    HttpResponse::InternalServerError().body("failed on purpose")
}

async fn panic() -> &'static str {
    panic!("the /panic handler panics on purpose")
}

/// GETs `url` with the traced client; the request's context is current, so the call joins its
/// trace.
async fn call(
    client: web::Data<TracedClient>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let Some(url) = query.get("url") else {
        return HttpResponse::BadRequest().body("url parameter missing");
    };
    match client.get(url).send().await {
        Ok(response) => HttpResponse::Ok().body(response.status().as_u16().to_string()),
        Err(error) => HttpResponse::BadGateway().body(format!("{url}: {error}")),
    }
}

fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/hello/{name}", web::get().to(hello))
        .route("/slow/{ms}", web::get().to(slow))
        .route("/fail", web::get().to(fail))
        .route("/panic", web::get().to(panic))
        .route("/call", web::get().to(call))
        .route("/health", web::get().to(|| async { "ok" }));
}

/// The server settings both modes share; announces the address and starts serving.
macro_rules! serve {
    ($server:expr, $addr:expr) => {{
        let server = $server
            // A client that hangs up cancels its request (actix's default would let the handler
            // run on for a half-closed connection).
            .h1_allow_half_closed(false)
            .disable_signals()
            .shutdown_timeout(DRAIN_TIMEOUT.as_secs())
            .bind($addr)?;
        announce(server.addrs()[0]);
        server.run()
    }};
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let settings = DemoSettings::from_env_or_exit();
    let octopus = settings.start_octopus().await;
    // Octopus is built once, out here: the closure runs once per worker.
    let server = match &octopus {
        Some(octopus) => {
            let client = web::Data::new(call_client(Some(octopus)));
            let octopus = octopus.clone();
            // The two lines of the quick start: the metrics resource and the middleware.
            serve!(
                HttpServer::new(move || {
                    App::new()
                        .app_data(client.clone())
                        .configure(routes)
                        .service(metrics_resource(&octopus))
                        .wrap(OctopusMiddleware::new(octopus.clone()))
                }),
                settings.addr
            )
        }
        None => {
            let client = web::Data::new(call_client(None));
            serve!(
                HttpServer::new(move || {
                    App::new()
                        .app_data(client.clone())
                        .configure(routes)
                        // Without Octopus something else must keep a panicking handler from
                        // taking the worker down: the contract wants a 500.
                        .wrap_fn(|request, service| {
                            AssertUnwindSafe(service.call(request))
                                .catch_unwind()
                                .map(|result| {
                                    result.unwrap_or_else(|_| {
                                        Err(actix_web::error::ErrorInternalServerError(
                                            "the handler panicked",
                                        ))
                                    })
                                })
                        })
                }),
                settings.addr
            )
        }
    };

    let handle = server.handle();
    actix_web::rt::spawn(async move {
        shutdown_signal().await;
        // Stops accepting, lets in-flight requests finish for up to the shutdown timeout.
        handle.stop(true).await;
    });
    server.await?;
    shutdown_octopus(octopus).await;
    Ok(())
}
