//! From configuration to a running tracer provider — and Octopus's own span pipeline behind
//! it: per-thread buffers, one export thread, and the counters that make lost spans visible.
//!
//! # Why not the SDK's `BatchSpanProcessor`
//!
//! Its `on_end` runs on the request thread and writes memory every worker thread writes: a
//! shared atomic batch size, the bounded channel's own atomics, and (to count) a shared
//! counter. Under load each of those writes moves a cache line between cores. Here:
//!
//! - a finished span goes into a [`ThreadBuffer`], found through a thread-local list as the
//!   metrics cells are (`metrics/cells.rs`): an SDK span a user made (its `SpanData`), the
//!   buffer of the thread it ends on; Octopus's server span record, the buffer of the thread
//!   its request started on (taken once at the start, so a request a work-stealing runtime
//!   moved ends into its first thread's buffer). The buffer's lock is taken for every span
//!   and by the export thread once a collection, so it is uncontended and its cache line stays
//!   with the worker's core between collections; right after each push the thread claims the
//!   next slot's cache lines for writing ([`claim_next_slot`]), so the next copy into memory
//!   the export thread read last does not hold up the unlock;
//! - the queue bound (`bsp_max_queue_size`) holds over all threads together: a thread takes
//!   queue slots from a shared pool in chunks (one shared write per chunk, not per span) and
//!   the export thread gives them back; no slot left → the span is dropped and counted, never
//!   waiting;
//! - the export thread collects every buffer each `bsp_schedule_delay_ms`, or as soon as one
//!   holds a batch's worth (`bsp_max_export_batch_size`; the thread that fills it sends one
//!   message), exports batches of at most that size through a [`BatchExporter`] (the Jaeger
//!   agent exporter encodes server span records as they are; any SDK exporter gets the
//!   `SpanData` made from them there, so the request thread never builds one), counts what was
//!   exported or failed, and frees what the request threads allocated;
//! - `octopus_spans_ended_total` is not written per span either: spans are counted when the
//!   export thread collects them (plus drops, counted in the buffer), and a snapshot adds what
//!   buffers hold at that moment, so counts stay exact at every scrape.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use opentelemetry::{Context, InstrumentationScope};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{
    SdkTracerProvider, ShouldSample, Span, SpanData, SpanExporter, SpanProcessor,
};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, Opts};

use crate::ConfigError;
use crate::config::{OctopusConfig, TracesExporter};
use crate::export::jaeger_agent::JaegerAgentExporter;

use super::otlp::OtlpOnRuntime;
use super::span::ServerFinished;

/// Counts of spans through the pipeline since start. `ended - exported - failed` spans are
/// queued or were dropped (queue full); after shutdown, nothing is queued.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpanCounts {
    /// Sampled spans that ended and were handed to the span pipeline.
    pub ended: u64,
    /// Spans the exporter delivered.
    pub exported: u64,
    /// Spans in batches the exporter failed to deliver.
    pub failed: u64,
}

impl SpanCounts {
    /// Spans neither exported nor failed: queued, or dropped by a full queue.
    pub fn unaccounted(&self) -> u64 {
        self.ended.saturating_sub(self.exported + self.failed)
    }
}

/// The span pipeline's counters, as Prometheus counters so lost spans show on `/metrics`:
/// `octopus_spans_ended_total - octopus_spans_exported_total - octopus_spans_failed_total` is
/// what is queued or was dropped by a full queue.
#[derive(Debug)]
pub(crate) struct SpanCounters {
    /// Brought up to the exact count by every snapshot (see [`SpanPipeline::snapshot`]).
    ended: IntCounter,
    exported: IntCounter,
    failed: IntCounter,
}

impl SpanCounters {
    fn new(service_name: &str) -> Self {
        let counter = |name: &str, help: &str| {
            IntCounter::with_opts(Opts::new(name, help).const_label("service_name", service_name))
                .expect("a valid static metric name")
        };
        SpanCounters {
            ended: counter(
                "octopus_spans_ended_total",
                "Sampled spans that ended and entered the span pipeline.",
            ),
            exported: counter(
                "octopus_spans_exported_total",
                "Spans the exporter delivered.",
            ),
            failed: counter(
                "octopus_spans_failed_total",
                "Spans in exports that failed.",
            ),
        }
    }
}

/// A span finished on a request thread, waiting in a buffer for the export thread.
///
/// The server record stays unboxed although it is the larger variant: a box would be one
/// more allocation on the request thread per span, where a move into the buffer is a copy.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Finished {
    /// Octopus's server span: encoded from its record (Jaeger agent) or made into `SpanData`
    /// (SDK exporters) on the export thread.
    Server(ServerFinished),
    /// A span of the SDK's tracer (a user's, the `tracing` bridge's, the traced client's).
    Sdk(SpanData),
}

/// Control messages for the export thread.
enum Message {
    /// A buffer holds a batch's worth: collect now rather than at the next tick.
    BatchReady,
    /// Export everything buffered, then answer.
    Flush(SyncSender<OTelSdkResult>),
    /// Export everything buffered, close the buffers, shut the exporter down, answer, exit.
    Shutdown(SyncSender<OTelSdkResult>, Duration),
    /// The provider's resource, for the exporter.
    SetResource(Resource),
}

/// What every thread buffer needs of the pipeline.
#[derive(Debug)]
struct Shared {
    /// Free queue slots: `bsp_max_queue_size` minus the spans buffered or waiting to be
    /// exported. Taken in chunks, given back by the export thread.
    slots: AtomicUsize,
    /// Slots a thread takes at once: one shared write per this many spans.
    chunk: usize,
    /// `bsp_max_export_batch_size`: a buffer this full wakes the export thread.
    batch: usize,
    /// To the export thread; `None` when nothing is exported (`traces_exporter: none`).
    wake: Option<SyncSender<Message>>,
}

