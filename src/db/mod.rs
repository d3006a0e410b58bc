//! The repository: domain verbs over DOT's tables, one native sqlx implementation per backend.
//!
//! Commands never see SQL. They open a [`Store`] from a database URL (the backend is chosen once,
//! from the URL scheme) and call verbs such as [`Store::insert_application`]. What is common to
//! every backend lives here: table names, the cleanup's vocabulary (steps, cutoffs, batches), and,
//! as default methods of [`Store`], every verb that differs between backends only in dialect. Those
//! are built as [`Sql`] for a [`Dialect`] (`sql.rs`) and run on the backend's pool through
//! [`Queries`] (`driver.rs`, the sqlx glue written once for all drivers).
//!
//! Beside it: what DOT writes into each column of a new application (`new_application.rs`), DOT's
//! deletion conditions (`predicates.rs`), the run locks (`lock.rs`), what a failure means for a
//! retry (`error.rs`), the connection set-up PostgreSQL and MySQL share (`server.rs`), the write
//! transaction of a batch read beforehand (`batch.rs`), database URLs (`url.rs`). `sqlite.rs`,
//! `postgres.rs` and `mysql.rs` hold only what is theirs: connect options, catalogue query and
//! migrations, session settings, lock names, and the batch statements, tuned per backend
//! (BENCHMARKS.md).

pub mod apply;
mod batch;
pub mod cleanup_state;
mod driver;
mod error;
pub mod indexes;
pub mod inspect;
mod lock;
pub mod mysql;
pub mod network;
mod new_application;
pub mod postgres;
mod predicates;
pub mod release;
mod server;
pub mod sql;
pub mod sqlite;
mod url;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;

use crate::django::timezone::{DjangoTime, TimeSettings};

pub use self::apply::{ApplyTransaction, CascadeCounts, StoredApplication};
pub use self::driver::Queries;
pub use self::error::ErrorClass;
pub use self::indexes::{CleanupIndex, DdlFlavor, IndexChange, IndexState, IndexStatus};
pub use self::inspect::{LockProbe, RowEstimate};
pub use self::new_application::{
    application_insert_plan, application_values, InsertError, NewApplication,
};
pub use self::predicates::{Boundary, Rules};
pub use self::release::{Detection, DotVersion, RulesInUse, DJANGO_MIGRATIONS};
pub use self::sql::{Dialect, Sql, Value};
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

/// DOT's own table names (and Django's user table), the defaults of the table options.
pub mod default_table {
    pub const APPLICATION: &str = "oauth2_provider_application";
    pub const ACCESS_TOKEN: &str = "oauth2_provider_accesstoken";
    pub const REFRESH_TOKEN: &str = "oauth2_provider_refreshtoken";
    pub const ID_TOKEN: &str = "oauth2_provider_idtoken";
    pub const GRANT: &str = "oauth2_provider_grant";
    pub const USER: &str = "auth_user";
}

