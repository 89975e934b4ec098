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
mod otlp;
mod pipeline;
mod resource;
mod sampling;
mod span_names;

pub use observer::{
    CANCELLED_ATTRIBUTE, MAX_HOST_LEN, MAX_METHOD_LEN, MAX_PATH_LEN, MAX_USER_AGENT_LEN,
    TracingObservation, TracingObserver, inject_trace_response,
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

/// A request's trace context as handlers receive it: the server span and the inbound baggage.
///
/// Each adapter wraps it in its framework's extractor (`octopus_axum::TraceContext`,
/// `octopus_actix::TraceContext`, …), which dereferences to this.
///
/// ```
/// use octopus_core::TraceContext;
/// use opentelemetry::trace::TraceId;
///
/// let trace = TraceContext::new(opentelemetry::Context::new());
/// assert_eq!(trace.trace_id(), TraceId::INVALID);
/// ```
#[derive(Clone, Debug)]
pub struct TraceContext(opentelemetry::Context);

impl TraceContext {
    /// Wraps a context.
    pub fn new(context: opentelemetry::Context) -> Self {
        TraceContext(context)
    }

    /// The current context: in a handler an adapter runs with the request's context current,
    /// the request's.
    pub fn current() -> Self {
        TraceContext(opentelemetry::Context::current())
    }

    /// The OpenTelemetry context.
    pub fn context(&self) -> &opentelemetry::Context {
        &self.0
    }

    /// The trace id (all zeros when the request is not traced).
    pub fn trace_id(&self) -> opentelemetry::trace::TraceId {
        use opentelemetry::trace::TraceContextExt as _;
        self.0.span().span_context().trace_id()
    }

    /// The context as the traced client's explicit parent:
    /// `client.get(url).with_extension(trace.parent())`.
    pub fn parent(&self) -> ParentContext {
        ParentContext(self.0.clone())
    }

    /// Runs `future` with this context current, so child spans and traced-client calls inside
    /// it join the request's trace without being handed the context.
    pub fn in_scope<F: std::future::Future>(
        &self,
        future: F,
    ) -> opentelemetry::context::WithContext<F> {
        use opentelemetry::context::FutureExt as _;
        future.with_context(self.0.clone())
    }
}
