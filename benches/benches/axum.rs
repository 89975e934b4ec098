//! The `axum` group: one in-process request `GET /users/42` to a trivial handler with one path
//! parameter, building the request and reading the body.
//!
//! `cargo bench -p octopus-benches --bench axum`
//!
//! | id | setup |
//! |---|---|
//! | `bare` | the router alone |
//! | `bare_2threads` | `bare` on two threads at once (time per request per thread) |
//! | `floor_empty_layer` | a tower layer that does nothing (`MapRequestLayer` with the identity): what any layer costs in axum (a boxed route and its future more) |
//! | `floor_empty_layer_2threads` | `floor_empty_layer` on two threads at once |
//! | `octopus_noop` | `OctopusLayer` with the empty observer `()`: the adapter and the seam alone |
//! | `octopus_noop_2threads` | `octopus_noop` on two threads at once |
//! | `octopus_metrics` | `OctopusLayer`, metrics only (all three); here and below the `Octopus` is `leak()`ed, as the README sets it up |
//! | `octopus_metrics_owned` (+ `_2threads`) | `octopus_metrics` with an owned `Octopus`, whose reference count every request's clone of the service writes |
//! | `octopus_body_sizes` | `OctopusLayer`, metrics only: all three and both body size histograms |
//! | `octopus_tracing` | tracing only: always-on sampler, span pipeline, discarding exporter; every span kept (see `octopus_benches::every_span_kept`), as in the traced set-ups below and the tracing peers |
//! | `octopus_tracing_unsampled` | tracing with the `always_off` sampler |
//! | `octopus_full` | metrics and tracing |
//! | `octopus_metrics_labels` | `octopus_metrics` with a label of the user's own, `tenant` from the `x-tenant` header the request carries |
//! | `peer_axum_tracing_opentelemetry` | `axum-tracing-opentelemetry`'s layers over `tracing-opentelemetry`, as its README shows |
//! | `peer_axum_prometheus` | `axum-prometheus`'s `PrometheusMetricLayer::pair()`, as its README shows |

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::Request;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use octopus_axum::OctopusLayer;
use octopus_benches::peers::DiscardExporter031;
use octopus_benches::{
    BODY_SIZES, CONTENDED, SETUPS, every_span_kept, flush_spans, octopus, octopus_body_sizes,
    two_threads, two_threads_every_span_kept,
};
use tower::ServiceExt;

async fn user(Path(id): Path<u64>) -> String {
    format!("user {id}")
}

fn router() -> Router {
    Router::new().route("/users/{id}", get(user))
}

/// `app` as `axum::serve` runs it: `with_state(())` turns each handler into its route once,
/// layers applied. Without it, a `Router<()>` builds the handler's route, layers included, for
/// every request (axum 0.8's `MethodEndpoint::BoxedHandler`), which no server does, and which
/// charged every layer a clone and two allocations per request that production never pays.
fn served(app: Router) -> Router {
    app.with_state(())
}

/// One request through a clone of `app`, as a server makes one per request.
fn request(runtime: &tokio::runtime::Runtime, app: &Router) {
    let app = app.clone();
    runtime.block_on(async move {
        let response = app
            .oneshot(Request::get("/users/42").body(Body::empty()).unwrap())
            .await
            .unwrap();
        black_box(
            axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap(),
        )
    });
}

/// [`request`] on two threads at once, each with its own runtime, as each server worker has.
fn on_two_threads(iters: u64, app: &Router) -> std::time::Duration {
    two_threads(iters, || on_own_runtime(app))
}

/// [`request`] to `app` on a runtime of its own: one thread's runner of [`on_two_threads`].
fn on_own_runtime(app: &Router) -> impl FnMut() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let app = app.clone();
    move || request(&runtime, &app)
}

/// Installs the tracing peer's globals; its provider, to flush.
fn install_tracing_peer() -> opentelemetry_sdk_031::trace::SdkTracerProvider {
    use opentelemetry_031::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    let provider = opentelemetry_sdk_031::trace::SdkTracerProvider::builder()
        .with_batch_exporter(DiscardExporter031)
        .build();
    let tracer = provider.tracer("bench");
    opentelemetry_031::global::set_tracer_provider(provider.clone());
    opentelemetry_031::global::set_text_map_propagator(
        opentelemetry_sdk_031::propagation::TraceContextPropagator::new(),
    );
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry_032::layer().with_tracer(tracer));
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
    provider
}

