//! Secrets stay secret: a given client secret and the database password never appear in any log
//! line (at the most verbose level), error message or JSON output; a generated secret is shown
//! exactly once; what is stored is a hash that verifies, not the plaintext.
//!
//! Database passwords are checked on MariaDB (the shared server, an account with a password) and
//! on PostgreSQL (a private server from tests/it/support/server.rs whose pg_hba.conf asks for
//! `scram-sha-256`; the shared one trusts 127.0.0.1), for `migrate`, `createapplication` and
//! `cleartokens`, with the wrong and the right password. The `--log-format json` tests check the
//! same with every stderr line a JSON line.

use crate::observability::json_lines;
use crate::support::server::{pg_password_role, pg_url_as, PrivateServer};
use crate::support::{
    backend_test, check_password, code, load, require, stderr, stdout, Backend, Need, TestDb,
};

const GIVEN_SECRET: &str = "Given-Secret-5b1f0e";
const DB_PASSWORD: &str = "Db-Pa55word-9c2d";

fn all_output(out: &std::process::Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

backend_test!(given_secret_never_printed_even_at_trace_level, |backend| {
    let db = TestDb::migrated(backend, "sec");
    let out = db
        .oauthctl(&[
            "-vvv",
            "createapplication",
            "confidential",
            "client-credentials",
            "--client-id",
            "s1",
            "--client-secret",
            GIVEN_SECRET,
            "--format",
            "json",
            "--hasher",
            "pbkdf2_sha256",
        ])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    assert!(
        !all_output(&out).contains(GIVEN_SECRET),
        "{backend:?} leaked the secret"
    );
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert!(
        json.get("client_secret").is_none(),
        "a given secret is not echoed: {json}"
    );
    assert!(
        !stderr(&out).is_empty(),
        "trace logging produced nothing, so this test proves nothing"
    );

    // Stored unhashed on purpose: still never in a log line.
    let out = db
        .oauthctl(&[
            "-vvv",
            "createapplication",
            "confidential",
            "password",
            "--client-id",
            "s2",
            "--client-secret",
            GIVEN_SECRET,
            "--no-hash-client-secret",
        ])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    assert!(
        !all_output(&out).contains(GIVEN_SECRET),
        "{backend:?} leaked the unhashed secret"
    );

    // Same for a validation failure: the error names the field, never the secret.
    let out = db
        .oauthctl(&[
            "-vvv",
            "createapplication",
            "public",
            "bogus",
            "--client-secret",
            GIVEN_SECRET,
        ])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(!all_output(&out).contains(GIVEN_SECRET));
});

backend_test!(
    generated_secret_is_shown_once_and_stored_hashed,
    |backend| {
        let db = TestDb::migrated(backend, "gen1");
        let out = db
            .oauthctl(&[
                "-vvv",
                "createapplication",
                "confidential",
                "password",
                "--client-id",
                "g1",
                "--hasher",
                "argon2",
            ])
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let secret = stdout(&out)
            .lines()
            .find_map(|l| l.strip_prefix("client_secret: ").map(str::to_string))
            .unwrap();
        assert_eq!(
            all_output(&out).matches(&secret).count(),
            1,
            "shown exactly once"
        );
        let cast = backend.text("client_secret");
        let stored = db.rows(&format!("SELECT {cast} FROM oauth2_provider_application"))[0][0]
            .clone()
            .unwrap();
        assert_ne!(stored, secret);
        assert!(!stored.contains(&secret));
        assert!(check_password(&secret, &stored).unwrap());
    }
);

/// A MariaDB account with a password, so that a real password is in the URL.
struct PasswordUser {
    admin: TestDb,
    user: String,
}

impl PasswordUser {
    fn new(db: TestDb, tag: &str) -> Self {
        let user = format!("oauthctl_u_{tag}_{}", std::process::id());
        db.execute(&format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY '{DB_PASSWORD}'"
        ));
        db.execute(&format!(
            "CREATE USER '{user}'@'localhost' IDENTIFIED BY '{DB_PASSWORD}'"
        ));
        PasswordUser { admin: db, user }
    }

    fn url(&self, password: &str) -> String {
        let (_, rest) = self.admin.url.split_once('@').unwrap();
        format!("mysql://{}:{password}@{rest}", self.user)
    }
}

