//! Test receivers that decode the real wire formats, for Octopus's own tests and the
//! adapters' (cargo feature `testing`).
//!
//! - [`jaeger_agent::JaegerAgentReceiver`]: a UDP socket decoding thrift compact `emitBatch`.

pub mod jaeger_agent;
