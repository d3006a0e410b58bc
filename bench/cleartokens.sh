#!/usr/bin/env bash
# Benchmark of `oauthctl cleartokens` against DOT 3.4.1's `manage.py cleartokens` and the floor.
#
#   cargo build --release
#   bench/cleartokens.sh BACKEND N MIX        BACKEND: sqlite | postgres | mysql
#                                             N: tokens across the four token tables (e.g. 1000000)
#                                             MIX: backlog (~60 % deletable) | steady (~1 % deletable)
#                                                  | quiet (steady's deletable rows, 10x its live rows)
#   bench/cleartokens.sh --smoke [BACKEND]    backlog N = 2000 (floor, oauthctl, dot), then
#                                             bench/cleanup_indexes.sh BACKEND --smoke (steady 2,000 vs
#                                             quiet 20,000, every tool incl. the _idx ones, 2 s write
#                                             path); about 1 min per backend; exit 1 unless every tool
#                                             leaves the same rows
#   bench/cleanup_indexes.sh BACKEND          issue 10's comparison: steady 1M vs quiet 10M (see there)
#
# What it does:
#   1. A fresh database gets DOT's schema from Django's `migrate` (tests/interop/project, the interop
#      venv) and N generated tokens (bench/gen_tokens.py, seed BENCH_SEED, now BENCH_NOW).
#      That is the snapshot.
#   2. For each tool, on its own fresh copy of the snapshot (SQLite: file copy; PostgreSQL:
#      CREATE DATABASE … TEMPLATE; MariaDB/MySQL: schema dump + reload of the generated TSV files),
#      after one read of every table and a checkpoint / InnoDB flush, timed by /usr/bin/time -v:
#        dot       DOT's real `manage.py cleartokens` (tests/interop/dot_cleartokens.py: call_command
#                  with django.utils.timezone.now frozen at BENCH_NOW), batch settings at DOT's defaults
#        oauthctl  `$OAUTHCTL_BIN --database-url … cleartokens --format json` with OAUTHCTL_NOW, defaults
#        floor     the same six steps as single unbatched SQL statements (bench/floor_sql.py) run by
#                  the plain client: sqlite3 / psql / mariadb
#        floor_idx, oauthctl_idx  the floor and oauthctl on a copy that got `oauthctl indexes create`
#                  first (not timed; its build time and the indexes' size are reported)
#        base      only when BENCH_TOOLS names it: exactly the oauthctl command (same flags, same
#                  environment) with the binary $OAUTHCTL_BASE_BIN instead, e.g. a build of the
#                  previous release or commit, to show what a change to oauthctl did to its timings
#      All of them with REFRESH_TOKEN_EXPIRE_SECONDS = BENCH_RTE (grace 0, no reuse protection).
#   3. A checksum of what is left (per table: rows, sum(id), sum of every FK column) must be the same
#      for all tools; prints wall time (median of BENCH_REPEAT runs), peak RSS of the client process,
#      the ratios to the floor and oauthctl's slowest batch (from its JSON summary); with base also
#      base's slowest batch and oauthctl / base per pair (run i of each, back to back when the two
#      are next to each other in BENCH_TOOLS), the median over the pairs. Pages touched per run:
#      PostgreSQL blks_hit + blks_read of the copy (pg_stat_database), MariaDB the server-wide
#      Innodb_buffer_pool_read_requests (other sessions on the server count too), SQLite the bytes
#      the process read through read()/pread() (rchar, bench/iocount.py) / page size (for DOT this
#      includes Python's own imports, a few MB).
#   4. With BENCH_WRITE_SECONDS > 0: the write path (bench/write_load.py): BENCH_WRITERS DOT-like
#      issuers for BENCH_WRITE_SECONDS on a fresh copy without and then with the cleanup indexes,
#      BENCH_REPEAT pairs; issuances/s (access + refresh + ID token each) and with/without per pair.
#
# Environment (all optional):
#   OAUTHCTL_BIN   oauthctl binary (default: target/release/oauthctl of this checkout)
#   OAUTHCTL_BASE_BIN  the second oauthctl binary, run as the tool `base` (no default; required when
#                  BENCH_TOOLS names base), e.g. BENCH_TOOLS="floor base oauthctl dot"
#   BENCH_TOOLS    tools to run, in this order, from floor, oauthctl, dot, base, floor_idx and
#                  oauthctl_idx (default: "floor oauthctl dot")
#   BENCH_WRITE_SECONDS  the write path's length per run (default 0: not run); BENCH_WRITERS (8)
#   BENCH_REPEAT   runs per tool, each on a fresh copy (default 1)
#   BENCH_NOW      the frozen "now" (default 2026-11-26T20:00:00Z); BENCH_SEED (default 1)
#   BENCH_RTE      REFRESH_TOKEN_EXPIRE_SECONDS (default 1209600 = 14 days)
#   BENCH_WORK     where the work directory goes (SQLite files, logs; default $TMPDIR or /tmp)
#   BENCH_KEEP=1   keep the work directory and the snapshot database
#   BENCH_SNAPSHOT reuse a snapshot kept by BENCH_KEEP=1 instead of generating one (PostgreSQL: its
#                  database name; SQLite: its file; MySQL: the kept work directory, whose schema.sql,
#                  tsv/ and before.sum the copies are made from), made with the same N, MIX, seed,
#                  now and RTE (not checked: the report's row count shows N)
#   BENCH_RESULTS  append the run's result as one JSON line to this file
#   INTEROP_DIR    the interop suite's directory (default tests/interop): its .venv and project/
#   PostgreSQL: postgres@127.0.0.1:5432 (INTEROP_PG_HOST/PORT/USER); MariaDB: root@127.0.0.1:3306
#   (INTEROP_MYSQL_HOST/PORT/USER), no password. Needs /usr/bin/time (Debian package `time`; else bench/timeit.py stands in),
#   sqlite3, psql, mariadb and mariadb-dump.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