fn axum(c: &mut Criterion) {
    // Timers on: axum-prometheus's recorder runs an upkeep task.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("axum");
    let run = |app: &Router| request(&runtime, app);
    let bare = served(router());
    group.bench_function("bare", |b| b.iter(|| run(&bare)));
    group.bench_function("bare_2threads", |b| {
        b.iter_custom(|iters| on_two_threads(iters, &bare))
    });
    let floor = served(router().layer(tower::util::MapRequestLayer::new(
        |request: Request<Body>| request,
    )));
    group.bench_function("floor_empty_layer", |b| b.iter(|| run(&floor)));
    group.bench_function("floor_empty_layer_2threads", |b| {
        b.iter_custom(|iters| on_two_threads(iters, &floor))
    });
    let noop = served(router().layer(OctopusLayer::new(())));
    group.bench_function("octopus_noop", |b| b.iter(|| run(&noop)));
    group.bench_function("octopus_noop_2threads", |b| {
        b.iter_custom(|iters| on_two_threads(iters, &noop))
    });
    // As the README sets it up: `leak()`, so axum's clone of the service for every request
    // copies a pointer (`octopus_metrics_owned` below measures an owned `Octopus`).
    // Every span kept (see `every_span_kept`), checked after each set-up.
    for (id, metrics, tracing) in SETUPS {
        let octopus = octopus(metrics, tracing);
        let app = served(router().layer(OctopusLayer::new(octopus.clone().leak())));
        let flush = || flush_spans(&octopus);
        group.bench_function(id, |b| {
            b.iter_custom(|iters| every_span_kept(iters, || run(&app), flush))
        });
        if CONTENDED.contains(&id) {
            group.bench_function(format!("{id}_2threads"), |b| {
                b.iter_custom(|iters| {
                    two_threads_every_span_kept(iters, || on_own_runtime(&app), flush)
                })
            });
        }
        let counts = octopus.shutdown().expect("flushes");
        assert_eq!(counts.unaccounted(), 0, "{id}: spans dropped: {counts:?}");
    }
    let octopus = octopus_body_sizes();
    let app = served(router().layer(OctopusLayer::new(octopus.clone().leak())));
    group.bench_function(BODY_SIZES, |b| b.iter(|| run(&app)));
    octopus.shutdown().expect("flushes");

    // An owned `Octopus` as the observer: every request's clone of the service increments and
    // decrements its reference count, which both threads write in the 2-thread run.
    let octopus = octopus_benches::octopus(true, None);
    let app = served(router().layer(OctopusLayer::new(octopus.clone())));
    group.bench_function("octopus_metrics_owned", |b| b.iter(|| run(&app)));
    group.bench_function("octopus_metrics_owned_2threads", |b| {
        b.iter_custom(|iters| on_two_threads(iters, &app))
    });
    octopus.shutdown().expect("flushes");

    // A label of the user's own from a header: the request carries `x-tenant`.
    let labelled = octopus_core::Octopus::builder()
        .service_name("bench")
        .config(octopus_core::OctopusConfig {
            tracing_enabled: false,
            ..octopus_core::OctopusConfig::default()
        })
        .header_label(octopus_core::config::LabelConfig::header(
            "tenant", "x-tenant",
        ))
        .build()
        .expect("octopus builds");
    let app = served(router().layer(OctopusLayer::new(labelled.leak())));
    group.bench_function("octopus_metrics_labels", |b| {
        b.iter(|| {
            let app = app.clone();
            runtime.block_on(async move {
                let request = Request::get("/users/42")
                    .header("x-tenant", "acme")
                    .body(Body::empty())
                    .unwrap();
                let response = app.oneshot(request).await.unwrap();
                black_box(
                    axum::body::to_bytes(response.into_body(), 1024)
                        .await
                        .unwrap(),
                )
            })
        })
    });

    // axum-prometheus as its README sets it up: a global `metrics` recorder, `/metrics` rendered
    // from its handle.
    let (prometheus_layer, metric_handle) =
        runtime.block_on(async { axum_prometheus::PrometheusMetricLayer::pair() });
    let peer = served(
        router()
            .route(
                "/metrics",
                get(move || std::future::ready(metric_handle.render())),
            )
            .layer(prometheus_layer),
    );
    group.bench_function("peer_axum_prometheus", |b| b.iter(|| run(&peer)));

    // axum-tracing-opentelemetry as its README sets it up: a `tracing` subscriber with the
    // `tracing-opentelemetry` layer over an SDK tracer provider (always on, batch processor,
    // discarding exporter) and the W3C propagator, then its two layers.
    // Flushed between chunks as Octopus is: its batch processor drops at a full queue too.
    let provider = install_tracing_peer();
    let peer = served(
        router()
            .layer(axum_tracing_opentelemetry::middleware::OtelInResponseLayer)
            .layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default()),
    );
    group.bench_function("peer_axum_tracing_opentelemetry", |b| {
        b.iter_custom(|iters| {
            every_span_kept(
                iters,
                || run(&peer),
                || provider.force_flush().expect("flushed"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, axum);
criterion_main!(benches);
