//! `oauthctl cleartokens` against real SQLite, PostgreSQL and MariaDB databases: DOT 3.4.1's own
//! `clear_expired` test cases (DOT's own TestClearExpired and TestClearRevoked), boundaries, settings validation, dry run, JSON, time budget,
//! run lock, signals, and batching invariance. Rows are seeded with SQL in DOT's schema, datetimes
//! in each backend's native form, and "now" is frozen with OAUTHCTL_NOW.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

use crate::support::load::{lit, AT, GRANT, IDT, RT};
use crate::support::{backend_test, code, now, stderr, stdout, Backend, TestDb, NOW};

fn secs(s: i64) -> TimeDelta {
    TimeDelta::seconds(s)
}

const WARNING: &str = "REFRESH_TOKEN_EXPIRE_SECONDS is not set (or is 0), so refresh tokens never age-expire. cleartokens will only remove revoked and orphaned refresh tokens; expired access and ID tokens that are still bound to a refresh token are kept as long as that refresh token lives. Set REFRESH_TOKEN_EXPIRE_SECONDS to enable expiry-based cleanup.";

// ---------------------------------------------------------------------------------------------
// Seeding, with an in-memory model of DOT's clear_expired() alongside

#[derive(Clone, Debug, Default)]
struct Model {
    at: BTreeMap<i64, AtRow>,
    rt: BTreeMap<i64, RtRow>,
    idt: BTreeMap<i64, DateTime<Utc>>,
    grant: BTreeMap<i64, DateTime<Utc>>,
}

#[derive(Clone, Debug)]
struct AtRow {
    expires: DateTime<Utc>,
    id_token: Option<i64>,
    source_rt: Option<i64>,
}

#[derive(Clone, Debug)]
struct RtRow {
    at: Option<i64>,
    revoked: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, Default)]
struct DotSettings {
    expire: Option<i64>,
    grace: i64,
    reuse: bool,
}

impl Model {
    /// DOT 3.4.1's clear_expired(), step by step; returns the six deleted counts.
    fn clear_expired(&mut self, now: DateTime<Utc>, s: DotSettings) -> [u64; 6] {
        let expire_at = s.expire.filter(|&e| e != 0).map(|e| now - secs(e));
        let mut revoked_at = Some(now - secs(s.grace));
        if s.reuse {
            revoked_at = expire_at;
        }
        let mut counts = [0u64; 6];
        let delete_rts = |model: &mut Model, ids: Vec<i64>| {
            for at in model.at.values_mut() {
                if at.source_rt.is_some_and(|r| ids.contains(&r)) {
                    at.source_rt = None;
                }
            }
            for id in &ids {
                model.rt.remove(id);
            }
            ids.len() as u64
        };
        if let Some(cut) = revoked_at {
            let ids = self
                .rt
                .iter()
                .filter(|(_, r)| r.revoked.is_some_and(|v| v <= cut))
                .map(|(i, _)| *i)
                .collect();
            counts[0] = delete_rts(self, ids);
        }
        let ids = self
            .rt
            .iter()
            .filter(|(_, r)| r.revoked.is_none() && r.at.is_none())
            .map(|(i, _)| *i)
            .collect();
        counts[1] = delete_rts(self, ids);
        if let Some(cut) = expire_at {
            let ids = self
                .rt
                .iter()
                .filter(|(_, r)| {
                    r.revoked.is_none() && r.at.is_some_and(|a| self.at[&a].expires <= cut)
                })
                .map(|(i, _)| *i)
                .collect();
            counts[2] = delete_rts(self, ids);
        }
        let ats: Vec<i64> = self
            .at
            .iter()
            .filter(|(id, a)| a.expires < now && !self.rt.values().any(|r| r.at == Some(**id)))
            .map(|(i, _)| *i)
            .collect();
        for id in &ats {
            self.at.remove(id);
        }
        counts[3] = ats.len() as u64;
        let idts: Vec<i64> = self
            .idt
            .iter()
            .filter(|(id, e)| **e < now && !self.at.values().any(|a| a.id_token == Some(**id)))
            .map(|(i, _)| *i)
            .collect();
        for id in &idts {
            self.idt.remove(id);
        }
        counts[4] = idts.len() as u64;
        let grants: Vec<i64> = self
            .grant
            .iter()
            .filter(|(_, e)| **e < now)
            .map(|(i, _)| *i)
            .collect();
        for id in &grants {
            self.grant.remove(id);
        }
        counts[5] = grants.len() as u64;
        counts
    }

    fn state(&self) -> State {
        State {
            at: self.at.iter().map(|(id, a)| (*id, a.source_rt)).collect(),
            rt: self.rt.iter().map(|(id, r)| (*id, r.at)).collect(),
            idt: self.idt.keys().copied().collect(),
            grant: self.grant.keys().copied().collect(),
        }
    }
}

/// What is left in the database: ids, and the links the cleanup may null.
#[derive(Debug, PartialEq, Eq)]
struct State {
    at: BTreeMap<i64, Option<i64>>,
    rt: BTreeMap<i64, Option<i64>>,
    idt: BTreeSet<i64>,
    grant: BTreeSet<i64>,
}

/// Builds a seeding script in DOT's schema for one backend, with explicit ids, and mirrors it in
/// a [`Model`]. Statements go out in FK order (MySQL's FKs are immediate).
struct Seed {
    backend: Backend,
    model: Model,
    next_id: i64,
    idt: Vec<String>,
    at: Vec<String>,
    rt: Vec<String>,
    links: Vec<String>,
    grant: Vec<String>,
}

impl Seed {
    fn new(backend: Backend) -> Self {
        Seed {
            backend,
            model: Model::default(),
            next_id: 1,
            idt: vec![],
            at: vec![],
            rt: vec![],
            links: vec![],
            grant: vec![],
        }
    }

    fn id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// A datetime literal in the backend's native form (Django's text form on SQLite).
    fn time(&self, t: DateTime<Utc>) -> String {
        lit(self.backend, t)
    }

    fn opt_time(&self, t: Option<DateTime<Utc>>) -> String {
        t.map(|t| self.time(t)).unwrap_or_else(|| "NULL".into())
    }

    fn opt(v: Option<i64>) -> String {
        v.map(|v| v.to_string()).unwrap_or_else(|| "NULL".into())
    }

    fn created(&self) -> String {
        self.time(now() - secs(86_400))
    }

    fn idt(&mut self, expires: DateTime<Utc>) -> i64 {
        let id = self.id();
        let row = format!(
            "({id}, '{:032x}', {}, 'openid', {c}, {c}, 1)",
            id,
            self.time(expires),
            c = self.created()
        );
        self.idt.push(row);
        self.model.idt.insert(id, expires);
        id
    }

    fn at(&mut self, expires: DateTime<Utc>, id_token: Option<i64>) -> i64 {
        let id = self.id();
        let row = format!(
            "({id}, 'at{id}', {}, 'read', {c}, {c}, {}, '{:064x}', '[]')",
            self.time(expires),
            Self::opt(id_token),
            id,
            c = self.created()
        );
        self.at.push(row);
        self.model.at.insert(
            id,
            AtRow {
                expires,
                id_token,
                source_rt: None,
            },
        );
        id
    }

    fn rt(&mut self, access_token: Option<i64>, revoked: Option<DateTime<Utc>>) -> i64 {
        let id = self.id();
        let row = format!(
            "({id}, 'rt{id}', {}, 1, 1, {c}, {c}, {}, '{:064x}', '[]')",
            Self::opt(access_token),
            self.opt_time(revoked),
            id,
            c = self.created()
        );
        self.rt.push(row);
        self.model.rt.insert(
            id,
            RtRow {
                at: access_token,
                revoked,
            },
        );
        id
    }

