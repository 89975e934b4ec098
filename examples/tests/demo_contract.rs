//! Every demo as a user runs it (examples/README.md): a real process on an ephemeral loopback
//! port, real HTTP over TCP, SIGTERM to stop it. Each test runs against every demo binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use octopus_core::testing::jaeger_agent::{JaegerAgentReceiver, TagValue};
use octopus_core::testing::otlp::closed_port;

/// A demo binary and its framework's spelling of the contract's two templated routes.
struct DemoBin {
    path: &'static str,
    hello: &'static str,
    slow: &'static str,
}

const BRACES: (&str, &str) = ("/hello/{name}", "/slow/{ms}");

const fn demo(path: &'static str, (hello, slow): (&'static str, &'static str)) -> DemoBin {
    DemoBin { path, hello, slow }
}

const ANGLES: (&str, &str) = ("/hello/<name>", "/slow/<ms>");

const DEMOS: [DemoBin; 5] = [
    demo(env!("CARGO_BIN_EXE_custom-framework-demo"), BRACES),
    demo(env!("CARGO_BIN_EXE_axum-demo"), BRACES),
    demo(env!("CARGO_BIN_EXE_actix-demo"), BRACES),
    demo(env!("CARGO_BIN_EXE_warp-demo"), BRACES),
    demo(env!("CARGO_BIN_EXE_rocket-demo"), ANGLES),
];

struct Demo {
    child: Child,
    addr: SocketAddr,
}

impl Demo {
    fn start(bin: &str, env: &[(&str, &str)]) -> Demo {
        let mut child = Command::new(bin)
            .env("OCTOPUS_ADDR", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Demo { child, addr }
    }

    /// One request on its own connection: (status, body).
    /// One request on its own connection: (status, body).
    fn get(&self, path: &str) -> (u16, String) {
        let (status, _, body) = self.get_with(path, &[]);
        (status, body)
    }

    /// One request with extra headers: (status, response head in lower case, body).
    fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let extra: String = headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}\r\n"))
            .collect();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\n{extra}Connection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let (head, body) = response
            .split_once("\r\n\r\n")
            .unwrap_or((response.as_str(), ""));
        (status, head.to_ascii_lowercase(), body.to_string())
    }

    fn sigterm(&mut self) -> (Option<i32>, Duration) {
        let started = Instant::now();
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "demo did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sample(service: &str, metric: &str, labels: &str) -> String {
    format!("{metric}{{{labels},service_name=\"{service}\"}}")
}

