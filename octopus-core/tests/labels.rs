//! Labels of the user's own on the request metrics: from a header or a function, bounded by
//! declared values or a cap, the overflow counter, constant labels, configuration errors.

use std::process::Command;
use std::time::{Duration, Instant};

use octopus_core::config::LabelConfig;
use octopus_core::testing::exposition::Samples;
use octopus_core::{
    MetricKind, NoHeaders, Octopus, OctopusConfig, RequestObserver, RequestView, ResponseView,
};

const COUNT: &str = "http_server_requests_total";
const DURATION: &str = "http_server_request_duration_seconds";
const ACTIVE: &str = "http_server_active_requests";
const OVERFLOW: &str = "octopus_label_overflow_total";

fn metrics_only() -> OctopusConfig {
    OctopusConfig {
        service_name: "shop".into(),
        tracing_enabled: false,
        ..OctopusConfig::default()
    }
}

/// One request with these headers on `route`, taking `micros`, answered with `status`.
fn request(octopus: &Octopus, route: &str, headers: &[(&str, &str)], status: u16, micros: u64) {
    let started = Instant::now();
    let view = RequestView::new("GET", route, headers)
        .with_route(Some(route))
        .with_received_at(Some(started));
    octopus.observe(&view).finish(
        &ResponseView::new(status).with_finished_at(started + Duration::from_micros(micros)),
    );
}

fn get_exact(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut all = vec![("service_name", "shop")];
    all.extend_from_slice(labels);
    samples.get_exact(name, &all)
}

#[test]
fn a_label_from_a_header_gives_exact_series_and_counts() {
    let octopus = Octopus::builder()
        .config(metrics_only())
        .header_label(LabelConfig::header("tenant", "X-Tenant"))
        .latency_buckets([0.01, 0.1])
        .build()
        .unwrap();
    let acme: &[(&str, &str)] = &[("x-tenant", "acme")];
    let globex: &[(&str, &str)] = &[("X-TENANT", "globex")];
    request(&octopus, "/cart", acme, 200, 5_000);
    request(&octopus, "/cart", acme, 200, 50_000);
    request(&octopus, "/cart", globex, 500, 500_000);
    request(&octopus, "/cart", &[], 200, 1_000);
    let in_flight =
        octopus.observe(&RequestView::new("POST", "/cart", acme).with_route(Some("/cart")));

    let samples = Samples::of(&octopus);
    let series = |tenant: &'static str, status: &'static str| {
        vec![
            ("http_request_method", "GET"),
            ("http_response_status_code", status),
            ("http_route", "/cart"),
            ("tenant", tenant),
        ]
    };
    assert_eq!(
        get_exact(&samples, COUNT, &series("acme", "200")),
        Some(2.0)
    );
    assert_eq!(
        get_exact(&samples, COUNT, &series("globex", "500")),
        Some(1.0)
    );
    // Without the header: the default value, empty (the series then has no `tenant` label in
    // Prometheus's eyes, but is written with it, as the unmatched route is).
    assert_eq!(get_exact(&samples, COUNT, &series("", "200")), Some(1.0));
    assert_eq!(samples.series(COUNT), 3);

    let mut bucket = series("acme", "200");
    bucket.push(("le", "0.01"));
    assert_eq!(
        get_exact(&samples, &format!("{DURATION}_bucket"), &bucket),
        Some(1.0)
    );
    bucket.pop();
    bucket.push(("le", "0.1"));
    assert_eq!(
        get_exact(&samples, &format!("{DURATION}_bucket"), &bucket),
        Some(2.0)
    );
    assert_eq!(
        get_exact(&samples, &format!("{DURATION}_sum"), &series("acme", "200")),
        Some(0.055)
    );
    assert_eq!(
        get_exact(
            &samples,
            &format!("{DURATION}_count"),
            &series("globex", "500")
        ),
        Some(1.0)
    );

    // The in-flight gauge carries the label too (the value is known at the start).
    let gauge = |method, tenant| {
        vec![
            ("http_request_method", method),
            ("http_route", "/cart"),
            ("tenant", tenant),
        ]
    };
    assert_eq!(
        get_exact(&samples, ACTIVE, &gauge("POST", "acme")),
        Some(1.0)
    );
    assert_eq!(
        get_exact(&samples, ACTIVE, &gauge("GET", "acme")),
        Some(0.0)
    );
    drop(in_flight);
    assert_eq!(
        get_exact(&Samples::of(&octopus), ACTIVE, &gauge("POST", "acme")),
        Some(0.0)
    );

    assert_eq!(
        get_exact(&samples, OVERFLOW, &[("label", "tenant")]),
        Some(0.0)
    );
}

