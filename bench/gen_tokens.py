#!/usr/bin/env python3
"""Fill a Django OAuth Toolkit 3.4.1 database with N generated tokens, for the cleartokens benchmark.

  gen_tokens.py --database-url URL -n N --mix backlog|steady|quiet [--now RFC3339] [--seed S]
                [--rte SECONDS] [--summary]

URL is oauthctl's form: sqlite://PATH, postgres://USER@HOST:PORT/DB, mysql://USER@HOST:PORT/DB.
The five DOT tables must exist and be empty (created by Django's `migrate` or by `oauthctl migrate`:
the same schema). One application row is added (and one auth_user row when that table exists: it is
the FK target of user_id on a Django-migrated database). Needs the interop venv for PostgreSQL
(psycopg 3) and MariaDB/MySQL (PyMySQL); SQLite uses only the standard library.

Values are written exactly as Django writes them (docs/compatibility.md#datetime-encodings): token_checksum =
sha256(token) hex, resource '[]', jti / token_family as 32-char hex on SQLite and char(32) columns and
native uuid on PostgreSQL and MariaDB >= 10.7 (detected from the column type), datetimes as
'YYYY-MM-DD HH:MM:SS[.ffffff]' naive UTC text on SQLite, naive UTC datetime(6) on MySQL, timestamptz
on PostgreSQL. Ids are explicit (sequence / AUTO_INCREMENT / sqlite_sequence advanced past them), in
creation order with jitter, so that expiry correlates with id, but imperfectly.

Mixes (row shares of N; "deleted" assumes the run uses REFRESH_TOKEN_EXPIRE_SECONDS = --rte,
grace 0, no reuse protection, at --now). AT = access token, RT = refresh token, IDT = ID token;
half of the ATs that carry an RT also carry a linked IDT; a share of RT-carrying ATs came from a
refresh and point (source_refresh_token_id) at their revoked predecessor RT.

  group              rows/group  backlog  steady  deleted by
  at_expired         AT          18 %     0.30 %  step 4  (client-credentials style, no RT)
  at_valid           AT           8 %    15 %     -
  live_fresh         AT+RT(+IDT) 12 %    25 %     -       (AT valid)
  live_not_idle      AT+RT(+IDT) 12 %    49.5 %   -       (AT expired, but less than RTE ago)
  revoked            RT           8 %     0.20 %  step 1  (access_token_id NULL, as revoke() leaves it)
  idle               AT+RT(+IDT) 15 %     0.25 %  steps 3, 4, 5
  orphan             RT           3 %     0.05 %  step 2
  idt_expired        IDT          4 %     0.05 %  step 5  (its AT is gone)
  idt_valid          IDT          1 %     0.50 %  -
  grant_expired      grant       11 %     0.15 %  step 6
  grant_valid        grant        7 %     9 %     -
  revoked_linked     AT+RT        1 %     0.02 %  steps 1, 4 (a revoked RT still pointing at an expired AT)
  => deleted about 60 % (backlog) / 1 % (steady)

Backlog: history of 120 days that nobody cleaned; steady: cleanup runs daily, so everything
deletable became so within the last day. Quiet: the steady mix's deletable rows with ten times its
live rows (each deletable group a tenth of its steady share, the live groups scaled up to fill N),
so quiet at 10 N holds the same deletable groups, row for row in number, as steady at N: the same
work in a table ten times larger (about 0.1 % deletable). Deterministic for a given (--seed, -n, --mix, --now, --rte).
"""
import argparse
import datetime as _dt
import hashlib
import json
import os
import random
import sys
import tempfile
import time
import uuid
from urllib.parse import unquote, urlsplit

US = 1_000_000
HOUR = 3600 * US
DAY = 86400 * US
AT_LIFETIME = 36000 * US  # DOT ACCESS_TOKEN_EXPIRE_SECONDS default
GRANT_LIFETIME = 60 * US  # DOT AUTHORIZATION_CODE_EXPIRE_SECONDS default
ID_JITTER = 30 * 60 * US  # sigma of the jitter between creation order and id order