if [ "${1:-}" = "--smoke" ]; then  # $here and $repo are set above
    shift
    rc=0
    results="$(mktemp "${TMPDIR:-/tmp}/oauthctl-bench-smoke.XXXXXX")"
    for b in ${1:-sqlite postgres mysql}; do
        BENCH_REPEAT=1 "$0" "$b" 2000 backlog || rc=1
        # steady 2,000 vs quiet 20,000 with every tool and the write path, as the real run has them
        BENCH_RESULTS="$results" "$here/cleanup_indexes.sh" "$b" --smoke || rc=1
    done
    rm -f "$results"
    exit $rc
fi

backend="${1:-}"; n="${2:-}"; mix="${3:-}"
case "$backend" in sqlite|postgres|mysql) ;; *) sed -n '2,12p' "$0" >&2; exit 2 ;; esac
case "$mix" in backlog|steady|quiet) ;; *) sed -n '2,12p' "$0" >&2; exit 2 ;; esac
[[ "$n" =~ ^[0-9]+$ ]] || { sed -n '2,12p' "$0" >&2; exit 2; }

tools="${BENCH_TOOLS:-floor oauthctl dot}"
repeat="${BENCH_REPEAT:-1}"
now="${BENCH_NOW:-2026-11-26T20:00:00Z}"
seed="${BENCH_SEED:-1}"
rte="${BENCH_RTE:-1209600}"
idir="${INTEROP_DIR:-$repo/tests/interop}"
export INTEROP_DIR="$idir"
py="$idir/.venv/bin/python"
bin="${OAUTHCTL_BIN:-$repo/target/release/oauthctl}"
base_bin="${OAUTHCTL_BASE_BIN:-}"
for tool in $tools; do
    case "$tool" in floor|oauthctl|dot|base|floor_idx|oauthctl_idx) ;; *) echo "cleartokens.sh: BENCH_TOOLS: unknown tool $tool" >&2; exit 2 ;; esac
done

if [ -x /usr/bin/time ]; then
    timer=(/usr/bin/time -v)
else
    echo "cleartokens.sh: /usr/bin/time missing (apt-get install time); using bench/timeit.py" >&2
    timer=(python3 "$here/timeit.py")
