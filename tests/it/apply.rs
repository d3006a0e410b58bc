//! `oauthctl apply` and `oauthctl listapplications` against real SQLite, PostgreSQL and MariaDB
//! databases: the plan printed, exit codes, and the rows written (or, on any error, not written).
//!
//! Most entries keep `hash_client_secret = false` or reference no secret so that a test does
//! not spend its time in PBKDF2; the rotation test hashes for real.

use std::io::Write;
use std::process::{Output, Stdio};

use crate::support::load::lit;
use crate::support::{backend_test, check_password, code, stderr, stdout, Backend, TestDb};

const APP: &str = "oauth2_provider_application";

fn write_manifest(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

/// `oauthctl apply MANIFEST EXTRA…` with the environment `env`.
fn apply(db: &TestDb, manifest: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let file = write_manifest(manifest);
    let path = file.path().to_str().unwrap().to_string();
    let mut args = vec!["apply", path.as_str()];
    args.extend_from_slice(extra);
    let mut cmd = db.oauthctl(&args);
    for (var, value) in env {
        cmd.env(var, value);
    }
    cmd.output().unwrap()
}

fn column(db: &TestDb, column: &str, client_id: &str) -> Option<String> {
    let cast = db.backend.text(column);
    let mut literal = client_id.replace('\'', "''");
    if db.backend == Backend::MySql {
        // MySQL reads a backslash in a string literal as an escape.
        literal = literal.replace('\\', "\\\\");
    }
    db.rows(&format!(
        "SELECT {cast} FROM {APP} WHERE client_id = '{literal}'"
    ))
    .into_iter()
    .next()
    .and_then(|row| row.into_iter().next().flatten())
}

/// Every application row, all columns as text, ordered: "nothing written" compares these.
fn snapshot(db: &TestDb) -> Vec<Vec<Option<String>>> {
    let columns = [
        "id",
        "client_id",
        "name",
        "client_type",
        "authorization_grant_type",
        "redirect_uris",
        "client_secret",
        "hash_client_secret",
        "user_id",
        "created",
        "updated",
    ];
    let exprs: Vec<String> = columns.iter().map(|c| db.backend.text(c)).collect();
    db.rows(&format!(
        "SELECT {} FROM {APP} ORDER BY id",
        exprs.join(", ")
    ))
}

const TWO_APPS: &str = r#"
[[applications]]
client_id = "ci"
name = "CI"
client_type = "confidential"
authorization_grant_type = "client-credentials"
hash_client_secret = false
client_secret_env = "CI_SECRET"

[[applications]]
client_id = "web"
name = "Web"
client_type = "public"
authorization_grant_type = "authorization-code"
redirect_uris = ["https://web.example/cb", "https://web.example/cb2"]
allowed_origins = ["https://web.example"]
hash_client_secret = false
client_secret_env = "WEB_SECRET"
"#;

const SECRETS: &[(&str, &str)] = &[("CI_SECRET", "ci-secret-1"), ("WEB_SECRET", "web-secret-1")];

backend_test!(creates_then_rerun_changes_nothing, |backend| {
    let db = TestDb::migrated(backend, "ap_create");
    let out = apply(&db, TWO_APPS, &[], SECRETS);
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "create ci\ncreate web\nApplied: 2 created, 0 updated, 0 unchanged, 0 deleted.\n"
    );
    assert_eq!(db.count(APP), 2);
    assert_eq!(
        column(&db, "client_secret", "ci").as_deref(),
        Some("ci-secret-1")
    );
    assert_eq!(
        column(&db, "redirect_uris", "web").as_deref(),
        Some("https://web.example/cb https://web.example/cb2")
    );
    assert_eq!(
        column(&db, "allowed_origins", "web").as_deref(),
        Some("https://web.example")
    );
    assert_eq!(column(&db, "created", "ci"), column(&db, "updated", "ci"));

    let before = snapshot(&db);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = apply(&db, TWO_APPS, &[], SECRETS);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(
        stdout(&again),
        "unchanged ci\nunchanged web\nNothing to do: 0 to create, 0 to update, 2 unchanged, 0 to delete.\n"
    );
    assert_eq!(
        snapshot(&db),
        before,
        "a re-run wrote something (updated moved?)"
    );
});