TABLES = {
    "at": "oauth2_provider_accesstoken",
    "rt": "oauth2_provider_refreshtoken",
    "idt": "oauth2_provider_idtoken",
    "grant": "oauth2_provider_grant",
    "app": "oauth2_provider_application",
}

# group -> (backlog share, steady share) of rows
MIXES = {
    "at_expired": (18.0, 0.30),
    "at_valid": (8.0, 15.0),
    "live_fresh": (12.0, 25.0),
    "live_not_idle": (12.0, 49.5),
    "revoked": (8.0, 0.20),
    "idle": (15.0, 0.25),
    "orphan": (3.0, 0.05),
    "idt_expired": (4.0, 0.05),
    "idt_valid": (1.0, 0.50),
    "grant_expired": (11.0, 0.15),
    "grant_valid": (7.0, 9.0),
    "revoked_linked": (1.0, 0.02),
}
# Quiet: a tenth of steady's deletable shares; the live shares fill the rest in steady's proportions.
LIVE = ("at_valid", "live_fresh", "live_not_idle", "idt_valid", "grant_valid")
_DELETABLE_QUIET = {g: s[1] / 10.0 for g, s in MIXES.items() if g not in LIVE}
_LIVE_STEADY = sum(MIXES[g][1] for g in LIVE)
QUIET = dict(_DELETABLE_QUIET, **{g: MIXES[g][1] * (100.0 - sum(_DELETABLE_QUIET.values())) / _LIVE_STEADY
                                  for g in LIVE})
P_IDT = 0.5  # share of RT-carrying ATs that also have an ID token
ROWS_PER_GROUP = {"live_fresh": 2 + P_IDT, "live_not_idle": 2 + P_IDT, "idle": 2 + P_IDT, "revoked_linked": 2}


# --------------------------------------------------------------------------------------------- URLs


def parse_url(url):
    """oauthctl-style URL -> (backend, params)."""
    if url.startswith("sqlite:"):
        path = url[len("sqlite://"):] if url.startswith("sqlite://") else url[len("sqlite:"):]
        return "sqlite", {"path": path}
    u = urlsplit(url)
    scheme = u.scheme.lower()
    if scheme in ("postgres", "postgresql"):
        return "postgres", dict(host=u.hostname or "127.0.0.1", port=u.port or 5432,
                                user=unquote(u.username or "postgres"),
                                password=unquote(u.password) if u.password else None,
                                dbname=u.path.lstrip("/"))
    if scheme in ("mysql", "mariadb"):
        return "mysql", dict(host=u.hostname or "127.0.0.1", port=u.port or 3306,
                             user=unquote(u.username or "root"),
                             password=unquote(u.password) if u.password else os.environ.get("MYSQL_PWD", ""),
                             database=u.path.lstrip("/"))
    raise SystemExit(f"unsupported database URL: {url}")


def connect(url, **extra):
    backend, p = parse_url(url)
    if backend == "sqlite":
        import sqlite3

        if not os.path.exists(p["path"]):
            raise SystemExit(f"{p['path']}: no such database (create the schema first)")
        return backend, sqlite3.connect(p["path"], isolation_level=None)
    if backend == "postgres":
        import psycopg

        kw = {k: v for k, v in p.items() if v is not None}
        return backend, psycopg.connect(autocommit=True, connect_timeout=10, **kw)
    import pymysql

    return backend, pymysql.connect(autocommit=True, connect_timeout=10, charset="utf8mb4", **p, **extra)


# ---------------------------------------------------------------------------------------- datetimes

_EPOCH_ORD = _dt.date(1970, 1, 1).toordinal()
_MINUTE = 60 * US
_minute_cache = {}


