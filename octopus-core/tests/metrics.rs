//! The metric collectors, driven through the seam without any framework.

use std::time::{Duration, Instant};

use octopus_core::testing::exposition::Samples;
use octopus_core::{
    ConfigError, HeaderSource, MetricKind, NoHeaders, Octopus, OctopusConfig, RequestObserver,
    RequestView, ResponseView,
};

const COUNT: &str = "http_server_requests_total";
const DURATION: &str = "http_server_request_duration_seconds";
const ACTIVE: &str = "http_server_active_requests";

fn octopus() -> Octopus {
    Octopus::new(
        OctopusConfig::prometheus("users", ["latency", "request_count", "processing_requests"])
            .unwrap(),
    )
    .unwrap()
}

fn view<'a>(method: &'a str, path: &'a str, route: Option<&'a str>) -> RequestView<'a, NoHeaders> {
    RequestView::new(method, path, &NoHeaders).with_route(route)
}

/// Runs one request that took exactly `micros` microseconds.
fn request(
    octopus: &Octopus,
    method: &str,
    path: &str,
    route: Option<&str>,
    response: ResponseView<'_>,
    micros: u64,
) {
    let started = Instant::now();
    let observed = octopus.observe(&view(method, path, route).with_received_at(Some(started)));
    observed.finish(&response.with_finished_at(started + Duration::from_micros(micros)));
}

/// The in-flight gauge of `method` and `route`.
fn in_flight(s: &Samples, method: &str, route: &str) -> Option<f64> {
    s.get(
        ACTIVE,
        &[("http_request_method", method), ("http_route", route)],
    )
}

fn labels<'a>(method: &'a str, route: &'a str, status: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("http_request_method", method),
        ("http_route", route),
        ("http_response_status_code", status),
    ]
}

#[test]
fn exact_counts_sums_and_buckets_after_a_known_sequence() {
    let octopus = octopus();
    let user = Some("/users/{id}");
    let ok = ResponseView::new(200);
    // (method, path, route, response, duration µs)
    let sequence: Vec<(&str, &str, Option<&str>, ResponseView<'_>, u64)> = vec![
        ("GET", "/users/1", user, ok, 3_000),
        ("GET", "/users/2", user, ok, 40_000),
        ("GET", "/users/3", user, ok, 300_000),
        ("GET", "/users/404", user, ResponseView::new(404), 1),
        (
            "POST",
            "/users",
            Some("/users"),
            ResponseView::new(201),
            1_500_000,
        ),
        (
            "POST",
            "/users",
            Some("/users"),
            ResponseView::new(201),
            1_500_000,
        ),
        (
            "DELETE",
            "/users/9",
            user,
            ResponseView::failed(500, "DbError"),
            20_000_000,
        ),
        ("PURGE", "/users/9", user, ok, 10),
        ("get", "/users/9", user, ok, 10),
        ("GET", "/wp-admin", None, ResponseView::new(404), 100),
        ("GET", "/.env", None, ResponseView::new(404), 100),
        (
            "GET",
            "/panic",
            Some("/panic"),
            ResponseView::panicked(),
            5_000,
        ),
    ];
    for (method, path, route, response, micros) in &sequence {
        request(&octopus, method, path, *route, *response, *micros);
    }

    let s = Samples::of(&octopus);
    assert_eq!(
        s.get(COUNT, &labels("GET", "/users/{id}", "200")),
        Some(3.0)
    );
    assert_eq!(
        s.get(COUNT, &labels("GET", "/users/{id}", "404")),
        Some(1.0)
    );
    assert_eq!(s.get(COUNT, &labels("POST", "/users", "201")), Some(2.0));
    assert_eq!(
        s.get(COUNT, &labels("DELETE", "/users/{id}", "500")),
        Some(1.0)
    );
    assert_eq!(
        s.get(COUNT, &labels("_OTHER", "/users/{id}", "200")),
        Some(2.0)
    );
    assert_eq!(s.get(COUNT, &labels("GET", "", "404")), Some(2.0));
    assert_eq!(s.get(COUNT, &labels("GET", "/panic", "500")), Some(1.0));
    assert_eq!(s.series(COUNT), 7, "no other series");
    let total: f64 = ["200", "404"]
        .iter()
        .filter_map(|status| s.get(COUNT, &labels("GET", "/users/{id}", status)))
        .sum();
    assert_eq!(total, 4.0);

    // GET /users/{id} 200 took 3 ms, 40 ms and 300 ms.
    let get_ok = labels("GET", "/users/{id}", "200");
    // The sum is kept in whole nanoseconds (exact) and rendered as seconds.
    let expected_sum = [3_000u64, 40_000, 300_000]
        .iter()
        .map(|us| Duration::from_micros(*us))
        .sum::<Duration>()
        .as_nanos() as f64
        / 1e9;
    assert_eq!(s.get(&format!("{DURATION}_count"), &get_ok), Some(3.0));
    assert_eq!(
        s.get(&format!("{DURATION}_sum"), &get_ok),
        Some(expected_sum)
    );
    let bucket = |le: &str| {
        let [m, r, st] = get_ok;
        s.get(&format!("{DURATION}_bucket"), &[m, r, st, ("le", le)])
    };
    for (le, cumulative) in [
        ("0.005", 1.0),
        ("0.01", 1.0),
        ("0.025", 1.0),
        ("0.05", 2.0),
        ("0.25", 2.0),
        ("0.5", 3.0),
        ("10", 3.0),
        ("+Inf", 3.0),
    ] {
        assert_eq!(bucket(le), Some(cumulative), "bucket le={le}");
    }
    // Twenty seconds is above the largest bound: only +Inf holds it.
    let [m, r, st] = labels("DELETE", "/users/{id}", "500");
    assert_eq!(
        s.get(&format!("{DURATION}_bucket"), &[m, r, st, ("le", "10")]),
        Some(0.0)
    );
    assert_eq!(
        s.get(&format!("{DURATION}_bucket"), &[m, r, st, ("le", "+Inf")]),
        Some(1.0)
    );
    assert_eq!(s.get(&format!("{DURATION}_sum"), &[m, r, st]), Some(20.0));

    // Every request ended: every gauge that exists is 0.
    assert!(s.series(ACTIVE) > 0);
    for route in ["/users/{id}", "/users", "", "/panic"] {
        for method in ["GET", "POST", "DELETE", "_OTHER"] {
            let value = s.get(
                ACTIVE,
                &[("http_request_method", method), ("http_route", route)],
            );
            assert!(
                value.is_none() || value == Some(0.0),
                "{method} {route}: {value:?}"
            );
        }
    }
}

