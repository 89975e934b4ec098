//! Span exporters Octopus implements itself.
//!
//! OTLP and console export use `opentelemetry-otlp` and `opentelemetry-stdout`; the Jaeger
//! agent protocol has no maintained crate on the current `opentelemetry`, so it lives here:
//! [`jaeger_thrift`] is the wire model, [`jaeger_agent`] the exporter.

pub mod jaeger_agent;
pub mod jaeger_thrift;