backend_test!(
    a_changed_redirect_uri_is_one_update_and_revalidated,
    |backend| {
        let db = TestDb::migrated(backend, "ap_update");
        assert_eq!(code(&apply(&db, TWO_APPS, &[], SECRETS)), 0);
        let created = column(&db, "created", "web");
        let updated = column(&db, "updated", "web");
        let ci_before = column(&db, "updated", "ci");
        std::thread::sleep(std::time::Duration::from_millis(20));

        let changed = TWO_APPS.replace("https://web.example/cb2", "https://web.example/new");
        let out = apply(&db, &changed, &[], SECRETS);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(
        stdout(&out),
        "unchanged ci\nupdate web\n  redirect_uris: [\"https://web.example/cb\",\"https://web.example/cb2\"] → [\"https://web.example/cb\",\"https://web.example/new\"]\n\
         Applied: 0 created, 1 updated, 1 unchanged, 0 deleted.\n"
    );
        assert_eq!(
            column(&db, "redirect_uris", "web").as_deref(),
            Some("https://web.example/cb https://web.example/new")
        );
        assert_eq!(
            column(&db, "created", "web"),
            created,
            "created must not move"
        );
        assert_ne!(
            column(&db, "updated", "web"),
            updated,
            "updated must move (auto_now)"
        );
        assert_eq!(column(&db, "updated", "ci"), ci_before);

        // DOT's validator runs on the new value: an invalid URI is refused, nothing written.
        let before = snapshot(&db);
        let invalid = TWO_APPS.replace("https://web.example/cb2", "ftp://web.example/cb");
        let out = apply(&db, &invalid, &[], SECRETS);
        assert_eq!(code(&out), 2, "{}", stdout(&out));
        let err = stderr(&out);
        assert!(
        err.contains("application 'web': Please correct the following errors:\n - redirect_uris: ['redirect uri URI Validation error. invalid_scheme: ftp://web.example/cb']"),
        "{err}"
    );
        assert_eq!(snapshot(&db), before);
    }
);

