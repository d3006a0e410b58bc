//! Databases shaped like each DOT release: `oauthctl migrate`, then Django's `django_migrations`
//! ledger with that release's `oauth2_provider` migrations, and (for `createapplication`) the
//! application columns the release lacks dropped. On them: which rows `cleartokens` keeps under
//! each release's rules (rows on and around every cutoff, the expectation written per row from
//! the rules, docs/compatibility.md#the-steps-per-release), the detection and `--dot-version`,
//! their warnings and JSON, and what `createapplication` accepts and writes.
//!
//! The token tables keep 3.4.1's columns: the cleanup reads only `id`, `expires`, `revoked` and
//! the links between tokens, which every release since 2.0 has.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};

use crate::support::load::{lit, AT, GRANT, IDT, RT};
use crate::support::{backend_test, code, now, stderr, stdout, Backend, TestDb, NOW};

/// DOT 3.4.1's migrations, in order; a release's ledger is a prefix of it.
const MIGRATIONS: [&str; 22] = [
    "0001_initial",
    "0002_auto_20190406_1805",
    "0003_auto_20201211_1314",
    "0004_auto_20200902_2022",
    "0005_auto_20211222_2352",
    "0006_alter_application_client_secret",
    "0007_application_post_logout_redirect_uris",
    "0008_alter_accesstoken_token",
    "0009_add_hash_client_secret",
    "0010_application_allowed_origins",
    "0011_refreshtoken_token_family",
    "0012_add_token_checksum",
    "0013_alter_application_authorization_grant_type_device",
    "0014_alter_help_text",
    "0015_refreshtoken_token_checksum",
    "0016_alter_devicegrant_scope",
    "0017_application_dcr_created",
    "0018_resource_indicators",
    "0019_application_registration_source",
    "0020_cimd_application_fields",
    "0021_translatable_field_labels",
    "0022_refreshtoken_token_family_index",
];

/// The release lines whose rules differ, as a database of each is made here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Release {
    /// Ledger up to 0006 (2.0-2.2).
    V2_0,
    /// Ledger up to 0014 (3.3, the last release with 2.3's rules).
    V3_3,
    /// Ledger up to 0020.
    V3_4_0,
    /// Ledger up to 0022, or no ledger at all (an `oauthctl migrate` database).
    V3_4_1 { ledger: bool },
}

impl Release {
    fn migrations(self) -> Option<usize> {
        match self {
            Release::V2_0 => Some(6),
            Release::V3_3 => Some(14),
            Release::V3_4_0 => Some(20),
            Release::V3_4_1 { ledger } => ledger.then_some(22),
        }
    }
}

/// Creates Django's ledger with the first `n` DOT migrations (and other apps' rows, which must
/// not count), or with `extra` names on top.
fn write_ledger(db: &TestDb, n: usize, extra: &[&str]) {
    let applied = match db.backend {
        Backend::Sqlite => "datetime",
        Backend::Postgres => "timestamp with time zone",
        Backend::MySql => "datetime(6)",
    };
    let mut sql = vec![format!(
        "CREATE TABLE django_migrations (id integer NOT NULL PRIMARY KEY, app varchar(255) NOT NULL, name varchar(255) NOT NULL, applied {applied} NOT NULL)"
    )];
    let at = lit(db.backend, now() - TimeDelta::days(400));
    let names = MIGRATIONS[..n].iter().chain(extra);
    let mut id = 0;
    for name in names {
        id += 1;
        sql.push(format!(
            "INSERT INTO django_migrations (id, app, name, applied) VALUES ({id}, 'oauth2_provider', '{name}', {at})"
        ));
    }
    for (app, name) in [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0099_later"),
    ] {
        id += 1;
        sql.push(format!(
            "INSERT INTO django_migrations (id, app, name, applied) VALUES ({id}, '{app}', '{name}', {at})"
        ));
    }
    db.execute_many(&sql);
}

/// A database shaped like `release` for the cleanup (token tables as migrated).
fn shaped(backend: Backend, tag: &str, release: Release) -> TestDb {
    let db = TestDb::migrated(backend, tag);
    if let Some(n) = release.migrations() {
        write_ledger(&db, n, &[]);
    }
    db
}

