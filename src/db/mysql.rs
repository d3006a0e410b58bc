//! MySQL/MariaDB: naive UTC `datetime(6)`, `information_schema`, `?` placeholders,
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

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use chrono::NaiveDateTime;
use sha2::Digest;
use sqlx::migrate::Migrator;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlQueryResult};
use sqlx::{MySql, Row};

use super::batch::WriteBatch;
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

static MYSQL_MIGRATOR: Migrator = sqlx::migrate!("migrations/mysql");
static MARIADB_MIGRATOR: Migrator = sqlx::migrate!("migrations/mariadb");

/// Session settings. Always: Django's MySQL sessions run READ COMMITTED; so do ours, for the
/// same locking. For cleanup batches: wait at most 1 s (InnoDB's minimum) for a row lock the
/// server holds, then back off and retry, rather than queueing (and making the server queue
/// behind the rows we already locked); and do not wait for ever on a metadata lock (DDL).
const SESSION: SessionSettings = SessionSettings {
    always: &["SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"],
    timeouts: session_timeouts,
    default_port: 3306,
    cleanup: &[
        "SET SESSION innodb_lock_wait_timeout = 1",
        "SET SESSION lock_wait_timeout = 10",
    ],
};

/// The server ends a session gone silent (see [`super::network`]): `wait_timeout` for an idle
/// one (inside a transaction too, which it rolls back; its `GET_LOCK` goes with it), the
/// `net_*_timeout`s for one stuck mid-packet. MariaDB also gets `idle_transaction_timeout`
/// (10.3) and `max_statement_time` (10.1), in comments only MariaDB executes (`/*M!…*/`).
fn session_timeouts(deadlines: &Deadlines) -> Vec<String> {
    let s = |d: Duration| d.as_secs_f64().ceil().max(1.0) as u64;
    vec![format!(
        "SET SESSION wait_timeout = {}, net_read_timeout = {n}, net_write_timeout = {n} \
         /*M!100108 , max_statement_time = {} */ /*M!100300 , idle_transaction_timeout = {} */",
        s(deadlines.server_idle()),
        s(deadlines.server_statement()),
        s(deadlines.server_idle_in_transaction()),
        n = s(deadlines.exchange),
    )]
}

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
    server: ServerPool<MySql>,
    tables: Tables,
    /// Handler reads one reading of the session status costs ([`Store::examined_counter`]).
    read_overhead: OnceLock<i64>,
    /// Readings so far, each adding [`Self::read_overhead`] to the counters.
    counter_reads: AtomicI64,
}

impl MySqlStore {
    pub async fn open(url: &DatabaseUrl, tables: Tables) -> Result<Self> {
        let options: MySqlConnectOptions = server::parse_options(url, &url.driver_url(), "MySQL")?;
        let options = options.charset("utf8mb4");
        let server = ServerPool::connect(url, options, &SESSION).await?;
        Ok(MySqlStore {
            server,
            tables,
            read_overhead: OnceLock::new(),
            counter_reads: AtomicI64::new(0),
        })
    }

    fn pool(&self) -> &MySqlPool {
        &self.server.pool
    }

    /// One batch (see the module docs).
    async fn cleanup_batch(
        &self,
        conn: &mut MySqlConnection,
        cutoffs: &Cutoffs,
        batch: BatchRequest,
    ) -> Result<BatchOutcome> {
        let step = batch.step;
        let table = step.table(&self.tables);

        // The candidates: a consistent read (no locks under READ COMMITTED), so scanning past
        // rows the server is busy with never waits. Their ids come to the client (at most
        // `limit` integers); a scratch table would cost more to fill and empty than the batch's
        // own DELETE takes (measured: 53 ms against 7 ms for 10,000 ids).
        let ids: Vec<i64> = MySql::query(&self.candidates_sql(cutoffs, batch))
            .fetch_all(&mut *conn)
            .await
            .with_context(|| format!("selecting a batch from {table}"))?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .with_context(|| format!("reading the ids of a batch from {table}"))?;
        let Some(rows) = BatchRows::of(&ids) else {
            return Ok(BatchOutcome::NONE_LEFT);
        };

        let write = WriteBatch {
            step,
            tables: &self.tables,
            begin: "BEGIN",
            set_null: step
                .deletes_refresh_tokens()
                .then(|| self.set_null_sql(cutoffs, step, &rows)),
            delete: self.delete_sql(cutoffs, step, &rows),
        };
        let (deleted, locked) = write.run::<MySql>(conn).await?;
        Ok(BatchOutcome {
            candidates: ids.len() as u64,
            deleted,
            first_id: Some(rows.first_id),
            last_id: Some(rows.last_id),
            locked,
        })
    }

