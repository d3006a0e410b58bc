//! SQLite: Django's text datetimes, `pragma_table_info`, `?n` placeholders.
//!
//! Cleanup batches: the candidate ids are collected into a connection-private TEMP table by one
//! read (outside the write lock, so a long scan never blocks the server's writers), then one
//! `BEGIN IMMEDIATE` transaction nulls `source_refresh_token_id` and deletes the candidates that
//! still match. The run lock is an exclusive OS lock on a sidecar file next to the database.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
};
use sqlx::Sqlite;

use super::batch::WriteBatch;
use super::driver::{Driver, Queries, Run};
use super::lock::{file_lock_held, FileLock};
use super::predicates;
use super::sql::{Bound, Dialect, Sql, Value};
use super::{
    BatchOutcome, BatchRequest, CleanupLock, Cutoffs, DatabaseUrl, LockProbe, OpenMode,
    RowEstimate, Step, Store, Tables,
};
use crate::django::datetime::naive_text;

/// How long a cleanup statement waits for the server's write lock before backing off (Django's
/// own SQLite default timeout).
const CLEANUP_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache for cleanup batches. Successive batches touch the same index pages; SQLite's
/// default 2 MiB cache would re-read them from the OS every batch. 16 MiB keeps the process well
/// under 32 MiB; more barely helps (1M backlog: 17.2 s at 16 MiB, 15.5 s at 256 MiB), because
/// what a batch costs is writing its dirty pages at COMMIT, whatever the cache.
const CLEANUP_CACHE_KIB: u32 = 16 * 1024;

/// The connection-private scratch table holding one batch's candidate ids.
const BATCH_TABLE: &str = "oauthctl_cleartokens_batch";

/// The sidecar file whose exclusive OS lock means "a cleartokens run is active on this database".
pub fn cleanup_lock_path(database_path: &str) -> PathBuf {
    PathBuf::from(format!("{database_path}-oauthctl-cleartokens.lock"))
}

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
    tables: Tables,
    path: String,
}

impl SqliteStore {
    pub async fn open(url: &DatabaseUrl, tables: Tables, mode: OpenMode) -> Result<Self> {
        let path = url.sqlite_path().unwrap_or_default();
        if path.is_empty() {
            bail!(crate::error::Failure::Usage(
                "--database-url names no SQLite file; use e.g. sqlite://db.sqlite3".into()
            ));
        }
        let existed = Path::new(&path).exists();
        let existing_only = matches!(mode, OpenMode::ExistingSqlite | OpenMode::ReadOnly);
        if !existed && existing_only {
            bail!(
                "SQLite database {path} does not exist (check --database-url); `oauthctl migrate` or `oauthctl createapplication` creates a new database"
            );
        }
        // `filename` takes the path verbatim (no URL decoding), foreign keys on as Django does.
        // Never created for an existing-only mode, even if the file vanished since the check
        // above; read-only for `doctor`, so that nothing at all can be written.
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(!existing_only)
            .read_only(mode == OpenMode::ReadOnly)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open SQLite database {path}"))?;
        let store = SqliteStore {
            pool,
            tables,
            path: path.clone(),
        };
        if !existed && mode == OpenMode::CreateSqlite {
            store
                .migrate()
                .await
                .with_context(|| format!("creating DOT's tables in the new file {path}"))?;
        }
        Ok(store)
    }
}

impl Driver for Sqlite {
    const DIALECT: Dialect = Dialect::Sqlite;

    /// Django compares SQLite datetimes as text: bind exactly its text form.
    type Timestamp = Option<String>;

