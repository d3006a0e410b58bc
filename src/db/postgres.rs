//! PostgreSQL dialect: `timestamptz`, catalogue lookups through `to_regclass`, `$n` placeholders.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Postgres, Row};

use super::{
    application_insert_plan, insert_sql, quoted, Backend, ColumnInfo, DatabaseUrl, InsertError,
    MigrateOutcome, NewApplication, Store, Tables, Value,
};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

pub struct PostgresStore {
    pool: PgPool,
    tables: Tables,
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
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy_with(options);
        Ok(PostgresStore { pool, tables })
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
