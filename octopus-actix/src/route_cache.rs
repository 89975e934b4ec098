//! [`RouteCache`]: the route template of a recently seen path, remembered by a worker.

use std::cell::RefCell;
use std::hash::BuildHasher;

/// How many paths a worker remembers. A direct-mapped table: a path has one slot, chosen by
/// its hash, and takes it over from whichever path had it.
const SLOTS: usize = 512;

/// Longer paths are matched every time, never kept: the table holds at most
/// `SLOTS × (MAX_PATH_LEN + a template)` bytes of text per worker (≈ 100 KiB).
const MAX_PATH_LEN: usize = 128;

/// The route template (`match_pattern()`) of the paths a worker saw last.
///
/// Why: App-level middleware runs before actix routes the request, so the template comes from
/// `ServiceRequest::match_pattern()`, which matches the path against the app's resource map:
/// 7 500 instructions (callgrind) for `GET /users/42` to `/users/{id}` in
/// `benches/benches/actix.rs`, where the whole uninstrumented request costs 17 700 — actix-router
/// runs a regex with captures for a dynamic segment. After routing it would be nearly free, but
/// a panic, an `Err` or a cancelled request never hands the request back, and the in-flight
/// gauge and the span name need the route when the request starts. The answer depends only on
/// the path and on the app's resource map, which never changes for the service of a worker, so
/// the worker remembers it: a repeated path costs a hash and a comparison of the path (the
/// metrics overhead of that request went from 9 370 instructions to 1 840). A path seen for the
/// first time (an id in the path) costs the match plus copying the path into its slot.
///
/// Not shared: actix-web builds the middleware's service once per worker thread, so the table
/// is only ever touched by one thread (a `RefCell`, no lock, no atomic).
pub(crate) struct RouteCache {
    slots: RefCell<Box<[Option<Slot>]>>,
    hasher: foldhash::fast::RandomState,
}

impl std::fmt::Debug for RouteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let remembered = self
            .slots
            .try_borrow()
            .map(|slots| slots.iter().flatten().count());
        f.debug_struct("RouteCache")
            .field("remembered_paths", &remembered.ok())
            .finish()
    }
}

struct Slot {
    path: String,
    route: Option<String>,
}

impl RouteCache {
    /// An empty table (its slots are allocated once, here).
    pub(crate) fn new() -> Self {
        RouteCache {
            slots: RefCell::new((0..SLOTS).map(|_| None).collect()),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Calls `use_route` with `path`'s route template: the remembered one, or
    /// `match_pattern()`'s, which is then remembered.
    pub(crate) fn with_route<R>(
        &self,
        path: &str,
        match_pattern: impl FnOnce() -> Option<String>,
        use_route: impl FnOnce(Option<&str>) -> R,
    ) -> R {
        if path.len() > MAX_PATH_LEN {
            return use_route(match_pattern().as_deref());
        }
        let index = self.hasher.hash_one(path) as usize % SLOTS;
        // Never borrowed elsewhere: `use_route` gets a `&str`, not the table.
        let mut slots = self.slots.borrow_mut();
        let slot = &mut slots[index];
        match slot {
            Some(slot) if slot.path == path => {}
            Some(slot) => {
                // Its buffer is reused: no allocation for a path no longer than the last one.
                slot.path.clear();
                slot.path.push_str(path);
                slot.route = match_pattern();
            }
            None => {
                *slot = Some(Slot {
                    path: path.to_owned(),
                    route: match_pattern(),
                });
            }
        }
        use_route(slot.as_ref().and_then(|slot| slot.route.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// Looks `path` up, counting the matches the table had to make.
    fn route_of(cache: &RouteCache, path: &str, matches: &Cell<u32>) -> Option<String> {
        cache.with_route(
            path,
            || {
                matches.set(matches.get() + 1);
                path.strip_prefix("/users/")
                    .map(|_| "/users/{id}".to_owned())
            },
            |route| route.map(str::to_owned),
        )
    }

    #[test]
    fn a_repeated_path_is_matched_once() {
        let cache = RouteCache::new();
        let matches = Cell::new(0);
        for _ in 0..3 {
            assert_eq!(
                route_of(&cache, "/users/42", &matches).as_deref(),
                Some("/users/{id}")
            );
            assert_eq!(route_of(&cache, "/nowhere", &matches), None);
        }
        // A path without a route is remembered too.
        assert_eq!(matches.get(), 2);
    }

    #[test]
    fn paths_sharing_a_slot_each_get_their_own_route() {
        let cache = RouteCache::new();
        let matches = Cell::new(0);
        // More paths than slots: many share one, and each must still get its own answer.
        for round in 0..2 {
            for id in 0..(2 * SLOTS) {
                let path = if id % 2 == 0 {
                    format!("/users/{id}")
                } else {
                    format!("/other/{id}")
                };
                let expected = (id % 2 == 0).then_some("/users/{id}");
                assert_eq!(
                    route_of(&cache, &path, &matches).as_deref(),
                    expected,
                    "{path} in round {round}"
                );
            }
        }
        // The second round found some paths still in their slots, never all of them.
        let matched = matches.get() as usize;
        assert!(matched > 2 * SLOTS && matched < 4 * SLOTS, "{matched}");
    }

    #[test]
    fn a_long_path_is_matched_every_time() {
        let cache = RouteCache::new();
        let matches = Cell::new(0);
        let path = format!("/users/{}", "9".repeat(MAX_PATH_LEN));
        for _ in 0..3 {
            assert_eq!(
                route_of(&cache, &path, &matches).as_deref(),
                Some("/users/{id}")
            );
        }
        assert_eq!(matches.get(), 3);
        assert!(cache.slots.borrow().iter().all(Option::is_none));
    }
}
