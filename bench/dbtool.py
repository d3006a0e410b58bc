#!/usr/bin/env python3
"""Database chores for bench/cleartokens.sh (run with the interop venv's python).

  dbtool.py create URL [--template URL]   PostgreSQL: CREATE DATABASE (… TEMPLATE); MySQL: CREATE DATABASE;
                                          SQLite: copy the template file (or nothing)
  dbtool.py drop URL
  dbtool.py settle URL                    read every table once (warm cache), then PostgreSQL: CHECKPOINT;
                                          MySQL: FLUSH TABLES … FOR EXPORT (writes their dirty pages)
  dbtool.py checksum URL                  JSON: per table [rows, sum(id), sum of each FK column]
  dbtool.py pages URL                     the page counter a run's "pages touched" is the delta of: PostgreSQL
                                          blks_hit + blks_read of the database (pg_stat_database, read from
                                          the postgres database so the read adds nothing); MariaDB/MySQL the
                                          server-wide Innodb_buffer_pool_read_requests; SQLite: 0 (its figure
                                          comes from bench/iocount.py)
  dbtool.py pagesize URL                  the database's page size in bytes
  dbtool.py indexsize URL                 bytes of the oauthctl_* indexes (PostgreSQL pg_relation_size;
                                          MariaDB innodb_index_stats 'size' pages x page size; SQLite dbstat,
                                          else 0)
  dbtool.py report WORKDIR                the result table of one bench/cleartokens.sh run (with the tool
                                          base: also oauthctl / base per pair of runs)
  dbtool.py compare RESULTS.jsonl         issue 10's targets from the last steady and quiet lines of one backend
                                          (bench/cleanup_indexes.sh); exit 1 if the rows differ anywhere
  dbtool.py markdown RESULTS.jsonl        Markdown rows from BENCH_RESULTS lines (base columns when a line
                                          has base)
"""
import json
import os
import re
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_tokens import connect, parse_url  # noqa: E402

CHECK = {
    "oauth2_provider_accesstoken": ["source_refresh_token_id", "id_token_id"],
    "oauth2_provider_refreshtoken": ["access_token_id"],
    "oauth2_provider_idtoken": [],
    "oauth2_provider_grant": [],
    "oauth2_provider_application": [],
}
WARM = {  # a column without an index, so the heap / clustered index is read
    "oauth2_provider_accesstoken": "scope",
    "oauth2_provider_refreshtoken": "token",
    "oauth2_provider_idtoken": "scope",
    "oauth2_provider_grant": "scope",
}


def admin(url):
    backend, p = parse_url(url)
    if backend == "postgres":
        import psycopg

        kw = {k: v for k, v in p.items() if v is not None and k != "dbname"}
        return backend, p, psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=10, **kw)
    import pymysql

    kw = {k: v for k, v in p.items() if k != "database"}
    return backend, p, pymysql.connect(autocommit=True, connect_timeout=10, **kw)


def create(url, template=None):
    backend, p = parse_url(url)
    if backend == "sqlite":
        if template:
            shutil.copyfile(parse_url(template)[1]["path"], p["path"])
        return
    backend, p, c = admin(url)
    with c:
        cur = c.cursor()
        if backend == "postgres":
            tpl = f' TEMPLATE "{parse_url(template)[1]["dbname"]}"' if template else ""
            cur.execute(f'CREATE DATABASE "{p["dbname"]}"{tpl}')
        else:
            if template:
                raise SystemExit("MySQL has no template databases: reload a dump instead")
            cur.execute(f"CREATE DATABASE `{p['database']}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")


def drop(url):
    backend, p = parse_url(url)
    if backend == "sqlite":
        for suffix in ("", "-journal", "-wal", "-shm"):
            try:
                os.unlink(p["path"] + suffix)
            except FileNotFoundError:
                pass
        return
    backend, p, c = admin(url)
    with c:
        if backend == "postgres":
            c.cursor().execute(f'DROP DATABASE IF EXISTS "{p["dbname"]}" WITH (FORCE)')
        else:
            c.cursor().execute(f"DROP DATABASE IF EXISTS `{p['database']}`")


def settle(url):
    backend, c = connect(url)
    cur = c.cursor()
    for t, col in WARM.items():
        cur.execute(f"SELECT COUNT(*), SUM(LENGTH({col})) FROM {t}")
        cur.fetchall()
    if backend == "postgres":
        cur.execute("CHECKPOINT")
    elif backend == "mysql":
        # write this table's dirty pages out now (an idle InnoDB may keep them for a long time), so
        # the timed run does not pay for the load's page flushing
        cur.execute("FLUSH TABLES " + ", ".join(f"`{t}`" for t in WARM) + " FOR EXPORT")
        cur.execute("UNLOCK TABLES")
    c.close()


