//! octopus-axum in-process (`oneshot`) and over real TCP.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use octopus_axum::{OctopusLayer, TraceContext, metrics_router};
use octopus_core::opentelemetry::trace::{Span as _, TraceContextExt, Tracer, TracerProvider as _};
use octopus_core::testing::exposition::HttpMetrics;
use octopus_core::testing::jaeger_agent::{JaegerAgentReceiver, TagValue};
use octopus_core::testing::scenario::{
    self, CHILD_TRACE_ID, CHILD_TRACEPARENT, OverTcp, TRACE_ID, TRACEPARENT, UBER_TRACE_ID,
};
use octopus_core::{Octopus, OctopusConfig};
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "late"
}

async fn panics() -> &'static str {
    panic!("handler panicked on purpose")
}

/// A child span and the trace id the handler sees.
async fn child(trace: TraceContext) -> String {
    let current = octopus_core::opentelemetry::Context::current();
    assert_eq!(current.span().span_context().trace_id(), trace.trace_id());
    trace.trace_id().to_string()
}

fn app(octopus: &Octopus) -> Router {
    let tracer_provider = octopus.tracer_provider().unwrap().clone();
    let client = octopus.traced_client();
    Router::new()
        .route("/hello/{name}", get(|| async { "hello" }))
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route("/slow", get(slow))
        .route("/panic", get(panics))
        .route("/trace", get(child))
        .route(
            "/child",
            get(move || {
                let tracer = tracer_provider.tracer("handler");
                async move {
                    let span = tracer.start("child work");
                    let id = span.span_context().trace_id().to_string();
                    drop(span);
                    id
                }
            }),
        )
        .route(
            "/call",
            get(
                move |axum::extract::Query(q): axum::extract::Query<
                    std::collections::HashMap<String, String>,
                >| {
                    let client = client.clone();
                    async move {
                        let response = client
                            .get(&q["url"])
                            .send()
                            .await
                            .map_err(|_| StatusCode::BAD_GATEWAY)?;
                        Ok::<_, StatusCode>(response.status().as_u16().to_string())
                    }
                },
            ),
        )
        .route("/health", get(|| async { "ok" }))
        .merge(metrics_router(octopus))
        .layer(CatchPanicLayer::new())
        .layer(OctopusLayer::new(octopus.clone()))
}

async fn get_status(app: &Router, uri: &str, headers: &[(&str, &str)]) -> StatusCode {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
}

async fn metrics(app: &Router) -> String {
    let response = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test]
async fn exact_metrics_with_templates_unmatched_errors_panics_and_cancels() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("axum-test");
    let app = app(&octopus);
    for name in ["bob", "alice", "carol"] {
        assert_eq!(
            get_status(&app, &format!("/hello/{name}"), &[]).await,
            StatusCode::OK
        );
    }
    assert_eq!(get_status(&app, "/nope", &[]).await, StatusCode::NOT_FOUND);
    assert_eq!(
        get_status(&app, "/wp-login.php", &[]).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get_status(&app, "/fail", &[]).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get_status(&app, "/panic", &[]).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(get_status(&app, "/health", &[]).await, StatusCode::OK);
    // A client that gives up: the request future is dropped mid-handler.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        app.clone()
            .oneshot(Request::get("/slow").body(Body::empty()).unwrap()),
    )
    .await;
    assert!(cancelled.is_err());

    let text = metrics(&app).await;
    let m = scenario::assert_served_metrics(&text, "axum-test", "/hello/{name}", 1.0);
    assert_eq!(m.active("GET", "/slow"), Some(0.0));

    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(8, Duration::from_secs(5));
    let names: Vec<&str> = spans.iter().map(|s| s.operation_name.as_str()).collect();
    assert!(names.contains(&"GET /panic"), "{names:?}");
    // CatchPanicLayer turned the panic into a 500 before this layer saw it.
    scenario::assert_panic_span(&spans, "500");
    let slow_span = spans
        .iter()
        .find(|s| s.operation_name == "GET /slow")
        .unwrap();
    assert_eq!(
        slow_span.tag("octopus.cancelled"),
        Some(&TagValue::Bool(true))
    );
    scenario::assert_excluded_untraced(&spans);
}

