//! The opt-in request duration, `pipeline.http.request.duration`, with
//! bounded tags; its series handles cached per route.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use http::request::Parts;
use pipeline_telemetry_catalogue as catalogue;
use pipeline_telemetry_dogstatsd::DistributionHandle;

use crate::spans;

/// `route` tag of a request no route matched (a 404 of the router, or
/// any request without the `axum` feature, where no route is known).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The matched route, kept without copying it.
#[cfg(feature = "axum")]
type Route = axum::extract::MatchedPath;
#[cfg(not(feature = "axum"))]
type Route = std::convert::Infallible;

fn route_of(req: &Parts) -> Option<Route> {
    #[cfg(feature = "axum")]
    {
        req.extensions.get::<Route>().cloned()
    }
    #[cfg(not(feature = "axum"))]
    {
        let _ = req;
        None
    }
}

fn route_str(route: &Route) -> &str {
    #[cfg(feature = "axum")]
    {
        route.as_str()
    }
    #[cfg(not(feature = "axum"))]
    {
        match *route {}
    }
}

const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "_OTHER",
];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One route's handles, by method and status class (registered on first use).
type Handles = [[Option<DistributionHandle>; CLASSES.len()]; METHODS.len()];

/// Handles per route: bounded by the application's routes.
fn cache() -> &'static Mutex<HashMap<String, Box<Handles>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Box<Handles>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn handle(route: &str, method: usize, class: usize) -> DistributionHandle {
    let register = || {
        DistributionHandle::register(
            catalogue::HTTP_REQUEST_DURATION.name,
            &[
                (catalogue::tags::ROUTE, route),
                (catalogue::tags::METHOD, METHODS[method]),
                (catalogue::tags::STATUS_CLASS, CLASSES[class]),
            ],
        )
    };
    let Ok(mut cache) = cache().lock() else {
        // Poisoned by a panic elsewhere: register without the cache.
        return register();
    };
    if !cache.contains_key(route) {
        cache.insert(
            route.to_owned(),
            Box::new([[None; CLASSES.len()]; METHODS.len()]),
        );
    }
    match cache.get_mut(route) {
        Some(handles) => *handles[method][class].get_or_insert_with(register),
        None => register(),
    }
}

/// The opt-in request duration: its bounded tags, taken at the start.
#[derive(Debug)]
pub(crate) struct RequestMetric {
    route: Option<Route>,
    method: usize,
    start: Instant,
}

impl RequestMetric {
    pub(crate) fn start(req: &Parts) -> Self {
        let name = spans::method_name(&req.method);
        RequestMetric {
            route: route_of(req),
            method: METHODS
                .iter()
                .position(|m| *m == name)
                .unwrap_or(METHODS.len() - 1),
            start: Instant::now(),
        }
    }

    pub(crate) fn record(&self, status_class: &str) {
        let route = self.route.as_ref().map_or(UNMATCHED_ROUTE, route_str);
        let class = CLASSES
            .iter()
            .position(|c| *c == status_class)
            .unwrap_or(CLASSES.len() - 1);
        handle(route, self.method, class).record(self.start.elapsed().as_secs_f64());
    }
}