def checksum(url):
    backend, c = connect(url)
    cur = c.cursor()
    out = {}
    for t, fks in CHECK.items():
        cols = ["COUNT(*)", "COALESCE(SUM(id), 0)"] + [f"COALESCE(SUM({f}), 0)" for f in fks]
        cur.execute(f"SELECT {', '.join(cols)} FROM {t}")
        out[t[len("oauth2_provider_"):]] = [int(x) for x in cur.fetchone()]
    c.close()
    return out


def pages(url):
    backend, p = parse_url(url)
    if backend == "sqlite":
        return 0
    if backend == "postgres":
        _, p, c = admin(url)
        cur = c.cursor()
        # a fresh snapshot of the statistics; the run's backends flushed theirs as they exited
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("SELECT blks_hit + blks_read FROM pg_stat_database WHERE datname = %s", (p["dbname"],))
        n = cur.fetchone()[0]
    else:
        _, p, c = admin(url)
        cur = c.cursor()
        cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_read_requests'")
        n = cur.fetchone()[1]
    c.close()
    return int(n)


def pagesize(url):
    backend, c = connect(url)
    cur = c.cursor()
    if backend == "sqlite":
        cur.execute("PRAGMA page_size")
    elif backend == "postgres":
        cur.execute("SELECT current_setting('block_size')::int")
    else:
        cur.execute("SELECT @@innodb_page_size")
    n = int(cur.fetchone()[0])
    c.close()
    return n


def indexsize(url):
    backend, c = connect(url)
    cur = c.cursor()
    if backend == "postgres":
        cur.execute("SELECT COALESCE(SUM(pg_relation_size(c.oid)), 0) FROM pg_class c "
                    "WHERE c.relkind = 'i' AND c.relname LIKE 'oauthctl\\_%%' "
                    "AND c.relnamespace = current_schema()::regnamespace")
    elif backend == "mysql":
        cur.execute("SELECT COALESCE(SUM(stat_value), 0) * @@innodb_page_size FROM mysql.innodb_index_stats "
                    "WHERE database_name = DATABASE() AND index_name LIKE 'oauthctl\\_%%' AND stat_name = 'size'")
    else:
        try:
            cur.execute("SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name LIKE 'oauthctl\\_%' ESCAPE '\\'")
        except Exception:  # dbstat not compiled in
            return 0
    n = int(cur.fetchone()[0])
    c.close()
    return n


# ------------------------------------------------------------------------------------------ report


def parse_time(path):
    text = open(path).read()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
    parts = [float(x) for x in wall.split(":")]
    secs = 0.0
    for x in parts:
        secs = secs * 60 + x
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    status = re.search(r"Exit status: (\d+)", text)
    return secs, rss / 1024.0, int(status.group(1)) if status else None


def own_figures(work, meta, tool):
    """An oauthctl binary's own figures (tool oauthctl or base), the largest over its runs: the slowest
    batch (candidate read to commit) and the longest write transaction (how long a row lock was held
    at most), from its JSON summaries."""
    slowest = None
    longest_lock = None
    for i in range(meta["repeat"]):
        oc_json = os.path.join(work, f"{tool}.{i}.out")
        if tool not in meta["tools"] or not os.path.exists(oc_json):
            continue
        try:
            j = json.loads(open(oc_json).read())
        except ValueError:
            slowest = "(no JSON)"
            continue
        if isinstance(j.get("slowest_batch_seconds"), (int, float)):
            slowest = max(slowest or 0.0, j["slowest_batch_seconds"])
        if isinstance(j.get("longest_lock_seconds"), (int, float)):
            longest_lock = max(longest_lock or 0.0, j["longest_lock_seconds"])
    return slowest, longest_lock


PAGES_SOURCE = {
    "postgres": "blks_hit + blks_read delta of the copy's database (pg_stat_database)",
    "mysql": "Innodb_buffer_pool_read_requests delta, server-wide (other sessions count too)",
    "sqlite": "bytes read via read()/pread() (rchar, bench/iocount.py) / page size; DOT's include Python's imports",
}


def pages_of(work, meta, tool, i):
    """A run's pages touched, from the files run_tool left (None when missing)."""
    try:
        if meta["backend"] == "sqlite":
            return int(open(os.path.join(work, f"{tool}.{i}.rchar")).read()) / meta.get("page_size", 4096)
        return int(open(os.path.join(work, f"{tool}.{i}.pages")).read())
    except (OSError, ValueError):
        return None


