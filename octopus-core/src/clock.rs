//! Wall-clock times of monotonic instants, without reading the wall clock per request.
//!
//! A request with metrics and a sampled span used to read the clock five times: an `Instant` at
//! start and end for the latency, a `SystemTime` at start and end for the span, one more for the
//! exemplar. [`Octopus`](crate::Octopus) now reads one `Instant` at each end and shares it; the
//! span's and the exemplar's wall-clock times are derived from it here. Under load a clock read
//! cost about 37 ns on the 2-core development machine (`perf record` of the axum demo under
//! wrk, `__vdso_clock_gettime`: 184 ns a request with metrics and always-on tracing, 77 ns with
//! metrics alone).
//!
//! The derivation is exact as long as the wall clock is not stepped: `CLOCK_REALTIME` and
//! `CLOCK_MONOTONIC` advance at the same (NTP-slewed) rate, so their difference only changes
//! when the wall clock is set. Each thread keeps an anchor — an `Instant` and the `SystemTime`
//! read right after it — and takes a new one when the instant converted is more than
//! [`ANCHOR_REFRESH`] away from it: a step shows in spans within that time.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime};

/// How long a thread's anchor is used (either side of it) before a new one is read.
pub(crate) const ANCHOR_REFRESH: Duration = Duration::from_secs(1);

thread_local! {
    static ANCHOR: Cell<Option<(Instant, SystemTime)>> = const { Cell::new(None) };
}

/// The wall-clock time of `at`.
#[inline]
pub(crate) fn wall_time(at: Instant) -> SystemTime {
    ANCHOR
        .try_with(|anchor| {
            let (instant, wall) = match anchor.get() {
                Some(fresh) if distance(at, fresh.0) <= ANCHOR_REFRESH => fresh,
                _ => {
                    let new = read_anchor();
                    anchor.set(Some(new));
                    new
                }
            };
            shift(wall, instant, at)
        })
        // Only while the thread is being torn down.
        .unwrap_or_else(|_| {
            let (instant, wall) = read_anchor();
            shift(wall, instant, at)
        })
}

/// Both clocks, read back to back.
#[cold]
fn read_anchor() -> (Instant, SystemTime) {
    (Instant::now(), SystemTime::now())
}

/// `wall`, the wall-clock time of `instant`, moved to `at`.
#[inline]
fn shift(wall: SystemTime, instant: Instant, at: Instant) -> SystemTime {
    if at >= instant {
        wall + (at - instant)
    } else {
        wall - (instant - at)
    }
}

#[inline]
fn distance(a: Instant, b: Instant) -> Duration {
    if a >= b { a - b } else { b - a }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The derived time is the wall clock's, read around it, and differences between instants
    /// are kept exactly, both sides of the anchor.
    #[test]
    fn wall_times_follow_the_wall_clock_and_keep_durations() {
        let before = SystemTime::now();
        let now = Instant::now();
        let derived = wall_time(now);
        let after = SystemTime::now();
        assert!(
            before <= derived && derived <= after,
            "{before:?} {derived:?} {after:?}"
        );

        let earlier = now - Duration::from_millis(300);
        let later = now + Duration::from_millis(700);
        assert_eq!(
            wall_time(later).duration_since(wall_time(earlier)).unwrap(),
            Duration::from_millis(1000)
        );
        assert_eq!(
            derived.duration_since(wall_time(earlier)).unwrap(),
            Duration::from_millis(300)
        );
    }

    /// An instant further from the anchor than the refresh period gets a new anchor, and its
    /// time is still right.
    #[test]
    fn a_distant_instant_takes_a_new_anchor() {
        let now = Instant::now();
        let _ = wall_time(now);
        let first = ANCHOR.with(Cell::get).expect("anchored").0;
        let far = now + 3 * ANCHOR_REFRESH;
        let expected = SystemTime::now() + (far - Instant::now());
        let derived = wall_time(far);
        let second = ANCHOR.with(Cell::get).expect("anchored").0;
        assert!(second > first, "re-anchored");
        let error = match derived.duration_since(expected) {
            Ok(late) => late,
            Err(early) => early.duration(),
        };
        assert!(error < Duration::from_millis(50), "{error:?}");
    }
}
