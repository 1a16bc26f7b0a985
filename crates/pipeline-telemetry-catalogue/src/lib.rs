//! The catalogue of every metric pipeline-telemetry emits.
//!
//! This crate is the single place where metric names, their DogStatsD types,
//! units and tag keys are declared. The emitting code, the generated
//! dashboards and monitors, and `docs/metrics.md` all read these
//! declarations, so they can never disagree. The environment variables the
//! crates read are named once as well, in [`env`](mod@env).
//!
//! ```
//! use pipeline_telemetry_catalogue::{MetricKind, PIPELINE_STAGE_DURATION};
//!
//! assert_eq!(PIPELINE_STAGE_DURATION.name, "pipeline.stage.duration");
//! assert_eq!(PIPELINE_STAGE_DURATION.kind, MetricKind::Distribution);
//! assert!(PIPELINE_STAGE_DURATION.has_tag("stage"));
//! ```
#![deny(missing_docs)]

pub mod env;
pub mod logs;
pub mod markdown;

/// Tag keys used by the catalogue.
pub mod tags {
    /// The pipeline's name (not the run id).
    pub const PIPELINE: &str = "pipeline";
    /// The stage's name.
    pub const STAGE: &str = "stage";
    /// A stage's `ok`, `error` or `cancelled`; a run's `ok` or `failed` (a
    /// run dropped without `finish()`, cancelled or left early, is
    /// `failed`).
    pub const STATUS: &str = "status";
    /// The failure's `error_type`: the error's own (an `ErrorType`: an exit
    /// code, a SQLSTATE class), else its short type name (`io::Error`,
    /// `LoadError`), or `panic`; the same value as the failed span's
    /// `error.type`.
    pub const ERROR_TYPE: &str = "error_type";
    /// The orchestrated flow's name.
    pub const FLOW: &str = "flow";
    /// A RabbitMQ queue name.
    pub const QUEUE: &str = "queue";
    /// A RabbitMQ queue name, as Datadog's RabbitMQ integration tags its
    /// own metrics (so both filter alike).
    pub const RABBITMQ_QUEUE: &str = "rabbitmq_queue";
    /// A RabbitMQ virtual host, as Datadog's RabbitMQ integration tags its
    /// own metrics.
    pub const RABBITMQ_VHOST: &str = "rabbitmq_vhost";
    /// A Spark job's bounded name: its job group or a user-chosen
    /// description, never its id or call site.
    pub const JOB: &str = "job";
    /// A Spark application name, as Datadog's Spark integration tags its
    /// own metrics (`app_name`), so both filter and group alike.
    pub const APP_NAME: &str = "app_name";
    /// The run id. Never a metric tag by default (cardinality); it is put
    /// on spans and log lines.
    pub const PIPELINE_ID: &str = "pipeline_id";
    /// Unified service tag: the service name (`DD_SERVICE`).
    pub const SERVICE: &str = "service";
    /// Unified service tag: the environment (`DD_ENV`).
    pub const ENV: &str = "env";
    /// Unified service tag: the version (`DD_VERSION`).
    pub const VERSION: &str = "version";
    /// An HTTP route template as the router matched it (`/items/{id}`),
    /// never the raw path; `unmatched` when no route matched.
    pub const ROUTE: &str = "route";
    /// An HTTP request method (`GET`, ... or `_OTHER`).
    pub const METHOD: &str = "method";
    /// An HTTP status class: `1xx` to `5xx`.
    pub const STATUS_CLASS: &str = "status_class";
}

/// Values of the `status` tag.
pub mod status {
    /// The stage completed and did not return an error.
    pub const OK: &str = "ok";
    /// The stage returned `Err` or panicked.
    pub const ERROR: &str = "error";
    /// An async stage was dropped before it completed.
    pub const CANCELLED: &str = "cancelled";
    /// A run ended failed (`prefect.flow.duration`; a run that ended with
    /// `finish()` is `ok`): `fail()`, or dropped without `finish()`, which
    /// includes a run whose future was cancelled (the span's `error.type`
    /// is then `run_cancelled`) and one left early (`run_unfinished`).
    pub const FAILED: &str = "failed";
    /// A Spark job that succeeded (`spark.job.duration`; a failed one is
    /// `failed`).
    pub const SUCCEEDED: &str = "succeeded";
}

/// The unified service tags every metric carries (from `DD_SERVICE`,
/// `DD_ENV`, `DD_VERSION`).
pub const UNIFIED_SERVICE_TAGS: &[&str] = &[tags::SERVICE, tags::ENV, tags::VERSION];

/// How a metric is sent over DogStatsD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricKind {
    /// A count (`c`): summed per flush interval.
    Count,
    /// A gauge (`g`): the last value wins.
    Gauge,
    /// A distribution (`d`): every sample is kept and aggregated globally
    /// by Datadog, so `avg:`, `p95:` ... work on the bare metric name.
    Distribution,
}

