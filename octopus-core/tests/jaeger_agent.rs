//! The Jaeger agent exporter against a receiver decoding the real UDP datagrams.

use std::time::{Duration, Instant, SystemTime};

use octopus_core::export::jaeger_agent::{JaegerAgentExporter, RESOLVE_RETRY};
use octopus_core::opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer, TracerProvider as _,
};
use octopus_core::opentelemetry::{Context, KeyValue};
use octopus_core::testing::jaeger_agent::{JaegerAgentReceiver, SpanRefType, TagValue};
use octopus_core::{NoHeaders, Octopus, OctopusConfig, RequestObserver, RequestView, ResponseView};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

const WAIT: Duration = Duration::from_secs(10);

fn octopus_to(agent: &JaegerAgentReceiver, extra: impl FnOnce(&mut OctopusConfig)) -> Octopus {
    let mut config = OctopusConfig::jaeger("127.0.0.1", agent.port(), "checkout").unwrap();
    config.bsp_schedule_delay_ms = Some(50);
    extra(&mut config);
    Octopus::new(config).unwrap()
}

fn provider_to(exporter: JaegerAgentExporter) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(
            Resource::builder_empty()
                .with_service_name("unit")
                .with_attribute(KeyValue::new("deployment.environment", "test"))
                .build(),
        )
        .build()
}

#[test]
fn inbound_headers_of_each_format_become_the_exported_parent() {
    let agent = JaegerAgentReceiver::start();
    let octopus = octopus_to(&agent, |c| {
        c.propagators = octopus_core::PropagatorKind::parse_list("tracecontext,jaeger,b3").unwrap()
    });
    let cases = [
        (
            "uber-trace-id",
            "a3ce929d0e0e4736:f067aa0ba902b7:0:1",
            "0000000000000000a3ce929d0e0e4736",
            "00f067aa0ba902b7",
        ),
        (
            "uber-trace-id",
            "4bf92f3577b34da6a3ce929d0e0e4736%3A53995c3f42cd8ad8%3A0%3A1",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "53995c3f42cd8ad8",
        ),
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "0af7651916cd43dd8448eb211c80319c",
            "b7ad6b7169203331",
        ),
        (
            "b3",
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
            "80f198ee56343ba864fe8b2a57d3eff7",
            "e457b5a2e4d86bd1",
        ),
    ];
    for (header, value, _, _) in &cases {
        // A request body of known length (the header), a response body of known size.
        let headers: &[(&str, &str)] = &[(header, value), ("content-length", "1500")];
        octopus
            .observe(
                &RequestView::new("GET", "/orders/1", headers).with_route(Some("/orders/{id}")),
            )
            .finish(&ResponseView::new(200).with_body_size(Some(8)));
    }
    octopus.shutdown().unwrap();
    let spans = agent.wait_for_spans(cases.len(), WAIT);
    assert_eq!(spans.len(), cases.len());
    for (header, _, trace_id, parent) in &cases {
        let span = spans
            .iter()
            .find(|s| s.trace_id_hex() == *trace_id)
            .unwrap_or_else(|| panic!("{header}: no span with trace id {trace_id}"));
        assert_eq!(span.parent_span_id_hex(), *parent, "{header}");
        assert_eq!(span.references.len(), 1);
        assert_eq!(span.references[0].ref_type, SpanRefType::ChildOf);
        assert_eq!(
            format!("{:016x}", span.references[0].span_id as u64),
            *parent
        );
        assert_eq!(span.operation_name, "GET /orders/{id}");
        assert_eq!(span.flags, 1);
        assert_eq!(
            span.tag("span.kind"),
            Some(&TagValue::String("server".into()))
        );
        assert_eq!(
            span.tag("http.response.status_code"),
            Some(&TagValue::Long(200))
        );
        assert_eq!(
            span.tag("http.request.body.size"),
            Some(&TagValue::Long(1500))
        );
        assert_eq!(
            span.tag("http.response.body.size"),
            Some(&TagValue::Long(8))
        );
        assert_eq!(
            span.tag("otel.scope.name"),
            Some(&TagValue::String("octopus".into()))
        );
    }
    let batch = &agent.batches()[0];
    assert_eq!(batch.process.service_name, "checkout");
    let process_tag = |key: &str| {
        batch
            .process
            .tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.clone())
    };
    assert_eq!(
        process_tag("jaeger.version"),
        Some(TagValue::String(format!(
            "octopus-rust-{}",
            env!("CARGO_PKG_VERSION")
        )))
    );
    assert_eq!(
        process_tag("ip"),
        Some(TagValue::String("127.0.0.1".into()))
    );
    assert!(matches!(process_tag("hostname"), Some(TagValue::String(h)) if !h.is_empty()));
    assert_eq!(octopus.span_counts().exported, 4);
}

