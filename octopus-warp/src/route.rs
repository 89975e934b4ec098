//! Named routes: warp has no route templates, so a route says its own name.
//!
//! How the name reaches the request's observation, at no cost per request beyond copying a
//! pointer: the name is interned once, when the filter is built (a `&'static str`), and the
//! filter writes it into a slot of the thread it runs on. warp runs filters synchronously
//! inside the poll of the filter's future, and [`ResponseFuture`](crate::ResponseFuture) is
//! what polls that future: around each poll it makes its request's route current in the slot
//! ([`scoped`]) and takes it back afterwards, so the slot holds the route of the request being
//! polled, whatever other requests the thread polls in between.
//!
//! This replaced a per-request slot in the request's extensions (an
//! `Arc<Mutex<Option<Arc<str>>>>`): four heap allocations per request (the slot's `Arc`, the
//! extensions map, the boxed extension, a rehash) and a clone of the name's `Arc<str>` — an
//! atomic increment on a reference count that every worker thread writes, a cache line moving
//! between cores on the request path. Callgrind, `warp/octopus_metrics`: 12.0 `malloc` calls
//! and 8,590 instructions per request before, 8.0 and 7,530 after — the 8.0 of
//! `warp/octopus_noop`, which observes nothing.

use std::cell::Cell;

use warp::Filter;

thread_local! {
    /// The route named by the request whose filter this thread is polling (inside
    /// [`scoped`]); outside any, what the last unobserved `route` filter named, read by nobody.
    static CURRENT: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Runs `f` — a poll of a request's future, or the call that makes it — with `*route`, the
/// request's route so far, current on this thread; then moves the route current at the end
/// back into `*route` and restores the value current before. So a request's route survives
/// between polls however many other requests the thread polls in between, and an observed
/// service polled inside another one's poll leaves the outer request's route as it found it.
/// A drop guard does the moving back, so a panic unwinding out of `f` leaves the route where
/// the code that ends the request (the future's drop) finds it.
pub(crate) fn scoped<R>(route: &mut Option<&'static str>, f: impl FnOnce() -> R) -> R {
    struct Restore<'r> {
        route: &'r mut Option<&'static str>,
        outer: Option<&'static str>,
    }

    impl Drop for Restore<'_> {
        #[inline]
        fn drop(&mut self) {
            *self.route = CURRENT.replace(self.outer);
        }
    }

    let outer = CURRENT.replace(*route);
    let _restore = Restore { route, outer };
    f()
}

/// The route current on this thread: inside [`scoped`], that of the request being polled, as
/// the last `route` filter to run named it.
#[inline]
pub(crate) fn current() -> Option<&'static str> {
    CURRENT.get()
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
///
/// The name is interned when the filter is built, once for the process (as span names are;
/// past [`MAX_ROUTE_TEMPLATES`](octopus_core::MAX_ROUTE_TEMPLATES) distinct names, routes are
/// named [`OVERFLOW_ROUTE`](octopus_core::OVERFLOW_ROUTE)): build route filters at start-up,
/// from your routes' templates, never from request data. Naming a request then copies a
/// pointer into a slot of the thread, and costs nothing when the observer does not read
/// routes. Outside [`OctopusService`](crate::OctopusService) the filter names nothing.
pub fn route(
    name: impl AsRef<str>,
) -> impl Filter<Extract = (), Error = std::convert::Infallible> + Clone {
    let name = octopus_core::intern_route(name.as_ref());
    // `map` runs its callback in the poll of its future, never when warp makes the future:
    // inside the scope of the request being polled.
    warp::any()
        .map(move || CURRENT.set(Some(name)))
        .untuple_one()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_survive_a_panic() {
        let mut outer = Some("/outer");
        let mut inner = None;
        scoped(&mut outer, || {
            assert_eq!(current(), Some("/outer"));
            scoped(&mut inner, || {
                assert_eq!(current(), None);
                CURRENT.set(Some("/inner"));
            });
            assert_eq!(current(), Some("/outer"));
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                scoped(&mut inner, || {
                    assert_eq!(current(), Some("/inner"));
                    CURRENT.set(Some("/inner/2"));
                    panic!("on purpose");
                })
            }));
            assert!(panicked.is_err());
            assert_eq!(current(), Some("/outer"));
            CURRENT.set(Some("/outer/2"));
        });
        assert_eq!((outer, inner), (Some("/outer/2"), Some("/inner/2")));
    }
}