    /// `accesstoken.source_refresh_token_id`: the access token was issued by refreshing `rt`.
    fn link_source(&mut self, at: i64, rt: i64) {
        self.links.push(format!(
            "UPDATE {AT} SET source_refresh_token_id = {rt} WHERE id = {at}"
        ));
        self.model.at.get_mut(&at).unwrap().source_rt = Some(rt);
    }

    fn grant(&mut self, expires: DateTime<Utc>) -> i64 {
        let id = self.id();
        let row = format!(
            "({id}, 'code{id}', {}, 'https://localhost/redirect', 'read', 1, 1, {c}, {c}, '', '', '', '', '[]')",
            self.time(expires),
            c = self.created()
        );
        self.grant.push(row);
        self.model.grant.insert(id, expires);
        id
    }

    /// Writes everything (and the application every row belongs to) and returns the model.
    fn commit(self, db: &TestDb) -> Model {
        let (f, t) = self.backend.bools();
        let c = self.created();
        let mut sql = vec![format!(
            "INSERT INTO oauth2_provider_application (id, client_id, redirect_uris, client_type, authorization_grant_type, client_secret, name, skip_authorization, created, updated, algorithm, post_logout_redirect_uris, hash_client_secret, allowed_origins, registration_source) \
             VALUES (1, 'app', 'http://localhost http://example.com http://example.org', 'confidential', 'authorization-code', 'secret', 'Test Application', {f}, {c}, {c}, '', '', {t}, '', 'manual')"
        )];
        let mut insert = |table: &str, columns: &str, rows: &[String]| {
            // Chunked multi-row INSERTs: fast, and within every backend's statement limits.
            for chunk in rows.chunks(500) {
                sql.push(format!(
                    "INSERT INTO {table} ({columns}) VALUES {}",
                    chunk.join(", ")
                ));
            }
        };
        insert(
            IDT,
            "id, jti, expires, scope, created, updated, application_id",
            &self.idt,
        );
        insert(
            AT,
            "id, token, expires, scope, created, updated, id_token_id, token_checksum, resource",
            &self.at,
        );
        insert(
            RT,
            "id, token, access_token_id, application_id, user_id, created, updated, revoked, token_checksum, resource",
            &self.rt,
        );
        insert(
            GRANT,
            "id, code, expires, redirect_uri, scope, application_id, user_id, created, updated, code_challenge, code_challenge_method, nonce, claims, resource",
            &self.grant,
        );
        sql.extend(self.links);
        db.execute_many(&sql);
        self.model
    }
}

// ---------------------------------------------------------------------------------------------
// Reading back

fn ids(db: &TestDb, table: &str) -> BTreeSet<i64> {
    db.rows(&format!("SELECT {} FROM {table}", db.backend.text("id")))
        .into_iter()
        .map(|r| r[0].as_deref().unwrap().parse().unwrap())
        .collect()
}

fn pairs(db: &TestDb, table: &str, column: &str) -> BTreeMap<i64, Option<i64>> {
    db.rows(&format!(
        "SELECT {}, {} FROM {table}",
        db.backend.text("id"),
        db.backend.text(column)
    ))
    .into_iter()
    .map(|r| {
        (
            r[0].as_deref().unwrap().parse().unwrap(),
            r[1].as_deref().map(|v| v.parse().unwrap()),
        )
    })
    .collect()
}

fn state(db: &TestDb) -> State {
    State {
        at: pairs(db, AT, "source_refresh_token_id"),
        rt: pairs(db, RT, "access_token_id"),
        idt: ids(db, IDT),
        grant: ids(db, GRANT),
    }
}

fn cleartokens(db: &TestDb, args: &[&str]) -> Output {
    let mut all = vec!["cleartokens"];
    all.extend_from_slice(args);
    db.oauthctl(&all).env("OAUTHCTL_NOW", NOW).output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn step_counts(report: &serde_json::Value, field: &str) -> Vec<u64> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[field].as_u64().unwrap_or(0))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// DOT's TestClearExpired (tests/test_models.py)

/// TestClearExpired's data set: 100 expired and 100 current access tokens, refresh tokens on
/// expired ATs 0, 2, …, 48 and on current ATs 1, 3, …, 49, 100 expired and 100 current grants.
fn clear_expired_data(backend: Backend) -> Seed {
    let mut seed = Seed::new(backend);
    let expired: Vec<i64> = (0..100)
        .map(|_| seed.at(now() - secs(1000), None))
        .collect();
    let current: Vec<i64> = (0..100)
        .map(|_| seed.at(now() + secs(1000), None))
        .collect();
    for i in 0..50 {
        if i % 2 == 0 {
            seed.rt(Some(expired[i]), None);
        } else {
            seed.rt(Some(current[i]), None);
        }
    }
    for _ in 0..100 {
        seed.grant(now() - secs(1000));
    }
    for _ in 0..100 {
        seed.grant(now() + secs(1000));
    }
    seed
}

backend_test!(clear_expired_tokens_with_tokens, |backend| {
    let db = TestDb::migrated(backend, "withtokens");
    let model = clear_expired_data(backend).commit(&db);
    assert_eq!(
        (db.count(AT), db.count(RT), db.count(GRANT)),
        (200, 50, 200)
    );

    // DOT's settings, through DOT's setting names.
    let out = db
        .oauthctl(&["cleartokens"])
        .env("OAUTHCTL_NOW", NOW)
        .env("CLEAR_EXPIRED_TOKENS_BATCH_SIZE", "10")
        .env("CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL", "0.0")
        .env("REFRESH_TOKEN_EXPIRE_SECONDS", "500")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "",
        "{backend:?}: no warning when the expiry is set"
    );
    assert_eq!(
        stdout(&out),
        "0 Revoked refresh tokens deleted\n0 Orphaned refresh tokens deleted\n25 Expired refresh tokens deleted\n\
         100 Expired access tokens deleted\n0 Expired ID tokens deleted\n100 Expired grant tokens deleted\n",
        "{backend:?}"
    );

    let cutoff = now();
    let remaining_at = db.scalar(&format!(
        "SELECT COUNT(*) FROM {AT} WHERE expires < {}",
        Seed::new(backend).time(cutoff)
    ));
    assert_eq!(db.count(AT), 100, "{backend:?}");
    assert_eq!(remaining_at, 0, "{backend:?}: no expired access token left");
    assert_eq!(db.count(RT), 25, "{backend:?}");
    let rt_on_current = db.scalar(&format!(
        "SELECT COUNT(*) FROM {RT} r JOIN {AT} a ON a.id = r.access_token_id WHERE a.expires > {}",
        Seed::new(backend).time(cutoff)
    ));
    assert_eq!(
        rt_on_current, 25,
        "{backend:?}: every refresh token left is on a current access token"
    );
    assert_eq!(db.count(GRANT), 100, "{backend:?}");

    let mut expected = model.clone();
    expected.clear_expired(
        now(),
        DotSettings {
            expire: Some(500),
            ..Default::default()
        },
    );
    assert_eq!(state(&db), expected.state(), "{backend:?}");
});

