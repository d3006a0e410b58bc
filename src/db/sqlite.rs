//! SQLite dialect: Django's text datetimes, `pragma_table_info`, `?` placeholders.
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
use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection, Row, Sqlite};

use super::predicates::{self, Params, Sql};
use super::{
    application_insert_plan, insert_sql, quoted, Backend, BatchOutcome, BatchRequest, CleanupLock,
    ColumnInfo, Cutoffs, DatabaseUrl, ErrorClass, InsertError, MigrateOutcome, NewApplication,
    OpenMode, Step, Store, Tables, Value,
};
use crate::django::datetime::django_text;

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
        // `filename` takes the path verbatim (no URL decoding), foreign keys on as Django does.
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
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

fn bind<'q>(
    query: sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>,
    value: Value,
) -> sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>> {
    match value {
        Value::Text(text) => query.bind(text),
        Value::Bool(flag) => query.bind(flag),
        Value::Int(number) => query.bind(number),
        // Django compares SQLite datetimes as text: bind exactly its text form.
        Value::Timestamp(at) => query.bind(at.map(django_text)),
    }
}

fn query_for(sql: &Sql) -> sqlx::query::Query<'_, Sqlite, SqliteArguments<'_>> {
    sql.binds.iter().cloned().fold(sqlx::query(&sql.text), bind)
}

/// The exclusive lock on the sidecar file; closing the file (drop) releases it.
struct FileLock {
    path: PathBuf,
    _file: Option<std::fs::File>,
}

#[async_trait]
impl CleanupLock for FileLock {
    fn describe(&self) -> String {
        format!("lock file {}", self.path.display())
    }

    async fn ensure_held(&mut self) -> Result<bool> {
        // An OS file lock lives as long as our file handle: it cannot be lost.
        Ok(false)
    }

