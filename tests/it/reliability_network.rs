//! A network path that goes silent: no FIN, no RST, and a middlebox that still acknowledges
//! (tests/it/support/proxy.rs). oauthctl reaches the shared server through a proxy inside the
//! test that, on command, stops forwarding in both directions while keeping every socket open.
//! SQLite has no network, so these run on PostgreSQL and MariaDB only.
//!
//! - **cleartokens**: a run over a seeded backlog in small paced batches is black-holed mid-run.
//!   It exits 1 with one line naming the silent server within the documented bound
//!   (`--batch-interval + B + N`, see src/db/network.rs); the server ends the silent sessions by
//!   itself, so a new run straight to the server first still meets the lock (exit 3), then, within
//!   the documented server-side bound `S`, takes it and finishes: the final rows equal an
//!   uninterrupted run's. Before that second run, nothing is half-done: no dangling reference,
//!   and the rows gone are the ones the committed batches reported, plus at most the one batch
//!   in flight (its statement may have run on the server while its answer was swallowed).
//! - **inside a batch's transaction**: silent as the first DELETE goes out (after MariaDB's
//!   UPDATE nulled references); the server rolls the transaction back when it ends the session:
//!   every row is as seeded.
//! - **createapplication**: silent from the start (connecting is bounded) and silent as its
//!   INSERT goes out: exit 1 within `N` each time, and once the server has ended the silent
//!   session, nothing was written.
//! - **apply** and **listapplications**: the same two cases for `apply` (silent from the start,
//!   and silent as its INSERT goes out inside the apply transaction: exit 1 within `N`, and
//!   nothing written once the server has ended the session); `listapplications` silent from the
//!   start exits 1 within `N`.

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::load::*;
use crate::support::proxy::{server_address, SilentProxy};
use crate::support::{
    backend_test, code, now, runtime, stderr, Backend, TestDb, CLEANUP_LOCK_KEY, NOW,
};

/// 2,000 units: about 7,900 rows, 4,400 to delete, in batches of 25 paced by 50 ms.
const UNITS: i64 = 2_000;
const BATCH_SIZE: i64 = 25;

/// `N`, the network timeout the runs get.
const N: Duration = Duration::from_secs(2);
/// `I`, the batch interval.
const I: Duration = Duration::from_millis(50);
/// `B = max(N, 4 · lock budget)`: with a lock budget of 0.25 s, `N`.
const B: Duration = N;
/// Process start-up and exit, and a loaded 2-core machine.
const SLOP: Duration = Duration::from_secs(2);

/// The documented bound from the silence to exit 1: `I + B + N`.
fn exit_bound() -> Duration {
    I + B + N
}

/// The documented server-side bound `S = N + B + max(I, 5 s)`: a silent session is ended (and
/// the lock freed) at most this long after it was last used.
fn lock_bound() -> Duration {
    N + B + I.max(Duration::from_secs(5))
}

fn cleanup_args() -> Vec<&'static str> {
    vec![
        "-v",
        "--network-timeout",
        "2",
        "cleartokens",
        "--batch-size",
        "25",
        "--batch-interval",
        "0.05",
        "--lock-budget",
        "0.25",
        "--refresh-token-expire-seconds",
        EXPIRE_SECONDS,
    ]
}

fn total(db: &TestDb) -> i64 {
    db.count(AT) + db.count(RT) + db.count(IDT) + db.count(GRANT)
}

fn run_direct(db: &TestDb) -> Output {
    db.oauthctl(&cleanup_args())
        .env("OAUTHCTL_NOW", NOW)
        .output()
        .unwrap()
}

/// Polls `condition` every 100 ms for up to `limit`; how long it took, or `None`.
fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Whether the run lock can be taken right now (it is taken and released at once).
fn lock_is_free(db: &TestDb) -> bool {
    runtime().block_on(async {
        let mut c = db.connect().await;
        let free = match db.backend {
            Backend::Postgres => {
                let taken = c
                    .fetch_i64(&format!(
                        "SELECT (CASE WHEN pg_try_advisory_lock({CLEANUP_LOCK_KEY}) THEN 1 ELSE 0 END)::bigint"
                    ))
                    .await;
                if taken == 1 {
                    c.execute(&format!("SELECT pg_advisory_unlock({CLEANUP_LOCK_KEY})"))
                        .await;
                }
                taken == 1
            }
            _ => {
                let name = db.cleanup_lock_name().replace('\'', "''");
                let taken = c
                    .fetch_optional_i64(&format!("SELECT GET_LOCK('{name}', 0)"))
                    .await;
                if taken == Some(1) {
                    c.execute(&format!("SELECT RELEASE_LOCK('{name}')")).await;
                }
                taken == Some(1)
            }
        };
        let _ = c.close().await;
        free
    })
}

