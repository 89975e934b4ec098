//! The core's accept loop (`octopus_core::serve`) under the separate metrics listener, over real
//! loopback sockets: the header read timeout, and the pause after accept errors.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use octopus_core::ServeOptions;
use octopus_core::testing::scenario::read_until_closed;
use octopus_core::{Octopus, OctopusConfig, TracesExporter};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};

/// Every wait on the network is bounded by this.
const BOUND: Duration = Duration::from_secs(10);

fn octopus() -> Octopus {
    let mut config = OctopusConfig::prometheus("serve-test", ["request_count"]).unwrap();
    config.traces_exporter = TracesExporter::None;
    Octopus::new(config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_listener_closes_connections_without_a_whole_request_head() {
    let octopus = octopus();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = ServeOptions::new().header_read_timeout(Duration::from_secs(1));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn({
        let octopus = octopus.clone();
        async move {
            octopus
                .serve_metrics_with(listener, &options, async {
                    let _ = stopped.await;
                })
                .await
        }
    });

    let connect = || TcpStream::connect(addr);
    let mut idle = connect().await.unwrap();
    let mut half = connect().await.unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The start of the HTTP/2 preface: the server cannot yet tell HTTP/1 from HTTP/2.
    let mut half_preface = connect().await.unwrap();
    half_preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let mut whole = connect().await.unwrap();
    whole
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();

    assert_eq!(read_until_closed(&mut idle).await, b"");
    assert_eq!(read_until_closed(&mut half).await, b"");
    assert_eq!(read_until_closed(&mut half_preface).await, b"");
    // A whole request is answered; its idle keep-alive connection is closed afterwards.
    let answered = String::from_utf8(read_until_closed(&mut whole).await).unwrap();
    assert!(answered.starts_with("HTTP/1.1 200 OK\r\n"), "{answered}");
    assert!(
        answered.contains("\r\ncontent-type: text/plain; version=0.0.4"),
        "{answered}"
    );

    stop.send(()).unwrap();
    tokio::time::timeout(BOUND, server)
        .await
        .expect("the listener stops")
        .unwrap()
        .unwrap();
}

/// Set in the child process of the accept-error test.
const CHILD: &str = "OCTOPUS_TEST_ACCEPT_ERROR_CHILD";

/// Runs the metrics listener in a child process whose file descriptors are used up, so that
/// accepting fails with EMFILE (the one way to make `accept` fail on demand: the limit is the
/// process's, hence a child, started through `sh` for its `ulimit`). It frees them after 2.5 s.
/// Then the connection waiting in the backlog is served: nothing is lost; and stderr has one
/// line per second's pause — not the hundreds of thousands of a loop that retries at once.
#[cfg(target_os = "linux")]
#[test]
fn accept_errors_pause_accepting_and_are_reported_once_per_pause() {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 64 && exec "$0" --exact accept_error_child --ignored --nocapture --test-threads=1"#)
        .arg(std::env::current_exe().unwrap())
        .env(CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // Read to the end, so the child's test harness can always write its report.
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (listening, addr) = std::sync::mpsc::channel::<SocketAddr>();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            // The harness may have begun the line ("test accept_error_child ... ").
            let said = line
                .rsplit_once("listening on ")
                .map(|(_, addr)| addr.parse());
            if let Some(Ok(addr)) = said {
                let _ = listening.send(addr);
            }
        }
    });
    let addr = addr.recv_timeout(BOUND).expect("the child listens");

    let mut client = std::net::TcpStream::connect(addr).unwrap();
    client.set_read_timeout(Some(BOUND)).unwrap();
    write!(
        client,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answered = String::new();
    let read = client.read_to_string(&mut answered);
    drop(child.stdin.take()); // the child's shutdown signal
    let status = child.wait().unwrap();
    let errors = errors.join().unwrap();
    read.unwrap_or_else(|error| panic!("no answer ({error}); the child said: {errors:.2000}"));
    assert!(answered.starts_with("HTTP/1.1 200 OK\r\n"), "{answered}");
    assert!(status.success(), "{errors:.2000}");
    let reports = errors.matches("accept failed").count();
    assert!(
        (1..=5).contains(&reports),
        "{reports} accept errors reported: {errors:.2000}"
    );
    assert!(
        errors.contains("octopus: metrics listener: accept failed: Too many open files"),
        "{errors:.2000}"
    );
}

/// The child of `accept_errors_pause_accepting_and_are_reported_once_per_pause`; does nothing
/// unless started by it.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "the child process of accept_errors_pause_accepting_and_are_reported_once_per_pause"]
fn accept_error_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut hog = Vec::new();
        while let Ok(file) = std::fs::File::open("/dev/null") {
            hog.push(file);
        }
        println!("listening on {addr}");
        let octopus = octopus();
        let server = tokio::spawn(async move {
            // Closed stdin: the parent has its answer.
            let shutdown = tokio::task::spawn_blocking(|| {
                let _ = std::io::stdin().read_to_end(&mut Vec::new());
            });
            octopus
                .serve_metrics_with(listener, &ServeOptions::new(), async {
                    let _ = shutdown.await;
                })
                .await
        });
        tokio::time::sleep(Duration::from_millis(2500)).await;
        drop(hog);
        server.await.unwrap().unwrap();
    });
}
