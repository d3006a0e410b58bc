//! MySQL/MariaDB dialect: naive UTC `datetime(6)`, `information_schema`, `?` placeholders,
//! backtick quoting. MariaDB ≥ 10.7 gets the migration set with native `uuid` columns, as
//! Django 5 creates there.
//!
//! Cleanup batches: one consistent (non-locking, READ COMMITTED) read fetches the next
//! candidate ids (rows meeting the step's condition, or for a [`BatchShape::Range`] batch its
//! scan condition, see [`predicates::scan_condition`]); then one short transaction nulls
//! `source_refresh_token_id` for the batch's refresh tokens that still match (re-checked with
//! locking reads) and deletes the batch's rows that meet the full condition: over the primary
//! key range when the candidates are dense, by key when they are sparse. The FKs are immediate
//! here, so the UPDATE must come before the DELETE. The run lock is `GET_LOCK`, held on a
//! dedicated connection.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use sha2::Digest;
use sqlx::migrate::Migrator;
use sqlx::mysql::{
    MySqlArguments, MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions,
};
use sqlx::{ConnectOptions, Connection, Executor, MySql, Row};

use super::predicates::{self, Params, Sql};
use super::{
    application_insert_plan, insert_sql, quoted, Backend, BatchOutcome, BatchRequest, BatchShape,
    CleanupLock, ColumnInfo, Cutoffs, DatabaseUrl, ErrorClass, InsertError, MigrateOutcome,
    NewApplication, Step, Store, Tables, Value,
};

