//! `pipeline-telemetry-cli dev`: a local stand-in for the Datadog backend.
//!
//! A DogStatsD receiver (UDP, or a Unix datagram socket) keeps what
//! arrives as the Agent aggregates it ([`store`]); a small HTTP server
//! evaluates the dashboard's widgets and the guide's monitors over it with
//! the monitors crate's evaluator ([`view`]) and serves them as a page
//! ([`page`], graphs in [`svg`]) and as JSON (`/api/dashboard`,
//! `/api/monitors`). Spans exported over OTLP/HTTP to the same address
//! (`POST /v1/traces`) show as waterfalls of the recent runs ([`traces`]),
//! and log records (`POST /v1/logs`) in the log-stream widget ([`logs`]).

mod api;
mod app;
mod formula;
mod http;
mod logs;
mod otlp;
mod page;
mod store;
mod svg;
mod traces;
mod view;

use std::fmt;
use std::io::{self, Write as _};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use pipeline_telemetry_monitors::dashboard;
use pipeline_telemetry_monitors::guide::{guide_monitors, Routing};
use serde_json::Value;

use app::App;
use logs::Logs;
use store::{Limits, Store};
use traces::Traces;

/// Recent traces shown on the page and in `/api/traces`.
const RECENT_TRACES: usize = 10;

/// The default DogStatsD address: the Agent's.
pub(crate) const DEFAULT_DOGSTATSD: &str = "127.0.0.1:8125";
/// The default page address: a loopback port no Datadog component uses.
pub(crate) const DEFAULT_HTTP: &str = "127.0.0.1:8877";
/// The default history window, in minutes.
pub(crate) const DEFAULT_WINDOW_MINUTES: u64 = 60;
/// The Agent's receive buffer (`dogstatsd_so_rcvbuf`), so that a burst is
/// not dropped by the kernel while the receiver is busy.
const RECEIVE_BUFFER: usize = 8 * 1024 * 1024;

/// `dev`'s options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    pub dogstatsd: String,
    pub http: String,
    pub window_minutes: u64,
    pub dashboard: Option<PathBuf>,
}

/// Why `dev` could not start.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum DevError {
    Bind {
        what: &'static str,
        addr: String,
        source: io::Error,
    },
    Dashboard {
        path: String,
        source: io::Error,
    },
    DashboardJson {
        path: String,
        source: serde_json::Error,
    },
}

impl fmt::Display for DevError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DevError::Bind { what, addr, source } => {
                write!(f, "cannot listen for {what} on {addr}: {source}")
            }
            DevError::Dashboard { path, source } => write!(f, "{path}: {source}"),
            DevError::DashboardJson { path, source } => {
                write!(f, "{path}: not a dashboard JSON: {source}")
            }
        }
    }
}

impl std::error::Error for DevError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DevError::Bind { source, .. } | DevError::Dashboard { source, .. } => Some(source),
            DevError::DashboardJson { source, .. } => Some(source),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

enum Receiver {
    Udp(UdpSocket),
    Unix(UnixDatagram),
}

impl Receiver {
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Receiver::Udp(s) => s.recv(buf),
            Receiver::Unix(s) => s.recv(buf),
        }
    }
}

fn resolve(addr: &str, what: &'static str) -> Result<SocketAddr, DevError> {
    let bind_err = |source| DevError::Bind {
        what,
        addr: addr.to_owned(),
        source,
    };
    addr.to_socket_addrs()
        .map_err(bind_err)?
        .next()
        .ok_or_else(|| bind_err(io::Error::new(io::ErrorKind::NotFound, "no address")))
}

fn warn_if_public(addr: &SocketAddr, what: &str) {
    if !addr.ip().is_loopback() {
        eprintln!("warning: {what} listens on {addr}, which is not a loopback address");
    }
}

