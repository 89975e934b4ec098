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
