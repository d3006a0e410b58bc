//! `oauthctl createapplication` against real SQLite, PostgreSQL and MariaDB databases: exit codes,
//! output, and the rows written (or not written).

use crate::support::{
    backend_test, check_password, code, oauthctl_command, stderr, stdout, Backend, TestDb,
};

const APP: &str = "oauth2_provider_application";

fn text_col(db: &TestDb, column: &str, client_id: &str) -> Option<String> {
    let cast = db.backend.text(column);
    let literal = client_id.replace('\'', "''");
    db.rows(&format!(
        "SELECT {cast} FROM {APP} WHERE client_id = '{literal}'"
    ))
    .into_iter()
    .next()
    .and_then(|row| row.into_iter().next().flatten())
}

fn truthy(value: Option<String>) -> bool {
    matches!(value.as_deref(), Some("1") | Some("true") | Some("t"))
}

backend_test!(creates_with_generated_id_and_secret, |backend| {
    let db = TestDb::migrated(backend, "gen");
    let out = db.run(&[
        "createapplication",
        "confidential",
        "client-credentials",
        "--hasher",
        "pbkdf2_sha256",
    ]);
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let client_id = lines[0]
        .strip_prefix("New application ")
        .and_then(|rest| rest.strip_suffix(" created successfully."))
        .unwrap();
    let secret = lines[1].strip_prefix("client_secret: ").unwrap();
    assert_eq!(client_id.len(), 40);
    assert!(client_id.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(secret.len(), 128);
    assert!(secret.chars().all(|c| c.is_ascii_alphanumeric()));

    let stored = text_col(&db, "client_secret", client_id).unwrap();
    assert!(stored.starts_with("pbkdf2_sha256$1000000$"), "{stored}");
    assert!(check_password(secret, &stored).unwrap());
    assert!(!stored.contains(secret));
    assert!(truthy(text_col(&db, "hash_client_secret", client_id)));
    assert!(!truthy(text_col(&db, "skip_authorization", client_id)));
    assert_eq!(
        text_col(&db, "registration_source", client_id).as_deref(),
        Some("manual")
    );
    assert_eq!(text_col(&db, "algorithm", client_id).as_deref(), Some(""));
    assert_eq!(
        text_col(&db, "allowed_origins", client_id).as_deref(),
        Some("")
    );
    assert_eq!(
        text_col(&db, "redirect_uris", client_id).as_deref(),
        Some("")
    );
    assert_eq!(text_col(&db, "user_id", client_id), None);
    assert_eq!(text_col(&db, "cimd_expires_at", client_id), None);
    assert_eq!(db.count(APP), 1);
});

backend_test!(
    given_secret_is_hashed_with_argon2_and_not_printed,
    |backend| {
        let db = TestDb::migrated(backend, "argon");
        let out = db.run(&[
            "createapplication",
            "confidential",
            "authorization-code",
            "--client-id",
            "someId",
            "--client-secret",
            "SECRET",
            "--name",
            "TEST",
            "--redirect-uris",
            "http://example.com http://example2.com",
            "--skip-authorization",
        ]);
        assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "New application TEST created successfully.\n");
        assert!(!stderr(&out).contains("SECRET"));
        let stored = text_col(&db, "client_secret", "someId").unwrap();
        assert!(
            stored.starts_with("argon2$argon2id$v=19$m=102400,t=2,p=8$"),
            "{stored}"
        );
        assert!(check_password("SECRET", &stored).unwrap());
        assert!(truthy(text_col(&db, "skip_authorization", "someId")));
        assert_eq!(text_col(&db, "name", "someId").as_deref(), Some("TEST"));
        assert_eq!(
            text_col(&db, "redirect_uris", "someId").as_deref(),
            Some("http://example.com http://example2.com")
        );
    }
);

