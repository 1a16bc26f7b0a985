//! `pipeline-telemetry-cli`: prints the dashboard, the monitors, the log
//! pipeline and the metric catalogue generated from the pipeline-telemetry
//! catalogue, writes
//! the committed copies, replays DogStatsD captures against the
//! monitors, and serves the dashboard and monitors live from local
//! DogStatsD traffic (`dev`).

mod args;
mod dev;
mod replay;

use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};
use std::{fmt, fs, io};

use args::{Command, Format, USAGE};
use pipeline_telemetry_monitors::artifacts::artifacts;
use pipeline_telemetry_monitors::capture::{latest_timestamp, parse_capture, CaptureError};
use pipeline_telemetry_monitors::guide::{guide_monitors, Routing};
use pipeline_telemetry_monitors::{dashboard, dashboard_tf, logs, render, terraform};

/// Why a command failed.
#[derive(Debug)]
enum CliError {
    Io { path: String, source: io::Error },
    Capture { path: String, source: CaptureError },
    Dev(dev::DevError),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Io { path, source } => write!(f, "{path}: {source}"),
            CliError::Capture { path, source } => match std::error::Error::source(source) {
                Some(cause) => write!(f, "{path}: {source}: {cause}"),
                None => write!(f, "{path}: {source}"),
            },
            CliError::Dev(e) => write!(f, "dev: {e}"),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Help => print!("{USAGE}"),
        Command::Dashboard { format } => match format {
            Format::Json => print!("{}", dashboard::dashboard_json()),
            Format::Terraform => print!("{}", dashboard_tf::dashboard_terraform()),
        },
        Command::LogPipeline { format } => match format {
            Format::Json => print!("{}", logs::log_pipeline_json()),
            Format::Terraform => print!("{}", logs::log_pipeline_terraform()),
        },
        Command::Percentiles => print!("{}", dashboard_tf::percentiles_terraform()),
        Command::Monitors { format, routing } => {
            let monitors = guide_monitors(&routing);
            match format {
                Format::Json => print!("{}", render::monitors_json(&monitors)),
                Format::Terraform => print!("{}", terraform::monitors_terraform(&monitors)),
            }
        }
        Command::MetricsDoc => print!("{}", pipeline_telemetry_catalogue::markdown::render()),
        Command::Generate { root, routing } => generate(&root, &routing)?,
        Command::Dev { options, routing } => dev::run(&options, &routing).map_err(CliError::Dev)?,
        Command::Replay {
            capture,
            now,
            fail_on_notify,
            routing,
        } => {
            let path = capture.display().to_string();
            let text = fs::read_to_string(&capture).map_err(|source| CliError::Io {
                path: path.clone(),
                source,
            })?;
            let wall_clock = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let points = parse_capture(&text, wall_clock)
                .map_err(|source| CliError::Capture { path, source })?;
            let now = now
                .or_else(|| latest_timestamp(&points))
                .unwrap_or(wall_clock);
            let report = replay::report(&guide_monitors(&routing), &points, now);
            print!("{}", report.text);
            if fail_on_notify && report.notifying > 0 {
                return Ok(ExitCode::from(3));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn generate(root: &Path, routing: &Routing) -> Result<(), CliError> {
    for artifact in artifacts(routing) {
        let path = root.join(artifact.path);
        let io_err = |source| CliError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_err)?;
        }
        fs::write(&path, &artifact.contents).map_err(io_err)?;
        println!("wrote {}", artifact.path);
    }
    Ok(())
}
