//! Criterion benchmarks of Octopus: run `cargo bench -p octopus-benches`.
//!
//! The benchmark targets live in `benches/`; this library holds what they share: the Octopus
//! set-ups every framework group measures, an exporter that discards spans, an OTLP/gRPC
//! receiver that counts them ([`OtlpSink`], also the `otlp-sink` binary of load runs), and the timing
//! loops: on two threads at once ([`two_threads`]), and with every span kept
//! ([`every_span_kept`], [`two_threads_every_span_kept`]) for traced set-ups, which timed back
//! to back would mostly measure spans dropped at a full queue.
//!
//! ```
//! let octopus = octopus_benches::octopus(true, None);
//! assert!(octopus.tracer_provider().is_none());
//! ```

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use octopus_core::{MetricKind, Octopus, OctopusConfig, SamplerKind};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// An exporter that drops every batch: the export pipeline runs, nothing leaves the process.
#[derive(Debug)]
pub struct DiscardExporter;

impl SpanExporter for DiscardExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

/// An OTLP/gRPC trace receiver on loopback: decodes every export (as a collector does), counts
/// its spans and keeps nothing, so an exporting process pays what exporting costs and memory
/// does not grow over a benchmark's millions of spans. It serves on a thread and runtime of
/// its own until the process exits.
///
/// ```no_run
/// let sink = octopus_benches::OtlpSink::start("127.0.0.1:0".parse().unwrap()).unwrap();
/// println!("export to {}", sink.endpoint());
/// assert_eq!(sink.received(), 0);
/// ```
#[derive(Debug)]
pub struct OtlpSink {
    address: SocketAddr,
    received: Arc<AtomicU64>,
}

/// The receiver's service: spans counted as each export request is answered, so a flushed
/// exporter's spans are all counted when its flush returns.
struct CountingTraceService(Arc<AtomicU64>);

#[tonic::async_trait]
impl TraceService for CountingTraceService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans: usize = request
            .into_inner()
            .resource_spans
            .iter()
            .flat_map(|resource| &resource.scope_spans)
            .map(|scope| scope.spans.len())
            .sum();
        self.0.fetch_add(spans as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl OtlpSink {
    /// Binds `address` (port 0: any free port) and serves on a new thread.
    pub fn start(address: SocketAddr) -> std::io::Result<OtlpSink> {
        let listener = std::net::TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let received = Arc::new(AtomicU64::new(0));
        let service = TraceServiceServer::new(CountingTraceService(received.clone()));
        std::thread::Builder::new()
            .name("otlp-sink".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("a listener of this runtime");
                    // As a collector answers: without `TCP_NODELAY` each answer's last
                    // segment waited for the exporter's delayed acknowledgement (a flush of
                    // 100 spans took 5.9 ms, against 1 ms of work; 2026-12-01).
                    let incoming = tonic::transport::server::TcpIncoming::from(listener)
                        .with_nodelay(Some(true));
                    if let Err(error) = tonic::transport::Server::builder()
                        .add_service(service)
                        .serve_with_incoming(incoming)
                        .await
                    {
                        eprintln!("otlp-sink: {error}");
                    }
                })
            })?;
        Ok(OtlpSink { address, received })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The endpoint to give an OTLP/gRPC exporter: `http://{address}`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Spans received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

/// The Octopus set-ups of every framework group: (benchmark id, metrics on, tracing sampler).
pub const SETUPS: [(&str, bool, Option<SamplerKind>); 4] = [
    ("octopus_metrics", true, None),
    ("octopus_tracing", false, Some(SamplerKind::AlwaysOn)),
    (
        "octopus_tracing_unsampled",
        false,
        Some(SamplerKind::AlwaysOff),
    ),
    ("octopus_full", true, Some(SamplerKind::AlwaysOn)),
];

/// The set-ups also measured on two threads at once (`{id}_2threads`): where shared writes
/// would show.
pub const CONTENDED: [&str; 2] = ["octopus_metrics", "octopus_tracing"];

/// The id of the set-up with the body size histograms on as well ([`octopus_body_sizes`]).
pub const BODY_SIZES: &str = "octopus_body_sizes";

/// Octopus with all five metrics — the default three plus `request_size` and `response_size` —
/// and no tracing: what the body size histograms add to `octopus_metrics`.
pub fn octopus_body_sizes() -> Octopus {
    Octopus::builder()
        .service_name("bench")
        .metrics(MetricKind::ALL)
        .config(OctopusConfig {
            tracing_enabled: false,
            ..OctopusConfig::default()
        })
        .build()
        .expect("octopus builds")
}

/// Octopus with all three metrics (or none) and tracing with `sampler` through its span
/// pipeline into [`DiscardExporter`] (or no tracing).
pub fn octopus(metrics: bool, tracing: Option<SamplerKind>) -> Octopus {
    let builder = Octopus::builder().service_name("bench");
    let builder = if metrics {
        builder
    } else {
        builder.metrics(Vec::<MetricKind>::new())
    };
    match tracing {
        Some(sampler) => builder
            .sampler(sampler, None)
            .span_exporter(DiscardExporter),
        None => builder.config(OctopusConfig {
            tracing_enabled: false,
            ..OctopusConfig::default()
        }),
    }
    .build()
    .expect("octopus builds")
}

/// Requests timed between two untimed flushes of the span pipeline: half the default span
/// queue (`bsp_max_queue_size` 2 048), so that no span of a chunk finds the queue full.
pub const KEPT_CHUNK: u64 = 1_024;