impl Default for Tables {
    fn default() -> Self {
        Tables {
            application: default_table::APPLICATION.into(),
            access_token: default_table::ACCESS_TOKEN.into(),
            refresh_token: default_table::REFRESH_TOKEN.into(),
            id_token: default_table::ID_TOKEN.into(),
            grant: default_table::GRANT.into(),
            user: default_table::USER.into(),
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
            crate::error::Failure::Usage(format!(
                "{what} must be a plain SQL identifier (letters, digits and _, at most 63 characters), got {}",
                crate::django::repr::repr_str(&truncate_for_message(name))
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

/// DOT 3.4.1's six `clear_expired()` steps, in the order DOT runs them (docs/compatibility.md#the-six-steps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// 1. Refresh tokens with `revoked <= refresh_revoked_at`.
    RevokedRefreshTokens,
    /// 2. Refresh tokens neither revoked nor bound to an access token (any age).
    OrphanedRefreshTokens,
    /// 3. Live refresh tokens whose access token `expires <= refresh_expire_at`.
    ExpiredRefreshTokens,
    /// 4. Access tokens with `expires < now` that no refresh token points to.
    ExpiredAccessTokens,
    /// 5. ID tokens with `expires < now` that no access token points to.
    ExpiredIdTokens,
    /// 6. Grants with `expires < now`.
    ExpiredGrants,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::RevokedRefreshTokens,
        Step::OrphanedRefreshTokens,
        Step::ExpiredRefreshTokens,
        Step::ExpiredAccessTokens,
        Step::ExpiredIdTokens,
        Step::ExpiredGrants,
    ];

    /// The table the step deletes from.
    pub fn table(self, tables: &Tables) -> &str {
        match self {
            Step::RevokedRefreshTokens
            | Step::OrphanedRefreshTokens
            | Step::ExpiredRefreshTokens => &tables.refresh_token,
            Step::ExpiredAccessTokens => &tables.access_token,
            Step::ExpiredIdTokens => &tables.id_token,
            Step::ExpiredGrants => &tables.grant,
        }
    }

    /// Refresh-token steps must null `accesstoken.source_refresh_token_id` (DOT's SET_NULL)
    /// before their rows go. The other steps' predicates already exclude every referenced row.
    pub fn deletes_refresh_tokens(self) -> bool {
        matches!(
            self,
            Step::RevokedRefreshTokens | Step::OrphanedRefreshTokens | Step::ExpiredRefreshTokens
        )
    }
}

/// The cutoffs of one `cleartokens` run, all derived from a single "now" as in DOT's
/// `clear_expired()` set-up.
#[derive(Clone, Debug, PartialEq)]
pub struct Cutoffs {
    /// Steps 4-6 delete rows with `expires < now`.
    pub now: DjangoTime,
    /// Step 1 deletes `revoked <= refresh_revoked_at`; `None` (reuse protection without an
    /// expiry) skips the step.
    pub refresh_revoked_at: Option<DjangoTime>,
    /// Step 3 deletes live refresh tokens whose access token `expires <= refresh_expire_at`;
    /// `None` (REFRESH_TOKEN_EXPIRE_SECONDS unset or 0) skips the step.
    pub refresh_expire_at: Option<DjangoTime>,
    /// The DOT release whose steps and boundaries apply ([`Rules::cutoffs`]); backends only
    /// pass it on to the predicates.
    pub rules: Rules,
    /// `cleartokens --incremental`: the mark (the `now` of the last complete run) that bounds
    /// steps 4 and 5 to the rows that can have become deletable since (`predicates.rs`,
    /// [`cleanup_state`]); `None`: DOT's full pass.
    pub incremental_since: Option<DjangoTime>,
}

impl Cutoffs {
    /// Whether DOT runs `step` at all with these cutoffs (and the release has it).
    pub fn runs(&self, step: Step) -> bool {
        if !self.rules.has(step) {
            return false;
        }
        match step {
            Step::RevokedRefreshTokens => self.refresh_revoked_at.is_some(),
            Step::ExpiredRefreshTokens => self.refresh_expire_at.is_some(),
            _ => true,
        }
    }
}

/// What one batch did. A batch takes the next `limit` matching rows after a primary key (the
/// candidates), then deletes those that still match inside one short transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Rows that matched when the batch looked for them.
    pub candidates: u64,
    /// Rows actually deleted (rows affected): candidates changed meanwhile by the live server are
    /// kept.
    pub deleted: u64,
    /// The lowest candidate primary key (`None` where the backend does not report it).
    pub first_id: Option<i64>,
    /// The highest candidate primary key: the next batch starts after it.
    pub last_id: Option<i64>,
    /// How long the batch's write transaction ran, from its first write to the end of its
    /// COMMIT: the longest any row lock of the batch can have been held. (PostgreSQL: the one
    /// statement that finds the range and deletes it, so a bound from above.)
    pub locked: std::time::Duration,
}

impl BatchOutcome {
    /// A batch that found no candidates: the step is done, nothing was locked.
    pub const NONE_LEFT: BatchOutcome = BatchOutcome {
        candidates: 0,
        deleted: 0,
        first_id: None,
        last_id: None,
        locked: std::time::Duration::ZERO,
    };

    /// Fewer candidates than asked for: the walk reached the end of the table.
    pub fn exhausted(&self, limit: u64) -> bool {
        self.candidates < limit || self.last_id.is_none()
    }
}

/// What a backend reads, by its own counters: the difference over one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Examined {
    /// MySQL/MariaDB: rows the storage engine handed to this session (the sum of the session's
    /// `Handler_read_%` counters), over every table the step read.
    Rows(u64),
    /// PostgreSQL: buffer pages (heap and index, hit or read) of the four token tables, from
    /// `pg_statio_user_tables`: every session's, so live traffic during the step counts too.
    Pages(u64),
}

impl Examined {
    /// The counter's growth from `before` to `self`; `None` when the two are not comparable
    /// (a different kind, or a counter that went back: a new session after a lost one).
    pub fn since(self, before: Examined) -> Option<Examined> {
        match (before, self) {
            (Examined::Rows(b), Examined::Rows(a)) => a.checked_sub(b).map(Examined::Rows),
            (Examined::Pages(b), Examined::Pages(a)) => a.checked_sub(b).map(Examined::Pages),
            _ => None,
        }
    }
}

/// The batch the cleanup loop asks a backend for next ([`Store::delete_batch`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchRequest {
    pub step: Step,
    /// The last primary key of the step's previous batch (`i64::MIN` for its first).
    pub after_id: i64,
    /// Rows the batch may take, at most.
    pub limit: u64,
    pub shape: BatchShape,
}

