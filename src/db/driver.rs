//! The sqlx glue, written once for the three drivers: binding a [`Sql`]'s values and running it
//! on a pool or on a connection.
//!
//! A backend states only what its driver does differently ([`Driver`]): its dialect, the Rust
//! type a timestamp is bound as, how it reports the rows a statement changed and the id an
//! INSERT made. [`Run`] is the rest, for any driver. The trait bounds sqlx needs for that are
//! written once, on `Run`'s blanket implementation, so code over "any backend" (the store's
//! common verbs, the session lock) needs only `DB: Run`. [`Queries`] is the object-safe face of
//! a pool that [`super::Store`]'s common verbs run on.

use std::future::Future;

use async_trait::async_trait;
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::sql::{Bound, Dialect, Sql, Value};
use super::ColumnInfo;

/// What one sqlx driver does differently from the others.
pub trait Driver: Database {
    const DIALECT: Dialect;

    /// The type a timestamp is bound as: the one whose encoding the database compares as DOT's
    /// own values.
    type Timestamp: for<'q> Encode<'q, Self> + Type<Self> + Send + 'static;

    fn timestamp(at: Option<Bound>) -> Self::Timestamp;

    /// How many rows a statement changed.
    fn rows_affected(done: &Self::QueryResult) -> u64;

    /// Runs an INSERT built by [`Sql::insert`] and returns the new row's id.
    fn insert<'e>(
        conn: &'e mut Self::Connection,
        sql: &'e Sql,
    ) -> impl Future<Output = Result<i64, sqlx::Error>> + Send + 'e;
}

/// Running a [`Sql`] with any [`Driver`].
pub trait Run: Driver {
    /// The statement with its values bound.
    fn query(sql: &Sql) -> Query<'_, Self, <Self as Database>::Arguments<'_>>;

    /// Whether the statement returns a row.
    fn exists<'e>(
        conn: &'e mut Self::Connection,
        sql: &'e Sql,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send + 'e;

    /// The first column of the one row the statement returns.
    fn fetch_i64<'e>(
        conn: &'e mut Self::Connection,
        sql: &'e Sql,
    ) -> impl Future<Output = Result<i64, sqlx::Error>> + Send + 'e;

    /// A catalogue query's rows of (name, NOT NULL, has a default).
    fn fetch_columns<'e>(
        conn: &'e mut Self::Connection,
        sql: &'e Sql,
    ) -> impl Future<Output = Result<Vec<ColumnInfo>, sqlx::Error>> + Send + 'e;

    /// The first column of the first row, as text; `None` for no row or NULL.
    fn fetch_optional_text<'e>(
        conn: &'e mut Self::Connection,
        sql: &'e Sql,
    ) -> impl Future<Output = Result<Option<String>, sqlx::Error>> + Send + 'e;

    /// The first column of the first row, as an integer; `None` for no row or NULL.
    fn fetch_optional_i64<'e>(
        conn: &'e mut Self::Connection,
        sql: &'e Sql,
    ) -> impl Future<Output = Result<Option<i64>, sqlx::Error>> + Send + 'e;

    /// The first column of every row the statement returns, as text.
    fn fetch_texts<'e>(
        conn: &'e mut Self::Connection,
        sql: &'e Sql,
    ) -> impl Future<Output = Result<Vec<String>, sqlx::Error>> + Send + 'e;

    /// The first column of every row the statement returns, as integers (NULLs skipped).
    fn fetch_i64s<'e>(
        conn: &'e mut Self::Connection,
        sql: &'e Sql,
    ) -> impl Future<Output = Result<Vec<i64>, sqlx::Error>> + Send + 'e;

    /// The first column of the one row the statement returns, as a (nullable) truth value.
    fn fetch_flag<'e>(
        conn: &'e mut Self::Connection,
        sql: &'e Sql,
    ) -> impl Future<Output = Result<Option<bool>, sqlx::Error>> + Send + 'e;

    /// Runs the statement, discarding any rows; returns how many rows it changed.
    fn execute<'e>(
        conn: &'e mut Self::Connection,
        sql: &'e Sql,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'e;

    /// Runs a statement without values as plain text (no prepared statement), as session
    /// settings are run.
    fn execute_text<'e>(
        conn: &'e mut Self::Connection,
        statement: &'e str,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'e;
}

