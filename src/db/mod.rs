//! The repository: domain verbs over DOT's tables, one native sqlx implementation per backend.
//!
//! Commands never see SQL. They open a [`Store`] from a database URL (the backend is chosen once,
//! from the URL scheme) and call verbs such as [`Store::insert_application`]. What is common to
//! every backend — URL handling, table names, which DOT columns a database has and what DOT writes
//! into each — lives here; `sqlite.rs`, `postgres.rs` and `mysql.rs` hold only dialect.

pub mod mysql;
pub mod postgres;
pub mod sqlite;
mod url;

use anyhow::{bail, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use self::url::{Backend, DatabaseUrl};

/// DOT's table names, overridable for swapped models. Each is a validated plain identifier, so
/// backends may quote and interpolate them.
#[derive(Clone, Debug)]
pub struct Tables {
    pub application: String,
    pub access_token: String,
    pub refresh_token: String,
    pub id_token: String,
    pub grant: String,
    pub user: String,
}

impl Default for Tables {
    fn default() -> Self {
        Tables {
            application: "oauth2_provider_application".into(),
            access_token: "oauth2_provider_accesstoken".into(),
            refresh_token: "oauth2_provider_refreshtoken".into(),
            id_token: "oauth2_provider_idtoken".into(),
            grant: "oauth2_provider_grant".into(),
            user: "auth_user".into(),
        }
    }
}

/// Accepts `name` only if it is a plain SQL identifier (letters, digits, underscores, not starting
/// with a digit, at most 63 characters): table names are interpolated into SQL, never bound.
pub fn validate_identifier(what: &str, name: &str) -> Result<()> {
    let mut chars = name.chars();
    let plain = match chars.next() {
        Some(first) if first.is_ascii_alphabetic() || first == '_' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        _ => false,
    };
    if !plain || name.len() > 63 {
        bail!(
            crate::Failure::Usage(format!(
                "{what} must be a plain SQL identifier (letters, digits and _, at most 63 characters), got {}",
                crate::pyrepr::repr_str(&truncate_for_message(name))
            ))
        );
    }
    Ok(())
}

fn truncate_for_message(text: &str) -> String {
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text.to_string()
    }
}

/// One column of an existing table, as the catalogue describes it.
#[derive(Clone, Debug)]
pub struct ColumnInfo {
    pub name: String,
    pub not_null: bool,
    /// A default, identity or auto-increment: the database fills it when we leave it out.
    pub has_default: bool,
}

/// A value to write, typed so that each backend binds its native type (and typed NULLs).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Text(String),
    Bool(Option<bool>),
    Int(Option<i64>),
    Timestamp(Option<DateTime<Utc>>),
}

/// An application as DOT's `createapplication` would save it (after validation and hashing).
#[derive(Clone, Debug)]
pub struct NewApplication {
    pub client_id: String,
    pub user_id: Option<i64>,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub client_type: String,
    pub authorization_grant_type: String,
    /// Already hashed unless `hash_client_secret` is false.
    pub client_secret: String,
    pub hash_client_secret: bool,
    pub name: String,
    pub skip_authorization: bool,
    pub algorithm: String,
    pub created: DateTime<Utc>,
}

/// The columns of the application table that DOT's model defines (3.4.1 and the unreleased
/// master), with the value DOT's model gives each on creation. Columns an older schema lacks are
/// simply not written.
pub fn application_values(app: &NewApplication) -> Vec<(&'static str, Value)> {
    vec![
        ("client_id", Value::Text(app.client_id.clone())),
        ("user_id", Value::Int(app.user_id)),
        ("redirect_uris", Value::Text(app.redirect_uris.clone())),
        (
            "post_logout_redirect_uris",
            Value::Text(app.post_logout_redirect_uris.clone()),
        ),
        ("client_type", Value::Text(app.client_type.clone())),
        (
            "authorization_grant_type",
            Value::Text(app.authorization_grant_type.clone()),
        ),
        ("client_secret", Value::Text(app.client_secret.clone())),
        (
            "hash_client_secret",
            Value::Bool(Some(app.hash_client_secret)),
        ),
        ("name", Value::Text(app.name.clone())),
        (
            "skip_authorization",
            Value::Bool(Some(app.skip_authorization)),
        ),
        ("created", Value::Timestamp(Some(app.created))),
        ("updated", Value::Timestamp(Some(app.created))),
        ("algorithm", Value::Text(app.algorithm.clone())),
        ("allowed_origins", Value::Text(String::new())),
        ("registration_source", Value::Text("manual".into())),
        ("cimd_expires_at", Value::Timestamp(None)),
        // Unreleased DOT master (0024/0025); written only where a database already has them.
        ("token_endpoint_auth_method", Value::Text(String::new())),
        ("client_jwks", Value::Text(String::new())),
        ("client_jwks_uri", Value::Text(String::new())),
        ("require_pushed_authorization_requests", Value::Bool(None)),
    ]
}

