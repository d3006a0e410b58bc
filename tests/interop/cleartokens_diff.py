#!/usr/bin/env python
"""Differential test of `oauthctl cleartokens` against django-oauth-toolkit 3.4.1's real
`manage.py cleartokens`, on one backend.

  cleartokens_diff.py sqlite|postgres|mysql [--candidate oauthctl|floor] [--quick] [--random-rows N]
                      [--seed S] [--keep] [-k SUBSTRING] [--with-indexes]

1. A template database is created and migrated by Django's `migrate`, then seeded through DOT's own
   models with every clear_expired case of DOT's own tests (TestClearExpired's 200 access tokens,
   50 refresh tokens and 200 grants; the step-3 boundary at exactly now - RTE for RTE 500 and 3600,
   and its microsecond neighbours; old and new orphans; TestClearRevoked's within/outside-grace rows;
   the ID-token cases of test_clear_expired_id_tokens) plus a random mix (--random-rows, default 3000)
   whose expires/revoked values sit on and around every cutoff a case uses (now, now - 500 s,
   now - 1000 s, now - 3600 s, ...: exact values, +-1 microsecond, +-0.5 s, +-1 s, whole seconds) with
   random links (refresh -> access token, access -> source refresh token, access -> ID token).
2. For each settings case (REFRESH_TOKEN_EXPIRE_SECONDS unset/500/3600 x grace 0/1000 x reuse
   protection off/on at batch size 10000, plus batch sizes 7 and 1), the template is copied twice;
   DOT's `cleartokens` runs on copy A (timezone.now frozen, tests/interop/dot_cleartokens.py) and the
   candidate on copy B with the same settings and the same "now" (OAUTHCTL_NOW). Half the cases give
   oauthctl its settings as flags, the other half as DOT-named environment variables.
3. Every remaining row of the five DOT tables (application, accesstoken, refreshtoken, idtoken,
   grant) is dumped in a canonical text form; A and B must be identical.

--with-indexes runs `oauthctl indexes create` on the candidate's copy before each run, so that the
same rows are proven with the cleanup indexes as without them.

--candidate floor checks bench/floor_sql.py's single-statement SQL instead of oauthctl (a
self-check of the benchmark's floor). Needs OAUTHCTL_BIN for the oauthctl candidate; PostgreSQL at
127.0.0.1:5432 (postgres, trust) and MariaDB/MySQL at 127.0.0.1:3306 (root, no password), or the
INTEROP_PG_* / INTEROP_MYSQL_* variables; an unreachable server is a failure, never a skip.
Prints one line per case and "N passed, M failed"; exits 1 on any difference.
"""
import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
INTEROP_DIR = os.environ.get("INTEROP_DIR", HERE)
sys.path.insert(0, os.path.join(REPO, "bench"))

UTC = dt.timezone.utc
NOW0 = dt.datetime(2026, 11, 26, 20, 0, 0, tzinfo=UTC)  # microsecond 0: SQLite stores it without fraction
NOW1 = NOW0 + dt.timedelta(microseconds=500000)
NOWS = {"N0": NOW0, "N1": NOW1}
TABLES = ["oauth2_provider_application", "oauth2_provider_accesstoken", "oauth2_provider_refreshtoken",
          "oauth2_provider_idtoken", "oauth2_provider_grant"]
PG = dict(host=os.environ.get("INTEROP_PG_HOST", "127.0.0.1"), port=int(os.environ.get("INTEROP_PG_PORT", "5432")),
          user=os.environ.get("INTEROP_PG_USER", "postgres"))
MY = dict(host=os.environ.get("INTEROP_MYSQL_HOST", "127.0.0.1"),
          port=int(os.environ.get("INTEROP_MYSQL_PORT", "3306")), user=os.environ.get("INTEROP_MYSQL_USER", "root"))
