#!/usr/bin/env python
"""Django's time-zone settings against real Django + django-oauth-toolkit, on one backend.

  OAUTHCTL_BIN=target/debug/oauthctl interop_tz.py sqlite|postgres|mysql [--results FILE] [-k SUBSTRING]

For each settings case (USE_TZ = False with TIME_ZONE America/New_York and Asia/Kolkata, frozen
"now"s inside New York's repeated hour, in its spring-forward gap and after a DST change; USE_TZ =
True with a per-database TIME_ZONE):

1. a database migrated once by Django is copied and seeded through DOT's models under those
   settings, with rows a second and a microsecond either side of (and on) every cutoff DOT computes
   (now, now - REFRESH_TOKEN_EXPIRE_SECONDS) and half an hour either side of now: grants, access
   tokens without refresh token, live refresh tokens on access tokens, revoked refresh tokens;
2. it is copied twice; DOT's `cleartokens` (frozen clock, dot_cleartokens.py) runs on copy A and
   `oauthctl cleartokens` with the same settings (flags in half the cases, Django-named variables in
   the other half) and the same instant (OAUTHCTL_NOW) on copy B: every remaining row must be
   identical;
3. before the copy, `oauthctl createapplication` runs at the frozen instant (in the first case with
   pbkdf2 and --pbkdf2-iterations 600000); after DOT's cleartokens, the same Django process creates
   an application through the ORM at the same instant (rolled back): both read back through Django
   with the same `created` and `updated`, and the secret verifies with Django's check_password.

Prints one line per check; with --results appends "passed failed" lines for run.sh.
"""
import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cleartokens_diff import Backend, diff_lines  # noqa: E402

NY, KOLKATA = "America/New_York", "Asia/Kolkata"
# name, USE_TZ, TIME_ZONE, database TIME_ZONE, now, REFRESH_TOKEN_EXPIRE_SECONDS, via
CASES = [
    ("naive-ny-repeated-hour-1st", False, NY, None, "2026-11-01T05:30:00Z", 3600, "flags"),
    ("naive-ny-repeated-hour-2nd", False, NY, None, "2026-11-01T06:30:00.500000Z", 86400, "env"),
    ("naive-ny-spring-gap", False, NY, None, "2026-03-08T07:30:00Z", 3600, "env"),
    ("naive-ny-day-after-fall-back", False, NY, None, "2026-11-01T17:00:00Z", 86400, "flags"),
    ("naive-kolkata", False, KOLKATA, None, "2026-11-26T20:00:00.250000Z", 3600, "flags"),
    ("dbzone-ny-repeated-hour", True, "UTC", NY, "2026-11-01T06:30:00Z", 3600, "env"),
    ("dbzone-kolkata", True, "UTC", KOLKATA, "2026-11-26T20:00:00Z", 86400, "flags"),
]


def settings_env(case):
    _, use_tz, tz, db_tz, *_ = case
    env = {"INTEROP_USE_TZ": "true" if use_tz else "false", "INTEROP_TIME_ZONE": tz}
    if db_tz:
        env["INTEROP_DB_TIME_ZONE"] = db_tz
    return env


def parse_now(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc)


