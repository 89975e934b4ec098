//! The `core` group: what the observer costs per request, without any framework.
//!
//! `cargo bench -p octopus-benches --bench core`
//!
//! | id | what one iteration does |
//! |---|---|
//! | `noop` | the seam with the empty observer `()`: what an adapter costs without Octopus |
//! | `metrics` | Octopus, all three collectors, a route/method/status seen before |
//! | `metrics_2threads` | `metrics` on two threads at once, per request (the same series: contended if shared) |
//! | `metrics_exemplars` | `metrics` with a sampled span in the context: the exemplar slots written too |
//! | `metrics_unmatched` | the same for a request that matched no route |
//! | `metrics_labels` | `metrics` with two labels of the user's own: `tenant` from a header (8 values in turn, cap 100), `plan` from a function with declared values |
//! | `metrics_labels_2threads` | `metrics_labels` on two threads at once, per request |
//! | `floor_resolved_handles` | two reads of the clock Octopus reads (`quanta`), counter, histogram, gauge up and down on handles resolved once: the floor |
//! | `peer_with_label_values` | the same work, looking the series up with `with_label_values` per request, as peer crates do |
//! | `render_1000_series` | rendering `/metrics` holding 1 000 request series |
//! | `render_1000_series_openmetrics` | the same, asked for OpenMetrics (with an exemplar per series) |
//! | `tracing` | Octopus, tracing only: always-on sampler, span pipeline, an exporter that discards; every span kept (timed in chunks the queue holds, flushed untimed between them) |
//! | `tracing_unsampled` | the same with the `always_off` sampler |
//! | `full` | metrics and tracing (always on), with an inbound `traceparent` |
//! | `jaeger_thrift_encode_100_server_spans` | the same for the server spans of 100 `tracing` requests, encoded from their records as the export thread does |
//! | `jaeger_100_requests_flushed` | 100 `tracing` requests, then a flush: their spans exported to a Jaeger agent (a UDP socket on loopback) by the export thread, waited for |
//! | `otlp_100_requests_flushed` | the same exported over OTLP/gRPC to a receiver on loopback that decodes them (`octopus_benches::OtlpSink`) |

use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use octopus_benches::{DiscardExporter, OtlpSink, every_span_kept, flush_spans, two_threads};
use octopus_core::config::LabelConfig;
use octopus_core::config::TracesExporter;
use octopus_core::export::jaeger_agent::JaegerAgentExporter;
use octopus_core::{
    HeaderCodec, MetricsObserver, NoHeaders, Octopus, OctopusConfig, PropagatorKind,
    RequestObserver, RequestView, ResponseView, SamplerKind,
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Metrics only: the three collectors, tracing off.
fn new_octopus() -> Octopus {
    Octopus::new(OctopusConfig {
        tracing_enabled: false,
        ..OctopusConfig::prometheus("bench", ["latency", "request_count", "processing_requests"])
            .expect("valid config")
    })
    .expect("octopus builds")
}

/// `new_octopus` with two labels of the user's own: `tenant` from the `x-tenant` header (cap
/// 100) and `plan` from a function of the request (declared values).
fn labelled_octopus() -> Octopus {
    Octopus::builder()
        .config(OctopusConfig {
            tracing_enabled: false,
            ..OctopusConfig::prometheus(
                "bench",
                ["latency", "request_count", "processing_requests"],
            )
            .expect("valid config")
        })
        .header_label(LabelConfig::header("tenant", "x-tenant"))
        .label_with(
            LabelConfig::named("plan").values(["free", "pro"]),
            |request| request.headers().header("x-plan"),
        )
        .build()
        .expect("octopus builds")
}

/// Request headers of eight tenants, used in turn.
fn tenant_headers() -> Vec<http::HeaderMap> {
    (0..8)
        .map(|i| {
            let mut headers = http::HeaderMap::new();
            headers.insert(
                "x-tenant",
                format!("tenant-{i}").parse().expect("a header value"),
            );
            headers.insert(
                "x-plan",
                ["free", "pro"][i % 2].parse().expect("a header value"),
            );
            headers.insert("user-agent", "bench/1".parse().expect("a header value"));
            headers
        })
        .collect()
}

/// A context holding a sampled remote span, as the tracing observer leaves it.
fn sampled_context() -> opentelemetry::Context {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    };
    opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex"),
        SpanId::from_hex("b7ad6b7169203331").expect("hex"),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ))
}

