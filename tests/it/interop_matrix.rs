//! The interop matrix (tests/interop/matrix.py): every declared django-oauth-toolkit release (2.0.0,
//! 2.4.0, 3.3.0 on Django 4.2; 3.4.0, 3.4.1 on Django 5.2), each in its own virtualenv, against this
//! crate's binary: one test per backend, each running that backend's five cells (the release's own
//! migrate, cleartokens against DOT's on identical copies for five settings scenarios, and
//! createapplication accepted by the release's Django). A second test keeps README's compatibility
//! table equal to what the matrix declares.
//!
//! The venvs are built by tests/interop/release_venv.sh under `<target dir>/interop-venvs/<hash of the
//! requirements file>` (flock-serialised, so the three backend tests can start together) and reused
//! until a requirements file changes; results go to `<target dir>/interop-matrix/results-BACKEND.jsonl`.
//! Needs python3.11 and, for PostgreSQL / MariaDB, the shared servers. Without the interop venv the
//! tests are not run, unless OAUTHCTL_TEST_REQUIRE_ALL=1 (see `support/availability.rs`): then a venv
//! that cannot be built, or an unreachable server, fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::process::{assert_script_passed, run_echoed};
use crate::support::{backend_test, bin, require, scrub_env, Need};

/// First run: four venvs from PyPI; afterwards a backend's cells take one to three minutes.
const TIMEOUT: Duration = Duration::from_secs(1500);

fn matrix_py() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/matrix.py")
}

/// The build folder the binary is in (`<target>/debug/oauthctl` -> `<target>`).
fn target_dir() -> PathBuf {
    let exe = Path::new(bin());
    exe.parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
}

fn python() -> String {
    std::env::var("INTEROP_PYTHON").unwrap_or_else(|_| "python3.11".to_string())
}

fn matrix(backend: &str) {
    require!(Need::InteropVenv);
    let target = target_dir();
    let mut cmd = Command::new(python());
    // The cells run oauthctl with each scenario's settings: none may come from the developer.
    scrub_env(&mut cmd);
    cmd.arg(matrix_py())
        .args(["run", "--backend", backend, "--results"])
        .arg(target.join(format!("interop-matrix/results-{backend}.jsonl")))
        .env("OAUTHCTL_BIN", bin())
        .env("INTEROP_VENV_ROOT", target.join("interop-venvs"))
        .env_remove("INTEROP_DIR");
    let (status, lines) = run_echoed(&format!("matrix {backend}"), cmd, TIMEOUT);
    assert_script_passed(&format!("interop matrix on {backend}"), status, &lines);
}

backend_test!(interop_matrix, |backend| {
    matrix(backend.script_name());
});

#[test]
fn readme_table_is_the_declared_matrix() {
    require!(Need::InteropVenv);
    let out = Command::new(python())
        .arg(matrix_py())
        .arg("check-readme")
        .output()
        .expect("run tests/interop/matrix.py check-readme");
    assert!(
        out.status.success(),
        "README.md's compatibility table is stale: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