#[test]
fn declared_values_map_the_others_to_other_and_count_them() {
    let octopus = Octopus::builder()
        .config(metrics_only())
        .metrics([MetricKind::RequestCount])
        .header_label(
            LabelConfig::header("plan", "x-plan")
                .values(["free", "pro"])
                .default_value("anonymous"),
        )
        .build()
        .unwrap();
    for plan in ["free", "pro", "pro", "gold", "platinum", "FREE"] {
        request(&octopus, "/", &[("x-plan", plan)], 200, 1);
    }
    request(&octopus, "/", &[], 200, 1);
    // A value past the length limit is `_other` too.
    let long = "p".repeat(200);
    request(&octopus, "/", &[("x-plan", long.as_str())], 200, 1);

    let samples = Samples::of(&octopus);
    let count = |plan| {
        let labels = [
            ("http_request_method", "GET"),
            ("http_response_status_code", "200"),
            ("http_route", "/"),
            ("plan", plan),
        ];
        get_exact(&samples, COUNT, &labels)
    };
    assert_eq!(count("free"), Some(1.0));
    assert_eq!(count("pro"), Some(2.0));
    assert_eq!(count("_other"), Some(4.0));
    assert_eq!(count("anonymous"), Some(1.0));
    assert_eq!(samples.series(COUNT), 4);
    assert_eq!(
        get_exact(&samples, OVERFLOW, &[("label", "plan")]),
        Some(4.0)
    );
}

#[test]
fn a_label_from_a_function_and_constant_labels() {
    let octopus = Octopus::builder()
        .config(metrics_only())
        .metrics([MetricKind::RequestCount, MetricKind::ProcessingRequests])
        .label("client", |request| {
            request
                .user_agent()
                .and_then(|agent| agent.split('/').next())
        })
        .const_label("region", "eu-west-1")
        .build()
        .unwrap();
    // An `http::HeaderMap` and a slice of pairs: the function sees both behind `dyn`.
    let mut map = http::HeaderMap::new();
    map.insert("user-agent", "curl/8.5.0".parse().unwrap());
    let view = RequestView::new("GET", "/x", &map).with_route(Some("/x"));
    octopus.observe(&view).finish(&ResponseView::new(200));
    request(&octopus, "/x", &[("user-agent", "wget/1.21")], 200, 1);

    let samples = Samples::of(&octopus);
    for client in ["curl", "wget"] {
        let labels = [
            ("http_request_method", "GET"),
            ("http_response_status_code", "200"),
            ("http_route", "/x"),
            ("client", client),
            ("region", "eu-west-1"),
        ];
        assert_eq!(get_exact(&samples, COUNT, &labels), Some(1.0), "{client}");
    }
    assert_eq!(
        get_exact(
            &samples,
            OVERFLOW,
            &[("label", "client"), ("region", "eu-west-1")]
        ),
        Some(0.0)
    );
    let text = octopus.scrape(&NoHeaders).text().into_owned();
    assert!(
        text.contains(
            r#"http_server_active_requests{client="curl",http_request_method="GET",http_route="/x",region="eu-west-1",service_name="shop"} 0"#
        ),
        "{text}"
    );
}