/// Tracing through the span pipeline into [`DiscardExporter`]; metrics on or off.
fn traced_octopus(metrics: bool, sampler: SamplerKind) -> Octopus {
    let builder = Octopus::builder()
        .service_name("bench")
        .sampler(sampler, None)
        .span_exporter(DiscardExporter);
    let builder = if metrics {
        builder
    } else {
        builder.metrics([])
    };
    builder.build().expect("octopus builds")
}

fn peer_families() -> (IntCounterVec, HistogramVec, IntGaugeVec) {
    let labels = [
        "http_request_method",
        "http_route",
        "http_response_status_code",
    ];
    let registry = Registry::new();
    let counter = IntCounterVec::new(Opts::new("requests_total", "r"), &labels).unwrap();
    let histogram =
        HistogramVec::new(HistogramOpts::new("duration_seconds", "d"), &labels).unwrap();
    let gauge = IntGaugeVec::new(Opts::new("active", "a"), &labels[..2]).unwrap();
    registry.register(Box::new(counter.clone())).unwrap();
    registry.register(Box::new(histogram.clone())).unwrap();
    registry.register(Box::new(gauge.clone())).unwrap();
    (counter, histogram, gauge)
}

fn core(c: &mut Criterion) {
    let mut group = c.benchmark_group("core");
    let ok = ResponseView::new(200);

    group.bench_function("noop", |b| {
        b.iter(|| {
            let view =
                RequestView::new("GET", "/users/42", &NoHeaders).with_route(Some("/users/{id}"));
            ().observe(black_box(&view)).finish(black_box(&ok));
        })
    });

    let octopus = new_octopus();
    group.bench_function("metrics", |b| {
        b.iter(|| {
            let view =
                RequestView::new("GET", "/users/42", &NoHeaders).with_route(Some("/users/{id}"));
            octopus.observe(black_box(&view)).finish(black_box(&ok));
        })
    });

    group.bench_function("metrics_2threads", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                let octopus = &octopus;
                move || {
                    let view = RequestView::new("GET", "/users/42", &NoHeaders)
                        .with_route(Some("/users/{id}"));
                    octopus.observe(black_box(&view)).finish(black_box(&ok));
                }
            })
        })
    });

    // The metrics observer alone, in a context whose span an upstream tracing observer made
    // and sampled: each request also writes its counter's and its bucket's exemplar.
    let with_exemplars = MetricsObserver::new(
        &OctopusConfig::prometheus("bench", ["latency", "request_count", "processing_requests"])
            .expect("valid config"),
        None,
    )
    .expect("metrics build");
    group.bench_function("metrics_exemplars", |b| {
        let _sampled = sampled_context().attach();
        b.iter(|| {
            let view =
                RequestView::new("GET", "/users/42", &NoHeaders).with_route(Some("/users/{id}"));
            with_exemplars
                .observe(black_box(&view))
                .finish(black_box(&ok));
        })
    });

    group.bench_function("metrics_unmatched", |b| {
        b.iter(|| {
            let view = RequestView::new("GET", "/nowhere", &NoHeaders);
            octopus
                .observe(black_box(&view))
                .finish(black_box(&ResponseView::new(404)));
        })
    });

    let labelled = labelled_octopus();
    let tenants = tenant_headers();
    group.bench_function("metrics_labels", |b| {
        let mut next = 0;
        b.iter(|| {
            next = (next + 1) % tenants.len();
            let view = RequestView::new("GET", "/users/42", &tenants[next])
                .with_route(Some("/users/{id}"));
            labelled.observe(black_box(&view)).finish(black_box(&ok));
        })
    });

    group.bench_function("metrics_labels_2threads", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                let (labelled, tenants) = (&labelled, &tenants);
                let mut next = 0;
                move || {
                    next = (next + 1) % tenants.len();
                    let view = RequestView::new("GET", "/users/42", &tenants[next])
                        .with_route(Some("/users/{id}"));
                    labelled.observe(black_box(&view)).finish(black_box(&ok));
                }
            })
        })
    });

    let (counter, histogram, gauge) = peer_families();
    let labels = ["GET", "/users/{id}", "200"];
    let (c1, h1, g1) = (
        counter.with_label_values(&labels),
        histogram.with_label_values(&labels),
        gauge.with_label_values(&labels[..2]),
    );
    // The clock Octopus reads (`octopus_core`'s request clock), so the floor stays a floor.
    group.bench_function("floor_resolved_handles", |b| {
        b.iter(|| {
            let started = quanta::Instant::now();
            g1.inc();
            black_box(&started);
            c1.inc();
            h1.observe(started.elapsed().as_secs_f64());
            g1.dec();
        })
    });

    group.bench_function("peer_with_label_values", |b| {
        b.iter(|| {
            let started = Instant::now();
            let route = black_box("/users/{id}");
            gauge.with_label_values(&["GET", route]).inc();
            let status = black_box(200u16).to_string();
            let labels = ["GET", route, status.as_str()];
            counter.with_label_values(&labels).inc();
            histogram
                .with_label_values(&labels)
                .observe(started.elapsed().as_secs_f64());
            gauge.with_label_values(&["GET", route]).dec();
        })
    });

    let big = new_octopus();
    let routes: Vec<String> = (0..250)
        .map(|i| format!("/api/v1/resource{i}/{{id}}"))
        .collect();
    for route in &routes {
        for status in [200, 404, 500, 503] {
            let view = RequestView::new("GET", "/", &NoHeaders).with_route(Some(route));
            big.observe(&view).finish(&ResponseView::new(status));
        }
    }
    group.bench_function("render_1000_series", |b| {
        b.iter(|| black_box(big.scrape(&NoHeaders)))
    });

    // The same series asked for by Prometheus, each with an exemplar on its counter and bucket.
    let traced = Octopus::builder()
        .service_name("bench")
        .span_exporter(InMemorySpanExporter::default())
        .build()
        .expect("octopus builds");
    for route in &routes {
        for status in [200, 404, 500, 503] {
            let view = RequestView::new("GET", "/", &NoHeaders).with_route(Some(route));
            traced.observe(&view).finish(&ResponseView::new(status));
        }
    }
    let prometheus: &[(&str, &str)] = &[(
        "accept",
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    )];
    group.bench_function("render_1000_series_openmetrics", |b| {
        b.iter(|| black_box(traced.scrape(prometheus)))
    });

    for (id, metrics, sampler) in [
        ("tracing", false, SamplerKind::AlwaysOn),
        ("tracing_unsampled", false, SamplerKind::AlwaysOff),
        ("full", true, SamplerKind::AlwaysOn),
    ] {
        // Every span kept: timed back to back, most would be dropped at a full queue (see
        // `every_span_kept`). Checked below: none was.
        let octopus = traced_octopus(metrics, sampler);
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                every_span_kept(
                    iters,
                    || {
                        octopus
                            .observe(black_box(&traced_request()))
                            .finish(black_box(&ok));
                    },
                    || flush_spans(&octopus),
                )
            })
        });
        let counts = octopus.shutdown().expect("flushes");
        assert_eq!(counts.unaccounted(), 0, "{id}: spans dropped: {counts:?}");
    }

    // Each propagator alone: extracting its headers, and injecting a context into a header list.
    let propagator_headers: [(&str, PropagatorKind, &Headers); 5] = [
        (
            "tracecontext",
            PropagatorKind::TraceContext,
            &[
                (
                    "traceparent",
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                ),
                ("tracestate", "vendor=value"),
            ],
        ),
        (
            "baggage",
            PropagatorKind::Baggage,
            &[("baggage", "user=alice,tenant=acme")],
        ),
        (
            "jaeger",
            PropagatorKind::Jaeger,
            &[(
                "uber-trace-id",
                "0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331:0:1",
            )],
        ),
        (
            "b3",
            PropagatorKind::B3,
            &[("b3", "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1")],
        ),
        (
            "b3multi",
            PropagatorKind::B3Multi,
            &[
                ("x-b3-traceid", "0af7651916cd43dd8448eb211c80319c"),
                ("x-b3-spanid", "b7ad6b7169203331"),
                ("x-b3-sampled", "1"),
            ],
        ),
    ];
    for (name, kind, headers) in propagator_headers {
        let codec = HeaderCodec::new(&[kind]);
        group.bench_function(format!("extract_{name}"), |b| {
            b.iter(|| black_box(codec.extract(black_box(headers))))
        });
        // Baggage has no span to inject; the others inject the span they extracted.
        let context = codec.extract(headers);
        group.bench_function(format!("inject_{name}"), |b| {
            b.iter(|| {
                let mut sink: Vec<(String, String)> = Vec::with_capacity(3);
                codec.inject(black_box(&context), &mut sink);
                black_box(sink)
            })
        });
    }

    // The default codec (tracecontext, baggage, jaeger) on what a request inside a fleet
    // carries: a `traceparent` among ordinary headers.
    let default_codec = HeaderCodec::new(&PropagatorKind::DEFAULT);
    let in_fleet: &Headers = &[
        ("host", "users:8080"),
        ("user-agent", "reqwest"),
        ("accept", "*/*"),
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
    ];
    group.bench_function("extract_default_traceparent", |b| {
        b.iter(|| black_box(default_codec.extract(black_box(in_fleet))))
    });
    // What one Octopus service's traced client sends the next with the default codec.
    let from_octopus: &Headers = &[
        ("host", "users:8080"),
        ("accept", "*/*"),
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        (
            "uber-trace-id",
            "0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331:0:1",
        ),
    ];
    group.bench_function("extract_default_octopus_hop", |b| {
        b.iter(|| black_box(default_codec.extract(black_box(from_octopus))))
    });

    // The Jaeger agent exporter turning a 100-span batch into UDP datagrams (thrift compact).
    let spans = hundred_spans();
    let exporter = JaegerAgentExporter::new("127.0.0.1", 6831);
    group.bench_function("jaeger_thrift_encode_100_spans", |b| {
        b.iter_batched(
            || spans.clone(),
            |spans| black_box(exporter.encode(spans)),
            BatchSize::SmallInput,
        )
    });

    // The same for the spans of 100 traced requests as the export thread gets them: server
    // spans, encoded from their records (the way they take; `SpanData` is only made for SDK
    // exporters), then dropped. They wait in the buffer until taken (the collection delay is
    // an hour), recorded in the untimed set-up.
    let recorder = Octopus::builder()
        .config(OctopusConfig {
            service_name: "bench".into(),
            bsp_schedule_delay_ms: Some(3_600_000),
            ..OctopusConfig::default()
        })
        .metrics([])
        .span_exporter(DiscardExporter)
        .build()
        .expect("octopus builds");
    group.bench_function("jaeger_thrift_encode_100_server_spans", |b| {
        b.iter_batched(
            || {
                for _ in 0..100 {
                    recorder.observe(&traced_request()).finish(&ok);
                }
                let spans = recorder.take_buffered_spans();
                assert_eq!(spans.len(), 100);
                spans
            },
            |spans| black_box(exporter.encode_buffered(spans)),
            BatchSize::SmallInput,
        )
    });
    recorder.shutdown().expect("shuts down");

    // The whole way of 100 spans to a Jaeger agent: recorded on this thread, encoded and sent
    // by the export thread (the flush waits for it). What the export thread does per span is
    // this minus 100 × `tracing`.
    let agent = std::net::UdpSocket::bind("127.0.0.1:0").expect("a loopback UDP port");
    let jaeger = Octopus::builder()
        .config(OctopusConfig {
            service_name: "bench".into(),
            traces_exporter: TracesExporter::Jaeger,
            jaeger_host: "127.0.0.1".into(),
            jaeger_port: agent.local_addr().expect("bound").port(),
            sampler: SamplerKind::AlwaysOn,
            ..OctopusConfig::default()
        })
        .metrics([])
        .build()
        .expect("octopus builds");
    let provider = jaeger.tracer_provider().expect("tracing is on").clone();
    group.bench_function("jaeger_100_requests_flushed", |b| {
        b.iter(|| {
            for _ in 0..100 {
                jaeger
                    .observe(black_box(&traced_request()))
                    .finish(black_box(&ok));
            }
            provider.force_flush().expect("flushed");
        })
    });
    jaeger.shutdown().expect("flushes");

    // The same 100 requests exported over OTLP/gRPC (`opentelemetry-otlp`'s exporter, as
    // configured with `traces_exporter: otlp`) to a receiver on loopback that decodes them:
    // the export thread makes each record into `SpanData`, the exporter's runtime thread makes
    // that into protobuf and sends it. Beside `jaeger_100_requests_flushed`, what the exporter
    // most users run costs.
    let sink = OtlpSink::start("127.0.0.1:0".parse().expect("an address")).expect("a receiver");
    let otlp = Octopus::builder()
        .config(OctopusConfig {
            service_name: "bench".into(),
            traces_exporter: TracesExporter::Otlp,
            otlp_endpoint: Some(sink.endpoint()),
            sampler: SamplerKind::AlwaysOn,
            ..OctopusConfig::default()
        })
        .metrics([])
        .build()
        .expect("octopus builds");
    let provider = otlp.tracer_provider().expect("tracing is on").clone();
    group.bench_function("otlp_100_requests_flushed", |b| {
        b.iter(|| {
            for _ in 0..100 {
                otlp.observe(black_box(&traced_request()))
                    .finish(black_box(&ok));
            }
            provider.force_flush().expect("flushed");
        })
    });
    let counts = otlp.span_counts();
    otlp.shutdown().expect("flushes");
    // Every span ended reached the receiver: none dropped at a full queue, none failed.
    assert_eq!(counts.unaccounted(), 0, "{counts:?}");
    assert_eq!(
        (counts.exported, counts.failed),
        (counts.ended, 0),
        "{counts:?}"
    );
    assert_eq!(sink.received(), counts.exported);

    group.finish();
}

