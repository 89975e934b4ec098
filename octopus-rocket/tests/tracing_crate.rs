//! Spans of the `tracing` crate in a rocket handler, bridged by `Octopus::tracing_layer`, are
//! children of the request's server span in the trace exported to Jaeger.
//!
//! Rocket handlers do not run with the request's context current: the handler takes the
//! [`TraceContext`] guard and either opens its spans inside `trace.in_scope(..)`, or gives its
//! top span the request's context as parent and runs the work with `tracing::Instrument`.

use std::time::Duration;

use octopus_core::testing::jaeger_agent::{
    JaegerAgentReceiver, TagValue, load_and_render_user, load_user,
};
use octopus_core::tracing_opentelemetry::OpenTelemetrySpanExt as _;
use octopus_rocket::{OctopusFairing, TraceContext};
use rocket::http::{Header, Status};
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const USERS_PARENT: &str = "00f067aa0ba902b7";
const ORDERS_PARENT: &str = "b7ad6b7169203331";

/// The guard's `in_scope`: every span opened inside it finds the request's context current.
#[get("/users/<id>")]
async fn user(id: u64, trace: TraceContext) -> String {
    trace.in_scope(load_and_render_user(id)).await
}

/// The guard and `tracing::Instrument`: the top span gets the request's context as its parent.
#[get("/orders/<id>")]
async fn order(id: u64, trace: TraceContext) -> String {
    let span = tracing::info_span!("order", id);
    span.set_parent(trace.context().clone()).unwrap();
    async move { format!("order of {}", load_user(id).await) }
        .instrument(span)
        .await
}

#[rocket::async_test]
async fn spans_under_the_trace_context_guard_are_children_of_the_server_span() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("rocket-test");
    // One test in this binary: the subscriber is the process's, whichever of the runtime's
    // threads polls the handler.
    let subscriber = tracing_subscriber::registry().with(octopus.tracing_layer());
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let config = rocket::Config {
        log_level: rocket::config::LogLevel::Off,
        ..rocket::Config::debug_default()
    };
    let rocket = rocket::custom(config)
        .mount("/", routes![user, order])
        .attach(OctopusFairing::new(octopus.clone()));
    let client = Client::tracked(rocket).await.unwrap();
    for (path, parent, body) in [
        ("/users/7", USERS_PARENT, "user 7"),
        ("/orders/8", ORDERS_PARENT, "order of user 8"),
    ] {
        let response = client
            .get(path)
            .header(Header::new(
                "traceparent",
                format!("00-{TRACE_ID}-{parent}-01"),
            ))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Ok);
        assert_eq!(response.into_string().await.unwrap(), body);
    }

    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(8, Duration::from_secs(5));
    let names: Vec<&str> = spans.iter().map(|s| s.operation_name.as_str()).collect();
    assert_eq!(spans.len(), 8, "{names:?}");
    for s in &spans {
        assert_eq!(s.trace_id_hex(), TRACE_ID, "{}", s.operation_name);
    }
    let span = |name: &str| {
        spans
            .iter()
            .find(|s| s.operation_name == name)
            .unwrap_or_else(|| panic!("no {name} in {names:?}"))
    };
    let child_of = |name: &str, parent: &str| {
        spans
            .iter()
            .find(|s| s.operation_name == name && s.parent_span_id_hex() == parent)
            .unwrap_or_else(|| panic!("no {name} under {parent} in {spans:#?}"))
    };

    // The guard's `in_scope`.
    let server = span("GET /users/<id>");
    assert_eq!(server.parent_span_id_hex(), USERS_PARENT);
    let load_user = child_of("load_user", &server.span_id_hex());
    child_of("query", &load_user.span_id_hex());
    child_of("render", &server.span_id_hex());
    assert_eq!(
        load_user.tag("otel.scope.name"),
        Some(&TagValue::String("tracing".into()))
    );

    // The guard and `Instrument`.
    let server = span("GET /orders/<id>");
    assert_eq!(server.parent_span_id_hex(), ORDERS_PARENT);
    let order = span("order");
    assert_eq!(order.parent_span_id_hex(), server.span_id_hex());
    let load_user = child_of("load_user", &order.span_id_hex());
    child_of("query", &load_user.span_id_hex());
}
