//! The scenario every adapter's tests play against a real server over TCP, and the span checks
//! they share.
//!
//! The served application is expected to have these routes (the adapter's tests build it with
//! their framework's routing):
//!
//! - `GET /panic`: a handler that panics;
//! - `GET /hello/{name}`: answers 200;
//! - `GET /call?url=..`: calls `url` with the traced client and answers its status code;
//! - a slow handler (`/slow`, `/sleep/{ms}`) for a client that goes away;
//! - `GET /metrics`: the exposition.
//!
//! [`OverTcp`] drives those with a plain `reqwest` client; [`assert_traced_call`] and
//! [`assert_inbound_parents`] check the spans the Jaeger agent stand-in then received;
//! [`read_until_closed`] reads a raw connection to its end.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::exposition::HttpMetrics;
use super::jaeger_agent::{Span, TagValue};

/// The trace id of [`TRACEPARENT`].
pub const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
/// The parent span id of [`TRACEPARENT`].
pub const PARENT_SPAN_ID: &str = "b7ad6b7169203331";
/// A W3C `traceparent` from an upstream service (sampled).
pub const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
/// A Jaeger `uber-trace-id` (64-bit trace id `a3ce929d0e0e4736`, parent `00f067aa0ba902b7`).
pub const UBER_TRACE_ID: &str = "a3ce929d0e0e4736:f067aa0ba902b7:0:1";
/// The `traceparent` of the request to `/child`: trace [`CHILD_TRACE_ID`].
pub const CHILD_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// The trace id of [`CHILD_TRACEPARENT`], which the `/child` handler answers.
pub const CHILD_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// A `traceparent` and an `uber-trace-id` that no codec accepts: the request is a new root.
pub const MALFORMED: [(&str, &str); 2] = [
    ("traceparent", "00-zz-b7ad6b7169203331-01"),
    ("uber-trace-id", ":::"),
];

/// How long the scenario waits for a server-side change (a request starting or ending) to show
/// in `/metrics`.
const SETTLE: Duration = Duration::from_secs(5);

/// A client of one served application, for the over-TCP scenario.
#[derive(Clone, Debug)]
pub struct OverTcp {
    address: SocketAddr,
    service: String,
    client: reqwest::Client,
}

