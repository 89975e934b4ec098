//! The `warp` group: one in-process request `GET /users/42` to a trivial handler with one path
//! parameter, through `warp::service` (a tower service, as a server calls it), building the
//! request and reading the body.
//!
//! `cargo bench -p octopus-benches --bench warp`
//!
//! | id | setup |
//! |---|---|
//! | `bare` | `warp::service(filter)` alone |
//! | `octopus_metrics` | `octopus_warp::observe`, metrics only (all three), the route named |
//! | `octopus_tracing` | tracing only: always-on sampler, batch processor, discarding exporter |
//! | `octopus_tracing_unsampled` | tracing with the `always_off` sampler |
//! | `octopus_full` | metrics and tracing |

use std::convert::Infallible;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt as _;
use octopus_benches::{SETUPS, octopus};
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

fn warp(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("warp");

    let bare = warp::service(warp::path!("users" / u64).and(warp::get()).map(user));
    group.bench_function("bare", |b| b.iter(|| run(&runtime, &bare)));
    for (id, metrics, tracing) in SETUPS {
        let octopus = octopus(metrics, tracing);
        let filter = warp::path!("users" / u64)
            .and(octopus_warp::route("/users/{id}"))
            .and(warp::get())
            .map(user);
        let service = octopus_warp::observe(octopus.clone(), warp::service(filter));
        group.bench_function(id, |b| b.iter(|| run(&runtime, &service)));
        octopus.shutdown().expect("flushes");
    }
    group.finish();
}

criterion_group!(benches, warp);
criterion_main!(benches);
