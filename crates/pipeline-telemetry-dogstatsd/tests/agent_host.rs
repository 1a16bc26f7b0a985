//! The Agent's host, given by name, is resolved on the flusher: a name
//! that does not resolve at start is not fatal (the exporter starts, drops
//! and counts, reports it once, keeps retrying), and the name is resolved
//! again on a schedule and after send errors, so metrics follow an Agent
//! that moves. Real UDP receivers stand in for the Agent at its addresses;
//! the resolver is the test's own table (no DNS server is involved).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pipeline_telemetry_dogstatsd::{CounterHandle, DogStatsDBuilder, Target};
use pipeline_telemetry_test_support::UdpReceiver;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Counts the exporter's warnings that say the host does not resolve.
struct CountResolveWarnings(Arc<AtomicUsize>);

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for CountResolveWarnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        if *event.metadata().level() == tracing::Level::WARN && m.0.contains("cannot resolve") {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

type Table = Arc<Mutex<Option<SocketAddr>>>;

fn set(table: &Table, addr: Option<SocketAddr>) {
    *table.lock().unwrap_or_else(PoisonError::into_inner) = addr;
}

fn addr(rx: &UdpReceiver) -> SocketAddr {
    rx.addr().parse().expect("socket address")
}

/// Increments and flushes until `rx` receives the counter (bounded).
fn until_received(rx: &UdpReceiver, guard: &pipeline_telemetry_dogstatsd::DogStatsDGuard) {
    let c = CounterHandle::register("resolve.count", &[]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        c.increment(1);
        guard.flush();
        let lines = rx.lines_until(Duration::from_millis(100), |l| {
            l.iter().any(|l| l.starts_with("resolve.count:"))
        });
        if lines.iter().any(|l| l.starts_with("resolve.count:")) {
            return;
        }
    }
    panic!("the exporter never sent to {}", rx.addr());
}

fn exporter(table: &Table, every: Duration) -> pipeline_telemetry_dogstatsd::DogStatsDGuard {
    let t = table.clone();
    DogStatsDBuilder::new(Target::Udp("datadog-agent:8125".into()))
        .with_origin_detection(false)
        .with_telemetry(false)
        .with_flush_interval(Duration::from_secs(3600))
        .with_resolve_interval(every)
        .with_resolver(move |host| {
            assert_eq!(host, "datadog-agent:8125");
            t.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .map(|a| vec![a])
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such host"))
        })
        .start()
        .expect("starts whether or not the host resolves")
}

#[test]
fn agent_host_is_resolved_again_and_never_fatal() {
    let warnings = Arc::new(AtomicUsize::new(0));
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(CountResolveWarnings(warnings.clone())),
    )
    .expect("subscriber");
    let table: Table = Arc::new(Mutex::new(None));

    // Unresolvable at start: starts, drops and counts, warns once.
    let guard = exporter(&table, Duration::from_millis(50));
    let c = CounterHandle::register("resolve.count", &[]);
    for _ in 0..5 {
        c.increment(1);
        guard.flush();
    }
    let stats = guard.stats();
    assert!(stats.packets_dropped >= 1, "{stats:?}");
    assert_eq!(stats.packets_sent, 0, "{stats:?}");
    assert_eq!(warnings.load(Ordering::Relaxed), 1, "reported once");

    // It resolves: retried, delivery starts.
    let a = UdpReceiver::bind().expect("bind");
    set(&table, Some(addr(&a)));
    until_received(&a, &guard);

    // The Agent moves: the schedule picks the new address up.
    let b = UdpReceiver::bind().expect("bind");
    set(&table, Some(addr(&b)));
    until_received(&b, &guard);
    drop(guard);

    // A schedule too long to matter: a send error (the old address refuses)
    // makes the exporter look again.
    let c_rx = UdpReceiver::bind().expect("bind");
    set(&table, Some(addr(&c_rx)));
    let guard = exporter(&table, Duration::from_secs(3600));
    until_received(&c_rx, &guard);
    let d = UdpReceiver::bind().expect("bind");
    set(&table, Some(addr(&d)));
    drop(c_rx); // nothing listens at the old address any more
    until_received(&d, &guard);
    assert!(guard.stats().errors >= 1);
    drop(guard);
    assert_eq!(warnings.load(Ordering::Relaxed), 1, "still reported once");
}