#[tokio::test]
async fn inbound_headers_become_parents_and_handler_work_joins_the_trace() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("axum-test");
    let app = app(&octopus);
    get_status(&app, "/hello/x", &[("traceparent", TRACEPARENT)]).await;
    get_status(&app, "/hello/y", &[("uber-trace-id", UBER_TRACE_ID)]).await;

    let response = app
        .clone()
        .oneshot(
            Request::get("/child")
                .header("traceparent", CHILD_TRACEPARENT)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(&body[..], CHILD_TRACE_ID.as_bytes());

    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(4, Duration::from_secs(5));
    scenario::assert_inbound_parents(&spans, "GET /hello/{name}", 0);
}

#[tokio::test]
async fn over_tcp_a_traced_call_to_another_service_shares_the_trace() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("axum-test");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, app(&octopus)).into_future());

    // The service calls itself: /call → /hello/x, as two services would.
    let tcp = OverTcp::new(addr, "axum-test");
    tcp.traced_call().await;
    let m = tcp.metrics().await;
    assert_eq!(m.requests("GET", "200", "/hello/{name}"), Some(1.0));
    server.abort();

    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(3, Duration::from_secs(5));
    assert_eq!(spans.len(), 3);
    assert!(spans.iter().all(|s| s.trace_id_hex() == TRACE_ID));
    scenario::assert_traced_call(&spans, "GET /hello/{name}");
}

#[tokio::test]
async fn without_catch_panic_the_panic_is_recorded_then_propagates() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("axum-test");
    let app = Router::new()
        .route("/panic", get(panics))
        .merge(metrics_router(&octopus))
        .layer(OctopusLayer::new(octopus.clone()));
    let request = app
        .clone()
        .oneshot(Request::get("/panic").body(Body::empty()).unwrap());
    let joined = tokio::spawn(request).await;
    assert!(joined.unwrap_err().is_panic());

    let m = HttpMetrics::parse(&metrics(&app).await, "axum-test");
    assert_eq!(m.requests("GET", "500", "/panic"), Some(1.0));
    assert_eq!(m.active("GET", "/panic"), Some(0.0));
    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(1, Duration::from_secs(5));
    assert_eq!(
        spans[0].tag("error.type"),
        Some(&TagValue::String("panic".into()))
    );
}

/// A user's observer stacked after Octopus: logs each request's route, status, and whether it
/// saw Octopus's server span in the request's context.
#[derive(Clone, Default)]
struct Seen(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

struct SeenRequest {
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    route: String,
    traced: bool,
}

impl octopus_core::RequestObserver for Seen {
    type Observation = SeenRequest;

    fn start<H: octopus_core::HeaderSource + ?Sized>(
        &self,
        request: &octopus_core::RequestView<'_, H>,
        context: &mut octopus_core::opentelemetry::Context,
    ) -> SeenRequest {
        SeenRequest {
            log: self.0.clone(),
            route: request.route().unwrap_or("-").to_owned(),
            traced: context.has_active_span(),
        }
    }
}

impl octopus_core::Observation for SeenRequest {
    fn finish(self, response: &octopus_core::ResponseView<'_>) {
        self.log.lock().unwrap().push(format!(
            "{} {} traced={}",
            self.route,
            response.status(),
            self.traced
        ));
    }
}

#[tokio::test]
async fn one_layer_takes_a_stack_of_observers_or_none() {
    let octopus = Octopus::new(OctopusConfig {
        traces_exporter: octopus_core::TracesExporter::None,
        trace_response: true,
        ..OctopusConfig::default()
    })
    .unwrap();
    let seen = Seen::default();
    let routes = || Router::new().route("/hello/{name}", get(|| async { "hello" }));
    let stacked = routes().layer(OctopusLayer::new((octopus.clone(), seen.clone())));
    let response = stacked
        .oneshot(Request::get("/hello/ann").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // `00-{32 hex trace id}-{16 hex span id}-{2 hex flags}`
    let traceresponse = response.headers()["traceresponse"].to_str().unwrap();
    assert_eq!(traceresponse.len(), 55, "{traceresponse}");
    assert!(traceresponse.starts_with("00-"), "{traceresponse}");
    assert_eq!(*seen.0.lock().unwrap(), ["/hello/{name} 200 traced=true"]);

    let unobserved = routes().layer(OctopusLayer::new(()));
    let response = unobserved
        .oneshot(Request::get("/hello/bob").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("traceresponse").is_none());
    octopus.shutdown().unwrap();
}
