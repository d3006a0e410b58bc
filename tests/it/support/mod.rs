//! Shared harness for the integration tests: a throw-away database per test on each backend, the
//! real `oauthctl` binary pointed at it with a scrubbed environment, one connection type over the
//! three backends, and [`backend_test!`], which turns one test body into one `#[test]` per backend.
//!
//! Servers (defaults: postgres@127.0.0.1:5432 with trust auth, root@127.0.0.1:3306 with no
//! password; override with OAUTHCTL_TEST_POSTGRES_URL and OAUTHCTL_TEST_MYSQL_URL, each naming an
//! admin database). A test whose server, private-server binaries or Python venv are missing is
//! not run, and one note on stderr says so; with OAUTHCTL_TEST_REQUIRE_ALL=1 (tests/run.sh, CI)
//! it fails instead. See [`availability`].
//!
//! Tests that must restart a server or check a PostgreSQL password start a private one instead
//! ([`server::PrivateServer`]) and create their databases there with [`TestDb::empty_on`] /
//! [`TestDb::migrated_on`].

pub mod availability;
pub mod load;
pub mod process;
pub mod proxy;
pub mod server;

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use sqlx::{Connection, Row};

pub use availability::{available, Need};

// The library items the tests use, each imported here and only here: when they move in `src/`,
// this is the one place to follow them.
pub use oauthctl::application::hashing::check_password;
pub use oauthctl::application::{validate, Candidate, Lookups, Policy};
pub use oauthctl::db::mysql::cleanup_lock_name;
pub use oauthctl::db::postgres::CLEANUP_LOCK_KEY;
pub use oauthctl::db::sqlite::cleanup_lock_path;
pub use oauthctl::django::datetime::django_text;
pub use oauthctl::uri_validator::UriValidator;
pub use oauthctl::Cli;

/// Every environment variable oauthctl reads, removed before each run of the binary so that a
/// developer's shell (a DOT setting, a table override, RUST_LOG, a colour switch …) cannot change
/// what a test sees. Tests set what they need after the scrub.
///
/// Add a variable here when `src/` starts reading one: the test
/// `harness::env_scrub_covers_every_variable_src_reads` greps `src/` for `env = "X"` (clap) and
/// `env::var("X")` / `var_os("X")` and fails until it is listed. Variables only a dependency reads
/// are listed by hand (marked below).
///
/// Deliberately not scrubbed: the libpq-style `PG*` variables (PGPASSWORD, PGSSLMODE, …), which
/// sqlx reads for oauthctl and for the harness's own connections alike, so that both reach the
/// developer's server the same way; and TERM / COLORTERM / CI, which only matter on a terminal
/// (the binary's output is always a pipe here).
pub const SCRUBBED_ENV: &[&str] = &[
    // The database and the table overrides (global flags).
    "DATABASE_URL",
    "OAUTHCTL_APPLICATION_TABLE",
    "OAUTHCTL_ACCESS_TOKEN_TABLE",
    "OAUTHCTL_REFRESH_TOKEN_TABLE",
    "OAUTHCTL_ID_TOKEN_TABLE",
    "OAUTHCTL_GRANT_TABLE",
    "OAUTHCTL_USER_TABLE",
    // cleartokens: DOT's settings, and oauthctl's own bounds.
    "REFRESH_TOKEN_EXPIRE_SECONDS",
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS",
    "REFRESH_TOKEN_REUSE_PROTECTION",
    "CLEAR_EXPIRED_TOKENS_BATCH_SIZE",
    "CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL",
    "OAUTHCTL_MAX_DURATION",
    "OAUTHCTL_LOCK_BUDGET",
    "OAUTHCTL_NOW",
    "OAUTHCTL_METRICS_FILE",
    "OAUTHCTL_DOT_VERSION",
    "OAUTHCTL_INCREMENTAL",
    "OAUTHCTL_FULL_PASS_EVERY",
    // Every command: the network bounds, Django's time-zone settings.
    "OAUTHCTL_NETWORK_TIMEOUT",
    "USE_TZ",
    "TIME_ZONE",
    "DATABASE_TIME_ZONE",
    // createapplication.
    "OAUTHCTL_HASHER",
    "OAUTHCTL_PBKDF2_ITERATIONS",
    "ALLOWED_REDIRECT_URI_SCHEMES",
    "ALLOW_URI_WILDCARDS",
    "OIDC_RSA_PRIVATE_KEY",
    // apply: DOT's ALLOWED_SCHEMES (allowed origins).
    "ALLOWED_SCHEMES",
    // Logging and colour (src reads RUST_LOG and NO_COLOR; tracing-subscriber reads them too).
    "RUST_LOG",
    "OAUTHCTL_LOG_FORMAT",
    "NO_COLOR",
    // Read by dependencies only: clap's colour choice (anstream) and help width.
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "COLUMNS",
    "LINES",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    // The order is part of some tests' fixed random seeds (`backend as u64`): append only.
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    /// A SQL expression giving `expr` as text.
    pub fn text(self, expr: &str) -> String {
        match self {
            Backend::MySql => format!("CAST({expr} AS CHAR)"),
            _ => format!("CAST({expr} AS TEXT)"),
        }
    }

    /// The SQL literals for false and true in a boolean column.
    pub fn bools(self) -> (&'static str, &'static str) {
        match self {
            Backend::Postgres => ("false", "true"),
            _ => ("0", "1"),
        }
    }

    /// The backend argument of tests/interop/*.sh and bench/cleartokens.sh.
    pub fn script_name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }
}

