//! The OTLP exporter (gRPC or HTTP/protobuf) as the configuration describes it: endpoint,
//! timeout, headers, and for `https://` endpoints TLS with the system's and Mozilla's roots,
//! an extra CA and a client identity — run on a runtime of its own.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig, Identity};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::ConfigError;
use crate::config::{OctopusConfig, OtlpProtocol};
use crate::export::ExportHealth;

/// The OTLP exporter on a runtime of its own.
///
/// `opentelemetry-otlp`'s clients (tonic, async reqwest) need a tokio runtime: to be built
/// (the gRPC channel spawns its connection tasks) and to run. The span pipeline drives exports
/// from its own thread without one, and Octopus must work whether or not the
/// application runs tokio — so exports run on one small dedicated runtime thread, and the
/// pipeline's export thread only waits for them.
#[derive(Debug)]
pub(crate) struct OtlpOnRuntime {
    exporter: Arc<opentelemetry_otlp::SpanExporter>,
    runtime: Option<tokio::runtime::Runtime>,
    endpoint: String,
    health: ExportHealth,
}

impl OtlpOnRuntime {
    pub(crate) fn new(config: &OctopusConfig) -> Result<Self, ConfigError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("octopus-otlp")
            .enable_all()
            .build()
            .map_err(|error| ConfigError::InvalidValue {
                field: "traces_exporter".into(),
                value: "otlp".into(),
                expected: format!("an exporter that can start its runtime ({error})"),
            })?;
        let built = {
            let _entered = runtime.enter();
            otlp_exporter(config)
        };
        let exporter = match built {
            Ok(exporter) => exporter,
            Err(error) => {
                // Dropping a runtime blocks until its threads end, which panics when the caller
                // is itself in an async context (`Octopus::new` inside `#[tokio::main]`).
                runtime.shutdown_background();
                return Err(error);
            }
        };
        Ok(OtlpOnRuntime {
            exporter: Arc::new(exporter),
            runtime: Some(runtime),
            endpoint: format!("OTLP {}", config.otlp_traces_endpoint()),
            health: ExportHealth::default(),
        })
    }
}

impl SpanExporter for OtlpOnRuntime {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let Some(runtime) = &self.runtime else {
            return Err(OTelSdkError::AlreadyShutdown);
        };
        let exporter = self.exporter.clone();
        let result = runtime
            .spawn(async move { exporter.export(batch).await })
            .await
            .unwrap_or_else(|error| Err(OTelSdkError::InternalFailure(error.to_string())));
        self.health.report(
            &self.endpoint,
            result.as_ref().err().map(|e| e as &dyn std::fmt::Display),
        );
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.exporter.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.exporter.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        // The exporter is shared with in-flight exports only during `export`, never here.
        if let Some(exporter) = Arc::get_mut(&mut self.exporter) {
            exporter.set_resource(resource);
        }
    }
}

impl Drop for OtlpOnRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks end; in an async context that panics.
        // Abandoned exports are already counted as failed.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The PEM files of the TLS settings, read and checked once, so a bad file is an error naming
/// its field and path (never its content) before either transport sees it.
struct TlsFiles {
    /// `otlp_certificate`: PEM text and the certificates in it.
    ca: Option<(Vec<u8>, Vec<reqwest::Certificate>)>,
    /// `otlp_client_certificate` and `otlp_client_key`: both PEM texts and the identity.
    identity: Option<(Vec<u8>, Vec<u8>, reqwest::Identity)>,
}

fn read_pem(field: &str, path: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path.trim()).map_err(|error| ConfigError::InvalidValue {
        field: field.into(),
        value: path.into(),
        expected: format!("a readable PEM file ({error})"),
    })
}

fn bad_pem(field: &str, path: &str, what: &str) -> ConfigError {
    ConfigError::InvalidValue {
        field: field.into(),
        value: path.into(),
        expected: format!("a PEM file of {what}"),
    }
}

