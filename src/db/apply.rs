//! The one transaction of `oauthctl apply`, and the application rows `apply` and
//! `listapplications` read.
//!
//! An apply reads every application, decides, and writes, all inside one transaction that first
//! takes a lock only other applies wait for: SQLite `BEGIN IMMEDIATE` (the database's write lock),
//! PostgreSQL `pg_advisory_xact_lock` (released by COMMIT or ROLLBACK), MySQL `GET_LOCK` on the
//! transaction's own connection (released after COMMIT, or by closing the connection). So two
//! applies of one manifest run one after the other and the second finds nothing to do; one that
//! waits longer than [`APPLY_LOCK_WAIT_SECONDS`] fails with [`Failure::Conflict`] (exit 3).
//!
//! Values are read as text (each dialect spells the casts), so this needs no per-driver decoding.
//!
//! On a server every exchange has a client-side deadline ([`network`](super::network)): the
//! network timeout, and for the lock statement the lock wait on top of it. A silent network path
//! ends the apply with exit 1 instead of hanging it; the transaction's connection is then dropped
//! uncommitted, and the server rolls it back when it ends the session (its session timeouts).

use anyhow::{anyhow, bail, Context, Result};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::{Executor, IntoArguments, Pool, Row};

use super::driver::Run;
use super::network::{self, Place};
use super::new_application::{application_insert_plan, InsertError, NewApplication};
use super::sql::{Dialect, Sql, Value};
use super::{error, ColumnInfo, Tables};
use crate::django::timezone::DjangoTime;
use crate::error::Failure;

/// How long an apply waits for another apply of the same database to finish.
pub const APPLY_LOCK_WAIT_SECONDS: u32 = 30;

/// The PostgreSQL advisory lock key of `apply` ("oauthapp" in ASCII, distinct from the cleanup
/// lock's key).
const PG_APPLY_LOCK_KEY: i64 = 0x6f61_7574_6861_7070;

/// An application as stored, without anything a listing may not show except the secret, which
/// only `apply` uses (to verify, never to print).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredApplication {
    pub id: i64,
    pub client_id: String,
    pub user_id: Option<i64>,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub client_type: String,
    pub authorization_grant_type: String,
    /// The stored hash (or the plaintext when `hash_client_secret` is false).
    pub client_secret: String,
    pub hash_client_secret: bool,
    pub name: String,
    pub skip_authorization: bool,
    pub algorithm: String,
    pub allowed_origins: String,
    /// As stored: an instant (PostgreSQL) or a naive value in the storage zone (SQLite, MySQL;
    /// [`crate::django::timezone::TimeSettings::instant`] reads it).
    pub created: Option<DjangoTime>,
    pub updated: Option<DjangoTime>,
}

/// What deleting one application took with it, as DOT's CASCADE would.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CascadeCounts {
    pub access_tokens: u64,
    pub refresh_tokens: u64,
    pub id_tokens: u64,
    pub grants: u64,
}