backend_test!(batches_are_counted_and_sized, |backend| {
    let db = TestDb::migrated(backend, "batches");
    clear_expired_data(backend).commit(&db);
    let out = cleartokens(
        &db,
        &[
            "--refresh-token-expire-seconds",
            "500",
            "--batch-size",
            "10",
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    let report = json(&out);
    assert_eq!(
        step_counts(&report, "deleted"),
        vec![0, 0, 25, 100, 0, 100],
        "{backend:?}"
    );
    // 25 rows in batches of 10: 3; exactly 100: 10 (the empty probe after is no batch).
    assert_eq!(
        step_counts(&report, "batches"),
        vec![0, 0, 3, 10, 0, 10],
        "{backend:?}"
    );
    assert_eq!(report["batches"], 23);
    assert_eq!(report["deleted_total"], 225);
});

backend_test!(refresh_token_expiry_boundary_is_inclusive, |backend| {
    // test_clear_expired_reclaims_refresh_token_at_expiry_boundary: with now frozen at T, an access
    // token expiring at exactly T - 500 s takes its refresh token with it (`<=`). Run with a "now"
    // that has microseconds and with one that has none (Django's text form then drops them).
    for frozen in [NOW, "2026-11-26T20:00:00Z"] {
        let t = DateTime::parse_from_rfc3339(frozen)
            .unwrap()
            .with_timezone(&Utc);
        let db = TestDb::migrated(backend, "boundary");
        let mut seed = Seed::new(backend);
        let at_boundary = seed.at(t - secs(500), None);
        let rt_boundary = seed.rt(Some(at_boundary), None);
        let just_after = seed.at(t - secs(500) + TimeDelta::microseconds(1), None);
        let rt_kept = seed.rt(Some(just_after), None);
        seed.commit(&db);

        let out = db
            .oauthctl(&["cleartokens", "--refresh-token-expire-seconds", "500"])
            .env("OAUTHCTL_NOW", frozen)
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
        let rts = ids(&db, RT);
        assert!(
            !rts.contains(&rt_boundary),
            "{backend:?} {frozen}: refresh token at the boundary kept"
        );
        assert!(
            rts.contains(&rt_kept),
            "{backend:?} {frozen}: refresh token 1 µs inside the window deleted"
        );
        // Its access token then expired (< now) with no refresh token left: gone in step 4.
        assert_eq!(
            ids(&db, AT),
            BTreeSet::from([just_after]),
            "{backend:?} {frozen}"
        );
    }
});

backend_test!(
    expires_boundary_is_exclusive_for_access_id_tokens_and_grants,
    |backend| {
        let db = TestDb::migrated(backend, "ltboundary");
        let mut seed = Seed::new(backend);
        let just_before = now() - TimeDelta::microseconds(1);
        let idt_at_now = seed.idt(now());
        let idt_before = seed.idt(just_before);
        let at_now = seed.at(now(), None);
        let at_before = seed.at(just_before, None);
        let grant_now = seed.grant(now());
        let grant_before = seed.grant(just_before);
        seed.commit(&db);

        let out = cleartokens(&db, &[]);
        assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
        assert_eq!(ids(&db, IDT), BTreeSet::from([idt_at_now]), "{backend:?}");
        assert!(!ids(&db, IDT).contains(&idt_before));
        assert_eq!(ids(&db, AT), BTreeSet::from([at_now]), "{backend:?}");
        assert!(!ids(&db, AT).contains(&at_before));
        assert_eq!(ids(&db, GRANT), BTreeSet::from([grant_now]), "{backend:?}");
        assert!(!ids(&db, GRANT).contains(&grant_before));
    }
);

backend_test!(orphaned_refresh_tokens_are_deleted_at_any_age, |backend| {
    // test_clear_expired_deletes_orphaned_refresh_tokens (expiry unset).
    let db = TestDb::migrated(backend, "orphans");
    let mut seed = Seed::new(backend);
    let old_orphan = seed.rt(None, None);
    let new_orphan = seed.rt(None, None);
    let current_at = seed.at(now() + secs(1000), None);
    let paired = seed.rt(Some(current_at), None);
    seed.commit(&db);
    let out = cleartokens(&db, &[]);
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    assert_eq!(stderr(&out), format!("{WARNING}\n"), "{backend:?}");
    let rts = ids(&db, RT);
    assert!(
        !rts.contains(&old_orphan) && !rts.contains(&new_orphan),
        "{backend:?}"
    );
    assert_eq!(rts, BTreeSet::from([paired]), "{backend:?}");
    assert!(
        stdout(&out).contains("2 Orphaned refresh tokens deleted\n"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("refresh_expire_at is None. No expired refresh tokens deleted.\n")
    );
});

// ---------------------------------------------------------------------------------------------
// DOT's TestClearRevoked

/// 3 refresh tokens revoked 2000 s ago, 3 revoked 500 s ago, 3 live on access tokens expiring in
/// 1000 s. Returns (outside grace, within grace, current).
fn clear_revoked_data(backend: Backend) -> (Seed, Vec<i64>, Vec<i64>, Vec<i64>) {
    let mut seed = Seed::new(backend);
    let outside: Vec<i64> = (0..3)
        .map(|_| seed.rt(None, Some(now() - secs(2000))))
        .collect();
    let within: Vec<i64> = (0..3)
        .map(|_| seed.rt(None, Some(now() - secs(500))))
        .collect();
    let current: Vec<i64> = (0..3)
        .map(|_| {
            let at = seed.at(now() + secs(1000), None);
            seed.rt(Some(at), None)
        })
        .collect();
    (seed, outside, within, current)
}

backend_test!(
    clear_revoked_with_grace_periods_and_reuse_protection,
    |backend| {
        struct Case {
            args: &'static [&'static str],
            keep_outside: bool,
            keep_within: bool,
            first_line: &'static str,
        }
        let cases = [
            Case {
                args: &["--refresh-token-grace-period-seconds", "1000"],
                keep_outside: false,
                keep_within: true,
                first_line: "3 Revoked refresh tokens deleted",
            },
            Case {
                args: &[],
                keep_outside: false,
                keep_within: false,
                first_line: "6 Revoked refresh tokens deleted",
            },
            Case {
                args: &["--refresh-token-grace-period-seconds", "0"],
                keep_outside: false,
                keep_within: false,
                first_line: "6 Revoked refresh tokens deleted",
            },
            // Reuse protection without an expiry: nothing revoked is deleted.
            Case {
                args: &[
                    "--reuse-protection",
                    "--refresh-token-grace-period-seconds",
                    "1000",
                ],
                keep_outside: true,
                keep_within: true,
                first_line: "refresh_revoked_at is None. No revoked refresh tokens deleted.",
            },
            // Reuse protection with expiry 1500 s: the expiry cutoff replaces the grace period.
            Case {
                args: &[
                    "--reuse-protection",
                    "--refresh-token-grace-period-seconds",
                    "1000",
                    "--refresh-token-expire-seconds",
                    "1500",
                ],
                keep_outside: false,
                keep_within: true,
                first_line: "3 Revoked refresh tokens deleted",
            },
        ];
        for case in &cases {
            let db = TestDb::migrated(backend, "revoked");
            let (seed, outside, within, current) = clear_revoked_data(backend);
            seed.commit(&db);
            let out = cleartokens(&db, case.args);
            assert_eq!(
                code(&out),
                0,
                "{backend:?} {:?}: {}",
                case.args,
                stderr(&out)
            );
            assert_eq!(
                stdout(&out).lines().next(),
                Some(case.first_line),
                "{backend:?} {:?}",
                case.args
            );
            let mut expected: BTreeSet<i64> = current.iter().copied().collect();
            if case.keep_outside {
                expected.extend(&outside);
            }
            if case.keep_within {
                expected.extend(&within);
            }
            assert_eq!(ids(&db, RT), expected, "{backend:?} {:?}", case.args);
        }
    }
);

backend_test!(
    clear_revoked_settings_come_from_dot_environment_variables,
    |backend| {
        let db = TestDb::migrated(backend, "revokedenv");
        let (seed, _outside, within, current) = clear_revoked_data(backend);
        seed.commit(&db);
        let out = db
            .oauthctl(&["cleartokens"])
            .env("OAUTHCTL_NOW", NOW)
            .env("REFRESH_TOKEN_REUSE_PROTECTION", "true")
            .env("REFRESH_TOKEN_GRACE_PERIOD_SECONDS", "1000")
            .env("REFRESH_TOKEN_EXPIRE_SECONDS", "1500")
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
        let expected: BTreeSet<i64> = within.iter().chain(&current).copied().collect();
        assert_eq!(ids(&db, RT), expected, "{backend:?}");
    }
);

// ---------------------------------------------------------------------------------------------
// test_clear_expired_id_tokens (REFRESH_TOKEN_EXPIRE_SECONDS = 3600)

backend_test!(clear_expired_id_tokens, |backend| {
    let db = TestDb::migrated(backend, "idtokens");
    let mut seed = Seed::new(backend);
    let flow = |seed: &mut Seed, idt_expires: DateTime<Utc>, at_expires: DateTime<Utc>| {
        let idt = seed.idt(idt_expires);
        let at = seed.at(at_expires, Some(idt));
        let rt = seed.rt(Some(at), None);
        (idt, at, rt)
    };
    // 1. everything valid; 2. the ID token expired a minute ago, its access token lives;
    // 3. the access token expired a minute ago, its refresh token is not idle long enough;
    // 4. the access token expired 3660 s ago: RT (step 3), AT (step 4), ID token (step 5) go.
    let valid = flow(&mut seed, now() + secs(3600), now() + secs(3600));
    let idt_expired = flow(&mut seed, now() - secs(60), now() + secs(3600));
    let at_expired = flow(&mut seed, now() - secs(60), now() - secs(60));
    let idle = flow(&mut seed, now() - secs(60), now() - secs(3660));
    seed.commit(&db);

    let out = cleartokens(&db, &["--refresh-token-expire-seconds", "3600"]);
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    assert_eq!(
        ids(&db, IDT),
        BTreeSet::from([valid.0, idt_expired.0, at_expired.0]),
        "{backend:?}"
    );
    assert_eq!(
        ids(&db, AT),
        BTreeSet::from([valid.1, idt_expired.1, at_expired.1]),
        "{backend:?}"
    );
    assert_eq!(
        ids(&db, RT),
        BTreeSet::from([valid.2, idt_expired.2, at_expired.2]),
        "{backend:?}"
    );
    assert!(!ids(&db, IDT).contains(&idle.0));
    assert!(
        stdout(&out).contains("1 Expired ID tokens deleted\n"),
        "{}",
        stdout(&out)
    );
});

// ---------------------------------------------------------------------------------------------
// References are nulled before rows go (DOT's SET_NULL), on every backend

backend_test!(
    source_refresh_token_links_are_nulled_before_refresh_tokens_go,
    |backend| {
        let db = TestDb::migrated(backend, "setnull");
        let mut seed = Seed::new(backend);
        // A refresh token that was used (revoked) and the access token its use issued; an orphan
        // whose access token was issued from it; an idle one likewise.
        let revoked = seed.rt(None, Some(now() - secs(10)));
        let issued_by_revoked = seed.at(now() + secs(1000), None);
        seed.link_source(issued_by_revoked, revoked);
        let orphan = seed.rt(None, None);
        let issued_by_orphan = seed.at(now() + secs(1000), None);
        seed.link_source(issued_by_orphan, orphan);
        let old_at = seed.at(now() - secs(5000), None);
        let idle = seed.rt(Some(old_at), None);
        let issued_by_idle = seed.at(now() + secs(1000), None);
        seed.link_source(issued_by_idle, idle);
        // A live refresh token and the token issued from it: both stay, linked.
        let live_at = seed.at(now() + secs(1000), None);
        let live = seed.rt(Some(live_at), None);
        let issued_by_live = seed.at(now() + secs(1000), None);
        seed.link_source(issued_by_live, live);
        let model = seed.commit(&db);

        let out = cleartokens(
            &db,
            &[
                "--refresh-token-expire-seconds",
                "1000",
                "--batch-size",
                "1",
            ],
        );
        assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
        let at = pairs(&db, AT, "source_refresh_token_id");
        assert_eq!(at[&issued_by_revoked], None, "{backend:?}");
        assert_eq!(at[&issued_by_orphan], None, "{backend:?}");
        assert_eq!(at[&issued_by_idle], None, "{backend:?}");
        assert_eq!(at[&issued_by_live], Some(live), "{backend:?}");
        assert_eq!(ids(&db, RT), BTreeSet::from([live]), "{backend:?}");
        let mut expected = model;
        expected.clear_expired(
            now(),
            DotSettings {
                expire: Some(1000),
                ..Default::default()
            },
        );
        assert_eq!(state(&db), expected.state(), "{backend:?}");
    }
);

// ---------------------------------------------------------------------------------------------
// A mixed data set, checked against the model of DOT's algorithm

/// Every kind of row the steps distinguish, at and around every boundary, with links.
fn mixed_data(backend: Backend, size: usize) -> Seed {
    let mut seed = Seed::new(backend);
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rand = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let offsets = [-5000, -2000, -1000, -600, -500, -1, 0, 1, 500, 1000, 5000];
    let at_offset = |r: u64| now() + secs(offsets[r as usize % offsets.len()]);
    let mut rts: Vec<i64> = Vec::new();
    for _ in 0..size {
        let idt = match rand(4) {
            0 => Some(seed.idt(at_offset(rand(11)))),
            _ => None,
        };
        let at = seed.at(at_offset(rand(11)), idt);
        match rand(6) {
            0 => {}
            1 => {
                let revoked = at_offset(rand(11));
                rts.push(seed.rt(Some(at), Some(revoked)));
            }
            _ => rts.push(seed.rt(Some(at), None)),
        }
        if rand(5) == 0 {
            let revoked = if rand(2) == 0 {
                None
            } else {
                Some(at_offset(rand(11)))
            };
            rts.push(seed.rt(None, revoked));
        }
        if rand(4) == 0 {
            seed.idt(at_offset(rand(11)));
        }
        if rand(3) == 0 {
            seed.grant(at_offset(rand(11)));
        }
    }
    // Source links from access tokens to refresh tokens (each refresh token issues at most one).
    let at_ids: Vec<i64> = seed.model.at.keys().copied().collect();
    for (i, rt) in rts.iter().enumerate() {
        if i % 3 == 0 {
            let at = at_ids[(rand(at_ids.len() as u64)) as usize];
            if seed.model.at[&at].source_rt.is_none() {
                seed.link_source(at, *rt);
            }
        }
    }
    seed
}

backend_test!(
    mixed_data_matches_dot_for_every_setting_and_batch_size,
    |backend| {
        let settings = [
            (DotSettings::default(), vec![]),
            (
                DotSettings {
                    expire: Some(500),
                    ..Default::default()
                },
                vec!["--refresh-token-expire-seconds", "500"],
            ),
            (
                DotSettings {
                    expire: Some(600),
                    grace: 1000,
                    reuse: false,
                },
                vec![
                    "--refresh-token-expire-seconds",
                    "600",
                    "--refresh-token-grace-period-seconds",
                    "1000",
                ],
            ),
            (
                DotSettings {
                    expire: Some(1000),
                    grace: 500,
                    reuse: true,
                },
                vec![
                    "--refresh-token-expire-seconds",
                    "1000",
                    "--refresh-token-grace-period-seconds",
                    "500",
                    "--reuse-protection",
                ],
            ),
        ];
        for (dot, args) in &settings {
            for batch in ["1", "7", "10000"] {
                let db = TestDb::migrated(backend, "mixed");
                let model = mixed_data(backend, 60).commit(&db);
                let mut full: Vec<&str> = args.clone();
                full.extend(["--batch-size", batch, "--format", "json"]);
                let out = cleartokens(&db, &full);
                assert_eq!(code(&out), 0, "{backend:?} {full:?}: {}", stderr(&out));
                let mut expected = model;
                let counts = expected.clear_expired(now(), *dot);
                assert_eq!(
                    step_counts(&json(&out), "deleted"),
                    counts.to_vec(),
                    "{backend:?} {full:?}"
                );
                assert_eq!(state(&db), expected.state(), "{backend:?} {full:?}");
            }
        }
    }
);

backend_test!(
    batch_size_one_leaves_the_same_rows_as_the_default,
    |backend| {
        let one = TestDb::migrated(backend, "bs1");
        let default = TestDb::migrated(backend, "bsdefault");
        mixed_data(backend, 80).commit(&one);
        mixed_data(backend, 80).commit(&default);
        let args = [
            "--refresh-token-expire-seconds",
            "500",
            "--refresh-token-grace-period-seconds",
            "1000",
        ];
        let out = cleartokens(&one, &[&args[..], &["--batch-size", "1"]].concat());
        assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
        let out_default = cleartokens(&default, &args);
        assert_eq!(
            code(&out_default),
            0,
            "{backend:?}: {}",
            stderr(&out_default)
        );
        assert_eq!(stdout(&out), stdout(&out_default), "{backend:?}");
        assert_eq!(state(&one), state(&default), "{backend:?}");
    }
);

backend_test!(
    lock_budget_shrinks_batches_and_leaves_the_same_rows,
    |backend| {
        let tight = TestDb::migrated(backend, "budget");
        let off = TestDb::migrated(backend, "nobudget");
        mixed_data(backend, 80).commit(&tight);
        mixed_data(backend, 80).commit(&off);
        let args = [
            "--refresh-token-expire-seconds",
            "500",
            "--batch-size",
            "5",
            "--format",
            "json",
        ];
        // A budget no batch can meet: after each step's first batch, one row per batch.
        let out = cleartokens(
            &tight,
            &[&args[..], &["--lock-budget", "0.000001"]].concat(),
        );
        assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
        let out_off = cleartokens(&off, &[&args[..], &["--lock-budget", "0"]].concat());
        assert_eq!(code(&out_off), 0, "{backend:?}: {}", stderr(&out_off));
        let (tight_report, off_report) = (json(&out), json(&out_off));
        assert_eq!(tight_report["settings"]["lock_budget_seconds"], 0.000001);
        assert!(off_report["settings"]["lock_budget_seconds"].is_null());
        assert_eq!(
            step_counts(&tight_report, "deleted"),
            step_counts(&off_report, "deleted"),
            "{backend:?}"
        );
        // Each step: one batch at the batch size, then one row per batch.
        let deleted = step_counts(&tight_report, "deleted");
        let tight_batches = step_counts(&tight_report, "batches");
        let off_batches = step_counts(&off_report, "batches");
        for (i, &rows) in deleted.iter().enumerate() {
            assert!(
                tight_batches[i] >= rows.saturating_sub(5),
                "{backend:?} step {i}: {rows} rows in {} batches",
                tight_batches[i]
            );
        }
        assert!(
            deleted.iter().any(|&rows| rows > 10),
            "{backend:?}: too little data: {deleted:?}"
        );
        assert!(
            tight_batches.iter().sum::<u64>() > off_batches.iter().sum::<u64>(),
            "{backend:?}: {tight_batches:?} vs {off_batches:?}"
        );
        assert_eq!(state(&tight), state(&off), "{backend:?}");
    }
);

// ---------------------------------------------------------------------------------------------
// Dry run and JSON

backend_test!(
    dry_run_changes_nothing_and_predicts_the_real_run,
    |backend| {
        let db = TestDb::migrated(backend, "dryrun");
        mixed_data(backend, 80).commit(&db);
        let before = state(&db);
        let args = [
            "--refresh-token-expire-seconds",
            "500",
            "--refresh-token-grace-period-seconds",
            "1000",
            "--format",
            "json",
        ];

        let dry = cleartokens(&db, &[&args[..], &["--dry-run"]].concat());
        assert_eq!(code(&dry), 0, "{backend:?}: {}", stderr(&dry));
        assert_eq!(state(&db), before, "{backend:?}: the dry run changed rows");
        let dry = json(&dry);
        assert_eq!(dry["dry_run"], true);
        assert_eq!(dry["deleted_total"], 0);
        let predicted = step_counts(&dry, "would_delete");
        assert!(
            predicted.iter().sum::<u64>() > 0,
            "{backend:?}: the data set deletes nothing"
        );
        assert_eq!(
            dry["would_delete_total"].as_u64(),
            Some(predicted.iter().sum())
        );

        let real = cleartokens(&db, &args);
        assert_eq!(code(&real), 0, "{backend:?}: {}", stderr(&real));
        assert_eq!(
            step_counts(&json(&real), "deleted"),
            predicted,
            "{backend:?}"
        );
    }
);

#[test]
fn dry_run_text_names_cutoffs() {
    let db = TestDb::migrated(Backend::Sqlite, "drytext");
    let out = cleartokens(&db, &["--dry-run", "--refresh-token-expire-seconds", "500"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("Dry run: nothing is deleted. now = 2026-11-26T20:00:00.500000Z; DOT 3.4.1 cleanup rules (3.4.1's; no django_migrations table)\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "0 Revoked refresh tokens would be deleted (revoked <= 2026-11-26T20:00:00.500000Z)"
        ),
        "{text}"
    );
    assert!(
        text.contains("access token expires <= 2026-11-26T19:51:40.500000Z"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 7, "{text}");
}

backend_test!(json_summary_shape, |backend| {
    let db = TestDb::migrated(backend, "json");
    clear_expired_data(backend).commit(&db);
    let out = cleartokens(
        &db,
        &[
            "--format",
            "json",
            "--refresh-token-grace-period-seconds",
            "0.5",
        ],
    );
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    assert_eq!(
        stdout(&out).lines().count(),
        1,
        "one JSON object on one line"
    );
    let r = json(&out);
    assert_eq!(r["now"], "2026-11-26T20:00:00.500000Z");
    assert_eq!(r["dry_run"], false);
    assert_eq!(
        r["cutoffs"]["refresh_revoked_at"],
        "2026-11-26T20:00:00.000000Z"
    );
    assert_eq!(r["cutoffs"]["refresh_expire_at"], serde_json::Value::Null);
    assert_eq!(
        r["cutoffs"]["expires_before"],
        "2026-11-26T20:00:00.500000Z"
    );
    let names: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "revoked_refresh_tokens",
            "orphaned_refresh_tokens",
            "expired_refresh_tokens",
            "expired_access_tokens",
            "expired_id_tokens",
            "expired_grants"
        ]
    );
    let statuses: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "completed",
            "completed",
            "skipped",
            "completed",
            "completed",
            "completed"
        ]
    );
    // Without an expiry, expired access tokens bound to refresh tokens stay (DOT's warning).
    assert_eq!(step_counts(&r, "deleted"), vec![0, 0, 0, 75, 0, 100]);
    assert_eq!(r["deleted_total"], 175);
    assert!(r["batches"].as_u64().unwrap() >= 2);
    assert!(r["duration_seconds"].as_f64().unwrap() >= 0.0);
    assert!(r["slowest_batch_seconds"].as_f64().unwrap() > 0.0);
    let lock = r["longest_lock_seconds"].as_f64().unwrap();
    assert!(lock > 0.0 && lock <= r["duration_seconds"].as_f64().unwrap());
    assert_eq!(r["stop_reason"], "completed");
    assert_eq!(r["settings"]["batch_size"], 10000);
    assert_eq!(r["settings"]["refresh_token_grace_period_seconds"], 0.5);
    assert!(r["steps"][0].get("would_delete").is_none());
});

