//! Child processes of the tests: a script run in its own process group with its output echoed.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Runs `cmd` in its own process group, echoing stdout and stderr line by line with `label`.
/// Returns the exit status and every stdout line. Kills the whole group on timeout.
pub fn run_echoed(label: &str, mut cmd: Command, timeout: Duration) -> (ExitStatus, Vec<String>) {
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

/// Asserts that a script run by [`run_echoed`] passed: exit 0, no line starting `FAIL `, and a
/// closing `N passed, 0 failed` line with N > 0 (a script that checked nothing has not passed).
pub fn assert_script_passed(what: &str, status: ExitStatus, lines: &[String]) {
    let failures: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("FAIL "))
        .map(|l| l.as_str())
        .collect();
    let summary = lines
        .iter()
        .rev()
        .find(|l| l.contains(" passed, "))
        .map_or("(no summary line)", |l| l.as_str());
    assert!(
        status.success() && failures.is_empty(),
        "{what} failed ({status}): {summary}\n{}",
        failures.join("\n")
    );
    assert!(
        summary.ends_with(" passed, 0 failed") && !summary.starts_with("0 passed"),
        "unexpected summary of {what}: {summary}"
    );
}