backend_test!(
    a_new_secret_rotates_and_the_old_one_stops_verifying,
    |backend| {
        let db = TestDb::migrated(backend, "ap_rotate");
        let manifest = r#"
[[applications]]
client_id = "svc"
client_type = "confidential"
authorization_grant_type = "client-credentials"
client_secret_env = "SVC_SECRET"
hasher = "pbkdf2_sha256"
"#;
        let out = apply(&db, manifest, &[], &[("SVC_SECRET", "first-secret")]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let first = column(&db, "client_secret", "svc").unwrap();
        assert!(check_password("first-secret", &first).unwrap(), "{first}");

        let same = apply(&db, manifest, &[], &[("SVC_SECRET", "first-secret")]);
        assert!(
            stdout(&same).starts_with("unchanged svc\n"),
            "{}",
            stdout(&same)
        );
        assert_eq!(column(&db, "client_secret", "svc").unwrap(), first);

        let out = apply(&db, manifest, &[], &[("SVC_SECRET", "second-secret")]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let text = stdout(&out);
        assert_eq!(
        text,
        "update svc\n  secret: rotated\nApplied: 0 created, 1 updated, 0 unchanged, 0 deleted.\n"
    );
        let second = column(&db, "client_secret", "svc").unwrap();
        assert!(check_password("second-secret", &second).unwrap());
        assert!(!check_password("first-secret", &second).unwrap());
        assert!(!text.contains("second-secret") && !text.contains(&second));
    }
);

backend_test!(
    an_invalid_entry_among_valid_ones_writes_nothing,
    |backend| {
        let db = TestDb::migrated(backend, "ap_invalid");
        let manifest = format!(
        "{TWO_APPS}\n[[applications]]\nclient_id = \"bad\"\nclient_type = \"bogus\"\n\
         authorization_grant_type = \"implicit\"\nhash_client_secret = false\nclient_secret_env = \"CI_SECRET\"\n"
    );
        let out = apply(&db, &manifest, &[], SECRETS);
        assert_eq!(code(&out), 2, "{}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with(
                "error: 1 of 3 applications in the manifest are invalid; nothing was changed\n"
            ),
            "{err}"
        );
        assert!(
            err.contains(
                "application 'bad': Please correct the following errors:\n \
             - client_type: [\"Value 'bogus' is not a valid choice.\"]\n \
             - redirect_uris: ['redirect_uris cannot be empty with grant_type implicit']"
            ),
            "{err}"
        );
        assert_eq!(stdout(&out), "");
        assert_eq!(db.count(APP), 0);
    }
);

backend_test!(bad_manifests_are_refused_naming_the_problem, |backend| {
    let db = TestDb::migrated(backend, "ap_badfile");
    let cases: &[(&str, &str)] = &[
        (
            "[[applications]]\nclient_id = \"a\"\nredirect_uri = []\n",
            "application 'a': unknown field `redirect_uri`",
        ),
        (
            "[[applications]]\nclient_id = \"a\"\nclient_secret = \"hunter2\"\n",
            "application 'a': client_secret is not accepted in a manifest",
        ),
        (
            "[[applications]]\nclient_id = \"a\"\nclient_secret_env = \"APPLY_TEST_UNSET\"\n",
            "client_secret_env: environment variable APPLY_TEST_UNSET is not set",
        ),
        (
            "[[applications]]\nclient_id = \"a\"\nclient_secret_file = \"/nonexistent/apply/secret\"\n",
            "client_secret_file: reading the client secret file /nonexistent/apply/secret",
        ),
    ];
    for (manifest, expected) in cases {
        let out = apply(&db, manifest, &[], &[]);
        assert_eq!(code(&out), 2, "{manifest}");
        let err = stderr(&out);
        assert!(err.contains(expected), "{manifest}\n{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
    let out = db.run(&["apply", "/nonexistent/manifest.toml"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("cannot read the manifest /nonexistent/manifest.toml"));
    assert_eq!(db.count(APP), 0);
});

backend_test!(
    metacharacters_and_long_values_are_stored_verbatim,
    |backend| {
        let db = TestDb::migrated(backend, "ap_meta");
        let client_id = format!("x'); DROP TABLE {APP}; --\"`\\{}", "é".repeat(200));
        let name = format!(
            "O'Brien \"; DELETE FROM {APP}; -- `x` \\ % _ {}",
            "n".repeat(190)
        );
        let uri = "https://a.example/cb?q='1'&r=\"2\";--";
        let secret = "s'\"; DROP TABLE x; --\\%_";
        let manifest = serde_json::json!({"applications": [{
        "client_id": client_id, "name": name, "client_type": "confidential",
        "authorization_grant_type": "authorization-code", "redirect_uris": [uri],
        "hash_client_secret": false, "client_secret_env": "META_SECRET"}]})
        .to_string();
        let out = apply(&db, &manifest, &[], &[("META_SECRET", secret)]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(
            column(&db, "name", &client_id).as_deref(),
            Some(name.as_str())
        );
        assert_eq!(
            column(&db, "redirect_uris", &client_id).as_deref(),
            Some(uri)
        );
        assert_eq!(
            column(&db, "client_secret", &client_id).as_deref(),
            Some(secret)
        );
        let again = apply(&db, &manifest, &[], &[("META_SECRET", secret)]);
        assert!(
            stdout(&again).starts_with("unchanged "),
            "{}",
            stdout(&again)
        );
    }
);

backend_test!(check_and_dry_run_write_nothing, |backend| {
    let db = TestDb::migrated(backend, "ap_check");
    let out = apply(&db, TWO_APPS, &["--check"], SECRETS);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "create ci\ncreate web\nNothing written (plan only): 2 to create, 0 to update, 0 unchanged, 0 to delete.\n"
    );
    let out = apply(&db, TWO_APPS, &["--dry-run", "--format", "json"], SECRETS);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["applied"], false);
    assert_eq!(report["changes_pending"], true);
    assert_eq!(report["summary"]["create"], 2);
    assert_eq!(db.count(APP), 0);

    assert_eq!(code(&apply(&db, TWO_APPS, &[], SECRETS)), 0);
    let out = apply(&db, TWO_APPS, &["--check"], SECRETS);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let drifted = [("CI_SECRET", "ci-secret-2"), ("WEB_SECRET", "web-secret-1")];
    let out = apply(&db, TWO_APPS, &["--check", "--format", "json"], &drifted);
    assert_eq!(code(&out), 5);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["applications"][0]["secret"], "rotated");
    assert!(!stdout(&out).contains("ci-secret"));
    assert_eq!(
        column(&db, "client_secret", "ci").as_deref(),
        Some("ci-secret-1")
    );
});

backend_test!(generated_secrets_are_shown_once, |backend| {
    let db = TestDb::migrated(backend, "ap_generated");
    let manifest = "[[applications]]\nclient_id = \"gen\"\nclient_type = \"public\"\n\
                    authorization_grant_type = \"password\"\nhash_client_secret = false\n";
    let out = apply(&db, manifest, &["--format", "json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let secret = report["applications"][0]["client_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 128);
    assert_eq!(column(&db, "client_secret", "gen").as_deref(), Some(secret));
    let again = apply(&db, manifest, &[], &[]);
    assert_eq!(stdout(&again).lines().next(), Some("unchanged gen"));
    assert!(!stdout(&again).contains("client_secret"));
    assert_eq!(column(&db, "client_secret", "gen").as_deref(), Some(secret));
});

/// Inserts, for application `app_id`, an ID token, an access token bound to it, a refresh token
/// and a grant; ids from `base`.
fn tokens_for(db: &TestDb, app_id: i64, base: i64) -> Vec<String> {
    let c = lit(db.backend, chrono::Utc::now());
    let (idt, at, rt, grant) = (base, base + 1, base + 2, base + 3);
    vec![
        format!("INSERT INTO oauth2_provider_idtoken (id, jti, expires, scope, created, updated, application_id) VALUES ({idt}, '{idt:032x}', {c}, 'openid', {c}, {c}, {app_id})"),
        format!("INSERT INTO oauth2_provider_accesstoken (id, token, expires, scope, created, updated, id_token_id, token_checksum, resource, application_id) VALUES ({at}, 'at{at}', {c}, 'read', {c}, {c}, {idt}, '{at:064x}', '[]', {app_id})"),
        format!("INSERT INTO oauth2_provider_refreshtoken (id, token, access_token_id, application_id, user_id, created, updated, token_checksum, resource) VALUES ({rt}, 'rt{rt}', {at}, {app_id}, 1, {c}, {c}, '{rt:064x}', '[]')"),
        format!("INSERT INTO oauth2_provider_grant (id, code, expires, redirect_uri, scope, application_id, user_id, created, updated, code_challenge, code_challenge_method, nonce, claims, resource) VALUES ({grant}, 'code{grant}', {c}, 'https://web.example/cb', 'read', {app_id}, 1, {c}, {c}, '', '', '', '', '[]')"),
    ]
}

fn app_id(db: &TestDb, client_id: &str) -> i64 {
    column(db, "id", client_id).unwrap().parse().unwrap()
}

backend_test!(
    prune_deletes_what_is_not_listed_with_its_tokens,
    |backend| {
        let db = TestDb::migrated(backend, "ap_prune");
        assert_eq!(code(&apply(&db, TWO_APPS, &[], SECRETS)), 0);
        let (ci, web) = (app_id(&db, "ci"), app_id(&db, "web"));
        let mut sql = tokens_for(&db, ci, 100);
        sql.extend(tokens_for(&db, web, 200));
        // A token of `ci` issued by refreshing one of `web`'s: DOT's SET_NULL keeps it, unlinked.
        sql.push(
            "UPDATE oauth2_provider_accesstoken SET source_refresh_token_id = 202 WHERE id = 101"
                .into(),
        );
        db.execute_many(&sql);
        let only_ci = TWO_APPS
            .split("\n[[applications]]\nclient_id = \"web\"")
            .next()
            .unwrap();

        // Without --prune nothing is deleted.
        let out = apply(&db, only_ci, &[], SECRETS);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(db.count(APP), 2);

        let out = apply(&db, only_ci, &["--prune"], SECRETS);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(
        stdout(&out),
        "unchanged ci\ndelete web (with 1 access tokens, 1 refresh tokens, 1 ID tokens, 1 grants)\n\
         Applied: 0 created, 0 updated, 1 unchanged, 1 deleted.\n"
    );
        assert_eq!(db.count(APP), 1);
        for table in [
            "oauth2_provider_accesstoken",
            "oauth2_provider_refreshtoken",
            "oauth2_provider_idtoken",
            "oauth2_provider_grant",
        ] {
            let left = db.scalar(&format!(
                "SELECT COUNT(*) FROM {table} WHERE application_id = {web}"
            ));
            assert_eq!(left, 0, "{table}");
            let kept = db.scalar(&format!(
                "SELECT COUNT(*) FROM {table} WHERE application_id = {ci}"
            ));
            assert_eq!(kept, 1, "{table}");
        }
        let source = db.rows(&format!(
            "SELECT {} FROM oauth2_provider_accesstoken WHERE id = 101",
            db.backend.text("source_refresh_token_id")
        ));
        assert_eq!(source, vec![vec![None]]);
    }
);

backend_test!(concurrent_applies_end_as_the_manifest, |backend| {
    let db = TestDb::migrated(backend, "ap_race");
    let file = write_manifest(TWO_APPS);
    let path = file.path().to_str().unwrap().to_string();
    let children: Vec<_> = (0..4)
        .map(|_| {
            let mut cmd = db.oauthctl(&["apply", &path]);
            for (var, value) in SECRETS {
                cmd.env(var, value);
            }
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let creators = outputs
        .iter()
        .filter(|o| stdout(o).contains("create ci"))
        .count();
    for out in &outputs {
        assert_eq!(code(out), 0, "{}", stderr(out));
    }
    assert_eq!(
        creators, 1,
        "exactly one run creates; the others find it done"
    );
    assert_eq!(db.count(APP), 2);
});

backend_test!(
    listapplications_shows_everything_but_the_secret,
    |backend| {
        let db = TestDb::migrated(backend, "ap_list");
        assert_eq!(code(&apply(&db, TWO_APPS, &[], SECRETS)), 0);
        let text = db.run(&["listapplications"]);
        assert_eq!(code(&text), 0, "{}", stderr(&text));
        let lines: Vec<String> = stdout(&text).lines().map(str::to_string).collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with(
        "web\tWeb\tpublic\tauthorization-code\thttps://web.example/cb https://web.example/cb2\t-\t"
    ));
        let json = db.run(&["listapplications", "--format", "json"]);
        let listed: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
        assert_eq!(listed["applications"][0]["client_id"], "ci");
        assert_eq!(
            listed["applications"][1]["redirect_uris"],
            serde_json::json!(["https://web.example/cb", "https://web.example/cb2"])
        );
        assert!(listed["applications"][0]["created"]
            .as_str()
            .unwrap()
            .ends_with('Z'));
        for out in [&text, &json] {
            let shown = stdout(out);
            assert!(
                !shown.contains("ci-secret-1") && !shown.contains("web-secret-1"),
                "{shown}"
            );
            assert!(!shown.contains("\"client_secret\""), "{shown}");
        }
    }
);

/// Django's user table, as far as `user = "name"` needs it.
fn create_users(db: &TestDb) {
    let id = match db.backend {
        Backend::Sqlite => "id integer PRIMARY KEY",
        Backend::Postgres => "id serial PRIMARY KEY",
        Backend::MySql => "id integer AUTO_INCREMENT PRIMARY KEY",
    };
    db.execute_many(&[
        format!("CREATE TABLE auth_user ({id}, username varchar(150) NOT NULL UNIQUE)"),
        "INSERT INTO auth_user (id, username) VALUES (7, 'admin')".into(),
    ]);
}

backend_test!(the_example_manifest_applies, |backend| {
    let db = TestDb::migrated(backend, "ap_example");
    create_users(&db);
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("reporting-client-secret");
    std::fs::write(&secret_file, "reporting-secret\n").unwrap();
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/applications.toml"),
    )
    .unwrap()
    .replace(
        "/run/secrets/reporting-client-secret",
        secret_file.to_str().unwrap(),
    );
    let env = [
        ("CI_DEPLOYER_SECRET", "deployer-secret"),
        ("LEGACY_HS256_SECRET", "legacy-signing-key"),
        ("OIDC_RSA_PRIVATE_KEY", "configured"),
    ];
    let out = apply(&db, &example, &["--hasher", "pbkdf2_sha256"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(db.count(APP), 4);
    assert_eq!(column(&db, "user_id", "reporting").as_deref(), Some("7"));
    let reporting = column(&db, "client_secret", "reporting").unwrap();
    assert!(check_password("reporting-secret", &reporting).unwrap());
    assert_eq!(
        column(&db, "client_secret", "legacy-hs256").as_deref(),
        Some("legacy-signing-key")
    );
    assert!(stdout(&out).contains("create web-frontend\n  client_secret: "));
    let again = apply(&db, &example, &["--check"], &env);
    assert_eq!(code(&again), 0, "{}", stdout(&again));

    // The JSON example reads the same: its two entries are unchanged.
    let json = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/applications.json"),
    )
    .unwrap();
    let out = apply(&db, &json, &["--check"], &env);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).starts_with("unchanged ci-deployer\nunchanged web-frontend\n"));
});

/// Hashing a secret (pbkdf2, a million iterations) takes longer than the network timeout, and
/// the server ends a session idle in a transaction after that timeout: the hashing must happen
/// before the apply transaction, or the server would end the session mid-apply.
const SLOW_HASH: &str = r#"
[[applications]]
client_id = "slow-hash"
name = "slow hash"
client_type = "confidential"
authorization_grant_type = "client-credentials"
hasher = "pbkdf2_sha256"
client_secret_env = "SLOW_SECRET"
"#;

backend_test!(
    hashing_longer_than_the_network_timeout_still_applies,
    [Postgres, MySql],
    |backend| {
        let db = TestDb::migrated(backend, "ap_slowhash");
        let started = std::time::Instant::now();
        let out = apply(
            &db,
            SLOW_HASH,
            &[],
            &[
                ("SLOW_SECRET", "slow-secret-1"),
                ("OAUTHCTL_NETWORK_TIMEOUT", "1"),
            ],
        );
        let took = started.elapsed();
        assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
        assert!(
            took > std::time::Duration::from_secs(1),
            "{backend:?}: the hash took {took:?}, not longer than the 1 s network timeout: the test proves nothing"
        );
        assert_eq!(db.count(APP), 1, "{backend:?}");
        let stored = column(&db, "client_secret", "slow-hash").unwrap();
        assert!(
            stored.starts_with("pbkdf2_sha256$1000000$"),
            "{backend:?}: {stored}"
        );
    }
);
