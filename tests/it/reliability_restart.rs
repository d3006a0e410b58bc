//! Server restart in the middle of a cleanup, on a private PostgreSQL cluster and a private
//! `mariadbd` that each test starts itself (tests/it/support/server.rs; the shared servers are never
//! restarted).
//!
//! - **Restarts within the retry budget**: `cleartokens` runs over a seeded backlog in small,
//!   paced batches, and the server is restarted twice (fast shutdown: open transactions rolled
//!   back, sessions ended; then started again on the same port). First while a batch is in flight
//!   (it waits on a row lock another transaction holds), down for 2 s; then between batches, once
//!   two thirds of the work is done, down for 8 s. The run carries through: exit 0, no dangling
//!   reference, the run lock re-taken after each restart, and the remaining rows equal, column by
//!   column, an uninterrupted run's on an identical copy; a re-run then changes nothing.
//! - **Down for longer than the retry budget**: the server is stopped mid-run and stays down. The
//!   run gives up within a bounded time: exit 1, one line on stderr saying the connection was
//!   lost and finished batches are committed, no panic. With the server back, no dangling
//!   reference, and a re-run reaches exactly the uninterrupted run's rows.

use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::load::*;
use crate::support::server::PrivateServer;
use crate::support::{
    backend_test, code, now, runtime, stderr, stdout, Backend, Conn, TestDb, NOW,
};

/// 3,000 units: 11,800 rows, about 6,600 to delete.
const UNITS: i64 = 3_000;

/// Small paced batches, so that the run lasts several seconds.
fn args(verbose: bool) -> Vec<&'static str> {
    let mut args = vec![];
    if verbose {
        args.push("-v");
    }
    args.extend([
        "cleartokens",
        "--batch-size",
        "25",
        "--batch-interval",
        "0.02",
        "--refresh-token-expire-seconds",
        EXPIRE_SECONDS,
    ]);
    args
}

fn total(db: &TestDb) -> i64 {
    db.count(AT) + db.count(RT) + db.count(IDT) + db.count(GRANT)
}

/// A cleanup running in the background.
struct Run {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(Output, Duration)>,
}

impl Run {
    fn start(db: &TestDb, args: &[&str]) -> Run {
        let child = db
            .oauthctl(args)
            .env("OAUTHCTL_NOW", NOW)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            let out = child.wait_with_output().unwrap();
            flag.store(true, Ordering::SeqCst);
            (out, started.elapsed())
        });
        Run { done, thread }
    }

    fn running(&self) -> bool {
        !self.done.load(Ordering::SeqCst)
    }

    /// Fails, showing how the run ended, unless it is still running.
    fn assert_running(self, backend: Backend, when: &str) -> Run {
        if self.running() {
            return self;
        }
        let (out, took) = self.finish();
        panic!(
            "{backend:?}: the run ended {when} (exit {} after {took:?}): {}",
            code(&out),
            stderr(&out)
        );
    }

    /// Waits until at most `remaining` rows are left (the run is under way), failing if the run
    /// ends first.
    fn wait_for_progress(&self, db: &TestDb, remaining: i64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while total(db) > remaining {
            assert!(self.running(), "the run ended before the restart point");
            assert!(Instant::now() < deadline, "no progress within 60 s");
            std::thread::sleep(Duration::from_millis(30));
        }
        assert!(self.running(), "the run ended before the restart point");
    }

    fn finish(self) -> (Output, Duration) {
        self.thread.join().unwrap()
    }
}

/// Stops the server, keeps it down for `down`, starts it again; returns how long it was
/// unreachable (shutdown + down + start-up until it answers).
fn restart(server: &mut PrivateServer, down: Duration) -> Duration {
    let started = Instant::now();
    server.stop();
    std::thread::sleep(down);
    server.start();
    started.elapsed()
}

fn start_server(backend: Backend) -> PrivateServer {
    match backend {
        Backend::Postgres => PrivateServer::postgres(),
        _ => PrivateServer::mariadb(),
    }
}

/// The rows an uninterrupted run leaves, on an identical copy (same server).
fn reference(server: &PrivateServer) -> (TestDb, Duration) {
    let reference = TestDb::migrated_on(server, "restartref");
    seed(&reference, UNITS, now());
    let started = Instant::now();
    let out = reference
        .oauthctl(&args(false))
        .env("OAUTHCTL_NOW", NOW)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "reference run: {}", stderr(&out));
    (reference, started.elapsed())
}

