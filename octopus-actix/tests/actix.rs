//! octopus-actix in-process (`actix_web::test`) and over real TCP.

use std::time::Duration;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, test, web};
use octopus_actix::{OctopusMiddleware, TraceContext, metrics_resource};
use octopus_core::Octopus;
use octopus_core::client::TracedClient;
use octopus_core::opentelemetry::trace::{Span as _, TraceContextExt, Tracer, TracerProvider as _};
use octopus_core::testing::jaeger_agent::{JaegerAgentReceiver, TagValue};
use octopus_core::testing::scenario::{
    self, CHILD_TRACE_ID, CHILD_TRACEPARENT, MALFORMED, OverTcp, TRACEPARENT, UBER_TRACE_ID,
};

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "late"
}

async fn panics() -> &'static str {
    panic!("handler panicked on purpose")
}

async fn unavailable() -> Result<&'static str, actix_web::Error> {
    Err(actix_web::error::ErrorServiceUnavailable("down for now"))
}

async fn streamed() -> HttpResponse {
    let chunks = (0..3).map(|i| Ok::<_, actix_web::Error>(web::Bytes::from(format!("chunk{i};"))));
    HttpResponse::Ok().streaming(futures_util::stream::iter(chunks))
}

async fn call(
    client: web::Data<TracedClient>,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> Result<String, actix_web::Error> {
    let response = client
        .get(&query["url"])
        .send()
        .await
        .map_err(actix_web::error::ErrorBadGateway)?;
    Ok(response.status().as_u16().to_string())
}

fn configure(octopus: &Octopus) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
    let tracer = octopus.tracer_provider().unwrap().tracer("handler");
    let client = octopus.traced_client();
    let octopus = octopus.clone();
    move |config| {
        config
            .app_data(web::Data::new(client))
            .route("/hello/{name}", web::get().to(|| async { "hello" }))
            .route(
                "/fail",
                web::get().to(|| async { HttpResponse::InternalServerError().finish() }),
            )
            .route("/unavailable", web::get().to(unavailable))
            .route("/slow", web::get().to(slow))
            .route(
                "/sleep/{ms}",
                web::get().to(|ms: web::Path<u64>| async move {
                    tokio::time::sleep(Duration::from_millis(*ms)).await;
                    "slept"
                }),
            )
            .route("/panic", web::get().to(panics))
            .route("/stream", web::get().to(streamed))
            .route("/call", web::get().to(call))
            .route("/health", web::get().to(|| async { "ok" }))
            .route(
                "/child",
                web::get().to(move |trace: TraceContext| {
                    let tracer = tracer.clone();
                    async move {
                        let current = octopus_core::opentelemetry::Context::current();
                        assert_eq!(current.span().span_context().trace_id(), trace.trace_id());
                        let span = tracer.start("child work");
                        let id = span.span_context().trace_id().to_string();
                        drop(span);
                        id
                    }
                }),
            )
            .service(
                web::scope("/admin")
                    // A middleware inside ours that refuses with an `Err`.
                    .wrap_fn(|_, _| async {
                        Err::<ServiceResponse, _>(actix_web::error::ErrorForbidden("no"))
                    })
                    .route("/users/{id}", web::get().to(|| async { "never" })),
            )
            .service(metrics_resource(&octopus));
    }
}

/// Runs a request in-process; an `Err` becomes the response actix would render for it.
async fn call_status<S, B>(app: &S, path: &str, headers: &[(&str, &str)]) -> (StatusCode, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let mut request = test::TestRequest::get().uri(path);
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    match app.call(request.to_request()).await {
        Ok(response) => {
            let status = response.status();
            let body = test::read_body(response).await;
            (status, String::from_utf8(body.to_vec()).unwrap())
        }
        Err(error) => (error.error_response().status(), error.to_string()),
    }
}

