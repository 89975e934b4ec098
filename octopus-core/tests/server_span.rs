//! Octopus's own server span against the SDK span it replaces: the same requests, handlers and
//! endings through an `Octopus` (native span, span pipeline) and through a `TracingObserver` on
//! an SDK tracer (SDK span, simple processor) give the same exported `SpanData`, apart from
//! random ids and times.
mod support;

use octopus_core::config::{InboundTrace, SamplerKind};
use octopus_core::opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use octopus_core::opentelemetry::{Context, InstrumentationScope, KeyValue, Value};
use octopus_core::{
    HeaderCodec, Octopus, OctopusConfig, PropagatorKind, RequestObserver, RequestView,
    ResponseView, TracingObserver,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData, SpanExporter};

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// An attribute list as compared.
type Attributes = Vec<(String, Value)>;

/// What is compared: everything but random ids and times.
#[derive(Debug, PartialEq)]
struct Shape {
    name: String,
    kind: SpanKind,
    attributes: Attributes,
    dropped_attributes: u32,
    events: Vec<(String, Attributes, u32)>,
    dropped_events: u32,
    links: Vec<(String, String, usize)>,
    dropped_links: u32,
    status: Status,
    /// The parent when it came from the request, else whether there is one.
    parent: String,
    parent_is_remote: bool,
    /// The trace id when it came from the request.
    trace: String,
    flags: u8,
    scope: (String, Option<String>),
}

fn shape(span: &SpanData) -> Shape {
    let attributes = |kvs: &[KeyValue]| {
        kvs.iter()
            .map(|kv| (kv.key.to_string(), kv.value.clone()))
            .collect::<Vec<_>>()
    };
    let inherited = span.span_context.trace_id().to_string() == TRACEPARENT[3..35];
    Shape {
        name: span.name.to_string(),
        kind: span.span_kind.clone(),
        attributes: attributes(&span.attributes),
        dropped_attributes: span.dropped_attributes_count,
        events: span
            .events
            .iter()
            .map(|e| {
                (
                    e.name.to_string(),
                    attributes(&e.attributes),
                    e.dropped_attributes_count,
                )
            })
            .collect(),
        dropped_events: span.events.dropped_count,
        links: span
            .links
            .iter()
            .map(|l| {
                (
                    l.span_context.trace_id().to_string(),
                    l.span_context.span_id().to_string(),
                    l.attributes.len(),
                )
            })
            .collect(),
        dropped_links: span.links.dropped_count,
        status: span.status.clone(),
        parent: if span.parent_span_is_remote {
            span.parent_span_id.to_string()
        } else {
            format!(
                "local:{}",
                span.parent_span_id != opentelemetry::trace::SpanId::INVALID
            )
        },
        parent_is_remote: span.parent_span_is_remote,
        trace: if inherited {
            span.span_context.trace_id().to_string()
        } else {
            "new".into()
        },
        flags: span.span_context.trace_flags().to_u8(),
        scope: (
            span.instrumentation_scope.name().to_owned(),
            span.instrumentation_scope.version().map(str::to_owned),
        ),
    }
}

