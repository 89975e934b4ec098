//! A Jaeger agent stand-in: receives `emitBatch` datagrams on a loopback UDP port and decodes
//! them.
//!
//! ```
//! use octopus_core::testing::jaeger_agent::JaegerAgentReceiver;
//! use octopus_core::{Octopus, OctopusConfig, NoHeaders, RequestObserver, RequestView, ResponseView};
//! use std::time::Duration;
//!
//! let agent = JaegerAgentReceiver::start();
//! let octopus = Octopus::new(OctopusConfig::jaeger("127.0.0.1", agent.port(), "users")?)?;
//! octopus
//!     .observe(&RequestView::new("GET", "/users/7", &NoHeaders).with_route(Some("/users/{id}")))
//!     .finish(&ResponseView::new(200));
//! octopus.shutdown().unwrap();
//! let spans = agent.wait_for_spans(1, Duration::from_secs(5));
//! assert_eq!(spans[0].operation_name, "GET /users/{id}");
//! # Ok::<(), octopus_core::ConfigError>(())
//! ```

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use crate::export::jaeger_thrift::{Batch, Span, SpanRef, SpanRefType, Tag, TagValue};
use crate::{Octopus, OctopusConfig};

/// The receive buffer asked for: room for a burst of 60 maximum-size datagrams.
const RECEIVE_BUFFER: usize = 4 * 1024 * 1024;

#[derive(Default)]
struct Received {
    batches: Vec<Batch>,
    packet_sizes: Vec<usize>,
    undecodable: usize,
}

