//! The `error.type` a failed stage's span gets, read back with a
//! `tracing-subscriber` layer: a stage that passes on the failure of a
//! stage it called (across tasks, under `join!`) takes the inner one's; a
//! stage that handles an inner failure and then fails for its own reason
//! takes its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pipeline_telemetry::{instrument_stage, ErrorType, PipelineRun};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug)]
struct ExitCode;
impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("exited with 3")
    }
}
impl std::error::Error for ExitCode {}
impl ErrorType for ExitCode {
    fn error_type(&self) -> &'static str {
        "exit_3"
    }
}

#[instrument_stage]
fn inner_fails() -> Result<(), ExitCode> {
    Err(ExitCode)
}

#[instrument_stage]
async fn inner_fails_async() -> Result<(), ExitCode> {
    tokio::task::yield_now().await;
    Err(ExitCode)
}

#[instrument_stage]
async fn ok_later() -> Result<(), std::io::Error> {
    for _ in 0..5 {
        tokio::task::yield_now().await;
    }
    Ok(())
}

#[instrument_stage]
async fn passes_on_under_join() -> Result<(), std::io::Error> {
    let (failed, ok) = tokio::join!(inner_fails_async(), ok_later());
    ok?;
    failed.map_err(std::io::Error::other)
}

#[instrument_stage]
fn handles_then_fails_on_its_own() -> Result<(), std::io::Error> {
    let _ = inner_fails();
    Err(std::io::Error::other("own failure"))
}

/// `error.type` recorded on each `pipeline.stage` span, by its `stage`.
#[derive(Clone, Default)]
struct StageErrorTypes {
    stage_of: Arc<Mutex<HashMap<u64, String>>>,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

struct Str<'a>(&'a str, &'a mut Option<String>);
impl tracing::field::Visit for Str<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == self.0 {
            *self.1 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == self.0 {
            *self.1 = Some(format!("{value:?}").trim_matches('"').to_owned());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StageErrorTypes {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() != "pipeline.stage" {
            return;
        }
        let mut stage = None;
        attrs.record(&mut Str("stage", &mut stage));
        if let Some(stage) = stage {
            let mut map = self.stage_of.lock().unwrap_or_else(|e| e.into_inner());
            map.insert(id.into_u64(), stage);
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut error_type = None;
        values.record(&mut Str("error.type", &mut error_type));
        let stage = self
            .stage_of
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id.into_u64())
            .cloned();
        if let (Some(stage), Some(t)) = (stage, error_type) {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.push((stage, t));
        }
    }
}

impl StageErrorTypes {
    fn of(&self, stage: &str) -> Vec<String> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<String> = seen
            .iter()
            .filter(|(s, _)| s == stage)
            .map(|(_, t)| t.clone())
            .collect();
        v.dedup();
        v
    }
}

#[test]
fn passed_on_spans_take_the_inner_error_type_own_failures_their_own() {
    let layer = StageErrorTypes::default();
    let subscriber = tracing_subscriber::registry().with(layer.clone());
    tracing::subscriber::with_default(subscriber, || {
        let run = PipelineRun::start("nesting_spans", "1");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        assert!(rt.block_on(run.scope(passes_on_under_join())).is_err());
        assert!(run.in_scope(handles_then_fails_on_its_own).is_err());
        run.fail("failed");
    });
    assert_eq!(layer.of("passes_on_under_join"), vec!["exit_3"]);
    assert_eq!(layer.of("handles_then_fails_on_its_own"), vec!["io::Error"]);
    assert_eq!(layer.of("inner_fails"), vec!["exit_3"]);
}