/// Times `iters` calls of `request` for criterion's `iter_custom`, in chunks of at most
/// [`KEPT_CHUNK`] with `flush` called untimed after each: every span the requests end is kept
/// and exported, as in a service whose export thread keeps up with it.
///
/// Why: timed back to back, a traced benchmark ends spans faster than any export thread takes
/// them (millions a second), the queue fills, and from then on most spans are dropped at the
/// door — a cheaper path than keeping them. `core/tracing` dropped 2 940 843 of 5 707 901
/// spans that way (2026-12-01, twelfth session), and how many depended on how fast the export
/// thread ran, so a faster export made the request path look slower. The peers' batch
/// processors drop the same way, and are flushed the same way here.
///
/// ```
/// let (mut requests, mut flushes) = (0, 0);
/// octopus_benches::every_span_kept(2_500, || requests += 1, || flushes += 1);
/// assert_eq!((requests, flushes), (2_500, 3));
/// ```
pub fn every_span_kept(iters: u64, request: impl FnMut(), flush: impl FnMut()) -> Duration {
    timed_in_chunks(iters, KEPT_CHUNK, request, flush)
}

/// The time `iters` calls of `request` take, in chunks of at most `chunk`, with `between`
/// called untimed after each chunk.
fn timed_in_chunks(
    iters: u64,
    chunk: u64,
    mut request: impl FnMut(),
    mut between: impl FnMut(),
) -> Duration {
    let mut timed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let this_chunk = left.min(chunk);
        let started = Instant::now();
        for _ in 0..this_chunk {
            request();
        }
        timed += started.elapsed();
        between();
        left -= this_chunk;
    }
    timed
}

/// Flushes `octopus`'s span pipeline, if it traces: the `flush` of [`every_span_kept`].
pub fn flush_spans(octopus: &Octopus) {
    if let Some(provider) = octopus.tracer_provider() {
        provider.force_flush().expect("the export thread answers");
    }
}

/// Times `iters` requests on each of two threads running at once, for criterion's
/// `iter_custom`: the slower thread's time, so criterion reports the time per request per thread.
/// Against the same request on one thread, the difference is what the two threads cost each
/// other — writes to memory both touch (reference counts, atomics, locks) — which a
/// one-thread benchmark cannot show.
///
/// Each thread makes its own request runner with `setup` (its own runtime, its own clone of
/// the app), runs it once, and only then do the two start together.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// let requests = AtomicU64::new(0);
/// let time = octopus_benches::two_threads(10, || || {
///     requests.fetch_add(1, Ordering::Relaxed);
/// });
/// assert_eq!(requests.load(Ordering::Relaxed), 2 * 11);
/// assert!(time > std::time::Duration::ZERO);
/// ```
pub fn two_threads<R: FnMut()>(iters: u64, setup: impl Fn() -> R + Sync) -> Duration {
    let start = Barrier::new(2);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut request = setup();
                    request();
                    start.wait();
                    let started = Instant::now();
                    for _ in 0..iters {
                        request();
                    }
                    started.elapsed()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| thread.join().expect("a benchmark thread does not panic"))
            .max()
            .expect("two threads")
    })
}

/// [`two_threads`] in chunks, as [`every_span_kept`] times one thread: both threads run a chunk
/// of at most [`KEPT_CHUNK`] / 2 requests, then wait for each other while one of them calls
/// `flush`, untimed, before the next chunk starts on both.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// let (requests, flushes) = (AtomicU64::new(0), AtomicU64::new(0));
/// octopus_benches::two_threads_every_span_kept(
///     1_500,
///     || || {
///         requests.fetch_add(1, Ordering::Relaxed);
///     },
///     || {
///         flushes.fetch_add(1, Ordering::Relaxed);
///     },
/// );
/// assert_eq!(requests.load(Ordering::Relaxed), 2 * 1_501);
/// assert_eq!(flushes.load(Ordering::Relaxed), 3);
/// ```
pub fn two_threads_every_span_kept<R: FnMut()>(
    iters: u64,
    setup: impl Fn() -> R + Sync,
    flush: impl Fn() + Sync,
) -> Duration {
    let chunk = KEPT_CHUNK / 2;
    let (start, chunk_done, flushed) = (Barrier::new(2), Barrier::new(2), Barrier::new(2));
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..2)
            .map(|thread| {
                let (start, chunk_done, flushed, flush) = (&start, &chunk_done, &flushed, &flush);
                let setup = &setup;
                scope.spawn(move || {
                    let mut request = setup();
                    request();
                    start.wait();
                    timed_in_chunks(iters, chunk, request, || {
                        chunk_done.wait();
                        if thread == 0 {
                            flush();
                        }
                        flushed.wait();
                    })
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| thread.join().expect("a benchmark thread does not panic"))
            .max()
            .expect("two threads")
    })
}

/// Discarding exporters for the OpenTelemetry generations the peer crates are built on, so
/// peers are measured with the same batch-processor-into-nothing pipeline as Octopus.
pub mod peers {
    use std::hint::black_box;

    macro_rules! discard_exporter {
        ($name:ident, $sdk:ident) => {
            #[doc = concat!("Drops every batch (`", stringify!($sdk), "`).")]
            #[derive(Debug)]
            pub struct $name;

            impl $sdk::trace::SpanExporter for $name {
                async fn export(
                    &self,
                    batch: Vec<$sdk::trace::SpanData>,
                ) -> $sdk::error::OTelSdkResult {
                    black_box(batch);
                    Ok(())
                }
            }
        };
    }

    discard_exporter!(DiscardExporter029, opentelemetry_sdk_029);
    discard_exporter!(DiscardExporter031, opentelemetry_sdk_031);
}
