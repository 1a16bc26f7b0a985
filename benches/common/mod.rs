//! Set-up shared by the benches: the criterion configuration (with a quick
//! mode), loopback UDP receivers, and each exporter in its best
//! configuration. Every exporter sends only to a socket bound on
//! 127.0.0.1 by this process.
#![allow(dead_code)]

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use criterion::Criterion;

pub(crate) mod http_sink;

/// `PT_BENCH_QUICK=1` shortens every group (1 s warm-up, 2 s measurement,
/// 20 samples) so that the whole set runs in a few minutes. Criterion's own
/// flags (`--warm-up-time`, `--measurement-time`, `--sample-size`) given
/// after `--` still override this.
pub(crate) fn config() -> Criterion {
    let c = Criterion::default();
    if quick() {
        c.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20)
    } else {
        c
    }
}

/// Whether the quick mode is on.
pub(crate) fn quick() -> bool {
    std::env::var_os("PT_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0")
}

/// A UDP socket bound on 127.0.0.1 that nobody reads: what the exporters
/// send to in the hot-path benches. Datagrams that do not fit in its
/// receive buffer are dropped by the kernel at no cost to the bench, and
/// the sockets see no "connection refused" because the port is bound.
pub(crate) fn blackhole() -> &'static UdpSocket {
    static SOCKET: OnceLock<UdpSocket> = OnceLock::new();
    SOCKET.get_or_init(|| UdpSocket::bind("127.0.0.1:0").expect("bind a loopback UDP socket"))
}

/// `127.0.0.1:<port>` of [`blackhole`].
pub(crate) fn blackhole_addr() -> String {
    blackhole().local_addr().expect("local addr").to_string()
}

/// Starts this project's exporter once per process, sending to
/// [`blackhole`] every second (the default interval); buffers filling up
/// wake the flusher earlier.
pub(crate) fn start_ours() -> &'static pipeline_telemetry_dogstatsd::DogStatsDGuard {
    use pipeline_telemetry_dogstatsd::{DogStatsDBuilder, DogStatsDGuard, Target};
    static GUARD: OnceLock<DogStatsDGuard> = OnceLock::new();
    GUARD.get_or_init(|| {
        DogStatsDBuilder::new(Target::Udp(blackhole_addr()))
            .start()
            .expect("start the exporter")
    })
}

/// `metrics-exporter-dogstatsd` in its fastest configuration for the hot
/// path: the synchronous forwarder thread (its only backend), aggressive
/// aggregation, its own telemetry off, histograms sent as distributions.
/// `sampling` chooses the bounded sampling reservoir over the unbounded
/// raw bucket for histograms.
pub(crate) fn metrics_exporter_dogstatsd(
    addr: &str,
    flush: Option<Duration>,
    sampling: bool,
) -> metrics_exporter_dogstatsd::DogStatsDRecorder {
    use metrics_exporter_dogstatsd::{AggregationMode, DogStatsDBuilder};
    let mut b = DogStatsDBuilder::default()
        .with_remote_address(addr)
        .expect("remote address")
        .with_aggregation_mode(AggregationMode::Aggressive)
        .with_telemetry(false)
        .with_histogram_sampling(sampling)
        .send_histograms_as_distributions(true);
    if let Some(f) = flush {
        b = b.with_flush_interval(f);
    }
    b.build().expect("build metrics-exporter-dogstatsd")
}

/// `metrics-exporter-statsd`: cadence's buffered UDP sink behind its
/// bounded queuing sink; buffer sized to a full datagram, queue 64 Ki.
pub(crate) fn metrics_exporter_statsd(addr: &str) -> metrics_exporter_statsd::StatsdRecorder {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    metrics_exporter_statsd::StatsdBuilder::from(host, port.parse().expect("port"))
        .with_client_udp_host("127.0.0.1")
        .with_buffer_size(1432)
        .with_queue_size(65_536)
        .histogram_is_distribution()
        .build(None)
        .expect("build metrics-exporter-statsd")
}

/// `cadence` with its buffered UDP sink (one datagram of 1432 bytes is
/// written when full, on the calling thread).
pub(crate) fn cadence_buffered(addr: &str) -> cadence::StatsdClient {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.set_nonblocking(true).expect("nonblocking");
    let sink = cadence::BufferedUdpMetricSink::with_capacity(addr, socket, 1432).expect("sink");
    cadence::StatsdClient::from_sink("", sink)
}