#[test]
fn service_name_is_a_constant_label_on_every_series() {
    let octopus = octopus();
    request(&octopus, "GET", "/a", Some("/a"), ResponseView::new(200), 1);
    let text = String::from_utf8(octopus.scrape(&NoHeaders).body).unwrap();
    let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(!samples.is_empty());
    for line in samples {
        assert!(line.contains(r#"service_name="users""#), "{line}");
    }
}

#[test]
fn gauge_counts_in_flight_and_returns_to_zero_after_cancel_and_panic() {
    let octopus = octopus();
    let route = Some("/slow/{ms}");
    let active = || {
        Samples::of(&octopus).get(
            ACTIVE,
            &[("http_request_method", "GET"), ("http_route", "/slow/{ms}")],
        )
    };

    let mut in_flight: Vec<_> = (0..5)
        .map(|_| octopus.observe(&view("GET", "/slow/100", route)))
        .collect();
    assert_eq!(active(), Some(5.0));
    // Three clients go away: their futures (and states) are dropped.
    in_flight.truncate(2);
    assert_eq!(active(), Some(2.0));
    for observed in in_flight {
        observed.finish(&ResponseView::new(200));
    }
    assert_eq!(active(), Some(0.0));

    // A handler that panics while its state is alive: unwinding drops the state.
    let handle = {
        let octopus = octopus.clone();
        std::thread::spawn(move || {
            let _observed = octopus.observe(&view("GET", "/slow/1", Some("/slow/{ms}")));
            panic!("handler panicked");
        })
    };
    assert!(handle.join().is_err());
    assert_eq!(active(), Some(0.0));

    // A panic the adapter caught and reported: counted as a 500, gauge back to 0.
    let observed = octopus.observe(&view("GET", "/slow/1", route));
    assert_eq!(active(), Some(1.0));
    observed.finish(&ResponseView::panicked());
    assert_eq!(active(), Some(0.0));

    let s = Samples::of(&octopus);
    // Cancelled requests have no status: neither counted nor timed.
    assert_eq!(s.get(COUNT, &labels("GET", "/slow/{ms}", "200")), Some(2.0));
    assert_eq!(s.get(COUNT, &labels("GET", "/slow/{ms}", "500")), Some(1.0));
    assert_eq!(s.series(COUNT), 2);
    assert_eq!(
        s.get(
            &format!("{DURATION}_count"),
            &labels("GET", "/slow/{ms}", "200")
        ),
        Some(2.0)
    );
}

#[test]
fn eight_threads_times_ten_thousand_requests_give_exact_totals() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 10_000;
    let octopus = octopus();
    let routes = ["/a/{x}", "/b/{x}", "/c"];
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let octopus = &octopus;
            scope.spawn(move || {
                for i in 0..PER_THREAD {
                    let route = routes[(thread + i) % routes.len()];
                    let status = if i % 10 == 0 { 500 } else { 200 };
                    let observed = octopus.observe(&view("GET", "/ignored", Some(route)));
                    observed.finish(&ResponseView::new(status));
                }
            });
        }
    });

    let s = Samples::of(&octopus);
    let mut total = 0.0;
    let mut errors = 0.0;
    for route in routes {
        for status in ["200", "500"] {
            let count = s.get(COUNT, &labels("GET", route, status)).unwrap();
            let timed = s
                .get(&format!("{DURATION}_count"), &labels("GET", route, status))
                .unwrap();
            assert_eq!(count, timed, "{route} {status}");
            total += count;
            if status == "500" {
                errors += count;
            }
        }
        assert_eq!(
            s.get(
                ACTIVE,
                &[("http_request_method", "GET"), ("http_route", route)]
            ),
            Some(0.0)
        );
    }
    assert_eq!(total, (THREADS * PER_THREAD) as f64);
    assert_eq!(errors, (THREADS * PER_THREAD / 10) as f64);
    // Per route, exactly as the threads distributed them: thread t sends request i to
    // routes[(t + i) % 3].
    for (r, route) in routes.iter().enumerate() {
        let expected = (0..THREADS)
            .flat_map(|t| (0..PER_THREAD).map(move |i| (t, i)))
            .filter(|(t, i)| (t + i) % routes.len() == r)
            .count() as f64;
        let got: f64 = ["200", "500"]
            .iter()
            .map(|st| s.get(COUNT, &labels("GET", route, st)).unwrap())
            .sum();
        assert_eq!(got, expected, "{route}");
    }
}