/// A UDP receiver on `127.0.0.1` with an ephemeral port; stops when dropped.
pub struct JaegerAgentReceiver {
    address: SocketAddr,
    received: Arc<(Mutex<Received>, Condvar)>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl JaegerAgentReceiver {
    /// Binds an ephemeral loopback port and starts receiving.
    pub fn start() -> Self {
        JaegerAgentReceiver::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Binds `address` and starts receiving: a given port, to stand for an agent that was
    /// down and comes back where it was.
    pub fn start_on(address: SocketAddr) -> Self {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(address),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )
        .expect("create a UDP socket");
        // Batches arrive as bursts of near-64 KiB datagrams, faster than any reader: like the
        // real agent, keep a large receive buffer (the kernel caps it at net.core.rmem_max).
        socket
            .set_recv_buffer_size(RECEIVE_BUFFER)
            .expect("set the receive buffer size");
        socket
            .bind(&address.into())
            .expect("bind a loopback UDP port");
        let socket: UdpSocket = socket.into();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("set a read timeout");
        let address = socket.local_addr().expect("local address");
        let received = Arc::new((Mutex::new(Received::default()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (received.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buffer = vec![0u8; 65_536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok(size) = socket.recv(&mut buffer) else {
                        continue;
                    };
                    let decoded = Batch::decode_emit_batch(&buffer[..size]);
                    let (lock, ready) = &*received;
                    let mut received = lock.lock().unwrap();
                    received.packet_sizes.push(size);
                    match decoded {
                        Ok(batch) => received.batches.push(batch),
                        Err(_) => received.undecodable += 1,
                    }
                    ready.notify_all();
                }
            })
        };
        JaegerAgentReceiver {
            address,
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// The port to send to.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The address to send to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// An Octopus that exports the spans of service `service_name` to this agent (and keeps
    /// the default metrics).
    pub fn octopus(&self, service_name: &str) -> Octopus {
        let config = OctopusConfig::jaeger("127.0.0.1", self.port(), service_name)
            .expect("a valid Jaeger configuration");
        Octopus::new(config).expect("Octopus starts")
    }

    /// Shuts `octopus` down, which flushes its queued spans, then waits (up to 5 s) for them:
    /// asserts that exactly `n` arrived, and returns them.
    pub fn shutdown_and_collect(&self, octopus: &Octopus, n: usize) -> Vec<Span> {
        octopus.shutdown().expect("Octopus shuts down");
        let spans = self.wait_for_spans(n, Duration::from_secs(5));
        let names: Vec<&str> = spans.iter().map(|s| s.operation_name.as_str()).collect();
        assert_eq!(spans.len(), n, "{names:?}");
        spans
    }

    /// Waits until at least `n` spans arrived or `timeout` passed; returns all spans so far.
    pub fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<Span> {
        let deadline = Instant::now() + timeout;
        let (lock, ready) = &*self.received;
        let mut received = lock.lock().unwrap();
        loop {
            let count: usize = received.batches.iter().map(|b| b.spans.len()).sum();
            let now = Instant::now();
            if count >= n || now >= deadline {
                break;
            }
            received = ready.wait_timeout(received, deadline - now).unwrap().0;
        }
        received
            .batches
            .iter()
            .flat_map(|b| b.spans.iter().cloned())
            .collect()
    }

    /// Every batch received so far.
    pub fn batches(&self) -> Vec<Batch> {
        self.received.0.lock().unwrap().batches.clone()
    }

    /// The size of every datagram received so far, in arrival order.
    pub fn packet_sizes(&self) -> Vec<usize> {
        self.received.0.lock().unwrap().packet_sizes.clone()
    }

    /// Datagrams that did not decode as `emitBatch`.
    pub fn undecodable(&self) -> usize {
        self.received.0.lock().unwrap().undecodable
    }
}

impl Drop for JaegerAgentReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Span {
    /// The tag named `key`.
    pub fn tag(&self, key: &str) -> Option<&TagValue> {
        self.tags.iter().find(|t| t.key == key).map(|t| &t.value)
    }

    /// The 128-bit trace id as 32 hex digits.
    pub fn trace_id_hex(&self) -> String {
        format!(
            "{:016x}{:016x}",
            self.trace_id_high as u64, self.trace_id_low as u64
        )
    }

    /// The span id as 16 hex digits.
    pub fn span_id_hex(&self) -> String {
        format!("{:016x}", self.span_id as u64)
    }

    /// The parent span id as 16 hex digits.
    pub fn parent_span_id_hex(&self) -> String {
        format!("{:016x}", self.parent_span_id as u64)
    }
}

/// A `#[tracing::instrument]` function (span `load_user`) that opens `query` inside, after
/// being suspended once, so its span is entered again on a later poll. Answers `user {id}`.
#[cfg(feature = "tracing")]
#[tracing::instrument]
pub async fn load_user(id: u64) -> String {
    tokio::task::yield_now().await;
    tracing::info_span!("query").in_scope(|| format!("user {id}"))
}

/// The handler body of every adapter's `tracing`-crate test: [`load_user`], then `render`
/// (`info_span!`). Answers `user {id}`; [`assert_tracing_spans_under_server`] checks its spans.
#[cfg(feature = "tracing")]
pub async fn load_and_render_user(id: u64) -> String {
    let user = load_user(id).await;
    tracing::info_span!("render").in_scope(|| user)
}

/// The check every adapter's `tracing`-crate test makes. The handler behind `server_name` ran
/// [`load_and_render_user`]: it opened `render` (`info_span!`) and called a
/// `#[tracing::instrument]` `load_user` that opened `query`;
/// the request carried `traceparent: 00-{trace_id}-{inbound_span_id}-01`. Asserts, with exact
/// ids, that `spans` are those four, all in the inbound trace, chained inbound → server →
/// (`load_user` → `query`, `render`), the `tracing` spans under the `tracing` scope.
pub fn assert_tracing_spans_under_server(
    spans: &[Span],
    server_name: &str,
    trace_id: &str,
    inbound_span_id: &str,
) {
    let names: Vec<&str> = spans.iter().map(|s| s.operation_name.as_str()).collect();
    assert_eq!(spans.len(), 4, "{names:?}");
    let span = |name: &str| {
        spans
            .iter()
            .find(|s| s.operation_name == name)
            .unwrap_or_else(|| panic!("no {name} in {names:?}"))
    };
    let (server, load_user, query, render) = (
        span(server_name),
        span("load_user"),
        span("query"),
        span("render"),
    );
    assert_eq!(server.parent_span_id_hex(), inbound_span_id);
    for s in [server, load_user, query, render] {
        assert_eq!(s.trace_id_hex(), trace_id, "{}", s.operation_name);
    }
    assert_eq!(load_user.parent_span_id_hex(), server.span_id_hex());
    assert_eq!(render.parent_span_id_hex(), server.span_id_hex());
    assert_eq!(query.parent_span_id_hex(), load_user.span_id_hex());
    let scope = |s: &Span| s.tag("otel.scope.name").cloned();
    assert_eq!(scope(load_user), Some(TagValue::String("tracing".into())));
    assert_eq!(scope(server), Some(TagValue::String("octopus".into())));
}
