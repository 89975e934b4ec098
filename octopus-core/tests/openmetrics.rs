//! The exposition format negotiated through `Octopus::scrape`, as real scrapers ask for it: the
//! OpenMetrics text for Prometheus, the 0.0.4 text — byte for byte as before — for everyone else.

use std::time::Duration;

use octopus_core::testing::scenario::read_until_closed;
use octopus_core::{NoHeaders, Octopus, OctopusConfig, RequestObserver, RequestView, ResponseView};
use opentelemetry::trace::TraceContextExt as _;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};

/// What Prometheus 2.42 (Debian 12's) sends.
const PROMETHEUS_2: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// What Prometheus 3 sends with its default scrape protocols.
const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An instance with all three metrics and a few requests in them, one still in flight. Tracing
/// is off, so no exemplars: these tests are about the format.
fn observed_octopus() -> Octopus {
    let octopus = Octopus::new(OctopusConfig {
        tracing_enabled: false,
        ..OctopusConfig::prometheus("users", ["latency", "request_count", "processing_requests"])
            .unwrap()
    })
    .unwrap();
    for (route, status) in [
        (Some("/users/{id}"), 200),
        (None, 404),
        (Some("/users/{id}"), 503),
    ] {
        let observed =
            octopus.observe(&RequestView::new("GET", "/users/7", &NoHeaders).with_route(route));
        observed.finish(&ResponseView::new(status));
    }
    // The gauge's series exists once a request has been in flight.
    drop(
        octopus.observe(&RequestView::new("POST", "/users", &NoHeaders).with_route(Some("/users"))),
    );
    octopus
}

/// The 0.0.4 text of `octopus`'s registry, rendered by the `prometheus` crate itself.
fn text_encoding(octopus: &Octopus) -> String {
    prometheus::TextEncoder::new()
        .encode_to_string(&octopus.registry().gather())
        .unwrap()
}

#[test]
fn prometheus_is_answered_in_openmetrics() {
    let octopus = observed_octopus();
    for accept in [PROMETHEUS_2, PROMETHEUS_3] {
        let headers: &[(&str, &str)] = &[("Accept", accept)];
        let scrape = octopus.scrape(headers);
        assert_eq!(scrape.status, 200);
        assert_eq!(scrape.content_type, OPENMETRICS);
        let body = scrape.text();
        assert!(body.ends_with("# EOF\n"), "{body}");
        assert_eq!(body.matches("# EOF").count(), 1, "{body}");
        assert!(
            body.contains(
                "# HELP http_server_requests Number of HTTP requests served.\n\
                 # TYPE http_server_requests counter\n\
                 http_server_requests_total{http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/users/{id}\",service_name=\"users\"} 1.0\n"
            ),
            "{body}"
        );
        assert!(
            !body.contains("# TYPE http_server_requests_total"),
            "{body}"
        );
        assert!(
            body.contains(
                "# TYPE http_server_request_duration_seconds histogram\n\
                 # UNIT http_server_request_duration_seconds seconds\n"
            ),
            "{body}"
        );
        assert!(
            body.contains("http_server_request_duration_seconds_bucket{http_request_method=\"GET\",http_response_status_code=\"503\",http_route=\"/users/{id}\",service_name=\"users\",le=\"+Inf\"} 1\n"),
            "{body}"
        );
        assert!(
            body.contains("http_server_active_requests{http_request_method=\"POST\",http_route=\"/users\",service_name=\"users\"} 0.0\n"),
            "{body}"
        );
        // No exemplars are recorded yet, so none is shown.
        assert!(!body.contains(" # {"), "{body}");
    }
}

#[test]
fn other_scrapers_get_the_text_format_byte_for_byte() {
    let octopus = observed_octopus();
    let expected = text_encoding(&octopus);
    assert!(expected.contains("# TYPE http_server_requests_total counter\n"));

    let scrape = octopus.scrape(&NoHeaders);
    assert_eq!(scrape.content_type, TEXT);
    assert_eq!(scrape.text(), expected);
    // curl's default, a browser's, Prometheus told to prefer the text format, and garbage.
    for accept in [
        "*/*",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "text/plain;version=0.0.4;q=0.6,application/openmetrics-text;version=1.0.0;q=0.5",
        "application/openmetrics-text;q=nope",
    ] {
        let headers: &[(&str, &str)] = &[("accept", accept)];
        let scrape = octopus.scrape(headers);
        assert_eq!(scrape.content_type, TEXT, "{accept}");
        assert_eq!(scrape.text(), expected, "{accept}");
    }
}

