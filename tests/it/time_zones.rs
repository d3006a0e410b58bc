//! Django's time-zone settings (`--use-tz`, `--time-zone`, `--database-time-zone`): the values
//! createapplication and apply store, and the rows cleartokens deletes, on every backend, with
//! rows a microsecond and a second either side of each cutoff in local time; New York's repeated
//! hour and spring-forward gap, and Kolkata's half-hour offset; and the combinations Django
//! refuses, which must exit 2 with nothing written.
//!
//! Rows are seeded as Django would have stored them under the same settings: naive wall-clock
//! text/`datetime(6)` on SQLite and MySQL; on PostgreSQL under `USE_TZ = False` a naive literal
//! the server resolves in the session zone (Django sets it to `TIME_ZONE`), so the seeding
//! connection sets that zone first.

use std::collections::BTreeSet;
use std::process::Output;

use crate::support::load::{AT, GRANT, RT};
use crate::support::{backend_test, check_password, code, stderr, Backend, TestDb};

const NY: &str = "America/New_York";
const KOLKATA: &str = "Asia/Kolkata";
const APP: &str = "oauth2_provider_application";

/// A row to seed: its `expires` (a grant's, or the access token of a live refresh token) as
/// a naive wall-clock text in Django's form, and whether DOT deletes it.
struct Row {
    expires: &'static str,
    deleted: bool,
}

const fn row(expires: &'static str, deleted: bool) -> Row {
    Row { expires, deleted }
}

/// A naive literal: text on SQLite and MySQL, `timestamp` on PostgreSQL (resolved in the
/// seeding session's zone, as Django's naive values are).
fn naive(backend: Backend, text: &str) -> String {
    match backend {
        Backend::Postgres => format!("'{text}'::timestamp"),
        _ => format!("'{text}'"),
    }
}

/// Seeds an application, a grant per `grants` row and, per `refresh` row, a live refresh token
/// on an access token expiring then. `pg_zone` is the PostgreSQL session zone for the literals.
/// Returns the grant ids and refresh token ids, in order.
fn seed(db: &TestDb, pg_zone: &str, grants: &[Row], refresh: &[Row]) -> (Vec<i64>, Vec<i64>) {
    let b = db.backend;
    let (f, t) = b.bools();
    let c = naive(b, "2026-01-01 00:00:00");
    let mut sql = Vec::new();
    if b == Backend::Postgres {
        sql.push(format!("SET TIME ZONE '{pg_zone}'"));
    }
    sql.push(format!(
        "INSERT INTO {APP} (id, client_id, redirect_uris, client_type, authorization_grant_type, client_secret, name, skip_authorization, created, updated, algorithm, post_logout_redirect_uris, hash_client_secret, allowed_origins, registration_source) \
         VALUES (1, 'app', '', 'confidential', 'client-credentials', 'x', 'App', {f}, {c}, {c}, '', '', {t}, '', 'manual')"
    ));
    let mut grant_ids = Vec::new();
    for (i, r) in grants.iter().enumerate() {
        let id = 100 + i as i64;
        sql.push(format!(
            "INSERT INTO {GRANT} (id, code, expires, redirect_uri, scope, application_id, user_id, created, updated, code_challenge, code_challenge_method, nonce, claims, resource) \
             VALUES ({id}, 'code{id}', {}, 'https://localhost/cb', 'read', 1, 1, {c}, {c}, '', '', '', '', '[]')",
            naive(b, r.expires)
        ));
        grant_ids.push(id);
    }
    let mut refresh_ids = Vec::new();
    for (i, r) in refresh.iter().enumerate() {
        let at = 200 + i as i64;
        let rt = 300 + i as i64;
        sql.push(format!(
            "INSERT INTO {AT} (id, token, expires, scope, created, updated, id_token_id, token_checksum, resource) \
             VALUES ({at}, 'at{at}', {}, 'read', {c}, {c}, NULL, '{at:064x}', '[]')",
            naive(b, r.expires)
        ));
        sql.push(format!(
            "INSERT INTO {RT} (id, token, access_token_id, application_id, user_id, created, updated, revoked, token_checksum, resource) \
             VALUES ({rt}, 'rt{rt}', {at}, 1, 1, {c}, {c}, NULL, '{rt:064x}', '[]')"
        ));
        refresh_ids.push(rt);
    }
    db.execute_many(&sql);
    (grant_ids, refresh_ids)
}