fi
if [ ! -x "$py" ] && [ -x "$idir/setup_venv.sh" ]; then "$idir/setup_venv.sh"; fi
[ -x "$py" ] || { echo "cleartokens.sh: $py missing (run tests/interop/setup_venv.sh)" >&2; exit 1; }
write_seconds="${BENCH_WRITE_SECONDS:-0}"
writers="${BENCH_WRITERS:-8}"
if [[ " $tools " == *" oauthctl"* || " $tools " == *"_idx "* || "$write_seconds" != 0 ]] && [ ! -x "$bin" ]; then
    echo "cleartokens.sh: $bin missing: cargo build --release (or set OAUTHCTL_BIN)" >&2; exit 1
fi
if [[ " $tools " == *" base "* ]] && [ ! -x "$base_bin" ]; then
    echo "cleartokens.sh: BENCH_TOOLS names base: set OAUTHCTL_BASE_BIN to an oauthctl binary (is: '$base_bin')" >&2; exit 1
fi
exec 9>>"$idir/.venv.lock"; flock -s 9  # hold the venv (setup_venv.sh rebuilds it only exclusively)

work="$(mktemp -d "${BENCH_WORK:-${TMPDIR:-/tmp}}/oauthctl-bench-$backend-$mix-$n.XXXXXX")"
tag="bench_ct_$(date +%s)_$$"
pg_host="${INTEROP_PG_HOST:-127.0.0.1}" pg_port="${INTEROP_PG_PORT:-5432}" pg_user="${INTEROP_PG_USER:-postgres}"
my_host="${INTEROP_MYSQL_HOST:-127.0.0.1}" my_port="${INTEROP_MYSQL_PORT:-3306}" my_user="${INTEROP_MYSQL_USER:-root}"
url() {  # oauthctl URL of database $1
    case "$backend" in
        sqlite) echo "sqlite://$work/$1.sqlite3" ;;
        postgres) echo "postgres://$pg_user@$pg_host:$pg_port/$1" ;;
        mysql) echo "mysql://$my_user@$my_host:$my_port/$1" ;;
    esac
}
django_name() { if [ "$backend" = sqlite ]; then echo "$work/$1.sqlite3"; else echo "$1"; fi; }
my() { mariadb -h "$my_host" -P "$my_port" -u "$my_user" "$@"; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

snap="${tag}_snap"
dbs=("$snap")
my_src="$work"  # MySQL: where schema.sql and tsv/ are
if [ -n "${BENCH_SNAPSHOT:-}" ]; then
    case "$backend" in
        postgres) snap="$BENCH_SNAPSHOT"; dbs=() ;;  # someone else's: never dropped here
        sqlite) [ -f "$BENCH_SNAPSHOT" ] || { echo "cleartokens.sh: $BENCH_SNAPSHOT: no such file" >&2; exit 1; } ;;
        mysql)  # the copies come from the kept schema dump and TSV files; no database needed
            for f in schema.sql tsv/manifest.json before.sum; do
                [ -f "$BENCH_SNAPSHOT/$f" ] || { echo "cleartokens.sh: $BENCH_SNAPSHOT/$f: no such file (MySQL: BENCH_SNAPSHOT is the work directory BENCH_KEEP=1 kept)" >&2; exit 1; }
            done
            my_src="$BENCH_SNAPSHOT"; dbs=() ;;
    esac
fi
cleanup() {
    local rc=$?
    for db in "${dbs[@]}"; do
        if [ "${BENCH_KEEP:-0}" = 1 ] && [ "$db" = "$snap" ]; then continue; fi
        "$py" "$here/dbtool.py" drop "$(url "$db")" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        local kept
        kept="snapshot $(url "$snap")"
        if [ "$backend" = mysql ]; then
            if [ -n "${BENCH_SNAPSHOT:-}" ]; then kept="snapshot $my_src"
            else kept="$kept; BENCH_SNAPSHOT=$work reuses it (schema.sql, tsv/, before.sum)"; fi
        fi
        echo "kept: $work, $kept" >&2
    else
        rm -rf "$work"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

versions="$("$py" -c 'import django, oauth2_provider, sys; print(f"Django {django.get_version()}, DOT {oauth2_provider.__version__}, Python {sys.version.split()[0]}")')"
case "$backend" in
    sqlite) versions="$versions, SQLite $(sqlite3 --version | cut -d' ' -f1)" ;;
    postgres) versions="$versions, $(psql -X -At -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres -c 'SELECT version()' | cut -d' ' -f1-2)" ;;
    mysql) versions="$versions, MariaDB $(my -N -e 'SELECT version()')" ;;