/// Defines one `#[test]` per backend from one body, in the spirit of ripgrep's `rgtest!`: a
/// failure names its backend, `cargo test sqlite` (or `postgres`, `mariadb`) selects one backend,
/// and a missing server skips (or, under OAUTHCTL_TEST_REQUIRE_ALL=1, fails) only its own tests.
///
/// ```ignore
/// backend_test!(name, |backend| { … });                      // SQLite, PostgreSQL, MariaDB
/// backend_test!(name, [Postgres, MySql], |backend| { … });   // only these (shared servers)
/// backend_test!(name, [Postgres, MySql], private_server, |backend| { … }); // needs initdb/mariadbd
/// backend_test!(name, [Postgres, MySql], no_server, |backend| { … });      // needs no server
/// ```
///
/// `name` becomes a module holding `fn sqlite()`, `fn postgres()` and `fn mariadb()` (for
/// `Backend::Sqlite`, `Postgres`, `MySql`), so the tests are `area::name::sqlite` and so on. The
/// body sees the enclosing module through `use super::*` and gets the `Backend` as `backend`.
macro_rules! backend_test {
    ($name:ident, |$backend:ident| $body:block) => {
        $crate::support::backend_test!(@module $name, [Sqlite, Postgres, MySql], shared_server, |$backend| $body);
    };
    ($name:ident, [$($b:ident),+ $(,)?], |$backend:ident| $body:block) => {
        $crate::support::backend_test!(@module $name, [$($b),+], shared_server, |$backend| $body);
    };
    ($name:ident, [$($b:ident),+ $(,)?], $gate:ident, |$backend:ident| $body:block) => {
        $crate::support::backend_test!(@module $name, [$($b),+], $gate, |$backend| $body);
    };
    (@module $name:ident, [$($b:ident),+], $gate:ident, |$backend:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn test_body($backend: $crate::support::Backend) $body

            $( $crate::support::backend_test!(@test $b, $gate); )+
        }
    };
    (@test Sqlite, $gate:ident) => {
        #[test]
        fn sqlite() {
            $crate::support::backend_test!(@run Sqlite, $gate);
        }
    };
    (@test Postgres, $gate:ident) => {
        #[test]
        fn postgres() {
            $crate::support::backend_test!(@run Postgres, $gate);
        }
    };
    (@test MySql, $gate:ident) => {
        #[test]
        fn mariadb() {
            $crate::support::backend_test!(@run MySql, $gate);
        }
    };
    (@run $b:ident, shared_server) => {
        if $crate::support::available($crate::support::Need::SharedServer(
            $crate::support::Backend::$b,
        )) {
            test_body($crate::support::Backend::$b);
        }
    };
    (@run $b:ident, private_server) => {
        if $crate::support::available($crate::support::Need::ServerBinaries(
            $crate::support::Backend::$b,
        )) {
            test_body($crate::support::Backend::$b);
        }
    };
    (@run $b:ident, no_server) => {
        test_body($crate::support::Backend::$b);
    };
}
pub(crate) use backend_test;