impl TlsFiles {
    fn read(config: &OctopusConfig) -> Result<Self, ConfigError> {
        let ca = match &config.otlp_certificate {
            None => None,
            Some(path) => {
                let pem = read_pem("otlp_certificate", path)?;
                let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                    .ok()
                    .filter(|certificates| !certificates.is_empty())
                    .ok_or_else(|| {
                        bad_pem("otlp_certificate", path, "one or more CA certificates")
                    })?;
                Some((pem, certificates))
            }
        };
        let identity = match (&config.otlp_client_certificate, &config.otlp_client_key) {
            (Some(certificate_path), Some(key_path)) => {
                let certificate = read_pem("otlp_client_certificate", certificate_path)?;
                let key = read_pem("otlp_client_key", key_path)?;
                let certificates = reqwest::Certificate::from_pem_bundle(&certificate)
                    .ok()
                    .filter(|certificates| !certificates.is_empty());
                if certificates.is_none() {
                    return Err(bad_pem(
                        "otlp_client_certificate",
                        certificate_path,
                        "the client certificate (chain)",
                    ));
                }
                // reqwest wants the key and the chain in one PEM buffer.
                let both = [key.as_slice(), b"\n", certificate.as_slice()].concat();
                let identity = reqwest::Identity::from_pem(&both)
                    .map_err(|_| bad_pem("otlp_client_key", key_path, "a private key"))?;
                Some((certificate, key, identity))
            }
            // `validate` rejects one without the other.
            _ => None,
        };
        Ok(TlsFiles { ca, identity })
    }

    /// tonic's TLS settings: the system's roots (when it has any: tonic refuses an empty
    /// system store), Mozilla's, the configured CA, the client identity.
    fn tonic(&self) -> ClientTlsConfig {
        let mut tls = ClientTlsConfig::new().with_webpki_roots();
        if !rustls_native_certs::load_native_certs().certs.is_empty() {
            tls = tls.with_native_roots();
        }
        if let Some((pem, _)) = &self.ca {
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        if let Some((certificate, key, _)) = &self.identity {
            tls = tls.identity(Identity::from_pem(certificate, key));
        }
        tls
    }
}

/// The configured headers as the exporters send them, marked sensitive so that a `Debug` of
/// them shows no value.
fn header_map(config: &OctopusConfig) -> Result<http::HeaderMap, ConfigError> {
    let mut headers = http::HeaderMap::new();
    for (name, value) in &config.otlp_headers {
        let invalid = || ConfigError::InvalidValue {
            field: "otlp_headers".into(),
            value: name.clone(),
            expected: "a valid header name with a value of visible ASCII characters".into(),
        };
        let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        let mut value = http::HeaderValue::from_str(value.expose()).map_err(|_| invalid())?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(headers)
}

/// The reqwest client of the HTTP exporter. Mozilla's roots are always added beside the
/// system's: with them a system without CA certificates still builds a client (reqwest
/// refuses an empty store), and plain `http://` endpoints never need a store at all.
fn http_client(
    config: &OctopusConfig,
    tls: &TlsFiles,
    headers: http::HeaderMap,
) -> Result<reqwest::Client, ConfigError> {
    let mut roots: Vec<reqwest::Certificate> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der).ok())
        .collect();
    if let Some((_, certificates)) = &tls.ca {
        roots.extend(certificates.iter().cloned());
    }
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_millis(config.otlp_timeout_ms))
        .default_headers(headers)
        .tls_certs_merge(roots);
    if let Some((_, _, identity)) = &tls.identity {
        builder = builder.identity(identity.clone());
    }
    builder.build().map_err(|error| ConfigError::InvalidValue {
        field: "otlp_endpoint".into(),
        value: config.otlp_traces_endpoint(),
        expected: format!("an endpoint an HTTP client can be built for ({error})"),
    })
}

pub(crate) fn otlp_exporter(
    config: &OctopusConfig,
) -> Result<opentelemetry_otlp::SpanExporter, ConfigError> {
    let endpoint = config.otlp_traces_endpoint();
    let timeout = Duration::from_millis(config.otlp_timeout_ms);
    let https = endpoint
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    let tls = TlsFiles::read(config)?;
    let headers = header_map(config)?;
    let built = match config.otlp_protocol {
        OtlpProtocol::Grpc => {
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .with_timeout(timeout)
                .with_metadata(MetadataMap::from_headers(headers));
            // Without a TLS config of its own, tonic would trust no root at all.
            if https {
                builder = builder.with_tls_config(tls.tonic());
            }
            builder.build()
        }
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(endpoint.clone())
            .with_timeout(timeout)
            // Headers go on the client: the exporter's own `with_headers` percent-decodes
            // values a second time.
            .with_http_client(http_client(config, &tls, headers)?)
            .build(),
    };
    built.map_err(|error| ConfigError::InvalidValue {
        field: "otlp_endpoint".into(),
        value: endpoint,
        expected: format!("an endpoint the OTLP exporter accepts ({error})"),
    })
}
