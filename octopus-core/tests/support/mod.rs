//! What several of the core's integration tests share.

use octopus_core::OctopusConfig;
use octopus_core::config::{InboundTrace, SamplerKind};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

/// An SDK tracer provider sampling as Octopus's configuration `sampler` and `inbound` would,
/// exporting each span as it ends into the returned in-memory exporter.
pub fn in_memory_provider(
    sampler: SamplerKind,
    inbound: InboundTrace,
) -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .with_sampler(octopus_core::trace::sampler(&OctopusConfig {
            sampler,
            inbound_trace: inbound,
            ..OctopusConfig::default()
        }))
        .build();
    (provider, exporter)
}