/// Returns from the calling test, unless each [`Need`] is available (see [`available`]).
macro_rules! require {
    ($($need:expr),+ $(,)?) => {
        $( if !$crate::support::available($need) { return; } )+
    };
}
pub(crate) use require;

/// The frozen "now" of most tests: microseconds included, to exercise Django's text form.
pub const NOW: &str = "2026-11-26T20:00:00.500000Z";

/// [`NOW`] as a datetime.
pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .with_timezone(&Utc)
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_oauthctl")
}

/// The binary with every variable of [`SCRUBBED_ENV`] removed and stdin closed.
pub fn oauthctl_command() -> Command {
    let mut cmd = Command::new(bin());
    scrub_env(&mut cmd);
    cmd.stdin(Stdio::null());
    cmd
}

/// Removes [`SCRUBBED_ENV`] from what `cmd` inherits (for scripts that run the binary too).
pub fn scrub_env(cmd: &mut Command) {
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
}

/// The admin URL of a shared server (the database part names an admin database).
pub fn admin_url(backend: Backend) -> String {
    match backend {
        Backend::Postgres => std::env::var("OAUTHCTL_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        Backend::MySql => std::env::var("OAUTHCTL_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into()),
        Backend::Sqlite => unreachable!("SQLite has no server"),
    }
}

/// `admin_url` with its database replaced by `name`.
fn with_database(admin: &str, name: &str) -> String {
    let (base, _) = admin
        .rsplit_once('/')
        .expect("admin URL has a database part");
    format!("{base}/{name}")
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "oauthctl_t_{}_{}_{}_{}",
        tag.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(20)
            .collect::<String>()
            .to_lowercase(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos % 100_000
    )
}

// ---------------------------------------------------------------------------------------------
// One connection over the three backends

/// A connection to a test database on any backend, so that helpers and tests say once what they
/// do instead of once per backend.
pub enum Conn {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
    MySql(sqlx::MySqlConnection),
}

/// `$body` once per variant, with `$c` bound to the backend's connection.
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            Conn::Sqlite($c) => $body,
            Conn::Postgres($c) => $body,
            Conn::MySql($c) => $body,
        }
    };
}

fn sqlite_options(url: &str) -> sqlx::sqlite::SqliteConnectOptions {
    let path = url.trim_start_matches("sqlite://");
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .foreign_keys(true)
        .create_if_missing(true)
}

impl Conn {
    /// Connects; for SQLite the file is created if missing (foreign keys on, as Django has them).
    pub async fn connect(backend: Backend, url: &str) -> Result<Conn, sqlx::Error> {
        Ok(match backend {
            Backend::Sqlite => {
                Conn::Sqlite(sqlx::SqliteConnection::connect_with(&sqlite_options(url)).await?)
            }
            Backend::Postgres => Conn::Postgres(sqlx::PgConnection::connect(url).await?),
            Backend::MySql => Conn::MySql(sqlx::MySqlConnection::connect(url).await?),
        })
    }

    /// [`Conn::connect`], panicking with a message that names the server.
    pub async fn open(backend: Backend, url: &str) -> Conn {
        Conn::connect(backend, url)
            .await
            .unwrap_or_else(|e| match backend {
                Backend::Sqlite => panic!("SQLite database {url}: {e}"),
                Backend::Postgres => panic!("PostgreSQL at {url} is required for the tests: {e}"),
                Backend::MySql => panic!("MariaDB/MySQL at {url} is required for the tests: {e}"),
            })
    }

    /// Runs `sql` (one or more statements, simple protocol).
    pub async fn try_execute(&mut self, sql: &str) -> Result<(), String> {
        on_conn!(self, c => sqlx::raw_sql(sql).execute(c).await.map(|_| ()).map_err(|e| e.to_string()))
    }

