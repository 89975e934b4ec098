//! Faults and load against every framework demo (issue 10), as real processes over loopback:
//! a trace backend that is down, black-holed or flapping costs no request and little latency;
//! memory stays bounded; metrics stay exact under 64 concurrent connections; disconnect and
//! panic storms leave nothing in flight; a flood of unmatched paths adds no series.
//!
//! The load generator is in `support`: 64 threads, each with one keep-alive HTTP/1.1
//! connection over std `TcpStream`, exact request counts, every latency recorded, every
//! failure counted. The tests take one lock so that no two load runs share the machine.
//! Every measurement prints one `FAULTS ...` line (run with `--nocapture` to see them).

mod support;

use std::collections::HashSet;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use octopus_core::testing::otlp::{
    AttributeValue, BlackHole, OtlpGrpcReceiver, ReceivedSpan, closed_port,
};
use support::{
    DEMOS, Demo, DemoBin, LoadReport, get_labels, load, sample, series, trace_id, traceparent_line,
    value_of,
};

/// Connections of every load run.
const CONNECTIONS: usize = 64;
/// Requests of the exact-count, memory and fault runs, and of the cardinality flood.
const REQUESTS: usize = 100_000;
/// Clients of the disconnect and panic storms.
const STORM: usize = 1_000;
/// p99 of a faulty-backend run over the backend-up run: the target is 1.10; debug
/// builds on a shared 2-core machine are noisy, so the assertion is generous and the measured
/// ratio is printed. (The backend-up run's collector decodes every span inside this test
/// process, on the same cores as the load: that run is, if anything, the slower one.)
/// What the bound must catch is a request waiting on the exporter — a connect or send
/// timeout, hundreds of milliseconds to seconds against a p99 of 5–20 ms, so ten times and
/// more; what it must not catch is other work on the machine: with 1.5 a CI run failed on
/// 2026-11-30 at 1.51 then 1.54 (actix, black hole, second run: p50 rose by as much, from
/// 5.6 to 9.0 ms, while another build shared the 2 cores).
const P99_RATIO_BOUND: f64 = 2.0;
/// Resident-memory growth allowed over a 100 000-request run.
const RSS_GROWTH_BOUND: u64 = 50 * 1024 * 1024;
/// Peak resident-memory growth allowed over a *second* 100 000-request run on the same
/// process. The first run grows the working set (the batch queue fills with up to 2 048 spans,
/// allocator arenas per thread); once that is reached, a process that keeps nothing per request
/// stays flat, while one that leaked even 64 bytes a request would grow by 6.1 MiB.
const STEADY_RSS_GROWTH_BOUND: u64 = 4 * 1024 * 1024;

