//! `/metrics` as a filter.

use octopus_core::Octopus;
use warp::Filter;
use warp::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use warp::http::{HeaderValue, StatusCode};
use warp::path::FullPath;
use warp::reply::Response;

/// `GET {metrics_path}` (default `/metrics`), ready to `or` into your routes. The path is among
/// Octopus's exclusions, so scrapes are neither counted nor traced. A configured bearer token
/// is required; with a separate `metrics_address` the filter rejects every request
/// ([`Octopus::serve_metrics`] serves the metrics there).
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
        .and(warp::header::optional::<String>("authorization"))
        .and_then(move |path: FullPath, authorization: Option<String>| {
            let octopus = octopus.clone();
            async move {
                if !octopus.metrics_on_app() || path.as_str() != octopus.metrics_path() {
                    return Err(warp::reject::not_found());
                }
                let scrape = octopus.scrape_metrics(authorization.as_deref());
                let mut response = Response::new(scrape.body.into());
                *response.status_mut() =
                    StatusCode::from_u16(scrape.status).unwrap_or(StatusCode::OK);
                let headers = response.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(scrape.content_type));
                if let Some(challenge) = scrape.www_authenticate {
                    headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
                }
                Ok(response)
            }
        })
}