#[test]
fn ten_thousand_distinct_unmatched_paths_create_no_new_series() {
    let octopus = octopus();
    request(&octopus, "GET", "/probe-0", None, ResponseView::new(404), 1);
    let before = Samples::of(&octopus);
    let before_series: Vec<usize> = [COUNT, &format!("{DURATION}_count"), ACTIVE]
        .iter()
        .map(|m| before.series(m))
        .collect();
    assert_eq!(before_series, [1, 1, 1]);

    for i in 0..10_000 {
        let path = format!("/scan/{i}/admin.php");
        request(&octopus, "GET", &path, None, ResponseView::new(404), 1);
    }
    let after = Samples::of(&octopus);
    let after_series: Vec<usize> = [COUNT, &format!("{DURATION}_count"), ACTIVE]
        .iter()
        .map(|m| after.series(m))
        .collect();
    assert_eq!(after_series, before_series);
    assert_eq!(after.get(COUNT, &labels("GET", "", "404")), Some(10_001.0));
    assert_eq!(after.label_values(COUNT, "http_route"), [""]);
}

#[test]
fn excluded_paths_are_not_counted() {
    let octopus = Octopus::builder().exclude_path("/ready").build().unwrap();
    for path in ["/metrics", "/health", "/ready"] {
        request(&octopus, "GET", path, Some(path), ResponseView::new(200), 1);
    }
    // Excluded by path, not by route: a route of the same name elsewhere is counted.
    request(
        &octopus,
        "GET",
        "/api/health",
        Some("/api/health"),
        ResponseView::new(200),
        1,
    );
    let s = Samples::of(&octopus);
    assert_eq!(s.series(COUNT), 1);
    assert_eq!(
        s.get(COUNT, &labels("GET", "/api/health", "200")),
        Some(1.0)
    );
    assert_eq!(s.series(ACTIVE), 1);
}

