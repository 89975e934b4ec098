//! The server span lifecycle, driven through the seam, captured by the SDK's in-memory exporter.

mod support;

use std::time::{Duration, Instant};

use octopus_core::config::{InboundTrace, SamplerKind};
use octopus_core::opentelemetry::trace::{SpanKind, Status, TraceContextExt, TracerProvider as _};
use octopus_core::opentelemetry::{Key, KeyValue, Value};
use octopus_core::{
    HeaderCodec, Octopus, OctopusConfig, PropagatorKind, RequestObserver, RequestView,
    ResponseView, TracesExporter, TracingObserver,
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID: &str = "b7ad6b7169203331";

struct Harness {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
    observer: TracingObserver,
}

fn harness(sampler: SamplerKind, inbound: InboundTrace) -> Harness {
    let (provider, exporter) = support::in_memory_provider(sampler, inbound);
    let observer = TracingObserver::new(
        provider.tracer("test"),
        HeaderCodec::new(&PropagatorKind::DEFAULT),
        inbound,
    );
    Harness {
        exporter,
        provider,
        observer,
    }
}

impl Harness {
    fn spans(&self) -> Vec<SpanData> {
        self.provider.force_flush().unwrap();
        self.exporter.get_finished_spans().unwrap()
    }
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == Key::from(key.to_owned()))
        .map(|kv| &kv.value)
}

fn string(span: &SpanData, key: &str) -> Option<String> {
    attribute(span, key).map(|v| v.as_str().into_owned())
}

#[test]
fn a_request_with_traceparent_becomes_a_child_server_span_with_the_conventions() {
    let h = harness(SamplerKind::ParentBasedAlwaysOn, InboundTrace::Accept);
    let headers: &[(&str, &str)] = &[
        ("traceparent", &format!("00-{TRACE_ID}-{PARENT_ID}-01")),
        ("user-agent", "curl/8.5.0"),
        ("host", "api.example.com:8443"),
        ("baggage", "tenant=acme"),
    ];
    let view = RequestView::new("GET", "/users/42", headers)
        .with_route(Some("/users/{id}"))
        .with_scheme(Some("https"))
        .with_host(Some("api.example.com:8443"))
        .with_protocol_version(Some("1.1"));
    let request = h.observer.observe(&view);
    let context = request.context().clone();
    assert_eq!(
        context.span().span_context().trace_id().to_string(),
        TRACE_ID,
        "the handler's context carries the inbound trace"
    );
    assert_eq!(
        opentelemetry::baggage::BaggageExt::baggage(&context)
            .get("tenant")
            .map(|v| v.as_str().to_string()),
        Some("acme".into())
    );
    request.finish(&ResponseView::new(200));

    let spans = h.spans();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.name, "GET /users/{id}");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.parent_span_id.to_string(), PARENT_ID);
    assert!(span.parent_span_is_remote);
    assert_eq!(
        span.span_context.span_id(),
        context.span().span_context().span_id()
    );
    assert_eq!(span.status, Status::Unset);
    for (key, value) in [
        ("http.request.method", "GET"),
        ("http.route", "/users/{id}"),
        ("url.path", "/users/42"),
        ("url.scheme", "https"),
        ("server.address", "api.example.com"),
        ("network.protocol.version", "1.1"),
        ("user_agent.original", "curl/8.5.0"),
    ] {
        assert_eq!(string(span, key).as_deref(), Some(value), "{key}");
    }
    assert_eq!(attribute(span, "server.port"), Some(&Value::I64(8443)));
    assert_eq!(
        attribute(span, "http.response.status_code"),
        Some(&Value::I64(200))
    );
    assert_eq!(attribute(span, "error.type"), None);
    assert_eq!(attribute(span, "http.request.method_original"), None);
}

