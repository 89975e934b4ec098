//! octopus-warp in-process (the service called directly, `warp::test` for the filters) and over
//! real TCP.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::BodyExt as _;
use octopus_core::client::TracedClient;
use octopus_core::opentelemetry::trace::{
    Span as _, TraceContextExt as _, Tracer, TracerProvider as _,
};
use octopus_core::testing::jaeger_agent::{JaegerAgentReceiver, TagValue};
use octopus_core::testing::scenario::{
    self, CHILD_TRACE_ID, CHILD_TRACEPARENT, MALFORMED, OverTcp, TRACEPARENT, UBER_TRACE_ID,
};
use octopus_core::{Octopus, OctopusConfig};
use octopus_warp::{TraceContext, metrics_filter, route, trace_context};
use tower_service::Service as _;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

#[derive(Debug)]
struct Teapot;
impl warp::reject::Reject for Teapot {}

async fn recover(rejection: warp::Rejection) -> Result<Response, warp::Rejection> {
    if rejection.find::<Teapot>().is_some() {
        return Ok(
            warp::reply::with_status("short and stout", StatusCode::IM_A_TEAPOT).into_response(),
        );
    }
    Err(rejection)
}

use warp::Reply as _;

fn routes(
    octopus: &Octopus,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    let tracer = octopus.tracer_provider().unwrap().tracer("handler");
    let client = octopus.traced_client();
    let hello = warp::path!("hello" / String)
        .and(route("/hello/{name}"))
        .and(warp::get())
        .map(|name: String| format!("hello, {name}").into_response());
    let unnamed = warp::path!("unnamed").map(|| "no name".into_response());
    let fail = warp::path!("fail").and(route("/fail")).map(|| {
        warp::reply::with_status("failed", StatusCode::INTERNAL_SERVER_ERROR).into_response()
    });
    let teapot = warp::path!("teapot")
        .and(route("/teapot"))
        .and_then(|| async { Err::<Response, _>(warp::reject::custom(Teapot)) });
    let panics = warp::path!("panic")
        .and(route("/panic"))
        .map(|| -> Response { panic!("handler panicked on purpose") });
    let slow = warp::path!("slow").and(route("/slow")).then(|| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        "late".into_response()
    });
    let child = warp::path!("child")
        .and(route("/child"))
        .and(trace_context())
        .map(move |trace: TraceContext| {
            let current = octopus_core::opentelemetry::Context::current();
            assert_eq!(current.span().span_context().trace_id(), trace.trace_id());
            let span = tracer.start("child work");
            let id = span.span_context().trace_id().to_string();
            drop(span);
            id.into_response()
        });
    let call = warp::path!("call")
        .and(route("/call"))
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .then(move |query: std::collections::HashMap<String, String>| {
            let client: TracedClient = client.clone();
            async move {
                match client.get(&query["url"]).send().await {
                    Ok(response) => response.status().as_u16().to_string().into_response(),
                    Err(_) => StatusCode::BAD_GATEWAY.into_response(),
                }
            }
        });
    let health = warp::path!("health").map(|| "ok".into_response());
    hello
        .or(unnamed)
        .unify()
        .or(fail)
        .unify()
        .or(teapot)
        .unify()
        .or(panics)
        .unify()
        .or(slow)
        .unify()
        .or(child)
        .unify()
        .or(call)
        .unify()
        .or(health)
        .unify()
        .or(metrics_filter(octopus))
        .unify()
        .recover(recover)
        .unify()
}

/// A request without a body.
type Empty = http_body_util::Empty<bytes::Bytes>;

