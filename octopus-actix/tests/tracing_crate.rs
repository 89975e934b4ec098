//! Spans of the `tracing` crate in an actix-web handler, bridged by `Octopus::tracing_layer`,
//! are children of the request's server span in the trace exported to Jaeger.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{App, test, web};
use octopus_actix::OctopusMiddleware;
use octopus_core::testing::jaeger_agent::{
    JaegerAgentReceiver, assert_tracing_spans_under_server, load_and_render_user,
};
use tracing_subscriber::layer::SubscriberExt as _;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const INBOUND_SPAN_ID: &str = "00f067aa0ba902b7";

async fn user(id: web::Path<u64>) -> String {
    load_and_render_user(*id).await
}

#[actix_web::test]
async fn instrument_and_info_span_in_a_handler_are_children_of_the_server_span() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("actix-test");
    // The in-process service runs on this thread's actix system: a thread-local default
    // subscriber is enough.
    let subscriber = tracing_subscriber::registry().with(octopus.tracing_layer());
    let _default = tracing::subscriber::set_default(subscriber);

    let app = test::init_service(
        App::new()
            .route("/users/{id}", web::get().to(user))
            .wrap(OctopusMiddleware::new(octopus.clone())),
    )
    .await;
    let request = test::TestRequest::get()
        .uri("/users/7")
        .insert_header(("traceparent", format!("00-{TRACE_ID}-{INBOUND_SPAN_ID}-01")))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(&test::read_body(response).await[..], b"user 7");

    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(4, Duration::from_secs(5));
    assert_tracing_spans_under_server(&spans, "GET /users/{id}", TRACE_ID, INBOUND_SPAN_ID);
}
