//! A service on plain hyper 1 — a "framework" Octopus has no adapter for — instrumented by
//! driving the `RequestObserver` seam by hand, exactly as the adapters do:
//!
//! 1. match the route and build a `RequestView` with its template;
//! 2. `observe` it with the one observer;
//! 3. wrap the handler in an `ObservedFuture`, saying how a response reads (`Translate`) and
//!    what a panic becomes (`OnPanic`): the core runs the handler with the request's trace
//!    context current, writes the observer's response headers, and reports the end — or, if
//!    the future is dropped, the cancellation.
//!
//! The one observer is `Option<(Octopus, AccessLog)>`: Octopus stacked with a user-written
//! observer, an access log on stderr, to show that observers compose; `None` when the demo
//! runs uninstrumented.
//!
//! ```text
//! cargo run -p octopus-examples --bin custom-framework-demo
//! curl localhost:10999/hello/bob && curl localhost:10999/metrics
//! ```

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use octopus_core::client::TracedClient;
use octopus_core::opentelemetry::Context;
use octopus_core::{
    HeaderSink, HeaderSource, Observation, ObservedFuture, Octopus, OnPanic, RequestObserver,
    RequestView, ResponseView, Translate, body::exact_size,
};
use octopus_examples::{
    DRAIN_TIMEOUT, DemoSettings, announce, call_client, shutdown_signal, slow_duration,
};
use tokio::net::TcpListener;

/// A user's own observer: one line per request on stderr.
struct AccessLog;

struct AccessLogEntry {
    method: &'static str,
    path: String,
    started: Instant,
}

impl RequestObserver for AccessLog {
    type Observation = AccessLogEntry;

    fn start<H: HeaderSource + ?Sized>(
        &self,
        request: &RequestView<'_, H>,
        _context: &mut Context,
    ) -> AccessLogEntry {
        AccessLogEntry {
            method: request.method().as_str(),
            path: request.path().to_owned(),
            started: Instant::now(),
        }
    }
}

impl Observation for AccessLogEntry {
    fn finish(self, response: &ResponseView<'_>) {
        eprintln!(
            "{} {} {} {:.1?}",
            self.method,
            self.path,
            response.status(),
            self.started.elapsed()
        );
    }

    fn cancel(self) {
        eprintln!(
            "{} {} cancelled after {:.1?}",
            self.method,
            self.path,
            self.started.elapsed()
        );
    }
}

/// The demo's routes: the template (the label value) and what to do.
enum Route<'p> {
    Hello(&'p str),
    /// GET the URL with the traced client (`None`: no `url` parameter).
    Call(Option<String>),
    Slow(Option<Duration>),
    Fail,
    Panic,
    Metrics,
    Health,
    /// The path exists but not for this method.
    MethodNotAllowed,
    NotFound,
}

impl<'p> Route<'p> {
    /// A minimal router: what any framework does before its handlers run.
    fn matching(
        method: &Method,
        path: &'p str,
        query: Option<&str>,
    ) -> (Option<&'static str>, Route<'p>) {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (template, route) = match segments.as_slice() {
            ["call"] => (Some("/call"), Route::Call(query_param(query, "url"))),
            ["hello", name] if !name.is_empty() => (Some("/hello/{name}"), Route::Hello(name)),
            ["slow", ms] => (Some("/slow/{ms}"), Route::Slow(slow_duration(ms))),
            ["fail"] => (Some("/fail"), Route::Fail),
            ["panic"] => (Some("/panic"), Route::Panic),
            ["metrics"] => (Some("/metrics"), Route::Metrics),
            ["health"] => (Some("/health"), Route::Health),
            _ => return (None, Route::NotFound),
        };
        if method == Method::GET {
            (template, route)
        } else {
            (template, Route::MethodNotAllowed)
        }
    }
}

/// The percent-decoded value of `name` in a query string.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| {
            percent_encoding::percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

