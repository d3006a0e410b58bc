//! PostgreSQL: `timestamptz`, catalogue lookups through `to_regclass`, `$n` placeholders.
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

use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{
    PgArgumentBuffer, PgConnectOptions, PgConnection, PgPool, PgQueryResult, PgTypeInfo,
};
use sqlx::{Executor, Postgres, Row};

use super::driver::{Driver, Queries, Run};
use super::lock::{LockSpec, SessionLock};
use super::network::{self, CleanupPace, Deadlines};
use super::predicates;
use super::server::{self, ServerPool, SessionSettings};
use super::sql::{Bound, Dialect, Sql, Value};
use super::{
    BatchOutcome, BatchRequest, BatchShape, CleanupLock, Cutoffs, DatabaseUrl, LockProbe,
    RowEstimate, Step, Store, Tables,
};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// The advisory lock key of `oauthctl cleartokens`: the bytes of "oauthctl" as a big-endian
/// bigint, visible in `pg_locks` (locktype 'advisory', classid 1868658036, objid 1751348332).
pub const CLEANUP_LOCK_KEY: i64 = 0x6f61_7574_6863_746c;

/// Session settings for cleanup batches (nothing else needs any).
///
/// - `lock_timeout`: a batch that meets a row the server holds backs off and retries instead of
///   queueing (and making the server queue behind the locks it already holds).
/// - `enable_seqscan = off`: every batch must walk the primary key from the cursor. With a
///   sequential scan plus top-N sort — which the planner picks when statistics make matches look
///   rare — every batch would re-read the whole table, quadratic on a large backlog.
///   (Not `plan_cache_mode = force_custom_plan`: it would also re-plan the deferred foreign key
///   check that runs for every deleted row, several times slower overall.)
/// - `jit = off`: batches are short; compiling each one would cost more than it runs.
const SESSION: SessionSettings = SessionSettings {
    always: &[],
    timeouts: session_timeouts,
    default_port: 5432,
    cleanup: &[
        "SET lock_timeout = '1s'",
        "SET enable_seqscan = off",
        // A merge anti join would read the referencing unique index from its first entry in
        // every batch (work grows with batches x index size); a nested loop probes it once per
        // candidate.
        "SET enable_mergejoin = off",
        "SET jit = off",
    ],
};

/// The server ends a session gone silent (see [`super::network`]): idle
/// (`idle_session_timeout`, PostgreSQL ≥ 14), idle inside a transaction, or a statement running
/// too long; TCP keepalives and `tcp_user_timeout` (PostgreSQL ≥ 12) notice a peer that stopped
/// acknowledging. `set_config` over `pg_settings`, so that an older server skips what it does
/// not know instead of refusing the session.
fn session_timeouts(deadlines: &Deadlines) -> Vec<String> {
    let ms = |d: Duration| d.as_millis().max(1);
    let s = |d: Duration| d.as_secs().max(1);
    let n = deadlines.exchange;
    let settings = [
        ("statement_timeout", ms(deadlines.server_statement())),
        (
            "idle_in_transaction_session_timeout",
            ms(deadlines.server_idle_in_transaction()),
        ),
        ("idle_session_timeout", ms(deadlines.server_idle())),
        ("tcp_keepalives_idle", u128::from(s(n))),
        ("tcp_keepalives_interval", u128::from(s(n / 3))),
        ("tcp_keepalives_count", 3),
        ("tcp_user_timeout", ms(n)),
    ];
    let values: Vec<String> = settings
        .iter()
        .map(|(name, value)| format!("('{name}', '{value}')"))
        .collect();
    vec![format!(
        "SELECT set_config(v.name, v.value, false) FROM (VALUES {}) AS v(name, value) \
         WHERE v.name IN (SELECT name FROM pg_settings)",
        values.join(", ")
    )]
}

pub struct PostgresStore {
    server: ServerPool<Postgres>,
    tables: Tables,
}

