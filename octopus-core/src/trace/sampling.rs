//! Samplers from configuration, including the edge option of deciding locally.

use opentelemetry_sdk::trace::{ParentBasedSampler, Sampler, ShouldSample};

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