impl Drop for PasswordUser {
    fn drop(&mut self) {
        self.admin
            .execute(&format!("DROP USER IF EXISTS '{}'@'%'", self.user));
        self.admin
            .execute(&format!("DROP USER IF EXISTS '{}'@'localhost'", self.user));
    }
}

#[test]
fn database_password_never_printed_mariadb() {
    require!(Need::SharedServer(Backend::MySql));
    let db = TestDb::migrated(Backend::MySql, "pw");
    let account = PasswordUser::new(db, "pw");

    // Wrong password: a clear one-line error, exit 1, the password nowhere.
    let wrong = format!("{DB_PASSWORD}-wrong");
    let out = account
        .admin
        .oauthctl(&["-vvv", "createapplication", "public", "password"])
        .env("DATABASE_URL", account.url(&wrong))
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(!all_output(&out).contains(&wrong));
    assert!(!all_output(&out).contains(DB_PASSWORD));
    assert!(stderr(&out).contains("****"), "{}", stderr(&out));
    assert!(stderr(&out).contains("Access denied"), "{}", stderr(&out));

    // Right password but no privileges on the database: still no password in the output.
    let out = account
        .admin
        .oauthctl(&["-vvv", "createapplication", "public", "password"])
        .env("DATABASE_URL", account.url(DB_PASSWORD))
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_ne!(code(&out), 0);
    assert!(
        !all_output(&out).contains(DB_PASSWORD),
        "{}",
        all_output(&out)
    );

    // Granted: success, and the trace log never shows the password.
    let db_name = account.admin.url.rsplit('/').next().unwrap().to_string();
    account.admin.execute(&format!(
        "GRANT ALL ON {db_name}.* TO '{}'@'%'",
        account.user
    ));
    account.admin.execute(&format!(
        "GRANT ALL ON {db_name}.* TO '{}'@'localhost'",
        account.user
    ));
    let out = account
        .admin
        .oauthctl(&[
            "-vvv",
            "createapplication",
            "public",
            "password",
            "--client-id",
            "pw-ok",
            "--hasher",
            "pbkdf2_sha256",
        ])
        .env("DATABASE_URL", account.url(DB_PASSWORD))
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!all_output(&out).contains(DB_PASSWORD));
}

/// `cleartokens` with the password in the URL, at trace level, over a seeded backlog.
fn cleartokens_at_trace(db: &TestDb, url: &str) -> std::process::Output {
    db.oauthctl(&[
        "-vvv",
        "cleartokens",
        "--batch-size",
        "50",
        "--refresh-token-expire-seconds",
        load::EXPIRE_SECONDS,
        "--format",
        "json",
    ])
    .env("DATABASE_URL", url)
    .env("OAUTHCTL_NOW", "2026-11-26T20:00:00Z")
    .env("RUST_LOG", "trace")
    .output()
    .unwrap()
}

fn seed_backlog(db: &TestDb) {
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T20:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    load::seed(db, 100, now);
}

#[test]
fn database_password_never_printed_by_cleartokens_mariadb() {
    require!(Need::SharedServer(Backend::MySql));
    let db = TestDb::migrated(Backend::MySql, "pwct");
    seed_backlog(&db);
    let account = PasswordUser::new(db, "pwct");
    let wrong = format!("{DB_PASSWORD}-wrong");
    let out = cleartokens_at_trace(&account.admin, &account.url(&wrong));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(!all_output(&out).contains(DB_PASSWORD));
    assert!(stderr(&out).contains("Access denied"), "{}", stderr(&out));

    let db_name = account.admin.name().to_string();
    for host in ["%", "localhost"] {
        account.admin.execute(&format!(
            "GRANT ALL ON {db_name}.* TO '{}'@'{host}'",
            account.user
        ));
    }
    let out = cleartokens_at_trace(&account.admin, &account.url(DB_PASSWORD));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert!(json["deleted_total"].as_u64().unwrap() > 0, "{json}");
    assert!(!all_output(&out).contains(DB_PASSWORD));
}

