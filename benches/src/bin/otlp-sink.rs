//! An OTLP/gRPC trace receiver for load runs: accepts `ExportTraceServiceRequest`s on a
//! loopback port, counts the spans and drops them, so an exporting demo pays what exporting
//! costs (encoding, gRPC, the receiver's decoding on the same machine) and nothing piles up.
//!
//! `cargo run --release -p octopus-benches --bin otlp-sink -- 127.0.0.1:14317`
//! (`benches/scripts/load.sh` starts it with `LOAD_EXPORTER=otlp`). Prints the span count
//! every 5 s while it changes, on stderr.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

/// Counts what arrives.
struct Sink(Arc<AtomicU64>);

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans: usize = request
            .into_inner()
            .resource_spans
            .iter()
            .flat_map(|resource| &resource.scope_spans)
            .map(|scope| scope.spans.len())
            .sum();
        self.0.fetch_add(spans as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let address: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:14317".into())
        .parse()
        .unwrap_or_else(|error| {
            eprintln!("otlp-sink: the address must be IP:PORT: {error}");
            std::process::exit(2);
        });
    let received = Arc::new(AtomicU64::new(0));
    let report = received.clone();
    tokio::spawn(async move {
        let mut last = 0;
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let now = report.load(Ordering::Relaxed);
            if now != last {
                eprintln!("otlp-sink: {now} spans received");
                last = now;
            }
        }
    });
    eprintln!("otlp-sink: listening on {address}");
    if let Err(error) = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(Sink(received)))
        .serve(address)
        .await
    {
        eprintln!("otlp-sink: {error}");
        std::process::exit(1);
    }
}