SETTING_ENV = ["REFRESH_TOKEN_EXPIRE_SECONDS", "REFRESH_TOKEN_GRACE_PERIOD_SECONDS", "REFRESH_TOKEN_REUSE_PROTECTION",
               "CLEAR_EXPIRED_TOKENS_BATCH_SIZE", "CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL"]


def rfc3339(d):
    return d.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------------------------------ cases


def all_cases():
    cases = []
    i = 0
    for rte in (None, 500, 3600):
        for grace in (0, 1000):
            for reuse in (False, True):
                cases.append(dict(rte=rte, grace=grace, reuse=reuse, batch=10000, now="N0" if i % 2 == 0 else "N1",
                                  via="flags" if i % 2 == 0 else "env"))
                i += 1
    cases += [
        dict(rte=500, grace=0, reuse=False, batch=7, now="N1", via="flags"),
        dict(rte=3600, grace=1000, reuse=False, batch=7, now="N0", via="env"),
        dict(rte=500, grace=1000, reuse=True, batch=7, now="N0", via="flags"),
        dict(rte=3600, grace=0, reuse=False, batch=1, now="N1", via="env"),
        dict(rte=None, grace=1000, reuse=False, batch=1, now="N0", via="flags"),
    ]
    return cases


QUICK = [1, 4, 9, 12, 15]  # indexes into all_cases() for --quick


def case_name(c):
    return (f"rte={c['rte'] if c['rte'] is not None else 'unset'} grace={c['grace']} "
            f"reuse={'on' if c['reuse'] else 'off'} batch={c['batch']} now={c['now']} via={c['via']}")


# ---------------------------------------------------------------------------------- seeding (Django)


