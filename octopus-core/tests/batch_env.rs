//! The SDK's batch processor reads `OTEL_BSP_*` from the process environment by itself; the
//! validated settings of Octopus's configuration must be the only ones in force. The variables
//! are set for a child process (this test binary, run again), so no other test sees them.

use std::process::Command;
use std::time::Duration;

use octopus_core::testing::jaeger_agent::JaegerAgentReceiver;
use octopus_core::{
    NoHeaders, Octopus, OctopusConfig, RequestObserver, RequestView, ResponseView, TracesExporter,
};

const CHILD: &str = "OCTOPUS_TEST_BATCH_ENV_CHILD";
const TEST: &str = "unvalidated_bsp_variables_do_not_reach_a_config_built_in_code";

#[test]
fn unvalidated_bsp_variables_do_not_reach_a_config_built_in_code() {
    if std::env::var_os(CHILD).is_some() {
        return exports_every_span();
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([TEST, "--exact", "--nocapture"])
        .env(CHILD, "1")
        // A queue of 0 drops every span; a batch of 0 exports nothing.
        .env("OTEL_BSP_MAX_QUEUE_SIZE", "0")
        .env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test:\n{stdout}"
    );
}

/// In the child: ten requests through a configuration built in code reach the agent.
fn exports_every_span() {
    assert_eq!(std::env::var("OTEL_BSP_MAX_QUEUE_SIZE").as_deref(), Ok("0"));
    let agent = JaegerAgentReceiver::start();
    let octopus = Octopus::new(OctopusConfig {
        service_name: "batch-env".into(),
        traces_exporter: TracesExporter::Jaeger,
        jaeger_host: "127.0.0.1".into(),
        jaeger_port: agent.port(),
        ..OctopusConfig::default()
    })
    .unwrap();
    for _ in 0..10 {
        octopus
            .observe(&RequestView::new("GET", "/a", &NoHeaders).with_route(Some("/a")))
            .finish(&ResponseView::new(200));
    }
    let counts = octopus.shutdown().unwrap();
    assert_eq!((counts.ended, counts.exported), (10, 10));
    let spans = agent.wait_for_spans(10, Duration::from_secs(10));
    assert_eq!(spans.len(), 10);
    assert!(spans.iter().all(|s| s.operation_name == "GET /a"));
}