    fn timestamp(at: Option<Bound>) -> Option<String> {
        at.map(|t| match t {
            Bound::Wall(wall) => naive_text(wall),
            // Not produced for SQLite (see `Bound::of`); UTC text is Django's default form.
            Bound::Instant(at) => naive_text(at.naive_utc()),
        })
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    async fn insert<'e>(
        conn: &'e mut <Sqlite as sqlx::Database>::Connection,
        sql: &'e Sql,
    ) -> Result<i64, sqlx::Error> {
        Ok(Sqlite::query(sql).execute(conn).await?.last_insert_rowid())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin_apply(
        &self,
        columns: Vec<super::ColumnInfo>,
    ) -> Result<Box<dyn super::ApplyTransaction>> {
        super::apply::begin::<Sqlite>(&self.pool, None, &self.tables, columns).await
    }

    async fn list_applications(
        &self,
        columns: &[super::ColumnInfo],
    ) -> Result<Vec<super::StoredApplication>> {
        super::apply::list_on_pool::<Sqlite>(&self.pool, None, &self.tables.application, columns)
            .await
    }

    fn tables(&self) -> &Tables {
        &self.tables
    }

    fn queries(&self) -> &dyn Queries {
        &self.pool
    }

    fn columns_query(&self, table: &str) -> Sql {
        let mut sql = Sql::new(Dialect::Sqlite);
        sql.push(
            r#"SELECT name, "notnull", dflt_value IS NOT NULL OR pk > 0 FROM pragma_table_info("#,
        )
        .bind(Value::Text(table.to_string()))
        .push(")");
        sql
    }

    async fn run_embedded_migrations(&self) -> Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .context("applying oauthctl's SQLite migrations")
    }

    async fn acquire_cleanup_lock(&self) -> Result<Box<dyn CleanupLock>> {
        if self.path == ":memory:" || self.path.starts_with("file::memory:") {
            return Ok(Box::new(FileLock::in_memory()));
        }
        let lock = FileLock::acquire(&self.path, cleanup_lock_path(&self.path))?;
        Ok(Box::new(lock))
    }

    async fn explain_candidates(
        &self,
        cutoffs: &Cutoffs,
        step: Step,
        limit: u64,
    ) -> Result<Vec<String>> {
        let mut sql = self.candidates_select(step, cutoffs, i64::MIN, limit);
        sql.text.insert_str(0, "EXPLAIN QUERY PLAN ");
        let rows = Sqlite::query(&sql)
            .fetch_all(&self.pool)
            .await
            .with_context(|| {
                format!(
                    "explaining the candidate search of {}",
                    step.table(&self.tables)
                )
            })?;
        rows.iter()
            .map(|row| Ok(sqlx::Row::try_get::<String, _>(row, 3)?))
            .collect()
    }

    async fn run_index_ddl(&self, statement: &str) -> Result<()> {
        sqlx::query(statement).execute(&self.pool).await?;
        Ok(())
    }

    async fn prepare_cleanup(&self) -> Result<()> {
        for pragma in [
            format!("PRAGMA busy_timeout = {}", CLEANUP_BUSY_TIMEOUT.as_millis()),
            format!("PRAGMA cache_size = -{CLEANUP_CACHE_KIB}"),
        ] {
            sqlx::query(&pragma)
                .execute(&self.pool)
                .await
                .with_context(|| format!("running {pragma}"))?;
        }
        Ok(())
    }

    fn server_version_sql(&self) -> Sql {
        let mut sql = Sql::new(Dialect::Sqlite);
        sql.push("SELECT sqlite_version()");
        sql
    }

    async fn estimate_rows(&self, table: &str) -> Result<RowEstimate> {
        // ANALYZE's figure when there is one; else the highest id, O(log n) on the primary key:
        // an upper bound (deleted rows included), labelled as such.
        if let Some(rows) = self.analyzed_rows(table).await? {
            return Ok(RowEstimate {
                rows: Some(rows),
                source: "sqlite_stat1 (as of the last ANALYZE)",
            });
        }
        let mut sql = Sql::new(Dialect::Sqlite);
        sql.push("SELECT MAX(\"id\") FROM ").ident(table);
        let max_id = self
            .pool
            .fetch_optional_i64(&sql)
            .await
            .with_context(|| format!("reading the highest id of {table}"))?;
        Ok(RowEstimate {
            rows: Some(max_id.unwrap_or(0)),
            source: "max(id): an upper bound (no ANALYZE statistics)",
        })
    }