esac
if [ -x "$bin" ]; then versions="$versions, $("$bin" --version 2>/dev/null || echo oauthctl)"; fi
if [[ " $tools " == *" base "* ]]; then versions="$versions, base: $("$base_bin" --version 2>/dev/null || echo oauthctl) ($base_bin)"; fi

# ---- 1. snapshot
log "$backend $mix N=$n: snapshot ($versions)"
if [ -n "${BENCH_SNAPSHOT:-}" ]; then
    # a snapshot made earlier (e.g. by BENCH_KEEP=1) with the same N, MIX, seed, now and RTE
    log "reusing snapshot $BENCH_SNAPSHOT"
    case "$backend" in
        sqlite) cp "$BENCH_SNAPSHOT" "$work/$snap.sqlite3" ;;
        mysql) cp "$BENCH_SNAPSHOT/before.sum" "$work/" ;;
    esac
else
    "$py" "$here/dbtool.py" create "$(url "$snap")"
    INTEROP_BACKEND="$backend" INTEROP_DB_NAME="$(django_name "$snap")" "$py" "$repo/tests/interop/dot_cleartokens.py" migrate
    gen_args=(--database-url "$(url "$snap")" -n "$n" --mix "$mix" --now "$now" --seed "$seed" --rte "$rte" --summary)
    if [ "$backend" = mysql ]; then
        # the migrated, still empty database: the schema every copy starts from
        mariadb-dump -h "$my_host" -P "$my_port" -u "$my_user" --single-transaction --skip-comments "$snap" >"$work/schema.sql"
        gen_args+=(--keep-tsv "$work/tsv")
    fi
    "$py" "$here/gen_tokens.py" "${gen_args[@]}" | tee "$work/gen.txt" >&2
fi
if [ "$backend" != mysql ] || [ -z "${BENCH_SNAPSHOT:-}" ]; then
    "$py" "$here/dbtool.py" checksum "$(url "$snap")" >"$work/before.sum"
fi
"$py" "$here/floor_sql.py" "$backend" --now "$now" --rte "$rte" >"$work/floor.sql"

copy_of_snapshot() {  # fresh database $1 with the snapshot's rows
    local db="$1"
    dbs+=("$db")
    case "$backend" in
        sqlite|postgres) "$py" "$here/dbtool.py" create "$(url "$db")" --template "$(url "$snap")" ;;
        mysql)
            "$py" "$here/dbtool.py" create "$(url "$db")"
            my "$db" <"$my_src/schema.sql"
            "$py" "$here/gen_tokens.py" --database-url "$(url "$db")" --from-tsv "$my_src/tsv" 2>/dev/null ;;
    esac
    "$py" "$here/dbtool.py" settle "$(url "$db")"
}

with_indexes() {  # database $1, file stem $2: `oauthctl indexes create`, its time and the indexes' size
    local db="$1" stem="$2" t0 t1
    t0=$(date +%s.%N)
    "$bin" --database-url "$(url "$db")" indexes create >"$stem.build.out" 2>&1 \
        || { echo "cleartokens.sh: indexes create failed on $db:" >&2; cat "$stem.build.out" >&2; return 1; }
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}' >"$stem.build"
    "$py" "$here/dbtool.py" indexsize "$(url "$db")" >"$stem.isize"
    "$py" "$here/dbtool.py" settle "$(url "$db")"
}