/// A route named after the request started (rocket, warp's named routes) moves the request to
/// the series of that route with the same label values.
#[test]
fn a_route_named_late_keeps_the_label_values() {
    let octopus = Octopus::builder()
        .config(metrics_only())
        .header_label(LabelConfig::header("tenant", "x-tenant"))
        .build()
        .unwrap();
    let headers: &[(&str, &str)] = &[("x-tenant", "acme")];
    let mut observed = octopus.observe(&RequestView::new("GET", "/users/7", headers));
    observed.set_route("/users/{id}");
    let samples = Samples::of(&octopus);
    let gauge = |route| {
        [
            ("http_request_method", "GET"),
            ("http_route", route),
            ("tenant", "acme"),
        ]
    };
    assert_eq!(
        get_exact(&samples, ACTIVE, &gauge("/users/{id}")),
        Some(1.0)
    );
    assert_eq!(get_exact(&samples, ACTIVE, &gauge("")), Some(0.0));
    observed.finish(&ResponseView::new(200));
    let samples = Samples::of(&octopus);
    let labels = [
        ("http_request_method", "GET"),
        ("http_response_status_code", "200"),
        ("http_route", "/users/{id}"),
        ("tenant", "acme"),
    ];
    assert_eq!(get_exact(&samples, COUNT, &labels), Some(1.0));
    assert_eq!(
        get_exact(&samples, ACTIVE, &gauge("/users/{id}")),
        Some(0.0)
    );
}

/// Two threads count into their own cells; a scrape sums them exactly.
#[test]
fn threads_count_exactly() {
    let octopus = Octopus::builder()
        .config(metrics_only())
        .metrics([MetricKind::RequestCount])
        .header_label(LabelConfig::header("tenant", "x-tenant").max_values(3))
        .build()
        .unwrap();
    std::thread::scope(|scope| {
        for thread in 0..2 {
            let octopus = &octopus;
            scope.spawn(move || {
                for i in 0..1_000 {
                    let tenant = format!("t{}", (i + thread) % 5);
                    request(octopus, "/", &[("x-tenant", tenant.as_str())], 200, 1);
                }
            });
        }
    });
    let samples = Samples::of(&octopus);
    let total: f64 = samples
        .label_values(COUNT, "tenant")
        .iter()
        .map(|tenant| {
            let labels = [
                ("http_request_method", "GET"),
                ("http_response_status_code", "200"),
                ("http_route", "/"),
                ("tenant", tenant.as_str()),
            ];
            get_exact(&samples, COUNT, &labels).unwrap()
        })
        .sum();
    assert_eq!(total, 2_000.0);
    // Three values admitted (which ones depends on the threads' race), plus `_other`.
    assert_eq!(samples.series(COUNT), 4);
    let other = [
        ("http_request_method", "GET"),
        ("http_response_status_code", "200"),
        ("http_route", "/"),
        ("tenant", "_other"),
    ];
    // Each thread sends each of the five values 200 times: two values are refused.
    assert_eq!(get_exact(&samples, COUNT, &other), Some(800.0));
    assert_eq!(
        get_exact(&samples, OVERFLOW, &[("label", "tenant")]),
        Some(800.0)
    );
}

/// The environment variable that makes the flood test's child process run the flood.
const FLOOD_CHILD: &str = "OCTOPUS_TEST_LABEL_FLOOD_CHILD";

/// 100 000 distinct values of one header, with the default cap of 100: the exposition keeps
/// 101 values of the label (100 admitted and `_other`), the overflow counter counts every
/// request past the cap, and stderr says so once, naming the label and the cap and no value.
/// Run in a child process of this test binary so its stderr can be read whole.
#[test]
fn a_flood_of_values_stays_within_the_cap() {
    if std::env::var_os(FLOOD_CHILD).is_some() {
        flood();
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_flood_of_values_stays_within_the_cap",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FLOOD_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test: {stdout}"
    );
    let reports: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("octopus:"))
        .collect();
    assert_eq!(
        reports,
        [
            "octopus: label \"tenant\" reached its cap of 100 distinct values; requests with \
             further values are counted as \"_other\" (see octopus_label_overflow_total)"
        ],
        "{stderr}"
    );
    assert!(!stderr.contains("tenant-"), "a value was printed: {stderr}");
}

