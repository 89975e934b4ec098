//! The `actix` group: one in-process request `GET /users/42` to a trivial handler with one path
//! parameter, building the request and reading the body (`actix_web::test`).
//!
//! `cargo bench -p octopus-benches --bench actix`
//!
//! | id | setup |
//! |---|---|
//! | `bare` | the `App` alone |
//! | `bare_2threads` | `bare` on two threads at once (time per request per thread) |
//! | `floor_empty_middleware` | a middleware that does nothing (`wrap_fn` calling the service): what any middleware costs in actix |
//! | `octopus_noop` | `OctopusMiddleware` with the empty observer `()`: the adapter and the seam alone |
//! | `octopus_noop_2threads` | `octopus_noop` on two threads at once |
//! | `octopus_metrics` | `OctopusMiddleware`, metrics only (all three) |
//! | `bare_new_paths`, `octopus_metrics_new_paths` | `bare` and `octopus_metrics` with a path never seen before each time (`/users/1`, `/users/2`, …): the route is matched, not remembered |
//! | `octopus_body_sizes` | `OctopusMiddleware`, metrics only: all three and both body size histograms |
//! | `octopus_tracing` | tracing only: always-on sampler, span pipeline, discarding exporter; every span kept (see `octopus_benches::every_span_kept`), as in the traced set-ups below and the tracing peers |
//! | `octopus_tracing_unsampled` | tracing with the `always_off` sampler |
//! | `octopus_full` | metrics and tracing |
//! | `peer_actix_web_opentelemetry_tracing` | `actix-web-opentelemetry`'s `RequestTracing` (global provider, batch processor, discarding exporter) |
//! | `peer_actix_web_opentelemetry_metrics` | its `RequestMetrics` into a Prometheus registry |
//! | `peer_actix_web_opentelemetry_full` | both |
//! | `peer_actix_web_prom` | `actix-web-prom`'s middleware, as its README shows |

use std::hint::black_box;

use actix_web::{App, test, web};
use actix_web_opentelemetry::{PrometheusMetricsHandler, RequestMetrics, RequestTracing};
use criterion::{Criterion, criterion_group, criterion_main};
use octopus_actix::OctopusMiddleware;
use octopus_benches::peers::DiscardExporter029;
use octopus_benches::{
    BODY_SIZES, CONTENDED, SETUPS, every_span_kept, flush_spans, octopus, octopus_body_sizes,
    two_threads, two_threads_every_span_kept,
};

async fn user(id: web::Path<u64>) -> String {
    format!("user {id}")
}

fn app() -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new().route("/users/{id}", web::get().to(user))
}

/// Installs the OpenTelemetry peer's globals; the registry its metrics go to, and its tracer
/// provider, to flush.
fn install_opentelemetry_peer() -> (
    prometheus_013::Registry,
    opentelemetry_sdk_029::trace::SdkTracerProvider,
) {
    let provider = opentelemetry_sdk_029::trace::SdkTracerProvider::builder()
        .with_batch_exporter(DiscardExporter029)
        .build();
    opentelemetry_029::global::set_tracer_provider(provider.clone());
    let registry = prometheus_013::Registry::new();
    let exporter = opentelemetry_prometheus_029::exporter()
        .with_registry(registry.clone())
        .build()
        .expect("the Prometheus exporter builds");
    opentelemetry_029::global::set_meter_provider(
        opentelemetry_sdk_029::metrics::SdkMeterProvider::builder()
            .with_reader(exporter)
            .build(),
    );
    (registry, provider)
}

