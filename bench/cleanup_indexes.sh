#!/usr/bin/env bash
# Issue 10's benchmark: the daily run follows the work, not the table. Steady at N vs quiet at 10 N
# (the same ~1 % of N deletable rows, ten times the live rows), side by side on identical copies:
# DOT, the floor and oauthctl without the cleanup indexes, the floor and oauthctl with them, plus the
# write path without and with the indexes. One command per backend:
#
#   cargo build --release
#   bench/cleanup_indexes.sh BACKEND            the real run: steady 1,000,000 vs quiet 10,000,000,
#                                               3 runs each, 30 s write path (needs a quiet machine;
#                                               hours on SQLite/MariaDB, mostly generating the data)
#   bench/cleanup_indexes.sh BACKEND --small    steady 20,000 vs quiet 200,000, 3 runs, 10 s write path
#   bench/cleanup_indexes.sh BACKEND --smoke    steady 2,000 vs quiet 20,000, 1 run, 2 s write path
#
# BACKEND: sqlite | postgres | mysql. Each half is one bench/cleartokens.sh run (see its header for
# what is timed and how, the environment it reads and what it needs); the results are appended to
# BENCH_RESULTS (default: ./cleanup-indexes-BACKEND-<UTC time>.jsonl) and compared at the end by
# `bench/dbtool.py compare` against issue 10's targets (quiet ≤ 1.5× steady with the indexes in
# time and pages; ≥ 10× faster than the no-index floor at quiet; ≤ 1.2× the with-index floor;
# write path ≥ 90 %; slowest batch < 1 s; peak RSS ≤ 32 MiB; same rows as DOT in every run).
# Machine load (/proc/loadavg) is recorded before and after each half.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
backend="${1:-}"; size="${2:-}"
case "$backend" in sqlite|postgres|mysql) ;; *) sed -n '2,20p' "$0" >&2; exit 2 ;; esac
case "$size" in
    "") steady=1000000 repeat=3 write=30 ;;
    --small) steady=20000 repeat=3 write=10 ;;
    --smoke) steady=2000 repeat=1 write=2 ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
results="${BENCH_RESULTS:-$PWD/cleanup-indexes-$backend-$(date -u +%Y%m%dT%H%M%SZ).jsonl}"
export BENCH_RESULTS="$results" BENCH_REPEAT="${BENCH_REPEAT:-$repeat}"
export BENCH_WRITE_SECONDS="${BENCH_WRITE_SECONDS:-$write}"
export BENCH_TOOLS="${BENCH_TOOLS:-dot floor oauthctl floor_idx oauthctl_idx}"
rc=0
"$here/cleartokens.sh" "$backend" "$steady" steady || rc=1
"$here/cleartokens.sh" "$backend" "$((steady * 10))" quiet || rc=1
py="${INTEROP_DIR:-$(dirname "$here")/tests/interop}/.venv/bin/python"
"$py" "$here/dbtool.py" compare "$results" || rc=1
echo "results: $results" >&2
exit $rc
