//! `/metrics` as a filter.

use octopus_core::Octopus;
use warp::Filter;
use warp::http::header::CONTENT_TYPE;
use warp::path::FullPath;
use warp::reply::Response;

/// `GET {metrics_path}` (default `/metrics`), ready to `or` into your routes. The path is among
/// Octopus's exclusions, so scrapes are neither counted nor traced.
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
    let octopus = octopus.clone();
    warp::get()
        .and(warp::path::full())
        .and_then(move |path: FullPath| {
            let octopus = octopus.clone();
            async move {
                if path.as_str() != octopus.metrics_path() {
                    return Err(warp::reject::not_found());
                }
                let metrics = octopus.render_metrics();
                let mut response = Response::new(metrics.body.into());
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    warp::http::HeaderValue::from_static(metrics.content_type),
                );
                Ok(response)
            }
        })
}
