#!/usr/bin/env python3
"""Database chores for bench/cleartokens.sh (run with the interop venv's python).

  dbtool.py create URL [--template URL]   PostgreSQL: CREATE DATABASE (… TEMPLATE); MySQL: CREATE DATABASE;
                                          SQLite: copy the template file (or nothing)
  dbtool.py drop URL
  dbtool.py settle URL                    read every table once (warm cache), then PostgreSQL: CHECKPOINT;
                                          MySQL: FLUSH TABLES … FOR EXPORT (writes their dirty pages)
  dbtool.py checksum URL                  JSON: per table [rows, sum(id), sum of each FK column]
  dbtool.py report WORKDIR                the result table of one bench/cleartokens.sh run (with the tool
                                          base: also oauthctl / base per pair of runs)
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
            runs.append({"i": i, "secs": secs, "rss_mb": rss, "status": status, "checksum": ck})
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
    print(f"  {'tool':9s} {'wall s':>8s} {'peak RSS MB':>12s} {'/ floor':>8s}   runs")
    fl = med.get("floor")
    for t in tools:
        if med[t] is None:
            continue
        ratio = f"{med[t] / fl:7.2f}x" if fl else "      -"
        runs = " ".join(f"{r['secs']:.2f}" for r in res[t])
        print(f"  {t:9s} {med[t]:8.2f} {rss[t]:12.1f} {ratio}   {runs}")
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
              "when": meta.get("when"), "load_before": meta.get("load")}
    if "base" in tools:
        result.update({"paired_ratios_base": paired_base, "slowest_batch_base": base_slowest,
                       "longest_lock_base": base_longest_lock})
    with open(os.path.join(work, "result.json"), "w") as f:
        json.dump(result, f)
    return 0 if ok else 1


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
    elif cmd == "report":
        return report(rest[0])
    elif cmd == "markdown":
        markdown(rest[0])
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