def _minute_prefix(minute):
    day, m = divmod(minute, 1440)
    p = _minute_cache[minute] = "%s %02d:%02d:" % (_dt.date.fromordinal(_EPOCH_ORD + day).isoformat(), m // 60, m % 60)
    return p


def fmt_naive(us):
    """Django's str(naive datetime): 'YYYY-MM-DD HH:MM:SS' plus '.ffffff' unless microsecond == 0."""
    minute, rem = divmod(us, _MINUTE)
    p = _minute_cache.get(minute) or _minute_prefix(minute)
    s, frac = divmod(rem, US)
    if frac:
        return "%s%02d.%06d" % (p, s, frac)
    return "%s%02d" % (p, s)


def parse_now(text):
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    dt = _dt.datetime.fromisoformat(t)
    if dt.tzinfo is None:
        raise SystemExit(f"--now needs an offset (e.g. Z): {text!r}")
    delta = dt - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * US + delta.microseconds


# ------------------------------------------------------------------------------------------- model


class Data:
    """Column arrays per table, indexed by creation index; links are indexes into other tables."""

    def __init__(self):
        self.at_created, self.at_expires, self.at_src, self.at_idt = [], [], [], []
        self.rt_created, self.rt_revoked, self.rt_at = [], [], []
        self.idt_created, self.idt_expires = [], []
        self.g_created, self.g_expires = [], []
        self.groups = {}

    def add_at(self, created, expires):
        self.at_created.append(created)
        self.at_expires.append(expires)
        self.at_src.append(-1)
        self.at_idt.append(-1)
        return len(self.at_created) - 1

    def add_rt(self, created, revoked, at):
        self.rt_created.append(created)
        self.rt_revoked.append(revoked)
        self.rt_at.append(at)
        return len(self.rt_created) - 1

    def add_idt(self, created, expires):
        self.idt_created.append(created)
        self.idt_expires.append(expires)
        return len(self.idt_created) - 1

    def add_grant(self, created, expires):
        self.g_created.append(created)
        self.g_expires.append(expires)


def build(n, mix, now, rte_s, seed):
    rnd = random.Random(f"{seed}/{mix}/{n}")
    window = 120 * DAY if mix == "backlog" else DAY  # how far back deletable rows go
    rte = rte_s * US
    d = Data()

    def u(a, b):  # uniform integer microsecond in [a, b)
        return a + int(rnd.random() * (b - a))

    counts = {}
    for g, shares in MIXES.items():
        if mix == "quiet" and g not in LIVE:
            # n / 10 with steady's share, not n with a tenth of it: the same float, the same count
            share, of = shares[1], n / 10.0
        else:
            share, of = {"backlog": shares[0], "steady": shares[1]}.get(mix, QUIET[g]), n
        counts[g] = int(round(of * share / 100.0 / ROWS_PER_GROUP.get(g, 1)))
    succ_candidates = []  # ATs that carry an RT: possible successors of a revoked RT

    def at_with_rt(expires):
        at = d.add_at(expires - AT_LIFETIME, expires)
        d.add_rt(expires - AT_LIFETIME, None, at)
        if rnd.random() < P_IDT:
            d.at_idt[at] = d.add_idt(expires - AT_LIFETIME, expires)
        succ_candidates.append(at)

    # Interleave the groups (the order only matters for the RNG stream; ids come from created).
    for _ in range(counts["at_expired"]):
        e = u(now - window, now)
        d.add_at(e - AT_LIFETIME, e)
    for _ in range(counts["at_valid"]):
        e = u(now, now + AT_LIFETIME)
        d.add_at(e - AT_LIFETIME, e)
    for _ in range(counts["live_fresh"]):
        at_with_rt(u(now, now + AT_LIFETIME))
    for _ in range(counts["live_not_idle"]):
        at_with_rt(u(now - rte + 1, now))  # expires > now - RTE: not idle yet
    for _ in range(counts["idle"]):
        if mix == "backlog":
            at_with_rt(u(now - window, now - rte + 1))  # expires <= now - RTE
        else:
            at_with_rt(u(now - rte - DAY, now - rte + 1))
    for _ in range(counts["revoked_linked"]):
        e = u(now - window, now)
        at = d.add_at(e - AT_LIFETIME, e)
        lo = max(e - AT_LIFETIME, now - window)
        d.add_rt(e - AT_LIFETIME, u(lo, now), at)
    # Revoked RTs: most are the predecessor of an AT that came from a refresh (its
    # source_refresh_token_id), revoked when that AT was created; the rest lost their successor.
    rnd.shuffle(succ_candidates)
    succ = [at for at in succ_candidates if d.at_created[at] >= now - window]
    for i in range(counts["revoked"]):
        if i < len(succ) and rnd.random() < 0.8:
            at = succ[i]
            revoked = d.at_created[at]
            rt = d.add_rt(revoked - u(HOUR, 3 * DAY), revoked, -1)
            d.at_src[at] = rt
        else:
            revoked = u(now - window, now)
            d.add_rt(revoked - u(HOUR, 3 * DAY), revoked, -1)
    for _ in range(counts["orphan"]):
        d.add_rt(u(now - window, now), None, -1)
    for _ in range(counts["idt_expired"]):
        e = u(now - window, now)
        d.add_idt(e - AT_LIFETIME, e)
    for _ in range(counts["idt_valid"]):
        e = u(now, now + AT_LIFETIME)
        d.add_idt(e - AT_LIFETIME, e)
    for _ in range(counts["grant_expired"]):
        e = u(now - window, now)
        d.add_grant(e - GRANT_LIFETIME, e)
    for _ in range(counts["grant_valid"]):
        e = u(now, now + GRANT_LIFETIME)
        d.add_grant(e - GRANT_LIFETIME, e)
    d.groups = counts

    # id order = creation order with gaussian jitter
    def order(created):
        keys = [c + int(rnd.gauss(0, ID_JITTER)) for c in created]
        perm = sorted(range(len(created)), key=keys.__getitem__)
        rank = [0] * len(created)
        for r, i in enumerate(perm):
            rank[i] = r + 1  # id
        return perm, rank

    d.at_perm, d.at_id = order(d.at_created)
    d.rt_perm, d.rt_id = order(d.rt_created)
    d.idt_perm, d.idt_id = order(d.idt_created)
    d.g_perm, _ = order(d.g_created)
    return d


# ------------------------------------------------------------------------------------------- rows


def rows(d, backend, rnd, uuid_native, app_id, user_id):
    """Yield (table key, columns, iterator of row tuples of str/None) in id order."""
    if backend == "postgres":
        ts = lambda us: fmt_naive(us) + "+00"  # noqa: E731
    else:
        ts = fmt_naive

    v4_clear, v4_set = ~((0xF000 << 64) | (0xC000 << 48)), (0x4000 << 64) | (0x8000 << 48)

    def uid():  # random version-4 UUID: 32 hex, or the dashed form for native uuid columns
        h = "%032x" % ((rnd.getrandbits(128) & v4_clear) | v4_set)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" if uuid_native else h

    def token():
        t = "%030x" % rnd.getrandbits(120)
        return t, hashlib.sha256(t.encode()).hexdigest()

    app, user = str(app_id), str(user_id)

    def idt_rows():
        for i in d.idt_perm:
            c = ts(d.idt_created[i])
            yield (str(d.idt_id[i]), uid(), ts(d.idt_expires[i]), "openid read", c, c, app, user)

    def at_rows():
        for i in d.at_perm:
            tok, chk = token()
            c = ts(d.at_created[i])
            src = d.at_src[i]
            idt = d.at_idt[i]
            yield (str(d.at_id[i]), tok, chk, ts(d.at_expires[i]), "read write", app, user, c, c,
                   str(d.rt_id[src]) if src >= 0 else None, str(d.idt_id[idt]) if idt >= 0 else None, "[]")

    def rt_rows():
        for i in d.rt_perm:
            tok, chk = token()
            c = ts(d.rt_created[i])
            rev = d.rt_revoked[i]
            at = d.rt_at[i]
            yield (str(d.rt_id[i]), tok, chk, str(d.at_id[at]) if at >= 0 else None, app, user, c,
                   ts(rev) if rev is not None else c, ts(rev) if rev is not None else None, uid(), "[]")

    def grant_rows():
        for n, i in enumerate(d.g_perm, start=1):
            c = ts(d.g_created[i])
            yield (str(n), "%040x" % rnd.getrandbits(160), ts(d.g_expires[i]), "https://localhost/redirect",
                   "read write", app, user, c, c, "", "", "", "", "[]")

    yield "idt", ["id", "jti", "expires", "scope", "created", "updated", "application_id", "user_id"], idt_rows()
    yield "at", ["id", "token", "token_checksum", "expires", "scope", "application_id", "user_id", "created",
                 "updated", "source_refresh_token_id", "id_token_id", "resource"], at_rows()
    yield "rt", ["id", "token", "token_checksum", "access_token_id", "application_id", "user_id", "created",
                 "updated", "revoked", "token_family", "resource"], rt_rows()
    yield "grant", ["id", "code", "expires", "redirect_uri", "scope", "application_id", "user_id", "created",
                    "updated", "code_challenge", "code_challenge_method", "nonce", "claims", "resource"], grant_rows()


# ------------------------------------------------------------------------------------------ writers


def q(backend, name):
    return f"`{name}`" if backend == "mysql" else f'"{name}"'


def table_exists(backend, cur, name):
    if backend == "sqlite":
        cur.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,))
    elif backend == "postgres":
        cur.execute("SELECT 1 FROM information_schema.tables WHERE table_schema=current_schema() AND table_name=%s",
                    (name,))
    else:
        cur.execute("SELECT 1 FROM information_schema.tables WHERE table_schema=DATABASE() AND table_name=%s", (name,))
    return cur.fetchone() is not None


