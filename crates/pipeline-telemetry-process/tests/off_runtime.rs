//! The async stage does no blocking file work on the runtime's thread.
//! dbt's `run_results.json` (up to 64 MiB) is made a FIFO by a stand-in
//! `dbt` script, and the only writer of that FIFO is a task on the same
//! current-thread runtime as the stage. Read on the runtime's thread (the
//! old code), the read blocks that thread until a writer comes, so the
//! writer task never runs: the stage never ends. Read on the blocking
//! pool, the writer runs, the stage reads what it wrote.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, UNIX_EPOCH};

use pipeline_telemetry::{PipelineRun, Stage};
use pipeline_telemetry_process::{ProcessError, ProcessOutput, ProcessStage};
use tokio::io::AsyncWriteExt;

static DBT: Stage = Stage::new("dbt_fifo");

const RESULTS: &str = r#"{"metadata": {}, "results": [{
  "unique_id": "model.shop.orders", "status": "success",
  "timing": [{"name": "execute", "started_at": "2026-01-02T03:04:05.5Z",
              "completed_at": "2026-01-02T03:04:07Z"}],
  "adapter_response": {"rows_affected": 7}, "message": "OK"}]}"#;

/// A project directory with a `dbt` that makes `target/run_results.json`
/// a FIFO and exits.
fn project() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "pt-dbt-fifo-{}-{}",
        std::process::id(),
        UNIX_EPOCH.elapsed().map(|d| d.as_nanos()).unwrap_or(0)
    ));
    std::fs::create_dir_all(dir.join("bin")).expect("mkdir");
    let dbt = dir.join("bin/dbt");
    std::fs::write(
        &dbt,
        "#!/bin/sh\nmkdir -p target && rm -f target/run_results.json && \
         mkfifo target/run_results.json\n",
    )
    .expect("write dbt");
    std::fs::set_permissions(&dbt, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// Writes `RESULTS` into the FIFO once a reader has it open (opening the
/// writing end without a reader fails with ENXIO: no blocking here either).
async fn write_results(fifo: &Path) {
    loop {
        match tokio::net::unix::pipe::OpenOptions::new().open_sender(fifo) {
            Ok(mut tx) => {
                tx.write_all(RESULTS.as_bytes()).await.expect("write");
                return;
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error()) =>
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => panic!("open {}: {e}", fifo.display()),
        }
    }
}

#[test]
fn dbt_results_are_read_off_the_runtime_thread() {
    let dir = project();
    let fifo = dir.join("target/run_results.json");
    let (tx, rx) = mpsc::channel::<Result<ProcessOutput, ProcessError>>();
    let (d, f) = (dir.clone(), fifo.clone());
    let runner = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let run = PipelineRun::start("off_runtime", "fifo-1");
        let out = rt.block_on(run.scope(async {
            let mut cmd = Command::new(d.join("bin/dbt"));
            cmd.arg("run").current_dir(&d);
            let stage = ProcessStage::new(&DBT, cmd).run_async();
            let (out, ()) = tokio::join!(stage, write_results(&f));
            out
        }));
        run.finish();
        let _ = tx.send(out);
    });
    // A watchdog, not a timing: the stage ends at once or never.
    let out = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out,
        Err(_) => {
            // Unblock the stuck runtime thread (it waits for a writer);
            // its writer task then waits for a reader forever: the thread
            // is left to end with the test binary.
            drop(std::fs::OpenOptions::new().write(true).open(&fifo));
            drop(runner);
            panic!(
                "the stage never ended: run_results.json was read on the runtime's \
                 thread, which its writer task shares"
            );
        }
    };
    runner.join().expect("runner");
    let out = out.expect("dbt exits 0");
    let report = out.dbt.expect("dbt results read");
    assert_eq!(report.problem, None);
    assert_eq!(report.nodes.len(), 1, "{report:?}");
    assert_eq!(report.nodes[0].unique_id, "model.shop.orders");
    assert_eq!(report.rows_affected, 7);
    let _ = std::fs::remove_dir_all(&dir);
}
