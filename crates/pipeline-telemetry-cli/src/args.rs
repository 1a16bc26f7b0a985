//! Command-line arguments (std only).

use std::fmt;
use std::path::PathBuf;

use pipeline_telemetry_monitors::guide::Routing;

use crate::dev;

pub(crate) const USAGE: &str = "\
usage: pipeline-telemetry-cli <command> [options]

commands:
  dashboard [--format json|terraform]
                                     print the dashboard (dashboards API JSON or
                                     a Terraform datadog_dashboard_json resource)
  monitors [--format json|terraform] print the monitors (monitors API JSON or
                                     Terraform datadog_monitor resources)
  log-pipeline [--format json|terraform]
                                     print the Datadog log pipeline (Logs Pipelines
                                     API JSON or a datadog_logs_custom_pipeline)
  percentiles                        print the Terraform that enables the
                                     percentiles the dashboard graphs
  metrics-doc                        print docs/metrics.md
  generate [--root <dir>]            write every generated file under <dir> (default .)
  replay <capture-file> [--now <unix>] [--fail-on-notify]
                                     evaluate the monitors over a capture of
                                     DogStatsD lines (optionally '<unix> <line>')
                                     and print which would notify
  dev [--dogstatsd <addr>] [--http <addr>] [--window <minutes>] [--dashboard <file>]
                                     a local stand-in for Datadog: receive DogStatsD
                                     (default 127.0.0.1:8125; udp://host:port or
                                     unix:///path), aggregate it as the Agent does, and
                                     serve the dashboard's widgets and the monitors'
                                     states live on http://127.0.0.1:8877/ (JSON at
                                     /api/dashboard and /api/monitors); keeps <minutes>
                                     of history (default 60). Then run your pipeline with
                                     DD_AGENT_HOST=127.0.0.1 DD_DOGSTATSD_PORT=8125, and
                                     OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:8877
                                     for its spans as waterfalls (/api/traces; a build
                                     with the `otlp-http` feature), with
                                     PIPELINE_TELEMETRY_OTLP_LOGS=1 for the log stream
  help                               print this help

routing options (monitors, generate, replay, dev):
  --slack <channel>                  Slack channel for @slack-<channel>
  --email <address>                  e-mail address to notify
";

/// Output format of `monitors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Terraform,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Command {
    Help,
    Dashboard {
        format: Format,
    },
    LogPipeline {
        format: Format,
    },
    Percentiles,
    Monitors {
        format: Format,
        routing: Routing,
    },
    MetricsDoc,
    Generate {
        root: PathBuf,
        routing: Routing,
    },
    Replay {
        capture: PathBuf,
        now: Option<u64>,
        fail_on_notify: bool,
        routing: Routing,
    },
    Dev {
        options: dev::Options,
        routing: Routing,
    },
}