def uuid_is_native(backend, cur):
    if backend == "sqlite":
        return False
    if backend == "postgres":
        return True
    cur.execute("SELECT DATA_TYPE FROM information_schema.columns WHERE table_schema=DATABASE() "
                "AND table_name='oauth2_provider_idtoken' AND column_name='jti'")
    return cur.fetchone()[0].lower() == "uuid"


def setup_parents(backend, conn, now):
    """One auth_user (if the table exists) and one application; returns (app_id, user_id)."""
    cur = conn.cursor()
    ph = "?" if backend == "sqlite" else "%s"
    for key in ("at", "rt", "idt", "grant"):
        if not table_exists(backend, cur, TABLES[key]):
            raise SystemExit(f"table {TABLES[key]} missing: create the schema first (Django migrate or oauthctl migrate)")
        cur.execute(f"SELECT COUNT(*) FROM {q(backend, TABLES[key])}")
        if cur.fetchone()[0]:
            raise SystemExit(f"table {TABLES[key]} is not empty")
    ts = fmt_naive(now) + ("+00" if backend == "postgres" else "")
    t, f = ("true", "false") if backend == "postgres" else ("1", "0")
    user_id = 1
    if table_exists(backend, cur, "auth_user"):
        cur.execute(f"SELECT id FROM {q(backend, 'auth_user')} WHERE username = {ph}", ("bench",))
        r = cur.fetchone()
        if r:
            user_id = r[0]
        else:
            cur.execute(
                f"INSERT INTO {q(backend, 'auth_user')} (password, last_login, is_superuser, username, first_name, "
                f"last_name, email, is_staff, is_active, date_joined) VALUES ('!', NULL, {f}, 'bench', '', '', '', "
                f"{f}, {t}, {ph})", (ts,))
            cur.execute(f"SELECT id FROM {q(backend, 'auth_user')} WHERE username = {ph}", ("bench",))
            user_id = cur.fetchone()[0]
    cur.execute(f"SELECT id FROM {q(backend, TABLES['app'])} WHERE client_id = {ph}", ("bench-client",))
    r = cur.fetchone()
    if r:
        return r[0], user_id
    cols = {"client_id": "bench-client", "redirect_uris": "https://localhost/redirect", "client_type": "confidential",
            "authorization_grant_type": "authorization-code", "client_secret": "!", "name": "bench",
            "user_id": None, "skip_authorization": False, "created": ts, "updated": ts, "algorithm": "",
            "post_logout_redirect_uris": "", "hash_client_secret": True, "allowed_origins": "",
            "registration_source": "manual", "cimd_expires_at": None}
    names = ", ".join(q(backend, c) for c in cols)
    vals = ", ".join(ph for _ in cols)
    params = [(int(v) if backend != "postgres" else v) if isinstance(v, bool) else v for v in cols.values()]
    cur.execute(f"INSERT INTO {q(backend, TABLES['app'])} ({names}) VALUES ({vals})", params)
    cur.execute(f"SELECT id FROM {q(backend, TABLES['app'])} WHERE client_id = {ph}", ("bench-client",))
    return cur.fetchone()[0], user_id


