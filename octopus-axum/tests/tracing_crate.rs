//! Spans of the `tracing` crate in an axum handler, bridged by `Octopus::tracing_layer`, are
//! children of the request's server span in the trace exported to Jaeger.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use octopus_axum::OctopusLayer;
use octopus_core::testing::jaeger_agent::{
    JaegerAgentReceiver, assert_tracing_spans_under_server, load_and_render_user,
};
use tower::ServiceExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const INBOUND_SPAN_ID: &str = "00f067aa0ba902b7";

async fn user(Path(id): Path<u64>) -> String {
    load_and_render_user(id).await
}

#[tokio::test]
async fn instrument_and_info_span_in_a_handler_are_children_of_the_server_span() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("axum-test");
    // `#[tokio::test]` runs on this thread only: a thread-local default subscriber is enough.
    let subscriber = tracing_subscriber::registry().with(octopus.tracing_layer());
    let _default = tracing::subscriber::set_default(subscriber);

    let app = Router::new()
        .route("/users/{id}", get(user))
        .layer(OctopusLayer::new(octopus.clone()));
    let response = app
        .oneshot(
            Request::get("/users/7")
                .header("traceparent", format!("00-{TRACE_ID}-{INBOUND_SPAN_ID}-01"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(&body[..], b"user 7");

    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(4, Duration::from_secs(5));
    assert_tracing_spans_under_server(&spans, "GET /users/{id}", TRACE_ID, INBOUND_SPAN_ID);
}
