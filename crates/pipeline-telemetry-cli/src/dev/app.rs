//! The HTTP side of `dev`: OTLP/HTTP exports in, the page and the JSON
//! answers out, evaluated over what the store keeps.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use pipeline_telemetry_monitors::Monitor;
use serde_json::Value;

use super::http::{Request, Response};
use super::logs::Logs;
use super::page::{self, Status};
use super::store::Store;
use super::traces::{self, Traces};
use super::view::{self, Kept};
use super::{api, lock, otlp, unix_now, RECENT_TRACES};

pub(crate) struct App {
    pub(crate) dashboard: Value,
    pub(crate) monitors: Vec<Monitor>,
    pub(crate) store: Arc<Mutex<Store>>,
    pub(crate) traces: Mutex<Traces>,
    pub(crate) logs: Mutex<Logs>,
    pub(crate) dogstatsd: String,
    /// The metrics the dashboard and the monitors query.
    pub(crate) names: HashSet<String>,
    /// The last points taken out of the store, with its generation.
    pub(crate) kept: Mutex<Option<(u64, Arc<Kept>)>>,
}

impl App {
    /// Why an OTLP/HTTP export cannot be read, if it cannot.
    pub(crate) fn unreadable(request: &Request) -> Option<Response> {
        if !matches!(request.content_encoding.as_str(), "" | "identity") {
            return Some(Response::text(
                415,
                "send uncompressed OTLP (no Content-Encoding)\n",
            ));
        }
        // Only protobuf: a web page can POST `text/plain` (or a form) to
        // a loopback address without asking, but not this type.
        let media_type = request.content_type.split(';').next().unwrap_or("");
        if media_type.trim() != "application/x-protobuf" {
            return Some(Response::text(
                415,
                "send OTLP/HTTP protobuf (Content-Type: application/x-protobuf)\n",
            ));
        }
        None
    }

    /// `POST /v1/logs`: an OTLP/HTTP protobuf log export.
    fn export_logs(&self, request: &Request) -> Response {
        if let Some(refused) = App::unreadable(request) {
            return refused;
        }
        let mut logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        match otlp::decode_logs(&request.body) {
            Ok(records) => {
                logs.add(records);
                Response::new(200, "application/x-protobuf", Vec::new())
            }
            Err(why) => {
                logs.rejected_exports += 1;
                Response::text(400, &format!("not an OTLP log export: {why}\n"))
            }
        }
    }

    fn records(&self) -> Vec<otlp::LogRecord> {
        let logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        logs.newest_first()
    }

    /// `POST /v1/traces`: an OTLP/HTTP protobuf trace export.
    fn export_traces(&self, request: &Request) -> Response {
        if let Some(refused) = App::unreadable(request) {
            return refused;
        }
        let mut traces = self.traces.lock().unwrap_or_else(PoisonError::into_inner);
        match otlp::decode_traces(&request.body) {
            Ok(spans) => {
                traces.add(spans);
                // An empty ExportTraceServiceResponse: everything accepted.
                Response::new(200, "application/x-protobuf", Vec::new())
            }
            Err(why) => {
                traces.rejected_exports += 1;
                Response::text(400, &format!("not an OTLP trace export: {why}\n"))
            }
        }
    }

    fn recent_traces(&self) -> Vec<traces::Trace> {
        let traces = self.traces.lock().unwrap_or_else(PoisonError::into_inner);
        traces.recent(RECENT_TRACES)
    }

    /// What the receiver read and kept (no value is copied).
    fn status(&self) -> Status {
        let store = lock(&self.store);
        Status {
            dogstatsd: self.dogstatsd.clone(),
            stats: store.stats().clone(),
            series: store.series_count(),
            samples: store.sample_count(),
            limits: store.limits(),
        }
    }

    /// The points the dashboard and the monitors query, taken out of the
    /// store once per change of what it keeps: requests in between (the
    /// page's refresh, the JSON answers) share them, and one request at a
    /// time takes them (so concurrent requests never hold several copies).
    fn kept(&self, now: u64) -> Arc<Kept> {
        let mut cache = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let mut store = lock(&self.store);
        store.evict(now);
        let generation = store.generation();
        if let Some((g, kept)) = cache.as_ref() {
            if *g == generation {
                return Arc::clone(kept);
            }
        }
        // Drop the old copy before taking the new one.
        *cache = None;
        let (points, first) = store.points(&self.names);
        let kept = Arc::new(Kept {
            points,
            first,
            window_secs: store.limits().window_secs,
            agent: store.agent(),
        });
        *cache = Some((generation, Arc::clone(&kept)));
        kept
    }

    pub(crate) fn handle(&self, request: &Request) -> Response {
        if request.method == "POST" {
            return match request.path.as_str() {
                "/v1/traces" => self.export_traces(request),
                "/v1/logs" => self.export_logs(request),
                _ => Response::text(404, "POST /v1/traces or /v1/logs only (OTLP/HTTP)\n"),
            };
        }
        // What needs no evaluation does not touch the kept values.
        match request.path.as_str() {
            "/" | "/index.html" | "/api/dashboard" | "/api/monitors" | "/api/logs" => {}
            "/api/status" => return api::json(&api::status(&self.status())),
            "/api/traces" => return api::json(&traces::json(&self.recent_traces())),
            _ => {
                return Response::text(
                    404,
                    "not found: try /, /api/dashboard, /api/monitors, /api/traces, /api/logs or /api/status\n",
                )
            }
        }
        let now = unix_now();
        let kept = self.kept(now);
        let chosen: BTreeMap<String, String> = request.query.clone();
        let snapshot = view::snapshot(&self.dashboard, &self.monitors, &kept, now, &chosen);
        match request.path.as_str() {
            "/api/dashboard" => api::json(&api::dashboard(&snapshot)),
            "/api/monitors" => api::json(&api::monitors(&snapshot)),
            "/api/logs" => api::json(&api::logs(&snapshot, &self.records())),
            _ => {
                let title = self.dashboard["title"].as_str().unwrap_or("Dashboard");
                let body = page::html(
                    title,
                    &snapshot,
                    &self.status(),
                    kept.agent.flush_interval_secs,
                    &self.recent_traces(),
                    &self.records(),
                );
                Response::new(200, "text/html; charset=utf-8", body)
            }
        }
    }
}