#[actix_web::test]
async fn exact_metrics_with_templates_unmatched_errors_panics_and_cancels() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("actix-test");
    let app = test::init_service(
        App::new()
            .configure(configure(&octopus))
            .wrap(OctopusMiddleware::new(octopus.clone())),
    )
    .await;
    for name in ["bob", "alice", "carol"] {
        let (status, body) = call_status(&app, &format!("/hello/{name}"), &[]).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "hello"));
    }
    assert_eq!(
        call_status(&app, "/nope", &[]).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call_status(&app, "/wp-login.php", &[]).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call_status(&app, "/fail", &[]).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        call_status(&app, "/unavailable", &[]).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        call_status(&app, "/admin/users/7", &[]).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = call_status(&app, "/panic", &[]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(
        call_status(&app, "/panic", &[]).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        call_status(&app, "/stream", &[]).await,
        (StatusCode::OK, "chunk0;chunk1;chunk2;".to_string())
    );
    assert_eq!(call_status(&app, "/health", &[]).await.0, StatusCode::OK);
    // A request future dropped mid-handler, as when the client goes away.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        app.call(test::TestRequest::get().uri("/slow").to_request()),
    )
    .await;
    assert!(cancelled.is_err());

    let (status, text) = call_status(&app, "/metrics", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let m = scenario::assert_served_metrics(&text, "actix-test", "/hello/{name}", 2.0);
    assert_eq!(m.requests("GET", "503", "/unavailable"), Some(1.0));
    assert_eq!(m.requests("GET", "403", "/admin/users/{id}"), Some(1.0));
    assert_eq!(m.requests("GET", "200", "/stream"), Some(1.0));
    for route in ["/slow", "/unavailable", "/admin/users/{id}"] {
        assert_eq!(m.active("GET", route), Some(0.0), "{route}\n{text}");
    }

    let spans = agent.shutdown_and_collect(&octopus, 12);
    let span = |name: &str| spans.iter().find(|s| s.operation_name == name).unwrap();
    scenario::assert_panic_span(&spans, "panic");
    assert_eq!(
        span("GET /unavailable").tag("error.type"),
        Some(&TagValue::String("503".into()))
    );
    assert_eq!(
        span("GET /admin/users/{id}").tag("http.response.status_code"),
        Some(&TagValue::Long(403))
    );
    assert_eq!(span("GET /admin/users/{id}").tag("error"), None);
    assert_eq!(
        span("GET /slow").tag("octopus.cancelled"),
        Some(&TagValue::Bool(true))
    );
    scenario::assert_unmatched_spans(&spans, 2, "404s");
    scenario::assert_excluded_untraced(&spans);
}

#[actix_web::test]
async fn inbound_headers_become_parents_and_handler_work_joins_the_trace() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("actix-test");
    let app = test::init_service(
        App::new()
            .configure(configure(&octopus))
            .wrap(OctopusMiddleware::new(octopus.clone())),
    )
    .await;
    call_status(&app, "/hello/x", &[("traceparent", TRACEPARENT)]).await;
    call_status(&app, "/hello/y", &[("uber-trace-id", UBER_TRACE_ID)]).await;
    // Malformed headers are ignored: a new root, never an error.
    let (status, _) = call_status(&app, "/hello/z", &MALFORMED).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = call_status(&app, "/child", &[("traceparent", CHILD_TRACEPARENT)]).await;
    assert_eq!(body, CHILD_TRACE_ID);

    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(5, Duration::from_secs(5));
    scenario::assert_inbound_parents(&spans, "GET /hello/{name}", 1);
}

/// A real server: `HttpServer` with one worker on an ephemeral loopback port, which drops a
/// request's future when its client goes away (`h1_allow_half_closed(false)`).
fn serve(octopus: &Octopus) -> (std::net::SocketAddr, actix_web::dev::ServerHandle) {
    serve_with(octopus, false)
}

fn serve_with(
    octopus: &Octopus,
    allow_half_closed: bool,
) -> (std::net::SocketAddr, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let octopus = octopus.clone();
    let server = HttpServer::new(move || {
        App::new()
            .configure(configure(&octopus))
            .wrap(OctopusMiddleware::new(octopus.clone()))
    })
    .workers(1)
    .h1_allow_half_closed(allow_half_closed)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (addr, handle)
}

#[actix_web::test]
async fn over_tcp_panics_disconnects_and_a_traced_call_share_one_trace() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("actix-test");
    let (addr, handle) = serve(&octopus);
    let tcp = OverTcp::new(addr, "actix-test");

    // The worker survives panics; the service calls itself (/call → /hello/x, as two services
    // would); a client goes away in the middle of a 30 s handler.
    let m = tcp.play("/hello/{name}", "hello", "/slow", "/slow").await;
    assert_eq!(m.active("GET", "/panic"), Some(0.0));
    handle.stop(true).await;

    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(8, Duration::from_secs(5));
    scenario::assert_traced_call(&spans, "GET /hello/{name}");
    let slow = spans
        .iter()
        .find(|s| s.operation_name == "GET /slow")
        .unwrap();
    assert_eq!(slow.tag("octopus.cancelled"), Some(&TagValue::Bool(true)));
}