/// The open apply transaction. Dropped without [`ApplyTransaction::commit`], it rolls back.
#[async_trait]
pub trait ApplyTransaction: Send {
    /// Every application, ordered by id.
    async fn applications(&mut self) -> Result<Vec<StoredApplication>>;
    /// Inserts one application; a taken client id is [`InsertError::DuplicateClientId`].
    async fn insert(&mut self, app: &NewApplication) -> Result<i64, InsertError>;
    /// Sets the given columns (and nothing else) of one application.
    async fn update(&mut self, id: i64, fields: &[(&'static str, Value)]) -> Result<()>;
    /// Deletes one application and, first, what DOT's `on_delete` rules take with it.
    async fn delete_application(&mut self, id: i64) -> Result<CascadeCounts>;
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// The columns `applications()` reads, with what to use where an older schema lacks one.
const READ_COLUMNS: &[(&str, ColumnKind)] = &[
    ("id", ColumnKind::Int),
    ("client_id", ColumnKind::Text),
    ("user_id", ColumnKind::Int),
    ("redirect_uris", ColumnKind::Text),
    ("post_logout_redirect_uris", ColumnKind::Text),
    ("client_type", ColumnKind::Text),
    ("authorization_grant_type", ColumnKind::Text),
    ("client_secret", ColumnKind::Text),
    ("hash_client_secret", ColumnKind::Bool),
    ("name", ColumnKind::Text),
    ("skip_authorization", ColumnKind::Bool),
    ("algorithm", ColumnKind::Text),
    ("allowed_origins", ColumnKind::Text),
    ("created", ColumnKind::Timestamp),
    ("updated", ColumnKind::Timestamp),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ColumnKind {
    Int,
    Text,
    Bool,
    Timestamp,
}

/// `SELECT` of every application, each value as text (NULL for a column the table lacks).
pub fn select_applications_sql(dialect: Dialect, table: &str, columns: &[ColumnInfo]) -> Sql {
    let exprs: Vec<String> = READ_COLUMNS
        .iter()
        .map(|(name, kind)| {
            if columns.iter().any(|c| c.name == *name) {
                text_expr(dialect, &dialect.quote(name), *kind)
            } else {
                "NULL".to_string()
            }
        })
        .collect();
    let mut sql = Sql::new(dialect);
    sql.push(&format!("SELECT {} FROM ", exprs.join(", ")))
        .ident(table)
        .push(" ORDER BY ")
        .ident("id");
    sql
}

/// `column` as text: timestamps as `YYYY-MM-DD HH:MM:SS[.ffffff]`, naive as stored (SQLite,
/// MySQL: wall-clock time in the storage zone) or, on PostgreSQL, in UTC with its offset.
fn text_expr(dialect: Dialect, column: &str, kind: ColumnKind) -> String {
    match (dialect, kind) {
        (Dialect::Postgres, ColumnKind::Timestamp) => {
            format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00:00'")
        }
        (Dialect::MySql, ColumnKind::Timestamp) => {
            format!("DATE_FORMAT({column}, '%Y-%m-%d %H:%i:%s.%f')")
        }
        (Dialect::MySql, _) => format!("CAST({column} AS CHAR)"),
        _ => format!("CAST({column} AS TEXT)"),
    }
}

/// One row of [`select_applications_sql`] as an application.
pub fn parse_application(row: &[Option<String>]) -> Result<StoredApplication> {
    let text = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
    let int = |i: usize| -> Result<Option<i64>> {
        row.get(i)
            .cloned()
            .flatten()
            .map(|v| {
                v.parse::<i64>()
                    .with_context(|| format!("reading {v:?} as an integer"))
            })
            .transpose()
    };
    let flag = |i: usize, default: bool| {
        row.get(i)
            .cloned()
            .flatten()
            .map_or(default, |v| matches!(v.as_str(), "1" | "t" | "true"))
    };
    let time = |i: usize| {
        row.get(i)
            .cloned()
            .flatten()
            .and_then(|v| parse_timestamp(&v))
    };
    Ok(StoredApplication {
        id: int(0)?.ok_or_else(|| anyhow!("an application without id"))?,
        client_id: text(1),
        user_id: int(2)?,
        redirect_uris: text(3),
        post_logout_redirect_uris: text(4),
        client_type: text(5),
        authorization_grant_type: text(6),
        client_secret: text(7),
        hash_client_secret: flag(8, true),
        name: text(9),
        skip_authorization: flag(10, false),
        algorithm: text(11),
        allowed_origins: text(12),
        created: time(13),
        updated: time(14),
    })
}

/// Django's stored datetime text (SQLite) or the casts above: with an offset an instant, without
/// one the naive value as stored.
fn parse_timestamp(text: &str) -> Option<DjangoTime> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(at.with_timezone(&Utc).into());
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(DjangoTime::Naive)
}

/// The primary key of the user with this username, `None` when there is none (Django's
/// `AUTH_USER_MODEL` table, `username` column).
pub async fn user_id_by_username(store: &dyn super::Store, username: &str) -> Result<Option<i64>> {
    let dialect = store.dialect();
    // Django's user key is an int4 on PostgreSQL: widen it to what the reader decodes.
    let wide = match dialect {
        Dialect::MySql => "SIGNED",
        _ => "BIGINT",
    };
    let mut sql = Sql::new(dialect);
    sql.push("SELECT CAST(")
        .ident("id")
        .push(&format!(" AS {wide}) FROM "))
        .ident(&store.tables().user)
        .push(" WHERE ")
        .ident("username")
        .push(" = ")
        .bind(Value::Text(username.to_string()));
    if !store
        .queries()
        .exists(&sql)
        .await
        .context("looking up the user")?
    {
        return Ok(None);
    }
    let id = store
        .queries()
        .fetch_i64(&sql)
        .await
        .context("looking up the user")?;
    Ok(Some(id))
}

/// The statements that open the transaction and serialize applies, and the one run after it.
pub(crate) struct ApplyLock {
    /// Run in order on the connection; the first opens the transaction unless `before` does.
    pub begin: Vec<Sql>,
    /// Run after COMMIT (or never, when the connection is closed instead).
    pub after_commit: Option<Sql>,
}

impl ApplyLock {
    /// The lock for `dialect` (see the module docs), naming `table`'s database.
    pub fn for_dialect(dialect: Dialect) -> ApplyLock {
        let text = |statement: &str| {
            let mut sql = Sql::new(dialect);
            sql.push(statement);
            sql
        };
        match dialect {
            Dialect::Sqlite => ApplyLock {
                begin: vec![text("BEGIN IMMEDIATE")],
                after_commit: None,
            },
            Dialect::Postgres => ApplyLock {
                begin: vec![
                    text("BEGIN"),
                    text(&format!(
                        "SET LOCAL lock_timeout = '{APPLY_LOCK_WAIT_SECONDS}s'"
                    )),
                    text(&format!("SELECT pg_advisory_xact_lock({PG_APPLY_LOCK_KEY})")),
                ],
                after_commit: None,
            },
            Dialect::MySql => ApplyLock {
                begin: vec![
                    text(&format!(
                        "SELECT GET_LOCK(LEFT(CONCAT('oauthctl-apply:', DATABASE()), 64), {APPLY_LOCK_WAIT_SECONDS}) = 1"
                    )),
                    text("BEGIN"),
                ],
                after_commit: Some(text(
                    "SELECT RELEASE_LOCK(LEFT(CONCAT('oauthctl-apply:', DATABASE()), 64))",
                )),
            },
        }
    }
}

/// Reading rows of text, for any driver (the bounds sqlx needs, written once).
pub(crate) trait FetchText: Run {
    fn fetch_text<'e>(
        conn: &'e mut Self::Connection,
        sql: &'e Sql,
    ) -> impl std::future::Future<Output = Result<Vec<Vec<Option<String>>>, sqlx::Error>> + Send + 'e;
}

impl<DB> FetchText for DB
where
    DB: Run,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: IntoArguments<'q, DB>,
    Option<String>: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    async fn fetch_text<'e>(
        conn: &'e mut DB::Connection,
        sql: &'e Sql,
    ) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
        let rows = DB::query(sql).fetch_all(&mut *conn).await?;
        rows.iter()
            .map(|row| (0..row.len()).map(|i| row.try_get(i)).collect())
            .collect()
    }
}