/// Chooses, from the table's real columns, what an INSERT writes: every known column that exists.
/// Fails when the table has a NOT NULL column without default that DOT's model does not define
/// (a swapped model with extra fields): the INSERT would fail, so say why up front.
pub fn application_insert_plan(
    table: &str,
    columns: &[ColumnInfo],
    app: &NewApplication,
) -> Result<Vec<(&'static str, Value)>> {
    let known = application_values(app);
    for column in columns {
        let is_known = column.name == "id" || known.iter().any(|(name, _)| *name == column.name);
        if !is_known && column.not_null && !column.has_default {
            bail!(
                "table {table} has a NOT NULL column {:?} without a default that DOT's Application model does not define; oauthctl cannot fill it",
                column.name
            );
        }
    }
    Ok(known
        .into_iter()
        .filter(|(name, _)| columns.iter().any(|c| c.name == *name))
        .collect())
}

/// Why an application could not be inserted.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("client id already exists")]
    DuplicateClientId,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// What `oauthctl migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrateOutcome {
    /// Migrations ran; the number applied now (0 when already up to date).
    Applied(usize),
    /// The tables exist and are not oauthctl's: a Django-managed database, left untouched.
    ManagedByDjango,
}

#[async_trait]
pub trait Store: Send + Sync {
    fn backend(&self) -> Backend;
    fn tables(&self) -> &Tables;

    /// The columns of `table`, or `None` when it does not exist.
    async fn table_columns(&self, table: &str) -> Result<Option<Vec<ColumnInfo>>>;

    /// Creates DOT's tables from the embedded migrations, unless Django manages them.
    async fn migrate(&self) -> Result<MigrateOutcome>;

    async fn user_exists(&self, user_id: i64) -> Result<bool>;
    async fn client_id_exists(&self, client_id: &str) -> Result<bool>;

    /// Inserts one application; the unique constraint on `client_id` decides races.
    async fn insert_application(&self, app: &NewApplication) -> Result<i64, InsertError>;
}

/// How a command wants the database opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Normal use: a missing SQLite file is created and migrated (the embedded default).
    CreateSqlite,
    /// `oauthctl migrate`: create the SQLite file but leave migrating to the command.
    ForMigrate,
}

/// Connects to the database the URL names, with the backend chosen from its scheme.
pub async fn open(url: &DatabaseUrl, tables: Tables, mode: OpenMode) -> Result<Box<dyn Store>> {
    Ok(match url.backend() {
        Backend::Sqlite => Box::new(sqlite::SqliteStore::open(url, tables, mode).await?),
        Backend::Postgres => Box::new(postgres::PostgresStore::open(url, tables).await?),
        Backend::MySql => Box::new(mysql::MySqlStore::open(url, tables).await?),
    })
}

/// Fails with a one-line hint unless the application table exists; returns its columns.
pub async fn require_table(
    store: &dyn Store,
    url: &DatabaseUrl,
    table: &str,
) -> Result<Vec<ColumnInfo>> {
    match store.table_columns(table).await? {
        Some(columns) => Ok(columns),
        None => bail!(
            "table {table} does not exist in {}; create DOT's tables with `oauthctl migrate` (or Django's `manage.py migrate`), or name your table with the table options",
            url.redacted()
        ),
    }
}

/// Quotes a validated identifier with `quote` (`"` or `` ` ``).
pub(crate) fn quoted(name: &str, quote: char) -> String {
    format!("{quote}{name}{quote}")
}

/// `INSERT INTO t (c1, c2, …) VALUES (p1, p2, …)` with the backend's quoting and placeholders.
pub(crate) fn insert_sql(
    table: &str,
    columns: &[&str],
    quote: char,
    placeholder: impl Fn(usize) -> String,
) -> String {
    let names: Vec<String> = columns.iter().map(|c| quoted(c, quote)).collect();
    let params: Vec<String> = (1..=columns.len()).map(placeholder).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quoted(table, quote),
        names.join(", "),
        params.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_plain_only() {
        assert!(validate_identifier("--application-table", "oauth2_provider_application").is_ok());
        assert!(validate_identifier("t", "_x9").is_ok());
        for bad in [
            "",
            "9abc",
            "a-b",
            "a b",
            "a;drop table x",
            "\"a\"",
            "a.b",
            &"x".repeat(64),
        ] {
            assert!(validate_identifier("t", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn insert_plan_follows_existing_columns_and_rejects_unknown_required_ones() {
        let app = NewApplication {
            client_id: "c".into(),
            user_id: None,
            redirect_uris: String::new(),
            post_logout_redirect_uris: String::new(),
            client_type: "public".into(),
            authorization_grant_type: "password".into(),
            client_secret: "s".into(),
            hash_client_secret: true,
            name: String::new(),
            skip_authorization: false,
            algorithm: String::new(),
            created: Utc::now(),
        };
        let col = |name: &str, not_null: bool, has_default: bool| ColumnInfo {
            name: name.into(),
            not_null,
            has_default,
        };
        let old_schema = vec![
            col("id", true, true),
            col("client_id", true, false),
            col("client_secret", true, false),
        ];
        let plan = application_insert_plan("t", &old_schema, &app).unwrap();
        assert_eq!(
            plan.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            vec!["client_id", "client_secret"]
        );

        let swapped = vec![col("id", true, true), col("tenant", true, false)];
        let err = application_insert_plan("t", &swapped, &app)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"tenant\""), "{err}");

        let with_nullable_extra = vec![col("client_id", true, false), col("note", false, false)];
        assert!(application_insert_plan("t", &with_nullable_extra, &app).is_ok());
    }
}