def django_setup():
    sys.path.insert(0, os.path.join(HERE, "project"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interop_project.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.utils import timezone

    return settings, timezone


def freeze(instant_text):
    """Freezes django.utils.timezone.now at the instant, in Django's form for the settings."""
    sys.path.insert(0, HERE)
    from dot_cleartokens import django_now

    settings, timezone = django_setup()
    frozen = django_now(parse_now(instant_text), settings)
    timezone.now = lambda: frozen
    return frozen


def seed(now_text, rte):
    """Inside Django: rows around every cutoff, through DOT's models."""
    n = freeze(now_text)
    from oauth2_provider.models import (get_access_token_model, get_application_model, get_grant_model,
                                        get_refresh_token_model)

    from django.db import transaction

    App, AT, RT, Grant = get_application_model(), get_access_token_model(), get_refresh_token_model(), get_grant_model()
    with transaction.atomic():  # one commit: a commit per row is most of the time on SQLite
        _seed_rows(n, rte, App, AT, RT, Grant)


def _seed_rows(n, rte, App, AT, RT, Grant):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("tz", "tz@example.com", None)  # unusable: no hashing
    app = App.objects.create(name="tz", client_type=App.CLIENT_CONFIDENTIAL,
                             authorization_grant_type=App.GRANT_CLIENT_CREDENTIALS, client_secret="x",
                             hash_client_secret=False, user=user)
    s = lambda x: dt.timedelta(seconds=x)  # noqa: E731
    bases = [n, n - s(rte), n - s(1800), n + s(1800)]
    deltas = [-s(1), -dt.timedelta(microseconds=1), s(0), dt.timedelta(microseconds=1), s(1)]
    k = 0
    for base in bases:
        for d in deltas:
            t = base + d
            k += 1
            Grant.objects.create(code=f"g{k}", expires=t, redirect_uri="https://localhost/cb", scope="read",
                                 application=app, user=user)
            AT.objects.create(token=f"lone{k}", expires=t, scope="read", application=app, user=user)
            linked = AT.objects.create(token=f"linked{k}", expires=t, scope="read", application=app, user=user)
            RT.objects.create(token=f"live{k}", access_token=linked, application=app, user=user)
            RT.objects.create(token=f"revoked{k}", revoked=t, application=app, user=user)
    print(f"seeded {k} grants, {2 * k} access and {2 * k} refresh tokens around now={n!r}")


def dot_and_check(now_text, rte, client_id, secret):
    """Inside Django: DOT's cleartokens with the clock frozen (dot_cleartokens.py), then whether
    oauthctl's application (created before the copy) reads back as the one Django writes at that
    instant. Django's reference application is rolled back, so the rows compared stay DOT's."""
    from dot_cleartokens import main as dot_main

    dot_main(["cleartokens", "--now", now_text, "--rte", rte])
    freeze(now_text)
    from django.contrib.auth.hashers import check_password, identify_hasher
    from django.db import connection, transaction
    from oauth2_provider.models import get_application_model

    App = get_application_model()
    problems = []
    with transaction.atomic():
        ref = App.objects.create(name="django-ref", client_type=App.CLIENT_CONFIDENTIAL,
                                 authorization_grant_type=App.GRANT_CLIENT_CREDENTIALS, client_secret="y",
                                 hash_client_secret=False)
        ref = App.objects.get(pk=ref.pk)
        ours = App.objects.get(client_id=client_id)
        ours.full_clean()
        for field in ("created", "updated"):
            a, b = getattr(ours, field), getattr(ref, field)
            if a != b:
                problems.append(f"{field}: oauthctl's reads back as {a!r}, Django's as {b!r}")
        if connection.vendor == "postgresql":
            # Reading back is lossy in a repeated hour (a naive local value); compare the instants.
            with connection.cursor() as cur:
                cur.execute(f"SELECT client_id, EXTRACT(EPOCH FROM created), EXTRACT(EPOCH FROM updated) "
                            f"FROM {App._meta.db_table} WHERE id IN (%s, %s)", [ours.pk, ref.pk])
                stored = {row[0]: row[1:] for row in cur.fetchall()}
            if stored[ours.client_id] != stored[ref.client_id]:
                problems.append(f"stored instants (epoch) differ: oauthctl {stored[ours.client_id]}, "
                                f"Django {stored[ref.client_id]}")
        transaction.set_rollback(True)
    if not ours.hash_client_secret:
        if ours.client_secret != secret:
            problems.append("the plaintext secret differs")
    elif not check_password(secret, ours.client_secret):
        problems.append("check_password refused the secret")
    else:
        iterations = identify_hasher(ours.client_secret).decode(ours.client_secret)["iterations"]
        if iterations != 600000:
            problems.append(f"pbkdf2 iterations {iterations}")
    print(json.dumps({"created": repr(ours.created), "problems": problems}))


def oauthctl_settings(case, env):
    """The case's settings as oauthctl flags, or as Django-named variables in `env`."""
    name, use_tz, tz, db_tz, _, _, via = case
    if via == "env":
        env["USE_TZ"] = "True" if use_tz else "False"
        env["TIME_ZONE"] = tz
        if db_tz:
            env["DATABASE_TIME_ZONE"] = db_tz
        return []
    flags = ["--use-tz", "true" if use_tz else "false", "--time-zone", tz]
    if db_tz:
        flags += ["--database-time-zone", db_tz]
    return flags


def clean_env():
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    for k in ("USE_TZ", "TIME_ZONE", "DATABASE_TIME_ZONE", "REFRESH_TOKEN_EXPIRE_SECONDS", "OAUTHCTL_NOW",
              "INTEROP_USE_TZ", "INTEROP_TIME_ZONE", "INTEROP_DB_TIME_ZONE"):
        env.pop(k, None)
    return env


def django_run(be, db, case, *args):
    env = dict(clean_env(), INTEROP_BACKEND=be.name, INTEROP_DB_NAME=be.django_name(db), **settings_env(case))
    p = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return p.stdout.strip()


def oauthctl(be, db, case, binary, *args):
    env = clean_env()
    env["OAUTHCTL_NOW"] = case[4]
    cmd = [binary, "--database-url", be.url(db), *oauthctl_settings(case, env), *args]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"oauthctl exited {p.returncode}: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return p.stdout


def run_case(be, empty, i, case, binary, report):
    name, _, _, _, now, rte, via = case
    # The seeded template becomes copy B itself: one database fewer to create per case.
    tpl, a = be.dbname(f"tz{i}t"), be.dbname(f"tz{i}a")
    b = tpl
    me = os.path.abspath(__file__)
    try:
        be.create(tpl, template=empty)
        seeded = django_run(be, tpl, case, me, "_seed", now, str(rte))
        # A pbkdf2 hash costs seconds in a debug build on a loaded machine: one case has it.
        secret = "tz-interop-secret"
        hashing = ["--hasher", "pbkdf2_sha256", "--pbkdf2-iterations", "600000"] if i == 0 else [
            "--no-hash-client-secret"]
        oauthctl(be, tpl, case, binary, "createapplication", "--client-id", "tzcheck", "--client-secret", secret,
                 *hashing, "confidential", "client-credentials")
        be.create(a, template=tpl)
        checked = json.loads(django_run(be, a, case, me, "_dot_and_check", now, str(rte), "tzcheck", secret))
        said = run_oauthctl_cleartokens(be, b, case, binary, rte)
        da, db_ = be.dump(a), be.dump(b)
        if da == db_:
            report(True, f"{name}: {len(da)} rows identical to DOT's cleartokens ({seeded}; via {via})")
        else:
            report(False, f"{name}: remaining rows differ from DOT's\n      oauthctl said: {said[:300]}\n"
                          f"{diff_lines(da, db_)}")
        if checked["problems"]:
            report(False, f"{name}: createapplication: {'; '.join(checked['problems'])}")
        else:
            report(True, f"{name}: createapplication's created/updated read back in Django as Django's own "
                         f"({checked['created']})" + ("; pbkdf2 600000 accepted" if i == 0 else ""))
    except Exception as e:  # noqa: BLE001
        report(False, f"{name}: {e}")
    finally:
        for db in (tpl, a):
            be.drop(db)


def run_oauthctl_cleartokens(be, db, case, binary, rte):
    """oauthctl's cleartokens with the case's settings, as flags or as Django-named variables."""
    env = clean_env()
    env["OAUTHCTL_NOW"] = case[4]
    flags = oauthctl_settings(case, env)
    extra = []
    if case[6] == "env":
        env["REFRESH_TOKEN_EXPIRE_SECONDS"] = str(rte)
    else:
        extra = ["--refresh-token-expire-seconds", str(rte)]
    cmd = [binary, "--database-url", be.url(db), *flags, "cleartokens", *extra]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"oauthctl cleartokens exited {p.returncode}: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return p.stdout.strip().replace("\n", " | ")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_seed":
        seed(argv[1], int(argv[2]))
        return 0
    if argv and argv[0] == "_dot_and_check":
        dot_and_check(*argv[1:5])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("backend", choices=["sqlite", "postgres", "mysql"])
    ap.add_argument("--results", default=None)
    ap.add_argument("-k", default=None)
    args = ap.parse_args(argv)
    binary = os.environ.get("OAUTHCTL_BIN")
    if not binary or not os.access(binary, os.X_OK):
        print("interop_tz.py: set OAUTHCTL_BIN to the oauthctl binary", file=sys.stderr)
        return 2
    binary = os.path.abspath(binary)
    start = time.monotonic()
    work = tempfile.mkdtemp(prefix=f"oauthctl-tz-{args.backend}-")
    be = Backend(args.backend, work)
    counts = [0, 0]

    def report(ok, line):
        counts[0 if ok else 1] += 1
        print(f"{'PASS' if ok else 'FAIL'} [{args.backend}/tz] {line}", flush=True)
        if args.results:
            with open(args.results, "a") as f:
                f.write("1 0\n" if ok else f"0 1\n# [{args.backend}/tz] {line.splitlines()[0]}\n")

    try:
        empty = be.dbname("tzempty")
        be.create(empty)
        env = dict(clean_env(), INTEROP_BACKEND=be.name, INTEROP_DB_NAME=be.django_name(empty))
        subprocess.run([sys.executable, os.path.join(HERE, "dot_cleartokens.py"), "migrate"], env=env, check=True)
        for i, case in enumerate(CASES):
            if args.k and args.k not in case[0]:
                continue
            run_case(be, empty, i, case, binary, report)
    except Exception as e:  # noqa: BLE001
        report(False, f"setup: {e}")
    finally:
        for db in list(be.created):
            try:
                be.drop(db)
            except Exception as e:  # noqa: BLE001
                print(f"interop_tz.py: could not drop {db}: {e}", file=sys.stderr)
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    print(f"== {args.backend}/tz: {time.monotonic() - start:.0f}s, {counts[0]} passed, {counts[1]} failed")
    return 1 if counts[1] else 0


if __name__ == "__main__":
    sys.exit(main())
