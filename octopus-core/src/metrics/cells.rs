//! Per-thread metric cells: where the request path writes, and what a scrape sums.
//!
//! # Why cells of our own
//!
//! The `prometheus` crate's counters, gauges and histograms are atomics shared by every thread:
//! each request did about seven read-modify-writes on cache lines that every worker thread
//! also wrote (the in-flight gauge up and down, the counter, the histogram's count, hot shard,
//! bucket and sum), plus reference-count traffic on the shared series handles. On the 2-core
//! machine under `wrk` that cost 0.6 µs a request more than criterion's single-thread figure
//! (148 ns), because every one of those writes moved a cache line between the cores. Its
//! thread-local metrics (`prometheus::local`) batch per thread but flush on a timer or by hand,
//! so a scrape would not see every finished request; `prometheus-client` shares its atomics the
//! same way as `prometheus`, and neither carries exemplars into the text format 0.0.4 registry
//! users already have. So Octopus keeps one block of cells per thread and per observer:
//!
//! - a request starts in the [`ThreadCells`] of the thread it started on, found through a
//!   thread-local list (no lock, no shared write); the observation keeps that block (an `Arc`
//!   whose count only this thread touches, unless the request moves threads);
//! - each block has one writer, its thread: a cell is updated with a relaxed load and store,
//!   not a read-modify-write. Each read-modify-write is a `lock`-prefixed instruction that
//!   waits for the store buffer to drain (some 20 cycles on recent Intel cores by published
//!   instruction tables; not measured alone here), and a request made five (in flight up and
//!   down, the counter, the bucket, the sum): without them `core/metrics` measured 13–25 ns
//!   less on the 2-core Xeon (docs/benchmarks.md, 2026-12-01). A request that ends — or whose
//!   body ends — on another thread writes into that thread's own block
//!   ([`ThreadCells::write`]), so every count stays exact: no cell has two writers, and the
//!   scrape sums the blocks;
//! - a scrape sums every thread's block, so counts are exact at every scrape: a request that
//!   finished before the scrape started is in it. Blocks of threads that exited stay in the
//!   sum: their counts are never lost.
//!
//! Memory: blocks are made lazily, per thread that observed a request, per route template
//! seen by that thread, per method and status class it saw; about 2 KiB per template and
//! thread, plus 8 bytes per histogram bucket per status per thread. With labels of the user's
//! own, blocks are per combination of route and label values seen by the thread instead, and
//! the block index has room for `SeriesTable::CAPACITY` combinations (about 24 KiB per thread).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use crate::HttpMethod;

use super::exemplar::ExemplarSlot;
use super::labels::{LabelIds, LocalLabels, SeriesId, SeriesKey, SeriesTable, UserLabels};
use super::routes::{RouteId, RouteTable};

/// Route ids (series ids with labels of the user's own) are grouped by this many, so a
/// thread's block only grows with the templates (and label values) it actually serves.
const ROUTES_PER_CHUNK: usize = 64;

/// Status codes are three digits (RFC 9110 §15); slots cover 100..=999, grouped by their
/// first digit so only the classes a route actually returns are allocated.
const STATUS_CLASSES: usize = 9;
type StatusClass = [OnceLock<StatusCells>; 100];

/// [`ROUTES_PER_CHUNK`] routes' cells, each made on the thread's first request of that route.
type RouteChunk = Box<[OnceLock<Box<RouteCells>>]>;

/// What each status series records: fixed when the observer is made.
#[derive(Debug)]
pub(crate) struct Layout {
    /// `http_server_requests_total` is on.
    pub(crate) requests: bool,
    /// The latency histogram's upper bounds (ascending, without `+Inf`), when it is on.
    pub(crate) latency_bounds: Option<Box<[f64]>>,
    /// `http_server_active_requests` is on.
    pub(crate) active: bool,
    /// Sampled requests leave exemplars.
    pub(crate) exemplars: bool,
    /// The body size histograms' upper bounds, bytes (ascending, without `+Inf`), when
    /// `request_size` or `response_size` is on.
    pub(crate) body_size_bounds: Option<Box<[f64]>>,
    /// `http_server_request_body_size_bytes` is on.
    pub(crate) request_size: bool,
    /// `http_server_response_body_size_bytes` is on.
    pub(crate) response_size: bool,
}

