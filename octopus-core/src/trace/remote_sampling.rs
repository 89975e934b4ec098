//! Jaeger remote sampling: the `jaeger_remote` and `parentbased_jaeger_remote` samplers of the
//! OpenTelemetry specification, fed by the per-service strategies a Jaeger agent or collector
//! serves over HTTP (`GET {endpoint}?service={service_name}`).
//!
//! # Why not `opentelemetry_sdk`'s `JaegerRemoteSampler`
//!
//! The SDK ships one (feature `jaeger_remote_sampler`), but its rate limiter refills by whole
//! elapsed seconds and restarts its clock on every decision, so under steady traffic (any
//! request less than a second after the previous one) it never refills: after its initial
//! bucket of 100 traces a rate-limited service samples nothing; and that initial bucket lets
//! 100 traces through at once, above any configured rate. It also reports fetch failures only
//! through OpenTelemetry's internal log, and takes a lock on every decision. This sampler is
//! written for those three reasons: a limiter that never exceeds its rate, failures on stderr
//! once, and a lock-free decision (the strategy is read through an `ArcSwap`).
//!
//! # What it does
//!
//! - Until the first strategy arrives: probabilistic at `initial_sampling_rate`.
//! - `PROBABILISTIC`: by trace id, as `traceidratio` does (the same trace gets the same
//!   decision in every service sampling at the same rate).
//! - `RATE_LIMITING`: at most `maxTracesPerSecond` new traces a second, no burst.
//! - Per operation (`operationSampling`): the operation is the span name (`GET /users/{id}`);
//!   each listed operation has its rate, the others the default; an operation is also sampled
//!   when its lower bound (`defaultLowerBoundTracesPerSecond`) allows, as Jaeger's guaranteed
//!   throughput does.
//! - A poller thread fetches the strategy every `polling_interval_ms`, off the request path; a
//!   fetch that fails (unreachable, not 200, not a strategy) keeps the last good strategy and
//!   is reported on stderr once when failures start and once when the endpoint answers again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use opentelemetry::trace::{Link, SpanKind, TraceContextExt as _, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};
use serde_json::Value;

use crate::config::JaegerRemoteSampling;

/// A strategy as served, decided on without a lock.
#[derive(Debug)]
enum Strategy {
    Probabilistic(Probability),
    RateLimiting(RateLimiter),
    PerOperation {
        default: OperationSampler,
        operations: HashMap<String, OperationSampler>,
    },
}

/// A sampling rate as the trace-id threshold `traceidratio` compares against.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Probability {
    rate: f64,
    /// Traces whose low 63 bits of id fall below this are sampled.
    threshold: u64,
}

impl Probability {
    fn new(rate: f64) -> Self {
        let rate = rate.clamp(0.0, 1.0);
        Probability {
            rate,
            // 2^63 * rate; rate 1.0 gives 2^63, above every 63-bit value.
            threshold: (rate * (1u64 << 63) as f64) as u64,
        }
    }

    fn samples(&self, trace_id: TraceId) -> bool {
        let bytes = trace_id.to_bytes();
        let low = u64::from_be_bytes(bytes[8..].try_into().expect("8 bytes"));
        (low >> 1) < self.threshold
    }
}

/// At most `per_second` decisions say yes a second, with no burst: each yes moves the
/// earliest time of the next one on by `1 / per_second` (the generic cell rate algorithm, one
/// atomic compare-and-swap on the yes path).
#[derive(Debug)]
struct RateLimiter {
    /// `1 / per_second`; `u64::MAX` refuses everything (a rate of 0).
    interval_nanos: u64,
    /// Nanoseconds since [`epoch`] before which the next trace is refused.
    next: AtomicU64,
}

