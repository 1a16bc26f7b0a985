//! Client tracing configured once: a `reqwest_middleware` client with
//! `TracingMiddleware`, used inside a run's stage with plain `.send()`.
//! Each call is a CLIENT span under the stage (with `url.path`, never the
//! query), and the server behind the layer continues the same trace under
//! it with the run's `pipeline_id`, as Datadog's APM test agent shows.

mod common;

use common::{attr, is_client, is_server};
use pipeline_telemetry::{instrument_stage, PipelineRun};
use pipeline_telemetry_http::TracingMiddleware;
use reqwest_middleware::ClientWithMiddleware;

#[instrument_stage]
async fn fetch(
    client: ClientWithMiddleware,
    url: String,
) -> Result<String, reqwest_middleware::Error> {
    let resp = client.get(url).send().await?;
    Ok(resp.text().await.unwrap_or_default())
}

#[test]
fn a_client_configured_once_carries_the_run() {
    let mut h = common::start("http-middleware");
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware)
        .build();
    let url = h.url("/items/12?secret=s3cr3t");
    let body = h.rt.block_on(async {
        let run = PipelineRun::start("mw_caller", "run-mw-12");
        let body = run.scope(fetch(client.clone(), url)).await.expect("call");
        run.finish();
        body
    });
    assert_eq!(
        body, "run-mw-12",
        "the server's run kept the caller's pipeline_id"
    );

    h.shutdown();
    let spans = h.spans(|s| s.iter().any(is_client) && s.iter().any(is_server));
    let caller_run = spans
        .iter()
        .find(|s| s.name == "pipeline.run" && attr(s, "pipeline") == Some("mw_caller"))
        .unwrap_or_else(|| panic!("no caller run: {spans:#?}"));
    let client_span = spans
        .iter()
        .find(|s| is_client(s))
        .unwrap_or_else(|| panic!("no CLIENT span: {spans:#?}"));
    assert_eq!(client_span.trace_id, caller_run.trace_id);
    let stage = spans
        .iter()
        .find(|s| Some(s.span_id.as_str()) == client_span.parent_span_id.as_deref())
        .unwrap_or_else(|| panic!("client span without its stage: {client_span:#?}"));
    assert_eq!(stage.name, "pipeline.stage");
    assert_eq!(attr(client_span, "url.path"), Some("/items/12"));
    assert_eq!(attr(client_span, "http.response.status_code"), Some("200"));
    assert!(client_span
        .attributes
        .values()
        .all(|v| !v.contains("s3cr3t")));
    let server = spans
        .iter()
        .find(|s| is_server(s) && attr(s, "http.route") == Some("/items/{id}"))
        .unwrap_or_else(|| panic!("no server span: {spans:#?}"));
    assert_eq!(
        server.trace_id, caller_run.trace_id,
        "one trace across the call"
    );
    assert_eq!(
        server.parent_span_id.as_deref(),
        Some(client_span.span_id.as_str())
    );
    assert_eq!(attr(server, "pipeline_id"), Some("run-mw-12"));
    assert_eq!(attr(server, "url.path"), Some("/items/12"));
    assert!(server.attributes.values().all(|v| !v.contains("s3cr3t")));
}