def write_sqlite(conn, tables):
    cur = conn.cursor()
    cur.execute("PRAGMA synchronous = OFF")
    cur.execute("PRAGMA cache_size = -1000000")  # 1 GB page cache for this load only
    cur.execute("BEGIN")
    for key, cols, it in tables:
        sql = f'INSERT INTO "{TABLES[key]}" ({", ".join(cols)}) VALUES ({", ".join("?" for _ in cols)})'
        buf = []
        for r in it:
            buf.append(r)
            if len(buf) >= 50000:
                cur.executemany(sql, buf)
                buf.clear()
        if buf:
            cur.executemany(sql, buf)
    cur.execute("COMMIT")
    cur.execute("ANALYZE")


def write_postgres(conn, tables):
    cur = conn.cursor()
    with conn.transaction():
        # The data are consistent by construction; skip the per-row deferred FK triggers while loading
        # (superuser only). The FKs stay in place for the runs that follow.
        cur.execute("SET LOCAL session_replication_role = replica")
        for key, cols, it in tables:
            with cur.copy(f'COPY "{TABLES[key]}" ({", ".join(cols)}) FROM STDIN') as cp:
                for r in it:
                    cp.write_row(r)
        for key in ("at", "rt", "idt", "grant"):
            t = TABLES[key]
            cur.execute(f"SELECT setval(pg_get_serial_sequence('\"{t}\"', 'id'), "
                        f"GREATEST((SELECT MAX(id) FROM \"{t}\"), 1))")
    conn.autocommit = True
    for key in ("at", "rt", "idt", "grant", "app"):
        cur.execute(f'VACUUM (ANALYZE) "{TABLES[key]}"')


