//! Shared by the end-to-end (`e2e_prometheus.rs`) and fault/load (`faults.rs`) suites: the four
//! framework demos as real processes (examples/README.md), a small HTTP/1.1 client over std
//! `TcpStream` (one-shot and keep-alive), and a 64-connection load generator.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A demo binary and its framework's spelling of the contract's templated routes.
#[derive(Clone, Copy, Debug)]
pub struct DemoBin {
    pub name: &'static str,
    pub path: &'static str,
    pub hello: &'static str,
    pub slow: &'static str,
}

pub const DEMOS: [DemoBin; 4] = [
    DemoBin {
        name: "axum-demo",
        path: env!("CARGO_BIN_EXE_axum-demo"),
        hello: "/hello/{name}",
        slow: "/slow/{ms}",
    },
    DemoBin {
        name: "actix-demo",
        path: env!("CARGO_BIN_EXE_actix-demo"),
        hello: "/hello/{name}",
        slow: "/slow/{ms}",
    },
    DemoBin {
        name: "warp-demo",
        path: env!("CARGO_BIN_EXE_warp-demo"),
        hello: "/hello/{name}",
        slow: "/slow/{ms}",
    },
    DemoBin {
        name: "rocket-demo",
        path: env!("CARGO_BIN_EXE_rocket-demo"),
        hello: "/hello/<name>",
        slow: "/slow/<ms>",
    },
];

/// A scratch directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "octopus-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running demo process on an ephemeral loopback port; killed when dropped.
pub struct Demo {
    pub bin: DemoBin,
    pub addr: SocketAddr,
    child: Child,
    stderr: PathBuf,
    _dir: TempDir,
}

impl Demo {
    /// Starts `bin` with `OCTOPUS_ADDR=127.0.0.1:0` and `env`; waits for `listening on`.
    /// The demo's stderr (exporter errors, shutdown notes) goes to a file: see [`Demo::stderr`].
    pub fn start(bin: DemoBin, env: &[(&str, &str)]) -> Demo {
        let dir = TempDir::new("demo-stderr");
        let stderr = dir.0.join("stderr.txt");
        let mut child = Command::new(bin.path)
            .env("OCTOPUS_ADDR", "127.0.0.1:0")
            // With RUST_BACKTRACE=1 inherited, each `/panic` makes the demo capture and
            // symbolise a backtrace on the worker thread; actix's single-threaded workers then
            // held concurrent `/slow/300` requests past 500 ms (2026-11-30). The panic message
            // is still printed.
            .env("RUST_BACKTRACE", "0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|error| panic!("{} starts: {error}", bin.path));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(addr) = line.trim().strip_prefix("listening on http://") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{}: unexpected first line {line:?}; stderr:\n{}",
                bin.name,
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        };
        Demo {
            bin,
            addr: addr.parse().unwrap(),
            child,
            stderr,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the demo wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// One request on its own connection.
    pub fn get(&self, path: &str) -> Response {
        self.get_with(path, &[])
    }

    /// One request with extra headers on its own connection.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        http_get(self.addr, path, headers)
            .unwrap_or_else(|error| panic!("{}: GET {path}: {error}", self.bin.name))
    }

    /// The `/metrics` exposition.
    pub fn metrics(&self) -> String {
        let response = self.get("/metrics");
        assert_eq!(response.status, 200, "{}: /metrics", self.bin.name);
        response.text()
    }

    /// Polls `/metrics` until `done` holds or `timeout` passes; returns the last exposition.
    pub fn metrics_until(&self, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.metrics();
            if done(&text) || Instant::now() >= deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Resident memory of the demo process, bytes (VmRSS in /proc/PID/status).
    pub fn rss_bytes(&self) -> u64 {
        self.status_bytes("VmRSS:")
    }

    /// The most resident memory the demo process has had so far, bytes (VmHWM in
    /// /proc/PID/status): unlike [`Demo::rss_bytes`], it does not fall when the allocator hands
    /// memory back.
    pub fn peak_rss_bytes(&self) -> u64 {
        self.status_bytes("VmHWM:")
    }

    /// A `kB` field of /proc/PID/status, in bytes.
    fn status_bytes(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .map(|kb| kb.trim().parse().unwrap())
            .unwrap_or_else(|| panic!("{field} in /proc/PID/status"));
        kb * 1024
    }

    /// Sends SIGTERM; waits (at most 10 s) for the exit: (exit code, time taken).
    pub fn sigterm(&mut self) -> (Option<i32>, Duration) {
        let started = Instant::now();
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{}: did not exit within 10 s of SIGTERM",
                self.bin.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A complete HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// The head (status line and headers), lower-cased.
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn wants_close(&self) -> bool {
        self.head
            .lines()
            .any(|line| line.starts_with("connection:") && line.contains("close"))
    }
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

/// Reads one response (Content-Length, chunked, or to EOF when neither) from `reader`.
pub fn read_response(reader: &mut impl BufRead) -> std::io::Result<Response> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("connection closed after {} bytes of head", head.len()),
            ));
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        head.push_str(&line);
    }
    let head = head.to_ascii_lowercase();
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line in {head:?}")))?;
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            (n.trim() == name).then(|| v.trim().to_string())
        })
    };
    let mut body = Vec::new();
    if let Some(length) = header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| invalid(format!("bad content-length {length:?}")))?;
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = size.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| invalid(format!("bad chunk size {size:?}")))?;
            if size == 0 {
                // Trailers, then the final empty line.
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if !(status == 204 || status == 304 || (100..200).contains(&status)) {
        reader.read_to_end(&mut body)?;
    }
    Ok(Response { status, head, body })
}

