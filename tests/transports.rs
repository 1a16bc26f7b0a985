//! The exporter over every transport, with real receiver sockets: UDP on
//! loopback, a Unix datagram socket and a Unix stream socket (length-prefixed
//! frames) in a temporary directory; the Agent absent and coming back; a
//! full Unix socket queue; and clean shutdowns that lose nothing while the
//! Agent reads, many times in a row, with concurrent writers.

use std::io::Read;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use pipeline_telemetry_dogstatsd::parse::{parse_datagram, ParsedMetric};
use pipeline_telemetry_dogstatsd::{CounterHandle, DistributionHandle, DogStatsDBuilder, Target};
use pipeline_telemetry_test_support::{UdpReceiver, UnixDatagramReceiver};

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
    // Every line ends with `\n`, the last one of a datagram too (an Agent
    // with `dogstatsd_eol_required` drops an unterminated last line).
    for d in datagrams {
        assert!(d.ends_with(b"\n"), "{:?}", String::from_utf8_lossy(d));
        assert!(!d.windows(2).any(|w| w == b"\n\n"), "empty line");
    }
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
    // Counted and flushed again until it arrives: the first flushes may
    // still fall inside the reconnect back-off (no sleep guessing its end);
    // the deadline only matters when delivery never resumes.
    let rx = UnixDatagram::bind(&path).expect("bind");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    while Instant::now() < deadline {
        c.increment(5);
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

/// Records from `THREADS` concurrent writers, shuts down cleanly while a
/// receiver thread reads, and checks that every sample and increment of
/// this round arrived. `recv` reads what arrived until `done` holds or a
/// bounded wait passes.
fn shutdown_round<R: Sync>(
    round: usize,
    rx: &R,
    url: &str,
    recv: impl Fn(&R, Duration, &dyn Fn(&[String]) -> bool) -> Vec<String> + Sync,
) {
    const THREADS: u32 = 4;
    const PER_THREAD: u32 = 5_000;
    let n = (THREADS * PER_THREAD) as usize;
    let dist = format!("shutdown.dist.r{round}");
    let count = format!("shutdown.count.r{round}");
    let tally = |lines: &[String]| -> (usize, f64) {
        let mut samples = 0;
        let mut increments = 0.0;
        for l in lines {
            let m = pipeline_telemetry_dogstatsd::parse::parse_line(l)
                .unwrap_or_else(|e| panic!("{e}"));
            if m.name == dist {
                samples += m.values.len();
            } else if m.name == count {
                increments += m.values.iter().sum::<f64>();
            }
        }
        (samples, increments)
    };
    let lines = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            recv(rx, Duration::from_secs(30), &|l: &[String]| {
                tally(l) == (n, n as f64)
            })
        });
        // Every sample is sent (no reservoir sampling below this bound):
        // this checks delivery, sample by sample.
        let guard = builder(Target::parse_url(url, "test").expect("url"))
            .with_max_samples_per_series(PER_THREAD as usize)
            .start()
            .expect("start");
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (dist, count) = (&dist, &count);
                s.spawn(move || {
                    let d = DistributionHandle::register(dist, &[("w", &t.to_string())]);
                    let c = CounterHandle::register(count, &[]);
                    for i in 0..PER_THREAD {
                        d.record(f64::from(i));
                        c.increment(1);
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        let before = guard.stats();
        assert_eq!(before.samples_dropped, 0, "round {round}: {before:?}");
        drop(guard);
        reader.join().expect("reader")
    });
    assert_eq!(tally(&lines), (n, n as f64), "round {round}: points lost");
}

#[test]
fn clean_shutdown_over_uds_loses_nothing_20_times() {
    let _s = serial();
    // net.unix.max_dgram_qlen (10 here) datagrams fill the queue at once:
    // the flusher must wait for the reader, bounded, not drop.
    for round in 0..20 {
        let rx = UnixDatagramReceiver::bind().expect("bind");
        shutdown_round(round, &rx, &rx.url(), |rx, limit, done| {
            rx.lines_until(limit, done)
        });
    }
}

#[test]
fn clean_shutdown_over_udp_loses_nothing_20_times() {
    let _s = serial();
    for round in 0..20 {
        let rx = UdpReceiver::bind().expect("bind");
        shutdown_round(round, &rx, &rx.url(), |rx, limit, done| {
            rx.lines_until(limit, done)
        });
    }
}

#[test]
fn full_unix_socket_waits_bounded_then_counts_the_drops() {
    let _s = serial();
    // A receiver that never reads: the queue fills, each flush waits once
    // (bounded), then the rest of what it holds is dropped and counted.
    let rx = UnixDatagramReceiver::bind().expect("bind");
    let guard = builder(Target::parse_url(&rx.url(), "test").expect("url"))
        .with_max_payload(512)
        .start()
        .expect("start");
    let d = DistributionHandle::register("full.dist", &[]);
    for i in 0..5_000 {
        d.record(f64::from(i));
    }
    guard.flush();
    let stats = guard.stats();
    assert!(stats.packets_sent > 0, "{stats:?}");
    assert!(stats.packets_dropped > 0, "{stats:?}");
    assert!(stats.metrics_dropped > 0, "{stats:?}");
    drop(guard);
    // What was queued before the queue filled is intact.
    let got = rx.drain(Duration::from_millis(200));
    assert_eq!(got.len() as u64, stats.packets_sent, "{stats:?}");
    let m = parse(&got);
    assert!(m.iter().all(|p| p.name == "full.dist"));
}

#[test]
fn samples_of_series_registered_during_a_flush_are_not_lost() {
    let _s = serial();
    // The flusher runs every millisecond while new series keep appearing,
    // each recorded into right after it is registered: a series registered
    // between the flusher's registry snapshot and its drain must still be
    // sent (or counted as dropped, never silently discarded). Noise threads
    // (started first, so their shards are drained first) keep every drain
    // long, as on a loaded machine.
    const SERIES: usize = 20_000;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let rx = UnixDatagramReceiver::bind().expect("bind");
    let done = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.starts_with("midflush.dist:"))
            .count()
            >= SERIES
    };
    let lines = std::thread::scope(|s| {
        let reader = s.spawn(|| rx.lines_until(Duration::from_secs(60), done));
        let guard = builder(Target::parse_url(&rx.url(), "test").expect("url"))
            .with_flush_interval(Duration::from_millis(1))
            .start()
            .expect("start");
        let noise: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let d = DistributionHandle::register("midflush.noise", &[]);
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        for i in 0..1000 {
                            d.record(f64::from(i));
                        }
                        std::thread::yield_now();
                    }
                })
            })
            .collect();
        let writers: Vec<_> = (0..2)
            .map(|t| {
                s.spawn(move || {
                    for i in 0..SERIES / 2 {
                        let tag = format!("{t}-{i}");
                        DistributionHandle::register("midflush.dist", &[("s", &tag)]).record(1.0);
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for n in noise {
            n.join().expect("noise");
        }
        let stats = guard.stats();
        drop(guard);
        let lines = reader.join().expect("reader");
        (lines, stats)
    });
    let (lines, stats) = lines;
    let samples: usize = lines
        .iter()
        .filter(|l| l.starts_with("midflush.dist:"))
        .map(|l| {
            pipeline_telemetry_dogstatsd::parse::parse_line(l)
                .expect("parses")
                .values
                .len()
        })
        .sum();
    // One sample per series, each in its own thread's ring (never full
    // here: the noise has rings of its own).
    assert_eq!(samples, SERIES, "samples lost: {stats:?}");
}