def write_mysql(conn, tables, tsv_dir=None):
    """LOAD DATA LOCAL INFILE from TSV files (kept in tsv_dir when given, for --from-tsv reloads)."""
    cur = conn.cursor()
    tmp = None
    if tsv_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="gen_tokens_")
        tsv_dir = tmp.name
    os.makedirs(tsv_dir, exist_ok=True)
    manifest = []
    for key, cols, it in tables:
        path = os.path.join(tsv_dir, key + ".tsv")
        if it is not None:
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                w = f.write
                for r in it:
                    w("\t".join("\\N" if v is None else v for v in r))
                    w("\n")
        manifest.append((key, cols))
    if tmp is None:
        with open(os.path.join(tsv_dir, "manifest.json"), "w") as f:
            json.dump(manifest, f)
    load_mysql_tsv(conn, tsv_dir, manifest)
    if tmp is not None:
        tmp.cleanup()


def load_mysql_tsv(conn, tsv_dir, manifest):
    cur = conn.cursor()
    cur.execute("SET SESSION foreign_key_checks = 0")
    cur.execute("SET SESSION unique_checks = 0")
    for key, cols in manifest:
        cur.execute("START TRANSACTION")
        cur.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE `{TABLES[key]}` CHARACTER SET utf8mb4 "
                    f"FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' ({', '.join(cols)})",
                    (os.path.join(tsv_dir, key + ".tsv"),))
        cur.execute("COMMIT")
    cur.execute("SET SESSION foreign_key_checks = 1")
    cur.execute("SET SESSION unique_checks = 1")
    for key in ("at", "rt", "idt", "grant", "app"):
        cur.execute(f"ANALYZE TABLE `{TABLES[key]}`")
        cur.fetchall()


