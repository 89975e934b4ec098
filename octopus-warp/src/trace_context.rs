//! The [`TraceContext`] filter.

use std::convert::Infallible;

use octopus_core::ParentContext;
use octopus_core::opentelemetry::Context;
use octopus_core::opentelemetry::trace::{TraceContextExt, TraceId};
use warp::Filter;

/// The request's trace context: the server span and the inbound baggage.
#[derive(Clone, Debug)]
pub struct TraceContext(Context);

impl TraceContext {
    /// The OpenTelemetry context.
    pub fn context(&self) -> &Context {
        &self.0
    }

    /// The trace id (all zeros when the request is not traced).
    pub fn trace_id(&self) -> TraceId {
        self.0.span().span_context().trace_id()
    }

    /// The context as the traced client's explicit parent:
    /// `client.get(url).with_extension(trace.parent())`.
    pub fn parent(&self) -> ParentContext {
        ParentContext(self.0.clone())
    }
}

/// Extracts the request's [`TraceContext`], for handlers that pass it on (to a spawned task,
/// or to log the trace id).
///
/// ```
/// use warp::Filter;
///
/// let whoami = warp::path!("whoami")
///     .and(octopus_warp::trace_context())
///     .map(|trace: octopus_warp::TraceContext| format!("trace {}", trace.trace_id()));
/// # let _ = whoami;
/// ```
///
/// [`OctopusService`](crate::OctopusService) polls the whole filter with the request's context
/// current, so this reads the current context: nothing is stored per request for it.
pub fn trace_context() -> impl Filter<Extract = (TraceContext,), Error = Infallible> + Copy {
    warp::any().map(|| TraceContext(Context::current()))
}