impl<DB> Run for DB
where
    DB: Driver,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB>,
    for<'q> Option<bool>: Encode<'q, DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    String: Type<DB> + for<'r> Decode<'r, DB>,
    bool: Type<DB> + for<'r> Decode<'r, DB>,
    i64: Type<DB> + for<'r> Decode<'r, DB>,
    usize: ColumnIndex<DB::Row>,
{
    fn query(sql: &Sql) -> Query<'_, DB, <DB as Database>::Arguments<'_>> {
        debug_assert_eq!(sql.dialect(), DB::DIALECT);
        sql.binds
            .iter()
            .cloned()
            .fold(sqlx::query(&sql.text), |query, value| match value {
                Value::Text(text) => query.bind(text),
                Value::Bool(flag) => query.bind(flag),
                Value::Int(number) => query.bind(number),
                Value::Timestamp(at) => {
                    query.bind(DB::timestamp(at.map(|t| Bound::of(t, DB::DIALECT))))
                }
            })
    }

    async fn exists<'e>(conn: &'e mut DB::Connection, sql: &'e Sql) -> Result<bool, sqlx::Error> {
        Ok(DB::query(sql).fetch_optional(conn).await?.is_some())
    }

    async fn fetch_i64<'e>(conn: &'e mut DB::Connection, sql: &'e Sql) -> Result<i64, sqlx::Error> {
        DB::query(sql).fetch_one(conn).await?.try_get(0)
    }

    async fn fetch_columns<'e>(
        conn: &'e mut DB::Connection,
        sql: &'e Sql,
    ) -> Result<Vec<ColumnInfo>, sqlx::Error> {
        let rows = DB::query(sql).fetch_all(conn).await?;
        rows.iter()
            .map(|row| {
                Ok(ColumnInfo {
                    name: row.try_get(0)?,
                    not_null: row.try_get(1)?,
                    has_default: row.try_get(2)?,
                })
            })
            .collect()
    }

    async fn fetch_optional_text<'e>(
        conn: &'e mut DB::Connection,
        sql: &'e Sql,
    ) -> Result<Option<String>, sqlx::Error> {
        match DB::query(sql).fetch_optional(conn).await? {
            Some(row) => row.try_get(0),
            None => Ok(None),
        }
    }

    async fn fetch_optional_i64<'e>(
        conn: &'e mut DB::Connection,
        sql: &'e Sql,
    ) -> Result<Option<i64>, sqlx::Error> {
        match DB::query(sql).fetch_optional(conn).await? {
            Some(row) => row.try_get(0),
            None => Ok(None),
        }
    }

    async fn fetch_texts<'e>(
        conn: &'e mut DB::Connection,
        sql: &'e Sql,
    ) -> Result<Vec<String>, sqlx::Error> {
        let rows = DB::query(sql).fetch_all(conn).await?;
        rows.iter().map(|row| row.try_get(0)).collect()
    }

    async fn fetch_i64s<'e>(
        conn: &'e mut DB::Connection,
        sql: &'e Sql,
    ) -> Result<Vec<i64>, sqlx::Error> {
        let rows = DB::query(sql).fetch_all(conn).await?;
        let values: Result<Vec<Option<i64>>, _> = rows.iter().map(|row| row.try_get(0)).collect();
        Ok(values?.into_iter().flatten().collect())
    }

    async fn fetch_flag<'e>(
        conn: &'e mut DB::Connection,
        sql: &'e Sql,
    ) -> Result<Option<bool>, sqlx::Error> {
        DB::query(sql).fetch_one(conn).await?.try_get(0)
    }

    async fn execute<'e>(conn: &'e mut DB::Connection, sql: &'e Sql) -> Result<u64, sqlx::Error> {
        Ok(DB::rows_affected(&DB::query(sql).execute(conn).await?))
    }

    async fn execute_text<'e>(
        conn: &'e mut DB::Connection,
        statement: &'e str,
    ) -> Result<(), sqlx::Error> {
        conn.execute(statement).await?;
        Ok(())
    }
}