def index_builds(work, meta):
    """(seconds, bytes) of every `oauthctl indexes create` the run made."""
    out = []
    for name in sorted(os.listdir(work)):
        if name.endswith(".build"):
            stem = os.path.join(work, name[: -len(".build")])
            try:
                out.append((float(open(stem + ".build").read()), int(open(stem + ".isize").read())))
            except (OSError, ValueError):
                pass
    return out


def write_path(work, meta):
    """The write path's issuances/s without (plain) and with (idx) the indexes, paired by run."""
    if not meta.get("write_seconds"):
        return None
    runs = {"plain": {}, "idx": {}}
    errors = 0
    for variant in runs:
        for i in range(meta["repeat"]):
            try:
                j = json.loads(open(os.path.join(work, f"write_{variant}.{i}.json")).read())
            except (OSError, ValueError):
                errors += 1
                continue
            runs[variant][i] = j["per_second"]
            errors += j.get("errors", 0)
    ratios = [runs["idx"][i] / runs["plain"][i] for i in runs["plain"] if i in runs["idx"] and runs["plain"][i]]
    return {"plain": [runs["plain"][i] for i in sorted(runs["plain"])],
            "idx": [runs["idx"][i] for i in sorted(runs["idx"])],
            "ratios": ratios, "median_ratio": statistics.median(ratios) if ratios else float("nan"),
            "errors": errors}


