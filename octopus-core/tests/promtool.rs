//! The rendered exposition passes Prometheus's own linter, `promtool check metrics`.
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

#[test]
fn rendered_metrics_pass_promtool_check_metrics() {
    if !promtool_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing in CI: install Debian's prometheus package (.ci/run does)"
        );
        eprintln!(
            "SKIPPED: promtool not installed (apt-get install prometheus); nothing was checked"
        );
        return;
    }
    let octopus = Octopus::new(
        OctopusConfig::prometheus("users", ["latency", "request_count", "processing_requests"])
            .unwrap(),
    )
    .unwrap();
    let routes = [Some("/hello/{name}"), Some("/users/{id}/orders"), None];
    for (i, route) in routes.iter().cycle().take(30).enumerate() {
        let method = ["GET", "POST", "BREW"][i % 3];
        let observed =
            octopus.observe(&RequestView::new(method, "/raw", &NoHeaders).with_route(*route));
        observed.finish(&ResponseView::new([200, 404, 503][i % 3]));
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
