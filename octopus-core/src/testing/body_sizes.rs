//! The body size scenario every adapter's tests play against a real server over TCP, with
//! `request_size` and `response_size` on and the default body size buckets
//! (`0, 100, 1000, 10000, ...` bytes).
//!
//! The served application is expected to have these routes (the adapter's tests build them
//! with their framework's routing and name the templates in [`BodyRoutes`]):
//!
//! - `POST /upload`: reads the request body to its end, answers 200 with the body
//!   [`UPLOAD_REPLY`] (a sized body);
//! - `GET /stream/{n}`: answers 200 with a streamed body of `n` bytes and no length (chunked),
//!   in chunks of at most [`STREAM_CHUNK`] bytes;
//! - `GET /endless`: answers 200 with a streamed body whose first chunk is [`ENDLESS_CHUNK`]
//!   and which never ends (server-sent events);
//! - `GET /metrics`: the exposition.
//!
//! Requests are written by hand on loopback connections, so the framing (a `Content-Length`
//! or chunks) is exactly the test's; every read has a timeout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::exposition::Samples;

/// What `POST /upload` answers.
pub const UPLOAD_REPLY: &str = "uploaded";
/// The largest chunk of `GET /stream/{n}`.
pub const STREAM_CHUNK: usize = 1000;
/// The first (and only) chunk of `GET /endless`.
pub const ENDLESS_CHUNK: &str = "data: tick\n\n";

/// The request body size histogram.
pub const REQUEST_SIZE: &str = "http_server_request_body_size_bytes";
/// The response body size histogram.
pub const RESPONSE_SIZE: &str = "http_server_response_body_size_bytes";

/// The Octopus the scenario expects: metrics `request_count`, `request_size` and
/// `response_size` (default buckets), no tracing.
pub fn octopus(service_name: &str) -> crate::Octopus {
    let mut config = crate::OctopusConfig::prometheus(
        service_name,
        ["request_count", "request_size", "response_size"],
    )
    .expect("a valid config");
    config.tracing_enabled = false;
    crate::Octopus::new(config).expect("octopus builds")
}

/// The route templates of the scenario's routes, as the framework names them.
#[derive(Clone, Copy, Debug)]
pub struct BodyRoutes<'a> {
    /// `POST /upload`'s.
    pub upload: &'a str,
    /// `GET /stream/{n}`'s.
    pub stream: &'a str,
    /// `GET /endless`'s.
    pub endless: &'a str,
    /// Whether the adapter counts a request body without `Content-Length` as it streams
    /// (rocket cannot: its handlers, not its fairings, get the body).
    pub counts_streamed_requests: bool,
}

impl BodyRoutes<'static> {
    /// The templates as axum, actix-web and warp's tests name them (`/stream/{n}`), for an
    /// adapter that counts streamed request bodies.
    pub const BRACES: BodyRoutes<'static> = BodyRoutes {
        upload: "/upload",
        stream: "/stream/{n}",
        endless: "/endless",
        counts_streamed_requests: true,
    };
}

/// How long one exchange may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Writes `request` on a new connection and reads the answer until the server closes it (the
/// requests say `Connection: close`).
async fn exchange(address: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut answer))
        .await
        .expect("the server answered in time")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

/// `GET /metrics`, parsed.
async fn metrics(address: SocketAddr) -> Samples {
    let answer = exchange(
        address,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Samples::parse(&body)
}

/// The payload of a chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("a hex chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

/// One histogram series: (`_count`, `_sum`, cumulative buckets at `le` 0, 100, 1000, 10000).
fn histogram(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> (f64, f64, [f64; 4]) {
    let get = |suffix: &str, le: Option<&str>| {
        let mut all = labels.to_vec();
        if let Some(le) = le {
            all.push(("le", le));
        }
        samples
            .get(&format!("{name}{suffix}"), &all)
            .unwrap_or_else(|| panic!("{name}{suffix} {all:?} in {samples:?}"))
    };
    (
        get("_count", None),
        get("_sum", None),
        ["0", "100", "1000", "10000"].map(|le| get("_bucket", Some(le))),
    )
}

fn series<'a>(method: &'a str, route: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("http_request_method", method),
        ("http_route", route),
        ("http_response_status_code", "200"),
    ]
}