#[test]
fn a_custom_metrics_path_is_excluded_too() {
    let octopus = Octopus::builder()
        .metrics_path("/internal/metrics")
        .build()
        .unwrap();
    request(
        &octopus,
        "GET",
        "/internal/metrics",
        None,
        ResponseView::new(200),
        1,
    );
    assert_eq!(Samples::of(&octopus).series(COUNT), 0);
    assert_eq!(octopus.metrics_path(), "/internal/metrics");
}

#[test]
fn only_the_selected_collectors_exist() {
    let octopus =
        Octopus::new(OctopusConfig::prometheus("svc", ["request_count"]).unwrap()).unwrap();
    request(&octopus, "GET", "/x", Some("/x"), ResponseView::new(200), 1);
    let text = String::from_utf8(octopus.scrape(&NoHeaders).body).unwrap();
    assert!(text.contains(COUNT));
    assert!(!text.contains(DURATION));
    assert!(!text.contains(ACTIVE));

    let none = Octopus::new(OctopusConfig::prometheus("svc", Vec::<&str>::new()).unwrap()).unwrap();
    assert!(none.metrics().is_none());
    request(&none, "GET", "/x", Some("/x"), ResponseView::new(200), 1);
    let text = String::from_utf8(none.scrape(&NoHeaders).body).unwrap();
    assert!(!text.contains("http_server"), "{text}");
    // Only the span pipeline's own counters remain (tracing is on).
    assert!(text.contains("octopus_spans_ended_total"));
}

#[test]
fn prefix_buckets_and_unmatched_label_are_configurable() {
    let octopus = Octopus::builder()
        .service_name("shop")
        .metrics_prefix("acme")
        .latency_buckets([0.1, 1.0])
        .unmatched_route_label("unmatched")
        .build()
        .unwrap();
    request(
        &octopus,
        "GET",
        "/nope",
        None,
        ResponseView::new(404),
        500_000,
    );
    let s = Samples::of(&octopus);
    let l = labels("GET", "unmatched", "404");
    assert_eq!(s.get("acme_http_server_requests_total", &l), Some(1.0));
    let bucket = |le| {
        s.get(
            "acme_http_server_request_duration_seconds_bucket",
            &[l[0], l[1], l[2], ("le", le)],
        )
    };
    assert_eq!(bucket("0.1"), Some(0.0));
    assert_eq!(bucket("1"), Some(1.0));
    assert_eq!(bucket("+Inf"), Some(1.0));
    assert_eq!(
        s.series("acme_http_server_request_duration_seconds_bucket"),
        3
    );
    assert_eq!(s.series(COUNT), 0);
}

#[test]
fn a_registry_passed_in_serves_the_users_metrics_too() {
    let registry = prometheus::Registry::new();
    let jobs = prometheus::IntCounter::new("jobs_processed_total", "Jobs.").unwrap();
    registry.register(Box::new(jobs.clone())).unwrap();
    jobs.inc_by(7);

    let octopus = Octopus::builder()
        .registry(registry.clone())
        .build()
        .unwrap();
    request(&octopus, "GET", "/x", Some("/x"), ResponseView::new(200), 1);
    let s = Samples::of(&octopus);
    assert_eq!(s.get("jobs_processed_total", &[]), Some(7.0));
    assert_eq!(s.get(COUNT, &labels("GET", "/x", "200")), Some(1.0));

    // A second instance on the same registry is refused with a clear error, not a panic.
    let err = Octopus::builder().registry(registry).build().unwrap_err();
    assert!(matches!(err, ConfigError::Registration { .. }));
    assert!(
        err.to_string()
            .starts_with("metrics registry: cannot register http_server_requests_total: "),
        "{err}"
    );
}

#[test]
fn two_instances_in_one_process_have_separate_registries() {
    let a = Octopus::builder().service_name("a").build().unwrap();
    let b = Octopus::builder().service_name("b").build().unwrap();
    request(&a, "GET", "/x", Some("/x"), ResponseView::new(200), 1);
    assert_eq!(
        Samples::of(&a).get(COUNT, &labels("GET", "/x", "200")),
        Some(1.0)
    );
    assert_eq!(Samples::of(&b).series(COUNT), 0);
}

