//! The demo service on warp 0.4, per the demo contract (examples/README.md).
//!
//! ```text
//! cargo run -p octopus-examples --bin warp-demo
//! curl localhost:10999/hello/bob && curl localhost:10999/metrics
//! ```

use std::collections::HashMap;

use octopus_core::Octopus;
use octopus_core::client::TracedClient;
use octopus_examples::{
    DemoSettings, announce, call_client, serve_until_signal, shutdown_octopus, slow_duration,
};
use octopus_warp::route;
use tower_http::catch_panic::CatchPanicLayer;
use tower_layer::Layer as _;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

async fn slow(ms: String) -> Response {
    let Some(wait) = slow_duration(&ms) else {
        return warp::reply::with_status("ms must be a number", StatusCode::BAD_REQUEST)
            .into_response();
    };
    tokio::time::sleep(wait).await;
    format!("slept {} ms", wait.as_millis()).into_response()
}

/// GETs `url` with the traced client; the filter runs with the request's context current, so
/// the call joins its trace.
async fn call(query: HashMap<String, String>, client: TracedClient) -> Response {
    let Some(url) = query.get("url") else {
        return warp::reply::with_status("url parameter missing", StatusCode::BAD_REQUEST)
            .into_response();
    };
    match client.get(url).send().await {
        Ok(response) => response.status().as_u16().to_string().into_response(),
        Err(error) => warp::reply::with_status(format!("{url}: {error}"), StatusCode::BAD_GATEWAY)
            .into_response(),
    }
}

fn routes(
    client: TracedClient,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static {
    let hello = warp::path!("hello" / String)
        .and(route("/hello/{name}"))
        .and(warp::get())
        .map(|name: String| format!("hello, {name}").into_response());
    let slow = warp::path!("slow" / String)
        .and(route("/slow/{ms}"))
        .and(warp::get())
        .then(slow);
    let fail = warp::path!("fail")
        .and(route("/fail"))
        .and(warp::get())
        .map(|| {
            warp::reply::with_status("failed on purpose", StatusCode::INTERNAL_SERVER_ERROR)
                .into_response()
        });
    let panic = warp::path!("panic")
        .and(route("/panic"))
        .and(warp::get())
        .map(|| -> Response { panic!("the /panic handler panics on purpose") });
    let call = warp::path!("call")
        .and(route("/call"))
        .and(warp::get())
        .and(warp::query::<HashMap<String, String>>())
        .and(warp::any().map(move || client.clone()))
        .then(call);
    let health = warp::path!("health")
        .and(warp::get())
        .map(|| "ok".into_response());
    hello
        .or(slow)
        .unify()
        .or(fail)
        .unify()
        .or(panic)
        .unify()
        .or(call)
        .unify()
        .or(health)
        .unify()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let settings = DemoSettings::from_env_or_exit();
    let listener = tokio::net::TcpListener::bind(settings.addr).await?;
    // `leak`: warp clones the service for every request, and with it the observer — a
    // `&'static Octopus` is a pointer copy, where an owned one is a reference count that every
    // worker thread writes.
    let octopus: Option<&'static Octopus> = settings.start_octopus().await.map(Octopus::leak);
    announce(listener.local_addr()?);
    let server = |stop| async move {
        match octopus {
            Some(octopus) => {
                let client = call_client(Some(octopus));
                // The two lines of the quick start: /metrics among the routes, the service
                // around the filter.
                let routes = routes(client)
                    .or(octopus_warp::metrics_filter(octopus))
                    .unify();
                let service = octopus_warp::observe(octopus, warp::service(routes));
                octopus_warp::serve(listener, service, stop).await
            }
            None => {
                let client = call_client(None);
                // Without Octopus, warp leaves a panicking handler to take its connection
                // down; the contract wants a 500.
                let service = CatchPanicLayer::new().layer(warp::service(routes(client)));
                octopus_warp::serve(listener, service, stop).await
            }
        }
    };
    serve_until_signal(server).await?;
    shutdown_octopus(octopus.cloned()).await;
    Ok(())
}
