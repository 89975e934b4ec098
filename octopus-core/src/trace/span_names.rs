//! Span names and `http.route` values as `&'static str`, made once per route template.
//!
//! The SDK takes a span's name as `Cow<'static, str>` and attribute values as
//! `StringValue`; formatting `{METHOD} {route}` and copying the route for every request costs
//! two allocations on the request path and two frees on the export thread. Route templates
//! are a small, fixed set (the application's routes, never client input), so each is
//! interned once for the whole process — leaked on purpose, like a `tracing` callsite — with a
//! hard cap on how many, after which names are formatted per request as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;

use crate::HttpMethod;

/// More distinct route templates than any application has; beyond it nothing more is interned
/// (a misuse such as raw paths passed as templates then costs allocations, not memory).
const MAX_INTERNED_ROUTES: usize = 4_096;

/// A route template and the span name for each method.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RouteNames {
    /// The template, for `http.route`.
    pub(crate) route: &'static str,
    names: [&'static str; HttpMethod::ALL.len()],
}

impl RouteNames {
    /// `{METHOD} {route}`, `HTTP {route}` for methods outside the known set.
    pub(crate) fn span_name(&self, method: HttpMethod) -> &'static str {
        self.names[method.index()]
    }
}

type Table = HashMap<Box<str>, RouteNames, foldhash::fast::RandomState>;

struct Interner {
    table: ArcSwap<Table>,
    insert_lock: Mutex<()>,
}

static INTERNER: OnceLock<Interner> = OnceLock::new();

/// The interned names of `route`, or `None` once the cap is reached.
pub(crate) fn route_names(route: &str) -> Option<RouteNames> {
    let interner = INTERNER.get_or_init(|| Interner {
        table: ArcSwap::default(),
        insert_lock: Mutex::new(()),
    });
    if let Some(names) = interner.table.load().get(route) {
        return Some(*names);
    }
    // First sight of a template: copy-on-write, so readers never take the lock.
    let _guard = interner
        .insert_lock
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let current = interner.table.load_full();
    if let Some(names) = current.get(route) {
        return Some(*names);
    }
    if current.len() >= MAX_INTERNED_ROUTES {
        return None;
    }
    let interned: &'static str = Box::leak(Box::from(route));
    let names = HttpMethod::ALL.map(|method| -> &'static str {
        Box::leak(format!("{} {interned}", span_method(method)).into_boxed_str())
    });
    let entry = RouteNames {
        route: interned,
        names,
    };
    let mut next: Table = (*current).clone();
    next.insert(Box::from(route), entry);
    interner.table.store(Arc::new(next));
    Some(entry)
}

/// The method as span names spell it: `HTTP` stands for methods outside the known set.
pub(crate) fn span_method(method: HttpMethod) -> &'static str {
    match method {
        HttpMethod::Other => "HTTP",
        known => known.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_once_per_template() {
        let first = route_names("/interned/{id}").unwrap();
        let second = route_names("/interned/{id}").unwrap();
        assert_eq!(first.span_name(HttpMethod::Get), "GET /interned/{id}");
        assert_eq!(first.span_name(HttpMethod::Other), "HTTP /interned/{id}");
        assert_eq!(first.route, "/interned/{id}");
        assert!(std::ptr::eq(
            first.span_name(HttpMethod::Post),
            second.span_name(HttpMethod::Post)
        ));
    }
}
