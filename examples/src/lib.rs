//! What every Octopus demo service shares: the environment of the demo contract, building
//! Octopus (or exiting 2) and its separate metrics listener, the `listening on` line, shutdown
//! on SIGINT / SIGTERM with a bounded drain, and flushing spans at the end.
//!
//! Each demo binary in `src/bin/` serves the same routes on its own framework, and keeps only
//! those routes and its framework's serve call; see the workspace README.
//!
//! ```
//! use octopus_examples::DemoSettings;
//!
//! let settings = DemoSettings::from_lookup(|name| match name {
//!     "OCTOPUS_ADDR" => Some("127.0.0.1:0".into()),
//!     "OTEL_SERVICE_NAME" => Some("users".into()),
//!     _ => None,
//! })
//! .unwrap();
//! assert_eq!(settings.addr.port(), 0);
//! assert_eq!(settings.config.service_name, "users");
//! assert!(settings.instrument);
//! ```

use std::future::{Future, IntoFuture};
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use octopus_core::client::{TracedClient, TracingMiddleware};
use octopus_core::{HeaderCodec, Octopus, OctopusConfig};

/// Where demos listen unless `OCTOPUS_ADDR` says otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:10999";

/// The service name of demos unless `OTEL_SERVICE_NAME` says otherwise.
pub const DEFAULT_SERVICE_NAME: &str = "demo-service";

/// How long a stopping demo waits for in-flight requests before closing their connections.
pub const DRAIN_TIMEOUT: Duration = Duration::from_millis(2_500);

/// The longest `/slow/{ms}` wait.
pub const MAX_SLOW_MS: u64 = 60_000;

/// A demo's settings, read from the environment.
#[derive(Clone, Debug)]
pub struct DemoSettings {
    /// `OCTOPUS_ADDR`.
    pub addr: SocketAddr,
    /// `OCTOPUS_INSTRUMENT`: `false` serves the routes with no Octopus at all.
    pub instrument: bool,
    /// Octopus's configuration: `OTEL_SERVICE_NAME`, `OCTOPUS_METRICS`, ...
    pub config: OctopusConfig,
}

impl DemoSettings {
    /// Reads the settings through `lookup`; the error names the variable, the value and what is
    /// accepted.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let addr = match lookup("OCTOPUS_ADDR") {
            None => DEFAULT_ADDR.parse().expect("the default address parses"),
            Some(value) => value.parse().map_err(|_| {
                format!(
                    "OCTOPUS_ADDR: invalid value \"{value}\"; expected IP:PORT, e.g. {DEFAULT_ADDR}"
                )
            })?,
        };
        let instrument = match lookup("OCTOPUS_INSTRUMENT").as_deref() {
            None | Some("on") => true,
            Some("off") => false,
            Some(value) => {
                return Err(format!(
                    "OCTOPUS_INSTRUMENT: invalid value \"{value}\"; expected one of on, off"
                ));
            }
        };
        let config = OctopusConfig {
            service_name: DEFAULT_SERVICE_NAME.into(),
            // `service.version` of the spans: the demos' own version.
            service_version: Some(env!("CARGO_PKG_VERSION").into()),
            // The contract gives a demo 5 s to exit: at most 2.5 s for in-flight requests
            // (`DRAIN_TIMEOUT`), then at most 2 s to flush spans.
            shutdown_timeout_ms: 2_000,
            ..OctopusConfig::default()
        };
        // `OCTOPUS_CONFIG` names a file that replaces these defaults; variables override both.
        let config =
            OctopusConfig::load_over(config, &lookup).map_err(|error| error.to_string())?;
        Ok(DemoSettings {
            addr,
            instrument,
            config,
        })
    }

    /// Reads the process environment; on a bad value prints the error to stderr and exits
    /// with code 2, as the demo contract says.
    pub fn from_env_or_exit() -> Self {
        DemoSettings::from_lookup(|name| std::env::var(name).ok()).unwrap_or_else(|error| {
            eprintln!("error: {error}");
            std::process::exit(2);
        })
    }

    /// The demo's Octopus, when `OCTOPUS_INSTRUMENT` is on: built from [`config`](Self::config)
    /// (a configuration Octopus refuses is printed to stderr and the demo exits with code 2,
    /// as the contract says), with its separate metrics listener started when one is
    /// configured ([`spawn_metrics_listener`]).
    pub async fn start_octopus(&self) -> Option<Octopus> {
        if !self.instrument {
            return None;
        }
        let octopus = Octopus::new(self.config.clone()).unwrap_or_else(|error| {
            eprintln!("error: {error}");
            std::process::exit(2);
        });
        spawn_metrics_listener(&octopus).await;
        Some(octopus)
    }
}

/// The client behind `/call`: traced by `octopus`, or — uninstrumented — the same client
/// without spans or injected trace headers. Calls give up after 10 s, so `/call` to a hung
/// service still answers (502).
pub fn call_client(octopus: Option<&Octopus>) -> TracedClient {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a reqwest client without TLS configuration builds");
    let middleware = match octopus {
        Some(octopus) => octopus.client_middleware(),
        None => TracingMiddleware::new(None, HeaderCodec::new(&[])),
    };
    TracedClient::new(client, middleware)
}