impl BatchRequest {
    /// A step's first batch: a sweep from the start of the table.
    pub fn first(step: Step, limit: u64) -> BatchRequest {
        BatchRequest {
            step,
            after_id: i64::MIN,
            limit,
            shape: BatchShape::Sweep,
        }
    }
}

/// How a batch finds its rows. The cleanup loop picks one per batch from the last batch of the
/// step ([`crate::cleartokens::batching::next_shape`]): a backlog runs in ranges, a steady-state run by keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchShape {
    /// A step's first batch: [`BatchShape::Keys`], read from the start of the table, so it reads
    /// the table at most once whatever the plan; a backend may let its planner choose freely
    /// (PostgreSQL: a sequential scan with a hash join, as the unbatched statement gets). In a
    /// steady-state run this one batch is usually the whole step.
    Sweep,
    /// Candidates are the next `limit` rows meeting the full condition; the DELETE takes exactly
    /// those keys (re-checked). Best where matching rows are sparse: nothing between them is
    /// read twice or locked.
    Keys,
    /// The batch is the id range up to the `limit`-th row meeting the step's scan condition
    /// ([`predicates::scan_condition`]); the DELETE reads that range once and takes the rows
    /// meeting the full condition. Best where matching rows are dense (a backlog): the
    /// condition's subquery runs once per row and no key is looked up twice.
    Range,
}

/// The "one cleartokens run at a time" lock, held until [`CleanupLock::release`] or drop.
#[async_trait]
pub trait CleanupLock: Send {
    /// The lock's name, for messages.
    fn describe(&self) -> String;
    /// Before each batch: make sure the lock is still ours. Its session may have died with a
    /// server restart even when the batch connection came back by itself; then the lock is
    /// re-taken on a new session (`Ok(true)`), or, if another run took it meanwhile, this fails
    /// with [`crate::error::Failure::Conflict`]. A server that is still unreachable is an error the
    /// backend classifies as [`ErrorClass::ConnectionLost`].
    async fn ensure_held(&mut self) -> Result<bool>;
    /// Releases the lock (dropping it releases it too, less politely).
    async fn release(self: Box<Self>) -> Result<()>;
}

/// What `oauthctl migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrateOutcome {
    /// Migrations ran; the number applied now (0 when already up to date).
    Applied(usize),
    /// The tables exist and are not oauthctl's: a Django-managed database, left untouched.
    ManagedByDjango,
}

