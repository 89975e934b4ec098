//! The traced client against a loopback HTTP server written here, which records the headers it
//! receives.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use octopus_core::client::ParentContext;
use octopus_core::opentelemetry::context::FutureExt as _;
use octopus_core::opentelemetry::trace::{
    SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _,
};
use octopus_core::opentelemetry::{Context, Value};
use octopus_core::testing::otlp::closed_port;
use octopus_core::{Octopus, PropagatorKind, SamplerKind};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};

type Seen = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// Serves `/ok` (200), `/missing` (404) and `/slow` (200 after 2 s), recording request headers.
fn server() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut stream) = stream else { continue };
            let record = record.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let path = line.split(' ').nth(1).unwrap_or("/").to_string();
                let mut headers = HashMap::new();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = header.trim_end().split_once(": ") {
                        headers.insert(name.to_ascii_lowercase(), value.to_string());
                    }
                }
                // The request target as it arrived, beside the headers.
                headers.insert(":target".into(), path.clone());
                record.lock().unwrap().push(headers);
                let status = match path.as_str() {
                    "/missing" => "404 Not Found",
                    "/slow" => {
                        std::thread::sleep(Duration::from_secs(2));
                        "200 OK"
                    }
                    _ => "200 OK",
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
            });
        }
    });
    (base, seen)
}

fn exporter() -> InMemorySpanExporter {
    InMemorySpanExporter::default()
}

fn octopus(exporter: &InMemorySpanExporter) -> Octopus {
    Octopus::builder()
        .service_name("caller")
        .sampler(SamplerKind::AlwaysOn, None)
        .span_exporter(exporter.clone())
        .propagators(PropagatorKind::parse_list("tracecontext,jaeger,b3").unwrap())
        .build()
        .unwrap()
}

fn finished(octopus: &Octopus, exporter: &InMemorySpanExporter) -> Vec<SpanData> {
    // Flush, not shut down: the in-memory exporter forgets everything at shutdown.
    octopus.tracer_provider().unwrap().force_flush().unwrap();
    exporter.get_finished_spans().unwrap()
}

