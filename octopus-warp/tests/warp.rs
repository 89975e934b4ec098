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

#[tokio::test]
async fn named_routes_reach_only_observers_that_read_the_route() {
    for reads_route in [true, false] {
        let ends = Ends::new(reads_route);
        let hello = warp::path!("hello" / String)
            .and(route("/hello/{name}"))
            .map(|name: String| format!("hello, {name}"));
        let mut service = octopus_warp::observe(ends.clone(), warp::service(hello));
        assert_eq!(
            call(&mut service, "GET", "/hello/ann", &[]).await,
            (200, "hello, ann".to_owned())
        );
        // An observer that does not read routes is given none, and the request is answered.
        let expected = if reads_route {
            "/hello/ann /hello/{name} 200"
        } else {
            "/hello/ann - 200"
        };
        assert_eq!(*ends.log.lock().unwrap(), [expected]);
    }
}

/// Logs how each request ended, with the route it was given: `{path} {route} {status}`, or
/// `cancelled` for the status (`-` for no route); reads routes, or says it does not.
#[derive(Clone)]
struct Ends {
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reads_route: bool,
}

impl Ends {
    fn new(reads_route: bool) -> Self {
        Ends {
            log: Default::default(),
            reads_route,
        }
    }
}

struct End {
    path: String,
    route: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl octopus_core::RequestObserver for Ends {
    type Observation = End;

    fn start<H: octopus_core::HeaderSource + ?Sized>(
        &self,
        request: &octopus_core::RequestView<'_, H>,
        _: &mut octopus_core::opentelemetry::Context,
    ) -> End {
        End {
            path: request.path().to_owned(),
            route: "-".to_owned(),
            log: self.log.clone(),
        }
    }

    fn uses_route(&self) -> bool {
        self.reads_route
    }
}

impl octopus_core::Observation for End {
    fn finish(self, response: &octopus_core::ResponseView<'_>) {
        let line = format!("{} {} {}", self.path, self.route, response.status());
        self.log.lock().unwrap().push(line);
    }

    fn cancel(self) {
        let line = format!("{} {} cancelled", self.path, self.route);
        self.log.lock().unwrap().push(line);
    }

    fn set_route(&mut self, route: &str) {
        route.clone_into(&mut self.route);
    }
}

/// The route of a request is kept between the polls of its future, though other requests on the
/// same thread name other routes (or none) in between: the name lives in a slot of the thread
/// only while its request is polled. Requests whose filter is pending after naming its route
/// (a sleep) end with it — answered, or dropped — and so does a panicking one.
#[tokio::test(flavor = "current_thread")]
async fn interleaved_requests_on_one_thread_keep_their_own_routes() {
    use futures_util::FutureExt as _;

    let octopus =
        Octopus::new(OctopusConfig::prometheus("warp-test", ["request_count"]).unwrap()).unwrap();
    let ends = Ends::new(true);
    let slow = warp::path!("slow" / String)
        .and(route("/slow/{step}"))
        .and_then(|step: String| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, Infallible>(step.into_response())
        });
    let fast = warp::path!("fast")
        .and(route("/fast"))
        .map(|| "fast".into_response());
    let boom = warp::path!("boom")
        .and(route("/boom"))
        .map(|| -> Response { panic!("handler panicked on purpose") });
    let routes = slow
        .or(fast)
        .unify()
        .or(boom)
        .unify()
        .or(metrics_filter(&octopus))
        .unify();
    let mut service = octopus_warp::observe((octopus.clone(), ends.clone()), warp::service(routes));
    let get = |path: &str| http::Request::get(path).body(Empty::new()).unwrap();

    // Both name their route in their first poll, then sleep.
    let mut answered = std::pin::pin!(service.call(get("/slow/a")));
    assert!(answered.as_mut().now_or_never().is_none());
    let mut dropped = Box::pin(service.call(get("/slow/b")));
    assert!(dropped.as_mut().now_or_never().is_none());
    // Meanwhile, on the same thread: another route, no route, a panic under a route.
    assert_eq!(call(&mut service, "GET", "/fast", &[]).await.0, 200);
    assert_eq!(call(&mut service, "GET", "/nope", &[]).await.0, 404);
    assert_eq!(call(&mut service, "GET", "/boom", &[]).await.0, 500);
    drop(dropped);
    assert_eq!(answered.await.unwrap().status(), 200);
    // And after them all, a request that names no route does not inherit one.
    assert_eq!(call(&mut service, "GET", "/nope", &[]).await.0, 404);

    assert_eq!(
        *ends.log.lock().unwrap(),
        [
            "/fast /fast 200",
            "/nope - 404",
            "/boom /boom 500",
            "/slow/b /slow/{step} cancelled",
            "/slow/a /slow/{step} 200",
            "/nope - 404",
        ]
    );
    let (status, text) = call(&mut service, "GET", "/metrics", &[]).await;
    assert_eq!(status, 200);
    let m = octopus_core::testing::exposition::HttpMetrics::parse(&text, "warp-test");
    assert_eq!(
        m.requests("GET", "200", "/slow/{step}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(m.requests("GET", "200", "/fast"), Some(1.0), "{text}");
    assert_eq!(m.requests("GET", "404", ""), Some(2.0), "{text}");
    assert_eq!(m.requests("GET", "500", "/boom"), Some(1.0), "{text}");
}
