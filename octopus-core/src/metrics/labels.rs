//! Labels of the user's own: each label's values numbered in a bounded table, and every
//! (route, label values) combination seen numbered in the series table, whose numbers index
//! the cells as route numbers do without labels.
//!
//! A label's value table is a copy-on-write map, like the route table: replaced whole under a
//! lock when a value is first admitted (at most its cap of times), read without a lock. Each
//! thread keeps the last map it read (an `Arc` it holds) and goes back to the shared one only
//! when a value is missing from it and the table may still grow: once a table is full, a
//! missing value is `_other` without looking anywhere else. So a flood of new values past the
//! cap writes nothing shared (its overflow count goes to the thread's own cells).
//!
//! The series table may hold tens of thousands of combinations, too many to copy on each
//! insert: each thread keeps its own map of the combinations it has seen, and takes the shared
//! table's lock only the first time it sees one (or once, to copy it whole, when it is full).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use arc_swap::ArcSwap;

use super::routes::{RouteId, RouteTable};
use crate::config::{LabelConfig, MAX_LABEL_VALUE_LEN, MAX_LABELS, OTHER_LABEL_VALUE};
use crate::{HeaderSource, RequestView};

/// A function that gives a label's value from the request (see
/// [`OctopusBuilder::label`](crate::OctopusBuilder::label)).
pub(crate) type LabelFn =
    dyn for<'r> Fn(&RequestView<'r, dyn HeaderSource + 'r>) -> Option<&'r str> + Send + Sync;

/// One request's label values, by their numbers in their tables, in the labels' order (unused
/// slots 0).
pub(crate) type LabelIds = [u16; MAX_LABELS];

/// The number of [`OTHER_LABEL_VALUE`] in every label's table.
pub(crate) const OTHER: u16 = 0;

/// The number of a cells block: a route number without labels, a series table number with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SeriesId(u32);

impl SeriesId {
    /// The combinations past the series table's capacity: route `_overflow`, every label
    /// `_other`.
    pub(crate) const OVERFLOW: SeriesId = SeriesId(0);

    #[inline]
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }

    pub(crate) fn from_index(index: usize) -> Self {
        SeriesId(u32::try_from(index).expect("series ids fit in u32"))
    }

    /// Without labels, the cells of a route are numbered as the route.
    #[inline]
    pub(crate) fn of_route(route: RouteId) -> Self {
        SeriesId(route.index() as u32)
    }

    /// The route of a series number made by [`of_route`](Self::of_route).
    pub(crate) fn as_route(self) -> RouteId {
        RouteId::from_index(self.index())
    }
}

/// Where a label's value comes from.
pub(crate) enum Source {
    /// The first value of this request header (lower-case).
    Header(Box<str>),
    /// A function of the request.
    Function(Arc<LabelFn>),
}

type ValueIds = HashMap<Box<str>, u16, foldhash::fast::RandomState>;

/// One label: its values, numbered.
pub(crate) struct LabelTable {
    pub(crate) name: Box<str>,
    pub(crate) source: Source,
    /// The number of the default value (of requests without one).
    default: u16,
    /// The table's size at which no more values are admitted.
    limit: usize,
    /// The cap, for the message; `None` with declared values (no message: other values are
    /// expected, not an overflow of the table).
    cap: Option<usize>,
    ids: ArcSwap<ValueIds>,
    insert_lock: Mutex<()>,
    /// Number → value, for scrapes.
    values: RwLock<Vec<Box<str>>>,
    reported: AtomicBool,
}

impl LabelTable {
    fn new(config: &LabelConfig, source: Source) -> Self {
        let mut ids = ValueIds::default();
        let mut values: Vec<Box<str>> = Vec::new();
        let mut number = |value: &str| -> u16 {
            if let Some(&id) = ids.get(value) {
                return id;
            }
            let id = u16::try_from(values.len()).expect("label tables are below u16::MAX");
            ids.insert(value.into(), id);
            values.push(value.into());
            id
        };
        let other = number(OTHER_LABEL_VALUE);
        debug_assert_eq!(other, OTHER);
        let default = number(&config.default);
        for value in &config.values {
            number(value);
        }
        let seeded = values.len();
        let cap = config.values.is_empty().then_some(config.max_values);
        LabelTable {
            name: config.name.as_str().into(),
            source,
            default,
            limit: seeded + cap.unwrap_or(0),
            cap,
            ids: ArcSwap::from_pointee(ids),
            insert_lock: Mutex::new(()),
            values: RwLock::new(values),
            reported: AtomicBool::new(false),
        }
    }