    /// The read of a batch's candidate ids.
    fn candidates_sql(&self, cutoffs: &Cutoffs, batch: BatchRequest) -> Sql {
        let tables = &self.tables;
        let mut sql = Sql::new(Dialect::MySql);
        if batch.shape == BatchShape::Sweep && batch.step == Step::ExpiredRefreshTokens {
            // Step 3 from the table's start: driven by the expired access tokens and joined
            // to their refresh tokens through its unique key. Walking the refresh tokens by
            // primary key would look up each one's access token, one random read per refresh
            // token; when few have expired (a daily run) that read is almost all wasted
            // (measured at 1M tokens, steady mix: 1.03 s against 0.23 s).
            // The condition as a join on `a`; the join itself is written here, `a` first.
            let (_, condition) = predicates::refresh_token_condition_as_join(
                Dialect::MySql,
                tables,
                batch.step,
                cutoffs,
            );
            sql.push("SELECT t.`id` FROM ")
                .ident(&tables.access_token)
                .push(" a STRAIGHT_JOIN ")
                .ident(batch.step.table(tables))
                .push(" t ON t.`access_token_id` = a.`id` WHERE t.`id` > ")
                .bind(Value::Int(Some(batch.after_id)))
                .push(" AND ")
                .append(condition);
            predicates::batch_order(&mut sql, batch.limit);
        } else {
            predicates::batch_candidates(&mut sql, tables, cutoffs, batch);
        }
        sql
    }

    /// DOT's SET_NULL, before the DELETE (immediate FKs). The join re-reads each refresh token
    /// of the batch with a lock and re-checks the condition, so only tokens that are deleted
    /// below lose their link, and they cannot change before the DELETE.
    fn set_null_sql(&self, cutoffs: &Cutoffs, step: Step, rows: &BatchRows) -> Sql {
        let tables = &self.tables;
        let (joins, condition) =
            predicates::refresh_token_condition_as_join(Dialect::MySql, tables, step, cutoffs);
        let mut sql = Sql::new(Dialect::MySql);
        // STRAIGHT_JOIN: the batch's refresh tokens drive, every other table is a key
        // lookup. Left to itself the optimizer may scan (and, with locking reads, lock) a
        // whole token table, which blocks and deadlocks the server's own writes.
        sql.push("UPDATE ")
            .ident(step.table(tables))
            .push(" t STRAIGHT_JOIN ")
            .ident(&tables.access_token)
            .push(" s ON s.`source_refresh_token_id` = t.`id`")
            .append(joins)
            .push(" SET s.`source_refresh_token_id` = NULL WHERE ");
        rows.push_condition(&mut sql, "t");
        sql.push(" AND ").append(condition);
        sql
    }

    /// A single-table DELETE that re-checks the full condition and deletes as it reads. The
    /// range form may also take a row of the range that only began to match since the
    /// candidates were read (it matches DOT's condition now); if that is a refresh token still
    /// referenced, the FK stops the batch and the retry re-reads.
    fn delete_sql(&self, cutoffs: &Cutoffs, step: Step, rows: &BatchRows) -> Sql {
        let table = step.table(&self.tables);
        let qualified = Dialect::MySql.quote(table);
        let mut sql = Sql::new(Dialect::MySql);
        sql.push("DELETE FROM ").ident(table).push(" WHERE ");
        rows.push_condition(&mut sql, &qualified);
        sql.push(" AND ");
        predicates::step_condition_on(&mut sql, &self.tables, step, cutoffs, &qualified);
        sql
    }

