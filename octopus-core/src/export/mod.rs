//! Span exporters Octopus implements itself.
//!
//! OTLP and console export use `opentelemetry-otlp` and `opentelemetry-stdout`; the Jaeger
//! agent protocol has no maintained crate on the current `opentelemetry`, so it lives here:
//! [`jaeger_agent`] is the exporter, `jaeger_thrift` its wire model (private: the test
//! receivers of the `testing` feature hand out its decoded structs) and `jaeger_compact` the
//! hand-written compact protocol its spans are encoded with.

pub mod jaeger_agent;
pub(crate) mod jaeger_compact;
pub(crate) mod jaeger_thrift;

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};

/// Reports an exporter's failures on stderr without flooding it: once when exports start
/// failing, once when they succeed again.
#[derive(Debug, Default)]
pub(crate) struct ExportHealth {
    failing: AtomicBool,
}

impl ExportHealth {
    pub(crate) fn report(&self, destination: &dyn Display, failure: Option<&dyn Display>) {
        match failure {
            Some(error) if !self.failing.swap(true, Ordering::Relaxed) => eprintln!(
                "octopus: cannot export spans to {destination}: {error} (reported once until it recovers)"
            ),
            None if self.failing.swap(false, Ordering::Relaxed) => {
                eprintln!("octopus: exporting spans to {destination} again")
            }
            _ => {}
        }
    }
}