/// Server sessions of this database other than the one asking (oauthctl's, through the proxy).
fn other_sessions(db: &TestDb) -> i64 {
    db.scalar(match db.backend {
        Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        }
        _ => {
            "SELECT COUNT(*) FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()"
        }
    })
}

/// Transactions open on the server in this database (oauthctl's silent batch).
fn open_transactions(db: &TestDb) -> i64 {
    db.scalar(match db.backend {
        Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
        }
        _ => "SELECT COUNT(*) FROM information_schema.innodb_trx",
    })
}

/// The one `error:` line of a failed run (log lines start with their timestamp).
fn error_line(backend: Backend, out: &Output) -> String {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "{backend:?}: {err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "{backend:?}: one line besides the log: {err}"
    );
    assert!(lines[0].starts_with("error: "), "{backend:?}: {err}");
    lines[0].to_string()
}

/// The rows the run's committed batches reported deleting (`-v` log lines).
fn reported_deletions(out: &Output) -> i64 {
    stderr(out)
        .lines()
        .filter(|l| l.contains("batch committed"))
        .map(|l| {
            let field = l
                .split_whitespace()
                .find_map(|f| f.strip_prefix("deleted="))
                .unwrap_or_else(|| panic!("no deleted= in {l}"));
            field.parse::<i64>().unwrap()
        })
        .sum()
}

