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
//! | `octopus_traced` | `TracingMiddleware` (sampled, batch processor, discarding exporter) in front |
//! | `octopus_unsampled` | the same with the `always_off` sampler |

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::Extensions;
use octopus_core::opentelemetry::context::FutureExt as _;
use octopus_core::opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use octopus_core::{Octopus, SamplerKind};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
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

#[derive(Debug)]
struct DiscardExporter;

impl SpanExporter for DiscardExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
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
        group.bench_function(id, |b| {
            b.iter(|| {
                runtime.block_on(
                    async { black_box(traced.get(url).send().await.unwrap()) }
                        .with_context(parent.clone()),
                )
            })
        });
        octopus.shutdown().expect("flushes");
    }
    group.finish();
}

criterion_group!(benches, client);
criterion_main!(benches);