run_tool() {  # tool, run index, database
    local tool="$1" i="$2" db="$3" out="$work/$1.$2"
    local cmd
    case "${tool%_idx}" in
        dot) cmd=(env INTEROP_BACKEND="$backend" INTEROP_DB_NAME="$(django_name "$db")"
                  "$py" "$repo/tests/interop/dot_cleartokens.py" cleartokens --now "$now" --rte "$rte") ;;
        oauthctl|base)
            local b="$bin"
            [ "$tool" = base ] && b="$base_bin"
            cmd=(env OAUTHCTL_NOW="$now" "$b" --database-url "$(url "$db")" cleartokens
                 --refresh-token-expire-seconds "$rte" --format json) ;;
        floor)
            case "$backend" in
                sqlite) cmd=(sqlite3 -bail "$work/$db.sqlite3") ;;
                postgres) cmd=(psql -X -q -v ON_ERROR_STOP=1 -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$db") ;;
                mysql) cmd=(mariadb -h "$my_host" -P "$my_port" -u "$my_user" "$db") ;;
            esac ;;
    esac
    local stdin=/dev/null
    [ "${tool%_idx}" = floor ] && stdin="$work/floor.sql"
    local pages_before
    pages_before="$("$py" "$here/dbtool.py" pages "$(url "$db")")"
    # DOT's settings come from the command line; keep the environment from changing either side
    env -u REFRESH_TOKEN_EXPIRE_SECONDS -u REFRESH_TOKEN_GRACE_PERIOD_SECONDS -u REFRESH_TOKEN_REUSE_PROTECTION \
        -u CLEAR_EXPIRED_TOKENS_BATCH_SIZE -u CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL \
        python3 "$here/iocount.py" "$out.rchar" -- \
        "${timer[@]}" -o "$out.time" "${cmd[@]}" <"$stdin" >"$out.out" 2>"$out.err" || true
    if [ "$backend" = postgres ]; then sleep 0.5; fi  # the tool's backends flush their statistics as they exit
    echo $(( $("$py" "$here/dbtool.py" pages "$(url "$db")") - pages_before )) >"$out.pages"
}

printf '{"backend":"%s","mix":"%s","n":%s,"rte":%s,"now":"%s","repeat":%s,"tools":[%s],"versions":"%s","when":"%s","load":"%s","page_size":%s,"write_seconds":%s,"writers":%s}\n' \
    "$backend" "$mix" "$n" "$rte" "$now" "$repeat" "$(printf '"%s",' $tools | sed 's/,$//')" "$versions" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(cut -d' ' -f1-3 /proc/loadavg)" \
    "$("$py" "$here/dbtool.py" pagesize "$(url "$snap")")" "$write_seconds" "$writers" >"$work/meta.json"

# ---- 2. the timed runs
for ((i = 0; i < repeat; i++)); do
    for tool in $tools; do
        db="${tag}_${tool}_$i"
        copy_of_snapshot "$db"
        if [[ "$tool" == *_idx ]]; then with_indexes "$db" "$work/$tool.$i"; fi
        log "$backend $mix N=$n: $tool (run $((i + 1))/$repeat, load $(cut -d' ' -f1 /proc/loadavg))"
        run_tool "$tool" "$i" "$db"
        "$py" "$here/dbtool.py" checksum "$(url "$db")" >"$work/$tool.$i.sum"
        "$py" "$here/dbtool.py" drop "$(url "$db")"
    done
done

# ---- 4. the write path, without and with the indexes, back to back
if [ "$write_seconds" != 0 ]; then
    for ((i = 0; i < repeat; i++)); do
        for variant in plain idx; do
            db="${tag}_write_${variant}_$i"
            copy_of_snapshot "$db"
            if [ "$variant" = idx ]; then with_indexes "$db" "$work/write_$variant.$i"; fi
            log "$backend $mix N=$n: write path $variant (run $((i + 1))/$repeat, $writers writers, ${write_seconds}s, load $(cut -d' ' -f1 /proc/loadavg))"
            "$py" "$here/write_load.py" --database-url "$(url "$db")" --writers "$writers" \
                --seconds "$write_seconds" --seed "$seed/$i" >"$work/write_$variant.$i.json" 2>"$work/write_$variant.$i.err" || true
            "$py" "$here/dbtool.py" drop "$(url "$db")"
        done
    done
fi

# ---- 3. report
set +e
"$py" "$here/dbtool.py" report "$work"
rc=$?
set -e
if [ -n "${BENCH_RESULTS:-}" ]; then cat "$work/result.json" >>"$BENCH_RESULTS"; echo >>"$BENCH_RESULTS"; fi
if [ $rc -ne 0 ]; then
    for f in "$work"/*.err; do
        [ -s "$f" ] && { echo "--- $(basename "$f")" >&2; tail -20 "$f" >&2; }
    done
fi
exit $rc