    /// MariaDB from 10.7 on has a native `uuid` type, which Django 5 uses for UUIDField.
    async fn migrator(&self) -> Result<&'static Migrator> {
        let version: String = sqlx::query_scalar("SELECT VERSION()")
            .fetch_one(self.pool())
            .await
            .context("reading the server version")?;
        Ok(if mariadb_has_uuid(&version) {
            &MARIADB_MIGRATOR
        } else {
            &MYSQL_MIGRATOR
        })
    }
}

/// The rows a batch's write transaction works on, from its candidate ids (ascending).
struct BatchRows<'a> {
    ids: &'a [i64],
    first_id: i64,
    last_id: i64,
    /// Dense candidates (backlog): work over their primary key range, as the scan goes.
    /// Sparse ones (a steady-state run, where one batch spans the table): by key, so the
    /// transaction never scans (and locks its way) across the rows in between.
    dense: bool,
}

impl<'a> BatchRows<'a> {
    /// `None` when there are no candidates.
    fn of(ids: &'a [i64]) -> Option<Self> {
        let (&first_id, &last_id) = (ids.first()?, ids.last()?);
        let span = last_id.saturating_sub(first_id) as u64 + 1;
        Some(BatchRows {
            ids,
            first_id,
            last_id,
            dense: span <= (ids.len() as u64).saturating_mul(2),
        })
    }

    /// The rows of the batch, as a condition on `t`.`id` (ids are integers from the database,
    /// so writing them into the statement is safe).
    fn push_condition(&self, sql: &mut Sql, t: &str) {
        if self.dense {
            sql.push(&format!("{t}.`id` BETWEEN "))
                .bind(Value::Int(Some(self.first_id)))
                .push(" AND ")
                .bind(Value::Int(Some(self.last_id)));
        } else {
            let list: Vec<String> = self.ids.iter().map(i64::to_string).collect();
            sql.push(&format!("{t}.`id` IN ({})", list.join(",")));
        }
    }
}

impl Driver for MySql {
    const DIALECT: Dialect = Dialect::MySql;

    /// Django stores naive wall-clock time in datetime(6) (UTC by default); the session time
    /// zone plays no part.
    type Timestamp = Option<NaiveDateTime>;

    fn timestamp(at: Option<Bound>) -> Option<NaiveDateTime> {
        at.map(|t| match t {
            Bound::Wall(wall) => wall,
            // Not produced for MySQL (see `Bound::of`).
            Bound::Instant(at) => at.naive_utc(),
        })
    }

    fn rows_affected(done: &MySqlQueryResult) -> u64 {
        done.rows_affected()
    }

    async fn insert<'e>(
        conn: &'e mut <MySql as sqlx::Database>::Connection,
        sql: &'e Sql,
    ) -> Result<i64, sqlx::Error> {
        Ok(MySql::query(sql).execute(conn).await?.last_insert_id() as i64)
    }
}

/// The run lock: `GET_LOCK(name)`, `name` from [`cleanup_lock_name`].
fn user_lock(name: &str) -> LockSpec {
    let name_value = || Value::Text(name.to_string());
    let mut take = Sql::new(Dialect::MySql);
    // `GET_LOCK(name, 0)`: 1 taken, 0 held elsewhere, NULL an error.
    take.push("SELECT GET_LOCK(")
        .bind(name_value())
        .push(", 0)");
    let mut release = Sql::new(Dialect::MySql);
    release
        .push("SELECT RELEASE_LOCK(")
        .bind(name_value())
        .push(")");
    LockSpec {
        name: format!("GET_LOCK('{name}')"),
        held: format!("the lock GET_LOCK('{name}') (see IS_USED_LOCK('{name}'))"),
        take,
        release,
        taking: "taking the run lock",
        releasing: "releasing the run lock",
    }
}