/// The same script of requests, against `observer`; child spans with `provider`'s tracer.
fn script<O: RequestObserver>(observer: &O, provider: &SdkTracerProvider) {
    let tracer = provider.tracer("handler");
    let traced: &[(&str, &str)] = &[
        ("traceparent", TRACEPARENT),
        ("user-agent", "curl/8.5.0"),
        ("baggage", "tenant=acme"),
    ];
    let none: &[(&str, &str)] = &[];

    // A handler that adds attributes, events, a status and a child span to the server span.
    let view = RequestView::new("GET", "/users/42", traced)
        .with_route(Some("/users/{id}"))
        .with_scheme(Some("https"))
        .with_host(Some("api.example.com:8443"))
        .with_protocol_version(Some("1.1"));
    let request = observer.observe(&view);
    {
        let _current = request.context().clone().attach();
        let current = Context::current();
        let span = current.span();
        span.set_attribute(KeyValue::new("app.user", 7));
        span.add_event(
            "cache miss",
            vec![KeyValue::new("key", "user:42"), KeyValue::new("ms", 1.5)],
        );
        span.set_status(Status::Ok);
        let mut child = tracer.start_with_context("load user", &current);
        child.set_attribute(KeyValue::new("db.system", "postgresql"));
        child.end();
    }
    request.finish(&ResponseView::new(200));

    // A route named after start, before and after a handler's attribute; an unknown method.
    let mut request = observer.observe(&RequestView::new("PURGE", "/late/1", none));
    request.set_route("/late/{id}");
    request
        .context()
        .span()
        .set_attribute(KeyValue::new("after.route", true));
    request.finish(&ResponseView::new(204));
    let mut request = observer.observe(&RequestView::new("GET", "/late/2", none));
    request
        .context()
        .span()
        .set_attribute(KeyValue::new("before.route", "x"));
    request.set_route("/late/{id}");
    request.finish(&ResponseView::new(200));

    // Schemes and protocol versions: common ones (kept by index in the native record), others
    // (copied with the request's text), one past the cap.
    let long_version = "9".repeat(100);
    for (path, scheme, version) in [
        ("/proto/h2", "http", "2"),
        ("/proto/ws", "wss", "0.9"),
        ("/proto/long", "https", long_version.as_str()),
    ] {
        // A host without a port: `server.port` is the scheme's default, when it has one.
        let view = RequestView::new("GET", path, none)
            .with_scheme(Some(scheme))
            .with_host(Some("api.example.com"))
            .with_protocol_version(Some(version));
        observer.observe(&view).finish(&ResponseView::new(200));
    }

    // Body sizes: the request's from `Content-Length`, the response's as the adapter says; a
    // streamed response's size (unknown at the end) is no attribute.
    let sized: &[(&str, &str)] = &[("content-length", "1500")];
    let request = observer.observe(&RequestView::new("POST", "/upload", sized));
    request.finish(&ResponseView::new(201).with_body_size(Some(8)));
    let request =
        observer.observe(&RequestView::new("GET", "/stream", none).with_body_size(Some(0)));
    request.finish(&ResponseView::new(200));

    // Errors, panics, a 4xx handler error, a cancellation.
    for (path, response) in [
        ("/e/503", ResponseView::new(503)),
        ("/e/panic", ResponseView::panicked()),
        ("/e/db", ResponseView::failed(500, "DbTimeout")),
        ("/e/401", ResponseView::failed(401, "Unauthorized")),
    ] {
        let request =
            observer.observe(&RequestView::new("POST", path, none).with_route(Some("/e/{kind}")));
        request.finish(&response);
    }
    drop(observer.observe(&RequestView::new("GET", "/cancelled", traced)));

    // Limits: attributes, events, event attributes.
    let request = observer.observe(&RequestView::new("GET", "/limits", none));
    {
        let span = request.context().span();
        for i in 0..140 {
            span.set_attribute(KeyValue::new(format!("a.{i}"), i));
        }
        for i in 0..130 {
            let attributes = (0..(if i == 0 { 130 } else { 1 }))
                .map(|j| KeyValue::new(format!("e.{j}"), j))
                .collect();
            span.add_event(format!("event {i}"), attributes);
        }
        span.add_link(
            opentelemetry::trace::SpanContext::empty_context(),
            vec![KeyValue::new("l", 1)],
        );
    }
    request.finish(&ResponseView::new(200));

    // An unsampled parent: with a parent-based sampler, no span at all.
    let unsampled: &[(&str, &str)] = &[(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
    )];
    let request = observer.observe(&RequestView::new("GET", "/unsampled", unsampled));
    request
        .context()
        .span()
        .set_attribute(KeyValue::new("lost", 1));
    request.finish(&ResponseView::new(200));
}

/// The spans of the script through an Octopus instance (native server span).
fn native(sampler: SamplerKind, inbound: InboundTrace) -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    let octopus = Octopus::builder()
        .config(OctopusConfig {
            inbound_trace: inbound,
            ..OctopusConfig::default()
        })
        .metrics([])
        .sampler(sampler, None)
        .span_exporter(exporter.clone())
        .build()
        .unwrap();
    let provider = octopus.tracer_provider().unwrap().clone();
    script(octopus.tracing().unwrap(), &provider);
    // The in-memory exporter forgets its spans when shut down: flush, read, then shut down.
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let counts = octopus.shutdown().unwrap();
    assert_eq!(counts.ended, spans.len() as u64);
    assert_eq!(counts.exported, spans.len() as u64);
    spans
}

/// The spans of the script through a `TracingObserver` on an SDK tracer (SDK server span).
fn sdk(sampler: SamplerKind, inbound: InboundTrace) -> Vec<SpanData> {
    let (provider, exporter) = support::in_memory_provider(sampler, inbound);
    let tracer = provider.tracer_with_scope(
        InstrumentationScope::builder("octopus")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    );
    let observer =
        TracingObserver::new(tracer, HeaderCodec::new(&PropagatorKind::DEFAULT), inbound);
    script(&observer, &provider);
    provider.force_flush().unwrap();
    exporter.get_finished_spans().unwrap()
}

