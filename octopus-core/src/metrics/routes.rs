//! The route templates an observer has seen, numbered: cells are indexed by the number, the
//! scrape labels series with the template.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use arc_swap::ArcSwap;

use crate::request::report_route_overflow;
use crate::{MAX_ROUTE_TEMPLATES, OVERFLOW_ROUTE};

/// A route template's number in its [`RouteTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RouteId(u16);

impl RouteId {
    /// Requests that matched no route.
    pub(crate) const UNMATCHED: RouteId = RouteId(0);
    /// Templates past [`MAX_ROUTE_TEMPLATES`].
    pub(crate) const OVERFLOW: RouteId = RouteId(1);

    #[inline]
    pub(crate) fn index(self) -> usize {
        usize::from(self.0)
    }

    pub(crate) fn from_index(index: usize) -> Self {
        RouteId(u16::try_from(index).expect("route ids are below RouteTable::CAPACITY"))
    }
}

type Ids = HashMap<Box<str>, RouteId, foldhash::fast::RandomState>;

/// Template → number, read without a lock when a thread first meets a template (each thread
/// keeps its own copy, see `cells::LocalBlock`) and for routes named late (`set_route`);
/// replaced whole under a lock when a new template is seen; number → label, for scrapes.
pub(crate) struct RouteTable {
    ids: ArcSwap<Ids>,
    insert_lock: Mutex<()>,
    labels: RwLock<Vec<Box<str>>>,
}

impl RouteTable {
    /// The unmatched and overflow series, then [`MAX_ROUTE_TEMPLATES`] templates.
    pub(crate) const CAPACITY: usize = MAX_ROUTE_TEMPLATES + 2;

    pub(crate) fn new(unmatched_label: &str) -> Self {
        const _: () = assert!(RouteTable::CAPACITY <= u16::MAX as usize);
        RouteTable {
            ids: ArcSwap::default(),
            insert_lock: Mutex::new(()),
            labels: RwLock::new(vec![unmatched_label.into(), OVERFLOW_ROUTE.into()]),
        }
    }

    /// The number of `route`: [`RouteId::UNMATCHED`] without one, [`RouteId::OVERFLOW`] past
    /// the cap.
    #[inline]
    pub(crate) fn id(&self, route: Option<&str>) -> RouteId {
        let Some(template) = route else {
            return RouteId::UNMATCHED;
        };
        let ids = self.ids.load();
        if let Some(&id) = ids.get(template) {
            return id;
        }
        // Past the cap, no lock: every request with an unknown template would take it otherwise.
        if ids.len() >= MAX_ROUTE_TEMPLATES {
            return overflow();
        }
        drop(ids);
        self.insert(template)
    }

    #[cold]
    fn insert(&self, template: &str) -> RouteId {
        // A poisoned lock only means another thread panicked while inserting; the map it
        // guards is replaced atomically, so it is still consistent.
        let _guard = self
            .insert_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.ids.load_full();
        if let Some(&id) = current.get(template) {
            return id;
        }
        // `intern_route` (warp's named routes) hands out the overflow route itself once the
        // process's templates passed the cap; it has its series already, and a second one
        // with the same label would break the exposition.
        if current.len() >= MAX_ROUTE_TEMPLATES || template == OVERFLOW_ROUTE {
            return overflow();
        }
        let mut labels = self
            .labels
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = RouteId::from_index(labels.len());
        labels.push(template.into());
        let mut next = Ids::clone(&current);
        next.insert(template.into(), id);
        self.ids.store(next.into());
        id
    }

    /// The label of every route number, indexed by [`RouteId::index`].
    pub(crate) fn labels(&self) -> std::sync::RwLockReadGuard<'_, Vec<Box<str>>> {
        self.labels
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cold]
fn overflow() -> RouteId {
    report_route_overflow();
    RouteId::OVERFLOW
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overflow_route_named_as_a_template_is_the_overflow_series() {
        let table = RouteTable::new("");
        assert_eq!(table.id(Some("/a")), RouteId::from_index(2));
        assert_eq!(table.id(Some(OVERFLOW_ROUTE)), RouteId::OVERFLOW);
        assert_eq!(table.labels().len(), 3);
    }
}
