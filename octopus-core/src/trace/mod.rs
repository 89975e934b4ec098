//! Tracing: one server span per request, recorded by Octopus and exported through its span
//! pipeline (which also carries the SDK spans of its tracer provider).
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
mod remote_sampling;
mod resource;
mod sampling;
mod span;
mod span_names;

pub use observer::{
    CANCELLED_ATTRIBUTE, MAX_HOST_LEN, MAX_METHOD_LEN, MAX_PATH_LEN, MAX_USER_AGENT_LEN,
    TracingObservation, TracingObserver, inject_trace_response,
};
#[doc(hidden)]
pub use pipeline::BufferedSpans;
pub use pipeline::SpanCounts;
pub(crate) use pipeline::{
    CustomExporter, Finished, SpanMetrics, SpanPipeline, custom_exporter, tracer_provider,
};
pub(crate) use sampling::ServerSampler;
pub use sampling::sampler;
#[cfg(test)]
pub(crate) use span::varied_server_spans;
pub(crate) use span::{AttributeRef, ServerFinished};
pub(crate) use span_names::route_names;

/// The parent of a traced-client span when the caller's context is not the current one (a
/// rocket handler, a spawned task): put it in the request's extensions,
/// `.with_extension(ParentContext(cx))`. Outside the `client` feature so adapters can hand it
/// out without depending on reqwest.
#[derive(Clone, Debug)]
pub struct ParentContext(pub opentelemetry::Context);

/// A request's trace context as handlers receive it: the server span and the inbound baggage.
///
/// warp's `octopus_warp::trace_context()` filter hands out this type itself. The other adapters
/// hand it out through their framework's extractor trait, which the orphan rule lets them
/// implement only on a type of their own: `octopus_axum::TraceContext`,
/// `octopus_actix::TraceContext` and `octopus_rocket::TraceContext` are newtypes declared with
/// [`adapter_trace_context!`](crate::adapter_trace_context), and dereference to this.
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

/// Declares an adapter's `TraceContext`: a newtype over [`TraceContext`] that dereferences to
/// it, on which the adapter implements its framework's extractor trait (the orphan rule forbids
/// implementing a framework's trait on the core's type from an adapter crate). The attributes
/// given (the type's docs) go on the struct; the field is private to the invoking module.
///
/// For adapter crates, one invocation each: an application names the adapter's type.
#[doc(hidden)]
#[macro_export]
macro_rules! adapter_trace_context {
    ($(#[$attribute:meta])*) => {
        $(#[$attribute])*
        #[derive(Clone, Debug)]
        pub struct TraceContext($crate::TraceContext);

        impl ::std::ops::Deref for TraceContext {
            type Target = $crate::TraceContext;

            fn deref(&self) -> &$crate::TraceContext {
                &self.0
            }
        }
    };
}

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
