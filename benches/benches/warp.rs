//! The `warp` group: one in-process request `GET /users/42` to a trivial handler with one path
//! parameter, through `warp::service` (a tower service, as a server calls it), building the
//! request and reading the body.
//!
//! `cargo bench -p octopus-benches --bench warp`
//!
//! | id | setup |
//! |---|---|
//! | `bare` | `warp::service(filter)` alone |
//! | `bare_2threads` | `bare` on two threads at once (time per request per thread) |
//! | `octopus_noop` | `octopus_warp::observe` with the empty observer `()`: the adapter and the seam alone |
//! | `octopus_noop_2threads` | `octopus_noop` on two threads at once |
//! | `octopus_metrics` | `octopus_warp::observe`, metrics only (all three), the route named; here and below the `Octopus` is `leak()`ed, as the README sets it up |
//! | `octopus_body_sizes` | `octopus_warp::observe`, metrics only: all three and both body size histograms, the route named |
//! | `octopus_tracing` | tracing only: always-on sampler, span pipeline, discarding exporter; every span kept (see `octopus_benches::every_span_kept`), as in the traced set-ups below and the tracing peers |
//! | `octopus_tracing_unsampled` | tracing with the `always_off` sampler |
//! | `octopus_full` | metrics and tracing |

use std::convert::Infallible;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt as _;
use octopus_benches::{
    BODY_SIZES, CONTENDED, SETUPS, every_span_kept, flush_spans, octopus, octopus_body_sizes,
    two_threads, two_threads_every_span_kept,
};
use tower_service::Service;
use warp::Filter;
use warp::reply::Response;

fn user(id: u64) -> String {
    format!("user {id}")
}

fn run<S>(runtime: &tokio::runtime::Runtime, service: &S)
where
    S: Service<http::Request<String>, Response = Response, Error = Infallible> + Clone,
{
    let mut service = service.clone();
    runtime.block_on(async move {
        let request = http::Request::get("/users/42").body(String::new()).unwrap();
        let response = service.call(request).await.unwrap();
        black_box(response.into_body().collect().await.unwrap().to_bytes())
    });
}

/// The route, named for Octopus.
fn named_filter() -> impl Filter<Extract = (String,), Error = warp::Rejection> + Clone {
    warp::path!("users" / u64)
        .and(octopus_warp::route("/users/{id}"))
        .and(warp::get())
        .map(user)
}

/// [`run`] on two threads at once, each with its own runtime.
fn on_two_threads<S>(iters: u64, service: &S) -> std::time::Duration
where
    S: Service<http::Request<String>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + Sync,
{
    two_threads(iters, || on_own_runtime(service))
}

/// [`run`] on a runtime of its own: one thread's runner of [`on_two_threads`].
fn on_own_runtime<S>(service: &S) -> impl FnMut()
where
    S: Service<http::Request<String>, Response = Response, Error = Infallible> + Clone,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let service = service.clone();
    move || run(&runtime, &service)
}

fn warp(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("warp");

    let bare = warp::service(warp::path!("users" / u64).and(warp::get()).map(user));
    group.bench_function("bare", |b| b.iter(|| run(&runtime, &bare)));
    group.bench_function("bare_2threads", |b| {
        b.iter_custom(|iters| on_two_threads(iters, &bare))
    });
    let noop = octopus_warp::observe((), warp::service(named_filter()));
    group.bench_function("octopus_noop", |b| b.iter(|| run(&runtime, &noop)));
    group.bench_function("octopus_noop_2threads", |b| {
        b.iter_custom(|iters| on_two_threads(iters, &noop))
    });
    // As the README sets it up: `leak()`, so the clone of the service every request makes
    // copies a pointer instead of writing a shared reference count.
    for (id, metrics, tracing) in SETUPS {
        let octopus = octopus(metrics, tracing);
        let service = octopus_warp::observe(octopus.clone().leak(), warp::service(named_filter()));
        // Every span kept (see `every_span_kept`), checked below.
        let flush = || flush_spans(&octopus);
        group.bench_function(id, |b| {
            b.iter_custom(|iters| every_span_kept(iters, || run(&runtime, &service), flush))
        });
        if CONTENDED.contains(&id) {
            group.bench_function(format!("{id}_2threads"), |b| {
                b.iter_custom(|iters| {
                    two_threads_every_span_kept(iters, || on_own_runtime(&service), flush)
                })
            });
        }
        let counts = octopus.shutdown().expect("flushes");
        assert_eq!(counts.unaccounted(), 0, "{id}: spans dropped: {counts:?}");
    }
    let octopus = octopus_body_sizes();
    let service = octopus_warp::observe(octopus.clone().leak(), warp::service(named_filter()));
    group.bench_function(BODY_SIZES, |b| b.iter(|| run(&runtime, &service)));
    octopus.shutdown().expect("flushes");
    group.finish();
}

criterion_group!(benches, warp);
criterion_main!(benches);
