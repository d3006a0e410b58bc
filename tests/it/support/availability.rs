//! What this machine can run: the shared PostgreSQL and MariaDB servers, the binaries the
//! private-server tests start (initdb/pg_ctl, mariadbd/mariadb-install-db), and the Python venv
//! of the interop suite and the benchmark smoke run.
//!
//! Everything is probed once per process, together, the first time a test asks ([`available`]),
//! with a short connect timeout. A test whose need is missing returns early (it is reported as
//! passed: libtest has no run-time skip), and the first such test prints one line to the real
//! stderr naming everything this process will not run — so a plain `cargo test` on a laptop
//! runs the unit tests and everything on SQLite, and says what it left out.
//!
//! With `OAUTHCTL_TEST_REQUIRE_ALL=1` (tests/run.sh exports it, so CI never skips) a missing need
//! fails the test instead, with the probe's error. The one exception is the venv at its default
//! place: there the tests run tests/interop/setup_venv.sh, which builds it (and fails the test if
//! it cannot), as they always did.
//!
//! Knobs: OAUTHCTL_TEST_POSTGRES_URL, OAUTHCTL_TEST_MYSQL_URL (the shared servers' admin URLs);
//! OAUTHCTL_TEST_PG_BIN, OAUTHCTL_TEST_MARIADBD, OAUTHCTL_TEST_MARIADB_INSTALL_DB (see
//! [`super::server`]); OAUTHCTL_TEST_VENV, where the tests look for the interop venv (default
//! tests/interop/.venv, the one the scripts use; point it at a missing path to leave the venv
//! out, e.g. to check the skip path).

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Once, OnceLock};
use std::time::Duration;

use super::{admin_url, server, Backend, Conn};

/// How long a shared server may take to accept a connection before it counts as missing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Something a test needs besides SQLite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// The shared server of a backend (always there for SQLite).
    SharedServer(Backend),
    /// The binaries to start a private server of a backend (none needed for SQLite).
    ServerBinaries(Backend),
    /// tests/interop/.venv: Django and DOT, for the interop suite and the benchmark smoke run.
    InteropVenv,
    /// A program the packaging tests run (one of [`PACKAGING_TOOLS`]), found on the PATH;
    /// tests/run.sh installs them.
    Tool(&'static str),
}

/// The programs the packaging tests check the completion scripts, man pages and systemd units
/// with, and the Debian package of each (tests/run.sh installs what is missing).
pub const PACKAGING_TOOLS: &[(&str, &str)] = &[
    ("bash", "bash"),
    ("zsh", "zsh"),
    ("fish", "fish"),
    ("man", "man-db"),
    ("groff", "groff-base"),
    ("systemd-analyze", "systemd"),
];

impl Need {
    /// The tests that need it, for messages.
    fn tests(self) -> &'static str {
        match self {
            Need::SharedServer(Backend::Postgres) => "PostgreSQL tests",
            Need::SharedServer(Backend::MySql) => "MariaDB tests",
            Need::ServerBinaries(Backend::Postgres) => "private PostgreSQL server tests",
            Need::ServerBinaries(Backend::MySql) => "private MariaDB server tests",
            Need::InteropVenv => "interop and benchmark smoke tests",
            Need::Tool(_) => "packaging tests",
            Need::SharedServer(Backend::Sqlite) | Need::ServerBinaries(Backend::Sqlite) => {
                unreachable!("SQLite needs nothing")
            }
        }
    }
}

/// Why a need is missing: a few words for the note, the whole story for a failure.
#[derive(Clone, Debug)]
struct Missing {
    short: String,
    detail: String,
}

type Probe = Result<(), Missing>;

/// The result of every probe, in the order the note lists them.
struct Probes {
    results: Vec<(Need, Probe)>,
}

impl Probes {
    fn get(&self, need: Need) -> &Probe {
        static OK: Probe = Ok(());
        self.results
            .iter()
            .find(|(n, _)| *n == need)
            .map(|(_, p)| p)
            .unwrap_or(&OK)
    }
}

