//! The rendered exposition passes Prometheus's own linter, `promtool check metrics`, and its
//! OpenMetrics rendering Prometheus's own OpenMetrics parser.
//!
//! `promtool` comes with Debian's `prometheus` package (`.ci/run` installs it). Without it this
//! test fails when `CI` is set, and otherwise says loudly that it checked nothing.

use std::io::Write;
use std::process::{Command, Stdio};

use octopus_core::{NoHeaders, Octopus, OctopusConfig, RequestObserver, RequestView, ResponseView};

fn promtool_available() -> bool {
    Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `promtool check metrics` on `body`; returns its exit success and combined output.
fn promtool_check(body: &[u8]) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// An Octopus with every metric (the body sizes too), when promtool is installed; without it, `None` after
/// saying loudly that nothing is checked (a failure when `CI` is set).
fn promtool_and_an_octopus() -> Option<Octopus> {
    if !promtool_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing in CI: install Debian's prometheus package (.ci/run does)"
        );
        eprintln!(
            "SKIPPED: promtool not installed (apt-get install prometheus); nothing was checked"
        );
        return None;
    }
    Some(
        Octopus::new(
            OctopusConfig::prometheus(
                "users",
                [
                    "latency",
                    "request_count",
                    "processing_requests",
                    "request_size",
                    "response_size",
                ],
            )
            .unwrap(),
        )
        .unwrap(),
    )
}

#[test]
fn rendered_metrics_pass_promtool_check_metrics() {
    let Some(octopus) = promtool_and_an_octopus() else {
        return;
    };
    let routes = [Some("/hello/{name}"), Some("/users/{id}/orders"), None];
    for (i, route) in routes.iter().cycle().take(30).enumerate() {
        let method = ["GET", "POST", "BREW"][i % 3];
        let observed = octopus.observe(
            &RequestView::new(method, "/raw", &NoHeaders)
                .with_route(*route)
                .with_body_size(Some(i as u64 * 100)),
        );
        observed.finish(&ResponseView::new([200, 404, 503][i % 3]).with_body_size(Some(1 << i)));
    }
    let _in_flight = octopus
        .observe(&RequestView::new("GET", "/slow", &NoHeaders).with_route(Some("/slow/{ms}")));

    let exposition = octopus.scrape(&NoHeaders);
    let (ok, output) = promtool_check(&exposition.body);
    assert!(
        ok,
        "promtool check metrics failed:\n{output}\n---\n{}",
        String::from_utf8_lossy(&exposition.body)
    );
    // promtool lints too (names, units, HELP); our output has nothing to complain about.
    assert!(output.trim().is_empty(), "promtool reported:\n{output}");

    // And the check can fail: a sample line that breaks the format is refused.
    let (broken_ok, _) = promtool_check(b"http_server_requests_total{http_route=\"/x\" 1\n");
    assert!(!broken_ok, "promtool accepted a malformed exposition");
}

