//! The exporter over every transport, with real receiver sockets: UDP on
//! loopback, a Unix datagram socket and a Unix stream socket (length-prefixed
//! frames) in a temporary directory; the Agent absent and coming back; and a
//! clean shutdown that loses nothing.

use std::io::Read;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use pipeline_telemetry_dogstatsd::parse::{parse_datagram, ParsedMetric};
use pipeline_telemetry_dogstatsd::{CounterHandle, DistributionHandle, DogStatsDBuilder, Target};
use pipeline_telemetry_suite::UdpReceiver;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn temp_socket(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pt-transports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn parse(datagrams: &[Vec<u8>]) -> Vec<ParsedMetric> {
    datagrams
        .iter()
        .flat_map(|d| {
            parse_datagram(std::str::from_utf8(d).expect("utf-8")).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

fn total(m: &[ParsedMetric], name: &str) -> (usize, f64) {
    let v: Vec<f64> = m
        .iter()
        .filter(|p| p.name == name)
        .flat_map(|p| p.values.clone())
        .collect();
    (v.len(), v.iter().sum())
}

fn builder(target: Target) -> DogStatsDBuilder {
    DogStatsDBuilder::new(target)
        .with_origin_detection(false)
        .with_telemetry(false)
}

/// Records 3 counter increments and 500 distribution samples under `tag`.
fn record(tag: &str) {
    let c = CounterHandle::register("transport.count", &[("t", tag)]);
    let d = DistributionHandle::register("transport.dist", &[("t", tag)]);
    for i in 0..500 {
        d.record(f64::from(i) / 1000.0);
    }
    c.increment(3);
}

fn check(m: &[ParsedMetric], max_payload: usize, datagrams: &[Vec<u8>]) {
    assert!(datagrams.iter().all(|d| d.len() <= max_payload));
    assert_eq!(total(m, "transport.count"), (1, 3.0));
    assert_eq!(total(m, "transport.dist").0, 500);
}

/// Everything already delivered to `sock` (the exporter's sends are
/// synchronous, so after a flush it is all there).
fn recv_all_unixgram(sock: &UnixDatagram) -> Vec<Vec<u8>> {
    sock.set_nonblocking(true).expect("non-blocking");
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Ok(n) = sock.recv(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

#[test]
fn udp() {
    let _s = serial();
    let rx = UdpReceiver::bind().expect("bind");
    let guard = builder(Target::Udp(rx.addr())).start().expect("start");
    record("udp");
    drop(guard);
    let d = rx.drain(Duration::from_millis(300));
    check(&parse(&d), 1432, &d);
}

#[test]
fn unix_datagram() {
    let _s = serial();
    let path = temp_socket("dsd.socket");
    let rx = UnixDatagram::bind(&path).expect("bind unixgram");
    let url = format!("unixgram://{}", path.display());
    let target = Target::parse_url(&url, "test").expect("url");
    let guard = builder(target).start().expect("start");
    record("uds");
    drop(guard);
    let d = recv_all_unixgram(&rx);
    check(&parse(&d), 8192, &d);
    // The larger default payload packs more per datagram than UDP's 1432.
    assert!(d.iter().any(|x| x.len() > 1432));
}

#[test]
fn unix_stream_frames_are_length_prefixed() {
    let _s = serial();
    let path = temp_socket("dsd-stream.socket");
    let listener = UnixListener::bind(&path).expect("bind stream");
    let reader = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut all = Vec::new();
        conn.read_to_end(&mut all).expect("read");
        let mut frames = Vec::new();
        let mut rest = &all[..];
        while rest.len() >= 4 {
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            assert!(rest.len() >= 4 + len, "truncated frame");
            frames.push(rest[4..4 + len].to_vec());
            rest = &rest[4 + len..];
        }
        assert!(rest.is_empty(), "trailing bytes");
        frames
    });
    let url = format!("unixstream://{}", path.display());
    let guard = builder(Target::parse_url(&url, "test").expect("url"))
        .start()
        .expect("start");
    record("stream");
    drop(guard);
    // The transport is dropped with the exporter, closing the connection.
    let frames = reader.join().expect("reader");
    check(&parse(&frames), 8192, &frames);
}

#[test]
fn agent_down_never_blocks_stays_bounded_and_recovers() {
    let _s = serial();
    let path = temp_socket("absent.socket");
    let url = format!("unixgram://{}", path.display());
    let guard = DogStatsDBuilder::new(Target::parse_url(&url, "test").expect("url"))
        .with_origin_detection(false)
        .with_flush_interval(Duration::from_millis(20))
        .with_telemetry_interval(Duration::from_millis(50))
        .start()
        .expect("starts even though the Agent is absent");
    let d = DistributionHandle::register("down.dist", &[]);
    let c = CounterHandle::register("down.count", &[]);
    let mut peak = 0;
    for i in 0..1_000_000u32 {
        d.record(f64::from(i));
        c.increment(1);
        if i % 50_000 == 0 {
            guard.flush();
            peak = peak.max(guard.stats().buffered_samples);
        }
    }
    guard.flush();
    let stats = guard.stats();
    // Memory stays bounded: at most one ring of samples per thread is held.
    assert!(peak <= 8192, "peak buffered samples {peak}");
    assert!(
        stats.packets_dropped > 0 && stats.packets_sent == 0,
        "{stats:?}"
    );
    assert!(stats.errors > 0);

    // The Agent appears: delivery resumes, and telemetry reports the drops.
    let rx = UnixDatagram::bind(&path).expect("bind");
    std::thread::sleep(Duration::from_millis(600)); // past the reconnect back-off
    c.increment(5);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while Instant::now() < deadline {
        guard.flush();
        got.extend(recv_all_unixgram(&rx));
        let m = parse(&got);
        let dropped = m
            .iter()
            .filter(|p| p.name == "datadog.dogstatsd.client.packets_dropped")
            .flat_map(|p| p.values.iter())
            .sum::<f64>();
        if m.iter().any(|p| p.name == "down.count") && dropped > 0.0 {
            let t = m
                .iter()
                .find(|p| p.name == "datadog.dogstatsd.client.packets_dropped")
                .expect("telemetry");
            assert_eq!(t.tag("client"), Some("rust"));
            assert_eq!(t.tag("client_transport"), Some("uds"));
            assert!(t.has_tag_key("client_version"));
            drop(guard);
            return;
        }
        std::thread::sleep(Duration::from_millis(60));
    }
    panic!("delivery did not resume: {:?}", parse(&got));
}

#[test]
fn clean_shutdown_loses_nothing() {
    let _s = serial();
    let path = temp_socket("shutdown.socket");
    let rx = UnixDatagram::bind(&path).expect("bind");
    rx.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let collector = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while let Ok(n) = rx.recv(&mut buf) {
            out.push(buf[..n].to_vec());
        }
        out
    });
    let url = format!("unixgram://{}", path.display());
    let guard = builder(Target::parse_url(&url, "test").expect("url"))
        .start()
        .expect("start");
    const THREADS: u32 = 4;
    const PER_THREAD: u32 = 5_000;
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let d = DistributionHandle::register("shutdown.dist", &[("w", &t.to_string())]);
                let c = CounterHandle::register("shutdown.count", &[]);
                for i in 0..PER_THREAD {
                    d.record(f64::from(i));
                    c.increment(1);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let stats_before = guard.stats();
    drop(guard);
    let m = parse(&collector.join().expect("collector"));
    let n = (THREADS * PER_THREAD) as usize;
    assert_eq!(stats_before.samples_dropped, 0);
    assert_eq!(total(&m, "shutdown.dist").0, n, "samples lost");
    assert_eq!(total(&m, "shutdown.count").1, n as f64, "increments lost");
}
