//! `cleartokens --incremental`'s own table and the two statements only that mode runs.
//!
//! The mark lives in the database the run cleans, so that a CronJob without a volume finds it:
//! `oauthctl_cleanup_state`, one row per set of token tables (`table_set`, the four table names),
//! its `state` a small JSON text that [`crate::cleartokens::incremental`] reads and writes. The
//! table is oauthctl's own (Django knows nothing of it); it is created by the first incremental
//! run that writes, and the default mode never reads or touches it.
//!
//! The statements are plain SQL that every dialect reads alike, so they are written once here on
//! top of [`Store::queries`]; backends hold nothing of this mode.

use anyhow::{Context, Result};

use super::predicates;
use super::sql::{Sql, Value};
use super::{Cutoffs, Step, Store, Tables};

/// The state table's name.
pub const STATE_TABLE: &str = "oauthctl_cleanup_state";

/// IDs per `IN (…)` list: far below every backend's limit on bound values.
const LIST_CHUNK: usize = 500;

/// The key of this run's row: the four token tables, so that swapped models keep apart.
pub fn table_set(tables: &Tables) -> String {
    format!(
        "{}|{}|{}|{}",
        tables.refresh_token, tables.access_token, tables.id_token, tables.grant
    )
}

/// The stored state of `key`, `None` when the table or the row does not exist.
pub async fn read<S: Store + ?Sized>(store: &S, key: &str) -> Result<Option<String>> {
    if store.table_columns(STATE_TABLE).await?.is_none() {
        return Ok(None);
    }
    let mut sql = Sql::new(store.dialect());
    sql.push("SELECT ")
        .ident("state")
        .push(" FROM ")
        .ident(STATE_TABLE)
        .push(" WHERE ")
        .ident("table_set")
        .push(" = ")
        .bind(Value::Text(key.to_string()));
    store
        .queries()
        .fetch_optional_text(&sql)
        .await
        .with_context(|| format!("reading {STATE_TABLE}"))
}

/// Stores `state` as `key`'s row, creating the table on first use. Runs under the run lock, so
/// the read-then-write cannot race another run.
pub async fn write<S: Store + ?Sized>(store: &S, key: &str, state: &str) -> Result<()> {
    let dialect = store.dialect();
    let mut create = Sql::new(dialect);
    create
        .push("CREATE TABLE IF NOT EXISTS ")
        .ident(STATE_TABLE)
        .push(" (")
        .ident("table_set")
        .push(" VARCHAR(255) NOT NULL PRIMARY KEY, ")
        .ident("state")
        .push(" TEXT NOT NULL)");
    let queries = store.queries();
    queries
        .execute(&create)
        .await
        .with_context(|| format!("creating {STATE_TABLE}"))?;
    let exists = read(store, key).await?.is_some();
    let mut sql = Sql::new(dialect);
    let state = Value::Text(state.to_string());
    let key = Value::Text(key.to_string());
    if exists {
        sql.push("UPDATE ")
            .ident(STATE_TABLE)
            .push(" SET ")
            .ident("state")
            .push(" = ")
            .bind(state)
            .push(" WHERE ")
            .ident("table_set")
            .push(" = ")
            .bind(key);
    } else {
        sql.push("INSERT INTO ")
            .ident(STATE_TABLE)
            .push(" (")
            .ident("table_set")
            .push(", ")
            .ident("state")
            .push(") VALUES (")
            .bind(key)
            .push(", ")
            .bind(state)
            .push(")");
    }
    queries
        .execute(&sql)
        .await
        .with_context(|| format!("writing {STATE_TABLE}"))?;
    Ok(())
}

