//! Spans from the `tracing` crate as children of the request's server span (cargo feature
//! `tracing`).
//!
//! Most Rust code is instrumented with the `tracing` crate (`#[tracing::instrument]`,
//! `info_span!`), not with OpenTelemetry's API. [`Octopus::tracing_layer`](crate::Octopus::tracing_layer) is the bridge: a
//! `tracing-opentelemetry` layer over Octopus's *own* tracer provider, so those spans are
//! sampled, batched, exported and flushed with the server spans, and need no global provider.
//!
//! Every adapter except rocket polls the handler with the request's OpenTelemetry context
//! current; the layer parents a new root `tracing` span on that current context, so a span
//! opened anywhere inside a handler becomes a child of the request's server span, and spans
//! opened inside it become its children. Rocket handlers do not run with the context current:
//! take the `octopus_rocket::TraceContext` guard and open the spans inside its
//! `in_scope(future)`, or give a span its parent explicitly with
//! [`OpenTelemetrySpanExt::set_parent`](tracing_opentelemetry::OpenTelemetrySpanExt::set_parent)
//! and run the work with `tracing::Instrument`.

use opentelemetry::InstrumentationScope;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;

/// The layer [`Octopus::tracing_layer`](crate::Octopus::tracing_layer) returns, named so applications can store it or name it
/// in a function's signature without depending on `tracing-opentelemetry` themselves.
pub type TracingLayer<S> = tracing_opentelemetry::OpenTelemetryLayer<S, SdkTracer>;

/// The instrumentation scope of the spans made from `tracing` spans: distinct from the server
/// spans' `octopus`, so a backend can tell the application's own spans from Octopus's.
const SCOPE: &str = "tracing";

/// The layer over `provider`'s tracer, in the [`SCOPE`] scope, with the layer's defaults.
pub(crate) fn layer<S>(provider: &SdkTracerProvider) -> TracingLayer<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let tracer = provider.tracer_with_scope(InstrumentationScope::builder(SCOPE).build());
    tracing_opentelemetry::layer().with_tracer(tracer)
}
