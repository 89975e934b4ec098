//! `/metrics` as a filter.

use std::sync::Arc;

use octopus_core::Octopus;
use warp::Filter;
use warp::http::HeaderMap;
use warp::path::FullPath;
use warp::reply::Response;

/// `GET {metrics_path}` (default `/metrics`), ready to `or` into your routes. The path is among
/// Octopus's exclusions, so scrapes are neither counted nor traced. A configured bearer token
/// is required.
///
/// It leaves other routes' answers as they were: a request to any other path is rejected as
/// "not found" before its method or headers are looked at (warp answers the most specific
/// rejection of an `or`, and "not found" is the least). With a separate `metrics_address` it
/// rejects every request that way ([`Octopus::serve_metrics`] serves the metrics there).
///
/// ```
/// # async fn demo() {
/// use octopus_core::{Octopus, OctopusConfig};
///
/// let octopus = Octopus::new(OctopusConfig::prometheus("users", ["request_count"]).unwrap()).unwrap();
/// let response = warp::test::request()
///     .path("/metrics")
///     .reply(&octopus_warp::metrics_filter(&octopus))
///     .await;
/// assert_eq!(response.status(), 200);
/// # }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo());
/// ```
pub fn metrics_filter(
    octopus: &Octopus,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + use<> {
    let path: Option<Arc<str>> = octopus
        .metrics_on_app()
        .then(|| octopus.metrics_path().into());
    let octopus = octopus.clone();
    // The path first: under `routes.or(metrics_filter)` warp answers the most specific
    // rejection, so a 405 from `get()` or a 400 from a header filter on another route's path
    // would replace that route's 404.
    warp::path::full()
        .and_then(move |full: FullPath| {
            let ours = path.as_deref() == Some(full.as_str());
            std::future::ready(if ours {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            })
        })
        .untuple_one()
        .and(warp::get())
        // All headers, not `warp::header::optional`: that rejects a value that is not visible
        // ASCII with a 400, and a scrape with such a header deserves the token check's 401.
        .and(warp::header::headers_cloned())
        .map(move |headers: HeaderMap| Response::from(octopus.scrape(&headers)))
}
