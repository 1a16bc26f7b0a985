//! Subprocess stages against real peers: exit codes, a signal, a missing
//! executable and huge binary stderr, checked in the spans the APM test
//! agent received, on the DogStatsD wire, and in the JSON log; the child
//! sees the run's context in its environment.

mod common;

use std::process::Command;
use std::time::Duration;

use pipeline_telemetry::{PipelineRun, Stage};
use pipeline_telemetry_process::{ProcessError, ProcessStage, STDERR_TAIL_ATTR};
use pipeline_telemetry_test_support::agent;

static OK: Stage = Stage::new("export_ok");
static EXIT: Stage = Stage::new("export_exit");
static SIGNAL: Stage = Stage::new("export_signal");
static MISSING: Stage = Stage::new("export_missing");
static NOISY: Stage = Stage::new("export_noisy");
static OUTSIDE: Stage = Stage::new("export_outside_run");

fn sh(script: &str) -> Command {
    let mut c = Command::new("/bin/sh");
    c.args(["-c", script]);
    c
}

#[test]
fn exit_codes_signals_missing_and_binary_stderr() {
    let h = common::init("process");
    let run = PipelineRun::start("process_tests", "run-proc-1");
    // The stages below run in this run: it is current on this thread.
    let entered = run.enter();

    // Success: the child sees the run's context, and the secret is redacted.
    let mut ok = sh("echo \"$TRACEPARENT|$BAGGAGE|$PIPELINE_ID\"; echo progress >&2");
    ok.args([
        "sh",
        "--password",
        "hunter2",
        "--vars",
        r#"{"db_password": "pw-in-json"}"#,
        "--vars",
        "db_password: pw-in-yaml",
        "-p",
        "pw-short",
    ]);
    let out = ProcessStage::new(&OK, ok)
        .with_stdout_capture(4096)
        .with_forward_output(true)
        .with_command_args(true)
        .run()
        .expect("exit 0");
    let env_seen = String::from_utf8(out.stdout.clone()).expect("utf-8");
    let mut parts = env_seen.trim().split('|');
    let traceparent = parts.next().expect("traceparent").to_owned();
    let baggage = parts.next().expect("baggage").to_owned();
    assert_eq!(parts.next(), Some("run-proc-1"), "{env_seen}");
    assert!(baggage.contains("pipeline_id=run-proc-1"), "{baggage}");
    let tp: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(tp.len(), 4, "{traceparent}");

    // Non-zero exit.
    let err = ProcessStage::new(&EXIT, sh("echo 'disk full' >&2; exit 3"))
        .run()
        .expect_err("exit 3");
    assert!(matches!(err, ProcessError::Exit { code: 3, .. }), "{err:?}");
    assert_eq!(err.error_type(), "exit_3");
    assert!(err.to_string().contains("disk full"), "{err}");

    // Killed by a signal.
    let err = ProcessStage::new(&SIGNAL, sh("kill -9 $$"))
        .run()
        .expect_err("signal");
    assert_eq!(err.error_type(), "signal_9", "{err:?}");

    // An executable that does not exist.
    let err = ProcessStage::new(&MISSING, Command::new("/nonexistent/etl-tool"))
        .run()
        .expect_err("missing");
    assert_eq!(err.error_type(), "not_found");
    assert!(err.to_string().contains("/nonexistent/etl-tool"), "{err}");

    // 20 MiB of binary stderr, then a failure: bounded, valid text.
    let err = ProcessStage::new(
        &NOISY,
        sh("head -c 20971520 /dev/urandom >&2; printf 'last words\\n' >&2; exit 2"),
    )
    .with_stderr_tail(2048)
    .run()
    .expect_err("exit 2");
    let tail = err.stderr_tail().expect("tail").to_owned();
    assert!(tail.len() <= 2048 + 8, "tail of {} bytes", tail.len());
    assert!(tail.ends_with("last words"), "{tail:?}");
    assert!(!tail.contains('\0'));

    // Every stage's watchdog process has exited (and been waited for).
    let watchdogs = common::children_named(std::process::id(), "pipeline-telemetry-watchdog");
    assert!(watchdogs.is_empty(), "{watchdogs:?}");

    drop(entered);
    run.finish();

    // Outside any run: a stage call without a run (no `pipeline` tag), and
    // the child gets no run id, not even one set on the command.
    let mut outside = sh("echo \"[$PIPELINE_ID]\"");
    outside.env("PIPELINE_ID", "not-a-run");
    let out = ProcessStage::new(&OUTSIDE, outside)
        .with_stdout_capture(64)
        .run()
        .expect("exit 0");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    h.guard.flush();

    // The wire: one error per failed stage with the stage's tags; a duration each.
    let lines = h.udp.lines_until(Duration::from_secs(10), |l| {
        common::matching(l, "pipeline.errors", &["stage:export_noisy"]).len() == 1
            && common::matching(l, "pipeline.stage.duration", &["stage:export_noisy"]).len() == 1
            && common::matching(l, "pipeline.stage.duration", &["stage:export_outside_run"]).len()
                == 1
    });
    let outside = common::matching(
        &lines,
        "pipeline.stage.duration",
        &["stage:export_outside_run", "status:ok"],
    );
    assert_eq!(outside.len(), 1, "{lines:#?}");
    assert!(!outside[0].contains("pipeline:"), "{outside:?}");
    for stage in [
        "export_exit",
        "export_signal",
        "export_missing",
        "export_noisy",
    ] {
        let tag = format!("stage:{stage}");
        let errs = common::matching(&lines, "pipeline.errors", &["pipeline:process_tests", &tag]);
        assert_eq!(common::count_sum(&errs), 1, "{stage}: {lines:#?}");
        let d = common::matching(
            &lines,
            "pipeline.stage.duration",
            &["pipeline:process_tests", &tag, "status:error"],
        );
        assert_eq!(d.len(), 1, "{stage}: {lines:#?}");
    }
    let ok_errors = common::matching(&lines, "pipeline.errors", &["stage:export_ok"]);
    assert!(ok_errors.is_empty(), "{ok_errors:?}");
    let ok_d = common::matching(
        &lines,
        "pipeline.stage.duration",
        &["stage:export_ok", "status:ok"],
    );
    assert_eq!(ok_d.len(), 1, "{lines:#?}");

    // The spans the test agent received.
    let spans = agent::poll_spans(&h.token, |s| {
        s.iter().filter(|s| s.name == "process.run").count() >= 6
            && s.iter().any(|s| s.name == "pipeline.run")
    });
    let process: Vec<_> = spans.iter().filter(|s| s.name == "process.run").collect();
    // Five in the run, one outside it.
    assert_eq!(process.len(), 6, "{spans:#?}");
    let attr = |s: &agent::Span, k: &str| s.attributes.get(k).cloned().unwrap_or_default();
    let by_stage = |stage: &str| {
        process
            .iter()
            .find(|s| attr(s, "stage") == stage)
            .unwrap_or_else(|| panic!("no process span of {stage}: {spans:#?}"))
    };
    let ok_span = by_stage("export_ok");
    assert_eq!(attr(ok_span, "process.exit.code"), "0");
    assert_eq!(attr(ok_span, "process.executable.name"), "sh");
    assert!(attr(ok_span, "process.pid")
        .parse::<u32>()
        .is_ok_and(|p| p > 1));
    let args = attr(ok_span, "process.command_args");
    assert!(args.contains("REDACTED"), "{args}");
    for secret in ["hunter2", "pw-in-json", "pw-in-yaml", "pw-short"] {
        assert!(!args.contains(secret), "{secret} in {args}");
        assert!(!attr(ok_span, "process.command_line").contains(secret));
    }
    // The child's TRACEPARENT names the process span as its parent.
    assert_eq!(tp[1], ok_span.trace_id, "{traceparent}");
    assert_eq!(tp[2], ok_span.span_id, "{traceparent}");
    let stage_span = spans
        .iter()
        .find(|s| s.name == "pipeline.stage" && attr(s, "stage") == "export_ok")
        .expect("stage span");
    assert_eq!(ok_span.parent_span_id.as_ref(), Some(&stage_span.span_id));

    let exit = by_stage("export_exit");
    // Arguments are recorded only when asked for: the executable alone.
    for key in ["process.command_args", "process.command_line"] {
        assert!(!exit.attributes.contains_key(key), "{key}: {exit:#?}");
    }
    assert_eq!(attr(exit, "process.executable.name"), "sh");
    assert_eq!(attr(exit, "resource.name"), "sh");
    assert_eq!(attr(exit, "process.exit.code"), "3");
    assert_eq!(attr(exit, "error.type"), "exit_3");
    assert!(exit
        .status_code
        .as_deref()
        .is_some_and(|c| c.contains("ERROR")));
    assert!(attr(exit, STDERR_TAIL_ATTR).contains("disk full"));
    assert_eq!(attr(by_stage("export_signal"), "error.type"), "signal_9");
    assert_eq!(attr(by_stage("export_missing"), "error.type"), "not_found");
    let noisy = attr(by_stage("export_noisy"), STDERR_TAIL_ATTR);
    assert!(
        noisy.ends_with("last words") && noisy.len() <= 2048 + 8,
        "{noisy:?}"
    );

    // Logs: the forwarded line and the error line carry the run's correlation.
    let logs = h.logs.lines();
    let forwarded = logs
        .iter()
        .find(|l| l["message"] == "progress")
        .unwrap_or_else(|| panic!("no forwarded line in {}", h.logs.text()));
    assert_eq!(forwarded["stream"], "stderr");
    assert_eq!(forwarded["pipeline_id"], "run-proc-1");
    assert_eq!(
        forwarded["dd.trace_id"].as_str(),
        Some(agent::dd_trace_id(&ok_span.trace_id).as_str())
    );
    let failure = logs
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("process failed") && m.contains("code 3"))
        })
        .unwrap_or_else(|| panic!("no failure line in {}", h.logs.text()));
    assert_eq!(failure["error.type"], "exit_3");
    assert!(failure["stderr_tail"]
        .as_str()
        .is_some_and(|t| t.contains("disk full")));
    assert_eq!(failure["pipeline_id"], "run-proc-1");
    h.guard.shutdown(Duration::from_secs(10)).expect("shutdown");
}