def report(work):
    meta = json.load(open(os.path.join(work, "meta.json")))
    tools = meta["tools"]
    res = {}
    for tool in tools:
        runs = []
        for i in range(meta["repeat"]):
            tf = os.path.join(work, f"{tool}.{i}.time")
            if not os.path.exists(tf):
                continue
            secs, rss, status = parse_time(tf)
            ck = json.load(open(os.path.join(work, f"{tool}.{i}.sum")))
            runs.append({"i": i, "secs": secs, "rss_mb": rss, "status": status, "checksum": ck,
                         "pages": pages_of(work, meta, tool, i)})
        res[tool] = runs
    ok = True
    lines = []
    before = json.load(open(os.path.join(work, "before.sum")))
    ref = None
    for tool in tools:
        for r in res[tool]:
            if r["status"] != 0:
                ok = False
                lines.append(f"ERROR: {tool} exited {r['status']} (see {work}/{tool}.*.err)")
            if ref is None:
                ref = (tool, r["checksum"])
            elif r["checksum"] != ref[1]:
                ok = False
                lines.append(f"MISMATCH: {tool} left {r['checksum']}\n          {ref[0]} left {ref[1]}")
    med = {t: statistics.median(r["secs"] for r in res[t]) if res[t] else None for t in tools}
    rss = {t: max(r["rss_mb"] for r in res[t]) if res[t] else None for t in tools}
    slowest, longest_lock = own_figures(work, meta, "oauthctl")
    base_slowest, base_longest_lock = own_figures(work, meta, "base")
    total_before = sum(v[0] for k, v in before.items() if k != "application")
    total_after = sum(v[0] for k, v in ref[1].items() if k != "application") if ref else None
    head = (f"{meta['backend']} {meta['mix']} N={meta['n']} (rows {total_before}, deleted "
            f"{total_before - total_after if total_after is not None else '?'}"
            f"{' = %.1f %%' % (100.0 * (total_before - total_after) / total_before) if total_after is not None else ''}),"
            f" RTE {meta['rte']}, now {meta['now']}, {meta['repeat']} run(s) each, median wall time")
    print(head)
    pages_med = {t: statistics.median(r["pages"] for r in res[t]) if res[t] and all(
        r["pages"] is not None for r in res[t]) else None for t in tools}
    print(f"  {'tool':12s} {'wall s':>8s} {'peak RSS MB':>12s} {'/ floor':>8s} {'pages':>11s}   runs")
    fl = med.get("floor")
    for t in tools:
        if med[t] is None:
            continue
        ratio = f"{med[t] / fl:7.2f}x" if fl else "      -"
        runs = " ".join(f"{r['secs']:.2f}" for r in res[t])
        pg = f"{pages_med[t]:11.0f}" if pages_med[t] is not None else f"{'-':>11s}"
        print(f"  {t:12s} {med[t]:8.2f} {rss[t]:12.1f} {ratio} {pg}   {runs}")
    print(f"  pages: {PAGES_SOURCE[meta['backend']]}")
    builds = index_builds(work, meta)
    if builds:
        print(f"  oauthctl indexes create: median {statistics.median(b[0] for b in builds):.2f} s, "
              f"indexes {statistics.median(b[1] for b in builds) / 1048576:.1f} MiB "
              f"({len(builds)} builds: {' '.join(f'{b[0]:.2f}' for b in builds)} s)")
    writes = write_path(work, meta)
    if writes:
        print(f"  write path ({meta['writers']} writers, {meta['write_seconds']} s, issuances/s; one = access + refresh "
              f"+ ID token): without indexes {writes['plain']}, with {writes['idx']}; with/without per pair: median "
              f"{writes['median_ratio']:.3f} ({' '.join(f'{x:.3f}' for x in writes['ratios'])})"
              f"{'; ERRORS ' + str(writes['errors']) if writes['errors'] else ''}")
    if slowest is not None:
        print(f"  oauthctl slowest batch: {slowest} s, longest lock hold: {longest_lock} s")
    if base_slowest is not None:
        print(f"  base slowest batch: {base_slowest} s, longest lock hold: {base_longest_lock} s")
    if med.get("dot") and med.get("oauthctl"):
        print(f"  DOT / oauthctl: {med['dot'] / med['oauthctl']:.2f}x")
    # Run i of each tool ran back to back (the loop interleaves the tools), so the server and
    # the machine were in about the same state: the ratio within a pair is less noisy than
    # the ratio of the medians when absolute times drift between runs.
    paired = None
    if len(res.get("floor", [])) > 1 and len(res.get("oauthctl", [])) == len(res["floor"]):
        paired = [o["secs"] / f["secs"] for o, f in zip(res["oauthctl"], res["floor"])]
        print(f"  oauthctl / floor per pair: median {statistics.median(paired):.2f}x "
              f"({' '.join(f'{x:.2f}' for x in paired)})")
    # The same for the two oauthctl binaries, paired by run index (back to back when they are next
    # to each other in BENCH_TOOLS): what a change to oauthctl did, with the drift divided out.
    paired_base = None
    if res.get("base") and res.get("oauthctl"):
        base_by_run = {b["i"]: b for b in res["base"]}
        paired_base = [o["secs"] / base_by_run[o["i"]]["secs"] for o in res["oauthctl"] if o["i"] in base_by_run]
    if paired_base:
        print(f"  oauthctl / base per pair: median {statistics.median(paired_base):.2f}x "
              f"({' '.join(f'{x:.2f}' for x in paired_base)})")
    for line in lines:
        print("  " + line)
    print(f"  final rows: {'identical checksums' if ok else 'DIFFERENT'} "
          f"({', '.join(f'{k} {v[0]}' for k, v in ref[1].items()) if ref else '-'})")
    result = {"backend": meta["backend"], "mix": meta["mix"], "n": meta["n"], "rows": total_before,
              "deleted": (total_before - total_after) if total_after is not None else None,
              "median_s": med, "peak_rss_mb": rss, "runs": {t: [r["secs"] for r in res[t]] for t in tools},
              "slowest_batch": slowest, "longest_lock": longest_lock, "paired_ratios": paired, "identical": ok, "versions": meta.get("versions"),
              "when": meta.get("when"), "load_before": meta.get("load"), "pages": pages_med,
              "index_builds": builds, "write_path": writes, "load_after": open("/proc/loadavg").read().split()[:3]}
    if "base" in tools:
        result.update({"paired_ratios_base": paired_base, "slowest_batch_base": base_slowest,
                       "longest_lock_base": base_longest_lock})
    if writes and (writes["errors"] or not writes["ratios"]):
        ok = False
    with open(os.path.join(work, "result.json"), "w") as f:
        json.dump(result, f)
    return 0 if ok else 1


