//! OTLP export (gRPC and HTTP/protobuf) through Octopus, into receivers that decode the real
//! protobuf requests; and broken backends that must never slow a request.

use std::time::{Duration, Instant};

use octopus_core::testing::otlp::{
    AttributeValue, BlackHole, OtlpGrpcReceiver, OtlpHttpReceiver, ReceivedSpan, closed_port,
};
use octopus_core::{
    Octopus, OctopusConfig, OtlpProtocol, RequestObserver, RequestView, ResponseView,
    TracesExporter,
};

const WAIT: Duration = Duration::from_secs(10);

fn octopus(
    protocol: OtlpProtocol,
    endpoint: String,
    tweak: impl FnOnce(&mut OctopusConfig),
) -> Octopus {
    let mut config = OctopusConfig {
        service_name: "payments".into(),
        traces_exporter: TracesExporter::Otlp,
        otlp_protocol: protocol,
        otlp_endpoint: Some(endpoint),
        bsp_schedule_delay_ms: Some(100),
        propagators: octopus_core::PropagatorKind::parse_list("tracecontext,baggage,jaeger,b3")
            .unwrap(),
        ..OctopusConfig::default()
    };
    tweak(&mut config);
    Octopus::new(config).unwrap()
}

fn request(octopus: &Octopus, headers: &[(&str, &str)], route: &str, status: u16) {
    // Body sizes known at start (the adapter's) and at the end.
    octopus
        .observe(
            &RequestView::new("POST", route, headers)
                .with_route(Some(route))
                .with_body_size(Some(1500)),
        )
        .finish(&ResponseView::new(status).with_body_size(Some(8)));
}

fn check_round_trip(spans: &[ReceivedSpan]) {
    let by_trace = |trace: &str| spans.iter().find(|s| s.trace_id_hex() == trace).unwrap();
    let w3c = by_trace("0af7651916cd43dd8448eb211c80319c");
    assert_eq!(
        w3c.parent_span_id_hex().as_deref(),
        Some("b7ad6b7169203331")
    );
    let jaeger = by_trace("0000000000000000a3ce929d0e0e4736");
    assert_eq!(
        jaeger.parent_span_id_hex().as_deref(),
        Some("00f067aa0ba902b7")
    );
    let b3 = by_trace("80f198ee56343ba864fe8b2a57d3eff7");
    assert_eq!(b3.parent_span_id_hex().as_deref(), Some("e457b5a2e4d86bd1"));
    for span in [w3c, jaeger, b3] {
        assert_eq!(span.service_name, "payments");
        assert_eq!(span.scope_name, "octopus");
        assert_eq!(span.name, "POST /charges");
        assert_eq!(span.kind, 2, "server");
        assert_eq!(
            span.attribute("http.route"),
            Some(&AttributeValue::String("/charges".into()))
        );
        assert_eq!(
            span.attribute("http.response.status_code"),
            Some(&AttributeValue::Int(502))
        );
        assert_eq!(
            span.attribute("error.type"),
            Some(&AttributeValue::String("502".into()))
        );
        assert_eq!(
            span.attribute("http.request.body.size"),
            Some(&AttributeValue::Int(1500))
        );
        assert_eq!(
            span.attribute("http.response.body.size"),
            Some(&AttributeValue::Int(8))
        );
        assert_eq!(span.status_code, 2, "error");
        assert!(span.end_unix_nanos >= span.start_unix_nanos);
    }
}