fn probes() -> &'static Probes {
    static PROBES: OnceLock<Probes> = OnceLock::new();
    PROBES.get_or_init(|| {
        // The two servers in parallel, so that two timeouts cost one.
        let postgres = std::thread::spawn(|| probe_server(Backend::Postgres));
        let mysql = std::thread::spawn(|| probe_server(Backend::MySql));
        let pg_bin = probe_pg_binaries();
        let mariadb_bin = probe_mariadb_binaries();
        let venv = probe_venv();
        Probes {
            results: vec![
                (
                    Need::SharedServer(Backend::Postgres),
                    postgres.join().unwrap(),
                ),
                (Need::SharedServer(Backend::MySql), mysql.join().unwrap()),
                (Need::InteropVenv, venv),
                (Need::ServerBinaries(Backend::Postgres), pg_bin),
                (Need::ServerBinaries(Backend::MySql), mariadb_bin),
            ]
            .into_iter()
            .chain(
                PACKAGING_TOOLS
                    .iter()
                    .map(|&(tool, package)| (Need::Tool(tool), probe_tool(tool, package))),
            )
            .collect(),
        }
    })
}

/// Whether OAUTHCTL_TEST_REQUIRE_ALL asks for every test to run (any value but empty/0/false/no).
pub fn require_all() -> bool {
    std::env::var("OAUTHCTL_TEST_REQUIRE_ALL")
        .is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "no"))
}

/// Whether the test may go on: true when `need` is there. When it is not, false (the caller
/// returns; the note is printed once) — or, under OAUTHCTL_TEST_REQUIRE_ALL=1, a panic.
pub fn available(need: Need) -> bool {
    let Err(missing) = probes().get(need) else {
        return true;
    };
    if require_all() {
        if need == Need::InteropVenv && venv_override().is_none() {
            // The test runs setup_venv.sh, which builds the venv or fails the test saying why.
            return true;
        }
        panic!(
            "{} cannot run: {} (OAUTHCTL_TEST_REQUIRE_ALL is set, so a missing prerequisite is a failure)",
            need.tests(),
            missing.detail
        );
    }
    note_once();
    false
}

/// The note about everything this process does not run, printed once to the real stderr
/// (libtest captures `eprintln!` of passing tests, so that would never be seen).
fn note_once() {
    static NOTE: Once = Once::new();
    NOTE.call_once(|| {
        let _ = writeln!(std::io::stderr(), "{}", note(probes()));
    });
}

fn note(probes: &Probes) -> String {
    let missing: Vec<String> = probes
        .results
        .iter()
        .filter_map(|(need, probe)| {
            let missing = probe.as_ref().err()?;
            Some(format!("{} ({})", need.tests(), missing.short))
        })
        .collect();
    format!(
        "note: not run: {}; set OAUTHCTL_TEST_REQUIRE_ALL=1 to make this a failure",
        missing.join(", ")
    )
}

/// `host:port` of a server URL, for messages (the URL itself may hold a password).
fn host_port(url: &str, default_port: u16) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or("localhost"),
            u.port().unwrap_or(default_port)
        ),
        Err(_) => "(unparsable URL)".to_string(),
    }
}

fn probe_server(backend: Backend) -> Probe {
    let (url, default_port, var) = match backend {
        Backend::Postgres => (admin_url(backend), 5432, "OAUTHCTL_TEST_POSTGRES_URL"),
        _ => (admin_url(backend), 3306, "OAUTHCTL_TEST_MYSQL_URL"),
    };
    let at = host_port(&url, default_port);
    let result = super::runtime().block_on(async {
        match tokio::time::timeout(CONNECT_TIMEOUT, Conn::connect(backend, &url)).await {
            Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(mut c)) => {
                let pinged = c.ping().await.map_err(|e| e.to_string());
                let _ = c.close().await;
                pinged
            }
        }
    });
    result.map_err(|e| Missing {
        short: format!("{at} unreachable"),
        detail: format!("the shared server at {at} ({var}) is unreachable: {e}"),
    })
}

