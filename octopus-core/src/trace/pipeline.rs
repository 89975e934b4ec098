//! From configuration to a running tracer provider: exporter, batch processor, sampler,
//! resource — and the counters that make lost spans visible.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, Span, SpanData, SpanExporter,
    SpanProcessor,
};
use prometheus::{IntCounter, Opts};

use crate::ConfigError;
use crate::config::{OctopusConfig, TracesExporter};
use crate::export::jaeger_agent::JaegerAgentExporter;

use super::otlp::OtlpOnRuntime;

/// Counts of spans through the pipeline since start. `ended - exported - failed` spans are
/// queued or were dropped (queue full); after shutdown, nothing is queued.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpanCounts {
    /// Sampled spans that ended and were handed to the batch processor.
    pub ended: u64,
    /// Spans the exporter delivered.
    pub exported: u64,
    /// Spans in batches the exporter failed to deliver.
    pub failed: u64,
}

impl SpanCounts {
    /// Spans neither exported nor failed: queued, or dropped by a full queue.
    pub fn unaccounted(&self) -> u64 {
        self.ended.saturating_sub(self.exported + self.failed)
    }
}

/// The span pipeline's counters, as Prometheus counters so lost spans show on `/metrics`:
/// `octopus_spans_ended_total - octopus_spans_exported_total - octopus_spans_failed_total` is
/// what is queued or was dropped by a full queue.
#[derive(Debug)]
pub(crate) struct SpanCounters {
    ended: IntCounter,
    exported: IntCounter,
    failed: IntCounter,
}

impl SpanCounters {
    pub(crate) fn new(service_name: &str) -> Self {
        let counter = |name: &str, help: &str| {
            IntCounter::with_opts(Opts::new(name, help).const_label("service_name", service_name))
                .expect("a valid static metric name")
        };
        SpanCounters {
            ended: counter(
                "octopus_spans_ended_total",
                "Sampled spans that ended and entered the batch span processor.",
            ),
            exported: counter(
                "octopus_spans_exported_total",
                "Spans the exporter delivered.",
            ),
            failed: counter(
                "octopus_spans_failed_total",
                "Spans in exports that failed.",
            ),
        }
    }

    /// Registers the counters, so `/metrics` shows them.
    pub(crate) fn register(&self, registry: &prometheus::Registry) -> Result<(), ConfigError> {
        for counter in [&self.ended, &self.exported, &self.failed] {
            registry
                .register(Box::new(counter.clone()))
                .map_err(|error| ConfigError::Registration {
                    metric: "octopus_spans_*_total".into(),
                    reason: error.to_string(),
                })?;
        }
        Ok(())
    }

    pub(crate) fn snapshot(&self) -> SpanCounts {
        SpanCounts {
            ended: self.ended.get(),
            exported: self.exported.get(),
            failed: self.failed.get(),
        }
    }
}

/// Counts what the exporter delivers. Export errors are already reported by each exporter;
/// this only keeps the totals.
#[derive(Debug)]
struct CountingExporter<E> {
    inner: E,
    counters: Arc<SpanCounters>,
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        let result = self.inner.export(batch).await;
        let counter = match result {
            Ok(()) => &self.counters.exported,
            Err(_) => &self.counters.failed,
        };
        counter.inc_by(spans);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Counts sampled spans entering the batch processor (whose own drop count is private).
#[derive(Debug)]
pub(crate) struct CountingProcessor {
    inner: BatchSpanProcessor,
    counters: Arc<SpanCounters>,
}

impl SpanProcessor for CountingProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.counters.ended.inc();
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

fn batch_processor<E: SpanExporter + 'static>(
    exporter: E,
    config: &OctopusConfig,
    counters: &Arc<SpanCounters>,
) -> CountingProcessor {
    // `BatchConfigBuilder::default()` reads `OTEL_BSP_*` from the process environment itself,
    // unvalidated (a queue of 0 drops every span, a delay of 0 spins the export thread). Every
    // field the thread-based processor uses is set here from the validated configuration, so
    // that read has no effect; the other two (export timeout, concurrent exports) it ignores.
    let batch = BatchConfigBuilder::default()
        .with_scheduled_delay(config.bsp_schedule_delay())
        .with_max_queue_size(config.bsp_queue_capacity())
        .with_max_export_batch_size(config.bsp_export_batch_size());
    let exporter = CountingExporter {
        inner: exporter,
        counters: counters.clone(),
    };
    CountingProcessor {
        inner: BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch.build())
            .build(),
        counters: counters.clone(),
    }
}

/// Builds the tracer provider the configuration describes. Never contacts the backend: an
/// unreachable one shows up as export errors on stderr, not as a start-up failure.
/// An exporter the user supplied instead of the configured one, waiting for the batch
/// processor settings of the final configuration.
pub(crate) type CustomExporter =
    Box<dyn FnOnce(&OctopusConfig, &Arc<SpanCounters>) -> CountingProcessor + Send>;

/// Wraps a user's exporter for [`tracer_provider`].
pub(crate) fn custom_exporter<E: SpanExporter + 'static>(exporter: E) -> CustomExporter {
    Box::new(move |config, counters| batch_processor(exporter, config, counters))
}

pub(crate) fn tracer_provider(
    config: &OctopusConfig,
    counters: &Arc<SpanCounters>,
    custom: Option<CustomExporter>,
) -> Result<SdkTracerProvider, ConfigError> {
    let builder = SdkTracerProvider::builder()
        .with_resource(super::resource::resource(config))
        .with_sampler(super::sampler(config));
    if let Some(custom) = custom {
        return Ok(builder
            .with_span_processor(custom(config, counters))
            .build());
    }
    let builder = match config.traces_exporter {
        TracesExporter::Jaeger => {
            let exporter = JaegerAgentExporter::new(config.jaeger_host.clone(), config.jaeger_port)
                .with_max_packet_size(config.jaeger_max_packet_size);
            builder.with_span_processor(batch_processor(exporter, config, counters))
        }
        TracesExporter::Otlp => {
            let exporter = OtlpOnRuntime::new(config)?;
            builder.with_span_processor(batch_processor(exporter, config, counters))
        }
        TracesExporter::Console => {
            let exporter = opentelemetry_stdout::SpanExporter::default();
            builder.with_span_processor(batch_processor(exporter, config, counters))
        }
        TracesExporter::None => builder,
    };
    Ok(builder.build())
}