static MYSQL_MIGRATOR: Migrator = sqlx::migrate!("migrations/mysql");
static MARIADB_MIGRATOR: Migrator = sqlx::migrate!("migrations/mariadb");

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Session settings for cleanup batches: wait at most 1 s (InnoDB's minimum) for a row lock the
/// server holds, then back off and retry, rather than queueing (and making the server queue
/// behind the rows we already locked); and do not wait for ever on a metadata lock (DDL).
const CLEANUP_SESSION: [&str; 2] = [
    "SET SESSION innodb_lock_wait_timeout = 1",
    "SET SESSION lock_wait_timeout = 10",
];

/// The `GET_LOCK` name for a database. Lock names are server-wide, so the database is part of
/// it; MySQL allows 64 characters, so a long database name is replaced by its hash.
pub fn cleanup_lock_name(database: &str) -> String {
    let plain = format!("oauthctl-cleartokens:{database}");
    if plain.chars().count() <= 64 {
        return plain;
    }
    let digest = sha2::Sha256::digest(database.as_bytes());
    let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
    format!("oauthctl-cleartokens:{hex}")
}

pub struct MySqlStore {
    pool: MySqlPool,
    tables: Tables,
    options: MySqlConnectOptions,
    redacted_url: String,
    /// Set by `prepare_cleanup`: connections opened later (after a lost one) get the same
    /// session settings.
    cleanup_session: Arc<AtomicBool>,
}

impl MySqlStore {
    pub async fn open(url: &DatabaseUrl, tables: Tables) -> Result<Self> {
        let options = MySqlConnectOptions::from_str(&url.driver_url())
            .map_err(|e| anyhow::anyhow!(crate::db::url::scrub(&e.to_string(), url)))
            .with_context(|| format!("invalid MySQL URL {}", url.redacted()))?
            .charset("utf8mb4");
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
        let pool = MySqlPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            // Django's MySQL sessions run READ COMMITTED; so do ours, for the same locking.
            .after_connect(move |conn, _meta| {
                let cleanup = session_flag.load(Ordering::SeqCst);
                Box::pin(async move {
                    sqlx::query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .execute(&mut *conn)
                        .await?;
                    if cleanup {
                        apply_cleanup_session(conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy_with(options.clone());
        Ok(MySqlStore {
            pool,
            tables,
            options,
            redacted_url: url.redacted(),
            cleanup_session,
        })
    }

    async fn cleanup_batch(&self, cutoffs: &Cutoffs, batch: BatchRequest) -> Result<BatchOutcome> {
        let BatchRequest {
            step,
            after_id,
            limit,
            shape,
        } = batch;
        let tables = &self.tables;
        let table = step.table(tables);
        let mut conn = self.pool.acquire().await.context("connecting")?;

        // The candidates: a consistent read (no locks under READ COMMITTED), so scanning past
        // rows the server is busy with never waits. Their ids come to the client (at most
        // `limit` integers); a scratch table would cost more to fill and empty than the batch's
        // own DELETE takes (measured: 53 ms against 7 ms for 10,000 ids).
        let mut sql = Sql::new(Params::Question, '`');
        if shape == BatchShape::Sweep && step == Step::ExpiredRefreshTokens {
            // Step 3 from the table's start: driven by the expired access tokens and joined
            // to their refresh tokens through its unique key. Walking the refresh tokens by
            // primary key would look up each one's access token, one random read per refresh
            // token; when few have expired (a daily run) that read is almost all wasted
            // (measured at 1M tokens, steady mix: 1.03 s against 0.23 s).
            // The condition as a join on `a`; the join itself is written here, `a` first.
            let mut join_to_a = Sql::new(Params::Question, '`');
            let mut condition = Sql::new(Params::Question, '`');
            predicates::refresh_token_condition_as_join(
                &mut join_to_a,
                &mut condition,
                tables,
                step,
                cutoffs,
            );
            sql.push("SELECT t.`id` FROM ")
                .ident(&tables.access_token)
                .push(" a STRAIGHT_JOIN ")
                .ident(table)
                .push(" t ON t.`access_token_id` = a.`id` WHERE t.`id` > ")
                .bind(Value::Int(Some(after_id)))
                .push(" AND ")
                .append(condition);
            predicates::batch_order(&mut sql, limit);
        } else {
            predicates::batch_candidates(&mut sql, tables, cutoffs, batch);
        }
        let ids: Vec<i64> = query_for(&sql)
            .fetch_all(&mut *conn)
            .await
            .with_context(|| format!("selecting a batch from {table}"))?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .with_context(|| format!("reading the ids of a batch from {table}"))?;
        let (Some(&first_id), Some(&last_id)) = (ids.first(), ids.last()) else {
            return Ok(BatchOutcome::NONE_LEFT);
        };
        let candidates = ids.len() as u64;
        // Dense candidates (backlog): work over their primary key range, as the scan goes.
        // Sparse ones (a steady-state run, where one batch spans the table): by key, so the
        // transaction never scans (and locks its way) across the rows in between.
        let span = last_id.saturating_sub(first_id) as u64 + 1;
        let dense = span <= candidates.saturating_mul(2);
        // The rows of the batch, as a condition on `t`.`id` (ids are integers from the
        // database, so writing them into the statement is safe).
        let in_batch = |sql: &mut Sql, t: &str| {
            if dense {
                sql.push(&format!("{t}.`id` BETWEEN "))
                    .bind(Value::Int(Some(first_id)))
                    .push(" AND ")
                    .bind(Value::Int(Some(last_id)));
            } else {
                let list: Vec<String> = ids.iter().map(i64::to_string).collect();
                sql.push(&format!("{t}.`id` IN ({})", list.join(",")));
            }
        };

        let write_started = std::time::Instant::now();
        let mut tx = conn
            .begin()
            .await
            .context("starting the batch transaction")?;
        if step.deletes_refresh_tokens() {
            // DOT's SET_NULL first (immediate FKs). The join re-reads each refresh token of the
            // batch with a lock and re-checks the condition, so only tokens that are deleted
            // below lose their link, and they cannot change before the DELETE.
            let mut joins = Sql::new(Params::Question, '`');
            let mut condition = Sql::new(Params::Question, '`');
            predicates::refresh_token_condition_as_join(
                &mut joins,
                &mut condition,
                tables,
                step,
                cutoffs,
            );
            let mut sql = Sql::new(Params::Question, '`');
            // STRAIGHT_JOIN: the batch's refresh tokens drive, every other table is a key
            // lookup. Left to itself the optimizer may scan (and, with locking reads, lock) a
            // whole token table, which blocks and deadlocks the server's own writes.
            sql.push("UPDATE ")
                .ident(table)
                .push(" t STRAIGHT_JOIN ")
                .ident(&tables.access_token)
                .push(" s ON s.`source_refresh_token_id` = t.`id`")
                .append(joins)
                .push(" SET s.`source_refresh_token_id` = NULL WHERE ");
            in_batch(&mut sql, "t");
            sql.push(" AND ").append(condition);
            query_for(&sql).execute(&mut *tx).await.with_context(|| {
                format!("nulling {}.source_refresh_token_id", tables.access_token)
            })?;
        }
        // A single-table DELETE that re-checks the full condition and deletes as it reads. The
        // range form may also take a row of the range that only began to match since the
        // candidates were read (it matches DOT's condition now); if that is a refresh token
        // still referenced, the FK stops the batch and the retry re-reads.
        let qualified = quoted(table, '`');
        let mut sql = Sql::new(Params::Question, '`');
        sql.push("DELETE FROM ").ident(table).push(" WHERE ");
        in_batch(&mut sql, &qualified);
        sql.push(" AND ");
        predicates::step_condition_on(&mut sql, tables, step, cutoffs, &qualified);
        let deleted = query_for(&sql)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("deleting a batch from {table}"))?
            .rows_affected();
        tx.commit().await.context("committing the batch")?;
        Ok(BatchOutcome {
            candidates,
            deleted,
            first_id: Some(first_id),
            last_id: Some(last_id),
            locked: write_started.elapsed(),
        })
    }

    /// MariaDB from 10.7 on has a native `uuid` type, which Django 5 uses for UUIDField.
    async fn migrator(&self) -> Result<&'static Migrator> {
        let version: String = sqlx::query_scalar("SELECT VERSION()")
            .fetch_one(&self.pool)
            .await
            .context("reading the server version")?;
        Ok(if mariadb_has_uuid(&version) {
            &MARIADB_MIGRATOR
        } else {
            &MYSQL_MIGRATOR
        })
    }
}

async fn apply_cleanup_session(conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
    for statement in CLEANUP_SESSION {
        conn.execute(statement).await?;
    }
    Ok(())
}

fn query_for(sql: &Sql) -> sqlx::query::Query<'_, MySql, MySqlArguments> {
    sql.binds.iter().cloned().fold(sqlx::query(&sql.text), bind)
}

/// `GET_LOCK` held on its own connection: a user lock lives as long as the session, so it must
/// not share the pool's connection (which may be replaced).
struct UserLock {
    conn: Option<MySqlConnection>,
    name: String,
    options: MySqlConnectOptions,
    redacted_url: String,
}

impl UserLock {
    async fn connect(options: &MySqlConnectOptions, redacted_url: &str) -> Result<MySqlConnection> {
        tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))?
            .with_context(|| format!("cannot connect to {redacted_url} for the run lock"))
    }

    fn conflict(name: &str, redacted_url: &str) -> anyhow::Error {
        anyhow::Error::new(crate::error::Failure::Conflict(format!(
            "another oauthctl cleartokens run is active on {redacted_url}: it holds the lock GET_LOCK('{name}') (see IS_USED_LOCK('{name}')); try again when it has finished"
        )))
    }

    /// `GET_LOCK(name, 0)`: 1 taken, 0 held elsewhere, NULL an error.
    async fn try_lock(conn: &mut MySqlConnection, name: &str) -> Result<bool> {
        let taken: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 0)")
            .bind(name)
            .fetch_one(conn)
            .await
            .context("taking the run lock")?;
        Ok(taken == Some(1))
    }
}

#[async_trait]
impl CleanupLock for UserLock {
    fn describe(&self) -> String {
        format!("GET_LOCK('{}')", self.name)
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
        if !Self::try_lock(&mut conn, &self.name).await? {
            let _ = conn.close().await;
            return Err(Self::conflict(&self.name, &self.redacted_url));
        }
        self.conn = Some(conn);
        Ok(true)
    }

    async fn release(mut self: Box<Self>) -> Result<()> {
        if let Some(mut conn) = self.conn.take() {
            let _: Option<i64> = sqlx::query_scalar("SELECT RELEASE_LOCK(?)")
                .bind(&self.name)
                .fetch_one(&mut conn)
                .await
                .context("releasing the run lock")?;
            let _ = conn.close().await;
        }
        Ok(())
    }
}

fn mariadb_has_uuid(version: &str) -> bool {
    if !version.to_ascii_lowercase().contains("mariadb") {
        return false;
    }
    let mut numbers = version
        .split(['.', '-'])
        .map(|part| part.parse::<u32>().unwrap_or(0));
    let major = numbers.next().unwrap_or(0);
    let minor = numbers.next().unwrap_or(0);
    (major, minor) >= (10, 7)
}

fn bind(
    query: sqlx::query::Query<'_, MySql, MySqlArguments>,
    value: Value,
) -> sqlx::query::Query<'_, MySql, MySqlArguments> {
    match value {
        Value::Text(text) => query.bind(text),
        Value::Bool(flag) => query.bind(flag),
        Value::Int(number) => query.bind(number),
        // Django stores naive UTC in datetime(6); the session time zone plays no part.
        Value::Timestamp(at) => query.bind(at.map(|t| t.naive_utc())),
    }
}