def expected_deletions(d, now, rte_s):
    """Rows DOT would delete with RTE = rte_s, grace 0, no reuse protection (for --summary)."""
    rte = rte_s * US
    rt_gone = [False] * len(d.rt_created)
    for i, rev in enumerate(d.rt_revoked):
        if rev is not None and rev <= now:
            rt_gone[i] = True
        elif rev is None and d.rt_at[i] < 0:
            rt_gone[i] = True
        elif rev is None and rte and d.at_expires[d.rt_at[i]] <= now - rte:
            rt_gone[i] = True
    has_rt = [False] * len(d.at_created)
    for i, at in enumerate(d.rt_at):
        if at >= 0 and not rt_gone[i]:
            has_rt[at] = True
    at_gone = [d.at_expires[i] < now and not has_rt[i] for i in range(len(d.at_created))]
    idt_linked = [False] * len(d.idt_created)
    for i, idt in enumerate(d.at_idt):
        if idt >= 0 and not at_gone[i]:
            idt_linked[idt] = True
    idt_gone = [d.idt_expires[i] < now and not idt_linked[i] for i in range(len(d.idt_created))]
    g_gone = [e < now for e in d.g_expires]
    return {"accesstoken": (sum(at_gone), len(at_gone)), "refreshtoken": (sum(rt_gone), len(rt_gone)),
            "idtoken": (sum(idt_gone), len(idt_gone)), "grant": (sum(g_gone), len(g_gone))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", required=True)
    ap.add_argument("-n", type=int, default=0, help="number of tokens across the four token tables")
    ap.add_argument("--mix", choices=["backlog", "steady", "quiet"], default="backlog")
    ap.add_argument("--now", default="2026-11-26T20:00:00Z", help="the instant the run will use (RFC 3339)")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--rte", type=int, default=14 * 86400,
                    help="REFRESH_TOKEN_EXPIRE_SECONDS the run will use (places idle vs live RTs)")
    ap.add_argument("--summary", action="store_true", help="print per-table totals and expected deletions")
    ap.add_argument("--keep-tsv", metavar="DIR", help="MySQL: keep the loaded TSV files in DIR (for --from-tsv)")
    ap.add_argument("--from-tsv", metavar="DIR", help="MySQL: load the TSV files kept by --keep-tsv instead of "
                    "generating (same rows, much faster); -n/--mix/--seed are then ignored")
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    now = parse_now(args.now)
    mysql = args.database_url.startswith(("mysql", "mariadb"))
    backend, conn = connect(args.database_url, local_infile=True) if mysql else connect(args.database_url)
    if args.from_tsv:
        if backend != "mysql":
            raise SystemExit("--from-tsv is for MySQL/MariaDB only")
        setup_parents(backend, conn, now)
        with open(os.path.join(args.from_tsv, "manifest.json")) as f:
            load_mysql_tsv(conn, args.from_tsv, json.load(f))
        print(f"gen_tokens: reloaded {args.from_tsv} in {time.monotonic() - t0:.1f}s", file=sys.stderr)
        return 0
    app_id, user_id = setup_parents(backend, conn, now)
    d = build(args.n, args.mix, now, args.rte, args.seed)
    rnd = random.Random(f"{args.seed}/values")
    native = uuid_is_native(backend, conn.cursor())
    tables = list(rows(d, backend, rnd, native, app_id, user_id))
    if backend == "sqlite":
        write_sqlite(conn, tables)
    elif backend == "postgres":
        write_postgres(conn, tables)
    else:
        write_mysql(conn, tables, args.keep_tsv)
    conn.close()
    total = len(d.at_created) + len(d.rt_created) + len(d.idt_created) + len(d.g_created)
    print(f"gen_tokens: {total} rows ({args.mix}, seed {args.seed}) into {backend} in {time.monotonic() - t0:.1f}s",
          file=sys.stderr)
    if args.summary:
        exp = expected_deletions(d, now, args.rte)
        gone = sum(v[0] for v in exp.values())
        for t, (g, n) in exp.items():
            print(f"  {t:13s} {n:9d} rows, {g:9d} deletable ({100.0 * g / max(n, 1):5.1f} %)")
        print(f"  {'total':13s} {total:9d} rows, {gone:9d} deletable ({100.0 * gone / max(total, 1):5.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
