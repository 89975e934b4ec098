//! The request clock: a request's start and end, read fast, and the wall-clock times that
//! spans and exemplars need, derived from them.
//!
//! **Reading.** A request with metrics reads the clock at each end (one read shared by metrics
//! and the span, see [`Octopus`](crate::Octopus)). `std::time::Instant::now()` — the vDSO's
//! `clock_gettime` — cost 23.2 ns a read on the 2-core development machine (AMD EPYC, `tsc`
//! clock source, 2026-11-30, 20 million reads), about a fifth of `core/metrics`; the CPU's
//! time-stamp counter read through `quanta` (the clock of the `metrics` crates) cost 9.6 ns,
//! the same as a bare `rdtsc`. `quanta` uses the counter only where it is invariant (CPUID) or
//! is the ARMv8 system counter, calibrated once against `CLOCK_MONOTONIC` (0.6 ms here; done
//! when an observer is built, see [`calibrate`]), and `clock_gettime` elsewhere.
//!
//! **Given moments stay on their clock.** Callers may give their own `std::time::Instant`s
//! ([`RequestView::with_received_at`](crate::RequestView::with_received_at),
//! [`ResponseView::with_finished_at`](crate::ResponseView::with_finished_at)). The counter's
//! calibration differs from `CLOCK_MONOTONIC` by 1.5 to 16 parts per million (measured here
//! over 2 s): nothing over a request, but up to 1.4 s over a day. So a [`Moment`] remembers
//! which clock it is on, a request that started at a given instant ends on the same clock, and
//! a duration between two moments of one clock is exact.
//!
//! **Wall-clock times without reading the wall clock per request.** The span's and the
//! exemplar's wall-clock times are derived from the moment. The derivation is exact as long as
//! the wall clock is not stepped: `CLOCK_REALTIME` and `CLOCK_MONOTONIC` advance at the same
//! (NTP-slewed) rate, so their difference only changes when the wall clock is set. Each thread
//! keeps an anchor per clock — a moment and the `SystemTime` read right after it — and takes a
//! new one when the moment converted is more than [`ANCHOR_REFRESH`] away from it: a step shows
//! in spans within that time, and the counter's drift from the wall clock stays under 20 µs.

use std::cell::Cell;
use std::ops::Sub;
use std::sync::OnceLock;
use std::thread::LocalKey;
use std::time::{Duration, Instant, SystemTime};

/// How long a thread's anchor is used (either side of it) before a new one is read.
pub(crate) const ANCHOR_REFRESH: Duration = Duration::from_secs(1);

thread_local! {
    /// The anchor of moments read on the counter.
    static ANCHOR: Cell<Option<(quanta::Instant, SystemTime)>> = const { Cell::new(None) };
    /// The anchor of given moments, on their own clock so that two of them keep their distance
    /// exactly on the wall clock too.
    static GIVEN_ANCHOR: Cell<Option<(Instant, SystemTime)>> = const { Cell::new(None) };
}

/// The counter, held here rather than read through `quanta::Instant::now()`, which on every
/// read first looks in a thread-local for a mock clock (quanta's `with_clock`, for its users'
/// tests) and then in a global `OnceCell` for this same clock: 89 instructions a read, two
/// reads a request, against 20 for `Clock::now` on this one; `core/metrics` 807 → 745
/// instructions a request (callgrind, 2026-12-01). Every `quanta::Clock` shares one
/// calibration per process, so instants read here and through `quanta::Instant::now()`
/// compare as before.
static COUNTER: OnceLock<quanta::Clock> = OnceLock::new();

/// Now, on the counter.
#[inline]
fn counter_now() -> quanta::Instant {
    COUNTER.get_or_init(quanta::Clock::new).now()
}

/// Calibrates the counter (once per process; later calls cost a read), so that the first
/// request does not pay for it. Called where observers are built.
pub(crate) fn calibrate() {
    let _ = counter_now();
}

/// When a request started or ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Moment {
    /// Read by Octopus, on the counter.
    Read(quanta::Instant),
    /// Given by the caller.
    Given(Instant),
}

impl Moment {
    /// Now, on the counter.
    #[inline]
    pub(crate) fn now() -> Self {
        Self::Read(counter_now())
    }