/// The monotonic origin of the limiters' clocks.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl RateLimiter {
    fn new(per_second: f64) -> Self {
        let interval_nanos = if per_second > 0.0 {
            (1e9 / per_second).min(u64::MAX as f64) as u64
        } else {
            u64::MAX
        };
        RateLimiter {
            interval_nanos,
            next: AtomicU64::new(0),
        }
    }

    /// Starts where `previous` is: its next trace is not admitted earlier.
    fn continue_from(&self, previous: &RateLimiter) {
        self.next
            .store(previous.next.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    fn allows(&self) -> bool {
        if self.interval_nanos == u64::MAX {
            return false;
        }
        let now = u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut next = self.next.load(Ordering::Relaxed);
        loop {
            if now < next {
                return false;
            }
            match self.next.compare_exchange_weak(
                next,
                now.saturating_add(self.interval_nanos),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(current) => next = current,
            }
        }
    }
}

/// One operation's sampler: its probability, or its lower bound of traces a second.
#[derive(Debug)]
struct OperationSampler {
    probability: Probability,
    lower_bound: Option<RateLimiter>,
}

impl OperationSampler {
    fn continue_from(&self, previous: &OperationSampler) {
        if let (Some(next), Some(last)) = (&self.lower_bound, &previous.lower_bound) {
            next.continue_from(last);
        }
    }

    fn samples(&self, trace_id: TraceId) -> bool {
        self.probability.samples(trace_id)
            || self.lower_bound.as_ref().is_some_and(RateLimiter::allows)
    }
}

impl Strategy {
    /// Keeps the limiters' clocks of `previous` where this strategy limits the same thing:
    /// the strategy is fetched again every interval, and a fresh limiter would let one more
    /// trace through each time.
    fn carry_over(&self, previous: &Strategy) {
        match (self, previous) {
            (Strategy::RateLimiting(next), Strategy::RateLimiting(last)) => {
                next.continue_from(last)
            }
            (
                Strategy::PerOperation {
                    default,
                    operations,
                },
                Strategy::PerOperation {
                    default: last_default,
                    operations: last_operations,
                },
            ) => {
                default.continue_from(last_default);
                for (name, sampler) in operations {
                    if let Some(last) = last_operations.get(name) {
                        sampler.continue_from(last);
                    }
                }
            }
            _ => {}
        }
    }

    fn samples(&self, trace_id: TraceId, operation: &str) -> bool {
        match self {
            Strategy::Probabilistic(probability) => probability.samples(trace_id),
            Strategy::RateLimiting(limiter) => limiter.allows(),
            Strategy::PerOperation {
                default,
                operations,
            } => operations
                .get(operation)
                .unwrap_or(default)
                .samples(trace_id),
        }
    }

    /// Reads a Jaeger `SamplingStrategyResponse` in its JSON form (names as Jaeger's
    /// collector writes them; `strategyType` as a name or its number).
    fn parse(body: &[u8]) -> Result<Strategy, String> {
        let json: Value =
            serde_json::from_slice(body).map_err(|error| format!("not JSON: {error}"))?;
        let rate = |value: &Value, what: &str| -> Result<f64, String> {
            match value.as_f64() {
                Some(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
                _ => Err(format!(
                    "{what} must be a number from 0.0 to 1.0, not {value}"
                )),
            }
        };
        let per_second = |value: &Value, what: &str| -> Result<f64, String> {
            match value.as_f64() {
                Some(limit) if limit >= 0.0 && limit.is_finite() => Ok(limit),
                _ => Err(format!("{what} must be a number of 0 or more, not {value}")),
            }
        };
        let operation_sampling = &json["operationSampling"];
        if operation_sampling.is_object() {
            let lower_bound = per_second(
                operation_sampling
                    .get("defaultLowerBoundTracesPerSecond")
                    .unwrap_or(&Value::from(0.0)),
                "defaultLowerBoundTracesPerSecond",
            )?;
            let sampler = |probability: f64| OperationSampler {
                probability: Probability::new(probability),
                lower_bound: (lower_bound > 0.0).then(|| RateLimiter::new(lower_bound)),
            };
            let default = sampler(rate(
                &operation_sampling["defaultSamplingProbability"],
                "defaultSamplingProbability",
            )?);
            let mut operations = HashMap::new();
            if let Some(list) = operation_sampling["perOperationStrategies"].as_array() {
                for entry in list {
                    let name = entry["operation"]
                        .as_str()
                        .ok_or_else(|| format!("an operation without a name: {entry}"))?;
                    let probability = rate(
                        &entry["probabilisticSampling"]["samplingRate"],
                        &format!("{name}: samplingRate"),
                    )?;
                    operations.insert(name.to_owned(), sampler(probability));
                }
            }
            return Ok(Strategy::PerOperation {
                default,
                operations,
            });
        }
        match &json["strategyType"] {
            Value::String(kind) if kind == "PROBABILISTIC" => {}
            Value::Number(kind) if kind.as_u64() == Some(0) => {}
            Value::String(kind) if kind == "RATE_LIMITING" => {
                return Ok(Strategy::RateLimiting(RateLimiter::new(per_second(
                    &json["rateLimitingSampling"]["maxTracesPerSecond"],
                    "maxTracesPerSecond",
                )?)));
            }
            Value::Number(kind) if kind.as_u64() == Some(1) => {
                return Ok(Strategy::RateLimiting(RateLimiter::new(per_second(
                    &json["rateLimitingSampling"]["maxTracesPerSecond"],
                    "maxTracesPerSecond",
                )?)));
            }
            other => return Err(format!("unknown strategyType {other}")),
        }
        Ok(Strategy::Probabilistic(Probability::new(rate(
            &json["probabilisticSampling"]["samplingRate"],
            "samplingRate",
        )?)))
    }
}

/// The `jaeger_remote` sampler. Dropping it (and its clones) stops its poller.
#[derive(Clone)]
pub(crate) struct JaegerRemoteSampler {
    strategy: Arc<ArcSwap<Strategy>>,
    /// Dropped with the last clone: the poller sees the channel close and exits.
    _stop: Arc<mpsc::Sender<()>>,
}

impl std::fmt::Debug for JaegerRemoteSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JaegerRemoteSampler")
            .field("strategy", &self.strategy.load())
            .finish()
    }
}

