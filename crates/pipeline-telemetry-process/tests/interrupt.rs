//! `interrupt_children`: an application that handles Ctrl-C itself passes
//! it on to its stages' children, which their groups of their own keep
//! from the terminal's SIGINT. A real `sh` that exits 7 on SIGINT ends the
//! stage with `exit_7`; once the stage is over, no group is left to
//! signal. (A test binary of its own: the signal goes to every stage of
//! this process.)

use std::process::Command;
use std::time::{Duration, Instant};

use pipeline_telemetry::{PipelineRun, Stage};
use pipeline_telemetry_process::{interrupt_children, ProcessError, ProcessStage};

static INTERRUPTED: Stage = Stage::new("interrupted");

/// Whether a live process has `marker` as an argument.
fn running(marker: &str) -> bool {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == marker.as_bytes()))
        })
}

#[test]
fn interrupt_children_passes_ctrl_c_to_running_stages() {
    let marker = format!("300.{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let run = PipelineRun::start("interrupt_tests", "interrupt-1");
    let (result, signalled) = rt.block_on(run.scope(async {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", &format!("trap 'exit 7' INT; sleep {marker} & wait")]);
        let stage = ProcessStage::new(&INTERRUPTED, cmd)
            .with_grace(Duration::from_millis(500))
            .run_async();
        let interrupter = async {
            // A watchdog, not a timing: the child starts at once.
            let deadline = Instant::now() + Duration::from_secs(30);
            while !running(&marker) {
                assert!(Instant::now() < deadline, "the stage never started");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            interrupt_children()
        };
        tokio::join!(stage, interrupter)
    }));
    run.finish();
    assert_eq!(signalled, 1, "one stage was running");
    let err = result.expect_err("the child exits 7 on SIGINT");
    assert!(matches!(err, ProcessError::Exit { code: 7, .. }), "{err:?}");
    assert_eq!(err.error_type(), "exit_7");
    assert_eq!(interrupt_children(), 0, "no stage is running any more");
    assert!(
        !running(&marker),
        "the background sleep went with its group"
    );
}