impl Shared {
    /// Up to a chunk of free slots, or 0 when the queue is full.
    fn take_slots(&self) -> usize {
        let mut free = self.slots.load(Ordering::Relaxed);
        loop {
            if free == 0 {
                return 0;
            }
            let take = free.min(self.chunk);
            match self.slots.compare_exchange_weak(
                free,
                free - take,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return take,
                Err(now) => free = now,
            }
        }
    }

    fn give_back(&self, slots: usize) {
        if slots > 0 {
            self.slots.fetch_add(slots, Ordering::Relaxed);
        }
    }
}

/// One thread's finished spans, for one pipeline.
#[derive(Debug)]
pub(crate) struct ThreadBuffer {
    local: Mutex<Local>,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Local {
    spans: Vec<Finished>,
    /// The emptied vector of the last collection, handed back so the next one starts with
    /// capacity (no reallocation on the request thread in steady state).
    spare: Vec<Finished>,
    /// Queue slots this thread holds.
    slots: usize,
    /// Spans dropped since the last collection (queue full).
    dropped: u64,
    /// The export thread has been told this buffer is full.
    signalled: bool,
    /// The pipeline shut down: spans are neither kept nor counted (as the SDK drops spans
    /// ending after its provider shut down).
    closed: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ThreadBuffer {
    /// Keeps `span` for the export thread, or drops it (counted) when the queue is full.
    /// Never waits on the export thread.
    pub(crate) fn push(&self, span: Finished) {
        let mut local = lock(&self.local);
        if !self.admit(&mut local) {
            // The span is freed after the lock is released.
            drop(local);
            return;
        }
        local.spans.push(span);
        claim_next_slot(&local.spans);
        self.signal_when_full(local);
    }

    /// [`push`](Self::push) for a span made by `span` once it has a slot, under the
    /// buffer's lock (`None`: nothing to keep after all, and the slot is given back).
    ///
    /// For a server span's record, moved out of the span straight into the buffer: finishing
    /// it as a value and handing a `Finished` over copied the span (416 bytes then) four times
    /// on the request thread (`ServerSpan::end_now`; objdump and callgrind,
    /// `axum/octopus_tracing`).
    #[inline]
    pub(crate) fn push_with(&self, span: impl FnOnce() -> Option<Finished>) {
        let mut local = lock(&self.local);
        if !self.admit(&mut local) {
            drop(local);
            return;
        }
        match span() {
            Some(span) => {
                local.spans.push(span);
                claim_next_slot(&local.spans);
            }
            None => local.slots += 1,
        }
        self.signal_when_full(local);
    }

    /// Whether one more span has a queue slot: taken from the thread's share, or a new chunk
    /// of them; counts the span dropped when the queue is full. Not when the pipeline closed.
    #[inline]
    fn admit(&self, local: &mut Local) -> bool {
        if local.closed {
            return false;
        }
        if local.slots == 0 {
            local.slots = self.shared.take_slots();
            if local.slots == 0 {
                local.dropped += 1;
                return false;
            }
        }
        local.slots -= 1;
        true
    }

    /// Wakes the export thread once the buffer holds a batch.
    #[inline]
    fn signal_when_full(&self, mut local: MutexGuard<'_, Local>) {
        if local.spans.len() >= self.shared.batch && !local.signalled {
            local.signalled = true;
            drop(local);
            if let Some(wake) = &self.shared.wake {
                // Full: a wake-up is already waiting, which collects this buffer too.
                let _ = wake.try_send(Message::BatchReady);
            }
        }
    }
}

/// Asks this core for the cache lines of the buffer's next slot, for writing, so that the next
/// span's copy into it finds them here.
///
/// Why: the slot's memory was last read by the export thread, on the other core (a buffer's
/// vectors take turns: filled here, read and emptied there, handed back). Copying a 400-byte
/// record into it then waits for each of its seven lines to be taken back from that core, and
/// the buffer's unlock (a locked `xchg`, which completes only once every earlier store has)
/// waits for all of them: under load that wait was the largest cost always-on tracing added to
/// the axum demo, 1.06 % of its CPU samples, 99 % of `signal_when_full`'s on the instruction
/// after the `xchg` (`benches/scripts/profile-load.sh`, AMD EPYC, 2026-12-02; 1.13 % on the
/// Xeon, 2026-12-01). Asked for right after a span is pushed, the lines travel while the
/// thread serves its next request. A prefetch is a hint: it never faults, and no fence or
/// locked instruction waits for it.
#[inline(always)]
fn claim_next_slot(spans: &Vec<Finished>) {
    #[cfg(target_arch = "x86_64")]
    if prefetchw::supported() {
        for line in next_slot_lines(spans) {
            prefetchw::line(line);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = spans;
}

/// The cache line size of every x86-64 core and of the common Arm ones.
const LINE: usize = 64;

/// The addresses of the cache lines that hold the vector's next slot, in order (eight at most
/// for a 400-byte span); none when the vector is full, where the next push reallocates.
#[inline(always)]
fn next_slot_lines(spans: &Vec<Finished>) -> std::iter::StepBy<std::ops::Range<usize>> {
    if spans.len() == spans.capacity() {
        return (0..0).step_by(LINE);
    }
    let slot = spans.as_ptr().wrapping_add(spans.len()) as usize;
    (slot & !(LINE - 1)..slot + size_of::<Finished>()).step_by(LINE)
}

/// `prefetchw`: a prefetch for writing, which takes a line in the state a store needs (a
/// read prefetch would leave the other core a copy to invalidate at the store). Not in
/// `core::arch` for targets without the `prfchw` feature, which the default x86-64 target
/// lacks, so written here and used only where CPUID reports it.
#[cfg(target_arch = "x86_64")]
mod prefetchw {
    use std::arch::x86_64::__cpuid;
    use std::sync::atomic::{AtomicU8, Ordering};

    /// 0 not asked yet, 1 no, 2 yes.
    static SUPPORTED: AtomicU8 = AtomicU8::new(0);

    /// Whether the CPU has `prefetchw` (CPUID 8000_0001h, ECX bit 8: `PRFCHW`, AMD's
    /// `3DNowPrefetch`).
    #[inline(always)]
    pub(super) fn supported() -> bool {
        match SUPPORTED.load(Ordering::Relaxed) {
            0 => ask(),
            known => known == 2,
        }
    }

    #[cold]
    fn ask() -> bool {
        let supported =
            __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0;
        SUPPORTED.store(1 + u8::from(supported), Ordering::Relaxed);
        supported
    }

    /// Prefetches the line holding `address` for writing.
    #[inline(always)]
    pub(super) fn line(address: usize) {
        // SAFETY: a prefetch reads nothing architecturally and never faults, whatever the
        // address; the CPU has the instruction (`supported`).
        unsafe {
            std::arch::asm!(
                "prefetchw byte ptr [{0}]",
                in(reg) address,
                options(nostack, preserves_flags, readonly)
            );
        }
    }
}

/// This thread's buffers, one per live pipeline it ended spans for: a handful at most, so a
/// vector scanned by id.
struct LocalBuffer {
    pipeline: u64,
    buffer: Arc<ThreadBuffer>,
    alive: Weak<()>,
}

thread_local! {
    static LOCAL_BUFFERS: RefCell<Vec<LocalBuffer>> = const { RefCell::new(Vec::new()) };
}

/// The span pipeline of one Octopus instance: what request threads, the processor and the
/// export thread share.
#[derive(Debug)]
pub(crate) struct SpanPipeline {
    /// Process-unique: the key of the thread-local lookup.
    id: u64,
    shared: Arc<Shared>,
    /// Every thread's buffer, for the export thread to collect.
    buffers: Mutex<Vec<Arc<ThreadBuffer>>>,
    /// Spans collected from buffers plus drops they reported. Its lock is also what makes a
    /// snapshot consistent with collection (a span is either in a buffer or in this count).
    collected: Mutex<u64>,
    counters: SpanCounters,
    /// Set by shutdown: new spans are not recorded (as an SDK tracer after its provider shut
    /// down makes invalid, non-recording spans).
    closed: AtomicBool,
    /// Only weakly referenced elsewhere: thread-local entries notice the pipeline is gone.
    alive: Arc<()>,
    /// The instrumentation scope of server spans: Octopus's name and version.
    scope: InstrumentationScope,
}

impl SpanPipeline {
    fn new(config: &OctopusConfig, wake: Option<SyncSender<Message>>) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let queue = config.bsp_queue_capacity();
        SpanPipeline {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            shared: Arc::new(Shared {
                slots: AtomicUsize::new(queue),
                // Small enough that slots idling in a quiet thread's hands cost little of the
                // queue (at most a chunk per thread between collections), large enough that
                // the pool is written once per 32 spans at the default queue of 2 048.
                chunk: (queue / 64).clamp(1, 64),
                batch: config.bsp_export_batch_size(),
                wake,
            }),
            buffers: Mutex::new(Vec::new()),
            collected: Mutex::new(0),
            counters: SpanCounters::new(&config.service_name),
            closed: AtomicBool::new(false),
            alive: Arc::new(()),
            scope: InstrumentationScope::builder("octopus")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        }
    }

    /// Whether spans ending here are exported at all (not with `traces_exporter: none`).
    pub(crate) fn exports(&self) -> bool {
        self.shared.wake.is_some()
    }

    /// Whether the pipeline shut down. A read of a flag written once: no shared write.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// This thread's buffer: found in the thread-local list, or made and registered on the
    /// thread's first span. `None` when nothing is exported.
    #[inline]
    pub(crate) fn local(&self) -> Option<Arc<ThreadBuffer>> {
        if !self.exports() {
            return None;
        }
        let buffer = LOCAL_BUFFERS
            .try_with(|buffers| {
                let mut buffers = buffers.borrow_mut();
                if let Some(local) = buffers.iter().find(|local| local.pipeline == self.id) {
                    return local.buffer.clone();
                }
                self.register_local(&mut buffers)
            })
            // Only while the thread is being torn down: a buffer of its own, still collected.
            .unwrap_or_else(|_| self.register());
        Some(buffer)
    }

    #[cold]
    fn register_local(&self, buffers: &mut Vec<LocalBuffer>) -> Arc<ThreadBuffer> {
        buffers.retain(|local| local.alive.strong_count() > 0);
        let buffer = self.register();
        buffers.push(LocalBuffer {
            pipeline: self.id,
            buffer: buffer.clone(),
            alive: Arc::downgrade(&self.alive),
        });
        buffer
    }

    #[cold]
    fn register(&self) -> Arc<ThreadBuffer> {
        let mut buffers = lock(&self.buffers);
        // Checked under the list's lock, which shutdown takes after setting the flag: a buffer
        // is either closed at birth or closed by shutdown.
        let buffer = Arc::new(ThreadBuffer {
            local: Mutex::new(Local {
                closed: self.closed.load(Ordering::SeqCst),
                ..Local::default()
            }),
            shared: self.shared.clone(),
        });
        buffers.push(buffer.clone());
        buffer
    }

    /// Counts so far, exact: collected spans plus what buffers hold now. Also brings
    /// `octopus_spans_ended_total` up to date.
    pub(crate) fn snapshot(&self) -> SpanCounts {
        let collected = lock(&self.collected);
        let mut ended = *collected;
        for buffer in lock(&self.buffers).iter() {
            let local = lock(&buffer.local);
            ended += local.spans.len() as u64 + local.dropped;
        }
        // Under `collected`'s lock: snapshots never race each other here, and the exact count
        // only grows.
        let shown = self.counters.ended.get();
        self.counters.ended.inc_by(ended.saturating_sub(shown));
        drop(collected);
        SpanCounts {
            ended,
            exported: self.counters.exported.get(),
            failed: self.counters.failed.get(),
        }
    }

    /// Takes every buffer's spans (closing the buffers when `close`), counts them, and gives
    /// back the slots threads held unused.
    fn collect(&self, close: bool, spans: &mut Vec<Vec<Finished>>) {
        if close {
            self.closed.store(true, Ordering::SeqCst);
        }
        let mut collected = lock(&self.collected);
        // Iterated under the list's lock rather than cloned: a clone would write the
        // reference count of every thread's buffer, which its thread writes per span.
        let buffers = lock(&self.buffers);
        for buffer in buffers.iter() {
            let mut local = lock(&buffer.local);
            let spare = std::mem::take(&mut local.spare);
            let taken = std::mem::replace(&mut local.spans, spare);
            *collected += taken.len() as u64 + local.dropped;
            local.dropped = 0;
            local.signalled = false;
            let unused = std::mem::take(&mut local.slots);
            local.closed |= close;
            drop(local);
            self.shared.give_back(unused);
            spans.push(taken);
        }
        // Buffers of threads that exited stay registered (a few hundred bytes each): what
        // they held was collected above like any other's.
        drop(buffers);
        drop(collected);
    }

    /// Hands emptied vectors back as the buffers' spares (same order as `collect`; `recent`
    /// is how many spans each buffer held lately, see [`Exporting::recent`]), so a thread's
    /// next spans go into memory it already has.
    ///
    /// A busy thread keeps its vector at the size it needed: freeing it made every
    /// collection regrow it from nothing (eight reallocations copying 432-byte spans, 336
    /// instructions per span on the request thread; callgrind, `core/tracing`). "Busy" looks
    /// at more than the last collection, which catches few of a busy thread's spans whenever
    /// something else set it off (another thread's full buffer, the delay, a flush): judged
    /// on that one alone, a busy thread's vector was freed and the thread regrew it from
    /// nothing (a reallocation every 155 requests or so, 68 instructions a request, in one
    /// `core/tracing` profile on the EPYC host; callgrind, thirteenth session). A vector is
    /// trimmed rather than freed: a quiet thread keeps room for twice what it held lately,
    /// and at least [`MAX_SPARE`] spans, so a thread gone idle (threads that exist by the
    /// hundred, a blocking pool) ends with 100 KiB in each of its two vectors; a burst past
    /// four batches keeps four batches. Trimmed before the locks are taken: a reallocation
    /// is not done while a new thread waits to register.
    fn return_spares(&self, spares: &mut Vec<Vec<Finished>>, recent: &[usize]) {
        let most = 4 * self.shared.batch.max(MAX_SPARE);
        for (spare, &recent) in spares.iter_mut().zip(recent) {
            spare.shrink_to(spare_room(spare.capacity(), recent, most));
        }
        let buffers = lock(&self.buffers);
        for (buffer, spare) in buffers.iter().zip(spares.drain(..)) {
            let mut local = lock(&buffer.local);
            if local.spare.capacity() < spare.capacity() {
                local.spare = spare;
            }
        }
    }
}

/// The room a spare vector of `capacity` keeps for a thread that held `recent` spans lately
/// (see [`SpanPipeline::return_spares`]); never more than `most`.
fn spare_room(capacity: usize, recent: usize, most: usize) -> usize {
    let busy = recent.saturating_mul(4) >= capacity;
    let room = if busy || capacity <= MAX_SPARE {
        capacity
    } else {
        recent.saturating_mul(2).max(MAX_SPARE)
    };
    room.min(most)
}

/// Spans taken out of a span pipeline as its export thread collects them, without being
/// exported ([`Octopus::take_buffered_spans`](crate::Octopus::take_buffered_spans)): what an
/// exporter's benchmark encodes
/// ([`JaegerAgentExporter::encode_buffered`](crate::export::jaeger_agent::JaegerAgentExporter::encode_buffered)).
/// Not part of the API.
#[doc(hidden)]
#[derive(Debug)]
pub struct BufferedSpans {
    pub(crate) spans: Vec<Finished>,
    /// The instrumentation scope of the server spans among them.
    pub(crate) scope: InstrumentationScope,
}

impl BufferedSpans {
    /// How many spans.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl SpanPipeline {
    /// Every buffered span, taken as a collection takes them (counted as ended) and given up
    /// by the queue, but not exported.
    pub(crate) fn take_buffered(&self) -> BufferedSpans {
        let mut collected = Vec::new();
        self.collect(false, &mut collected);
        let spans: Vec<Finished> = collected.into_iter().flatten().collect();
        self.shared.give_back(spans.len());
        BufferedSpans {
            spans,
            scope: self.scope.clone(),
        }
    }
}

/// The room, in spans (400 bytes each), that a quiet buffer's vectors are trimmed to, and
/// below which a vector is never trimmed (see [`SpanPipeline::return_spares`]).
const MAX_SPARE: usize = 256;

/// The `octopus_spans_*_total` counters as one Prometheus collector, so a scrape shows the
/// exact `ended` count (see [`SpanPipeline::snapshot`]).
#[derive(Debug)]
pub(crate) struct SpanMetrics(pub(crate) Arc<SpanPipeline>);

impl Collector for SpanMetrics {
    fn desc(&self) -> Vec<&Desc> {
        let counters = &self.0.counters;
        [&counters.ended, &counters.exported, &counters.failed]
            .into_iter()
            .flat_map(|counter| counter.desc())
            .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.0.snapshot();
        let counters = &self.0.counters;
        [&counters.ended, &counters.exported, &counters.failed]
            .into_iter()
            .flat_map(|counter| counter.collect())
            .collect()
    }
}

impl SpanMetrics {
    /// Registers the counters, so `/metrics` shows them.
    pub(crate) fn register(self, registry: &prometheus::Registry) -> Result<(), ConfigError> {
        registry
            .register(Box::new(self))
            .map_err(|error| ConfigError::Registration {
                metric: "octopus_spans_*_total".into(),
                reason: error.to_string(),
            })
    }
}

/// The provider's span processor: SDK spans into the pipeline's buffers; flush and shutdown
/// through the export thread.
#[derive(Debug)]
pub(crate) struct PipelineProcessor {
    pipeline: Arc<SpanPipeline>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// How long `force_flush` waits for the export thread, as the SDK's batch processor.
const FORCE_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

impl PipelineProcessor {
    /// Sends the message `message` makes to the export thread and waits for its answer, all
    /// within `timeout`.
    fn ask(
        &self,
        message: impl FnOnce(SyncSender<OTelSdkResult>) -> Message,
        timeout: Duration,
    ) -> OTelSdkResult {
        let Some(wake) = &self.pipeline.shared.wake else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let mut message = message(reply);
        // The control channel fills only with wake-ups (one per buffer and collection), which
        // the export thread drains between exports: retry until the deadline.
        loop {
            match wake.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return Err(OTelSdkError::AlreadyShutdown),
                Err(TrySendError::Full(returned)) => {
                    if Instant::now() >= deadline {
                        return Err(OTelSdkError::Timeout(timeout));
                    }
                    message = returned;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        match answer.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(OTelSdkError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(OTelSdkError::AlreadyShutdown),
        }
    }
}

impl SpanProcessor for PipelineProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if let Some(buffer) = self.pipeline.local() {
            buffer.push(Finished::Sdk(span));
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        if self.pipeline.is_closed() {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        self.ask(Message::Flush, FORCE_FLUSH_TIMEOUT)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        if !self.pipeline.exports() {
            self.pipeline.closed.store(true, Ordering::SeqCst);
            return Ok(());
        }
        let result = self.ask(|reply| Message::Shutdown(reply, timeout), timeout);
        if result.is_ok()
            && let Some(thread) = lock(&self.thread).take()
        {
            let _ = thread.join();
        }
        result
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Some(wake) = &self.pipeline.shared.wake {
            let _ = wake.send(Message::SetResource(resource.clone()));
        }
    }
}

/// Runs `future` to completion on this thread (the exporters' `export` is async; the export
/// thread has no runtime, as the SDK's thread-based batch processor has none).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context as TaskContext, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// One export batch: runs of spans still in the buffers they were collected in, at most
/// `bsp_max_export_batch_size` together. Read in place (the Jaeger agent exporter) or moved
/// out one by one (`ThroughSpanData`); what a run still holds afterwards is dropped in place
/// when it goes.
pub(crate) type Batch<'a> = [std::vec::Drain<'a, Finished>];

/// What the export thread hands its batches to.
pub(crate) trait BatchExporter: Send + 'static {
    /// Exports a batch; server spans' instrumentation scope is `scope`.
    fn export(&mut self, batch: &mut Batch<'_>, scope: &InstrumentationScope) -> OTelSdkResult;
    fn shutdown_with_timeout(&mut self, timeout: Duration) -> OTelSdkResult;
    fn set_resource(&mut self, resource: &Resource);
}

/// Any SDK exporter: each server span is made into the `SpanData` an SDK span would have
/// ended with, here on the export thread.
struct ThroughSpanData<E>(E);

impl<E: SpanExporter + 'static> BatchExporter for ThroughSpanData<E> {
    fn export(&mut self, batch: &mut Batch<'_>, scope: &InstrumentationScope) -> OTelSdkResult {
        let spans = batch
            .iter_mut()
            .flatten()
            .map(|finished| match finished {
                Finished::Server(record) => record.into_span_data(scope),
                Finished::Sdk(span) => span,
            })
            .collect();
        block_on(self.0.export(spans))
    }

    fn shutdown_with_timeout(&mut self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

/// The Jaeger agent exporter reads server spans from their records: making their `SpanData`
/// (a `KeyValue` per attribute, the scope cloned) and then dropping it was over a quarter of
/// the export thread's work per span (callgrind, `core/jaeger_100_requests_flushed`: 5 385 →
/// 3 911 instructions and 1.10 → 0.13 allocations a span on the export thread; see
/// docs/benchmarks.md).
impl BatchExporter for JaegerAgentExporter {
    fn export(&mut self, batch: &mut Batch<'_>, scope: &InstrumentationScope) -> OTelSdkResult {
        self.export_finished(batch.iter().flat_map(|run| run.as_slice()), scope)
    }

    fn shutdown_with_timeout(&mut self, timeout: Duration) -> OTelSdkResult {
        SpanExporter::shutdown_with_timeout(self, timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        SpanExporter::set_resource(self, resource);
    }
}

/// The export thread's state.
struct Exporting<E> {
    pipeline: Arc<SpanPipeline>,
    exporter: E,
    batch: usize,
    /// Reused between collections.
    collected: Vec<Vec<Finished>>,
    /// How many spans each buffer held lately, for [`SpanPipeline::return_spares`]: what
    /// the last collection found in it, or half the previous figure if that is more (so a
    /// thread that held 600 still counts as holding 300 after one quiet collection, and 150
    /// after two). Buffers are never unregistered, so an index names one buffer throughout.
    recent: Vec<usize>,
}

impl<E: BatchExporter> Exporting<E> {
    /// Collects every buffer and exports it all, in batches; the last error, if any.
    ///
    /// A batch is made of runs of the collected buffers, read where they are: moving each
    /// span into a batch vector first copied it (464 bytes then), and the vector handed to the
    /// exporter was a fresh allocation of a batch's size every export (about 150 instructions
    /// a span on the export thread, and its `malloc` and `free`; callgrind,
    /// `core/jaeger_100_requests_flushed`, twelfth session).
    fn collect_and_export(&mut self, close: bool) -> OTelSdkResult {
        let mut collected = std::mem::take(&mut self.collected);
        self.pipeline.collect(close, &mut collected);
        self.recent.resize(collected.len(), 0);
        for (recent, buffer) in self.recent.iter_mut().zip(&collected) {
            *recent = buffer.len().max(*recent / 2);
        }
        let mut result = Ok(());
        loop {
            // Runs from the buffers in order; a buffer with more than the batch has room for
            // keeps the rest (moved to its front when the run goes) for the next batch.
            let mut batch = Vec::new();
            let mut room = self.batch;
            for buffer in collected.iter_mut().filter(|buffer| !buffer.is_empty()) {
                let take = buffer.len().min(room);
                room -= take;
                batch.push(buffer.drain(..take));
                if room == 0 {
                    break;
                }
            }
            if batch.is_empty() {
                break;
            }
            if let Err(error) = self.export(&mut batch) {
                result = Err(error);
            }
        }
        self.pipeline.return_spares(&mut collected, &self.recent);
        self.collected = collected;
        result
    }

    fn export(&mut self, batch: &mut Batch<'_>) -> OTelSdkResult {
        let count: usize = batch.iter().map(ExactSizeIterator::len).sum();
        // Out of the queue as soon as they are handed to the exporter, as with the SDK's
        // batch processor.
        self.pipeline.shared.give_back(count);
        let result = self.exporter.export(batch, &self.pipeline.scope);
        let counter = match result {
            Ok(()) => &self.pipeline.counters.exported,
            Err(_) => &self.pipeline.counters.failed,
        };
        counter.inc_by(count as u64);
        result
    }

    fn run(mut self, messages: Receiver<Message>, delay: Duration) {
        // Whatever the exporter does (an HTTP client's own instrumentation) is not traced.
        let _suppressed = Context::enter_telemetry_suppressed_scope();
        let mut last = Instant::now();
        loop {
            let wait = delay.saturating_sub(last.elapsed());
            match messages.recv_timeout(wait) {
                Ok(Message::BatchReady) => {
                    let _ = self.collect_and_export(false);
                }
                Ok(Message::Flush(reply)) => {
                    let _ = reply.send(self.collect_and_export(false));
                }
                Ok(Message::Shutdown(reply, timeout)) => {
                    // As the SDK's batch processor: shutdown succeeds once everything was
                    // handed to the exporter; failed exports show in the counts (and on
                    // stderr), not as a shutdown error.
                    let _ = self.collect_and_export(true);
                    let _ = self.exporter.shutdown_with_timeout(timeout);
                    let _ = reply.send(Ok(()));
                    return;
                }
                Ok(Message::SetResource(resource)) => self.exporter.set_resource(&resource),
                Err(RecvTimeoutError::Timeout) => {
                    last = Instant::now();
                    let _ = self.collect_and_export(false);
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

/// The pipeline and its processor for `exporter`, with the export thread started.
fn start<E: BatchExporter>(
    exporter: E,
    config: &OctopusConfig,
) -> (PipelineProcessor, Arc<SpanPipeline>) {
    // Wake-ups, flushes and shutdown; one wake-up waiting is enough.
    let (wake, messages) = std::sync::mpsc::sync_channel(16);
    let pipeline = Arc::new(SpanPipeline::new(config, Some(wake)));
    let exporting = Exporting {
        pipeline: pipeline.clone(),
        exporter,
        // Validated above 0; a batch of 0 would export nothing, forever.
        batch: config.bsp_export_batch_size().max(1),
        collected: Vec::new(),
        recent: Vec::new(),
    };
    let delay = config.bsp_schedule_delay();
    let thread = std::thread::Builder::new()
        .name("octopus-spans".into())
        .spawn(move || exporting.run(messages, delay))
        .expect("the span export thread starts");
    let processor = PipelineProcessor {
        pipeline: pipeline.clone(),
        thread: Mutex::new(Some(thread)),
    };
    (processor, pipeline)
}

/// An exporter the user supplied instead of the configured one, waiting for the batch
/// settings of the final configuration.
pub(crate) type CustomExporter =
    Box<dyn FnOnce(&OctopusConfig) -> (PipelineProcessor, Arc<SpanPipeline>) + Send>;

/// Wraps a user's exporter for [`tracer_provider`].
pub(crate) fn custom_exporter<E: SpanExporter + 'static>(exporter: E) -> CustomExporter {
    Box::new(move |config| start(ThroughSpanData(exporter), config))
}

/// Builds the tracer provider the configuration describes, and the pipeline server spans go
/// through (the provider's processor feeds the same one). Never contacts the backend: an
/// unreachable one shows up as export errors on stderr, not as a start-up failure.
/// `sampler` is the one the server spans ask too (built once: a Jaeger remote sampler polls its
/// endpoint, and two would poll twice and report twice).
pub(crate) fn tracer_provider(
    config: &OctopusConfig,
    custom: Option<CustomExporter>,
    sampler: Box<dyn ShouldSample>,
) -> Result<(SdkTracerProvider, Arc<SpanPipeline>), ConfigError> {
    let (processor, pipeline) = match (custom, config.traces_exporter) {
        (Some(custom), _) => custom(config),
        (None, TracesExporter::Jaeger) => start(
            JaegerAgentExporter::new(config.jaeger_host.clone(), config.jaeger_port)
                .with_max_packet_size(config.jaeger_max_packet_size),
            config,
        ),
        (None, TracesExporter::Otlp) => start(ThroughSpanData(OtlpOnRuntime::new(config)?), config),
        (None, TracesExporter::Console) => start(
            ThroughSpanData(opentelemetry_stdout::SpanExporter::default()),
            config,
        ),
        (None, TracesExporter::None) => {
            // No export thread: spans are recorded (handlers see recording spans as before)
            // and freed where they end; shutdown only closes the pipeline.
            let pipeline = Arc::new(SpanPipeline::new(config, None));
            let processor = PipelineProcessor {
                pipeline: pipeline.clone(),
                thread: Mutex::new(None),
            };
            (processor, pipeline)
        }
    };
    let provider = SdkTracerProvider::builder()
        .with_resource(super::resource::resource(config))
        .with_sampler(sampler)
        .with_span_processor(processor)
        .build();
    Ok((provider, pipeline))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hint's gate: what CPUID says agrees with what the kernel read from it
    /// (`3dnowprefetch` in `/proc/cpuinfo`). One exception: on AMD the kernel also lists the
    /// flag for every 64-bit CPU whose CPUID leaves it out (long mode implies the
    /// instruction there, `arch/x86/kernel/cpu/amd.c`), as a hypervisor may; the gate then
    /// stays off, which costs the hint, never correctness.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn prefetch_for_writing_is_used_exactly_where_the_cpu_has_it() {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").expect("/proc/cpuinfo");
        let field = |name: &str| {
            cpuinfo
                .lines()
                .find(|line| line.starts_with(name))
                .unwrap_or_else(|| panic!("no {name} line in /proc/cpuinfo"))
                .to_owned()
        };
        let flags = field("flags");
        let listed = flags.split_whitespace().any(|flag| flag == "3dnowprefetch");
        let amd = field("vendor_id").ends_with("AuthenticAMD");
        let supported = prefetchw::supported();
        if amd && listed && !supported {
            return;
        }
        assert_eq!(supported, listed, "{flags}");
        // Asked once, then remembered.
        assert_eq!(prefetchw::supported(), supported);
    }

    /// The lines claimed are exactly those the next push writes: from the line holding the
    /// slot's first byte to the one holding its last, none past them, none when the vector is
    /// full; claiming changes nothing in the spans.
    #[test]
    fn the_lines_claimed_are_those_the_next_push_writes() {
        let size = size_of::<Finished>();
        let mut spans = Vec::with_capacity(3);
        for pushed in 0..3 {
            let slot = spans.as_ptr() as usize + pushed * size;
            let lines: Vec<usize> = next_slot_lines(&spans).collect();
            let expected: Vec<usize> = (slot / LINE..=(slot + size - 1) / LINE)
                .map(|line| line * LINE)
                .collect();
            assert_eq!(
                lines, expected,
                "slot {pushed} of {size} bytes at {slot:#x}"
            );
            claim_next_slot(&spans);
            spans.push(sdk_span(format!("span {pushed}")));
        }
        assert_eq!(spans.len(), spans.capacity());
        assert_eq!(
            next_slot_lines(&spans).count(),
            0,
            "a full vector claims nothing"
        );
        claim_next_slot(&spans);
        let names: Vec<_> = spans
            .iter()
            .map(|span| match span {
                Finished::Sdk(data) => data.name.to_string(),
                Finished::Server(_) => unreachable!("only SDK spans were pushed"),
            })
            .collect();
        assert_eq!(names, ["span 0", "span 1", "span 2"]);
    }

    #[test]
    fn slots_are_taken_in_chunks_and_never_below_zero() {
        let shared = Shared {
            slots: AtomicUsize::new(5),
            chunk: 2,
            batch: 10,
            wake: None,
        };
        assert_eq!(
            [
                shared.take_slots(),
                shared.take_slots(),
                shared.take_slots(),
                shared.take_slots()
            ],
            [2, 2, 1, 0]
        );
        shared.give_back(3);
        assert_eq!(shared.take_slots(), 2);
    }

    /// A span that turns out to be nothing keeps no queue slot; one that is kept takes one.
    #[test]
    fn a_span_made_under_the_lock_takes_a_slot_only_when_kept() {
        let buffer = ThreadBuffer {
            local: Mutex::new(Local::default()),
            shared: Arc::new(Shared {
                slots: AtomicUsize::new(4),
                chunk: 2,
                batch: 10,
                wake: None,
            }),
        };
        buffer.push_with(|| None);
        assert_eq!(lock(&buffer.local).slots, 2, "a chunk taken, none used");
        buffer.push_with(|| Some(sdk_span("kept".into())));
        let local = lock(&buffer.local);
        assert_eq!((local.slots, local.spans.len(), local.dropped), (1, 1, 0));
    }

    /// An SDK span named `name`, as the processor hands it over.
    fn sdk_span(name: String) -> Finished {
        Finished::Sdk(SpanData {
            span_context: opentelemetry::trace::SpanContext::empty_context(),
            parent_span_id: opentelemetry::trace::SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: opentelemetry::trace::SpanKind::Internal,
            name: name.into(),
            start_time: std::time::SystemTime::UNIX_EPOCH,
            end_time: std::time::SystemTime::UNIX_EPOCH,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: opentelemetry::trace::Status::Unset,
            instrumentation_scope: InstrumentationScope::default(),
        })
    }

    /// Keeps the names of each batch's spans, read in place.
    #[derive(Default)]
    struct Recorder(Vec<Vec<String>>);

    impl BatchExporter for Recorder {
        fn export(&mut self, batch: &mut Batch<'_>, _: &InstrumentationScope) -> OTelSdkResult {
            let names =
                batch
                    .iter()
                    .flat_map(|run| run.as_slice())
                    .map(|finished| match finished {
                        Finished::Sdk(data) => data.name.to_string(),
                        Finished::Server(_) => unreachable!("only SDK spans here"),
                    });
            self.0.push(names.collect());
            Ok(())
        }
        fn shutdown_with_timeout(&mut self, _: Duration) -> OTelSdkResult {
            Ok(())
        }
        fn set_resource(&mut self, _: &Resource) {}
    }

    /// A pipeline with batches of `batch` spans, and its export thread's state around a
    /// [`Recorder`], driven by the test instead of a thread.
    fn recorded_pipeline(batch: usize) -> (Arc<SpanPipeline>, Exporting<Recorder>) {
        let config = OctopusConfig {
            bsp_max_export_batch_size: Some(batch),
            ..OctopusConfig::default()
        };
        let pipeline = Arc::new(SpanPipeline::new(&config, None));
        let exporting = Exporting {
            pipeline: pipeline.clone(),
            exporter: Recorder::default(),
            batch,
            collected: Vec::new(),
            recent: Vec::new(),
        };
        (pipeline, exporting)
    }

    /// Batches are cut from the buffers where they lie: in order, each span once, none larger
    /// than the batch size, a buffer longer than the room left carried into the next batch.
    #[test]
    fn batches_take_every_buffered_span_once_in_order_and_within_the_batch_size() {
        let (pipeline, mut exporting) = recorded_pipeline(64);
        let sizes = [150, 0, 30, 100, 64, 1];
        let mut expected = Vec::new();
        for (b, size) in sizes.into_iter().enumerate() {
            let buffer = pipeline.register();
            for i in 0..size {
                expected.push(format!("{b}.{i}"));
                buffer.push(sdk_span(format!("{b}.{i}")));
            }
        }
        exporting.collect_and_export(false).unwrap();
        let batches = &exporting.exporter.0;
        let lengths: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(lengths, [64, 64, 64, 64, 64, 25]);
        assert_eq!(batches.concat(), expected);
        assert_eq!(exporting.recent, sizes);
        let counts = pipeline.snapshot();
        assert_eq!(
            (counts.ended, counts.exported, counts.failed),
            (345, 345, 0)
        );
        // Nothing left behind, and nothing exported twice by the next collection.
        exporting.collect_and_export(false).unwrap();
        assert_eq!(exporting.exporter.0.len(), 6);
        assert_eq!(
            pipeline.shared.slots.load(Ordering::Relaxed),
            OctopusConfig::default().bsp_queue_capacity()
        );
    }

    /// A busy thread whose collections catch many spans, then few, then many again keeps
    /// pushing into room it already has: after the first two collections (one for each of
    /// the two vectors it alternates between), its vector never grows on its own thread, not
    /// even after two quiet collections in a row.
    #[test]
    fn a_busy_thread_never_regrows_its_span_vector_after_a_quiet_collection() {
        let (pipeline, mut exporting) = recorded_pipeline(512);
        let buffer = pipeline.register();
        let mut grown_after_warm_up = Vec::new();
        for (round, count) in [600, 600, 10, 600, 10, 10, 600, 100, 600]
            .into_iter()
            .enumerate()
        {
            let before = lock(&buffer.local).spans.capacity();
            for i in 0..count {
                buffer.push(sdk_span(format!("{round}.{i}")));
            }
            let after = lock(&buffer.local).spans.capacity();
            if round >= 2 && after != before {
                grown_after_warm_up.push((round, before, after));
            }
            exporting.collect_and_export(false).unwrap();
        }
        assert_eq!(grown_after_warm_up, []);
        let exported: usize = exporting.exporter.0.iter().map(Vec::len).sum();
        assert_eq!(exported, 3130);
    }

    /// The other side of the same rule: a thread that was busy and then goes quiet gives its
    /// room back within a few collections, in both vectors it alternates between, down to
    /// [`MAX_SPARE`] spans each (idle threads by the hundred hold 100 KiB each, not a burst's
    /// megabytes).
    #[test]
    fn a_thread_gone_quiet_keeps_at_most_max_spare_room_in_each_vector() {
        let (pipeline, mut exporting) = recorded_pipeline(512);
        let buffer = pipeline.register();
        for round in 0..2 {
            for i in 0..2000 {
                buffer.push(sdk_span(format!("{round}.{i}")));
            }
            exporting.collect_and_export(false).unwrap();
        }
        let room = |buffer: &ThreadBuffer| {
            let local = lock(&buffer.local);
            (local.spans.capacity(), local.spare.capacity())
        };
        assert_eq!(room(&buffer), (2048, 2048), "busy: both vectors kept whole");
        let mut rooms = Vec::new();
        for _ in 0..8 {
            exporting.collect_and_export(false).unwrap();
            rooms.push(room(&buffer));
        }
        // What the thread held lately halves each collection (2 000, 1 000, 500, ...): busy
        // while a quarter of 2 048 or more, then trimmed to twice that, then to MAX_SPARE.
        assert_eq!(rooms.last(), Some(&(MAX_SPARE, MAX_SPARE)), "{rooms:?}");
        assert!(
            rooms
                .windows(2)
                .all(|w| w[1].0.max(w[1].1) <= w[0].0.max(w[0].1)),
            "room only shrinks while quiet: {rooms:?}"
        );
    }

    #[test]
    fn busy_threads_keep_their_span_vector_and_quiet_ones_trim_a_large_one() {
        let config = OctopusConfig {
            bsp_max_export_batch_size: Some(512),
            ..OctopusConfig::default()
        };
        let pipeline = SpanPipeline::new(&config, None);
        let buffers: Vec<_> = (0..4).map(|_| pipeline.register()).collect();
        // Emptied vectors as the export thread hands them back, and how many spans each held.
        let mut spares: Vec<Vec<Finished>> = [1024, 1024, 100, 4096]
            .into_iter()
            .map(Vec::with_capacity)
            .collect();
        let recent = [600, 10, 0, 4096];
        pipeline.return_spares(&mut spares, &recent);
        let kept: Vec<usize> = buffers
            .iter()
            .map(|buffer| lock(&buffer.local).spare.capacity())
            .collect();
        // Busy: kept. Quiet with more than MAX_SPARE: trimmed to MAX_SPARE (twice the 10 it
        // held is less). Small: kept. Past four batches (a burst): trimmed to four batches.
        assert_eq!(kept[0], 1024);
        assert_eq!(kept[1], MAX_SPARE);
        assert_eq!(kept[2], 100);
        assert_eq!(kept[3], 4 * 512);
    }
}
