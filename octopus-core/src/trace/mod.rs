//! Tracing: one server span per request, exported through the SDK's batch processor.
//!
//! - [`TracingObserver`]: the span lifecycle on the [`RequestObserver`](crate::RequestObserver)
//!   seam;
//! - [`sampler`]: samplers by their OpenTelemetry names, with the edge option of ignoring an
//!   inbound sampled flag;
//! - the exporter pipeline (Jaeger agent, OTLP, console, none), built by
//!   [`Octopus`](crate::Octopus) from its configuration, with [`SpanCounts`] to see what was
//!   delivered.
//!
//! ```
//! use octopus_core::{NoHeaders, Octopus, OctopusConfig, RequestObserver, RequestView, ResponseView, TracesExporter};
//! use octopus_core::opentelemetry::trace::TraceContextExt;
//!
//! let octopus = Octopus::new(OctopusConfig {
//!     traces_exporter: TracesExporter::None,
//!     ..OctopusConfig::default()
//! })?;
//! let view = RequestView::new("GET", "/users/7", &NoHeaders).with_route(Some("/users/{id}"));
//! let request = octopus.observe(&view);
//! // The handler runs with this context current: the server span is its parent.
//! assert!(request.context().span().span_context().is_sampled());
//! request.finish(&ResponseView::new(200));
//! octopus.shutdown().unwrap();
//! # Ok::<(), octopus_core::ConfigError>(())
//! ```

mod observer;
mod pipeline;
mod sampling;

pub use observer::{
    CANCELLED_ATTRIBUTE, TracingObservation, TracingObserver, inject_trace_response,
};
pub use pipeline::SpanCounts;
pub(crate) use pipeline::{CustomExporter, SpanCounters, custom_exporter, tracer_provider};
pub use sampling::sampler;

/// The parent of a traced-client span when the caller's context is not the current one (a
/// rocket handler, a spawned task): put it in the request's extensions,
/// `.with_extension(ParentContext(cx))`. Outside the `client` feature so adapters can hand it
/// out without depending on reqwest.
#[derive(Clone, Debug)]
pub struct ParentContext(pub opentelemetry::Context);