fn value_of(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn serves_routes_and_exact_metrics_then_stops_on_sigterm() {
    for bin in DEMOS {
        let mut demo = Demo::start(bin.path, &[("OTEL_SERVICE_NAME", "demo-test")]);
        assert_eq!(demo.get("/hello/bob"), (200, "hello, bob".into()));
        assert_eq!(demo.get("/hello/alice").0, 200);
        assert_eq!(demo.get("/hello/carol").0, 200);
        assert_eq!(demo.get("/fail").0, 500);
        assert_eq!(demo.get("/panic").0, 500);
        assert_eq!(demo.get("/panic").0, 500, "still serving after a panic");
        assert_eq!(demo.get("/no/such/path").0, 404);
        assert_eq!(demo.get("/another-scan").0, 404);
        assert_eq!(demo.get("/slow/20").0, 200);
        assert_eq!(demo.get("/health").0, 200);

        // A client that goes away mid-request leaves no request in flight.
        let mut abandoned = TcpStream::connect(demo.addr).unwrap();
        write!(abandoned, "GET /slow/5000 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(200));
        drop(abandoned);

        let active = sample(
            "demo-test",
            "http_server_active_requests",
            &format!(r#"http_request_method="GET",http_route="{}""#, bin.slow),
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        let metrics = loop {
            let (status, metrics) = demo.get("/metrics");
            assert_eq!(status, 200);
            if value_of(&metrics, &active) == Some(0.0) || Instant::now() > deadline {
                break metrics;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(value_of(&metrics, &active), Some(0.0), "{metrics}");

        let count = |labels: &str| {
            value_of(
                &metrics,
                &sample("demo-test", "http_server_requests_total", labels),
            )
        };
        assert_eq!(
            count(&format!(
                r#"http_request_method="GET",http_response_status_code="200",http_route="{}""#,
                bin.hello
            )),
            Some(3.0)
        );
        assert_eq!(
            count(
                r#"http_request_method="GET",http_response_status_code="500",http_route="/fail""#
            ),
            Some(1.0)
        );
        assert_eq!(
            count(
                r#"http_request_method="GET",http_response_status_code="500",http_route="/panic""#
            ),
            Some(2.0)
        );
        assert_eq!(
            count(r#"http_request_method="GET",http_response_status_code="404",http_route="""#),
            Some(2.0)
        );
        assert_eq!(
            count(&format!(
                r#"http_request_method="GET",http_response_status_code="200",http_route="{}""#,
                bin.slow
            )),
            Some(1.0)
        );
        let histogram = sample(
            "demo-test",
            "http_server_request_duration_seconds_count",
            &format!(
                r#"http_request_method="GET",http_response_status_code="200",http_route="{}""#,
                bin.slow
            ),
        );
        assert_eq!(value_of(&metrics, &histogram), Some(1.0));
        // Raw paths never become labels; /metrics and /health are not counted.
        for absent in ["/hello/bob", "/no/such/path", "\"/metrics\"", "\"/health\""] {
            assert!(!metrics.contains(absent), "{absent} in\n{metrics}");
        }

        if let Some(output) = promtool_check(&metrics) {
            panic!("promtool check metrics failed:\n{output}");
        }

        let (code, took) = demo.sigterm();
        assert_eq!(code, Some(0));
        assert!(took < Duration::from_secs(5), "exit took {took:?}");
    }
}

#[test]
fn spans_reach_the_jaeger_agent_with_their_parents_and_sigterm_flushes_them() {
    for bin in DEMOS {
        let agent = JaegerAgentReceiver::start();
        let port = agent.port().to_string();
        let mut demo = Demo::start(
            bin.path,
            &[
                ("OTEL_SERVICE_NAME", "demo-traced"),
                ("OTEL_EXPORTER_JAEGER_AGENT_HOST", "127.0.0.1"),
                ("OTEL_EXPORTER_JAEGER_AGENT_PORT", &port),
                // A minute between exports: only the flush at SIGTERM can deliver the spans.
                ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
                ("OCTOPUS_TRACE_RESPONSE", "on"),
            ],
        );
        let (status, head, _) = demo.get_with(
            "/hello/bob",
            &[("uber-trace-id", "a3ce929d0e0e4736:f067aa0ba902b7:0:1")],
        );
        assert_eq!(status, 200);
        assert!(
            head.contains("traceresponse: 00-0000000000000000a3ce929d0e0e4736-"),
            "{head}"
        );
        let (status, _, _) = demo.get_with(
            "/fail",
            &[(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )],
        );
        assert_eq!(status, 500);
        assert_eq!(demo.get("/health").0, 200);
        assert!(
            agent
                .wait_for_spans(1, Duration::from_millis(300))
                .is_empty()
        );

        let (code, _) = demo.sigterm();
        assert_eq!(code, Some(0));
        let spans = agent.wait_for_spans(2, Duration::from_secs(5));
        assert_eq!(spans.len(), 2, "/health is not traced");
        let hello = spans
            .iter()
            .find(|s| s.operation_name == format!("GET {}", bin.hello))
            .unwrap();
        assert_eq!(hello.trace_id_hex(), "0000000000000000a3ce929d0e0e4736");
        assert_eq!(hello.parent_span_id_hex(), "00f067aa0ba902b7");
        let fail = spans
            .iter()
            .find(|s| s.operation_name == "GET /fail")
            .unwrap();
        assert_eq!(fail.trace_id_hex(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(fail.parent_span_id_hex(), "b7ad6b7169203331");
        assert_eq!(fail.tag("error"), Some(&TagValue::Bool(true)));
        let process = &agent.batches()[0].process;
        assert_eq!(process.service_name, "demo-traced");
        let version = process.tags.iter().find(|t| t.key == "service.version");
        assert_eq!(
            version.map(|t| &t.value),
            Some(&TagValue::String(env!("CARGO_PKG_VERSION").into()))
        );
    }
}

/// The two-service demo: A's `/call` GETs B's `/hello/x`; one trace, A server → A client →
/// B server.
#[test]
fn two_services_make_one_trace() {
    for bin in DEMOS {
        let agent = JaegerAgentReceiver::start();
        let port = agent.port().to_string();
        let traced = |service| {
            [
                ("OTEL_SERVICE_NAME", service),
                ("OTEL_EXPORTER_JAEGER_AGENT_HOST", "127.0.0.1"),
                ("OTEL_EXPORTER_JAEGER_AGENT_PORT", port.as_str()),
            ]
        };
        let mut b = Demo::start(bin.path, &traced("svc-b"));
        let mut a = Demo::start(bin.path, &traced("svc-a"));

        let target = format!("http://{}/hello/x", b.addr);
        let (status, body) = a.get(&format!("/call?url={}", target.replace(':', "%3A")));
        assert_eq!((status, body.as_str()), (200, "200"));
        let (status, _) = a.get(&format!("/call?url=http://127.0.0.1:{}/", closed_port()));
        assert_eq!(status, 502);

        assert_eq!(a.sigterm().0, Some(0));
        assert_eq!(b.sigterm().0, Some(0));
        // A: server + client for the good call, server + client for the refused one; B: server.
        agent.wait_for_spans(5, Duration::from_secs(5));
        let spans_of = |service: &str| -> Vec<_> {
            agent
                .batches()
                .into_iter()
                .filter(|batch| batch.process.service_name == service)
                .flat_map(|batch| batch.spans)
                .collect()
        };
        let (a_spans, b_spans) = (spans_of("svc-a"), spans_of("svc-b"));
        assert_eq!((a_spans.len(), b_spans.len()), (4, 1));
        let b_server = &b_spans[0];
        assert_eq!(b_server.operation_name, format!("GET {}", bin.hello));
        let a_client = a_spans
            .iter()
            .find(|s| s.span_id == b_server.parent_span_id)
            .expect("B's parent is a span of A");
        assert_eq!(
            a_client.tag("span.kind"),
            Some(&TagValue::String("client".into()))
        );
        assert_eq!(a_client.operation_name, "GET");
        let a_server = a_spans
            .iter()
            .find(|s| s.span_id == a_client.parent_span_id)
            .expect("A's client span has A's server span as parent");
        assert_eq!(a_server.operation_name, "GET /call");
        assert_eq!(a_server.parent_span_id, 0, "A's server span is the root");
        for span in [a_server, a_client, b_server] {
            assert_eq!(span.trace_id_hex(), a_server.trace_id_hex());
        }
        let refused = a_spans
            .iter()
            .find(|s| s.tag("error.type") == Some(&TagValue::String("connect".into())))
            .expect("the refused call's client span");
        assert_eq!(refused.tag("error"), Some(&TagValue::Bool(true)));
    }
}

/// Labels of the user's own from the environment: every demo counts by the `x-tenant` header,
/// with a cap of 1, and a constant label.
#[test]
fn labels_come_from_the_environment() {
    for bin in DEMOS {
        let demo = Demo::start(
            bin.path,
            &[
                ("OTEL_SERVICE_NAME", "demo-labels"),
                ("OTEL_TRACES_EXPORTER", "none"),
                (
                    "OCTOPUS_LABELS",
                    "tenant=header:x-tenant;max_values=1;default=none",
                ),
                ("OCTOPUS_CONST_LABELS", "region=eu-west-1"),
            ],
        );
        for tenant in ["acme", "acme", "globex", "initech"] {
            assert_eq!(demo.get_with("/hello/x", &[("x-tenant", tenant)]).0, 200);
        }
        assert_eq!(demo.get("/hello/x").0, 200);
        let (status, metrics) = demo.get("/metrics");
        assert_eq!(status, 200);
        let count = |tenant: &str| {
            let series = format!(
                r#"http_server_requests_total{{http_request_method="GET",http_response_status_code="200",http_route="{}",region="eu-west-1",service_name="demo-labels",tenant="{tenant}"}}"#,
                bin.hello
            );
            value_of(&metrics, &series)
        };
        assert_eq!(count("acme"), Some(2.0), "{}: {metrics}", bin.path);
        assert_eq!(count("_other"), Some(2.0), "{}: {metrics}", bin.path);
        assert_eq!(count("none"), Some(1.0), "{}: {metrics}", bin.path);
        assert_eq!(
            value_of(
                &metrics,
                r#"octopus_label_overflow_total{label="tenant",region="eu-west-1",service_name="demo-labels"}"#
            ),
            Some(2.0),
            "{}: {metrics}",
            bin.path
        );
        if let Some(output) = promtool_check(&metrics) {
            panic!("promtool check metrics failed:\n{output}");
        }
    }
}

#[test]
fn body_size_metrics_turn_on_through_the_environment() {
    for bin in DEMOS {
        let demo = Demo::start(
            bin.path,
            &[
                ("OTEL_SERVICE_NAME", "demo-sizes"),
                ("OTEL_TRACES_EXPORTER", "none"),
                (
                    "OCTOPUS_METRICS",
                    "request_count,request_size,response_size",
                ),
                ("OCTOPUS_BODY_SIZE_BUCKETS", "0,10,100"),
            ],
        );
        assert_eq!(demo.get("/hello/bob"), (200, "hello, bob".into()));
        assert_eq!(demo.get("/hello/ann"), (200, "hello, ann".into()));
        let (_, metrics) = demo.get("/metrics");
        let series = |metric: &str, le: Option<&str>| {
            let labels = format!(
                r#"http_request_method="GET",http_response_status_code="200",http_route="{}""#,
                bin.hello
            );
            match le {
                Some(le) => {
                    format!(r#"{metric}_bucket{{{labels},service_name="demo-sizes",le="{le}"}}"#)
                }
                None => sample("demo-sizes", metric, &labels),
            }
        };
        let value = |series: String| {
            value_of(&metrics, &series).unwrap_or_else(|| panic!("{series} in {metrics}"))
        };
        // `hello, bob`: 10 bytes each, known when the handler answers; no request body.
        let response = "http_server_response_body_size_bytes";
        let request = "http_server_request_body_size_bytes";
        assert_eq!(
            value(series(&format!("{response}_sum"), None)),
            20.0,
            "{}",
            bin.path
        );
        assert_eq!(value(series(&format!("{response}_count"), None)), 2.0);
        assert_eq!(value(series(response, Some("0"))), 0.0);
        assert_eq!(value(series(response, Some("10"))), 2.0);
        assert_eq!(value(series(&format!("{request}_sum"), None)), 0.0);
        assert_eq!(value(series(request, Some("0"))), 2.0);
    }
}

#[test]
fn uninstrumented_mode_has_no_metrics_endpoint() {
    for bin in DEMOS {
        let demo = Demo::start(bin.path, &[("OCTOPUS_INSTRUMENT", "off")]);
        assert_eq!(demo.get("/hello/x"), (200, "hello, x".into()));
        assert_eq!(demo.get("/metrics").0, 404);
    }
}

#[test]
fn a_bad_variable_stops_start_up_with_exit_code_2() {
    for bin in DEMOS {
        for (var, value, message) in [
            (
                "OCTOPUS_METRICS",
                "latency,latncy",
                r#"error: OCTOPUS_METRICS: unknown metric "latncy"; expected one of latency, request_count, processing_requests, request_size, response_size"#,
            ),
            (
                "OCTOPUS_ADDR",
                "nowhere",
                r#"error: OCTOPUS_ADDR: invalid value "nowhere"; expected IP:PORT, e.g. 127.0.0.1:10999"#,
            ),
            (
                "OCTOPUS_INSTRUMENT",
                "maybe",
                r#"error: OCTOPUS_INSTRUMENT: invalid value "maybe"; expected one of on, off"#,
            ),
            (
                "OCTOPUS_LABELS",
                "tenant=header:x-tenant,http_route=header:x-route",
                r#"error: OCTOPUS_LABELS: invalid value "http_route"; expected a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __) other than Octopus's own (service_name, http_request_method, http_response_status_code, http_route, le, quantile)"#,
            ),
        ] {
            let output = Command::new(bin.path)
                .env("OCTOPUS_ADDR", "127.0.0.1:0")
                .env(var, value)
                .output()
                .unwrap();
            assert_eq!(output.status.code(), Some(2), "{var}={value}");
            assert_eq!(String::from_utf8_lossy(&output.stderr).trim_end(), message);
            assert!(output.stdout.is_empty());
        }
    }
}

/// An OTLP endpoint that is a URL but one the exporter cannot use: exit code 2 and the error
/// naming the value, as for any other bad value — never a panic at start-up inside the demo's
/// async runtime.
#[test]
fn an_otlp_endpoint_the_exporter_rejects_stops_start_up_with_exit_code_2() {
    for bin in DEMOS {
        for (protocol, endpoint) in [
            ("grpc", "http://exa mple:4317"),
            ("http/protobuf", "http://exa mple:4318/v1/traces"),
        ] {
            let output = Command::new(bin.path)
                .env("OCTOPUS_ADDR", "127.0.0.1:0")
                .env("OTEL_TRACES_EXPORTER", "otlp")
                .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
                .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{}: {stderr}", bin.path);
            assert!(
                stderr.starts_with(&format!(
                    "error: otlp_endpoint: invalid value \"{endpoint}\"; expected an endpoint the OTLP exporter accepts ("
                )),
                "{}: {stderr}",
                bin.path
            );
            assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
            assert!(output.stdout.is_empty());
        }
    }
}

/// `promtool check metrics` on `text`: `None` when it passes. Fails the test in CI when
/// promtool is missing; elsewhere says that nothing was checked.
fn promtool_check(text: &str) -> Option<String> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "promtool is missing in CI: {error}"
            );
            eprintln!("SKIPPED promtool check: promtool not installed ({error})");
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (!output.status.success() || !said.trim().is_empty()).then_some(said)
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` with extra headers on `addr`: (status, head in lower case, body).
fn get_at(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let started = Instant::now();
    // The metrics listener starts next to the app's: give it a moment to accept.
    let mut stream = loop {
        match TcpStream::connect(addr) {
            Ok(stream) => break stream,
            Err(error) if started.elapsed() < Duration::from_secs(5) => {
                let _ = error;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(error) => panic!("{addr}: {error}"),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let extra: String = headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or((response.as_str(), ""));
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[test]
fn metrics_require_the_configured_bearer_token() {
    // Every demo: the custom-framework one passes its request's headers to `Octopus::scrape`.
    for bin in &DEMOS {
        let demo = Demo::start(
            bin.path,
            &[
                ("OTEL_TRACES_EXPORTER", "none"),
                ("OCTOPUS_METRICS_TOKEN", "s3cret-token"),
            ],
        );
        assert_eq!(demo.get("/hello/bob").0, 200);
        let (status, head, _) = demo.get_with("/metrics", &[]);
        assert_eq!(status, 401, "{}: no token", bin.path);
        assert!(
            head.contains("www-authenticate: bearer realm=\"metrics\""),
            "{}: {head}",
            bin.path
        );
        let (status, _, body) = demo.get_with("/metrics", &[("Authorization", "Bearer wrong")]);
        assert_eq!(status, 401, "{}: wrong token", bin.path);
        assert!(!body.contains("http_server"), "{}: {body}", bin.path);
        let (status, _, body) =
            demo.get_with("/metrics", &[("Authorization", "Bearer s3cret-token")]);
        assert_eq!(status, 200, "{}: right token", bin.path);
        let series = sample(
            "demo-service",
            "http_server_requests_total",
            &format!(
                "http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"{}\"",
                bin.hello
            ),
        );
        assert_eq!(value_of(&body, &series), Some(1.0), "{}: {body}", bin.path);
    }
}

#[test]
fn metrics_move_to_a_separate_listener() {
    for bin in &DEMOS[1..] {
        let port = free_port();
        let metrics_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let demo = Demo::start(
            bin.path,
            &[
                ("OTEL_TRACES_EXPORTER", "none"),
                ("OCTOPUS_METRICS_ADDR", &metrics_addr.to_string()),
            ],
        );
        assert_eq!(demo.get("/hello/bob").0, 200);
        assert_eq!(demo.get("/metrics").0, 404, "{}: app port", bin.path);
        let (status, head, body) = get_at(metrics_addr, "/metrics", &[]);
        assert_eq!(status, 200, "{}: metrics port", bin.path);
        assert!(
            head.contains("content-type: text/plain; version=0.0.4"),
            "{head}"
        );
        let hello = sample(
            "demo-service",
            "http_server_requests_total",
            &format!(
                "http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"{}\"",
                bin.hello
            ),
        );
        assert_eq!(value_of(&body, &hello), Some(1.0), "{}: {body}", bin.path);
        // The metrics path stays excluded on the app's port: its 404 is not counted either.
        assert!(
            !body.contains("http_response_status_code=\"404\""),
            "{}: {body}",
            bin.path
        );
        assert_eq!(get_at(metrics_addr, "/other", &[]).0, 404);
    }
}

#[test]
fn a_config_file_configures_the_demo_and_the_environment_overrides_it() {
    let dir = std::env::temp_dir().join(format!("octopus-demo-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("octopus.yaml");
    std::fs::write(
        &file,
        "service_name: from-file\nmetrics: [request_count]\ntraces_exporter: none\n",
    )
    .unwrap();
    let file = file.display().to_string();
    for bin in &DEMOS[1..] {
        let demo = Demo::start(bin.path, &[("OCTOPUS_CONFIG", &file)]);
        assert_eq!(demo.get("/hello/bob").0, 200);
        let (_, metrics) = demo.get("/metrics");
        assert!(
            metrics.contains("service_name=\"from-file\""),
            "{}: {metrics}",
            bin.path
        );
        assert!(!metrics.contains("http_server_request_duration_seconds"));
        drop(demo);

        let demo = Demo::start(
            bin.path,
            &[("OCTOPUS_CONFIG", &file), ("OTEL_SERVICE_NAME", "from-env")],
        );
        assert_eq!(demo.get("/hello/bob").0, 200);
        let (_, metrics) = demo.get("/metrics");
        assert!(metrics.contains("service_name=\"from-env\""), "{metrics}");
    }
    // An unknown key stops the demo with exit code 2 and names the key.
    std::fs::write(dir.join("bad.toml"), "service_nam = \"x\"\n").unwrap();
    let output = Command::new(DEMOS[1].path)
        .env("OCTOPUS_ADDR", "127.0.0.1:0")
        .env("OCTOPUS_CONFIG", dir.join("bad.toml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown field `service_nam`"), "{stderr}");
}