    async fn probe_cleanup_lock(&self) -> Result<LockProbe> {
        let path = cleanup_lock_path(&self.path);
        let in_memory = self.path == ":memory:" || self.path.starts_with("file::memory:");
        Ok(LockProbe {
            held: !in_memory && file_lock_held(&path)?,
            lock: format!("lock file {}", path.display()),
            holder: None,
        })
    }

    async fn delete_batch(&self, cutoffs: &Cutoffs, batch: BatchRequest) -> Result<BatchOutcome> {
        // One shape here: the candidates' keys, read before the write lock is taken, so that
        // the lock is never held while scanning (SQLite has one writer at a time).
        self.cleanup_batch(batch.step, cutoffs, batch.after_id, batch.limit)
            .await
    }
}

impl SqliteStore {
    /// The row count ANALYZE recorded for `table` in `sqlite_stat1`, if it ever ran.
    async fn analyzed_rows(&self, table: &str) -> Result<Option<i64>> {
        let mut has_stats = Sql::new(Dialect::Sqlite);
        has_stats
            .push("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'");
        if !self
            .pool
            .exists(&has_stats)
            .await
            .context("reading sqlite_master")?
        {
            return Ok(None);
        }
        // Each row's `stat` starts with the table's row count; CAST keeps that leading number.
        let mut sql = Sql::new(Dialect::Sqlite);
        sql.push("SELECT CAST(stat AS INTEGER) FROM sqlite_stat1 WHERE tbl = ")
            .bind(Value::Text(table.to_string()))
            .push(" LIMIT 1");
        self.pool
            .fetch_optional_i64(&sql)
            .await
            .context("reading sqlite_stat1")
    }

    /// One batch (see the module docs).
    async fn cleanup_batch(
        &self,
        step: Step,
        cutoffs: &Cutoffs,
        after_id: i64,
        limit: u64,
    ) -> Result<BatchOutcome> {
        // Everything on one connection: the scratch table is private to it.
        let mut conn = self.pool.acquire().await.context("connecting")?;
        let candidates = self
            .collect_candidates(&mut conn, step, cutoffs, after_id, limit)
            .await?;
        if candidates == 0 {
            return Ok(BatchOutcome::NONE_LEFT);
        }
        let last_id: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT MAX(\"id\") FROM temp.{}",
            Dialect::Sqlite.quote(BATCH_TABLE)
        ))
        .fetch_one(&mut *conn)
        .await
        .context("reading the batch's last id")?;