impl JaegerRemoteSampler {
    /// Starts polling `settings.endpoint` for `service`'s strategy on a thread of its own.
    pub(crate) fn start(service: &str, settings: &JaegerRemoteSampling) -> Self {
        let strategy = Arc::new(ArcSwap::from_pointee(Strategy::Probabilistic(
            Probability::new(settings.initial_sampling_rate),
        )));
        let (stop, stopped) = mpsc::channel();
        let url = strategy_url(&settings.endpoint, service);
        let interval = Duration::from_millis(settings.polling_interval_ms);
        let initial = settings.initial_sampling_rate;
        let shared = strategy.clone();
        let spawned = std::thread::Builder::new()
            .name("octopus-sampling".into())
            .spawn(move || poll(&url, interval, initial, &shared, &stopped));
        if let Err(error) = spawned {
            eprintln!("octopus: cannot start the Jaeger remote sampling poller: {error}");
        }
        JaegerRemoteSampler {
            strategy,
            _stop: Arc::new(stop),
        }
    }

    #[cfg(test)]
    fn with_strategy(strategy: Strategy) -> Self {
        let (stop, _) = mpsc::channel();
        JaegerRemoteSampler {
            strategy: Arc::new(ArcSwap::from_pointee(strategy)),
            _stop: Arc::new(stop),
        }
    }
}

impl ShouldSample for JaegerRemoteSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        _span_kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let decision = if self.strategy.load().samples(trace_id, name) {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        };
        let trace_state = parent_context
            .filter(|context| context.has_active_span())
            .map(|context| context.span().span_context().trace_state().clone())
            .unwrap_or_default();
        SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state,
        }
    }
}

/// `{endpoint}?service={service}`, the service percent-encoded.
fn strategy_url(endpoint: &str, service: &str) -> String {
    let mut encoded = String::with_capacity(service.len());
    for byte in service.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{separator}service={encoded}")
}

