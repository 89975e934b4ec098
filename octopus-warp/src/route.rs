//! Named routes: warp has no route templates, so a route says its own name.

use std::sync::{Arc, Mutex};

use warp::Filter;

/// The name of the route that matched, set by [`route`] filters during filtering and read by
/// [`OctopusService`](crate::OctopusService) when the request ends. One per request, in the
/// request's extensions.
#[derive(Clone, Debug, Default)]
pub(crate) struct RouteSlot(Arc<Mutex<Option<Arc<str>>>>);

impl RouteSlot {
    fn set(&self, name: Arc<str>) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(name);
    }

    pub(crate) fn take(&self) -> Option<Arc<str>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }
}

/// Names the route for labels and span names: put it right after the route's path filter, so
/// the name is set only once the path matched.
///
/// ```
/// use warp::Filter;
///
/// let hello = warp::path!("hello" / String)
///     .and(octopus_warp::route("/hello/{name}"))
///     .and(warp::get())
///     .map(|name: String| format!("hello, {name}"));
/// # let _ = hello;
/// ```
///
/// A request that no named route matched — an unnamed route, or a 404 — shares the unmatched
/// label, never its raw path. When an `or` alternative matched its path and then rejected
/// (a 405, say) and no later alternative names itself, the request keeps that route's name.
pub fn route(
    name: impl Into<Arc<str>>,
) -> impl Filter<Extract = (), Error = std::convert::Infallible> + Clone {
    let name: Arc<str> = name.into();
    warp::ext::optional::<RouteSlot>()
        .map(move |slot: Option<RouteSlot>| {
            if let Some(slot) = slot {
                slot.set(name.clone());
            }
        })
        .untuple_one()
}