// ---------------------------------------------------------------------------------------------
// Settings

/// Arguments, environment, and the start of the expected message.
type InvalidCase = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

backend_test!(invalid_settings_exit_2_and_delete_nothing, |backend| {
    let cases: &[InvalidCase] = &[
        (
            &["--refresh-token-expire-seconds", "A"],
            &[],
            "REFRESH_TOKEN_EXPIRE_SECONDS must be either a timedelta or seconds",
        ),
        (
            &["--refresh-token-expire-seconds", "-3600"],
            &[],
            "REFRESH_TOKEN_EXPIRE_SECONDS must not be negative",
        ),
        (
            &["--refresh-token-expire-seconds", "100000000000000000000"],
            &[],
            "REFRESH_TOKEN_EXPIRE_SECONDS must be either a timedelta or seconds",
        ),
        (
            &["--refresh-token-expire-seconds", "80000000000000"],
            &[],
            "REFRESH_TOKEN_EXPIRE_SECONDS is too large",
        ),
        (
            &[],
            &[("REFRESH_TOKEN_EXPIRE_SECONDS", "3600s")],
            "REFRESH_TOKEN_EXPIRE_SECONDS must be either a timedelta or seconds",
        ),
        (
            &["--refresh-token-grace-period-seconds", "A"],
            &[],
            "REFRESH_TOKEN_GRACE_PERIOD_SECONDS must be in seconds",
        ),
        (
            &["--refresh-token-grace-period-seconds", "-1000"],
            &[],
            "REFRESH_TOKEN_GRACE_PERIOD_SECONDS must not be negative",
        ),
        (
            &[],
            &[("REFRESH_TOKEN_GRACE_PERIOD_SECONDS", "99999999999999999999")],
            "REFRESH_TOKEN_GRACE_PERIOD_SECONDS is too large",
        ),
        (
            &[],
            &[("REFRESH_TOKEN_REUSE_PROTECTION", "maybe")],
            "REFRESH_TOKEN_REUSE_PROTECTION must be true or false",
        ),
        (
            &["--batch-size", "0"],
            &[],
            "CLEAR_EXPIRED_TOKENS_BATCH_SIZE must be at least 1",
        ),
        (
            &["--batch-size", "-5"],
            &[],
            "CLEAR_EXPIRED_TOKENS_BATCH_SIZE must be a whole number",
        ),
        (
            &[],
            &[("CLEAR_EXPIRED_TOKENS_BATCH_SIZE", "ten")],
            "CLEAR_EXPIRED_TOKENS_BATCH_SIZE must be a whole number",
        ),
        (
            &["--batch-size", "99999999999999999999"],
            &[],
            "CLEAR_EXPIRED_TOKENS_BATCH_SIZE is too large",
        ),
        (
            &["--batch-interval", "-0.5"],
            &[],
            "CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL must not be negative",
        ),
        (
            &[],
            &[("CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL", "soon")],
            "CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL must be a number of seconds",
        ),
        (
            &["--max-duration", "0s"],
            &[],
            "--max-duration must be a positive duration",
        ),
        (
            &["--max-duration", "ten minutes"],
            &[],
            "--max-duration must be a positive duration",
        ),
        (
            &["--lock-budget", "-1"],
            &[],
            "--lock-budget must be a number of seconds from 0 (off) to 3600",
        ),
        (
            &[],
            &[("OAUTHCTL_LOCK_BUDGET", "fast")],
            "--lock-budget must be a number of seconds from 0 (off) to 3600",
        ),
        (&[], &[("OAUTHCTL_NOW", "yesterday")], "OAUTHCTL_NOW"),
        (
            &["--network-timeout", "0"],
            &[],
            "--network-timeout must be a number of seconds from 0.5 to 3600",
        ),
        (
            &[],
            &[("OAUTHCTL_NETWORK_TIMEOUT", "forever")],
            "--network-timeout must be a number of seconds from 0.5 to 3600",
        ),
    ];
    let db = TestDb::migrated(backend, "invalid");
    let mut seed = Seed::new(backend);
    seed.grant(now() - secs(10));
    seed.rt(None, None);
    seed.commit(&db);
    for (args, env, message) in cases {
        let mut all = vec!["cleartokens"];
        all.extend_from_slice(args);
        let mut cmd = db.oauthctl(&all);
        cmd.env("OAUTHCTL_NOW", NOW);
        for (k, v) in *env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(
            code(&out),
            2,
            "{backend:?} {args:?} {env:?}: {}",
            stderr(&out)
        );
        let err = stderr(&out);
        assert!(err.contains(message), "{backend:?} {args:?} {env:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            !err.contains("REFRESH_TOKEN_EXPIRE_SECONDS is not set"),
            "no warning before a usage error"
        );
        assert_eq!(stdout(&out), "");
        assert_eq!(
            (db.count(GRANT), db.count(RT)),
            (1, 1),
            "{backend:?} {args:?}: rows were deleted"
        );
    }
});