    /// The moment given, or now.
    #[inline]
    pub(crate) fn given_or_now(given: Option<Instant>) -> Self {
        given.map_or_else(Self::now, Self::Given)
    }

    /// The end of something that started at `self`: the moment given, or now on `self`'s
    /// clock, so that the duration between them is exact.
    #[inline]
    pub(crate) fn end(self, given: Option<Instant>) -> Self {
        match (given, self) {
            (Some(given), _) => Self::Given(given),
            (None, Self::Read(_)) => Self::now(),
            (None, Self::Given(_)) => Self::Given(Instant::now()),
        }
    }

    /// The time from `earlier` to `self`; zero if `earlier` is later.
    #[inline]
    pub(crate) fn saturating_since(self, earlier: Self) -> Duration {
        match (self, earlier) {
            (Self::Read(at), Self::Read(earlier)) => at.saturating_duration_since(earlier),
            (Self::Given(at), Self::Given(earlier)) => at.saturating_duration_since(earlier),
            // One given end and one read (a caller who gave one end only): both on the counter.
            (at, earlier) => at
                .on_counter()
                .saturating_duration_since(earlier.on_counter()),
        }
    }

    /// The wall-clock time of `self`.
    #[inline]
    pub(crate) fn wall_time(self) -> SystemTime {
        match self {
            Self::Read(at) => anchored(&ANCHOR, at, counter_now),
            Self::Given(at) => anchored(&GIVEN_ANCHOR, at, Instant::now),
        }
    }

    /// `self` on the counter: a given instant is moved by a pair of reads made now (off by the
    /// counter's drift over the instant's age: microseconds for a request's).
    #[inline]
    fn on_counter(self) -> quanta::Instant {
        match self {
            Self::Read(at) => at,
            Self::Given(at) => {
                let (now, counter) = (Instant::now(), counter_now());
                if at <= now {
                    counter.checked_sub(now - at).unwrap_or(counter)
                } else {
                    counter.checked_add(at - now).unwrap_or(counter)
                }
            }
        }
    }
}

/// The wall-clock time of `at`, from the thread's `anchor` for its clock (`now` reads that
/// clock), taking a new anchor when `at` is more than [`ANCHOR_REFRESH`] away from it.
#[inline]
fn anchored<T>(
    anchor: &'static LocalKey<Cell<Option<(T, SystemTime)>>>,
    at: T,
    now: fn() -> T,
) -> SystemTime
where
    T: Copy + Ord + Sub<Output = Duration>,
{
    // Both clocks, read back to back.
    let read = || (now(), SystemTime::now());
    anchor
        .try_with(|anchor| {
            let (instant, wall) = match anchor.get() {
                Some(fresh) if distance(at, fresh.0) <= ANCHOR_REFRESH => fresh,
                _ => {
                    let new = read();
                    anchor.set(Some(new));
                    new
                }
            };
            shift(wall, instant, at)
        })
        // Only while the thread is being torn down.
        .unwrap_or_else(|_| {
            let (instant, wall) = read();
            shift(wall, instant, at)
        })
}

/// `wall`, the wall-clock time of `instant`, moved to `at`.
#[inline]
fn shift<T: Ord + Sub<Output = Duration>>(wall: SystemTime, instant: T, at: T) -> SystemTime {
    if at >= instant {
        wall + (at - instant)
    } else {
        wall - (instant - at)
    }
}

