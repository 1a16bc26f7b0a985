//! The opt-in request duration, `pipeline.http.request.duration`, with
//! bounded tags; its series handles cached per route.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use axum::extract::MatchedPath;
use http::Request;
use pipeline_telemetry_catalogue as catalogue;
use pipeline_telemetry_dogstatsd::DistributionHandle;

use crate::spans;

/// `route` tag of a request no route matched (a 404 of the router).
pub const UNMATCHED_ROUTE: &str = "unmatched";

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
    route: Option<MatchedPath>,
    method: usize,
    start: Instant,
}

impl RequestMetric {
    pub(crate) fn start<B>(req: &Request<B>) -> Self {
        let name = spans::method_name(req.method());
        RequestMetric {
            route: req.extensions().get::<MatchedPath>().cloned(),
            method: METHODS
                .iter()
                .position(|m| *m == name)
                .unwrap_or(METHODS.len() - 1),
            start: Instant::now(),
        }
    }

    pub(crate) fn record(&self, status_class: &str) {
        let route = self
            .route
            .as_ref()
            .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
        let class = CLASSES
            .iter()
            .position(|c| *c == status_class)
            .unwrap_or(CLASSES.len() - 1);
        handle(route, self.method, class).record(self.start.elapsed().as_secs_f64());
    }
}
