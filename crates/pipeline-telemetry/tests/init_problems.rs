//! `init()` never fails, and never drops metrics, because of a tracing or
//! logging setting. Each case runs a real child process (this binary again)
//! whose only variables are the bad setting(s) and `DD_AGENT_HOST` pointing
//! at a real UDP receiver: the child exits 0, its metric arrives, its log
//! line is written, and stderr has exactly one report line per problem
//! (naming the variable and what runs instead).
#![cfg(feature = "traces")]

mod child;

use std::time::Duration;

use pipeline_telemetry::otel::Protocol;
use pipeline_telemetry_test_support::udp::UdpReceiver;

const METRIC: &str = "pt.init_child.ok";
const LOG_LINE: &str = "the child logs at info";

/// The child: `init()` from the environment it was given, one metric, one
/// log line, a clean shutdown.
#[test]
fn init_child() {
    if !child::is_child() {
        return;
    }
    let telemetry = match pipeline_telemetry::init() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("child: init failed: {e}");
            std::process::exit(1);
        }
    };
    metrics::counter!(METRIC).increment(1);
    tracing::info!("{LOG_LINE}");
    drop(telemetry);
}

struct Case {
    vars: Vec<(&'static str, &'static str)>,
    /// (variable, what the report says runs instead), one line each.
    reports: Vec<(&'static str, &'static str)>,
}

fn case(vars: &[(&'static str, &'static str)], reports: &[(&'static str, &'static str)]) -> Case {
    Case {
        vars: vars.to_vec(),
        reports: reports.to_vec(),
    }
}

#[test]
fn a_bad_tracing_or_logging_setting_is_reported_once_and_metrics_arrive() {
    if child::is_child() {
        return;
    }
    let not_exported = "; spans are not exported";
    let http = if Protocol::HttpProtobuf.is_built_in() {
        // This build exports over HTTP: nothing to report.
        case(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")], &[])
    } else if Protocol::Grpc.is_built_in() {
        case(
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")],
            &[(
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "; spans go over gRPC to the Agent's gRPC port (http://127.0.0.1:4317) instead",
            )],
        )
    } else {
        // The default build: no OTLP transport to fall back to.
        case(
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")],
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", not_exported)],
        )
    };
    let cases = vec![
        // DD_AGENT_HOST alone (a DogStatsD URL, which spans read as the
        // Agent's host): nothing to report.
        case(&[], &[]),
        http,
        case(
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", not_exported)],
        ),
        case(
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://127.0.0.1:4317")],
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", not_exported)],
        ),
        case(
            &[("PIPELINE_TELEMETRY_LOG_FORMAT", "xml")],
            &[(
                "PIPELINE_TELEMETRY_LOG_FORMAT",
                "; writing human-readable lines",
            )],
        ),
        case(
            &[("PIPELINE_TELEMETRY_TRACES", "sometimes")],
            &[("PIPELINE_TELEMETRY_TRACES", "; using the default")],
        ),
        case(
            &[("PIPELINE_TELEMETRY_OTLP_LOGS", "maybe")],
            &[(
                "PIPELINE_TELEMETRY_OTLP_LOGS",
                "; OTLP log export stays off",
            )],
        ),
        case(
            &[("PIPELINE_TELEMETRY_LOG_LOSSLESS", "maybe")],
            &[(
                "PIPELINE_TELEMETRY_LOG_LOSSLESS",
                "; log lines that the output",
            )],
        ),
        case(
            &[("RUST_LOG", "info,[=bad")],
            &[("log filter (RUST_LOG)", "; logging at `info`")],
        ),
        case(
            &[("OTEL_BSP_MAX_QUEUE_SIZE", "1000000000")],
            &[(
                "OTEL_BSP_MAX_QUEUE_SIZE",
                "more than the cap of 65536; using 65536",
            )],
        ),
        case(
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
                ("PIPELINE_TELEMETRY_LOG_FORMAT", "xml"),
                ("PIPELINE_TELEMETRY_TRACES", "sometimes"),
                ("RUST_LOG", "info,[=bad"),
            ],
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", not_exported),
                (
                    "PIPELINE_TELEMETRY_LOG_FORMAT",
                    "; writing human-readable lines",
                ),
                ("PIPELINE_TELEMETRY_TRACES", "; using the default"),
                ("log filter (RUST_LOG)", "; logging at `info`"),
            ],
        ),
    ];
    // All children at once; each with its own receiver.
    let running: Vec<_> = cases
        .into_iter()
        .map(|c| {
            let receiver = UdpReceiver::bind().expect("receiver");
            let host = receiver.url();
            let mut vars = c.vars.clone();
            vars.push(("DD_AGENT_HOST", host.as_str()));
            let mut child = child::spawn("init_child", &vars);
            let stderr = child::stderr_lines(&mut child);
            let stdout = child.stdout.take().expect("stdout piped");
            let out =
                std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
            (c, receiver, child, stderr, out)
        })
        .collect();
    for (c, receiver, child, stderr, out) in running {
        let status = child::wait_or_kill(child, Duration::from_secs(120), &format!("{:?}", c.vars));
        let stdout = out.join().expect("stdout reader");
        let stderr: Vec<String> = stderr.try_iter().collect();
        assert!(
            status.success(),
            "{:?}: {status}\n{}",
            c.vars,
            stderr.join("\n")
        );

        let reports: Vec<&String> = stderr
            .iter()
            .filter(|l| l.starts_with("pipeline-telemetry: invalid "))
            .collect();
        assert_eq!(reports.len(), c.reports.len(), "{:?}: {reports:#?}", c.vars);
        for (var, instead) in &c.reports {
            let lines: Vec<_> = reports.iter().filter(|l| l.contains(var)).collect();
            assert_eq!(
                lines.len(),
                1,
                "{:?}: one line for {var}: {reports:#?}",
                c.vars
            );
            assert!(
                lines[0].contains(instead),
                "{:?}: {lines:?} says {instead:?}",
                c.vars
            );
        }

        // The metric arrived (the child has exited: this is all it sent).
        let lines: Vec<String> = receiver.drain_lines(Duration::from_millis(200));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{METRIC}:1|c"))),
            "{:?}: {lines:#?}",
            c.vars
        );
        // And the log line was written.
        assert!(stdout.contains(LOG_LINE), "{:?}: {stdout}", c.vars);
    }
}
