//! Load, crash and fault helpers for the reliability tests: fast server-side bulk seeding in
//! DOT's schema, an oracle for what DOT's rules delete, FK consistency checks, full-state
//! snapshots, and a DOT-like token-endpoint writer that talks to the database with sqlx directly.
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

use super::{django_text, runtime, Backend, TestDb};

pub const AT: &str = "oauth2_provider_accesstoken";
pub const RT: &str = "oauth2_provider_refreshtoken";
pub const IDT: &str = "oauth2_provider_idtoken";
pub const GRANT: &str = "oauth2_provider_grant";

/// A datetime literal in the backend's native form (Django's text form on SQLite).
pub fn lit(backend: Backend, t: DateTime<Utc>) -> String {
    match backend {
        Backend::Sqlite => format!("'{}'", django_text(t)),
        Backend::Postgres => format!(
            "'{}'::timestamptz",
            t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ),
        Backend::MySql => format!("'{}'", t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f")),
    }
}

/// What `seed` wrote, by DOT's rules at `now` with REFRESH_TOKEN_EXPIRE_SECONDS = 3600 (the
/// setting the reliability runs use): ids that a complete run must keep and must delete.
#[derive(Clone, Debug, Default)]
pub struct Seeded {
    pub rows: u64,
    pub keep_at: BTreeSet<i64>,
    pub keep_rt: BTreeSet<i64>,
    pub keep_idt: BTreeSet<i64>,
    pub keep_grant: BTreeSet<i64>,
    pub delete_at: BTreeSet<i64>,
    pub delete_rt: BTreeSet<i64>,
    pub delete_idt: BTreeSet<i64>,
    pub delete_grant: BTreeSet<i64>,
    /// Live refresh tokens whose access token is still valid: what a client may refresh.
    pub refreshable: Vec<(i64, i64)>,
}

pub const EXPIRE_SECONDS: &str = "3600";

/// Unit `i` (1..=n) writes: ID token i, access token i, refresh token i (unless i % 6 == 0),
/// grant i, an orphaned refresh token n + i when i % 10 == 0, and links access token i to
/// refresh token i - 1 as its source when i % 7 == 0. About 3.9 n rows; ~60 % deletable.
///
/// - ID token i expires in the past unless i % 3 == 0; access token i points to it when i % 5 == 0.
/// - Access token i expired two days ago when i is even, else expires in two days.
/// - Refresh token i: i % 6 == 1 revoked (two days ago, no access token), else live on access
///   token i.
/// - Grant i expired when i is even.
pub fn seed(db: &TestDb, n: i64, now: DateTime<Utc>) -> Seeded {
    let b = db.backend;
    let past = lit(b, now - TimeDelta::days(2));
    let future = lit(b, now + TimeDelta::days(2));
    let created = lit(b, now - TimeDelta::days(3));
    let (f, t) = b.bools();
    let seq = |body: &str| -> String {
        let (select, filter) = match body.split_once(" WHERE ") {
            Some((select, filter)) => (select, format!(" WHERE {filter}")),
            None => (body, String::new()),
        };
        match b {
            Backend::Postgres => format!("{select} FROM generate_series(1, {n}) AS s(i){filter}"),
            _ => format!("{select} FROM s{filter}"),
        }
    };
    let with = match b {
        Backend::Postgres => String::new(),
        _ => format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) "
        ),
    };
    let jti = match b {
        Backend::Postgres => "lpad(to_hex(i), 32, '0')::uuid".to_string(),
        Backend::MySql => "CONCAT('00000000-0000-0000-0000-', LPAD(HEX(i), 12, '0'))".to_string(),
        Backend::Sqlite => "printf('%032x', i)".to_string(),
    };
    let hex64 = |prefix: &str| match b {
        Backend::Postgres => format!("'{prefix}' || lpad(to_hex(i), 63, '0')"),
        Backend::MySql => format!("CONCAT('{prefix}', LPAD(HEX(i), 63, '0'))"),
        Backend::Sqlite => format!("'{prefix}' || printf('%063x', i)"),
    };
    let concat = |prefix: &str| match b {
        Backend::MySql => format!("CONCAT('{prefix}', i)"),
        Backend::Postgres => format!("'{prefix}' || i::text"),
        Backend::Sqlite => format!("'{prefix}' || i"),
    };
    let m = |a: &str, k: i64| match b {
        Backend::MySql | Backend::Postgres | Backend::Sqlite => format!("({a} % {k})"),
    };
    let i = "i";
    let mut sql = Vec::new();
    if b == Backend::MySql {
        sql.push("SET SESSION max_recursive_iterations = 10000000".to_string());
    }
    sql.push(format!(
        "INSERT INTO oauth2_provider_application (id, client_id, redirect_uris, client_type, authorization_grant_type, client_secret, name, skip_authorization, created, updated, algorithm, post_logout_redirect_uris, hash_client_secret, allowed_origins, registration_source) \
         VALUES (1, 'app', 'http://localhost', 'confidential', 'authorization-code', 'secret', 'Load', {f}, {created}, {created}, '', '', {t}, '', 'manual')"
    ));
    sql.push(format!(
        "INSERT INTO {IDT} (id, jti, expires, scope, created, updated, application_id) {with}{}",
        seq(&format!(
            "SELECT i, {jti}, CASE WHEN {} <> 0 THEN {past} ELSE {future} END, 'openid', {created}, {created}, 1",
            m(i, 3)
        ))
    ));
    sql.push(format!(
        "INSERT INTO {AT} (id, token, expires, scope, created, updated, id_token_id, token_checksum, resource, application_id) {with}{}",
        seq(&format!(
            "SELECT i, {}, CASE WHEN {} = 0 THEN {past} ELSE {future} END, 'read', {created}, {created}, CASE WHEN {} = 0 THEN i ELSE NULL END, {}, '[]', 1",
            concat("at"),
            m(i, 2),
            m(i, 5),
            hex64("a")
        ))
    ));
    sql.push(format!(
        "INSERT INTO {RT} (id, token, access_token_id, application_id, user_id, created, updated, revoked, token_checksum, resource) {with}{}",
        seq(&format!(
            "SELECT i, {}, CASE WHEN {m6} = 1 THEN NULL ELSE i END, 1, 1, {created}, {created}, CASE WHEN {m6} = 1 THEN {past} ELSE NULL END, {}, '[]' WHERE {m6} <> 0",
            concat("rt"),
            hex64("r"),
            m6 = m(i, 6)
        ))
    ));
    sql.push(format!(
        "INSERT INTO {RT} (id, token, access_token_id, application_id, user_id, created, updated, revoked, token_checksum, resource) {with}{}",
        seq(&format!(
            "SELECT {n} + i, {}, NULL, 1, 1, {created}, {created}, NULL, {}, '[]' WHERE {} = 0",
            concat("ro"),
            hex64("o"),
            m(i, 10)
        ))
    ));
    sql.push(format!(
        "INSERT INTO {GRANT} (id, code, expires, redirect_uri, scope, application_id, user_id, created, updated, code_challenge, code_challenge_method, nonce, claims, resource) {with}{}",
        seq(&format!(
            "SELECT i, {}, CASE WHEN {} = 0 THEN {past} ELSE {future} END, 'http://localhost', 'read', 1, 1, {created}, {created}, '', '', '', '', '[]'",
            concat("code"),
            m(i, 2)
        ))
    ));
    // Source links: access token i was issued by refreshing refresh token i - 1.
    sql.push(format!(
        "UPDATE {AT} SET source_refresh_token_id = id - 1 WHERE {} = 0 AND {} <> 0",
        m("id", 7),
        m("(id - 1)", 6)
    ));
    if b == Backend::Postgres {
        sql.push("ANALYZE".into());
    }
    db.execute_many(&sql);

    // The oracle: DOT's six steps with expiry 3600 s and no grace, applied in order.
    let mut s = Seeded::default();
    let at_expired = |i: i64| i % 2 == 0;
    let mut rt_live_on: Vec<(i64, i64)> = Vec::new();
    for i in 1..=n {
        if i % 6 == 1 {
            s.delete_rt.insert(i); // step 1
        } else if i % 6 != 0 {
            // live on access token i: step 3 when that expired more than an hour ago
            if at_expired(i) {
                s.delete_rt.insert(i);
            } else {
                s.keep_rt.insert(i);
                // (one that already issued access token i + 1 cannot issue another)
                if (i + 1) % 7 != 0 {
                    rt_live_on.push((i, i));
                }
            }
        }
        if i % 10 == 0 {
            s.delete_rt.insert(n + i); // step 2
        }
    }
    for i in 1..=n {
        // step 4: expired and no surviving refresh token (all refresh tokens of expired access
        // tokens go in steps 1-3)
        if at_expired(i) {
            s.delete_at.insert(i);
        } else {
            s.keep_at.insert(i);
        }
        // step 5: expired and no surviving access token points to it
        let expired = i % 3 != 0;
        let referenced_by_kept = i % 5 == 0 && !at_expired(i);
        if expired && !referenced_by_kept {
            s.delete_idt.insert(i);
        } else {
            s.keep_idt.insert(i);
        }
        if i % 2 == 0 {
            s.delete_grant.insert(i);
        } else {
            s.keep_grant.insert(i);
        }
    }
    s.refreshable = rt_live_on;
    s.rows = (s.keep_at.len()
        + s.keep_rt.len()
        + s.keep_idt.len()
        + s.keep_grant.len()
        + s.delete_at.len()
        + s.delete_rt.len()
        + s.delete_idt.len()
        + s.delete_grant.len()) as u64;
    assert_eq!(
        s.rows as i64,
        db.count(AT) + db.count(RT) + db.count(IDT) + db.count(GRANT),
        "{:?}: seeding wrote what the oracle expects",
        b
    );
    s
}

