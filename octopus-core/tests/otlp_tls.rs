//! OTLP over TLS, gRPC and HTTP/protobuf, into loopback receivers that decode the real
//! protobuf: a CA and certificates generated here, the CA given as `otlp_certificate`
//! (`OTEL_EXPORTER_OTLP_CERTIFICATE`), mutual TLS with a client identity, API-key headers, and
//! a server whose certificate does not chain to the configured CA.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use octopus_core::testing::otlp::{OtlpGrpcReceiver, OtlpHttpReceiver, ReceiverTls};
use octopus_core::{
    Octopus, OctopusConfig, OtlpProtocol, RequestObserver, RequestView, ResponseView,
    TracesExporter,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

const WAIT: Duration = Duration::from_secs(10);

/// A CA, and certificates it signed: one for a server on 127.0.0.1 / localhost, one for a
/// client. Everything PEM.
struct TestPki {
    ca: String,
    server_certificate: String,
    server_key: String,
    client_certificate: String,
    client_key: String,
}

impl TestPki {
    fn new(name: &str) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![usage];
            let certificate = params.signed_by(&key, &issuer).unwrap();
            (certificate.pem(), key.serialize_pem())
        };
        let (server_certificate, server_key) = leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_certificate, client_key) =
            leaf(vec!["client".into()], ExtendedKeyUsagePurpose::ClientAuth);
        TestPki {
            ca: ca.pem(),
            server_certificate,
            server_key,
            client_certificate,
            client_key,
        }
    }

    fn server(&self, require_client_certificate: bool) -> ReceiverTls {
        ReceiverTls {
            certificate_pem: self.server_certificate.clone(),
            key_pem: self.server_key.clone(),
            client_ca_pem: require_client_certificate.then(|| self.ca.clone()),
        }
    }
}

/// A directory of this test's PEM files, removed when dropped.
struct PemDir(PathBuf);

impl PemDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "octopus-otlp-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        PemDir(path)
    }

    /// Writes `text` to a new file here; its path.
    fn file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }
}

impl Drop for PemDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn otlp_octopus(
    protocol: OtlpProtocol,
    endpoint: String,
    edit: impl FnOnce(&mut OctopusConfig),
) -> Octopus {
    let mut config = OctopusConfig {
        service_name: "tls-test".into(),
        traces_exporter: TracesExporter::Otlp,
        otlp_protocol: protocol,
        otlp_endpoint: Some(endpoint),
        otlp_timeout_ms: 2_000,
        bsp_schedule_delay_ms: Some(100),
        shutdown_timeout_ms: 8_000,
        ..OctopusConfig::default()
    };
    edit(&mut config);
    Octopus::new(config).unwrap()
}

fn requests(octopus: &Octopus, n: usize) {
    for _ in 0..n {
        octopus
            .observe(
                &RequestView::new("GET", "/secure", &[] as &[(&str, &str)])
                    .with_route(Some("/secure")),
            )
            .finish(&ResponseView::new(200));
    }
}

/// Each protocol's receiver over TLS: (protocol, endpoint, spans so far, headers so far).
enum Receiver {
    Grpc(OtlpGrpcReceiver),
    Http(OtlpHttpReceiver),
}

impl Receiver {
    fn start(protocol: OtlpProtocol, tls: &ReceiverTls) -> Self {
        match protocol {
            OtlpProtocol::Grpc => Receiver::Grpc(OtlpGrpcReceiver::start_tls(tls)),
            OtlpProtocol::HttpProtobuf => Receiver::Http(OtlpHttpReceiver::start_tls(tls)),
        }
    }

    fn endpoint(&self) -> String {
        match self {
            Receiver::Grpc(r) => r.endpoint(),
            Receiver::Http(r) => r.traces_url(),
        }
    }

    fn wait_for_spans(&self, n: usize) -> usize {
        match self {
            Receiver::Grpc(r) => r.wait_for_spans(n, WAIT).len(),
            Receiver::Http(r) => r.wait_for_spans(n, WAIT).len(),
        }
    }

    fn spans(&self) -> Vec<octopus_core::testing::otlp::ReceivedSpan> {
        match self {
            Receiver::Grpc(r) => r.spans(),
            Receiver::Http(r) => r.spans(),
        }
    }

    fn header_values(&self, name: &str) -> Vec<String> {
        let headers = match self {
            Receiver::Grpc(r) => r.request_headers(),
            Receiver::Http(r) => r.request_headers(),
        };
        headers
            .iter()
            .filter_map(|h| h.get(name))
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}

const PROTOCOLS: [OtlpProtocol; 2] = [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf];

#[test]
fn spans_and_api_key_headers_arrive_over_tls_with_the_configured_ca() {
    let pki = TestPki::new("octopus");
    let dir = PemDir::new();
    let ca = dir.file("ca.pem", &pki.ca);
    for protocol in PROTOCOLS {
        let receiver = Receiver::start(protocol, &pki.server(false));
        let octopus = otlp_octopus(protocol, receiver.endpoint(), |c| {
            c.otlp_certificate = Some(ca.clone());
            c.otlp_headers = [("x-api-key", "k3y/with%2Fpercent"), ("x-tenant", "acme")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.into()))
                .collect();
        });
        requests(&octopus, 3);
        let counts = octopus.shutdown().unwrap();
        assert_eq!((counts.exported, counts.failed), (3, 0), "{protocol}");
        assert_eq!(receiver.wait_for_spans(3), 3, "{protocol}");
        let span = &receiver.spans()[0];
        assert_eq!(span.service_name, "tls-test");
        assert_eq!(span.name, "GET /secure");
        // Sent as configured: not decoded a second time.
        assert_eq!(
            receiver.header_values("x-api-key")[0],
            "k3y/with%2Fpercent",
            "{protocol}"
        );
        assert_eq!(receiver.header_values("x-tenant")[0], "acme", "{protocol}");
    }
}

