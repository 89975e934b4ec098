//! One exemplar slot: the latest sampled request of a series (or of one of its buckets).

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, TraceId};

use super::openmetrics::Exemplar;

/// The trace of a sampled request, kept by its observation until it ends.
///
/// As three words, not `TraceId` (a `u128`, aligned to 16 bytes) and `SpanId`: 24 bytes with
/// the span id's niche for `None`, where `Option<(TraceId, SpanId)>` took 48 and aligned the
/// whole observation to 16. The observed request, which every adapter moves several times a
/// request (into the response future, its box, out again), went from 240 to 176 bytes with
/// this and the tracing observation's ids as bytes: fewer bytes copied per move, though not
/// fewer instructions (glibc copies 129–256 bytes in one fixed sequence; callgrind, the axum
/// group, 2026-11-30).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SampledTrace {
    trace_high: u64,
    trace_low: u64,
    /// A valid span id is never zero.
    span: NonZeroU64,
}

impl SampledTrace {
    /// The trace of a span with these ids; `None` for an invalid (zero) span id.
    #[inline]
    pub(crate) fn new(trace_id: TraceId, span_id: SpanId) -> Option<SampledTrace> {
        let trace = u128::from_be_bytes(trace_id.to_bytes());
        Some(SampledTrace {
            trace_high: (trace >> 64) as u64,
            trace_low: trace as u64,
            span: NonZeroU64::new(u64::from_be_bytes(span_id.to_bytes()))?,
        })
    }

    /// The trace id.
    #[cfg(test)]
    pub(crate) fn trace_id(self) -> TraceId {
        TraceId::from_bytes(
            ((u128::from(self.trace_high) << 64) | u128::from(self.trace_low)).to_be_bytes(),
        )
    }

    /// The span id.
    #[cfg(test)]
    pub(crate) fn span_id(self) -> SpanId {
        SpanId::from_bytes(self.span.get().to_be_bytes())
    }
}

/// A sequence lock around the exemplar's fields, all atomics, with one writer: the thread
/// whose cells hold the slot (see `cells`), so taking it is a plain store of an odd sequence,
/// not a compare-and-swap (a `lock`-prefixed instruction, two a sampled request). Writing costs
/// seven stores on a line of that thread's cells; a scrape reading it while it changes sees an
/// odd or changed sequence and reads again. Replacing by recency keeps memory bounded to one
/// exemplar per slot.
#[derive(Default)]
pub(crate) struct ExemplarSlot {
    /// Even: stable; odd: being written; 0: never written.
    sequence: AtomicU64,
    trace_high: AtomicU64,
    trace_low: AtomicU64,
    span: AtomicU64,
    value: AtomicU64,
    /// Since the Unix epoch.
    timestamp_nanos: AtomicU64,
}