fn probe_pg_binaries() -> Probe {
    let bin = server::pg_bin().map_err(|e| Missing {
        short: "no initdb/pg_ctl: set OAUTHCTL_TEST_PG_BIN".to_string(),
        detail: e,
    })?;
    for tool in ["initdb", "pg_ctl"] {
        if !bin.join(tool).exists() {
            return Err(Missing {
                short: format!("no {tool} in {}: set OAUTHCTL_TEST_PG_BIN", bin.display()),
                detail: format!(
                    "PostgreSQL server binaries are required for the private-server tests: no {tool} in {} (set OAUTHCTL_TEST_PG_BIN)",
                    bin.display()
                ),
            });
        }
    }
    Ok(())
}

fn probe_mariadb_binaries() -> Probe {
    let mariadbd = server::mariadbd();
    if !mariadbd.exists() {
        return Err(Missing {
            short: format!("no {}: set OAUTHCTL_TEST_MARIADBD", mariadbd.display()),
            detail: format!(
                "mariadbd is required for the private-server tests: {} not found (set OAUTHCTL_TEST_MARIADBD)",
                mariadbd.display()
            ),
        });
    }
    let install = server::mariadb_install_db();
    if find_program(&install).is_none() {
        return Err(Missing {
            short: format!("no {install}: set OAUTHCTL_TEST_MARIADB_INSTALL_DB"),
            detail: format!(
                "mariadb-install-db is required for the private-server tests: {install} not found (set OAUTHCTL_TEST_MARIADB_INSTALL_DB)"
            ),
        });
    }
    Ok(())
}

fn probe_tool(tool: &str, package: &str) -> Probe {
    if find_program(tool).is_some() {
        return Ok(());
    }
    Err(Missing {
        short: format!("no {tool}: install {package}"),
        detail: format!(
            "{tool} is not on the PATH (Debian package {package}; tests/run.sh installs it)"
        ),
    })
}

/// `program` as a path, or looked up on the PATH as `Command` would.
fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return path.exists().then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// OAUTHCTL_TEST_VENV, when set.
fn venv_override() -> Option<PathBuf> {
    std::env::var_os("OAUTHCTL_TEST_VENV")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Where the tests look for the interop venv.
pub fn venv_dir() -> PathBuf {
    venv_override().unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/.venv"))
    })
}

fn probe_venv() -> Probe {
    let venv = venv_dir();
    let python = venv.join("bin").join("python");
    if python.exists() {
        return Ok(());
    }
    Err(Missing {
        short: "no Python venv: run tests/interop/setup_venv.sh".to_string(),
        detail: format!(
            "the interop venv is missing: no {} (run tests/interop/setup_venv.sh{})",
            python.display(),
            if venv_override().is_some() {
                ", or unset OAUTHCTL_TEST_VENV"
            } else {
                ""
            }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_names_each_missing_need_in_one_line() {
        let missing = |short: &str| {
            Err(Missing {
                short: short.to_string(),
                detail: String::new(),
            })
        };
        let probes = Probes {
            results: vec![
                (
                    Need::SharedServer(Backend::Postgres),
                    missing("127.0.0.1:1 unreachable"),
                ),
                (Need::SharedServer(Backend::MySql), Ok(())),
                (
                    Need::InteropVenv,
                    missing("no Python venv: run tests/interop/setup_venv.sh"),
                ),
            ],
        };
        assert_eq!(
            note(&probes),
            "note: not run: PostgreSQL tests (127.0.0.1:1 unreachable), interop and benchmark \
             smoke tests (no Python venv: run tests/interop/setup_venv.sh); set \
             OAUTHCTL_TEST_REQUIRE_ALL=1 to make this a failure"
        );
        assert!(probes.get(Need::SharedServer(Backend::MySql)).is_ok());
        assert!(probes.get(Need::SharedServer(Backend::Sqlite)).is_ok());
    }

    #[test]
    fn host_port_hides_the_rest_of_the_url() {
        assert_eq!(
            host_port("postgres://u:secret@db.example:6543/postgres", 5432),
            "db.example:6543"
        );
        assert_eq!(
            host_port("mysql://root@127.0.0.1/mysql", 3306),
            "127.0.0.1:3306"
        );
    }
}
