//! PostgreSQL dialect: `timestamptz`, catalogue lookups through `to_regclass`, `$n` placeholders.
//!
//! Cleanup batches ([`BatchShape`]). *Keys*: one statement; a CTE takes the next candidates
//! meeting the step's condition by primary key, and a data-modifying CTE deletes those ids that
//! still match. *Range* (dense rows, a backlog): one statement; the CTE finds where the batch ends
//! (the id of the `batch size`-th row meeting the step's scan condition, see
//! [`predicates::scan_condition`]), and the DELETE takes the rows of that id range meeting the
//! full condition. *Sweep* (a step's first batch): two statements in one transaction, a read of
//! the candidates that may use parallel workers, then the delete of those ids that still match.
//! Every DELETE carries the condition, so PostgreSQL re-evaluates it on any row a concurrent
//! transaction changed meanwhile, and another CTE nulls `source_refresh_token_id` for exactly the
//! deleted refresh tokens. The FKs are deferred, so the order inside the statement does not
//! matter. The run lock is a session advisory lock held on a dedicated connection.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, Postgres, Row};

use super::predicates::{self, Params, Sql};
use super::{
    application_insert_plan, insert_sql, quoted, Backend, BatchOutcome, BatchRequest, BatchShape,
    CleanupLock, ColumnInfo, Cutoffs, DatabaseUrl, ErrorClass, InsertError, MigrateOutcome,
    NewApplication, Step, Store, Tables, Value,
};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The advisory lock key of `oauthctl cleartokens`: the bytes of "oauthctl" as a big-endian
/// bigint, visible in `pg_locks` (locktype 'advisory', classid 1868658036, objid 1751348332).
pub const CLEANUP_LOCK_KEY: i64 = 0x6f61_7574_6863_746c;

/// Session settings for cleanup batches.
///
/// - `lock_timeout`: a batch that meets a row the server holds backs off and retries instead of
///   queueing (and making the server queue behind the locks it already holds).
/// - `enable_seqscan = off`: every batch must walk the primary key from the cursor. With a
///   sequential scan plus top-N sort — which the planner picks when statistics make matches look
///   rare — every batch would re-read the whole table, quadratic on a large backlog.
///   (Not `plan_cache_mode = force_custom_plan`: it would also re-plan the deferred foreign key
///   check that runs for every deleted row, several times slower overall.)
/// - `jit = off`: batches are short; compiling each one would cost more than it runs.
const CLEANUP_SESSION: [&str; 4] = [
    "SET lock_timeout = '1s'",
    "SET enable_seqscan = off",
    // A merge anti join would read the referencing unique index from its first entry in every
    // batch (work grows with batches x index size); a nested loop probes it once per candidate.
    "SET enable_mergejoin = off",
    "SET jit = off",
];

pub struct PostgresStore {
    pool: PgPool,
    tables: Tables,
    options: PgConnectOptions,
    redacted_url: String,
    /// Set by `prepare_cleanup`: connections opened later (after a lost one) get the same
    /// session settings.
    cleanup_session: Arc<AtomicBool>,
}