/// PostgreSQL with a password that is checked: a private server (scram-sha-256).
#[test]
fn database_password_never_printed_postgres() {
    require!(Need::ServerBinaries(Backend::Postgres));
    let server = PrivateServer::postgres();
    let db = TestDb::empty_on(&server, "pgpw");
    pg_password_role(&db, "oauth_app", DB_PASSWORD);
    let url = |password: &str| pg_url_as(&db, "oauth_app", password);

    // Wrong password, each command: exit 1, one error line, the password nowhere.
    let wrong = format!("{DB_PASSWORD}-wrong");
    for args in [
        vec!["-vvv", "migrate"],
        vec!["-vvv", "createapplication", "public", "password"],
        vec!["-vvv", "cleartokens", "--format", "json"],
    ] {
        let out = db
            .oauthctl(&args)
            .env("DATABASE_URL", url(&wrong))
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        assert_eq!(code(&out), 1, "{args:?}: {}", stderr(&out));
        assert!(!all_output(&out).contains(DB_PASSWORD), "{args:?}");
        let errors: Vec<String> = stderr(&out)
            .lines()
            .filter(|l| l.starts_with("error:"))
            .map(str::to_string)
            .collect();
        assert_eq!(errors.len(), 1, "{args:?}: {}", stderr(&out));
        assert!(
            errors[0].contains("postgres://oauth_app:****@")
                && errors[0].contains("password authentication failed"),
            "{args:?}: {}",
            errors[0]
        );
    }

    // Right password: migrate, createapplication, cleartokens over a backlog, all at trace
    // level; the password is never shown.
    let run = |args: &[&str]| {
        let out = db
            .oauthctl(args)
            .env("DATABASE_URL", url(DB_PASSWORD))
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert!(
            !all_output(&out).contains(DB_PASSWORD),
            "{args:?} leaked the password"
        );
        assert!(!stderr(&out).is_empty(), "{args:?}: trace logging is on");
        out
    };
    run(&["-vvv", "migrate"]);
    seed_backlog(&db);
    // The seed wrote application id 1 explicitly; move the sequence past it.
    db.execute("SELECT setval(pg_get_serial_sequence('oauth2_provider_application', 'id'), 1000)");
    run(&[
        "-vvv",
        "createapplication",
        "confidential",
        "client-credentials",
        "--client-id",
        "pg-pw-ok",
        "--hasher",
        "pbkdf2_sha256",
        "--format",
        "json",
    ]);
    let out = cleartokens_at_trace(&db, &url(DB_PASSWORD));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert!(json["deleted_total"].as_u64().unwrap() > 0, "{json}");
    assert!(!all_output(&out).contains(DB_PASSWORD));
}