#[test]
fn server_errors_and_panics_are_error_spans_client_errors_are_not() {
    let h = harness(SamplerKind::AlwaysOn, InboundTrace::Accept);
    let headers: &[(&str, &str)] = &[];
    let run = |route: &str, response: ResponseView<'_>| {
        let view = RequestView::new("POST", "/x", headers).with_route(Some(route));
        h.observer.observe(&view).finish(&response);
    };
    run("/a", ResponseView::new(503));
    run("/b", ResponseView::panicked());
    run("/c", ResponseView::new(404));
    run("/d", ResponseView::failed(500, "DbTimeout"));
    run("/e", ResponseView::failed(401, "Unauthorized"));

    let spans = h.spans();
    let by_name = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
    let a = by_name("POST /a");
    assert!(matches!(a.status, Status::Error { .. }));
    assert_eq!(string(a, "error.type").as_deref(), Some("503"));
    let b = by_name("POST /b");
    assert!(matches!(b.status, Status::Error { .. }));
    assert_eq!(string(b, "error.type").as_deref(), Some("panic"));
    assert_eq!(
        attribute(b, "http.response.status_code"),
        Some(&Value::I64(500))
    );
    let c = by_name("POST /c");
    assert_eq!(c.status, Status::Unset);
    assert_eq!(attribute(c, "error.type"), None);
    let d = by_name("POST /d");
    assert_eq!(string(d, "error.type").as_deref(), Some("DbTimeout"));
    let e = by_name("POST /e");
    assert_eq!(
        e.status,
        Status::Unset,
        "a 4xx handler error is the client's"
    );
}

#[test]
fn unknown_methods_and_unmatched_routes_follow_the_conventions() {
    let h = harness(SamplerKind::AlwaysOn, InboundTrace::Accept);
    let headers: &[(&str, &str)] = &[];
    h.observer
        .observe(&RequestView::new("PURGE", "/cache/1", headers).with_route(Some("/cache/{id}")))
        .finish(&ResponseView::new(200));
    h.observer
        .observe(&RequestView::new("GET", "/wp-admin", headers))
        .finish(&ResponseView::new(404));
    let spans = h.spans();
    assert_eq!(spans[0].name, "HTTP /cache/{id}");
    assert_eq!(
        string(&spans[0], "http.request.method").as_deref(),
        Some("_OTHER")
    );
    assert_eq!(
        string(&spans[0], "http.request.method_original").as_deref(),
        Some("PURGE")
    );
    assert_eq!(spans[1].name, "GET");
    assert_eq!(attribute(&spans[1], "http.route"), None);
    assert_eq!(string(&spans[1], "url.path").as_deref(), Some("/wp-admin"));
}

#[test]
fn a_cancelled_request_still_ends_its_span_marked_cancelled() {
    let h = harness(SamplerKind::AlwaysOn, InboundTrace::Accept);
    let headers: &[(&str, &str)] = &[];
    let request = h
        .observer
        .observe(&RequestView::new("GET", "/slow/5000", headers).with_route(Some("/slow/{ms}")));
    assert!(h.spans().is_empty(), "not ended while in flight");
    drop(request);
    let spans = h.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(
        attribute(&spans[0], octopus_core::trace::CANCELLED_ATTRIBUTE),
        Some(&Value::Bool(true))
    );
    assert_eq!(spans[0].status, Status::Unset);
    assert_eq!(attribute(&spans[0], "http.response.status_code"), None);
}

#[test]
fn start_and_end_times_come_from_the_adapter_when_given() {
    let h = harness(SamplerKind::AlwaysOn, InboundTrace::Accept);
    let headers: &[(&str, &str)] = &[];
    let received = Instant::now() - Duration::from_millis(250);
    let request = h
        .observer
        .observe(&RequestView::new("GET", "/", headers).with_received_at(Some(received)));
    request.finish(&ResponseView::new(200).with_finished_at(received + Duration::from_millis(100)));
    let span = &h.spans()[0];
    let took = span.end_time.duration_since(span.start_time).unwrap();
    assert!(
        (Duration::from_millis(99)..=Duration::from_millis(101)).contains(&took),
        "{took:?}"
    );
}

