//! Spans of the `tracing` crate in a warp handler, bridged by `Octopus::tracing_layer`, are
//! children of the request's server span in the trace exported to Jaeger.

use std::time::Duration;

use http_body_util::BodyExt as _;
use octopus_core::testing::jaeger_agent::{
    JaegerAgentReceiver, assert_tracing_spans_under_server, load_and_render_user,
};
use octopus_warp::route;
use tower_service::Service as _;
use tracing_subscriber::layer::SubscriberExt as _;
use warp::Filter;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const INBOUND_SPAN_ID: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn instrument_and_info_span_in_a_handler_are_children_of_the_server_span() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("warp-test");
    // `#[tokio::test]` runs on this thread only: a thread-local default subscriber is enough.
    let subscriber = tracing_subscriber::registry().with(octopus.tracing_layer());
    let _default = tracing::subscriber::set_default(subscriber);

    let users = warp::path!("users" / u64)
        .and(route("/users/{id}"))
        .then(load_and_render_user);
    let mut service = octopus_warp::observe(octopus.clone(), warp::service(users));
    let request = http::Request::get("/users/7")
        .header("traceparent", format!("00-{TRACE_ID}-{INBOUND_SPAN_ID}-01"))
        .body(String::new())
        .unwrap();
    let response = service.call(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"user 7");

    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(4, Duration::from_secs(5));
    assert_tracing_spans_under_server(&spans, "GET /users/{id}", TRACE_ID, INBOUND_SPAN_ID);
}