fn ids(db: &TestDb, table: &str) -> BTreeSet<i64> {
    db.rows(&format!("SELECT {} FROM {table}", db.backend.text("id")))
        .into_iter()
        .map(|r| r[0].as_deref().unwrap().parse().unwrap())
        .collect()
}

/// The ids of `rows` that DOT keeps.
fn kept(ids: &[i64], rows: &[Row]) -> BTreeSet<i64> {
    ids.iter()
        .zip(rows)
        .filter(|(_, r)| !r.deleted)
        .map(|(id, _)| *id)
        .collect()
}

fn cleartokens(db: &TestDb, now: &str, args: &[&str]) -> Output {
    let mut all = vec!["cleartokens"];
    all.extend_from_slice(args);
    db.oauthctl(&all).env("OAUTHCTL_NOW", now).output().unwrap()
}

/// Seeds, runs cleartokens with `args` at `now`, and checks which grants and refresh tokens are
/// left.
fn check_cleanup(
    db: &TestDb,
    pg_zone: &str,
    now: &str,
    args: &[&str],
    grants: &[Row],
    refresh: &[Row],
) {
    let (g, r) = seed(db, pg_zone, grants, refresh);
    let out = cleartokens(db, now, args);
    let what = format!("{:?} {args:?} at {now}", db.backend);
    assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
    assert_eq!(ids(db, GRANT), kept(&g, grants), "{what}: grants left");
    assert_eq!(
        ids(db, RT),
        kept(&r, refresh),
        "{what}: refresh tokens left"
    );
}

// ---------------------------------------------------------------------------------------------
// USE_TZ = False: naive local time in TIME_ZONE, wall-clock arithmetic

backend_test!(use_tz_false_compares_local_wall_clock_new_york, |backend| {
    let db = TestDb::migrated(backend, "tz_naive_ny");
    // 17:00Z on 2026-11-01 is 12:00 EST; a day earlier on the wall clock is 12:00 EDT on
    // 2026-10-31, 25 hours back: R = 86400 cuts there, not at 13:00 (the instant a day ago).
    check_cleanup(
        &db,
        NY,
        "2026-11-01T17:00:00Z",
        &[
            "--use-tz",
            "false",
            "--time-zone",
            NY,
            "--refresh-token-expire-seconds",
            "86400",
        ],
        &[
            row("2026-11-01 11:59:59", true),
            row("2026-11-01 11:59:59.999999", true),
            row("2026-11-01 12:00:00", false),
            row("2026-11-01 12:00:00.000001", false),
            row("2026-11-01 12:00:01", false),
            // Still valid for 4 hours: a UTC cutoff (17:00) would delete it.
            row("2026-11-01 16:00:00", false),
        ],
        &[
            row("2026-10-31 11:59:59", true),
            row("2026-10-31 12:00:00", true), // <= now - R
            row("2026-10-31 12:00:00.000001", false),
            row("2026-10-31 12:00:01", false),
            row("2026-10-31 12:30:00", false), // within the hour an instant cutoff would take
        ],
    );
});

backend_test!(use_tz_false_compares_local_wall_clock_kolkata, |backend| {
    let db = TestDb::migrated(backend, "tz_naive_in");
    // 20:00Z is 01:30 IST the next day.
    check_cleanup(
        &db,
        KOLKATA,
        "2026-11-26T20:00:00Z",
        &[
            "--use-tz",
            "false",
            "--time-zone",
            KOLKATA,
            "--refresh-token-expire-seconds",
            "3600",
        ],
        &[
            // Expired 5 hours ago: a UTC cutoff (20:00 wall) would keep it.
            row("2026-11-26 20:30:00", true),
            row("2026-11-27 01:29:59", true),
            row("2026-11-27 01:29:59.999999", true),
            row("2026-11-27 01:30:00", false),
            row("2026-11-27 01:30:00.000001", false),
            row("2026-11-27 01:30:01", false),
        ],
        &[
            row("2026-11-27 00:29:59", true),
            row("2026-11-27 00:30:00", true),
            row("2026-11-27 00:30:00.000001", false),
            row("2026-11-27 00:30:01", false),
        ],
    );
});