fn string(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

fn value<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

#[tokio::test]
async fn every_format_carries_the_client_span_and_its_parent_is_the_current_span() {
    let (base, seen) = server();
    let exporter = exporter();
    let octopus = octopus(&exporter);
    let client = octopus.traced_client();
    let tracer = octopus.tracer_provider().unwrap().tracer("handler");
    let parent = Context::new().with_span(tracer.start("handler"));
    let parent_span_id = parent.span().span_context().span_id();

    let url = format!("{base}/ok").replace("http://", "http://user:pass@");
    let response = client
        .get(&url)
        .send()
        .with_context(parent.clone())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    parent.span().end();

    let spans = finished(&octopus, &exporter);
    let client_span = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .unwrap();
    assert_eq!(client_span.name, "GET");
    assert_eq!(client_span.parent_span_id, parent_span_id);
    assert_eq!(
        client_span.span_context.trace_id(),
        parent.span().span_context().trace_id()
    );
    assert_eq!(
        string(client_span, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(
        string(client_span, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    let port: i64 = base.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(value(client_span, "server.port"), Some(&Value::I64(port)));
    // reqwest moves URL credentials into an Authorization header before middleware sees the
    // request; either way none reach the span (the redaction itself is unit-tested).
    assert_eq!(string(client_span, "url.full"), Some(format!("{base}/ok")));
    assert_eq!(
        value(client_span, "http.response.status_code"),
        Some(&Value::I64(200))
    );
    assert_eq!(client_span.status, Status::Unset);

    let trace = client_span.span_context.trace_id().to_string();
    let span = client_span.span_context.span_id().to_string();
    let headers = seen.lock().unwrap()[0].clone();
    assert_eq!(headers["traceparent"], format!("00-{trace}-{span}-01"));
    assert_eq!(headers["uber-trace-id"], format!("{trace}:{span}:0:1"));
    assert_eq!(headers["b3"], format!("{trace}-{span}-1"));
}

#[tokio::test]
async fn an_explicit_parent_context_is_used_where_none_is_current() {
    let (base, seen) = server();
    let exporter = exporter();
    let octopus = octopus(&exporter);
    let tracer = octopus.tracer_provider().unwrap().tracer("handler");
    let parent = Context::new().with_span(tracer.start("rocket handler"));
    let response = octopus
        .traced_client()
        .post(format!("{base}/missing"))
        .with_extension(ParentContext(parent.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    parent.span().end();
    let spans = finished(&octopus, &exporter);
    let client_span = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .unwrap();
    assert_eq!(client_span.name, "POST");
    assert_eq!(
        client_span.parent_span_id,
        parent.span().span_context().span_id()
    );
    assert!(
        matches!(client_span.status, Status::Error { .. }),
        "4xx is a client error"
    );
    assert_eq!(string(client_span, "error.type").as_deref(), Some("404"));
    assert!(
        seen.lock().unwrap()[0]["traceparent"]
            .contains(&client_span.span_context.span_id().to_string())
    );
}

#[tokio::test]
async fn connection_refused_and_timeout_reach_the_caller_and_mark_the_span() {
    let (base, _) = server();
    let exporter = exporter();
    let octopus = octopus(&exporter);
    let client = octopus.traced_client();

    let refused = client
        .get(format!("http://127.0.0.1:{}/x", closed_port()))
        .send()
        .await
        .unwrap_err();
    match &refused {
        reqwest_middleware::Error::Reqwest(e) => assert!(e.is_connect(), "{e:?}"),
        other => panic!("not a reqwest error: {other:?}"),
    }
    let timed_out = client
        .get(format!("{base}/slow"))
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    match &timed_out {
        reqwest_middleware::Error::Reqwest(e) => assert!(e.is_timeout(), "{e:?}"),
        other => panic!("not a reqwest error: {other:?}"),
    }

    let spans = finished(&octopus, &exporter);
    assert_eq!(spans.len(), 2);
    let kinds: Vec<String> = spans
        .iter()
        .map(|s| string(s, "error.type").unwrap())
        .collect();
    assert_eq!(kinds, ["connect", "timeout"]);
    for span in &spans {
        assert!(matches!(span.status, Status::Error { .. }));
        assert_eq!(value(span, "http.response.status_code"), None);
    }
}

/// Retries once whatever happens, as a retry middleware outside ours would.
struct RetryOnce;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for RetryOnce {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let again = request.try_clone().expect("a body-less request clones");
        let _first = next.clone().run(request, extensions).await;
        next.run(again, extensions).await
    }
}

#[tokio::test]
async fn each_attempt_inside_a_retry_middleware_is_its_own_span() {
    let (base, seen) = server();
    let exporter = exporter();
    let octopus = octopus(&exporter);
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetryOnce)
        .with(octopus.client_middleware())
        .build();
    let tracer = octopus.tracer_provider().unwrap().tracer("handler");
    let parent = Context::new().with_span(tracer.start("handler"));
    client
        .get(format!("{base}/missing"))
        .send()
        .with_context(parent.clone())
        .await
        .unwrap();
    let spans = finished(&octopus, &exporter);
    let attempts: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Client)
        .collect();
    assert_eq!(attempts.len(), 2);
    assert_eq!(value(attempts[0], "http.request.resend_count"), None);
    assert_eq!(
        value(attempts[1], "http.request.resend_count"),
        Some(&Value::I64(1))
    );
    assert_ne!(
        attempts[0].span_context.span_id(),
        attempts[1].span_context.span_id()
    );
    // Each attempt carried its own span id on the wire.
    let seen = seen.lock().unwrap();
    for (headers, span) in seen.iter().zip(&attempts) {
        assert!(headers["traceparent"].contains(&span.span_context.span_id().to_string()));
    }
}

#[tokio::test]
async fn signed_url_query_values_are_redacted_in_the_span_but_sent_as_they_are() {
    let (base, seen) = server();
    let exporter = exporter();
    let octopus = octopus(&exporter);
    let response = octopus
        .traced_client()
        .get(format!("{base}/ok?X-Goog-Signature=abc&x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let spans = finished(&octopus, &exporter);
    assert_eq!(spans.len(), 1);
    assert_eq!(
        string(&spans[0], "url.full"),
        Some(format!("{base}/ok?X-Goog-Signature=REDACTED&x=1"))
    );
    assert_eq!(
        seen.lock().unwrap()[0][":target"],
        "/ok?X-Goog-Signature=abc&x=1"
    );
}

#[tokio::test]
async fn a_call_the_caller_stops_waiting_for_ends_its_span_as_cancelled() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hang", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(30));
        drop(held);
    });
    let exporter = exporter();
    let octopus = octopus(&exporter);
    let call = octopus.traced_client().get(&url).send();
    let outcome = tokio::time::timeout(Duration::from_millis(300), call).await;
    assert!(outcome.is_err(), "the server never answers: {outcome:?}");

    let spans = finished(&octopus, &exporter);
    assert_eq!(spans.len(), 1, "the dropped call's span ended");
    let span = &spans[0];
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(string(span, "error.type").as_deref(), Some("cancelled"));
    assert_eq!(value(span, "octopus.cancelled"), Some(&Value::Bool(true)));
    assert_eq!(value(span, "http.response.status_code"), None);
    assert_eq!(
        span.status,
        Status::Unset,
        "a cancelled call is not an error"
    );
}