        let write = WriteBatch {
            step,
            tables: &self.tables,
            // BEGIN IMMEDIATE takes the write lock up front instead of failing with SQLITE_BUSY
            // when a read transaction is upgraded.
            begin: "BEGIN IMMEDIATE",
            set_null: step
                .deletes_refresh_tokens()
                .then(|| self.set_null_sql(step, cutoffs)),
            delete: self.delete_sql(step, cutoffs),
        };
        let (deleted, locked) = write.run::<Sqlite>(&mut conn).await?;
        Ok(BatchOutcome {
            candidates,
            deleted,
            first_id: None,
            last_id,
            locked,
        })
    }

    /// Fills the (emptied) scratch table with the batch's candidate ids, by one read: no write
    /// lock is held while scanning. Returns how many there are.
    async fn collect_candidates(
        &self,
        conn: &mut SqliteConnection,
        step: Step,
        cutoffs: &Cutoffs,
        after_id: i64,
        limit: u64,
    ) -> Result<u64> {
        let scratch = Dialect::Sqlite.quote(BATCH_TABLE);
        sqlx::query(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS {scratch} (\"id\" INTEGER PRIMARY KEY)"
        ))
        .execute(&mut *conn)
        .await
        .context("creating the batch scratch table")?;
        sqlx::query(&format!("DELETE FROM temp.{scratch}"))
            .execute(&mut *conn)
            .await
            .context("emptying the batch scratch table")?;
        let candidates = Sqlite::query(&self.candidates_sql(step, cutoffs, after_id, limit))
            .execute(&mut *conn)
            .await
            .with_context(|| format!("selecting a batch from {}", step.table(&self.tables)))?
            .rows_affected();
        Ok(candidates)
    }

    /// The statement collecting the next candidates into the scratch table.
    fn candidates_sql(&self, step: Step, cutoffs: &Cutoffs, after_id: i64, limit: u64) -> Sql {
        let mut sql = self.candidates_select(step, cutoffs, after_id, limit);
        let into = format!(
            "INSERT INTO temp.{} (\"id\") ",
            Dialect::Sqlite.quote(BATCH_TABLE)
        );
        sql.text.insert_str(0, &into);
        sql
    }

    /// The candidates' SELECT: the next `limit` ids after `after_id` meeting the condition.
    fn candidates_select(&self, step: Step, cutoffs: &Cutoffs, after_id: i64, limit: u64) -> Sql {
        let tables = &self.tables;
        let mut sql = Sql::new(Dialect::Sqlite);
        if step == Step::ExpiredRefreshTokens && after_id == i64::MIN {
            // Step 3's first batch, driven by the expired access tokens (`CROSS JOIN` fixes the
            // order): SQLite never turns the EXISTS into a join, so the step would otherwise
            // walk every refresh token by key and look up its access token, however few have
            // expired. Later batches walk on from their cursor by key, so that a backlog does
            // not read every expired access token again in each batch.
            let (_, condition) =
                predicates::refresh_token_condition_as_join(Dialect::Sqlite, tables, step, cutoffs);
            sql.push("SELECT t.\"id\" FROM ")
                .ident(&tables.access_token)
                .push(" a CROSS JOIN ")
                .ident(step.table(tables))
                .push(" t ON t.\"access_token_id\" = a.\"id\" WHERE ");
            // The condition first: its values are numbered from 1 and cannot be renumbered.
            sql.text.push_str(&condition.text);
            sql.binds.extend(condition.binds);
            sql.push(" AND t.\"id\" > ")
                .bind(Value::Int(Some(after_id)));
        } else {
            sql.push("SELECT t.\"id\" FROM ")
                .ident(step.table(tables))
                .push(" t WHERE t.\"id\" > ")
                .bind(Value::Int(Some(after_id)))
                .push(" AND ");
            predicates::step_condition(&mut sql, tables, step, cutoffs);
        }
        sql.push(&format!(" ORDER BY t.\"id\" LIMIT {limit}"));
        sql
    }

    /// DOT's SET_NULL on accesstoken.source_refresh_token_id, for exactly the refresh tokens
    /// [`Self::delete_sql`] deletes (the same re-checked condition, under the same write lock).
    fn set_null_sql(&self, step: Step, cutoffs: &Cutoffs) -> Sql {
        let tables = &self.tables;
        let mut sql = Sql::new(Dialect::Sqlite);
        // Written as `t.id IN (scratch)` so that SQLite drives it from the scratch table's
        // rows; as a JOIN it would scan the whole refresh token table per batch.
        sql.push("UPDATE ")
            .ident(&tables.access_token)
            .push(" SET \"source_refresh_token_id\" = NULL WHERE \"source_refresh_token_id\" IN (SELECT t.\"id\" FROM ")
            .ident(step.table(tables))
            .push(" t WHERE t.\"id\" IN (SELECT \"id\" FROM temp.")
            .ident(BATCH_TABLE)
            .push(") AND ");
        predicates::step_condition(&mut sql, tables, step, cutoffs);
        sql.push(")");
        sql
    }

    /// Deletes the candidates that still match.
    fn delete_sql(&self, step: Step, cutoffs: &Cutoffs) -> Sql {
        let mut sql = Sql::new(Dialect::Sqlite);
        sql.push("DELETE FROM ")
            .ident(step.table(&self.tables))
            .push(" AS t WHERE t.\"id\" IN (SELECT \"id\" FROM temp.")
            .ident(BATCH_TABLE)
            .push(") AND ");
        predicates::step_condition(&mut sql, &self.tables, step, cutoffs);
        sql
    }
}