/// The lock's name is per database: the one the connection is using.
async fn database_name(conn: &mut MySqlConnection) -> Result<String> {
    let database: Option<String> = sqlx::query_scalar("SELECT DATABASE()")
        .fetch_one(conn)
        .await
        .context("reading the database name")?;
    Ok(database.unwrap_or_default())
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

#[async_trait]
impl Store for MySqlStore {
    async fn begin_apply(
        &self,
        columns: Vec<super::ColumnInfo>,
    ) -> Result<Box<dyn super::ApplyTransaction>> {
        super::apply::begin::<MySql>(self.pool(), self.place(), &self.tables, columns).await
    }

    async fn list_applications(
        &self,
        columns: &[super::ColumnInfo],
    ) -> Result<Vec<super::StoredApplication>> {
        super::apply::list_on_pool::<MySql>(
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
        let mut sql = Sql::new(Dialect::MySql);
        sql.push(
            "SELECT CAST(column_name AS CHAR(255)), is_nullable = 'NO', \
                    (column_default IS NOT NULL OR extra LIKE '%auto_increment%') \
             FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ",
        )
        .bind(Value::Text(table.to_string()))
        .push(" ORDER BY ordinal_position");
        sql
    }

    async fn run_embedded_migrations(&self) -> Result<()> {
        let migrations = async {
            let migrator = self.migrator().await?;
            migrator
                .run(self.pool())
                .await
                .context("applying oauthctl's MySQL migrations")
        };
        // Each migration is a few statements on an empty database.
        let within = network::timeout().saturating_mul(8);
        self.server
            .place
            .within(within, "applying oauthctl's migrations", migrations)
            .await
    }

    fn server_version_sql(&self) -> Sql {
        let mut sql = Sql::new(Dialect::MySql);
        sql.push("SELECT VERSION()");
        sql
    }

    async fn estimate_rows(&self, table: &str) -> Result<RowEstimate> {
        // InnoDB's own estimate (sampled index statistics): no scan.
        let mut sql = Sql::new(Dialect::MySql);
        sql.push(
            "SELECT CAST(TABLE_ROWS AS SIGNED) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ",
        )
        .bind(Value::Text(table.to_string()));
        let rows = self
            .server
            .fetch_optional_i64(&sql)
            .await
            .with_context(|| format!("reading information_schema.TABLES for {table}"))?;
        Ok(RowEstimate {
            rows,
            source: "information_schema.TABLES.TABLE_ROWS",
        })
    }

    async fn probe_cleanup_lock(&self) -> Result<LockProbe> {
        let mut current = Sql::new(Dialect::MySql);
        current.push("SELECT DATABASE()");
        let database = self
            .server
            .fetch_optional_text(&current)
            .await
            .context("reading the database name")?
            .unwrap_or_default();
        let name = cleanup_lock_name(&database);
        // IS_USED_LOCK: the holder's connection id, or NULL; it takes nothing.
        let mut sql = Sql::new(Dialect::MySql);
        sql.push("SELECT CAST(IS_USED_LOCK(")
            .bind(Value::Text(name.clone()))
            .push(") AS SIGNED)");
        let holder = self
            .server
            .fetch_optional_i64(&sql)
            .await
            .context("reading IS_USED_LOCK")?;
        Ok(LockProbe {
            held: holder.is_some(),
            lock: user_lock(&name).name,
            holder: holder.map(|id| format!("MySQL connection id {id}")),
        })
    }

    async fn acquire_cleanup_lock(&self) -> Result<Box<dyn CleanupLock>> {
        let options = self.server.options.clone();
        let session = self.server.lock_session(options);
        let mut conn = session.open().await?;
        let database = self
            .server
            .place
            .within(
                session.exchange,
                "reading the database name",
                database_name(&mut conn),
            )
            .await?;
        let name = cleanup_lock_name(&database);
        let lock = SessionLock::<MySql>::take(conn, session, user_lock(&name)).await?;
        Ok(Box::new(lock))
    }

    async fn explain_candidates(
        &self,
        cutoffs: &Cutoffs,
        step: Step,
        limit: u64,
    ) -> Result<Vec<String>> {
        let mut sql = self.candidates_sql(cutoffs, BatchRequest::first(step, limit));
        sql.text.insert_str(0, "EXPLAIN ");
        let rows = self
            .server
            .place
            .within(network::timeout(), "explaining a query", async {
                Ok(MySql::query(&sql).fetch_all(self.pool()).await?)
            })
            .await
            .with_context(|| {
                format!(
                    "explaining the candidate search of {}",
                    step.table(&self.tables)
                )
            })?;
        // One line per table read: its alias, access type, chosen index, estimated rows, notes.
        rows.iter()
            .map(|row| {
                // MariaDB sends every column as text, MySQL 8 the estimate as a number.
                let text = |name: &str| -> Result<String> {
                    let value = match row.try_get::<Option<String>, _>(name) {
                        Ok(text) => text,
                        Err(_) => row.try_get::<Option<i64>, _>(name)?.map(|n| n.to_string()),
                    };
                    Ok(value.unwrap_or_else(|| "NULL".into()))
                };
                Ok(format!(
                    "table={} type={} key={} rows={} extra={}",
                    text("table")?,
                    text("type")?,
                    text("key")?,
                    text("rows")?,
                    text("Extra")?
                ))
            })
            .collect()
    }

    async fn examined_counter(&self) -> Result<Option<super::Examined>> {
        // The session's handler reads (the batches run on the pool's one connection). Reading
        // the status table is itself a scan of a few hundred rows: the cost of one read,
        // measured once as the difference of two reads in a row, is taken off every reading.
        let read = || async {
            let mut sql = Sql::new(Dialect::MySql);
            sql.push(
                "SELECT CAST(COALESCE(SUM(VARIABLE_VALUE), 0) AS SIGNED) \
                 FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME LIKE 'HANDLER\\_READ\\_%'",
            );
            let mut fallback = Sql::new(Dialect::MySql);
            fallback.push(
                "SELECT CAST(COALESCE(SUM(VARIABLE_VALUE), 0) AS SIGNED) \
                 FROM performance_schema.session_status WHERE VARIABLE_NAME LIKE 'Handler\\_read\\_%'",
            );
            match self.queries().fetch_i64(&sql).await {
                Ok(n) => Ok(n),
                // MySQL 8 keeps the session status in performance_schema only.
                Err(_) => self.queries().fetch_i64(&fallback).await,
            }
        };
        let context = "reading the session's Handler_read counters";
        let earlier_reads = self.counter_reads.fetch_add(1, Ordering::Relaxed);
        let now = read().await.context(context)?;
        let overhead = match self.read_overhead.get() {
            Some(overhead) => *overhead,
            None => {
                self.counter_reads.fetch_add(1, Ordering::Relaxed);
                let again = read().await.context(context)?;
                *self.read_overhead.get_or_init(|| (again - now).max(0))
            }
        };
        let total = now - overhead * earlier_reads;
        Ok(Some(super::Examined::Rows(total.max(0) as u64)))
    }

    async fn run_index_ddl(&self, statement: &str) -> Result<()> {
        // An online build still takes a metadata lock at its start and end; waiting for it
        // behind a long transaction would queue the server's own statements behind ours, so
        // the wait is bounded. MariaDB's statement bound is lifted (MySQL has none for DDL).
        let setup = format!(
            "SET SESSION lock_wait_timeout = {} /*M!100108 , max_statement_time = 0 */",
            network::timeout().as_secs().max(1)
        );
        self.server.run_long(&[setup.as_str()], statement).await
    }

    async fn prepare_cleanup(&self) -> Result<()> {
        self.server.prepare_cleanup().await
    }

    async fn delete_batch(&self, cutoffs: &Cutoffs, batch: BatchRequest) -> Result<BatchOutcome> {
        let what = format!("deleting a batch from {}", batch.step.table(&self.tables));
        let mut conn = self.server.acquire().await.context(what.clone())?;
        let result = self
            .server
            .place
            .within(
                self.server.deadlines().batch,
                &what,
                self.cleanup_batch(&mut conn, cutoffs, batch),
            )
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
