//! Secrets stay secret: a given client secret and the database password never appear in any log
//! line (at the most verbose level), error message or JSON output; a generated secret is shown
//! exactly once; what is stored is a hash that verifies, not the plaintext.

mod common;

use common::{code, stderr, stdout, Backend, TestDb, ALL};

const GIVEN_SECRET: &str = "Given-Secret-5b1f0e";
const DB_PASSWORD: &str = "Db-Pa55word-9c2d";

fn all_output(out: &std::process::Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

#[test]
fn given_secret_never_printed_even_at_trace_level() {
    for backend in ALL {
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
    }
}

#[test]
fn generated_secret_is_shown_once_and_stored_hashed() {
    for backend in ALL {
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
        let cast = if backend == Backend::MySql {
            "CAST(client_secret AS CHAR)"
        } else {
            "client_secret"
        };
        let stored = db.rows(&format!("SELECT {cast} FROM oauth2_provider_application"))[0][0]
            .clone()
            .unwrap();
        assert_ne!(stored, secret);
        assert!(!stored.contains(&secret));
        assert!(oauthctl::hashing::check_password(&secret, &stored).unwrap());
    }
}

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
fn database_password_never_printed() {
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