/// Server spans by path (`url.path`), children by name, in a stable order.
fn shapes(spans: &[SpanData]) -> Vec<(String, Shape)> {
    let mut shapes: Vec<(String, Shape)> = spans
        .iter()
        .map(|span| {
            let path = span
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == "url.path")
                .map_or_else(|| span.name.to_string(), |kv| kv.value.to_string());
            (path, shape(span))
        })
        .collect();
    shapes.sort_by(|a, b| a.0.cmp(&b.0));
    shapes
}

fn assert_same(sampler: SamplerKind, inbound: InboundTrace) {
    let native = native(sampler, inbound);
    let sdk = sdk(sampler, inbound);
    let (native_shapes, sdk_shapes) = (shapes(&native), shapes(&sdk));
    assert_eq!(
        native_shapes.len(),
        sdk_shapes.len(),
        "{sampler:?} {inbound:?}"
    );
    for (native, sdk) in native_shapes.iter().zip(&sdk_shapes) {
        assert_eq!(native, sdk, "{sampler:?} {inbound:?}");
    }
    // The child's parent is the server span, in both.
    for spans in [&native, &sdk] {
        let child = spans.iter().find(|s| s.name == "load user").unwrap();
        let server = spans.iter().find(|s| s.name == "GET /users/{id}").unwrap();
        assert_eq!(child.parent_span_id, server.span_context.span_id());
        assert_eq!(
            child.span_context.trace_id(),
            server.span_context.trace_id()
        );
    }
}

/// The values of the script's scheme and protocol version requests, as exported, and the
/// port their scheme implies.
#[test]
fn schemes_and_protocol_versions_are_exported_as_sent_and_capped() {
    let spans = native(SamplerKind::AlwaysOn, InboundTrace::Accept);
    let value = |path: &str, key: &str| {
        let span = spans
            .iter()
            .find(|span| {
                span.attributes
                    .iter()
                    .any(|kv| kv.key.as_str() == "url.path" && kv.value.as_str() == path)
            })
            .unwrap_or_else(|| panic!("no span for {path}"));
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str().into_owned())
    };
    let both = |path| {
        (
            value(path, "url.scheme").unwrap(),
            value(path, "network.protocol.version").unwrap(),
        )
    };
    assert_eq!(both("/proto/h2"), ("http".into(), "2".into()));
    assert_eq!(both("/proto/ws"), ("wss".into(), "0.9".into()));
    assert_eq!(both("/proto/long"), ("https".into(), "9".repeat(64)));
    assert_eq!(value("/proto/h2", "server.port").as_deref(), Some("80"));
    assert_eq!(value("/proto/long", "server.port").as_deref(), Some("443"));
    assert_eq!(value("/proto/ws", "server.port"), None);
}

#[test]
fn the_native_server_span_exports_what_the_sdk_span_exported() {
    assert_same(SamplerKind::ParentBasedAlwaysOn, InboundTrace::Accept);
    assert_same(SamplerKind::AlwaysOn, InboundTrace::Accept);
    assert_same(
        SamplerKind::ParentBasedAlwaysOn,
        InboundTrace::IgnoreSampledFlag,
    );
    assert_same(SamplerKind::ParentBasedAlwaysOn, InboundTrace::Restart);
}

#[test]
fn a_handlers_attributes_and_events_land_on_the_exported_server_span() {
    let spans = native(SamplerKind::ParentBasedAlwaysOn, InboundTrace::Accept);
    let server = spans.iter().find(|s| s.name == "GET /users/{id}").unwrap();
    assert!(
        server
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "app.user" && kv.value == Value::I64(7))
    );
    assert_eq!(server.events.len(), 1);
    assert_eq!(server.events[0].name, "cache miss");
    assert_eq!(server.status, Status::Ok);
    assert!(
        spans
            .iter()
            .all(|s| s.attributes.iter().all(|kv| kv.key.as_str() != "lost"))
    );
    let limits = spans
        .iter()
        .find(|s| {
            s.attributes
                .iter()
                .any(|kv| kv.value.to_string() == "/limits")
        })
        .unwrap();
    assert_eq!(limits.attributes.len(), 128);
    assert_eq!(limits.events.len(), 128);
    assert_eq!(limits.events.dropped_count, 2);
    assert_eq!(limits.events[0].dropped_attributes_count, 2);
}

#[test]
fn always_off_records_nothing_and_still_propagates() {
    let exporter = InMemorySpanExporter::default();
    let octopus = Octopus::builder()
        .metrics([])
        .sampler(SamplerKind::AlwaysOff, None)
        .span_exporter(exporter.clone())
        .build()
        .unwrap();
    let headers: &[(&str, &str)] = &[("traceparent", TRACEPARENT)];
    let request = octopus.observe(&RequestView::new("GET", "/x", headers));
    let context = request.context().clone();
    let span = context.span();
    assert!(!span.is_recording());
    assert!(span.span_context().is_valid());
    assert!(!span.span_context().is_sampled());
    assert_eq!(
        span.span_context().trace_id().to_string(),
        &TRACEPARENT[3..35]
    );
    request.finish(&ResponseView::new(200));
    let counts = octopus.shutdown().unwrap();
    assert_eq!(counts.ended, 0);
    assert!(exporter.get_finished_spans().unwrap().is_empty());
}