fn assert_same_rows(backend: Backend, db: &TestDb, reference: &TestDb, what: &str) {
    assert_eq!(
        dangling(db),
        vec![],
        "{backend:?} {what}: dangling references"
    );
    let (a, b) = (snapshot(db), snapshot(reference));
    assert_eq!(a.len(), b.len(), "{backend:?} {what}: row counts differ");
    assert!(
        a == b,
        "{backend:?} {what}: rows differ from an uninterrupted run's"
    );
}

fn no_panic(backend: Backend, out: &Output) {
    let err = stderr(out);
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{backend:?}: {err}"
    );
}

/// Holds a lock in another session, as a busy server would, so that the cleanup waits on it
/// (in flight) when the server goes down. The restart ends that session and its lock with it.
struct LockHolder {
    release: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LockHolder {
    /// A row lock on one access token, in an open transaction.
    fn row(db: &TestDb, id: i64) -> LockHolder {
        let update = format!("UPDATE {AT} SET scope = 'held' WHERE id = {id}");
        LockHolder::hold(db, vec!["BEGIN".to_string(), update])
    }

    /// A lock on the whole access token table that keeps other sessions from reading it.
    fn table(db: &TestDb) -> LockHolder {
        let statements = match db.backend {
            Backend::Postgres => vec![
                "BEGIN".to_string(),
                format!("LOCK TABLE {AT} IN ACCESS EXCLUSIVE MODE"),
            ],
            _ => vec![format!("LOCK TABLES {AT} WRITE")],
        };
        LockHolder::hold(db, statements)
    }

    fn hold(db: &TestDb, statements: Vec<String>) -> LockHolder {
        let (backend, url) = (db.backend, db.url.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime().block_on(async move {
                let mut c = Conn::open(backend, &url).await;
                for statement in &statements {
                    c.execute(statement).await;
                }
                ready_tx.send(()).unwrap();
                let _ = release_rx.recv();
                // The restart ended this session; the connection is just dropped.
            })
        });
        ready_rx.recv().expect("lock holder failed");
        LockHolder {
            release: Some(release_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether oauthctl is waiting for a lock right now. PostgreSQL says so in
/// `pg_stat_activity`; on MariaDB, `mariadb_statement` is a condition on
/// `information_schema.processlist` that picks out the waiting statement.
fn waits_on_a_lock(db: &TestDb, mariadb_statement: &str) -> bool {
    let sql = match db.backend {
        Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'oauthctl' AND wait_event_type = 'Lock'".to_string()
        }
        _ => format!(
            "SELECT COUNT(*) FROM information_schema.processlist WHERE db = DATABASE() AND {mariadb_statement}"
        ),
    };
    db.scalar(&sql) > 0
}

/// Whether a cleanup batch is waiting for a row lock. (MariaDB's
/// `information_schema.innodb_trx` does not list the waiting batch transaction, so a DELETE or
/// UPDATE of this database running for over 200 ms, where a batch takes about 1 ms, stands for
/// it there.)
fn batch_waits_on_a_lock(db: &TestDb) -> bool {
    waits_on_a_lock(
        db,
        "(info LIKE 'DELETE%' OR info LIKE 'UPDATE%') AND time_ms > 200",
    )
}

fn restarts_mid_run(backend: Backend) {
    let mut server = start_server(backend);
    let (reference, uninterrupted) = reference(&server);
    let final_rows = total(&reference);

    let db = TestDb::migrated_on(&server, "restart");
    let seeded = seed(&db, UNITS, now());
    let initial = total(&db);
    let work = initial - final_rows;
    // Restart 1, in flight: another transaction holds a row of an expired access token, so the
    // batch that needs it (step 3 on MariaDB, whose locking read of the access token waits;
    // step 4 on PostgreSQL) waits on it; the server goes down (2 s) while it waits.
    let held = seeded
        .delete_at
        .iter()
        .nth(seeded.delete_at.len() / 2)
        .copied()
        .unwrap();
    let holder = LockHolder::row(&db, held);
    let run = Run::start(&db, &args(true));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !batch_waits_on_a_lock(&db) {
        if !run.running() {
            let (out, _) = run.finish();
            panic!(
                "{backend:?}: the run ended (exit {}) before it met the held row: {}",
                code(&out),
                stderr(&out)
            );
        }
        assert!(
            Instant::now() < deadline,
            "{backend:?}: the run never met the held row"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let in_flight_at = initial - total(&db);
    let mut outages = vec![restart(&mut server, Duration::from_secs(2))];
    drop(holder);
    let run = run.assert_running(backend, "while the server was down (in flight)");
    // Restart 2, between batches: once two thirds of the work is done, down for 8 s.
    run.wait_for_progress(&db, initial - work * 2 / 3);
    outages.push(restart(&mut server, Duration::from_secs(8)));
    let run = run.assert_running(backend, "while the server was down (between batches)");

    let (out, took) = run.finish();
    no_panic(backend, &out);
    assert_eq!(
        code(&out),
        0,
        "{backend:?}: the run did not carry through the restarts: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    let lost = err.matches("connection lost").count();
    let reconnected = err.matches("reconnected after").count();
    let relocks = err.matches("re-taken").count();
    let retries = err.matches("retrying").count();
    assert!(
        relocks >= 2,
        "{backend:?}: each restart ended the lock's session, so the lock was re-taken each time: {err}"
    );
    let first_loss = err
        .lines()
        .find(|l| l.contains("connection lost"))
        .unwrap_or_else(|| panic!("{backend:?}: no lost connection reported: {err}"));
    assert!(
        first_loss.contains("a batch from"),
        "{backend:?}: the first restart was meant to hit a batch in flight: {first_loss}"
    );
    assert_same_rows(backend, &db, &reference, "after the restarts");

    // A re-run finds nothing more to do.
    let again = db
        .oauthctl(&args(false))
        .env("OAUTHCTL_NOW", NOW)
        .output()
        .unwrap();
    assert_eq!(code(&again), 0, "{backend:?}: {}", stderr(&again));
    assert_same_rows(backend, &db, &reference, "after a re-run");
    println!(
        "RELIABILITY restart {backend:?}: rows seeded {initial}; uninterrupted run {} ms; run with 2 restarts (in flight after {in_flight_at} deletions: unreachable {} ms; between batches: unreachable {} ms) exit 0 in {} ms; connection lost {lost}x, reconnected {reconnected}x, lock re-taken {relocks}x, {retries} retry log lines; final rows ({}) equal the uninterrupted run's",
        uninterrupted.as_millis(),
        outages[0].as_millis(),
        outages[1].as_millis(),
        took.as_millis(),
        snapshot(&db).len()
    );
    for line in err
        .lines()
        .filter(|l| !l.contains("INFO batch committed") && !l.contains("INFO step done"))
    {
        println!("RELIABILITY restart {backend:?} stderr: {line}");
    }
}

fn down_past_the_budget(backend: Backend) {
    let mut server = start_server(backend);
    let (reference, _) = reference(&server);
    let final_rows = total(&reference);
    let db = TestDb::migrated_on(&server, "down");
    seed(&db, UNITS, now());
    let initial = total(&db);
    let run = Run::start(&db, &args(false));
    run.wait_for_progress(&db, initial - (initial - final_rows) / 4);
    let stopped = Instant::now();
    server.stop();
    let stop_took = stopped.elapsed();
    let (out, _) = run.finish();
    let gave_up_after = stopped.elapsed();
    no_panic(backend, &out);
    assert_eq!(
        code(&out),
        1,
        "{backend:?}: after {gave_up_after:?}: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{backend:?}: one error line: {err}");
    let line = errors[0];
    assert!(
        line.contains("finished batches are committed"),
        "{backend:?}: after {gave_up_after:?}: {line}"
    );
    assert!(
        gave_up_after < Duration::from_secs(45),
        "{backend:?}: gave up only after {gave_up_after:?}"
    );
    server.start();
    assert_eq!(
        dangling(&db),
        vec![],
        "{backend:?}: dangling after giving up"
    );
    let left = total(&db);
    assert!(left < initial && left > final_rows, "{backend:?}: {left}");
    let again = db
        .oauthctl(&args(false))
        .env("OAUTHCTL_NOW", NOW)
        .output()
        .unwrap();
    assert_eq!(code(&again), 0, "{backend:?}: {}", stderr(&again));
    assert_same_rows(backend, &db, &reference, "after a re-run");
    // Besides the error, stderr holds only log lines (default verbosity: the warning that the
    // connection was lost).
    for other in err.lines().filter(|l| !l.starts_with("error:")) {
        assert!(
            other.chars().next().is_some_and(|c| c.is_ascii_digit()) && other.contains("WARN"),
            "{backend:?}: unexpected stderr line: {other}"
        );
    }
    println!(
        "RELIABILITY down {backend:?}: server stopped mid-run (shutdown {} ms) and left down; exit 1 after {} ms; stderr:\n{err}re-run: exit 0, final rows equal the uninterrupted run's",
        stop_took.as_millis(),
        gave_up_after.as_millis()
    );
}

/// Whether a dry run's count is waiting for the table lock.
fn count_waits_on_a_lock(db: &TestDb) -> bool {
    waits_on_a_lock(db, "info LIKE 'SELECT COUNT%' AND state LIKE '%lock%'")
}

/// A dry run whose count is in flight (waiting on a table lock) when the server restarts
/// reconnects and reports the same counts as an undisturbed dry run, changing nothing.
fn dry_run_survives_a_restart(backend: Backend) {
    let mut server = start_server(backend);
    let db = TestDb::migrated_on(&server, "dryrestart");
    seed(&db, UNITS, now());
    let initial = snapshot(&db);
    let dry_args = [
        "cleartokens",
        "--dry-run",
        "--format",
        "json",
        "--refresh-token-expire-seconds",
        EXPIRE_SECONDS,
    ];
    let undisturbed = db
        .oauthctl(&dry_args)
        .env("OAUTHCTL_NOW", NOW)
        .output()
        .unwrap();
    assert_eq!(
        code(&undisturbed),
        0,
        "{backend:?}: {}",
        stderr(&undisturbed)
    );
    let would_delete = |out: &Output| -> Vec<(String, u64)> {
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{backend:?}: not JSON ({e}): {}", stdout(out)));
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_string(),
                    s["would_delete"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let expected = would_delete(&undisturbed);
    assert!(
        expected.iter().map(|(_, n)| n).sum::<u64>() > 0,
        "{backend:?}: the seed has rows to delete: {expected:?}"
    );

    let holder = LockHolder::table(&db);
    let run = Run::start(&db, &dry_args);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !count_waits_on_a_lock(&db) {
        let run_ended = !run.running();
        if run_ended {
            let (out, _) = run.finish();
            panic!(
                "{backend:?}: the dry run ended (exit {}) before it met the locked table: {}",
                code(&out),
                stderr(&out)
            );
        }
        assert!(
            Instant::now() < deadline,
            "{backend:?}: the dry run never met the locked table"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let outage = restart(&mut server, Duration::from_secs(2));
    drop(holder);
    let (out, took) = run.finish();
    no_panic(backend, &out);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{backend:?}: {err}");
    assert!(
        err.contains("connection lost") && err.contains("reconnected after"),
        "{backend:?}: the count in flight was retried: {err}"
    );
    assert_eq!(
        would_delete(&out),
        expected,
        "{backend:?}: the counts after the restart"
    );
    assert!(
        snapshot(&db) == initial,
        "{backend:?}: a dry run changed rows"
    );
    println!(
        "RELIABILITY dry-run restart {backend:?}: count in flight, server unreachable {} ms; exit 0 in {} ms, counts equal an undisturbed dry run's ({expected:?}), no row changed",
        outage.as_millis(),
        took.as_millis()
    );
}

backend_test!(
    restarts_mid_run,
    [Postgres, MySql],
    private_server,
    |backend| {
        restarts_mid_run(backend);
    }
);

backend_test!(
    down_past_the_retry_budget,
    [Postgres, MySql],
    private_server,
    |backend| {
        down_past_the_budget(backend);
    }
);

backend_test!(
    dry_run_survives_a_restart,
    [Postgres, MySql],
    private_server,
    |backend| {
        dry_run_survives_a_restart(backend);
    }
);