/// Plays the scenario against the application at `address` and asserts every count, sum and
/// bucket:
///
/// 1. `POST /upload` with `Content-Length: 1500`: request size 1500, response size 8;
/// 2. `POST /upload` chunked, 2 500 bytes in three chunks: request size 2500 — when the adapter
///    counts streamed request bodies (else the series keeps one body);
/// 3. `GET /stream/2500` (chunked, no length): response size 2500, recorded at the end of the
///    stream; its request, without a body, has size 0;
/// 4. `GET /endless`, read up to its first chunk, then the client goes away: counted as a
///    request (200), its response size never recorded (`_count` 0);
/// 5. a chunked `POST /upload` abandoned mid-body: no request size recorded.
///
/// Panics if the whole scenario takes over a minute.
pub async fn play(address: SocketAddr, routes: BodyRoutes<'_>) {
    tokio::time::timeout(Duration::from_secs(60), play_steps(address, routes))
        .await
        .expect("the body size scenario ran within a minute");
}

async fn play_steps(address: SocketAddr, routes: BodyRoutes<'_>) {
    // 1. Known lengths.
    let body = "a".repeat(1500);
    let answer = exchange(
        address,
        format!(
            "POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1500\r\n\r\n{body}"
        )
        .as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(UPLOAD_REPLY), "{answer}");
    let m = metrics(address).await;
    let upload = series("POST", routes.upload);
    assert_eq!(
        histogram(&m, REQUEST_SIZE, &upload),
        (1.0, 1500.0, [0.0, 0.0, 0.0, 1.0])
    );
    assert_eq!(
        histogram(&m, RESPONSE_SIZE, &upload),
        (1.0, 8.0, [0.0, 1.0, 1.0, 1.0])
    );

    // 2. A chunked request body.
    let chunk = |n: usize| format!("{n:x}\r\n{}\r\n", "b".repeat(n));
    let answer = exchange(
        address,
        format!(
            "POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n{}{}{}0\r\n\r\n",
            chunk(1000),
            chunk(1000),
            chunk(500)
        )
        .as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let m = metrics(address).await;
    let expected = if routes.counts_streamed_requests {
        (2.0, 4000.0, [0.0, 0.0, 0.0, 2.0])
    } else {
        (1.0, 1500.0, [0.0, 0.0, 0.0, 1.0])
    };
    assert_eq!(histogram(&m, REQUEST_SIZE, &upload), expected);
    assert_eq!(
        histogram(&m, RESPONSE_SIZE, &upload),
        (2.0, 16.0, [0.0, 2.0, 2.0, 2.0])
    );

    // 3. A streamed response.
    let answer = exchange(
        address,
        b"GET /stream/2500 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let head = answer
        .split_once("\r\n\r\n")
        .unwrap()
        .0
        .to_ascii_lowercase();
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let stream = series("GET", routes.stream);
    let m = metrics(address).await;
    assert_eq!(
        histogram(&m, RESPONSE_SIZE, &stream),
        (1.0, 2500.0, [0.0, 0.0, 0.0, 1.0])
    );
    assert_eq!(
        histogram(&m, REQUEST_SIZE, &stream),
        (1.0, 0.0, [1.0, 1.0, 1.0, 1.0])
    );

    // 4. A stream that never ends, left by its client.
    {
        let mut endless = TcpStream::connect(address).await.unwrap();
        endless
            .write_all(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut received = Vec::new();
        tokio::time::timeout(TIMEOUT, async {
            let mut buf = [0u8; 1024];
            while !String::from_utf8_lossy(&received).contains(ENDLESS_CHUNK) {
                let n = endless.read(&mut buf).await.unwrap();
                assert!(n > 0, "the stream ended");
                received.extend_from_slice(&buf[..n]);
            }
        })
        .await
        .expect("the first chunk came in time");
    }
    // 5. A chunked upload abandoned mid-body.
    {
        let mut abandoned = TcpStream::connect(address).await.unwrap();
        abandoned
            .write_all(
                format!(
                    "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{}",
                    chunk(700)
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The server notices both clients left; whatever it does then, neither body ended.
    let endless = series("GET", routes.endless);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let m = metrics(address).await;
        let requests = m.get("http_server_requests_total", &endless);
        assert_eq!(
            histogram(&m, RESPONSE_SIZE, &endless).0,
            0.0,
            "an endless stream is never recorded"
        );
        let uploads = m.sum_matching(
            &format!("{REQUEST_SIZE}_count"),
            &[("http_route", routes.upload)],
        );
        assert_eq!(uploads, expected.0, "an abandoned upload is not recorded");
        if Instant::now() > deadline {
            assert_eq!(requests, Some(1.0));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
