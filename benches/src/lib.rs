//! Criterion benchmarks of Octopus: run `cargo bench -p octopus-benches`.
//!
//! The benchmark targets live in `benches/`; this library holds what they share: the Octopus
//! set-ups every framework group measures, and an exporter that discards spans.
//!
//! ```
//! let octopus = octopus_benches::octopus(true, None);
//! assert!(octopus.tracer_provider().is_none());
//! ```

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use octopus_core::{MetricKind, Octopus, OctopusConfig, SamplerKind};
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

/// Octopus with all three metrics (or none) and tracing with `sampler` through the batch
/// processor into [`DiscardExporter`] (or no tracing).
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