/// The name of sqlx's migration ledger: a database that has DOT's tables but not this ledger is
/// managed by Django.
const MIGRATION_LEDGER: &str = "_sqlx_migrations";

/// A database holding DOT's tables. Each backend provides the few methods that are its own
/// (catalogue, migrations, locks, sessions, batch statements) and a pool ([`Store::queries`]);
/// the verbs that differ between backends only in dialect are written here once.
#[async_trait]
pub trait Store: Send + Sync {
    fn tables(&self) -> &Tables;

    /// The pool that the verbs written here for every backend run on.
    fn queries(&self) -> &dyn Queries;

    /// The catalogue query listing the columns of `table` as rows of (name, NOT NULL, has a
    /// default); it returns no rows when the table does not exist.
    fn columns_query(&self, table: &str) -> Sql;

    /// Runs the embedded migrations for this database (sqlx keeps them in its ledger).
    async fn run_embedded_migrations(&self) -> Result<()>;

    /// Takes the per-database "one cleartokens run at a time" lock without waiting; fails with
    /// [`crate::error::Failure::Conflict`] naming the lock when another run holds it.
    async fn acquire_cleanup_lock(&self) -> Result<Box<dyn CleanupLock>>;

    /// Tunes this session for batched deletes beside a live server: short lock waits (a batch
    /// backs off rather than queueing behind the server), and whatever the dialect needs for
    /// the batch statements.
    async fn prepare_cleanup(&self) -> Result<()>;

    /// One batch: rows of the step with a primary key above `after_id` that match the step's
    /// predicate are deleted in one transaction whose DELETE re-checks the predicate, with
    /// references to them nulled first (DOT's SET_NULL); at most `limit` rows, chosen as `shape`
    /// says (a backend may treat the shapes alike).
    async fn delete_batch(&self, cutoffs: &Cutoffs, batch: BatchRequest) -> Result<BatchOutcome>;

    /// Before a cleanup takes its lock: how it paces its batches, which its deadlines and the
    /// server's session timeouts are derived from ([`network`]). A file database has no network
    /// to bound.
    fn pace_cleanup(&self, _pace: network::CleanupPace) {}

    /// How long one attempt of a batch (or a dry run's count), its lock check included, may
    /// take before the retry loop gives it up; `None` without a network.
    fn batch_deadline(&self) -> Option<std::time::Duration> {
        None
    }

    /// Where the server is (`host:port`), for messages about a deadline; `None` without a
    /// network.
    fn place(&self) -> Option<network::Place> {
        None
    }

    /// Runs one index build or drop (`oauthctl indexes`) as it is, outside any transaction and
    /// without the statement bounds of ordinary exchanges: building an index on a large table
    /// takes as long as it takes.
    async fn run_index_ddl(&self, statement: &str) -> Result<()>;

    /// The cleanup indexes oauthctl defines for this backend and tables, each present, INVALID
    /// or missing ([`indexes`]). A missing table or column is a usage error.
    async fn cleanup_indexes(&self) -> Result<Vec<IndexState>> {
        indexes::states(self).await
    }

    /// The plan the backend chooses for `step`'s candidate search as a run's first batch of the
    /// step runs it (`cleartokens --explain`), as the backend's EXPLAIN prints it; reads only.
    async fn explain_candidates(
        &self,
        cutoffs: &Cutoffs,
        step: Step,
        limit: u64,
    ) -> Result<Vec<String>>;

    /// Builds the missing cleanup indexes and rebuilds INVALID ones, online where the backend
    /// can; idempotent.
    async fn create_cleanup_indexes(&self) -> Result<Vec<(CleanupIndex, IndexChange)>> {
        indexes::create(self).await
    }

    /// Drops the cleanup indexes (only oauthctl's, by name on their tables).
    async fn drop_cleanup_indexes(&self) -> Result<Vec<(CleanupIndex, IndexChange)>> {
        indexes::drop(self).await
    }

    /// `oauthctl apply`: opens its one transaction, having waited for any other apply of this
    /// database (`apply.rs`). `columns` are the application table's. The pool is busy until the
    /// transaction is committed or dropped.
    async fn begin_apply(&self, columns: Vec<ColumnInfo>) -> Result<Box<dyn ApplyTransaction>>;