async fn call<O: octopus_core::RequestObserver>(
    service: &mut octopus_warp::OctopusService<
        impl tower_service::Service<
            http::Request<octopus_core::body::CountedBody<Empty>>,
            Response = Response,
            Error = Infallible,
        >,
        O,
    >,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut request = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = service
        .call(request.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn exact_metrics_with_named_routes_rejections_panics_and_cancels() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("warp-test");
    let mut service = octopus_warp::observe(octopus.clone(), warp::service(routes(&octopus)));
    for name in ["bob", "alice", "carol"] {
        let (status, body) = call(&mut service, "GET", &format!("/hello/{name}"), &[]).await;
        assert_eq!((status, body), (200, format!("hello, {name}")));
    }
    assert_eq!(call(&mut service, "GET", "/nope", &[]).await.0, 404);
    assert_eq!(call(&mut service, "GET", "/wp-login.php", &[]).await.0, 404);
    assert_eq!(call(&mut service, "GET", "/unnamed", &[]).await.0, 200);
    assert_eq!(call(&mut service, "POST", "/hello/x", &[]).await.0, 405);
    assert_eq!(call(&mut service, "GET", "/fail", &[]).await.0, 500);
    assert_eq!(
        call(&mut service, "GET", "/teapot", &[]).await,
        (418, "short and stout".into())
    );
    assert_eq!(call(&mut service, "GET", "/panic", &[]).await.0, 500);
    assert_eq!(call(&mut service, "GET", "/panic", &[]).await.0, 500);
    assert_eq!(call(&mut service, "GET", "/health", &[]).await.0, 200);
    // A request future dropped mid-handler, as when the client goes away.
    let request = http::Request::get("/slow").body(String::new()).unwrap();
    let cancelled = tokio::time::timeout(Duration::from_millis(100), service.call(request)).await;
    assert!(cancelled.is_err());

    let (status, text) = call(&mut service, "GET", "/metrics", &[]).await;
    assert_eq!(status, 200);
    let m = scenario::assert_served_metrics(&text, "warp-test", "/hello/{name}", 2.0);
    // Unmatched and unnamed requests share the one unmatched label.
    assert_eq!(m.requests("GET", "200", ""), Some(1.0));
    // The path matched, the method did not: the route had named itself.
    assert_eq!(m.requests("POST", "405", "/hello/{name}"), Some(1.0));
    assert_eq!(m.requests("GET", "418", "/teapot"), Some(1.0));
    assert_eq!(m.active("GET", "/teapot"), Some(0.0), "{text}");
    assert!(!text.contains("\"/unnamed\""), "/unnamed in metrics");

    let spans = agent.shutdown_and_collect(&octopus, 12);
    let span = |name: &str| spans.iter().find(|s| s.operation_name == name).unwrap();
    scenario::assert_panic_span(&spans, "panic");
    assert_eq!(span("GET /teapot").tag("error"), None);
    assert_eq!(
        span("GET /hello/{name}").tag("http.route"),
        Some(&TagValue::String("/hello/{name}".into()))
    );
    let slow = spans
        .iter()
        .find(|s| s.tag("url.path") == Some(&TagValue::String("/slow".into())))
        .unwrap();
    assert_eq!(slow.tag("octopus.cancelled"), Some(&TagValue::Bool(true)));
    // The route the filter named survives the cancellation.
    assert_eq!(slow.operation_name, "GET /slow");
    assert_eq!(
        slow.tag("http.route"),
        Some(&TagValue::String("/slow".into()))
    );
    scenario::assert_excluded_untraced(&spans);
}

#[tokio::test]
async fn the_filters_alone_with_warp_test() {
    let octopus =
        Octopus::new(OctopusConfig::prometheus("warp-test", ["request_count"]).unwrap()).unwrap();
    // Outside the service a route filter names nothing and changes nothing.
    let hello = warp::path!("hello" / String).and(route("/hello/{name}"));
    assert_eq!(
        warp::test::request()
            .path("/hello/ann")
            .filter(&hello)
            .await
            .unwrap(),
        "ann"
    );
    assert!(!warp::test::request().path("/bye/ann").matches(&hello).await);
    let metrics = metrics_filter(&octopus);
    let response = warp::test::request().path("/metrics").reply(&metrics).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(
        !warp::test::request()
            .path("/metricsx")
            .matches(&metrics)
            .await
    );
    assert!(
        !warp::test::request()
            .method("POST")
            .path("/metrics")
            .matches(&metrics)
            .await
    );
    // Without the service no context is current: the trace id is all zeros.
    let trace = warp::test::request()
        .filter(&trace_context())
        .await
        .unwrap();
    assert_eq!(
        trace.trace_id(),
        octopus_core::opentelemetry::trace::TraceId::INVALID
    );
}

#[tokio::test]
async fn inbound_headers_become_parents_and_handler_work_joins_the_trace() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("warp-test");
    let mut service = octopus_warp::observe(octopus.clone(), warp::service(routes(&octopus)));
    let traceparent = [("traceparent", TRACEPARENT)];
    call(&mut service, "GET", "/hello/x", &traceparent).await;
    let uber_trace_id = [("uber-trace-id", UBER_TRACE_ID)];
    call(&mut service, "GET", "/hello/y", &uber_trace_id).await;
    let (status, _) = call(&mut service, "GET", "/hello/z", &MALFORMED).await;
    assert_eq!(status, 200);
    let child = [("traceparent", CHILD_TRACEPARENT)];
    let (_, body) = call(&mut service, "GET", "/child", &child).await;
    assert_eq!(body, CHILD_TRACE_ID);

    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(5, Duration::from_secs(5));
    scenario::assert_inbound_parents(&spans, "GET /hello/{name}", 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tcp_panics_disconnects_and_a_traced_call_share_one_trace() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("warp-test");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let service = octopus_warp::observe(octopus.clone(), warp::service(routes(&octopus)));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(octopus_warp::serve(listener, service, async {
        let _ = stopped.await;
    }));
    let tcp = OverTcp::new(addr, "warp-test");
    // Panics; the service calls itself (/call → /hello/x, as two services would); a client
    // goes away in the middle of a 30 s handler (in flight before its filter named the route).
    tcp.play("/hello/{name}", "hello, after", "/slow", "").await;
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();

    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(8, Duration::from_secs(5));
    scenario::assert_traced_call(&spans, "GET /hello/{name}");
    let slow = spans
        .iter()
        .find(|s| s.tag("url.path") == Some(&TagValue::String("/slow".into())))
        .unwrap();
    assert_eq!(slow.tag("octopus.cancelled"), Some(&TagValue::Bool(true)));
}

/// Records the late routes its observations are given; reads them, or says it does not.
#[derive(Clone)]
struct LateRoutes {
    reads_route: bool,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

struct LateRoute(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl octopus_core::RequestObserver for LateRoutes {
    type Observation = LateRoute;

    fn start<H: octopus_core::HeaderSource + ?Sized>(
        &self,
        _: &octopus_core::RequestView<'_, H>,
        _: &mut octopus_core::opentelemetry::Context,
    ) -> LateRoute {
        LateRoute(self.log.clone())
    }

    fn uses_route(&self) -> bool {
        self.reads_route
    }
}

impl octopus_core::Observation for LateRoute {
    fn finish(self, _: &octopus_core::ResponseView<'_>) {}

    fn set_route(&mut self, route: &str) {
        self.0.lock().unwrap().push(route.to_owned());
    }
}

#[tokio::test]
async fn named_routes_reach_only_observers_that_read_the_route() {
    for reads_route in [true, false] {
        let observer = LateRoutes {
            reads_route,
            log: Default::default(),
        };
        let hello = warp::path!("hello" / String)
            .and(route("/hello/{name}"))
            .map(|name: String| format!("hello, {name}"));
        let mut service = octopus_warp::observe(observer.clone(), warp::service(hello));
        assert_eq!(
            call(&mut service, "GET", "/hello/ann", &[]).await,
            (200, "hello, ann".to_owned())
        );
        // Without a route slot the `route` filter does nothing, and the request is answered.
        let expected: &[&str] = if reads_route { &["/hello/{name}"] } else { &[] };
        assert_eq!(*observer.log.lock().unwrap(), expected);
    }
}
