//! Retried stages that must compile and run: inline policies, a policy
//! expression, arguments by value and by reference, methods, generics.
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::LazyLock;

use pipeline_telemetry::{instrument_stage, Backoff, RetryPolicy};

static CALLS: AtomicU32 = AtomicU32::new(0);

static POLICY: LazyLock<RetryPolicy<io::Error>> = LazyLock::new(|| {
    RetryPolicy::new(2)
        .with_backoff(Backoff::none())
        .retry_if(|e: &io::Error| e.kind() != io::ErrorKind::PermissionDenied)
});

#[instrument_stage(stage = "extract", retry(attempts = 3, backoff = "exponential", base_ms = 1, max_ms = 2, jitter = true))]
fn extract(mut rows: Vec<u32>, name: &str) -> Result<usize, io::Error> {
    rows.push(1);
    if CALLS.fetch_add(1, Ordering::Relaxed) < 2 {
        return Err(io::Error::other(format!("{name} reset")));
    }
    Ok(rows.len())
}

#[instrument_stage(retry = POLICY)]
fn denied() -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::PermissionDenied))
}

#[instrument_stage(retry(attempts = 2, backoff = "fixed", base_ms = 1, jitter = "equal", timeout_ms = 5000))]
async fn load<T: Clone + Send>(batch: Vec<T>, tag: &str) -> Result<usize, io::Error> {
    let _ = tag;
    Ok(batch.len())
}

struct Client;

impl Client {
    #[instrument_stage(retry(attempts = 2, backoff = "none"))]
    fn get(&mut self, path: String) -> Result<String, String> {
        Ok(path)
    }

    #[instrument_stage(retry = RetryPolicy::new(2).with_backoff(Backoff::none()))]
    async fn fetch(&self, id: u64) -> Result<u64, io::Error> {
        Ok(id)
    }
}

fn main() {
    assert_eq!(extract(vec![1], "db").unwrap(), 2);
    assert_eq!(CALLS.load(Ordering::Relaxed), 3);
    assert!(denied().is_err());
    let mut c = Client;
    assert_eq!(c.get("a".into()).unwrap(), "a");
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(load(vec![1, 2], "x")).unwrap(), 2);
    assert_eq!(rt.block_on(c.fetch(7)).unwrap(), 7);
}