/// The request of the tracing benchmarks: a route, every request attribute, an inbound
/// `traceparent` (a request inside a fleet).
fn traced_request() -> RequestView<'static, [(&'static str, &'static str)]> {
    const HEADERS: &[(&str, &str)] = &[
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        ("user-agent", "criterion"),
    ];
    RequestView::new("GET", "/users/42", HEADERS)
        .with_route(Some("/users/{id}"))
        .with_scheme(Some("http"))
        .with_host(Some("127.0.0.1:10999"))
        .with_protocol_version(Some("1.1"))
}

/// Header name/value pairs, as a propagator reads them.
type Headers = [(&'static str, &'static str)];

/// The spans of 100 traced requests, with every server attribute, as the exporter receives them.
fn hundred_spans() -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    let octopus = Octopus::builder()
        .service_name("bench")
        .span_exporter(exporter.clone())
        .build()
        .expect("octopus builds");
    for _ in 0..100 {
        octopus
            .observe(&traced_request())
            .finish(&ResponseView::new(200));
    }
    octopus
        .tracer_provider()
        .expect("tracing is on")
        .force_flush()
        .expect("flushes");
    let spans = exporter.get_finished_spans().expect("spans were kept");
    assert_eq!(spans.len(), 100);
    spans
}

criterion_group!(benches, core);
criterion_main!(benches);
