//! A run continued in another process (here: another thread with no shared
//! state but the headers) joins the same trace and keeps the pipeline_id,
//! through an AMQP-style header table and through HTTP headers.

use std::collections::BTreeMap;

use pipeline_telemetry::testing::MemorySink;
use pipeline_telemetry::{instrument_stage, MetricsTarget, PipelineRun, TelemetryBuilder};

#[instrument_stage]
fn consume() -> Result<(), std::io::Error> {
    Ok(())
}

fn trace_of<C: pipeline_telemetry::otel::Carrier + ?Sized>(c: &C) -> Option<String> {
    pipeline_telemetry::otel::extract(c).trace_id()
}

#[test]
fn headers_carry_the_trace_and_the_pipeline_id() {
    let telemetry = TelemetryBuilder::from_env()
        .with_metrics_target(MetricsTarget::Memory(MemorySink::new()))
        .with_otel(|o| {
            o.with_console_writer(std::io::sink)
                .with_log_writer(std::io::sink)
        })
        .quiet()
        .try_init()
        .expect("init");

    let producer = PipelineRun::start("ingest", "run-77");
    let mut amqp: BTreeMap<String, String> = BTreeMap::new();
    producer.inject(&mut amqp);
    let mut http = http::HeaderMap::new();
    producer.inject(&mut http);
    let producer_trace = trace_of(&amqp).expect("a traceparent was injected");
    assert!(amqp.contains_key("traceparent"), "{amqp:?}");
    assert!(
        amqp.get("baggage")
            .is_some_and(|b| b.contains("pipeline_id=run-77")),
        "{amqp:?}"
    );

    for headers in [trace_of_thread(amqp), trace_of_thread_http(http)] {
        let (trace, id) = headers;
        assert_eq!(trace.as_deref(), Some(producer_trace.as_str()));
        assert_eq!(id, "run-77");
    }
    producer.finish();

    // Hostile headers: no panic, a fresh trace, pipeline_id unknown.
    let mut bad = BTreeMap::new();
    bad.insert("traceparent".to_owned(), "00-zz\n-evil|#".to_owned());
    bad.insert("baggage".to_owned(), "pipeline_id=%ff%00\n,,=;".repeat(100));
    let run = PipelineRun::continue_from("ingest", &bad);
    assert_ne!(run.pipeline_id(), "");
    run.finish();
    drop(telemetry);
}

fn trace_of_thread(headers: BTreeMap<String, String>) -> (Option<String>, String) {
    std::thread::spawn(move || {
        let run = PipelineRun::continue_from("ingest_consumer", &headers);
        run.in_scope(consume).expect("consume");
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        run.inject(&mut out);
        let r = (trace_of(&out), run.pipeline_id().to_owned());
        run.finish();
        r
    })
    .join()
    .expect("consumer")
}

fn trace_of_thread_http(headers: http::HeaderMap) -> (Option<String>, String) {
    std::thread::spawn(move || {
        let run = PipelineRun::continue_from("ingest_consumer", &headers);
        let mut out = http::HeaderMap::new();
        run.inject(&mut out);
        let r = (trace_of(&out), run.pipeline_id().to_owned());
        run.finish();
        r
    })
    .join()
    .expect("consumer")
}