/// Rows that reference a row that does not exist (every DOT FK among the token tables).
pub fn dangling(db: &TestDb) -> Vec<(String, i64)> {
    let checks = [
        (
            "refreshtoken.access_token_id",
            format!("SELECT COUNT(*) FROM {RT} r WHERE r.access_token_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {AT} a WHERE a.id = r.access_token_id)"),
        ),
        (
            "accesstoken.source_refresh_token_id",
            format!("SELECT COUNT(*) FROM {AT} a WHERE a.source_refresh_token_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {RT} r WHERE r.id = a.source_refresh_token_id)"),
        ),
        (
            "accesstoken.id_token_id",
            format!("SELECT COUNT(*) FROM {AT} a WHERE a.id_token_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {IDT} i WHERE i.id = a.id_token_id)"),
        ),
    ];
    checks
        .iter()
        .map(|(name, sql)| (name.to_string(), db.scalar(sql)))
        .filter(|(_, n)| *n != 0)
        .collect()
}

/// Every remaining row of the four token tables, with the columns cleanup reads or writes, as
/// text: two databases with equal snapshots hold the same tokens.
pub fn snapshot(db: &TestDb) -> Vec<String> {
    let cast = |c: &str| db.backend.text(c);
    let mut out = Vec::new();
    for (table, cols) in [
        (
            AT,
            vec!["id", "expires", "id_token_id", "source_refresh_token_id"],
        ),
        (RT, vec!["id", "access_token_id", "revoked"]),
        (IDT, vec!["id", "expires"]),
        (GRANT, vec!["id", "expires"]),
    ] {
        let select: Vec<String> = cols.iter().map(|c| cast(c)).collect();
        let rows = db.rows(&format!(
            "SELECT {} FROM {table} ORDER BY id",
            select.join(", ")
        ));
        for row in rows {
            let cells: Vec<String> = row
                .into_iter()
                .map(|c| c.unwrap_or_else(|| "NULL".into()))
                .collect();
            out.push(format!("{table}:{}", cells.join("|")));
        }
    }
    out
}

