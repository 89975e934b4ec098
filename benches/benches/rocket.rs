//! The `rocket` group: one in-process request `GET /users/42` to a trivial handler with one
//! path parameter, through rocket's local client, reading the body.
//!
//! `cargo bench -p octopus-benches --bench rocket`
//!
//! | id | setup |
//! |---|---|
//! | `bare` | rocket alone |
//! | `octopus_metrics` | `OctopusFairing`, metrics only (all three) |
//! | `octopus_tracing` | tracing only: always-on sampler, batch processor, discarding exporter |
//! | `octopus_tracing_unsampled` | tracing with the `always_off` sampler |
//! | `octopus_full` | metrics and tracing |
//! | `peer_rocket_prometheus` | `rocket_prometheus`'s fairing and route, as its README shows |

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use octopus_benches::{SETUPS, octopus};
use octopus_rocket::OctopusFairing;
use rocket::local::asynchronous::Client;
use rocket::{Build, Rocket, get, routes};

#[get("/users/<id>")]
fn user(id: u64) -> String {
    format!("user {id}")
}

fn app() -> Rocket<Build> {
    let config = rocket::Config {
        log_level: rocket::config::LogLevel::Off,
        ..rocket::Config::release_default()
    };
    rocket::custom(config).mount("/", routes![user])
}

fn rocket(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("rocket");
    let mut bench = |id: &str, app: Rocket<Build>| {
        // Untracked: no cookie jar shared between requests.
        let client = runtime
            .block_on(Client::untracked(app))
            .expect("rocket ignites");
        group.bench_function(id, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let response = client.get("/users/42").dispatch().await;
                    black_box(response.into_bytes().await)
                })
            })
        });
        runtime.block_on(client.terminate());
    };

    bench("bare", app());
    for (id, metrics, tracing) in SETUPS {
        let octopus = octopus(metrics, tracing);
        bench(id, app().attach(OctopusFairing::new(octopus.clone())));
        octopus.shutdown().expect("flushes");
    }

    // rocket_prometheus as its README sets it up: the fairing attached, its route mounted.
    let prometheus = rocket_prometheus::PrometheusMetrics::new();
    bench(
        "peer_rocket_prometheus",
        app()
            .attach(prometheus.clone())
            .mount("/metrics", prometheus),
    );
    group.finish();
}

criterion_group!(benches, rocket);
criterion_main!(benches);
