//! The facade's traces and logs over OTLP HTTP/protobuf to the APM test agent.

#[path = "support/otlp_pipeline.rs"]
mod otlp_pipeline;

#[test]
fn a_pipeline_run_is_one_trace_over_otlp_http() {
    otlp_pipeline::run(pipeline_telemetry::otel::Protocol::HttpProtobuf);
}
