//! `#[instrument_stage]` on methods taking `&self` (sync and async) and
//! `&mut self`; the stage is named after the method.
use pipeline_telemetry::instrument_stage;
use pipeline_telemetry::testing::{values, Capture};

struct Warehouse {
    table: String,
    loaded: usize,
}

impl Warehouse {
    #[instrument_stage]
    fn count(&self) -> Result<usize, std::io::Error> {
        Ok(self.table.len())
    }

    #[instrument_stage]
    async fn describe(&self, prefix: &str) -> Result<String, std::io::Error> {
        Ok(format!("{prefix}{}", self.table))
    }

    #[instrument_stage]
    fn load(&mut self, rows: &[u32]) -> Result<(), std::io::Error> {
        self.loaded += rows.len();
        Ok(())
    }
}

fn main() {
    let capture = Capture::start();
    let mut w = Warehouse {
        table: "events".into(),
        loaded: 0,
    };
    assert_eq!(w.count().unwrap(), 6);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(w.describe("db.")).unwrap(), "db.events");
    w.load(&[1, 2, 3]).unwrap();
    assert_eq!(w.loaded, 3);
    let m = capture.finish();
    for stage in ["count", "describe", "load"] {
        let v = values(&m, "pipeline.stage.duration", &[("stage", stage)]);
        assert_eq!(v.len(), 1, "{stage}");
    }
}
