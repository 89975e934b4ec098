//! Jaeger remote sampling in every demo, turned on through the environment as the OpenTelemetry
//! specification spells it: an endpoint that does not answer is reported on stderr once (not
//! once per poll), the demo keeps serving at the initial rate, and when the endpoint starts
//! answering the recovery is reported once and its strategy is followed.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use support::{DEMOS, Demo, Response};

/// The `traceresponse` header's flags: `01` sampled, `00` not.
fn trace_flags(response: &Response) -> Option<&str> {
    let line = response
        .head
        .lines()
        .find_map(|line| line.strip_prefix("traceresponse: "))?;
    line.trim().rsplit('-').next()
}

/// Serves one strategy to every request on `listener`, in the background.
fn serve_strategy(listener: TcpListener, strategy: &'static str) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{strategy}",
                strategy.len()
            );
        }
    });
}

fn count(stderr: &str, needle: &str) -> usize {
    stderr.matches(needle).count()
}

#[test]
fn an_unreachable_strategy_endpoint_is_reported_once_and_its_recovery_once() {
    for bin in DEMOS {
        // A free port, not listening yet.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let arg = format!(
            "endpoint=http://127.0.0.1:{port}/sampling,pollingIntervalMs=50,initialSamplingRate=1.0"
        );
        let demo = Demo::start(
            bin,
            &[
                ("OTEL_SERVICE_NAME", "remote-sampled"),
                ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
                ("OTEL_TRACES_SAMPLER_ARG", &arg),
                ("OTEL_TRACES_EXPORTER", "none"),
                ("OCTOPUS_TRACE_RESPONSE", "on"),
            ],
        );
        // Ten polls fail; requests are served meanwhile, sampled at the initial rate 1.0.
        std::thread::sleep(Duration::from_millis(500));
        let response = demo.get(&format!("/hello/{}", bin.name));
        assert_eq!(response.status, 200, "{}", bin.name);
        assert_eq!(trace_flags(&response), Some("01"), "{}: sampled", bin.name);
        let stderr = demo.stderr();
        assert_eq!(
            count(&stderr, "octopus: cannot fetch the sampling strategy from"),
            1,
            "{}: {stderr}",
            bin.name
        );
        assert!(
            stderr.contains("sampling with the initial sampling rate 1"),
            "{stderr}"
        );

        // The endpoint comes up, serving "sample nothing".
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        serve_strategy(
            listener,
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.0}}"#,
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if trace_flags(&demo.get(&format!("/hello/{}", bin.name))) == Some("00") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: strategy not followed",
                bin.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        let stderr = demo.stderr();
        assert_eq!(count(&stderr, "answers again"), 1, "{}: {stderr}", bin.name);
        assert_eq!(
            count(&stderr, "octopus: cannot fetch the sampling strategy from"),
            1,
            "{}: {stderr}",
            bin.name
        );
    }
}