/// A pool, for the statements [`super::Store`] writes once for every backend. Errors are the
/// driver's (a `sqlx::Error` in the chain) or, on a server backend, a deadline that ran out
/// ([`super::network::Unanswered`]).
#[async_trait]
pub trait Queries: Send + Sync {
    fn dialect(&self) -> Dialect;
    /// Whether the statement returns a row.
    async fn exists(&self, sql: &Sql) -> anyhow::Result<bool>;
    /// The first column of the one row the statement returns.
    async fn fetch_i64(&self, sql: &Sql) -> anyhow::Result<i64>;
    /// A catalogue query's rows of (name, NOT NULL, has a default).
    async fn fetch_columns(&self, sql: &Sql) -> anyhow::Result<Vec<ColumnInfo>>;
    /// The first column of every row the statement returns, as text.
    async fn fetch_texts(&self, sql: &Sql) -> anyhow::Result<Vec<String>>;
    /// Runs an INSERT built by [`Sql::insert`] and returns the new row's id.
    async fn insert(&self, sql: &Sql) -> anyhow::Result<i64>;
    /// The first column of the first row as text; `None` for no row or NULL.
    async fn fetch_optional_text(&self, sql: &Sql) -> anyhow::Result<Option<String>>;
    /// The first column of the first row as an integer; `None` for no row or NULL.
    async fn fetch_optional_i64(&self, sql: &Sql) -> anyhow::Result<Option<i64>>;
    /// The first column of every row as integers, NULLs skipped.
    async fn fetch_i64s(&self, sql: &Sql) -> anyhow::Result<Vec<i64>>;
    /// Runs a statement; returns how many rows it changed.
    async fn execute(&self, sql: &Sql) -> anyhow::Result<u64>;
}

/// A file database's pool: no network to bound.
#[async_trait]
impl<DB: Run> Queries for Pool<DB> {
    fn dialect(&self) -> Dialect {
        DB::DIALECT
    }

    async fn exists(&self, sql: &Sql) -> anyhow::Result<bool> {
        Ok(DB::exists(&mut *self.acquire().await?, sql).await?)
    }

    async fn fetch_i64(&self, sql: &Sql) -> anyhow::Result<i64> {
        Ok(DB::fetch_i64(&mut *self.acquire().await?, sql).await?)
    }

    async fn fetch_columns(&self, sql: &Sql) -> anyhow::Result<Vec<ColumnInfo>> {
        Ok(DB::fetch_columns(&mut *self.acquire().await?, sql).await?)
    }

    async fn fetch_texts(&self, sql: &Sql) -> anyhow::Result<Vec<String>> {
        Ok(DB::fetch_texts(&mut *self.acquire().await?, sql).await?)
    }

    async fn insert(&self, sql: &Sql) -> anyhow::Result<i64> {
        Ok(DB::insert(&mut *self.acquire().await?, sql).await?)
    }

    async fn fetch_optional_text(&self, sql: &Sql) -> anyhow::Result<Option<String>> {
        Ok(DB::fetch_optional_text(&mut *self.acquire().await?, sql).await?)
    }

    async fn fetch_optional_i64(&self, sql: &Sql) -> anyhow::Result<Option<i64>> {
        Ok(DB::fetch_optional_i64(&mut *self.acquire().await?, sql).await?)
    }

    async fn fetch_i64s(&self, sql: &Sql) -> anyhow::Result<Vec<i64>> {
        Ok(DB::fetch_i64s(&mut *self.acquire().await?, sql).await?)
    }

    async fn execute(&self, sql: &Sql) -> anyhow::Result<u64> {
        Ok(DB::execute(&mut *self.acquire().await?, sql).await?)
    }
}
