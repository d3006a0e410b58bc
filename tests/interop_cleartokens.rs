//! Differential test of `oauthctl cleartokens` against the real django-oauth-toolkit 3.4.1:
//! tests/interop/cleartokens_diff.sh seeds a Django-migrated database with every clear_expired case
//! of DOT's own tests plus a random mix around the cutoffs, runs DOT's `manage.py cleartokens` on
//! one copy and this crate's binary on another, for 17 settings combinations, and compares every
//! remaining row.
//!
//! Needs python3.11 (the interop venv is built by tests/interop/setup_venv.sh from PyPI on first
//! use), PostgreSQL at 127.0.0.1:5432 and MariaDB/MySQL at 127.0.0.1:3306. An unreachable server
//! fails the test: it is never skipped. The three backends run one after the other (each takes a
//! couple of minutes on 2 cores).

use std::process::Command;
use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(backend: &str) {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/cleartokens_diff.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(backend)
        .env("OAUTHCTL_BIN", env!("CARGO_BIN_EXE_oauthctl"))
        .env_remove("REFRESH_TOKEN_EXPIRE_SECONDS")
        .env_remove("REFRESH_TOKEN_GRACE_PERIOD_SECONDS")
        .env_remove("REFRESH_TOKEN_REUSE_PROTECTION")
        .env_remove("CLEAR_EXPIRED_TOKENS_BATCH_SIZE")
        .env_remove("CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        println!("stderr:\n{stderr}");
    }
    let summary = stdout.lines().rev().find(|l| l.contains(" passed, ")).unwrap_or("(no summary line)");
    assert!(
        out.status.success(),
        "cleartokens differential test on {backend} failed ({}): {summary}",
        out.status
    );
    assert!(summary.ends_with(" 0 failed") && !summary.starts_with("0 passed"), "unexpected summary: {summary}");
}

#[test]
fn cleartokens_matches_dot_on_sqlite() {
    run("sqlite");
}

#[test]
fn cleartokens_matches_dot_on_postgres() {
    run("postgres");
}

#[test]
fn cleartokens_matches_dot_on_mysql() {
    run("mysql");
}
