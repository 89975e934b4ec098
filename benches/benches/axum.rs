//! The `axum` group: one in-process request `GET /users/42` to a trivial handler with one path
//! parameter, building the request and reading the body.
//!
//! `cargo bench -p octopus-benches --bench axum`
//!
//! | id | setup |
//! |---|---|
//! | `bare` | the router alone |
//! | `octopus_metrics` | `OctopusLayer`, metrics only (all three) |
//! | `octopus_tracing` | tracing only: always-on sampler, batch processor, discarding exporter |
//! | `octopus_tracing_unsampled` | tracing with the `always_off` sampler |
//! | `octopus_full` | metrics and tracing |

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::Request;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use octopus_axum::OctopusLayer;
use octopus_benches::{SETUPS, octopus};
use tower::ServiceExt;

async fn user(Path(id): Path<u64>) -> String {
    format!("user {id}")
}

fn router() -> Router {
    Router::new().route("/users/{id}", get(user))
}

fn axum(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("axum");
    let run = |app: &Router| {
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
        })
    };

    let bare = router();
    group.bench_function("bare", |b| b.iter(|| run(&bare)));
    for (id, metrics, tracing) in SETUPS {
        let octopus = octopus(metrics, tracing);
        let app = router().layer(OctopusLayer::new(octopus.clone()));
        group.bench_function(id, |b| b.iter(|| run(&app)));
        octopus.shutdown().expect("flushes");
    }
    group.finish();
}

criterion_group!(benches, axum);
criterion_main!(benches);
