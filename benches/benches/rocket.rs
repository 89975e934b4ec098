//! The `rocket` group: one in-process request `GET /users/42` to a trivial handler with one
//! path parameter, through rocket's local client, reading the body.
//!
//! `cargo bench -p octopus-benches --bench rocket`
//!
//! | id | setup |
//! |---|---|
//! | `bare` | rocket alone |
//! | `bare_2threads` | `bare` on two threads at once (time per request per thread) |
//! | `octopus_noop` | `OctopusFairing` with the empty observer `()`: the adapter and the seam alone |
//! | `octopus_noop_2threads` | `octopus_noop` on two threads at once |
//! | `octopus_metrics` | `OctopusFairing`, metrics only (all three) |
//! | `octopus_body_sizes` | `OctopusFairing`, metrics only: all three and both body size histograms |
//! | `octopus_tracing` | tracing only: always-on sampler, span pipeline, discarding exporter; every span kept (see `octopus_benches::every_span_kept`), as in the traced set-ups below and the tracing peers |
//! | `octopus_tracing_unsampled` | tracing with the `always_off` sampler |
//! | `octopus_full` | metrics and tracing |
//! | `floor_empty_fairing` | a fairing on requests and responses that does nothing: what any fairing costs (the two boxed futures rocket makes for it) |
//! | `floor_local_cache` | a fairing that keeps one `Instant` in the request's local cache from the request to the response, as any fairing carrying state between the two must (rocket_prometheus does this) |
//! | `peer_rocket_prometheus` | `rocket_prometheus`'s fairing and route, as its README shows |

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use octopus_benches::{
    BODY_SIZES, CONTENDED, SETUPS, every_span_kept, flush_spans, octopus, octopus_body_sizes,
    two_threads, two_threads_every_span_kept,
};
use octopus_rocket::OctopusFairing;
use rocket::local::asynchronous::Client;
use rocket::{Build, Rocket, get, routes};

/// What a fairing on requests and responses called `name` tells rocket.
fn on_requests_and_responses(name: &'static str) -> rocket::fairing::Info {
    rocket::fairing::Info {
        name,
        kind: rocket::fairing::Kind::Request | rocket::fairing::Kind::Response,
    }
}

/// A request and response fairing with nothing to do: the floor under any fairing.
struct EmptyFairing;

#[rocket::async_trait]
impl rocket::fairing::Fairing for EmptyFairing {
    fn info(&self) -> rocket::fairing::Info {
        on_requests_and_responses("empty")
    }

    async fn on_request(&self, request: &mut rocket::Request<'_>, _: &mut rocket::Data<'_>) {
        black_box(request);
    }

    async fn on_response<'r>(
        &self,
        request: &'r rocket::Request<'_>,
        response: &mut rocket::Response<'r>,
    ) {
        black_box((request, response));
    }
}

/// A fairing that carries one value from the request to the response in the request's local
/// cache, the only per-request storage rocket gives a fairing: the floor under any fairing that
/// measures something between the two (rocket_prometheus keeps its start `Instant` so).
struct LocalCacheFairing;

/// What [`LocalCacheFairing`] keeps: the request's start.
struct Started(std::time::Instant);

#[rocket::async_trait]
impl rocket::fairing::Fairing for LocalCacheFairing {
    fn info(&self) -> rocket::fairing::Info {
        on_requests_and_responses("local cache")
    }

    async fn on_request(&self, request: &mut rocket::Request<'_>, _: &mut rocket::Data<'_>) {
        request.local_cache(|| Started(std::time::Instant::now()));
    }

    async fn on_response<'r>(
        &self,
        request: &'r rocket::Request<'_>,
        response: &mut rocket::Response<'r>,
    ) {
        let started = request.local_cache(|| Started(std::time::Instant::now()));
        black_box((started.0.elapsed(), response));
    }
}

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

fn runtime_of_one_worker() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A local client of `app`, ignited. Untracked: no cookie jar shared between requests.
fn client(runtime: &tokio::runtime::Runtime, app: Rocket<Build>) -> Client {
    runtime
        .block_on(Client::untracked(app))
        .expect("rocket ignites")
}

/// One request through `client`.
fn request(runtime: &tokio::runtime::Runtime, client: &Client) {
    runtime.block_on(async {
        let response = client.get("/users/42").dispatch().await;
        black_box(response.into_bytes().await)
    });
}

fn rocket(c: &mut Criterion) {
    let runtime = runtime_of_one_worker();
    let mut group = c.benchmark_group("rocket");
    // With `octopus`: every span kept, flushed untimed between chunks (see
    // `every_span_kept`), and checked after its runs.
    let mut bench = |id: &str, app: Rocket<Build>, octopus: Option<&octopus_core::Octopus>| {
        let client = client(&runtime, app);
        match octopus {
            None => group.bench_function(id, |b| b.iter(|| request(&runtime, &client))),
            Some(octopus) => group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    every_span_kept(
                        iters,
                        || request(&runtime, &client),
                        || flush_spans(octopus),
                    )
                })
            }),
        };
        runtime.block_on(client.terminate());
    };

    bench("bare", app(), None);
    bench("floor_empty_fairing", app().attach(EmptyFairing), None);
    bench("floor_local_cache", app().attach(LocalCacheFairing), None);
    bench("octopus_noop", app().attach(OctopusFairing::new(())), None);
    let mut contended = Vec::new();
    for (id, metrics, tracing) in SETUPS {
        let octopus = octopus(metrics, tracing);
        bench(
            id,
            app().attach(OctopusFairing::new(octopus.clone())),
            Some(&octopus),
        );
        if CONTENDED.contains(&id) {
            contended.push((id, octopus));
        } else {
            let counts = octopus.shutdown().expect("flushes");
            assert_eq!(counts.unaccounted(), 0, "{id}: spans dropped: {counts:?}");
        }
    }
    let octopus = octopus_body_sizes();
    bench(
        BODY_SIZES,
        app().attach(OctopusFairing::new(octopus.clone())),
        None,
    );
    octopus.shutdown().expect("flushes");

    // rocket_prometheus as its README sets it up: the fairing attached, its route mounted.
    let prometheus = rocket_prometheus::PrometheusMetrics::new();
    bench(
        "peer_rocket_prometheus",
        app()
            .attach(prometheus.clone())
            .mount("/metrics", prometheus),
        None,
    );
    // Two threads at once, each with its own runtime and its own rocket.
    for (id, fairing) in [("bare_2threads", false), ("octopus_noop_2threads", true)] {
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                two_threads(iters, || {
                    let runtime = runtime_of_one_worker();
                    let app = if fairing {
                        app().attach(OctopusFairing::new(()))
                    } else {
                        app()
                    };
                    let client = client(&runtime, app);
                    move || request(&runtime, &client)
                })
            })
        });
    }
    for (id, octopus) in contended {
        group.bench_function(format!("{id}_2threads"), |b| {
            b.iter_custom(|iters| {
                two_threads_every_span_kept(
                    iters,
                    || {
                        let runtime = runtime_of_one_worker();
                        let client =
                            client(&runtime, app().attach(OctopusFairing::new(octopus.clone())));
                        move || request(&runtime, &client)
                    },
                    || flush_spans(&octopus),
                )
            })
        });
        let counts = octopus.shutdown().expect("flushes");
        assert_eq!(counts.unaccounted(), 0, "{id}: spans dropped: {counts:?}");
    }
    group.finish();
}

criterion_group!(benches, rocket);
criterion_main!(benches);
