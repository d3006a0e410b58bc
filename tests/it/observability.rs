//! What an operator sees of a run left alone in cron: the `--metrics-file` (parsed with
//! prometheus_client's own parser from the interop venv, its values checked against the same
//! run's `--format json` summary, on success, failure and stop), `--log-format json` (every
//! stderr line a JSON object, the run's fields on its events), and a mistyped SQLite path
//! (an error, nothing created).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::availability::venv_dir;
use crate::support::load::{self, EXPIRE_SECONDS};
use crate::support::{
    backend_test, code, now, oauthctl_command, require, stderr, stdout, Backend, Need, TestDb, NOW,
};

const PREFIX: &str = "oauthctl_cleartokens_";
const STEPS: [&str; 6] = [
    "revoked_refresh_tokens",
    "orphaned_refresh_tokens",
    "expired_refresh_tokens",
    "expired_access_tokens",
    "expired_id_tokens",
    "expired_grants",
];

// ---------------------------------------------------------------------------------------------
// The metrics file, as prometheus_client reads it

/// The metric families of one file, as `tests/interop/prom_parse.py` printed them.
struct Metrics {
    families: Vec<Value>,
}

impl Metrics {
    /// Parses `path` with prometheus_client (the interop venv, built by setup_venv.sh if needed);
    /// a file the parser rejects fails the test with the parser's error.
    fn parse(path: &Path) -> Metrics {
        let python = venv_python();
        let script = interop_dir().join("prom_parse.py");
        let out = Command::new(python).arg(script).arg(path).output().unwrap();
        assert!(
            out.status.success(),
            "prometheus_client rejects {}: {}\n{}",
            path.display(),
            stderr(&out),
            std::fs::read_to_string(path).unwrap_or_default()
        );
        let families: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
        for family in &families {
            let name = family["name"].as_str().unwrap();
            assert!(name.starts_with(PREFIX), "{name}");
            assert_eq!(family["type"], "gauge", "{name}");
            assert!(
                !family["help"].as_str().unwrap().is_empty(),
                "{name} has HELP"
            );
        }
        Metrics { families }
    }

    fn has(&self, name: &str) -> bool {
        let name = format!("{PREFIX}{name}");
        self.families.iter().any(|f| f["name"] == name.as_str())
    }

    /// The value of `name` (without the prefix) with exactly `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let name = format!("{PREFIX}{name}");
        let want: serde_json::Map<String, Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        self.families
            .iter()
            .flat_map(|f| f["samples"].as_array().unwrap())
            .find(|s| s["name"] == name.as_str() && s["labels"].as_object() == Some(&want))
            .and_then(|s| s["value"].as_f64())
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in {:?}", self.families))
    }

    fn plain(&self, name: &str) -> f64 {
        self.value(name, &[])
    }
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// The venv's python, after setup_venv.sh made sure it has prometheus-client (once per process;
/// a no-op when the venv is up to date).
fn venv_python() -> PathBuf {
    static READY: OnceLock<bool> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        Command::new("bash")
            .arg(interop_dir().join("setup_venv.sh"))
            .status()
            .is_ok_and(|status| status.success())
    });
    assert!(*ready, "tests/interop/setup_venv.sh failed");
    venv_dir().join("bin").join("python")
}

// ---------------------------------------------------------------------------------------------
// Runs

/// A folder for the metrics file, which the test checks holds nothing else afterwards.
struct MetricsDir {
    dir: tempfile::TempDir,
}

impl MetricsDir {
    fn new() -> Self {
        MetricsDir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("oauthctl.prom")
    }

    fn arg(&self) -> String {
        self.path().display().to_string()
    }

