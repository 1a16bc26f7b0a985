//! Parts of a run (`PipelineRun::join`, `join_id`): a consumer whose work is
//! a stage of the producer's run continues its trace and `pipeline_id`,
//! and its stages count as usual, but it counts no run of its own. Checked
//! over real UDP, with the trace ids read back from the headers each side
//! writes.

use std::collections::BTreeMap;
use std::time::Duration;

use pipeline_telemetry::otel::Carrier;
use pipeline_telemetry::testing::{parse_datagram, sum, ParsedMetric};
use pipeline_telemetry::{instrument_stage, MetricsTarget, PipelineRun, Stage, TelemetryBuilder};
use pipeline_telemetry_test_support::UdpReceiver;

#[derive(Debug)]
struct WriteError;
impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("warehouse refused the batch")
    }
}

#[instrument_stage]
fn write(rows: u64, fail: bool) -> Result<u64, WriteError> {
    if fail {
        return Err(WriteError);
    }
    pipeline_telemetry::record_records(rows);
    Ok(rows)
}

static PUBLISH: Stage = Stage::new("publish");

fn trace_of<C: Carrier + ?Sized>(c: &C) -> Option<String> {
    pipeline_telemetry::otel::extract(c).trace_id()
}

/// What a consumer thread sees of one delivery: the trace id it goes on
/// with and its pipeline_id.
fn consume(headers: BTreeMap<String, String>, fail: bool) -> (Option<String>, String, bool) {
    std::thread::spawn(move || {
        let part = PipelineRun::join("ingest", &headers);
        let _ = part.in_scope(|| write(5, fail));
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        part.inject(&mut out);
        let seen = (
            trace_of(&out),
            part.pipeline_id().to_owned(),
            part.is_part(),
        );
        if fail {
            part.fail("the write failed");
        } else {
            part.finish();
        }
        seen
    })
    .join()
    .expect("consumer thread")
}

#[test]
fn a_joined_part_continues_the_run_and_counts_no_run_of_its_own() {
    let receiver = UdpReceiver::bind().expect("bind a UDP socket on 127.0.0.1");
    let telemetry = TelemetryBuilder::from_env()
        .with_metrics_target(MetricsTarget::Udp(receiver.addr()))
        .with_flush_interval(Duration::from_millis(100))
        .with_otel(|o| {
            o.with_console_writer(std::io::sink)
                .with_log_writer(std::io::sink)
        })
        .quiet()
        .try_init()
        .expect("init");

    // Two producer runs, each with two deliveries; one delivery fails.
    let mut parts = Vec::new();
    for (id, fail) in [("run-1", false), ("run-2", true)] {
        let run = PipelineRun::start("ingest", id);
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        run.in_scope(|| PUBLISH.run(|| Ok::<_, WriteError>(())))
            .expect("publish");
        run.inject(&mut headers);
        let trace = trace_of(&headers).expect("the producer injected a traceparent");
        parts.push((trace.clone(), id, consume(headers.clone(), false)));
        parts.push((trace, id, consume(headers, fail)));
        run.finish();
    }
    // A part started inside the current span, from an id alone.
    let part = PipelineRun::join_id("ingest", "run-3");
    part.in_scope(|| write(1, false)).expect("write");
    part.finish();
    drop(telemetry);

    for (trace, id, (seen_trace, seen_id, is_part)) in &parts {
        assert_eq!(
            seen_trace.as_ref(),
            Some(trace),
            "the part continues the producer's trace"
        );
        assert_eq!(seen_id, id, "the part keeps the producer's pipeline_id");
        assert!(is_part);
    }

    let mut m: Vec<ParsedMetric> = Vec::new();
    for d in receiver.drain(Duration::from_millis(300)) {
        let text = std::str::from_utf8(&d).expect("utf-8");
        m.extend(parse_datagram(text).unwrap_or_else(|e| panic!("unparseable: {e}")));
    }
    let ingest = [("pipeline", "ingest")];
    assert_eq!(
        sum(&m, "pipeline.runs", &ingest),
        2.0,
        "only the producers' runs"
    );
    let flows = m
        .iter()
        .filter(|p| p.name == "prefect.flow.duration")
        .map(|p| p.values.len())
        .sum::<usize>();
    assert_eq!(flows, 2, "one flow duration per producer run");
    // The parts' stages count as usual: 4 writes of 5 rows, one failed,
    // and the join_id part's row.
    assert_eq!(
        sum(
            &m,
            "pipeline.records",
            &[("pipeline", "ingest"), ("stage", "write")]
        ),
        16.0
    );
    assert_eq!(
        sum(
            &m,
            "pipeline.errors",
            &[("pipeline", "ingest"), ("stage", "write")]
        ),
        1.0,
        "the failed write counts once"
    );
    assert_eq!(
        sum(&m, "pipeline.errors", &[("stage", "run")]),
        0.0,
        "a part failed by its stage counts no second error"
    );
}