impl PostgresStore {
    pub async fn open(url: &DatabaseUrl, tables: Tables) -> Result<Self> {
        let options = PgConnectOptions::from_str(url.expose())
            .map_err(|e| anyhow::anyhow!(crate::db::url::scrub(&e.to_string(), url)))
            .with_context(|| format!("invalid PostgreSQL URL {}", url.redacted()))?
            .application_name("oauthctl");
        // Connect once directly: a pool would retry until its timeout and hide the cause
        // (refused, unknown host, bad password, missing database).
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))?
            .map_err(|e| anyhow::anyhow!(crate::db::url::scrub(&e.to_string(), url)))
            .with_context(|| format!("cannot connect to {}", url.redacted()))?;
        let _ = probe.close().await;
        let cleanup_session = Arc::new(AtomicBool::new(false));
        let session_flag = cleanup_session.clone();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .after_connect(move |conn, _meta| {
                let cleanup = session_flag.load(Ordering::SeqCst);
                Box::pin(async move {
                    if cleanup {
                        apply_cleanup_session(conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy_with(options.clone());
        Ok(PostgresStore {
            pool,
            tables,
            options,
            redacted_url: url.redacted(),
            cleanup_session,
        })
    }

    /// One batch as a single statement (see the module docs).
    fn batch_sql(&self, cutoffs: &Cutoffs, batch: BatchRequest) -> Sql {
        let BatchRequest {
            step,
            after_id,
            shape,
            ..
        } = batch;
        let tables = &self.tables;
        let table = step.table(tables);
        let mut sql = Sql::new(Params::Dollar, '"');
        sql.push("WITH c AS (");
        predicates::batch_candidates(&mut sql, tables, cutoffs, batch);
        sql.push(
            "), m AS (SELECT COUNT(*) AS n, MIN(\"id\") AS lo, MAX(\"id\") AS hi FROM c), d AS (DELETE FROM ",
        )
        .ident(table)
        .push(" AS t WHERE ");
        // The condition is part of the DELETE itself, so a row a concurrent transaction changed
        // meanwhile is re-checked in its new version (EvalPlanQual) and goes only if it still
        // matches. By id, not by tuple id: an updated row has a new tuple id, and the re-check
        // would skip it although it still matches.
        match shape {
            // The range, read once through the primary key in order.
            BatchShape::Range => sql
                .push("t.\"id\" > ")
                .bind(Value::Int(Some(after_id)))
                .push(" AND t.\"id\" <= (SELECT hi FROM m) AND "),
            BatchShape::Keys | BatchShape::Sweep => {
                sql.push("t.\"id\" = ANY (ARRAY(SELECT \"id\" FROM c)) AND ")
            }
        };
        predicates::step_condition(&mut sql, tables, step, cutoffs);
        sql.push(" RETURNING t.\"id\")");
        self.push_set_null(&mut sql, step);
        sql.push(" SELECT (SELECT n FROM m), (SELECT lo FROM m), (SELECT hi FROM m), (SELECT COUNT(*) FROM d)");
        sql
    }

    /// For a refresh-token step, `, u AS (UPDATE …)`: DOT's SET_NULL for exactly the refresh
    /// tokens the CTE `d` deleted. As an array, the index is walked in key order (`IN` would
    /// hash the ids and visit the access tokens in random order: about 1.4x slower per updated
    /// row, measured at 1M rows).
    fn push_set_null(&self, sql: &mut Sql, step: Step) {
        if step.deletes_refresh_tokens() {
            sql.push(", u AS (UPDATE ")
                .ident(&self.tables.access_token)
                .push(" SET \"source_refresh_token_id\" = NULL WHERE \"source_refresh_token_id\" = ANY (ARRAY(SELECT \"id\" FROM d)))");
        }
    }

    /// Deletes the rows whose ids are bound as the last parameter (an array) that still meet
    /// the step's condition, nulling references as [`Self::batch_sql`] does; returns the count
    /// deleted.
    fn delete_keys_sql(&self, cutoffs: &Cutoffs, step: Step) -> Sql {
        let mut sql = Sql::new(Params::Dollar, '"');
        sql.push("WITH d AS (DELETE FROM ")
            .ident(step.table(&self.tables))
            .push(" AS t WHERE ");
        predicates::step_condition(&mut sql, &self.tables, step, cutoffs);
        let ids = sql.binds.len() + 1;
        sql.push(&format!(" AND t.\"id\" = ANY (${ids}) RETURNING t.\"id\")"));
        self.push_set_null(&mut sql, step);
        sql.push(" SELECT COUNT(*) FROM d");
        sql
    }

    /// A sweep: the candidates read from the table's start with the planner free, then those
    /// that still match deleted by key, in one transaction. It reads from the start of the
    /// table, so at most once whatever the plan: the planner picks its own (a sequential scan,
    /// parallel where it pays, with a hash join, as the unbatched statement gets), which is what
    /// a steady-state run, done in this one batch, needs. The session's index-only settings are
    /// for the batches after it, where a plan that scans from the start would read the table
    /// again every batch.
    async fn sweep(&self, cutoffs: &Cutoffs, batch: BatchRequest) -> Result<BatchOutcome> {
        let step = batch.step;
        let context = || format!("deleting a batch from {}", step.table(&self.tables));
        let mut tx = self.pool.begin().await.with_context(context)?;
        tx.execute("SET LOCAL enable_seqscan = on")
            .await
            .with_context(context)?;
        tx.execute("SET LOCAL enable_mergejoin = on")
            .await
            .with_context(context)?;
        // The candidates by a statement of their own: PostgreSQL plans no parallel workers for
        // a statement that modifies data, and a sweep reading a whole table gains from them
        // (steps 1 and 3 at 1M tokens).
        let mut candidates = Sql::new(Params::Dollar, '"');
        predicates::batch_candidates(&mut candidates, &self.tables, cutoffs, batch);
        let ids: Vec<i64> = query_for(&candidates)
            .fetch_all(&mut *tx)
            .await
            .with_context(context)?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .with_context(context)?;
        let (Some(&first_id), Some(&last_id)) = (ids.first(), ids.last()) else {
            tx.commit().await.with_context(context)?;
            return Ok(BatchOutcome::NONE_LEFT);
        };
        let write_started = std::time::Instant::now();
        let sql = self.delete_keys_sql(cutoffs, step);
        let deleted: i64 = query_for(&sql)
            .bind(ids.as_slice())
            .fetch_one(&mut *tx)
            .await
            .with_context(context)?
            .try_get(0)?;
        tx.commit().await.with_context(context)?;
        Ok(BatchOutcome {
            candidates: ids.len() as u64,
            deleted: deleted as u64,
            first_id: Some(first_id),
            last_id: Some(last_id),
            locked: if deleted > 0 {
                write_started.elapsed()
            } else {
                std::time::Duration::ZERO
            },
        })
    }
}

async fn apply_cleanup_session(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    for statement in CLEANUP_SESSION {
        conn.execute(statement).await?;
    }
    Ok(())
}

fn query_for(sql: &Sql) -> sqlx::query::Query<'_, Postgres, PgArguments> {
    sql.binds.iter().cloned().fold(sqlx::query(&sql.text), bind)
}

/// `pg_try_advisory_lock` held on its own connection: a session lock lives as long as the
/// session, so it must not share the pool's connection (which may be replaced).
struct AdvisoryLock {
    conn: Option<PgConnection>,
    options: PgConnectOptions,
    redacted_url: String,
}

impl AdvisoryLock {
    async fn connect(options: &PgConnectOptions, redacted_url: &str) -> Result<PgConnection> {
        tokio::time::timeout(
            CONNECT_TIMEOUT,
            options
                .clone()
                .application_name("oauthctl cleartokens lock")
                .connect(),
        )
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))?
        .with_context(|| format!("cannot connect to {redacted_url} for the run lock"))
    }

    fn conflict(redacted_url: &str) -> anyhow::Error {
        anyhow::Error::new(crate::error::Failure::Conflict(format!(
            "another oauthctl cleartokens run is active on {redacted_url}: it holds the PostgreSQL advisory lock {CLEANUP_LOCK_KEY} (pg_locks: locktype 'advisory', objid 1751348332); try again when it has finished"
        )))
    }

    async fn try_lock(conn: &mut PgConnection) -> Result<bool> {
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(CLEANUP_LOCK_KEY)
            .fetch_one(conn)
            .await
            .context("taking the advisory lock")
    }
}

#[async_trait]
impl CleanupLock for AdvisoryLock {
    fn describe(&self) -> String {
        format!("PostgreSQL advisory lock {CLEANUP_LOCK_KEY}")
    }

    async fn ensure_held(&mut self) -> Result<bool> {
        if let Some(conn) = self.conn.as_mut() {
            // A session that answers still holds the lock. One that does not answer within the
            // connect timeout is given up (its lock goes when the server notices).
            if let Ok(Ok(())) = tokio::time::timeout(CONNECT_TIMEOUT, conn.ping()).await {
                return Ok(false);
            }
        }
        // The lock's session is gone, and the lock with it: take it again or give way.
        self.conn = None;
        let mut conn = Self::connect(&self.options, &self.redacted_url).await?;
        if !Self::try_lock(&mut conn).await? {
            let _ = conn.close().await;
            return Err(Self::conflict(&self.redacted_url));
        }
        self.conn = Some(conn);
        Ok(true)
    }

    async fn release(mut self: Box<Self>) -> Result<()> {
        if let Some(mut conn) = self.conn.take() {
            let _: Option<bool> = sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
                .bind(CLEANUP_LOCK_KEY)
                .fetch_optional(&mut conn)
                .await
                .context("releasing the advisory lock")?;
            let _ = conn.close().await;
        }
        Ok(())
    }
}

fn bind(
    query: sqlx::query::Query<'_, Postgres, PgArguments>,
    value: Value,
) -> sqlx::query::Query<'_, Postgres, PgArguments> {
    match value {
        Value::Text(text) => query.bind(text),
        Value::Bool(flag) => query.bind(flag),
        Value::Int(number) => query.bind(number),
        Value::Timestamp(at) => query.bind(at),
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn tables(&self) -> &Tables {
        &self.tables
    }

    async fn table_columns(&self, table: &str) -> Result<Option<Vec<ColumnInfo>>> {
        // to_regclass honours search_path, like Django's unqualified table names do.
        let rows = sqlx::query(
            "SELECT a.attname::text, a.attnotnull, (a.atthasdef OR a.attidentity <> '') \
             FROM pg_attribute a \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
        )
        .bind(quoted(table, '"'))
        .fetch_all(&self.pool)
        .await
        .with_context(|| format!("reading the columns of {table}"))?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            rows.iter()
                .map(|row| ColumnInfo {
                    name: row.get(0),
                    not_null: row.get(1),
                    has_default: row.get(2),
                })
                .collect(),
        ))
    }

    async fn migrate(&self) -> Result<MigrateOutcome> {
        let has_dot_tables = self
            .table_columns(&self.tables.application)
            .await?
            .is_some();
        let has_our_ledger = self.table_columns("_sqlx_migrations").await?.is_some();
        if has_dot_tables && !has_our_ledger {
            return Ok(MigrateOutcome::ManagedByDjango);
        }
        let before = applied_count(&self.pool, has_our_ledger).await?;
        MIGRATOR
            .run(&self.pool)
            .await
            .context("applying oauthctl's PostgreSQL migrations")?;
        let after = applied_count(&self.pool, true).await?;
        Ok(MigrateOutcome::Applied((after - before) as usize))
    }

    async fn user_exists(&self, user_id: i64) -> Result<bool> {
        let sql = format!(
            "SELECT 1 FROM {} WHERE \"id\" = $1 LIMIT 1",
            quoted(&self.tables.user, '"')
        );
        let row = sqlx::query(&sql)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .context("looking up the user")?;
        Ok(row.is_some())
    }

    async fn client_id_exists(&self, client_id: &str) -> Result<bool> {
        let sql = format!(
            "SELECT 1 FROM {} WHERE \"client_id\" = $1 LIMIT 1",
            quoted(&self.tables.application, '"')
        );
        let row = sqlx::query(&sql)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .context("looking up the client id")?;
        Ok(row.is_some())
    }

    async fn insert_application(&self, app: &NewApplication) -> Result<i64, InsertError> {
        let table = &self.tables.application;
        let columns = self.table_columns(table).await?.unwrap_or_default();
        let plan = application_insert_plan(table, &columns, app)?;
        let names: Vec<&str> = plan.iter().map(|(name, _)| *name).collect();
        let sql = format!(
            "{} RETURNING \"id\"",
            insert_sql(table, &names, '"', |i| format!("${i}"))
        );
        let mut query = sqlx::query(&sql);
        for (_, value) in plan {
            query = bind(query, value);
        }
        match query.fetch_one(&self.pool).await {
            Ok(row) => Ok(row
                .try_get::<i64, _>(0)
                .context("reading the new application's id")?),
            Err(e) if is_unique_violation(&e) => Err(InsertError::DuplicateClientId),
            Err(e) => Err(anyhow::Error::new(e)
                .context(format!("inserting into {table}"))
                .into()),
        }
    }

    async fn acquire_cleanup_lock(&self) -> Result<Box<dyn CleanupLock>> {
        let mut conn = AdvisoryLock::connect(&self.options, &self.redacted_url).await?;
        if !AdvisoryLock::try_lock(&mut conn).await? {
            let _ = conn.close().await;
            return Err(AdvisoryLock::conflict(&self.redacted_url));
        }
        Ok(Box::new(AdvisoryLock {
            conn: Some(conn),
            options: self.options.clone(),
            redacted_url: self.redacted_url.clone(),
        }))
    }

    async fn prepare_cleanup(&self) -> Result<()> {
        self.cleanup_session.store(true, Ordering::SeqCst);
        let mut conn = self.pool.acquire().await.context("connecting")?;
        apply_cleanup_session(&mut conn)
            .await
            .context("setting up the cleanup session")?;
        Ok(())
    }

    async fn delete_batch(&self, cutoffs: &Cutoffs, batch: BatchRequest) -> Result<BatchOutcome> {
        if batch.shape == BatchShape::Sweep {
            return self.sweep(cutoffs, batch).await;
        }
        let sql = self.batch_sql(cutoffs, batch);
        let step = batch.step;
        let started = std::time::Instant::now();
        let context = || format!("deleting a batch from {}", step.table(&self.tables));
        let row = query_for(&sql)
            .fetch_one(&self.pool)
            .await
            .with_context(context)?;
        let candidates: i64 = row.try_get(0)?;
        let first_id: Option<i64> = row.try_get(1)?;
        let last_id: Option<i64> = row.try_get(2)?;
        let deleted: i64 = row.try_get(3)?;
        // Autocommit: the statement's end is its commit. A statement that deleted nothing
        // locked nothing.
        let locked = if deleted > 0 {
            started.elapsed()
        } else {
            std::time::Duration::ZERO
        };
        Ok(BatchOutcome {
            candidates: candidates as u64,
            deleted: deleted as u64,
            first_id,
            last_id,
            locked,
        })
    }

    async fn count_deletable(&self, step: Step, cutoffs: &Cutoffs) -> Result<u64> {
        let sql = predicates::count_sql(Params::Dollar, '"', &self.tables, step, cutoffs);
        let count: i64 = query_for(&sql)
            .fetch_one(&self.pool)
            .await
            .with_context(|| format!("counting rows in {}", step.table(&self.tables)))?
            .get(0);
        Ok(count as u64)
    }

    fn classify_error(&self, error: &anyhow::Error) -> ErrorClass {
        let Some(e) = super::sqlx_error(error) else {
            return ErrorClass::Permanent;
        };
        if let Some(db) = e.as_database_error() {
            return match db.code().as_deref() {
                // serialization_failure, deadlock_detected, lock_not_available (lock_timeout),
                // and a foreign key violation at commit: a concurrent writer started referencing
                // a row of the batch; the retry re-reads and keeps that row.
                Some("40001" | "40P01" | "55P03" | "23503") => ErrorClass::Transient,
                // too_many_connections, admin/crash shutdown, cannot_connect_now, class 08.
                Some("53300" | "57P01" | "57P02" | "57P03") => ErrorClass::ConnectionLost,
                Some(code) if code.starts_with("08") => ErrorClass::ConnectionLost,
                _ => ErrorClass::Permanent,
            };
        }
        super::classify_common(e).unwrap_or(ErrorClass::Permanent)
    }
}

async fn applied_count(pool: &PgPool, ledger_exists: bool) -> Result<i64> {
    if !ledger_exists {
        return Ok(0);
    }
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .context("reading oauthctl's migration ledger")?;
    Ok(count)
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}