/// Parses `body` with Prometheus's own OpenMetrics parser, the one behind
/// `promtool tsdb create-blocks-from openmetrics` (`promtool check metrics` only reads the 0.0.4
/// text: it stops at the first `# {` of an exemplar and at `# EOF`). Backfilling needs a
/// timestamp on every sample, so each sample line gets one first; everything else — the
/// descriptors, names, labels, values, exemplars and the `# EOF` it insists on — is parsed as
/// served. Returns the exit success and the combined output.
fn promtool_parse_openmetrics(body: &str, name: &str) -> (bool, String) {
    let mut stamped = String::with_capacity(body.len() * 2);
    for line in body.lines() {
        if line.starts_with('#') {
            stamped.push_str(line);
        } else if let Some((sample, exemplar)) = line.split_once(" # {") {
            stamped.push_str(&format!("{sample} 1700000000 # {{{exemplar}"));
        } else {
            stamped.push_str(&format!("{line} 1700000000"));
        }
        stamped.push('\n');
    }
    let dir = std::env::temp_dir().join(format!("octopus-promtool-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("exposition.om");
    std::fs::write(&input, stamped).unwrap();
    let output = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(dir.join("blocks"))
        .output()
        .expect("promtool starts");
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn the_openmetrics_rendering_passes_prometheus_openmetrics_parser() {
    let Some(octopus) = promtool_and_an_octopus() else {
        return;
    };
    for (i, route) in [Some("/hello/{name}"), Some("/a \"quoted\" \\ route"), None]
        .iter()
        .enumerate()
    {
        let observed = octopus.observe(
            &RequestView::new("GET", "/raw", &NoHeaders)
                .with_route(*route)
                .with_body_size(Some(0)),
        );
        observed.finish(&ResponseView::new([200, 404, 503][i]).with_body_size(Some(12_345)));
    }
    let headers: &[(&str, &str)] = &[(
        "accept",
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    )];
    let exposition = octopus.scrape(headers);
    let body = exposition.text();
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(
        body.contains("# UNIT http_server_response_body_size_bytes bytes\n"),
        "{body}"
    );
    let (ok, output) = promtool_parse_openmetrics(&body, "octopus");
    assert!(
        ok,
        "Prometheus's OpenMetrics parser refused it:\n{output}\n---\n{body}"
    );

    // And the check can fail: without `# EOF`, or with a malformed exemplar, it is refused.
    let truncated = body.trim_end_matches("# EOF\n");
    assert!(!promtool_parse_openmetrics(truncated, "truncated").0);
    let bad_exemplar = "# TYPE a counter\na_total 1.0 # {trace_id=abc} 1.0\n# EOF\n";
    assert!(!promtool_parse_openmetrics(bad_exemplar, "bad-exemplar").0);
}

/// With labels of the user's own (from a header with a cap that overflows, from a function with
/// declared values) and a constant label, both formats still pass Prometheus's checks; the
/// OpenMetrics one with exemplars on the labelled series.
#[test]
fn labels_of_the_users_own_pass_promtool() {
    if promtool_and_an_octopus().is_none() {
        return;
    }
    let octopus = Octopus::builder()
        .service_name("users")
        .span_exporter(opentelemetry_sdk::trace::InMemorySpanExporter::default())
        .header_label(octopus_core::config::LabelConfig::header("tenant", "x-tenant").max_values(2))
        .label_with(
            octopus_core::config::LabelConfig::named("client")
                .values(["curl", "prometheus"])
                .default_value("unknown"),
            |request| {
                request
                    .user_agent()
                    .and_then(|agent| agent.split('/').next())
            },
        )
        .const_label("region", "eu-west-1")
        .build()
        .unwrap();
    for i in 0..12 {
        let tenant = format!("tenant \"{}\" \\", i % 4);
        let agent = ["curl/8", "wget/1", "prometheus/3"][i % 3];
        let headers: &[(&str, &str)] = &[("x-tenant", &tenant), ("user-agent", agent)];
        let route = [Some("/users/{id}"), None][i % 2];
        let observed = octopus.observe(&RequestView::new("GET", "/raw", headers).with_route(route));
        observed.finish(&ResponseView::new([200, 503][i % 2]));
    }
    let _in_flight = octopus
        .observe(&RequestView::new("GET", "/slow", &NoHeaders).with_route(Some("/slow/{ms}")));

    let text = octopus.scrape(&NoHeaders);
    let body = text.text();
    assert!(body.contains("tenant=\"_other\""), "{body}");
    assert!(body.contains("octopus_label_overflow_total{label=\"tenant\",region=\"eu-west-1\",service_name=\"users\"} 6"), "{body}");
    let (ok, output) = promtool_check(&text.body);
    assert!(ok, "promtool check metrics failed:\n{output}\n---\n{body}");
    assert!(output.trim().is_empty(), "promtool reported:\n{output}");

    let headers: &[(&str, &str)] = &[("accept", "application/openmetrics-text;version=1.0.0")];
    let body = octopus.scrape(headers).text().into_owned();
    assert!(body.contains(" # {trace_id="), "{body}");
    let (ok, output) = promtool_parse_openmetrics(&body, "labels");
    assert!(
        ok,
        "Prometheus's OpenMetrics parser refused it:\n{output}\n---\n{body}"
    );
    octopus.shutdown().unwrap();
}