impl ExemplarSlot {
    /// Replaces the exemplar with this one. Only the thread that owns the slot's cells calls
    /// this.
    #[inline]
    pub(crate) fn record(&self, trace: SampledTrace, value: f64, at: SystemTime) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        self.sequence.store(sequence + 1, Ordering::Relaxed);
        // The stores below must not become visible before the odd sequence.
        fence(Ordering::Release);
        self.trace_high.store(trace.trace_high, Ordering::Relaxed);
        self.trace_low.store(trace.trace_low, Ordering::Relaxed);
        self.span.store(trace.span.get(), Ordering::Relaxed);
        self.value.store(value.to_bits(), Ordering::Relaxed);
        let nanos = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
            });
        self.timestamp_nanos.store(nanos, Ordering::Relaxed);
        self.sequence.store(sequence + 2, Ordering::Release);
    }

    /// The exemplar, if one was recorded and could be read whole.
    pub(crate) fn read(&self) -> Option<Exemplar> {
        // A few tries: a writer holds the slot for a handful of stores.
        for _ in 0..4 {
            let before = self.sequence.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let trace_id = (u128::from(self.trace_high.load(Ordering::Relaxed)) << 64)
                | u128::from(self.trace_low.load(Ordering::Relaxed));
            let span_id = self.span.load(Ordering::Relaxed);
            let value = f64::from_bits(self.value.load(Ordering::Relaxed));
            let nanos = self.timestamp_nanos.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.sequence.load(Ordering::Relaxed) == before {
                return Some(Exemplar {
                    trace_id: TraceId::from_bytes(trace_id.to_be_bytes()),
                    span_id: SpanId::from_bytes(span_id.to_be_bytes()),
                    value,
                    timestamp: SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos),
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sampled_trace_is_three_words_and_needs_a_valid_span_id() {
        // The span id's niche is `None`: no flag word, no 16-byte alignment.
        assert_eq!(std::mem::size_of::<Option<SampledTrace>>(), 24);
        assert_eq!(std::mem::align_of::<SampledTrace>(), 8);
        let trace_id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        assert_eq!(SampledTrace::new(trace_id, SpanId::INVALID), None);
        let trace = SampledTrace::new(trace_id, SpanId::from_hex("0000000000000001").unwrap());
        assert_eq!(
            trace.map(|t| (t.trace_id(), t.span_id().to_string())),
            Some((trace_id, "0000000000000001".to_string()))
        );
    }

    #[test]
    fn a_slot_keeps_the_latest_exemplar_whole() {
        let slot = ExemplarSlot::default();
        assert_eq!(slot.read(), None);
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let first = SampledTrace::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
        )
        .unwrap();
        slot.record(first, 0.25, at);
        let read = slot.read().unwrap();
        assert_eq!(
            read.trace_id,
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap()
        );
        assert_eq!(read.span_id, SpanId::from_hex("b7ad6b7169203331").unwrap());
        assert_eq!(
            (first.trace_id(), first.span_id()),
            (read.trace_id, read.span_id)
        );
        assert_eq!(read.value, 0.25);
        assert_eq!(read.timestamp, at);

        let second = SampledTrace::new(
            TraceId::from_hex("ffffffffffffffff0000000000000001").unwrap(),
            SpanId::from_hex("0000000000000002").unwrap(),
        )
        .unwrap();
        slot.record(second, 1.5, at + Duration::from_secs(1));
        let read = slot.read().unwrap();
        assert_eq!(
            (read.trace_id, read.span_id, read.value),
            (second.trace_id(), second.span_id(), 1.5)
        );
    }

    #[test]
    fn concurrent_readers_never_see_a_torn_exemplar() {
        let slot = std::sync::Arc::new(ExemplarSlot::default());
        let writer = {
            let slot = slot.clone();
            std::thread::spawn(move || {
                for i in 1..=20_000u64 {
                    // Every field derived from i: a torn read mixes two i's.
                    let trace = SampledTrace::new(
                        TraceId::from_bytes(((u128::from(i) << 64) | u128::from(i)).to_be_bytes()),
                        SpanId::from_bytes(i.to_be_bytes()),
                    )
                    .unwrap();
                    slot.record(
                        trace,
                        i as f64,
                        SystemTime::UNIX_EPOCH + Duration::from_nanos(i),
                    );
                }
            })
        };
        let mut seen = 0;
        while !writer.is_finished() || seen == 0 {
            if let Some(exemplar) = slot.read() {
                let i = u64::from_be_bytes(exemplar.span_id.to_bytes());
                let trace = u128::from_be_bytes(exemplar.trace_id.to_bytes());
                assert_eq!(trace, (u128::from(i) << 64) | u128::from(i));
                assert_eq!(exemplar.value, i as f64);
                assert_eq!(
                    exemplar.timestamp,
                    SystemTime::UNIX_EPOCH + Duration::from_nanos(i)
                );
                seen += 1;
            }
        }
        writer.join().unwrap();
        assert!(seen > 0);
    }
}