/// The poller: fetches, replaces the strategy when a valid one arrives, says on stderr when
/// fetching starts failing and when it recovers, and exits when the sampler is dropped.
fn poll(
    url: &str,
    interval: Duration,
    initial: f64,
    strategy: &ArcSwap<Strategy>,
    stopped: &mpsc::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("octopus: cannot start the Jaeger remote sampling poller: {error}");
            return;
        }
    };
    // A fetch never outlasts the interval, nor 10 s.
    let timeout = interval.min(Duration::from_secs(10));
    let client = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(client) => client,
        Err(error) => {
            eprintln!("octopus: cannot start the Jaeger remote sampling poller: {error}");
            return;
        }
    };
    let mut failing = false;
    let mut fetched_once = false;
    loop {
        let fetched = runtime.block_on(async {
            let response = client
                .get(url)
                .send()
                .await
                .map_err(|error| format!("unreachable: {error}"))?;
            if !response.status().is_success() {
                return Err(format!("answered {}", response.status()));
            }
            let body = response
                .bytes()
                .await
                .map_err(|error| format!("body: {error}"))?;
            Strategy::parse(&body)
        });
        match fetched {
            Ok(next) => {
                next.carry_over(&strategy.load());
                strategy.store(Arc::new(next));
                if failing {
                    eprintln!("octopus: the sampling strategy endpoint {url} answers again");
                }
                failing = false;
                fetched_once = true;
            }
            Err(reason) => {
                if !failing {
                    let keeping = if fetched_once {
                        "the last strategy it served".to_owned()
                    } else {
                        format!("the initial sampling rate {initial}")
                    };
                    eprintln!(
                        "octopus: cannot fetch the sampling strategy from {url}: {reason}; \
                         sampling with {keeping} until it answers (reported once until it \
                         recovers)"
                    );
                }
                failing = true;
            }
        }
        match stopped.recv_timeout(interval) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // The sampler was dropped.
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(n: u64) -> TraceId {
        // Spread over the id space as random ids are.
        let mixed = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (n << 17);
        TraceId::from_bytes(((u128::from(n) << 64) | u128::from(mixed)).to_be_bytes())
    }

    fn sampled(sampler: &JaegerRemoteSampler, n: u64, name: &str) -> bool {
        sampler
            .should_sample(None, trace(n), name, &SpanKind::Server, &[], &[])
            .decision
            == SamplingDecision::RecordAndSample
    }

    /// Within 5 standard deviations of `rate` over `n` decisions.
    fn assert_fraction(count: usize, n: usize, rate: f64) {
        let sigma = (n as f64 * rate * (1.0 - rate)).sqrt();
        let expected = n as f64 * rate;
        assert!(
            (count as f64 - expected).abs() <= 5.0 * sigma + 1.0,
            "{count} of {n} sampled, expected about {expected}"
        );
    }

    #[test]
    fn strategies_parse_as_jaeger_serves_them() {
        let probabilistic = Strategy::parse(
            br#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.25}}"#,
        )
        .unwrap();
        assert!(matches!(probabilistic, Strategy::Probabilistic(p) if p.rate == 0.25));
        let numbered = Strategy::parse(
            br#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":5}}"#,
        )
        .unwrap();
        assert!(matches!(numbered, Strategy::RateLimiting(l) if l.interval_nanos == 200_000_000));
        let per_operation = Strategy::parse(
            br#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5},
                "operationSampling":{"defaultSamplingProbability":0.1,"defaultLowerBoundTracesPerSecond":0,
                "perOperationStrategies":[{"operation":"GET /a","probabilisticSampling":{"samplingRate":0.8}}]}}"#,
        )
        .unwrap();
        let Strategy::PerOperation {
            default,
            operations,
        } = per_operation
        else {
            panic!("per operation");
        };
        assert_eq!(default.probability.rate, 0.1);
        assert!(default.lower_bound.is_none());
        assert_eq!(operations["GET /a"].probability.rate, 0.8);

        for bad in [
            &b"not json"[..],
            br#"{"strategyType":"SOMETIMES"}"#,
            br#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1.5}}"#,
            br#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":-1}}"#,
            br#"{"operationSampling":{"defaultSamplingProbability":"x"}}"#,
        ] {
            assert!(
                Strategy::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn probabilistic_and_per_operation_fractions_match_the_strategy() {
        let n = 20_000;
        let sampler =
            JaegerRemoteSampler::with_strategy(Strategy::Probabilistic(Probability::new(0.25)));
        let count = (0..n)
            .filter(|&i| sampled(&sampler, i as u64, "GET /x"))
            .count();
        assert_fraction(count, n, 0.25);

        let sampler = JaegerRemoteSampler::with_strategy(
            Strategy::parse(
                br#"{"operationSampling":{"defaultSamplingProbability":0.1,
                    "perOperationStrategies":[{"operation":"GET /a","probabilisticSampling":{"samplingRate":0.8}}]}}"#,
            )
            .unwrap(),
        );
        let a = (0..n)
            .filter(|&i| sampled(&sampler, i as u64, "GET /a"))
            .count();
        let b = (0..n)
            .filter(|&i| sampled(&sampler, i as u64, "GET /b"))
            .count();
        assert_fraction(a, n, 0.8);
        assert_fraction(b, n, 0.1);
    }

    #[test]
    fn the_same_trace_gets_the_same_decision_as_traceidratio() {
        use opentelemetry_sdk::trace::Sampler;
        let ours =
            JaegerRemoteSampler::with_strategy(Strategy::Probabilistic(Probability::new(0.3)));
        let theirs = Sampler::TraceIdRatioBased(0.3);
        for i in 0..5_000u64 {
            let expected = theirs
                .should_sample(None, trace(i), "x", &SpanKind::Server, &[], &[])
                .decision;
            assert_eq!(
                sampled(&ours, i, "x"),
                expected == SamplingDecision::RecordAndSample,
                "{i}"
            );
        }
    }

    #[test]
    fn a_rate_limit_is_never_exceeded_and_keeps_sampling_under_steady_traffic() {
        let limiter = RateLimiter::new(20.0);
        let started = Instant::now();
        let mut granted = 0;
        // Steady traffic, far above the limit, for 1.5 s.
        while started.elapsed() < Duration::from_millis(1_500) {
            if limiter.allows() {
                granted += 1;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        // 20 a second: at most 30 in 1.5 s, plus the first at time zero; and it kept
        // refilling (the SDK's limiter stops after its first bucket under such traffic).
        assert!(granted <= 31, "{granted} granted");
        assert!(granted >= 25, "{granted} granted");
        assert!(!RateLimiter::new(0.0).allows());
    }

    #[test]
    fn the_service_is_appended_to_the_endpoint() {
        assert_eq!(
            strategy_url("http://localhost:5778/sampling", "users api"),
            "http://localhost:5778/sampling?service=users%20api"
        );
        assert_eq!(
            strategy_url("http://h/sampling?x=1", "a"),
            "http://h/sampling?x=1&service=a"
        );
    }
}
