//! The `metrics::Recorder` that routes the `metrics` macros into the
//! series registry.

use std::sync::atomic::{AtomicBool, Ordering};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};

use crate::encoder::MetricType;
use crate::error::InstallError;
use crate::registry::{self, Series};

/// Routes `metrics::counter!`, `gauge!` and `histogram!` (sent as
/// distributions) to the DogStatsD exporter.
#[derive(Debug, Clone, Copy, Default)]
pub struct DogStatsDRecorder;

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs [`DogStatsDRecorder`] as the global `metrics` recorder.
/// Succeeds if it is already installed; fails if another recorder is.
///
/// # Errors
///
/// [`InstallError::RecorderAlreadySet`] when another `metrics` recorder is
/// the global one.
pub fn install() -> Result<(), InstallError> {
    if INSTALLED.load(Ordering::Acquire) {
        return Ok(());
    }
    match metrics::set_global_recorder(DogStatsDRecorder) {
        Ok(()) => {
            INSTALLED.store(true, Ordering::Release);
            Ok(())
        }
        Err(_) if INSTALLED.load(Ordering::Acquire) => Ok(()),
        Err(_) => Err(InstallError::RecorderAlreadySet),
    }
}

/// Whether [`DogStatsDRecorder`] is the global `metrics` recorder.
pub fn is_installed() -> bool {
    INSTALLED.load(Ordering::Acquire)
}

fn lookup(kind: MetricType, key: &Key) -> &'static Series {
    const INLINE: usize = 8;
    let labels = key.labels();
    if labels.len() <= INLINE {
        let mut buf = [("", ""); INLINE];
        for (slot, l) in buf.iter_mut().zip(key.labels()) {
            *slot = (l.key(), l.value());
        }
        registry::series(kind, key.name(), &buf[..labels.len()])
    } else {
        let v: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
        registry::series(kind, key.name(), &v)
    }
}

impl metrics::Recorder for DogStatsDRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(lookup(MetricType::Count, key).metrics_fn())
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(lookup(MetricType::Gauge, key).metrics_fn())
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(lookup(MetricType::Distribution, key).metrics_fn())
    }
}
