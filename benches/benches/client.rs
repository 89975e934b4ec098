//! The `client` group: what the traced client adds to one outgoing call.
//!
//! `cargo bench -p octopus-benches --bench client`
//!
//! The network is replaced by a terminal middleware answering at once, so the difference
//! between the ids is exactly the middleware's work: span start and end, header injection.
//!
//! | id | stack |
//! |---|---|
//! | `bare` | reqwest-middleware with the canned answer only |
//! | `octopus_traced` | `TracingMiddleware` (sampled, span pipeline, discarding exporter) in front |
//! | `octopus_unsampled` | the same with the `always_off` sampler |

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::Extensions;
use octopus_benches::{DiscardExporter, every_span_kept, flush_spans};
use octopus_core::opentelemetry::context::FutureExt as _;
use octopus_core::opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use octopus_core::{Octopus, SamplerKind};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};

/// Answers every request with 204 without touching the network.
struct Canned;

#[async_trait::async_trait]
impl Middleware for Canned {
    async fn handle(
        &self,
        request: reqwest::Request,
        _: &mut Extensions,
        _: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        black_box(request.headers().len());
        let response = http::Response::builder()
            .status(204)
            .body(Vec::<u8>::new())
            .expect("a valid response");
        Ok(reqwest::Response::from(response))
    }
}

fn client(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("client");
    let url = "http://127.0.0.1:9/users/42";

    let bare: ClientWithMiddleware = ClientBuilder::new(reqwest::Client::new())
        .with(Canned)
        .build();
    group.bench_function("bare", |b| {
        b.iter(|| runtime.block_on(async { black_box(bare.get(url).send().await.unwrap()) }))
    });

    for (id, sampler) in [
        ("octopus_traced", SamplerKind::AlwaysOn),
        ("octopus_unsampled", SamplerKind::AlwaysOff),
    ] {
        let octopus = Octopus::builder()
            .metrics([])
            .sampler(sampler, None)
            .span_exporter(DiscardExporter)
            .build()
            .expect("octopus builds");
        let traced = ClientBuilder::new(reqwest::Client::new())
            .with(octopus.client_middleware())
            .with(Canned)
            .build();
        let tracer = octopus
            .tracer_provider()
            .expect("tracing on")
            .tracer("bench");
        let parent = octopus_core::opentelemetry::Context::new().with_span(tracer.start("handler"));
        // Every span kept (see `every_span_kept`), checked below.
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                every_span_kept(
                    iters,
                    || {
                        runtime.block_on(
                            async { black_box(traced.get(url).send().await.unwrap()) }
                                .with_context(parent.clone()),
                        );
                    },
                    || flush_spans(&octopus),
                )
            })
        });
        let counts = octopus.shutdown().expect("flushes");
        assert_eq!(counts.unaccounted(), 0, "{id}: spans dropped: {counts:?}");
    }
    group.finish();
}

criterion_group!(benches, client);
criterion_main!(benches);