    /// [`Conn::try_execute`], panicking with the statement on error.
    pub async fn execute(&mut self, sql: &str) {
        if let Err(e) = self.try_execute(sql).await {
            panic!("{sql}: {e}");
        }
    }

    /// The single integer `sql` returns (NULL as None), e.g. `SELECT GET_LOCK(…)`.
    pub async fn fetch_optional_i64(&mut self, sql: &str) -> Option<i64> {
        on_conn!(self, c => sqlx::query_scalar(sql)
            .fetch_one(c)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}")))
    }

    /// The single non-NULL integer `sql` returns, e.g. `SELECT COUNT(*) FROM …`.
    pub async fn fetch_i64(&mut self, sql: &str) -> i64 {
        self.fetch_optional_i64(sql)
            .await
            .unwrap_or_else(|| panic!("{sql}: NULL"))
    }

    /// Rows of a query whose columns are all text (cast in SQL as needed), NULL as None.
    pub async fn fetch_strings(&mut self, sql: &str) -> Vec<Vec<Option<String>>> {
        on_conn!(self, c => {
            let rows = sqlx::query(sql)
                .fetch_all(c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            rows.iter()
                .map(|row| {
                    (0..row.len())
                        .map(|i| row.try_get::<Option<String>, _>(i).unwrap())
                        .collect()
                })
                .collect()
        })
    }

    pub async fn ping(&mut self) -> Result<(), sqlx::Error> {
        on_conn!(self, c => c.ping().await)
    }

    pub async fn close(self) -> Result<(), sqlx::Error> {
        on_conn!(self, c => c.close().await)
    }
}

// ---------------------------------------------------------------------------------------------
// Test databases

/// A database that exists for the life of the value.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    name: String,
    /// The admin URL the database was created with (and is dropped through); None for SQLite.
    admin: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// An empty database (for SQLite: a path in a fresh directory, not created yet).
    pub fn empty(backend: Backend, tag: &str) -> Self {
        match backend {
            Backend::Sqlite => Self::empty_at(backend, None, tag),
            _ => Self::empty_at(backend, Some(admin_url(backend)), tag),
        }
    }

    /// An empty database on a private server (see [`server::PrivateServer`]).
    pub fn empty_on(server: &server::PrivateServer, tag: &str) -> Self {
        Self::empty_at(server.backend, Some(server.admin_url()), tag)
    }

    /// A database with DOT's tables on a private server, created by `oauthctl migrate`.
    pub fn migrated_on(server: &server::PrivateServer, tag: &str) -> Self {
        let db = TestDb::empty_on(server, tag);
        db.migrate();
        db
    }

    fn empty_at(backend: Backend, admin: Option<String>, tag: &str) -> Self {
        let name = unique_name(tag);
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!(
                    "sqlite://{}",
                    dir.path().join(format!("{name}.sqlite3")).display()
                );
                TestDb {
                    backend,
                    url,
                    name,
                    admin: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres | Backend::MySql => {
                let admin = admin.expect("an admin URL");
                execute_on(backend, &admin, &format!("CREATE DATABASE {name}"));
                TestDb {
                    backend,
                    url: with_database(&admin, &name),
                    name,
                    admin: Some(admin),
                    _dir: None,
                }
            }
        }
    }

    /// A database with DOT's tables, created by `oauthctl migrate`.
    pub fn migrated(backend: Backend, tag: &str) -> Self {
        let db = TestDb::empty(backend, tag);
        db.migrate();
        db
    }