impl PostgresStore {
    /// `time_zone`: the session's `TimeZone`, Django's `connection.timezone_name`.
    pub async fn open(url: &DatabaseUrl, tables: Tables, time_zone: &str) -> Result<Self> {
        let options: PgConnectOptions = server::parse_options(url, url.expose(), "PostgreSQL")?;
        let options = options.application_name("oauthctl");
        // sqlx starts every session in UTC; Django sets the zone after connecting, as here. The
        // name is one of the zone database's (letters, digits, `/_+-`), safe in a literal.
        debug_assert!(time_zone
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c)));
        let zone = vec![format!("SET TIME ZONE '{time_zone}'")];
        let server = ServerPool::connect_with(url, options, &SESSION, zone).await?;
        Ok(PostgresStore { server, tables })
    }

    fn pool(&self) -> &PgPool {
        &self.server.pool
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
        let mut sql = Sql::new(Dialect::Postgres);
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
        let mut sql = Sql::new(Dialect::Postgres);
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
    async fn sweep(
        &self,
        conn: &mut PgConnection,
        cutoffs: &Cutoffs,
        batch: BatchRequest,
    ) -> Result<BatchOutcome> {
        let step = batch.step;
        let context = || format!("deleting a batch from {}", step.table(&self.tables));
        let mut tx = sqlx::Connection::begin(conn).await.with_context(context)?;
        tx.execute("SET LOCAL enable_seqscan = on")
            .await
            .with_context(context)?;
        tx.execute("SET LOCAL enable_mergejoin = on")
            .await
            .with_context(context)?;
        // The candidates by a statement of their own: PostgreSQL plans no parallel workers for
        // a statement that modifies data, and a sweep reading a whole table gains from them
        // (steps 1 and 3 at 1M tokens).
        let mut candidates = Sql::new(Dialect::Postgres);
        predicates::batch_candidates(&mut candidates, &self.tables, cutoffs, batch);
        let ids: Vec<i64> = Postgres::query(&candidates)
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
        let deleted: i64 = Postgres::query(&sql)
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

/// A timestamp bound as Django's driver sends it: an instant as `timestamptz`, a naive value as
/// `timestamp`, which the server converts to `timestamptz` in the session's `TimeZone` (set to
/// Django's `connection.timezone_name` on every connection), exactly as for Django's own query.
#[derive(Debug)]
pub struct PgTimestamp(Bound);

impl sqlx::Type<Postgres> for PgTimestamp {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as sqlx::Type<Postgres>>::type_info()
    }
}

impl sqlx::Encode<'_, Postgres> for PgTimestamp {
    fn encode_by_ref(
        &self,
        buf: &mut PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        match &self.0 {
            Bound::Instant(at) => sqlx::Encode::<Postgres>::encode_by_ref(at, buf),
            Bound::Wall(wall) => sqlx::Encode::<Postgres>::encode_by_ref(wall, buf),
        }
    }

    /// The parameter's declared type follows the value: `timestamp` for a naive one.
    fn produces(&self) -> Option<PgTypeInfo> {
        Some(match self.0 {
            Bound::Instant(_) => <DateTime<Utc> as sqlx::Type<Postgres>>::type_info(),
            Bound::Wall(_) => <NaiveDateTime as sqlx::Type<Postgres>>::type_info(),
        })
    }
}

impl Driver for Postgres {
    const DIALECT: Dialect = Dialect::Postgres;

    type Timestamp = Option<PgTimestamp>;

    fn timestamp(at: Option<Bound>) -> Option<PgTimestamp> {
        at.map(PgTimestamp)
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    async fn insert<'e>(
        conn: &'e mut <Postgres as sqlx::Database>::Connection,
        sql: &'e Sql,
    ) -> Result<i64, sqlx::Error> {
        Postgres::query(sql).fetch_one(conn).await?.try_get(0)
    }
}