#[inline]
fn distance<T: Ord + Sub<Output = Duration>>(a: T, b: T) -> Duration {
    if a >= b { a - b } else { b - a }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The derived time is the wall clock's, read around it, and differences between moments
    /// are kept exactly, both sides of the anchor.
    #[test]
    fn wall_times_follow_the_wall_clock_and_keep_durations() {
        let before = SystemTime::now();
        let now = Moment::now();
        let derived = now.wall_time();
        let after = SystemTime::now();
        assert!(
            before <= derived && derived <= after,
            "{before:?} {derived:?} {after:?}"
        );

        let Moment::Read(at) = now else {
            panic!("read on the counter")
        };
        let earlier = Moment::Read(at - Duration::from_millis(300));
        let later = Moment::Read(at + Duration::from_millis(700));
        assert_eq!(
            later.wall_time().duration_since(earlier.wall_time()).ok(),
            Some(Duration::from_millis(1000))
        );
        assert_eq!(
            derived.duration_since(earlier.wall_time()).ok(),
            Some(Duration::from_millis(300))
        );
    }

    /// A moment further from the anchor than the refresh period gets a new anchor, and its
    /// time is still right.
    #[test]
    fn a_distant_moment_takes_a_new_anchor() {
        let now = quanta::Instant::now();
        let _ = Moment::Read(now).wall_time();
        let first = ANCHOR.with(Cell::get).expect("anchored").0;
        let far = now + 3 * ANCHOR_REFRESH;
        let expected = SystemTime::now() + (far - quanta::Instant::now());
        let derived = Moment::Read(far).wall_time();
        let second = ANCHOR.with(Cell::get).expect("anchored").0;
        assert!(second > first, "re-anchored");
        let error = match derived.duration_since(expected) {
            Ok(late) => late,
            Err(early) => early.duration(),
        };
        assert!(error < Duration::from_millis(50), "{error:?}");
    }

    /// A duration read on the counter is the one `std::time::Instant` reads around it, up to
    /// the calibration's error, bounded here at 1 000 parts per million: 16 measured alone,
    /// but up to 170 (a 20 ms sleep read 3.4 µs long) when `quanta` calibrated while the
    /// other tests of this module kept the machine's two cores busy (2026-12-01, twelfth
    /// session; 100 failed one run in two). A unit or scale mistake is off by far more.
    #[test]
    fn a_read_duration_lies_between_the_std_readings_around_it() {
        let (outer_start, start, inner_start) = (Instant::now(), Moment::now(), Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        let (inner_end, end, outer_end) = (Instant::now(), start.end(None), Instant::now());
        assert!(matches!(end, Moment::Read(_)), "{end:?}");
        let read = end.saturating_since(start);
        let (shortest, longest) = (inner_end - inner_start, outer_end - outer_start);
        let slack = longest / 1_000;
        assert!(
            shortest.saturating_sub(slack) <= read && read <= longest + slack,
            "{shortest:?} <= {read:?} <= {longest:?}"
        );
        assert_eq!(start.saturating_since(end), Duration::ZERO);
    }

    /// A request given its start ends on the same clock, so its duration is exactly what the
    /// caller's instants say; a given end is taken as it is.
    #[test]
    fn given_moments_keep_their_durations_exactly() {
        let received = Instant::now() - Duration::from_millis(7);
        let start = Moment::given_or_now(Some(received));
        assert_eq!(start, Moment::Given(received));
        let end = start.end(None);
        let Moment::Given(ended) = end else {
            panic!("ends on the std clock: {end:?}")
        };
        assert_eq!(end.saturating_since(start), ended - received);
        assert!(end.saturating_since(start) >= Duration::from_millis(7));

        let given_end = start.end(Some(received + Duration::from_micros(1_234_567)));
        assert_eq!(
            given_end.saturating_since(start),
            Duration::from_micros(1_234_567)
        );
        // Their wall-clock times keep that distance exactly too.
        assert_eq!(
            given_end.wall_time().duration_since(start.wall_time()).ok(),
            Some(Duration::from_micros(1_234_567))
        );
    }

    /// A request that started on the counter and was given its end (a caller who knows when
    /// the response went out): the duration is taken on the counter, within microseconds.
    #[test]
    fn a_given_end_after_a_read_start_is_measured_on_the_counter() {
        let (before, start, after) = (Instant::now(), Moment::now(), Instant::now());
        let given = after + Duration::from_millis(400);
        let duration = start.end(Some(given)).saturating_since(start);
        // Between 400 ms and 400 ms plus the bracket around the start, up to the pair of reads
        // that moves the given end onto the counter (generous: a thread can be preempted).
        let slack = Duration::from_millis(50);
        assert!(
            Duration::from_millis(400) - slack <= duration
                && duration <= Duration::from_millis(400) + (after - before) + slack,
            "{duration:?}"
        );
        assert_eq!(
            Moment::now()
                .end(None)
                .saturating_since(Moment::Given(given)),
            Duration::ZERO
        );
    }
}
