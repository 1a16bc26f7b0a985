//! Shared by the fixture tests: a stand-in for Spark's REST API on loopback
//! that serves the recorded fixtures (and can fail, or vanish), and the
//! DogStatsD lines the monitor produced.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use pipeline_telemetry_dogstatsd::parse::{parse_datagram, ParsedMetric};
use pipeline_telemetry_dogstatsd::{DogStatsDBuilder, DogStatsDGuard, MemorySink, Target};

pub(crate) fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What one path answers: a status and a body.
pub(crate) type Answer = (u16, String);

/// A loopback HTTP server answering GETs from a table that the test
/// changes while the monitor runs; `down` makes it close every connection
/// unanswered (as a dead UI would refuse them).
#[derive(Clone)]
pub(crate) struct FakeSpark {
    pub addr: SocketAddr,
    routes: Arc<Mutex<HashMap<String, Answer>>>,
    down: Arc<AtomicBool>,
    pub requests: Arc<AtomicUsize>,
}

impl FakeSpark {
    pub(crate) fn start() -> FakeSpark {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let server = FakeSpark {
            addr: listener.local_addr().expect("addr"),
            routes: Arc::default(),
            down: Arc::default(),
            requests: Arc::default(),
        };
        let s = server.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || s.serve(stream));
            }
        });
        server
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves `body` (200) at `/api/v1/<path>`.
    pub(crate) fn set(&self, path: &str, body: impl Into<String>) {
        self.answer(path, 200, body);
    }

    pub(crate) fn answer(&self, path: &str, status: u16, body: impl Into<String>) {
        let mut routes = self.routes.lock().expect("routes");
        routes.insert(format!("/api/v1/{path}"), (status, body.into()));
    }

    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The recorded application: one app, its executors and failed stages.
    pub(crate) fn with_recorded_app(&self) -> String {
        let apps: serde_json::Value =
            serde_json::from_str(&fixture("applications.json")).expect("json");
        let id = apps[0]["id"].as_str().expect("id").to_owned();
        self.set("applications", fixture("applications.json"));
        self.set(
            &format!("applications/{id}/executors"),
            fixture("executors.json"),
        );
        self.set(
            &format!("applications/{id}/stages?status=failed"),
            fixture("stages_failed.json"),
        );
        id
    }

    fn serve(&self, stream: TcpStream) {
        let mut reader = BufReader::new(match stream.try_clone() {
            Ok(s) => s,
            Err(_) => return,
        });
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            return;
        }
        let mut header = String::new();
        while reader
            .read_line(&mut header)
            .map(|n| n > 2)
            .unwrap_or(false)
        {
            header.clear();
        }
        self.requests.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return; // closed without an answer
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned();
        let (status, body) = self
            .routes
            .lock()
            .expect("routes")
            .get(&path)
            .cloned()
            .unwrap_or((404, "no such path".to_owned()));
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}

/// The DogStatsD exporter of this test binary, writing to memory.
pub(crate) fn metrics() -> &'static (MemorySink, DogStatsDGuard) {
    static M: OnceLock<(MemorySink, DogStatsDGuard)> = OnceLock::new();
    M.get_or_init(|| {
        let sink = MemorySink::new();
        let guard = DogStatsDBuilder::new(Target::Memory(sink.clone()))
            .with_origin_detection(false)
            .install()
            .expect("the DogStatsD exporter");
        (sink, guard)
    })
}

/// Every metric line sent so far (after a flush) tagged `app_name:<app>`.
pub(crate) fn lines_of_app(app: &str) -> Vec<ParsedMetric> {
    let (sink, guard) = metrics();
    guard.flush();
    let tag = format!("app_name:{app}");
    sink.lines()
        .iter()
        .flat_map(|l| parse_datagram(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .filter(|m| m.tags.contains(&tag))
        .collect()
}

/// The `spark.job.duration` samples of `app`: (job tag, status tag, seconds).
pub(crate) fn durations(app: &str) -> Vec<(String, String, f64)> {
    lines_of_app(app)
        .into_iter()
        .filter(|m| m.name == "spark.job.duration")
        .flat_map(|m| {
            let job = m.tag("job").unwrap_or("").to_owned();
            let status = m.tag("status").unwrap_or("").to_owned();
            m.values
                .into_iter()
                .map(move |v| (job.clone(), status.clone(), v))
        })
        .collect()
}

/// Waits (at most 20 s) until `done` holds.
pub(crate) fn wait_for(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Spark's time format, read independently of the crate's parser: the
/// milliseconds since midnight of `...THH:MM:SS.mmmGMT` plus the date's
/// day count, enough to subtract two times of one test run.
pub(crate) fn spark_millis(s: &str) -> i64 {
    let (date, time) = s.trim_end_matches("GMT").split_once('T').expect("a T");
    let day: i64 = date.replace('-', "").parse().expect("date");
    let (hms, ms) = time.split_once('.').expect("millis");
    let mut p = hms.split(':').map(|x| x.parse::<i64>().expect("hms"));
    let (h, m, sec) = (
        p.next().expect("h"),
        p.next().expect("m"),
        p.next().expect("s"),
    );
    // Days are only compared within one run: a day change adds 86 400 s.
    (day % 100) * 86_400_000 + ((h * 60 + m) * 60 + sec) * 1000 + ms.parse::<i64>().expect("ms")
}