/// `GET path` with extra headers on a new connection (`Connection: close`).
pub fn http_get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let extra: String = headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    (&stream).write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n")
            .as_bytes(),
    )?;
    read_response(&mut BufReader::new(stream))
}

/// A keep-alive HTTP/1.1 connection.
pub struct Connection {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl Connection {
    pub fn open(addr: SocketAddr) -> std::io::Result<Connection> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        Ok(Connection {
            addr,
            reader: BufReader::with_capacity(16 * 1024, stream),
        })
    }

    /// `GET path` with `extra_headers` (complete `Name: value\r\n` lines); the response and
    /// whether the server asked to close the connection.
    pub fn get(&mut self, path: &str, extra_headers: &str) -> std::io::Result<(Response, bool)> {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\n{extra_headers}\r\n",
            self.addr
        );
        self.reader.get_ref().write_all(request.as_bytes())?;
        let response = read_response(&mut self.reader)?;
        let close = response.wants_close();
        Ok((response, close))
    }
}

/// What a load run did.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub ok: u64,
    pub failed: u64,
    /// The first few failures, for the assertion message.
    pub failures: Vec<String>,
    /// Every successful request's latency, microseconds, sorted.
    pub latencies_us: Vec<u32>,
    pub elapsed: Duration,
}

impl LoadReport {
    /// The `q` quantile (0..=1) of the successful requests' latencies, milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((self.latencies_us.len() as f64) * q).ceil() as usize;
        let index = rank.clamp(1, self.latencies_us.len()) - 1;
        f64::from(self.latencies_us[index]) / 1000.0
    }

    pub fn p99_ms(&self) -> f64 {
        self.quantile_ms(0.99)
    }

    pub fn rate(&self) -> f64 {
        (self.ok + self.failed) as f64 / self.elapsed.as_secs_f64()
    }
}

