//! The [`TraceContext`] extractor.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

octopus_core::adapter_trace_context! {
    /// The request's trace context, for handlers that want it explicitly (to pass to a spawned
    /// task, to the traced client with [`parent`](octopus_core::TraceContext::parent), or to log
    /// the trace id). Dereferences to [`octopus_core::TraceContext`].
    ///
    /// ```
    /// use octopus_axum::TraceContext;
    ///
    /// async fn handler(trace: TraceContext) -> String {
    ///     format!("trace {}", trace.trace_id())
    /// }
    /// ```
}

impl<S: Send + Sync> FromRequestParts<S> for TraceContext {
    type Rejection = Infallible;

    /// Extractors run inside the handler's future, which [`OctopusLayer`](crate::OctopusLayer)
    /// polls with the request's context current: reading the current context costs nothing
    /// per request, where storing it in the request's extensions would allocate.
    async fn from_request_parts(_: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(TraceContext(octopus_core::TraceContext::current()))
    }
}