    /// The number of `value`, admitting it if there is room; and the table as it is now.
    #[cold]
    fn learn(&self, value: &str) -> (u16, Arc<ValueIds>) {
        let current = self.ids.load_full();
        if let Some(&id) = current.get(value) {
            return (id, current);
        }
        if current.len() >= self.limit {
            self.report();
            return (OTHER, current);
        }
        // A poisoned lock only means another thread panicked while inserting; the map it
        // guards is replaced atomically, so it is still consistent.
        let _guard = self
            .insert_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.ids.load_full();
        if let Some(&id) = current.get(value) {
            return (id, current);
        }
        if current.len() >= self.limit {
            self.report();
            return (OTHER, current);
        }
        let mut values = self
            .values
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = u16::try_from(values.len()).expect("label tables are below u16::MAX");
        values.push(value.into());
        let mut next = ValueIds::clone(&current);
        next.insert(value.into(), id);
        let next = Arc::new(next);
        self.ids.store(next.clone());
        (id, next)
    }

    /// Says once, on stderr, that the cap was reached: the label and the cap, never a value.
    #[inline]
    fn report(&self) {
        if self.cap.is_some() && !self.reported.load(Ordering::Relaxed) {
            self.print_overflow();
        }
    }

    #[cold]
    fn print_overflow(&self) {
        if let Some(cap) = self.cap
            && !self.reported.swap(true, Ordering::Relaxed)
        {
            eprintln!(
                "octopus: label \"{}\" reached its cap of {cap} distinct values; requests with \
                 further values are counted as \"{OTHER_LABEL_VALUE}\" (see \
                 octopus_label_overflow_total)",
                self.name
            );
        }
    }