/// `work`, within `within` on a server (`place`); a file database has no network to bound, and
/// its own lock waits (SQLite's busy timeout) are legitimate.
async fn exchange<T>(
    place: Option<&Place>,
    within: std::time::Duration,
    what: &str,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match place {
        Some(place) => place.within(within, what, work).await,
        None => work.await,
    }
}

/// The deadline of the statement that waits for another apply's lock.
fn lock_deadline() -> std::time::Duration {
    network::timeout() + std::time::Duration::from_secs(APPLY_LOCK_WAIT_SECONDS.into())
}

/// Every application, read on the pool (for `listapplications`).
pub(crate) async fn list_on_pool<DB: FetchText>(
    pool: &Pool<DB>,
    place: Option<&Place>,
    table: &str,
    columns: &[ColumnInfo],
) -> Result<Vec<StoredApplication>> {
    let n = network::timeout();
    let mut conn = exchange(place, n, "connecting", async {
        pool.acquire().await.context("connecting")
    })
    .await?;
    let sql = select_applications_sql(DB::DIALECT, table, columns);
    let rows = exchange(place, n, "reading the applications", async {
        DB::fetch_text(&mut conn, &sql)
            .await
            .with_context(|| format!("reading {table}"))
    })
    .await?;
    rows.iter().map(|row| parse_application(row)).collect()
}

