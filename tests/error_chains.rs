//! Every error type, shown through a reporter that walks `source()` (as
//! `anyhow`/`eyre` do), says each thing once: a message never repeats the
//! text of its own source. The errors are produced by the real operations
//! where that is cheap (a bad address, a program that does not exist, a
//! closed loopback port, a bad database URL), otherwise built from their
//! public variants.

use std::error::Error;
use std::process::Command;
use std::time::Duration;

use pipeline_telemetry::{InitError, PipelineRun, ShutdownError, Stage};
use pipeline_telemetry_dogstatsd as dogstatsd;

/// The first message among the chain's first `own` levels (the errors of
/// this workspace; a dependency's own errors below them are not ours to
/// judge) that contains its source's message.
fn repeated(err: &(dyn Error + 'static), own: usize) -> Option<(String, String)> {
    let mut cur = Some(err);
    for e in std::iter::from_fn(|| {
        let e = cur?;
        cur = e.source();
        Some(e)
    })
    .take(own)
    {
        if let Some(src) = e.source() {
            let (outer, inner) = (e.to_string(), src.to_string());
            if !inner.is_empty() && outer.contains(&inner) {
                return Some((outer, inner));
            }
        }
    }
    None
}

/// The chain's messages; fails when one of the first `own` messages repeats
/// its source's text.
fn assert_own_say_once(err: &(dyn Error + 'static), own: usize) -> Vec<String> {
    if let Some((outer, inner)) = repeated(err, own) {
        panic!("{outer:?} repeats its source {inner:?}");
    }
    let mut chain = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        chain.push(e.to_string());
        cur = e.source();
    }
    chain
}

fn bad_address() -> dogstatsd::ConfigError {
    dogstatsd::Target::parse_url("tcp://127.0.0.1:8125", "DD_DOGSTATSD_URL")
        .expect_err("tcp is not a DogStatsD scheme")
}

#[test]
fn the_checker_catches_a_repeated_cause() {
    // Hand-written on purpose: the shape this test exists to catch.
    #[derive(Debug)]
    struct Twice(std::io::Error);
    impl std::fmt::Display for Twice {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "outer: {}", self.0)
        }
    }
    impl Error for Twice {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }
    let e = Twice(std::io::Error::other("inner"));
    assert_eq!(
        repeated(&e, 1),
        Some(("outer: inner".to_owned(), "inner".to_owned()))
    );
}

#[test]
fn dogstatsd_configuration_errors_have_the_otlp_shape_and_say_things_once() {
    let e = bad_address();
    assert_eq!(e.setting, "DD_DOGSTATSD_URL");
    assert_eq!(e.value, "tcp://127.0.0.1:8125");
    assert!(!e.reason.is_empty());
    let chain = assert_own_say_once(&dogstatsd::InstallError::from(bad_address()), usize::MAX);
    assert_eq!(chain.len(), 2, "{chain:?}");
    let chain = assert_own_say_once(&InitError::Config(bad_address()), usize::MAX);
    assert_eq!(chain.len(), 2, "{chain:?}");
    let chain = assert_own_say_once(&InitError::Metrics(bad_address().into()), usize::MAX);
    assert_eq!(chain.len(), 3, "{chain:?}");
    // The address error's text appears exactly once in the whole report.
    let report = chain.join(": ");
    assert_eq!(
        report.matches("tcp://127.0.0.1:8125").count(),
        1,
        "{report}"
    );
}

#[test]
fn shutdown_errors_name_the_failing_exporter_once() {
    let chain = assert_own_say_once(
        &ShutdownError::Metrics(dogstatsd::ShutdownError::TimedOut),
        usize::MAX,
    );
    assert_eq!(chain.len(), 2, "{chain:?}");
    let chain = assert_own_say_once(
        &ShutdownError::Otlp(pipeline_telemetry::otel::ShutdownError::Timeout(
            Duration::from_secs(1),
        )),
        usize::MAX,
    );
    assert_eq!(chain.len(), 2, "{chain:?}");
}

#[test]
fn layer_errors_from_real_operations_say_things_once() {
    static S: Stage = Stage::new("missing_program");
    let run = PipelineRun::start("error_chains", "1");
    let e = run
        .in_scope(|| {
            pipeline_telemetry_process::ProcessStage::new(
                &S,
                Command::new("/nonexistent/pipeline-telemetry-no-such-program"),
            )
            .run()
        })
        .expect_err("the program does not exist");
    assert!(
        assert_own_say_once(&e, 1).len() >= 2,
        "the OS error is the source"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let Err(e) = pipeline_telemetry_sqlx::TracedPool::connect("not a url").await else {
            panic!("\"not a url\" was accepted as a database URL");
        };
        assert!(
            assert_own_say_once(&e, 1).len() >= 2,
            "sqlx's error is the source"
        );

        // A port nobody listens on: bind one, note it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let client = reqwest::Client::new();
        let e = pipeline_telemetry_http::send(client.get(format!("http://127.0.0.1:{port}/")))
            .await
            .expect_err("nothing listens there");
        assert!(
            assert_own_say_once(&e, 1).len() >= 2,
            "reqwest's error is the source"
        );
    });
}
