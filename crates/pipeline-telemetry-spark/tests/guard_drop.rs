//! Dropping the monitor's guard never blocks, inside an async runtime or
//! not: against an API that accepts connections and does not answer until
//! the test lets it, the drop returns while the final read is still
//! waiting for its answer; the monitor's thread then finishes that read on
//! its own and reports the jobs.
//!
//! On the old code the drop waited for the final read up to the stop
//! timeout (here an hour): the watchdog below failed.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use pipeline_telemetry_spark::SparkMonitor;
use support::*;

/// A watchdog only: the drop is expected at once, this is how long the
/// test waits before calling it blocked.
const WATCHDOG: Duration = Duration::from_secs(60);

#[test]
fn dropping_the_guard_inside_a_runtime_never_waits_for_the_final_read() {
    metrics();
    let recorded = FakeSpark::start();
    let id = recorded.with_recorded_app();
    recorded.set(
        "applications",
        fixture("applications.json").replace("pt-spark-test", "drop-guard"),
    );
    recorded.set(&format!("applications/{id}/jobs"), fixture("jobs.json"));

    // A proxy in front of the recorded API that holds every request until
    // the test releases it.
    let proxy = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", proxy.local_addr().expect("addr"));
    let (arrived_tx, arrived) = mpsc::channel::<()>();
    let (release, released) = mpsc::channel::<()>();
    let upstream = recorded.addr;
    std::thread::spawn(move || {
        for stream in proxy.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            let mut header = String::new();
            while reader
                .read_line(&mut header)
                .map(|n| n > 2)
                .unwrap_or(false)
            {
                header.clear();
            }
            let _ = arrived_tx.send(());
            if released.recv().is_err() {
                return;
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let body = reqwest::blocking::get(format!("http://{upstream}{path}"))
                .and_then(|r| r.text())
                .unwrap_or_default();
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });

    let monitor = SparkMonitor::new(url)
        .with_interval(Duration::from_secs(3600))
        .with_request_timeout(Duration::from_secs(3600))
        .with_stop_timeout(Duration::from_secs(3600))
        .start()
        .expect("start");
    // The first poll's first request is held by the proxy.
    arrived.recv_timeout(WATCHDOG).expect("the first poll");

    let (dropped_tx, dropped) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async move { drop(monitor) });
        let _ = dropped_tx.send(());
    });
    dropped
        .recv_timeout(WATCHDOG)
        .expect("the drop returned while the poll was still held (it must not wait for it)");

    // Released now, the thread finishes the poll and its final read alone.
    std::thread::spawn(move || {
        while release.send(()).is_ok() {
            if arrived.recv_timeout(Duration::from_secs(3600)).is_err() {
                return;
            }
        }
    });
    wait_for("the jobs reported after the drop", || {
        durations("drop-guard").len() >= 5
    });
    assert_eq!(durations("drop-guard").len(), 5);
}