/// Waits until the run has done a quarter of its work; fails if it ends first.
fn wait_for_progress(backend: Backend, child: &mut Child, db: &TestDb, remaining: i64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while total(db) > remaining {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{backend:?}: the run ended ({status}) before the network went silent");
        }
        assert!(Instant::now() < deadline, "{backend:?}: no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn silent_mid_cleanup(backend: Backend) {
    let reference = TestDb::migrated(backend, "netref");
    seed(&reference, UNITS, now());
    let uninterrupted = run_direct(&reference);
    assert_eq!(
        code(&uninterrupted),
        0,
        "{backend:?}: {}",
        stderr(&uninterrupted)
    );
    let final_rows = total(&reference);

    let db = TestDb::migrated(backend, "netsilent");
    seed(&db, UNITS, now());
    let initial = total(&db);
    let proxy = SilentProxy::start(&server_address(&db.url));
    let mut child = db
        .oauthctl(&cleanup_args())
        .env("DATABASE_URL", proxy.url_for(&db.url))
        .env("OAUTHCTL_NOW", NOW)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_progress(
        backend,
        &mut child,
        &db,
        initial - (initial - final_rows) / 4,
    );
    let silent_at = proxy.go_silent();
    let out = child.wait_with_output().unwrap();
    let exited_after = silent_at.elapsed();

    assert_eq!(code(&out), 1, "{backend:?}: {}", stderr(&out));
    let line = error_line(backend, &out);
    assert!(
        line.contains("did not answer within 2 s")
            && line.contains("finished batches are committed"),
        "{backend:?}: {line}"
    );
    assert!(
        exited_after <= exit_bound() + SLOP,
        "{backend:?}: exit 1 only {exited_after:?} after the network went silent (bound {:?})",
        exit_bound()
    );

    // The silent session still holds the lock on the server: a new run gives way …
    let blocked = run_direct(&db);
    assert_eq!(
        code(&blocked),
        3,
        "{backend:?}: {:?} after the silence the lock should still be held by the silent session: {}",
        silent_at.elapsed(),
        stderr(&blocked)
    );
    // … until the server ends that session by itself.
    let limit = lock_bound() + SLOP;
    wait_until(limit + Duration::from_secs(20), || lock_is_free(&db))
        .unwrap_or_else(|| panic!("{backend:?}: the lock was never freed"));
    let lock_free_after = silent_at.elapsed();
    assert!(
        lock_free_after <= limit,
        "{backend:?}: the lock was free only {lock_free_after:?} after the silence (bound {:?})",
        lock_bound()
    );
    let sessions_gone = wait_until(Duration::from_secs(30), || other_sessions(&db) == 0)
        .map(|_| silent_at.elapsed())
        .unwrap_or_else(|| panic!("{backend:?}: the silent sessions were never ended"));

    // Nothing half-done: references intact, and the rows gone are what committed batches
    // reported, plus at most the one batch in flight.
    assert_eq!(dangling(&db), vec![], "{backend:?}: dangling references");
    let deleted = initial - total(&db);
    let reported = reported_deletions(&out);
    assert!(
        reported > 0 && deleted >= reported && deleted <= reported + BATCH_SIZE,
        "{backend:?}: {deleted} rows gone, committed batches reported {reported}"
    );

    // A new run straight to the server takes the lock and finishes the job.
    let again = run_direct(&db);
    assert_eq!(code(&again), 0, "{backend:?}: {}", stderr(&again));
    assert_eq!(
        dangling(&db),
        vec![],
        "{backend:?}: dangling after the re-run"
    );
    assert!(
        snapshot(&db) == snapshot(&reference),
        "{backend:?}: the final rows differ from an uninterrupted run's"
    );
    drop(proxy);
    println!(
        "RELIABILITY network {backend:?}: black-holed mid-run ({reported} of {} deletions reported committed); exit 1 after {} ms (bound {} ms); lock free after {} ms, silent sessions gone after {} ms (bound {} ms); in flight and unreported: {} rows; re-run exit 0, final rows equal the uninterrupted run's; {line}",
        initial - final_rows,
        exited_after.as_millis(),
        exit_bound().as_millis(),
        lock_free_after.as_millis(),
        sessions_gone.as_millis(),
        lock_bound().as_millis(),
        deleted - reported,
    );
}

/// Silent just as the first batch sends its DELETE, inside the batch's transaction (MariaDB:
/// after its UPDATE nulled references and locked those rows; PostgreSQL: after the sweep read its
/// candidates). The DELETE never reaches the server; the server ends the session idle in its
/// transaction and rolls it back: every row is as seeded.
fn silent_inside_a_batch(backend: Backend) {
    let db = TestDb::migrated(backend, "netintx");
    seed(&db, UNITS, now());
    let seeded = snapshot(&db);
    let proxy = SilentProxy::start(&server_address(&db.url));
    proxy.go_silent_on(b"DELETE FROM");
    let mut child = db
        .oauthctl(&cleanup_args())
        .env("DATABASE_URL", plaintext(&db, &proxy))
        .env("OAUTHCTL_NOW", NOW)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(60), || {
        proxy.silent_since().is_some() || child.try_wait().unwrap().is_some()
    });
    // The batch's session, idle inside its transaction, is ended first (after N), while the
    // run is still giving up.
    assert!(
        open_transactions(&db) > 0,
        "{backend:?}: the batch's transaction was not open when the network went silent"
    );
    let rolled_back = wait_until(lock_bound() + SLOP, || open_transactions(&db) == 0)
        .and_then(|_| Some(proxy.silent_since()?.elapsed()))
        .unwrap_or_else(|| panic!("{backend:?}: the silent transaction was never ended"));
    let out = child.wait_with_output().unwrap();
    let silent_at = proxy
        .silent_since()
        .unwrap_or_else(|| panic!("{backend:?}: no DELETE went out: {}", stderr(&out)));
    let exited_after = silent_at.elapsed();
    assert!(
        rolled_back <= N + SLOP,
        "{backend:?}: the silent transaction ended only after {rolled_back:?}"
    );
    assert_eq!(code(&out), 1, "{backend:?}: {}", stderr(&out));
    let line = error_line(backend, &out);
    assert!(
        line.contains("did not answer within 2 s"),
        "{backend:?}: {line}"
    );
    assert!(
        exited_after <= exit_bound() + SLOP,
        "{backend:?}: {exited_after:?}"
    );
    assert_eq!(
        reported_deletions(&out),
        0,
        "{backend:?}: no batch committed"
    );
    let sessions_gone = wait_until(lock_bound() + SLOP + Duration::from_secs(20), || {
        other_sessions(&db) == 0
    })
    .map(|_| silent_at.elapsed())
    .unwrap_or_else(|| panic!("{backend:?}: the silent sessions were never ended"));
    assert!(
        sessions_gone <= lock_bound() + SLOP,
        "{backend:?}: {sessions_gone:?}"
    );
    assert!(
        snapshot(&db) == seeded,
        "{backend:?}: the batch cut inside its transaction was not rolled back"
    );
    let again = run_direct(&db);
    assert_eq!(code(&again), 0, "{backend:?}: {}", stderr(&again));
    assert_eq!(
        dangling(&db),
        vec![],
        "{backend:?}: dangling after the re-run"
    );
    drop(proxy);
    println!(
        "RELIABILITY network in-transaction {backend:?}: silent as the first DELETE went out; exit 1 after {} ms; the transaction ended by the server after {} ms, all sessions after {} ms; every row as seeded (rolled back); re-run exit 0",
        exited_after.as_millis(),
        rolled_back.as_millis(),
        sessions_gone.as_millis()
    );
}