fn flood() {
    const REQUESTS: usize = 100_000;
    let octopus = Octopus::builder()
        .config(metrics_only())
        .header_label(LabelConfig::header("tenant", "x-tenant"))
        .header_label(LabelConfig::header("plan", "x-plan").values(["free", "pro"]))
        .build()
        .unwrap();
    for i in 0..REQUESTS {
        let tenant = format!("tenant-{i}");
        let plan = if i % 2 == 0 { "free" } else { "pro" };
        let headers: &[(&str, &str)] = &[("x-tenant", &tenant), ("x-plan", plan)];
        octopus
            .observe(&RequestView::new("GET", "/", headers).with_route(Some("/")))
            .finish(&ResponseView::new(200));
    }
    let samples = Samples::of(&octopus);
    let mut tenants = samples.label_values(COUNT, "tenant");
    tenants.sort();
    tenants.dedup();
    assert_eq!(tenants.len(), 101, "{tenants:?}");
    assert!(tenants.contains(&"_other".to_owned()));
    // The first 100 values seen are the ones admitted.
    assert!(
        tenants.contains(&"tenant-99".to_owned()) && !tenants.contains(&"tenant-100".to_owned())
    );
    // Per label, at most cap + 1 values; the series are their combinations.
    assert!(
        samples.series(COUNT) <= 101 * 2,
        "{}",
        samples.series(COUNT)
    );
    let other = |plan| {
        [
            ("http_request_method", "GET"),
            ("http_response_status_code", "200"),
            ("http_route", "/"),
            ("tenant", "_other"),
            ("plan", plan),
        ]
    };
    let overflowed = (REQUESTS - 100) as f64;
    assert_eq!(
        get_exact(&samples, COUNT, &other("free")).unwrap()
            + get_exact(&samples, COUNT, &other("pro")).unwrap(),
        overflowed
    );
    assert_eq!(
        get_exact(&samples, OVERFLOW, &[("label", "tenant")]),
        Some(overflowed)
    );
    assert_eq!(
        get_exact(&samples, OVERFLOW, &[("label", "plan")]),
        Some(0.0)
    );
    let histogram_series = samples.series(&format!("{DURATION}_count"));
    assert_eq!(histogram_series, samples.series(COUNT));
}

#[test]
fn labels_load_from_a_file_and_the_environment() {
    let config: OctopusConfig = toml::from_str(
        r#"
        service_name = "shop"
        const_labels = { region = "eu-west-1" }

        [[labels]]
        name = "tenant"
        header = "x-tenant"
        max_values = 50

        [[labels]]
        name = "plan"
        header = "x-plan"
        values = ["free", "pro"]
        default = "none"
        "#,
    )
    .unwrap();
    config.validate().unwrap();
    assert_eq!(
        config.labels,
        [
            LabelConfig::header("tenant", "x-tenant").max_values(50),
            LabelConfig::header("plan", "x-plan")
                .values(["free", "pro"])
                .default_value("none"),
        ]
    );
    assert_eq!(config.const_labels["region"], "eu-west-1");

    let env = |name: &str| match name {
        "OCTOPUS_LABELS" => Some("client=header:x-client;max_values=10".to_owned()),
        "OCTOPUS_CONST_LABELS" => Some("cluster=c1".to_owned()),
        _ => None,
    };
    let overlaid = OctopusConfig::load_over(config, env).unwrap();
    // The variable replaces the file's labels; constant labels add up.
    assert_eq!(
        overlaid.labels,
        [LabelConfig::header("client", "x-client").max_values(10)]
    );
    assert_eq!(
        overlaid.const_labels.iter().collect::<Vec<_>>(),
        [
            (&"cluster".to_owned(), &"c1".to_owned()),
            (&"region".to_owned(), &"eu-west-1".to_owned())
        ]
    );
    let off = OctopusConfig::load(|name| (name == "OCTOPUS_LABELS").then(String::new)).unwrap();
    assert!(off.labels.is_empty());
}