async fn handle(
    route: Route<'_>,
    request_headers: &HeaderMap,
    octopus: Option<&Octopus>,
    client: &TracedClient,
) -> Response<Full<Bytes>> {
    match route {
        Route::Hello(name) => text(StatusCode::OK, format!("hello, {name}")),
        // The handler runs with the request's context current: the call is its child.
        Route::Call(Some(url)) => match client.get(&url).send().await {
            Ok(downstream) => text(StatusCode::OK, downstream.status().as_u16().to_string()),
            Err(error) => text(StatusCode::BAD_GATEWAY, format!("{url}: {error}")),
        },
        Route::Call(None) => text(StatusCode::BAD_REQUEST, "url parameter missing"),
        Route::Slow(Some(wait)) => {
            tokio::time::sleep(wait).await;
            text(StatusCode::OK, format!("slept {} ms", wait.as_millis()))
        }
        Route::Slow(None) => text(StatusCode::BAD_REQUEST, "ms must be a number"),
        Route::Fail => text(StatusCode::INTERNAL_SERVER_ERROR, "failed on purpose"),
        Route::Panic => panic!("the /panic handler panics on purpose"),
        Route::Metrics => match octopus {
            // The scrape reads the request's headers: the bearer token, when one is set.
            Some(octopus) => octopus.scrape(request_headers).into(),
            None => text(StatusCode::NOT_FOUND, "not found"),
        },
        Route::Health => text(StatusCode::OK, "ok"),
        Route::MethodNotAllowed => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        Route::NotFound => text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// The one observer: Octopus then the access log, or nothing at all.
type Observer = Option<(Octopus, AccessLog)>;

/// What every request reads, for the life of the process: no reference count is touched per
/// request.
struct App {
    observer: Observer,
    client: TracedClient,
}

/// How this "framework"'s responses end a request: the one translation an adapter writes.
struct Hyper;

impl Translate<Response<Full<Bytes>>> for Hyper {
    fn ended<'o>(
        &mut self,
        response: &'o mut Response<Full<Bytes>>,
    ) -> (ResponseView<'o>, Option<impl HeaderSink + 'o>) {
        // Every response here is a whole body: its size is known (the body size metrics). A
        // framework with streamed bodies would also implement `count_response_body`, wrapping
        // the body in `octopus_core::body::CountedBody`.
        (
            ResponseView::new(response.status().as_u16())
                .with_body_size(exact_size(response.body())),
            Some(response.headers_mut()),
        )
    }
}

/// One request through the seam.
async fn serve(
    app: &'static App,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (template, route) = Route::matching(
        request.method(),
        request.uri().path(),
        request.uri().query(),
    );
    // The request body's size when hyper knows it (`Content-Length`, or none at all); these
    // handlers never read a body, so a chunked one is not counted.
    let observed = app.observer.observe(
        &RequestView::from_http(&request)
            .with_route(template)
            .with_body_size(exact_size(request.body())),
    );
    let octopus = app.observer.as_ref().map(|(octopus, _)| octopus);
    // A panic becomes a 500 instead of a dropped connection.
    let on_panic =
        OnPanic::Answer(|| text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error"));
    let handler = handle(route, request.headers(), octopus, &app.client);
    Ok(ObservedFuture::new(observed, handler, Hyper, on_panic).await)
}

async fn run(listener: TcpListener, app: &'static App) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        eprintln!("accept failed: {error}");
                        continue;
                    }
                };
                let service = service_fn(move |request| serve(app, request));
                let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        eprintln!("connection error: {error}");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    // Stop accepting, let in-flight requests finish, within the contract's 5 seconds.
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("shutdown: connections still open after {DRAIN_TIMEOUT:?}; closing them");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let settings = DemoSettings::from_env_or_exit();
    let listener = TcpListener::bind(settings.addr).await?;
    let observer: Observer = settings.instrument.then(|| {
        let octopus = Octopus::new(settings.config).unwrap_or_else(|error| {
            eprintln!("error: {error}");
            std::process::exit(2);
        });
        (octopus, AccessLog)
    });
    let octopus = observer.as_ref().map(|(octopus, _)| octopus);
    // Uninstrumented: the same client without spans or injected trace headers.
    let client = call_client(octopus);
    // The app lives as long as the process, so requests borrow it.
    let app: &'static App = Box::leak(Box::new(App { observer, client }));
    announce(listener.local_addr()?);
    run(listener, app).await?;
    // Flush queued spans before exiting; exporter problems are reported, not fatal.
    if let Some((octopus, _)) = &app.observer
        && let Err(error) = tokio::task::spawn_blocking(move || octopus.shutdown()).await?
    {
        eprintln!("octopus: shutdown: {error}");
    }
    Ok(())
}
