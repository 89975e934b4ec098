//! OTLP trace receivers — gRPC (tonic, `opentelemetry-proto`'s service) and HTTP/protobuf
//! (hyper, the protobuf body decoded with prost) — plus backends that misbehave: a port that
//! refuses and one that accepts and never answers.
//!
//! Each receiver runs its own tokio runtime on a background thread, so sync and async tests
//! use it alike, and stops when dropped. Both also serve over TLS
//! ([`OtlpGrpcReceiver::start_tls`], [`OtlpHttpReceiver::start_tls`]) with a certificate the
//! test makes, optionally requiring a client certificate (mutual TLS).
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

/// A receiver's TLS settings, PEM-encoded: its certificate chain and private key, and the CA
/// a client certificate must chain to when one is required (mutual TLS).
#[derive(Clone)]
pub struct ReceiverTls {
    /// The server's certificate chain, leaf first.
    pub certificate_pem: String,
    /// The server's private key.
    pub key_pem: String,
    /// When set, clients must present a certificate chaining to this CA.
    pub client_ca_pem: Option<String>,
}

impl ReceiverTls {
    /// rustls's server configuration, for the HTTP receiver.
    fn rustls(&self, alpn: &[u8]) -> Arc<tokio_rustls::rustls::ServerConfig> {
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let certificates: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.certificate_pem.as_bytes())
                .collect::<Result<_, _>>()
                .expect("the receiver's certificate PEM parses");
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .expect("the receiver's key PEM parses");
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("default TLS versions");
        let builder = match &self.client_ca_pem {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for certificate in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                    roots
                        .add(certificate.expect("the client CA PEM parses"))
                        .expect("a valid client CA");
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .expect("a client certificate verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certificates, key)
            .expect("the receiver's certificate and key match");
        config.alpn_protocols = vec![alpn.to_vec()];
        Arc::new(config)
    }

    /// tonic's server TLS settings, for the gRPC receiver.
    fn tonic(&self) -> tonic::transport::ServerTlsConfig {
        let mut tls = tonic::transport::ServerTlsConfig::new().identity(
            tonic::transport::Identity::from_pem(&self.certificate_pem, &self.key_pem),
        );
        if let Some(ca) = &self.client_ca_pem {
            tls = tls.client_ca_root(tonic::transport::Certificate::from_pem(ca));
        }
        tls
    }
}

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
    /// Every attribute of the span's resource, in order.
    pub resource_attributes: Vec<(String, AttributeValue)>,
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

    /// The resource attribute named `key`.
    pub fn resource_attribute(&self, key: &str) -> Option<&AttributeValue> {
        self.resource_attributes
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
            let resource_attributes = resource_spans
                .resource
                .as_ref()
                .map(|r| attributes(&r.attributes))
                .unwrap_or_default();
            let service_name = resource_attributes
                .iter()
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| match v {
                    AttributeValue::String(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                let scope_name = scope_spans.scope.map(|s| s.name).unwrap_or_default();
                for span in scope_spans.spans {
                    spans.push(ReceivedSpan {
                        service_name: service_name.clone(),
                        resource_attributes: resource_attributes.clone(),
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

struct GrpcService(Store, Arc<Mutex<Vec<http::HeaderMap>>>);

#[tonic::async_trait]
impl TraceService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.1
            .lock()
            .unwrap()
            .push(request.metadata().clone().into_headers());
        self.0.collect(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// An OTLP/gRPC collector on `127.0.0.1` with an ephemeral port.
pub struct OtlpGrpcReceiver {
    address: SocketAddr,
    scheme: &'static str,
    store: Store,
    headers: Arc<Mutex<Vec<http::HeaderMap>>>,
    _server: Background,
}

impl OtlpGrpcReceiver {
    /// Binds and starts serving.
    pub fn start() -> Self {
        OtlpGrpcReceiver::serve(None)
    }

    /// Binds and starts serving over TLS; [`endpoint`](Self::endpoint) is then `https://`.
    pub fn start_tls(tls: &ReceiverTls) -> Self {
        OtlpGrpcReceiver::serve(Some(tls.tonic()))
    }

    fn serve(tls: Option<tonic::transport::ServerTlsConfig>) -> Self {
        let (listener, address) = loopback_listener();
        let store = Store::default();
        let headers = Arc::new(Mutex::new(Vec::new()));
        let service = GrpcService(store.clone(), headers.clone());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = tls {
            builder = builder
                .tls_config(tls)
                .expect("valid receiver TLS settings");
        }
        let server = Background::spawn(move |stopped| async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            let _ = builder
                .add_service(TraceServiceServer::new(service))
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await;
        });
        OtlpGrpcReceiver {
            address,
            scheme,
            store,
            headers,
            _server: server,
        }
    }

    /// The metadata (headers) of every export received so far.
    pub fn request_headers(&self) -> Vec<http::HeaderMap> {
        self.headers.lock().unwrap().clone()
    }

    /// The endpoint to give an OTLP/gRPC exporter (`https://` when serving TLS).
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.address)
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
    scheme: &'static str,
    store: Store,
    headers: Arc<Mutex<Vec<http::HeaderMap>>>,
    _server: Background,
}

async fn handle_http(
    store: Store,
    headers: Arc<Mutex<Vec<http::HeaderMap>>>,
    request: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    headers.lock().unwrap().push(request.headers().clone());
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
        OtlpHttpReceiver::serve(None)
    }

    /// Binds and starts serving over TLS; the URLs are then `https://`. A client whose
    /// handshake fails gets no answer.
    pub fn start_tls(tls: &ReceiverTls) -> Self {
        OtlpHttpReceiver::serve(Some(tokio_rustls::TlsAcceptor::from(
            tls.rustls(b"http/1.1"),
        )))
    }

    fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let (listener, address) = loopback_listener();
        let store = Store::default();
        let headers = Arc::new(Mutex::new(Vec::new()));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let shared = (store.clone(), headers.clone());
        let server = Background::spawn(move |mut stopped| async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let (store, headers) = shared.clone();
                        let service = hyper::service::service_fn(move |request| {
                            handle_http(store.clone(), headers.clone(), request)
                        });
                        let tls = tls.clone();
                        tokio::spawn(async move {
                            let http = hyper::server::conn::http1::Builder::new();
                            match tls {
                                None => {
                                    let _ = http
                                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                        .await;
                                }
                                Some(tls) => {
                                    let Ok(stream) = tls.accept(stream).await else { return };
                                    let _ = http
                                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                        .await;
                                }
                            }
                        });
                    }
                    _ = &mut stopped => break,
                }
            }
        });
        OtlpHttpReceiver {
            address,
            scheme,
            store,
            headers,
            _server: server,
        }
    }

    /// The base URL (`http://127.0.0.1:PORT`, `https://` when serving TLS).
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.address)
    }

    /// The full traces URL (`http://127.0.0.1:PORT/v1/traces`, `https://` when serving TLS).
    pub fn traces_url(&self) -> String {
        format!("{}://{}/v1/traces", self.scheme, self.address)
    }

    /// The headers of every request received so far (exports with API keys, say).
    pub fn request_headers(&self) -> Vec<http::HeaderMap> {
        self.headers.lock().unwrap().clone()
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