/// An access log stacked with Octopus: both see every request, in order.
#[test]
fn a_users_observer_stacks_with_octopus() {
    use std::sync::{Arc, Mutex};

    use octopus_core::Observation;
    use opentelemetry::Context;

    #[derive(Clone, Default)]
    struct AccessLog(Arc<Mutex<Vec<String>>>);
    struct Entry(Arc<Mutex<Vec<String>>>, String);

    impl RequestObserver for AccessLog {
        type Observation = Entry;
        fn start<H: HeaderSource + ?Sized>(
            &self,
            request: &RequestView<'_, H>,
            _: &mut Context,
        ) -> Entry {
            Entry(
                self.0.clone(),
                format!("{} {}", request.method().as_str(), request.path()),
            )
        }
    }
    impl Observation for Entry {
        fn finish(self, response: &ResponseView<'_>) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{} {}", self.1, response.status()));
        }
        fn cancel(self) {
            self.0.lock().unwrap().push(format!("{} cancelled", self.1));
        }
    }

    let octopus = octopus();
    let log = AccessLog::default();
    let stack = (octopus.clone(), log.clone());
    stack
        .observe(&view("GET", "/users/1", Some("/users/{id}")))
        .finish(&ResponseView::new(200));
    drop(stack.observe(&view("GET", "/users/2", Some("/users/{id}"))));

    assert_eq!(
        *log.0.lock().unwrap(),
        ["GET /users/1 200", "GET /users/2 cancelled"]
    );
    let s = Samples::of(&octopus);
    assert_eq!(
        s.get(COUNT, &labels("GET", "/users/{id}", "200")),
        Some(1.0)
    );
    assert_eq!(
        s.get(
            ACTIVE,
            &[
                ("http_request_method", "GET"),
                ("http_route", "/users/{id}")
            ]
        ),
        Some(0.0)
    );
}

#[test]
fn metric_kinds_select_by_original_names() {
    let names: Vec<&str> = MetricKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(
        names,
        [
            "latency",
            "request_count",
            "processing_requests",
            "request_size",
            "response_size"
        ]
    );
    let metrics: Vec<&str> = MetricKind::ALL.iter().map(|k| k.metric_name()).collect();
    assert_eq!(
        metrics,
        [
            DURATION,
            COUNT,
            ACTIVE,
            "http_server_request_body_size_bytes",
            "http_server_response_body_size_bytes"
        ]
    );
    assert_eq!(
        MetricKind::DEFAULT,
        [
            MetricKind::Latency,
            MetricKind::RequestCount,
            MetricKind::ProcessingRequests
        ]
    );
}

#[test]
fn a_route_known_only_after_start_moves_the_request_and_its_gauge() {
    let octopus = octopus();
    let active = |route: &str| {
        Samples::of(&octopus).get(
            ACTIVE,
            &[("http_request_method", "GET"), ("http_route", route)],
        )
    };
    // Frameworks that route after the middleware ran start without a template.
    let mut first = octopus.observe(&view("GET", "/hello/ann", None));
    let mut second = octopus.observe(&view("GET", "/hello/bob", None));
    assert_eq!(active(""), Some(2.0));
    first.set_route("/hello/{name}");
    assert_eq!(active(""), Some(1.0));
    assert_eq!(active("/hello/{name}"), Some(1.0));
    second.set_route("/hello/{name}");
    second.set_route("/hello/{name}");
    assert_eq!(active("/hello/{name}"), Some(2.0));
    assert_eq!(active(""), Some(0.0));
    first.finish(&ResponseView::new(200));
    // Cancelled after the route was set: the gauge of the new route comes down.
    drop(second);
    assert_eq!(active("/hello/{name}"), Some(0.0));

    let s = Samples::of(&octopus);
    assert_eq!(
        s.get(COUNT, &labels("GET", "/hello/{name}", "200")),
        Some(1.0)
    );
    assert_eq!(s.series(COUNT), 1, "nothing counted on the unmatched label");
}