    /// Every application (`oauthctl listapplications`); `columns` are the table's.
    async fn list_applications(&self, columns: &[ColumnInfo]) -> Result<Vec<StoredApplication>>;

    /// `oauthctl doctor`: the query returning the server's (SQLite: the library's) version.
    fn server_version_sql(&self) -> Sql;

    /// `oauthctl doctor`: `table`'s rows as the catalogue estimates them, cheap at any size.
    async fn estimate_rows(&self, table: &str) -> Result<RowEstimate>;

    /// `oauthctl doctor`: whether a cleartokens run holds the run lock now, found without
    /// taking it (SQLite: a shared lock on the lock file for an instant, if the file exists).
    async fn probe_cleanup_lock(&self) -> Result<LockProbe>;

    /// The server's version, as it reports it.
    async fn server_version(&self) -> Result<String> {
        let version = self
            .queries()
            .fetch_optional_text(&self.server_version_sql())
            .await
            .context("reading the server version")?;
        Ok(version.unwrap_or_default())
    }

    fn dialect(&self) -> Dialect {
        self.queries().dialect()
    }

    fn backend(&self) -> Backend {
        self.dialect().backend()
    }

    /// The columns of `table`, or `None` when it does not exist.
    async fn table_columns(&self, table: &str) -> Result<Option<Vec<ColumnInfo>>> {
        let columns = self
            .queries()
            .fetch_columns(&self.columns_query(table))
            .await
            .with_context(|| format!("reading the columns of {table}"))?;
        Ok((!columns.is_empty()).then_some(columns))
    }

    /// Creates DOT's tables from the embedded migrations, unless Django manages them.
    async fn migrate(&self) -> Result<MigrateOutcome> {
        let has_dot_tables = self
            .table_columns(&self.tables().application)
            .await?
            .is_some();
        let has_our_ledger = self.table_columns(MIGRATION_LEDGER).await?.is_some();
        if has_dot_tables && !has_our_ledger {
            return Ok(MigrateOutcome::ManagedByDjango);
        }
        let before = if has_our_ledger {
            applied_migrations(self.queries()).await?
        } else {
            0
        };
        self.run_embedded_migrations().await?;
        let after = applied_migrations(self.queries()).await?;
        Ok(MigrateOutcome::Applied((after - before) as usize))
    }

    /// Which DOT release migrated this database, from Django's ledger (`release.rs`).
    async fn detect_dot_release(&self) -> Result<Detection> {
        if self.table_columns(DJANGO_MIGRATIONS).await?.is_none() {
            return Ok(Detection::without_ledger());
        }
        let mut sql = Sql::new(self.dialect());
        sql.push("SELECT ")
            .ident("name")
            .push(" FROM ")
            .ident(DJANGO_MIGRATIONS)
            .push(" WHERE ")
            .ident("app")
            .push(" = ")
            .bind(Value::Text(release::DOT_APP.into()));
        let names = self
            .queries()
            .fetch_texts(&sql)
            .await
            .context("reading django_migrations")?;
        Ok(Detection::from_migrations(&names))
    }

    async fn user_exists(&self, user_id: i64) -> Result<bool> {
        let sql = lookup_sql(
            self.dialect(),
            &self.tables().user,
            "id",
            Value::Int(Some(user_id)),
        );
        self.queries()
            .exists(&sql)
            .await
            .context("looking up the user")
    }

    async fn client_id_exists(&self, client_id: &str) -> Result<bool> {
        let sql = lookup_sql(
            self.dialect(),
            &self.tables().application,
            "client_id",
            Value::Text(client_id.to_string()),
        );
        self.queries()
            .exists(&sql)
            .await
            .context("looking up the client id")
    }