#[test]
fn spans_ending_on_many_threads_are_all_exported_and_counted() {
    let exporter = InMemorySpanExporter::default();
    let octopus = Octopus::builder()
        .config(OctopusConfig {
            bsp_max_export_batch_size: Some(64),
            bsp_schedule_delay_ms: Some(5),
            ..OctopusConfig::default()
        })
        .metrics([])
        .span_exporter(exporter.clone())
        .build()
        .unwrap();
    let provider = octopus.tracer_provider().unwrap().clone();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (octopus, provider) = (&octopus, &provider);
            scope.spawn(move || {
                let tracer = provider.tracer("worker");
                let headers: &[(&str, &str)] = &[];
                for i in 0..250 {
                    let path = format!("/t{t}/{i}");
                    let request = octopus.observe(&RequestView::new("GET", &path, headers));
                    if i % 10 == 0 {
                        tracer.start_with_context("sdk", request.context()).end();
                    }
                    request.finish(&ResponseView::new(200));
                }
            });
        }
    });
    provider.force_flush().unwrap();
    assert_eq!(exporter.get_finished_spans().unwrap().len(), 1_100);
    let counts = octopus.shutdown().unwrap();
    assert_eq!(
        (counts.ended, counts.exported, counts.failed),
        (1_100, 1_100, 0)
    );
}

/// Holds every export until opened: the queue fills behind it.
#[derive(Debug, Clone, Default)]
struct GatedExporter {
    gate: Arc<(Mutex<bool>, Condvar)>,
    exported: Arc<AtomicUsize>,
}

impl GatedExporter {
    fn open(&self) {
        *self.gate.0.lock().unwrap() = true;
        self.gate.1.notify_all();
    }
}

impl SpanExporter for GatedExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut open = self.gate.0.lock().unwrap();
        while !*open {
            open = self.gate.1.wait(open).unwrap();
        }
        self.exported.fetch_add(batch.len(), Ordering::Relaxed);
        Ok(())
    }
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let exporter = GatedExporter::default();
    let octopus = Octopus::builder()
        .config(OctopusConfig {
            bsp_max_queue_size: Some(10),
            bsp_max_export_batch_size: Some(10),
            bsp_schedule_delay_ms: Some(60_000),
            ..OctopusConfig::default()
        })
        .metrics([])
        .span_exporter(exporter.clone())
        .build()
        .unwrap();
    let headers: &[(&str, &str)] = &[];
    for _ in 0..100 {
        octopus
            .observe(&RequestView::new("GET", "/x", headers))
            .finish(&ResponseView::new(200));
    }
    // Every span is counted as ended at once, kept or dropped.
    assert_eq!(octopus.span_counts().ended, 100);
    exporter.open();
    let counts = octopus.shutdown().unwrap();
    let exported = exporter.exported.load(Ordering::Relaxed) as u64;
    assert_eq!((counts.ended, counts.exported), (100, exported));
    // The queue's worth, and the batch the exporter held: the rest was dropped.
    assert!((10..=30).contains(&exported), "{exported}");
    assert_eq!(counts.unaccounted(), 100 - exported);
}

#[test]
fn body_sizes_known_at_start_and_end_are_span_attributes() {
    let spans = native(SamplerKind::AlwaysOn, InboundTrace::Accept);
    let attribute = |span: &SpanData, key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    };
    let path =
        |span: &&SpanData, p: &'static str| attribute(span, "url.path") == Some(Value::from(p));
    let upload = spans.iter().find(|s| path(s, "/upload")).unwrap();
    assert_eq!(
        attribute(upload, "http.request.body.size"),
        Some(Value::I64(1500))
    );
    assert_eq!(
        attribute(upload, "http.response.body.size"),
        Some(Value::I64(8))
    );
    let stream = spans.iter().find(|s| path(s, "/stream")).unwrap();
    assert_eq!(
        attribute(stream, "http.request.body.size"),
        Some(Value::I64(0))
    );
    assert_eq!(attribute(stream, "http.response.body.size"), None);
    // An HTTP/1.1 request with neither `Content-Length` nor `Transfer-Encoding` has no body.
    let hello = spans.iter().find(|s| path(s, "/users/42")).unwrap();
    assert_eq!(
        attribute(hello, "http.request.body.size"),
        Some(Value::I64(0))
    );
}
