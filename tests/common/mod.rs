//! Shared harness for integration tests: a throw-away database per test on each backend, and the
//! real `oauthctl` binary pointed at it.
//!
//! PostgreSQL and MariaDB must be reachable (defaults: postgres@127.0.0.1:5432 with trust auth,
//! root@127.0.0.1:3306 with no password; override with OAUTHCTL_TEST_POSTGRES_URL and
//! OAUTHCTL_TEST_MYSQL_URL, each naming an admin database). A missing server fails the test: it is
//! never skipped.
//!
//! Tests that must restart a server or check a PostgreSQL password start a private one instead
//! ([`server::PrivateServer`]) and create their databases there with [`TestDb::empty_on`] /
//! [`TestDb::migrated_on`].
#![allow(dead_code)]

pub mod server;

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Row};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

pub const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::MySql];

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_oauthctl")
}

fn admin_url(backend: Backend) -> String {
    match backend {
        Backend::Postgres => std::env::var("OAUTHCTL_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        Backend::MySql => std::env::var("OAUTHCTL_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into()),
        Backend::Sqlite => unreachable!(),
    }
}

/// `admin_url` with its database replaced by `name`.
fn with_database(admin: &str, name: &str) -> String {
    let (base, _) = admin
        .rsplit_once('/')
        .expect("admin URL has a database part");
    format!("{base}/{name}")
}

fn runtime() -> tokio::runtime::Runtime {
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
                runtime().block_on(async {
                    let sql = format!("CREATE DATABASE {name}");
                    exec_admin(backend, &admin, &sql).await;
                });
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
    }

    /// The binary with DATABASE_URL pointing here and a clean environment for DOT settings.
    pub fn oauthctl(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env("DATABASE_URL", &self.url)
            .stdin(Stdio::null());
        for var in [
            "OAUTHCTL_NOW",
            "OAUTHCTL_HASHER",
            "OIDC_RSA_PRIVATE_KEY",
            "ALLOWED_REDIRECT_URI_SCHEMES",
            "ALLOW_URI_WILDCARDS",
            "REFRESH_TOKEN_EXPIRE_SECONDS",
            "REFRESH_TOKEN_GRACE_PERIOD_SECONDS",
            "REFRESH_TOKEN_REUSE_PROTECTION",
            "CLEAR_EXPIRED_TOKENS_BATCH_SIZE",
            "CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL",
            "RUST_LOG",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.oauthctl(args).output().unwrap()
    }

    /// Executes statements (one per call) on this database.
    pub fn execute(&self, sql: &str) {
        runtime().block_on(async { execute(self.backend, &self.url, sql).await });
    }

    /// Rows of a query whose columns are all text (cast in SQL as needed), NULL as None.
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        runtime().block_on(async { fetch_text(self.backend, &self.url, sql).await })
    }

    /// A single integer, e.g. `SELECT COUNT(*) FROM …`.
    pub fn scalar(&self, sql: &str) -> i64 {
        runtime().block_on(async { fetch_i64(self.backend, &self.url, sql).await })
    }

    pub fn count(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT COUNT(*) FROM {table}"))
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
        let _ = std::thread::spawn(move || {
            runtime().block_on(async { exec_admin(backend, &admin, &sql).await })
        })
        .join();
    }
}

async fn exec_admin(backend: Backend, admin: &str, sql: &str) {
    execute(backend, admin, sql).await
}

fn sqlite_options(url: &str) -> sqlx::sqlite::SqliteConnectOptions {
    let path = url.trim_start_matches("sqlite://");
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .foreign_keys(true)
        .create_if_missing(true)
}