    /// Every value, by number.
    pub(crate) fn values(&self) -> Vec<Box<str>> {
        self.values
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

pub(crate) type SeriesKey = (RouteId, LabelIds);
type SeriesIds = HashMap<SeriesKey, SeriesId, foldhash::fast::RandomState>;

/// Every (route, label values) combination seen, numbered. Each thread keeps its own map of
/// the combinations it has seen ([`LocalSeries`]) and comes here, under the lock, only the
/// first time it sees one: a bounded number of times. (Unlike the value tables, this one is not
/// copied on write: it may hold tens of thousands of combinations.)
pub(crate) struct SeriesTable {
    inner: Mutex<SeriesInner>,
    reported: AtomicBool,
}

struct SeriesInner {
    ids: SeriesIds,
    /// Number → combination, for scrapes.
    keys: Vec<SeriesKey>,
}

impl SeriesTable {
    /// The most combinations numbered; later ones share [`SeriesId::OVERFLOW`].
    pub(crate) const CAPACITY: usize = 1 << 16;

    fn new() -> Self {
        const _: () = assert!(SeriesTable::CAPACITY >= RouteTable::CAPACITY);
        let overflow = (RouteId::OVERFLOW, [OTHER; MAX_LABELS]);
        let mut ids = SeriesIds::default();
        ids.insert(overflow, SeriesId::OVERFLOW);
        SeriesTable {
            inner: Mutex::new(SeriesInner {
                ids,
                keys: vec![overflow],
            }),
            reported: AtomicBool::new(false),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, SeriesInner> {
        // A poisoned lock only means another thread panicked while inserting; a key and its
        // number are pushed together, after every fallible step.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The number of `key`, admitting it if there is room, and noting it in `local`. When the
    /// table is full, `local` gets a copy of it all, so the thread never comes back.
    #[cold]
    fn learn(&self, key: SeriesKey, local: &mut LocalSeries) -> SeriesId {
        let mut inner = self.inner();
        if let Some(&id) = inner.ids.get(&key) {
            local.ids.insert(key, id);
            return id;
        }
        if inner.keys.len() >= Self::CAPACITY {
            local.ids = inner.ids.clone();
            local.full = true;
            drop(inner);
            self.report();
            return SeriesId::OVERFLOW;
        }
        let id = SeriesId::from_index(inner.keys.len());
        inner.keys.push(key);
        inner.ids.insert(key, id);
        local.ids.insert(key, id);
        id
    }

    #[cold]
    fn report(&self) {
        if !self.reported.swap(true, Ordering::Relaxed) {
            eprintln!(
                "octopus: more than {} combinations of route and label values; further ones \
                 are counted as route \"{}\" with every label \"{OTHER_LABEL_VALUE}\"",
                Self::CAPACITY,
                crate::OVERFLOW_ROUTE
            );
        }
    }

    /// Every combination, by number.
    pub(crate) fn keys(&self) -> Vec<SeriesKey> {
        self.inner().keys.clone()
    }
}

/// An observer's labels of the user's own.
pub(crate) struct UserLabels {
    pub(crate) tables: Box<[LabelTable]>,
    pub(crate) series: SeriesTable,
    /// Whether any label's value comes from a function (which needs the request's view with
    /// its headers type erased).
    pub(crate) functions: bool,
}

impl UserLabels {
    /// The labels of `config` (from headers) then `functions`; `None` without any.
    pub(crate) fn new(
        config: &[LabelConfig],
        functions: &[(LabelConfig, Arc<LabelFn>)],
    ) -> Option<Self> {
        let mut tables = Vec::new();
        for label in config {
            let header = label.header.as_deref().unwrap_or_default();
            let header = Source::Header(header.to_ascii_lowercase().into());
            tables.push(LabelTable::new(label, header));
        }
        for (label, function) in functions {
            tables.push(LabelTable::new(label, Source::Function(function.clone())));
        }
        (!tables.is_empty()).then(|| UserLabels {
            functions: !functions.is_empty(),
            tables: tables.into_boxed_slice(),
            series: SeriesTable::new(),
        })
    }

    /// The request's raw values, label by label (`None`: the request has none).
    #[inline]
    pub(crate) fn extract<'r, H: HeaderSource + ?Sized>(
        &self,
        request: &RequestView<'r, H>,
        erased: Option<&RequestView<'r, dyn HeaderSource + 'r>>,
    ) -> [Option<&'r str>; MAX_LABELS] {
        let mut raw = [None; MAX_LABELS];
        for (slot, table) in raw.iter_mut().zip(&self.tables) {
            *slot = match &table.source {
                Source::Header(name) => request.headers().header(name),
                Source::Function(function) => erased.and_then(|view| function(view)),
            };
        }
        raw
    }

    /// A thread's own view of the tables, as they are now.
    pub(crate) fn local(&self) -> LocalLabels {
        LocalLabels {
            values: self
                .tables
                .iter()
                .map(|table| {
                    let ids = table.ids.load_full();
                    LocalValues {
                        full: ids.len() >= table.limit,
                        ids,
                    }
                })
                .collect(),
            series: LocalSeries {
                ids: SeriesIds::default(),
                full: false,
            },
        }
    }

    /// [`LocalLabels::resolve`] without a thread's view (a thread being torn down).
    pub(crate) fn resolve_shared(
        &self,
        route: RouteId,
        raw: &[Option<&str>; MAX_LABELS],
        mut overflowed: impl FnMut(usize),
    ) -> (SeriesId, LabelIds) {
        self.local().resolve(self, route, raw, &mut overflowed)
    }
}

/// A thread's copy of one label's table.
struct LocalValues {
    ids: Arc<ValueIds>,
    /// The table was full when copied: a value missing here is `_other`.
    full: bool,
}

/// The combinations a thread has seen, numbered as in the [`SeriesTable`].
struct LocalSeries {
    ids: SeriesIds,
    /// The table was full when last asked: a combination missing here is the overflow series.
    full: bool,
}

impl LocalSeries {
    #[inline]
    fn id(&mut self, table: &SeriesTable, key: SeriesKey) -> SeriesId {
        match self.ids.get(&key) {
            Some(&id) => id,
            None if self.full => SeriesId::OVERFLOW,
            None => table.learn(key, self),
        }
    }
}

/// A thread's copies of an observer's label and series tables.
pub(crate) struct LocalLabels {
    values: Box<[LocalValues]>,
    series: LocalSeries,
}

impl LocalLabels {
    /// The series of `route` with the raw label values `raw`, and the values' numbers;
    /// `overflowed(i)` for each label whose value was not admitted (counted as `_other`).
    #[inline]
    pub(crate) fn resolve(
        &mut self,
        labels: &UserLabels,
        route: RouteId,
        raw: &[Option<&str>; MAX_LABELS],
        overflowed: &mut impl FnMut(usize),
    ) -> (SeriesId, LabelIds) {
        let mut values = [OTHER; MAX_LABELS];
        for (i, (table, local)) in labels.tables.iter().zip(&mut self.values).enumerate() {
            values[i] = match raw[i] {
                None => table.default,
                // Not hashed: a header stuffed with junk costs a comparison.
                Some(value) if value.len() > MAX_LABEL_VALUE_LEN => {
                    overflowed(i);
                    OTHER
                }
                Some(value) => match local.ids.get(value) {
                    Some(&id) => id,
                    None if local.full => {
                        // Says so the first time (a shared flag, read until then, written once).
                        table.report();
                        overflowed(i);
                        OTHER
                    }
                    None => {
                        let (id, ids) = table.learn(value);
                        local.full = ids.len() >= table.limit;
                        local.ids = ids;
                        if id == OTHER {
                            overflowed(i);
                        }
                        id
                    }
                },
            };
        }
        let series = self.series.id(&labels.series, (route, values));
        (series, values)
    }

    /// The series of `key` (a route named late), from this thread's copy.
    #[inline]
    pub(crate) fn series(&mut self, labels: &UserLabels, key: SeriesKey) -> SeriesId {
        self.series.id(&labels.series, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> SeriesKey {
        let values = [u16::try_from(i / 4_000).unwrap(), 0, 0, 0];
        // Routes from 2: route 1 with every value 0 is the overflow series itself.
        (RouteId::from_index(2 + i % 4_000), values)
    }

    /// Past the capacity every new combination is the overflow series; a thread that learns
    /// the table is full copies it once, and still finds the combinations numbered before.
    #[test]
    fn the_series_table_is_bounded() {
        let table = SeriesTable::new();
        let fresh = || LocalSeries {
            ids: SeriesIds::default(),
            full: false,
        };
        let mut first = fresh();
        // Number 0 is the overflow series; 1.. the combinations in the order seen.
        for i in 0..SeriesTable::CAPACITY - 1 {
            assert_eq!(first.id(&table, key(i)), SeriesId::from_index(i + 1));
        }
        assert!(!first.full);
        assert_eq!(first.id(&table, key(70_000)), SeriesId::OVERFLOW);
        assert!(first.full && table.reported.load(Ordering::Relaxed));
        assert_eq!(first.id(&table, key(70_001)), SeriesId::OVERFLOW);
        assert_eq!(first.id(&table, key(5)), SeriesId::from_index(6));
        assert_eq!(table.keys().len(), SeriesTable::CAPACITY);

        let mut second = fresh();
        assert_eq!(second.id(&table, key(7)), SeriesId::from_index(8));
        assert!(!second.full);
        assert_eq!(second.id(&table, key(80_000)), SeriesId::OVERFLOW);
        assert!(second.full);
        assert_eq!(second.id(&table, key(9)), SeriesId::from_index(10));
    }

    /// `_other` is 0, the default value next (shared with a declared value equal to it), the
    /// cap counts neither.
    #[test]
    fn a_label_table_admits_up_to_its_cap() {
        let labels = UserLabels::new(
            &[LabelConfig::header("tenant", "X-Tenant").max_values(2)],
            &[],
        )
        .unwrap();
        assert!(matches!(&labels.tables[0].source, Source::Header(name) if &**name == "x-tenant"));
        let mut local = labels.local();
        let mut overflowed = Vec::new();
        let mut resolve = |value: Option<&str>| {
            let raw = [value, None, None, None];
            let (_, ids) = local.resolve(&labels, RouteId::UNMATCHED, &raw, &mut |i| {
                overflowed.push(i)
            });
            ids[0]
        };
        assert_eq!(resolve(None), 1);
        assert_eq!(resolve(Some("")), 1);
        assert_eq!(resolve(Some("a")), 2);
        assert_eq!(resolve(Some("b")), 3);
        assert_eq!(resolve(Some("c")), OTHER);
        assert_eq!(resolve(Some("a")), 2);
        assert_eq!(resolve(Some("_other")), OTHER);
        assert_eq!(resolve(Some(&"x".repeat(MAX_LABEL_VALUE_LEN + 1))), OTHER);
        assert_eq!(overflowed, [0, 0]);
        assert_eq!(
            &*labels.tables[0].values(),
            ["_other", "", "a", "b"].map(Box::from)
        );
    }
}