#[test]
fn route_templates_past_the_cap_share_one_series_and_one_span_name() {
    use octopus_core::{MAX_ROUTE_TEMPLATES, OVERFLOW_ROUTE, SamplerKind};
    use opentelemetry_sdk::trace::InMemorySpanExporter;

    let exporter = InMemorySpanExporter::default();
    let octopus = Octopus::builder()
        .config(OctopusConfig {
            // Room for every span until the flush below.
            bsp_max_queue_size: Some(8_192),
            ..OctopusConfig::default()
        })
        .sampler(SamplerKind::AlwaysOn, None)
        .span_exporter(exporter.clone())
        .build()
        .unwrap();
    // Raw paths passed as route templates, as a custom framework might by mistake.
    let total = 5_000;
    for i in 0..total {
        let path = format!("/raw/{i}");
        request(
            &octopus,
            "GET",
            &path,
            Some(&path),
            ResponseView::new(200),
            1,
        );
    }
    let overflowed = (total - MAX_ROUTE_TEMPLATES) as f64;

    let s = Samples::of(&octopus);
    for metric in [COUNT, &format!("{DURATION}_count"), ACTIVE] {
        assert_eq!(s.series(metric), MAX_ROUTE_TEMPLATES + 1, "{metric}");
    }
    assert_eq!(
        s.get(COUNT, &labels("GET", OVERFLOW_ROUTE, "200")),
        Some(overflowed)
    );
    assert_eq!(
        s.get(
            &format!("{DURATION}_count"),
            &labels("GET", OVERFLOW_ROUTE, "200")
        ),
        Some(overflowed)
    );
    let last = format!("/raw/{}", MAX_ROUTE_TEMPLATES - 1);
    assert_eq!(s.get(COUNT, &labels("GET", &last, "200")), Some(1.0));
    let first_past = format!("/raw/{MAX_ROUTE_TEMPLATES}");
    assert_eq!(s.get(COUNT, &labels("GET", &first_past, "200")), None);

    octopus.tracer_provider().unwrap().force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), total);
    let attribute = |span: &opentelemetry_sdk::trace::SpanData, key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str().into_owned())
            .unwrap()
    };
    let overflow_name = format!("GET {OVERFLOW_ROUTE}");
    let mut names = std::collections::HashSet::new();
    for span in &spans {
        let path = attribute(span, "url.path");
        let i: usize = path.trim_start_matches("/raw/").parse().unwrap();
        // Span names are interned for the whole process, other tests' templates included: the
        // overflow starts at the cap at the latest.
        if i >= MAX_ROUTE_TEMPLATES || span.name != format!("GET {path}") {
            assert_eq!(span.name, overflow_name, "{path}");
            assert_eq!(attribute(span, "http.route"), OVERFLOW_ROUTE, "{path}");
        } else {
            assert_eq!(attribute(span, "http.route"), path);
        }
        names.insert(span.name.clone());
    }
    assert!(names.len() <= MAX_ROUTE_TEMPLATES + 1, "{}", names.len());
    assert!(names.contains(overflow_name.as_str()));
}

/// The cells are per thread: counts stay exact when requests run on many threads, finish on
/// another thread than they started on, and when the threads that counted them have exited.
#[test]
fn counts_are_exact_across_threads_moved_requests_and_exited_threads() {
    let octopus = octopus();
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 2_000;
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for i in 0..PER_THREAD {
                    request(
                        &octopus,
                        "GET",
                        "/users/1",
                        Some("/users/{id}"),
                        ResponseView::new(200),
                        // 1 ms or 100 ms: two known buckets.
                        if i % 2 == 0 { 1_000 } else { 100_000 },
                    );
                }
            });
        }
    });
    // Started on this thread, finished (or dropped) on others.
    let moved: Vec<_> = (0..10)
        .map(|_| octopus.observe(&view("POST", "/users", Some("/users"))))
        .collect();
    let s = Samples::of(&octopus);
    assert_eq!(in_flight(&s, "POST", "/users"), Some(10.0));
    std::thread::scope(|scope| {
        for (i, observed) in moved.into_iter().enumerate() {
            scope.spawn(move || {
                if i < 7 {
                    observed.finish(&ResponseView::new(201));
                } else {
                    drop(observed); // cancelled: not counted, off the gauge
                }
            });
        }
    });

    let s = Samples::of(&octopus);
    let get_ok = labels("GET", "/users/{id}", "200");
    assert_eq!(s.get(COUNT, &get_ok), Some((THREADS * PER_THREAD) as f64));
    assert_eq!(
        s.get(&format!("{DURATION}_count"), &get_ok),
        Some((THREADS * PER_THREAD) as f64)
    );
    let bucket = |le: &str| {
        let mut labels = get_ok.to_vec();
        labels.push(("le", le));
        s.get(&format!("{DURATION}_bucket"), &labels)
    };
    assert_eq!(bucket("0.005"), Some((THREADS * PER_THREAD / 2) as f64));
    assert_eq!(bucket("0.075"), Some((THREADS * PER_THREAD / 2) as f64));
    assert_eq!(bucket("0.1"), Some((THREADS * PER_THREAD) as f64));
    // The sum is exact: whole nanoseconds, added as integers.
    let expected_sum = (THREADS * PER_THREAD / 2) as f64 * 0.101;
    let sum = s.get(&format!("{DURATION}_sum"), &get_ok).unwrap();
    assert!((sum - expected_sum).abs() < 1e-9, "{sum} != {expected_sum}");
    assert_eq!(s.get(COUNT, &labels("POST", "/users", "201")), Some(7.0));
    assert_eq!(in_flight(&s, "POST", "/users"), Some(0.0));
    assert_eq!(in_flight(&s, "GET", "/users/{id}"), Some(0.0));
}