    /// Only the metrics file: no temporary file is left behind.
    fn assert_only_the_file(&self) {
        let names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["oauthctl.prom".to_string()]);
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `cleartokens` with the frozen now and `extra` arguments, against `url`.
fn cleartokens_at(db: &TestDb, url: &str, extra: &[&str]) -> Output {
    db.oauthctl(&["cleartokens"])
        .args(extra)
        .env("DATABASE_URL", url)
        .env("OAUTHCTL_NOW", NOW)
        .output()
        .unwrap()
}

/// A JSON-summary run with the metrics file; returns the summary and the file.
fn run_with_metrics(db: &TestDb, dir: &MetricsDir, extra: &[&str], want: i32) -> (Value, Metrics) {
    let mut args = vec![
        "--refresh-token-expire-seconds",
        EXPIRE_SECONDS,
        "--format",
        "json",
    ];
    let metrics_file = dir.arg();
    args.extend(["--metrics-file", metrics_file.as_str()]);
    args.extend(extra);
    let before = unix_now();
    let out = cleartokens_at(db, &db.url, &args);
    let after = unix_now();
    assert_eq!(code(&out), want, "{:?}: {}", db.backend, stderr(&out));
    let summary: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let metrics = Metrics::parse(&dir.path());
    let (start, end) = (
        metrics.plain("last_run_start_timestamp_seconds"),
        metrics.plain("last_run_end_timestamp_seconds"),
    );
    assert!(
        before - 0.01 <= start && start <= end && end <= after + 0.01,
        "{before} {start} {end} {after}"
    );
    dir.assert_only_the_file();
    (summary, metrics)
}

/// Every figure the file shares with the summary is the summary's.
fn assert_metrics_equal_summary(metrics: &Metrics, summary: &Value, exit_code: f64) {
    assert_eq!(metrics.plain("exit_code"), exit_code);
    let dry_run = summary["dry_run"].as_bool().unwrap();
    assert_eq!(metrics.plain("dry_run"), if dry_run { 1.0 } else { 0.0 });
    assert_eq!(
        metrics.plain("duration_seconds"),
        summary["duration_seconds"].as_f64().unwrap()
    );
    for (field, metric) in [
        ("batches", "batches"),
        ("retries", "retries"),
        ("longest_lock_seconds", "longest_lock_seconds"),
    ] {
        assert_eq!(
            metrics.plain(metric),
            summary[field].as_f64().unwrap(),
            "{field}"
        );
    }
    let steps = summary["steps"].as_array().unwrap();
    assert_eq!(steps.len(), STEPS.len());
    for step in steps {
        let name = step["name"].as_str().unwrap();
        assert!(STEPS.contains(&name), "{name}");
        let labels = [("step", name)];
        assert_eq!(
            metrics.value("deleted_rows", &labels),
            step["deleted"].as_f64().unwrap(),
            "{name}"
        );
        if dry_run {
            assert_eq!(
                metrics.value("would_delete_rows", &labels),
                step["would_delete"].as_f64().unwrap(),
                "{name}"
            );
        }
    }
    assert_eq!(metrics.has("would_delete_rows"), dry_run);
    let reason = summary["stop_reason"].as_str().unwrap();
    for candidate in ["completed", "max_duration", "signal"] {
        let want = if candidate == reason { 1.0 } else { 0.0 };
        assert_eq!(
            metrics.value("stop_reason", &[("reason", candidate)]),
            want,
            "{candidate}"
        );
    }
}

backend_test!(metrics_file_equals_the_json_summary, |backend| {
    require!(Need::InteropVenv);
    let db = TestDb::migrated(backend, "metrics");
    load::seed(&db, 100, now());
    let dir = MetricsDir::new();

    let (summary, metrics) = run_with_metrics(&db, &dir, &["--dry-run"], 0);
    assert!(
        summary["would_delete_total"].as_u64().unwrap() > 0,
        "{summary}"
    );
    assert_metrics_equal_summary(&metrics, &summary, 0.0);
    let first_success = metrics.plain("last_success_timestamp_seconds");
    assert_eq!(
        first_success,
        metrics.plain("last_run_end_timestamp_seconds")
    );

    let (summary, metrics) = run_with_metrics(&db, &dir, &["--batch-size", "50"], 0);
    assert!(summary["deleted_total"].as_u64().unwrap() > 0, "{summary}");
    assert!(summary["batches"].as_u64().unwrap() > 1, "{summary}");
    assert_metrics_equal_summary(&metrics, &summary, 0.0);
    let success = metrics.plain("last_success_timestamp_seconds");
    assert_eq!(success, metrics.plain("last_run_end_timestamp_seconds"));
    assert!(success > first_success);
});

backend_test!(a_failed_run_keeps_the_last_success, |backend| {
    require!(Need::InteropVenv);
    let db = TestDb::migrated(backend, "metfail");
    let dir = MetricsDir::new();
    let (_, metrics) = run_with_metrics(&db, &dir, &[], 0);
    let success = metrics.plain("last_success_timestamp_seconds");

    // A database that is not there: the connection (or, for SQLite, the open) fails.
    let missing = match backend {
        Backend::Sqlite => {
            let path = dir.dir.path().join("missing.sqlite3");
            format!("sqlite://{}", path.display())
        }
        _ => db.url.replace(db.name(), "oauthctl_no_such_database"),
    };
    let metrics_file = dir.arg();
    for (url, extra, want) in [
        (missing.as_str(), vec![], 1),
        (missing.as_str(), vec!["--dry-run"], 1),
        (db.url.as_str(), vec!["--batch-size", "0"], 2),
    ] {
        let mut args = vec!["--metrics-file", metrics_file.as_str()];
        args.extend(&extra);
        let dry_run = extra.contains(&"--dry-run");
        let before = unix_now();
        let out = cleartokens_at(&db, url, &args);
        assert_eq!(code(&out), want, "{backend:?} {extra:?}: {}", stderr(&out));
        let metrics = Metrics::parse(&dir.path());
        assert_eq!(metrics.plain("exit_code"), f64::from(want), "{extra:?}");
        assert_eq!(
            metrics.plain("last_success_timestamp_seconds"),
            success,
            "{extra:?}: a failed run keeps the previous success"
        );
        assert!(metrics.plain("last_run_start_timestamp_seconds") >= before - 0.01);
        assert_eq!(metrics.plain("dry_run"), if dry_run { 1.0 } else { 0.0 });
        assert!(
            !metrics.has("deleted_rows") && !metrics.has("stop_reason"),
            "a failed run has no summary to report"
        );
        dir.assert_only_the_file();
    }
    assert!(
        !dir.dir.path().join("missing.sqlite3").exists(),
        "cleartokens created the missing database"
    );

    // No previous file: never a success yet, which an alert on the last success sees at once.
    let fresh = MetricsDir::new();
    let fresh_file = fresh.arg();
    let out = cleartokens_at(&db, &missing, &["--metrics-file", fresh_file.as_str()]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let metrics = Metrics::parse(&fresh.path());
    assert_eq!(metrics.plain("last_success_timestamp_seconds"), 0.0);
});

backend_test!(a_stopped_run_writes_the_file_and_is_no_success, |backend| {
    require!(Need::InteropVenv);
    let db = TestDb::migrated(backend, "metstop");
    load::seed(&db, 100, now());
    let dir = MetricsDir::new();
    let (_, metrics) = run_with_metrics(&db, &dir, &["--dry-run"], 0);
    let success = metrics.plain("last_success_timestamp_seconds");

    let (summary, metrics) = run_with_metrics(
        &db,
        &dir,
        &[
            "--batch-size",
            "1",
            "--batch-interval",
            "0.1",
            "--max-duration",
            "0.5s",
        ],
        4,
    );
    assert_eq!(summary["stop_reason"], "max_duration");
    assert!(summary["deleted_total"].as_u64().unwrap() > 0, "{summary}");
    assert_metrics_equal_summary(&metrics, &summary, 4.0);
    assert_eq!(
        metrics.plain("last_success_timestamp_seconds"),
        success,
        "exit 4 is not a success"
    );
});

#[test]
fn a_metrics_file_that_cannot_be_written_warns_and_keeps_the_exit_code() {
    let db = TestDb::migrated(Backend::Sqlite, "metwarn");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-folder").join("oauthctl.prom");
    let out = cleartokens_at(
        &db,
        &db.url,
        &[
            "--refresh-token-expire-seconds",
            "60",
            "--metrics-file",
            &path.display().to_string(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot write the metrics file") && err.contains("no-such-folder"),
        "{err}"
    );
    assert!(stdout(&out).contains("Expired grant tokens deleted"));

    // The environment variable names the file too; an empty one counts as unset.
    let file = dir.path().join("env.prom");
    let out = db
        .oauthctl(&["cleartokens", "--refresh-token-expire-seconds", "60"])
        .env("OAUTHCTL_METRICS_FILE", &file)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("oauthctl_cleartokens_exit_code 0"), "{text}");
    let out = db
        .oauthctl(&["cleartokens", "--refresh-token-expire-seconds", "60"])
        .env("OAUTHCTL_METRICS_FILE", "")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------------
// --log-format json

/// Every stderr line of `out` as a JSON object with a timestamp, level, target and message
/// (sqlx's statement log: a summary instead).
pub fn json_lines(out: &Output) -> Vec<Value> {
    let err = stderr(out);
    assert!(!err.trim().is_empty(), "no log lines, so nothing is proven");
    err.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            for key in ["timestamp", "level", "target"] {
                assert!(value[key].is_string(), "{key}: {line}");
            }
            let text = if value["target"] == "sqlx::query" {
                "summary"
            } else {
                "message"
            };
            assert!(value[text].is_string(), "{text}: {line}");
            value
        })
        .collect()
}

backend_test!(json_logs_are_json_lines_with_the_runs_fields, |backend| {
    let db = TestDb::migrated(backend, "jsonlog");
    load::seed(&db, 60, now());
    let out = db
        .oauthctl(&[
            "-vvv",
            "--log-format",
            "json",
            "cleartokens",
            "--batch-size",
            "20",
        ])
        .env("OAUTHCTL_NOW", NOW)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    let lines = json_lines(&out);
    let by_message = |message: &str| -> Vec<&Value> {
        lines.iter().filter(|l| l["message"] == message).collect()
    };
    let batches = by_message("batch committed");
    assert!(!batches.is_empty(), "{lines:?}");
    for batch in &batches {
        assert!(STEPS.contains(&batch["step"].as_str().unwrap()), "{batch}");
        for field in [
            "batch",
            "candidates",
            "deleted",
            "seconds",
            "locked_seconds",
        ] {
            assert!(batch[field].is_number(), "{field}: {batch}");
        }
    }
    let steps = by_message("step done");
    assert_eq!(steps.len(), 6, "{lines:?}");
    // DOT's warning (REFRESH_TOKEN_EXPIRE_SECONDS unset) is a JSON line too.
    assert!(
        lines.iter().any(|l| l["level"] == "WARN"
            && l["message"]
                .as_str()
                .unwrap()
                .contains("REFRESH_TOKEN_EXPIRE_SECONDS")),
        "{lines:?}"
    );
    // The env var selects it as well; and the final error is a JSON line.
    let out = db
        .oauthctl(&["-vvv", "cleartokens", "--batch-size", "0"])
        .env("OAUTHCTL_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let lines = json_lines(&out);
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "ERROR", "{last}");
    assert!(
        last["message"].as_str().unwrap().contains("--batch-size"),
        "{last}"
    );

    if backend == Backend::Postgres {
        // The seed wrote application id 1 explicitly; move the sequence past it.
        db.execute(
            "SELECT setval(pg_get_serial_sequence('oauth2_provider_application', 'id'), 1000)",
        );
    }
    let out = db
        .oauthctl(&[
            "-vvv",
            "--log-format",
            "json",
            "createapplication",
            "confidential",
            "client-credentials",
            "--name",
            "json logs",
            "--hasher",
            "pbkdf2_sha256",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines = json_lines(&out);
    assert!(
        lines.iter().any(|l| l["message"] == "application created"),
        "{lines:?}"
    );
    assert!(
        stdout(&out).contains("created successfully"),
        "stdout stays as it was: {}",
        stdout(&out)
    );
});

// ---------------------------------------------------------------------------------------------
// A missing SQLite file

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_missing_sqlite_file_is_an_error_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mistyped.sqlite3");
    let url = format!("sqlite://{}", path.display());
    for extra in [
        vec![],
        vec!["--dry-run"],
        vec!["--format", "json"],
        vec!["--dry-run", "--format", "json"],
    ] {
        let out = oauthctl_command()
            .args(["--database-url", &url, "cleartokens"])
            .args(["--refresh-token-expire-seconds", "60"])
            .args(&extra)
            .output()
            .unwrap();
        assert_eq!(code(&out), 1, "{extra:?}: {}", stderr(&out));
        let err = stderr(&out);
        let lines: Vec<&str> = err.trim().lines().collect();
        assert_eq!(lines.len(), 1, "{extra:?}: {err}");
        let line = lines[0];
        assert!(line.starts_with("error: "), "{line}");
        assert!(line.contains(&path.display().to_string()), "{line}");
        assert!(
            line.contains("oauthctl migrate") && line.contains("createapplication"),
            "{line}"
        );
        assert_eq!(stdout(&out), "", "{extra:?}");
        // Neither the database nor its -wal/-shm/-journal files nor the run's lock file.
        assert_eq!(listing(dir.path()), Vec::<String>::new(), "{extra:?}");
    }

    // `migrate` creates it; then cleartokens runs.
    let out = oauthctl_command()
        .args(["--database-url", &url, "migrate"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = oauthctl_command()
        .args(["--database-url", &url, "cleartokens", "--dry-run"])
        .args(["--refresh-token-expire-seconds", "60"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn the_default_database_is_created_by_createapplication_not_by_cleartokens() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        oauthctl_command()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["cleartokens", "--refresh-token-expire-seconds", "60"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("db.sqlite3 does not exist"),
        "{}",
        stderr(&out)
    );
    assert_eq!(listing(dir.path()), Vec::<String>::new());

    let out = run(&[
        "createapplication",
        "public",
        "password",
        "--hasher",
        "pbkdf2_sha256",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(&["cleartokens", "--refresh-token-expire-seconds", "60"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(listing(dir.path()).contains(&"db.sqlite3".to_string()));
}
