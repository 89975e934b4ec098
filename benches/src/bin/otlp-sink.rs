//! An OTLP/gRPC trace receiver for load runs ([`octopus_benches::OtlpSink`]): accepts
//! `ExportTraceServiceRequest`s on a loopback port, counts the spans and drops them, so an
//! exporting demo pays what exporting costs (encoding, gRPC, the receiver's decoding on the
//! same machine) and nothing piles up.
//!
//! `cargo run --release -p octopus-benches --bin otlp-sink -- 127.0.0.1:14317`
//! (`benches/scripts/load.sh` starts it with `LOAD_EXPORTER=otlp`). Prints the span count
//! every 5 s while it changes, on stderr.

use std::net::SocketAddr;
use std::time::Duration;

use octopus_benches::OtlpSink;

fn main() {
    let address: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:14317".into())
        .parse()
        .unwrap_or_else(|error| {
            eprintln!("otlp-sink: the address must be IP:PORT: {error}");
            std::process::exit(2);
        });
    let sink = OtlpSink::start(address).unwrap_or_else(|error| {
        eprintln!("otlp-sink: cannot serve on {address}: {error}");
        std::process::exit(1);
    });
    eprintln!("otlp-sink: listening on {}", sink.address());
    let mut last = 0;
    loop {
        std::thread::sleep(Duration::from_secs(5));
        let now = sink.received();
        if now != last {
            eprintln!("otlp-sink: {now} spans received");
            last = now;
        }
    }
}
