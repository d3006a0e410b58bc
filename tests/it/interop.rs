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

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{backend_test, bin, require, scrub_env, Need};

/// Generous: the first run builds the venv (pip), and three backends may share two cores.
const SETUP_TIMEOUT: Duration = Duration::from_secs(900);
const RUN_TIMEOUT: Duration = Duration::from_secs(900);

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("interop")
}

/// Runs `cmd` in its own process group, echoing stdout and stderr line by line with `label`.
/// Returns the exit status and every stdout line. Kills the whole group on timeout.
fn run_echoed(label: &str, mut cmd: Command, timeout: Duration) -> (ExitStatus, Vec<String>) {
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
        is_err: bool,
        keep: Option<Arc<Mutex<Vec<String>>>>,
    ) -> thread::JoinHandle<()> {
        thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if is_err {
                    eprintln!("[{label}] {line}");
                } else {
                    println!("[{label}] {line}");
                }
                if let Some(keep) = &keep {
                    keep.lock().unwrap().push(line);
                }
            }
        })
    }
    let out = pump(
        label.to_string(),
        child.stdout.take().unwrap(),
        false,
        Some(lines.clone()),
    );
    let err = pump(label.to_string(), child.stderr.take().unwrap(), true, None);

    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if start.elapsed() > timeout {
            // TERM the group first so run.sh's trap drops its databases, then make sure.
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
            thread::sleep(Duration::from_secs(10));
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
            panic!("[{label}] timed out after {timeout:?}");
        }
        thread::sleep(Duration::from_millis(100));
    };
    out.join().unwrap();
    err.join().unwrap();
    let lines = std::mem::take(&mut *lines.lock().unwrap());
    (status, lines)
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

    let failures: Vec<&String> = lines.iter().filter(|l| l.starts_with("FAIL ")).collect();
    let summary = lines
        .iter()
        .rev()
        .find(|l| l.contains(" passed, "))
        .cloned()
        .unwrap_or_else(|| "(no summary line)".into());
    assert!(
        status.success() && failures.is_empty(),
        "interop suite on {backend} failed ({status}): {summary}\n{}",
        failures
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        summary.ends_with(" passed, 0 failed"),
        "unexpected summary on {backend}: {summary}"
    );
}

backend_test!(interop_suite, |backend| {
    interop(backend.script_name());
});
