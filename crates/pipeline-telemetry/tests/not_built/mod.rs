//! Shared by the tests of builds without an OTLP transport.

use pipeline_telemetry::otel::{ConfigError, InstallError};
use pipeline_telemetry::{InitError, TelemetryGuard};

/// The configuration error `try_init` returned, or a panic that says what
/// it returned instead (`transport`: the one asked for, for the message).
pub(crate) fn config_error(
    result: Result<TelemetryGuard, InitError>,
    transport: &str,
) -> ConfigError {
    match result {
        Err(InitError::Tracing(InstallError::Config(e))) => e,
        Err(other) => panic!("expected a configuration error, got {other:?}"),
        Ok(_) => panic!("try_init exported over {transport} in a build without its feature"),
    }
}
