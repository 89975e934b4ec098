//! Jaeger remote sampling against a loopback HTTP server serving Jaeger's strategy JSON: the
//! strategy is fetched off the request path, per operation (the span name), a changed strategy
//! takes effect within one polling interval, a rate limit is never exceeded, and a malformed
//! `OTEL_TRACES_SAMPLER_ARG` is refused naming the pair.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use octopus_core::config::{JaegerRemoteSampling, SamplerKind};
use octopus_core::{NoHeaders, Octopus, OctopusConfig, RequestObserver, RequestView, ResponseView};
use opentelemetry::trace::TraceContextExt as _;

/// Serves `GET /sampling?service=...` with whatever strategy is current; records the queries.
struct StrategyServer {
    address: SocketAddr,
    strategy: Arc<Mutex<String>>,
    queries: Arc<Mutex<Vec<String>>>,
}

impl StrategyServer {
    fn start(strategy: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let strategy = Arc::new(Mutex::new(strategy.to_owned()));
        let queries = Arc::new(Mutex::new(Vec::new()));
        let (served, seen) = (strategy.clone(), queries.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut request_line = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                // A connection closed before sending anything (a client's idle pooled
                // connection going away) is no query.
                if !reader.read_line(&mut request_line).is_ok_and(|n| n > 0) {
                    continue;
                }
                // Skip the headers.
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                seen.lock().unwrap().push(request_line.trim().to_owned());
                let body = served.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        StrategyServer {
            address,
            strategy,
            queries,
        }
    }

    fn serve(&self, strategy: &str) {
        *self.strategy.lock().unwrap() = strategy.to_owned();
    }

    fn queries(&self) -> usize {
        self.queries.lock().unwrap().len()
    }
}

fn octopus(endpoint: String, sampler: SamplerKind) -> Octopus {
    Octopus::builder()
        .config(OctopusConfig {
            service_name: "users api".into(),
            sampler,
            jaeger_remote_sampling: JaegerRemoteSampling {
                endpoint,
                polling_interval_ms: 100,
                initial_sampling_rate: 0.0,
            },
            ..OctopusConfig::default()
        })
        .span_exporter(opentelemetry_sdk::trace::InMemorySpanExporter::default())
        .build()
        .unwrap()
}

/// Whether a request to `route` is sampled (its server span is named `GET {route}`).
fn sampled(octopus: &Octopus, route: &str) -> bool {
    let observed =
        octopus.observe(&RequestView::new("GET", route, &NoHeaders).with_route(Some(route)));
    let sampled = observed.context().span().span_context().is_sampled();
    observed.finish(&ResponseView::new(200));
    sampled
}

/// Polls `condition` every 10 ms for at most `limit`; how long it took.
fn within(limit: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

const PER_OPERATION: &str = r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.0},
  "operationSampling":{"defaultSamplingProbability":0.1,"defaultLowerBoundTracesPerSecond":0.0,
  "perOperationStrategies":[
    {"operation":"GET /a","probabilisticSampling":{"samplingRate":0.8}},
    {"operation":"GET /never","probabilisticSampling":{"samplingRate":0.0}}]}}"#;

#[test]
fn per_operation_fractions_follow_the_served_strategy_and_changes_apply_within_an_interval() {
    let server = StrategyServer::start(PER_OPERATION);
    let octopus = octopus(
        format!("http://{}/sampling", server.address),
        SamplerKind::JaegerRemote,
    );
    // The initial rate (0.0) until the first fetch; then GET /a at 0.8.
    let fetched = within(Duration::from_secs(5), || sampled(&octopus, "/a"));
    assert!(fetched.is_some(), "no strategy fetched within 5 s");
    let queries = server.queries.lock().unwrap().clone();
    assert!(
        queries
            .iter()
            .all(|query| query == "GET /sampling?service=users%20api HTTP/1.1"),
        "{queries:?}"
    );

    let n = 4_000;
    let count = |route: &str| (0..n).filter(|_| sampled(&octopus, route)).count();
    let (a, other, never) = (count("/a"), count("/b"), count("/never"));
    // Binomial bounds, 5 standard deviations: 0.8 ± 0.032, 0.1 ± 0.024.
    assert!((3_072..=3_328).contains(&a), "GET /a: {a} of {n}");
    assert!(
        (304..=496).contains(&other),
        "GET /b (default 0.1): {other} of {n}"
    );
    assert_eq!(never, 0, "GET /never");

    // A new strategy: nothing sampled. It applies within one polling interval (100 ms), plus
    // the fetch; allow a generous margin for a loaded machine.
    server
        .serve(r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.0}}"#);
    let changed = within(Duration::from_secs(2), || {
        (0..50).all(|_| !sampled(&octopus, "/a"))
    });
    let changed = changed.expect("the new strategy applied");
    println!("the changed strategy applied after {changed:?}");
    assert!(changed < Duration::from_millis(1_000), "{changed:?}");
    assert!(server.queries() >= 2, "polled again");
    octopus.shutdown().unwrap();
}