def seed(seed_value, random_rows):
    """Runs inside the Django process (`cleartokens_diff.py _seed`)."""
    sys.path.insert(0, os.path.join(INTEROP_DIR, "project"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interop_project.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management.color import no_style
    from django.db import connection, transaction
    from django.utils import timezone
    from oauth2_provider.models import (get_access_token_model, get_application_model, get_grant_model,
                                        get_id_token_model, get_refresh_token_model)

    timezone.now = lambda: NOW0  # created/updated (auto_now) get a fixed value
    App, AT, RT, IDT, Grant = (get_application_model(), get_access_token_model(), get_refresh_token_model(),
                               get_id_token_model(), get_grant_model())
    rnd = random.Random(f"cleartokens-diff/{seed_value}")
    s = lambda secs: dt.timedelta(seconds=secs)  # noqa: E731
    us = lambda n: dt.timedelta(microseconds=n)  # noqa: E731
    ids = {"at": 0, "rt": 0, "idt": 0, "grant": 0}

    def nid(k):
        ids[k] += 1
        return ids[k]

    def tok():
        return "%030x" % rnd.getrandbits(120)

    ats, rts, idts, grants = [], [], [], []
    src_links = []  # (at id, rt id): set after the refresh tokens exist (MySQL checks FKs at once)

    with transaction.atomic():
        user = get_user_model().objects.create_user("difftest", "difftest@example.com", "pw")
        app = App.objects.create(name="diff", redirect_uris="http://localhost http://example.com http://example.org",
                                 client_type=App.CLIENT_CONFIDENTIAL,
                                 authorization_grant_type=App.GRANT_AUTHORIZATION_CODE, client_secret="x",
                                 hash_client_secret=False, user=user)

        def at(expires, idt=None, with_app=True, with_user=True, scope="read write"):
            o = AT(id=nid("at"), token=tok(), expires=expires, scope=scope, application=app if with_app else None,
                   user=user if with_user else None, id_token_id=idt)
            ats.append(o)
            return o.id

        def rt(at_id, revoked=None):
            o = RT(id=nid("rt"), token=tok(), access_token_id=at_id, application=app, user=user, revoked=revoked,
                   token_family=uuid.UUID(int=rnd.getrandbits(128), version=4))
            rts.append(o)
            return o.id

        def idt(expires):
            o = IDT(id=nid("idt"), jti=uuid.UUID(int=rnd.getrandbits(128), version=4), expires=expires,
                    scope="openid", application=app, user=user)
            idts.append(o)
            return o.id

        def grant(expires):
            o = Grant(id=nid("grant"), code=tok(), expires=expires, redirect_uri="https://localhost/redirect",
                      scope="read write", application=app, user=user)
            grants.append(o)
            return o.id

        n = NOW0
        # DOT's TestClearExpired: 100 expired + 100 current ATs (no user, no application), RTs on
        # expired ATs 0, 2, ..., 48 and on current ATs 1, 3, ..., 49; 100 + 100 grants.
        expired = [at(n - s(1000), with_app=False, with_user=False) for _ in range(100)]
        current = [at(n + s(1000), with_app=False, with_user=False) for _ in range(100)]
        for i in range(50):
            rt((expired if i % 2 == 0 else current)[i])
        for _ in range(100):
            grant(n - s(1000))
        for _ in range(100):
            grant(n + s(1000))
        # step-3 boundary: AT expires exactly at now - RTE (and +-1 us), for both nows and both RTEs
        for base in (NOW0, NOW1):
            for r in (500, 3600):
                for d in (-1, 0, 1):
                    rt(at(base - s(r) + us(d)))
        # orphans: an old one (created back-dated below) and a new one; a RT on a current AT survives
        old_orphan = rt(None)
        rt(None)
        rt(at(n + s(1000)))
        # DOT's TestClearRevoked: 3 revoked outside grace, 3 within, 3 current (paired to ATs at +1000 s)
        first_revoked = ids["rt"] + 1
        for base in (NOW0, NOW1):
            for _ in range(3):
                rt(None, revoked=base - s(2000))
            for _ in range(3):
                rt(None, revoked=base - s(500))
            for _ in range(3):
                rt(at(base + s(1000)))
        # test_clear_expired_id_tokens
        at(n + s(3600), idt=idt(n + s(3600)))  # all valid
        at(n + s(3600), idt=idt(n - s(60)))  # ID token expired, AT alive
        rt(at(n - s(60), idt=idt(n - s(60))))  # AT expired, RT live, not idle
        rt(at(n - s(3660), idt=idt(n - s(3660))))  # idle beyond 3600: RT, AT, ID token go
        rt(at(n - s(3660), idt=idt(n + s(60))))  # idle, but the ID token itself is still valid
        idt(n - s(1))  # unlinked, expired
        idt(n + s(1))  # unlinked, valid
        idt(n)  # unlinked, expires exactly now (kept: `<`)
        # expires exactly now (kept by steps 4-6) and revoked exactly at the cutoffs (deleted by step 1)
        for base in (NOW0, NOW1):
            at(base)
            grant(base)
            grant(base - us(1))
            at(base - us(1))
            idt(base - us(1))
            for g in (0, 1000, 500, 3600):
                rt(None, revoked=base - s(g))
                rt(None, revoked=base - s(g) + us(1))
                rt(None, revoked=base - s(g) - us(1))
        # a revoked RT still linked to an access token, expired and current
        rt(at(n - s(5000)), revoked=n - s(4000))
        rt(at(n + s(1000)), revoked=n - s(4000))
        rt(at(n - s(5000)), revoked=n - s(10))

        # random mix around every cutoff
        targets = [b - s(o) for b in (NOW0, NOW1) for o in (0, 500, 1000, 1500, 2000, 3600, 4600)]
        deltas = [0, 0, 0, -1, 1, -500000, 500000, -1000000, 1000000]

        def t():
            r = rnd.random()
            if r < 0.6:
                x = rnd.choice(targets)
                d = rnd.choice(deltas)
                if d == 0 and rnd.random() < 0.2:
                    d = rnd.randint(-7200, 7200) * 1000000
                return x + us(d)
            x = n + us(rnd.randint(-3 * 86400 * 1000000, 86400 * 1000000))
            if r < 0.7:
                x = x.replace(microsecond=0)
            return x

        n_at, n_rt, n_idt, n_gr = (int(random_rows * f) for f in (0.38, 0.30, 0.20, 0.12))
        first_idt = ids["idt"] + 1
        for _ in range(n_idt):
            idt(t())
        idt_pool = list(range(first_idt, ids["idt"] + 1))
        rnd.shuffle(idt_pool)
        first_at = ids["at"] + 1
        for _ in range(n_at):
            at(t(), idt=idt_pool.pop() if idt_pool and rnd.random() < 0.45 else None,
               with_app=rnd.random() < 0.9, with_user=rnd.random() < 0.9)
        at_pool = list(range(first_at, ids["at"] + 1))
        rnd.shuffle(at_pool)
        first_rt = ids["rt"] + 1
        for _ in range(n_rt):
            rt(at_pool.pop() if at_pool and rnd.random() < 0.7 else None,
               revoked=t() if rnd.random() < 0.4 else None)
        rt_pool = list(range(first_rt, ids["rt"] + 1))
        rnd.shuffle(rt_pool)
        for a in range(first_at, ids["at"] + 1):
            if rt_pool and rnd.random() < 0.3:
                src_links.append((a, rt_pool.pop()))
        # a few AT -> source RT links among the fixed cases too (revoked and live predecessors)
        src_links.append((current[99], old_orphan))
        src_links.append((current[98], first_revoked))
        src_links.append((current[97], first_revoked + 3))  # revoked within grace
        for _ in range(n_gr):
            grant(t())

        IDT.objects.bulk_create(idts, batch_size=500)
        AT.objects.bulk_create(ats, batch_size=500)
        RT.objects.bulk_create(rts, batch_size=500)
        Grant.objects.bulk_create(grants, batch_size=500)
        by_id = {o.id: o for o in ats}
        linked = []
        for a, r in src_links:
            by_id[a].source_refresh_token_id = r
            linked.append(by_id[a])
        AT.objects.bulk_update(linked, ["source_refresh_token_id"], batch_size=500)
        RT.objects.filter(id=old_orphan).update(created=NOW0 - dt.timedelta(days=400))
        with connection.cursor() as cur:
            for sql in connection.ops.sequence_reset_sql(no_style(), [App, AT, RT, IDT, Grant]):
                cur.execute(sql)
    print(f"seeded {len(ats)} access, {len(rts)} refresh, {len(idts)} ID tokens, {len(grants)} grants "
          f"({len(src_links)} source links)")


# --------------------------------------------------------------------------------- database helpers


class Backend:
    def __init__(self, name, work):
        self.name, self.work = name, work
        self.created = []
        self.suffix = f"{int(time.time())}_{os.getpid()}_{random.randrange(10**6)}"

    def dbname(self, tag):
        return f"oauthctl_ctdiff_{self.suffix}_{tag}"

    def admin(self):
        if self.name == "postgres":
            import psycopg

            return psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **PG)
        import pymysql

        return pymysql.connect(password="", autocommit=True, connect_timeout=5, **MY)

    def ping(self):
        if self.name == "sqlite":
            return "sqlite3 " + __import__("sqlite3").sqlite_version
        try:
            with self.admin() as c:
                cur = c.cursor()
                cur.execute("SELECT version()")
                return cur.fetchone()[0].splitlines()[0]
        except Exception as e:  # noqa: BLE001
            where = PG if self.name == "postgres" else MY
            raise SystemExit(f"cannot reach {self.name} at {where['host']}:{where['port']}: {e}")

    def path(self, db):
        return os.path.join(self.work, db + ".sqlite3")

    def django_name(self, db):
        return self.path(db) if self.name == "sqlite" else db

    def url(self, db):
        if self.name == "sqlite":
            return "sqlite://" + self.path(db)
        if self.name == "postgres":
            return f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{db}"
        return f"mysql://{MY['user']}@{MY['host']}:{MY['port']}/{db}"

    def create(self, db, template=None):
        self.created.append(db)
        if self.name == "sqlite":
            if template:
                shutil.copyfile(self.path(template), self.path(db))
            return
        with self.admin() as c:
            cur = c.cursor()
            if self.name == "postgres":
                cur.execute(f'CREATE DATABASE "{db}"' + (f' TEMPLATE "{template}"' if template else ""))
                # as the interop suite does: a tool leaning on the server's zone gets caught
                cur.execute(f"ALTER DATABASE \"{db}\" SET timezone TO 'America/New_York'")
            else:
                cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        if template and self.name == "mysql":
            dump = os.path.join(self.work, template + ".sql")
            if not os.path.exists(dump):
                with open(dump, "wb") as f:
                    subprocess.run(["mariadb-dump", "-h", MY["host"], "-P", str(MY["port"]), "-u", MY["user"],
                                    "--single-transaction", "--skip-comments", template], stdout=f, check=True)
            with open(dump, "rb") as f:
                subprocess.run(["mariadb", "-h", MY["host"], "-P", str(MY["port"]), "-u", MY["user"], db], stdin=f,
                               check=True)

    def drop(self, db):
        if self.name == "sqlite":
            try:
                os.unlink(self.path(db))
            except FileNotFoundError:
                pass
        else:
            with self.admin() as c:
                if self.name == "postgres":
                    c.cursor().execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                else:
                    c.cursor().execute(f"DROP DATABASE IF EXISTS `{db}`")
        if db in self.created:
            self.created.remove(db)

    def connect(self, db):
        if self.name == "sqlite":
            import sqlite3

            c = sqlite3.connect(self.path(db), isolation_level=None)
            return c
        if self.name == "postgres":
            import psycopg

            return psycopg.connect(dbname=db, autocommit=True, **PG)
        import pymysql

        return pymysql.connect(database=db, password="", autocommit=True, **MY)

    def dump(self, db):
        """Every row of the five tables, one canonical line per row, ordered by table and id."""
        out = []
        with self.connect(db) as c:
            cur = c.cursor()
            for t in TABLES:
                cur.execute(f"SELECT * FROM {t} ORDER BY id")
                cols = [d[0] for d in cur.description]
                for row in cur.fetchall():
                    out.append(t[len("oauth2_provider_"):] + " " + " ".join(
                        f"{k}={canon(v)}" for k, v in zip(cols, row)))
        return out

    def counts(self, db):
        with self.connect(db) as c:
            cur = c.cursor()
            res = []
            for t in TABLES[1:]:
                cur.execute(f"SELECT COUNT(*) FROM {t}")
                res.append(cur.fetchone()[0])
            return res


def canon(v):
    if v is None:
        return "NULL"
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC).replace(tzinfo=None)
        return v.isoformat(sep=" ")
    if isinstance(v, uuid.UUID):
        return v.hex
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    if isinstance(v, bytes):
        return v.hex()
    return json.dumps(v) if isinstance(v, str) else str(v)