#[test]
fn the_standard_variables_configure_ca_client_identity_and_headers_for_mutual_tls() {
    let pki = TestPki::new("octopus");
    let dir = PemDir::new();
    let (ca, certificate, key) = (
        dir.file("ca.pem", &pki.ca),
        dir.file("client.pem", &pki.client_certificate),
        dir.file("client.key", &pki.client_key),
    );
    for protocol in PROTOCOLS {
        let receiver = Receiver::start(protocol, &pki.server(true));
        let env = [
            ("OTEL_TRACES_EXPORTER", "otlp".to_owned()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.name().to_owned()),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.endpoint()),
            // The signal-specific variables win over the generic ones.
            (
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
                "/nonexistent/ca.pem".to_owned(),
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", ca.clone()),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", certificate.clone()),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", key.clone()),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=generic".to_owned()),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "x-api-key=sp%20ecific".to_owned(),
            ),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ];
        let config = OctopusConfig::load(|name| {
            env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
        })
        .unwrap();
        let octopus = Octopus::new(config).unwrap();
        requests(&octopus, 2);
        let counts = octopus.shutdown().unwrap();
        assert_eq!((counts.exported, counts.failed), (2, 0), "{protocol}");
        assert_eq!(receiver.wait_for_spans(2), 2, "{protocol}");
        assert_eq!(
            receiver.header_values("x-api-key")[0],
            "sp ecific",
            "{protocol}"
        );

        // Without the client identity the receiver refuses the connection.
        let refused = Receiver::start(protocol, &pki.server(true));
        let octopus = otlp_octopus(protocol, refused.endpoint(), |c| {
            c.otlp_certificate = Some(ca.clone());
        });
        requests(&octopus, 2);
        let counts = octopus.shutdown().unwrap();
        assert_eq!((counts.exported, counts.failed), (0, 2), "{protocol}");
        assert!(refused.spans().is_empty());
    }
}

#[test]
fn a_server_certificate_not_chaining_to_the_ca_fails_exports_but_not_start_up() {
    let server_pki = TestPki::new("server");
    let dir = PemDir::new();
    let other_ca = dir.file("other-ca.pem", &TestPki::new("other").ca);
    for protocol in PROTOCOLS {
        let receiver = Receiver::start(protocol, &server_pki.server(false));
        let octopus = otlp_octopus(protocol, receiver.endpoint(), |c| {
            c.otlp_certificate = Some(other_ca.clone());
        });
        // Requests are observed as usual while exports fail in the background.
        requests(&octopus, 5);
        assert_eq!(octopus.span_counts().ended, 5);
        let counts = octopus.shutdown().unwrap();
        assert_eq!(
            (counts.ended, counts.exported, counts.failed),
            (5, 0, 5),
            "{protocol}"
        );
        assert!(receiver.spans().is_empty(), "{protocol}");
    }
}

#[test]
fn unreadable_or_bad_pem_files_are_config_errors_naming_field_and_path() {
    let pki = TestPki::new("octopus");
    let dir = PemDir::new();
    let bad = |edit: &dyn Fn(&mut OctopusConfig)| {
        let mut config = OctopusConfig {
            traces_exporter: TracesExporter::Otlp,
            otlp_endpoint: Some("https://127.0.0.1:4317".into()),
            ..OctopusConfig::default()
        };
        edit(&mut config);
        Octopus::new(config).unwrap_err().to_string()
    };
    let error = bad(&|c| c.otlp_certificate = Some("/nonexistent/ca.pem".into()));
    assert!(
        error.starts_with(
            r#"otlp_certificate: invalid value "/nonexistent/ca.pem"; expected a readable PEM file"#
        ),
        "{error}"
    );
    let not_pem = dir.file("not.pem", "not a certificate");
    let error = bad(&|c| c.otlp_certificate = Some(not_pem.clone()));
    assert_eq!(
        error,
        format!(
            r#"otlp_certificate: invalid value "{not_pem}"; expected a PEM file of one or more CA certificates"#
        )
    );
    // A key file that is no key: the error names the path, never the content.
    let certificate = dir.file("client.pem", &pki.client_certificate);
    let error = bad(&|c| {
        c.otlp_client_certificate = Some(certificate.clone());
        c.otlp_client_key = Some(not_pem.clone());
    });
    assert_eq!(
        error,
        format!(
            r#"otlp_client_key: invalid value "{not_pem}"; expected a PEM file of a private key"#
        )
    );
    let error = bad(&|c| c.otlp_client_certificate = Some(certificate.clone()));
    assert!(error.starts_with("otlp_client_key: "), "{error}");
}
