//! Queries inside an `#[instrument_stage]` function are CLIENT spans
//! parented to its stage, with the database conventions; the literal values
//! of the queries appear in no span and no metric; a missing table is
//! SQLSTATE 42P01 on the span and in `pipeline.errors` of the stage.

mod common;

use std::time::Duration;

use common::{assert_nowhere, attr, query_spans};
use pipeline_telemetry::{instrument_stage, PipelineRun, Stage};
use pipeline_telemetry_sqlx::{DbError, TracedPool};
use sqlx::AssertSqlSafe;

const SECRET_BOUND: &str = "bound-secret-5151";
const SECRET_INLINE: &str = "inline-secret-7373";
const SECRET_NUMBER: i64 = 918_273_645;

#[instrument_stage]
async fn load(db: &TracedPool, table: &str) -> Result<i64, sqlx::Error> {
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY, name TEXT NOT NULL)"
    )))
    .execute(db)
    .await?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {table} (id, name) VALUES ($1, $2)"
    )))
    .bind(SECRET_NUMBER)
    .bind(SECRET_BOUND)
    .execute(db)
    .await?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {table} (id, name) VALUES (2, '{SECRET_INLINE}')"
    )))
    .execute(db)
    .await?;
    let (n,): (i64,) = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE name <> '{SECRET_INLINE}' OR id = {SECRET_NUMBER}"
    )))
    .fetch_one(db)
    .await?;
    Ok(n)
}

static VERIFY: Stage = Stage::new("verify");

#[test]
fn queries_are_stage_children_without_literals() {
    let mut h = common::start("sqlx-queries");
    let table = common::table("items");
    let missing = common::table("missing");
    let (n, missing_err) = h.rt.block_on(async {
        let run = PipelineRun::start("warehouse_load", "run-sqlx-1");
        let n = run.scope(load(&h.db, &table)).await.expect("load");
        let missing_err = run
            .scope(VERIFY.run_async_typed(async {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT id FROM {missing} WHERE id = 424242"
                )))
                .fetch_all(&h.db)
                .await?;
                Ok::<_, DbError>(())
            }))
            .await
            .expect_err("the table does not exist");
        let _ = sqlx::query(AssertSqlSafe(format!("DROP TABLE {table}")))
            .execute(h.db.pool())
            .await;
        run.finish();
        (n, missing_err)
    });
    assert_eq!(n, 1);
    assert_eq!(
        missing_err.sqlstate().as_deref(),
        Some("42P01"),
        "PostgreSQL's own code"
    );

    h.shutdown();
    let spans = h.spans(|s| query_spans(s).len() >= 5);
    let queries = query_spans(&spans);
    assert_eq!(queries.len(), 5, "{queries:#?}");
    let stage = spans
        .iter()
        .find(|s| s.name == "pipeline.stage" && attr(s, "stage") == Some("load"))
        .unwrap_or_else(|| panic!("no load stage span: {spans:#?}"));
    // The four queries of the load stage, whatever order the spans
    // arrived in (the fifth, the failed one, belongs to `verify`).
    let loaded: Vec<_> = queries
        .iter()
        .filter(|q| attr(q, "db.response.status_code").is_none())
        .collect();
    assert_eq!(loaded.len(), 4, "{queries:#?}");
    for q in loaded {
        assert_eq!(
            q.parent_span_id.as_deref(),
            Some(stage.span_id.as_str()),
            "{q:#?}"
        );
        assert_eq!(q.trace_id, stage.trace_id);
        assert!(q
            .kind
            .as_deref()
            .is_some_and(|k| k.contains("CLIENT") || k == "3"));
        assert_eq!(attr(q, "operation.name"), Some("postgresql.query"));
        assert_eq!(attr(q, "db.system.name"), Some("postgresql"));
        assert_eq!(attr(q, "server.address"), Some("127.0.0.1"));
        assert_eq!(attr(q, "server.port"), Some("5432"));
        assert_eq!(attr(q, "db.query.text"), attr(q, "resource.name"));
    }
    let insert = queries
        .iter()
        .find(|q| attr(q, "db.query.text").is_some_and(|t| t.contains("$1")))
        .expect("the bound insert");
    assert_eq!(
        attr(insert, "db.query.text"),
        Some(format!("INSERT INTO {table} (id, name) VALUES ($1, $2)").as_str())
    );
    assert_eq!(attr(insert, "db.operation.name"), Some("INSERT"));
    assert_eq!(attr(insert, "db.collection.name"), Some(table.as_str()));
    assert_eq!(insert.name, format!("INSERT {table}"));
    let select = queries
        .iter()
        .find(|q| {
            attr(q, "db.operation.name") == Some("SELECT")
                && q.status_code.as_deref() != Some("STATUS_CODE_ERROR")
        })
        .expect("the select");
    assert_eq!(
        attr(select, "db.query.text"),
        Some(format!("SELECT count(*) FROM {table} WHERE name <> ? OR id = ?").as_str())
    );

    let failed = queries
        .iter()
        .find(|q| attr(q, "db.response.status_code").is_some())
        .unwrap_or_else(|| panic!("no failed query span: {queries:#?}"));
    assert_eq!(attr(failed, "db.response.status_code"), Some("42P01"));
    assert_eq!(
        attr(failed, "error.type"),
        Some("sqlstate_42P01_undefined_table")
    );
    assert_eq!(failed.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
    let verify = spans
        .iter()
        .find(|s| s.name == "pipeline.stage" && attr(s, "stage") == Some("verify"))
        .expect("verify stage span");
    assert_eq!(
        failed.parent_span_id.as_deref(),
        Some(verify.span_id.as_str())
    );

    let lines = h.statsd.lines_until(Duration::from_secs(5), |l| {
        l.iter().any(|l| l.starts_with("pipeline.errors:"))
    });
    let errors: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("pipeline.errors:"))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "one count for the one failed stage: {errors:#?}"
    );
    assert!(
        errors[0].contains("stage:verify")
            && errors[0].contains("error_type:sqlstate_42p01_undefined_table")
                | errors[0].contains("error_type:sqlstate_42P01_undefined_table"),
        "{errors:#?}"
    );
    for secret in [SECRET_BOUND, SECRET_INLINE, "918273645", "424242"] {
        assert_nowhere(secret, &spans, &lines);
    }
}