/// Sends exactly `total` requests over `connections` keep-alive connections (one thread
/// each). Request `i` is `GET path(i)` with `headers(i)` (complete header lines, may be empty);
/// it succeeds when it gets a complete response with status `expect`. A failed request is
/// counted (not retried) and its connection replaced.
pub fn load(
    addr: SocketAddr,
    connections: usize,
    total: usize,
    expect: u16,
    path: impl Fn(usize) -> String + Sync,
    headers: impl Fn(usize) -> String + Sync,
) -> LoadReport {
    let started = Instant::now();
    let (path, headers) = (&path, &headers);
    let per_thread: Vec<LoadReport> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..connections)
            .map(|t| {
                scope.spawn(move || {
                    let mut report = LoadReport {
                        latencies_us: Vec::with_capacity(total / connections + 1),
                        ..LoadReport::default()
                    };
                    let mut connection: Option<Connection> = None;
                    let fail = |report: &mut LoadReport, what: String| {
                        report.failed += 1;
                        if report.failures.len() < 5 {
                            report.failures.push(what);
                        }
                    };
                    for i in (t..total).step_by(connections) {
                        let request_path = path(i);
                        let begun = Instant::now();
                        let conn = match connection.as_mut() {
                            Some(conn) => conn,
                            None => match Connection::open(addr) {
                                Ok(conn) => connection.insert(conn),
                                Err(error) => {
                                    fail(&mut report, format!("connect: {error}"));
                                    continue;
                                }
                            },
                        };
                        match conn.get(&request_path, &headers(i)) {
                            Ok((response, close)) => {
                                let took = begun.elapsed().as_micros().min(u32::MAX as u128);
                                if response.status == expect {
                                    report.ok += 1;
                                    report.latencies_us.push(took as u32);
                                } else {
                                    fail(
                                        &mut report,
                                        format!("GET {request_path}: status {}", response.status),
                                    );
                                }
                                if close {
                                    connection = None;
                                }
                            }
                            Err(error) => {
                                fail(&mut report, format!("GET {request_path}: {error}"));
                                connection = None;
                            }
                        }
                    }
                    report
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut report = LoadReport::default();
    for part in per_thread {
        report.ok += part.ok;
        report.failed += part.failed;
        report.failures.extend(
            part.failures
                .into_iter()
                .take(5 - report.failures.len().min(5)),
        );
        report.latencies_us.extend(part.latencies_us);
    }
    report.latencies_us.sort_unstable();
    report.elapsed = started.elapsed();
    report
}

/// A W3C trace id (32 hex digits) that is unique per (`tag`, `i`) and never zero.
pub fn trace_id(tag: u32, i: u64) -> String {
    format!("{:08x}0c70{:020x}", tag.max(1), i)
}

/// A `traceparent` header line for request `i` of run `tag`, with parent span `1`+`i`.
pub fn traceparent_line(tag: u32, i: u64) -> String {
    format!("traceparent: 00-{}-{:016x}-01\r\n", trace_id(tag, i), i + 1)
}

/// The value of the series written exactly as `series` (name and labels) in an exposition.
pub fn value_of(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `metric{labels,service_name="service"}` — the exposition's label order (sorted by name).
pub fn sample(service: &str, metric: &str, labels: &str) -> String {
    if labels.is_empty() {
        format!("{metric}{{service_name=\"{service}\"}}")
    } else {
        format!("{metric}{{{labels},service_name=\"{service}\"}}")
    }
}

/// `http_request_method="GET",http_response_status_code="STATUS",http_route="ROUTE"`.
pub fn get_labels(status: u16, route: &str) -> String {
    format!(
        "http_request_method=\"GET\",http_response_status_code=\"{status}\",http_route=\"{route}\""
    )
}

/// The series (sample lines) of an exposition: every non-empty line not starting with `#`,
/// without its value.
pub fn series(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| match line.rsplit_once(' ') {
            Some((series, _)) => series.to_string(),
            None => line.to_string(),
        })
        .collect()
}

/// Sends SIGTERM to nothing but the given child, for helpers that own a `Child`.
pub fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Percent-encodes a query-string value.
pub fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