    fn migrate(&self) {
        let out = self.oauthctl(&["migrate"]).output().unwrap();
        assert!(
            out.status.success(),
            "migrate failed on {:?}: {}",
            self.backend,
            String::from_utf8_lossy(&out.stderr)
        );
        if with_cleanup_indexes() && !self.name.starts_with("oauthctl_t_ix") {
            let out = self.oauthctl(&["indexes", "create"]).output().unwrap();
            assert!(
                out.status.success(),
                "indexes create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// The binary with DATABASE_URL pointing here and a scrubbed environment ([`SCRUBBED_ENV`]).
    pub fn oauthctl(&self, args: &[&str]) -> Command {
        let mut cmd = oauthctl_command();
        cmd.args(args).env("DATABASE_URL", &self.url);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.oauthctl(args).output().unwrap()
    }

    /// A connection of its own to this database, for a test that holds locks or transactions.
    pub async fn connect(&self) -> Conn {
        Conn::open(self.backend, &self.url).await
    }

    /// Executes statements (one per call) on this database.
    pub fn execute(&self, sql: &str) {
        execute_on(self.backend, &self.url, sql);
    }

    /// Executes several statements in order on one connection.
    pub fn execute_many(&self, statements: &[String]) {
        runtime().block_on(async {
            let mut c = self.connect().await;
            for sql in statements {
                c.execute(sql).await;
            }
        });
    }

    /// Rows of a query whose columns are all text (cast in SQL as needed), NULL as None.
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        runtime().block_on(async { self.connect().await.fetch_strings(sql).await })
    }

    /// A single integer, e.g. `SELECT COUNT(*) FROM …`.
    pub fn scalar(&self, sql: &str) -> i64 {
        runtime().block_on(async { self.connect().await.fetch_i64(sql).await })
    }

    pub fn count(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT COUNT(*) FROM {table}"))
    }

    /// The database's name (PostgreSQL/MySQL) or file stem (SQLite).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What oauthctl's "another run is active" message names as the run lock of this database.
    pub fn cleanup_lock_name(&self) -> String {
        match self.backend {
            Backend::Sqlite => "-oauthctl-cleartokens.lock".to_string(),
            Backend::Postgres => CLEANUP_LOCK_KEY.to_string(),
            Backend::MySql => cleanup_lock_name(&self.name),
        }
    }

    /// Holds oauthctl's cleartokens run lock for this database, as a concurrent run would, until
    /// the returned value is dropped.
    pub fn hold_cleanup_lock(&self) -> HeldLock {
        let (backend, url, name) = (self.backend, self.url.clone(), self.name.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            if backend == Backend::Sqlite {
                // SQLite's run lock is an advisory lock on a file next to the database.
                let path = cleanup_lock_path(url.trim_start_matches("sqlite://"));
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .unwrap();
                fs4::FileExt::try_lock(&file).unwrap();
                ready_tx.send(()).unwrap();
                let _ = release_rx.recv();
                drop(file);
                return;
            }
            runtime().block_on(async move {
                let mut c = Conn::open(backend, &url).await;
                match backend {
                    Backend::Postgres => {
                        c.execute(&format!("SELECT pg_advisory_lock({CLEANUP_LOCK_KEY})"))
                            .await
                    }
                    _ => {
                        let lock = cleanup_lock_name(&name).replace('\'', "''");
                        let got = c
                            .fetch_optional_i64(&format!("SELECT GET_LOCK('{lock}', 0)"))
                            .await;
                        assert_eq!(got, Some(1));
                    }
                }
                ready_tx.send(()).unwrap();
                let _ = release_rx.recv();
                c.close().await.unwrap();
            })
        });
        ready_rx.recv().expect("lock holder failed");
        HeldLock {
            release: Some(release_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(admin) = self.admin.clone() else {
            return;
        };
        let sql = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            _ => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        let backend = self.backend;
        // On a thread of its own: the drop may run inside a test's runtime, and a failed drop
        // (server gone) must not turn into a second panic.
        let _ = std::thread::spawn(move || execute_on(backend, &admin, &sql)).join();
    }
}

/// Runs `sql` on a connection of its own to `url`.
fn execute_on(backend: Backend, url: &str, sql: &str) {
    runtime().block_on(async { Conn::open(backend, url).await.execute(sql).await });
}

/// A run lock held by the test; released on drop.
pub struct HeldLock {
    release: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Output

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// OAUTHCTL_TEST_CLEANUP_INDEXES=1: every migrated test database also gets the cleanup indexes
/// (`oauthctl indexes create`), so that the cleartokens suites prove the same rows with them as
/// without (the `indexes::` tests, whose databases are tagged `ix…`, manage their own).
pub fn with_cleanup_indexes() -> bool {
    std::env::var("OAUTHCTL_TEST_CLEANUP_INDEXES").is_ok_and(|v| !v.is_empty() && v != "0")
}