#[test]
fn flags_override_environment_and_empty_environment_is_unset() {
    let db = TestDb::migrated(Backend::Sqlite, "precedence");
    let out = db
        .oauthctl(&[
            "cleartokens",
            "--batch-size",
            "5",
            "--format",
            "json",
            "--refresh-token-expire-seconds",
            "60",
        ])
        .env("OAUTHCTL_NOW", NOW)
        .env("CLEAR_EXPIRED_TOKENS_BATCH_SIZE", "oops")
        .env("REFRESH_TOKEN_GRACE_PERIOD_SECONDS", "")
        .env("CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL", "  ")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(r["settings"]["batch_size"], 5);
    assert_eq!(r["settings"]["refresh_token_grace_period_seconds"], 0.0);
    assert_eq!(r["settings"]["refresh_token_expire_seconds"], 60.0);
}

backend_test!(warns_on_stderr_when_expiry_unset_or_zero, |backend| {
    let db = TestDb::migrated(backend, "warn");
    let unset = cleartokens(&db, &[]);
    assert_eq!(code(&unset), 0, "{}", stderr(&unset));
    assert_eq!(stderr(&unset), format!("{WARNING}\n"), "{backend:?}");
    let zero = db
        .oauthctl(&["cleartokens"])
        .env("REFRESH_TOKEN_EXPIRE_SECONDS", "0")
        .output()
        .unwrap();
    assert_eq!(stderr(&zero), format!("{WARNING}\n"), "{backend:?}");
    let set = cleartokens(&db, &["--refresh-token-expire-seconds", "3600"]);
    assert_eq!(code(&set), 0);
    assert_eq!(stderr(&set), "", "{backend:?}");
    assert!(
        stdout(&unset).contains("refresh_expire_at is None. No expired refresh tokens deleted.\n")
    );
    // The warning goes to stderr in JSON mode too; stdout stays one JSON object.
    let as_json = cleartokens(&db, &["--format", "json"]);
    assert_eq!(stderr(&as_json), format!("{WARNING}\n"));
    json(&as_json);
});