#[test]
fn inbound_sampled_flag_policies() {
    let unsampled = format!("00-{TRACE_ID}-{PARENT_ID}-00");
    let headers: &[(&str, &str)] = &[("traceparent", &unsampled)];
    let view = || RequestView::new("GET", "/x", headers).with_route(Some("/x"));

    // accept: the caller said "not sampled", so nothing is exported.
    let accept = harness(SamplerKind::ParentBasedAlwaysOn, InboundTrace::Accept);
    let request = accept.observer.observe(&view());
    assert_eq!(
        request
            .context()
            .span()
            .span_context()
            .trace_id()
            .to_string(),
        TRACE_ID
    );
    request.finish(&ResponseView::new(200));
    assert!(accept.spans().is_empty());

    // ignore_sampled_flag: same trace and parent, but sampled by the local decision.
    let ignore = harness(
        SamplerKind::ParentBasedAlwaysOn,
        InboundTrace::IgnoreSampledFlag,
    );
    ignore
        .observer
        .observe(&view())
        .finish(&ResponseView::new(200));
    let spans = ignore.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(spans[0].parent_span_id.to_string(), PARENT_ID);

    // restart: a new trace, the caller's span as a link.
    let restart = harness(SamplerKind::ParentBasedAlwaysOn, InboundTrace::Restart);
    let sampled = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let headers: &[(&str, &str)] = &[("traceparent", &sampled)];
    restart
        .observer
        .observe(&RequestView::new("GET", "/x", headers))
        .finish(&ResponseView::new(200));
    let spans = restart.spans();
    assert_eq!(spans.len(), 1);
    assert_ne!(spans[0].span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(
        spans[0].parent_span_id,
        opentelemetry::trace::SpanId::INVALID
    );
    let links: Vec<_> = spans[0].links.iter().collect();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(links[0].span_context.span_id().to_string(), PARENT_ID);
}

#[test]
fn malformed_trace_headers_start_a_fresh_root_trace() {
    let h = harness(SamplerKind::ParentBasedAlwaysOn, InboundTrace::Accept);
    for bad in [
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        "garbage",
        "00-0af7651916cd43dd8448eb211c80319c",
        &"0".repeat(10_000),
    ] {
        let headers: &[(&str, &str)] = &[("traceparent", bad), ("uber-trace-id", bad), ("b3", bad)];
        h.observer
            .observe(&RequestView::new("GET", "/", headers))
            .finish(&ResponseView::new(200));
    }
    let spans = h.spans();
    assert_eq!(spans.len(), 5);
    for span in spans {
        assert_eq!(span.parent_span_id, opentelemetry::trace::SpanId::INVALID);
        assert_ne!(span.span_context.trace_id().to_string(), TRACE_ID);
    }
}

#[test]
fn octopus_writes_traceresponse_when_asked() {
    let octopus = Octopus::new(OctopusConfig {
        traces_exporter: TracesExporter::None,
        trace_response: true,
        ..OctopusConfig::default()
    })
    .unwrap();
    let headers: &[(&str, &str)] = &[("traceparent", &format!("00-{TRACE_ID}-{PARENT_ID}-01"))];
    let request = octopus.observe(&RequestView::new("GET", "/x", headers));
    let span_id = request
        .context()
        .span()
        .span_context()
        .span_id()
        .to_string();
    let mut response_headers: Vec<(String, String)> = Vec::new();
    request.finish_with_headers(&ResponseView::new(200), &mut response_headers);
    assert_eq!(
        response_headers,
        [(
            "traceresponse".to_string(),
            format!("00-{TRACE_ID}-{span_id}-01")
        )]
    );

    // An unsampled parent (flags 00, the default parent-based sampler): no span is recorded,
    // and the header still names the request's own span id, not sampled.
    let unsampled: &[(&str, &str)] = &[("traceparent", &format!("00-{TRACE_ID}-{PARENT_ID}-00"))];
    let request = octopus.observe(&RequestView::new("GET", "/x", unsampled));
    let span_context = request.context().span().span_context().clone();
    assert!(!span_context.is_sampled());
    assert_ne!(span_context.span_id().to_string(), PARENT_ID);
    let mut response_headers: Vec<(String, String)> = Vec::new();
    request.finish_with_headers(&ResponseView::new(200), &mut response_headers);
    assert_eq!(
        response_headers,
        [(
            "traceresponse".to_string(),
            format!("00-{TRACE_ID}-{}-00", span_context.span_id())
        )]
    );

    let quiet = Octopus::new(OctopusConfig {
        traces_exporter: TracesExporter::None,
        ..OctopusConfig::default()
    })
    .unwrap();
    let request = quiet.observe(&RequestView::new("GET", "/x", headers));
    let mut none: Vec<(String, String)> = Vec::new();
    request.finish_with_headers(&ResponseView::new(200), &mut none);
    assert!(none.is_empty());
    drop(KeyValue::new("unused", 0));
}

#[test]
fn excluded_paths_are_not_traced_and_tracing_can_be_off() {
    let octopus = Octopus::new(OctopusConfig {
        traces_exporter: TracesExporter::None,
        ..OctopusConfig::default()
    })
    .unwrap();
    let headers: &[(&str, &str)] = &[];
    let request = octopus.observe(&RequestView::new("GET", "/health", headers));
    assert!(!request.context().has_active_span());
    request.finish(&ResponseView::new(200));

    let off = Octopus::new(OctopusConfig {
        tracing_enabled: false,
        ..OctopusConfig::default()
    })
    .unwrap();
    assert!(off.tracer_provider().is_none());
    let request = off.observe(&RequestView::new("GET", "/x", headers));
    assert!(!request.context().has_active_span());
}

#[test]
fn the_console_exporter_builds_exports_and_shuts_down() {
    let octopus = Octopus::new(OctopusConfig {
        traces_exporter: TracesExporter::Console,
        ..OctopusConfig::default()
    })
    .unwrap();
    let headers: &[(&str, &str)] = &[];
    octopus
        .observe(&RequestView::new("GET", "/x", headers).with_route(Some("/x")))
        .finish(&ResponseView::new(200));
    let counts = octopus.shutdown().unwrap();
    assert_eq!((counts.ended, counts.exported, counts.failed), (1, 1, 0));
}

#[test]
fn a_route_known_only_after_start_renames_the_span() {
    let h = harness(SamplerKind::AlwaysOn, InboundTrace::Accept);
    let headers: &[(&str, &str)] = &[];
    let mut observed = h
        .observer
        .observe(&RequestView::new("GET", "/hello/ann", headers));
    observed.set_route("/hello/<name>");
    observed.finish(&ResponseView::new(200));
    let spans = h.spans();
    assert_eq!(spans[0].name, "GET /hello/<name>");
    assert_eq!(
        string(&spans[0], "http.route").as_deref(),
        Some("/hello/<name>")
    );
}

#[test]
fn client_supplied_attribute_values_are_capped() {
    let h = harness(SamplerKind::AlwaysOn, InboundTrace::Accept);
    let agent = "A".repeat(10_000);
    let path = format!("/{}", "p".repeat(100_000));
    let host = format!("{}.example.com", "h".repeat(1_000));
    let method = "X".repeat(500);
    let headers: &[(&str, &str)] = &[("user-agent", &agent)];
    let view = RequestView::new(&method, &path, headers).with_host(Some(&host));
    h.observer.observe(&view).finish(&ResponseView::new(200));
    let spans = h.spans();
    let span = &spans[0];
    let len = |key| string(span, key).map(|value| value.len());
    assert_eq!(
        len("user_agent.original"),
        Some(octopus_core::trace::MAX_USER_AGENT_LEN)
    );
    assert_eq!(len("url.path"), Some(octopus_core::trace::MAX_PATH_LEN));
    assert_eq!(
        len("server.address"),
        Some(octopus_core::trace::MAX_HOST_LEN)
    );
    assert_eq!(
        len("http.request.method_original"),
        Some(octopus_core::trace::MAX_METHOD_LEN)
    );
    assert_eq!(
        string(span, "http.request.method").as_deref(),
        Some("_OTHER")
    );
    assert!(string(span, "url.path").unwrap().starts_with("/ppp"));
}

#[tokio::test]
async fn credentials_in_an_absolute_form_target_never_reach_the_span() {
    let exporter = InMemorySpanExporter::default();
    let octopus = Octopus::builder()
        .sampler(SamplerKind::AlwaysOn, None)
        .span_exporter(exporter.clone())
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let observer = octopus.clone();
    let handler = move |request: http::Request<hyper::body::Incoming>| {
        let observer = observer.clone();
        async move {
            observer
                .observe(&RequestView::from_http(&request).with_route(Some("/x")))
                .finish(&ResponseView::new(200));
            Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
        }
    };
    let server = tokio::spawn(async move {
        let options = octopus_core::ServeOptions::new();
        octopus_core::serve::serve("test", listener, handler, &options, std::future::pending())
            .await
    });
    // A proxy-style request line: the target is an absolute URL with credentials in it.
    let response = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(
                b"GET http://user:pw@host:8080/x HTTP/1.1\r\nHost: host:8080\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    server.abort();

    octopus.tracer_provider().unwrap().force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(string(span, "server.address").as_deref(), Some("host"));
    assert_eq!(attribute(span, "server.port"), Some(&Value::I64(8080)));
    assert_eq!(string(span, "url.path").as_deref(), Some("/x"));
    for kv in &span.attributes {
        let value = kv.value.as_str();
        assert!(
            !value.contains("pw") && !value.contains("user"),
            "{} = {value}",
            kv.key
        );
    }
}