    /// Inserts one application; the unique constraint on `client_id` decides races.
    async fn insert_application(&self, app: &NewApplication) -> Result<i64, InsertError> {
        let table = &self.tables().application;
        let columns = self.table_columns(table).await?.unwrap_or_default();
        let plan = application_insert_plan(table, &columns, app)?;
        let error = match self
            .queries()
            .insert(&Sql::insert(self.dialect(), table, plan))
            .await
        {
            Ok(id) => return Ok(id),
            Err(error) => error,
        };
        match error::sqlx_error(&error) {
            Some(e) if error::is_unique_violation(e) => Err(InsertError::DuplicateClientId),
            // The INSERT succeeded but the id it returned (PostgreSQL) is not a bigint.
            Some(sqlx::Error::ColumnDecode { .. }) => {
                Err(error.context("reading the new application's id").into())
            }
            _ => Err(error.context(format!("inserting into {table}")).into()),
        }
    }

    /// How many rows `step` would delete if steps 1..step ran first with these cutoffs (for
    /// `--dry-run`: later steps see the effect of earlier ones, as in a real run).
    async fn count_deletable(&self, step: Step, cutoffs: &Cutoffs) -> Result<u64> {
        let sql = predicates::count_sql(self.dialect(), self.tables(), step, cutoffs);
        let count = self
            .queries()
            .fetch_i64(&sql)
            .await
            .with_context(|| format!("counting rows in {}", step.table(self.tables())))?;
        Ok(count as u64)
    }

    /// The backend's counter of what this cleanup has read so far, for the per-step figures of
    /// the summary (the difference over a step); `None` where the backend has none (SQLite).
    async fn examined_counter(&self) -> Result<Option<Examined>> {
        Ok(None)
    }

    /// Classifies an error from [`Store::delete_batch`] for the retry loop.
    fn classify_error(&self, error: &anyhow::Error) -> ErrorClass {
        error::classify(self.dialect(), error)
    }
}

/// `SELECT 1 FROM table WHERE column = value LIMIT 1`.
fn lookup_sql(dialect: Dialect, table: &str, column: &str, value: Value) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push("SELECT 1 FROM ")
        .ident(table)
        .push(" WHERE ")
        .ident(column)
        .push(" = ")
        .bind(value)
        .push(" LIMIT 1");
    sql
}

/// How many migrations sqlx's ledger records as applied.
async fn applied_migrations(queries: &dyn Queries) -> Result<i64> {
    let mut sql = Sql::new(queries.dialect());
    sql.push(&format!(
        "SELECT COUNT(*) FROM {MIGRATION_LEDGER} WHERE success"
    ));
    queries
        .fetch_i64(&sql)
        .await
        .context("reading oauthctl's migration ledger")
}

/// How a command wants the database opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Normal use: a missing SQLite file is created and migrated (the embedded default).
    CreateSqlite,
    /// `oauthctl migrate`: create the SQLite file but leave migrating to the command.
    ForMigrate,
    /// `cleartokens`: a missing SQLite file is an error, and nothing is created — a cron job
    /// pointed at a mistyped path must fail, not clean an empty new database forever.
    ExistingSqlite,
    /// `doctor`: as [`OpenMode::ExistingSqlite`], and the SQLite file is opened read-only.
    ReadOnly,
}

/// Connects to the database the URL names, with the backend chosen from its scheme.
pub async fn open(url: &DatabaseUrl, tables: Tables, mode: OpenMode) -> Result<Box<dyn Store>> {
    open_with(url, tables, mode, &TimeSettings::default()).await
}

/// [`open`] for a deployment with these Django time settings: a PostgreSQL session is set to
/// Django's `connection.timezone_name`, so that naive values resolve as Django's do.
pub async fn open_with(
    url: &DatabaseUrl,
    tables: Tables,
    mode: OpenMode,
    time: &TimeSettings,
) -> Result<Box<dyn Store>> {
    Ok(match url.backend() {
        Backend::Sqlite => Box::new(sqlite::SqliteStore::open(url, tables, mode).await?),
        Backend::Postgres => {
            let zone = time.session_zone_name();
            Box::new(postgres::PostgresStore::open(url, tables, zone).await?)
        }
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
}
