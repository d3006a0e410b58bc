#!/usr/bin/env bash
# cleartokens --incremental against the full pass, steps 4 and 5, on PostgreSQL (issue 10, item 2).
#
#   bench/incremental.sh [N]        default N = 500000; BENCH_REPEAT (default 3) runs per contender
#
# One template database: `oauthctl migrate`, bench/gen_tokens.py --mix quiet -n N at NOW, the
# cleanup indexes, then the mark: a complete `cleartokens --incremental` run a day before NOW (a
# full pass, as the first one always is), then VACUUM ANALYZE. Each run gets a fresh copy of the
# template (CREATE DATABASE … TEMPLATE) and runs `cleartokens --incremental` at NOW: "full" with
# --full-pass-every 0 (the forced full pass), "incremental" without (the mark is a day old). Per
# run, one line: contender, steps 4 and 5 seconds and pages (`examined`, PostgreSQL buffer pages
# of the token tables), rows deleted, mode; the rows left by both contenders are compared.
# Machine load (/proc/loadavg) is printed before and after. Needs psql, a PostgreSQL at
# PGHOST/PGPORT (default 127.0.0.1:5432, user postgres) and the interop venv (psycopg).
# OAUTHCTL_BIN: the binary (default target/release/oauthctl); BENCH_KEEP_TEMPLATE=1 keeps the template.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
n="${1:-500000}"; repeat="${BENCH_REPEAT:-3}"
bin="${OAUTHCTL_BIN:-$(dirname "$here")/target/release/oauthctl}"
py="${INTEROP_DIR:-$(dirname "$here")/tests/interop}/.venv/bin/python"
host="${PGHOST:-127.0.0.1}"; port="${PGPORT:-5432}"
now="2026-11-26T20:00:00Z"; mark="2026-11-25T20:00:00Z"; rte=1209600
tpl="oauthctl_bench_incr_tpl"
url() { echo "postgres://postgres@$host:$port/$1"; }
sql() { psql -q -h "$host" -p "$port" -U postgres -d "${2:-postgres}" -v ON_ERROR_STOP=1 -c "$1"; }
run() { # db, extra args...
    local db="$1"; shift
    DATABASE_URL="$(url "$db")" OAUTHCTL_NOW="$now" "$bin" cleartokens --incremental \
        --refresh-token-expire-seconds "$rte" --format json "$@"
}
echo "load before: $(cat /proc/loadavg)" >&2
sql "DROP DATABASE IF EXISTS $tpl"; sql "CREATE DATABASE $tpl"
DATABASE_URL="$(url "$tpl")" "$bin" migrate >/dev/null
"$py" "$here/gen_tokens.py" --database-url "$(url "$tpl")" -n "$n" --mix quiet --now "$now" --rte "$rte"
DATABASE_URL="$(url "$tpl")" "$bin" indexes create >/dev/null
DATABASE_URL="$(url "$tpl")" OAUTHCTL_NOW="$mark" "$bin" cleartokens --incremental \
    --refresh-token-expire-seconds "$rte" --format json >/dev/null
sql "VACUUM ANALYZE" "$tpl"
summary='def s(r): return {x["name"]: x for x in r["steps"]}
import json,sys
r=json.load(sys.stdin); st=s(r)
a, i = st["expired_access_tokens"], st["expired_id_tokens"]
print(sys.argv[1], "step4 %.3fs %s pages %d deleted | step5 %.3fs %s pages %d deleted | total %d deleted %.3fs | mode %s/%s" % (
  a["seconds"], (a.get("examined") or {}).get("pages"), a["deleted"],
  i["seconds"], (i.get("examined") or {}).get("pages"), i["deleted"],
  r["deleted_total"], r["duration_seconds"], r["mode"]["kind"], r["mode"]["reason"]))'
for i in $(seq "$repeat"); do
    for contender in full incremental; do
        db="oauthctl_bench_incr_$contender"
        sql "DROP DATABASE IF EXISTS $db"; sql "CREATE DATABASE $db TEMPLATE $tpl"
        args=(); [ "$contender" = full ] && args=(--full-pass-every 0)
        run "$db" "${args[@]}" | "$py" -c "$summary" "$contender"
        psql -qAt -h "$host" -p "$port" -U postgres -d "$db" -c \
            "SELECT md5(string_agg(id::text, ',' ORDER BY id)) FROM oauth2_provider_accesstoken" \
            >"/tmp/oauthctl_bench_incr_$contender.rows"
        psql -qAt -h "$host" -p "$port" -U postgres -d "$db" -c \
            "SELECT md5(string_agg(id::text, ',' ORDER BY id)) FROM oauth2_provider_idtoken" \
            >>"/tmp/oauthctl_bench_incr_$contender.rows"
        sql "DROP DATABASE $db"
    done
    if cmp -s /tmp/oauthctl_bench_incr_full.rows /tmp/oauthctl_bench_incr_incremental.rows; then
        echo "run $i: same access and ID tokens left"
    else
        echo "run $i: access or ID tokens left DIFFER"
    fi
done
[ -n "${BENCH_KEEP_TEMPLATE:-}" ] || sql "DROP DATABASE $tpl"
echo "load after: $(cat /proc/loadavg)" >&2
