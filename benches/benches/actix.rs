//! The `actix` group: one in-process request `GET /users/42` to a trivial handler with one path
//! parameter, building the request and reading the body (`actix_web::test`).
//!
//! `cargo bench -p octopus-benches --bench actix`
//!
//! | id | setup |
//! |---|---|
//! | `bare` | the `App` alone |
//! | `octopus_metrics` | `OctopusMiddleware`, metrics only (all three) |
//! | `octopus_tracing` | tracing only: always-on sampler, batch processor, discarding exporter |
//! | `octopus_tracing_unsampled` | tracing with the `always_off` sampler |
//! | `octopus_full` | metrics and tracing |

use std::hint::black_box;

use actix_web::{App, test, web};
use criterion::{Criterion, criterion_group, criterion_main};
use octopus_actix::OctopusMiddleware;
use octopus_benches::{SETUPS, octopus};

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

fn actix(c: &mut Criterion) {
    let runtime = actix_web::rt::Runtime::new().expect("a runtime");
    let mut group = c.benchmark_group("actix");
    macro_rules! bench {
        ($id:expr, $app:expr) => {{
            let service = runtime.block_on(test::init_service($app));
            group.bench_function($id, |b| {
                b.iter(|| {
                    runtime.block_on(async {
                        let request = test::TestRequest::get().uri("/users/42").to_request();
                        let response = test::call_service(&service, request).await;
                        black_box(test::read_body(response).await)
                    })
                })
            });
        }};
    }

    bench!("bare", app());
    for (id, metrics, tracing) in SETUPS {
        let octopus = octopus(metrics, tracing);
        bench!(id, app().wrap(OctopusMiddleware::new(octopus.clone())));
        octopus.shutdown().expect("flushes");
    }
    group.finish();
}

criterion_group!(benches, actix);
criterion_main!(benches);