#[test]
fn every_span_field_maps_onto_the_jaeger_model() {
    let agent = JaegerAgentReceiver::start();
    let provider = provider_to(JaegerAgentExporter::new("127.0.0.1", agent.port()));
    let tracer = provider.tracer("unit-tests");
    let parent = SpanContext::new(
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        SpanId::from_hex("b7ad6b7169203331").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let linked = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let start = SystemTime::UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
    let mut span = tracer
        .span_builder("charge card")
        .with_kind(SpanKind::Client)
        .with_start_time(start)
        .with_links(vec![Link::with_context(linked)])
        .with_attributes([
            KeyValue::new("s", "text"),
            KeyValue::new("b", true),
            KeyValue::new("l", -7_i64),
            KeyValue::new("d", 2.5),
        ])
        .start_with_context(&tracer, &Context::new().with_remote_span_context(parent));
    span.add_event_with_timestamp(
        "retry",
        start + Duration::from_micros(10),
        vec![KeyValue::new("attempt", 2_i64)],
    );
    span.set_status(Status::error("card declined"));
    span.end_with_timestamp(start + Duration::from_micros(2_500));
    drop(provider);

    let spans = agent.wait_for_spans(1, WAIT);
    let s = &spans[0];
    assert_eq!(s.trace_id_high as u64, 0x0af7651916cd43dd);
    assert_eq!(s.trace_id_low as u64, 0x8448eb211c80319c);
    assert_eq!(s.parent_span_id_hex(), "b7ad6b7169203331");
    assert_eq!(s.operation_name, "charge card");
    assert_eq!(s.start_time, 1_700_000_000_123_456);
    assert_eq!(s.duration, 2_500);
    assert_eq!(s.flags, 1);
    assert_eq!(s.tag("s"), Some(&TagValue::String("text".into())));
    assert_eq!(s.tag("b"), Some(&TagValue::Bool(true)));
    assert_eq!(s.tag("l"), Some(&TagValue::Long(-7)));
    assert_eq!(s.tag("d"), Some(&TagValue::Double(2.5)));
    assert_eq!(s.tag("span.kind"), Some(&TagValue::String("client".into())));
    assert_eq!(s.tag("error"), Some(&TagValue::Bool(true)));
    assert_eq!(
        s.tag("otel.status_code"),
        Some(&TagValue::String("ERROR".into()))
    );
    assert_eq!(
        s.tag("otel.status_description"),
        Some(&TagValue::String("card declined".into()))
    );
    assert_eq!(
        s.tag("otel.scope.name"),
        Some(&TagValue::String("unit-tests".into()))
    );
    let follows: Vec<_> = s
        .references
        .iter()
        .filter(|r| r.ref_type == SpanRefType::FollowsFrom)
        .collect();
    assert_eq!(follows.len(), 1);
    assert_eq!(follows[0].trace_id_high as u64, 0x4bf92f3577b34da6);
    assert_eq!(follows[0].span_id as u64, 0x00f067aa0ba902b7);
    assert_eq!(s.logs.len(), 1);
    assert_eq!(s.logs[0].timestamp, 1_700_000_000_123_466);
    assert_eq!(s.logs[0].fields[0].value, TagValue::String("retry".into()));
    assert_eq!(s.logs[0].fields[1].value, TagValue::Long(2));
    let process = &agent.batches()[0].process;
    assert_eq!(process.service_name, "unit");
    assert!(
        process
            .tags
            .iter()
            .any(|t| t.key == "deployment.environment")
    );
}

#[test]
fn a_thousand_spans_then_shutdown_are_a_thousand_received() {
    let agent = JaegerAgentReceiver::start();
    let octopus = octopus_to(&agent, |c| c.bsp_schedule_delay_ms = Some(60_000));
    let headers: &[(&str, &str)] = &[];
    for i in 0..1_000 {
        let route = ["/a", "/b"][i % 2];
        octopus
            .observe(&RequestView::new("GET", route, headers).with_route(Some(route)))
            .finish(&ResponseView::new(200));
    }
    // The schedule delay is a minute: only shutdown's flush can deliver them in time.
    let counts = octopus.shutdown().unwrap();
    assert_eq!(counts.ended, 1_000);
    assert_eq!(counts.exported, 1_000);
    let spans = agent.wait_for_spans(1_000, WAIT);
    assert_eq!(spans.len(), 1_000);
    assert_eq!(agent.undecodable(), 0);
    let text = String::from_utf8(octopus.scrape(&NoHeaders).body).unwrap();
    for line in [
        r#"octopus_spans_ended_total{service_name="checkout"} 1000"#,
        r#"octopus_spans_exported_total{service_name="checkout"} 1000"#,
        r#"octopus_spans_failed_total{service_name="checkout"} 0"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
}

#[test]
fn large_batches_are_split_into_packets_under_the_limit() {
    for (limit, label) in [(65_000, "default"), (8_000, "8 000")] {
        let agent = JaegerAgentReceiver::start();
        let exporter =
            JaegerAgentExporter::new("127.0.0.1", agent.port()).with_max_packet_size(limit);
        let stats = exporter.stats_handle();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .build();
        let tracer = provider.tracer("big");
        for i in 0..300 {
            let mut span = tracer.start(format!("span {i}"));
            span.set_attribute(KeyValue::new("payload", "x".repeat(1_024)));
            span.end();
        }
        provider.shutdown().unwrap();
        let spans = agent.wait_for_spans(300, WAIT);
        assert_eq!(spans.len(), 300, "{label}");
        let sizes = agent.packet_sizes();
        assert!(
            sizes.len() > 1,
            "{label}: one packet for 300 KiB: {sizes:?}"
        );
        assert!(sizes.iter().all(|s| *s <= limit), "{label}: {sizes:?}");
        let stats = stats.get();
        assert_eq!(stats.spans_sent, 300);
        assert_eq!(stats.packets_sent, sizes.len() as u64);
        assert_eq!((stats.spans_truncated, stats.spans_dropped), (0, 0));
        eprintln!(
            "{label}: 300 spans of 1 KiB in {} packets, largest {} bytes",
            sizes.len(),
            sizes.iter().max().unwrap()
        );
    }
}

#[test]
fn a_span_too_large_for_a_packet_is_truncated_and_counted() {
    let agent = JaegerAgentReceiver::start();
    let exporter = JaegerAgentExporter::new("127.0.0.1", agent.port());
    let stats = exporter.stats_handle();
    let provider = provider_to(exporter);
    let tracer = provider.tracer("huge");
    let mut span = tracer.start("huge");
    // 100 KiB of attributes (the SDK keeps at most 128 per span).
    for i in 0..100 {
        span.set_attribute(KeyValue::new(format!("blob.{i}"), "y".repeat(1_024)));
    }
    span.add_event("big event", vec![KeyValue::new("blob", "z".repeat(70_000))]);
    span.end();
    let mut small = tracer.start("small");
    small.end();
    drop(provider);

    let spans = agent.wait_for_spans(2, WAIT);
    assert_eq!(spans.len(), 2);
    let huge = spans.iter().find(|s| s.operation_name == "huge").unwrap();
    assert_eq!(huge.tag("octopus.dropped_logs"), Some(&TagValue::Long(1)));
    // 100 attributes plus the scope name tag.
    assert_eq!(huge.tag("octopus.dropped_tags"), Some(&TagValue::Long(101)));
    assert!(huge.logs.is_empty());
    assert!(agent.packet_sizes().iter().all(|s| *s <= 65_000));
    let stats = stats.get();
    assert_eq!(
        (stats.spans_truncated, stats.spans_dropped, stats.spans_sent),
        (1, 0, 2)
    );
}

#[test]
fn exporting_to_a_closed_port_or_an_unresolvable_host_never_panics() {
    let closed = {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    for host in ["127.0.0.1", "no-such-host.invalid"] {
        let exporter = JaegerAgentExporter::new(host, closed);
        let stats = exporter.stats_handle();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter)
            .build();
        let tracer = provider.tracer("t");
        let started = std::time::Instant::now();
        for _ in 0..100 {
            tracer.start("s").end();
        }
        eprintln!(
            "{host}: 100 spans exported synchronously in {:?}",
            started.elapsed()
        );
        drop(provider);
        let stats = stats.get();
        // Nobody listens: the agent's ICMP "port unreachable" fails the sends of a connected
        // socket, and a host that does not resolve has nowhere to send.
        // (The first datagram may leave before the refusal is known.)
        assert!(stats.spans_sent <= 1, "{host}: {stats:?}");
        assert_eq!(stats.spans_sent + stats.spans_failed, 100, "{host}");
    }
}

#[test]
fn a_stopped_agent_costs_one_lookup_per_interval_and_delivery_resumes_when_it_is_back() {
    let address = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let exporter = JaegerAgentExporter::new("127.0.0.1", address.port());
    let stats = exporter.stats_handle();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    let tracer = provider.tracer("t");
    let started = Instant::now();
    let most_lookups = || {
        // The first lookup, then one per interval begun since.
        2 + started.elapsed().as_secs() / RESOLVE_RETRY.as_secs()
    };

    for _ in 0..200 {
        tracer.start("down").end();
    }
    let down = stats.get();
    // Each refusal is known by the next send at the latest (on loopback, before `send` returns).
    assert!(down.spans_sent <= 1, "{down:?}");
    assert_eq!(down.spans_sent + down.spans_failed, 200);
    assert!(
        (1..=most_lookups()).contains(&down.address_lookups),
        "{} lookups for 200 failed sends in {:?}",
        down.address_lookups,
        started.elapsed()
    );

    let agent = JaegerAgentReceiver::start_on(address);
    let mut spans = Vec::new();
    for _ in 0..50 {
        tracer.start("back").end();
        spans = agent.wait_for_spans(1, Duration::from_millis(100));
        if !spans.is_empty() {
            break;
        }
    }
    assert!(
        spans.iter().any(|s| s.operation_name == "back"),
        "nothing delivered after the agent came back: {:?}",
        stats.get()
    );
    tracer.start("after").end();
    assert!(
        agent
            .wait_for_spans(2, WAIT)
            .iter()
            .any(|s| s.operation_name == "after")
    );
    drop(provider);
    let lookups = stats.get().address_lookups;
    assert!(lookups <= most_lookups(), "{lookups} lookups");
}

/// The resource after the OpenTelemetry conventions — `host.name`, `process.pid`, a random
/// `service.instance.id`, `service.version` and `OTEL_RESOURCE_ATTRIBUTES` — arrives with the
/// same values as the OTLP resource and as the Jaeger process tags.
#[test]
fn resource_attributes_are_the_same_in_the_otlp_resource_and_the_jaeger_process_tags() {
    use octopus_core::testing::otlp::{AttributeValue, OtlpHttpReceiver};

    let agent = JaegerAgentReceiver::start();
    let collector = OtlpHttpReceiver::start();
    let environment = |exporter: &str, port: String| {
        let vars = [
            ("OTEL_SERVICE_NAME", "checkout".to_owned()),
            ("OTEL_TRACES_EXPORTER", exporter.to_owned()),
            ("OTEL_EXPORTER_JAEGER_AGENT_HOST", "127.0.0.1".to_owned()),
            ("OTEL_EXPORTER_JAEGER_AGENT_PORT", port),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector.traces_url()),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=staging, team=pay%20ments,service.name=ignored"
                    .to_owned(),
            ),
        ];
        OctopusConfig::load(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap()
    };
    for exporter in ["jaeger", "otlp"] {
        let octopus = Octopus::builder()
            .config(environment(exporter, agent.port().to_string()))
            .service_version("3.4.5")
            .build()
            .unwrap();
        octopus
            .observe(&RequestView::new("GET", "/", &[] as &[(&str, &str)]))
            .finish(&ResponseView::new(200));
        octopus.shutdown().unwrap();
    }
    assert_eq!(agent.wait_for_spans(1, WAIT).len(), 1);
    let otlp = collector.wait_for_spans(1, WAIT).remove(0);
    let process = &agent.batches()[0].process;
    let tag = |key: &str| {
        process
            .tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.clone())
    };
    let text = |value: &str| {
        (
            AttributeValue::String(value.into()),
            TagValue::String(value.into()),
        )
    };

    assert_eq!(
        (otlp.service_name.as_str(), process.service_name.as_str()),
        ("checkout", "checkout")
    );
    let Some(AttributeValue::String(host)) = otlp.resource_attribute("host.name").cloned() else {
        panic!("no host.name in {:?}", otlp.resource_attributes);
    };
    assert!(!host.is_empty());
    let Some(AttributeValue::String(instance)) =
        otlp.resource_attribute("service.instance.id").cloned()
    else {
        panic!("no service.instance.id in {:?}", otlp.resource_attributes);
    };
    assert_eq!(
        uuid::Uuid::parse_str(&instance).unwrap().get_version_num(),
        4
    );
    let pid = i64::from(std::process::id());
    assert_eq!(
        otlp.resource_attribute("process.pid"),
        Some(&AttributeValue::Int(pid))
    );
    assert_eq!(tag("process.pid"), Some(TagValue::Long(pid)));
    for (key, value) in [
        ("host.name", host.as_str()),
        ("service.instance.id", instance.as_str()),
        ("service.version", "3.4.5"),
        ("deployment.environment.name", "staging"),
        ("team", "pay ments"),
        ("telemetry.sdk.language", "rust"),
    ] {
        let (attribute, tag_value) = text(value);
        assert_eq!(otlp.resource_attribute(key), Some(&attribute), "{key}");
        assert_eq!(tag(key), Some(tag_value), "{key}");
    }
    // Jaeger's own name for the host is the same value.
    assert_eq!(tag("hostname"), Some(TagValue::String(host)));
}

