//! `TracedPool::begin`: the queries of a transaction (`&mut *tx`, no
//! `db.on(..)`), its `BEGIN`, its savepoint and its `COMMIT` are CLIENT
//! spans under the stage that runs it, on the real PostgreSQL. A deferred
//! unique constraint makes PostgreSQL refuse the `COMMIT` itself
//! (SQLSTATE 23505): the `COMMIT` span carries the code, and the rows are
//! not there afterwards (PostgreSQL's own answer).

mod common;

use common::{attr, query_spans};
use pipeline_telemetry::{PipelineRun, Stage};
use pipeline_telemetry_sqlx::DbError;
use sqlx::AssertSqlSafe;

static WRITE: Stage = Stage::new("write");
static DUPLICATE: Stage = Stage::new("duplicate");

#[test]
fn transaction_queries_and_commit_are_spans_of_the_stage() {
    let mut h = common::start("sqlx-tx");
    let table = common::table("tx");
    let db = h.db.clone();
    let (kept, refused, rows_after) = h.rt.block_on(async {
        sqlx::query(AssertSqlSafe(format!(
            "CREATE TABLE {table} (id BIGINT, \
             CONSTRAINT {table}_u UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)"
        )))
        .execute(db.pool())
        .await
        .expect("create");
        let run = PipelineRun::start("warehouse_load", "run-sqlx-tx");
        let kept = run
            .scope(WRITE.run_async_typed(async {
                let mut tx = db.begin().await?;
                sqlx::query(AssertSqlSafe(format!("INSERT INTO {table} VALUES ($1)")))
                    .bind(1_i64)
                    .execute(&mut *tx)
                    .await?;
                // A savepoint rolled back: its insert is undone.
                let mut nested = tx.begin().await?;
                sqlx::query(AssertSqlSafe(format!("INSERT INTO {table} VALUES ($1)")))
                    .bind(2_i64)
                    .execute(&mut *nested)
                    .await?;
                nested.rollback().await?;
                let n: i64 =
                    sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                        .fetch_one(&mut *tx)
                        .await?;
                tx.commit().await?;
                Ok::<_, DbError>(n)
            }))
            .await
            .expect("the first transaction commits");
        let refused = run
            .scope(DUPLICATE.run_async_typed(async {
                let mut tx = db.begin().await?;
                for _ in 0..2 {
                    sqlx::query(AssertSqlSafe(format!("INSERT INTO {table} VALUES ($1)")))
                        .bind(3_i64)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok::<_, DbError>(())
            }))
            .await
            .expect_err("PostgreSQL checks the deferred constraint at COMMIT");
        run.fail("duplicate");
        let rows_after: Vec<i64> =
            sqlx::query_scalar(AssertSqlSafe(format!("SELECT id FROM {table} ORDER BY id")))
                .fetch_all(db.pool())
                .await
                .expect("read back");
        let _ = sqlx::query(AssertSqlSafe(format!("DROP TABLE {table}")))
            .execute(db.pool())
            .await;
        (kept, refused, rows_after)
    });
    assert_eq!(kept, 1, "the savepoint's insert was rolled back");
    assert_eq!(refused.sqlstate().as_deref(), Some("23505"), "{refused}");
    assert_eq!(rows_after, vec![1], "only the committed row is there");

    h.shutdown();
    // write: BEGIN, INSERT, SAVEPOINT, INSERT, ROLLBACK, SELECT, COMMIT;
    // duplicate: BEGIN, INSERT, INSERT, COMMIT.
    let spans = h.spans(|s| query_spans(s).len() >= 11);
    let queries = query_spans(&spans);
    assert_eq!(queries.len(), 11, "{queries:#?}");
    let stage = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == "pipeline.stage" && attr(s, "stage") == Some(name))
            .unwrap_or_else(|| panic!("no {name} stage span: {spans:#?}"))
    };
    let ops = |parent: &str| -> Vec<&str> {
        let mut under: Vec<_> = queries
            .iter()
            .filter(|q| q.parent_span_id.as_deref() == Some(parent))
            .collect();
        under.sort_by_key(|q| q.start_unix_nano);
        under
            .iter()
            .map(|q| attr(q, "db.operation.name").unwrap_or("?"))
            .collect()
    };
    let write = stage("write");
    assert_eq!(
        ops(&write.span_id),
        [
            "BEGIN",
            "INSERT",
            "SAVEPOINT",
            "INSERT",
            "ROLLBACK",
            "SELECT",
            "COMMIT"
        ],
        "{queries:#?}"
    );
    let duplicate = stage("duplicate");
    assert_eq!(
        ops(&duplicate.span_id),
        ["BEGIN", "INSERT", "INSERT", "COMMIT"],
        "{queries:#?}"
    );
    let failed: Vec<_> = queries
        .iter()
        .filter(|q| q.status_code.as_deref() == Some("STATUS_CODE_ERROR"))
        .collect();
    assert_eq!(failed.len(), 1, "only the COMMIT failed: {failed:#?}");
    assert_eq!(attr(failed[0], "db.operation.name"), Some("COMMIT"));
    assert_eq!(attr(failed[0], "db.response.status_code"), Some("23505"));
    assert_eq!(
        attr(failed[0], "error.type"),
        Some("sqlstate_23505_unique_violation")
    );
    assert_eq!(
        failed[0].parent_span_id.as_deref(),
        Some(duplicate.span_id.as_str())
    );
}
