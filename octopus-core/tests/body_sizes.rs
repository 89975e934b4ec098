//! The body size histograms, driven through the seam without any framework: sizes known at
//! start and end, bodies counted as they stream (ending before or after the request), bodies
//! that never end, and both expositions.

use std::sync::Arc;

use http_body_util::{BodyExt as _, StreamBody};
use octopus_core::body::{BodySizeRecorder, CountedBody};
use octopus_core::testing::exposition::Samples;
use octopus_core::{
    MetricKind, NoHeaders, Observation, Octopus, OctopusConfig, RequestObserver, RequestView,
    ResponseView,
};

const REQUEST_SIZE: &str = "http_server_request_body_size_bytes";
const RESPONSE_SIZE: &str = "http_server_response_body_size_bytes";

fn octopus(metrics: &[&str]) -> Octopus {
    let mut config = OctopusConfig::prometheus("files", metrics).unwrap();
    config.tracing_enabled = false;
    Octopus::new(config).unwrap()
}

fn sizes() -> Octopus {
    octopus(&["request_count", "request_size", "response_size"])
}

fn labels<'a>(method: &'a str, route: &'a str, status: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("http_request_method", method),
        ("http_route", route),
        ("http_response_status_code", status),
    ]
}

/// (`_count`, `_sum`, cumulative buckets at every default bound and `+Inf`).
fn histogram(octopus: &Octopus, name: &str, labels: &[(&str, &str)]) -> (f64, f64, Vec<f64>) {
    let samples = Samples::of(octopus);
    let get = |suffix: &str, le: Option<&str>| {
        let mut all = labels.to_vec();
        all.extend(le.map(|le| ("le", le)));
        samples
            .get(&format!("{name}{suffix}"), &all)
            .unwrap_or_else(|| panic!("{name}{suffix} {all:?}"))
    };
    let buckets = [
        "0",
        "100",
        "1000",
        "10000",
        "100000",
        "1000000",
        "10000000",
        "100000000",
        "+Inf",
    ]
    .map(|le| get("_bucket", Some(le)))
    .to_vec();
    (get("_count", None), get("_sum", None), buckets)
}

