//! Traces and logs for pipeline-telemetry: `tracing` spans exported to the
//! Datadog Agent (its own trace intake, or OTLP), Datadog and W3C context
//! propagation across processes, and log lines that Datadog correlates
//! with traces.
//!
//! - **Traces**: the OpenTelemetry layer turns `tracing` spans into
//!   OpenTelemetry spans, exported in batches on a background thread, with
//!   a bounded queue (drops are counted, the application never blocks):
//!   to the Agent's own trace intake (`/v0.4/traces` on 8126 or its Unix
//!   socket, [`TracesExport::Datadog`], which every Agent serves by
//!   default) when an Agent address is set (`DD_AGENT_HOST`,
//!   `DD_TRACE_AGENT_URL`, `DD_TRACE_AGENT_PORT`) or the Agent's socket
//!   exists; over OTLP gRPC (4317) or HTTP/protobuf (4318, feature
//!   `otlp-http`) when an OTLP endpoint or protocol is set. Without any of
//!   these, finished spans are printed to stderr instead, one line each.
//! - **Logs**: human-readable lines by default, or JSON lines with
//!   `service`, `ddsource`, `status` (read by Datadog's JSON preprocessing
//!   as the log's service, source and status), `dd.trace_id`, `dd.span_id`,
//!   `dd.service`, `dd.env`, `dd.version`, `pipeline_id` and `stage`
//!   (`PIPELINE_TELEMETRY_LOG_FORMAT=json`); optionally also OTLP log
//!   records. Lines to stdout go through a bounded queue to a writer
//!   thread: a stdout nobody reads drops (and counts) lines, never slows
//!   the application, unless lossless mode is chosen
//!   ([`OtelBuilder::with_lossless_logs`]).
//! - **Propagation**: [`inject_context`] / [`extract`] over any [`Carrier`]
//!   (`http::HeaderMap`, `BTreeMap<String, String>` for AMQP headers).
//!
//! ```no_run
//! use pipeline_telemetry_otel::{extract, inject_context, OtelBuilder};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let _guard = OtelBuilder::from_env().install()?;
//!
//!     let run = tracing::info_span!(target: "pipeline_telemetry", "pipeline.run",
//!         pipeline = "nightly", pipeline_id = 42,
//!         "operation.name" = "pipeline.run", "resource.name" = "nightly");
//!     let _entered = run.enter();
//!
//!     // Producer side: carry the context in message headers.
//!     let mut headers = std::collections::BTreeMap::new();
//!     inject_context(&run, &mut headers);
//!
//!     // Consumer side (usually another process): continue the trace.
//!     let remote = extract(&headers);
//!     let consume = tracing::info_span!("consume",
//!         pipeline_id = remote.pipeline_id.as_deref().unwrap_or(""));
//!     remote.set_parent(&consume)?;
//!     Ok(())
//! }
//! ```
//!
//! # Features
//!
//! OTLP over gRPC (`tonic`) is always built in: it is the default
//! [`Protocol`], and what `DD_AGENT_HOST` implies with
//! `PIPELINE_TELEMETRY_TRACES=otlp`. The `otlp-http`
//! feature adds OTLP over HTTP/protobuf (the blocking `reqwest` client of
//! `opentelemetry-otlp`). Without it, [`Protocol::HttpProtobuf`] (from
//! [`OtelBuilder::with_protocol`] or `OTEL_EXPORTER_OTLP_PROTOCOL`), or an
//! endpoint on a port other than 4317 with no protocol set, makes
//! [`OtelBuilder::install`] and [`OtelBuilder::build_layer`] fail with a
//! [`ConfigError`] naming the feature; [`OtelBuilder::install_lenient`]
//! reports it as a [`Problem`] and exports no spans, or, when the port was
//! its own choice (from `DD_AGENT_HOST`), sends them over gRPC to the
//! Agent's gRPC port 4317. gRPC never goes to a port given for HTTP. The
//! Agent's trace intake needs no feature and no package beyond `std`.
//!
//! # Settings that cannot be used
//!
//! [`OtelBuilder::install`] fails on the first one;
//! [`OtelBuilder::install_lenient`] (what `pipeline_telemetry::init` uses)
//! returns each as a [`Problem`] (one report line: what, which variable,
//! what to set, what runs instead) and runs what works. Queue sizes are
//! capped at [`MAX_QUEUE_SIZE`]; any `Duration`, `Duration::MAX` included,
//! is a valid wait (no panic).
#![deny(missing_docs)]

mod batch;
mod builder;
mod carrier;
mod completed;
mod config;
mod console;
mod datadog_fields;
mod datadog_propagation;
mod datadog_tags;
mod directives;
mod env;
mod error;
mod exception;
mod fields;
mod fork;
mod guard;
mod install;
mod json_fmt;
mod json_log;
mod json_parse;
mod log_filter;
mod log_writer;
mod native;
mod problem;
mod processor;
mod propagation;
mod propagation_style;
mod propagator;
mod resolve;
mod sampling;
mod sink;
mod stage_spans;
mod time;

pub use batch::SignalStats;
pub use builder::{
    OtelBuilder, DEFAULT_BATCH_DELAY, DEFAULT_EXPORT_TIMEOUT, DEFAULT_LOG_QUEUE_LINES,
    DEFAULT_MAX_BATCH_SIZE, DEFAULT_QUEUE_SIZE, DEFAULT_SHUTDOWN_TIMEOUT, MAX_LOG_QUEUE_LINES,
    MAX_QUEUE_SIZE,
};
pub use carrier::{Carrier, MAX_HEADER_VALUE_LEN};
pub use completed::CompletedSpan;
pub use config::{LogFormat, Protocol, TracesExport};
pub use datadog_propagation::{DATADOG_ENV_VARS, DATADOG_HEADERS};
pub use error::{ConfigError, InstallError, PropagationError, ShutdownError};
pub use guard::{ExportStats, OtelGuard};
pub use install::BoxedLayer;
pub use problem::Problem;
pub use propagation::{
    extract, extract_with, inject_context, inject_context_with_pipeline_id, inject_current_context,
    propagator, sanitize_pipeline_id, ExtractedContext, MAX_PIPELINE_ID_LEN, PIPELINE_ID_KEY,
};
pub use propagation_style::{
    PropagationConfig, PropagationStyle, DEFAULT_PROPAGATION_STYLES,
    DEFAULT_X_DATADOG_TAGS_MAX_LENGTH,
};
pub use propagator::Propagator;
pub use sampling::{AgentRates, AgentRatesError, DatadogSampler, SamplingConfig};
pub use stage_spans::span_context;
