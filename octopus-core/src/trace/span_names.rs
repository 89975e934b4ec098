//! Span names and `http.route` values as `&'static str`, made once per route template.
//!
//! The SDK takes a span's name as `Cow<'static, str>` and attribute values as
//! `StringValue`; formatting `{METHOD} {route}` and copying the route for every request costs
//! two allocations on the request path and two frees on the export thread. Route templates
//! are a small, fixed set (the application's routes, never client input), so each is
//! interned once for the whole process — leaked on purpose, like a `tracing` callsite — with a
//! hard cap on how many ([`MAX_ROUTE_TEMPLATES`]), after which new templates share the names of
//! [`OVERFLOW_ROUTE`], as they share its metric series: a misuse such as raw paths passed as
//! templates costs neither memory nor span-name cardinality.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;

use crate::HttpMethod;
use crate::request::{MAX_ROUTE_TEMPLATES, OVERFLOW_ROUTE, report_route_overflow};

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

thread_local! {
    /// The names this thread looked up last. A worker thread serves the same few templates
    /// over and over; comparing with the last one costs a string comparison, where the shared
    /// table's lookup (an `ArcSwap` load, which writes this thread's debt slot, and a hash)
    /// cost about 400 instructions per request (callgrind, `core/tracing_unsampled`).
    static LAST: Cell<Option<RouteNames>> = const { Cell::new(None) };
}

/// The interned names of `route`, or those of [`OVERFLOW_ROUTE`] once the cap is reached.
pub(crate) fn route_names(route: &str) -> RouteNames {
    if let Some(last) = LAST.get()
        && last.route == route
    {
        return last;
    }
    let names = shared_route_names(route);
    LAST.set(Some(names));
    names
}

/// [`route_names`] from the process's table.
fn shared_route_names(route: &str) -> RouteNames {
    let interner = INTERNER.get_or_init(|| Interner {
        table: ArcSwap::default(),
        insert_lock: Mutex::new(()),
    });
    let table = interner.table.load();
    if let Some(names) = table.get(route) {
        return *names;
    }
    // Past the cap, no lock: every request with an unknown template would take it otherwise.
    if table.len() >= MAX_ROUTE_TEMPLATES {
        return overflow_names();
    }
    drop(table);
    // First sight of a template: copy-on-write, so readers never take the lock.
    let _guard = interner
        .insert_lock
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let current = interner.table.load_full();
    if let Some(names) = current.get(route) {
        return *names;
    }
    if current.len() >= MAX_ROUTE_TEMPLATES {
        return overflow_names();
    }
    let entry = leaked_names(Box::leak(Box::from(route)));
    let mut next: Table = (*current).clone();
    next.insert(Box::from(route), entry);
    interner.table.store(Arc::new(next));
    entry
}

/// The names shared by templates past the cap (outside the table, so never refused).
fn overflow_names() -> RouteNames {
    static OVERFLOW: OnceLock<RouteNames> = OnceLock::new();
    report_route_overflow();
    *OVERFLOW.get_or_init(|| leaked_names(OVERFLOW_ROUTE))
}

fn leaked_names(route: &'static str) -> RouteNames {
    RouteNames {
        route,
        names: HttpMethod::ALL.map(|method| -> &'static str {
            Box::leak(format!("{} {route}", span_method(method)).into_boxed_str())
        }),
    }
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
        let first = route_names("/interned/{id}");
        let second = route_names("/interned/{id}");
        assert_eq!(first.span_name(HttpMethod::Get), "GET /interned/{id}");
        assert_eq!(first.span_name(HttpMethod::Other), "HTTP /interned/{id}");
        assert_eq!(first.route, "/interned/{id}");
        assert!(std::ptr::eq(
            first.span_name(HttpMethod::Post),
            second.span_name(HttpMethod::Post)
        ));
    }
}