/// Serves `/metrics` on the separate `metrics_address` when one is configured
/// (`OCTOPUS_METRICS_ADDR`), in the background on the current tokio runtime. An address that
/// cannot be bound stops the demo (exit 1): a scrape target that silently is not there helps
/// nobody.
pub async fn spawn_metrics_listener(octopus: &Octopus) {
    let Some(address) = octopus.config().metrics_address.clone() else {
        return;
    };
    let listener = match tokio::net::TcpListener::bind(address.trim()).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: OCTOPUS_METRICS_ADDR {address}: {error}");
            std::process::exit(1);
        }
    };
    let octopus = octopus.clone();
    tokio::spawn(async move {
        if let Err(error) = octopus
            .serve_metrics_on(listener, std::future::pending())
            .await
        {
            eprintln!("octopus: metrics listener: {error}");
        }
    });
}

/// Prints the line that tells scripts the demo accepts connections.
pub fn announce(addr: SocketAddr) {
    let mut stdout = std::io::stdout().lock();
    // If stdout is closed nobody is waiting for the line; serving goes on regardless.
    let _ = writeln!(stdout, "listening on http://{addr}");
    let _ = stdout.flush();
}

/// The wait of `/slow/{ms}`: `None` unless `ms` is a number, capped at [`MAX_SLOW_MS`].
pub fn slow_duration(ms: &str) -> Option<Duration> {
    ms.parse::<u64>()
        .ok()
        .map(|ms| Duration::from_millis(ms.min(MAX_SLOW_MS)))
}

/// The `shutdown` future a graceful server is given by [`serve_until_signal`]: it resolves on
/// the first SIGINT or SIGTERM.
pub type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs the server that `serve` makes from a [`StopSignal`] (the framework's graceful-shutdown
/// call) until it has stopped. After the signal, in-flight requests get [`DRAIN_TIMEOUT`]:
/// graceful shutdown waits for every connection, and the contract gives a demo 5 s in all, so
/// connections still open then are closed (the server future is dropped), with a line on
/// stderr.
pub async fn serve_until_signal<S>(serve: impl FnOnce(StopSignal) -> S) -> std::io::Result<()>
where
    S: IntoFuture<Output = std::io::Result<()>>,
{
    let signalled = Arc::new(tokio::sync::Notify::new());
    let stop: StopSignal = {
        let signalled = signalled.clone();
        Box::pin(async move {
            shutdown_signal().await;
            signalled.notify_one();
        })
    };
    let server = serve(stop).into_future();
    tokio::select! {
        served = server => served?,
        _ = async { signalled.notified().await; tokio::time::sleep(DRAIN_TIMEOUT).await } => {
            eprintln!("shutdown: connections still open after {DRAIN_TIMEOUT:?}; closing them");
        }
    }
    Ok(())
}

/// Shuts Octopus down once the server has stopped, so queued spans are flushed (within the
/// configured 2 s); an error is reported on stderr. The flush blocks, so it runs on tokio's
/// blocking threads, away from the runtime's workers.
pub async fn shutdown_octopus(octopus: Option<Octopus>) {
    let Some(octopus) = octopus else {
        return;
    };
    let shutdown = tokio::task::spawn_blocking(move || octopus.shutdown());
    if let Err(error) = shutdown.await.expect("the shutdown task does not panic") {
        eprintln!("octopus: shutdown: {error}");
    }
}

/// Resolves on the first SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<DemoSettings, String> {
        DemoSettings::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.addr.to_string(), DEFAULT_ADDR);
        assert!(s.instrument);
        assert_eq!(s.config.service_name, "demo-service");
        assert_eq!(s.config.metrics.len(), 3);
    }

    #[test]
    fn bad_values_name_variable_value_and_choices() {
        assert_eq!(
            settings(&[("OCTOPUS_ADDR", "localhost")]).unwrap_err(),
            "OCTOPUS_ADDR: invalid value \"localhost\"; expected IP:PORT, e.g. 127.0.0.1:10999"
        );
        assert_eq!(
            settings(&[("OCTOPUS_INSTRUMENT", "yes")]).unwrap_err(),
            "OCTOPUS_INSTRUMENT: invalid value \"yes\"; expected one of on, off"
        );
        assert_eq!(
            settings(&[("OCTOPUS_METRICS", "latency,count")]).unwrap_err(),
            "OCTOPUS_METRICS: unknown metric \"count\"; expected one of latency, request_count, processing_requests, request_size, response_size"
        );
        assert!(
            !settings(&[("OCTOPUS_INSTRUMENT", "off")])
                .unwrap()
                .instrument
        );
    }

    #[test]
    fn slow_waits_are_capped() {
        assert_eq!(slow_duration("250"), Some(Duration::from_millis(250)));
        assert_eq!(slow_duration("999999"), Some(Duration::from_secs(60)));
        assert_eq!(slow_duration("-1"), None);
        assert_eq!(slow_duration("abc"), None);
    }
}
