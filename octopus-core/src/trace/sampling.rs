//! Samplers from configuration, including the edge option of deciding locally.

use opentelemetry::trace::{SpanContext, TraceId};
use opentelemetry_sdk::trace::{ParentBasedSampler, Sampler, SamplingDecision, ShouldSample};

use super::remote_sampling::JaegerRemoteSampler;
use crate::OctopusConfig;
use crate::config::{InboundTrace, SamplerKind};

/// The sampler the configuration describes: kind, ratio, the Jaeger remote settings (the
/// remote samplers start polling their endpoint here, on a thread of their own) and the trust
/// in inbound decisions.
///
/// With [`InboundTrace::IgnoreSampledFlag`], a parent-based sampler does not trust a remote
/// parent's sampled flag: the trace id is continued, but the root sampler decides, as for a
/// new trace. Local parents (spans of this process) are still followed, so a trace stays
/// whole inside the service.
///
/// ```
/// use octopus_core::config::{InboundTrace, SamplerKind};
/// use octopus_core::OctopusConfig;
///
/// let config = OctopusConfig {
///     sampler: SamplerKind::ParentBasedTraceIdRatio,
///     sampler_arg: Some(0.25),
///     inbound_trace: InboundTrace::IgnoreSampledFlag,
///     ..OctopusConfig::default()
/// };
/// let sampler = octopus_core::trace::sampler(&config);
/// # drop(sampler);
/// ```
pub fn sampler(config: &OctopusConfig) -> Box<dyn ShouldSample> {
    let ratio = config.sampler_arg.unwrap_or(1.0);
    let remote =
        || JaegerRemoteSampler::start(&config.service_name, &config.jaeger_remote_sampling);
    let (root, parent_based): (Box<dyn ShouldSample>, bool) = match config.sampler {
        SamplerKind::AlwaysOn => (Box::new(Sampler::AlwaysOn), false),
        SamplerKind::AlwaysOff => (Box::new(Sampler::AlwaysOff), false),
        SamplerKind::TraceIdRatio => (Box::new(Sampler::TraceIdRatioBased(ratio)), false),
        SamplerKind::ParentBasedAlwaysOn => (Box::new(Sampler::AlwaysOn), true),
        SamplerKind::ParentBasedAlwaysOff => (Box::new(Sampler::AlwaysOff), true),
        SamplerKind::ParentBasedTraceIdRatio => (Box::new(Sampler::TraceIdRatioBased(ratio)), true),
        SamplerKind::JaegerRemote => (Box::new(remote()), false),
        SamplerKind::ParentBasedJaegerRemote => (Box::new(remote()), true),
    };
    match (parent_based, config.inbound_trace) {
        (false, _) => root,
        (true, InboundTrace::IgnoreSampledFlag) => Box::new(
            ParentBasedSampler::new(root.box_clone())
                .with_remote_parent_sampled(root.box_clone())
                .with_remote_parent_not_sampled(root),
        ),
        (true, _) => Box::new(ParentBasedSampler::new(root)),
    }
}

/// How the server span of a request is sampled. The configured kinds but Jaeger remote
/// sampling are decided here, from the parent's span context: the SDK's samplers take the
/// parent as a `Context`, which a request carrying only a `traceparent` would have to build
/// (an allocation and reference counting, 350 instructions of `core/tracing_unsampled`'s
/// 2 300; callgrind). The decisions are the SDK's, rule for rule (`Sampler` and
/// `ParentBasedSampler`); a test compares the two over every kind of parent.
#[derive(Debug)]
pub(crate) enum ServerSampler {
    /// Decided here.
    Native(NativeSampler),
    /// The SDK sampler (Jaeger remote sampling), asked with the parent's context.
    Sdk(Box<dyn ShouldSample>),
}

/// A sampler of the configured kinds but Jaeger remote sampling: see [`ServerSampler`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct NativeSampler {
    root: RootSampler,
    /// Parent-based: a valid parent's decision is followed (a remote parent's only with
    /// `trust_remote`), the root sampler decides for a new trace.
    parent_based: bool,
    /// A remote parent's sampled flag is followed ([`InboundTrace::IgnoreSampledFlag`] turns
    /// this off).
    trust_remote: bool,
}

/// The sampler deciding for a trace that has no parent to follow.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RootSampler {
    AlwaysOn,
    AlwaysOff,
    /// `TraceIdRatioBased`: the SDK's comparison of the trace id's low 63 bits.
    Ratio(f64),
}

impl RootSampler {
    fn decide(self, trace_id: TraceId) -> SamplingDecision {
        let sampled = match self {
            RootSampler::AlwaysOn => true,
            RootSampler::AlwaysOff => false,
            RootSampler::Ratio(ratio) if ratio >= 1.0 => true,
            RootSampler::Ratio(ratio) => {
                let upper_bound = (ratio.max(0.0) * (1u64 << 63) as f64) as u64;
                // The trace id's low eight bytes, big-endian.
                let low = u128::from_be_bytes(trace_id.to_bytes()) as u64;
                (low >> 1) < upper_bound
            }
        };
        if sampled {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        }
    }
}