# ------------------------------------------------------------------------------------------- runs


def run_dot(be, db, c, py):
    env = dict(os.environ, INTEROP_BACKEND=be.name, INTEROP_DB_NAME=be.django_name(db), INTEROP_DIR=INTEROP_DIR,
               PYTHONDONTWRITEBYTECODE="1")
    for k in SETTING_ENV:
        env.pop(k, None)
    cmd = [py, os.path.join(HERE, "dot_cleartokens.py"), "cleartokens", "--now", rfc3339(NOWS[c["now"]]),
           "--batch-size", str(c["batch"]), "--log"]
    if c["rte"] is not None:
        cmd += ["--rte", str(c["rte"])]
    if c["grace"]:
        cmd += ["--grace", str(c["grace"])]
    if c["reuse"]:
        cmd += ["--reuse"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"DOT cleartokens failed ({p.returncode}):\n{p.stderr[-3000:]}")
    counts = [int(m) for m in re.findall(r"^DOT: (\d+) ", p.stderr, re.M)]
    return counts


def run_oauthctl(be, db, c, binary, with_indexes=False):
    env = dict(os.environ, OAUTHCTL_NOW=rfc3339(NOWS[c["now"]]))
    for k in SETTING_ENV:
        env.pop(k, None)
    if with_indexes:
        # The cleanup indexes on the candidate's copy only: DOT's copy keeps Django's schema.
        p = subprocess.run([binary, "--database-url", be.url(db), "indexes", "create"], env=env,
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"oauthctl indexes create exited {p.returncode}: {p.stderr[-2000:]}")
    cmd = [binary, "--database-url", be.url(db), "cleartokens"]
    if c["via"] == "flags":
        if c["rte"] is not None:
            cmd += ["--refresh-token-expire-seconds", str(c["rte"])]
        cmd += ["--refresh-token-grace-period-seconds", str(c["grace"])]
        if c["reuse"]:
            cmd += ["--reuse-protection"]
        cmd += ["--batch-size", str(c["batch"])]
    else:
        if c["rte"] is not None:
            env["REFRESH_TOKEN_EXPIRE_SECONDS"] = str(c["rte"])
        env["REFRESH_TOKEN_GRACE_PERIOD_SECONDS"] = str(c["grace"])
        if c["reuse"]:
            env["REFRESH_TOKEN_REUSE_PROTECTION"] = "true"
        env["CLEAR_EXPIRED_TOKENS_BATCH_SIZE"] = str(c["batch"])
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"oauthctl cleartokens exited {p.returncode}: {' '.join(cmd)}\n"
                           f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-2000:]}")
    return p.stdout.strip().replace("\n", " | ")