backend_test!(json_output_and_unhashed_secret, |backend| {
    let db = TestDb::migrated(backend, "json");
    let out = db.run(&[
        "createapplication",
        "confidential",
        "client-credentials",
        "--client-id",
        "hs",
        "--no-hash-client-secret",
        "--algorithm",
        "HS256",
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["client_id"], "hs");
    let secret = v["client_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 128);
    assert!(v["id"].as_i64().unwrap() >= 1);
    assert_eq!(
        text_col(&db, "client_secret", "hs").as_deref(),
        Some(secret)
    );
    assert!(!truthy(text_col(&db, "hash_client_secret", "hs")));
    assert_eq!(text_col(&db, "algorithm", "hs").as_deref(), Some("HS256"));
});

backend_test!(bad_input_exits_2_and_writes_nothing, |backend| {
    let cases: &[(&[&str], &str)] = &[
        (
            &["confidential", "authorization-code"],
            "redirect_uris cannot be empty with grant_type authorization-code",
        ),
        (
            &["bogus", "bogus-grant"],
            "Value 'bogus' is not a valid choice.",
        ),
        (&["", ""], "client_type: ['This field cannot be blank.']"),
        (
            &["confidential", "client-credentials", "--user", "abc"],
            "“abc” value must be an integer.",
        ),
        (
            &["confidential", "client-credentials", "--algorithm", "XX"],
            "Value 'XX' is not a valid choice.",
        ),
        (
            &["confidential", "client-credentials", "--algorithm", "RS256"],
            "You must set OIDC_RSA_PRIVATE_KEY",
        ),
        (
            &["public", "implicit", "--redirect-uris", "ftp://x"],
            "invalid_scheme: ftp://x",
        ),
        (
            &["public", "password", "--algorithm", "HS256"],
            "You cannot use HS256 with public grants or clients",
        ),
        (
            &["confidential", "password", "--name", &"n".repeat(256)],
            "at most 255 characters (it has 256)",
        ),
        (
            &["confidential", "password", "--client-id", &"i".repeat(300)],
            "at most 255 characters (it has 300)",
        ),
        (
            &[
                "confidential",
                "password",
                "--client-id",
                "x'; DROP TABLE oauth2_provider_application; --",
                "--name",
                "a\"b'c;--",
            ],
            "",
        ),
    ];
    let db = TestDb::migrated(backend, "bad");
    for (args, expected) in cases {
        let mut argv = vec!["createapplication"];
        argv.extend_from_slice(args);
        let out = db.run(&argv);
        if expected.is_empty() {
            // SQL metacharacters are data, not SQL: the row is created verbatim.
            assert_eq!(code(&out), 0, "{backend:?} {args:?}: {}", stderr(&out));
            continue;
        }
        assert_eq!(code(&out), 2, "{backend:?} {args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("Please correct the following errors:"),
            "{err}"
        );
        assert!(err.contains(expected), "{backend:?} {args:?}: {err}");
        assert!(stdout(&out).is_empty());
    }
    assert_eq!(
        db.count(APP),
        1,
        "{backend:?}: only the metacharacter row exists"
    );
    assert_eq!(
        text_col(
            &db,
            "name",
            "x'; DROP TABLE oauth2_provider_application; --"
        )
        .as_deref(),
        Some("a\"b'c;--")
    );
});

#[test]
fn usage_errors_exit_2() {
    let db = TestDb::migrated(Backend::Sqlite, "usage");
    for args in [
        vec!["createapplication"],
        vec!["createapplication", "public"],
        vec!["createapplication", "public", "password", "--hasher", "md5"],
        vec![
            "createapplication",
            "public",
            "password",
            "--client-secret",
            "a",
            "--client-secret-env",
            "X",
        ],
        vec!["createapplication", "public", "password", "--if-not-exists"],
        vec![
            "createapplication",
            "public",
            "password",
            "--client-secret-env",
            "OAUTHCTL_SURELY_UNSET",
        ],
        vec![
            "createapplication",
            "public",
            "password",
            "--client-secret-file",
            "/nonexistent/secret",
        ],
        vec![
            "--application-table",
            "x;drop",
            "createapplication",
            "public",
            "password",
        ],
    ] {
        let out = db.run(&args);
        let expected = if args.contains(&"/nonexistent/secret") {
            1
        } else {
            2
        };
        assert_eq!(code(&out), expected, "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty());
    }
    assert_eq!(db.count(APP), 0);
}

backend_test!(unknown_user_is_rejected_where_users_exist, |backend| {
    let db = TestDb::migrated(backend, "user");
    // A stand-in for Django's auth_user: only its id matters to the check.
    db.execute("CREATE TABLE auth_user (id integer PRIMARY KEY)");
    db.execute("INSERT INTO auth_user (id) VALUES (7)");
    let out = db.run(&["createapplication", "public", "password", "--user", "999"]);
    assert_eq!(code(&out), 2, "{backend:?}");
    assert!(
        stderr(&out).contains("- user: ['user instance with id 999 is not a valid choice.']"),
        "{}",
        stderr(&out)
    );
    let out = db.run(&[
        "createapplication",
        "public",
        "password",
        "--user",
        "7",
        "--client-id",
        "u7",
    ]);
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    assert_eq!(text_col(&db, "user_id", "u7").as_deref(), Some("7"));
    assert_eq!(db.count(APP), 1);
});

backend_test!(
    duplicates_conflict_and_if_not_exists_is_idempotent,
    |backend| {
        let db = TestDb::migrated(backend, "dup");
        let first = db.run(&[
            "createapplication",
            "public",
            "password",
            "--client-id",
            "ci-app",
        ]);
        assert_eq!(code(&first), 0, "{}", stderr(&first));
        let again = db.run(&[
            "createapplication",
            "public",
            "password",
            "--client-id",
            "ci-app",
        ]);
        assert_eq!(code(&again), 3, "{backend:?}");
        assert!(stderr(&again).contains("Application with this Client ID already exists."));
        let idem = db.run(&[
            "createapplication",
            "public",
            "password",
            "--client-id",
            "ci-app",
            "--if-not-exists",
        ]);
        assert_eq!(code(&idem), 0);
        assert!(stdout(&idem).contains("already exists"));
        assert!(!stdout(&idem).contains("client_secret"));
        assert_eq!(db.count(APP), 1);
    }
);

backend_test!(
    concurrent_creates_of_one_client_id_make_one_row,
    |backend| {
        let db = TestDb::migrated(backend, "race");
        let children: Vec<_> = (0..10)
            .map(|_| {
                db.oauthctl(&[
                    "createapplication",
                    "public",
                    "password",
                    "--client-id",
                    "racer",
                    "--hasher",
                    "pbkdf2_sha256",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
            })
            .collect();
        let codes: Vec<i32> = children
            .into_iter()
            .map(|c| code(&c.wait_with_output().unwrap()))
            .collect();
        assert_eq!(
            codes.iter().filter(|c| **c == 0).count(),
            1,
            "{backend:?}: {codes:?}"
        );
        assert_eq!(
            codes.iter().filter(|c| **c == 3).count(),
            9,
            "{backend:?}: {codes:?}"
        );
        assert_eq!(db.count(APP), 1);
    }
);

backend_test!(secret_sources_keep_secrets_out_of_argv, |backend| {
    use std::io::Write;
    let db = TestDb::migrated(backend, "src");
    // stdin
    let mut child = db
        .oauthctl(&[
            "createapplication",
            "confidential",
            "password",
            "--client-id",
            "a",
            "--client-secret-stdin",
            "--hasher",
            "pbkdf2_sha256",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from-stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stdout(&out).contains("from-stdin"));
    assert!(check_password("from-stdin", &text_col(&db, "client_secret", "a").unwrap()).unwrap());
    // file
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, "from-file\r\n").unwrap();
    let out = db.run(&[
        "createapplication",
        "confidential",
        "password",
        "--client-id",
        "b",
        "--client-secret-file",
        path.to_str().unwrap(),
        "--hasher",
        "pbkdf2_sha256",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(check_password("from-file", &text_col(&db, "client_secret", "b").unwrap()).unwrap());
    // empty file
    std::fs::write(&path, "").unwrap();
    let out = db.run(&[
        "createapplication",
        "confidential",
        "password",
        "--client-id",
        "c",
        "--client-secret-file",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("is empty"));
    // env
    let out = db
        .oauthctl(&[
            "createapplication",
            "confidential",
            "password",
            "--client-id",
            "d",
            "--client-secret-env",
            "MY_SECRET",
            "--hasher",
            "pbkdf2_sha256",
        ])
        .env("MY_SECRET", "from-env")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(check_password("from-env", &text_col(&db, "client_secret", "d").unwrap()).unwrap());
    // An already-hashed secret is stored as given, as DOT does.
    let out = db.run(&[
        "createapplication",
        "confidential",
        "password",
        "--client-id",
        "e",
        "--client-secret",
        "pbkdf2_sha256$notreally",
    ]);
    assert_eq!(code(&out), 0);
    assert_eq!(
        text_col(&db, "client_secret", "e").as_deref(),
        Some("pbkdf2_sha256$notreally")
    );
    assert_eq!(db.count(APP), 4);
});

#[test]
fn sqlite_default_file_is_created_and_migrated() {
    let dir = tempfile::tempdir().unwrap();
    // No DATABASE_URL (the scrub removes it): the default is ./db.sqlite3.
    let out = oauthctl_command()
        .current_dir(dir.path())
        .args([
            "createapplication",
            "confidential",
            "client-credentials",
            "--name",
            "demo",
            "--hasher",
            "pbkdf2_sha256",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(dir.path().join("db.sqlite3").exists());
    assert!(stdout(&out).starts_with("New application demo created successfully.\n"));
}

backend_test!(
    server_database_without_tables_names_migrate,
    [Postgres, MySql],
    |backend| {
        let db = TestDb::empty(backend, "notables");
        let out = db.run(&["createapplication", "public", "password"]);
        assert_eq!(code(&out), 1, "{backend:?}");
        let err = stderr(&out);
        assert!(err.contains("oauthctl migrate"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
);

backend_test!(migrate_is_idempotent, |backend| {
    let db = TestDb::migrated(backend, "mig");
    let out = db.run(&["migrate"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("up to date"), "{}", stdout(&out));
});

backend_test!(
    migrate_leaves_django_databases_alone,
    [Postgres],
    |backend| {
        // A database whose DOT tables exist without oauthctl's ledger is Django's: untouched.
        let db = TestDb::empty(backend, "django");
        db.execute("CREATE TABLE oauth2_provider_application (id bigint PRIMARY KEY, client_id varchar(100) NOT NULL UNIQUE)");
        let out = db.run(&["migrate"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(stdout(&out).contains("managed by Django"));
        assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = '_sqlx_migrations'"
        ),
        0
    );
    }
);

backend_test!(
    older_dot_schemas_get_only_the_columns_they_have,
    |backend| {
        // DOT 2.0's application table (migrations 0001–0006): no post_logout_redirect_uris,
        // hash_client_secret, allowed_origins, registration_source or cimd_expires_at; client_id 100.
        let db = TestDb::empty(backend, "dot20");
        let (id, dt, boolean) = match backend {
            Backend::Sqlite => (
                "integer NOT NULL PRIMARY KEY AUTOINCREMENT",
                "datetime",
                "bool",
            ),
            Backend::Postgres => (
                "bigserial NOT NULL PRIMARY KEY",
                "timestamp with time zone",
                "boolean",
            ),
            Backend::MySql => (
                "bigint AUTO_INCREMENT NOT NULL PRIMARY KEY",
                "datetime(6)",
                "bool",
            ),
        };
        db.execute(&format!(
        "CREATE TABLE {APP} (id {id}, client_id varchar(100) NOT NULL UNIQUE, redirect_uris text NOT NULL, \
         client_type varchar(32) NOT NULL, authorization_grant_type varchar(32) NOT NULL, \
         client_secret varchar(255) NOT NULL, name varchar(255) NOT NULL, user_id integer NULL, \
         skip_authorization {boolean} NOT NULL, created {dt} NOT NULL, updated {dt} NOT NULL, \
         algorithm varchar(5) NOT NULL)"
    ));
        let out = db.run(&[
            "createapplication",
            "public",
            "password",
            "--client-id",
            "old",
            "--hasher",
            "pbkdf2_sha256",
        ]);
        assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
        assert_eq!(db.count(APP), 1);
        assert!(text_col(&db, "client_secret", "old")
            .unwrap()
            .starts_with("pbkdf2_sha256$"));
        // Without hash_client_secret DOT always hashes: refusing --no-hash-client-secret is honest.
        let out = db.run(&[
            "createapplication",
            "public",
            "password",
            "--no-hash-client-secret",
        ]);
        assert_eq!(code(&out), 2, "{backend:?}");
        assert!(stderr(&out).contains("hash_client_secret"));
        // A NOT NULL column DOT's model does not know: refused before writing, naming the column.
        db.execute(&format!(
            "ALTER TABLE {APP} ADD COLUMN tenant varchar(10) NOT NULL DEFAULT 'x'"
        ));
        let out = db.run(&[
            "createapplication",
            "public",
            "password",
            "--client-id",
            "with-default",
        ]);
        assert_eq!(
            code(&out),
            0,
            "a column with a default is fine: {}",
            stderr(&out)
        );
        db.execute(&format!(
            "ALTER TABLE {APP} ADD COLUMN region varchar(10) NULL"
        ));
        if backend != Backend::Sqlite {
            db.execute(&format!("UPDATE {APP} SET region = 'eu'"));
            db.execute(&format!(
                "ALTER TABLE {APP} {}",
                match backend {
                    Backend::Postgres => "ALTER COLUMN region SET NOT NULL".to_string(),
                    _ => "MODIFY region varchar(10) NOT NULL".to_string(),
                }
            ));
            let out = db.run(&[
                "createapplication",
                "public",
                "password",
                "--client-id",
                "refused",
            ]);
            assert_eq!(code(&out), 1, "{backend:?}: {}", stderr(&out));
            assert!(stderr(&out).contains("\"region\""), "{}", stderr(&out));
            assert_eq!(db.count(APP), 2);
        }
    }
);