#[test]
fn bad_labels_are_errors_naming_the_value() {
    let reserved = "a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __) other \
                    than Octopus's own (service_name, http_request_method, \
                    http_response_status_code, http_route, le, quantile)";
    let build = |builder: octopus_core::OctopusBuilder| {
        builder
            .config(metrics_only())
            .build()
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        build(Octopus::builder().header_label(LabelConfig::header("tenant-id", "x-tenant"))),
        format!("labels: invalid value \"tenant-id\"; expected {reserved}")
    );
    assert_eq!(
        build(Octopus::builder().label("__tenant", |_| None)),
        format!("labels: invalid value \"__tenant\"; expected {reserved}")
    );
    assert_eq!(
        build(Octopus::builder().label("http_route", |_| None)),
        format!("labels: invalid value \"http_route\"; expected {reserved}")
    );
    assert_eq!(
        build(Octopus::builder().const_label("le", "1")),
        format!("const_labels: invalid value \"le\"; expected {reserved}")
    );
    assert_eq!(
        build(
            Octopus::builder()
                .label("tenant", |_| None)
                .const_label("label", "x")
        ),
        "const_labels: invalid value \"label\"; expected a name other than label, which \
         octopus_label_overflow_total uses"
    );
    let duplicate = "each label name at most once, constant labels (const_labels) included";
    assert_eq!(
        build(
            Octopus::builder()
                .header_label(LabelConfig::header("tenant", "x-tenant"))
                .label("tenant", |_| None)
        ),
        format!("labels: invalid value \"tenant\"; expected {duplicate}")
    );
    assert_eq!(
        build(
            Octopus::builder()
                .header_label(LabelConfig::header("region", "x-region"))
                .const_label("region", "eu")
        ),
        format!("labels: invalid value \"region\"; expected {duplicate}")
    );
    assert_eq!(
        build(Octopus::builder().header_label(LabelConfig::header("tenant", "x tenant"))),
        "labels.tenant.header: invalid value \"x tenant\"; expected a header name of letters, \
         digits and !#$%&'*+-.^_`|~"
    );
    assert_eq!(
        build(Octopus::builder().header_label(LabelConfig::header("tenant", "x").max_values(0))),
        "labels.tenant.max_values: invalid value \"0\"; expected a number of values from 1 to 10000"
    );
    assert_eq!(
        build(Octopus::builder().header_label(LabelConfig::named("tenant"))),
        "labels.tenant.header: invalid value \"\"; expected the request header the label's \
         value comes from"
    );
    let five = (0..5).fold(Octopus::builder(), |builder, i| {
        builder.label(format!("l{i}"), |_| None)
    });
    assert_eq!(
        build(five),
        "labels: invalid value \"l0,l1,l2,l3,l4\"; expected at most 4 labels"
    );

    // In a file: the same rule, through `from_file`'s validation.
    let config: OctopusConfig =
        toml::from_str("[[labels]]\nname = \"service_name\"\nheader = \"x\"\n").unwrap();
    assert_eq!(
        config.validate().unwrap_err().to_string(),
        format!("labels: invalid value \"service_name\"; expected {reserved}")
    );

    // From the environment: the error names the variable.
    let env_error = |value: &str| {
        let value = value.to_owned();
        OctopusConfig::load(move |name| (name == "OCTOPUS_LABELS").then(|| value.clone()))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        env_error("tenant=x-tenant"),
        "OCTOPUS_LABELS: invalid value \"tenant=x-tenant\"; expected comma-separated labels \
         name=header:<header name>, each optionally followed by ;values=<v1>|<v2>|..., \
         ;max_values=<number>, ;default=<value> (values percent-encoded)"
    );
    assert_eq!(
        env_error("tenant=header:x,tenant=header:y"),
        format!("OCTOPUS_LABELS: invalid value \"tenant\"; expected {duplicate}")
    );
    assert_eq!(
        env_error("1tenant=header:x"),
        format!("OCTOPUS_LABELS: invalid value \"1tenant\"; expected {reserved}")
    );
    let const_error =
        OctopusConfig::load(|name| (name == "OCTOPUS_CONST_LABELS").then(|| "http_route=x".into()))
            .unwrap_err()
            .to_string();
    assert_eq!(
        const_error,
        format!("OCTOPUS_CONST_LABELS: invalid value \"http_route\"; expected {reserved}")
    );
}