#[test]
fn postgres_errors_redact_the_password() {
    // Nothing listens on port 1: the connection error must not echo the URL's password.
    let db = TestDb::migrated(Backend::Sqlite, "pgpw");
    let out = db
        .oauthctl(&["-vvv", "createapplication", "public", "password"])
        .env(
            "DATABASE_URL",
            format!("postgres://app:{DB_PASSWORD}@127.0.0.1:1/oauth"),
        )
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    assert!(!all_output(&out).contains(DB_PASSWORD));
    assert!(
        stderr(&out).contains("postgres://app:****@127.0.0.1:1/oauth"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        stderr(&out)
            .trim()
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1
    );
}

// ---------------------------------------------------------------------------------------------
// The same with `--log-format json`: JSON escaping must not turn a secret into something the
// redaction misses, and every line stays a JSON line.

backend_test!(no_secret_in_json_logs_at_trace_level, |backend| {
    let db = TestDb::migrated(backend, "secjson");
    let json_trace = |args: &[&str]| {
        let out = db
            .oauthctl(&["-vvv", "--log-format", "json"])
            .args(args)
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        json_lines(&out);
        out
    };
    let out = json_trace(&[
        "createapplication",
        "confidential",
        "client-credentials",
        "--client-id",
        "sj1",
        "--client-secret",
        GIVEN_SECRET,
        "--hasher",
        "pbkdf2_sha256",
    ]);
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    let out2 = json_trace(&[
        "createapplication",
        "confidential",
        "password",
        "--client-id",
        "sj2",
        "--client-secret",
        GIVEN_SECRET,
        "--no-hash-client-secret",
    ]);
    assert_eq!(code(&out2), 0, "{backend:?}: {}", stderr(&out2));
    let hash = db.rows(&format!(
        "SELECT {} FROM oauth2_provider_application WHERE client_id = 'sj1'",
        backend.text("client_secret")
    ))[0][0]
        .clone()
        .unwrap();
    // The hash's last part (the digest): the salt alone could be short enough to collide.
    let digest = hash.rsplit('$').next().unwrap().to_string();
    let cleared = json_trace(&["cleartokens", "--refresh-token-expire-seconds", "60"]);
    assert_eq!(code(&cleared), 0, "{backend:?}: {}", stderr(&cleared));
    for out in [&out, &out2, &cleared] {
        let all = all_output(out);
        assert!(!all.contains(GIVEN_SECRET), "{backend:?} leaked the secret");
        assert!(
            !stderr(out).contains(&digest),
            "{backend:?} logged the hash"
        );
    }
});

#[test]
fn database_password_never_printed_in_json_logs_mariadb() {
    require!(Need::SharedServer(Backend::MySql));
    let db = TestDb::migrated(Backend::MySql, "pwjs");
    seed_backlog(&db);
    let account = PasswordUser::new(db, "pwjs");
    let run = |password: &str, args: &[&str]| {
        let out = account
            .admin
            .oauthctl(&["-vvv", "--log-format", "json"])
            .args(args)
            .env("DATABASE_URL", account.url(password))
            .env("OAUTHCTL_NOW", "2026-11-26T20:00:00Z")
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        let lines = json_lines(&out);
        assert!(!all_output(&out).contains(DB_PASSWORD), "{args:?}");
        (out, lines)
    };
    let cleartokens = ["cleartokens", "--refresh-token-expire-seconds", "3600"];
    let (out, lines) = run(&format!("{DB_PASSWORD}-wrong"), &cleartokens);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let errors: Vec<_> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{}", stderr(&out));
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.contains("****") && message.contains("Access denied"),
        "{message}"
    );

    let db_name = account.admin.name().to_string();
    for host in ["%", "localhost"] {
        account.admin.execute(&format!(
            "GRANT ALL ON {db_name}.* TO '{}'@'{host}'",
            account.user
        ));
    }
    let (out, _) = run(DB_PASSWORD, &cleartokens);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("Expired grant tokens deleted"));
    let (out, _) = run(
        DB_PASSWORD,
        &[
            "createapplication",
            "public",
            "password",
            "--hasher",
            "pbkdf2_sha256",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn postgres_errors_redact_the_password_in_json_logs() {
    // Nothing listens on port 1.
    let db = TestDb::migrated(Backend::Sqlite, "pgpwjs");
    for args in [
        vec!["createapplication", "public", "password"],
        vec!["cleartokens", "--refresh-token-expire-seconds", "60"],
    ] {
        let out = db
            .oauthctl(&["-vvv", "--log-format", "json"])
            .args(&args)
            .env(
                "DATABASE_URL",
                format!("postgres://app:{DB_PASSWORD}@127.0.0.1:1/oauth"),
            )
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        assert_eq!(code(&out), 1, "{args:?}: {}", stderr(&out));
        assert!(!all_output(&out).contains(DB_PASSWORD), "{args:?}");
        let lines = json_lines(&out);
        let errors: Vec<_> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
        assert_eq!(errors.len(), 1, "{args:?}: {}", stderr(&out));
        assert!(
            errors[0]["message"]
                .as_str()
                .unwrap()
                .contains("postgres://app:****@127.0.0.1:1/oauth"),
            "{}",
            errors[0]
        );
    }
}
