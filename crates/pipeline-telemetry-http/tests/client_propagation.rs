//! A `reqwest` call made inside a run with `send_traced`: a CLIENT span,
//! child of the calling stage, and the server behind the layer continues
//! the same trace under that CLIENT span with the run's `pipeline_id`;
//! a 404 marks the CLIENT span as an error; a refused connection too.

mod common;

use common::{attr, is_client, is_server};
use pipeline_telemetry::{instrument_stage, PipelineRun};
use pipeline_telemetry_http::{SendError, TracedSend};

#[instrument_stage]
async fn call_api(client: reqwest::Client, url: String) -> Result<String, SendError> {
    let resp = client.get(url).send_traced().await?;
    Ok(resp.text().await.unwrap_or_default())
}

#[test]
fn outgoing_calls_carry_the_run_into_the_next_service() {
    let mut h = common::start("http-client");
    let client = reqwest::Client::new();
    let url = h.url("/items/9?key=hush-hush");
    let missing = h.url("/nowhere");
    let (body, trace_of_run, refused) = h.rt.block_on(async {
        let run = PipelineRun::start("caller", "run-client-9");
        let body = run
            .scope(call_api(client.clone(), url))
            .await
            .expect("call");
        let _ = run.scope(call_api(client.clone(), missing)).await;
        // Nothing listens on port 1 of loopback.
        let refused = run
            .scope(call_api(client, "http://127.0.0.1:1/x".into()))
            .await;
        let span_id = format!("{:?}", run.span().id());
        run.finish();
        (body, span_id, refused)
    });
    let _ = trace_of_run;
    assert_eq!(
        body, "run-client-9",
        "the server's run kept the caller's pipeline_id"
    );
    assert!(matches!(refused, Err(SendError::Send(_))), "{refused:?}");

    h.shutdown();
    let spans = h.spans(|s| {
        s.iter().filter(|s| is_client(s)).count() >= 3
            && s.iter().filter(|s| is_server(s)).count() >= 1
    });
    let caller_run = spans
        .iter()
        .find(|s| s.name == "pipeline.run" && attr(s, "pipeline") == Some("caller"))
        .unwrap_or_else(|| panic!("no caller run: {spans:#?}"));
    let clients: Vec<_> = spans.iter().filter(|s| is_client(s)).collect();
    assert_eq!(clients.len(), 3, "{clients:#?}");
    for c in &clients {
        assert_eq!(c.trace_id, caller_run.trace_id);
        let stage = spans
            .iter()
            .find(|s| Some(s.span_id.as_str()) == c.parent_span_id.as_deref())
            .unwrap_or_else(|| panic!("client span without its stage: {c:#?}"));
        assert_eq!(stage.name, "pipeline.stage");
        assert_eq!(attr(c, "operation.name"), Some("http.client.request"));
        assert_eq!(attr(c, "http.request.method"), Some("GET"));
        assert!(c.attributes.values().all(|v| !v.contains("hush-hush")));
    }
    let ok = clients
        .iter()
        .find(|c| attr(c, "http.response.status_code") == Some("200"))
        .expect("the 200 call");
    assert_ne!(ok.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
    assert_eq!(attr(ok, "url.path"), Some("/items/9"));
    assert_eq!(attr(ok, "url.scheme"), Some("http"));
    let not_found = clients
        .iter()
        .find(|c| attr(c, "http.response.status_code") == Some("404"))
        .expect("the 404 call");
    assert_eq!(not_found.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
    let refused = clients
        .iter()
        .find(|c| attr(c, "error.type") == Some("connect"))
        .unwrap_or_else(|| panic!("the refused call: {clients:#?}"));
    assert_eq!(refused.status_code.as_deref(), Some("STATUS_CODE_ERROR"));

    let server = spans
        .iter()
        .find(|s| is_server(s) && attr(s, "http.route") == Some("/items/{id}"))
        .expect("server span");
    assert_eq!(
        server.trace_id, caller_run.trace_id,
        "one trace across the call"
    );
    assert_eq!(server.parent_span_id.as_deref(), Some(ok.span_id.as_str()));
    assert_eq!(attr(server, "pipeline_id"), Some("run-client-9"));
}
