//! Wrapping a pool changes none of its options: `TracedPool::connect(url)`
//! builds the pool `PgPool::connect(url)` builds (sqlx's own defaults: the
//! 30 s acquire timeout, statements logged and slow ones warned about), and
//! `TracedPool::new` keeps a pool's own settings. Compared with what sqlx
//! itself reports for a pool it built, on the real PostgreSQL.
//!
//! On the old code `connect` set a 5 s acquire timeout and turned statement
//! logging (the slow-query warnings included) off: both comparisons failed.

use std::time::Duration;

use pipeline_telemetry_sqlx::TracedPool;
use pipeline_telemetry_test_support::peers;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::ConnectOptions;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn connect_builds_the_pool_sqlx_builds() {
    peers::require_tcp("127.0.0.1:5432", "PostgreSQL");
    let url = peers::database_url();
    let (traced, plain) = runtime().block_on(async {
        let traced = TracedPool::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}: run scripts/ensure-services.sh"));
        let plain = PgPool::connect(&url).await.expect("sqlx's own pool");
        (traced, plain)
    });
    let got = traced.pool();
    assert_eq!(
        got.options().get_acquire_timeout(),
        plain.options().get_acquire_timeout()
    );
    assert_eq!(
        format!("{:?}", got.options()),
        format!("{:?}", plain.options())
    );
    // The connect options hold the log settings (statement level, slow
    // statement level and threshold).
    assert_eq!(
        format!("{:?}", got.connect_options()),
        format!("{:?}", plain.connect_options())
    );
}

#[test]
fn new_keeps_the_pools_own_options() {
    peers::require_tcp("127.0.0.1:5432", "PostgreSQL");
    let url = peers::database_url();
    let pool = runtime().block_on(async {
        let opts = url
            .parse::<sqlx::postgres::PgConnectOptions>()
            .expect("url")
            .disable_statement_logging();
        PgPoolOptions::new()
            .max_connections(3)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(7))
            .idle_timeout(Some(Duration::from_secs(42)))
            .test_before_acquire(false)
            .connect_with(opts)
            .await
            .expect("a pool of our own")
    });
    let want = (
        format!("{:?}", pool.options()),
        format!("{:?}", pool.connect_options()),
    );
    let traced = TracedPool::new(pool);
    let got = traced.pool();
    assert_eq!(got.options().get_max_connections(), 3);
    assert_eq!(got.options().get_acquire_timeout(), Duration::from_secs(7));
    assert_eq!(
        (
            format!("{:?}", got.options()),
            format!("{:?}", got.connect_options())
        ),
        want
    );
}