fn send_three(octopus: &Octopus) {
    request(
        octopus,
        &[(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )],
        "/charges",
        502,
    );
    request(
        octopus,
        &[("uber-trace-id", "a3ce929d0e0e4736:f067aa0ba902b7:0:1")],
        "/charges",
        502,
    );
    request(
        octopus,
        &[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")],
        "/charges",
        502,
    );
}

#[test]
fn inbound_parents_arrive_over_otlp_grpc() {
    let collector = OtlpGrpcReceiver::start();
    let octopus = octopus(OtlpProtocol::Grpc, collector.endpoint(), |_| {});
    send_three(&octopus);
    octopus.shutdown().unwrap();
    check_round_trip(&collector.wait_for_spans(3, WAIT));
}

#[test]
fn inbound_parents_arrive_over_otlp_http() {
    let collector = OtlpHttpReceiver::start();
    let octopus = octopus(OtlpProtocol::HttpProtobuf, collector.traces_url(), |_| {});
    send_three(&octopus);
    octopus.shutdown().unwrap();
    check_round_trip(&collector.wait_for_spans(3, WAIT));
}

#[test]
fn a_thousand_spans_then_shutdown_are_a_thousand_received_over_both_protocols() {
    let grpc = OtlpGrpcReceiver::start();
    let http = OtlpHttpReceiver::start();
    for (protocol, endpoint, name) in [
        (OtlpProtocol::Grpc, grpc.endpoint(), "grpc"),
        (OtlpProtocol::HttpProtobuf, http.traces_url(), "http"),
    ] {
        // A minute between scheduled exports: only the shutdown flush delivers in time.
        let octopus = octopus(protocol, endpoint, |c| {
            c.bsp_schedule_delay_ms = Some(60_000)
        });
        for _ in 0..1_000 {
            request(&octopus, &[], "/x", 200);
        }
        let counts = octopus.shutdown().unwrap();
        assert_eq!(
            (counts.ended, counts.exported, counts.failed),
            (1_000, 1_000, 0),
            "{name}"
        );
    }
    assert_eq!(grpc.wait_for_spans(1_000, WAIT).len(), 1_000);
    assert_eq!(http.wait_for_spans(1_000, WAIT).len(), 1_000);
}

/// Time for 1 000 traced requests through the observer.
fn time_requests(octopus: &Octopus) -> Duration {
    let started = Instant::now();
    for _ in 0..1_000 {
        request(octopus, &[], "/x", 200);
    }
    started.elapsed()
}

#[test]
fn a_dead_or_hung_backend_never_slows_requests_and_shutdown_is_bounded() {
    let live = OtlpHttpReceiver::start();
    let hole = BlackHole::start();
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let fast = |c: &mut OctopusConfig| {
        c.bsp_schedule_delay_ms = Some(10);
        c.otlp_timeout_ms = 500;
        // Room for a loaded CI machine: the live export must finish within it.
        c.shutdown_timeout_ms = 5_000;
    };
    let mut report = Vec::new();
    for (name, protocol, endpoint) in [
        ("live http", OtlpProtocol::HttpProtobuf, live.traces_url()),
        (
            "closed http",
            OtlpProtocol::HttpProtobuf,
            format!("{closed}/v1/traces"),
        ),
        (
            "black hole http",
            OtlpProtocol::HttpProtobuf,
            format!("{}/v1/traces", hole.endpoint()),
        ),
        ("closed grpc", OtlpProtocol::Grpc, closed.clone()),
        ("black hole grpc", OtlpProtocol::Grpc, hole.endpoint()),
    ] {
        let octopus = octopus(protocol, endpoint, fast);
        let took = time_requests(&octopus);
        let started = Instant::now();
        let counts = octopus.shutdown();
        let shutdown = started.elapsed();
        report.push(format!(
            "{name}: 1000 requests {took:?}, shutdown {shutdown:?}, {counts:?}"
        ));
        // Liveness, not speed: a hung backend must not hold shutdown far past its timeout.
        assert!(
            shutdown < Duration::from_secs(10),
            "{name}: shutdown took {shutdown:?}"
        );
        if name.starts_with("live") {
            assert_eq!(counts.unwrap().exported, 1_000);
        }
    }
    eprintln!("{}", report.join("\n"));
    assert_eq!(live.spans().len(), 1_000);
}

/// An endpoint that passes validation (an `http://` URL) but that the exporter's builder
/// rejects: a `ConfigError` naming it, also when Octopus is built inside a tokio runtime (as
/// in `#[tokio::main]`), where the exporter's own runtime must not be dropped blocking.
#[test]
fn an_endpoint_the_exporter_rejects_is_a_config_error_inside_a_tokio_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    for (protocol, endpoint) in [
        (OtlpProtocol::Grpc, "http://exa mple:4317"),
        (OtlpProtocol::HttpProtobuf, "http://exa mple:4318/v1/traces"),
    ] {
        let config = OctopusConfig {
            traces_exporter: TracesExporter::Otlp,
            otlp_protocol: protocol,
            otlp_endpoint: Some(endpoint.into()),
            ..OctopusConfig::default()
        };
        let error = runtime
            .block_on(async { Octopus::new(config).map(drop) })
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!(
                r#"otlp_endpoint: invalid value "{endpoint}"; expected an endpoint the OTLP exporter accepts ("#
            )),
            "{error}"
        );
    }
}

/// `tracing::debug!(?octopus)` and the like print the whole instance — configuration,
/// provider, exporter: neither the metrics token nor an OTLP header value may be in it.
#[test]
fn debug_of_octopus_with_otlp_headers_and_a_token_shows_neither() {
    let grpc = OtlpGrpcReceiver::start();
    let http = OtlpHttpReceiver::start();
    for (protocol, endpoint) in [
        (OtlpProtocol::Grpc, grpc.endpoint()),
        (OtlpProtocol::HttpProtobuf, http.traces_url()),
    ] {
        let config = OctopusConfig::load(|name| match name {
            "OTEL_TRACES_EXPORTER" => Some("otlp".into()),
            "OTEL_EXPORTER_OTLP_PROTOCOL" => Some(protocol.name().into()),
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" => Some(endpoint.clone()),
            "OTEL_EXPORTER_OTLP_HEADERS" => Some("x-api-key=k3y-s3cret".into()),
            "OCTOPUS_METRICS_TOKEN" => Some("t0ken-s3cret".into()),
            _ => None,
        })
        .unwrap();
        let octopus = Octopus::new(config).unwrap();
        let debug = format!("{octopus:?} {octopus:#?}");
        assert!(!debug.contains("s3cret"), "{protocol}: {debug}");
        assert!(debug.contains("<redacted>"), "{protocol}");
        request(&octopus, &[], "/x", 200);
        octopus.shutdown().unwrap();
    }
    // The header still reaches the collector.
    let sent = |headers: Vec<http::HeaderMap>| headers[0]["x-api-key"].to_str().unwrap().to_owned();
    assert_eq!(sent(grpc.request_headers()), "k3y-s3cret");
    assert_eq!(sent(http.request_headers()), "k3y-s3cret");
}
