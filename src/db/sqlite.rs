//! SQLite dialect: Django's text datetimes, `pragma_table_info`, `?` placeholders.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Row, Sqlite};

use super::{
    application_insert_plan, insert_sql, quoted, Backend, ColumnInfo, DatabaseUrl, InsertError,
    MigrateOutcome, NewApplication, OpenMode, Store, Tables, Value,
};
use crate::clock::django_text;

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
    tables: Tables,
}

impl SqliteStore {
    pub async fn open(url: &DatabaseUrl, tables: Tables, mode: OpenMode) -> Result<Self> {
        let path = url.sqlite_path().unwrap_or_default();
        if path.is_empty() {
            bail!(crate::Failure::Usage(
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
        let store = SqliteStore { pool, tables };
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