/// A thread's mark (from 1): which thread may write a block. 0 while the thread's locals are
/// being torn down, which no block's owner is.
#[inline(always)]
fn thread_mark() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static MARK: Cell<u64> = const { Cell::new(0) };
    }
    MARK.try_with(|mark| match mark.get() {
        0 => {
            let next = NEXT.fetch_add(1, Ordering::Relaxed);
            mark.set(next);
            next
        }
        known => known,
    })
    .unwrap_or(NO_OWNER)
}

/// The owner of a block made while its thread was being torn down: no thread's mark, so every
/// write after its start goes to the writing thread's own block.
const NO_OWNER: u64 = 0;

/// Adds `by` to a cell of a block this thread owns: a load and a store, which cannot lose an
/// update because no other thread writes the cell (see the module's documentation).
#[inline(always)]
fn add(cell: &AtomicU64, by: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

/// [`add`] for the in-flight gauge, whose per-thread value may go below zero.
#[inline(always)]
fn add_signed(cell: &AtomicI64, by: i64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

/// One thread's cells for one observer.
pub(crate) struct ThreadCells {
    /// The observer's id (its registry's): finds this thread's block of it.
    observer: u64,
    /// The [`thread_mark`] of the only thread that writes these cells.
    owner: u64,
    /// Where a thread that does not own this block finds or registers its own.
    registry: Weak<CellsRegistry>,
    /// The observer's route templates, for a route named after the request started
    /// ([`set_route`](crate::Observation::set_route)).
    pub(crate) table: Arc<RouteTable>,
    pub(crate) layout: Arc<Layout>,
    /// The observer's labels of the user's own, if any: the cells are then numbered by series
    /// (route and label values) rather than by route.
    pub(crate) labels: Option<Arc<UserLabels>>,
    /// Per label of the user's own: the requests of this thread whose value was not admitted.
    pub(crate) label_overflow: Box<[AtomicU64]>,
    chunks: Box<[OnceLock<RouteChunk>]>,
}

/// One route template's cells, in one thread.
pub(crate) struct RouteCells {
    pub(crate) methods: [MethodCells; HttpMethod::ALL.len()],
}

/// One route and method's cells, in one thread.
#[derive(Default)]
pub(crate) struct MethodCells {
    /// Requests in flight started here minus those ended here: a thread's value may be
    /// negative, the sum over threads is exact.
    pub(crate) active: AtomicI64,
    /// A request with this route and method started here: its gauge series exists. (A
    /// route's cells hold every method; only those seen are series.)
    seen: AtomicBool,
    classes: [OnceLock<Box<StatusClass>>; STATUS_CLASSES],
    /// A status outside 100..=999, which no conforming server sends: one series, `_OTHER`.
    out_of_range: OnceLock<StatusCells>,
}

/// One route, method and status's counts, in one thread. Aligned to a cache line so two
/// threads' cells never share one.
#[repr(align(64))]
pub(crate) struct StatusCells {
    pub(crate) requests: AtomicU64,
    /// Per latency bucket, then `+Inf`: non-cumulative counts. Their sum is the histogram's
    /// count, so `_count` always equals the `+Inf` bucket, even mid-scrape.
    pub(crate) buckets: Box<[AtomicU64]>,
    /// The latencies' sum, in nanoseconds: integer adds are exact and need no CAS loop.
    pub(crate) sum_nanos: AtomicU64,
    /// When exemplars are on: the counter's exemplar, then one per bucket as `buckets`.
    pub(crate) exemplars: Option<Box<[ExemplarSlot]>>,
    /// The request body size histogram, when `request_size` is on.
    pub(crate) request_size: Option<SizeCells>,
    /// The response body size histogram, when `response_size` is on.
    pub(crate) response_size: Option<SizeCells>,
}

/// A body size histogram of one series, in one thread.
pub(crate) struct SizeCells {
    /// Per bucket of [`Layout::body_size_bounds`], then `+Inf`: non-cumulative counts.
    pub(crate) buckets: Box<[AtomicU64]>,
    /// The sizes' sum, bytes.
    pub(crate) sum: AtomicU64,
}

impl SizeCells {
    fn new(bounds: &[f64]) -> Self {
        SizeCells {
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// Counts one body of `bytes` bytes.
    #[inline]
    pub(crate) fn record(&self, bounds: &[f64], bytes: u64) {
        // Exact for every size below 2^53 bytes, which is every size.
        let size = bytes as f64;
        let bucket = bounds
            .iter()
            .position(|&bound| size <= bound)
            .unwrap_or(bounds.len());
        add(&self.buckets[bucket], 1);
        add(&self.sum, bytes);
    }
}

impl ThreadCells {
    fn new(
        observer: u64,
        owner: u64,
        registry: Weak<CellsRegistry>,
        table: Arc<RouteTable>,
        layout: Arc<Layout>,
        labels: Option<Arc<UserLabels>>,
    ) -> Self {
        let capacity = match labels {
            None => RouteTable::CAPACITY,
            Some(_) => SeriesTable::CAPACITY,
        };
        let chunks = capacity.div_ceil(ROUTES_PER_CHUNK);
        let label_count = labels.as_ref().map_or(0, |labels| labels.tables.len());
        ThreadCells {
            observer,
            owner,
            registry,
            table,
            layout,
            label_overflow: (0..label_count).map(|_| AtomicU64::new(0)).collect(),
            labels,
            chunks: (0..chunks).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Runs `write` on the block the current thread may write: this one when the thread owns
    /// it (a request ending where it started, nearly always), else the thread's own block of
    /// the same observer, made and registered on its first use. Nothing when the observer is
    /// gone: no scrape reads its cells again.
    #[inline]
    pub(crate) fn write(&self, write: impl FnOnce(&ThreadCells)) {
        let mark = thread_mark();
        if mark != NO_OWNER && mark == self.owner {
            write(self);
        } else {
            self.write_elsewhere(write);
        }
    }

    #[cold]
    #[inline(never)]
    fn write_elsewhere(&self, write: impl FnOnce(&ThreadCells)) {
        // This thread's block of the same observer, found by the observer's id: a request that
        // moved threads (tokio's work stealing) ends with a thread-local lookup, without
        // touching the registry's reference count, which every thread shares.
        let mut write = Some(write);
        let written = LOCAL_BLOCKS
            .try_with(|blocks| {
                let blocks = blocks.try_borrow().ok()?;
                let block = blocks
                    .iter()
                    .find(|block| block.observer == self.observer)?;
                let write = write.take()?;
                write(&block.cells);
                Some(())
            })
            .ok()
            .flatten();
        // The thread's first write for this observer (or its teardown): made and registered.
        if let (None, Some(write), Some(registry)) = (written, write, self.registry.upgrade()) {
            registry.write_local(write);
        }
    }

    /// The cells of `series` (a route's, without labels of the user's own) and `method`, made
    /// on first use.
    #[inline]
    pub(crate) fn method(&self, series: SeriesId, method: HttpMethod) -> &MethodCells {
        let index = series.index();
        let chunk = self.chunks[index / ROUTES_PER_CHUNK].get_or_init(|| {
            (0..ROUTES_PER_CHUNK)
                .map(|_| OnceLock::new())
                .collect::<Box<[_]>>()
        });
        let cells = chunk[index % ROUTES_PER_CHUNK].get_or_init(|| {
            Box::new(RouteCells {
                methods: Default::default(),
            })
        });
        &cells.methods[method.index()]
    }

    /// The series of `key`, for a route named late (on whatever thread the request is then):
    /// from the current thread's copy of the series table, as at the start.
    pub(crate) fn series_of(&self, labels: &UserLabels, key: SeriesKey) -> SeriesId {
        LOCAL_BLOCKS
            .try_with(|blocks| {
                let mut blocks = blocks.borrow_mut();
                let block = blocks
                    .iter_mut()
                    .find(|block| block.observer == self.observer)?;
                let local = block.labels.get_or_insert_with(|| labels.local());
                Some(local.series(labels, key))
            })
            .ok()
            .flatten()
            // A thread that started no request of this observer (or is being torn down).
            .unwrap_or_else(|| labels.local().series(labels, key))
    }

    /// Every series' cells made so far, with their ids.
    pub(crate) fn series(&self) -> impl Iterator<Item = (SeriesId, &RouteCells)> {
        self.chunks
            .iter()
            .enumerate()
            .filter_map(|(c, chunk)| Some((c, chunk.get()?)))
            .flat_map(|(c, chunk)| {
                chunk.iter().enumerate().filter_map(move |(r, cells)| {
                    Some((
                        SeriesId::from_index(c * ROUTES_PER_CHUNK + r),
                        &**cells.get()?,
                    ))
                })
            })
    }
}

impl MethodCells {
    /// A request with this route and method starts: counts it in flight.
    #[inline]
    pub(crate) fn start(&self) {
        self.see();
        add_signed(&self.active, 1);
    }

    /// A request with this route and method ends (or moves to another route): no longer in
    /// flight. Marks the series seen here too, so that a scrape sums this block's value when
    /// the request started in another thread's.
    #[inline]
    pub(crate) fn end(&self) {
        self.see();
        add_signed(&self.active, -1);
    }

    #[inline(always)]
    fn see(&self) {
        // Read first: after the first request the flag is only read, never written again.
        if !self.seen.load(Ordering::Relaxed) {
            self.seen.store(true, Ordering::Release);
        }
    }

    /// Whether a request with this route and method started here.
    pub(crate) fn seen(&self) -> bool {
        self.seen.load(Ordering::Acquire)
    }

    /// The cells of `status`, made on first use.
    #[inline]
    pub(crate) fn status(&self, status: u16, layout: &Layout) -> &StatusCells {
        if !(100..=999).contains(&status) {
            return self.out_of_range.get_or_init(|| StatusCells::new(layout));
        }
        let class = self.classes[usize::from(status / 100 - 1)]
            .get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())));
        class[usize::from(status % 100)].get_or_init(|| StatusCells::new(layout))
    }

    /// Every status's cells made so far: the code, or `None` for out of range.
    pub(crate) fn statuses(&self) -> impl Iterator<Item = (Option<u16>, &StatusCells)> {
        let in_range = self
            .classes
            .iter()
            .enumerate()
            .filter_map(|(c, class)| Some((c, class.get()?)))
            .flat_map(|(c, class)| {
                class.iter().enumerate().filter_map(move |(s, cells)| {
                    // c < 9 and s < 100: the code fits in u16.
                    let code = (c as u16 + 1) * 100 + s as u16;
                    Some((Some(code), cells.get()?))
                })
            });
        in_range.chain(self.out_of_range.get().map(|cells| (None, cells)))
    }
}

impl StatusCells {
    fn new(layout: &Layout) -> Self {
        let buckets = layout
            .latency_bounds
            .as_ref()
            .map_or(0, |bounds| bounds.len() + 1);
        StatusCells {
            requests: AtomicU64::new(0),
            buckets: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
            exemplars: layout
                .exemplars
                .then(|| (0..=buckets).map(|_| ExemplarSlot::default()).collect()),
            request_size: layout
                .body_size_bounds
                .as_deref()
                .filter(|_| layout.request_size)
                .map(SizeCells::new),
            response_size: layout
                .body_size_bounds
                .as_deref()
                .filter(|_| layout.response_size)
                .map(SizeCells::new),
        }
    }

    /// Counts one request that took `nanos` (`seconds` for the bucket bounds), and returns
    /// the index of the bucket it landed in (`None` without the histogram).
    #[inline]
    pub(crate) fn record(&self, layout: &Layout, seconds: f64, nanos: u64) -> Option<usize> {
        if layout.requests {
            add(&self.requests, 1);
        }
        let bounds = layout.latency_bounds.as_deref()?;
        // Prometheus buckets are `le`: a value equal to a bound belongs to it. Bounds are
        // few (the default is 11): a linear scan beats a binary search here.
        let bucket = bounds
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(bounds.len());
        add(&self.buckets[bucket], 1);
        add(&self.sum_nanos, nanos);
        Some(bucket)
    }
}

/// This thread's blocks, one per live observer it served. A handful at most in practice,
/// so a vector scanned by id beats any map.
struct LocalBlock {
    observer: u64,
    cells: Arc<ThreadCells>,
    /// To notice the observer is gone and drop the block from the list.
    alive: Weak<()>,
    /// The route templates this thread has seen, numbered as in the observer's table.
    routes: HashMap<Rc<str>, RouteId, foldhash::fast::RandomState>,
    /// The last route looked up here, compared before hashing.
    last_route: Option<(Rc<str>, RouteId)>,
    /// This thread's copies of the label and series tables, with labels of the user's own.
    labels: Option<LocalLabels>,
}

impl LocalBlock {
    /// The number of `route`, from this thread's copy of the route table.
    #[inline]
    fn route(&mut self, route: Option<&str>) -> RouteId {
        match route {
            None => RouteId::UNMATCHED,
            // Most requests repeat the route of the one before on this thread (one busy
            // endpoint, or a benchmark): comparing it first skips hashing.
            Some(template) => match &self.last_route {
                Some((last, id)) if **last == *template => *id,
                _ => match self.routes.get_key_value(template) {
                    Some((key, &id)) => {
                        self.last_route = Some((key.clone(), id));
                        id
                    }
                    None => self.learn(template),
                },
            },
        }
    }

    /// Numbers `template` from the observer's table, and remembers it unless it overflowed
    /// (raw paths past the cap must not grow this map either).
    #[cold]
    fn learn(&mut self, template: &str) -> RouteId {
        let id = self.cells.table.id(Some(template));
        if id != RouteId::OVERFLOW {
            let key: Rc<str> = template.into();
            self.routes.insert(key.clone(), id);
            self.last_route = Some((key, id));
        }
        id
    }
}

thread_local! {
    static LOCAL_BLOCKS: RefCell<Vec<LocalBlock>> = const { RefCell::new(Vec::new()) };
}

/// Where an observer's threads register their blocks, for scrapes to sum.
pub(crate) struct CellsRegistry {
    /// Process-unique id of the observer: the key of the thread-local lookup.
    id: u64,
    table: Arc<RouteTable>,
    layout: Arc<Layout>,
    labels: Option<Arc<UserLabels>>,
    threads: std::sync::Mutex<Vec<Arc<ThreadCells>>>,
    /// Only ever weakly referenced elsewhere: it dies with the registry.
    alive: Arc<()>,
    /// Itself, for the blocks it makes ([`ThreadCells::write`]).
    me: Weak<CellsRegistry>,
}

impl CellsRegistry {
    pub(crate) fn new(
        table: Arc<RouteTable>,
        layout: Arc<Layout>,
        labels: Option<Arc<UserLabels>>,
    ) -> Arc<Self> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Arc::new_cyclic(|me| CellsRegistry {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            table,
            layout,
            labels,
            threads: std::sync::Mutex::new(Vec::new()),
            alive: Arc::new(()),
            me: me.clone(),
        })
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    pub(crate) fn table(&self) -> &RouteTable {
        &self.table
    }

    /// The labels of the user's own, if any.
    pub(crate) fn labels(&self) -> Option<&UserLabels> {
        self.labels.as_deref()
    }

    /// A request with `route` starts on this thread: this thread's block (found in the
    /// thread-local list, or made and registered on the thread's first request) and the
    /// route's number (from the thread's own copy of the table: no shared read-modify-write,
    /// where the shared table's lock-free read costs about 10 ns more a request).
    #[inline]
    pub(crate) fn start(&self, route: Option<&str>) -> (Arc<ThreadCells>, RouteId) {
        self.with_local_block(|block| {
            let route = block.route(route);
            (block.cells.clone(), route)
        })
        // Only while the thread is being torn down (a request dropped by a thread-local
        // destructor): a block of its own, registered like any other, so it still counts.
        .unwrap_or_else(|_| {
            let cells = self.register();
            let route = cells.table.id(route);
            (cells, route)
        })
    }

    /// [`start`](Self::start) with labels of the user's own: also the series of the route
    /// and the request's raw label values `raw` (numbered from the thread's copies of the
    /// tables), and the values' numbers. A value not admitted is counted in this thread's
    /// `label_overflow`.
    #[inline]
    pub(crate) fn start_labelled(
        &self,
        labels: &UserLabels,
        route: Option<&str>,
        raw: &[Option<&str>; crate::config::MAX_LABELS],
    ) -> (Arc<ThreadCells>, SeriesId, LabelIds) {
        self.with_local_block(|block| {
            let route = block.route(route);
            let cells = &block.cells;
            let local = block.labels.get_or_insert_with(|| labels.local());
            let (series, values) = local.resolve(labels, route, raw, &mut |label| {
                cells.label_overflow[label].fetch_add(1, Ordering::Relaxed);
            });
            (block.cells.clone(), series, values)
        })
        .unwrap_or_else(|_| {
            let cells = self.register();
            let route = cells.table.id(route);
            let (series, values) = labels.resolve_shared(route, raw, |label| {
                cells.label_overflow[label].fetch_add(1, Ordering::Relaxed);
            });
            (cells, series, values)
        })
    }

    /// `f` on this thread's block, found in the thread-local list (or made and registered on
    /// the thread's first request); `Err` only while the thread is being torn down.
    #[inline]
    fn with_local_block<R>(
        &self,
        f: impl FnOnce(&mut LocalBlock) -> R,
    ) -> Result<R, std::thread::AccessError> {
        LOCAL_BLOCKS.try_with(|blocks| {
            let mut blocks = blocks.borrow_mut();
            let index = match blocks.iter().position(|block| block.observer == self.id) {
                Some(index) => index,
                None => self.register_local(&mut blocks),
            };
            f(&mut blocks[index])
        })
    }

    /// `write` on this thread's own block (see [`ThreadCells::write`]); while the thread is
    /// being torn down, on a block of its own, registered like any other.
    fn write_local(&self, write: impl FnOnce(&ThreadCells)) {
        let mut write = Some(write);
        let done = self.with_local_block(|block| {
            if let Some(write) = write.take() {
                write(&block.cells);
            }
        });
        if let (Err(_), Some(write)) = (done, write) {
            write(&self.register());
        }
    }

    /// Registers a block for this thread; returns its index in the thread's list.
    #[cold]
    fn register_local(&self, blocks: &mut Vec<LocalBlock>) -> usize {
        // Blocks of observers dropped since are of no use here; their registries went with them.
        blocks.retain(|block| block.alive.strong_count() > 0);
        blocks.push(LocalBlock {
            observer: self.id,
            cells: self.register(),
            alive: Arc::downgrade(&self.alive),
            routes: HashMap::default(),
            last_route: None,
            labels: None,
        });
        blocks.len() - 1
    }

    #[cold]
    fn register(&self) -> Arc<ThreadCells> {
        let cells = Arc::new(ThreadCells::new(
            self.id,
            thread_mark(),
            self.me.clone(),
            self.table.clone(),
            self.layout.clone(),
            self.labels.clone(),
        ));
        self.threads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(cells.clone());
        cells
    }

    /// Every thread's block, for a scrape. The lock is held only to copy the list: threads
    /// registering meanwhile wait for the copy, never for the scrape.
    pub(crate) fn threads(&self) -> Vec<Arc<ThreadCells>> {
        self.threads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}