/// The warning is Django's WARNING style (bold yellow) only where colour is wanted: forced by
/// CLICOLOR_FORCE even on a pipe, never with NO_COLOR or CLICOLOR=0, plain on a pipe by default.
#[test]
fn the_warning_is_coloured_only_where_colour_is_wanted_sqlite() {
    let db = TestDb::migrated(Backend::Sqlite, "warn_colour");
    let with_env = |vars: &[(&str, &str)]| {
        let mut cmd = db.oauthctl(&["cleartokens"]);
        for (name, value) in vars {
            cmd.env(name, value);
        }
        stderr(&cmd.output().unwrap())
    };
    let forced = with_env(&[("CLICOLOR_FORCE", "1")]);
    assert!(
        forced.contains("\x1b[") && forced.contains(WARNING),
        "{forced:?}"
    );
    assert_eq!(with_env(&[]), format!("{WARNING}\n"));
    assert_eq!(
        with_env(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]),
        format!("{WARNING}\n")
    );
    assert_eq!(with_env(&[("CLICOLOR", "0")]), format!("{WARNING}\n"));
}

// ---------------------------------------------------------------------------------------------
// Bounded runs, the run lock, signals

fn expired_grants(db: &TestDb, n: usize) {
    let mut seed = Seed::new(db.backend);
    for _ in 0..n {
        seed.grant(now() - secs(100));
    }
    seed.commit(db);
}

