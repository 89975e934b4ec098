//! Labels of the user's own through axum, over real TCP on 127.0.0.1: one label from a header
//! configured through `OCTOPUS_LABELS`, one from a function given in code.

use axum::Router;
use axum::routing::get;
use octopus_axum::{OctopusLayer, metrics_router};
use octopus_core::testing::exposition::Samples;
use octopus_core::{Octopus, OctopusConfig};

#[tokio::test]
async fn labels_from_the_environment_and_a_function_over_tcp() {
    let config = OctopusConfig::load(|name| match name {
        "OTEL_SERVICE_NAME" => Some("axum-labels".into()),
        "OTEL_SDK_DISABLED" => Some("true".into()),
        "OCTOPUS_LABELS" => Some("tenant=header:x-tenant;max_values=2".into()),
        "OCTOPUS_CONST_LABELS" => Some("region=eu-west-1".into()),
        _ => None,
    })
    .unwrap();
    let octopus = Octopus::builder()
        .config(config)
        .label_with(
            octopus_core::config::LabelConfig::named("plan")
                .values(["free", "pro"])
                .default_value("none"),
            |request| request.headers().header("x-plan"),
        )
        .build()
        .unwrap();
    let app: Router = Router::new()
        .route("/hello/{name}", get(|| async { "hello" }))
        .merge(metrics_router(&octopus))
        .layer(OctopusLayer::new(octopus.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, app).into_future());

    let client = reqwest::Client::new();
    let requests: [(&[(&str, &str)], u16); 6] = [
        (&[("x-tenant", "acme"), ("x-plan", "pro")], 200),
        (&[("x-tenant", "acme"), ("x-plan", "pro")], 200),
        (&[("x-tenant", "globex"), ("x-plan", "free")], 200),
        // Past the cap of 2: `_other`, counted in the overflow counter.
        (&[("x-tenant", "initech"), ("x-plan", "gold")], 200),
        (&[("x-tenant", "umbrella")], 200),
        (&[], 200),
    ];
    for (headers, status) in requests {
        let mut request = client.get(format!("http://{address}/hello/x"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        assert_eq!(request.send().await.unwrap().status().as_u16(), status);
    }
    let text = client
        .get(format!("http://{address}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    server.abort();

    let samples = Samples::parse(&text);
    let count = |tenant: &str, plan: &str| {
        samples.get_exact(
            "http_server_requests_total",
            &[
                ("http_request_method", "GET"),
                ("http_response_status_code", "200"),
                ("http_route", "/hello/{name}"),
                ("plan", plan),
                ("region", "eu-west-1"),
                ("service_name", "axum-labels"),
                ("tenant", tenant),
            ],
        )
    };
    assert_eq!(count("acme", "pro"), Some(2.0), "{text}");
    assert_eq!(count("globex", "free"), Some(1.0), "{text}");
    assert_eq!(count("_other", "_other"), Some(1.0), "{text}");
    assert_eq!(count("_other", "none"), Some(1.0), "{text}");
    assert_eq!(count("", "none"), Some(1.0), "{text}");
    assert_eq!(samples.series("http_server_requests_total"), 5, "{text}");
    let overflow = |label: &str| {
        samples.get_exact(
            "octopus_label_overflow_total",
            &[
                ("label", label),
                ("region", "eu-west-1"),
                ("service_name", "axum-labels"),
            ],
        )
    };
    assert_eq!(overflow("tenant"), Some(2.0), "{text}");
    assert_eq!(overflow("plan"), Some(1.0), "{text}");
    // The in-flight gauge carries them too.
    assert_eq!(
        samples.get_exact(
            "http_server_active_requests",
            &[
                ("http_request_method", "GET"),
                ("http_route", "/hello/{name}"),
                ("plan", "pro"),
                ("region", "eu-west-1"),
                ("service_name", "axum-labels"),
                ("tenant", "acme"),
            ],
        ),
        Some(0.0),
        "{text}"
    );
}