/// Opens the apply transaction on one pooled connection, waiting for the apply lock.
pub(crate) async fn begin<DB: FetchText>(
    pool: &Pool<DB>,
    place: Option<Place>,
    tables: &Tables,
    columns: Vec<ColumnInfo>,
) -> Result<Box<dyn ApplyTransaction>> {
    let lock = ApplyLock::for_dialect(DB::DIALECT);
    let conn = exchange(place.as_ref(), network::timeout(), "connecting", async {
        pool.acquire().await.context("connecting")
    })
    .await?;
    let mut tx = Tx::<DB> {
        conn: Some(conn),
        place,
        tables: tables.clone(),
        columns,
        after_commit: lock.after_commit,
        committed: false,
    };
    for statement in &lock.begin {
        let place = tx.place.clone();
        let conn = tx.conn()?;
        // Any of these statements may be the one that waits for another apply.
        exchange(
            place.as_ref(),
            lock_deadline(),
            "taking the apply lock",
            async { lock_statement::<DB>(conn, statement).await },
        )
        .await?;
    }
    Ok(Box::new(tx))
}

/// Runs one statement of the apply lock; waiting too long for another apply is a conflict.
async fn lock_statement<DB: FetchText>(conn: &mut DB::Connection, statement: &Sql) -> Result<()> {
    if statement.text.starts_with("SELECT GET_LOCK") {
        let taken = DB::fetch_flag(conn, statement)
            .await
            .context("taking the apply lock")?;
        if taken != Some(true) {
            bail!(lock_wait_exceeded());
        }
        return Ok(());
    }
    if let Err(e) = DB::execute(conn, statement).await {
        let e = anyhow::Error::new(e);
        if matches!(
            error::classify(DB::DIALECT, &e),
            super::ErrorClass::Transient
        ) {
            bail!(lock_wait_exceeded());
        }
        return Err(e.context("starting the apply transaction"));
    }
    Ok(())
}

fn lock_wait_exceeded() -> Failure {
    Failure::Conflict(format!(
        "another oauthctl apply has been writing to this database for more than {APPLY_LOCK_WAIT_SECONDS} s; run apply again when it has finished"
    ))
}

struct Tx<DB: FetchText> {
    /// `None` once committed; dropped uncommitted, the connection is closed (not returned to the
    /// pool), which rolls the transaction back and releases a MySQL `GET_LOCK`.
    conn: Option<PoolConnection<DB>>,
    /// The server, for the deadlines; `None` for a file database.
    place: Option<Place>,
    tables: Tables,
    columns: Vec<ColumnInfo>,
    after_commit: Option<Sql>,
    committed: bool,
}

impl<DB: FetchText> Tx<DB> {
    fn conn(&mut self) -> Result<&mut DB::Connection> {
        self.conn
            .as_deref_mut()
            .ok_or_else(|| anyhow!("the apply transaction is closed"))
    }

    fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.name == name)
    }

    /// One statement, within the network timeout; returns the rows it changed.
    async fn run(&mut self, sql: &Sql, what: &str) -> Result<u64> {
        let place = self.place.clone();
        let conn = self.conn()?;
        exchange(place.as_ref(), network::timeout(), what, async {
            DB::execute(conn, sql)
                .await
                .with_context(|| what.to_string())
        })
        .await
    }

    /// One query's rows as text, within the network timeout.
    async fn fetch(&mut self, sql: &Sql, what: &str) -> Result<Vec<Vec<Option<String>>>> {
        let place = self.place.clone();
        let conn = self.conn()?;
        exchange(place.as_ref(), network::timeout(), what, async {
            DB::fetch_text(conn, sql)
                .await
                .with_context(|| what.to_string())
        })
        .await
    }
}

impl<DB: FetchText> Drop for Tx<DB> {
    fn drop(&mut self) {
        if !self.committed {
            if let Some(conn) = self.conn.take() {
                drop(conn.detach());
            }
        }
    }
}

#[async_trait]
impl<DB: FetchText> ApplyTransaction for Tx<DB> {
    async fn applications(&mut self) -> Result<Vec<StoredApplication>> {
        let table = self.tables.application.clone();
        let sql = select_applications_sql(DB::DIALECT, &table, &self.columns);
        let rows = self.fetch(&sql, &format!("reading {table}")).await?;
        rows.iter().map(|row| parse_application(row)).collect()
    }

    async fn insert(&mut self, app: &NewApplication) -> Result<i64, InsertError> {
        let table = self.tables.application.clone();
        let plan = application_insert_plan(&table, &self.columns, app)?;
        self.run(
            &Sql::insert(DB::DIALECT, &table, plan),
            &format!("inserting into {table}"),
        )
        .await
        .map_err(|e| match error::sqlx_error(&e) {
            Some(inner) if error::is_unique_violation(inner) => InsertError::DuplicateClientId,
            _ => InsertError::Other(e),
        })?;
        let mut sql = Sql::new(DB::DIALECT);
        sql.push("SELECT CAST(")
            .ident("id")
            .push(&format!(
                " AS {}) FROM ",
                if DB::DIALECT == Dialect::MySql {
                    "CHAR"
                } else {
                    "TEXT"
                }
            ))
            .ident(&table)
            .push(" WHERE ")
            .ident("client_id")
            .push(" = ")
            .bind(Value::Text(app.client_id.clone()));
        let rows = self.fetch(&sql, "reading the new application's id").await?;
        let id = rows
            .first()
            .and_then(|row| row.first().cloned().flatten())
            .and_then(|id| id.parse::<i64>().ok())
            .ok_or_else(|| anyhow!("the new application {} is not there", app.client_id))?;
        Ok(id)
    }

