//! Private database servers for the tests that must do what the shared servers cannot: stop and
//! restart the server in the middle of a run, or check passwords (the shared PostgreSQL trusts
//! 127.0.0.1).
//!
//! [`PrivateServer`] initialises a fresh cluster (PostgreSQL: `initdb`; MariaDB:
//! `mariadb-install-db`) in a temporary directory, starts it on a free port of 127.0.0.1 with its
//! unix socket in that directory, and stops it and deletes everything on drop. As root, the
//! server runs as the `postgres` / `mysql` system user (initdb refuses to run as root). The shared
//! servers at :5432 and :3306 are never touched.
//!
//! Binaries: PostgreSQL from `OAUTHCTL_TEST_PG_BIN` (default: the newest
//! `/usr/lib/postgresql/*/bin`), MariaDB's `mariadbd` and `mariadb-install-db` from
//! `OAUTHCTL_TEST_MARIADBD` / `OAUTHCTL_TEST_MARIADB_INSTALL_DB` (default `/usr/sbin/mariadbd`,
//! `mariadb-install-db` on the PATH). Whether they are there is probed once
//! ([`super::availability`]): a test that needs missing ones is not run, or fails under
//! OAUTHCTL_TEST_REQUIRE_ALL=1.
//!
//! PostgreSQL's `pg_hba.conf` trusts the `postgres` superuser over TCP (the admin URL the harness
//! uses) and asks every other role for a `scram-sha-256` password.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{runtime, Backend, Conn};

/// A database server of its own, in a temporary directory; stopped and deleted on drop.
pub struct PrivateServer {
    pub backend: Backend,
    pub port: u16,
    dir: tempfile::TempDir,
    /// MariaDB: the running `mariadbd` (PostgreSQL is driven through `pg_ctl`).
    mariadbd: Option<Child>,
    running: bool,
}

fn is_root() -> bool {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .expect("running `id -u`");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("binding a free port")
        .local_addr()
        .unwrap()
        .port()
}

