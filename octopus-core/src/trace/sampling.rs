//! Samplers from configuration, including the edge option of deciding locally.

use opentelemetry_sdk::trace::{ParentBasedSampler, Sampler, ShouldSample};

use crate::config::{InboundTrace, SamplerKind};

/// The SDK sampler for a configured kind and ratio (default ratio 1.0).
///
/// With [`InboundTrace::IgnoreSampledFlag`], a parent-based sampler does not trust a remote
/// parent's sampled flag: the trace id is continued, but the root sampler decides, as for a
/// new trace. Local parents (spans of this process) are still followed, so a trace stays
/// whole inside the service.
///
/// ```
/// use octopus_core::config::{InboundTrace, SamplerKind};
///
/// let sampler = octopus_core::trace::sampler(
///     SamplerKind::ParentBasedTraceIdRatio,
///     Some(0.25),
///     InboundTrace::IgnoreSampledFlag,
/// );
/// # drop(sampler);
/// ```
pub fn sampler(
    kind: SamplerKind,
    ratio: Option<f64>,
    inbound: InboundTrace,
) -> Box<dyn ShouldSample> {
    let ratio = ratio.unwrap_or(1.0);
    let (root, parent_based) = match kind {
        SamplerKind::AlwaysOn => (Sampler::AlwaysOn, false),
        SamplerKind::AlwaysOff => (Sampler::AlwaysOff, false),
        SamplerKind::TraceIdRatio => (Sampler::TraceIdRatioBased(ratio), false),
        SamplerKind::ParentBasedAlwaysOn => (Sampler::AlwaysOn, true),
        SamplerKind::ParentBasedAlwaysOff => (Sampler::AlwaysOff, true),
        SamplerKind::ParentBasedTraceIdRatio => (Sampler::TraceIdRatioBased(ratio), true),
    };
    match (parent_based, inbound) {
        (false, _) => Box::new(root),
        (true, InboundTrace::IgnoreSampledFlag) => Box::new(
            ParentBasedSampler::new(root.clone())
                .with_remote_parent_sampled(root.clone())
                .with_remote_parent_not_sampled(root),
        ),
        (true, _) => Box::new(ParentBasedSampler::new(root)),
    }
}
