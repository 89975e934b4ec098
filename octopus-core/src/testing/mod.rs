//! Test receivers that decode the real wire formats, and the checks every adapter's tests
//! share, for Octopus's own tests and the adapters' (cargo feature `testing`).
//!
//! - [`jaeger_agent::JaegerAgentReceiver`]: a UDP socket decoding thrift compact `emitBatch`;
//! - [`otlp::OtlpGrpcReceiver`] and [`otlp::OtlpHttpReceiver`]: OTLP collectors decoding the
//!   protobuf requests; [`otlp::BlackHole`] and [`otlp::closed_port`] for broken backends;
//! - [`exposition`]: `/metrics` text parsed into samples, looked up by name and labels;
//! - [`scenario`]: the over-TCP scenario (panics, a client that goes away, a traced call)
//!   driven against any served address, and the span checks the adapters share;
//! - [`body_sizes`]: the over-TCP scenario of the body size metrics (known lengths, chunked
//!   bodies, a stream that never ends);
//! - [`secrets`]: an Octopus with secrets in its configuration, and the check that a `Debug`
//!   output redacts them.

pub mod body_sizes;
pub mod exposition;
pub mod jaeger_agent;
pub mod otlp;
pub mod scenario;
pub mod secrets;