impl MetricKind {
    /// The DogStatsD type token (`c`, `g`, `d`).
    pub const fn wire_type(self) -> &'static str {
        match self {
            MetricKind::Count => "c",
            MetricKind::Gauge => "g",
            MetricKind::Distribution => "d",
        }
    }

    /// The submission type's name (`count`, `gauge`, `distribution`). See
    /// [`MetricKind::in_app_type`] for the type Datadog stores.
    pub const fn datadog_type(self) -> &'static str {
        match self {
            MetricKind::Count => "count",
            MetricKind::Gauge => "gauge",
            MetricKind::Distribution => "distribution",
        }
    }

    /// The type Datadog stores and shows for a DogStatsD submission of
    /// this kind: DogStatsD counts become per-second `rate`s (read them
    /// with `.as_count()`), gauges and distributions keep their type.
    ///
    /// ```
    /// use pipeline_telemetry_catalogue::MetricKind;
    /// assert_eq!(MetricKind::Count.in_app_type(), "rate");
    /// ```
    pub const fn in_app_type(self) -> &'static str {
        match self {
            MetricKind::Count => "rate",
            MetricKind::Gauge => "gauge",
            MetricKind::Distribution => "distribution",
        }
    }
}

/// The declaration of one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// The metric name on the wire.
    pub name: &'static str,
    /// Its DogStatsD type.
    pub kind: MetricKind,
    /// Its unit (`run`, `error`, `second`, `record`, `message`, ...).
    pub unit: &'static str,
    /// The tag keys it carries, besides the unified service tags.
    pub tags: &'static [&'static str],
    /// What one point means.
    pub description: &'static str,
    /// The layer of the monitoring guide it belongs to.
    pub layer: &'static str,
}

impl MetricDef {
    /// Whether `key` is one of this metric's tag keys (its own tags, the
    /// unified service tags, or `host`, which the Agent adds).
    pub fn has_tag(&self, key: &str) -> bool {
        self.tags.contains(&key) || UNIFIED_SERVICE_TAGS.contains(&key) || key == "host"
    }
}

/// `pipeline.runs`: one per pipeline run, counted when it starts.
pub const PIPELINE_RUNS: MetricDef = MetricDef {
    name: "pipeline.runs",
    kind: MetricKind::Count,
    unit: "run",
    tags: &[tags::PIPELINE],
    description: "One per pipeline run, counted when it starts (so long runs show as running).",
    layer: "pipeline",
};

/// The `stage` tag value of the one `pipeline.errors` a run counts when it
/// ends failed while no stage failure was counted in it (cancelled, left
/// unfinished, failed by its own error or a panic outside any stage).
pub const RUN_STAGE: &str = "run";

/// `pipeline.errors`: one per failure, counted by the innermost stage
/// that failed, or by a run that failed with no failed stage.
pub const PIPELINE_ERRORS: MetricDef = MetricDef {
    name: "pipeline.errors",
    kind: MetricKind::Count,
    unit: "error",
    tags: &[tags::PIPELINE, tags::STAGE, tags::ERROR_TYPE],
    description: "One per failure (an `Err` or a panic, `error_type:panic`), counted by the innermost stage that failed: a stage passing on the error of a stage it called does not count it again. Each failed call counts, also a call inside a retried stage in an attempt the retry recovers from. A run that ends failed with no stage failure counted in it (cancelled, left unfinished, its own error, a panic outside any stage) counts one, with `stage:run` and the run's `error_type` (`run_cancelled`, `run_unfinished`, `panic`, its error's type).",
    layer: "pipeline",
};

/// `pipeline.stage.duration`: wall time of one stage, in seconds.
pub const PIPELINE_STAGE_DURATION: MetricDef = MetricDef {
    name: "pipeline.stage.duration",
    kind: MetricKind::Distribution,
    unit: "second",
    tags: &[tags::PIPELINE, tags::STAGE, tags::STATUS],
    description: "Wall time of one stage call, in seconds.",
    layer: "pipeline",
};

/// `pipeline.records`: records processed.
pub const PIPELINE_RECORDS: MetricDef = MetricDef {
    name: "pipeline.records",
    kind: MetricKind::Count,
    unit: "record",
    tags: &[tags::PIPELINE, tags::STAGE],
    description: "Records processed by a stage (throughput per minute on dashboards).",
    layer: "pipeline",
};

/// `pipeline.stage.retries`: one per retry of a stage (an attempt that
/// failed and is followed by another); the attempt number is never a tag.
pub const PIPELINE_STAGE_RETRIES: MetricDef = MetricDef {
    name: "pipeline.stage.retries",
    kind: MetricKind::Count,
    unit: "retry",
    tags: &[tags::PIPELINE, tags::STAGE],
    description: "One per retry of a stage: an attempt failed and another follows (a stage that fails for good also counts `pipeline.errors` once).",
    layer: "orchestrator",
};

