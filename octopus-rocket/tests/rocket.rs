//! octopus-rocket with rocket's local client and over real TCP.

use std::net::SocketAddr;
use std::time::Duration;

use octopus_core::Octopus;
use octopus_core::client::TracedClient;
use octopus_core::opentelemetry::trace::{Span as _, Tracer, TracerProvider as _};
use octopus_core::testing::jaeger_agent::{JaegerAgentReceiver, TagValue};
use octopus_core::testing::scenario::{
    self, CHILD_TRACE_ID, CHILD_TRACEPARENT, MALFORMED, OverTcp, TRACEPARENT, UBER_TRACE_ID,
};
use octopus_rocket::{OctopusFairing, TraceContext, metrics_route};
use rocket::fairing::AdHoc;
use rocket::http::{Header, Status};
use rocket::local::asynchronous::Client;
use rocket::request::{FromRequest, Outcome};
use rocket::response::status;
use rocket::{Request, State, catch, catchers, get, routes};

#[get("/hello/<name>")]
fn hello(name: &str) -> &'static str {
    assert!(!name.is_empty());
    "hello"
}

#[get("/fail")]
fn fail() -> Status {
    Status::InternalServerError
}

#[get("/unavailable")]
fn unavailable() -> Result<&'static str, Status> {
    Err(Status::ServiceUnavailable)
}

#[get("/panic")]
fn panics() -> &'static str {
    panic!("handler panicked on purpose")
}

#[get("/slow")]
async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "late"
}

#[get("/sleep/<ms>")]
async fn sleep(ms: u64) -> &'static str {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "slept"
}

#[get("/health")]
fn health() -> &'static str {
    "ok"
}

/// A guard that always forwards: its route never answers.
struct Never;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Never {
    type Error = ();
    async fn from_request(_: &'r Request<'_>) -> Outcome<Self, ()> {
        Outcome::Forward(Status::NotFound)
    }
}

#[get("/forwarded")]
fn forwarded(_never: Never) -> &'static str {
    "unreachable"
}

#[catch(404)]
fn not_found() -> status::Custom<&'static str> {
    status::Custom(Status::NotFound, "nothing here")
}

/// Turns a refused request into a 403 with its own body.
#[catch(401)]
fn unauthorized() -> status::Custom<&'static str> {
    status::Custom(Status::Forbidden, "go away")
}

#[get("/secret")]
fn secret() -> Status {
    Status::Unauthorized
}

#[get("/child")]
fn child(trace: TraceContext, tracer: &State<opentelemetry_sdk::trace::SdkTracer>) -> String {
    let span = tracer.start_with_context("child work", trace.context());
    let id = span.span_context().trace_id().to_string();
    drop(span);
    id
}

#[get("/call?<url>")]
async fn call(
    trace: TraceContext,
    client: &State<TracedClient>,
    url: &str,
) -> Result<String, Status> {
    let response = client
        .get(url)
        .with_extension(trace.parent())
        .send()
        .await
        .map_err(|_| Status::BadGateway)?;
    Ok(response.status().as_u16().to_string())
}

fn rocket(octopus: &Octopus) -> rocket::Rocket<rocket::Build> {
    let config = rocket::Config {
        address: [127, 0, 0, 1].into(),
        port: 0,
        log_level: rocket::config::LogLevel::Off,
        ..rocket::Config::debug_default()
    };
    rocket::custom(config)
        .manage(octopus.tracer_provider().unwrap().tracer("handler"))
        .manage(octopus.traced_client())
        .mount(
            "/",
            routes![
                hello,
                fail,
                unavailable,
                panics,
                slow,
                sleep,
                health,
                forwarded,
                secret,
                child,
                call
            ],
        )
        .mount("/", vec![metrics_route(octopus)])
        .register("/", catchers![not_found, unauthorized])
        .attach(OctopusFairing::new(octopus.clone()))
}

