//! The demo service on rocket 0.5, per the demo contract (examples/README.md). Route
//! templates are rocket's own: `/hello/<name>`, `/slow/<ms>`.
//!
//! ```text
//! cargo run -p octopus-examples --bin rocket-demo
//! curl localhost:10999/hello/bob && curl localhost:10999/metrics
//! ```

use std::net::SocketAddr;

use octopus_core::client::TracedClient;
use octopus_examples::{
    DRAIN_TIMEOUT, DemoSettings, announce, call_client, shutdown_octopus, slow_duration,
};
use octopus_rocket::{OctopusFairing, TraceContext, metrics_route};
use rocket::config::{LogLevel, Shutdown};
use rocket::fairing::AdHoc;
use rocket::http::Status;
use rocket::response::status;
use rocket::{State, get, routes};

#[get("/hello/<name>")]
fn hello(name: &str) -> String {
    format!("hello, {name}")
}

#[get("/slow/<ms>")]
async fn slow(ms: &str) -> status::Custom<String> {
    let Some(wait) = slow_duration(ms) else {
        return status::Custom(Status::BadRequest, "ms must be a number".into());
    };
    tokio::time::sleep(wait).await;
    status::Custom(Status::Ok, format!("slept {} ms", wait.as_millis()))
}

#[get("/fail")]
fn fail() -> status::Custom<&'static str> {
    status::Custom(Status::InternalServerError, "failed on purpose")
}

#[get("/panic")]
fn panic() -> &'static str {
    panic!("the /panic handler panics on purpose")
}

/// GETs `url` with the traced client. Rocket handlers do not run with the request's context
/// current, so the guard's context is handed to the client explicitly.
#[get("/call?<url>")]
async fn call(
    trace: TraceContext,
    client: &State<TracedClient>,
    url: Option<&str>,
) -> status::Custom<String> {
    let Some(url) = url else {
        return status::Custom(Status::BadRequest, "url parameter missing".into());
    };
    match client.get(url).with_extension(trace.parent()).send().await {
        Ok(response) => status::Custom(Status::Ok, response.status().as_u16().to_string()),
        Err(error) => status::Custom(Status::BadGateway, format!("{url}: {error}")),
    }
}

#[get("/health")]
fn health() -> &'static str {
    "ok"
}

#[rocket::main]
async fn main() {
    let settings = DemoSettings::from_env_or_exit();
    let octopus = settings.start_octopus().await;
    let config = rocket::Config {
        address: settings.addr.ip(),
        port: settings.addr.port(),
        // stdout carries only the `listening on` line.
        log_level: LogLevel::Off,
        cli_colors: false,
        // SIGINT and SIGTERM stop the server; in-flight requests get the drain time, then
        // their connections close.
        shutdown: Shutdown {
            grace: DRAIN_TIMEOUT.as_secs() as u32,
            mercy: 0,
            ..Shutdown::default()
        },
        ..rocket::Config::release_default()
    };
    let mut rocket = rocket::custom(config)
        .manage(call_client(octopus.as_ref()))
        .mount("/", routes![hello, slow, fail, panic, call, health])
        .attach(AdHoc::on_liftoff("announce", |rocket| {
            let config = rocket.config();
            announce(SocketAddr::new(config.address, config.port));
            Box::pin(async {})
        }));
    if let Some(octopus) = &octopus {
        // The quick start (its first line builds Octopus): `/metrics`, and the fairing.
        rocket = rocket
            .mount("/", vec![metrics_route(octopus)])
            .attach(OctopusFairing::new(octopus.clone()));
    }
    if let Err(error) = rocket.launch().await {
        // Requests still running after the grace period make rocket report a failed
        // shutdown; the server did stop, and their spans are flushed like the others.
        if let rocket::error::ErrorKind::Shutdown(..) = error.kind() {
            eprintln!("shutdown: requests still in flight after {DRAIN_TIMEOUT:?}; closed them");
        } else {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    }
    shutdown_octopus(octopus).await;
}