const APP_SECRET: &str = "s3cret-network-test";

/// The database through the proxy without TLS, so that the proxy can see the INSERT go out.
fn plaintext(db: &TestDb, proxy: &SilentProxy) -> String {
    let url = proxy.url_for(&db.url);
    match db.backend {
        Backend::Postgres => format!("{url}?sslmode=disable"),
        _ => format!("{url}?ssl-mode=disabled"),
    }
}

fn createapplication(db: &TestDb, proxy: &SilentProxy, client_id: &str) -> (Output, Instant) {
    let started = Instant::now();
    let out = db
        .oauthctl(&[
            "--network-timeout",
            "2",
            "createapplication",
            "confidential",
            "client-credentials",
            "--client-id",
            client_id,
            "--no-hash-client-secret",
            "--client-secret",
            APP_SECRET,
            "--name",
            "silent network",
        ])
        .env("DATABASE_URL", plaintext(db, proxy))
        .output()
        .unwrap();
    (out, started)
}

fn silent_createapplication(backend: Backend) {
    let db = TestDb::migrated(backend, "netapp");
    let address = server_address(&db.url);

    // Silent from the start: connecting is bounded.
    let proxy = SilentProxy::start(&address);
    proxy.go_silent();
    let (out, started) = createapplication(&db, &proxy, "net-connect");
    let connect_exit = assert_gave_up_within_n(backend, &out, started, "silent from the start");
    let line = error_line(backend, &out);
    assert!(line.contains("(connecting)"), "{backend:?}: {line}");
    drop(proxy);

    // Silent as the INSERT goes out (it never reaches the server).
    let proxy = SilentProxy::start(&address);
    proxy.go_silent_on(b"INSERT INTO");
    let (out, _) = createapplication(&db, &proxy, "net-insert");
    let silent_at = proxy
        .silent_since()
        .unwrap_or_else(|| panic!("{backend:?}: the INSERT never went out: {}", stderr(&out)));
    let insert_exit = assert_gave_up_within_n(backend, &out, silent_at, "at the INSERT");
    // Nothing written, checked once the server has ended the silent session.
    let session_bound = N + N + Duration::from_secs(5) + SLOP;
    wait_until(session_bound + Duration::from_secs(20), || {
        other_sessions(&db) == 0
    })
    .unwrap_or_else(|| panic!("{backend:?}: the silent session was never ended"));
    let session_gone = silent_at.elapsed();
    assert!(
        session_gone <= session_bound,
        "{backend:?}: {session_gone:?}"
    );
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM oauth2_provider_application WHERE client_id IN ('net-connect', 'net-insert')"
        ),
        0,
        "{backend:?}: an application was written"
    );
    drop(proxy);
    println!(
        "RELIABILITY network createapplication {backend:?}: silent from the start: exit 1 after {} ms; silent at the INSERT: exit 1 after {} ms, session ended by the server after {} ms, nothing written",
        connect_exit.as_millis(),
        insert_exit.as_millis(),
        session_gone.as_millis()
    );
}

/// One application, its secret from the environment (stored as is, so no hashing slows the run).
const NET_MANIFEST: &str = r#"
[[applications]]
client_id = "net-apply"
name = "silent network"
client_type = "confidential"
authorization_grant_type = "client-credentials"
hash_client_secret = false
client_secret_env = "NET_APPLY_SECRET"
"#;