/// One load test at a time: p99 latencies are only comparable on an otherwise idle machine.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The environment of a demo exporting over OTLP/gRPC to `endpoint`, every 100 ms.
fn otlp_env(service: &str, endpoint: &str) -> Vec<(String, String)> {
    [
        ("OTEL_SERVICE_NAME", service),
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn start(bin: DemoBin, env: &[(String, String)]) -> Demo {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Demo::start(bin, &env)
}

fn assert_no_failures(bin: DemoBin, what: &str, report: &LoadReport) {
    assert_eq!(
        report.failed, 0,
        "{} {what}: {} failed requests, e.g. {:?}",
        bin.name, report.failed, report.failures
    );
}

/// What one 100 000-request run measured.
struct Run {
    report: LoadReport,
    rss_before: u64,
    rss_after: u64,
    /// The process's peak resident memory at the end of the run.
    peak_rss_after: u64,
}

/// Warms `demo` up (64 × 20 `/health`, neither traced nor counted), then sends 100 000
/// `GET /hello/x` over 64 connections, reading VmRSS before and after (and VmHWM after).
fn run_load(demo: &Demo) -> Run {
    let warm = load(
        demo.addr,
        CONNECTIONS,
        CONNECTIONS * 20,
        200,
        |_| "/health".into(),
        |_| String::new(),
    );
    assert_no_failures(demo.bin, "warm-up", &warm);
    let rss_before = demo.rss_bytes();
    let report = load(
        demo.addr,
        CONNECTIONS,
        REQUESTS,
        200,
        |_| "/hello/x".into(),
        |_| String::new(),
    );
    let rss_after = demo.rss_bytes();
    Run {
        report,
        rss_before,
        rss_after,
        peak_rss_after: demo.peak_rss_bytes(),
    }
}

/// A further [`measured_run`] on the same process, which must not raise the process's peak
/// resident memory by [`STEADY_RSS_GROWTH_BOUND`] over where it stood after `previous` (the run
/// before it): memory is flat, not just bounded, while the backend is failing.
///
/// The peak (VmHWM), not the current figure: between and during runs the allocator may hand
/// idle memory back and then regrow to the same working set (the axum demo, flapping,
/// 2026-12-01: one run ended at 27.0 MB, the next started at 24.0 and ended at 28.0 MB, +4.08
/// over its start; the warp demo's warm-up run fell from 25.2 to 22.9 MB while it ran). That
/// regrowth is not growth; a leak is, and raises the peak in every run by what it keeps.
fn steady_memory_run(demo: &Demo, label: &str, baseline_p99: Option<f64>, previous: &Run) {
    let run = measured_run(demo, &format!("{label}, second run"), baseline_p99);
    // The kernel reports VmHWM as the larger of a recorded peak, updated only at some events
    // (an unmap, say), and the current figure: read twice, it can fall by the difference (the
    // rocket demo, 2026-12-01: 29.8 MB, then 0.04 MB less). So each side is also at least
    // every current figure read on it.
    let peak_before = previous.peak_rss_after.max(run.rss_before);
    let peak_after = run.peak_rss_after.max(run.rss_after).max(peak_before);
    let growth = peak_after - peak_before;
    println!(
        "FAULTS {} {label}: second 100 000 requests on the same process: rss {:.1} MB -> {:.1} MB, peak {:.1} MB -> {:.1} MB ({:+.2} MB)",
        demo.bin.name,
        mb(run.rss_before),
        mb(run.rss_after),
        mb(peak_before),
        mb(peak_after),
        mb(growth),
    );
    assert!(
        growth < STEADY_RSS_GROWTH_BOUND,
        "{} {label}: peak resident memory grew by {:.2} MB over a second 100 000 requests ({:.1} MB -> {:.1} MB)",
        demo.bin.name,
        mb(growth),
        mb(peak_before),
        mb(peak_after)
    );
}

/// Prints the run's summary line and checks it: no failure, bounded memory growth. Returns the
/// p99 ratio to `baseline_p99` (1.0 without one).
fn check_run(bin: DemoBin, label: &str, run: &Run, baseline_p99: Option<f64>) -> f64 {
    let p99 = run.report.p99_ms();
    let ratio = baseline_p99.map_or(1.0, |base| p99 / base);
    println!(
        "FAULTS {} {label}: {} ok, {} failed, p50 {:.2} ms, p99 {:.2} ms (ratio {:.2}), {:.0} req/s, rss {:.1} MB -> {:.1} MB",
        bin.name,
        run.report.ok,
        run.report.failed,
        run.report.quantile_ms(0.5),
        p99,
        ratio,
        run.report.rate(),
        mb(run.rss_before),
        mb(run.rss_after),
    );
    assert_no_failures(bin, label, &run.report);
    assert_eq!(run.report.ok, REQUESTS as u64);
    assert!(
        run.rss_after < run.rss_before + RSS_GROWTH_BOUND,
        "{} {label}: resident memory grew from {:.1} MB to {:.1} MB",
        bin.name,
        mb(run.rss_before),
        mb(run.rss_after)
    );
    ratio
}

/// [`run_load`] and [`check_run`] on `demo`; for a faulty backend, p99 must stay below
/// [`P99_RATIO_BOUND`] × `baseline_p99`. A run above the bound is measured once more (another
/// 100 000 requests, every check repeated) before the bound is asserted: one burst of other
/// work on a shared 2-core machine must not fail the suite, a real slowdown does twice.
fn measured_run(demo: &Demo, label: &str, baseline_p99: Option<f64>) -> Run {
    let bin = demo.bin;
    let run = run_load(demo);
    let ratio = check_run(bin, label, &run, baseline_p99);
    if baseline_p99.is_none() || ratio < P99_RATIO_BOUND {
        return run;
    }
    println!(
        "FAULTS {} {label}: p99 ratio {ratio:.2} is above {P99_RATIO_BOUND}: measuring once more",
        bin.name
    );
    let run = run_load(demo);
    let ratio = check_run(bin, &format!("{label} (again)"), &run, baseline_p99);
    assert!(
        ratio < P99_RATIO_BOUND,
        "{} {label}: p99 {:.2} ms is {ratio:.2} × the backend-up run's, twice",
        bin.name,
        run.report.p99_ms()
    );
    run
}

/// SIGTERM ends the demo with code 0 within 5 s, whatever state its trace backend is in.
fn stop(mut demo: Demo, label: &str) {
    let (code, took) = demo.sigterm();
    assert_eq!(
        code,
        Some(0),
        "{} {label}: exit code; stderr:\n{}",
        demo.bin.name,
        demo.stderr()
    );
    assert!(
        took < Duration::from_secs(5),
        "{} {label}: exit took {took:?}",
        demo.bin.name
    );
}

/// A TCP proxy in front of a collector that forwards for one period, then — for the next —
/// cuts every forwarded connection and accepts-and-closes new ones, alternating, until
/// [`FlappingProxy::hold_up`].
struct FlappingProxy {
    addr: SocketAddr,
    hold_up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    forwarded: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    cuts: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl FlappingProxy {
    fn start(upstream: SocketAddr, period: Duration) -> FlappingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let hold_up = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (forwarded, refused, cuts) = Default::default();
        let (forwarded, refused, cuts): (Arc<AtomicU64>, Arc<AtomicU64>, Arc<AtomicU64>) =
            (forwarded, refused, cuts);
        let thread = {
            let (hold_up, stop) = (hold_up.clone(), stop.clone());
            let (forwarded, refused, cuts) = (forwarded.clone(), refused.clone(), cuts.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                let mut live: Vec<TcpStream> = Vec::new();
                let mut was_up = true;
                while !stop.load(Ordering::Relaxed) {
                    let up = hold_up.load(Ordering::Relaxed)
                        || (started.elapsed().as_millis() / period.as_millis()).is_multiple_of(2);
                    if was_up && !up {
                        cuts.fetch_add(1, Ordering::Relaxed);
                        for stream in live.drain(..) {
                            let _ = stream.shutdown(std::net::Shutdown::Both);
                        }
                    }
                    was_up = up;
                    match listener.accept() {
                        Ok((client, _)) => {
                            if !up {
                                refused.fetch_add(1, Ordering::Relaxed);
                                drop(client);
                                continue;
                            }
                            let Ok(server) = TcpStream::connect(upstream) else {
                                continue;
                            };
                            client.set_nonblocking(false).unwrap();
                            forwarded.fetch_add(1, Ordering::Relaxed);
                            live.push(client.try_clone().unwrap());
                            live.push(server.try_clone().unwrap());
                            pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                            pipe(server, client);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
                for stream in live {
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                }
            })
        };
        FlappingProxy {
            addr,
            hold_up,
            stop,
            forwarded,
            refused,
            cuts,
            thread: Some(thread),
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops flapping: from now on every connection is forwarded.
    fn hold_up(&self) {
        self.hold_up.store(true, Ordering::Relaxed);
    }

    fn stats(&self) -> String {
        format!(
            "{} connections forwarded, {} refused, {} cuts",
            self.forwarded.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
            self.cuts.load(Ordering::Relaxed)
        )
    }
}

impl Drop for FlappingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Copies `from` to `to` on a thread until either side closes.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Write);
        let _ = from.shutdown(std::net::Shutdown::Read);
    });
}

/// The spans whose trace id is one of `ids`.
fn spans_in(spans: &[ReceivedSpan], ids: &HashSet<String>) -> Vec<ReceivedSpan> {
    spans
        .iter()
        .filter(|s| ids.contains(&s.trace_id_hex()))
        .cloned()
        .collect()
}

/// Waits (at most `timeout`) until `receiver` has a span of each of `ids`; returns those spans.
fn wait_for_traces(
    receiver: &OtlpGrpcReceiver,
    ids: &HashSet<String>,
    timeout: Duration,
) -> Vec<ReceivedSpan> {
    let deadline = Instant::now() + timeout;
    loop {
        let found = spans_in(&receiver.spans(), ids);
        if found.len() >= ids.len() || Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn trace_ids(tag: u32, n: usize) -> HashSet<String> {
    (0..n as u64).map(|i| trace_id(tag, i)).collect()
}

/// Backend up (OTLP/gRPC collector), down (closed port), black-holed (accepts, never answers)
/// and flapping (1 s up, 1 s down): 100 000 requests over 64 connections each, per demo. No
/// request fails; p99 stays near the backend-up run's; memory stays bounded. The backend-up run
/// is also the exact-count run: `http_server_requests_total` and the histogram's `_count` are
/// exactly 100 000. After the flapping run, spans reach the collector again.
#[test]
fn a_down_black_holed_or_flapping_trace_backend_costs_no_request_and_little_latency() {
    let _exclusive = exclusive();
    for bin in DEMOS {
        let service = format!("faults-{}", bin.name);

        // Backend up: the baseline, and the exact counts.
        let collector = OtlpGrpcReceiver::start();
        let demo = start(bin, &otlp_env(&service, &collector.endpoint()));
        let up = measured_run(&demo, "backend-up", None);
        let count = sample(
            &service,
            "http_server_requests_total",
            &get_labels(200, bin.hello),
        );
        let histogram_count = sample(
            &service,
            "http_server_request_duration_seconds_count",
            &get_labels(200, bin.hello),
        );
        let metrics = demo.metrics_until(Duration::from_secs(5), |m| {
            value_of(m, &count) == Some(REQUESTS as f64)
        });
        assert_eq!(
            value_of(&metrics, &count),
            Some(REQUESTS as f64),
            "{}",
            bin.name
        );
        assert_eq!(
            value_of(&metrics, &histogram_count),
            Some(REQUESTS as f64),
            "{}",
            bin.name
        );
        let active = sample(
            &service,
            "http_server_active_requests",
            &format!("http_request_method=\"GET\",http_route=\"{}\"", bin.hello),
        );
        assert_eq!(value_of(&metrics, &active), Some(0.0), "{}", bin.name);
        let exported = collector.spans().len();
        println!(
            "FAULTS {} exact-count: http_server_requests_total {}, histogram _count {}, active {}; {} spans reached the collector",
            bin.name,
            value_of(&metrics, &count).unwrap(),
            value_of(&metrics, &histogram_count).unwrap(),
            value_of(&metrics, &active).unwrap(),
            exported
        );
        stop(demo, "backend-up");
        drop(collector);
        let baseline = Some(up.report.p99_ms());

        // Backend down: nothing listens on the OTLP port.
        let endpoint = format!("http://127.0.0.1:{}", closed_port());
        let demo = start(bin, &otlp_env(&service, &endpoint));
        measured_run(&demo, "closed-port", baseline);
        stop(demo, "closed-port");

        // Backend black-holed: connections accepted, never answered.
        let hole = BlackHole::start();
        let demo = start(bin, &otlp_env(&service, &hole.endpoint()));
        let first = measured_run(&demo, "black-hole", baseline);
        steady_memory_run(&demo, "black-hole", baseline, &first);
        stop(demo, "black-hole");
        drop(hole);

        // Backend flapping: up 1 s, down 1 s.
        let collector = OtlpGrpcReceiver::start();
        let upstream: SocketAddr = collector.endpoint()["http://".len()..].parse().unwrap();
        let proxy = FlappingProxy::start(upstream, Duration::from_secs(1));
        let demo = start(bin, &otlp_env(&service, &proxy.endpoint()));
        measured_run(&demo, "flapping", baseline);
        // Flapping takes a second run to reach its working set: every cut reconnects, and the
        // gRPC connection's buffers and the span buffers grow with the bursts that follow. The
        // axum demo, 2026-11-30, six runs of 100 000 requests on one process (MB after each):
        // 24.3, 27.4, 26.5, 27.7, 27.0, 27.2 — the second run still grew by 3.1 MB, and later
        // runs swing by up to ±2.3 MB (the same with the build before that session); a leak
        // grows in every run, so it still shows in the steady one.
        let warming = measured_run(&demo, "flapping, warming up", baseline);
        steady_memory_run(&demo, "flapping", baseline, &warming);
        let during = collector.spans().len();
        // Back up for good: spans flow again. The batch queue may still be full of spans from
        // the load (new ones are dropped until it drains), so probe until one arrives, then
        // every one of 20 further requests must arrive.
        proxy.hold_up();
        let recovered_at = Instant::now();
        let mut probes = HashSet::new();
        let first = loop {
            let i = probes.len() as u64;
            probes.insert(trace_id(0xf1a9, i));
            let line = traceparent_line(0xf1a9, i);
            let (name, value) = line.trim_end().split_once(": ").unwrap();
            assert_eq!(demo.get_with("/hello/probe", &[(name, value)]).status, 200);
            let arrived = wait_for_traces(&collector, &probes, Duration::from_millis(200));
            if !arrived.is_empty() {
                break recovered_at.elapsed();
            }
            assert!(
                recovered_at.elapsed() < Duration::from_secs(30),
                "{}: no span reached the collector within 30 s of it coming back; stderr tail:\n{}",
                bin.name,
                tail(&demo.stderr(), 20)
            );
        };
        let ids = trace_ids(0xf1aa, 20);
        for i in 0..20 {
            let line = traceparent_line(0xf1aa, i);
            let (name, value) = line.trim_end().split_once(": ").unwrap();
            assert_eq!(demo.get_with("/hello/after", &[(name, value)]).status, 200);
        }
        let after = wait_for_traces(&collector, &ids, Duration::from_secs(15));
        println!(
            "FAULTS {} flapping: proxy {}; {} spans received while flapping; first span after the backend came back within {:.1} s ({} probes), then {}/20 spans",
            bin.name,
            proxy.stats(),
            during,
            first.as_secs_f64(),
            probes.len(),
            after.len(),
        );
        assert_eq!(
            after.len(),
            20,
            "{}: spans do not flow steadily again after the backend came back; stderr tail:\n{}",
            bin.name,
            tail(&demo.stderr(), 20)
        );
        stop(demo, "flapping");
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// 1 000 clients send `/slow/2000` and hang up ~100 ms later. The in-flight gauge returns to
/// exactly 0 and every request's span ends: cancelled (`octopus.cancelled=true`) where the
/// framework drops the request when its client goes away (axum, warp, and actix with
/// `h1_allow_half_closed(false)` as the demo sets it); with its status where the framework runs
/// the handler to its end (rocket over HTTP/1 notices the hang-up only when writing the
/// response — octopus-rocket's documentation).
#[test]
fn a_disconnect_storm_leaves_nothing_in_flight_and_ends_every_span() {
    let _exclusive = exclusive();
    for bin in DEMOS {
        let service = format!("storm-{}", bin.name);
        let collector = OtlpGrpcReceiver::start();
        let demo = start(bin, &otlp_env(&service, &collector.endpoint()));
        let tag = 0xd15c;
        let started = Instant::now();
        // Ten waves of 100: each client connects, sends its request and hangs up 100 ms later.
        for wave in 0..10u64 {
            let clients: Vec<TcpStream> = (0..100u64)
                .map(|k| {
                    let i = wave * 100 + k;
                    let mut stream = TcpStream::connect(demo.addr).unwrap();
                    write!(
                        stream,
                        "GET /slow/2000 HTTP/1.1\r\nHost: x\r\n{}\r\n",
                        traceparent_line(tag, i)
                    )
                    .unwrap();
                    stream
                })
                .collect();
            std::thread::sleep(Duration::from_millis(100));
            drop(clients);
        }
        let sent = started.elapsed();
        let active_series = |metrics: &str| -> Vec<(String, f64)> {
            metrics
                .lines()
                .filter(|l| l.starts_with("http_server_active_requests{"))
                .filter_map(|l| {
                    let (s, v) = l.rsplit_once(' ')?;
                    Some((s.to_string(), v.parse().ok()?))
                })
                .collect()
        };
        let metrics = demo.metrics_until(Duration::from_secs(15), |m| {
            active_series(m).iter().all(|(_, v)| *v == 0.0)
        });
        let drained = started.elapsed();
        let in_flight: f64 = active_series(&metrics).iter().map(|(_, v)| v).sum();
        assert_eq!(in_flight, 0.0, "{}: {metrics}", bin.name);
        let ids = trace_ids(tag, STORM);
        let spans = wait_for_traces(&collector, &ids, Duration::from_secs(30));
        let cancelled = spans
            .iter()
            .filter(|s| s.attribute("octopus.cancelled") == Some(&AttributeValue::Bool(true)))
            .count();
        let with_200 = spans
            .iter()
            .filter(|s| s.attribute("http.response.status_code") == Some(&AttributeValue::Int(200)))
            .count();
        let counted = value_of(
            &metrics,
            &sample(
                &service,
                "http_server_requests_total",
                &get_labels(200, bin.slow),
            ),
        );
        println!(
            "FAULTS {} disconnect-storm: {STORM} clients hung up within {:.1} s; active requests 0 after {:.1} s; {} spans ended ({} cancelled, {} with status 200); http_server_requests_total(200, {}) = {:?}",
            bin.name,
            sent.as_secs_f64(),
            drained.as_secs_f64(),
            spans.len(),
            cancelled,
            with_200,
            bin.slow,
            counted
        );
        assert_eq!(
            spans.len(),
            STORM,
            "{}: every request's span ended",
            bin.name
        );
        let names: HashSet<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        let templated = format!("GET {}", bin.slow);
        assert_eq!(
            names,
            HashSet::from([templated.as_str()]),
            "{}: span names",
            bin.name
        );
        if bin.name == "rocket-demo" {
            // The handler runs to its end; the request is recorded with its status.
            assert_eq!(with_200, STORM, "{}", bin.name);
            assert_eq!(cancelled, 0, "{}", bin.name);
            assert_eq!(counted, Some(STORM as f64), "{}", bin.name);
        } else {
            // Dropped at the hang-up: cancelled, and not counted as a response.
            assert_eq!(cancelled, STORM, "{}", bin.name);
            assert_eq!(with_200, 0, "{}", bin.name);
            assert!(counted.is_none() || counted == Some(0.0), "{}", bin.name);
        }
        // Still serving.
        assert_eq!(demo.get("/hello/after").status, 200);
        stop(demo, "disconnect-storm");
    }
}

/// 1 000 `/panic` over 64 connections: the server keeps serving, the counter shows exactly
/// 1 000 500s on the panic route, and 1 000 Error spans are exported.
#[test]
fn a_panic_storm_is_counted_exactly_and_exported_as_errors() {
    let _exclusive = exclusive();
    for bin in DEMOS {
        let service = format!("panics-{}", bin.name);
        let collector = OtlpGrpcReceiver::start();
        let demo = start(bin, &otlp_env(&service, &collector.endpoint()));
        let tag = 0x9a71c;
        let report = load(
            demo.addr,
            CONNECTIONS,
            STORM,
            500,
            |_| "/panic".into(),
            |i| traceparent_line(tag, i as u64),
        );
        assert_no_failures(bin, "panic-storm", &report);
        assert_eq!(
            demo.get("/hello/after").text(),
            "hello, after",
            "{}",
            bin.name
        );
        let panics = sample(
            &service,
            "http_server_requests_total",
            &get_labels(500, "/panic"),
        );
        let metrics = demo.metrics_until(Duration::from_secs(5), |m| {
            value_of(m, &panics) == Some(STORM as f64)
        });
        let ids = trace_ids(tag, STORM);
        let spans = wait_for_traces(&collector, &ids, Duration::from_secs(30));
        let errors = spans.iter().filter(|s| s.status_code == 2).count();
        let error_types: HashSet<String> = spans
            .iter()
            .map(|s| format!("{:?}", s.attribute("error.type")))
            .collect();
        println!(
            "FAULTS {} panic-storm: {} responses 500, {} failed, p99 {:.2} ms; http_server_requests_total(500, /panic) = {:?}; {} spans, {} Error, error.type {:?}",
            bin.name,
            report.ok,
            report.failed,
            report.p99_ms(),
            value_of(&metrics, &panics),
            spans.len(),
            errors,
            error_types
        );
        assert_eq!(
            value_of(&metrics, &panics),
            Some(STORM as f64),
            "{}",
            bin.name
        );
        assert_eq!(spans.len(), STORM, "{}", bin.name);
        assert_eq!(errors, STORM, "{}", bin.name);
        // Where the framework turns the panic into a 500 before Octopus sees the response,
        // the span says `error.type=500`; where Octopus sees the panic itself, `panic`.
        let expected_type = panic_error_type(bin);
        assert!(
            spans.iter().all(|s| s.name == "GET /panic"
                && s.attribute("error.type")
                    == Some(&AttributeValue::String(expected_type.into()))),
            "{}: expected error.type={expected_type}, got {error_types:?}",
            bin.name
        );
        stop(demo, "panic-storm");
    }
}

/// The `error.type` of a panicking handler's span in each demo. rocket catches the panic itself
/// and does not tell fairings (octopus-rocket's documentation); the axum demo puts
/// `CatchPanicLayer` inside `OctopusLayer`, as octopus-axum's documentation suggests, so the
/// layer sees the 500 response, not the panic.
fn panic_error_type(bin: DemoBin) -> &'static str {
    match bin.name {
        "rocket-demo" | "axum-demo" => "500",
        _ => "panic",
    }
}

/// 100 000 distinct unmatched paths over 64 connections: every one is a 404 counted under the
/// one shared unmatched label (`http_route=""`), and /metrics gains no series but that one set.
#[test]
fn a_flood_of_distinct_unmatched_paths_adds_no_series() {
    let _exclusive = exclusive();
    for bin in DEMOS {
        let service = format!("flood-{}", bin.name);
        let demo = start(
            bin,
            &[
                ("OTEL_SERVICE_NAME".into(), service.clone()),
                ("OTEL_TRACES_EXPORTER".into(), "none".into()),
            ],
        );
        assert_eq!(demo.get("/hello/x").status, 200);
        assert_eq!(demo.get("/fail").status, 500);
        let before = series(&demo.metrics());
        let report = load(
            demo.addr,
            CONNECTIONS,
            REQUESTS,
            404,
            |i| format!("/flood/{i:06}/x{}", i * 7919),
            |_| String::new(),
        );
        assert_no_failures(bin, "cardinality-flood", &report);
        let unmatched = sample(&service, "http_server_requests_total", &get_labels(404, ""));
        let metrics = demo.metrics_until(Duration::from_secs(5), |m| {
            value_of(m, &unmatched) == Some(REQUESTS as f64)
        });
        let after = series(&metrics);
        let before_set: HashSet<&String> = before.iter().collect();
        let after_set: HashSet<&String> = after.iter().collect();
        let added: Vec<&&String> = after_set.difference(&before_set).collect();
        // One unmatched series set: the counter, the histogram (buckets, +Inf, _sum, _count) and
        // the in-flight gauge.
        let buckets = metrics
            .lines()
            .filter(|l| {
                l.starts_with("http_server_request_duration_seconds_bucket{")
                    && l.contains(&format!("http_route=\"{}\"", bin.hello))
            })
            .count();
        let one_set = 1 + buckets + 2 + 1;
        println!(
            "FAULTS {} cardinality-flood: {} ok, {} failed, p99 {:.2} ms; series {} -> {} (+{}, one unmatched set is at most {}); http_server_requests_total(404, \"\") = {:?}",
            bin.name,
            report.ok,
            report.failed,
            report.p99_ms(),
            before.len(),
            after.len(),
            after.len() as i64 - before.len() as i64,
            one_set,
            value_of(&metrics, &unmatched)
        );
        assert!(
            before_set.is_subset(&after_set),
            "{}: series vanished",
            bin.name
        );
        assert!(
            added.iter().all(|s| s.contains("http_route=\"\"")),
            "{}: {added:?}",
            bin.name
        );
        assert!(
            after.len() <= before.len() + one_set,
            "{}: {added:?}",
            bin.name
        );
        assert_eq!(
            value_of(&metrics, &unmatched),
            Some(REQUESTS as f64),
            "{}",
            bin.name
        );
        assert!(
            !metrics.contains("/flood/"),
            "{}: a raw path became a label",
            bin.name
        );
        stop(demo, "cardinality-flood");
    }
}