/// `program args…`, as `user` when we are root.
fn command_as(user: &str, program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", user, "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn chown(user: &str, path: &Path) {
    if !is_root() {
        return;
    }
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{user}:"))
        .arg(path)
        .status()
        .expect("running chown");
    assert!(status.success(), "chown {user} {}", path.display());
}

fn run_checked(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The directory of PostgreSQL's server binaries (initdb, pg_ctl).
pub fn pg_bin() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("OAUTHCTL_TEST_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        "PostgreSQL server binaries (initdb, pg_ctl) are required for the private-server tests: \
         none in /usr/lib/postgresql/*/bin (set OAUTHCTL_TEST_PG_BIN)"
            .to_string()
    })
}

/// [`pg_bin`] for a test that is already running (the availability probe found it).
fn pg_tool(tool: &str) -> PathBuf {
    pg_bin().unwrap_or_else(|e| panic!("{e}")).join(tool)
}

/// The `mariadbd` to start (it may not exist: see [`super::availability`]).
pub fn mariadbd() -> PathBuf {
    PathBuf::from(
        std::env::var("OAUTHCTL_TEST_MARIADBD").unwrap_or_else(|_| "/usr/sbin/mariadbd".into()),
    )
}

/// The `mariadb-install-db` to run: a path, or a name looked up on the PATH.
pub fn mariadb_install_db() -> String {
    std::env::var("OAUTHCTL_TEST_MARIADB_INSTALL_DB")
        .unwrap_or_else(|_| "mariadb-install-db".into())
}

impl PrivateServer {
    /// A fresh PostgreSQL cluster, started.
    pub fn postgres() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("oauthctl-pg-")
            .tempdir()
            .unwrap();
        chown("postgres", dir.path());
        let data = dir.path().join("data");
        run_checked(
            command_as("postgres", &pg_tool("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "-E", "UTF8", "--no-sync", "--auth=trust"]),
            "initdb",
        );
        // The harness's admin connection (postgres over TCP) is trusted; every other role must
        // give its password.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             host all postgres 127.0.0.1/32 trust\n\
             host all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
        chown("postgres", &data);
        let mut server = PrivateServer {
            backend: Backend::Postgres,
            port: free_port(),
            dir,
            mariadbd: None,
            running: false,
        };
        server.start();
        server
    }

    /// A fresh MariaDB data directory, started; root has no password over TCP.
    pub fn mariadb() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("oauthctl-my-")
            .tempdir()
            .unwrap();
        chown("mysql", dir.path());
        let install = mariadb_install_db();
        let mut cmd = Command::new(&install);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ]);
        if is_root() {
            cmd.arg("--user=mysql");
        }
        run_checked(&mut cmd, &install);
        let mut server = PrivateServer {
            backend: Backend::MySql,
            port: free_port(),
            dir,
            mariadbd: None,
            running: false,
        };
        server.start();
        server
    }

    /// The superuser's URL (database `postgres` / `mysql`), no password.
    pub fn admin_url(&self) -> String {
        match self.backend {
            Backend::Postgres => format!("postgres://postgres@127.0.0.1:{}/postgres", self.port),
            _ => format!("mysql://root@127.0.0.1:{}/mysql", self.port),
        }
    }

    /// The server's log (PostgreSQL's stderr log, MariaDB's error log), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Starts the server on its port and waits until it accepts queries.
    pub fn start(&mut self) {
        assert!(!self.running, "already running");
        let dir = self.dir.path();
        match self.backend {
            Backend::Postgres => {
                let options = format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off \
                     -c shared_buffers=32MB -c max_connections=40",
                    self.port,
                    dir.display()
                );
                run_checked(
                    command_as("postgres", &pg_tool("pg_ctl"))
                        .arg("-D")
                        .arg(dir.join("data"))
                        .arg("-l")
                        .arg(dir.join("server.log"))
                        .args(["-w", "-t", "60", "-o", &options, "start"]),
                    "pg_ctl start",
                );
            }
            _ => {
                let mut cmd = Command::new(mariadbd());
                cmd.arg("--no-defaults")
                    .arg(format!("--datadir={}", dir.join("data").display()))
                    .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
                    .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
                    .arg(format!("--log-error={}", dir.join("server.log").display()))
                    .arg(format!("--port={}", self.port))
                    .args([
                        "--bind-address=127.0.0.1",
                        "--skip-name-resolve",
                        "--innodb-buffer-pool-size=32M",
                        "--innodb-flush-log-at-trx-commit=2",
                        "--max-connections=40",
                    ])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                if is_root() {
                    cmd.arg("--user=mysql");
                }
                self.mariadbd = Some(
                    cmd.spawn()
                        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}")),
                );
            }
        }
        self.running = true;
        self.wait_ready(Duration::from_secs(60));
    }

    /// Fast shutdown (PostgreSQL `pg_ctl -m fast`: open transactions are rolled back and the
    /// sessions ended; MariaDB SIGTERM: the same), waiting until the server is gone.
    pub fn stop(&mut self) {
        assert!(self.running, "not running");
        match self.backend {
            Backend::Postgres => run_checked(
                command_as("postgres", &pg_tool("pg_ctl"))
                    .arg("-D")
                    .arg(self.dir.path().join("data"))
                    .args(["-m", "fast", "-w", "-t", "60", "stop"]),
                "pg_ctl stop",
            ),
            _ => {
                let mut child = self.mariadbd.take().expect("mariadbd child");
                let status = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status()
                    .unwrap();
                assert!(status.success(), "kill -TERM mariadbd");
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    if child.try_wait().unwrap().is_some() {
                        break;
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!("mariadbd did not shut down within 60 s");
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        self.running = false;
    }

    /// Polls with a real connection until `SELECT 1` answers.
    fn wait_ready(&mut self, limit: Duration) {
        let url = self.admin_url();
        let backend = self.backend;
        let started = Instant::now();
        let mut last_error = String::new();
        while started.elapsed() < limit {
            if let Some(child) = self.mariadbd.as_mut() {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("mariadbd exited at start-up ({status}): {}", self.log());
                }
            }
            let result: Result<(), String> = runtime().block_on(async {
                let mut c = Conn::connect(backend, &url)
                    .await
                    .map_err(|e| e.to_string())?;
                c.ping().await.map_err(|e| e.to_string())
            });
            match result {
                Ok(()) => return,
                Err(e) => last_error = e,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "private {:?} server on port {} not ready within {limit:?}: {last_error}\n{}",
            self.backend,
            self.port,
            self.log()
        );
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        match self.backend {
            Backend::Postgres => {
                let _ = command_as("postgres", &pg_tool("pg_ctl"))
                    .arg("-D")
                    .arg(self.dir.path().join("data"))
                    .args(["-m", "immediate", "-w", "stop"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            _ => {
                if let Some(mut child) = self.mariadbd.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        // The TempDir removes the data directory after this.
    }
}

/// On a private PostgreSQL server: a login role with a `scram-sha-256` password, allowed to
/// create tables in `db`'s `public` schema and to use every table and sequence already there.
pub fn pg_password_role(db: &super::TestDb, role: &str, password: &str) {
    assert_eq!(db.backend, Backend::Postgres);
    db.execute(&format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'"));
    db.execute(&format!("GRANT ALL ON SCHEMA public TO {role}"));
    db.execute(&format!(
        "GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"
    ));
    db.execute(&format!(
        "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}"
    ));
}

/// `db`'s URL (on a private PostgreSQL server) as `role` with `password`.
pub fn pg_url_as(db: &super::TestDb, role: &str, password: &str) -> String {
    let (_, rest) = db.url.split_once('@').expect("URL with a user");
    format!("postgres://{role}:{password}@{rest}")
}
