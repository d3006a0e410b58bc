//! Interop suite against the real django-oauth-toolkit 3.4.1 on Django 5.2: one test per backend.
//!
//! Each test runs `tests/interop/setup_venv.sh` (builds or reuses `tests/interop/.venv`, serialised
//! by flock, so the three tests can start together) and then `tests/interop/run.sh BACKEND` with
//! this crate's `oauthctl` binary. The script's output is echoed line by line (shown live with
//! `--nocapture`, otherwise on failure). An unreachable database server makes the script exit
//! non-zero, so the test fails.
//!
//! Servers: PostgreSQL at 127.0.0.1:5432 (user postgres, trust), MariaDB/MySQL at 127.0.0.1:3306
//! (root, no password); see tests/interop/run.sh. Without the venv (or the backend's server) the
//! test is not run, unless OAUTHCTL_TEST_REQUIRE_ALL=1 (see `support/availability.rs`): then a
//! missing venv is built by setup_venv.sh, and a missing server fails the test.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::process::{assert_script_passed, run_echoed};
use crate::support::{backend_test, bin, require, scrub_env, Need};

/// Generous: the first run builds the venv (pip), and three backends may share two cores.
const SETUP_TIMEOUT: Duration = Duration::from_secs(900);
const RUN_TIMEOUT: Duration = Duration::from_secs(900);

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("interop")
}

fn interop(backend: &str) {
    require!(Need::InteropVenv);
    let dir = interop_dir();

    let mut setup = Command::new("bash");
    setup.arg(dir.join("setup_venv.sh"));
    let (status, _) = run_echoed(&format!("{backend} setup"), setup, SETUP_TIMEOUT);
    assert!(
        status.success(),
        "tests/interop/setup_venv.sh failed: {status}"
    );

    let mut run = Command::new("bash");
    // The script runs oauthctl as well: the developer's oauthctl settings stay out of it too.
    scrub_env(&mut run);
    run.arg(dir.join("run.sh"))
        .arg(backend)
        .env("OAUTHCTL_BIN", bin());
    let (status, lines) = run_echoed(backend, run, RUN_TIMEOUT);

    assert_script_passed(&format!("interop suite on {backend}"), status, &lines);
}

backend_test!(interop_suite, |backend| {
    interop(backend.script_name());
});