    async fn update(&mut self, id: i64, fields: &[(&'static str, Value)]) -> Result<()> {
        let table = self.tables.application.clone();
        if let Some((missing, _)) = fields.iter().find(|(name, _)| !self.has_column(name)) {
            bail!(Failure::Usage(format!(
                "table {table} has no column {missing}: the manifest sets a field this DOT version does not have"
            )));
        }
        let mut sql = Sql::new(DB::DIALECT);
        sql.push("UPDATE ").ident(&table).push(" SET ");
        for (i, (name, value)) in fields.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.ident(name).push(" = ").bind(value.clone());
        }
        sql.push(" WHERE ")
            .ident("id")
            .push(" = ")
            .bind(Value::Int(Some(id)));
        self.run(&sql, &format!("updating {table}")).await?;
        Ok(())
    }

    async fn delete_application(&mut self, id: i64) -> Result<CascadeCounts> {
        let statements = cascade_statements(DB::DIALECT, &self.tables, id);
        let mut counts = CascadeCounts::default();
        for (step, sql) in statements {
            let rows = self
                .run(
                    &sql,
                    &format!("deleting application {id}: {}", step.describe()),
                )
                .await?;
            match step {
                CascadeStep::DeleteRefreshTokens => counts.refresh_tokens = rows,
                CascadeStep::DeleteAccessTokens => counts.access_tokens = rows,
                CascadeStep::DeleteIdTokens => counts.id_tokens = rows,
                CascadeStep::DeleteGrants => counts.grants = rows,
                _ => {}
            }
        }
        Ok(counts)
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        let mut commit = Sql::new(DB::DIALECT);
        commit.push("COMMIT");
        self.run(&commit, "committing the apply").await?;
        self.committed = true;
        if let Some(release) = self.after_commit.take() {
            let place = self.place.clone();
            let conn = self.conn()?;
            exchange(
                place.as_ref(),
                network::timeout(),
                "releasing the apply lock",
                async {
                    DB::fetch_flag(conn, &release)
                        .await
                        .context("releasing the apply lock")
                },
            )
            .await?;
        }
        Ok(())
    }
}

/// One statement of an application's deletion, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CascadeStep {
    /// `RefreshToken.access_token` is SET_NULL: refresh tokens (of any application) lose their
    /// link to the access tokens about to go.
    NullRefreshTokenLinks,
    /// `AccessToken.source_refresh_token` is SET_NULL, likewise.
    NullSourceRefreshTokens,
    DeleteRefreshTokens,
    /// The application's access tokens, and those whose ID token goes (`AccessToken.id_token` is
    /// CASCADE).
    DeleteAccessTokens,
    DeleteIdTokens,
    DeleteGrants,
    DeleteApplication,
}

impl CascadeStep {
    fn describe(self) -> &'static str {
        match self {
            CascadeStep::NullRefreshTokenLinks => "nulling refresh tokens' access_token_id",
            CascadeStep::NullSourceRefreshTokens => {
                "nulling access tokens' source_refresh_token_id"
            }
            CascadeStep::DeleteRefreshTokens => "deleting its refresh tokens",
            CascadeStep::DeleteAccessTokens => "deleting its access tokens",
            CascadeStep::DeleteIdTokens => "deleting its ID tokens",
            CascadeStep::DeleteGrants => "deleting its grants",
            CascadeStep::DeleteApplication => "deleting the application",
        }
    }
}