/// Without labels of the user's own nothing changes: no overflow counter, the same series.
#[test]
fn without_labels_the_exposition_has_no_overflow_counter() {
    let octopus = Octopus::new(metrics_only()).unwrap();
    request(&octopus, "/", &[("x-tenant", "acme")], 200, 1);
    let text = octopus.scrape(&NoHeaders).text().into_owned();
    assert!(!text.contains(OVERFLOW), "{text}");
    assert!(text.contains(
        "http_server_requests_total{http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/\",service_name=\"shop\"} 1\n"
    ));
}

/// OpenMetrics carries the labels, and a sampled request's exemplar still lands on its series.
#[test]
fn openmetrics_carries_the_labels_and_their_exemplars() {
    use opentelemetry_sdk::trace::InMemorySpanExporter;

    let exporter = InMemorySpanExporter::default();
    let octopus = Octopus::builder()
        .service_name("shop")
        .span_exporter(exporter.clone())
        .header_label(LabelConfig::header("tenant", "x-tenant"))
        .const_label("region", "eu")
        .build()
        .unwrap();
    // Two tenants on the same route: each series keeps its own request's exemplar.
    request(&octopus, "/cart", &[("x-tenant", "acme")], 200, 30_000);
    request(&octopus, "/cart", &[("x-tenant", "globex")], 200, 30_000);
    octopus.tracer_provider().unwrap().force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 2);

    let accept: &[(&str, &str)] = &[("Accept", "application/openmetrics-text; version=1.0.0")];
    let body = octopus.scrape(accept).text().into_owned();
    for (tenant, span) in ["acme", "globex"].iter().zip(&spans) {
        let exemplar = format!(
            "# {{trace_id=\"{}\",span_id=\"{}\"}}",
            span.span_context.trace_id(),
            span.span_context.span_id()
        );
        let series = format!(
            "http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/cart\",region=\"eu\",service_name=\"shop\",tenant=\"{tenant}\""
        );
        assert!(
            body.contains(&format!(
                "http_server_requests_total{{{series}}} 1.0 {exemplar} 1.0 "
            )),
            "{body}"
        );
        assert!(
            body.contains(&format!(
                "http_server_request_duration_seconds_bucket{{{series},le=\"0.05\"}} 1 {exemplar} 0.03 "
            )),
            "{body}"
        );
    }
    assert!(body.contains(
        "# TYPE octopus_label_overflow counter\noctopus_label_overflow_total{label=\"tenant\",region=\"eu\",service_name=\"shop\"} 0.0\n"
    ), "{body}");
    octopus.shutdown().unwrap();
}