backend_test!(use_tz_false_inside_new_yorks_repeated_hour, |backend| {
    let db = TestDb::migrated(backend, "tz_naive_fold");
    // 05:30Z is 01:30 EDT, the first pass through 01:00-02:00 on 2026-11-01. Django's naive
    // "now" is 01:30, compared as text on SQLite and MySQL; PostgreSQL resolves it, and the
    // naive values Django stored, to standard time alike (the next test has rows stored as
    // instants of the first pass).
    check_cleanup(
        &db,
        NY,
        "2026-11-01T05:30:00Z",
        &["--use-tz", "false", "--time-zone", NY],
        &[
            row("2026-11-01 01:29:59", true),
            row("2026-11-01 01:29:59.999999", true),
            row("2026-11-01 01:30:00", false),
            row("2026-11-01 01:30:00.000001", false),
            row("2026-11-01 01:30:01", false),
        ],
        &[],
    );
});

backend_test!(
    use_tz_false_repeated_hour_on_postgres_resolves_to_standard_time,
    [Postgres],
    |backend| {
        let db = TestDb::migrated(backend, "tz_pg_fold");
        // Instants in timestamptz: Django's cutoff is the naive 01:30 resolved by the server to
        // 01:30 EST = 06:30Z, an hour after the true now (05:30Z = 01:30 EDT). So a grant that
        // expires at 06:00Z, half an hour in the future, is deleted as DOT deletes it; binding
        // the true instant would keep it.
        let at = |text: &str| format!("'{text}'::timestamptz");
        db.execute_many(&[format!(
            "INSERT INTO {APP} (id, client_id, redirect_uris, client_type, authorization_grant_type, client_secret, name, skip_authorization, created, updated, algorithm, post_logout_redirect_uris, hash_client_secret, allowed_origins, registration_source) \
             VALUES (1, 'app', '', 'confidential', 'client-credentials', 'x', 'App', false, now(), now(), '', '', true, '', 'manual')"
        )]);
        let grants = [
            ("2026-11-01T05:29:59Z", true),
            ("2026-11-01T06:00:00Z", true),
            ("2026-11-01T06:29:59.999999Z", true),
            ("2026-11-01T06:30:00Z", false),
            ("2026-11-01T06:30:00.000001Z", false),
        ];
        for (i, (expires, _)) in grants.iter().enumerate() {
            db.execute(&format!(
                "INSERT INTO {GRANT} (id, code, expires, redirect_uri, scope, application_id, user_id, created, updated, code_challenge, code_challenge_method, nonce, claims, resource) \
                 VALUES ({i}, 'c{i}', {}, 'https://localhost/cb', 'read', 1, 1, now(), now(), '', '', '', '', '[]')",
                at(expires)
            ));
        }
        let out = cleartokens(
            &db,
            "2026-11-01T05:30:00Z",
            &["--use-tz", "false", "--time-zone", NY],
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let expected: BTreeSet<i64> = grants
            .iter()
            .enumerate()
            .filter(|(_, (_, deleted))| !deleted)
            .map(|(i, _)| i as i64)
            .collect();
        assert_eq!(ids(&db, GRANT), expected);
    }
);

backend_test!(use_tz_false_cutoff_in_the_spring_forward_gap, |backend| {
    let db = TestDb::migrated(backend, "tz_naive_gap");
    // 07:30Z on 2026-03-08 is 03:30 EDT; now - 1 h on the wall clock is 02:30, which does not
    // exist in New York. SQLite and MySQL compare the text; PostgreSQL resolves 02:30 with the
    // offset before the gap (EST), to 07:30Z = 03:30 EDT, so an access token stored at 03:00
    // EDT is at or before the cutoff there but after it on the text backends.
    let pg = backend == Backend::Postgres;
    check_cleanup(
        &db,
        NY,
        "2026-03-08T07:30:00Z",
        &[
            "--use-tz",
            "false",
            "--time-zone",
            NY,
            "--refresh-token-expire-seconds",
            "3600",
        ],
        &[],
        &[
            // An instant cutoff (06:30Z = 01:30 EST) would keep these two.
            row("2026-03-08 01:30:01", true),
            row("2026-03-08 01:59:59", true),
            row("2026-03-08 03:00:00", pg),
            row("2026-03-08 03:29:59", pg),
            row("2026-03-08 03:30:01", false),
        ],
    );
});

// ---------------------------------------------------------------------------------------------
// USE_TZ = True with a per-database TIME_ZONE: naive values in that zone (SQLite, MySQL)

backend_test!(
    database_time_zone_stores_and_compares_wall_clock_in_that_zone,
    [Sqlite, MySql],
    |backend| {
        let db = TestDb::migrated(backend, "tz_dbzone");
        // 06:30Z on 2026-11-01 is 01:30 EST (the second pass); an hour earlier is 01:30 EDT:
        // both cutoffs are the same wall-clock text.
        check_cleanup(
            &db,
            "UTC",
            "2026-11-01T06:30:00Z",
            &[
                "--database-time-zone",
                NY,
                "--refresh-token-expire-seconds",
                "3600",
            ],
            &[
                row("2026-11-01 01:29:59", true),
                row("2026-11-01 01:29:59.999999", true),
                row("2026-11-01 01:30:00", false),
                row("2026-11-01 01:30:00.000001", false),
                row("2026-11-01 01:30:01", false),
                row("2026-11-01 05:00:00", false), // a UTC cutoff (06:30) would delete it
            ],
            &[
                row("2026-11-01 01:29:59", true),
                row("2026-11-01 01:30:00", true),
                row("2026-11-01 01:30:00.000001", false),
                row("2026-11-01 01:30:01", false),
            ],
        );
    }
);

backend_test!(
    database_time_zone_kolkata_via_environment,
    [Sqlite, MySql],
    |backend| {
        let db = TestDb::migrated(backend, "tz_dbzone_in");
        let grants = [
            row("2026-11-27 01:29:59", true),
            row("2026-11-27 01:29:59.999999", true),
            row("2026-11-27 01:30:00", false),
            row("2026-11-27 01:30:01", false),
        ];
        let (g, _) = seed(&db, "UTC", &grants, &[]);
        let out = db
            .oauthctl(&["cleartokens"])
            .env("OAUTHCTL_NOW", "2026-11-26T20:00:00Z")
            .env("DATABASE_TIME_ZONE", KOLKATA)
            .env("USE_TZ", "True")
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(ids(&db, GRANT), kept(&g, &grants));
    }
);

backend_test!(
    database_time_zone_on_postgres_changes_nothing,
    [Postgres],
    |backend| {
        // Django accepts a per-database TIME_ZONE on PostgreSQL with USE_TZ (4.2 and 5.2 have no
        // check against it): it names the session zone, and timestamptz values stay instants.
        let db = TestDb::migrated(backend, "tz_pg_dbzone");
        check_cleanup(
            &db,
            "UTC",
            "2026-11-26T20:00:00Z",
            &["--database-time-zone", KOLKATA],
            &[
                row("2026-11-26 19:59:59.999999", true),
                row("2026-11-26 20:00:00", false),
                row("2026-11-26 20:00:01", false),
            ],
            &[],
        );
    }
);

// ---------------------------------------------------------------------------------------------
// Timestamps written

/// `created` and `updated` of the one application, as text: the naive value on SQLite and
/// MySQL, the instant in UTC on PostgreSQL.
fn stored_times(db: &TestDb, client_id: &str) -> (String, String) {
    let expr = |c: &str| match db.backend {
        Backend::Sqlite => format!("CAST({c} AS TEXT)"),
        Backend::MySql => format!("DATE_FORMAT({c}, '%Y-%m-%d %H:%i:%s.%f')"),
        Backend::Postgres => {
            format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
        }
    };
    let rows = db.rows(&format!(
        "SELECT {}, {} FROM {APP} WHERE client_id = '{client_id}'",
        expr("created"),
        expr("updated")
    ));
    let row = &rows[0];
    (row[0].clone().unwrap(), row[1].clone().unwrap())
}

fn create(db: &TestDb, client_id: &str, now: &str, args: &[&str]) -> Output {
    let mut all = vec![
        "createapplication",
        "--client-id",
        client_id,
        "--hasher",
        "pbkdf2_sha256",
        "--pbkdf2-iterations",
        "100000",
        "confidential",
        "client-credentials",
    ];
    all.extend_from_slice(args);
    db.oauthctl(&all).env("OAUTHCTL_NOW", now).output().unwrap()
}

backend_test!(
    createapplication_writes_created_as_django_would,
    |backend| {
        let db = TestDb::migrated(backend, "tz_created");
        let now = "2026-11-01T05:30:00.25Z"; // 01:30:00.25 EDT, first pass of the repeated hour
        let cases: [(&str, &[&str], &str, &str); 3] = [
            // client id, settings, SQLite/MySQL text, PostgreSQL instant (UTC)
            (
                "naive-ny",
                &["--use-tz", "false", "--time-zone", NY],
                "2026-11-01 01:30:00.250000",
                // Django sends the naive 01:30:00.25; the server resolves it to EST.
                "2026-11-01 06:30:00.250000",
            ),
            (
                "aware-in",
                &["--database-time-zone", KOLKATA],
                "2026-11-01 11:00:00.250000",
                "2026-11-01 05:30:00.250000",
            ),
            (
                "default",
                &[],
                "2026-11-01 05:30:00.250000",
                "2026-11-01 05:30:00.250000",
            ),
        ];
        for (client_id, args, naive_text, pg_text) in cases {
            let out = create(&db, client_id, now, args);
            assert_eq!(code(&out), 0, "{backend:?} {client_id}: {}", stderr(&out));
            let expected = match backend {
                Backend::Postgres => pg_text,
                // SQLite keeps Django's str(): the fraction only when non-zero (it is here).
                _ => naive_text,
            };
            let (created, updated) = stored_times(&db, client_id);
            assert_eq!(created, expected, "{backend:?} {client_id}: created");
            assert_eq!(updated, expected, "{backend:?} {client_id}: updated");
        }
    }
);

backend_test!(
    apply_writes_created_and_updated_in_local_time,
    [Sqlite, MySql],
    |backend| {
        let db = TestDb::migrated(backend, "tz_apply");
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        std::io::Write::write_all(
            &mut file,
            b"[[applications]]\nclient_id = \"svc\"\nclient_type = \"confidential\"\n\
          authorization_grant_type = \"client-credentials\"\nhash_client_secret = false\n\
          client_secret_env = \"SVC_SECRET\"\n",
        )
        .unwrap();
        let path = file.path().to_str().unwrap().to_string();
        let out = db
            .oauthctl(&["apply", &path])
            .env("OAUTHCTL_NOW", "2026-11-26T20:00:00Z")
            .env("SVC_SECRET", "svc-secret")
            .env("USE_TZ", "false")
            .env("TIME_ZONE", KOLKATA)
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let expected = match backend {
            Backend::Sqlite => "2026-11-27 01:30:00",
            _ => "2026-11-27 01:30:00.000000",
        };
        assert_eq!(
            stored_times(&db, "svc"),
            (expected.to_string(), expected.to_string())
        );
    }
);

// ---------------------------------------------------------------------------------------------
// Combinations Django refuses: exit 2, one line naming the setting, nothing written

/// Flags, environment, and the option the message must name.
type Refused = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

backend_test!(refused_settings_exit_2_with_nothing_written, |backend| {
    let db = TestDb::migrated(backend, "tz_refused");
    let (g, _) = seed(&db, "UTC", &[row("2000-01-01 00:00:00", true)], &[]);
    let cases: [Refused; 4] = [
        (&["--time-zone", "Mars/Olympus_Mons"], &[], "--time-zone"),
        (&[], &[("TIME_ZONE", "america/new_york")], "--time-zone"),
        (
            &["--use-tz", "false", "--database-time-zone", KOLKATA],
            &[],
            "--database-time-zone",
        ),
        (&[], &[("USE_TZ", "sometimes")], "--use-tz"),
    ];
    for (args, env, names) in cases {
        for command in ["cleartokens", "createapplication"] {
            let mut all = vec![command];
            all.extend_from_slice(args);
            if command == "createapplication" {
                all.extend(["--client-id", "refused", "public", "implicit"]);
            }
            let mut cmd = db.oauthctl(&all);
            for (var, value) in env {
                cmd.env(var, value);
            }
            let out = cmd.output().unwrap();
            let err = stderr(&out);
            assert_eq!(code(&out), 2, "{backend:?} {all:?} {env:?}: {err}");
            assert_eq!(err.lines().count(), 1, "one line: {err}");
            assert!(err.contains(names), "{all:?}: {err}");
        }
    }
    assert_eq!(ids(&db, GRANT), g.into_iter().collect(), "nothing deleted");
    assert_eq!(db.count(APP), 1, "nothing created");
});

// ---------------------------------------------------------------------------------------------
// The PBKDF2 iteration count

backend_test!(pbkdf2_iterations_set_the_hash_cost, [Sqlite], |backend| {
    let db = TestDb::migrated(backend, "tz_pbkdf2");
    let out = db
        .oauthctl(&[
            "createapplication",
            "--client-id",
            "p",
            "--client-secret",
            "hunter2-secret",
            "--hasher",
            "pbkdf2_sha256",
            "confidential",
            "client-credentials",
        ])
        .env("OAUTHCTL_PBKDF2_ITERATIONS", "600000")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows = db.rows(&format!(
        "SELECT client_secret FROM {APP} WHERE client_id = 'p'"
    ));
    let hash = rows[0][0].clone().unwrap();
    assert!(hash.starts_with("pbkdf2_sha256$600000$"), "{hash}");
    assert!(check_password("hunter2-secret", &hash).unwrap());
    for bad in ["99999", "lots", "-5"] {
        let out = db
            .oauthctl(&[
                "createapplication",
                "--client-id",
                "q",
                "--hasher",
                "pbkdf2_sha256",
                "--pbkdf2-iterations",
                bad,
                "confidential",
                "client-credentials",
            ])
            .output()
            .unwrap();
        assert_eq!(code(&out), 2, "{bad}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("--pbkdf2-iterations must be"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(db.count(APP), 1, "nothing written by the refused runs");
});

backend_test!(
    listapplications_reads_stored_times_in_their_zone,
    |backend| {
        let db = TestDb::migrated(backend, "tz_list");
        let now = "2026-11-26T20:00:00.5Z";
        for settings in [
            &["--database-time-zone", KOLKATA][..],
            &["--use-tz", "false", "--time-zone", NY][..],
        ] {
            if backend == Backend::Postgres && settings[0] == "--database-time-zone" {
                continue; // the same instant either way; covered by the default below
            }
            let out = create(&db, "listed", now, settings);
            assert_eq!(code(&out), 0, "{}", stderr(&out));
            let mut args = settings.to_vec();
            args.extend(["listapplications", "--format", "json"]);
            let out = db.oauthctl(&args).output().unwrap();
            assert_eq!(code(&out), 0, "{}", stderr(&out));
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let app = &json["applications"][0];
            assert_eq!(
                app["created"], "2026-11-26T20:00:00.500000Z",
                "{settings:?}"
            );
            assert_eq!(
                app["updated"], "2026-11-26T20:00:00.500000Z",
                "{settings:?}"
            );
            db.execute(&format!("DELETE FROM {APP}"));
        }
    }
);
