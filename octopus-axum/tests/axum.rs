//! octopus-axum in-process (`oneshot`) and over real TCP.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use octopus_axum::{OctopusLayer, TraceContext, metrics_router};
use octopus_core::opentelemetry::trace::{Span as _, TraceContextExt, Tracer, TracerProvider as _};
use octopus_core::testing::jaeger_agent::JaegerAgentReceiver;
use octopus_core::{Octopus, OctopusConfig};
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;

fn octopus_to(agent: &JaegerAgentReceiver) -> Octopus {
    Octopus::new(OctopusConfig::jaeger("127.0.0.1", agent.port(), "axum-test").unwrap()).unwrap()
}

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

fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

const HELLO_200: &str = r#"http_server_requests_total{http_request_method="GET",http_response_status_code="200",http_route="/hello/{name}",service_name="axum-test"}"#;

#[tokio::test]
async fn exact_metrics_with_templates_unmatched_errors_panics_and_cancels() {
    let agent = JaegerAgentReceiver::start();
    let octopus = octopus_to(&agent);
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
    assert_eq!(value(&text, HELLO_200), Some(3.0), "{text}");
    let series = |status: &str, route: &str| {
        format!(
            r#"http_server_requests_total{{http_request_method="GET",http_response_status_code="{status}",http_route="{route}",service_name="axum-test"}}"#
        )
    };
    assert_eq!(value(&text, &series("404", "")), Some(2.0));
    assert_eq!(value(&text, &series("500", "/fail")), Some(1.0));
    assert_eq!(value(&text, &series("500", "/panic")), Some(1.0));
    for route in ["/hello/{name}", "/slow", "/panic", ""] {
        let gauge = format!(
            r#"http_server_active_requests{{http_request_method="GET",http_route="{route}",service_name="axum-test"}}"#
        );
        assert_eq!(value(&text, &gauge), Some(0.0), "{route}");
    }
    for absent in ["/hello/bob", "wp-login", "\"/health\"", "\"/metrics\""] {
        assert!(!text.contains(absent), "{absent} in metrics");
    }

    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(8, Duration::from_secs(5));
    let names: Vec<&str> = spans.iter().map(|s| s.operation_name.as_str()).collect();
    assert!(names.contains(&"GET /panic"), "{names:?}");
    let panic_span = spans
        .iter()
        .find(|s| s.operation_name == "GET /panic")
        .unwrap();
    // CatchPanicLayer turned the panic into a 500 before this layer saw it.
    assert_eq!(
        panic_span.tag("error.type"),
        Some(&octopus_core::testing::jaeger_agent::TagValue::String(
            "500".into()
        ))
    );
    assert_eq!(
        panic_span.tag("error"),
        Some(&octopus_core::testing::jaeger_agent::TagValue::Bool(true))
    );
    let slow_span = spans
        .iter()
        .find(|s| s.operation_name == "GET /slow")
        .unwrap();
    assert_eq!(
        slow_span.tag("octopus.cancelled"),
        Some(&octopus_core::testing::jaeger_agent::TagValue::Bool(true))
    );
    assert!(
        !names
            .iter()
            .any(|n| n.contains("health") || n.contains("metrics"))
    );
}

#[tokio::test]
async fn inbound_headers_become_parents_and_handler_work_joins_the_trace() {
    let agent = JaegerAgentReceiver::start();
    let octopus = octopus_to(&agent);
    let app = app(&octopus);
    get_status(
        &app,
        "/hello/x",
        &[(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )],
    )
    .await;
    get_status(
        &app,
        "/hello/y",
        &[("uber-trace-id", "a3ce929d0e0e4736:f067aa0ba902b7:0:1")],
    )
    .await;

    let response = app
        .clone()
        .oneshot(
            Request::get("/child")
                .header(
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(&body[..], b"4bf92f3577b34da6a3ce929d0e0e4736");

    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(4, Duration::from_secs(5));
    let find = |trace: &str, name: &str| {
        spans
            .iter()
            .find(|s| s.trace_id_hex() == trace && s.operation_name == name)
            .unwrap_or_else(|| panic!("{name} in {trace}"))
    };
    assert_eq!(
        find("0af7651916cd43dd8448eb211c80319c", "GET /hello/{name}").parent_span_id_hex(),
        "b7ad6b7169203331"
    );
    assert_eq!(
        find("0000000000000000a3ce929d0e0e4736", "GET /hello/{name}").parent_span_id_hex(),
        "00f067aa0ba902b7"
    );
    let server = find("4bf92f3577b34da6a3ce929d0e0e4736", "GET /child");
    let child = find("4bf92f3577b34da6a3ce929d0e0e4736", "child work");
    assert_eq!(child.parent_span_id, server.span_id);
}

#[tokio::test]
async fn over_tcp_a_traced_call_to_another_service_shares_the_trace() {
    let agent = JaegerAgentReceiver::start();
    let octopus = octopus_to(&agent);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, app(&octopus)).into_future());

    // The service calls itself: /call → /hello/x, as two services would.
    let client = reqwest::Client::new();
    let response = client
        .get(format!("http://{addr}/call?url=http://{addr}/hello/x"))
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "200");
    let text = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(value(&text, HELLO_200), Some(1.0));
    server.abort();

    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(3, Duration::from_secs(5));
    assert_eq!(spans.len(), 3);
    assert!(
        spans
            .iter()
            .all(|s| s.trace_id_hex() == "0af7651916cd43dd8448eb211c80319c")
    );
    let call = spans
        .iter()
        .find(|s| s.operation_name == "GET /call")
        .unwrap();
    let client_span = spans.iter().find(|s| s.operation_name == "GET").unwrap();
    let hello = spans
        .iter()
        .find(|s| s.operation_name == "GET /hello/{name}")
        .unwrap();
    assert_eq!(call.parent_span_id_hex(), "b7ad6b7169203331");
    assert_eq!(client_span.parent_span_id, call.span_id);
    assert_eq!(hello.parent_span_id, client_span.span_id);
}

#[tokio::test]
async fn without_catch_panic_the_panic_is_recorded_then_propagates() {
    let agent = JaegerAgentReceiver::start();
    let octopus = octopus_to(&agent);
    let app = Router::new()
        .route("/panic", get(panics))
        .merge(metrics_router(&octopus))
        .layer(OctopusLayer::new(octopus.clone()));
    let request = app
        .clone()
        .oneshot(Request::get("/panic").body(Body::empty()).unwrap());
    let joined = tokio::spawn(request).await;
    assert!(joined.unwrap_err().is_panic());

    let text = metrics(&app).await;
    let series = r#"http_server_requests_total{http_request_method="GET",http_response_status_code="500",http_route="/panic",service_name="axum-test"}"#;
    assert_eq!(value(&text, series), Some(1.0));
    let gauge = r#"http_server_active_requests{http_request_method="GET",http_route="/panic",service_name="axum-test"}"#;
    assert_eq!(value(&text, gauge), Some(0.0));
    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(1, Duration::from_secs(5));
    assert_eq!(
        spans[0].tag("error.type"),
        Some(&octopus_core::testing::jaeger_agent::TagValue::String(
            "panic".into()
        ))
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
