//! Completed (backdated) spans exported to Datadog's APM test agent: the
//! parent, start and end times, kind, attributes and status arrive as sent,
//! through the guard's provider and through the global one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanKind, Status};
use pipeline_telemetry_otel::{CompletedSpan, OtelBuilder, Protocol, TracesExport};
use pipeline_telemetry_test_support::agent::{self, Span, TOKEN_HEADER};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Registry;

fn nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[test]
fn completed_spans_keep_their_times_and_parent() {
    let token = agent::token("completed");
    let (layer, guard) = OtelBuilder::new("pt-completed-test")
        .with_endpoint(&agent::agent().otlp_http)
        .with_protocol(Protocol::HttpProtobuf)
        .with_header(TOKEN_HEADER, &token)
        .with_traces(TracesExport::Otlp)
        .build_layer::<Registry>()
        .expect("build layers");
    let provider = guard.tracer_provider().expect("traces on").clone();
    opentelemetry::global::set_tracer_provider(provider.clone());

    // Times well in the past, with odd nanoseconds: they must arrive as is.
    let now = SystemTime::now();
    let job_start = now - Duration::from_millis(9_876) + Duration::from_nanos(123);
    let job_end = now - Duration::from_millis(4_321) + Duration::from_nanos(789);
    let model_start = now - Duration::from_secs(3);
    let model_end = now - Duration::from_secs(1);

    let subscriber = Registry::default().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let stage = tracing::info_span!("pipeline.stage", stage = "spark");
        let _entered = stage.enter();
        CompletedSpan::new("spark.job", job_start, job_end)
            .with_kind(SpanKind::Client)
            .with_attribute("spark.job.id", 7_i64)
            .with_attribute("spark.job.status", "FAILED")
            .with_error("Job aborted due to stage failure")
            .record_with(&provider, &stage);
        // Through the global provider, under the current span.
        CompletedSpan::new("dbt.model", model_start, model_end)
            .with_attribute("dbt.model", "orders")
            .with_status(Status::Ok)
            .record_under(&tracing::Span::current());
        // Not exported: no parent.
        CompletedSpan::new("orphan", model_start, model_end).record_under(&tracing::Span::none());
    });
    guard
        .shutdown(Duration::from_secs(10))
        .expect("clean shutdown");

    let spans = agent::poll_spans(&token, |s| s.len() >= 3);
    let find = |name: &str| -> &Span {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} exported: {spans:#?}"))
    };
    let stage = find("pipeline.stage");
    let job = find("spark.job");
    let model = find("dbt.model");
    assert!(spans.iter().all(|s| s.name != "orphan"), "{spans:#?}");
    assert_eq!(spans.len(), 3, "{spans:#?}");
    for child in [job, model] {
        assert_eq!(child.trace_id, stage.trace_id, "{child:#?}");
        assert_eq!(child.parent_span_id.as_ref(), Some(&stage.span_id));
        assert_eq!(child.resource["service.name"], "pt-completed-test");
    }
    assert_eq!(job.start_unix_nano, nanos(job_start));
    assert_eq!(job.end_unix_nano, nanos(job_end));
    assert_eq!(model.start_unix_nano, nanos(model_start));
    assert_eq!(model.end_unix_nano, nanos(model_end));
    assert!(
        job.kind
            .as_deref()
            .is_some_and(|k| k == "SPAN_KIND_CLIENT" || k == "3"),
        "{job:#?}"
    );
    assert_eq!(job.attributes["spark.job.id"], "7");
    assert_eq!(job.attributes["spark.job.status"], "FAILED");
    assert_eq!(job.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
    assert_eq!(
        job.status_message.as_deref(),
        Some("Job aborted due to stage failure")
    );
    assert_eq!(model.attributes["dbt.model"], "orders");
    assert_eq!(model.status_code.as_deref(), Some("STATUS_CODE_OK"));
}