#[test]
fn sizes_known_at_start_and_end_land_in_exact_buckets() {
    let octopus = sizes();
    let sized: &[(&str, &str)] = &[("content-length", "1500")];
    for (request, response) in [(sized, 8), (sized, 100), (&[][..], 250_000)] {
        octopus
            .observe(&RequestView::new("POST", "/files", request).with_route(Some("/files")))
            .finish(&ResponseView::new(201).with_body_size(Some(response)));
    }
    // An adapter's own knowledge wins over the header; no body is 0.
    octopus
        .observe(
            &RequestView::new("POST", "/files", sized)
                .with_route(Some("/files"))
                .with_body_size(Some(0)),
        )
        .finish(&ResponseView::new(201).with_body_size(Some(0)));
    let series = labels("POST", "/files", "201");
    // The third request had neither a length nor a counted body: not recorded.
    assert_eq!(
        histogram(&octopus, REQUEST_SIZE, &series),
        (
            3.0,
            3000.0,
            vec![1.0, 1.0, 1.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
        )
    );
    assert_eq!(
        histogram(&octopus, RESPONSE_SIZE, &series),
        (
            4.0,
            250_108.0,
            vec![1.0, 3.0, 3.0, 3.0, 3.0, 4.0, 4.0, 4.0, 4.0]
        )
    );
}

#[test]
fn a_streamed_response_is_recorded_under_its_status_when_it_ends() {
    let octopus = sizes();
    let view = RequestView::new("GET", "/export", &NoHeaders).with_route(Some("/export"));
    let observed = octopus.observe(&view);
    let response = ResponseView::new(200);
    let recorder = observed
        .response_body_recorder(&response)
        .expect("asked for");
    observed.finish(&response);
    let series = labels("GET", "/export", "200");
    // Counted, not yet sized.
    assert_eq!(histogram(&octopus, RESPONSE_SIZE, &series).0, 0.0);
    recorder.record(4096);
    assert_eq!(
        histogram(&octopus, RESPONSE_SIZE, &series),
        (
            1.0,
            4096.0,
            vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
        )
    );
    // A size known at the end needs no recorder.
    let observed = octopus.observe(&view);
    assert!(
        observed
            .response_body_recorder(&ResponseView::new(200).with_body_size(Some(1)))
            .is_none()
    );
    // A body that never ends: its recorder is dropped, nothing recorded.
    let observed = octopus.observe(&view);
    let recorder = observed.response_body_recorder(&response).unwrap();
    observed.finish(&response);
    drop(recorder);
    assert_eq!(histogram(&octopus, RESPONSE_SIZE, &series).0, 1.0);
}

#[test]
fn a_streamed_request_body_is_recorded_whichever_ends_first() {
    let octopus = sizes();
    let view = RequestView::new("PUT", "/blob", &NoHeaders).with_route(Some("/blob"));
    let series = labels("PUT", "/blob", "204");
    let done = ResponseView::new(204).with_body_size(Some(0));

    // The handler reads the body, then answers.
    let mut observed = octopus.observe(&view);
    let recorder = observed.request_body_recorder().expect("asked for");
    assert!(observed.request_body_recorder().is_none(), "once");
    recorder.record(700);
    observed.finish(&done);
    assert_eq!(histogram(&octopus, REQUEST_SIZE, &series).1, 700.0);

    // The handler answers, then the body ends.
    let mut observed = octopus.observe(&view);
    let recorder = observed.request_body_recorder().unwrap();
    observed.finish(&done);
    assert_eq!(histogram(&octopus, REQUEST_SIZE, &series).0, 1.0);
    recorder.record(5);
    assert_eq!(
        histogram(&octopus, REQUEST_SIZE, &series),
        (
            2.0,
            705.0,
            vec![0.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
        )
    );

    // A body that never ends, and a request cancelled after its body ended: nothing.
    let mut observed = octopus.observe(&view);
    let recorder = observed.request_body_recorder().unwrap();
    observed.finish(&done);
    drop(recorder);
    let mut observed = octopus.observe(&view);
    observed.request_body_recorder().unwrap().record(9);
    drop(observed);
    assert_eq!(histogram(&octopus, REQUEST_SIZE, &series).0, 2.0);

    // A length known at start needs no counting.
    let sized: &[(&str, &str)] = &[("content-length", "3")];
    let mut observed = octopus.observe(&RequestView::new("PUT", "/blob", sized));
    assert!(observed.request_body_recorder().is_none());
}

#[test]
fn off_by_default_and_no_recorder_without_the_metric() {
    assert!(
        !OctopusConfig::default()
            .metrics
            .contains(&MetricKind::RequestSize)
    );
    assert!(
        !OctopusConfig::default()
            .metrics
            .contains(&MetricKind::ResponseSize)
    );
    let octopus = octopus(&["request_count", "latency"]);
    let scraped = octopus.scrape(&NoHeaders);
    let text = scraped.text();
    assert!(!text.contains("body_size"), "{text}");
    let mut observed = octopus.observe(&RequestView::new("GET", "/", &NoHeaders));
    assert!(observed.request_body_recorder().is_none());
    assert!(
        observed
            .response_body_recorder(&ResponseView::new(200))
            .is_none()
    );
    // Only the one asked for.
    let octopus = octopus_with(&["response_size"]);
    let mut observed = octopus.observe(&RequestView::new("GET", "/", &NoHeaders));
    assert!(observed.request_body_recorder().is_none());
    assert!(
        observed
            .response_body_recorder(&ResponseView::new(200))
            .is_some()
    );
}

fn octopus_with(metrics: &[&str]) -> Octopus {
    octopus(metrics)
}

#[tokio::test]
async fn counted_bodies_record_at_the_end_of_the_stream_only() {
    let octopus = sizes();
    let view = RequestView::new("GET", "/feed", &NoHeaders).with_route(Some("/feed"));
    let series = labels("GET", "/feed", "200");
    let chunks = |n: usize| {
        StreamBody::new(futures_util::stream::iter((0..n).map(|i| {
            Ok::<_, std::io::Error>(http_body::Frame::data(bytes::Bytes::from(vec![
                b'x';
                10 + i
            ])))
        })))
    };

    // Three chunks (10 + 11 + 12 bytes), read to the end.
    let observed = octopus.observe(&view);
    let recorder = observed.response_body_recorder(&ResponseView::new(200));
    observed.finish(&ResponseView::new(200));
    let body = CountedBody::new(chunks(3), recorder);
    assert_eq!(body.collect().await.unwrap().to_bytes().len(), 33);
    assert_eq!(histogram(&octopus, RESPONSE_SIZE, &series).1, 33.0);

    // Read partly, then dropped (the client went away): not recorded.
    let observed = octopus.observe(&view);
    let recorder = observed.response_body_recorder(&ResponseView::new(200));
    observed.finish(&ResponseView::new(200));
    let mut body = Box::pin(CountedBody::new(chunks(3), recorder));
    body.frame().await.unwrap().unwrap();
    drop(body);
    // A body that fails: not recorded either.
    let observed = octopus.observe(&view);
    let recorder = observed.response_body_recorder(&ResponseView::new(200));
    observed.finish(&ResponseView::new(200));
    let failing = StreamBody::new(futures_util::stream::iter([
        Ok(http_body::Frame::data(bytes::Bytes::from_static(b"abc"))),
        Err(std::io::Error::other("reset")),
    ]));
    assert!(CountedBody::new(failing, recorder).collect().await.is_err());
    assert_eq!(
        histogram(&octopus, RESPONSE_SIZE, &series),
        (1.0, 33.0, vec![0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    );
    // Three requests counted; one body size.
    assert_eq!(
        Samples::of(&octopus).get("http_server_requests_total", &series),
        Some(3.0)
    );
}

#[test]
fn a_stack_hands_out_one_recorder_for_every_member_that_asks() {
    struct Sizes(Arc<std::sync::Mutex<Vec<u64>>>);
    struct Sizing(Arc<std::sync::Mutex<Vec<u64>>>);
    impl RequestObserver for Sizes {
        type Observation = Sizing;
        fn start<H: octopus_core::HeaderSource + ?Sized>(
            &self,
            _: &RequestView<'_, H>,
            _: &mut octopus_core::opentelemetry::Context,
        ) -> Sizing {
            Sizing(self.0.clone())
        }
    }
    impl Observation for Sizing {
        fn finish(self, _: &ResponseView<'_>) {}
        fn response_body_recorder(&self, _: &ResponseView<'_>) -> Option<BodySizeRecorder> {
            let seen = self.0.clone();
            Some(BodySizeRecorder::from_fn(move |n| {
                seen.lock().unwrap().push(n)
            }))
        }
    }
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let octopus = sizes();
    let stack = (octopus.clone(), Sizes(seen.clone()));
    let observed = stack.observe(&RequestView::new("GET", "/", &NoHeaders));
    let recorder = observed
        .response_body_recorder(&ResponseView::new(200))
        .unwrap();
    observed.finish(&ResponseView::new(200));
    recorder.record(42);
    assert_eq!(*seen.lock().unwrap(), [42]);
    assert_eq!(
        histogram(&octopus, RESPONSE_SIZE, &labels("GET", "", "200")).1,
        42.0
    );
}

#[test]
fn both_expositions_carry_the_families_openmetrics_with_their_unit() {
    let octopus = sizes();
    octopus
        .observe(&RequestView::new("GET", "/x", &NoHeaders).with_route(Some("/x")))
        .finish(&ResponseView::new(200).with_body_size(Some(5)));
    let scraped = octopus.scrape(&NoHeaders);
    let text = scraped.text();
    assert!(
        text.contains("# TYPE http_server_response_body_size_bytes histogram\n"),
        "{text}"
    );
    assert!(text.contains(
        r#"http_server_response_body_size_bytes_bucket{http_request_method="GET",http_response_status_code="200",http_route="/x",service_name="files",le="100"} 1"#
    ), "{text}");
    let open = [("accept", "application/openmetrics-text; version=1.0.0")];
    let scraped = octopus.scrape(&open[..]);
    let om = scraped.text();
    for name in [REQUEST_SIZE, RESPONSE_SIZE] {
        assert!(
            om.contains(&format!("# TYPE {name} histogram\n# UNIT {name} bytes\n")),
            "{om}"
        );
    }
    assert!(om.contains(
        r#"http_server_response_body_size_bytes_sum{http_request_method="GET",http_response_status_code="200",http_route="/x",service_name="files"} 5.0"#
    ), "{om}");
}

#[test]
fn a_request_size_known_from_headers_follows_http1_framing_only_for_http1() {
    let none: &[(&str, &str)] = &[];
    let chunked: &[(&str, &str)] = &[("transfer-encoding", "chunked")];
    let sized: &[(&str, &str)] = &[("content-length", " 42 ")];
    let size = |headers, version| {
        RequestView::new("POST", "/upload", headers)
            .with_protocol_version(version)
            .body_size()
    };
    // HTTP/1.x: neither a length nor chunks means no body.
    assert_eq!(size(none, Some("1.1")), Some(0));
    assert_eq!(size(none, Some("1.0")), Some(0));
    assert_eq!(size(chunked, Some("1.1")), None);
    assert_eq!(size(sized, Some("1.1")), Some(42));
    // HTTP/2, or a version the adapter does not know: only `Content-Length` says.
    assert_eq!(size(none, Some("2")), None);
    assert_eq!(size(none, None), None);
    assert_eq!(size(sized, Some("2")), Some(42));
    // A size the adapter knows wins.
    let known = RequestView::new("POST", "/upload", none)
        .with_protocol_version(Some("2"))
        .with_body_size(Some(7));
    assert_eq!(known.body_size(), Some(7));
}

/// Streamed response bodies that end on another thread than their request, while the request's
/// thread keeps recording bodies of the same series: the histogram's count and sum are exact.
/// A body's end is written into the cells of the thread it ends on (each thread's cells have one
/// writer, updated without a read-modify-write), so no update is lost to the interleaving.
#[test]
fn bodies_ending_on_another_thread_are_counted_exactly() {
    const BODIES: u64 = 10_000;
    let octopus = sizes();
    let (send, receive) = std::sync::mpsc::sync_channel::<(BodySizeRecorder, u64)>(64);
    std::thread::scope(|scope| {
        let octopus = &octopus;
        scope.spawn(move || {
            for i in 0..BODIES {
                let view = RequestView::new("GET", "/f/1", &NoHeaders).with_route(Some("/f/{id}"));
                let observed = octopus.observe(&view);
                let recorder = observed
                    .response_body_recorder(&ResponseView::new(200))
                    .expect("a streamed body is counted");
                observed.finish(&ResponseView::new(200));
                send.send((recorder, i)).expect("the other thread receives");
                // One of this thread's own, in the same series, with its size known.
                octopus
                    .observe(&view)
                    .finish(&ResponseView::new(200).with_body_size(Some(1)));
            }
        });
        scope.spawn(move || {
            for (recorder, i) in receive {
                recorder.record(i);
            }
        });
    });
    let (count, sum, _) = histogram(&octopus, RESPONSE_SIZE, &labels("GET", "/f/{id}", "200"));
    assert_eq!(count, (2 * BODIES) as f64);
    assert_eq!(sum, (BODIES * (BODIES - 1) / 2 + BODIES) as f64);
}
