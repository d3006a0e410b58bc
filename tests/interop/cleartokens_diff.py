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
self-check of the benchmark's floor).

--matrix RELEASE makes the run one cell of the release matrix (matrix.py, which starts it under that
release's venv python): the release's scenarios (matrix.SCENARIOS) instead of the cases above, a
PASS line for the release's own migrate, a check that oauthctl's auto detection names the release's
rules, labels "[dot-RELEASE/BACKEND]", and with --results-jsonl one JSON object per check.
--createapp adds app_check.py (createapplication accepted by the release's Django). Needs OAUTHCTL_BIN for the oauthctl candidate; PostgreSQL at
127.0.0.1:5432 (postgres, trust) and MariaDB/MySQL at 127.0.0.1:3306 (root, no password), or the
INTEROP_PG_* / INTEROP_MYSQL_* variables; an unreachable server is a failure, never a skip.
Prints one line per case and "N passed, M failed"; exits 1 on any difference.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from interop_lib import NOWS, Backend, diff_lines, rfc3339, run_dot, run_oauthctl, seed

HERE = os.path.dirname(os.path.abspath(__file__))
INTEROP_DIR = os.environ.get("INTEROP_DIR", HERE)

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


def run_floor(be, db, c):
    from floor_sql import statements
    from gen_tokens import parse_now

    now = parse_now(rfc3339(NOWS[c["now"]]))
    with be.connect(db) as conn:
        cur = conn.cursor()
        for st in statements(be.name, now, c["rte"], c["grace"], c["reuse"]):
            cur.execute(st.rstrip(";"))
    return "floor SQL"


def detected_rules(be, db, binary, want):
    """(ok, what): the rules `oauthctl cleartokens --dry-run --format json` says it follows on db."""
    import json

    env = dict(os.environ, OAUTHCTL_NOW="2026-11-26T20:00:00Z")
    for k in ("OAUTHCTL_DOT_VERSION", "REFRESH_TOKEN_EXPIRE_SECONDS"):
        env.pop(k, None)
    p = subprocess.run([binary, "--database-url", be.url(db), "cleartokens", "--dry-run", "--format", "json"],
                       env=env, capture_output=True, text=True)
    if p.returncode != 0:
        return False, f"dry run exited {p.returncode}: {p.stderr.strip()[-500:]}"
    try:
        got = json.loads(p.stdout).get("dot_rules") or {}
    except ValueError:
        return False, f"no JSON on stdout: {p.stdout[:300]!r}"
    what = f"rules {got.get('rules')!r} ({got.get('source')})"
    return got.get("rules") == want, what + ("" if got.get("rules") == want else f", want {want!r}")


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
    ap.add_argument("--matrix", metavar="RELEASE", default=None,
                    help="a matrix.py cell: that release's scenarios (run under the release's venv python)")
    ap.add_argument("--createapp", action="store_true",
                    help="also check oauthctl createapplication against this release (app_check.py)")
    ap.add_argument("--results-jsonl", default=None, help="append one JSON object per check to this file")
    args = ap.parse_args(argv)
    rel = None
    if args.matrix:
        import matrix

        rel = matrix.release(args.matrix)
        import django
        import oauth2_provider

        if oauth2_provider.__version__ != rel["release"]:
            print(f"cleartokens_diff.py: --matrix {rel['release']} under a venv with DOT {oauth2_provider.__version__}",
                  file=sys.stderr)
            return 2
        rel = dict(rel, django=django.get_version())
    tag = f"dot-{rel['release']}/{args.backend}" if rel else args.backend

    def record(check, ok, detail=""):
        if args.results_jsonl and rel:
            import json

            with open(args.results_jsonl, "a", encoding="utf-8") as f:
                f.write(json.dumps(dict(release=rel["release"], django=rel["django"], backend=args.backend,
                                        check=check, ok=ok, detail=detail[:500])) + "\n")

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
    be = Backend(args.backend, work, prefix="oauthctl_mx" if rel else "oauthctl_ctdiff")
    passed = failed = 0
    try:
        print(f"== {tag}: {be.ping()}; candidate {args.candidate}"
              + (f" ({binary})" if binary else ""), flush=True)
        # one Django migrate, copied into two templates: the full random mix for the batch-10000
        # cases, a smaller one for the small batch sizes (DOT needs ~8 queries per batch)
        empty = be.dbname("empty")
        be.create(empty)
        env = dict(os.environ, INTEROP_BACKEND=be.name, INTEROP_DB_NAME=be.django_name(empty), INTEROP_DIR=INTEROP_DIR,
                   PYTHONDONTWRITEBYTECODE="1")
        t0 = time.monotonic()
        subprocess.run([py, os.path.join(HERE, "dot_cleartokens.py"), "migrate"], env=env, check=True)
        if rel:
            print(f"PASS [{tag}] the release's own migrate (Django {rel['django']}, {time.monotonic() - t0:.1f}s)",
                  flush=True)
            passed += 1
            record("migrate", True)
        cases = all_cases() if rel is None else matrix.scenarios_for(rel)
        if args.quick:
            cases = [cases[i] for i in QUICK]
        if args.k:
            cases = [c for c in cases if args.k in case_name(c)]
        if args.createapp:
            appdb = be.dbname("app")
            be.create(appdb, template=empty)
            env["INTEROP_DB_NAME"] = be.django_name(appdb)
            env["INTEROP_DATABASE_URL"] = be.url(appdb)
            cmd = [py, os.path.join(HERE, "app_check.py"), "--tag", tag]
            if args.results_jsonl and rel:
                cmd += ["--results-jsonl", args.results_jsonl, "--release", rel["release"], "--django", rel["django"],
                        "--backend", args.backend]
            p = subprocess.run(cmd, env=env, capture_output=True, text=True)
            for line in p.stdout.splitlines():
                print(line, flush=True)
                passed += line.startswith("PASS ")
                failed += line.startswith("FAIL ")
            if p.returncode != 0 and "FAIL " not in p.stdout:
                failed += 1
                print(f"FAIL [{tag}] app_check.py exited {p.returncode}: {p.stderr[-2000:]}", flush=True)
                record("createapplication", False, p.stderr[-500:])
            be.drop(appdb)
        templates = {}
        sizes = [("full", args.random_rows)] + ([("small", args.random_rows // 6)]
                                                if any(c["batch"] < 100 for c in cases) else [])
        for size, rows in sizes:
            tpl = templates[size] = be.dbname(size)
            be.create(tpl, template=empty)
            env["INTEROP_DB_NAME"] = be.django_name(tpl)
            p = subprocess.run([py, os.path.abspath(__file__), "_seed", args.seed, str(rows)], env=env,
                               check=True, capture_output=True, text=True)
            print(f"== {tag}: template {size}: {p.stdout.strip()} ({time.monotonic() - start:.1f}s)",
                  flush=True)
        if rel:
            ok, why = detected_rules(be, templates["full"], binary, rel["rules"])
            print(f"PASS [{tag}] oauthctl detects the release: {why}" if ok
                  else f"FAIL [{tag}] oauthctl detects the release: {why}", flush=True)
            passed += ok
            failed += not ok
            record("detects the release's rules", ok, "" if ok else why)
        for i, c in enumerate(cases):
            t0 = time.monotonic()
            name = ("cleartokens " + c["label"]) if rel else case_name(c)
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
                    print(f"PASS [{tag}] {name}: {len(da)} rows identical; DOT steps {dot_counts}, "
                          f"deleted at/rt/idt/grant {gone} ({time.monotonic() - t0:.1f}s)", flush=True)
                    record(name, True)
                else:
                    failed += 1
                    keep = args.keep
                    print(f"FAIL [{tag}] {name}: remaining rows differ; DOT steps {dot_counts}\n"
                          f"      candidate said: {info[:500]}\n{diff_lines(da, db_, limit=4 if rel else 12)}", flush=True)
                    record(name, False, f"DOT only {len(set(da) - set(db_))}, oauthctl only {len(set(db_) - set(da))}")
            except Exception as e:  # noqa: BLE001
                failed += 1
                keep = args.keep
                print(f"FAIL [{tag}] {name}: {e}", flush=True)
                record(name, False, str(e))
            finally:
                if keep:
                    print(f"      kept: A={be.url(a)} B={be.url(b)}")
                    be.created = [x for x in be.created if x not in (a, b)]
                else:
                    be.drop(a)
                    be.drop(b)
    except SystemExit as e:
        failed += 1
        print(f"FAIL [{tag}] setup: {e}", flush=True)
        record("setup", False, str(e))
    except Exception as e:  # noqa: BLE001
        failed += 1
        print(f"FAIL [{tag}] setup: {e}", flush=True)
        record("setup", False, str(e))
    finally:
        for db in list(be.created):
            try:
                be.drop(db)
            except Exception as e:  # noqa: BLE001
                print(f"cleartokens_diff.py: could not drop {db}: {e}", file=sys.stderr)
        if not args.keep or failed == 0:
            shutil.rmtree(work, ignore_errors=True)
    print(f"== {tag}: {time.monotonic() - start:.0f}s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
