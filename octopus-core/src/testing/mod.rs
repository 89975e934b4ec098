//! Test receivers that decode the real wire formats, for Octopus's own tests and the
//! adapters' (cargo feature `testing`).
//!
//! - [`jaeger_agent::JaegerAgentReceiver`]: a UDP socket decoding thrift compact `emitBatch`;
//! - [`otlp::OtlpGrpcReceiver`] and [`otlp::OtlpHttpReceiver`]: OTLP collectors decoding the
//!   protobuf requests; [`otlp::BlackHole`] and [`otlp::closed_port`] for broken backends.

pub mod jaeger_agent;
pub mod otlp;
