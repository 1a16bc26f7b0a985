//! A `DbError` keeps its SQLSTATE-derived `error_type` wherever a stage
//! ends with it: under `#[instrument_stage]` (not only
//! `Stage::run_async_typed`), and a bare `sqlx::Error` through
//! `Stage::run_async_with_error_type(.., error_type)`; passed on by an
//! outer stage, it is counted once, by the stage that returned it.
//! Checked on the DogStatsD lines the exporter writes (no database
//! needed: the errors are sqlx's own values).

use pipeline_telemetry::testing::{sums_by, Capture, ParsedMetric};
use pipeline_telemetry::{instrument_stage, PipelineRun, Stage};
use pipeline_telemetry_sqlx::{error_type, DbError};

static RAW: Stage = Stage::new("raw_query");

#[instrument_stage]
async fn load() -> Result<u64, DbError> {
    tokio::task::yield_now().await;
    Err(DbError(sqlx::Error::RowNotFound))
}

#[instrument_stage]
async fn publish() -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    Ok(load().await?)
}

/// `pipeline.errors` of `stage` by `error_type`, summed over flushes.
fn errors(m: &[ParsedMetric], stage: &str) -> Vec<(String, f64)> {
    sums_by(m, "pipeline.errors", &[("stage", stage)], "error_type")
}

#[test]
fn sqlstate_error_types_survive_the_attribute_and_nesting() {
    let capture = Capture::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let run = PipelineRun::start("sqlx_typed", "1");
    rt.block_on(run.scope(async {
        assert!(publish().await.is_err());
        let raw = RAW
            .run_async_with_error_type(
                async { Err::<(), _>(sqlx::Error::PoolTimedOut) },
                error_type,
            )
            .await;
        assert!(raw.is_err());
    }));
    run.fail("queries failed");
    let m = capture.finish();
    assert!(errors(&m, "publish").is_empty(), "no second count: {m:?}");
    assert_eq!(errors(&m, "load"), vec![("row_not_found".to_owned(), 1.0)]);
    assert_eq!(
        errors(&m, "raw_query"),
        vec![("pool_timed_out".to_owned(), 1.0)]
    );
}