/// Requests that end on another thread while the thread they started on keeps counting
/// requests of the same series: no update is lost. Each thread's cells have one writer, which
/// updates them without a read-modify-write; a moved request's end goes to the ending thread's
/// own cells. (Were it written into the starting thread's cells as they are, the two threads'
/// load-and-store pairs would interleave and lose counts here.)
#[test]
fn requests_ending_on_another_thread_lose_no_update_while_their_first_thread_counts() {
    const MOVED: usize = 20_000;
    let octopus = octopus();
    let (send, receive) = std::sync::mpsc::sync_channel(256);
    std::thread::scope(|scope| {
        let octopus = &octopus;
        scope.spawn(move || {
            for _ in 0..MOVED {
                let moved = octopus.observe(&view("GET", "/m/1", Some("/m/{id}")));
                send.send(moved).expect("the other thread receives");
                // One of its own, in the same series, between the moved ones' ends.
                octopus
                    .observe(&view("GET", "/m/2", Some("/m/{id}")))
                    .finish(&ResponseView::new(200));
            }
        });
        scope.spawn(move || {
            for (i, moved) in receive.into_iter().enumerate() {
                if i % 4 == 3 {
                    drop(moved); // cancelled on this thread: off the gauge, not counted
                } else {
                    moved.finish(&ResponseView::new(200));
                }
            }
        });
    });
    let s = Samples::of(&octopus);
    let ok = labels("GET", "/m/{id}", "200");
    let counted = MOVED + MOVED * 3 / 4;
    assert_eq!(s.get(COUNT, &ok), Some(counted as f64));
    assert_eq!(
        s.get(&format!("{DURATION}_count"), &ok),
        Some(counted as f64)
    );
    assert_eq!(in_flight(&s, "GET", "/m/{id}"), Some(0.0));
}

/// A scrape sees every request that finished before it started, while other threads keep
/// counting: each worker publishes how many requests it finished, then a scrape must count at
/// least the published total, and at most what was started.
#[test]
fn a_scrape_during_load_sees_every_request_that_finished_before_it() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let octopus = octopus();
    let finished = [AtomicU64::new(0), AtomicU64::new(0)];
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for counter in &finished {
            let (octopus, stop) = (&octopus, &stop);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    request(octopus, "GET", "/x", Some("/x"), ResponseView::new(200), 10);
                    counter.fetch_add(1, Ordering::Release);
                }
            });
        }
        let mut last = 0.0;
        for _ in 0..200 {
            let before: u64 = finished.iter().map(|c| c.load(Ordering::Acquire)).sum();
            let counted = Samples::of(&octopus)
                .get(COUNT, &labels("GET", "/x", "200"))
                .unwrap_or(0.0);
            let after: u64 = finished.iter().map(|c| c.load(Ordering::Acquire)).sum();
            assert!(
                counted >= before as f64,
                "scrape counted {counted}, {before} had finished"
            );
            // At most one request per worker is between its count and its publication.
            assert!(counted <= (after + 2) as f64, "{counted} > {after} + 2");
            assert!(counted >= last, "counts never go back: {counted} < {last}");
            last = counted;
        }
        stop.store(true, Ordering::Relaxed);
    });
    let total: u64 = finished.iter().map(|c| c.load(Ordering::Acquire)).sum();
    assert_eq!(
        Samples::of(&octopus).get(COUNT, &labels("GET", "/x", "200")),
        Some(total as f64)
    );
}