/// `cadence` with the buffered UDP sink behind its queuing sink (a worker
/// thread writes; the caller only formats and enqueues), queue 64 Ki.
pub(crate) fn cadence_queuing(addr: &str) -> cadence::StatsdClient {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.set_nonblocking(true).expect("nonblocking");
    let sink = cadence::BufferedUdpMetricSink::with_capacity(addr, socket, 1432).expect("sink");
    let queued = cadence::QueuingMetricSink::with_capacity(sink, 65_536);
    cadence::StatsdClient::from_sink("", queued)
}

/// The `dogstatsd` crate with batching on: the caller formats each metric
/// and sends it over a channel to a batching thread that packs 1432-byte
/// datagrams (or sends what it has every 10 ms).
pub(crate) fn dogstatsd_batching(addr: &str) -> dogstatsd::Client {
    let options = dogstatsd::Options::new(
        "127.0.0.1:0",
        addr,
        "",
        Vec::new(),
        None,
        Some(dogstatsd::BatchingOptions {
            max_buffer_size: 1432,
            max_time: Duration::from_millis(10),
            max_retry_attempts: 0,
            initial_retry_delay: 1,
        }),
    );
    dogstatsd::Client::new(options).expect("dogstatsd client")
}

/// Counts what arrives on a UDP socket bound on 127.0.0.1: datagrams,
/// bytes and metric values (the values of multi-value lines count one
/// each) of the metrics whose name starts with `prefix`.
#[derive(Debug)]
pub(crate) struct Receiver {
    addr: String,
    pub counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What a [`Receiver`] counted.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub datagrams: AtomicU64,
    pub bytes: AtomicU64,
    pub values: AtomicU64,
    /// What Datadog would count: each value weighted by `int64(1 / rate)`
    /// of its line's `|@rate` field (1 when absent), as the Agent
    /// truncates it, in thousandths.
    pub scaled_milli: AtomicU64,
}

impl Receiver {
    /// Binds 127.0.0.1:0 with a 4 MiB receive buffer (as the Agent's
    /// `dogstatsd_so_rcvbuf` would) and drains it on its own thread.
    pub(crate) fn start(prefix: &'static str) -> Self {
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )
        .expect("socket");
        // Best effort: capped by the kernel's rmem_max.
        let _ = socket.set_recv_buffer_size(4 << 20);
        let bind: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        socket.bind(&bind.into()).expect("bind 127.0.0.1");
        let socket: UdpSocket = socket.into();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let addr = socket.local_addr().expect("addr").to_string();
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (counts.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("udp-receiver".into())
            .spawn(move || {
                let mut buf = vec![0u8; 65_536];
                while !s.load(Ordering::Relaxed) {
                    let Ok(n) = socket.recv(&mut buf) else {
                        continue;
                    };
                    let (values, scaled) = count_values(&buf[..n], prefix.as_bytes());
                    c.datagrams.fetch_add(1, Ordering::Relaxed);
                    c.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    c.scaled_milli.fetch_add(scaled, Ordering::Relaxed);
                    c.values.fetch_add(values, Ordering::Release);
                }
            })
            .expect("spawn receiver");
        Receiver {
            addr,
            counts,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:<port>`.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// Values received so far.
    pub(crate) fn values(&self) -> u64 {
        self.counts.values.load(Ordering::Acquire)
    }

    /// What Datadog would count from the values received so far (each
    /// weighted by the truncated inverse of its line's sample rate).
    pub(crate) fn scaled(&self) -> f64 {
        self.counts.scaled_milli.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// Datagrams received so far.
    pub(crate) fn datagrams(&self) -> u64 {
        self.counts.datagrams.load(Ordering::Relaxed)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The number of values in the lines of `datagram` whose metric name starts
/// with `prefix` (`name:v1:v2|d|#tags` holds two), and what Datadog counts
/// for them in thousandths: each value weighs `int64(1 / rate)` (the
/// Agent's `quantile.Agent.Insert` truncates) where the line carries
/// `|@rate`.
pub(crate) fn count_values(datagram: &[u8], prefix: &[u8]) -> (u64, u64) {
    let mut values = 0;
    let mut scaled = 0.0;
    for line in datagram
        .split(|&b| b == b'\n')
        .filter(|line| line.starts_with(prefix))
    {
        let mut fields = line.split(|&b| b == b'|');
        let head = fields.next().unwrap_or(&[]);
        let n = head.iter().filter(|&&b| b == b':').count() as u64;
        let rate = fields
            .find_map(|f| f.strip_prefix(b"@"))
            .and_then(|r| std::str::from_utf8(r).ok()?.parse::<f64>().ok())
            .filter(|r| *r > 0.0 && *r <= 1.0)
            .unwrap_or(1.0);
        values += n;
        scaled += n as f64 * (1.0 / rate).trunc();
    }
    (values, (scaled * 1000.0).round() as u64)
}