#[async_trait]
impl Store for MySqlStore {
    fn backend(&self) -> Backend {
        Backend::MySql
    }

    fn tables(&self) -> &Tables {
        &self.tables
    }

    async fn table_columns(&self, table: &str) -> Result<Option<Vec<ColumnInfo>>> {
        let rows = sqlx::query(
            "SELECT CAST(column_name AS CHAR(255)), is_nullable = 'NO', \
                    (column_default IS NOT NULL OR extra LIKE '%auto_increment%') \
             FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
        )
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
                    has_default: row.get::<i64, _>(2) != 0,
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
        self.migrator()
            .await?
            .run(&self.pool)
            .await
            .context("applying oauthctl's MySQL migrations")?;
        let after = applied_count(&self.pool, true).await?;
        Ok(MigrateOutcome::Applied((after - before) as usize))
    }

    async fn user_exists(&self, user_id: i64) -> Result<bool> {
        let sql = format!(
            "SELECT 1 FROM {} WHERE `id` = ? LIMIT 1",
            quoted(&self.tables.user, '`')
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
            "SELECT 1 FROM {} WHERE `client_id` = ? LIMIT 1",
            quoted(&self.tables.application, '`')
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
        let sql = insert_sql(table, &names, '`', |_| "?".to_string());
        let mut query = sqlx::query(&sql);
        for (_, value) in plan {
            query = bind(query, value);
        }
        match query.execute(&self.pool).await {
            Ok(done) => Ok(done.last_insert_id() as i64),
            Err(e) if is_unique_violation(&e) => Err(InsertError::DuplicateClientId),
            Err(e) => Err(anyhow::Error::new(e)
                .context(format!("inserting into {table}"))
                .into()),
        }
    }

    async fn acquire_cleanup_lock(&self) -> Result<Box<dyn CleanupLock>> {
        let mut conn = UserLock::connect(&self.options, &self.redacted_url).await?;
        let database: Option<String> = sqlx::query_scalar("SELECT DATABASE()")
            .fetch_one(&mut conn)
            .await
            .context("reading the database name")?;
        let name = cleanup_lock_name(&database.unwrap_or_default());
        if !UserLock::try_lock(&mut conn, &name).await? {
            let _ = conn.close().await;
            return Err(UserLock::conflict(&name, &self.redacted_url));
        }
        Ok(Box::new(UserLock {
            conn: Some(conn),
            name,
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
        self.cleanup_batch(cutoffs, batch).await
    }

    async fn count_deletable(&self, step: Step, cutoffs: &Cutoffs) -> Result<u64> {
        let sql = predicates::count_sql(Params::Question, '`', &self.tables, step, cutoffs);
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
            // sqlx's `code()` is the SQLSTATE; the server's error number is more precise.
            let number = db
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .map(|my| my.number());
            return match number {
                // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, ER_CHECKREAD (record changed), and
                // ER_ROW_IS_REFERENCED_2: a concurrent writer started referencing a row of the
                // batch; the retry re-reads and keeps that row.
                Some(1213 | 1205 | 1020 | 1451) => ErrorClass::Transient,
                // Too many connections, server shutdown, connection killed, gone away, lost.
                Some(1040 | 1053 | 1927 | 2006 | 2013) => ErrorClass::ConnectionLost,
                _ => ErrorClass::Permanent,
            };
        }
        super::classify_common(e).unwrap_or(ErrorClass::Permanent)
    }
}

async fn applied_count(pool: &MySqlPool, ledger_exists: bool) -> Result<i64> {
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

#[cfg(test)]
mod tests {
    #[test]
    fn detects_mariadb_with_uuid() {
        assert!(super::mariadb_has_uuid("10.11.19-MariaDB-0+deb12u1"));
        assert!(super::mariadb_has_uuid("11.4.2-MariaDB"));
        assert!(!super::mariadb_has_uuid("10.6.18-MariaDB"));
        assert!(!super::mariadb_has_uuid("8.0.36"));
    }
}
