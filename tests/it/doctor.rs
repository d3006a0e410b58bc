//! `oauthctl doctor`: what it finds on a fresh database, after `oauthctl indexes create`, with a
//! table missing and while a run holds the lock; its JSON; its dry-run counts against
//! cleartokens' own; and that it never writes (a SQLite file's bytes, a missing file not
//! created, no rows changed on a server).

use serde_json::Value;

use crate::support::load::*;
use crate::support::{backend_test, code, now, stderr, stdout, Backend, TestDb, NOW};

/// Exit codes documented in README "Exit codes".
const INDEXES_MISSING: i32 = 6;
const SCHEMA_INCOMPLETE: i32 = 7;

fn doctor_json(db: &TestDb, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["doctor", "--format", "json"];
    args.extend_from_slice(extra);
    let out = db
        .oauthctl(&args)
        .env("OAUTHCTL_NOW", NOW)
        .output()
        .unwrap();
    let json = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("doctor's JSON does not parse ({e}): {}", stdout(&out)));
    (code(&out), json)
}

fn table<'a>(json: &'a Value, model: &str) -> &'a Value {
    json["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["model"] == model)
        .unwrap_or_else(|| panic!("no {model} in {json}"))
}

fn create_indexes(db: &TestDb) {
    let out = db.run(&["indexes", "create"]);
    assert_eq!(code(&out), 0, "indexes create: {}", stderr(&out));
}

backend_test!(fresh_database_has_tables_and_misses_indexes, |backend| {
    let db = TestDb::migrated(backend, "docfresh");
    let (exit, json) = doctor_json(&db, &[]);
    assert_eq!(exit, INDEXES_MISSING, "{backend:?}: {json}");
    assert_eq!(json["status"], "indexes_missing");
    assert_eq!(json["exit_code"], INDEXES_MISSING);
    assert_eq!(json["backend"], backend.script_name());
    assert!(!json["server_version"].as_str().unwrap().is_empty());
    for model in [
        "application",
        "access_token",
        "refresh_token",
        "id_token",
        "grant",
    ] {
        let t = table(&json, model);
        assert_eq!(t["found"], true, "{model}");
        assert_eq!(t["missing_cleanup_columns"], serde_json::json!([]));
        assert_eq!(t["missing_columns"], serde_json::json!([]));
        assert_eq!(t["estimated_rows"]["rows"], 0, "{model}: {t}");
    }
    let indexes = &json["indexes"];
    assert!(!indexes["missing"].as_array().unwrap().is_empty());
    assert_eq!(indexes["create_command"], "oauthctl indexes create");
    assert_eq!(json["cleanup_lock"]["held"], false);
    assert!(json["deletable"].is_null());

    let text = db.run(&["doctor"]);
    assert_eq!(code(&text), INDEXES_MISSING);
    assert!(
        stdout(&text).contains("oauthctl indexes create"),
        "{}",
        stdout(&text)
    );
});

backend_test!(with_the_indexes_nothing_needs_attention, |backend| {
    let db = TestDb::migrated(backend, "docidx");
    create_indexes(&db);
    let (exit, json) = doctor_json(&db, &[]);
    assert_eq!(exit, 0, "{backend:?}: {json}");
    assert_eq!(json["status"], "ok");
    assert_eq!(json["indexes"]["missing"], serde_json::json!([]));
    assert!(!json["indexes"]["present"].as_array().unwrap().is_empty());
    assert!(json["indexes"]["create_command"].is_null());
});

backend_test!(a_missing_table_is_reported, |backend| {
    let db = TestDb::migrated(backend, "docmissing");
    db.execute(&format!("DROP TABLE {GRANT}"));
    let (exit, json) = doctor_json(&db, &["--deletable"]);
    assert_eq!(exit, SCHEMA_INCOMPLETE, "{backend:?}: {json}");
    assert_eq!(json["status"], "schema_incomplete");
    let grant = table(&json, "grant");
    assert_eq!(grant["found"], false);
    assert!(grant["estimated_rows"].is_null());
    assert_eq!(table(&json, "access_token")["found"], true);
    // No dry run on a schema the cleanup cannot work on.
    assert!(json["deletable"].is_null());

    let text = db.run(&["doctor"]);
    assert_eq!(code(&text), SCHEMA_INCOMPLETE);
    assert!(
        stdout(&text).contains(&format!("MISSING  {GRANT}")),
        "{}",
        stdout(&text)
    );
});