/// The non-NULL `column` of the rows of `step`'s table that meet the step's condition now:
/// read before an incremental step 1 (the access tokens its revoked refresh tokens still hold)
/// and step 4 (the ID tokens of the access tokens it may delete), so that the later step can
/// re-check them once what held them is gone. A superset of what the step then deletes (it
/// re-checks), which is harmless: the later step re-checks DOT's condition too.
pub async fn referenced_by_candidates<S: Store + ?Sized>(
    store: &S,
    step: Step,
    column: &str,
    cutoffs: &Cutoffs,
) -> Result<Vec<i64>> {
    let tables = store.tables();
    let table = step.table(tables);
    let mut sql = Sql::new(store.dialect());
    sql.push("SELECT ")
        .col("t", column)
        .push(" FROM ")
        .ident(table)
        .push(" t WHERE ")
        .col("t", column)
        .push(" IS NOT NULL AND ");
    predicates::step_condition(&mut sql, tables, step, cutoffs);
    store
        .queries()
        .fetch_i64s(&sql)
        .await
        .with_context(|| format!("reading {table}.{column} of the candidates"))
}

/// The access tokens whose `expires` is at or before step 3's cutoff (3.4.1's boundary): read
/// before an incremental step 3, they hold every access token it can free (it deletes a refresh
/// token only when its access token is among them). One range of the `expires` index; after a
/// complete run it holds little more than what this run's step 3 frees.
pub async fn access_tokens_by_refresh_cutoff<S: Store + ?Sized>(
    store: &S,
    cutoffs: &Cutoffs,
) -> Result<Vec<i64>> {
    let Some(cut) = cutoffs.refresh_expire_at else {
        return Ok(Vec::new());
    };
    let table = &store.tables().access_token;
    let mut sql = Sql::new(store.dialect());
    sql.push("SELECT ")
        .col("t", "id")
        .push(" FROM ")
        .ident(table)
        .push(" t WHERE ")
        .col("t", "expires")
        .push(" ")
        .push(cutoffs.rules.expired_boundary().symbol())
        .push(" ")
        .time(cut);
    store
        .queries()
        .fetch_i64s(&sql)
        .await
        .with_context(|| format!("reading {table} up to the refresh cutoff"))
}

/// The non-NULL `column` of the rows of `step`'s table whose id is in `ids` (one chunk).
pub async fn referenced_by_listed<S: Store + ?Sized>(
    store: &S,
    step: Step,
    column: &str,
    ids: &[i64],
) -> Result<Vec<i64>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let table = step.table(store.tables());
    let mut sql = Sql::new(store.dialect());
    sql.push("SELECT ")
        .col("t", column)
        .push(" FROM ")
        .ident(table)
        .push(" t WHERE ")
        .col("t", column)
        .push(" IS NOT NULL AND ");
    id_list(&mut sql, "t", ids);
    store
        .queries()
        .fetch_i64s(&sql)
        .await
        .with_context(|| format!("reading {table}.{column} of listed rows"))
}

/// `<t>.id IN (…)`.
fn id_list(sql: &mut Sql, t: &str, ids: &[i64]) {
    sql.col(t, "id").push(" IN (");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(Value::Int(Some(*id)));
    }
    sql.push(")");
}

/// Deletes those of `ids` (one chunk of at most [`list_chunks`]' size) that meet DOT's full
/// condition of `step` now (no incremental bound). Returns the rows deleted.
pub async fn delete_listed<S: Store + ?Sized>(
    store: &S,
    step: Step,
    cutoffs: &Cutoffs,
    ids: &[i64],
) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let tables = store.tables();
    let table = step.table(tables);
    let dialect = store.dialect();
    let qualified = dialect.quote(table);
    let exact = Cutoffs {
        incremental_since: None,
        ..cutoffs.clone()
    };
    let mut sql = Sql::new(dialect);
    sql.push("DELETE FROM ").ident(table).push(" WHERE ");
    id_list(&mut sql, &qualified, ids);
    sql.push(" AND ");
    predicates::step_condition_on(&mut sql, tables, step, &exact, &qualified);
    store
        .queries()
        .execute(&sql)
        .await
        .with_context(|| format!("deleting listed rows from {table}"))
}

/// `ids` sorted, deduplicated and cut into the chunks [`delete_listed`] takes.
pub fn list_chunks(mut ids: Vec<i64>) -> Vec<Vec<i64>> {
    ids.sort_unstable();
    ids.dedup();
    ids.chunks(LIST_CHUNK).map(<[i64]>::to_vec).collect()
}