#[actix_web::test]
async fn with_half_closed_connections_allowed_the_handler_runs_to_its_end() {
    let agent = JaegerAgentReceiver::start();
    let octopus = agent.octopus("actix-test");
    // actix-web's default: a client that closed its side may still read the response, so the
    // handler is not cancelled; the request is in flight until it returns.
    let (addr, handle) = serve_with(&octopus, true);
    let m = OverTcp::new(addr, "actix-test")
        .abandon("/sleep/1000", "/sleep/{ms}")
        .await;
    assert_eq!(m.requests("GET", "200", "/sleep/{ms}"), Some(1.0));
    handle.stop(true).await;
    octopus.shutdown().unwrap();
}

/// Records the route template each request's `start` saw; reads it, or says it does not.
#[derive(Clone)]
struct RouteSeen {
    reads_route: bool,
    log: std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>,
}

impl RouteSeen {
    fn new(reads_route: bool) -> Self {
        RouteSeen {
            reads_route,
            log: Default::default(),
        }
    }

    fn seen(&self) -> Vec<Option<String>> {
        self.log.lock().unwrap().clone()
    }
}

impl octopus_core::RequestObserver for RouteSeen {
    type Observation = ();

    fn start<H: octopus_core::HeaderSource + ?Sized>(
        &self,
        request: &octopus_core::RequestView<'_, H>,
        _: &mut octopus_core::opentelemetry::Context,
    ) {
        self.log
            .lock()
            .unwrap()
            .push(request.route().map(str::to_owned));
    }

    fn uses_route(&self) -> bool {
        self.reads_route
    }
}

/// `GET /users/42` and `GET /nope` through an app wrapped in `observer`.
async fn users_and_a_404<O: octopus_core::RequestObserver + Clone>(observer: O) {
    let app = test::init_service(
        App::new()
            .route("/users/{id}", web::get().to(|| async { "user" }))
            .wrap(OctopusMiddleware::new(observer)),
    )
    .await;
    assert_eq!(
        call_status(&app, "/users/42", &[]).await,
        (StatusCode::OK, "user".to_owned())
    );
    assert_eq!(
        call_status(&app, "/nope", &[]).await.0,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn the_route_is_matched_only_for_observers_that_read_it() {
    let reads = RouteSeen::new(true);
    users_and_a_404(reads.clone()).await;
    assert_eq!(reads.seen(), [Some("/users/{id}".to_owned()), None]);

    // An observer that says it does not read the route is not given one: the middleware
    // skipped `match_pattern`.
    let ignores = RouteSeen::new(false);
    users_and_a_404(ignores.clone()).await;
    assert_eq!(ignores.seen(), [None, None]);

    // An Octopus with no metrics and no tracing reads no route, but a stack with it matches
    // the route for the member that does.
    let skeleton = Octopus::new(octopus_core::OctopusConfig {
        metrics: Vec::new(),
        tracing_enabled: false,
        ..octopus_core::OctopusConfig::default()
    })
    .unwrap();
    assert!(!octopus_core::RequestObserver::uses_route(&skeleton));
    let stacked = RouteSeen::new(true);
    users_and_a_404((skeleton.clone(), stacked.clone(), ignores.clone())).await;
    assert_eq!(stacked.seen(), [Some("/users/{id}".to_owned()), None]);
    assert_eq!(
        ignores.seen(),
        [None, None, Some("/users/{id}".to_owned()), None]
    );

    // Nor does a stack of members that all ignore it: the requests are answered all the same.
    users_and_a_404((skeleton, ignores.clone(), ())).await;
    assert_eq!(ignores.seen()[4..], [None, None]);
}

#[actix_web::test]
async fn a_repeated_path_gets_the_same_route_as_the_first_time() {
    // The worker remembers each path's template: the second and third rounds are answered from
    // that memory and must say what the first round's match said, 404s and scopes included.
    let seen = RouteSeen::new(true);
    let app = test::init_service(
        App::new()
            .route("/users/{id}", web::get().to(|| async { "user" }))
            .service(web::scope("/admin").route("/users/{id}", web::get().to(|| async { "a" })))
            .wrap(OctopusMiddleware::new(seen.clone())),
    )
    .await;
    let paths = [
        ("/users/42", StatusCode::OK, Some("/users/{id}")),
        ("/nope", StatusCode::NOT_FOUND, None),
        ("/admin/users/42", StatusCode::OK, Some("/admin/users/{id}")),
        ("/users/7", StatusCode::OK, Some("/users/{id}")),
    ];
    for _ in 0..3 {
        for (path, status, _) in paths {
            assert_eq!(call_status(&app, path, &[]).await.0, status, "{path}");
        }
    }
    let expected: Vec<Option<String>> = (0..3)
        .flat_map(|_| paths.iter().map(|(_, _, route)| route.map(str::to_owned)))
        .collect();
    assert_eq!(seen.seen(), expected);
}