/// Server spans reach the agent from their records (never made into `SpanData`): the request's
/// attributes, what a handler adds through the request's context, the response; and one too
/// large for a datagram is cut down as an SDK span is (logs first, then tags, counted).
#[test]
fn server_spans_reach_the_agent_with_what_handlers_add_even_cut_down() {
    let agent = JaegerAgentReceiver::start();
    let octopus = octopus_to(&agent, |_| {});
    let headers: &[(&str, &str)] = &[("user-agent", "curl/8.5.0")];
    let request = octopus.observe(
        &RequestView::new("GET", "/users/7", headers)
            .with_route(Some("/users/{id}"))
            .with_host(Some("shop.example:8443")),
    );
    let context = request.context().clone();
    context
        .span()
        .set_attribute(KeyValue::new("app.user", 7_i64));
    context
        .span()
        .add_event("cache miss", vec![KeyValue::new("key", "u7")]);
    request.finish(&ResponseView::new(200));
    let big = octopus.observe(&RequestView::new("GET", "/big", headers));
    let context = big.context().clone();
    for i in 0..100 {
        context
            .span()
            .set_attribute(KeyValue::new(format!("blob.{i}"), "y".repeat(1_024)));
    }
    context
        .span()
        .add_event("big event", vec![KeyValue::new("blob", "z".repeat(70_000))]);
    big.finish(&ResponseView::new(200));
    octopus.shutdown().unwrap();

    let spans = agent.wait_for_spans(2, WAIT);
    assert_eq!(spans.len(), 2);
    let user = spans
        .iter()
        .find(|s| s.operation_name == "GET /users/{id}")
        .unwrap();
    let text = |value: &str| Some(TagValue::String(value.into()));
    assert_eq!(user.tag("http.route").cloned(), text("/users/{id}"));
    assert_eq!(user.tag("url.path").cloned(), text("/users/7"));
    assert_eq!(user.tag("server.address").cloned(), text("shop.example"));
    assert_eq!(user.tag("server.port"), Some(&TagValue::Long(8443)));
    assert_eq!(user.tag("user_agent.original").cloned(), text("curl/8.5.0"));
    assert_eq!(user.tag("app.user"), Some(&TagValue::Long(7)));
    assert_eq!(
        user.tag("http.response.status_code"),
        Some(&TagValue::Long(200))
    );
    assert_eq!(user.tag("span.kind").cloned(), text("server"));
    assert_eq!(user.tag("otel.scope.name").cloned(), text("octopus"));
    assert_eq!(user.logs.len(), 1);
    let event = &user.logs[0].fields;
    assert_eq!(event[0].value, TagValue::String("cache miss".into()));
    assert_eq!(event[1].value, TagValue::String("u7".into()));

    let cut = spans.iter().find(|s| s.operation_name == "GET").unwrap();
    assert_eq!(cut.tag("octopus.dropped_logs"), Some(&TagValue::Long(1)));
    // method, path, user agent, 100 handler attributes, status code; span kind, scope name
    // and version.
    assert_eq!(cut.tag("octopus.dropped_tags"), Some(&TagValue::Long(107)));
    assert!(cut.logs.is_empty());
    assert!(agent.packet_sizes().iter().all(|s| *s <= 65_000));
}
