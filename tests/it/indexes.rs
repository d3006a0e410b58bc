//! `oauthctl indexes show|create|drop` on real databases: idempotent builds, Django's own
//! indexes untouched, `--print-sql` without a connection (and what it prints builds the same
//! indexes), an INVALID PostgreSQL index rebuilt, bad table options writing nothing; and
//! `cleartokens --explain`: with the indexes present, on tables big enough (and analyzed) for the
//! planner's choice to mean something, each step's candidate search reads its oauthctl_ index
//! instead of the whole table.

use chrono::TimeDelta;

use crate::support::load::{lit, seed, AT, GRANT, IDT, RT};
use crate::support::{backend_test, code, now, stderr, stdout, Backend, TestDb, NOW};

/// The names oauthctl defines on each backend (MySQL's one refresh-token index serves steps 1
/// and 2).
fn our_names(backend: Backend) -> Vec<&'static str> {
    let mut names = vec!["oauthctl_refreshtoken_revoked"];
    if backend != Backend::MySql {
        names.push("oauthctl_refreshtoken_orphan");
    }
    names.extend([
        "oauthctl_accesstoken_expires",
        "oauthctl_idtoken_expires",
        "oauthctl_grant_expires",
    ]);
    names
}

/// Every index of the database as `table.index`, sorted.
fn all_indexes(db: &TestDb) -> Vec<String> {
    let sql = match db.backend {
        Backend::Postgres => {
            "SELECT tablename || '.' || indexname FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1"
        }
        Backend::MySql => {
            "SELECT DISTINCT CONCAT(table_name, '.', index_name) FROM information_schema.statistics WHERE table_schema = DATABASE() ORDER BY 1"
        }
        Backend::Sqlite => {
            "SELECT tbl_name || '.' || name FROM sqlite_master WHERE type = 'index' ORDER BY 1"
        }
    };
    db.rows(sql)
        .into_iter()
        .map(|row| row[0].clone().unwrap())
        .collect()
}

fn ours(indexes: &[String]) -> Vec<String> {
    indexes
        .iter()
        .filter(|name| name.contains(".oauthctl_"))
        .cloned()
        .collect()
}

/// `show`'s text lines as (name, status).
fn shown(db: &TestDb) -> Vec<(String, String)> {
    let out = db.run(&["indexes", "show"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 4, "{line}");
            (fields[0].to_string(), fields[3].to_string())
        })
        .collect()
}

/// `create` or `drop`: each line's first word, with the index name.
fn changed(db: &TestDb, action: &str) -> Vec<(String, String)> {
    let out = db.run(&["indexes", action]);
    assert_eq!(code(&out), 0, "{action}: {}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields[0].to_string(), fields[1].to_string())
        })
        .collect()
}

fn all(names: &[&str], word: &str) -> Vec<(String, String)> {
    names
        .iter()
        .map(|name| (word.to_string(), name.to_string()))
        .collect()
}

fn statuses(names: &[&str], word: &str) -> Vec<(String, String)> {
    names
        .iter()
        .map(|name| (name.to_string(), word.to_string()))
        .collect()
}