async fn execute(backend: Backend, url: &str, sql: &str) {
    match backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect_with(&sqlite_options(url))
                .await
                .unwrap();
            sqlx::raw_sql(sql)
                .execute(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(url)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {url} is required for the tests: {e}"));
            sqlx::raw_sql(sql)
                .execute(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        Backend::MySql => {
            let mut c = sqlx::MySqlConnection::connect(url)
                .await
                .unwrap_or_else(|e| {
                    panic!("MariaDB/MySQL at {url} is required for the tests: {e}")
                });
            sqlx::raw_sql(sql)
                .execute(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
}

async fn fetch_text(backend: Backend, url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    macro_rules! collect {
        ($rows:expr) => {
            $rows
                .iter()
                .map(|row| {
                    (0..row.len())
                        .map(|i| row.try_get::<Option<String>, _>(i).unwrap())
                        .collect()
                })
                .collect()
        };
    }
    match backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect_with(&sqlite_options(url))
                .await
                .unwrap();
            let rows = sqlx::query(sql)
                .fetch_all(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            collect!(rows)
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            let rows = sqlx::query(sql)
                .fetch_all(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            collect!(rows)
        }
        Backend::MySql => {
            let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
            let rows = sqlx::query(sql)
                .fetch_all(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            collect!(rows)
        }
    }
}

async fn fetch_i64(backend: Backend, url: &str, sql: &str) -> i64 {
    match backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect_with(&sqlite_options(url))
                .await
                .unwrap();
            sqlx::query_scalar(sql)
                .fetch_one(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sql)
                .fetch_one(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
        Backend::MySql => {
            let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sql)
                .fetch_one(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

impl TestDb {
    /// The database's name (PostgreSQL/MySQL) or file stem (SQLite).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The SQLite file path, for SQLite databases.
    pub fn sqlite_path(&self) -> Option<String> {
        self.url.strip_prefix("sqlite://").map(str::to_string)
    }

    /// Executes several statements in order on one connection.
    pub fn execute_many(&self, statements: &[String]) {
        let (backend, url) = (self.backend, self.url.clone());
        runtime().block_on(async move {
            macro_rules! run_all {
                ($conn:expr) => {{
                    let mut c = $conn;
                    for sql in statements {
                        sqlx::raw_sql(sql)
                            .execute(&mut c)
                            .await
                            .unwrap_or_else(|e| panic!("{sql}: {e}"));
                    }
                }};
            }
            match backend {
                Backend::Sqlite => {
                    run_all!(sqlx::SqliteConnection::connect_with(&sqlite_options(&url))
                        .await
                        .unwrap())
                }
                Backend::Postgres => run_all!(sqlx::PgConnection::connect(&url).await.unwrap()),
                Backend::MySql => run_all!(sqlx::MySqlConnection::connect(&url).await.unwrap()),
            }
        });
    }

    /// Holds oauthctl's cleartokens run lock for this database, as a concurrent run would, until
    /// the returned value is dropped.
    pub fn hold_cleanup_lock(&self) -> HeldLock {
        let (backend, url, name) = (self.backend, self.url.clone(), self.name.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime().block_on(async move {
                match backend {
                    Backend::Sqlite => {
                        let path = oauthctl::db::sqlite::cleanup_lock_path(
                            url.trim_start_matches("sqlite://"),
                        );
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
                    }
                    Backend::Postgres => {
                        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
                        let _: Option<String> =
                            sqlx::query_scalar("SELECT pg_advisory_lock($1)::text")
                                .bind(oauthctl::db::postgres::CLEANUP_LOCK_KEY)
                                .fetch_one(&mut c)
                                .await
                                .unwrap();
                        ready_tx.send(()).unwrap();
                        let _ = release_rx.recv();
                        c.close().await.unwrap();
                    }
                    Backend::MySql => {
                        let mut c = sqlx::MySqlConnection::connect(&url).await.unwrap();
                        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 0)")
                            .bind(oauthctl::db::mysql::cleanup_lock_name(&name))
                            .fetch_one(&mut c)
                            .await
                            .unwrap();
                        assert_eq!(got, Some(1));
                        ready_tx.send(()).unwrap();
                        let _ = release_rx.recv();
                        c.close().await.unwrap();
                    }
                }
            })
        });
        ready_rx.recv().expect("lock holder failed");
        HeldLock {
            release: Some(release_tx),
            thread: Some(thread),
        }
    }
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