#[test]
fn a_rate_limited_strategy_never_exceeds_its_rate() {
    let server = StrategyServer::start(
        r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":20}}"#,
    );
    let octopus = octopus(
        format!("http://{}/sampling", server.address),
        SamplerKind::ParentBasedJaegerRemote,
    );
    within(Duration::from_secs(5), || sampled(&octopus, "/x")).expect("strategy fetched");
    // Far more than 20 requests a second, for 1.5 s.
    let started = Instant::now();
    let (mut requests, mut traced) = (0, 0);
    while started.elapsed() < Duration::from_millis(1_500) {
        requests += 1;
        if sampled(&octopus, "/x") {
            traced += 1;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    println!("{traced} of {requests} requests traced in 1.5 s at 20 a second");
    assert!(requests > 300, "{requests}");
    assert!(traced <= 31, "{traced} traced: above 20 a second");
    assert!(
        traced >= 20,
        "{traced} traced: the limiter stopped refilling"
    );
    octopus.shutdown().unwrap();
}

#[test]
fn an_unreachable_endpoint_keeps_the_initial_rate_and_requests_never_wait() {
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let octopus = Octopus::builder()
        .config(OctopusConfig {
            sampler: SamplerKind::JaegerRemote,
            jaeger_remote_sampling: JaegerRemoteSampling {
                endpoint: format!("http://127.0.0.1:{port}/sampling"),
                polling_interval_ms: 50,
                initial_sampling_rate: 1.0,
            },
            ..OctopusConfig::default()
        })
        .span_exporter(opentelemetry_sdk::trace::InMemorySpanExporter::default())
        .build()
        .unwrap();
    let started = Instant::now();
    let all = (0..1_000).all(|_| sampled(&octopus, "/x"));
    let took = started.elapsed();
    assert!(all, "the initial rate 1.0 samples everything");
    println!("1 000 requests beside a failing poller: {took:?}");
    octopus.shutdown().unwrap();
}

#[test]
fn a_malformed_sampler_arg_names_the_pair() {
    let env = |arg: &'static str| {
        move |name: &str| match name {
            "OTEL_TRACES_SAMPLER" => Some("parentbased_jaeger_remote".to_owned()),
            "OTEL_TRACES_SAMPLER_ARG" => Some(arg.to_owned()),
            _ => None,
        }
    };
    let mut config = OctopusConfig::default();
    config
        .apply_env(env(
            "endpoint=http://jaeger:5778/sampling, pollingIntervalMs=5000,initialSamplingRate=0.25",
        ))
        .unwrap();
    assert_eq!(config.sampler, SamplerKind::ParentBasedJaegerRemote);
    assert_eq!(
        config.jaeger_remote_sampling,
        JaegerRemoteSampling {
            endpoint: "http://jaeger:5778/sampling".into(),
            polling_interval_ms: 5000,
            initial_sampling_rate: 0.25,
        }
    );
    for (arg, message) in [
        (
            "endpoint=http://jaeger:5778/sampling,pollingIntervalMs=soon",
            r#"OTEL_TRACES_SAMPLER_ARG: invalid value "pollingIntervalMs=soon"; expected pollingIntervalMs=<milliseconds above 0>"#,
        ),
        (
            "initialSamplingRate=2",
            r#"OTEL_TRACES_SAMPLER_ARG: invalid value "initialSamplingRate=2"; expected initialSamplingRate=<a number from 0.0 to 1.0>"#,
        ),
        (
            "endpoint=jaeger:5778",
            r#"OTEL_TRACES_SAMPLER_ARG: invalid value "endpoint=jaeger:5778"; expected endpoint=<an http:// or https:// URL>"#,
        ),
        (
            "rate=0.5",
            r#"OTEL_TRACES_SAMPLER_ARG: invalid value "rate=0.5"; expected key=value pairs: endpoint, pollingIntervalMs, initialSamplingRate"#,
        ),
        (
            "0.5",
            r#"OTEL_TRACES_SAMPLER_ARG: invalid value "0.5"; expected key=value pairs: endpoint, pollingIntervalMs, initialSamplingRate"#,
        ),
    ] {
        let error = OctopusConfig::default().apply_env(env(arg)).unwrap_err();
        assert_eq!(error.to_string(), message);
    }
}
