//! Two connections provoke a real deadlock: PostgreSQL aborts one with
//! SQLSTATE 40P01, its span and `pipeline.errors` of its stage say so. A
//! lock wait, seen by PostgreSQL itself in `pg_locks`, lasts inside the
//! waiting query's span.

mod common;

use std::time::{Duration, Instant};

use common::{attr, query_spans};
use pipeline_telemetry::{PipelineRun, Stage};
use pipeline_telemetry_sqlx::{DbError, TracedPool};
use sqlx::AssertSqlSafe;

static LEFT: Stage = Stage::new("load_left");
static RIGHT: Stage = Stage::new("load_right");

/// Locks row `first`, waits until the other transaction holds its row,
/// then asks for row `second`.
async fn cross(
    db: &TracedPool,
    table: &str,
    first: i64,
    second: i64,
    barrier: &tokio::sync::Barrier,
) -> Result<(), DbError> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {table} SET v = v + 1 WHERE id = $1"
    )))
    .bind(first)
    .execute(db.on(&mut *tx))
    .await?;
    barrier.wait().await;
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {table} SET v = v + 1 WHERE id = $1"
    )))
    .bind(second)
    .execute(db.on(&mut *tx))
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn waiting_locks(db: &TracedPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE NOT granted")
        .fetch_one(db.pool())
        .await
        .expect("pg_locks")
}

#[test]
fn deadlock_is_40p01_and_a_lock_wait_stays_in_its_span() {
    let mut h = common::start("sqlx-deadlock");
    let table = common::table("locks");
    let db = h.db.clone();
    let (results, waited) = h.rt.block_on(async {
        sqlx::query(AssertSqlSafe(format!(
            "CREATE TABLE {table} (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)"
        )))
        .execute(db.pool())
        .await
        .expect("create");
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} VALUES (1, 0), (2, 0)"
        )))
        .execute(db.pool())
        .await
        .expect("insert");

        let run = PipelineRun::start("warehouse_load", "run-deadlock");
        let barrier = tokio::sync::Barrier::new(2);
        let results = run
            .scope(async {
                tokio::join!(
                    LEFT.run_async_typed(cross(&db, &table, 1, 2, &barrier)),
                    RIGHT.run_async_typed(cross(&db, &table, 2, 1, &barrier)),
                )
            })
            .await;

        // A lock wait: one transaction holds row 1, a traced update waits.
        let mut holder = db.pool().begin().await.expect("begin");
        sqlx::query(AssertSqlSafe(format!(
            "SELECT v FROM {table} WHERE id = 1 FOR UPDATE"
        )))
        .execute(&mut *holder)
        .await
        .expect("lock row 1");
        let update = {
            let db = db.clone();
            let table = table.clone();
            tokio::spawn(run.scope(async move {
                sqlx::query(AssertSqlSafe(format!(
                    "UPDATE {table} SET v = 10 WHERE id = 1"
                )))
                .execute(&db)
                .await
            }))
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while waiting_locks(&db).await == 0 {
            assert!(
                Instant::now() < deadline,
                "the update never waited for the lock"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let seen_waiting = Instant::now();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let released = Instant::now();
        holder.commit().await.expect("release");
        update
            .await
            .expect("join")
            .expect("the update goes on after the wait");
        let waited = released - seen_waiting;
        let _ = sqlx::query(AssertSqlSafe(format!("DROP TABLE {table}")))
            .execute(db.pool())
            .await;
        run.finish();
        (results, waited)
    });
    let failures: Vec<&DbError> = [&results.0, &results.1]
        .into_iter()
        .filter_map(|r| r.as_ref().err())
        .collect();
    assert_eq!(
        failures.len(),
        1,
        "PostgreSQL aborts exactly one side: {results:?}"
    );
    assert_eq!(failures[0].sqlstate().as_deref(), Some("40P01"));
    let victim_stage = if results.0.is_err() {
        "load_left"
    } else {
        "load_right"
    };

    h.shutdown();
    let spans = h.spans(|s| {
        query_spans(s)
            .iter()
            .any(|q| attr(q, "db.response.status_code") == Some("40P01"))
            && query_spans(s).iter().any(|q| {
                attr(q, "db.query.text").is_some_and(|t| t.contains("SET v = ? WHERE id = ?"))
            })
    });
    let queries = query_spans(&spans);
    let deadlocked = queries
        .iter()
        .find(|q| attr(q, "db.response.status_code") == Some("40P01"))
        .unwrap_or_else(|| panic!("no 40P01 span: {queries:#?}"));
    assert_eq!(
        attr(deadlocked, "error.type"),
        Some("sqlstate_40P01_deadlock_detected")
    );
    assert_eq!(deadlocked.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
    assert_eq!(attr(deadlocked, "db.operation.name"), Some("UPDATE"));
    let stage = spans
        .iter()
        .find(|s| Some(s.span_id.as_str()) == deadlocked.parent_span_id.as_deref())
        .expect("the deadlocked query's parent");
    assert_eq!(attr(stage, "stage"), Some(victim_stage));

    let wait = queries
        .iter()
        .find(|q| attr(q, "db.query.text").is_some_and(|t| t.contains("SET v = ? WHERE id = ?")))
        .expect("the waiting update's span");
    assert_ne!(wait.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
    let span_len = wait.end_unix_nano.saturating_sub(wait.start_unix_nano);
    assert!(
        span_len >= waited.as_nanos(),
        "the span ({span_len} ns) covers the wait PostgreSQL reported ({} ns)",
        waited.as_nanos()
    );

    let lines = h.statsd.lines_until(Duration::from_secs(5), |l| {
        l.iter().any(|l| l.starts_with("pipeline.errors:"))
    });
    let errors: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("pipeline.errors:"))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains(&format!("stage:{victim_stage}"))
            && errors[0].contains("error_type:sqlstate_40P01_deadlock_detected"),
        "{errors:#?}"
    );
}