/// DOT's `on_delete` rules for one application, as explicit statements (SQLite's foreign keys do
/// not cascade: Django emulates CASCADE itself), ordered so that no row ever points at a deleted
/// one (MySQL checks foreign keys at once).
pub fn cascade_statements(dialect: Dialect, tables: &Tables, id: i64) -> Vec<(CascadeStep, Sql)> {
    let app_id = || Value::Int(Some(id));
    // Access tokens that go: the application's, and those bound to its ID tokens.
    let doomed_access_tokens = |sql: &mut Sql| {
        sql.push("SELECT a.").ident("id").push(" FROM ");
        sql.ident(&tables.access_token)
            .push(" a WHERE a.")
            .ident("application_id")
            .push(" = ")
            .bind(app_id())
            .push(" OR a.")
            .ident("id_token_id")
            .push(" IN (SELECT i.")
            .ident("id")
            .push(" FROM ")
            .ident(&tables.id_token)
            .push(" i WHERE i.")
            .ident("application_id")
            .push(" = ")
            .bind(app_id())
            .push(")");
    };
    let mut null_refresh = Sql::new(dialect);
    null_refresh
        .push("UPDATE ")
        .ident(&tables.refresh_token)
        .push(" SET ")
        .ident("access_token_id")
        .push(" = NULL WHERE ")
        .ident("access_token_id")
        .push(" IN (");
    doomed_access_tokens(&mut null_refresh);
    null_refresh.push(")");

    let mut null_source = Sql::new(dialect);
    null_source
        .push("UPDATE ")
        .ident(&tables.access_token)
        .push(" SET ")
        .ident("source_refresh_token_id")
        .push(" = NULL WHERE ")
        .ident("source_refresh_token_id")
        .push(" IN (SELECT r.")
        .ident("id")
        .push(" FROM ")
        .ident(&tables.refresh_token)
        .push(" r WHERE r.")
        .ident("application_id")
        .push(" = ")
        .bind(app_id())
        .push(")");

    let delete_where = |table: &str, column: &str| {
        let mut sql = Sql::new(dialect);
        sql.push("DELETE FROM ")
            .ident(table)
            .push(" WHERE ")
            .ident(column)
            .push(" = ")
            .bind(app_id());
        sql
    };

    // MySQL cannot delete from a table that its own subquery reads: the ID-token condition reads
    // another table, so the statement is fine there too.
    let mut delete_access = Sql::new(dialect);
    delete_access
        .push("DELETE FROM ")
        .ident(&tables.access_token)
        .push(" WHERE ")
        .ident("application_id")
        .push(" = ")
        .bind(app_id())
        .push(" OR ")
        .ident("id_token_id")
        .push(" IN (SELECT i.")
        .ident("id")
        .push(" FROM ")
        .ident(&tables.id_token)
        .push(" i WHERE i.")
        .ident("application_id")
        .push(" = ")
        .bind(app_id())
        .push(")");

    vec![
        (CascadeStep::NullRefreshTokenLinks, null_refresh),
        (CascadeStep::NullSourceRefreshTokens, null_source),
        (
            CascadeStep::DeleteRefreshTokens,
            delete_where(&tables.refresh_token, "application_id"),
        ),
        (CascadeStep::DeleteAccessTokens, delete_access),
        (
            CascadeStep::DeleteIdTokens,
            delete_where(&tables.id_token, "application_id"),
        ),
        (
            CascadeStep::DeleteGrants,
            delete_where(&tables.grant, "application_id"),
        ),
        (
            CascadeStep::DeleteApplication,
            delete_where(&tables.application, "id"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_of_every_backend_parse() {
        let expected = DateTime::parse_from_rfc3339("2026-11-26T20:43:26.389532Z")
            .unwrap()
            .with_timezone(&Utc);
        let wall = expected.naive_utc();
        assert_eq!(
            parse_timestamp("2026-11-26 20:43:26.389532"),
            Some(DjangoTime::Naive(wall))
        );
        assert_eq!(
            parse_timestamp("2026-11-26 20:43:26.389532+00:00"),
            Some(expected.into())
        );
        assert_eq!(
            parse_timestamp("2026-11-26 20:43:26").map(|t| t.wall().and_utc().timestamp()),
            Some(expected.timestamp())
        );
        assert_eq!(parse_timestamp("not a time"), None);
    }

    #[test]
    fn missing_columns_read_as_null_and_fall_back() {
        let columns = vec![ColumnInfo {
            name: "client_id".into(),
            not_null: true,
            has_default: false,
        }];
        let sql = select_applications_sql(Dialect::MySql, "app", &columns);
        assert!(sql
            .text
            .starts_with("SELECT NULL, CAST(`client_id` AS CHAR), NULL"));
        let mut row = vec![None; READ_COLUMNS.len()];
        row[0] = Some("7".into());
        row[1] = Some("c".into());
        let app = parse_application(&row).unwrap();
        assert_eq!((app.id, app.client_id.as_str()), (7, "c"));
        assert!(app.hash_client_secret && !app.skip_authorization);
    }

    #[test]
    fn cascade_runs_links_first_and_the_application_last() {
        let steps: Vec<CascadeStep> = cascade_statements(Dialect::Postgres, &Tables::default(), 3)
            .into_iter()
            .map(|(step, _)| step)
            .collect();
        assert_eq!(steps.first(), Some(&CascadeStep::NullRefreshTokenLinks));
        assert_eq!(steps.last(), Some(&CascadeStep::DeleteApplication));
        let id_tokens = steps.iter().position(|s| *s == CascadeStep::DeleteIdTokens);
        let access = steps
            .iter()
            .position(|s| *s == CascadeStep::DeleteAccessTokens);
        assert!(access < id_tokens, "access tokens reference ID tokens");
    }
}