impl ServerSampler {
    /// The server span's sampler for `config`; `sdk` is [`sampler`]`(config)`, kept for the
    /// kinds decided by the SDK.
    pub(crate) fn new(config: &OctopusConfig, sdk: Box<dyn ShouldSample>) -> Self {
        let ratio = config.sampler_arg.unwrap_or(1.0);
        let (root, parent_based) = match config.sampler {
            SamplerKind::AlwaysOn => (RootSampler::AlwaysOn, false),
            SamplerKind::AlwaysOff => (RootSampler::AlwaysOff, false),
            SamplerKind::TraceIdRatio => (RootSampler::Ratio(ratio), false),
            SamplerKind::ParentBasedAlwaysOn => (RootSampler::AlwaysOn, true),
            SamplerKind::ParentBasedAlwaysOff => (RootSampler::AlwaysOff, true),
            SamplerKind::ParentBasedTraceIdRatio => (RootSampler::Ratio(ratio), true),
            SamplerKind::JaegerRemote | SamplerKind::ParentBasedJaegerRemote => {
                return ServerSampler::Sdk(sdk);
            }
        };
        ServerSampler::Native(NativeSampler {
            root,
            parent_based,
            trust_remote: config.inbound_trace != InboundTrace::IgnoreSampledFlag,
        })
    }
}

impl NativeSampler {
    /// The decision for a span of `trace_id` whose parent is `parent` (invalid for a new
    /// trace).
    pub(crate) fn decide(self, parent: &SpanContext, trace_id: TraceId) -> SamplingDecision {
        let follow =
            self.parent_based && parent.is_valid() && (self.trust_remote || !parent.is_remote());
        match follow {
            false => self.root.decide(trace_id),
            true if parent.is_sampled() => SamplingDecision::RecordAndSample,
            true => SamplingDecision::Drop,
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::Context;
    use opentelemetry::trace::{SpanId, SpanKind, TraceContextExt, TraceFlags, TraceState};

    use super::*;

    /// Every parent a request can have: none, an invalid one, and valid ones remote or local,
    /// sampled or not, with a `tracestate`.
    fn parents() -> Vec<SpanContext> {
        let state = TraceState::from_key_value([("vendor", "value")]).expect("valid tracestate");
        let mut parents = vec![SpanContext::NONE, SpanContext::empty_context()];
        for remote in [true, false] {
            for flags in [TraceFlags::SAMPLED, TraceFlags::default()] {
                parents.push(SpanContext::new(
                    TraceId::from(0x0af7651916cd43dd8448eb211c80319c),
                    SpanId::from(0xb7ad6b7169203331),
                    flags,
                    remote,
                    state.clone(),
                ));
            }
        }
        parents
    }

    /// The native decisions are the SDK sampler's, for every configured kind but remote
    /// sampling, both trust modes, every kind of parent and trace ids over the whole range.
    #[test]
    fn native_decisions_are_the_sdk_samplers() {
        let kinds = SamplerKind::ALL.into_iter().filter(|kind| {
            !matches!(
                kind,
                SamplerKind::JaegerRemote | SamplerKind::ParentBasedJaegerRemote
            )
        });
        let mut compared = 0;
        for kind in kinds {
            for ratio in [None, Some(0.0), Some(0.25), Some(0.5), Some(1.0)] {
                for inbound_trace in [InboundTrace::Accept, InboundTrace::IgnoreSampledFlag] {
                    let config = OctopusConfig {
                        sampler: kind,
                        sampler_arg: ratio,
                        inbound_trace,
                        ..OctopusConfig::default()
                    };
                    let sdk = sampler(&config);
                    let ServerSampler::Native(native) =
                        ServerSampler::new(&config, sampler(&config))
                    else {
                        panic!("{kind:?} is decided natively");
                    };
                    for parent in parents() {
                        let context = if parent == SpanContext::NONE {
                            Context::new()
                        } else {
                            Context::new().with_remote_span_context(parent.clone())
                        };
                        // Trace ids spread over the range the ratio sampler compares.
                        for step in 0..64u128 {
                            let trace_id = TraceId::from(
                                step.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835) | 1,
                            );
                            let expected = sdk.should_sample(
                                Some(&context),
                                trace_id,
                                "GET /users/{id}",
                                &SpanKind::Server,
                                &[],
                                &[],
                            );
                            assert_eq!(
                                native.decide(&parent, trace_id),
                                expected.decision,
                                "{kind:?} ratio {ratio:?} {inbound_trace:?} parent {parent:?} trace {trace_id}"
                            );
                            assert_eq!(&expected.trace_state, parent.trace_state());
                            assert!(expected.attributes.is_empty());
                            compared += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(compared, 6 * 5 * 2 * 6 * 64);
    }

    #[test]
    fn remote_sampling_is_left_to_the_sdk() {
        for kind in [
            SamplerKind::JaegerRemote,
            SamplerKind::ParentBasedJaegerRemote,
        ] {
            let config = OctopusConfig {
                sampler: kind,
                ..OctopusConfig::default()
            };
            let sdk: Box<dyn ShouldSample> = Box::new(Sampler::AlwaysOn);
            assert!(matches!(
                ServerSampler::new(&config, sdk),
                ServerSampler::Sdk(_)
            ));
        }
    }
}