backend_test!(create_twice_show_drop, |backend| {
    let db = TestDb::migrated(backend, "ixcycle");
    let names = our_names(backend);
    let django = all_indexes(&db);
    assert!(ours(&django).is_empty(), "{django:?}");
    assert_eq!(shown(&db), statuses(&names, "missing"));

    assert_eq!(changed(&db, "create"), all(&names, "created"));
    assert_eq!(changed(&db, "create"), all(&names, "present"));
    assert_eq!(shown(&db), statuses(&names, "present"));
    let with = all_indexes(&db);
    assert_eq!(ours(&with).len(), names.len(), "{with:?}");
    let without_ours: Vec<String> = with
        .iter()
        .filter(|name| !name.contains(".oauthctl_"))
        .cloned()
        .collect();
    assert_eq!(without_ours, django, "Django's indexes are untouched");

    let out = db.run(&["indexes", "show", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let listed = json["indexes"].as_array().unwrap();
    assert_eq!(listed.len(), names.len());
    assert!(listed.iter().all(|i| i["status"] == "present"), "{json}");
    let grant = listed
        .iter()
        .find(|i| i["name"] == "oauthctl_grant_expires")
        .unwrap();
    assert_eq!(grant["table"], GRANT);
    assert_eq!(grant["steps"], serde_json::json!(["expired_grants"]));

    assert_eq!(changed(&db, "drop"), all(&names, "dropped"));
    assert_eq!(changed(&db, "drop"), all(&names, "absent"));
    assert_eq!(all_indexes(&db), django, "drop removes exactly ours");
});

backend_test!(printed_sql_builds_the_same_indexes, |backend| {
    let flavour = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
        Backend::MySql => "mysql",
    };
    // No connection: a server that does not exist is fine.
    let unreachable = match backend {
        Backend::Sqlite => "sqlite:///nonexistent/dir/db.sqlite3".to_string(),
        Backend::Postgres => "postgres://nobody@127.0.0.1:1/none".to_string(),
        Backend::MySql => "mysql://nobody@127.0.0.1:1/none".to_string(),
    };
    let print = |action: &str| {
        let mut cmd = crate::support::oauthctl_command();
        cmd.args([
            "--database-url",
            &unreachable,
            "indexes",
            action,
            "--print-sql",
        ]);
        let out = cmd.output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let statements: Vec<String> = stdout(&out)
            .lines()
            .map(|line| line.strip_suffix(';').unwrap().to_string())
            .collect();
        statements
    };
    let create = print("create");
    let drop = print("drop");
    assert_eq!(create.len(), our_names(backend).len());
    if backend == Backend::Postgres {
        assert!(create
            .iter()
            .all(|s| s.starts_with("CREATE INDEX CONCURRENTLY IF NOT EXISTS")));
    }
    // --backend chooses without any URL at all.
    let mut cmd = crate::support::oauthctl_command();
    cmd.args(["indexes", "create", "--print-sql", "--backend", flavour]);
    assert_eq!(stdout(&cmd.output().unwrap()), stdout_of(&create));

    // What a Django migration would run: each statement on its own, outside a transaction.
    let db = TestDb::migrated(backend, "ixprint");
    db.execute_many(&create);
    assert_eq!(shown(&db), statuses(&our_names(backend), "present"));
    db.execute_many(&drop);
    assert!(ours(&all_indexes(&db)).is_empty());
});

fn stdout_of(statements: &[String]) -> String {
    statements.iter().map(|s| format!("{s};\n")).collect()
}

backend_test!(an_invalid_index_is_rebuilt, [Postgres], |backend| {
    let db = TestDb::migrated(backend, "ixinvalid");
    seed(&db, 50, now());
    // An interrupted build: a unique index over duplicate expiry times fails and, built
    // CONCURRENTLY, leaves an INVALID index behind under our name.
    let failed = crate::support::runtime().block_on(async {
        let mut conn = db.connect().await;
        conn.try_execute(&format!(
            "CREATE UNIQUE INDEX CONCURRENTLY oauthctl_grant_expires ON {GRANT} (expires)"
        ))
        .await
    });
    assert!(failed.is_err());
    let valid = "SELECT CASE WHEN indisvalid THEN 1 ELSE 0 END::bigint FROM pg_index WHERE indexrelid = 'oauthctl_grant_expires'::regclass";
    assert_eq!(db.scalar(valid), 0);
    let status = shown(&db);
    assert!(
        status.contains(&("oauthctl_grant_expires".into(), "invalid".into())),
        "{status:?}"
    );

    let made = changed(&db, "create");
    assert!(
        made.contains(&("rebuilt".into(), "oauthctl_grant_expires".into())),
        "{made:?}"
    );
    assert_eq!(db.scalar(valid), 1);
    // Rebuilt as ours (not unique), and listed as present.
    let unique = "SELECT CASE WHEN indisunique THEN 1 ELSE 0 END::bigint FROM pg_index WHERE indexrelid = 'oauthctl_grant_expires'::regclass";
    assert_eq!(db.scalar(unique), 0);
    assert_eq!(shown(&db), statuses(&our_names(backend), "present"));
});

backend_test!(bad_table_options_write_nothing, |backend| {
    let db = TestDb::migrated(backend, "ixbad");
    let before = all_indexes(&db);
    // A table that does not exist, after tables whose indexes would be built first.
    let out = db.run(&["--grant-table", "no_such_table", "indexes", "create"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no_such_table") && err.contains("--grant-table"),
        "{err}"
    );
    // A table that exists but is not DOT's.
    let out = db.run(&[
        "--access-token-table",
        "oauth2_provider_application",
        "indexes",
        "create",
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no column expires"),
        "{}",
        stderr(&out)
    );
    // Not an identifier at all.
    let out = db.run(&["--id-token-table", "x; DROP TABLE y", "indexes", "create"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(all_indexes(&db), before, "nothing was built");
});

backend_test!(custom_table_names_are_respected, |backend| {
    let db = TestDb::migrated(backend, "ixcustom");
    let copy = match backend {
        Backend::Postgres => format!("CREATE TABLE my_grant (LIKE {GRANT} INCLUDING ALL)"),
        Backend::MySql => format!("CREATE TABLE my_grant LIKE {GRANT}"),
        Backend::Sqlite => format!("CREATE TABLE my_grant AS SELECT * FROM {GRANT} WHERE 0"),
    };
    db.execute(&copy);
    let out = db.run(&["--grant-table", "my_grant", "indexes", "create"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let indexes = ours(&all_indexes(&db));
    assert!(
        indexes.contains(&"my_grant.oauthctl_grant_expires".to_string()),
        "{indexes:?}"
    );
    assert!(
        !indexes.iter().any(|i| i.starts_with(&format!("{GRANT}."))),
        "{indexes:?}"
    );
    // On DOT's own name it is missing: the index counts only on its table.
    let status = shown(&db);
    assert!(
        status.contains(&("oauthctl_grant_expires".into(), "missing".into())),
        "{status:?}"
    );
    // Building it on DOT's table: index names are per schema on PostgreSQL and per database on
    // SQLite, so `IF NOT EXISTS` would skip it; that is an error, never a false "created".
    let out = db.run(&["indexes", "create"]);
    if backend == Backend::MySql {
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(ours(&all_indexes(&db)).contains(&format!("{GRANT}.oauthctl_grant_expires")));
    } else {
        assert_eq!(code(&out), 1, "{}", stdout(&out));
        assert!(
            stderr(&out).contains("exists elsewhere"),
            "{}",
            stderr(&out)
        );
    }
});

// ---------------------------------------------------------------------------------------------
// The plans of cleartokens' candidate searches

/// A "quiet" database: `n` units of `seed`'s mix, then almost everything made live, so that each
/// step has about 0.1 % of its table to delete (the daily run on a big table), and statistics
/// gathered.
fn quiet(db: &TestDb, n: i64) {
    let b = db.backend;
    let t = now();
    seed(db, n, t);
    let future = lit(b, t + TimeDelta::days(2));
    let mut sql = vec![
        format!("UPDATE {AT} SET expires = {future} WHERE id % 1000 <> 0"),
        format!("UPDATE {IDT} SET expires = {future} WHERE id % 1000 <> 0"),
        format!("UPDATE {GRANT} SET expires = {future} WHERE id % 1000 <> 0"),
        // Revoked refresh tokens become live ones on their access token, most orphans go.
        format!(
            "UPDATE {RT} SET revoked = NULL, access_token_id = id WHERE revoked IS NOT NULL AND id % 1000 <> 1 AND id <= {n}"
        ),
        format!("DELETE FROM {RT} WHERE id > {n} AND id % 10000 <> 0"),
    ];
    sql.extend(match b {
        Backend::Postgres => vec!["VACUUM ANALYZE".to_string()],
        Backend::MySql => [AT, RT, IDT, GRANT]
            .iter()
            .map(|t| format!("ANALYZE TABLE {t}"))
            .collect(),
        Backend::Sqlite => vec!["ANALYZE".to_string()],
    });
    db.execute_many(&sql);
}

/// `cleartokens --explain --format json`: each step's plan lines.
fn plans(db: &TestDb) -> Vec<(String, Vec<String>)> {
    let out = db
        .oauthctl(&[
            "cleartokens",
            "--explain",
            "--refresh-token-expire-seconds",
            "3600",
            "--format",
            "json",
        ])
        .env("OAUTHCTL_NOW", NOW)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            let lines = step["plan"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_string())
                .collect();
            (step["name"].as_str().unwrap().to_string(), lines)
        })
        .collect()
}

/// The indexes each step's candidate search may use on `backend`: its oauthctl_ index, or for
/// step 2 on SQLite, Django's unique index on `access_token_id`, whose NULL range bounds the
/// search as well (SQLite's planner takes either).
fn expected_indexes(backend: Backend, step: &str) -> Vec<&'static str> {
    match step {
        "revoked_refresh_tokens" => vec!["oauthctl_refreshtoken_revoked"],
        "orphaned_refresh_tokens" => match backend {
            Backend::MySql => vec!["oauthctl_refreshtoken_revoked"],
            Backend::Sqlite => vec![
                "oauthctl_refreshtoken_orphan",
                "sqlite_autoindex_oauth2_provider_refreshtoken_1 (access_token_id=?",
            ],
            Backend::Postgres => vec!["oauthctl_refreshtoken_orphan"],
        },
        "expired_refresh_tokens" | "expired_access_tokens" => vec!["oauthctl_accesstoken_expires"],
        "expired_id_tokens" => vec!["oauthctl_idtoken_expires"],
        "expired_grants" => vec!["oauthctl_grant_expires"],
        other => panic!("unknown step {other}"),
    }
}

/// The line of a plan that reads a whole table (a sequential scan, or a walk of the primary
/// key from the start, which is the same work), if any.
fn full_scan(backend: Backend, plan: &[String]) -> Option<String> {
    let mut lines = plan.iter().enumerate();
    lines
        .find(|(i, line)| match backend {
            Backend::Postgres => {
                line.contains("Seq Scan")
                    || (line.contains("_pkey on")
                        && plan
                            .get(i + 1)
                            .is_some_and(|next| next.contains("> '-9223372036854775808'")))
            }
            Backend::MySql => line.contains(" type=ALL ") || line.contains(" key=PRIMARY "),
            Backend::Sqlite => {
                let detail = line.trim();
                (detail.starts_with("SCAN ") && !detail.contains(" USING "))
                    || detail.contains("USING INTEGER PRIMARY KEY (rowid>?)")
            }
        })
        .map(|(_, line)| line.clone())
}

backend_test!(candidate_searches_use_the_indexes, |backend| {
    let db = TestDb::migrated(backend, "ixplan");
    quiet(&db, 30_000);
    // Without the indexes some step reads a whole table: the check below can fail.
    let before = plans(&db);
    assert!(
        before
            .iter()
            .any(|(_, plan)| full_scan(backend, plan).is_some()),
        "{before:#?}"
    );
    assert_eq!(changed(&db, "create").len(), our_names(backend).len());
    let analyze = match backend {
        Backend::Postgres => vec!["ANALYZE".to_string()],
        Backend::MySql => [AT, RT, IDT, GRANT]
            .iter()
            .map(|t| format!("ANALYZE TABLE {t}"))
            .collect(),
        Backend::Sqlite => vec!["ANALYZE".to_string()],
    };
    db.execute_many(&analyze);
    let after = plans(&db);
    assert_eq!(after.len(), 6);
    for (step, plan) in &after {
        let indexes = expected_indexes(backend, step);
        assert!(
            plan.iter()
                .any(|line| indexes.iter().any(|i| line.contains(i))),
            "{backend:?} {step}: none of {indexes:?} used:\n{}",
            plan.join("\n")
        );
        assert_eq!(
            full_scan(backend, plan),
            None,
            "{backend:?} {step}:\n{}",
            plan.join("\n")
        );
    }
});

/// `cleartokens --format json` at [`NOW`] with a one-hour refresh token expiry.
fn clear(db: &TestDb) -> serde_json::Value {
    let out = db
        .oauthctl(&[
            "cleartokens",
            "--refresh-token-expire-seconds",
            "3600",
            "--format",
            "json",
        ])
        .env("OAUTHCTL_NOW", NOW)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_str(stdout(&out).trim()).unwrap()
}

/// A step's `examined` figure as (unit, count).
fn examined(step: &serde_json::Value) -> Option<(String, u64)> {
    let object = step["examined"].as_object()?;
    let (unit, count) = object.iter().next()?;
    Some((unit.clone(), count.as_u64()?))
}

backend_test!(
    same_rows_with_and_without_indexes_and_less_read,
    |backend| {
        let plain = TestDb::migrated(backend, "ixplain");
        let indexed = TestDb::migrated(backend, "ixindexed");
        quiet(&plain, 30_000);
        quiet(&indexed, 30_000);
        assert_eq!(changed(&indexed, "create").len(), our_names(backend).len());
        let before = crate::support::load::snapshot(&plain);
        assert_eq!(before, crate::support::load::snapshot(&indexed));

        let without = clear(&plain);
        let with = clear(&indexed);
        let after = crate::support::load::snapshot(&plain);
        assert!(after.len() < before.len(), "something was deleted");
        assert_eq!(
            after,
            crate::support::load::snapshot(&indexed),
            "same rows left"
        );
        assert_eq!(without["deleted_total"], with["deleted_total"]);

        // The per-step figures: every step reports its time and candidates; what the backend read
        // is pages on PostgreSQL, rows on MySQL/MariaDB, and unknown on SQLite.
        let steps = |report: &serde_json::Value| report["steps"].as_array().unwrap().clone();
        let mut read = [0u64; 2];
        for (i, report) in [&without, &with].into_iter().enumerate() {
            for step in steps(report) {
                assert!(step["seconds"].as_f64().unwrap() >= 0.0, "{step}");
                assert!(step["candidates"].as_u64().unwrap() >= step["deleted"].as_u64().unwrap());
                match (backend, examined(&step)) {
                    (Backend::Sqlite, None) => {}
                    (Backend::Postgres, Some((unit, n))) if unit == "pages" => read[i] += n,
                    (Backend::MySql, Some((unit, n))) if unit == "rows" => read[i] += n,
                    (_, other) => panic!("{backend:?}: examined {other:?} in {step}"),
                }
            }
        }
        if backend != Backend::Sqlite {
            // With the indexes the run reads a fraction of what the full scans read.
            assert!(
                read[1] * 2 < read[0],
                "{backend:?}: read with {} / without {}",
                read[1],
                read[0]
            );
        }
    }
);