#[test]
fn body_size_histograms_carry_the_labels_of_the_users_own() {
    let octopus = Octopus::builder()
        .config(OctopusConfig {
            metrics: vec![MetricKind::RequestCount, MetricKind::ResponseSize],
            body_size_buckets: vec![100.0, 1000.0],
            ..metrics_only()
        })
        .header_label(LabelConfig::header("tenant", "x-tenant"))
        .build()
        .unwrap();
    for (tenant, bytes) in [("acme", 50), ("acme", 500), ("globex", 5000)] {
        let headers: &[(&str, &str)] = &[("x-tenant", tenant)];
        let view = RequestView::new("GET", "/cart", headers).with_route(Some("/cart"));
        octopus
            .observe(&view)
            .finish(&ResponseView::new(200).with_body_size(Some(bytes)));
    }
    let samples = Samples::of(&octopus);
    let name = "http_server_response_body_size_bytes";
    let series = |tenant: &'static str, le: Option<&'static str>| {
        let mut labels = vec![
            ("http_request_method", "GET"),
            ("http_response_status_code", "200"),
            ("http_route", "/cart"),
            ("tenant", tenant),
        ];
        labels.extend(le.map(|le| ("le", le)));
        labels
    };
    let bucket = format!("{name}_bucket");
    assert_eq!(
        get_exact(&samples, &bucket, &series("acme", Some("100"))),
        Some(1.0)
    );
    assert_eq!(
        get_exact(&samples, &bucket, &series("acme", Some("1000"))),
        Some(2.0)
    );
    assert_eq!(
        get_exact(&samples, &format!("{name}_sum"), &series("acme", None)),
        Some(550.0)
    );
    assert_eq!(
        get_exact(&samples, &bucket, &series("globex", Some("1000"))),
        Some(0.0)
    );
    assert_eq!(
        get_exact(&samples, &format!("{name}_count"), &series("globex", None)),
        Some(1.0)
    );
}

/// Requests with labels of the user's own that start on one thread, are named late and end on
/// another, while the first thread counts requests of the same series: each series counts
/// exactly, and every gauge comes back to zero. A moved request's late route and end are
/// written into the ending thread's own cells under the series' process-wide number, so the
/// label values must survive the move.
#[test]
fn requests_moved_between_threads_keep_their_label_values_and_exact_counts() {
    const MOVED: usize = 6_000;
    let octopus = Octopus::builder()
        .config(metrics_only())
        .metrics([MetricKind::RequestCount, MetricKind::ProcessingRequests])
        .header_label(LabelConfig::header("tenant", "x-tenant"))
        .build()
        .unwrap();
    let tenants = ["acme", "globex", "initech"];
    let (send, receive) = std::sync::mpsc::sync_channel(64);
    std::thread::scope(|scope| {
        let octopus = &octopus;
        scope.spawn(move || {
            for i in 0..MOVED {
                let headers = [("x-tenant", tenants[i % 3])];
                // No route yet: the other thread names it.
                let moved = octopus.observe(&RequestView::new("GET", "/users/7", &headers[..]));
                send.send(moved).expect("the other thread receives");
                request(octopus, "/users/{id}", &headers, 200, 1);
            }
        });
        scope.spawn(move || {
            for (i, mut moved) in receive.into_iter().enumerate() {
                moved.set_route("/users/{id}");
                if i % 5 == 4 {
                    drop(moved); // cancelled here: off its gauge, not counted
                } else {
                    moved.finish(&ResponseView::new(200));
                }
            }
        });
    });
    let samples = Samples::of(&octopus);
    for (t, tenant) in tenants.iter().enumerate() {
        // Requests of this tenant: i % 3 == t; moved ones cancelled when i % 5 == 4.
        let sent = (0..MOVED).filter(|i| i % 3 == t).count();
        let cancelled = (0..MOVED).filter(|i| i % 3 == t && i % 5 == 4).count();
        let counted = sent + sent - cancelled;
        let series = [
            ("http_request_method", "GET"),
            ("http_response_status_code", "200"),
            ("http_route", "/users/{id}"),
            ("tenant", *tenant),
        ];
        assert_eq!(
            get_exact(&samples, COUNT, &series),
            Some(counted as f64),
            "{tenant}"
        );
        for route in ["/users/{id}", ""] {
            let gauge = [
                ("http_request_method", "GET"),
                ("http_route", route),
                ("tenant", *tenant),
            ];
            assert_eq!(
                get_exact(&samples, ACTIVE, &gauge),
                Some(0.0),
                "{tenant} {route:?}"
            );
        }
    }
    assert_eq!(samples.series(COUNT), 3);
}
