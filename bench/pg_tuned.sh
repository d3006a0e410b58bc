#!/usr/bin/env bash
# A private PostgreSQL server configured as a production server holding 10^7-10^8 tokens would
# be, for the growth benchmark (N = 10M against N = 1M).
#
#   bench/pg_tuned.sh start [PORT]   initialise (first time) and start it on 127.0.0.1:PORT
#                                    (default 5440), data in $BENCH_PG_DIR (default /tmp/oauthctl-pg-tuned)
#   bench/pg_tuned.sh stop           stop it (the data directory stays; `rm -rf` it to free the disk)
#
# Then: INTEROP_PG_PORT=5440 bench/cleartokens.sh postgres 10000000 backlog
#
# Why: the stock Debian configuration (shared_buffers 128 MB, max_wal_size 1 GB) makes a 4 GB,
# 10M-token cleanup checkpoint every few seconds, and every checkpoint makes the next change of
# each page write the whole page to the WAL again; the floor's own time then grows 18x from 1M to
# 10M. The settings below are the usual ones for a server of that size (a quarter of the
# machine's memory as shared_buffers, a WAL budget that spans a long bulk delete); nothing else
# differs from the stock server, and the floor, DOT and oauthctl all run against the same one.
set -euo pipefail

dir="${BENCH_PG_DIR:-/tmp/oauthctl-pg-tuned}"
port="${2:-5440}"
bin="${BENCH_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}"

as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
    start)
        if [ ! -f "$dir/PG_VERSION" ]; then
            mkdir -p "$dir"
            [ "$(id -u)" = 0 ] && chown postgres: "$dir"
            as_postgres "$bin/initdb" -D "$dir" -U postgres --auth=trust >/dev/null
            cat >>"$dir/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
shared_buffers = 6GB
max_wal_size = 32GB
min_wal_size = 2GB
checkpoint_timeout = 30min
checkpoint_completion_target = 0.9
wal_buffers = 64MB
work_mem = 16MB
maintenance_work_mem = 512MB
effective_cache_size = 16GB
EOF
        fi
        as_postgres "$bin/pg_ctl" -D "$dir" -o "-p $port" -l "$dir/server.log" -w start >/dev/null
        echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data $dir)"
        ;;
    stop)
        as_postgres "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
        ;;
    *)
        sed -n '2,8p' "$0" >&2
        exit 2
        ;;
esac
