//! Hostile input: arbitrary arguments never panic, and bad bytes, huge values and SQL
//! metacharacters get a clear error (or are stored verbatim as data), never a crash or a stray row.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use clap::Parser;
use proptest::prelude::*;

use crate::support::{
    backend_test, code, oauthctl_command, stderr, validate, Backend, Candidate, Cli, Lookups,
    Policy, TestDb,
};

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn argument_parsing_never_panics(args in proptest::collection::vec(".{0,40}", 0..8)) {
        let mut argv = vec!["oauthctl".to_string(), "createapplication".to_string()];
        argv.extend(args);
        let _ = Cli::try_parse_from(argv);
    }

    #[test]
    fn validation_never_panics(
        client_type in ".{0,20}", grant in ".{0,50}", client_id in ".{0,300}", user in proptest::option::of(".{0,25}"),
        uris in ".{0,200}", secret in ".{0,300}", hash in any::<bool>(), name in ".{0,300}", algorithm in ".{0,8}",
        wildcards in any::<bool>(), taken in any::<bool>(),
    ) {
        let candidate = Candidate {
            client_id, user, redirect_uris: uris, post_logout_redirect_uris: String::new(), client_type,
            authorization_grant_type: grant, client_secret: secret, hash_client_secret: hash, name, algorithm,
            allowed_origins: String::new(),
        };
        let policy = Policy { allow_uri_wildcards: wildcards, ..Policy::default() };
        let errors = validate(&candidate, &policy, Lookups { user_exists: Some(false), client_id_taken: taken });
        // The report always renders, one line per field plus the header.
        let report = errors.to_string();
        prop_assert_eq!(report.lines().count(), 1 + errors.fields().count());
    }
}

#[test]
fn non_utf8_arguments_are_usage_errors() {
    let db = TestDb::migrated(Backend::Sqlite, "utf8");
    for position in 0..3 {
        let mut args: Vec<OsString> = vec![
            "createapplication".into(),
            "public".into(),
            "password".into(),
            "--name".into(),
            "ok".into(),
        ];
        let target = [1, 2, 4][position];
        args[target] = OsString::from_vec(vec![b'a', 0xff, 0xfe, b'z']);
        let out = db.oauthctl(&[]).args(&args).output().unwrap();
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(
            stderr(&out).to_lowercase().contains("utf-8"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(db.count("oauth2_provider_application"), 0);
}

backend_test!(huge_values_are_rejected_cleanly, |backend| {
    let db = TestDb::migrated(backend, "huge");
    let huge = "x".repeat(100_000);
    for flag in ["--name", "--client-id", "--client-secret"] {
        let out = db.run(&["createapplication", "public", "password", flag, &huge]);
        assert_eq!(code(&out), 2, "{backend:?} {flag}");
        assert!(
            stderr(&out).contains("at most 255 characters (it has 100000)"),
            "{}",
            stderr(&out)
        );
        assert!(
            stderr(&out).len() < 2_000,
            "the error does not echo the value"
        );
    }
    let out = db.run(&[
        "createapplication",
        "public",
        "authorization-code",
        "--redirect-uris",
        &huge,
    ]);
    assert_eq!(code(&out), 2);
    assert_eq!(db.count("oauth2_provider_application"), 0, "{backend:?}");
});

#[test]
fn table_overrides_must_be_plain_identifiers() {
    let db = TestDb::migrated(Backend::Sqlite, "ident");
    for bad in [
        "x; DROP TABLE oauth2_provider_application",
        "a\"b",
        "a`b",
        "1abc",
        "",
        "schema.table",
        "é",
    ] {
        for flag in [
            "--application-table",
            "--user-table",
            "--access-token-table",
        ] {
            let out = db.run(&[flag, bad, "createapplication", "public", "password"]);
            assert_eq!(code(&out), 2, "{flag} {bad:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains("plain SQL identifier"),
                "{}",
                stderr(&out)
            );
        }
    }
    assert_eq!(db.count("oauth2_provider_application"), 0);
}

#[test]
fn garbage_secret_files_are_rejected() {
    let db = TestDb::migrated(Backend::Sqlite, "garbage");
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[u8], &str)] = &[
        (b"", "is empty"),
        (b"\n", "is empty"),
        (&[0xff, 0xfe, 0x00], "not valid UTF-8"),
        (b"two\nlines\n", "several lines"),
        (b"nul\0byte", "NUL"),
    ];
    for (content, expected) in cases {
        let path = dir.path().join("secret");
        std::fs::write(&path, content).unwrap();
        let out = db.run(&[
            "createapplication",
            "public",
            "password",
            "--client-secret-file",
            path.to_str().unwrap(),
        ]);
        assert_eq!(code(&out), 2, "{content:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{content:?}: {}",
            stderr(&out)
        );
    }
    let out = db.run(&[
        "createapplication",
        "public",
        "password",
        "--client-secret-file",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(
        code(&out),
        1,
        "a directory is an I/O error: {}",
        stderr(&out)
    );
    assert_eq!(db.count("oauth2_provider_application"), 0);
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-db.sqlite3");
    std::fs::write(
        &path,
        b"this is not sqlite, just text long enough to look like a header.....",
    )
    .unwrap();
    let out = oauthctl_command()
        .args([
            "--database-url",
            &format!("sqlite://{}", path.display()),
            "createapplication",
            "public",
            "password",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("not a database"), "{}", stderr(&out));
    assert_eq!(stderr(&out).trim().lines().count(), 1);
}