/// `pipeline.stage.retry_timers_refused`: a backoff or attempt timeout of
/// an async retried stage that the retry timer refused, its bounded heap
/// being full of live sleeps.
pub const PIPELINE_STAGE_RETRY_TIMERS_REFUSED: MetricDef = MetricDef {
    name: "pipeline.stage.retry_timers_refused",
    kind: MetricKind::Count,
    unit: "timer",
    tags: &[tags::STAGE],
    description: "One per backoff or attempt timeout the retry timer refused (its heap holds at most 65,536 live deadlines): a refused backoff retries at once, a refused attempt timeout does not apply to that attempt.",
    layer: "orchestrator",
};

/// `prefect.flow.duration`: duration of one pipeline run (the guide's flow
/// duration), in seconds, when it ends; `status:ok|failed`.
pub const PREFECT_FLOW_DURATION: MetricDef = MetricDef {
    name: "prefect.flow.duration",
    kind: MetricKind::Distribution,
    unit: "second",
    tags: &[tags::FLOW, tags::STATUS],
    description: "Duration of one pipeline run (flow = the pipeline's name), in seconds, when it ends, with `status:ok` (ended with `finish()`) or `status:failed` (failed, cancelled or dropped without `finish()`): failed runs / runs is one formula.",
    layer: "orchestrator",
};

/// `rabbitmq.queue.length`: messages ready in a queue.
pub const RABBITMQ_QUEUE_LENGTH: MetricDef = MetricDef {
    name: "rabbitmq.queue.length",
    kind: MetricKind::Gauge,
    unit: "message",
    tags: &[tags::QUEUE, tags::RABBITMQ_QUEUE, tags::RABBITMQ_VHOST],
    description: "Messages ready for delivery in a RabbitMQ queue.",
    layer: "rabbitmq",
};

/// `spark.job.duration`: duration of one Spark job, in seconds.
pub const SPARK_JOB_DURATION: MetricDef = MetricDef {
    name: "spark.job.duration",
    kind: MetricKind::Distribution,
    unit: "second",
    tags: &[tags::APP_NAME, tags::JOB, tags::STATUS],
    description: "Duration of one Spark job, in seconds.",
    layer: "spark",
};

/// `spark.executors.active`: active Spark executors.
pub const SPARK_EXECUTORS_ACTIVE: MetricDef = MetricDef {
    name: "spark.executors.active",
    kind: MetricKind::Gauge,
    unit: "executor",
    tags: &[tags::APP_NAME],
    description: "Active Spark executors of an application.",
    layer: "spark",
};

/// `pipeline.http.request.duration`: one HTTP request served, in seconds.
/// Opt-in (`HttpTelemetryLayer::with_request_metric`), for services without
/// APM: with APM the Agent derives `trace.http.server.request.*` from spans.
pub const HTTP_REQUEST_DURATION: MetricDef = MetricDef {
    name: "pipeline.http.request.duration",
    kind: MetricKind::Distribution,
    unit: "second",
    tags: &[tags::ROUTE, tags::METHOD, tags::STATUS_CLASS],
    description: "Duration of one HTTP request served (opt-in; only without APM), in seconds.",
    layer: "http",
};

/// Every metric in the catalogue, in documentation order.
pub const ALL: &[&MetricDef] = &[
    &PIPELINE_RUNS,
    &PIPELINE_ERRORS,
    &PIPELINE_STAGE_DURATION,
    &PIPELINE_RECORDS,
    &PIPELINE_STAGE_RETRIES,
    &PIPELINE_STAGE_RETRY_TIMERS_REFUSED,
    &PREFECT_FLOW_DURATION,
    &RABBITMQ_QUEUE_LENGTH,
    &SPARK_JOB_DURATION,
    &SPARK_EXECUTORS_ACTIVE,
    &HTTP_REQUEST_DURATION,
];

/// Looks a metric up by name.
///
/// ```
/// assert!(pipeline_telemetry_catalogue::find("pipeline.runs").is_some());
/// assert!(pipeline_telemetry_catalogue::find("pipeline.typo").is_none());
/// ```
pub fn find(name: &str) -> Option<&'static MetricDef> {
    ALL.iter().copied().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert_ne!(a.name, b.name);
            }
        }
    }

    #[test]
    fn pipeline_id_is_never_a_default_metric_tag() {
        for m in ALL {
            assert!(!m.tags.contains(&tags::PIPELINE_ID), "{}", m.name);
        }
    }

    #[test]
    fn durations_are_distributions_in_seconds() {
        for m in ALL.iter().filter(|m| m.name.ends_with(".duration")) {
            assert_eq!(m.kind, MetricKind::Distribution, "{}", m.name);
            assert_eq!(m.unit, "second", "{}", m.name);
        }
    }
}
