//! Differential test of `oauthctl cleartokens` against the real django-oauth-toolkit 3.4.1: one
//! test per backend, each running `tests/interop/cleartokens_diff.sh BACKEND` with this crate's
//! binary. The script seeds a Django-migrated database with every clear_expired case of DOT's own
//! tests plus a random mix around the cutoffs, runs DOT's `manage.py cleartokens` on one copy and
//! `oauthctl cleartokens` on another (same settings, same frozen now) for 17 settings combinations,
//! and compares every remaining row of the five DOT tables.
//!
//! Needs python3.11 (the interop venv is built by tests/interop/setup_venv.sh on first use),
//! PostgreSQL at 127.0.0.1:5432 (postgres, trust) and MariaDB/MySQL at 127.0.0.1:3306 (root, no
//! password). An unreachable server fails the test. Without the venv (or the backend's server) the
//! test is not run, unless OAUTHCTL_TEST_REQUIRE_ALL=1 (see `support/availability.rs`): then a
//! missing venv is built, and a missing server fails the test. The backends run one at a time (a
//! couple of minutes each on 2 cores); output is echoed live with `--nocapture`, otherwise shown
//! on failure.

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use crate::support::process::{assert_script_passed, run_echoed};
use crate::support::{backend_test, bin, require, scrub_env, Need};

/// The first run may build the venv (pip); a backend normally takes 1-3 minutes.
const TIMEOUT: Duration = Duration::from_secs(1200);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn differential(backend: &str) {
    require!(Need::InteropVenv);
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut cmd = Command::new("bash");
    // The script runs oauthctl with the settings of each case: none may come from the developer.
    scrub_env(&mut cmd);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/cleartokens_diff.sh"
    ))
    .arg(backend)
    .env("OAUTHCTL_BIN", bin())
    .env_remove("INTEROP_DIR");
    let (status, lines) = run_echoed(&format!("cleartokens-diff {backend}"), cmd, TIMEOUT);
    assert_script_passed(
        &format!("cleartokens differential test on {backend}"),
        status,
        &lines,
    );
}

backend_test!(cleartokens_matches_dot, |backend| {
    differential(backend.script_name());
});
