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

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{backend_test, bin, require, scrub_env, Need};

/// The first run may build the venv (pip); a backend normally takes 1-3 minutes.
const TIMEOUT: Duration = Duration::from_secs(1200);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `cmd` in its own process group, echoing its output line by line; kills the group on timeout.
fn run_echoed(label: &str, mut cmd: Command) -> (ExitStatus, Vec<String>) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("[{label}] cannot start {cmd:?}: {e}"));
    let lines = Arc::new(Mutex::new(Vec::new()));

    fn pump<R: Read + Send + 'static>(
        label: String,
        stream: R,
        keep: Arc<Mutex<Vec<String>>>,
    ) -> thread::JoinHandle<()> {
        thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                println!("[{label}] {line}");
                keep.lock().unwrap().push(line);
            }
        })
    }
    let out = pump(
        label.to_string(),
        child.stdout.take().unwrap(),
        lines.clone(),
    );
    let err = pump(
        label.to_string(),
        child.stderr.take().unwrap(),
        Arc::new(Mutex::new(Vec::new())),
    );

    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            // TERM the group first so the script drops its databases, then make sure.
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
            thread::sleep(Duration::from_secs(10));
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
            panic!("[{label}] timed out after {TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(100));
    };
    out.join().unwrap();
    err.join().unwrap();
    let lines = std::mem::take(&mut *lines.lock().unwrap());
    (status, lines)
}

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
    let (status, lines) = run_echoed(&format!("cleartokens-diff {backend}"), cmd);
    let failures: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("FAIL "))
        .map(|l| l.as_str())
        .collect();
    let summary = lines
        .iter()
        .rev()
        .find(|l| l.contains(" passed, "))
        .cloned()
        .unwrap_or_else(|| "(no summary line)".into());
    assert!(
        status.success() && failures.is_empty(),
        "cleartokens differential test on {backend} failed ({status}): {summary}\n{}",
        failures.join("\n")
    );
    assert!(
        summary.ends_with(" passed, 0 failed") && !summary.starts_with("0 passed"),
        "unexpected summary on {backend}: {summary}"
    );
}

backend_test!(cleartokens_matches_dot, |backend| {
    differential(backend.script_name());
});