#[rocket::async_test]
async fn exact_metrics_with_templates_forwards_catchers_and_panics() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("rocket-test");
    let client = Client::tracked(rocket(&octopus)).await.unwrap();
    let status = |path: &'static str| {
        let client = &client;
        async move { client.get(path).dispatch().await.status().code }
    };
    for path in ["/hello/bob", "/hello/alice", "/hello/carol"] {
        assert_eq!(status(path).await, 200);
    }
    assert_eq!(status("/nope").await, 404);
    assert_eq!(status("/wp-login.php").await, 404);
    assert_eq!(status("/forwarded").await, 404);
    assert_eq!(status("/fail").await, 500);
    assert_eq!(status("/unavailable").await, 503);
    assert_eq!(
        status("/secret").await,
        403,
        "the catcher's status is final"
    );
    assert_eq!(status("/panic").await, 500);
    assert_eq!(status("/panic").await, 500);
    assert_eq!(status("/health").await, 200);
    // A request dropped before its response: its state goes with it.
    let cancelled =
        tokio::time::timeout(Duration::from_millis(100), client.get("/slow").dispatch()).await;
    assert!(cancelled.is_err());

    let response = client.get("/metrics").dispatch().await;
    assert_eq!(
        response.headers().get_one("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = response.into_string().await.unwrap();
    let m = scenario::assert_served_metrics(&text, "rocket-test", "/hello/<name>", 2.0);
    // The route that forwarded is the last one tried.
    assert_eq!(m.requests("GET", "404", "/forwarded"), Some(1.0));
    assert_eq!(m.requests("GET", "503", "/unavailable"), Some(1.0));
    assert_eq!(m.requests("GET", "403", "/secret"), Some(1.0));
    assert_eq!(m.active("GET", "/secret"), Some(0.0), "{text}");

    let spans = agent.shutdown_and_collect(&octopus, 12);
    let slow = spans
        .iter()
        .find(|s| s.tag("url.path") == Some(&TagValue::String("/slow".into())))
        .unwrap();
    assert_eq!(slow.tag("octopus.cancelled"), Some(&TagValue::Bool(true)));
    let span = |name: &str| spans.iter().find(|s| s.operation_name == name).unwrap();
    scenario::assert_panic_span(&spans, "500");
    assert_eq!(
        span("GET /hello/<name>").tag("http.route"),
        Some(&TagValue::String("/hello/<name>".into()))
    );
    assert_eq!(
        span("GET /secret").tag("http.response.status_code"),
        Some(&TagValue::Long(403))
    );
    scenario::assert_unmatched_spans(&spans, 3, "two 404s and the cancelled request");
    scenario::assert_excluded_untraced(&spans);
}

#[rocket::async_test]
async fn inbound_headers_become_parents_and_the_guard_hands_out_the_context() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("rocket-test");
    let client = Client::tracked(rocket(&octopus)).await.unwrap();
    client
        .get("/hello/x")
        .header(Header::new("traceparent", TRACEPARENT))
        .dispatch()
        .await;
    client
        .get("/hello/y")
        .header(Header::new("uber-trace-id", UBER_TRACE_ID))
        .dispatch()
        .await;
    let mut malformed = client.get("/hello/z");
    for (name, value) in MALFORMED {
        malformed = malformed.header(Header::new(name, value));
    }
    assert_eq!(malformed.dispatch().await.status(), Status::Ok);
    let body = client
        .get("/child")
        .header(Header::new("traceparent", CHILD_TRACEPARENT))
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    assert_eq!(body, CHILD_TRACE_ID);

    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(5, Duration::from_secs(5));
    scenario::assert_inbound_parents(&spans, "GET /hello/<name>", 1);
}

/// Launches on an ephemeral loopback port; the address comes from the liftoff fairing.
async fn launch(octopus: &Octopus) -> (SocketAddr, rocket::Shutdown) {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let sender = std::sync::Mutex::new(Some(sender));
    let rocket = rocket(octopus)
        .attach(AdHoc::on_liftoff("address", move |rocket| {
            let config = rocket.config();
            let addr = SocketAddr::new(config.address, config.port);
            if let Some(sender) = sender.lock().unwrap().take() {
                let _ = sender.send((addr, rocket.shutdown()));
            }
            Box::pin(async {})
        }))
        .ignite()
        .await
        .unwrap();
    tokio::spawn(rocket.launch());
    receiver.await.unwrap()
}

#[rocket::async_test]
async fn over_tcp_panics_disconnects_and_a_traced_call_share_one_trace() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("rocket-test");
    let (addr, shutdown) = launch(&octopus).await;
    let tcp = OverTcp::new(addr, "rocket-test");
    // Panics; the guard's context is the client span's parent (/call → /hello/x in one
    // trace); a client goes away in the middle of a 1 s handler: over HTTP/1 rocket (hyper
    // 0.14) does not notice until it writes the response, so the handler runs to its end and
    // the request leaves the gauge then.
    let m = tcp.play("/hello/<name>", "hello", "/sleep/1000", "").await;
    assert_eq!(
        m.active("GET", "/sleep/<ms>"),
        Some(0.0),
        "{:?}",
        m.samples()
    );
    assert_eq!(m.requests("GET", "200", "/sleep/<ms>"), Some(1.0));
    assert_eq!(m.active("GET", "/call"), Some(0.0));
    shutdown.notify();

    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(8, Duration::from_secs(5));
    scenario::assert_traced_call(&spans, "GET /hello/<name>");
}
