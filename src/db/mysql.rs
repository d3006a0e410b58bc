//! MySQL/MariaDB dialect: naive UTC `datetime(6)`, `information_schema`, `?` placeholders,
//! backtick quoting. MariaDB ≥ 10.7 gets the migration set with native `uuid` columns, as
//! Django 5 creates there.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::mysql::{MySqlArguments, MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection, MySql, Row};

use super::{
    application_insert_plan, insert_sql, quoted, Backend, ColumnInfo, DatabaseUrl, InsertError,
    MigrateOutcome, NewApplication, Store, Tables, Value,
};

static MYSQL_MIGRATOR: Migrator = sqlx::migrate!("migrations/mysql");
static MARIADB_MIGRATOR: Migrator = sqlx::migrate!("migrations/mariadb");

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

pub struct MySqlStore {
    pool: MySqlPool,
    tables: Tables,
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
        let pool = MySqlPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            // Django's MySQL sessions run READ COMMITTED; so do ours, for the same locking.
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        Ok(MySqlStore { pool, tables })
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