/// A command line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n\n{USAGE}", self.0)
    }
}

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// Parses the arguments after the program name.
pub(crate) fn parse(args: &[String]) -> Result<Command, UsageError> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    let mut positional = Vec::new();
    let mut format = Format::Json;
    let mut now = None;
    let mut root = PathBuf::from(".");
    let mut fail_on_notify = false;
    let mut slack = None;
    let mut email = None;
    let mut dev = dev::Options {
        dogstatsd: dev::DEFAULT_DOGSTATSD.to_owned(),
        http: dev::DEFAULT_HTTP.to_owned(),
        window_minutes: dev::DEFAULT_WINDOW_MINUTES,
        dashboard: None,
    };
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| usage(format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--format" => {
                format = match value("--format")?.as_str() {
                    "json" => Format::Json,
                    "terraform" | "tf" => Format::Terraform,
                    other => {
                        return Err(usage(format!(
                            "unknown format {other:?} (json or terraform)"
                        )))
                    }
                }
            }
            "--now" => {
                let v = value("--now")?;
                now = Some(
                    v.parse()
                        .map_err(|_| usage(format!("--now takes unix seconds, not {v:?}")))?,
                );
            }
            "--root" => root = PathBuf::from(value("--root")?),
            "--dogstatsd" => dev.dogstatsd = value("--dogstatsd")?,
            "--http" => dev.http = value("--http")?,
            "--dashboard" => dev.dashboard = Some(PathBuf::from(value("--dashboard")?)),
            "--window" => {
                let v = value("--window")?;
                dev.window_minutes = match v.parse() {
                    Ok(m) if (1..=24 * 60).contains(&m) => m,
                    _ => {
                        return Err(usage(format!(
                            "--window takes 1 to 1440 minutes, not {v:?}"
                        )))
                    }
                };
            }
            "--slack" => slack = Some(value("--slack")?),
            "--email" => email = Some(value("--email")?),
            "--fail-on-notify" => fail_on_notify = true,
            // `<command> --help` prints the usage, as `help` does.
            "--help" | "-h" => return Ok(Command::Help),
            flag if flag.starts_with("--") => return Err(usage(format!("unknown option {flag}"))),
            _ => positional.push(arg.clone()),
        }
    }
    let default = Routing::default();
    let routing = Routing::new(
        slack.as_deref().unwrap_or(&default.slack_channel),
        email.as_deref().unwrap_or(&default.email),
    );
    let no_positional = |cmd: Command| match positional.first() {
        Some(extra) => Err(usage(format!("unexpected argument {extra:?}"))),
        None => Ok(cmd),
    };
    match command.as_str() {
        "help" | "--help" | "-h" => Ok(Command::Help),
        "dashboard" => no_positional(Command::Dashboard { format }),
        "log-pipeline" => no_positional(Command::LogPipeline { format }),
        "percentiles" => no_positional(Command::Percentiles),
        "monitors" => no_positional(Command::Monitors { format, routing }),
        "metrics-doc" => no_positional(Command::MetricsDoc),
        "generate" => no_positional(Command::Generate { root, routing }),
        "dev" => no_positional(Command::Dev {
            options: dev,
            routing,
        }),
        "replay" => match positional.as_slice() {
            [capture] => Ok(Command::Replay {
                capture: PathBuf::from(capture),
                now,
                fail_on_notify,
                routing,
            }),
            [] => Err(usage("replay needs a capture file")),
            _ => Err(usage("replay takes one capture file")),
        },
        other => Err(usage(format!("unknown command {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_each_command() {
        assert_eq!(parse(&args("")), Ok(Command::Help));
        assert_eq!(
            parse(&args("dashboard")),
            Ok(Command::Dashboard {
                format: Format::Json
            })
        );
        assert_eq!(
            parse(&args("log-pipeline --format terraform")),
            Ok(Command::LogPipeline {
                format: Format::Terraform
            })
        );
        assert!(matches!(
            parse(&args("monitors --format terraform --slack ops")),
            Ok(Command::Monitors { format: Format::Terraform, routing }) if routing.slack_channel == "ops"
        ));
        assert!(matches!(
            parse(&args("replay cap.txt --now 1700000000")),
            Ok(Command::Replay {
                now: Some(1_700_000_000),
                fail_on_notify: false,
                ..
            })
        ));
    }

    #[test]
    fn parses_dev_options() {
        match parse(&args("dev")) {
            Ok(Command::Dev { options, .. }) => {
                assert_eq!(options.dogstatsd, "127.0.0.1:8125");
                assert_eq!(options.http, "127.0.0.1:8877");
                assert_eq!(options.window_minutes, 60);
            }
            other => panic!("{other:?}"),
        }
        match parse(&args(
            "dev --dogstatsd unix:///tmp/d.sock --http 127.0.0.1:0 --window 5",
        )) {
            Ok(Command::Dev { options, .. }) => {
                assert_eq!(options.dogstatsd, "unix:///tmp/d.sock");
                assert_eq!(
                    (options.http.as_str(), options.window_minutes),
                    ("127.0.0.1:0", 5)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn help_after_a_command_prints_the_usage() {
        for line in [
            "dev --help",
            "dev -h",
            "replay --help",
            "dev --window 5 --help",
        ] {
            assert_eq!(parse(&args(line)), Ok(Command::Help), "{line}");
        }
    }

    #[test]
    fn rejects_bad_command_lines() {
        for bad in [
            "dance",
            "replay",
            "replay a b",
            "monitors --format yaml",
            "replay a --now soon",
            "dashboard x",
            "dev --window 0",
            "dev --http",
            "dev x",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }
}
