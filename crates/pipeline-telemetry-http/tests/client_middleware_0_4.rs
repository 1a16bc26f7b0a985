//! Client tracing configured once for reqwest 0.12: a reqwest-middleware
//! 0.4 client with `TracingMiddleware` (feature `reqwest-middleware-0-4`),
//! built once and used inside a run's stage with plain `.send()`. The call
//! is a CLIENT span under the stage, and the real server behind the layer
//! continues the same trace under it with the run's `pipeline_id`, as
//! Datadog's APM test agent shows.

mod common;

use pipeline_telemetry::{instrument_stage, PipelineRun};
use pipeline_telemetry_http::TracingMiddleware;
use reqwest_middleware_04::ClientWithMiddleware;

#[instrument_stage]
async fn fetch(
    client: ClientWithMiddleware,
    url: String,
) -> Result<String, reqwest_middleware_04::Error> {
    let resp = client.get(url).send().await?;
    Ok(resp.text().await.unwrap_or_default())
}

#[test]
fn a_reqwest_0_12_client_configured_once_carries_the_run() {
    let mut h = common::start("http-middleware-0-4");
    // reqwest 0.12's client (reqwest-middleware 0.4 is built on it).
    let client = reqwest_middleware_04::ClientBuilder::new(reqwest012::Client::new())
        .with(TracingMiddleware)
        .build();
    let url = h.url("/items/13?secret=s3cr3t");
    let body = h.rt.block_on(async {
        let run = PipelineRun::start("mw04_caller", "run-mw04-13");
        let body = run.scope(fetch(client.clone(), url)).await.expect("call");
        run.finish();
        body
    });
    assert_eq!(
        body, "run-mw04-13",
        "the server's run kept the caller's pipeline_id"
    );

    h.shutdown();
    common::assert_call_traced(&h, "mw04_caller", "run-mw04-13", "/items/13");
}