fn actix(c: &mut Criterion) {
    let runtime = actix_web::rt::Runtime::new().expect("a runtime");
    let mut group = c.benchmark_group("actix");
    /// One request to `$service` on `$runtime`.
    macro_rules! request {
        ($runtime:expr, $service:expr) => {
            request!($runtime, $service, "/users/42")
        };
        ($runtime:expr, $service:expr, $uri:expr) => {
            $runtime.block_on(async {
                let request = test::TestRequest::get().uri($uri).to_request();
                let response = test::call_service($service, request).await;
                black_box(test::read_body(response).await)
            })
        };
    }
    // With a flush: every span kept, flushed untimed between chunks (see `every_span_kept`).
    macro_rules! bench {
        ($id:expr, $app:expr) => {{
            let service = runtime.block_on(test::init_service($app));
            group.bench_function($id, |b| b.iter(|| request!(runtime, &service)));
        }};
        ($id:expr, $app:expr, $flush:expr) => {{
            let service = runtime.block_on(test::init_service($app));
            group.bench_function($id, |b| {
                b.iter_custom(|iters| {
                    every_span_kept(
                        iters,
                        || {
                            request!(runtime, &service);
                        },
                        $flush,
                    )
                })
            });
        }};
    }
    // Two threads at once, each with its own runtime and its own app, as actix-web's workers.
    macro_rules! bench_two_threads {
        ($id:expr, $app:expr) => {{
            group.bench_function($id, |b| {
                b.iter_custom(|iters| {
                    two_threads(iters, || {
                        let runtime = actix_web::rt::Runtime::new().expect("a runtime");
                        let service = runtime.block_on(test::init_service($app));
                        move || {
                            request!(runtime, &service);
                        }
                    })
                })
            });
        }};
        ($id:expr, $app:expr, $flush:expr) => {{
            group.bench_function($id, |b| {
                b.iter_custom(|iters| {
                    two_threads_every_span_kept(
                        iters,
                        || {
                            let runtime = actix_web::rt::Runtime::new().expect("a runtime");
                            let service = runtime.block_on(test::init_service($app));
                            move || {
                                request!(runtime, &service);
                            }
                        },
                        $flush,
                    )
                })
            });
        }};
    }

    bench!("bare", app());
    bench_two_threads!("bare_2threads", app());
    bench!(
        "floor_empty_middleware",
        app().wrap_fn(|request, service| actix_web::dev::Service::call(service, request))
    );
    bench!("octopus_noop", app().wrap(OctopusMiddleware::new(())));
    bench_two_threads!(
        "octopus_noop_2threads",
        app().wrap(OctopusMiddleware::new(()))
    );
    for (id, metrics, tracing) in SETUPS {
        let octopus = octopus(metrics, tracing);
        let flush = || flush_spans(&octopus);
        bench!(
            id,
            app().wrap(OctopusMiddleware::new(octopus.clone())),
            flush
        );
        if CONTENDED.contains(&id) {
            bench_two_threads!(
                format!("{id}_2threads"),
                app().wrap(OctopusMiddleware::new(octopus.clone())),
                flush
            );
        }
        let counts = octopus.shutdown().expect("flushes");
        assert_eq!(counts.unaccounted(), 0, "{id}: spans dropped: {counts:?}");
    }
    // A new path every request (`/users/1`, `/users/2`, …): the middleware's per-worker memory
    // of path → route template never has the answer, so this is what a path carrying an id
    // costs; `bare_new_paths` is its baseline (the same `format!` of the path).
    macro_rules! bench_new_paths {
        ($id:expr, $app:expr) => {{
            let service = runtime.block_on(test::init_service($app));
            let mut user = 0_u64;
            group.bench_function($id, |b| {
                b.iter(|| {
                    user += 1;
                    request!(runtime, &service, &format!("/users/{user}"))
                })
            });
        }};
    }
    let octopus = octopus(true, None);
    bench_new_paths!("bare_new_paths", app());
    bench_new_paths!(
        "octopus_metrics_new_paths",
        app().wrap(OctopusMiddleware::new(octopus.clone()))
    );
    octopus.shutdown().expect("flushes");

    let octopus = octopus_body_sizes();
    bench!(
        BODY_SIZES,
        app().wrap(OctopusMiddleware::new(octopus.clone()))
    );
    octopus.shutdown().expect("flushes");

    // actix-web-prom as its README sets it up.
    let prometheus = actix_web_prom::PrometheusMetricsBuilder::new("api")
        .endpoint("/metrics")
        .build()
        .expect("actix-web-prom builds");
    bench!("peer_actix_web_prom", app().wrap(prometheus));

    // actix-web-opentelemetry as its README sets it up: global providers of its OpenTelemetry
    // generation — traces through a batch processor into nothing, metrics into a Prometheus
    // registry served on /metrics.
    // Its batch processor drops at a full queue too: flushed between chunks as Octopus is.
    let (registry, provider) = install_opentelemetry_peer();
    let flush = || provider.force_flush().expect("flushed");
    bench!(
        "peer_actix_web_opentelemetry_tracing",
        app().wrap(RequestTracing::new()),
        flush
    );
    bench!(
        "peer_actix_web_opentelemetry_metrics",
        app()
            .route(
                "/metrics",
                web::get().to(PrometheusMetricsHandler::new(registry.clone()))
            )
            .wrap(RequestMetrics::default())
    );
    bench!(
        "peer_actix_web_opentelemetry_full",
        app()
            .route(
                "/metrics",
                web::get().to(PrometheusMetricsHandler::new(registry.clone()))
            )
            .wrap(RequestTracing::new())
            .wrap(RequestMetrics::default()),
        flush
    );
    group.finish();
}

criterion_group!(benches, actix);
criterion_main!(benches);