backend_test!(
    a_missing_cleanup_column_is_reported,
    [Sqlite, Postgres],
    |backend| {
        // MariaDB refuses to drop a column under a foreign key without dropping the key first; the
        // finding is backend-independent, so two backends show it.
        let db = TestDb::migrated(backend, "doccolumn");
        db.execute(&format!("ALTER TABLE {IDT} DROP COLUMN expires"));
        let (exit, json) = doctor_json(&db, &[]);
        assert_eq!(exit, SCHEMA_INCOMPLETE, "{backend:?}: {json}");
        assert_eq!(
            table(&json, "id_token")["missing_cleanup_columns"],
            serde_json::json!(["expires"])
        );
    }
);

backend_test!(a_held_run_lock_is_reported, |backend| {
    let db = TestDb::migrated(backend, "doclock");
    create_indexes(&db);
    let held = db.hold_cleanup_lock();
    let (exit, json) = doctor_json(&db, &[]);
    // Reported, not a failure: a run in progress is the normal state of a busy database.
    assert_eq!(exit, 0, "{backend:?}: {json}");
    assert_eq!(json["cleanup_lock"]["held"], true, "{json}");
    let lock = json["cleanup_lock"]["lock"].as_str().unwrap();
    assert!(lock.contains(&db.cleanup_lock_name()), "{lock}");
    if backend != Backend::Sqlite {
        assert!(!json["cleanup_lock"]["holder"].is_null(), "{json}");
    }
    let text = db.run(&["doctor"]);
    assert!(
        stdout(&text).contains("a cleartokens run is active"),
        "{}",
        stdout(&text)
    );

    // The probe disturbed nothing: the holder still has the lock, so a run is refused.
    let run = db.run(&["cleartokens"]);
    assert_eq!(code(&run), 3, "{}", stderr(&run));
    drop(held);
    // The server frees a session's lock as the session ends, a moment after the client closed.
    let freed = (0..50).any(|_| {
        let (_, json) = doctor_json(&db, &[]);
        let free = json["cleanup_lock"]["held"] == false;
        if !free {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        free
    });
    assert!(freed, "{backend:?}: doctor still sees the released lock");
    let run = db.run(&["cleartokens"]);
    assert_eq!(code(&run), 0, "{}", stderr(&run));
});

backend_test!(deletable_counts_are_the_dry_runs, |backend| {
    let db = TestDb::migrated(backend, "docdeletable");
    seed(&db, 300, now());
    let before = snapshot(&db);
    let (_, json) = doctor_json(
        &db,
        &[
            "--deletable",
            "--refresh-token-expire-seconds",
            EXPIRE_SECONDS,
        ],
    );
    let dry = db
        .oauthctl(&[
            "cleartokens",
            "--dry-run",
            "--format",
            "json",
            "--refresh-token-expire-seconds",
            EXPIRE_SECONDS,
        ])
        .env("OAUTHCTL_NOW", NOW)
        .output()
        .unwrap();
    let dry: Value = serde_json::from_str(&stdout(&dry)).unwrap();
    let deletable = &json["deletable"];
    assert_eq!(deletable["dry_run"], true);
    // The counts and statuses; each run's own timings and read counters differ.
    let counts = |summary: &Value| -> Vec<(Value, Value, Value)> {
        summary["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].clone(),
                    s["status"].clone(),
                    s["would_delete"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(counts(deletable), counts(&dry), "{backend:?}");
    assert_eq!(counts(deletable).len(), 6);
    assert!(
        deletable["would_delete_total"].as_u64().unwrap() > 0,
        "{deletable}"
    );
    assert!(snapshot(&db) == before, "{backend:?}: doctor changed rows");
});

#[test]
fn sqlite_file_is_never_written() {
    let db = TestDb::migrated(Backend::Sqlite, "docreadonly");
    seed(&db, 200, now());
    let path = db.url.trim_start_matches("sqlite://").to_string();
    let dir = std::path::Path::new(&path).parent().unwrap().to_path_buf();
    let listing = || {
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let (bytes, files) = (std::fs::read(&path).unwrap(), listing());
    for args in [
        vec!["doctor"],
        vec!["doctor", "--format", "json", "--deletable"],
    ] {
        let out = db.run(&args);
        assert!(
            matches!(code(&out), 0 | INDEXES_MISSING),
            "{}",
            stderr(&out)
        );
    }
    assert!(
        std::fs::read(&path).unwrap() == bytes,
        "the file's bytes changed"
    );
    assert_eq!(listing(), files, "files appeared beside the database");
}

#[test]
fn a_missing_sqlite_file_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.sqlite3");
    let out = crate::support::oauthctl_command()
        .args([
            "doctor",
            "--database-url",
            &format!("sqlite://{}", path.display()),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

backend_test!(an_invalid_index_counts_as_missing, [Postgres], |backend| {
    // What an interrupted CREATE INDEX CONCURRENTLY leaves: present in the catalogue, unusable.
    let db = TestDb::migrated(backend, "docinvalid");
    create_indexes(&db);
    db.execute(
        "UPDATE pg_index SET indisvalid = false \
         WHERE indexrelid = 'oauthctl_grant_expires'::regclass",
    );
    let (exit, json) = doctor_json(&db, &[]);
    assert_eq!(exit, INDEXES_MISSING, "{json}");
    let missing = json["indexes"]["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{json}");
    assert_eq!(missing[0]["name"], "oauthctl_grant_expires");
    assert_eq!(missing[0]["status"], "invalid");
});

backend_test!(reports_the_detected_dot_release, |backend| {
    let db = TestDb::migrated(backend, "docrelease");
    let (_, json) = doctor_json(&db, &[]);
    assert_eq!(json["dot_release"]["rules"], "3.4.1", "{json}");
    assert_eq!(json["dot_release"]["source"], "no django_migrations table");
    assert!(json["dot_release"]["migration"].is_null());

    // A DOT 3.3 database, as Django's ledger records it.
    db.execute(
        "CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app VARCHAR(255) NOT NULL, \
         name VARCHAR(255) NOT NULL, applied VARCHAR(40))",
    );
    db.execute(
        "INSERT INTO django_migrations (id, app, name, applied) VALUES \
         (1, 'oauth2_provider', '0013_alter_application_authorization_grant_type_device', ''), \
         (2, 'oauth2_provider', '0014_alter_accesstoken_options', '')",
    );
    let (_, json) = doctor_json(&db, &[]);
    let release = &json["dot_release"];
    assert_eq!(release["rules"], "2.3", "{json}");
    assert_eq!(release["release"], "3.3");
    assert_eq!(release["migration"], "0014_alter_accesstoken_options");
    let text = stdout(&db.run(&["doctor"]));
    assert!(
        text.contains("DOT release: DOT 3.3 cleanup rules"),
        "{text}"
    );
});

backend_test!(
    reports_the_time_zone_settings,
    [Sqlite, Postgres],
    |backend| {
        let db = TestDb::migrated(backend, "doctz");
        let (_, json) = doctor_json(&db, &[]);
        let tz = &json["time_zone"];
        assert_eq!(tz["use_tz"], true, "{json}");
        assert_eq!(tz["time_zone"], "UTC");
        assert!(tz["database_time_zone"].is_null());
        let out = db
            .oauthctl(&["doctor", "--format", "json"])
            .env("USE_TZ", "False")
            .env("TIME_ZONE", "America/New_York")
            .output()
            .unwrap();
        let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
        let tz = &json["time_zone"];
        assert_eq!(tz["use_tz"], false, "{json}");
        assert_eq!(tz["storage_zone"], "America/New_York");
        assert_eq!(tz["postgres_session_zone"], "America/New_York");
        // Django's refusal is doctor's too: exit 2 before the database is opened.
        let refused = db
            .oauthctl(&[
                "doctor",
                "--use-tz",
                "false",
                "--database-time-zone",
                "Asia/Kolkata",
            ])
            .output()
            .unwrap();
        assert_eq!(code(&refused), 2, "{}", stderr(&refused));
    }
);