impl OverTcp {
    /// The application at `address`, whose metrics carry `service_name="{service}"`.
    pub fn new(address: SocketAddr, service: &str) -> Self {
        OverTcp {
            address,
            service: service.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    /// The whole scenario, in the order the adapters' over-TCP tests play it: three panics
    /// ([`panics`](Self::panics)), `GET /hello/after` (200 with `hello_body`: the server kept
    /// serving), the [traced call](Self::traced_call), and a client that
    /// [abandons](Self::abandon) `GET {slow_path}` while the gauge of `slow_gauge_route`
    /// shows it. Asserts that the panics were counted 3 times and `hello_route` (the template
    /// of `/hello/{name}`) twice; returns the metrics for the adapter's own checks.
    pub async fn play(
        &self,
        hello_route: &str,
        hello_body: &str,
        slow_path: &str,
        slow_gauge_route: &str,
    ) -> HttpMetrics {
        self.panics(3).await;
        assert_eq!(self.get("/hello/after").await, (200, hello_body.to_owned()));
        self.traced_call().await;
        let m = self.abandon(slow_path, slow_gauge_route).await;
        assert_eq!(m.requests("GET", "500", "/panic"), Some(3.0));
        assert_eq!(m.requests("GET", "200", hello_route), Some(2.0));
        m
    }

    /// `GET {path}`: the status code and the body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("http://{}{path}", self.address))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// `GET /metrics`, parsed.
    pub async fn metrics(&self) -> HttpMetrics {
        let (status, text) = self.get("/metrics").await;
        assert_eq!(status, 200, "{text}");
        HttpMetrics::parse(&text, &self.service)
    }

    /// `GET /panic`, `times` times: each answers 500, and the server keeps serving.
    pub async fn panics(&self, times: usize) {
        for _ in 0..times {
            assert_eq!(self.get("/panic").await.0, 500);
        }
    }

    /// `GET /call?url=http://{address}/hello/x` with [`TRACEPARENT`]: the service calls itself
    /// with the traced client, as two services would, and answers the call's status (200).
    pub async fn traced_call(&self) {
        let address = self.address;
        let response = self
            .client
            .get(format!(
                "http://{address}/call?url=http://{address}/hello/x"
            ))
            .header("traceparent", TRACEPARENT)
            .send()
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap(), "200");
    }

    /// A client that sends `GET {path}` and goes away while the handler runs. Waits until the
    /// in-flight gauge of `GET {gauge_route}` shows the request, closes the connection, then
    /// waits (up to 5 s) for the gauge to fall back to 0, and asserts it did. Returns the
    /// metrics of that moment.
    pub async fn abandon(&self, path: &str, gauge_route: &str) -> HttpMetrics {
        let mut abandoned = TcpStream::connect(self.address).unwrap();
        write!(abandoned, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let deadline = Instant::now() + SETTLE;
        while self.metrics().await.active("GET", gauge_route) != Some(1.0) {
            assert!(Instant::now() < deadline, "GET {path} never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(abandoned);
        let metrics = loop {
            let metrics = self.metrics().await;
            if metrics.active("GET", gauge_route) == Some(0.0) || Instant::now() > deadline {
                break metrics;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(
            metrics.active("GET", gauge_route),
            Some(0.0),
            "{:?}",
            metrics.samples()
        );
        metrics
    }
}

/// Reads `stream` until the server closes the connection (or resets it), for at most 10 s;
/// returns what it sent. Panics if the server kept the connection open.
pub async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt as _;
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept the connection open");
    received
}

/// The spans of [`OverTcp::traced_call`]: exactly three in [`TRACE_ID`], chained
/// upstream ([`PARENT_SPAN_ID`]) → `GET /call` → the client span `GET` → `hello_span`
/// (the server span of `/hello/x`, named with the framework's route template).
pub fn assert_traced_call(spans: &[Span], hello_span: &str) {
    let in_trace: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id_hex() == TRACE_ID)
        .collect();
    assert_eq!(in_trace.len(), 3, "{in_trace:?}");
    let named = |name: &str| {
        *in_trace
            .iter()
            .find(|s| s.operation_name == name)
            .unwrap_or_else(|| panic!("no {name} in {in_trace:?}"))
    };
    let (call, client, hello) = (named("GET /call"), named("GET"), named(hello_span));
    assert_eq!(call.parent_span_id_hex(), PARENT_SPAN_ID);
    assert_eq!(client.parent_span_id, call.span_id);
    assert_eq!(hello.parent_span_id, client.span_id);
}

/// The spans of requests that carried trace headers: `hello_span` with [`TRACEPARENT`] is a
/// child of [`PARENT_SPAN_ID`], `hello_span` with [`UBER_TRACE_ID`] a child of its parent (in
/// the 128-bit form of its 64-bit trace id), the handler's `child work` span under
/// `GET /child` in [`CHILD_TRACE_ID`], and `malformed` requests (headers [`MALFORMED`]) are
/// roots: exactly that many `hello_span`s have no parent.
pub fn assert_inbound_parents(spans: &[Span], hello_span: &str, malformed: usize) {
    let find = |trace: &str, name: &str| {
        spans
            .iter()
            .find(|s| s.trace_id_hex() == trace && s.operation_name == name)
            .unwrap_or_else(|| panic!("{name} in {trace}"))
    };
    assert_eq!(
        find(TRACE_ID, hello_span).parent_span_id_hex(),
        PARENT_SPAN_ID
    );
    assert_eq!(
        find("0000000000000000a3ce929d0e0e4736", hello_span).parent_span_id_hex(),
        "00f067aa0ba902b7"
    );
    let server = find(CHILD_TRACE_ID, "GET /child");
    let child = find(CHILD_TRACE_ID, "child work");
    assert_eq!(child.parent_span_id, server.span_id);
    let roots = spans
        .iter()
        .filter(|s| s.operation_name == hello_span && s.parent_span_id == 0)
        .count();
    assert_eq!(roots, malformed, "the malformed requests are roots");
}

/// Asserts that the span of `GET /panic` is an error, with `error.type` `error_type`: `panic`
/// where the adapter saw the panic, the status code where the framework turned it into a
/// response first.
pub fn assert_panic_span(spans: &[Span], error_type: &str) {
    let span = spans
        .iter()
        .find(|s| s.operation_name == "GET /panic")
        .expect("a span of GET /panic");
    assert_eq!(span.tag("error"), Some(&TagValue::Bool(true)));
    assert_eq!(
        span.tag("error.type"),
        Some(&TagValue::String(error_type.into()))
    );
}

/// What every adapter's in-process test finds in `/metrics` (`text`, of service `service`)
/// after it served: `GET /hello/{bob,alice,carol}` (200, route `hello_route`), `/nope` and
/// `/wp-login.php` (404, no route), `/fail` (500), `/panic` (500, `panics` times), `/health`
/// (excluded from metrics and tracing) and `/slow`, whose future was dropped mid-handler.
///
/// Asserts those counts exactly, that the cancelled request is not counted, that the in-flight
/// gauges of `hello_route`, `/panic` and the unmatched route are back to 0, and that no raw
/// path nor excluded route is a label value. Returns the metrics for the adapter's own checks.
pub fn assert_served_metrics(
    text: &str,
    service: &str,
    hello_route: &str,
    panics: f64,
) -> HttpMetrics {
    let m = HttpMetrics::parse(text, service);
    assert_eq!(m.requests("GET", "200", hello_route), Some(3.0), "{text}");
    assert_eq!(m.requests("GET", "404", ""), Some(2.0), "{text}");
    assert_eq!(m.requests("GET", "500", "/fail"), Some(1.0), "{text}");
    assert_eq!(m.requests("GET", "500", "/panic"), Some(panics), "{text}");
    let cancelled = m.requests("GET", "200", "/slow");
    assert_eq!(cancelled, None, "cancelled: not counted\n{text}");
    for route in [hello_route, "/panic", ""] {
        assert_eq!(m.active("GET", route), Some(0.0), "{route}\n{text}");
    }
    for absent in ["/hello/bob", "wp-login", "\"/health\"", "\"/metrics\""] {
        assert!(!text.contains(absent), "{absent} in metrics");
    }
    m
}

/// Asserts that exactly `n` spans are named just `GET`: requests that matched no route (and
/// client spans, where the test made traced calls).
pub fn assert_unmatched_spans(spans: &[Span], n: usize, why: &str) {
    let names: Vec<&str> = spans.iter().map(|s| s.operation_name.as_str()).collect();
    let unmatched = names.iter().filter(|name| **name == "GET").count();
    assert_eq!(unmatched, n, "{why}: {names:?}");
}

/// Asserts that no span is named after an excluded route (`/health`, `/metrics`).
pub fn assert_excluded_untraced(spans: &[Span]) {
    let names: Vec<&str> = spans.iter().map(|s| s.operation_name.as_str()).collect();
    assert!(
        !names
            .iter()
            .any(|n| n.contains("health") || n.contains("metrics")),
        "{names:?}"
    );
}