/// The ids of a table.
pub fn ids(db: &TestDb, table: &str) -> BTreeSet<i64> {
    db.rows(&format!("SELECT {} FROM {table}", db.backend.text("id")))
        .into_iter()
        .map(|r| r[0].as_ref().unwrap().parse().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The writer: what DOT's token endpoint does, as concurrent transactions.

enum Pool {
    Pg(sqlx::PgPool),
    My(sqlx::MySqlPool),
    Lite(sqlx::SqlitePool),
}

impl Pool {
    async fn connect(backend: Backend, url: &str, size: u32) -> Pool {
        match backend {
            Backend::Postgres => Pool::Pg(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(size)
                    .connect(url)
                    .await
                    .unwrap(),
            ),
            Backend::MySql => Pool::My(
                sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(size)
                    // Django's MySQL sessions run READ COMMITTED.
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::Executor::execute(
                                conn,
                                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await
                    .unwrap(),
            ),
            Backend::Sqlite => {
                let path = url.trim_start_matches("sqlite://");
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .foreign_keys(true)
                    // Django's default SQLite timeout is 5 s; be generous, we count errors.
                    .busy_timeout(Duration::from_secs(20));
                Pool::Lite(
                    sqlx::sqlite::SqlitePoolOptions::new()
                        .max_connections(size.min(2))
                        .connect_with(options)
                        .await
                        .unwrap(),
                )
            }
        }
    }

    /// Runs the statements in one transaction (SQLite: BEGIN IMMEDIATE, as Django's
    /// `transaction_mode = "IMMEDIATE"` does).
    async fn transaction(&self, statements: &[String]) -> Result<(), String> {
        macro_rules! run {
            ($tx:expr) => {{
                let mut tx = $tx.map_err(|e| format!("begin: {e}"))?;
                for s in statements {
                    sqlx::query(s)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| format!("{s}: {e}"))?;
                }
                tx.commit().await.map_err(|e| format!("commit: {e}"))
            }};
        }
        match self {
            Pool::Pg(p) => run!(p.begin().await),
            Pool::My(p) => run!(p.begin().await),
            Pool::Lite(p) => {
                let mut conn = p.acquire().await.map_err(|e| format!("acquire: {e}"))?;
                run!(sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await)
            }
        }
    }
}

/// What the writer did, and what it left live.
#[derive(Default, Debug)]
pub struct WriterReport {
    pub ops: u64,
    pub errors: Vec<String>,
    pub live_at: BTreeSet<i64>,
    pub live_rt: BTreeSet<i64>,
    pub live_idt: BTreeSet<i64>,
    pub live_grant: BTreeSet<i64>,
    /// Seeded rows the writer changed (revoked, refreshed): no longer the oracle's business.
    pub touched_at: BTreeSet<i64>,
    pub touched_rt: BTreeSet<i64>,
    pub max_op: Duration,
}

/// What a writer operation records once its statements committed.
type OnSuccess = Box<dyn FnOnce(&mut Shared) + Send>;

struct Shared {
    report: WriterReport,
    /// (refresh token, its access token) a client may refresh or revoke.
    refreshable: Vec<(i64, i64)>,
    /// Grants not exchanged yet.
    pending_grants: Vec<i64>,
    rng: u64,
}

impl Shared {
    fn rand(&mut self, n: usize) -> usize {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % n as u64) as usize
    }
}

/// Runs `tasks` concurrent clients against `db` until `stop` is set: each loop is one of DOT's
/// token-endpoint transactions (authorize: a grant; exchange: grant → ID token + access token +
/// refresh token; refresh: revoke the old refresh token, issue a new pair sourced from it;
/// revoke: delete the access token, revoke its refresh token). Ids start at `first_id`.
pub async fn run_writer(
    backend: Backend,
    url: String,
    tasks: usize,
    first_id: i64,
    refreshable: Vec<(i64, i64)>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> WriterReport {
    let pool = Arc::new(Pool::connect(backend, &url, tasks as u32).await);
    let next_id = Arc::new(AtomicU64::new(first_id as u64));
    let shared = Arc::new(Mutex::new(Shared {
        report: WriterReport::default(),
        refreshable,
        pending_grants: Vec::new(),
        rng: 0x9e37_79b9_7f4a_7c15,
    }));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (pool, shared, stop, next_id) =
            (pool.clone(), shared.clone(), stop.clone(), next_id.clone());
        handles.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let now = Utc::now();
                let n = lit(backend, now);
                let expires = lit(backend, now + TimeDelta::hours(1));
                let id = next_id.fetch_add(1, Ordering::SeqCst) as i64;
                let (op, statements, on_success): (&str, Vec<String>, OnSuccess) = {
                    let mut s = shared.lock().unwrap();
                    let choice = s.rand(10);
                    if choice < 3 || (choice < 5 && s.pending_grants.is_empty()) {
                        // authorize: a grant
                        (
                            "authorize",
                            vec![format!(
                                "INSERT INTO {GRANT} (id, code, expires, redirect_uri, scope, application_id, user_id, created, updated, code_challenge, code_challenge_method, nonce, claims, resource) \
                                 VALUES ({id}, 'wcode{id}', {expires}, 'http://localhost', 'read', 1, 1, {n}, {n}, '', '', '', '', '[]')"
                            )],
                            Box::new(move |s: &mut Shared| {
                                s.pending_grants.push(id);
                                s.report.live_grant.insert(id);
                            }),
                        )
                    } else if choice < 5 {
                        // exchange the code: the grant goes, an ID token, access token and
                        // refresh token come
                        let len = s.pending_grants.len();
                        let k = s.rand(len);
                        let grant = s.pending_grants.swap_remove(k);
                        s.report.live_grant.remove(&grant);
                        let jti = match backend {
                            Backend::MySql => format!("'00000000-0000-0000-0001-{id:012x}'"),
                            Backend::Postgres => format!("'{:032x}'::uuid", (1u128 << 80) + id as u128),
                            Backend::Sqlite => format!("'{:032x}'", (1u128 << 80) + id as u128),
                        };
                        (
                            "exchange",
                            vec![
                                format!("DELETE FROM {GRANT} WHERE id = {grant}"),
                                format!("INSERT INTO {IDT} (id, jti, expires, scope, created, updated, application_id) VALUES ({id}, {jti}, {expires}, 'openid', {n}, {n}, 1)"),
                                format!("INSERT INTO {AT} (id, token, expires, scope, created, updated, id_token_id, token_checksum, resource, application_id) VALUES ({id}, 'wat{id}', {expires}, 'openid', {n}, {n}, {id}, 'w{id:063}', '[]', 1)"),
                                format!("INSERT INTO {RT} (id, token, access_token_id, application_id, user_id, created, updated, revoked, token_checksum, resource) VALUES ({id}, 'wrt{id}', {id}, 1, 1, {n}, {n}, NULL, 'w{id:063}', '[]')"),
                            ],
                            Box::new(move |s: &mut Shared| {
                                s.report.live_idt.insert(id);
                                s.report.live_at.insert(id);
                                s.report.live_rt.insert(id);
                                s.refreshable.push((id, id));
                            }),
                        )
                    } else if s.refreshable.is_empty() {
                        continue;
                    } else {
                        let len = s.refreshable.len();
                        let k = s.rand(len);
                        let (rt, at) = s.refreshable.swap_remove(k);
                        s.report.live_rt.remove(&rt);
                        s.report.touched_rt.insert(rt);
                        if choice < 9 {
                            // refresh: the old refresh token is revoked and loses its access
                            // token; a new pair is issued from it
                            (
                                "refresh",
                                vec![
                                    format!("UPDATE {RT} SET revoked = {n}, access_token_id = NULL, updated = {n} WHERE id = {rt} AND revoked IS NULL"),
                                    format!("INSERT INTO {AT} (id, token, expires, scope, created, updated, source_refresh_token_id, token_checksum, resource, application_id) VALUES ({id}, 'wat{id}', {expires}, 'read', {n}, {n}, {rt}, 'w{id:063}', '[]', 1)"),
                                    format!("INSERT INTO {RT} (id, token, access_token_id, application_id, user_id, created, updated, revoked, token_checksum, resource) VALUES ({id}, 'wrt{id}', {id}, 1, 1, {n}, {n}, NULL, 'w{id:063}', '[]')"),
                                ],
                                Box::new(move |s: &mut Shared| {
                                    s.report.live_at.insert(id);
                                    s.report.live_rt.insert(id);
                                    s.refreshable.push((id, id));
                                }),
                            )
                        } else {
                            // revoke (RefreshToken.revoke()): the access token is deleted, the
                            // refresh token revoked
                            s.report.live_at.remove(&at);
                            s.report.touched_at.insert(at);
                            (
                                "revoke",
                                vec![
                                    format!("UPDATE {RT} SET revoked = {n}, access_token_id = NULL, updated = {n} WHERE id = {rt}"),
                                    format!("DELETE FROM {AT} WHERE id = {at}"),
                                ],
                                Box::new(|_: &mut Shared| {}),
                            )
                        }
                    }
                };
                let started = Instant::now();
                let result = pool.transaction(&statements).await;
                let took = started.elapsed();
                let mut s = shared.lock().unwrap();
                s.report.ops += 1;
                s.report.max_op = s.report.max_op.max(took);
                match result {
                    Ok(()) => on_success(&mut s),
                    Err(e) => s.report.errors.push(format!("{op}: {e}")),
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let mut s = shared.lock().unwrap();
    std::mem::take(&mut s.report)
}

/// Starts the writer on its own thread; set `stop` and join to get its report.
pub fn spawn_writer(
    backend: Backend,
    url: String,
    tasks: usize,
    first_id: i64,
    refreshable: Vec<(i64, i64)>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<WriterReport> {
    std::thread::spawn(move || {
        runtime().block_on(run_writer(backend, url, tasks, first_id, refreshable, stop))
    })
}