    async fn release(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn tables(&self) -> &Tables {
        &self.tables
    }

    async fn table_columns(&self, table: &str) -> Result<Option<Vec<ColumnInfo>>> {
        let rows = sqlx::query(r#"SELECT name, "notnull", dflt_value IS NOT NULL OR pk > 0 FROM pragma_table_info(?1)"#)
            .bind(table)
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
                    not_null: row.get::<i64, _>(1) != 0,
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
            .context("applying oauthctl's SQLite migrations")?;
        let after = applied_count(&self.pool, true).await?;
        Ok(MigrateOutcome::Applied((after - before) as usize))
    }

    async fn user_exists(&self, user_id: i64) -> Result<bool> {
        let sql = format!(
            "SELECT 1 FROM {} WHERE \"id\" = ?1 LIMIT 1",
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
            "SELECT 1 FROM {} WHERE \"client_id\" = ?1 LIMIT 1",
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
        let sql = insert_sql(table, &names, '"', |i| format!("?{i}"));
        let mut query = sqlx::query(&sql);
        for (_, value) in plan {
            query = bind(query, value);
        }
        match query.execute(&self.pool).await {
            Ok(done) => Ok(done.last_insert_rowid()),
            Err(e) if is_unique_violation(&e) => Err(InsertError::DuplicateClientId),
            Err(e) => Err(anyhow::Error::new(e)
                .context(format!("inserting into {table}"))
                .into()),
        }
    }

    async fn acquire_cleanup_lock(&self) -> Result<Box<dyn CleanupLock>> {
        if self.path == ":memory:" || self.path.starts_with("file::memory:") {
            // A private in-memory database: no other process can reach it.
            return Ok(Box::new(FileLock {
                path: PathBuf::from(":memory:"),
                _file: None,
            }));
        }
        let path = cleanup_lock_path(&self.path);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        // Fully qualified: std's own File::try_lock (Rust 1.89) would otherwise shadow fs4's.
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => Ok(Box::new(FileLock {
                path,
                _file: Some(file),
            })),
            Err(fs4::TryLockError::WouldBlock) => bail!(crate::error::Failure::Conflict(format!(
                "another oauthctl cleartokens run is active on {}: it holds the lock file {}; try again when it has finished",
                self.path,
                path.display()
            ))),
            Err(fs4::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
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

    async fn delete_batch(&self, cutoffs: &Cutoffs, batch: BatchRequest) -> Result<BatchOutcome> {
        // One shape here: the candidates' keys, read before the write lock is taken, so that
        // the lock is never held while scanning (SQLite has one writer at a time).
        self.cleanup_batch(batch.step, cutoffs, batch.after_id, batch.limit)
            .await
    }

    async fn count_deletable(&self, step: Step, cutoffs: &Cutoffs) -> Result<u64> {
        let sql = predicates::count_sql(Params::NumberedQuestion, '"', &self.tables, step, cutoffs);
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
            // SQLITE_BUSY (5) / SQLITE_LOCKED (6) and their extended codes: another connection
            // holds the lock past our busy timeout.
            let primary = db
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .map(|c| c & 0xff);
            return match primary {
                Some(5) | Some(6) => ErrorClass::Transient,
                _ => ErrorClass::Permanent,
            };
        }
        match e {
            // A file-level I/O error is a disk problem, not a dropped connection.
            sqlx::Error::Io(_) => ErrorClass::Permanent,
            sqlx::Error::PoolTimedOut => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        }
    }
}

impl SqliteStore {
    /// The statement collecting the next candidates into the scratch table.
    fn candidates_sql(&self, step: Step, cutoffs: &Cutoffs, after_id: i64, limit: u64) -> Sql {
        let mut sql = Sql::new(Params::NumberedQuestion, '"');
        sql.push("INSERT INTO temp.")
            .ident(BATCH_TABLE)
            .push(" (\"id\") SELECT t.\"id\" FROM ")
            .ident(step.table(&self.tables))
            .push(" t WHERE t.\"id\" > ")
            .bind(Value::Int(Some(after_id)))
            .push(" AND ");
        predicates::step_condition(&mut sql, &self.tables, step, cutoffs);
        sql.push(&format!(" ORDER BY t.\"id\" LIMIT {limit}"));
        sql
    }

    async fn cleanup_batch(
        &self,
        step: Step,
        cutoffs: &Cutoffs,
        after_id: i64,
        limit: u64,
    ) -> Result<BatchOutcome> {
        let tables = &self.tables;
        let table = step.table(tables);
        // Everything on one connection: the scratch table is private to it.
        let mut conn = self.pool.acquire().await.context("connecting")?;
        sqlx::query(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS {} (\"id\" INTEGER PRIMARY KEY)",
            quoted(BATCH_TABLE, '"')
        ))
        .execute(&mut *conn)
        .await
        .context("creating the batch scratch table")?;
        sqlx::query(&format!("DELETE FROM temp.{}", quoted(BATCH_TABLE, '"')))
            .execute(&mut *conn)
            .await
            .context("emptying the batch scratch table")?;

        // One read finds the candidates (no write lock held while scanning).
        let candidates_sql = self.candidates_sql(step, cutoffs, after_id, limit);
        let candidates = query_for(&candidates_sql)
            .execute(&mut *conn)
            .await
            .with_context(|| format!("selecting a batch from {table}"))?
            .rows_affected();
        if candidates == 0 {
            return Ok(BatchOutcome::NONE_LEFT);
        }
        let last_id: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT MAX(\"id\") FROM temp.{}",
            quoted(BATCH_TABLE, '"')
        ))
        .fetch_one(&mut *conn)
        .await
        .context("reading the batch's last id")?;

        // One short write transaction; BEGIN IMMEDIATE takes the write lock up front instead of
        // failing with SQLITE_BUSY when a read transaction is upgraded.
        let write_started = std::time::Instant::now();
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .context("starting the batch transaction")?;
        if step.deletes_refresh_tokens() {
            // DOT's SET_NULL on accesstoken.source_refresh_token_id, for exactly the refresh
            // tokens deleted below (the same re-checked condition, under the same write lock).
            let mut sql = Sql::new(Params::NumberedQuestion, '"');
            // Written as `t.id IN (scratch)` so that SQLite drives it from the scratch table's
            // rows; as a JOIN it would scan the whole refresh token table per batch.
            sql.push("UPDATE ")
                .ident(&tables.access_token)
                .push(" SET \"source_refresh_token_id\" = NULL WHERE \"source_refresh_token_id\" IN (SELECT t.\"id\" FROM ")
                .ident(table)
                .push(" t WHERE t.\"id\" IN (SELECT \"id\" FROM temp.")
                .ident(BATCH_TABLE)
                .push(") AND ");
            predicates::step_condition(&mut sql, tables, step, cutoffs);
            sql.push(")");
            query_for(&sql).execute(&mut *tx).await.with_context(|| {
                format!("nulling {}.source_refresh_token_id", tables.access_token)
            })?;
        }
        let mut sql = Sql::new(Params::NumberedQuestion, '"');
        sql.push("DELETE FROM ")
            .ident(table)
            .push(" AS t WHERE t.\"id\" IN (SELECT \"id\" FROM temp.")
            .ident(BATCH_TABLE)
            .push(") AND ");
        predicates::step_condition(&mut sql, tables, step, cutoffs);
        let deleted = query_for(&sql)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("deleting a batch from {table}"))?
            .rows_affected();
        tx.commit().await.context("committing the batch")?;
        Ok(BatchOutcome {
            candidates,
            deleted,
            first_id: None,
            last_id,
            locked: write_started.elapsed(),
        })
    }
}

async fn applied_count(pool: &SqlitePool, ledger_exists: bool) -> Result<i64> {
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