// ---------------------------------------------------------------------------------------------
// cleartokens: rows on and around each cutoff

const R: i64 = 3600;

/// The rows, by name (`rt1` …), with their ids. What each is for:
/// - rt1 revoked at now-R-1µs, rt2 at now-R exactly, rt19 at now-30 s, rt3 at now-10 s, rt4 at
///   now; none has an access token (DOT's revoke() deletes it);
/// - rt5: live, no access token (an orphan);
/// - rt6/rt7/rt8: live on access tokens expiring at now-R-1µs / now-R / now-R+1µs;
/// - rt9: revoked at now-10 s on access token at9, expired at now-R-1 s (taken by the expired
///   step only where it has no `revoked IS NULL` filter);
/// - rt10: revoked at now-10 s on a valid access token;
/// - at11/at12: no refresh token, expiring now-1µs / now; at13 likewise at now-1µs, with ID token
///   idt13 (expired an hour ago); at16 valid, with expired ID token idt16;
/// - idt14/idt15: no access token, expiring now-1µs / now;
/// - grant17/grant18: expiring now-1µs / now.
struct Rows;

impl Rows {
    const RT: [(&'static str, i64); 11] = [
        ("rt1", 301),
        ("rt2", 302),
        ("rt3", 303),
        ("rt4", 304),
        ("rt5", 305),
        ("rt6", 306),
        ("rt7", 307),
        ("rt8", 308),
        ("rt9", 309),
        ("rt10", 310),
        ("rt19", 319),
    ];
    const AT: [(&'static str, i64); 9] = [
        ("at6", 206),
        ("at7", 207),
        ("at8", 208),
        ("at9", 209),
        ("at10", 210),
        ("at11", 211),
        ("at12", 212),
        ("at13", 213),
        ("at16", 216),
    ];
    const IDT: [(&'static str, i64); 4] = [
        ("idt13", 113),
        ("idt14", 114),
        ("idt15", 115),
        ("idt16", 116),
    ];
    const GRANT: [(&'static str, i64); 2] = [("grant17", 417), ("grant18", 418)];

    fn seed(db: &TestDb) {
        let b = db.backend;
        let now = now();
        let us = TimeDelta::microseconds(1);
        let cut = now - TimeDelta::seconds(R);
        let t = |at: DateTime<Utc>| lit(b, at);
        let c = t(now - TimeDelta::days(1));
        let (f, tr) = b.bools();
        let mut sql = vec![format!(
            "INSERT INTO oauth2_provider_application (id, client_id, redirect_uris, client_type, authorization_grant_type, client_secret, name, skip_authorization, created, updated, algorithm, post_logout_redirect_uris, hash_client_secret, allowed_origins, registration_source) \
             VALUES (1, 'app', 'https://example.com', 'confidential', 'authorization-code', 'secret', 'app', {f}, {c}, {c}, '', '', {tr}, '', 'manual')"
        )];
        let idt = |id: i64, expires| {
            format!(
                "INSERT INTO {IDT} (id, jti, expires, scope, created, updated, application_id) VALUES ({id}, '{id:032x}', {}, 'openid', {c}, {c}, 1)",
                t(expires)
            )
        };
        sql.push(idt(113, now - TimeDelta::hours(1)));
        sql.push(idt(114, now - us));
        sql.push(idt(115, now));
        sql.push(idt(116, now - TimeDelta::days(1)));
        let at = |id: i64, expires, id_token: &str| {
            format!(
                "INSERT INTO {AT} (id, token, expires, scope, created, updated, id_token_id, token_checksum, resource) VALUES ({id}, 'at{id}', {}, 'read', {c}, {c}, {id_token}, '{id:064x}', '[]')",
                t(expires)
            )
        };
        let future = now + TimeDelta::days(1);
        sql.push(at(206, cut - us, "NULL"));
        sql.push(at(207, cut, "NULL"));
        sql.push(at(208, cut + us, "NULL"));
        sql.push(at(209, cut - TimeDelta::seconds(1), "NULL"));
        sql.push(at(210, future, "NULL"));
        sql.push(at(211, now - us, "NULL"));
        sql.push(at(212, now, "NULL"));
        sql.push(at(213, now - us, "113"));
        sql.push(at(216, future, "116"));
        let rt = |id: i64, access_token: &str, revoked: Option<DateTime<Utc>>| {
            format!(
                "INSERT INTO {RT} (id, token, access_token_id, application_id, user_id, created, updated, revoked, token_checksum, resource) VALUES ({id}, 'rt{id}', {access_token}, 1, 1, {c}, {c}, {}, '{id:064x}', '[]')",
                revoked.map(t).unwrap_or_else(|| "NULL".into())
            )
        };
        let secs = TimeDelta::seconds;
        sql.push(rt(301, "NULL", Some(cut - us)));
        sql.push(rt(302, "NULL", Some(cut)));
        sql.push(rt(303, "NULL", Some(now - secs(10))));
        sql.push(rt(304, "NULL", Some(now)));
        sql.push(rt(305, "NULL", None));
        sql.push(rt(306, "206", None));
        sql.push(rt(307, "207", None));
        sql.push(rt(308, "208", None));
        sql.push(rt(309, "209", Some(now - secs(10))));
        sql.push(rt(310, "210", Some(now - secs(10))));
        sql.push(rt(319, "NULL", Some(now - secs(30))));
        for (id, expires) in [(417, now - us), (418, now)] {
            sql.push(format!(
                "INSERT INTO {GRANT} (id, code, expires, redirect_uri, scope, application_id, user_id, created, updated, code_challenge, code_challenge_method, nonce, claims, resource) \
                 VALUES ({id}, 'code{id}', {}, 'https://example.com', 'read', 1, 1, {c}, {c}, '', '', '', '', '[]')",
                t(expires)
            ));
        }
        db.execute_many(&sql);
    }

    /// The names of the rows still in the database.
    fn remaining(db: &TestDb) -> BTreeSet<&'static str> {
        let mut left = BTreeSet::new();
        let tables: [(&str, &[(&'static str, i64)]); 4] = [
            (RT, &Rows::RT),
            (AT, &Rows::AT),
            (IDT, &Rows::IDT),
            (GRANT, &Rows::GRANT),
        ];
        for (table, rows) in tables {
            let ids: BTreeSet<i64> = db
                .rows(&format!("SELECT {} FROM {table}", db.backend.text("id")))
                .into_iter()
                .map(|r| r[0].as_deref().unwrap().parse().unwrap())
                .collect();
            for (name, id) in rows {
                if ids.contains(id) {
                    left.insert(*name);
                }
            }
        }
        left
    }

    fn all() -> BTreeSet<&'static str> {
        Rows::RT
            .iter()
            .chain(&Rows::AT)
            .chain(&Rows::IDT)
            .chain(&Rows::GRANT)
            .map(|(name, _)| *name)
            .collect()
    }
}

/// The settings of a scenario.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// REFRESH_TOKEN_EXPIRE_SECONDS = 3600.
    Expiry,
    /// Nothing set.
    NoExpiry,
    /// R and REFRESH_TOKEN_REUSE_PROTECTION.
    ReuseProtection,
    /// R and a 20 s grace period.
    Grace,
}

impl Scenario {
    fn args(self) -> Vec<&'static str> {
        match self {
            Scenario::Expiry => vec!["--refresh-token-expire-seconds", "3600"],
            Scenario::NoExpiry => vec![],
            Scenario::ReuseProtection => {
                vec![
                    "--refresh-token-expire-seconds",
                    "3600",
                    "--reuse-protection",
                ]
            }
            Scenario::Grace => vec![
                "--refresh-token-expire-seconds",
                "3600",
                "--refresh-token-grace-period-seconds",
                "20",
            ],
        }
    }

    /// The rows each release's clear_expired() deletes, worked out from its rules (module docs
    /// of `Rows` for what each row is).
    fn deleted(self, release: Release) -> Vec<&'static str> {
        use Release::*;
        use Scenario::*;
        let v2 = matches!(release, V2_0 | V3_3);
        let id_tokens: &[&str] = if release == V2_0 {
            &[]
        } else {
            &["idt13", "idt14"]
        };
        let mut rows: Vec<&str> = match (self, release) {
            // Before 3.4.0 grace and reuse protection change nothing.
            (Expiry | ReuseProtection | Grace, _) if v2 => {
                vec!["rt1", "rt6", "rt9", "at6", "at9", "at11", "at13", "grant17"]
            }
            (NoExpiry, _) if v2 => vec!["at11", "at13", "grant17"],
            (Expiry, V3_4_0) => vec![
                "rt1", "rt2", "rt3", "rt4", "rt19", "rt6", "rt9", "rt10", "at6", "at9", "at11",
                "at13", "grant17",
            ],
            (Expiry, _) => vec![
                "rt1", "rt2", "rt3", "rt4", "rt19", "rt5", "rt6", "rt7", "rt9", "rt10", "at6",
                "at7", "at9", "at11", "at13", "grant17",
            ],
            (NoExpiry, V3_4_0) => vec![
                "rt1", "rt2", "rt3", "rt4", "rt19", "rt9", "rt10", "at9", "at11", "at13", "grant17",
            ],
            (NoExpiry, _) => vec![
                "rt1", "rt2", "rt3", "rt4", "rt19", "rt5", "rt9", "rt10", "at9", "at11", "at13",
                "grant17",
            ],
            // Revoked at or before now-R; the expired step takes rt9 (revoked) in 3.4.0 only.
            (ReuseProtection, V3_4_0) => {
                vec![
                    "rt1", "rt2", "rt6", "rt9", "at6", "at9", "at11", "at13", "grant17",
                ]
            }
            (ReuseProtection, _) => vec![
                "rt1", "rt2", "rt5", "rt6", "rt7", "at6", "at7", "at11", "at13", "grant17",
            ],
            // Revoked at or before now-20 s adds rt19.
            (Grace, V3_4_0) => vec![
                "rt1", "rt2", "rt19", "rt6", "rt9", "at6", "at9", "at11", "at13", "grant17",
            ],
            (Grace, _) => vec![
                "rt1", "rt2", "rt19", "rt5", "rt6", "rt7", "at6", "at7", "at11", "at13", "grant17",
            ],
        };
        rows.extend(id_tokens);
        rows
    }
}

/// `oauthctl ARGS` with "now" frozen at [`NOW`].
fn at_now(db: &TestDb, args: &[&str]) -> std::process::Output {
    db.oauthctl(args).env("OAUTHCTL_NOW", NOW).output().unwrap()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

/// Each release on its own database: a dry run counts what the run then deletes, and the
/// remaining rows are those the release keeps.
fn run_scenario(backend: Backend, scenario: Scenario) {
    let releases = [
        Release::V2_0,
        Release::V3_3,
        Release::V3_4_0,
        Release::V3_4_1 {
            ledger: matches!(scenario, Scenario::Expiry | Scenario::ReuseProtection),
        },
    ];
    for release in releases {
        let what = format!("{backend:?} {scenario:?} {release:?}");
        let db = shaped(backend, "rel", release);
        Rows::seed(&db);
        let mut args = vec!["cleartokens", "--format", "json", "--batch-size", "2"];
        args.extend(scenario.args());
        let mut dry_args = args.clone();
        dry_args.push("--dry-run");
        let dry = at_now(&db, &dry_args);
        assert_eq!(code(&dry), 0, "{what}: {}", stderr(&dry));
        assert_eq!(
            Rows::remaining(&db),
            Rows::all(),
            "{what}: the dry run deleted"
        );
        let out = at_now(&db, &args);
        assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
        let expected_deleted: BTreeSet<&str> = scenario.deleted(release).into_iter().collect();
        let expected: BTreeSet<&str> = Rows::all().difference(&expected_deleted).copied().collect();
        assert_eq!(Rows::remaining(&db), expected, "{what}");
        let (dry, real) = (json(&dry), json(&out));
        assert_eq!(
            real["deleted_total"],
            expected_deleted.len() as u64,
            "{what}"
        );
        for (d, r) in dry["steps"]
            .as_array()
            .unwrap()
            .iter()
            .zip(real["steps"].as_array().unwrap())
        {
            assert_eq!(d["status"], r["status"], "{what}");
            if r["status"] == "completed" {
                assert_eq!(d["would_delete"], r["deleted"], "{what}: {}", r["name"]);
            }
        }
        let rules = match release {
            Release::V2_0 => "2.0",
            Release::V3_3 => "2.3",
            Release::V3_4_0 => "3.4.0",
            Release::V3_4_1 { .. } => "3.4.1",
        };
        assert_eq!(real["dot_rules"]["rules"], rules, "{what}");
        // The six step names stay; those the release lacks are not run.
        let status = |name: &str| {
            real["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == name)
                .unwrap()["status"]
                .clone()
        };
        assert_eq!(real["steps"].as_array().unwrap().len(), 6, "{what}");
        let orphans = if rules == "3.4.1" {
            "completed"
        } else {
            "not_in_release"
        };
        assert_eq!(status("orphaned_refresh_tokens"), orphans, "{what}");
        let id_tokens = if rules == "2.0" {
            "not_in_release"
        } else {
            "completed"
        };
        assert_eq!(status("expired_id_tokens"), id_tokens, "{what}");
    }
}

backend_test!(rows_kept_with_expiry, |backend| {
    run_scenario(backend, Scenario::Expiry);
});

backend_test!(rows_kept_without_expiry, |backend| {
    run_scenario(backend, Scenario::NoExpiry);
});

backend_test!(rows_kept_with_reuse_protection, |backend| {
    run_scenario(backend, Scenario::ReuseProtection);
});

backend_test!(rows_kept_with_grace_period, |backend| {
    run_scenario(backend, Scenario::Grace);
});

#[test]
fn detection_is_named_in_json_and_text() {
    let db = shaped(Backend::Sqlite, "detect", Release::V3_3);
    let out = at_now(&db, &["cleartokens", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        json(&out)["dot_rules"],
        serde_json::json!({"rules": "2.3", "release": "3.3", "source": "django_migrations: 0014_alter_help_text"})
    );
    // 2.3's cleartokens prints no warning about the unset expiry (3.4.1's command does).
    assert_eq!(stderr(&out), "");
    let text = at_now(&db, &["cleartokens"]);
    assert_eq!(code(&text), 0, "{}", stderr(&text));
    assert_eq!(
        stderr(&text),
        "DOT 3.3 cleanup rules (2.3's; django_migrations: 0014_alter_help_text)\n"
    );
    // 2.3's own lines: one for both refresh-token steps, none for orphans.
    assert_eq!(
        stdout(&text),
        "refresh_expire_at is None. No refresh tokens deleted.\n0 Expired access tokens deleted\n0 Expired ID tokens deleted\n0 Expired grant tokens deleted\n"
    );
    let dry = at_now(&db, &["cleartokens", "--dry-run"]);
    assert!(
        stdout(&dry)
            .lines()
            .next()
            .unwrap()
            .ends_with("; DOT 3.3 cleanup rules (2.3's; django_migrations: 0014_alter_help_text)"),
        "{}",
        stdout(&dry)
    );
    let metrics = tempfile::NamedTempFile::new().unwrap();
    let path = metrics.path().to_str().unwrap();
    let out = at_now(&db, &["cleartokens", "--metrics-file", path]);
    assert_eq!(code(&out), 0);
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains("oauthctl_cleartokens_dot_rules{rules=\"2.3\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("oauthctl_cleartokens_dot_rules{rules=\"3.4.1\"} 0\n"),
        "{text}"
    );
}

#[test]
fn an_oauthctl_database_uses_3_4_1_silently() {
    let db = shaped(Backend::Sqlite, "none", Release::V3_4_1 { ledger: false });
    let out = db.run(&[
        "cleartokens",
        "--format",
        "json",
        "--refresh-token-expire-seconds",
        "60",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(
        json(&out)["dot_rules"],
        serde_json::json!({"rules": "3.4.1", "release": "3.4.1", "source": "no django_migrations table"})
    );
}

#[test]
fn an_explicit_version_wins_and_warns_once_when_it_disagrees() {
    let db = shaped(Backend::Sqlite, "flag", Release::V3_3);
    Rows::seed(&db);
    let mut args = vec!["cleartokens", "--format", "json", "--dot-version", "3.4.1"];
    args.extend(Scenario::Expiry.args());
    let out = at_now(&db, &args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    let warnings: Vec<&str> = err.lines().collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("warning: --dot-version 3.4.1 disagrees with the database (django_migrations: 0014_alter_help_text, DOT 3.3"),
        "{}",
        warnings[0]
    );
    let deleted: BTreeSet<&str> = Scenario::Expiry
        .deleted(Release::V3_4_1 { ledger: true })
        .into_iter()
        .collect();
    let expected: BTreeSet<&str> = Rows::all().difference(&deleted).copied().collect();
    assert_eq!(Rows::remaining(&db), expected);
    let r = json(&out);
    assert_eq!(r["dot_rules"]["rules"], "3.4.1");
    assert_eq!(r["dot_rules"]["source"], "--dot-version");
    assert_eq!(
        r["dot_rules"]["detected"],
        "3.3 (django_migrations: 0014_alter_help_text)"
    );

    // The variable, on a database without the ledger: nothing to disagree with.
    let plain = shaped(Backend::Sqlite, "env", Release::V3_4_1 { ledger: false });
    Rows::seed(&plain);
    let mut env_args = vec!["cleartokens", "--format", "json"];
    env_args.extend(Scenario::Expiry.args());
    let out = plain
        .oauthctl(&env_args)
        .env("OAUTHCTL_NOW", NOW)
        .env("OAUTHCTL_DOT_VERSION", "2.0")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(json(&out)["dot_rules"]["source"], "OAUTHCTL_DOT_VERSION");
    let deleted: BTreeSet<&str> = Scenario::Expiry
        .deleted(Release::V2_0)
        .into_iter()
        .collect();
    let expected: BTreeSet<&str> = Rows::all().difference(&deleted).copied().collect();
    assert_eq!(Rows::remaining(&plain), expected);
}

#[test]
fn a_newer_migration_uses_3_4_1_with_a_warning() {
    let db = TestDb::migrated(Backend::Sqlite, "newer");
    write_ledger(&db, 22, &["0023_from_the_future"]);
    let out = db.run(&[
        "cleartokens",
        "--format",
        "json",
        "--refresh-token-expire-seconds",
        "60",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "warning: django_migrations has oauth2_provider migration 0023_from_the_future, newer than DOT 3.4.1's; using 3.4.1's cleanup rules\n"
    );
    let r = json(&out);
    assert_eq!(r["dot_rules"]["rules"], "3.4.1");
    assert_eq!(r["dot_rules"]["release"], "newer than 3.4.1");
}

#[test]
fn settings_a_release_ignores_get_one_warning_each() {
    let db = shaped(Backend::Sqlite, "ignored", Release::V3_3);
    let out = db.run(&[
        "cleartokens",
        "--format",
        "json",
        "--refresh-token-expire-seconds",
        "60",
        "--refresh-token-grace-period-seconds",
        "5",
        "--reuse-protection",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "warning: REFRESH_TOKEN_GRACE_PERIOD_SECONDS is ignored: DOT 2.3-3.3's cleartokens"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("warning: REFRESH_TOKEN_REUSE_PROTECTION is ignored"),
        "{}",
        lines[1]
    );
    let newer = shaped(Backend::Sqlite, "read", Release::V3_4_0);
    let out = newer.run(&[
        "cleartokens",
        "--format",
        "json",
        "--refresh-token-expire-seconds",
        "60",
        "--refresh-token-grace-period-seconds",
        "5",
    ]);
    assert_eq!(stderr(&out), "", "3.4.0 reads the grace period");
}

#[test]
fn a_bad_dot_version_is_exit_2_before_anything_runs() {
    let db = shaped(Backend::Sqlite, "bad", Release::V3_4_1 { ledger: false });
    Rows::seed(&db);
    for bad in ["3.4", "9.9.9", "latest"] {
        let out = at_now(&db, &["cleartokens", "--dot-version", bad]);
        assert_eq!(code(&out), 2, "{bad}");
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
        assert!(stderr(&out).contains("--dot-version must be auto, 2.0, 2.3, 3.4.0 or 3.4.1"));
        assert_eq!(stdout(&out), "");
    }
    assert_eq!(Rows::remaining(&db), Rows::all());
}

// ---------------------------------------------------------------------------------------------
// createapplication on each release's application table

/// The application columns each release lacks (3.4.1's table as `oauthctl migrate` makes it).
fn missing_columns(release: Release) -> &'static [&'static str] {
    match release {
        Release::V2_0 => &[
            "post_logout_redirect_uris",
            "hash_client_secret",
            "allowed_origins",
            "registration_source",
            "cimd_expires_at",
        ],
        Release::V3_3 => &["registration_source", "cimd_expires_at"],
        _ => &[],
    }
}

fn app_shaped(backend: Backend, tag: &str, release: Release) -> TestDb {
    let db = shaped(backend, tag, release);
    for column in missing_columns(release) {
        db.execute(&format!(
            "ALTER TABLE oauth2_provider_application DROP COLUMN {column}"
        ));
    }
    db
}

fn columns_of_application(db: &TestDb) -> BTreeSet<String> {
    let sql = match db.backend {
        Backend::Sqlite => "SELECT name FROM pragma_table_info('oauth2_provider_application')".to_string(),
        Backend::Postgres => "SELECT column_name::text FROM information_schema.columns WHERE table_name = 'oauth2_provider_application' AND table_schema = current_schema()".to_string(),
        Backend::MySql => "SELECT CAST(column_name AS CHAR) FROM information_schema.columns WHERE table_name = 'oauth2_provider_application' AND table_schema = DATABASE()".to_string(),
    };
    db.rows(&sql)
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect()
}

backend_test!(createapplication_writes_what_each_release_has, |backend| {
    for release in [Release::V2_0, Release::V3_3, Release::V3_4_0] {
        let what = format!("{backend:?} {release:?}");
        let db = app_shaped(backend, "app", release);
        let columns = columns_of_application(&db);
        for missing in missing_columns(release) {
            assert!(!columns.contains(*missing), "{what}: {missing}");
        }
        let out = db.run(&[
            "createapplication",
            "confidential",
            "client-credentials",
            "--client-id",
            "svc",
            "--hasher",
            "pbkdf2_sha256",
            "--name",
            "svc",
        ]);
        assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
        let secret = db
            .rows("SELECT client_secret FROM oauth2_provider_application WHERE client_id = 'svc'");
        assert!(
            secret[0][0]
                .as_deref()
                .unwrap()
                .starts_with("pbkdf2_sha256$"),
            "{what}: DOT hashes on every release"
        );
        // What only newer releases have, on a release that lacks it: exit 2, nothing written.
        let refused: &[(&[&str], &str)] = match release {
            Release::V2_0 => &[
                (&["--no-hash-client-secret"], "--no-hash-client-secret needs DOT 2.4 or later; this database is DOT 2.0-2.2 (django_migrations: 0006_alter_application_client_secret)"),
                (&["--post-logout-redirect-uris", "https://example.com/out"], "--post-logout-redirect-uris needs DOT 2.3 or later; this database is DOT 2.0-2.2"),
                (&["--allow-uri-wildcards", "true"], "ALLOW_URI_WILDCARDS (--allow-uri-wildcards) needs DOT 3.1 or later"),
            ],
            _ => &[],
        };
        for (extra, message) in refused {
            let mut args = vec![
                "createapplication",
                "confidential",
                "client-credentials",
                "--client-id",
                "x2",
            ];
            args.extend(*extra);
            let out = at_now(&db, &args);
            assert_eq!(code(&out), 2, "{what} {extra:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains(message),
                "{what} {extra:?}: {}",
                stderr(&out)
            );
            assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
        }
        // The release's own validation: no device-code grant before 3.2, client ids of at most
        // 100 characters before 3.4.0.
        let device = db.run(&[
            "createapplication",
            "public",
            "urn:ietf:params:oauth:grant-type:device_code",
            "--client-id",
            "dev",
        ]);
        let long_id = "a".repeat(101);
        let long = db.run(&[
            "createapplication",
            "public",
            "password",
            "--client-id",
            &long_id,
        ]);
        match release {
            Release::V2_0 => {
                assert_eq!(code(&device), 2, "{what}: {}", stderr(&device));
                assert!(
                    stderr(&device).contains("is not a valid choice"),
                    "{}",
                    stderr(&device)
                );
            }
            _ => assert_eq!(code(&device), 0, "{what}: {}", stderr(&device)),
        }
        match release {
            Release::V3_4_0 => assert_eq!(code(&long), 0, "{what}: {}", stderr(&long)),
            _ => {
                assert_eq!(code(&long), 2, "{what}: {}", stderr(&long));
                assert!(
                    stderr(&long).contains("at most 100 characters"),
                    "{}",
                    stderr(&long)
                );
            }
        }
        // clean(): before 3.4.1 only its first problem, as a non-field error; HS256's
        // conditions on the secret from 3.4.0.
        let bad = db.run(&[
            "createapplication",
            "public",
            "authorization-code",
            "--algorithm",
            "HS256",
        ]);
        assert_eq!(code(&bad), 2, "{what}: {}", stderr(&bad));
        assert!(
            stderr(&bad).contains(
                " - __all__: ['redirect_uris cannot be empty with grant_type authorization-code']"
            ),
            "{what}: {}",
            stderr(&bad)
        );
        assert!(!stderr(&bad).contains("HS256"), "{what}: {}", stderr(&bad));
        let hs256 = db.run(&[
            "createapplication",
            "confidential",
            "authorization-code",
            "--client-id",
            "hs",
            "--redirect-uris",
            "https://example.com/cb",
            "--algorithm",
            "HS256",
            "--hasher",
            "pbkdf2_sha256",
        ]);
        match release {
            Release::V3_4_0 => {
                assert_eq!(code(&hs256), 2, "{what}: {}", stderr(&hs256));
                assert!(
                    stderr(&hs256)
                        .contains("__all__: ['You cannot use HS256 with a hashed client secret"),
                    "{}",
                    stderr(&hs256)
                );
            }
            _ => assert_eq!(code(&hs256), 0, "{what}: DOT hashed it: {}", stderr(&hs256)),
        }
        // Newer fields where the release has them.
        if release != Release::V2_0 {
            let out = db.run(&[
                "createapplication",
                "confidential",
                "authorization-code",
                "--client-id",
                "web",
                "--redirect-uris",
                "https://example.com/cb",
                "--post-logout-redirect-uris",
                "https://example.com/out",
                "--no-hash-client-secret",
                "--client-secret",
                "plain",
            ]);
            assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
            let row = db.rows(&format!(
                "SELECT post_logout_redirect_uris, client_secret, {} FROM oauth2_provider_application WHERE client_id = 'web'",
                backend.text("hash_client_secret")
            ));
            assert_eq!(
                row[0][0].as_deref(),
                Some("https://example.com/out"),
                "{what}"
            );
            assert_eq!(row[0][1].as_deref(), Some("plain"), "{what}");
            assert!(
                matches!(row[0][2].as_deref(), Some("0" | "false")),
                "{what}: {row:?}"
            );
        }
        let rows = db.scalar("SELECT COUNT(*) FROM oauth2_provider_application");
        let expected = match release {
            Release::V2_0 => 2,
            Release::V3_3 => 4,
            _ => 4,
        };
        assert_eq!(
            rows, expected,
            "{what}: only the accepted applications were written"
        );
    }
});

backend_test!(apply_refuses_fields_the_release_lacks, |backend| {
    let db = app_shaped(backend, "apply", Release::V2_0);
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("apps.toml");
    std::fs::write(
        &manifest,
        "[[applications]]\nclient_id = \"spa\"\nclient_type = \"public\"\nauthorization_grant_type = \"authorization-code\"\nredirect_uris = [\"https://example.com/cb\"]\nallowed_origins = [\"https://example.com\"]\n",
    )
    .unwrap();
    let out = db.run(&["apply", manifest.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{backend:?}: {}", stderr(&out));
    assert!(
        stderr(&out).contains("needs DOT 2.4 or later; this database is DOT 2.0-2.2"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM oauth2_provider_application"),
        0
    );
});