#[test]
fn a_refused_scrape_is_refused_whatever_it_accepts() {
    let octopus = Octopus::builder()
        .metrics_bearer_token("s3cret")
        .build()
        .unwrap();
    let headers: &[(&str, &str)] = &[("accept", PROMETHEUS_2)];
    let refused = octopus.scrape(headers);
    assert_eq!(refused.status, 401);
    assert_eq!(refused.content_type, "text/plain; charset=utf-8");

    let headers: &[(&str, &str)] = &[("accept", PROMETHEUS_2), ("authorization", "Bearer s3cret")];
    assert_eq!(octopus.scrape(headers).content_type, OPENMETRICS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_separate_listener_negotiates_too() {
    let octopus = observed_octopus();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn({
        let octopus = octopus.clone();
        async move {
            octopus
                .serve_metrics_on(listener, async {
                    let _ = stopped.await;
                })
                .await
        }
    });

    let ask = |accept: Option<&'static str>| async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
        let request =
            format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{accept}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        String::from_utf8(read_until_closed(&mut stream).await).unwrap()
    };
    let open = ask(Some(PROMETHEUS_2)).await;
    assert!(open.starts_with("HTTP/1.1 200 OK\r\n"), "{open}");
    assert!(
        open.contains(&format!("\r\ncontent-type: {OPENMETRICS}\r\n")),
        "{open}"
    );
    assert!(open.ends_with("# EOF\n"), "{open}");

    let text = ask(None).await;
    assert!(
        text.contains(&format!("\r\ncontent-type: {TEXT}\r\n")),
        "{text}"
    );
    assert!(!text.contains("# EOF"), "{text}");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the listener stops")
        .unwrap()
        .unwrap();
}

/// Octopus for the service `users`, every request sampled, its spans kept in memory.
fn traced_users_service() -> (Octopus, opentelemetry_sdk::trace::InMemorySpanExporter) {
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let octopus = Octopus::builder()
        .service_name("users")
        .span_exporter(exporter.clone())
        .build()
        .unwrap();
    (octopus, exporter)
}

/// A sampled request leaves its trace on its counter and on the one bucket its latency fell
/// in; an unsampled one changes no exemplar; the 0.0.4 text carries none.
#[test]
fn sampled_requests_leave_their_trace_as_exemplars() {
    use std::time::Instant;

    let (octopus, exporter) = traced_users_service();
    // 30 ms: in the (0.025, 0.05] bucket.
    let started = Instant::now();
    let observed = octopus.observe(
        &RequestView::new("GET", "/users/7", &NoHeaders)
            .with_route(Some("/users/{id}"))
            .with_received_at(Some(started)),
    );
    observed.finish(&ResponseView::new(200).with_finished_at(started + Duration::from_millis(30)));
    octopus.tracer_provider().unwrap().force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    let trace_id = spans[0].span_context.trace_id().to_string();
    let span_id = spans[0].span_context.span_id().to_string();
    let exemplar = format!("# {{trace_id=\"{trace_id}\",span_id=\"{span_id}\"}}");

    let headers: &[(&str, &str)] = &[("Accept", PROMETHEUS_2)];
    let body = octopus.scrape(headers).text().into_owned();
    let series = "http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/users/{id}\",service_name=\"users\"";
    let with_exemplar: Vec<&str> = body
        .lines()
        .filter(|line| line.contains(&exemplar))
        .collect();
    assert_eq!(with_exemplar.len(), 2, "{body}");
    assert!(
        with_exemplar[0].starts_with(&format!(
            "http_server_request_duration_seconds_bucket{{{series},le=\"0.05\"}} 1 {exemplar} 0.03 "
        )),
        "{body}"
    );
    assert!(
        with_exemplar[1].starts_with(&format!(
            "http_server_requests_total{{{series}}} 1.0 {exemplar} 1.0 "
        )),
        "{body}"
    );
    // The timestamp is the request's end, to the millisecond.
    let timestamp: f64 = with_exemplar[1]
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - 60.0..=now + 1.0).contains(&timestamp),
        "{timestamp} vs {now}"
    );
    // One instant for each end of the request, shared by the metrics and the span: the span
    // lasts exactly the latency recorded, and the exemplar is stamped with the span's end.
    assert_eq!(
        spans[0]
            .end_time
            .duration_since(spans[0].start_time)
            .unwrap(),
        Duration::from_millis(30)
    );
    let span_end = spans[0]
        .end_time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (timestamp - span_end).abs() < 0.001,
        "exemplar at {timestamp}, span ended at {span_end}"
    );
    assert!(!octopus.scrape(&NoHeaders).text().contains("trace_id"));
    octopus.shutdown().unwrap();
}

/// As an adapter calls it (no instants given), Octopus reads the clock once at each end of a
/// request for both halves: the latency recorded is exactly the sampled span's duration.
#[test]
fn metrics_and_the_span_time_a_request_from_the_same_instants() {
    let (octopus, exporter) = traced_users_service();
    let observed = octopus
        .observe(&RequestView::new("GET", "/users/7", &NoHeaders).with_route(Some("/users/{id}")));
    std::thread::sleep(Duration::from_millis(3));
    observed.finish(&ResponseView::new(200));
    octopus.tracer_provider().unwrap().force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    let span = spans[0]
        .end_time
        .duration_since(spans[0].start_time)
        .unwrap();
    assert!(span >= Duration::from_millis(3), "{span:?}");

    let body = octopus.scrape(&NoHeaders).text().into_owned();
    let sum: f64 = body
        .lines()
        .find(|line| {
            line.starts_with("http_server_request_duration_seconds_sum{")
                && line.contains("http_route=\"/users/{id}\"")
        })
        .and_then(|line| line.rsplit(' ').next())
        .expect("the latency's sum")
        .parse()
        .unwrap();
    // The sum is the one latency in seconds, as an f64: equal to the nanosecond.
    assert!(
        (sum - span.as_secs_f64()).abs() < 1e-9,
        "latency {sum} s, span {span:?}"
    );
    octopus.shutdown().unwrap();
}

/// `exemplars = false` (or `OCTOPUS_EXEMPLARS=false`) keeps traces out of the metrics.
#[test]
fn exemplars_can_be_turned_off() {
    let octopus = Octopus::builder()
        .exemplars(false)
        .span_exporter(opentelemetry_sdk::trace::InMemorySpanExporter::default())
        .build()
        .unwrap();
    let observed = octopus.observe(&RequestView::new("GET", "/", &NoHeaders).with_route(Some("/")));
    assert!(
        observed.context().has_active_span(),
        "the request is traced"
    );
    observed.finish(&ResponseView::new(200));
    let headers: &[(&str, &str)] = &[("Accept", PROMETHEUS_2)];
    let body = octopus.scrape(headers).text().into_owned();
    assert!(body.contains("http_server_requests_total{"), "{body}");
    assert!(!body.contains("trace_id"), "{body}");
    octopus.shutdown().unwrap();
}
