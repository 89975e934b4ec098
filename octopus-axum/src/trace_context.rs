//! The [`TraceContext`] extractor.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use octopus_core::opentelemetry::Context;
use octopus_core::opentelemetry::trace::{TraceContextExt, TraceId};

/// The request's trace context, for handlers that want it explicitly (to pass to a spawned
/// task, to a `ParentContext`, or to log the trace id).
///
/// ```
/// use octopus_axum::TraceContext;
///
/// async fn handler(trace: TraceContext) -> String {
///     format!("trace {}", trace.trace_id())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct TraceContext(Context);

impl TraceContext {
    pub(crate) fn new(context: Context) -> Self {
        TraceContext(context)
    }

    /// The OpenTelemetry context: the server span and the inbound baggage.
    pub fn context(&self) -> &Context {
        &self.0
    }

    /// The trace id (all zeros when the request is not traced).
    pub fn trace_id(&self) -> TraceId {
        self.0.span().span_context().trace_id()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TraceContext {
    type Rejection = Infallible;

    /// The context [`OctopusLayer`](crate::OctopusLayer) stored, or the current one when the
    /// layer is not installed.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<TraceContext>()
            .cloned()
            .unwrap_or_else(|| TraceContext(Context::current())))
    }
}