/// The run lock: a session advisory lock on [`CLEANUP_LOCK_KEY`].
fn advisory_lock() -> LockSpec {
    let key = || Value::Int(Some(CLEANUP_LOCK_KEY));
    let mut take = Sql::new(Dialect::Postgres);
    take.push("SELECT pg_try_advisory_lock(")
        .bind(key())
        .push(")");
    let mut release = Sql::new(Dialect::Postgres);
    release
        .push("SELECT pg_advisory_unlock(")
        .bind(key())
        .push(")");
    LockSpec {
        name: format!("PostgreSQL advisory lock {CLEANUP_LOCK_KEY}"),
        held: format!(
            "the PostgreSQL advisory lock {CLEANUP_LOCK_KEY} (pg_locks: locktype 'advisory', objid 1751348332)"
        ),
        take,
        release,
        taking: "taking the advisory lock",
        releasing: "releasing the advisory lock",
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn begin_apply(
        &self,
        columns: Vec<super::ColumnInfo>,
    ) -> Result<Box<dyn super::ApplyTransaction>> {
        super::apply::begin::<Postgres>(self.pool(), self.place(), &self.tables, columns).await
    }

    async fn list_applications(
        &self,
        columns: &[super::ColumnInfo],
    ) -> Result<Vec<super::StoredApplication>> {
        super::apply::list_on_pool::<Postgres>(
            self.pool(),
            self.place().as_ref(),
            &self.tables.application,
            columns,
        )
        .await
    }

    fn tables(&self) -> &Tables {
        &self.tables
    }

    fn queries(&self) -> &dyn Queries {
        &self.server
    }

    fn columns_query(&self, table: &str) -> Sql {
        // to_regclass honours search_path, like Django's unqualified table names do.
        let mut sql = Sql::new(Dialect::Postgres);
        sql.push(
            "SELECT a.attname::text, a.attnotnull, (a.atthasdef OR a.attidentity <> '') \
             FROM pg_attribute a \
             WHERE a.attrelid = to_regclass(",
        )
        .bind(Value::Text(Dialect::Postgres.quote(table)))
        .push(
            ") AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
        );
        sql
    }

    async fn run_embedded_migrations(&self) -> Result<()> {
        let migrations = async {
            MIGRATOR
                .run(self.pool())
                .await
                .context("applying oauthctl's PostgreSQL migrations")
        };
        // Each migration is a few statements on an empty database.
        let within = network::timeout().saturating_mul(8);
        self.server
            .place
            .within(within, "applying oauthctl's migrations", migrations)
            .await
    }

    fn server_version_sql(&self) -> Sql {
        let mut sql = Sql::new(Dialect::Postgres);
        sql.push("SELECT current_setting('server_version')");
        sql
    }

    async fn estimate_rows(&self, table: &str) -> Result<RowEstimate> {
        // reltuples is -1 until the first VACUUM or ANALYZE (PostgreSQL 14+); the statistics
        // system's live-row count is kept from the first insert on.
        let catalogue = |expr: &str, from: &str| {
            let mut sql = Sql::new(Dialect::Postgres);
            sql.push(&format!("SELECT {expr} FROM {from} = to_regclass("))
                .bind(Value::Text(Dialect::Postgres.quote(table)))
                .push(")");
            sql
        };
        let analyzed = catalogue(
            "CASE WHEN reltuples >= 0 THEN reltuples::bigint END",
            "pg_class WHERE oid",
        );
        let reltuples = self
            .server
            .fetch_optional_i64(&analyzed)
            .await
            .with_context(|| format!("reading pg_class.reltuples of {table}"))?;
        if reltuples.is_some() {
            return Ok(RowEstimate {
                rows: reltuples,
                source: "pg_class.reltuples",
            });
        }
        let live = catalogue("n_live_tup::bigint", "pg_stat_user_tables WHERE relid");
        let rows = self
            .server
            .fetch_optional_i64(&live)
            .await
            .with_context(|| format!("reading pg_stat_user_tables.n_live_tup of {table}"))?;
        Ok(RowEstimate {
            rows,
            source: "pg_stat_user_tables.n_live_tup (never analyzed)",
        })
    }

    async fn probe_cleanup_lock(&self) -> Result<LockProbe> {
        // pg_locks shows an advisory lock on a bigint key as (classid, objid) = its high and
        // low 32 bits, objsubid 1; reading it takes no lock.
        let mut sql = Sql::new(Dialect::Postgres);
        sql.push(
            "SELECT pid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND classid::bigint = ",
        )
        .bind(Value::Int(Some(CLEANUP_LOCK_KEY >> 32)))
        .push(" AND objid::bigint = ")
        .bind(Value::Int(Some(CLEANUP_LOCK_KEY & 0xffff_ffff)))
        .push(" AND objsubid = 1 LIMIT 1");
        let pid = self
            .server
            .fetch_optional_i64(&sql)
            .await
            .context("reading pg_locks")?;
        Ok(LockProbe {
            held: pid.is_some(),
            lock: advisory_lock().name,
            holder: pid.map(|pid| format!("PostgreSQL backend pid {pid}")),
        })
    }

    async fn acquire_cleanup_lock(&self) -> Result<Box<dyn CleanupLock>> {
        let options = self
            .server
            .options
            .clone()
            .application_name("oauthctl cleartokens lock");
        let session = self.server.lock_session(options);
        let conn = session.open().await?;
        let lock = SessionLock::<Postgres>::take(conn, session, advisory_lock()).await?;
        Ok(Box::new(lock))
    }

    async fn prepare_cleanup(&self) -> Result<()> {
        self.server.prepare_cleanup().await
    }

    async fn explain_candidates(
        &self,
        cutoffs: &Cutoffs,
        step: Step,
        limit: u64,
    ) -> Result<Vec<String>> {
        // A sweep's candidate read, with the planner as free as the sweep leaves it.
        let mut sql = Sql::new(Dialect::Postgres);
        predicates::batch_candidates(
            &mut sql,
            &self.tables,
            cutoffs,
            BatchRequest::first(step, limit),
        );
        sql.text.insert_str(0, "EXPLAIN (COSTS OFF) ");
        let rows = self
            .server
            .place
            .within(network::timeout(), "explaining a query", async {
                Ok(Postgres::query(&sql).fetch_all(self.pool()).await?)
            })
            .await
            .with_context(|| {
                format!(
                    "explaining the candidate search of {}",
                    step.table(&self.tables)
                )
            })?;
        rows.iter()
            .map(|row| Ok(row.try_get::<String, _>(0)?))
            .collect()
    }

    async fn examined_counter(&self) -> Result<Option<super::Examined>> {
        // This session's own counts reach the statistics views only when it flushes them,
        // at most once a second on its own: ask for the flush (PostgreSQL ≥ 15; it happens as
        // the session goes idle after this statement), then read.
        let mut flush = Sql::new(Dialect::Postgres);
        flush.push("SELECT 1::bigint FROM (SELECT pg_stat_force_next_flush()) AS f");
        let mut pages = Sql::new(Dialect::Postgres);
        pages.push(
            "SELECT COALESCE(SUM(COALESCE(heap_blks_read, 0) + COALESCE(heap_blks_hit, 0) \
             + COALESCE(idx_blks_read, 0) + COALESCE(idx_blks_hit, 0)), 0)::bigint \
             FROM pg_statio_user_tables WHERE relid IN (",
        );
        let t = &self.tables;
        for (i, table) in [&t.access_token, &t.refresh_token, &t.id_token, &t.grant]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                pages.push(", ");
            }
            pages
                .push("to_regclass(")
                .bind(Value::Text(Dialect::Postgres.quote(table)))
                .push(")");
        }
        pages.push(")");
        let queries = self.queries();
        // An older server has no such function: its counts are at most a second late.
        let _ = queries.fetch_i64(&flush).await;
        let count = queries
            .fetch_i64(&pages)
            .await
            .context("reading pg_statio_user_tables")?;
        Ok(Some(super::Examined::Pages(count.max(0) as u64)))
    }

    async fn run_index_ddl(&self, statement: &str) -> Result<()> {
        // CONCURRENTLY waits for every transaction older than the build: no statement bound.
        self.server
            .run_long(&["SET statement_timeout = 0"], statement)
            .await
    }

    async fn delete_batch(&self, cutoffs: &Cutoffs, batch: BatchRequest) -> Result<BatchOutcome> {
        let what = format!("deleting a batch from {}", batch.step.table(&self.tables));
        let mut conn = self.server.acquire().await.context(what.clone())?;
        let result = self
            .server
            .place
            .within(self.server.deadlines().batch, &what, async {
                if batch.shape == BatchShape::Sweep {
                    self.sweep(&mut conn, cutoffs, batch).await
                } else {
                    self.one_statement_batch(&mut conn, cutoffs, batch).await
                }
            })
            .await;
        conn.finish(&result);
        result
    }

    fn pace_cleanup(&self, pace: CleanupPace) {
        self.server.pace_cleanup(pace);
    }

    fn batch_deadline(&self) -> Option<Duration> {
        Some(self.server.deadlines().batch)
    }

    fn place(&self) -> Option<network::Place> {
        Some(self.server.place.clone())
    }
}

impl PostgresStore {
    /// A Keys or Range batch: one statement, autocommitted (see the module docs).
    async fn one_statement_batch(
        &self,
        conn: &mut PgConnection,
        cutoffs: &Cutoffs,
        batch: BatchRequest,
    ) -> Result<BatchOutcome> {
        let sql = self.batch_sql(cutoffs, batch);
        let step = batch.step;
        let started = std::time::Instant::now();
        let context = || format!("deleting a batch from {}", step.table(&self.tables));
        let row = Postgres::query(&sql)
            .fetch_one(conn)
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
}
