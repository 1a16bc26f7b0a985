//! `send_traced` carries the current run's `pipeline_id` in `baggage`
//! whatever the subscriber: with none at all, and with a plain
//! `tracing_subscriber` registry plus a `tracing-opentelemetry` layer the
//! user set up (not the project's subscriber, which also remembers span
//! fields); and so does a reqwest 0.12 client traced with `ClientSpan`. A
//! real axum server on loopback echoes the headers it received.

use std::net::SocketAddr;

use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use pipeline_telemetry::PipelineRun;
use pipeline_telemetry_http::{ClientSpan, TracedSend};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// Answers with the `baggage` and `traceparent` it received, one a line.
async fn echo(headers: HeaderMap) -> String {
    let get = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    format!("{}\n{}", get("baggage"), get("traceparent"))
}

/// The echo server on a free loopback port, on a runtime of its own
/// thread (which sees no subscriber of the test thread).
fn serve() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            let app = Router::new().route("/echo", get(echo));
            axum::serve(listener, app).await.expect("serve");
        });
    });
    rx.recv().expect("server address")
}

/// Calls the echo server with `send_traced` inside a run; returns the
/// `baggage` and `traceparent` it received and the run's OTel trace id.
fn call_in_run(addr: SocketAddr, pipeline_id: &str) -> (String, String, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let run = PipelineRun::start("caller", pipeline_id);
        let body = run
            .scope(async {
                reqwest::Client::new()
                    .get(format!("http://{addr}/echo"))
                    .send_traced()
                    .await
                    .expect("call")
                    .text()
                    .await
                    .expect("body")
            })
            .await;
        let trace = run.span().context().span().span_context().trace_id();
        run.finish();
        let (baggage, traceparent) = body.split_once('\n').expect("two lines");
        (
            baggage.to_owned(),
            traceparent.to_owned(),
            trace.to_string(),
        )
    })
}

#[test]
fn the_runs_pipeline_id_travels_without_the_projects_subscriber() {
    let addr = serve();

    // No subscriber at all: no trace context, but the run's id still goes.
    let (baggage, traceparent, _) = call_in_run(addr, "run-bare-1");
    assert_eq!(baggage, "pipeline_id=run-bare-1");
    assert_eq!(traceparent, "", "no OpenTelemetry layer, no traceparent");

    // The user's own subscriber: a registry and tracing-opentelemetry.
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("user")));
    let (baggage, traceparent, run_trace) =
        tracing::subscriber::with_default(subscriber, || call_in_run(addr, "run-user-2"));
    assert_eq!(baggage, "pipeline_id=run-user-2");
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent:?}");
    assert_eq!(fields[1], run_trace, "the call continues the run's trace");

    // A reqwest 0.12 client, traced with ClientSpan, under the user's
    // subscriber. (One test for all cases: tracing caches each callsite's
    // interest for every thread, so a test without a subscriber running
    // beside one with a scoped subscriber could disable the other's spans.)
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("user")));
    let (baggage, traceparent, run_trace) = tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let run = PipelineRun::start("caller_012", "run-012-3");
            let (baggage, traceparent) = call_with_reqwest_0_12(addr, &run).await;
            let trace = run.span().context().span().span_context().trace_id();
            run.finish();
            (baggage, traceparent, trace.to_string())
        })
    });
    assert_eq!(baggage, "pipeline_id=run-012-3");
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent:?}");
    assert_eq!(
        fields[1], run_trace,
        "the reqwest 0.12 call continues the run's trace"
    );
}

/// A reqwest 0.12 call traced by hand with `ClientSpan`, inside a run;
/// returns what the echo server received and the run's trace id.
async fn call_with_reqwest_0_12(addr: SocketAddr, run: &PipelineRun) -> (String, String) {
    let client = reqwest012::Client::new();
    let body = run
        .scope(async {
            let mut request = client
                .get(format!("http://{addr}/echo?q=1"))
                .build()
                .expect("request");
            let call = ClientSpan::start(request.method(), request.url().as_str());
            call.inject(request.headers_mut());
            let response = client
                .execute(request)
                .instrument(call.span().clone())
                .await
                .expect("call");
            call.on_response(response.status());
            response.text().await.expect("body")
        })
        .await;
    let (baggage, traceparent) = body.split_once('\n').expect("two lines");
    (baggage.to_owned(), traceparent.to_owned())
}
