//! The [`TraceContext`] filter.

use std::convert::Infallible;

/// The core's type itself: a warp filter extracts any value, so warp needs no type of its own
/// (the other adapters wrap it to implement their framework's extractor trait).
pub use octopus_core::TraceContext;
use warp::Filter;

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
    warp::any().map(TraceContext::current)
}
