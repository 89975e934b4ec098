//! OTLP trace receivers — gRPC (tonic, `opentelemetry-proto`'s service) and HTTP/protobuf
//! (hyper, the protobuf body decoded with prost) — plus backends that misbehave: a port that
//! refuses and one that accepts and never answers.
//!
//! Each receiver runs its own tokio runtime on a background thread, so sync and async tests
//! use it alike, and stops when dropped.
//!
//! ```
//! use octopus_core::testing::otlp::OtlpHttpReceiver;
//! use octopus_core::{NoHeaders, Octopus, OctopusConfig, OtlpProtocol, RequestObserver, RequestView, ResponseView, TracesExporter};
//! use std::time::Duration;
//!
//! let collector = OtlpHttpReceiver::start();
//! let octopus = Octopus::new(OctopusConfig {
//!     traces_exporter: TracesExporter::Otlp,
//!     otlp_protocol: OtlpProtocol::HttpProtobuf,
//!     otlp_endpoint: Some(collector.traces_url()),
//!     ..OctopusConfig::default()
//! })?;
//! octopus
//!     .observe(&RequestView::new("GET", "/users/7", &NoHeaders).with_route(Some("/users/{id}")))
//!     .finish(&ResponseView::new(200));
//! octopus.shutdown().unwrap();
//! assert_eq!(collector.wait_for_spans(1, Duration::from_secs(5))[0].name, "GET /users/{id}");
//! # Ok::<(), octopus_core::ConfigError>(())
//! ```

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use tokio::sync::oneshot;

/// An attribute value as received.
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    /// A string.
    String(String),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Double(f64),
    /// Anything else (arrays, maps, bytes), debug-formatted.
    Other(String),
}

impl AttributeValue {
    fn from_proto(value: Option<&AnyValue>) -> Self {
        match value.and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => AttributeValue::String(s.clone()),
            Some(any_value::Value::BoolValue(b)) => AttributeValue::Bool(*b),
            Some(any_value::Value::IntValue(i)) => AttributeValue::Int(*i),
            Some(any_value::Value::DoubleValue(d)) => AttributeValue::Double(*d),
            other => AttributeValue::Other(format!("{other:?}")),
        }
    }
}

/// One span as a collector received it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedSpan {
    /// The resource's `service.name`.
    pub service_name: String,
    /// The instrumentation scope's name.
    pub scope_name: String,
    /// The trace id.
    pub trace_id: [u8; 16],
    /// The span id.
    pub span_id: [u8; 8],
    /// The parent span id, if any.
    pub parent_span_id: Option<[u8; 8]>,
    /// The span name.
    pub name: String,
    /// The OTLP span kind (2 = server, 3 = client).
    pub kind: i32,
    /// Start, nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End, nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
    /// The attributes, in order.
    pub attributes: Vec<(String, AttributeValue)>,
    /// The OTLP status code (0 unset, 1 ok, 2 error).
    pub status_code: i32,
    /// The status message.
    pub status_message: String,
    /// Links: (trace id, span id).
    pub links: Vec<([u8; 16], [u8; 8])>,
    /// Event names.
    pub events: Vec<String>,
}

impl ReceivedSpan {
    /// The attribute named `key`.
    pub fn attribute(&self, key: &str) -> Option<&AttributeValue> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The trace id as 32 hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The span id as 16 hex digits.
    pub fn span_id_hex(&self) -> String {
        hex(&self.span_id)
    }

    /// The parent span id as 16 hex digits, if any.
    pub fn parent_span_id_hex(&self) -> Option<String> {
        self.parent_span_id.map(|id| hex(&id))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attributes(list: &[KeyValue]) -> Vec<(String, AttributeValue)> {
    list.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                AttributeValue::from_proto(kv.value.as_ref()),
            )
        })
        .collect()
}

/// What a receiver has collected; shared with its server task.
#[derive(Clone, Default)]
struct Store(Arc<(Mutex<Vec<ReceivedSpan>>, Condvar)>);

impl Store {
    fn collect(&self, request: ExportTraceServiceRequest) {
        let mut spans = Vec::new();
        for resource_spans in request.resource_spans {
            let service_name = resource_spans
                .resource
                .iter()
                .flat_map(|r| attributes(&r.attributes))
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| match v {
                    AttributeValue::String(s) => s,
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                let scope_name = scope_spans.scope.map(|s| s.name).unwrap_or_default();
                for span in scope_spans.spans {
                    spans.push(ReceivedSpan {
                        service_name: service_name.clone(),
                        scope_name: scope_name.clone(),
                        trace_id: span.trace_id.try_into().unwrap_or_default(),
                        span_id: span.span_id.try_into().unwrap_or_default(),
                        parent_span_id: span.parent_span_id.try_into().ok(),
                        name: span.name,
                        kind: span.kind,
                        start_unix_nanos: span.start_time_unix_nano,
                        end_unix_nanos: span.end_time_unix_nano,
                        attributes: attributes(&span.attributes),
                        status_code: span.status.as_ref().map_or(0, |s| s.code),
                        status_message: span.status.map(|s| s.message).unwrap_or_default(),
                        links: span
                            .links
                            .into_iter()
                            .map(|l| {
                                (
                                    l.trace_id.try_into().unwrap_or_default(),
                                    l.span_id.try_into().unwrap_or_default(),
                                )
                            })
                            .collect(),
                        events: span.events.into_iter().map(|e| e.name).collect(),
                    });
                }
            }
        }
        let (lock, ready) = &*self.0;
        lock.lock().unwrap().extend(spans);
        ready.notify_all();
    }

    fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        let (lock, ready) = &*self.0;
        let mut spans = lock.lock().unwrap();
        while spans.len() < n {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            spans = ready.wait_timeout(spans, deadline - now).unwrap().0;
        }
        spans.clone()
    }

    fn all(&self) -> Vec<ReceivedSpan> {
        self.0.0.lock().unwrap().clone()
    }
}

/// A server running on its own runtime thread until dropped.
struct Background {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    fn spawn<F>(serve: impl FnOnce(oneshot::Receiver<()>) -> F + Send + 'static) -> Self
    where
        F: std::future::Future<Output = ()>,
    {
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime for the receiver")
                .block_on(serve(stopped));
        });
        Background {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn loopback_listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let address = listener.local_addr().expect("local address");
    (listener, address)
}

struct GrpcService(Store);

#[tonic::async_trait]
impl TraceService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.collect(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// An OTLP/gRPC collector on `127.0.0.1` with an ephemeral port.
pub struct OtlpGrpcReceiver {
    address: SocketAddr,
    store: Store,
    _server: Background,
}

impl OtlpGrpcReceiver {
    /// Binds and starts serving.
    pub fn start() -> Self {
        let (listener, address) = loopback_listener();
        let store = Store::default();
        let service = GrpcService(store.clone());
        let server = Background::spawn(move |stopped| async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            let _ = tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(service))
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await;
        });
        OtlpGrpcReceiver {
            address,
            store,
            _server: server,
        }
    }

    /// The endpoint to give an OTLP/gRPC exporter.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Waits until at least `n` spans arrived or `timeout` passed; returns all spans so far.
    pub fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<ReceivedSpan> {
        self.store.wait_for(n, timeout)
    }

    /// Every span so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.store.all()
    }
}

/// An OTLP/HTTP collector (`POST /v1/traces`, protobuf) on `127.0.0.1` with an ephemeral port.
pub struct OtlpHttpReceiver {
    address: SocketAddr,
    store: Store,
    _server: Background,
}

async fn handle_http(
    store: Store,
    request: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let respond = |status: u16, body: Vec<u8>| {
        let mut response = http::Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = http::StatusCode::from_u16(status).expect("valid status");
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-protobuf"),
        );
        Ok(response)
    };
    if request.method() != http::Method::POST || request.uri().path() != "/v1/traces" {
        return respond(404, Vec::new());
    }
    let protobuf = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/x-protobuf"));
    if !protobuf {
        return respond(415, Vec::new());
    }
    let Ok(body) = request.into_body().collect().await else {
        return respond(400, Vec::new());
    };
    match ExportTraceServiceRequest::decode(body.to_bytes()) {
        Ok(decoded) => {
            store.collect(decoded);
            respond(
                200,
                ExportTraceServiceResponse {
                    partial_success: None,
                }
                .encode_to_vec(),
            )
        }
        Err(_) => respond(400, Vec::new()),
    }
}

impl OtlpHttpReceiver {
    /// Binds and starts serving.
    pub fn start() -> Self {
        let (listener, address) = loopback_listener();
        let store = Store::default();
        let shared = store.clone();
        let server = Background::spawn(move |mut stopped| async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let store = shared.clone();
                        let service = hyper::service::service_fn(move |request| {
                            handle_http(store.clone(), request)
                        });
                        tokio::spawn(async move {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                .await;
                        });
                    }
                    _ = &mut stopped => break,
                }
            }
        });
        OtlpHttpReceiver {
            address,
            store,
            _server: server,
        }
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The full traces URL (`http://127.0.0.1:PORT/v1/traces`).
    pub fn traces_url(&self) -> String {
        format!("http://{}/v1/traces", self.address)
    }

    /// Waits until at least `n` spans arrived or `timeout` passed; returns all spans so far.
    pub fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<ReceivedSpan> {
        self.store.wait_for(n, timeout)
    }

    /// Every span so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.store.all()
    }
}

/// A backend that accepts TCP connections and never answers: the hung collector.
pub struct BlackHole {
    address: SocketAddr,
    _server: Background,
}

impl BlackHole {
    /// Binds and starts accepting.
    pub fn start() -> Self {
        let (listener, address) = loopback_listener();
        let server = Background::spawn(move |mut stopped| async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let mut held: Vec<tokio::net::TcpStream> = Vec::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            held.push(stream);
                        }
                    }
                    _ = &mut stopped => break,
                }
            }
        });
        BlackHole {
            address,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// A loopback port nothing listens on: connections are refused.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    // Confirm nothing took it over in between (another test binding port 0 could).
    if TcpStream::connect(("127.0.0.1", port)).is_ok() {
        return closed_port();
    }
    port
}