/// Binds the DogStatsD socket: `host:port`, `udp://host:port` or
/// `unix:///path` (also `unixgram://`). Returns it and its description.
fn bind_dogstatsd(spec: &str) -> Result<(Receiver, String), DevError> {
    let bind_err = |source| DevError::Bind {
        what: "DogStatsD",
        addr: spec.to_owned(),
        source,
    };
    if let Some(path) = spec
        .strip_prefix("unix://")
        .or_else(|| spec.strip_prefix("unixgram://"))
    {
        use std::os::unix::fs::FileTypeExt;
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
            std::fs::remove_file(path).map_err(bind_err)?;
        }
        let socket = UnixDatagram::bind(path).map_err(bind_err)?;
        return Ok((Receiver::Unix(socket), format!("unix://{path}")));
    }
    let addr = resolve(spec.strip_prefix("udp://").unwrap_or(spec), "DogStatsD")?;
    warn_if_public(&addr, "DogStatsD");
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        None,
    )
    .map_err(bind_err)?;
    // Best effort: the kernel caps it (net.core.rmem_max).
    let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
    socket.bind(&addr.into()).map_err(bind_err)?;
    let socket: UdpSocket = socket.into();
    let local = socket.local_addr().map_err(bind_err)?;
    Ok((Receiver::Udp(socket), format!("udp://{local}")))
}

fn load_dashboard(path: Option<&PathBuf>) -> Result<Value, DevError> {
    let Some(path) = path else {
        return Ok(dashboard::dashboard());
    };
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| DevError::Dashboard {
        path: shown.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| DevError::DashboardJson {
        path: shown,
        source,
    })
}

/// Runs `dev` until the process is stopped.
pub(crate) fn run(options: &Options, routing: &Routing) -> Result<(), DevError> {
    let dashboard = load_dashboard(options.dashboard.as_ref())?;
    let (receiver, dogstatsd) = bind_dogstatsd(&options.dogstatsd)?;
    let http_addr = resolve(&options.http, "HTTP")?;
    warn_if_public(&http_addr, "the dashboard page");
    let listener = TcpListener::bind(http_addr).map_err(|source| DevError::Bind {
        what: "HTTP",
        addr: options.http.clone(),
        source,
    })?;
    let page = listener.local_addr().map_or(http_addr, |a| a);
    let store = Arc::new(Mutex::new(Store::new(Limits::new(options.window_minutes))));
    let ingest = Arc::clone(&store);
    std::thread::Builder::new()
        .name("dogstatsd-receiver".into())
        .spawn(move || {
            let mut buf = vec![0u8; 65_536];
            loop {
                // A failed receive (e.g. an ICMP error surfaced on the
                // socket) loses nothing that can be read: go on.
                if let Ok(n) = receiver.recv(&mut buf) {
                    lock(&ingest).ingest(&buf[..n], unix_now());
                }
            }
        })
        .map_err(|source| DevError::Bind {
            what: "DogStatsD",
            addr: dogstatsd.clone(),
            source,
        })?;
    let port_hint = dogstatsd.rsplit(':').next().unwrap_or("8125");
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "pipeline-telemetry dev: DogStatsD on {dogstatsd}");
    let _ = writeln!(
        out,
        "pipeline-telemetry dev: dashboard on http://{page}/ (JSON: /api/dashboard, /api/monitors)"
    );
    let _ = writeln!(
        out,
        "pipeline-telemetry dev: try DD_AGENT_HOST=127.0.0.1 DD_DOGSTATSD_PORT={port_hint} cargo run --example etl_pipeline"
    );
    let _ = writeln!(
        out,
        "pipeline-telemetry dev: spans and logs: OTEL_EXPORTER_OTLP_ENDPOINT=http://{page} (OTLP/HTTP protobuf: the `otlp-http` feature of pipeline-telemetry; logs with PIPELINE_TELEMETRY_OTLP_LOGS=1)"
    );
    let _ = out.flush();
    drop(out);
    let monitors = guide_monitors(routing);
    let app = App {
        names: view::metric_names(&dashboard, &monitors),
        kept: Mutex::new(None),
        dashboard,
        monitors,
        store,
        traces: Mutex::new(Traces::default()),
        logs: Mutex::new(Logs::default()),
        dogstatsd,
    };
    http::serve(listener, |r| app.handle(r), http::Config::default());
    Ok(())
}
