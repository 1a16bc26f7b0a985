//! sqlx's checked macros (`query!`, `query_as!`, `query_scalar!`) through
//! the traced executors, on the real PostgreSQL: through `&TracedPool` and
//! through `&mut *tx` of a `TracedPool::begin` transaction, each query is a
//! CLIENT span under its stage, as `sqlx::query(..)` is, and the rows are
//! what PostgreSQL holds.
//!
//! Building this file needs sqlx's default features (`macros`), as users
//! have them: before `Executor::describe` was implemented the crate did not
//! compile with them (E0046), so this test could not even build. The macros
//! are checked at compile time against the offline data in `.sqlx/`
//! (`SQLX_OFFLINE=true` in this crate's `.env`): no database is needed to
//! build, and the schema below is the one the data was prepared from.

mod common;

use common::{attr, query_spans};
use pipeline_telemetry::{instrument_stage, PipelineRun};
use pipeline_telemetry_sqlx::TracedPool;

/// The table the macros were checked against (`.sqlx/` was prepared with
/// it). Rows are keyed by `run`, unique to each test process.
const DDL: &str = "CREATE TABLE IF NOT EXISTS pt_sqlx_macro_items (\
    run TEXT NOT NULL, id BIGINT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (run, id))";

const INSERT: &str = "INSERT INTO pt_sqlx_macro_items (run, id, name) VALUES ($1, $2, $3)";
const SELECT: &str = "SELECT id, name FROM pt_sqlx_macro_items WHERE run = $1 ORDER BY id";
const COUNT: &str = "SELECT count(*) AS \"n!\" FROM pt_sqlx_macro_items WHERE run = $1";
const RENAME: &str = "UPDATE pt_sqlx_macro_items SET name = $3 WHERE run = $1 AND id = $2";
const DELETE: &str = "DELETE FROM pt_sqlx_macro_items WHERE run = $1";

#[derive(Debug, PartialEq)]
struct Item {
    id: i64,
    name: String,
}

#[instrument_stage]
async fn load(db: &TracedPool, run: &str) -> Result<Vec<Item>, sqlx::Error> {
    for (id, name) in [(1_i64, "one"), (2, "two")] {
        sqlx::query!(
            "INSERT INTO pt_sqlx_macro_items (run, id, name) VALUES ($1, $2, $3)",
            run,
            id,
            name
        )
        .execute(db)
        .await?;
    }
    sqlx::query_as!(
        Item,
        "SELECT id, name FROM pt_sqlx_macro_items WHERE run = $1 ORDER BY id",
        run
    )
    .fetch_all(db)
    .await
}

/// One transaction committed, one rolled back, macros on `&mut *tx`.
#[instrument_stage]
async fn rename(db: &TracedPool, run: &str) -> Result<i64, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query!(
        "UPDATE pt_sqlx_macro_items SET name = $3 WHERE run = $1 AND id = $2",
        run,
        2_i64,
        "deux"
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut tx = db.begin().await?;
    sqlx::query!("DELETE FROM pt_sqlx_macro_items WHERE run = $1", run)
        .execute(&mut *tx)
        .await?;
    let inside = sqlx::query_scalar!(
        "SELECT count(*) AS \"n!\" FROM pt_sqlx_macro_items WHERE run = $1",
        run
    )
    .fetch_one(&mut *tx)
    .await?;
    assert_eq!(inside, 0, "the transaction sees its own delete");
    tx.rollback().await?;
    Ok(inside)
}

#[test]
fn checked_macros_are_traced_like_query() {
    let mut h = common::start("sqlx-macros");
    let run_key = common::table("run");
    let (loaded, after) = h.rt.block_on(async {
        sqlx::query(DDL)
            .execute(h.db.pool())
            .await
            .expect("create the macros' table");
        let run = PipelineRun::start("warehouse_load", "run-sqlx-macros");
        let loaded = run.scope(load(&h.db, &run_key)).await.expect("load");
        run.scope(rename(&h.db, &run_key)).await.expect("rename");
        run.finish();
        // PostgreSQL's own view, untraced: the commit kept, the rollback undone.
        let after: Vec<(i64, String)> = sqlx::query_as(SELECT)
            .bind(&run_key)
            .fetch_all(h.db.pool())
            .await
            .expect("read back");
        sqlx::query(DELETE)
            .bind(&run_key)
            .execute(h.db.pool())
            .await
            .expect("clean up");
        (loaded, after)
    });
    assert_eq!(
        loaded,
        vec![
            Item {
                id: 1,
                name: "one".into()
            },
            Item {
                id: 2,
                name: "two".into()
            }
        ]
    );
    assert_eq!(after, vec![(1, "one".into()), (2, "deux".into())]);

    h.shutdown();
    // load: 2 inserts + 1 select; rename: BEGIN, UPDATE, COMMIT, BEGIN,
    // DELETE, SELECT, ROLLBACK.
    let spans = h.spans(|s| query_spans(s).len() >= 10);
    let queries = query_spans(&spans);
    let stage = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == "pipeline.stage" && attr(s, "stage") == Some(name))
            .unwrap_or_else(|| panic!("no {name} stage span: {spans:#?}"))
    };
    let (load_stage, rename_stage) = (stage("load"), stage("rename"));
    let texts = |parent: &str| -> Vec<&str> {
        let mut t: Vec<&str> = queries
            .iter()
            .filter(|q| q.parent_span_id.as_deref() == Some(parent))
            .filter_map(|q| attr(q, "db.query.text"))
            .collect();
        t.sort_unstable();
        t
    };
    let mut want_load = vec![INSERT, INSERT, SELECT];
    want_load.sort_unstable();
    assert_eq!(texts(&load_stage.span_id), want_load, "{queries:#?}");
    let mut want_rename = vec![
        "BEGIN", RENAME, "COMMIT", "BEGIN", DELETE, COUNT, "ROLLBACK",
    ];
    want_rename.sort_unstable();
    assert_eq!(texts(&rename_stage.span_id), want_rename, "{queries:#?}");
    assert_eq!(queries.len(), 10, "{queries:#?}");
    for q in &queries {
        assert_eq!(q.trace_id, load_stage.trace_id);
        assert!(
            q.kind
                .as_deref()
                .is_some_and(|k| k.contains("CLIENT") || k == "3"),
            "{q:#?}"
        );
        assert_eq!(attr(q, "operation.name"), Some("postgresql.query"));
        assert_eq!(attr(q, "server.port"), Some("5432"));
        assert_ne!(q.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
    }
    let select = queries
        .iter()
        .find(|q| attr(q, "db.query.text") == Some(SELECT))
        .expect("the query_as! select");
    assert_eq!(attr(select, "db.operation.name"), Some("SELECT"));
    assert_eq!(
        attr(select, "db.collection.name"),
        Some("pt_sqlx_macro_items")
    );
    assert_eq!(select.name, "SELECT pt_sqlx_macro_items");
}