backend_test!(
    max_duration_stops_between_batches_and_a_second_run_finishes,
    |backend| {
        let db = TestDb::migrated(backend, "budget");
        expired_grants(&db, 40);
        let out = cleartokens(
            &db,
            &[
                "--batch-size",
                "1",
                "--batch-interval",
                "0.1",
                "--max-duration",
                "0.5s",
                "--format",
                "json",
            ],
        );
        assert_eq!(code(&out), 4, "{backend:?}: {}", stderr(&out));
        let r = json(&out);
        assert_eq!(r["stop_reason"], "max_duration");
        let deleted = r["deleted_total"].as_u64().unwrap();
        assert!((1..40).contains(&deleted), "{backend:?}: {deleted}");
        assert_eq!(
            db.count(GRANT) as u64,
            40 - deleted,
            "{backend:?}: counts are rows deleted"
        );
        assert_eq!(r["steps"][5]["status"], "partial");
        assert!(r["duration_seconds"].as_f64().unwrap() < 2.0, "{r}");
        assert!(
            stderr(&out).contains("stopped early (--max-duration reached)"),
            "{}",
            stderr(&out)
        );

        let again = cleartokens(&db, &["--batch-size", "1000"]);
        assert_eq!(code(&again), 0, "{backend:?}: {}", stderr(&again));
        assert_eq!(db.count(GRANT), 0, "{backend:?}");
    }
);

backend_test!(a_second_concurrent_run_exits_3_naming_the_lock, |backend| {
    let db = TestDb::migrated(backend, "lock");
    expired_grants(&db, 3);
    {
        let _held = db.hold_cleanup_lock();
        let started = Instant::now();
        let out = cleartokens(&db, &["--refresh-token-expire-seconds", "60"]);
        assert_eq!(code(&out), 3, "{backend:?}: {}", stderr(&out));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{backend:?}: not prompt"
        );
        let err = stderr(&out);
        let lock_name = db.cleanup_lock_name();
        assert!(
            err.contains("another oauthctl cleartokens run is active"),
            "{err}"
        );
        assert!(err.contains(&lock_name), "{backend:?}: {err}");
        assert_eq!(db.count(GRANT), 3, "{backend:?}: deleted while locked out");
        // A dry run needs no lock.
        let dry = cleartokens(&db, &["--dry-run", "--refresh-token-expire-seconds", "60"]);
        assert_eq!(code(&dry), 0, "{backend:?}: {}", stderr(&dry));
    }
    let out = cleartokens(&db, &["--refresh-token-expire-seconds", "60"]);
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    assert_eq!(db.count(GRANT), 0);
});

backend_test!(the_run_lock_is_released_after_a_run, |backend| {
    let db = TestDb::migrated(backend, "relock");
    for _ in 0..2 {
        let out = cleartokens(&db, &["--refresh-token-expire-seconds", "60"]);
        assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    }
    // And a test-held lock can be taken afterwards.
    drop(db.hold_cleanup_lock());
});

fn spawn(db: &TestDb, args: &[&str]) -> std::process::Child {
    let mut all = vec!["cleartokens"];
    all.extend_from_slice(args);
    db.oauthctl(&all)
        .env("OAUTHCTL_NOW", NOW)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

backend_test!(
    sigterm_finishes_the_batch_prints_the_summary_and_exits_4,
    |backend| {
        // SIGTERM on SQLite and MariaDB, SIGINT on PostgreSQL: both signals, each on a backend.
        let signal = match backend {
            Backend::Postgres => "-INT",
            _ => "-TERM",
        };
        let db = TestDb::migrated(backend, "signal");
        let mut seed = Seed::new(backend);
        let revoked = seed.rt(None, Some(now() - secs(10)));
        for _ in 0..60 {
            seed.grant(now() - secs(100));
        }
        seed.commit(&db);
        let child = spawn(
            &db,
            &[
                "--batch-size",
                "1",
                "--batch-interval",
                "0.1",
                "--refresh-token-expire-seconds",
                "60",
            ],
        );
        // Wait until the run is deleting grants (signal handlers are installed by then).
        let deadline = Instant::now() + Duration::from_secs(30);
        while db.count(GRANT) == 60 {
            assert!(Instant::now() < deadline, "{backend:?}: no progress");
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 4, "{backend:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.starts_with("1 Revoked refresh tokens deleted\n"),
            "{backend:?}: {text}"
        );
        let last = text.lines().last().unwrap();
        let deleted: u64 = last
            .strip_suffix(" Expired grant tokens deleted")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            db.count(GRANT) as u64,
            60 - deleted,
            "{backend:?}: the summary counts committed rows"
        );
        assert!(deleted < 60, "{backend:?}: stopped too late");
        assert!(
            stderr(&out).contains("stopped early (signal received)"),
            "{}",
            stderr(&out)
        );
        assert!(!ids(&db, RT).contains(&revoked));

        let again = cleartokens(&db, &["--refresh-token-expire-seconds", "60"]);
        assert_eq!(code(&again), 0, "{backend:?}: {}", stderr(&again));
        assert_eq!(db.count(GRANT), 0);
    }
);

backend_test!(
    missing_tables_are_a_one_line_error,
    [Postgres, MySql],
    |backend| {
        let db = TestDb::empty(backend, "notables");
        let out = db.run(&["cleartokens", "--refresh-token-expire-seconds", "60"]);
        assert_eq!(code(&out), 1, "{backend:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("does not exist") && err.contains("oauthctl migrate"),
            "{err}"
        );
    }
);

// ---------------------------------------------------------------------------------------------
// --incremental (docs/compatibility.md, "Incremental mode")

fn incremental_run(db: &TestDb, at: DateTime<Utc>, args: &[&str]) -> (Output, serde_json::Value) {
    let mut all = vec!["cleartokens", "--incremental", "--format", "json"];
    all.extend_from_slice(args);
    let now = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let out = db.oauthctl(&all).env("OAUTHCTL_NOW", now).output().unwrap();
    let report = if code(&out) == 0 || code(&out) == 4 {
        json(&out)
    } else {
        serde_json::Value::Null
    };
    (out, report)
}

fn mode(report: &serde_json::Value) -> (String, String) {
    let m = &report["mode"];
    (
        m["kind"].as_str().unwrap_or("?").to_string(),
        m["reason"].as_str().unwrap_or("?").to_string(),
    )
}

fn state_table_exists(db: &TestDb) -> bool {
    crate::support::runtime().block_on(async {
        let mut conn = db.connect().await;
        conn.try_execute("SELECT 1 FROM oauthctl_cleanup_state")
            .await
            .is_ok()
    })
}