def compare(path):
    """Steady at N vs quiet at 10 N (the last line of each in RESULTS), against issue 10's targets."""
    results = [json.loads(line) for line in open(path) if line.strip()]
    last = {r["mix"]: r for r in results}
    if "steady" not in last or "quiet" not in last:
        print("compare: needs a steady and a quiet result")
        return 1
    s, q = last["steady"], last["quiet"]
    ms, mq, ps, pq = s["median_s"], q["median_s"], s.get("pages") or {}, q.get("pages") or {}

    def ratio(a, b):
        return a / b if a and b else float("nan")

    rows = [
        ("quiet / steady, oauthctl with indexes: time", ratio(mq.get("oauthctl_idx"), ms.get("oauthctl_idx")), "<= 1.5"),
        ("quiet / steady, oauthctl with indexes: pages", ratio(pq.get("oauthctl_idx"), ps.get("oauthctl_idx")), "<= 1.5"),
        ("quiet: no-index floor / oauthctl with indexes", ratio(mq.get("floor"), mq.get("oauthctl_idx")), ">= 10"),
        ("quiet: oauthctl with indexes / floor with indexes", ratio(mq.get("oauthctl_idx"), mq.get("floor_idx")), "<= 1.2"),
        ("quiet: oauthctl without indexes / floor without", ratio(mq.get("oauthctl"), mq.get("floor")), "(today)"),
        ("quiet: DOT / oauthctl with indexes", ratio(mq.get("dot"), mq.get("oauthctl_idx")), ""),
    ]
    wq = q.get("write_path") or {}
    if wq.get("ratios"):
        rows.append(("quiet: write path with / without indexes (per pair)", wq["median_ratio"], ">= 0.9"))
    print(f"{q['backend']}: steady N={s['n']:,} (deleted {s['deleted']:,}) vs quiet N={q['n']:,} (deleted {q['deleted']:,})")
    for name, value, target in rows:
        verdict = ""
        if target.startswith("<="):
            verdict = "met" if value <= float(target[2:]) else "NOT met"
        elif target.startswith(">="):
            verdict = "met" if value >= float(target[2:]) else "NOT met"
        print(f"  {name:55s} {value:8.2f}   {target:8s} {verdict}")
    slowest = max((r.get("slowest_batch") or 0) for r in (s, q))
    rss = max((r["peak_rss_mb"].get(t) or 0) for r in (s, q) for t in ("oauthctl", "oauthctl_idx"))
    print(f"  {'oauthctl slowest batch s':55s} {slowest:8.3f}   {'< 1':8s} {'met' if slowest < 1 else 'NOT met'}")
    print(f"  {'oauthctl peak RSS MiB':55s} {rss:8.1f}   {'<= 32':8s} {'met' if rss <= 32 else 'NOT met'}")
    same = all(r["identical"] for r in (s, q))
    print(f"  {'same rows as DOT in every run':55s} {'yes' if same else 'NO':>8s}")
    print(f"  load before/after: steady {s.get('load_before')} / {s.get('load_after')}, "
          f"quiet {q.get('load_before')} / {q.get('load_after')}")
    return 0 if same else 1


def markdown(path):
    """BENCH_RESULTS lines -> one Markdown table row per run (for BENCHMARKS.md). When a line ran the
    tool base, the table gets base's column and oauthctl/base (ratio of the medians, then the median
    of the per-pair ratios in parentheses)."""
    results = [json.loads(line) for line in open(path) if line.strip()]
    with_base = any(r["median_s"].get("base") is not None for r in results)
    base_head = " base s (RSS MB) | oauthctl/base (per pair) |" if with_base else ""
    print(f"| backend | mix | N | deleted | DOT s (RSS MB) | oauthctl s (RSS MB) |{base_head} floor s (RSS MB) "
          "| oauthctl/floor | DOT/floor | DOT/oauthctl | slowest batch s | longest lock s | same rows |")
    print("|---" * (15 if with_base else 13) + "|")
    for r in results:
        m, rss = r["median_s"], r["peak_rss_mb"]

        def cell(t):
            return f"{m[t]:.2f} ({rss[t]:.0f})" if m.get(t) is not None else "-"

        def ratio(a, b):
            return f"{m[a] / m[b]:.2f}x" if m.get(a) and m.get(b) else "-"

        base = ""
        if with_base:
            pb = r.get("paired_ratios_base")
            per_pair = f" ({statistics.median(pb):.2f}x)" if pb else ""
            base = f" {cell('base')} | {ratio('oauthctl', 'base')}{per_pair} |"
        print(f"| {r['backend']} | {r['mix']} | {r['n']:,} | {r['deleted']:,} | {cell('dot')} | {cell('oauthctl')} "
              f"|{base} {cell('floor')} | {ratio('oauthctl', 'floor')} | {ratio('dot', 'floor')} | {ratio('dot', 'oauthctl')} "
              f"| {r.get('slowest_batch') or '-'} | {r.get('longest_lock') or '-'} | {'yes' if r['identical'] else 'NO'} |")


def main():
    cmd, *rest = sys.argv[1:]
    if cmd == "create":
        tpl = rest[2] if len(rest) > 2 and rest[1] == "--template" else None
        create(rest[0], tpl)
    elif cmd == "drop":
        drop(rest[0])
    elif cmd == "settle":
        settle(rest[0])
    elif cmd == "checksum":
        print(json.dumps(checksum(rest[0])))
    elif cmd == "pages":
        print(pages(rest[0]))
    elif cmd == "pagesize":
        print(pagesize(rest[0]))
    elif cmd == "indexsize":
        print(indexsize(rest[0]))
    elif cmd == "report":
        return report(rest[0])
    elif cmd == "compare":
        return compare(rest[0])
    elif cmd == "markdown":
        markdown(rest[0])
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