def run_floor(be, db, c):
    from floor_sql import statements
    from gen_tokens import parse_now

    now = parse_now(rfc3339(NOWS[c["now"]]))
    with be.connect(db) as conn:
        cur = conn.cursor()
        for st in statements(be.name, now, c["rte"], c["grace"], c["reuse"]):
            cur.execute(st.rstrip(";"))
    return "floor SQL"


def diff_lines(a, b, limit=12):
    sa, sb = set(a), set(b)
    only_a = [x for x in a if x not in sb]
    only_b = [x for x in b if x not in sa]
    out = [f"      DOT only ({len(only_a)}):"] + [f"        {x}" for x in only_a[:limit]]
    out += [f"      candidate only ({len(only_b)}):"] + [f"        {x}" for x in only_b[:limit]]
    return "\n".join(out)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_seed":
        seed(argv[1], int(argv[2]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("backend", choices=["sqlite", "postgres", "mysql"])
    ap.add_argument("--candidate", choices=["oauthctl", "floor"], default="oauthctl")
    ap.add_argument("--quick", action="store_true", help=f"only cases {QUICK}")
    ap.add_argument("--random-rows", type=int, default=3000)
    ap.add_argument("--seed", default="1")
    ap.add_argument("--keep", action="store_true", help="keep the databases of failed cases")
    ap.add_argument("-k", default=None, help="only cases whose name contains this")
    ap.add_argument("--with-indexes", action="store_true",
                    help="create oauthctl's cleanup indexes on the candidate's copy first")
    args = ap.parse_args(argv)

    binary = None
    if args.candidate == "oauthctl":
        binary = os.environ.get("OAUTHCTL_BIN")
        if not binary or not os.access(binary, os.X_OK):
            print("cleartokens_diff.py: set OAUTHCTL_BIN to the oauthctl binary", file=sys.stderr)
            return 2
        binary = os.path.abspath(binary)
    py = sys.executable
    start = time.monotonic()
    work = tempfile.mkdtemp(prefix=f"oauthctl-ctdiff-{args.backend}-")
    be = Backend(args.backend, work)
    passed = failed = 0
    try:
        print(f"== {args.backend}: {be.ping()}; candidate {args.candidate}"
              + (f" ({binary})" if binary else ""), flush=True)
        # one Django migrate, copied into two templates: the full random mix for the batch-10000
        # cases, a smaller one for the small batch sizes (DOT needs ~8 queries per batch)
        empty = be.dbname("empty")
        be.create(empty)
        env = dict(os.environ, INTEROP_BACKEND=be.name, INTEROP_DB_NAME=be.django_name(empty), INTEROP_DIR=INTEROP_DIR,
                   PYTHONDONTWRITEBYTECODE="1")
        subprocess.run([py, os.path.join(HERE, "dot_cleartokens.py"), "migrate"], env=env, check=True)
        templates = {}
        for size, rows in (("full", args.random_rows), ("small", args.random_rows // 6)):
            tpl = templates[size] = be.dbname(size)
            be.create(tpl, template=empty)
            env["INTEROP_DB_NAME"] = be.django_name(tpl)
            p = subprocess.run([py, os.path.abspath(__file__), "_seed", args.seed, str(rows)], env=env,
                               check=True, capture_output=True, text=True)
            print(f"== {args.backend}: template {size}: {p.stdout.strip()} ({time.monotonic() - start:.1f}s)",
                  flush=True)
        cases = all_cases()
        if args.quick:
            cases = [cases[i] for i in QUICK]
        if args.k:
            cases = [c for c in cases if args.k in case_name(c)]
        for i, c in enumerate(cases):
            t0 = time.monotonic()
            name = case_name(c)
            a, b = be.dbname(f"{i}a"), be.dbname(f"{i}b")
            keep = False
            tpl = templates["full" if c["batch"] >= 100 else "small"]
            try:
                be.create(a, template=tpl)
                be.create(b, template=tpl)
                before = be.counts(a)
                dot_counts = run_dot(be, a, c, py)
                info = (run_oauthctl(be, b, c, binary, args.with_indexes) if binary
                        else run_floor(be, b, c))
                da, db_ = be.dump(a), be.dump(b)
                after = be.counts(a)
                gone = "/".join(str(x - y) for x, y in zip(before, after))
                if da == db_:
                    passed += 1
                    print(f"PASS [{args.backend}] {name}: {len(da)} rows identical; DOT steps {dot_counts}, "
                          f"deleted at/rt/idt/grant {gone} ({time.monotonic() - t0:.1f}s)", flush=True)
                else:
                    failed += 1
                    keep = args.keep
                    print(f"FAIL [{args.backend}] {name}: remaining rows differ; DOT steps {dot_counts}\n"
                          f"      candidate said: {info[:500]}\n{diff_lines(da, db_)}", flush=True)
            except Exception as e:  # noqa: BLE001
                failed += 1
                keep = args.keep
                print(f"FAIL [{args.backend}] {name}: {e}", flush=True)
            finally:
                if keep:
                    print(f"      kept: A={be.url(a)} B={be.url(b)}")
                    be.created = [x for x in be.created if x not in (a, b)]
                else:
                    be.drop(a)
                    be.drop(b)
    except SystemExit as e:
        failed += 1
        print(f"FAIL [{args.backend}] setup: {e}", flush=True)
    except Exception as e:  # noqa: BLE001
        failed += 1
        print(f"FAIL [{args.backend}] setup: {e}", flush=True)
    finally:
        for db in list(be.created):
            try:
                be.drop(db)
            except Exception as e:  # noqa: BLE001
                print(f"cleartokens_diff.py: could not drop {db}: {e}", file=sys.stderr)
        if not args.keep or failed == 0:
            shutil.rmtree(work, ignore_errors=True)
    print(f"== {args.backend}: {time.monotonic() - start:.0f}s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
