//! `pipeline.records` counted for the stage whose body runs, without its
//! name written again: nested stages, async stages across awaits and
//! tasks, `Stage` statics, and records outside any stage.

use pipeline_telemetry::testing::{sum, Capture};
use pipeline_telemetry::{instrument_stage, record_records, PipelineRun, Stage};

const RECORDS: &str = "pipeline.records";

#[instrument_stage]
fn parse(n: u64) -> Result<u64, std::io::Error> {
    record_records(n);
    Ok(n)
}

#[instrument_stage]
fn extract() -> Result<u64, std::io::Error> {
    record_records(1);
    let n = parse(10)?;
    // After the inner stage returned, the records are this stage's again.
    record_records(100);
    Ok(n)
}

#[instrument_stage]
async fn load(n: u64) -> Result<u64, std::io::Error> {
    record_records(n);
    tokio::task::yield_now().await;
    record_records(n);
    Ok(n)
}

static PUBLISH: Stage = Stage::new("publish");

fn records(m: &[pipeline_telemetry::testing::ParsedMetric], stage: &str) -> f64 {
    sum(m, RECORDS, &[("pipeline", "daily_etl"), ("stage", stage)])
}

#[test]
fn records_count_for_the_stage_whose_body_runs() {
    let capture = Capture::start();
    let run = PipelineRun::start("daily_etl", "1");
    run.in_scope(extract).expect("extract");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    rt.block_on(async {
        run.scope(load(3)).await.expect("load");
        // Another task, carried explicitly.
        tokio::spawn(run.scope(load(4)))
            .await
            .expect("task")
            .expect("load");
    });
    run.in_scope(|| {
        PUBLISH
            .run(|| {
                record_records(2);
                Ok::<_, std::io::Error>(())
            })
            .expect("publish");
        PUBLISH.record_records(5);
        // In the run, outside any stage: the run's own records.
        record_records(7);
    });
    run.record_records(&PUBLISH, 11);
    run.finish();
    let m = capture.finish();
    assert_eq!(records(&m, "extract"), 101.0);
    assert_eq!(records(&m, "parse"), 10.0);
    assert_eq!(records(&m, "load"), 14.0);
    assert_eq!(records(&m, "publish"), 18.0);
    assert_eq!(records(&m, "run"), 7.0);
}
