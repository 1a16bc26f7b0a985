//! Client tracing configured once: a `reqwest_middleware` client with
//! `TracingMiddleware`, used inside a run's stage with plain `.send()`.
//! Each call is a CLIENT span under the stage (with `url.path`, never the
//! query), and the server behind the layer continues the same trace under
//! it with the run's `pipeline_id`, as Datadog's APM test agent shows.

mod common;

use common::fetch;
use pipeline_telemetry::PipelineRun;
use pipeline_telemetry_http::TracingMiddleware;

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
    common::assert_call_traced(&h, "mw_caller", "run-mw-12", "/items/12");
}
