//! Database faults: unreachable host, wrong password, missing database, a user without the
//! DELETE privilege, and a row of the batch locked by another transaction. Each ends in exit 1
//! with a one-line message and nothing half-done, or (the lock) in a finished run.
//!
//! The wrong-password case runs on MariaDB (shared server) and on a private PostgreSQL server
//! (tests/it/support/server.rs) whose pg_hba.conf asks for `scram-sha-256`: the shared
//! PostgreSQL trusts 127.0.0.1, so it never checks a password. A server restart in the middle of
//! a run is in tests/it/reliability_restart.rs.

use std::time::{Duration, Instant};

use crate::support::load::*;
use crate::support::server::{pg_password_role, pg_url_as, PrivateServer};
use crate::support::{
    backend_test, code, now, oauthctl_command, require, runtime, stderr, stdout, Backend, Conn,
    Need, TestDb, NOW,
};

fn cleartokens(url: &str, extra: &[&str]) -> std::process::Output {
    let mut cmd = oauthctl_command();
    cmd.args([
        "cleartokens",
        "--refresh-token-expire-seconds",
        EXPIRE_SECONDS,
    ])
    .args(extra)
    .env("DATABASE_URL", url)
    .env("OAUTHCTL_NOW", NOW);
    cmd.output().unwrap()
}

fn one_line_error(out: &std::process::Output, what: &str) -> String {
    assert_eq!(code(out), 1, "{what}: {}", stderr(out));
    let err = stderr(out);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("REFRESH_TOKEN_EXPIRE_SECONDS"))
        // -v log lines (timestamped) are not the error
        .filter(|l| !l.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .collect();
    assert_eq!(lines.len(), 1, "{what}: one line: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    lines[0].to_string()
}

// Nothing listens on port 1: no server is needed.
backend_test!(
    unreachable_host_exits_1_with_one_line,
    [Postgres, MySql],
    no_server,
    |backend| {
        let url = match backend {
            Backend::Postgres => "postgres://postgres:s3cretpw@127.0.0.1:1/db",
            _ => "mysql://root:s3cretpw@127.0.0.1:1/db",
        };
        let started = Instant::now();
        let out = cleartokens(url, &[]);
        let line = one_line_error(&out, url);
        assert!(line.contains("cannot connect"), "{line}");
        assert!(
            !line.contains("s3cretpw") && !stdout(&out).contains("s3cretpw"),
            "{line}"
        );
        assert!(started.elapsed() < Duration::from_secs(20));
        println!("RELIABILITY fault unreachable {url}: exit 1: {line}");
    }
);

backend_test!(
    missing_database_exits_1_with_one_line,
    [Postgres, MySql],
    |backend| {
        let db = TestDb::empty(backend, "missing");
        let url = db.url.replace(db.name(), "oauthctl_no_such_database");
        let out = cleartokens(&url, &[]);
        let line = one_line_error(&out, &url);
        assert!(line.contains("oauthctl_no_such_database"), "{line}");
        println!("RELIABILITY fault missing database {backend:?}: exit 1: {line}");
    }
);

/// With a wrong password in the URL: exit 1 and one line containing each of `expected` at the
/// default verbosity, at `-vvv` and with `--format json`, and the password never printed, not even
/// at trace level.
fn refuses_wrong_password(backend: &str, wrong: &str, expected: &[&str]) {
    for extra in [vec![], vec!["-vvv"], vec!["--format", "json"]] {
        let out = cleartokens(wrong, &extra);
        let line = one_line_error(&out, "wrong password");
        for text in expected {
            assert!(line.contains(text), "{line}");
        }
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains("WrongPw-456"), "{all}");
        println!("RELIABILITY fault wrong password {backend} {extra:?}: exit 1: {line}");
    }
    let out = oauthctl_command()
        .args(["cleartokens", "-vvv"])
        .env("DATABASE_URL", wrong)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    assert!(!format!("{}{}", stdout(&out), stderr(&out)).contains("WrongPw-456"));
}

/// A MariaDB user with a password; on PostgreSQL the shared server trusts 127.0.0.1.
#[test]
fn wrong_password_exits_1_and_never_shows_it_mariadb() {
    require!(Need::SharedServer(Backend::MySql));
    let db = TestDb::migrated(Backend::MySql, "wrongpw");
    let user = format!("u{}", &db.name()[db.name().len() - 12..]);
    db.execute(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY 'RightPw-123'"
    ));
    db.execute(&format!("GRANT ALL ON {}.* TO '{user}'@'%'", db.name()));
    let base = db.url.split_once("@").unwrap().1.to_string();
    let wrong = format!("mysql://{user}:WrongPw-456@{base}");
    refuses_wrong_password("MySql", &wrong, &["Access denied"]);
    // The right password works and is never shown either, at trace level.
    let right = format!("mysql://{user}:RightPw-123@{base}");
    let out = oauthctl_command()
        .args(["cleartokens", "-vvv", "--format", "json"])
        .env("DATABASE_URL", &right)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!format!("{}{}", stdout(&out), stderr(&out)).contains("RightPw-123"));
    db.execute(&format!("DROP USER '{user}'@'%'"));
}