/// `oauthctl --network-timeout 2 ARGS` through the proxy; returns its output and when it started.
fn through_proxy(db: &TestDb, proxy: &SilentProxy, args: &[&str]) -> (Output, Instant) {
    let mut all = vec!["--network-timeout", "2"];
    all.extend_from_slice(args);
    let started = Instant::now();
    let out = db
        .oauthctl(&all)
        .env("DATABASE_URL", plaintext(db, proxy))
        .env("NET_APPLY_SECRET", APP_SECRET)
        .output()
        .unwrap();
    (out, started)
}

/// Exit 1 with the deadline's line, within `N` of `since`, and no secret on stderr.
fn assert_gave_up_within_n(backend: Backend, out: &Output, since: Instant, what: &str) -> Duration {
    let after = since.elapsed();
    assert_eq!(code(out), 1, "{backend:?} {what}: {}", stderr(out));
    let line = error_line(backend, out);
    assert!(
        line.contains("did not answer within 2 s"),
        "{backend:?} {what}: {line}"
    );
    assert!(after <= N + SLOP, "{backend:?} {what}: {after:?}");
    assert!(
        !stderr(out).contains(APP_SECRET),
        "{backend:?} {what}: secret on stderr"
    );
    after
}

fn silent_apply(backend: Backend) {
    let db = TestDb::migrated(backend, "netapply");
    let address = server_address(&db.url);
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("applications.toml");
    std::fs::write(&manifest, NET_MANIFEST).unwrap();
    let manifest = manifest.to_str().unwrap();

    // Silent from the start: connecting is bounded, for apply and for listapplications.
    let proxy = SilentProxy::start(&address);
    proxy.go_silent();
    let (out, started) = through_proxy(&db, &proxy, &["apply", manifest]);
    let connect_exit =
        assert_gave_up_within_n(backend, &out, started, "apply, silent from the start");
    let (out, started) = through_proxy(&db, &proxy, &["listapplications"]);
    let list_exit = assert_gave_up_within_n(backend, &out, started, "listapplications");
    drop(proxy);

    // Silent as the INSERT goes out, inside the apply transaction (the lock is taken by then).
    let proxy = SilentProxy::start(&address);
    proxy.go_silent_on(b"INSERT INTO");
    let (out, _) = through_proxy(&db, &proxy, &["apply", manifest]);
    let silent_at = proxy
        .silent_since()
        .unwrap_or_else(|| panic!("{backend:?}: the INSERT never went out: {}", stderr(&out)));
    let insert_exit = assert_gave_up_within_n(backend, &out, silent_at, "apply at its INSERT");
    // Nothing written, checked once the server has ended the silent session.
    let session_bound = N + N + Duration::from_secs(5) + SLOP;
    wait_until(session_bound + Duration::from_secs(20), || {
        other_sessions(&db) == 0
    })
    .unwrap_or_else(|| panic!("{backend:?}: the silent session was never ended"));
    let session_gone = silent_at.elapsed();
    assert!(
        session_gone <= session_bound,
        "{backend:?}: {session_gone:?}"
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM oauth2_provider_application"),
        0,
        "{backend:?}: an application was written"
    );
    drop(proxy);

    // Straight to the server, the apply lock is free again and the manifest applies.
    let out = db
        .oauthctl(&["apply", manifest])
        .env("NET_APPLY_SECRET", APP_SECRET)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM oauth2_provider_application WHERE client_id = 'net-apply'"),
        1,
        "{backend:?}"
    );
    println!(
        "RELIABILITY network apply {backend:?}: silent from the start: apply exit 1 after {} ms, listapplications after {} ms; silent at the INSERT: exit 1 after {} ms, session ended by the server after {} ms, nothing written; then applied straight to the server",
        connect_exit.as_millis(),
        list_exit.as_millis(),
        insert_exit.as_millis(),
        session_gone.as_millis()
    );
}

backend_test!(silent_network_mid_cleanup, [Postgres, MySql], |backend| {
    silent_mid_cleanup(backend);
});

backend_test!(
    silent_network_inside_a_batch_transaction,
    [Postgres, MySql],
    |backend| {
        silent_inside_a_batch(backend);
    }
);

backend_test!(
    silent_network_in_createapplication,
    [Postgres, MySql],
    |backend| {
        silent_createapplication(backend);
    }
);

backend_test!(silent_network_in_apply, [Postgres, MySql], |backend| {
    silent_apply(backend);
});
