//! The [`TraceContext`] filter.

use std::convert::Infallible;
use std::ops::Deref;

use warp::Filter;

/// The request's trace context; dereferences to [`octopus_core::TraceContext`].
#[derive(Clone, Debug)]
pub struct TraceContext(octopus_core::TraceContext);

impl Deref for TraceContext {
    type Target = octopus_core::TraceContext;

    fn deref(&self) -> &octopus_core::TraceContext {
        &self.0
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
    warp::any().map(|| TraceContext(octopus_core::TraceContext::current()))
}