fn indexes_created(db: &TestDb) {
    let out = db.run(&["indexes", "create"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

backend_test!(incremental_covers_what_expired_since_the_mark, |backend| {
    let db = TestDb::migrated(backend, "incr_rows");
    indexes_created(&db);
    let day = secs(86_400);
    let first = now() - day; // the first run's now: the mark of the second
    let r = 7 * 86_400;
    let settings = DotSettings {
        expire: Some(r),
        ..Default::default()
    };
    let mut seed = Seed::new(backend);
    // Expires between the two runs, unheld: the incremental run's range takes it, and its ID
    // token (same expiry) too.
    let idt_between = seed.idt(first + secs(3600));
    let at_between = seed.at(first + secs(3600), Some(idt_between));
    // Expires between the runs, its ID token long expired: freed by step 4 of the second run,
    // re-checked through the captured list.
    let idt_old = seed.idt(first - secs(30 * 86_400));
    let at_frees_old_idt = seed.at(first + secs(7200), Some(idt_old));
    // Held at the first run; by the second its access token is past the refresh cutoff, so
    // step 3 deletes the refresh token and step 4 its access token (below the mark).
    let at_aged = seed.at(now() - secs(r) - secs(43_200), None);
    let rt_aged = seed.rt(Some(at_aged), None);
    // Held at the first run, its refresh token deleted out of band before the second: below
    // the mark and above the refresh cutoff, so incremental keeps it; a full pass deletes it.
    let at_oob = seed.at(now() - secs(2 * 86_400), None);
    let rt_oob = seed.rt(Some(at_oob), None);
    // Held at the first run; its refresh token is revoked before the second without letting
    // go of it (not DOT's revoke(), which nulls the link): step 1 frees it and its ID token,
    // both below the mark, and the captured lists reach them.
    let idt_revoked = seed.idt(first - secs(10 * 86_400));
    let at_revoked = seed.at(now() - secs(3 * 86_400), Some(idt_revoked));
    let rt_revoked = seed.rt(Some(at_revoked), None);
    // Held and expiring between the runs: kept by both passes, as by DOT.
    let at_held = seed.at(first + secs(600), None);
    seed.rt(Some(at_held), None);
    // Current.
    let at_current = seed.at(now() + secs(3600), None);
    seed.grant(first + secs(60));
    let mut model = seed.commit(&db);

    let (out, report) = incremental_run(&db, first, &["--refresh-token-expire-seconds", "604800"]);
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    assert_eq!(
        mode(&report),
        ("full".into(), "no_mark".into()),
        "{backend:?}"
    );
    model.clear_expired(first, settings);
    assert_eq!(state(&db), model.state(), "{backend:?}: first run is DOT's");
    assert!(ids(&db, AT).contains(&at_oob) && ids(&db, RT).contains(&rt_aged));

    db.execute(&format!("DELETE FROM {RT} WHERE id = {rt_oob}"));
    model.rt.remove(&rt_oob);
    let revoked_at = first + secs(3600);
    db.execute(&format!(
        "UPDATE {RT} SET revoked = {} WHERE id = {rt_revoked}",
        lit(backend, revoked_at)
    ));
    model.rt.get_mut(&rt_revoked).unwrap().revoked = Some(revoked_at);

    let (out, report) = incremental_run(&db, now(), &["--refresh-token-expire-seconds", "604800"]);
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    assert_eq!(
        mode(&report),
        ("incremental".into(), "mark".into()),
        "{backend:?}"
    );
    assert_eq!(
        report["mode"]["since"].as_str(),
        Some(
            first
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .as_str()
        )
    );
    let mut dot = model.clone();
    dot.clear_expired(now(), settings);
    let mut expected = dot.clone();
    expected.at.insert(at_oob, model.at[&at_oob].clone());
    assert_eq!(
        state(&db),
        expected.state(),
        "{backend:?}: DOT's rows but the out-of-band one"
    );
    let left = ids(&db, AT);
    for gone in [at_between, at_frees_old_idt, at_aged, at_revoked] {
        assert!(!left.contains(&gone), "{backend:?}: {gone} left");
    }
    assert!(left.contains(&at_held) && left.contains(&at_current) && left.contains(&at_oob));
    let idts = ids(&db, IDT);
    assert!(
        !idts.contains(&idt_between) && !idts.contains(&idt_old),
        "{backend:?}"
    );

    // A forced full pass reaches DOT's exact rows.
    let args = [
        "--refresh-token-expire-seconds",
        "604800",
        "--full-pass-every",
        "0",
    ];
    let (out, report) = incremental_run(&db, now() + secs(60), &args);
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    assert_eq!(
        mode(&report),
        ("full".into(), "full_pass_due".into()),
        "{backend:?}"
    );
    dot.clear_expired(now() + secs(60), settings);
    assert_eq!(
        state(&db),
        dot.state(),
        "{backend:?}: the full pass is DOT's"
    );
    assert!(!ids(&db, AT).contains(&at_oob));
});

backend_test!(incremental_falls_back_to_a_full_pass, |backend| {
    let db = TestDb::migrated(backend, "incr_modes");
    let r = ["--refresh-token-expire-seconds", "3600"];
    // A dry run on a fresh database reads, reports, and creates nothing.
    let (out, report) = incremental_run(&db, now(), &[&r[..], &["--dry-run"]].concat());
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    assert!(
        !state_table_exists(&db),
        "{backend:?}: the dry run wrote the state table"
    );
    let expected_without = if crate::support::with_cleanup_indexes() {
        "no_mark"
    } else {
        "indexes_missing"
    };
    assert_eq!(mode(&report).1, expected_without, "{backend:?}");

    // Without the cleanup indexes: a full pass and a warning.
    let out = db.run(&["indexes", "drop"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (out, report) = incremental_run(&db, now(), &r);
    assert_eq!(
        mode(&report),
        ("full".into(), "indexes_missing".into()),
        "{backend:?}"
    );
    assert!(
        stderr(&out).contains("oauthctl indexes create"),
        "{}",
        stderr(&out)
    );
    indexes_created(&db);

    let steps: [(i64, &[&str], &str); 7] = [
        (0, &r, "mark"), // the indexes_missing run completed: its now is the mark
        (
            60,
            &["--refresh-token-expire-seconds", "7200"],
            "settings_changed",
        ),
        (120, &["--refresh-token-expire-seconds", "7200"], "mark"),
        (
            100,
            &["--refresh-token-expire-seconds", "7200"],
            "clock_went_back",
        ),
        (
            8 * 86_400,
            &["--refresh-token-expire-seconds", "7200"],
            "full_pass_due",
        ),
        (
            8 * 86_400 + 10,
            &["--refresh-token-expire-seconds", "7200"],
            "mark",
        ),
        (
            8 * 86_400 + 20,
            &["--refresh-token-expire-seconds", "7200", "--dry-run"],
            "mark",
        ),
    ];
    for (offset, args, reason) in steps {
        let (out, report) = incremental_run(&db, now() + secs(offset), args);
        assert_eq!(code(&out), 0, "{backend:?} {offset}: {}", stderr(&out));
        assert_eq!(mode(&report).1, reason, "{backend:?} at +{offset}s");
    }
    // An interrupted run (exit 4) makes the next one a full pass.
    let rr = ["--refresh-token-expire-seconds", "7200"];
    expired_grants(&db, 40);
    let budget = [
        "--batch-size",
        "1",
        "--batch-interval",
        "0.1",
        "--max-duration",
        "0.5s",
    ];
    let (out, _) = incremental_run(&db, now() + secs(9 * 86_400), &[&rr[..], &budget].concat());
    assert_eq!(code(&out), 4, "{backend:?}: {}", stderr(&out));
    let (out, report) = incremental_run(&db, now() + secs(9 * 86_400 + 10), &rr);
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    assert_eq!(mode(&report).1, "previous_run_incomplete", "{backend:?}");
    let (_, report) = incremental_run(&db, now() + secs(9 * 86_400 + 20), &rr);
    assert_eq!(mode(&report).1, "mark", "{backend:?}");
    // The default mode neither reports a mode nor needs the table.
    let out = cleartokens(&db, &["--format", "json"]);
    assert!(json(&out).get("mode").is_none());
});