/// PostgreSQL checks passwords only on a private server (its pg_hba.conf asks for
/// `scram-sha-256`); the shared one trusts 127.0.0.1.
#[test]
fn wrong_password_exits_1_and_never_shows_it_postgres() {
    require!(Need::ServerBinaries(Backend::Postgres));
    let server = PrivateServer::postgres();
    let db = TestDb::migrated_on(&server, "wrongpw");
    seed(&db, 300, now());
    pg_password_role(&db, "cleaner", "RightPw-123");
    let wrong = pg_url_as(&db, "cleaner", "WrongPw-456");
    refuses_wrong_password(
        "Postgres",
        &wrong,
        &["password authentication failed", "cleaner:****@"],
    );
    // The right password works (300 units of backlog deleted) and is never shown either, at
    // trace level.
    let right = pg_url_as(&db, "cleaner", "RightPw-123");
    let out = oauthctl_command()
        .args([
            "cleartokens",
            "-vvv",
            "--format",
            "json",
            "--batch-size",
            "100",
        ])
        .args(["--refresh-token-expire-seconds", EXPIRE_SECONDS])
        .env("DATABASE_URL", &right)
        .env("OAUTHCTL_NOW", NOW)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert!(json["deleted_total"].as_u64().unwrap() > 0, "{json}");
    assert!(!format!("{}{}", stdout(&out), stderr(&out)).contains("RightPw-123"));
    assert_eq!(dangling(&db), vec![]);
}

// A user that may read but not delete: exit 1, clear message, nothing deleted or nulled.
backend_test!(
    user_without_delete_privilege_changes_nothing,
    [Postgres, MySql],
    |backend| {
        let db = TestDb::migrated(backend, "nodelete");
        seed(&db, 500, now());
        let before = snapshot(&db);
        let user = format!("ro{}", &db.name()[db.name().len() - 12..]);
        let url = match backend {
            Backend::Postgres => {
                db.execute(&format!("CREATE ROLE {user} LOGIN"));
                db.execute(&format!(
                    "GRANT SELECT, UPDATE ON ALL TABLES IN SCHEMA public TO {user}"
                ));
                db.url.replacen("postgres@", &format!("{user}@"), 1)
            }
            _ => {
                db.execute(&format!(
                    "CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'"
                ));
                db.execute(&format!(
                    "GRANT SELECT, UPDATE, INSERT, CREATE TEMPORARY TABLES ON {}.* TO '{user}'@'%'",
                    db.name()
                ));
                db.url.replacen("root@", &format!("{user}:pw-{user}@"), 1)
            }
        };
        let out = cleartokens(&url, &["--batch-size", "50"]);
        assert_eq!(code(&out), 1, "{backend:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            err.to_lowercase().contains("denied"),
            "{backend:?}: says permission denied: {err}"
        );
        assert!(
            snapshot(&db) == before,
            "{backend:?}: nothing deleted, nothing half-done"
        );
        println!(
            "RELIABILITY fault no DELETE grant {backend:?}: exit 1, nothing changed: {}",
            err.lines().last().unwrap_or("")
        );
        match backend {
            Backend::Postgres => {
                db.execute(&format!(
                    "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {user}"
                ));
                db.execute(&format!("DROP ROLE {user}"));
            }
            _ => db.execute(&format!("DROP USER '{user}'@'%'")),
        }
    }
);

// Another transaction holds a lock on a row of the batch for a while, then commits. The run
// waits a bounded time, retries, and finishes; the lock holder is never made to fail.
backend_test!(
    row_locked_by_another_transaction_then_committed,
    [Postgres, MySql],
    |backend| {
        let db = TestDb::migrated(backend, "rowlock");
        let seeded = seed(&db, 300, now());
        let victim = *seeded.delete_grant.iter().next().unwrap();
        let url = db.url.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            runtime().block_on(async move {
                let hold = Duration::from_millis(2500);
                let sql = format!("UPDATE {GRANT} SET scope = 'held' WHERE id = {victim}");
                let mut c = Conn::open(backend, &url).await;
                c.execute("BEGIN").await;
                c.execute(&sql).await;
                ready_tx.send(()).unwrap();
                tokio::time::sleep(hold).await;
                c.try_execute("COMMIT").await
            })
        });
        ready_rx.recv().unwrap();
        let started = Instant::now();
        let out = cleartokens(&db.url, &["--batch-size", "50", "-v"]);
        let took = started.elapsed();
        let holder_result = holder.join().unwrap();
        assert_eq!(
            holder_result,
            Ok(()),
            "{backend:?}: the lock holder's commit failed"
        );
        assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
        assert!(
            !ids(&db, GRANT).contains(&victim),
            "{backend:?}: the row was deleted after the holder committed"
        );
        assert_eq!(dangling(&db), vec![]);
        let retries = stderr(&out).matches("retrying").count();
        println!(
        "RELIABILITY fault row lock {backend:?}: held 2.5 s; cleanup retried {retries}x and finished in {} ms (exit 0); holder committed fine",
        took.as_millis()
    );
    }
);
